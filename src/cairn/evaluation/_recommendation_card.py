"""The model card of a recommender: what it recommends and from what, how
well it ranked what test users did next (with intervals), how it fares by
user activity, its limitations and the software that made it. Markdown and
HTML from the same content (see :class:`cairn.evaluation.ModelCard`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cairn.reporting as rp
from cairn.evaluation._recommendation_report import json_text, recommendation_verdict
from cairn.evaluation._recommendation_results import RecommendationResults
from cairn.evaluation.card import CardSection, ModelCard

__all__ = ["recommendation_card", "write_recommendation_card"]

#: Coverage under this share of the catalogue is named as a limitation.
LOW_COVERAGE = 0.1
#: A popularity bias over this share is named as a limitation.
HIGH_POPULARITY_BIAS = 0.8


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "not measured"
    return rp.fmt_number(value)


def _details(results: RecommendationResults) -> CardSection:
    data = results.data
    rows = [
        {"": "task", "value": "recommendation (top-k items per user)"},
        {"": "model", "value": results.chosen},
        {"": "chosen by", "value": f"{results.metric} on validation users"},
        {"": "why", "value": results.rule or "—"},
        {"": "list length served by default", "value": str(results.k)},
        {"": "feedback", "value": str(data.get("feedback", "—"))},
        {"": "tested model learned from", "value": results.tested_fit or "—"},
        {"": "bundle learned from", "value": results.final_fit or "—"},
    ]
    rows += [
        {"": str(k), "value": json_text(v)}
        for k, v in results.components.items()
        if k not in ("model", "metric")
    ]
    return CardSection("Model details", [("table", (["", "value"], rows))])


def _intended_use(results: RecommendationResults) -> CardSection:
    blocks: list[tuple[str, Any]] = []
    text = results.description.strip() or (
        f"Ranks the {int(results.data.get('items', 0)):,} items for a user from their past "
        "interactions. No description was given: state the intended use to show it here."
    )
    blocks.append(("p", text))
    blocks.append(
        (
            "ul",
            [
                "Recommends only items seen in training; new items reach users only through "
                "the content model, when an item table was given.",
                "A user unknown to the model gets the most popular items (a fallback, said so "
                "in the answer), not a personal list.",
                "The lists reflect past behaviour, popular items included: check them before "
                "using them to decide what people may see.",
            ],
        )
    )
    return CardSection("Intended use", blocks)


def _data(results: RecommendationResults) -> CardSection:
    rows = [{"": str(k).replace("_", " "), "value": json_text(v)} for k, v in results.data.items()]
    rows += [
        {"": f"split: {str(k).replace('_', ' ')}", "value": json_text(v)}
        for k, v in results.split.items()
    ]
    return CardSection("Data", [("table", (["", "value"], rows))])


def _metrics(results: RecommendationResults) -> CardSection:
    rows = []
    for name, value in results.metrics.items():
        if name == "users":
            continue
        bounds = results.intervals.get(name)
        rows.append(
            {
                "metric": name,
                "test": _fmt(value),
                "95 % interval": f"{_fmt(bounds[0])} – {_fmt(bounds[1])}" if bounds else "—",
            }
        )
    blocks: list[tuple[str, Any]] = [("table", (["metric", "test", "95 % interval"], rows))]
    base = results.baseline
    if base:
        blocks.append(
            (
                "p",
                f"Against the {base.get('model', 'popularity')} baseline on the same "
                f"{int(results.metrics.get('users', 0)):,} test users: {results.metric} "
                f"{_fmt(base.get('value'))} for the baseline, margin {_fmt(base.get('margin'))} "
                f"(95 % interval {_fmt(base.get('low'))} to {_fmt(base.get('high'))}).",
            )
        )
    blocks.append(
        (
            "p",
            f"Means over the test users with at least one relevant item; intervals from "
            f"{results.resamples} bootstrap resamples of the users.",
        )
    )
    return CardSection("Metrics", blocks)


def _segments(results: RecommendationResults) -> CardSection:
    lines = []
    metric = results.segment_metric
    for row in results.segments:
        value = row.get(metric)
        if value is None:
            lines.append(f"{row['segment']} ({row['rule']}): no test user.")
            continue
        lines.append(
            f"{row['segment']} ({row['rule']}): {row['users']:,} users, {metric} "
            f"{_fmt(value)} (95 % {_fmt(row.get('low'))} – {_fmt(row.get('high'))})."
        )
    return CardSection("Results by user activity", [("ul", lines)])


def _limitations(results: RecommendationResults) -> CardSection:
    items: list[str] = []
    k = results.k
    coverage = results.metrics.get(f"coverage@{k}")
    if coverage is not None and coverage < LOW_COVERAGE:
        items.append(
            f"The lists cover {coverage:.1%} of the catalogue: most items are never recommended."
        )
    bias = results.metrics.get(f"popularity_bias@{k}")
    if bias is not None and bias > HIGH_POPULARITY_BIAS:
        items.append(
            f"{bias:.1%} of the recommended slots go to the 10 % most popular items: the "
            "lists favour what is already popular."
        )
    if "only" in results.tested_fit:
        items.append(
            f"The tested model learned from the {results.tested_fit}: the budget left no time "
            "to refit it with the validation interactions, so the test figures understate "
            "what a refitted model would do; give the run more time."
        )
    verdict, tone = recommendation_verdict(results)
    if tone in ("bad", "warn"):
        items.append(verdict + ".")
    for row in results.segments:
        value = row.get(results.segment_metric)
        overall = results.metrics.get(results.segment_metric)
        if row["segment"] == "cold" and row.get("users"):
            items.append(
                f"Cold users ({row['rule']}) score {_fmt(value)} against {_fmt(overall)} "
                "overall: little is known about them."
            )
    for objective in results.objectives:
        if objective.get("met") is False:
            measured = _fmt(objective.get("value"))
            items.append(f"Objective not met: {objective['objective']} (measured {measured}).")
    for finding in results.findings:
        if finding.get("severity") in ("warning", "error"):
            items.append(f"{finding.get('message')} ({finding.get('action')}).")
    if not items:
        items.append("None found by cairn's checks; the figures describe only this data.")
    return CardSection("Limitations", [("ul", items)])


def _versions(results: RecommendationResults) -> CardSection:
    from cairn.bundle import library_versions

    versions = results.versions or library_versions()
    rows = [{"software": k, "version": str(v)} for k, v in versions.items()]
    return CardSection("Versions", [("table", (["software", "version"], rows))])


def recommendation_card(results: RecommendationResults) -> ModelCard:
    """Build the model card of a recommender."""
    k = results.k
    summary = (
        f"{results.chosen} recommender over {int(results.data.get('items', 0)):,} items for "
        f"{int(results.data.get('users', 0)):,} users; on "
        f"{int(results.metrics.get('users', 0)):,} test users {results.metric} "
        f"{_fmt(results.score)}, catalogue coverage@{k} "
        f"{rp.fmt_percent(results.metrics.get(f'coverage@{k}'))}."
    )
    title, tone = recommendation_verdict(results)
    sections = [
        _details(results),
        _intended_use(results),
        _data(results),
        _metrics(results),
        _segments(results),
        _limitations(results),
        _versions(results),
    ]
    return ModelCard(
        f"Model card: {results.project}",
        summary,
        results.objectives_met,
        sections,
        banner=rp.banner(title, tone),
        meta={"model": results.chosen, "metric": results.metric},
    )


def write_recommendation_card(
    results: RecommendationResults, folder: str | Path
) -> tuple[Path, Path]:
    """Write ``model_card.md`` and ``model_card.html`` into ``folder``; returns both."""
    card = recommendation_card(results)
    target = Path(folder)
    markdown = rp.write_report(target / "model_card.md", card.markdown())
    page = rp.write_report(target / "model_card.html", card.html())
    return markdown, page
