"""The recommendation report: how well the chosen recommender ranks what test
users did next, with bootstrap intervals over users; metric@k curves;
accuracy against catalogue coverage and popularity bias for every
candidate; results by user activity; and example users' recommendations
next to what they actually did, as one self-contained HTML page."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cairn.reporting as rp
from cairn.evaluation._recommendation_results import RecommendationResults
from cairn.tasks import get_task

__all__ = [
    "RECOMMENDATION_SECTIONS",
    "recommendation_verdict",
    "render_recommendation_report",
    "write_recommendation_report",
]

# Metrics shown with intervals, in this order, before the catalogue figures.
_RANKING = ("ndcg", "precision", "recall", "map", "hit_rate", "mrr")
_CATALOGUE = ("coverage", "novelty", "popularity_bias")
_CURVES = ("ndcg", "precision", "recall", "hit_rate", "map")
_SEVERITY_TONE = {"error": "bad", "warning": "warn", "info": "info"}


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return rp.fmt_number(value)


def _interval(results: RecommendationResults, name: str) -> str:
    bounds = results.intervals.get(name)
    if not bounds:
        return "—"
    return f"{_fmt(bounds[0])} – {_fmt(bounds[1])}"


def recommendation_verdict(results: RecommendationResults) -> tuple[str, str]:
    """A headline on the margin over the popularity baseline, and its tone."""
    base = results.baseline
    if not base or base.get("margin") is None:
        return f"{results.chosen}: {results.metric} {_fmt(results.score)} on the test users", "info"
    margin, low, high = base["margin"], base.get("low"), base.get("high")
    shown = f"{_fmt(margin)} (95 % interval {_fmt(low)} to {_fmt(high)})"
    if results.chosen == base.get("model"):
        return "The popularity baseline was chosen: no candidate beat it on validation", "warn"
    if low is not None and low > 0:
        return f"Beats the popularity baseline on {results.metric} by {shown}", "good"
    if high is not None and high < 0:
        return f"Worse than the popularity baseline on {results.metric} by {shown}", "bad"
    return f"Not clearly better than the popularity baseline: {results.metric} {shown}", "warn"


def _summary(results: RecommendationResults) -> rp.Section:
    k, users = results.k, int(results.metrics.get("users", 0))
    base = results.baseline
    tiles: list[tuple[str, Any] | tuple[str, Any, str]] = [
        ("chosen model", results.chosen),
        (results.metric, _fmt(results.score), f"95 %: {_interval(results, results.metric)}"),
        ("test users", f"{users:,}", "with at least one relevant item"),
    ]
    if base:
        tiles.append(
            (
                f"margin over {base.get('model', 'popularity')}",
                _fmt(base.get("margin")),
                f"95 %: {_fmt(base.get('low'))} – {_fmt(base.get('high'))}",
            )
        )
    tiles += [
        (f"coverage@{k}", rp.fmt_percent(results.metrics.get(f"coverage@{k}")), "of the catalogue"),
        (
            f"popularity bias@{k}",
            rp.fmt_percent(results.metrics.get(f"popularity_bias@{k}")),
            "slots from the top 10 % of items",
        ),
    ]
    rows = []
    for name in (*_RANKING, *_CATALOGUE):
        key = f"{name}@{k}"
        if key in results.metrics:
            rows.append(
                {
                    "metric": key,
                    "test": results.metrics[key],
                    "95 % interval": _interval(results, key),
                }
            )
    body = rp.tiles(tiles)
    if results.rule:
        body += rp.note(f"Chosen because {results.rule}.", "info")
    body += rp.table(
        rows,
        caption=f"Means over the test users; intervals from {results.resamples} bootstrap "
        "resamples of the users. Catalogue figures (coverage, novelty, popularity bias) "
        "describe the lists as a whole and have no per-user interval.",
    )
    if results.objectives:
        marks = {True: "met", False: "NOT met", None: "not measured"}
        body += rp.table(
            [
                {
                    "objective": o["objective"],
                    "measured": o.get("value"),
                    "verdict": rp.Raw(
                        rp.badge(
                            marks[o.get("met")],
                            {True: "good", False: "bad", None: "muted"}[o.get("met")],
                        )
                    ),
                    "how": o.get("how", ""),
                }
                for o in results.objectives
            ]
        )
    return rp.Section(
        "Summary",
        body,
        id="summary",
        lead=f"The chosen recommender's top-{k} lists for the test users, scored against what "
        "they did in the test period.",
    )


def _data(results: RecommendationResults) -> rp.Section:
    data, split = results.data, results.split
    items = [(str(k).replace("_", " "), v) for k, v in data.items() if not isinstance(v, dict)]
    items += [(f"split: {str(k).replace('_', ' ')}", v) for k, v in split.items()]
    body = rp.key_values(items)
    if results.findings:
        body += rp.table(
            [
                {
                    "check": f.get("check"),
                    "severity": rp.Raw(
                        rp.badge(
                            str(f.get("severity")), _SEVERITY_TONE.get(str(f.get("severity")), "")
                        )
                    ),
                    "column": f.get("column") or "",
                    "count": f.get("count"),
                    "message": f.get("message"),
                    "action": f.get("action"),
                }
                for f in results.findings
            ],
            caption="What the checks of the interactions found and did.",
        )
    else:
        body += rp.note("The checks of the interactions found nothing to report.")
    return rp.Section(
        "Data and split",
        body,
        id="data",
        lead="The interactions, the side tables, and how users' interactions were divided "
        "into training, validation and test.",
    )


def _curves(results: RecommendationResults) -> rp.Section:
    series = {
        name: (list(range(1, len(values) + 1)), values)
        for name in _CURVES
        if (values := results.curves.get(name))
    }
    if not series:
        return rp.Section("Metrics by list length", rp.note("Not measured."), id="curves")
    figure = rp.lines(
        series,
        title="Test metrics against the list length k",
        x_title="k (items recommended)",
        y_title="mean over test users",
        vlines={f"k = {results.k}": results.k},
        markers=False,
        height=360,
    )
    return rp.Section(
        "Metrics by list length",
        str(figure),
        id="curves",
        lead="Precision falls and recall rises as lists get longer; the dotted line marks the "
        "list length the model is judged and served at.",
    )


def _candidates_plot(
    results: RecommendationResults, rows: list[dict[str, Any]], column: str, label: str
) -> str:
    """The candidates' accuracy against ``column``, the chosen one in colour."""
    shown = [r for r in rows if isinstance(r.get(column), int | float)]
    if not shown:
        return ""
    colours = [rp.PALETTE[1] if r.get("model") == results.chosen else rp.PALETTE[0] for r in shown]
    trace = {
        "type": "scatter",
        "mode": "markers+text",
        "x": [float(r[column]) for r in shown],
        "y": [float(r[results.metric]) for r in shown],
        "text": [str(r.get("model")) for r in shown],
        "textposition": "top center",
        "marker": {"size": 10, "color": colours},
        "hovertemplate": "%{text}<br>%{x:.3g}, %{y:.3g}<extra></extra>",
    }
    layout = {
        "xaxis": {"title": {"text": f"{column} (validation)"}},
        "yaxis": {"title": {"text": f"{results.metric} (validation)"}},
    }
    figure = rp.Figure([trace], layout, title=f"{results.metric} against {label}", height=340)
    return str(figure)


def _tradeoff(results: RecommendationResults) -> rp.Section:
    k = results.k
    rows = [r for r in results.leaderboard if r.get(results.metric) is not None]
    points = [
        r
        for r in rows
        if isinstance(r.get(f"coverage@{k}"), int | float)
        and math.isfinite(float(r[results.metric]))
    ]
    figures = [
        str(_candidates_plot(results, points, f"coverage@{k}", "catalogue coverage")),
        str(_candidates_plot(results, points, f"popularity_bias@{k}", "popularity bias")),
    ]
    table_rows = [
        {
            "model": r.get("model"),
            results.metric: r.get(results.metric),
            f"coverage@{k}": r.get(f"coverage@{k}"),
            f"popularity_bias@{k}": r.get(f"popularity_bias@{k}"),
            f"novelty@{k}": r.get(f"novelty@{k}"),
        }
        for r in rows
    ]
    drawn = [figure for figure in figures if figure]
    body = rp.grid(*drawn, min_width=420) if drawn else rp.note("No candidate figures.")
    body += rp.table(table_rows, caption="On the validation users, as the search measured them.")
    return rp.Section(
        "Accuracy, coverage and popularity bias",
        body,
        id="tradeoff",
        lead="Every candidate's accuracy against the share of the catalogue it recommends and "
        "the share of its slots taken by the 10 % most popular items; the chosen one in colour.",
    )


def _segments(results: RecommendationResults) -> rp.Section:
    metric = results.segment_metric
    rows = []
    for row in results.segments:
        shown = {"segment": row["segment"], "users": row["users"], "definition": row["rule"]}
        shown[metric] = row.get(metric)
        shown["95 % interval"] = (
            f"{_fmt(row.get('low'))} – {_fmt(row.get('high'))}" if "low" in row else "—"
        )
        for key in (f"precision@{results.k}", f"recall@{results.k}", f"hit_rate@{results.k}"):
            if key != metric:
                shown[key] = row.get(key)
        rows.append(shown)
    present = [r for r in results.segments if r.get(metric) is not None]
    figure = ""
    if present:
        figure = str(
            rp.bar(
                [r["segment"] for r in present],
                [float(r[metric]) for r in present],
                title=f"{metric} by user activity",
                y_title=metric,
                text=[f"{r['users']:,} users" for r in present],
            )
        )
    return rp.Section(
        "Results by user activity",
        rp.table(rows) + rp.grid(figure, min_width=420),
        id="segments",
        lead="Test users grouped by how many interactions the model saw from them: cold users "
        "get little more than popular items, heavy users the most personal lists.",
    )


def _item_list(items: list[dict[str, Any]], *, mark_hits: bool = False) -> str:
    if not items:
        return rp.note("none")
    parts = []
    for item in items:
        name = rp.escape(item.get("title") or item.get("item"))
        extra = ""
        if item.get("rating") is not None:
            extra = f' <span class="note muted">({rp.escape(_fmt(item["rating"]))})</span>'
        if mark_hits and item.get("hit"):
            name = f"<strong>{name}</strong> {rp.badge('hit', 'good')}"
        parts.append(f"<li>{name}{extra}</li>")
    return "<ol>" + "".join(parts) + "</ol>"


def _examples(results: RecommendationResults) -> rp.Section:
    children = []
    for example in results.examples:
        body = rp.row(
            "<p><strong>Recent history</strong></p>" + _item_list(example.get("history", [])),
            f"<p><strong>Recommended (top {results.k})</strong></p>"
            + _item_list(example.get("recommended", []), mark_hits=True),
            "<p><strong>What they did next</strong></p>" + _item_list(example.get("next", [])),
        )
        hits = sum(1 for item in example.get("recommended", []) if item.get("hit"))
        children.append(
            rp.Section(
                f"User {example['user']}",
                body,
                lead=f"{example.get('segment', '')} user, {example.get('n_train', 0)} "
                f"interactions in training; {hits} of the {results.k} recommendations were "
                "among what came next.",
                nav=False,
            )
        )
    return rp.Section(
        "Example users",
        "" if children else rp.note("No test user to show."),
        id="examples",
        lead="A few test users: their latest interactions before the cut, the recommendations "
        "made from them, and what they actually did next (hits in bold).",
        children=children,
    )


def _leaderboard(results: RecommendationResults) -> rp.Section:
    if not results.leaderboard:
        return rp.Section("Leaderboard", rp.note("No leaderboard recorded."), id="leaderboard")
    rows = [
        {"chosen": "✓" if r.get("model") == results.chosen else "", **r}
        for r in results.leaderboard
    ]
    return rp.Section(
        "Leaderboard",
        rp.table(rows, max_rows=60),
        id="leaderboard",
        lead="Every trial of the search, scored on the validation users; the chosen one was "
        "then scored on the test users (see the model section for what it learned from).",
    )


def _model(results: RecommendationResults) -> rp.Section:
    items: list[tuple[str, Any]] = [("model", results.chosen)]
    for key, value in results.components.items():
        items.append((str(key), json_text(value)))
    items.append(("tested model learned from", results.tested_fit or "—"))
    items.append(("bundle learned from", results.final_fit or "—"))
    for key, value in results.latency_ms.items():
        items.append((f"recommend {key.replace('latency_', '').replace('_ms', '')} (ms)", value))
    return rp.Section(
        "The model",
        rp.key_values(items),
        id="model",
        lead="What the bundle holds and how fast it recommends (one user per call, in process).",
    )


def json_text(value: Any) -> str:
    """A short plain rendering of a nested value."""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {json_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(json_text(v) for v in value)
    if isinstance(value, float):
        return _fmt(value)
    return str(value)


#: The report's task sections, by the names the recommendation task lists in
#: its ``report_sections``, between the data and the model.
RECOMMENDATION_SECTIONS: dict[str, Callable[[RecommendationResults], rp.Section]] = {
    "leaderboard": _leaderboard,
    "curves": _curves,
    "catalogue": _tradeoff,
    "segments": _segments,
    "examples": _examples,
}


def render_recommendation_report(results: RecommendationResults) -> str:
    """The recommendation report as an HTML page (string)."""
    title, tone = recommendation_verdict(results)
    drawn = [
        RECOMMENDATION_SECTIONS[name](results)
        for name in get_task("recommendation").report_sections
    ]
    sections = [_summary(results), _data(results), *drawn, _model(results)]
    data = results.data
    return rp.render_page(
        f"Recommendation: {results.project}",
        sections,
        subtitle=f"{results.chosen}, top-{results.k} lists for "
        f"{int(results.metrics.get('users', 0)):,} test users, chosen by {results.metric}",
        banner=rp.banner(title, tone),
        meta={
            "model": results.chosen,
            "users": f"{int(data.get('users', 0)):,}",
            "items": f"{int(data.get('items', 0)):,}",
            "interactions": f"{int(data.get('interactions', 0)):,}",
            "metric": results.metric,
        },
    )


def write_recommendation_report(results: RecommendationResults, path: str | Path) -> Path:
    """Write the recommendation report to ``path`` (atomically) and return it."""
    return rp.write_report(path, render_recommendation_report(results))
