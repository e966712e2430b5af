"""The model card: what the model is for, what it was trained on, how well it
does (with bootstrap confidence intervals), where it does worse, what it
cost and which software made it. Written as Markdown and as HTML from the
same content.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import cairn.reporting as rp
from cairn.data.schema import DROPPED_ROLES, Role
from cairn.evaluation._privacy_section import privacy_section_blocks
from cairn.evaluation.report import LATENCY_NOTE, RunAnalysis, analyse_run, objectives_banner
from cairn.evaluation.run_folder import RunFolder
from cairn.tasks import get_task, greater_is_better

#: A segment is a limitation when its metric is worse than overall by this share.
SEGMENT_GAP_SHARE = 0.05
FEW_CLASS_ROWS = 30
SMALL_TEST_ROWS = 500
HIGH_MISSING = 0.3


@dataclass
class CardSection:
    """A titled part of the card: blocks of ``("p", text)``, ``("ul",
    [texts])`` or ``("table", (columns, rows))``; ``plot`` is extra HTML
    for the HTML card only."""

    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    plot: str = ""


@dataclass
class ModelCard:
    """A model card, renderable as Markdown or HTML.

    Attributes:
        title: "Model card: NAME".
        summary: one paragraph: what the model predicts and how well.
        verdict: True when every objective is met, False when one is not,
            None without objectives.
        sections: the card's parts, in order.
        run: the run folder the card describes; its objectives make the
            banner and its metadata the facts under the title.
        banner: the HTML banner when there is no run folder.
        meta: the facts under the title when there is no run folder.
    """

    title: str
    summary: str
    verdict: bool | None
    sections: list[CardSection]
    run: RunFolder | None = None
    banner: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        """The card as GitHub-flavoured Markdown."""
        lines = [f"# {self.title}", "", self.summary, ""]
        if self.verdict is not None:
            word = "all met" if self.verdict else "NOT all met"
            lines += [f"**Objectives: {word}.**", ""]
        for section in self.sections:
            lines += [f"## {section.title}", ""]
            for kind, content in section.blocks:
                if kind == "p":
                    lines += [str(content), ""]
                elif kind == "ul":
                    lines += [f"- {item}" for item in content] + [""]
                elif kind == "table":
                    columns, rows = content
                    lines.append("| " + " | ".join(_md(c) for c in columns) + " |")
                    lines.append("|" + "|".join("---" for _ in columns) + "|")
                    for row in rows:
                        lines.append(
                            "| " + " | ".join(_md(_text(row.get(c))) for c in columns) + " |"
                        )
                    lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def html(self) -> str:
        """The card as a self-contained HTML page."""
        sections = []
        for section in self.sections:
            parts = []
            for kind, content in section.blocks:
                if kind == "p":
                    parts.append(f"<p>{rp.escape(content)}</p>")
                elif kind == "ul":
                    parts.append(
                        "<ul>" + "".join(f"<li>{rp.escape(i)}</li>" for i in content) + "</ul>"
                    )
                elif kind == "table":
                    columns, rows = content
                    parts.append(rp.table(rows, columns=columns))
            body = "".join(parts)
            if section.plot:
                body = rp.grid(body, section.plot, min_width=420)
            sections.append(rp.Section(section.title, body))
        banner, facts = self.banner, self.meta
        if self.run is not None:
            meta = self.run.metadata
            banner = objectives_banner(self.run)
            facts = {
                "run": self.run.run_id,
                "model": meta.get("model", "?"),
                "trained": str(meta.get("created_at", "?")).replace("T", " "),
            }
        return rp.render_page(
            self.title, sections, subtitle=self.summary, banner=banner, meta=facts
        )


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float | int) and not isinstance(value, bool):
        return rp.fmt_number(value)
    return str(value)


def _interval(analysis: RunAnalysis, name: str) -> str:
    interval = analysis.intervals.get(name)
    if interval is None or not math.isfinite(interval.low):
        return "—"
    return f"{rp.fmt_number(interval.low)} – {rp.fmt_number(interval.high)}"


def model_card(analysis: RunAnalysis) -> ModelCard:
    """Build the card from a run's analysis (see :func:`analyse_run`)."""
    run = analysis.run
    meta = run.metadata
    name = str(meta.get("name", run.run_id))
    target = str(meta.get("target", "?"))
    metric = run.metric
    metrics = run.evaluation.get("metrics", {})
    objectives = run.evaluation.get("objectives") or []
    verdict = None if not objectives else all(o.get("met") is not False for o in objectives)
    features = [c for c in run.schema.columns if c.role not in DROPPED_ROLES]
    main = metrics.get(metric)
    summary = (
        f"{meta.get('model_label') or meta.get('model', 'A model')} predicting {target} "
        f"({run.task}) from {len(features)} input columns. Test {metric} "
        f"{rp.fmt_number(main)} (95% CI {_interval(analysis, metric)}) on "
        f"{len(run.predictions):,} held-out rows."
    )
    sections = [
        _details(run),
        _intended_use(run, len(features)),
        _data(run),
        *_combining(run),
        CardSection(
            "Privacy",
            privacy_section_blocks(run.schema.metadata, (run.quality or {}).get("findings", [])),
        ),
        _features(run),
        _metrics(analysis),
        _objectives(objectives),
        *_serving_tradeoff(run),
        *_behaviour_tests(run),
        _limitations(analysis),
        _cost(run),
        _versions(run),
    ]
    return ModelCard(f"Model card: {name}", summary, verdict, sections, run)


def _details(run: RunFolder) -> CardSection:
    meta = run.metadata
    rows = [
        {"": "task", "value": run.task},
        {"": "target", "value": meta.get("target")},
        {"": "model", "value": meta.get("model_label") or meta.get("model")},
        {"": "main metric", "value": run.metric},
        {"": "run", "value": run.run_id},
        {"": "trained at", "value": str(meta.get("created_at", "?"))},
        {"": "model file sha256", "value": str(meta.get("model_sha256", "?"))},
        {"": "spec sha256", "value": str(meta.get("spec_sha256", "?"))},
    ]
    if run.classes:
        rows.insert(2, {"": "classes", "value": ", ".join(run.classes)})
    return CardSection("Model details", [("table", (["", "value"], rows))])


def _intended_use(run: RunFolder, n_features: int) -> CardSection:
    meta = run.metadata
    description = str(meta.get("description") or "").strip()
    target = meta.get("target", "the target")
    blocks: list[tuple[str, Any]] = []
    if description:
        blocks.append(("p", description))
    else:
        blocks.append(
            (
                "p",
                f"Predicts {target} for one row described by the {n_features} input columns "
                "listed under Features. The spec gives no description: set description under "
                "[project] in cairn.toml to state the intended use here.",
            )
        )
    period = meta.get("period")
    blocks.append(
        (
            "ul",
            [
                "Intended for rows drawn like the training data described below"
                + (f" (recorded between {period['start']} and {period['end']})" if period else "")
                + "; cairn checks every scoring row against the training schema.",
                "Not validated for other populations, other periods, or values outside the "
                "ranges seen in training; monitor drift before relying on it there.",
                "Its performance figures come from a held-out test set; they are estimates, "
                "with the intervals shown under Metrics.",
                "Decisions about individual people should not rest on its output alone.",
            ],
        )
    )
    return CardSection("Intended use", blocks)


def _data(run: RunFolder) -> CardSection:
    meta = run.metadata
    rows_info = meta.get("rows") or {}
    sources = meta.get("sources") or []
    period = meta.get("period")
    items = [
        ("sources", ", ".join(map(str, sources)) if sources else "not recorded in this run"),
        ("data fingerprint (sha256)", meta.get("data_fingerprint", "?")),
        ("rows read", rows_info.get("raw")),
        ("rows after cleaning", rows_info.get("clean")),
        ("training rows", rows_info.get("train")),
        ("test rows", rows_info.get("test")),
        ("split", meta.get("split", "?")),
        (
            "period",
            f"{period['start']} – {period['end']} ({period.get('column')})"
            if period
            else "no time column in the spec",
        ),
    ]
    blocks: list[tuple[str, Any]] = [
        ("table", (["", "value"], [{"": k, "value": _text(v)} for k, v in items]))
    ]
    quality = run.quality
    if quality:
        findings = quality.get("findings", [])
        warnings = [f for f in findings if f.get("severity") in ("warning", "error")]
        text = f"Data-quality checks: {len(findings)} finding(s), {len(warnings)} warning(s)."
        blocks.append(("p", text))
        if warnings:
            blocks.append(
                ("ul", [f"{f.get('message')} — {f.get('action')}" for f in warnings[:10]])
            )
        for record in (quality.get("large") or {}).get("sources", []):
            blocks.append(("p", f"Training sample: {record['source']}: {record['summary']}."))
    return CardSection("Data", blocks)


def _combining(run: RunFolder) -> list[CardSection]:
    """How the sources were combined and what that found; none for one source."""
    from cairn.data.sources import Combination

    record = (run.quality or {}).get("combination")
    combination = Combination.from_dict(record) if record else None
    if combination is None or combination.single:
        return []
    blocks: list[tuple[str, Any]] = [
        ("p", combination.summary() + "."),
        ("table", (["source", "rows", "columns"], combination.source_rows())),
    ]
    if combination.joins:
        rows = combination.join_rows()
        blocks.append(("table", (list(rows[0]), rows)))
    findings = [
        f
        for f in (run.quality or {}).get("findings", [])
        if str(f.get("check", "")).startswith("combine_") and f.get("check") != "combine_sources"
    ]
    if findings:
        blocks.append(("ul", [f"{f.get('message')} — {f.get('action')}" for f in findings]))
    return [CardSection("Combining sources", blocks)]


def _features(run: RunFolder) -> CardSection:
    dropped = set((run.metadata.get("search") or {}).get("dropped_features") or [])
    rows = []
    for column in run.schema.columns:
        if column.role in DROPPED_ROLES:
            use = "not used (" + str(column.role) + ")"
        elif column.name in dropped:
            use = "dropped by feature selection"
        else:
            use = "input"
        rows.append(
            {
                "column": column.name,
                "role": str(column.role),
                "type": column.dtype,
                "missing in training": rp.fmt_percent(column.missing_rate),
                "distinct": column.n_unique,
                "use": use,
            }
        )
    blocks: list[tuple[str, Any]] = [
        ("table", (["column", "role", "type", "missing in training", "distinct", "use"], rows))
    ]
    if (run.metadata.get("search") or {}).get("target_transform") == "log1p":
        blocks.append(
            (
                "p",
                f"The target {run.metadata.get('target')!r} is learned on a log scale "
                "(log(1 + y)) and predictions are transformed back; cross-validation "
                "chose it over the original scale.",
            )
        )
    return CardSection("Features", blocks)


def _metrics(analysis: RunAnalysis) -> CardSection:
    run = analysis.run
    metrics = run.evaluation.get("metrics", {})
    board = run.leaderboard
    cv = (run.metadata.get("cv") or {}).get("mean")
    cv_std = None
    if not board.empty and f"cv_{run.metric}_std" in board.columns:
        cv_std = board.iloc[0][f"cv_{run.metric}_std"]
    rows = []
    for name, value in metrics.items():
        row = {
            "metric": name,
            "test": value,
            "95% CI": _interval(analysis, name),
            "cross-validation": (
                f"{rp.fmt_number(cv)} ± {rp.fmt_number(cv_std)}"
                if name == run.metric and cv is not None and cv_std is not None
                else "—"
            ),
        }
        rows.append(row)
    latency = {
        **(run.evaluation.get("latency_ms") or {}),
        **(run.evaluation.get("native_latency_ms") or {}),
    }
    for name, value in latency.items():
        rows.append({"metric": name, "test": value, "95% CI": "—", "cross-validation": "—"})
    resamples = next(iter(analysis.intervals.values())).resamples if analysis.intervals else 0
    blocks: list[tuple[str, Any]] = [
        ("table", (["metric", "test", "95% CI", "cross-validation"], rows)),
        (
            "p",
            f"Confidence intervals: percentile bootstrap, {resamples:,} resamples of the "
            f"{len(run.predictions):,} test rows. Cross-validation: mean ± standard deviation "
            f"over the training folds. {LATENCY_NOTE}",
        ),
    ]
    bounded = [
        i for i in analysis.intervals.values() if 0 <= i.value <= 1 and i.metric != "log_loss"
    ]
    plot = _interval_chart(bounded) if len(bounded) >= 2 else ""
    return CardSection("Metrics", blocks, plot=plot)


def _interval_chart(intervals: list[Any]) -> str:
    """Metrics in [0, 1] with their intervals, drawn with CSS alone so the
    card stays a small page without scripts."""
    rows = []
    for interval in intervals:
        low, high = max(0.0, interval.low), min(1.0, interval.high)
        rows.append(
            f'<div class="ci-row"><span class="ci-name">{rp.escape(interval.metric)}</span>'
            f'<span class="ci-track" title="{interval.value:.4f} '
            f'({interval.low:.4f} – {interval.high:.4f})">'
            f'<span class="ci-range" style="left:{low * 100:.2f}%;'
            f'width:{max(high - low, 0.002) * 100:.2f}%"></span>'
            f'<span class="ci-dot" style="left:{interval.value * 100:.2f}%"></span></span>'
            f'<span class="ci-value">{interval.value:.3f}</span></div>'
        )
    axis = '<div class="ci-row ci-axis"><span class="ci-name"></span><span class="ci-track">'
    axis += "".join(
        f'<span class="ci-tick" style="left:{t * 100:.0f}%">{t:g}</span>' for t in (0, 0.5, 1)
    )
    axis += '</span><span class="ci-value"></span></div>'
    return (
        '<div class="ci-chart"><p class="plot-title">Test metrics with 95% intervals</p>'
        + "".join(rows)
        + axis
        + "</div>"
    )


def _objectives(objectives: list[dict[str, Any]]) -> CardSection:
    if not objectives:
        return CardSection(
            "Objectives", [("p", "No objectives were set in the spec, so there is no verdict.")]
        )
    rows = [
        {
            "objective": o.get("objective"),
            "measured": o.get("value"),
            "verdict": {True: "met", False: "NOT met", None: "not measured"}[o.get("met")],
            "measured on": o.get("how", ""),
        }
        for o in objectives
    ]
    return CardSection(
        "Objectives", [("table", (["objective", "measured", "verdict", "measured on"], rows))]
    )


def _serving_tradeoff(run: RunFolder) -> list[CardSection]:
    """The packaged model's serving figures and, when the spec's objectives
    chose it on the trade-off front, what the choice traded."""
    summary = run.metadata.get("tradeoff") or {}
    figures = summary.get("measured") or {}
    if not figures:
        return []
    facts = [
        f"Served by the {figures.get('engine', '?')} engine: one record in "
        f"{rp.fmt_number(figures.get('latency_p50_ms'))} ms at p50, "
        f"{rp.fmt_number(figures.get('latency_p99_ms'))} ms at p99 (in process); "
        f"{rp.fmt_number(figures.get('throughput_rows_s'))} rows/s in batches.",
        f"Model the engine loads: {rp.fmt_number(figures.get('model_size_mb'))} MB.",
        f"Cost at {summary.get('cpu_hour', 0.05):g} per CPU hour: "
        f"{rp.fmt_number(figures.get('cost_per_1k'))} per 1,000 predictions, "
        f"{rp.fmt_number(figures.get('cost_per_training'))} per training.",
    ]
    bounds = ", ".join(summary.get("objectives") or [])
    if bounds and summary.get("chosen") is None:
        facts.append(f"No measured candidate meets {bounds}: the best one is packaged.")
    elif bounds and summary.get("traded"):
        facts.append(
            f"Chosen on the Pareto front by {bounds} over {summary.get('best')}: "
            f"{summary['traded']}."
        )
    elif bounds:
        facts.append(f"The best candidate meets {bounds}; nothing was traded.")
    return [CardSection("Serving trade-off", [("ul", facts)])]


def _behaviour_tests(run: RunFolder) -> list[CardSection]:
    """The gated behaviour tests (``[tests] gate = true``), as the bundle
    recorded them; none when the run did not gate on them."""
    tests = run.metadata.get("behaviour_tests")
    if not isinstance(tests, Mapping):
        return []
    verdict = "passed" if tests.get("passed") else "FAILED: the version could not become champion"
    blocks: list[tuple[str, Any]] = [
        ("p", f"Behaviour tests on {tests.get('data', 'the test set')}: {verdict}."),
        ("p", str(tests.get("summary", ""))),
    ]
    failing = [f for f in tests.get("failing") or [] if isinstance(f, Mapping)]
    if failing:
        rows = [
            {"check": f.get("name"), "status": f.get("status"), "what happened": f.get("message")}
            for f in failing
        ]
        blocks.append(("table", (["check", "status", "what happened"], rows)))
    files = ", ".join(str(name) for name in tests.get("files") or [])
    if files:
        blocks.append(("p", f"Every check with its figures: {files} in the run folder."))
    return [CardSection("Behaviour tests", blocks)]


def _limitations(analysis: RunAnalysis) -> CardSection:
    run = analysis.run
    items = [
        *_unmet_objectives(run),
        *_weak_segments(analysis),
        *(item for part in get_task(run.task).card_parts for item in TASK_LIMITS[part](run)),
        *_test_set_limits(run),
        *_input_limits(run),
        *_context_limits(run),
    ]
    return CardSection("Limitations", [("ul", items)])


def _unmet_objectives(run: RunFolder) -> list[str]:
    """Objectives the model misses."""
    items: list[str] = []
    for objective in run.evaluation.get("objectives") or []:
        if objective.get("met") is False:
            items.append(
                f"Objective {objective.get('objective')} is not met "
                f"(measured {rp.fmt_number(objective.get('value'))})."
            )
    return items


def _weak_segments(analysis: RunAnalysis) -> list[str]:
    """Segments whose metric falls well short of the overall figure."""
    items: list[str] = []
    for table in analysis.segments:
        worst = table.worst
        if worst is None or not math.isfinite(worst.value):
            continue
        scale = abs(table.overall) or 1.0
        if worst.gap > SEGMENT_GAP_SHARE * scale:
            direction = "lower" if greater_is_better(table.metric) else "higher"
            items.append(
                f"Weaker on {table.column} = {worst.label}: {table.metric} "
                f"{rp.fmt_number(worst.value)} ({direction} than {rp.fmt_number(table.overall)} "
                f"overall; {worst.rows:,} test rows)."
            )
    return items


def _class_limits(run: RunFolder) -> list[str]:
    """Classes too rare to measure, and imbalance."""
    items: list[str] = []
    y = run.y_true
    for label in run.classes:
        count = int(np.sum(y == label))
        if count < FEW_CLASS_ROWS:
            items.append(
                f"Class {label!r} has only {count} test row(s): figures for it are uncertain."
            )
    shares = [np.mean(y == label) for label in run.classes]
    if shares and min(shares) < 0.1:
        items.append(
            f"Imbalanced classes: the smallest is {min(shares):.1%} of test rows; accuracy "
            "overstates performance on it (see recall and balanced accuracy)."
        )
    return items


#: The card's task-specific limitation checks, by the names a task lists in
#: its ``card_parts``; a new task registers the parts it names here.
TASK_LIMITS: dict[str, Callable[[RunFolder], list[str]]] = {"class_balance": _class_limits}


def _test_set_limits(run: RunFolder) -> list[str]:
    """A small test set, or one that disagrees with cross-validation."""
    items: list[str] = []
    n_test = len(run.predictions)
    if n_test < SMALL_TEST_ROWS:
        items.append(
            f"Small test set ({n_test} rows): the confidence intervals are wide; "
            "treat single figures with care."
        )
    board = run.leaderboard
    metric = run.metric
    cv = (run.metadata.get("cv") or {}).get("mean")
    test = run.evaluation.get("metrics", {}).get(metric)
    if (
        not board.empty
        and f"cv_{metric}_std" in board.columns
        and cv is not None
        and test is not None
    ):
        std = float(board.iloc[0][f"cv_{metric}_std"] or 0)
        if std > 0 and abs(float(test) - float(cv)) > 2 * std:
            items.append(
                f"The test {metric} ({rp.fmt_number(test)}) differs from cross-validation "
                f"({rp.fmt_number(cv)} ± {rp.fmt_number(std)}) by more than two standard "
                "deviations: the test rows may differ from the training rows."
            )
    return items


def _input_limits(run: RunFolder) -> list[str]:
    """Inputs mostly missing in training, free text, and suspected leakage."""
    items: list[str] = []
    for column in run.schema.columns:
        if column.role not in DROPPED_ROLES and column.missing_rate >= HIGH_MISSING:
            # A missing category gets its own code in the model; numbers are imputed.
            handled = (
                "missing kept as its own category"
                if column.role == Role.CATEGORICAL
                else "predictions lean on imputed values there"
            )
            items.append(
                f"Input {column.name!r} was missing in {column.missing_rate:.0%} of training "
                f"rows; {handled}."
            )
        if column.role == Role.TEXT:
            items.append(f"Input {column.name!r} is free text, encoded as word frequencies.")
    if run.quality:
        for finding in run.quality.get("findings", []):
            check = str(finding.get("check", ""))
            # Runs written before the leakage_* names used the older ones.
            if check.startswith("leakage_") or check in ("possible_leakage", "target_leakage"):
                items.append(f"{finding.get('message')}; {finding.get('action')}.")
    return items


def _context_limits(run: RunFolder) -> list[str]:
    """When the training data ends, and how latency was measured."""
    items: list[str] = []
    if run.metadata.get("period"):
        period = run.metadata["period"]
        items.append(f"Trained on data up to {period['end']}; later data may have drifted.")
    if (run.evaluation.get("latency_ms") or {}).get("latency_p99_ms") is None:
        items.append(
            "The served latency was not measured (the spec has no latency objective); "
            "'cairn loadtest' measures it against a running server."
        )
    else:
        items.append(
            "Latency was measured over HTTP on a loopback port, one record per request; "
            "a network between client and server adds its own delay."
        )
    return items


def _cost(run: RunFolder) -> CardSection:
    meta = run.metadata
    timings = run.timings
    rows = [{"stage": k, "seconds": round(v, 2)} for k, v in timings.items()]
    blocks: list[tuple[str, Any]] = []
    search = meta.get("search") or {}
    facts = []
    if timings.get("total") is not None:
        facts.append(f"Whole run: {rp.fmt_duration(timings['total'])}.")
    if search.get("trials") is not None:
        facts.append(f"Configurations tried: {search['trials']}.")
    if not run.leaderboard.empty:
        facts.append(f"Candidates on the leaderboard: {len(run.leaderboard)}.")
        if "fit_time_s" in run.leaderboard.columns:
            packaged = (meta.get("tradeoff") or {}).get("model")
            matching = run.leaderboard[run.leaderboard["model"] == packaged]
            fit = (matching if len(matching) else run.leaderboard).iloc[0]["fit_time_s"]
            facts.append(f"Chosen model: {rp.fmt_number(fit)} s to fit one fold.")
    machine = meta.get("machine") or {}
    if machine:
        facts.append("Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()) + ".")
    size = meta.get("model_size_mb")
    if size is not None:
        facts.append(f"Model file: {float(size):.2f} MB.")
    compression = _compression_fact(run.path / "compression.json")
    if compression:
        facts.append(compression)
    if facts:
        blocks.append(("ul", facts))
    if rows:
        blocks.append(("table", (["stage", "seconds"], rows)))
    if not blocks:
        blocks.append(("p", "No timings recorded for this run."))
    return CardSection("Training cost", blocks)


def _compression_fact(path: Path) -> str:
    """One line on the compressed variants (compression.json), or ""."""
    if not path.is_file():
        return ""
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("skipped"):
        return f"Compression: none ({record['skipped']})."
    kept = [v for v in record.get("variants", []) if v.get("kept")]
    parts = [
        f"{v['name']} ({v['trees']} trees, cv {rp.fmt_number(v['cv_mean'])}"
        + (f", agrees {100 * v['agreement']:.1f} %)" if v.get("agreement") is not None else ")")
        for v in kept
    ]
    student = [v for v in record.get("variants", []) if v["kind"] == "distilled"]
    if student and not student[0].get("kept"):
        parts.append(f"student not kept: {student[0]['reason']}")
    return "Compressed candidates: " + ("; ".join(parts) or "none") + "."


def _versions(run: RunFolder) -> CardSection:
    return versions_section(run.metadata.get("versions") or {})


def versions_section(versions: Mapping[str, Any]) -> CardSection:
    """The card's table of the software that made the model."""
    rows = [{"software": k, "version": str(v)} for k, v in versions.items()]
    return CardSection("Versions", [("table", (["software", "version"], rows))])


def write_model_card(
    run: RunAnalysis | RunFolder | str | Path, folder: str | Path | None = None
) -> tuple[Path, Path]:
    """Write ``model_card.md`` and ``model_card.html`` (default: into the run
    folder); returns both paths."""
    analysis = run if isinstance(run, RunAnalysis) else analyse_run(run)
    card = model_card(analysis)
    target = Path(folder) if folder is not None else analysis.run.path
    markdown = rp.write_report(target / "model_card.md", card.markdown())
    page = rp.write_report(target / "model_card.html", card.html())
    return markdown, page
