"""The evaluation report of a run: objectives verdict, leaderboard, test
metrics with bootstrap intervals, the chosen model's diagnostic plots and
feature importance, as one self-contained HTML page.

Everything is rebuilt from the run folder (see
:mod:`cairn.evaluation.run_folder`): the held-out rows with their true and
predicted values, the leaderboard and the bundle (loaded only for
permutation importance and SHAP values).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import cairn.reporting as rp
from cairn.evaluation._analysis import RunAnalysis, analyse_run
from cairn.evaluation._classification_report import (
    calibration_section,
    confusion_section,
    curves_section,
)
from cairn.evaluation._plot_data import BEESWARM_ROWS, sample_rows
from cairn.evaluation._regression_report import residuals_section
from cairn.evaluation._tradeoff_report import tradeoff_section
from cairn.evaluation.importance import ShapSummary
from cairn.evaluation.run_folder import RunFolder
from cairn.tasks import get_task, greater_is_better
from cairn.tasks.bootstrap import Interval

#: The report's task sections, by the names a task lists in its
#: ``report_sections``; a new task registers the sections it names here.
TASK_SECTIONS: dict[str, Callable[[RunAnalysis], rp.Section]] = {
    "confusion": confusion_section,
    "curves": curves_section,
    "calibration": calibration_section,
    "residuals": residuals_section,
}

# ---------------------------------------------------------------- rendering


def objectives_banner(run: RunFolder) -> str:
    """Green when every objective is met, red otherwise (shared with the card)."""
    objectives = run.evaluation.get("objectives") or []
    if not objectives:
        return rp.banner(
            "No objectives set",
            "info",
            '<p>Add objectives to cairn.toml (e.g. <code>objectives = ["roc_auc &gt;= 0.85"]'
            "</code>) to get a verdict.</p>",
        )
    failed = [o for o in objectives if o.get("met") is False]
    unmeasured = [o for o in objectives if o.get("met") is None]
    items = []
    for o in objectives:
        mark = {True: "met", False: "NOT met", None: "not measured"}[o.get("met")]
        value = o.get("value")
        shown = rp.fmt_number(value) if value is not None else "—"
        how = rp.escape(o.get("how", ""))
        items.append(
            f"<li><strong>{rp.escape(o.get('objective'))}</strong>: {rp.escape(shown)} — "
            f"{rp.escape(mark)} <span class='note muted'>({how})</span></li>"
        )
    details = f"<ul>{''.join(items)}</ul>"
    if failed:
        return rp.banner(f"{len(failed)} of {len(objectives)} objectives not met", "bad", details)
    title = f"All {len(objectives) - len(unmeasured)} measured objectives met"
    return rp.banner(title, "good", details)


def _interval_text(interval: Interval | None) -> str:
    if interval is None or not math.isfinite(interval.low):
        return "—"
    return f"{rp.fmt_number(interval.low)} – {rp.fmt_number(interval.high)}"


LATENCY_NOTE = (
    "Latency (latency_*): the served engine, one record per HTTP request on a loopback "
    "port, measured by the serving gate of 'cairn run' when the spec has a latency "
    "objective; native_latency_*: the scikit-learn pipeline called in-process, for "
    "comparison only."
)


def _latency_tile(latency: dict[str, Any]) -> tuple[str, Any, str]:
    """The served p99 (what latency objectives are judged on), or why it is absent."""
    p99 = latency.get("latency_p99_ms")
    if p99 is None:
        return ("latency p99", "not measured", "no latency objective; see cairn loadtest")
    return ("latency p99", f"{float(p99):.1f} ms", "served, one record per HTTP request")


def _summary(analysis: RunAnalysis) -> rp.Section:
    run = analysis.run
    meta = run.metadata
    metric = run.metric
    metrics = run.evaluation.get("metrics", {})
    latency = run.evaluation.get("latency_ms", {})
    main = analysis.intervals.get(metric)
    cv_mean = (meta.get("cv") or {}).get("mean")
    board = run.leaderboard
    cv_std = None
    if not board.empty and f"cv_{metric}_std" in board.columns:
        cv_std = board.iloc[0][f"cv_{metric}_std"]
    tiles: list[tuple[str, Any] | tuple[str, Any, str]] = [
        ("model", meta.get("model", "?")),
        (f"test {metric}", rp.fmt_number(metrics.get(metric)), f"95% CI {_interval_text(main)}"),
        (
            f"CV {metric}",
            rp.fmt_number(cv_mean),
            f"± {rp.fmt_number(cv_std)} across folds" if cv_std is not None else "",
        ),
        ("test rows", run.evaluation.get("n_test") or len(run.predictions)),
        _latency_tile(latency),
        ("model size", f"{meta.get('model_size_mb', float('nan')):.2f} MB"),
    ]
    rows = []
    for name, value in metrics.items():
        interval = analysis.intervals.get(name)
        rows.append(
            {
                "metric": name + (" (main)" if name == metric else ""),
                "test value": value,
                "95% interval": _interval_text(interval),
                "better": "higher" if greater_is_better(name) else "lower",
            }
        )
    native = run.evaluation.get("native_latency_ms") or {}
    for name, value in {**latency, **native}.items():
        rows.append({"metric": name, "test value": value, "95% interval": "—", "better": "lower"})
    resamples = next(iter(analysis.intervals.values())).resamples if analysis.intervals else 0
    body = rp.tiles(tiles) + rp.table(
        rows,
        caption=f"Intervals: percentile bootstrap over {resamples:,} resamples of the "
        f"{len(run.predictions):,} test rows. {LATENCY_NOTE}",
    )
    label = meta.get("model_label")
    if label and label != meta.get("model"):
        body += rp.note(f"Chosen model: {label}.", "muted")
    return rp.Section(
        "Test-set results", body, id="results", lead="The chosen model on the held-out test set."
    )


def _leaderboard(run: RunFolder) -> rp.Section:
    board = run.leaderboard
    metric = run.metric
    if board.empty:
        return rp.Section(
            "Leaderboard", rp.note("No leaderboard in this run folder."), id="leaderboard"
        )
    mean_col, std_col = f"cv_{metric}_mean", f"cv_{metric}_std"
    shown = board.head(25)
    columns = [
        c
        for c in (
            "model",
            "label",
            "origin",
            "status",
            mean_col,
            std_col,
            "folds",
            "fit_time_s",
            "predict_ms_per_row",
            "features",
        )
        if c in shown.columns
    ]
    renamed = shown[columns].rename(
        columns={
            mean_col: f"CV {metric} mean",
            std_col: "CV std",
            "fit_time_s": "fit s / fold",
            "predict_ms_per_row": "predict ms / row",
        }
    )
    ok = board[board["status"] == "ok"] if "status" in board.columns else board
    ok = ok.dropna(subset=[mean_col]).head(20) if mean_col in ok.columns else ok.head(0)
    parts = [_leaderboard_plot(ok, metric)] if len(ok) else []
    body = rp.table(renamed, highlight_first=True) + rp.grid(*parts, min_width=500)
    if len(board) > 25:
        body += rp.note(f"{len(board) - 25} more candidates in leaderboard.csv.", "muted")
    return rp.Section(
        "Leaderboard",
        body,
        id="leaderboard",
        lead=f"Every candidate's cross-validated {metric} with its spread across folds, "
        "best first.",
    )


def _leaderboard_plot(ok: pd.DataFrame, metric: str) -> str:
    """Each scored candidate's CV mean with its spread across folds, best first."""
    mean_col, std_col = f"cv_{metric}_mean", f"cv_{metric}_std"
    colours = [rp.PALETTE[1] if i == 0 else rp.PALETTE[0] for i in range(len(ok))]
    fig = rp.Figure(
        [
            {
                "type": "bar",
                "orientation": "h",
                "y": [str(m) for m in ok["model"]],
                "x": ok[mean_col].to_numpy(dtype=float),
                "error_x": {
                    "type": "data",
                    "array": ok[std_col].fillna(0).to_numpy(dtype=float)
                    if std_col in ok.columns
                    else [],
                    "visible": True,
                    "color": "#5b6475",
                    "thickness": 1.2,
                },
                "marker": {"color": colours},
                "hovertemplate": "%{y}: %{x:.4f}<extra></extra>",
            }
        ],
        {
            "yaxis": {"autorange": "reversed", "type": "category"},
            "xaxis": {"title": {"text": f"CV {metric} (mean ± std across folds)"}},
        },
        title="Cross-validated score per candidate",
        caption="The first bar is the chosen model; error bars show the spread across folds.",
        height=max(200, 26 * len(ok) + 80),
    )
    lo = float(np.nanmin(ok[mean_col] - ok.get(std_col, 0)))
    hi = float(np.nanmax(ok[mean_col] + ok.get(std_col, 0)))
    pad = (hi - lo) * 0.15 or 0.01
    fig.layout["xaxis"]["range"] = [lo - pad, hi + pad]
    return str(fig)


def _segments(analysis: RunAnalysis) -> rp.Section | None:
    tables = analysis.segments
    if not tables:
        return None
    plots = []
    for table in tables:
        labels = [s.label for s in table.segments]
        values = [s.value for s in table.segments]
        colours = [
            rp.BAD if s.gap > 0 and s.gap == max(x.gap for x in table.segments) else rp.PALETTE[0]
            for s in table.segments
        ]
        fig = rp.bar(
            labels,
            values,
            horizontal=True,
            title=f"{table.metric} by {table.column}",
            x_title=table.metric,
            color=colours,
            text=[f"{v:.3g} ({s.rows:,})" for v, s in zip(values, table.segments, strict=True)],
            hover="%{y}: %{x:.4f}",
            caption=f"Overall {table.metric} {table.overall:.4g}; the red bar is the weakest "
            "segment; rows per segment in brackets.",
        )
        fig.layout["shapes"] = [rp.vertical_line(table.overall, color=rp.MUTED)]
        plots.append(str(fig))
    return rp.Section(
        "Performance by segment",
        rp.grid(*plots, min_width=420),
        id="segments",
        lead="The test metric within groups of rows (categories, or quintiles of numbers) of the "
        f"most important inputs; segments under {30} rows are left out.",
    )


def _importance(analysis: RunAnalysis) -> rp.Section | None:
    imp = analysis.importance
    shap = analysis.shap
    if imp is None and shap is None:
        if analysis.notes:
            return rp.Section(
                "Feature importance", rp.note(" ".join(analysis.notes)), id="importance"
            )
        return None
    parts = []
    if imp is not None:
        top = min(len(imp.features), 25)
        fig = rp.Figure(
            [
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": imp.features[:top],
                    "x": np.asarray(imp.mean[:top]),
                    "error_x": {
                        "type": "data",
                        "array": np.asarray(imp.std[:top]),
                        "visible": True,
                        "color": "#5b6475",
                        "thickness": 1.2,
                    },
                    "marker": {"color": rp.PALETTE[0]},
                    "hovertemplate": "%{y}: %{x:.4g}<extra></extra>",
                }
            ],
            {
                "yaxis": {"autorange": "reversed", "type": "category"},
                "xaxis": {"title": {"text": f"drop in {imp.metric} when shuffled"}},
            },
            title="Permutation importance (test set)",
            caption=f"Mean ± std over {imp.repeats} shuffles of each input on "
            f"{imp.rows:,} test rows; baseline {imp.metric} {imp.baseline:.4g}."
            + (
                f" The table is wide: {imp.not_measured:,} inputs, chosen at random, "
                "were not shuffled."
                if imp.not_measured
                else ""
            ),
            height=max(220, 24 * top + 90),
        )
        parts.append(str(fig))
    if shap is not None:
        parts.append(_beeswarm(shap))
    body = rp.grid(*parts, min_width=460)
    if shap is not None and shap.notes:
        body += "".join(rp.note(n) for n in shap.notes)
    elif analysis.notes:
        body += "".join(rp.note(n) for n in analysis.notes)
    return rp.Section(
        "Feature importance",
        body,
        id="importance",
        lead="Which inputs the model relies on: the score lost when an input is shuffled, and "
        "each input's SHAP contribution to individual predictions.",
    )


def _beeswarm(shap: ShapSummary) -> str:
    top = min(len(shap.features), 15)
    rows = sample_rows(shap.values.shape[0], BEESWARM_ROWS, seed=1)
    rng = np.random.default_rng(2)
    xs, ys, cs, gx, gy = [], [], [], [], []
    for j in range(top):
        values = shap.values[rows, j]
        colour = shap.colour[rows, j]
        jitter = rng.uniform(-0.3, 0.3, len(rows))
        known = np.isfinite(colour)
        xs.append(values[known])
        ys.append(j + jitter[known])
        cs.append(colour[known])
        gx.append(values[~known])
        gy.append(j + jitter[~known])
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "markers",
            "x": np.concatenate(xs),
            "y": np.concatenate(ys),
            "marker": {
                "size": 4,
                "opacity": 0.7,
                "color": np.concatenate(cs),
                "colorscale": [[0, "#2f6fde"], [0.5, "#b9a3d6"], [1, "#e4572e"]],
                "cmin": 0,
                "cmax": 1,
                "colorbar": {
                    "title": {"text": "input value", "side": "right"},
                    "tickvals": [0, 1],
                    "ticktext": ["low", "high"],
                    "thickness": 10,
                },
            },
            "hovertemplate": "SHAP %{x:.4g}<extra></extra>",
        }
    ]
    if any(len(g) for g in gx):
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": np.concatenate(gx),
                "y": np.concatenate(gy),
                "marker": {"size": 4, "opacity": 0.5, "color": rp.MUTED},
                "hovertemplate": "SHAP %{x:.4g}<extra></extra>",
            }
        )
    layout = {
        "yaxis": {
            "tickvals": list(range(top)),
            "ticktext": shap.features[:top],
            "autorange": "reversed",
            "zeroline": False,
        },
        "xaxis": {
            "title": {"text": f"SHAP value ({shap.units})"},
            "zeroline": True,
            "zerolinecolor": "#c9ced8",
        },
        "shapes": [],
    }
    subject = f" for {shap.class_label}" if shap.class_label else ""
    return str(
        rp.Figure(
            traces,
            layout,
            title=f"SHAP summary ({shap.source}){subject}",
            caption=f"Each dot is one test row ({len(rows):,} drawn from {shap.rows:,}); right of "
            "zero pushes the prediction up. Colour: the input's value (grey when not numeric). "
            "Mean |SHAP|: "
            + ", ".join(
                f"{f} {v:.3g}" for f, v in zip(shap.features[:5], shap.mean_abs[:5], strict=True)
            )
            + ".",
            height=max(260, 26 * top + 90),
        )
    )


def render_evaluation(analysis: RunAnalysis) -> str:
    """The evaluation report as an HTML page (string)."""
    run = analysis.run
    meta = run.metadata
    sections = [_summary(analysis), _leaderboard(run)]
    tradeoff = tradeoff_section(run)
    if tradeoff is not None:
        sections.append(tradeoff)
    sections += [TASK_SECTIONS[name](analysis) for name in get_task(run.task).report_sections]
    for extra in (_segments(analysis), _importance(analysis)):
        if extra is not None:
            sections.append(extra)
    return rp.render_page(
        f"Evaluation: {meta.get('name', run.run_id)}",
        sections,
        subtitle=f"{run.task.capitalize()} of {meta.get('target', '?')}; run {run.run_id}",
        banner=objectives_banner(run),
        meta={
            "model": meta.get("model", "?"),
            "metric": run.metric,
            "test rows": f"{len(run.predictions):,}",
            "split": meta.get("split", "?"),
            "trained": str(meta.get("created_at", "?")).replace("T", " "),
        },
    )


def write_evaluation_report(
    run: RunAnalysis | RunFolder | str | Path, path: str | Path | None = None
) -> Path:
    """Write the evaluation report (default ``<run folder>/evaluation.html``)."""
    analysis = run if isinstance(run, RunAnalysis) else analyse_run(run)
    target = Path(path) if path is not None else analysis.run.path / "evaluation.html"
    return rp.write_report(target, render_evaluation(analysis))


def frame_of_intervals(analysis: RunAnalysis) -> pd.DataFrame:
    """The bootstrap intervals as a table (metric, value, low, high)."""
    return pd.DataFrame([i.to_dict() for i in analysis.intervals.values()])
