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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import cairn.reporting as rp
from cairn.evaluation.bootstrap import Interval, bootstrap_intervals
from cairn.evaluation.importance import Importance, ShapSummary, permutation_importance, tree_shap
from cairn.evaluation.metrics import greater_is_better
from cairn.evaluation.run_folder import RunFolder, load_run
from cairn.evaluation.segments import SegmentTable, segment_performance

#: Points drawn in scatter plots (a random sample above this; statistics use all rows).
SCATTER_POINTS = 3_000
#: Rows drawn per feature in the SHAP beeswarm.
BEESWARM_ROWS = 400
CURVE_POINTS = 400
_SEGMENT_COLUMNS = 6


@dataclass
class RunAnalysis:
    """What the evaluation report and the model card show, computed once.

    Attributes:
        run: the run folder read back.
        intervals: bootstrap intervals of the test metrics.
        importance: permutation importance (None if the model could not be
            loaded or scored).
        shap: tree SHAP summary (None for models without a LightGBM or
            CatBoost part).
        segments: the metric per segment of the most important inputs.
        notes: things that could not be computed, and why.
        seconds: time spent per part.
    """

    run: RunFolder
    intervals: dict[str, Interval]
    importance: Importance | None = None
    shap: ShapSummary | None = None
    segments: list[SegmentTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


# With a time budget: resamples x test rows x classes stays under this.
_BOOTSTRAP_CELLS = 40_000_000
_MIN_RESAMPLES = 200


def analyse_run(
    run: RunFolder | str | Path,
    *,
    model: Any = None,
    importance: bool = True,
    resamples: int = 1000,
    seed: int = 0,
    time_budget: float | None = None,
) -> RunAnalysis:
    """Bootstrap intervals, importance and segment performance for a run.

    Args:
        run: a :class:`RunFolder`, or a run folder / run id for :func:`load_run`.
        model: the fitted estimator (``Model.pipeline``); loaded from the
            run's bundle (hash-checked) when omitted and ``importance`` is on.
        importance: compute permutation importance and SHAP values (needs the
            model).
        resamples: bootstrap resamples.
        time_budget: seconds for permutation importance and SHAP together;
            each works on fewer rows to fit its half (the report says so).
            Also bounds the bootstrap: fewer resamples (at least 200) when
            test rows x classes is large.
    """
    folder = run if isinstance(run, RunFolder) else load_run(run)
    seconds: dict[str, float] = {}
    notes: list[str] = []
    clock = time.perf_counter()
    task = folder.task
    if time_budget is not None:
        # Macro metrics cost resamples x rows x classes: fewer resamples for
        # large many-class test sets (the report states how many).
        width = len(folder.classes) if task == "classification" else 1
        cells = max(1, len(folder.predictions) * max(1, width))
        resamples = min(resamples, max(_MIN_RESAMPLES, _BOOTSTRAP_CELLS // cells))
    if task == "classification":
        y = folder.y_codes
        proba = folder.proba
        intervals = bootstrap_intervals(task, y, proba=proba, resamples=resamples, seed=seed)
    else:
        y = folder.y_true
        proba = None
        intervals = bootstrap_intervals(
            task, y, y_pred=folder.y_pred, resamples=resamples, seed=seed
        )
    seconds["bootstrap"] = time.perf_counter() - clock
    result = RunAnalysis(folder, intervals, notes=notes, seconds=seconds)
    X = folder.features  # a property that slices the predictions frame: take it once
    present = set(X.columns)
    features = [f for f in folder.schema.feature_names if f in present]
    if importance:
        clock = time.perf_counter()
        if model is None:
            from cairn.bundle import load_bundle

            model = load_bundle(folder.bundle_path, engine="native").pipeline
        result.importance = permutation_importance(
            model,
            X,
            y,
            task=task,
            metric=folder.metric,
            features=features,
            seed=seed,
            time_budget=6.0 if time_budget is None else time_budget / 2,
        )
        seconds["permutation importance"] = time.perf_counter() - clock
        clock = time.perf_counter()
        result.shap = tree_shap(
            model,
            X,
            task=task,
            classes=folder.classes,
            seed=seed,
            time_budget=None if time_budget is None else time_budget / 2,
        )
        if result.shap is None:
            notes.append(
                "SHAP values are computed for LightGBM and CatBoost models; this model has none."
            )
        seconds["shap"] = time.perf_counter() - clock
    clock = time.perf_counter()
    ranked = result.importance.features if result.importance else features
    result.segments = segment_performance(
        X,
        y,
        task=task,
        metric=folder.metric,
        schema=folder.schema,
        proba=proba,
        y_pred=None if task == "classification" else folder.y_pred,
        columns=ranked[:_SEGMENT_COLUMNS],
    )
    seconds["segments"] = time.perf_counter() - clock
    return result


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
    parts = []
    if len(ok):
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
        parts.append(str(fig))
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


def _thin(x: np.ndarray, y: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    if len(x) <= CURVE_POINTS:
        return (x, y, *others)
    index = np.unique(np.linspace(0, len(x) - 1, CURVE_POINTS).astype(int))
    return (x[index], y[index], *(o[index] for o in others))


def _classification(analysis: RunAnalysis) -> list[rp.Section]:
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import (
        average_precision_score,
        confusion_matrix,
        precision_recall_curve,
        precision_recall_fscore_support,
        roc_auc_score,
        roc_curve,
    )

    run = analysis.run
    classes = run.classes
    y = run.y_codes
    proba = run.proba
    pred = proba.argmax(axis=1)
    k = len(classes)
    sections = []

    matrix = confusion_matrix(y, pred, labels=list(range(k)))
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    text = [[f"{matrix[i, j]:,}<br>{shares[i, j]:.0%}" for j in range(k)] for i in range(k)]
    confusion = rp.heatmap(
        shares,
        [f"{c}" for c in classes],
        [f"{c}" for c in classes],
        zmin=0,
        zmax=1,
        x_title="predicted",
        y_title="actual",
        text_format=None,
        title="Confusion matrix",
        caption="Cells: rows and share of the actual class; predictions are the most probable "
        "class.",
        hover="actual %{y}, predicted %{x}: %{z:.1%} of the class<extra></extra>",
        height=min(620, 70 * k + 160),
    )
    confusion.data[0]["text"] = text
    confusion.data[0]["texttemplate"] = "%{text}"
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=list(range(k)), zero_division=0
    )
    per_class = rp.table(
        [
            {
                "class": label,
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "F1": round(float(f1[i]), 4),
                "test rows": int(support[i]),
            }
            for i, label in enumerate(classes)
        ]
    )
    sections.append(
        rp.Section(
            "Confusion matrix",
            rp.grid(str(confusion), per_class, min_width=420),
            id="confusion",
            lead="Where the model's predictions land, per actual class.",
        )
    )

    shown = list(range(k)) if k > 2 else [1]
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    pr: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for c in shown[:10]:
        positive = (y == c).astype(int)
        if positive.min() == positive.max():
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, c])
        auc = roc_auc_score(positive, proba[:, c])
        fpr, tpr = _thin(fpr, tpr)
        roc[f"{classes[c]} (AUC {auc:.3f})"] = (fpr, tpr)
        prec, rec, _ = precision_recall_curve(positive, proba[:, c])
        ap = average_precision_score(positive, proba[:, c])
        rec, prec = _thin(rec[::-1], prec[::-1])
        pr[f"{classes[c]} (AP {ap:.3f})"] = (rec, prec)
    roc_fig = rp.lines(
        roc,
        title="ROC curve" + (" (one class against the rest)" if k > 2 else ""),
        x_title="false positive rate",
        y_title="true positive rate",
        diagonal=True,
        x_range=(0, 1),
        y_range=(0, 1.02),
        height=360,
    )
    pr_fig = rp.lines(
        pr,
        title="Precision–recall curve",
        x_title="recall",
        y_title="precision",
        x_range=(0, 1),
        y_range=(0, 1.02),
        height=360,
        caption=f"Positive class: {classes[1]}; a random model's precision is its share, "
        f"{np.mean(y == 1):.1%}."
        if k == 2
        else "",
    )
    sections.append(
        rp.Section(
            "ROC and precision–recall",
            rp.grid(str(roc_fig), str(pr_fig), min_width=420),
            id="curves",
            lead="How well the predicted probabilities rank the classes, at every threshold.",
        )
    )

    if k == 2:
        positive = (y == 1).astype(int)
        scores = proba[:, 1]
        bins = min(10, max(3, len(y) // 50))
        frac, mean_pred = calibration_curve(positive, scores, n_bins=bins, strategy="quantile")
        calibration = rp.lines(
            {"model": (mean_pred, frac)},
            title="Calibration (reliability)",
            x_title=f"mean predicted probability of {classes[1]}",
            y_title=f"observed share of {classes[1]}",
            diagonal=True,
            markers=True,
            x_range=(0, 1),
            y_range=(0, 1.02),
            caption=f"{bins} bins of equal size; on the dashed line a predicted 30 % happens 30 % "
            "of the time. Brier score "
            f"{np.mean((scores - positive) ** 2):.4f}.",
            height=340,
        )
        counts, edges = np.histogram(scores, bins=20, range=(0, 1))
        spread = rp.histogram(
            edges,
            counts,
            title="Predicted probabilities",
            x_title=f"predicted probability of {classes[1]}",
            height=340,
        )
        thresholds = np.linspace(0.01, 0.99, 99)
        predicted = scores[None, :] >= thresholds[:, None]
        tp = (predicted & (positive[None, :] == 1)).sum(axis=1)
        fp = (predicted & (positive[None, :] == 0)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_t = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), np.nan)
            r_t = tp / max(positive.sum(), 1)
            f_t = np.where(p_t + r_t > 0, 2 * p_t * r_t / (p_t + r_t), 0.0)
        best = float(thresholds[int(np.nanargmax(f_t))])
        threshold = rp.lines(
            {
                "precision": (thresholds, p_t),
                "recall": (thresholds, r_t),
                "F1": (thresholds, f_t),
                "share predicted positive": (thresholds, predicted.mean(axis=1)),
            },
            title="Precision, recall and F1 by threshold",
            x_title=f"threshold on the probability of {classes[1]}",
            y_title="value",
            x_range=(0, 1),
            y_range=(0, 1.02),
            vlines={"0.5 (used)": 0.5, f"best F1 {best:.2f}": best},
            caption=f"cairn predicts {classes[1]} above 0.5; the best F1 on the test set is at "
            f"{best:.2f}.",
            height=360,
        )
        sections.append(
            rp.Section(
                "Calibration and thresholds",
                rp.grid(str(calibration), str(spread), min_width=420) + str(threshold),
                id="calibration",
                lead="Whether probabilities can be read as frequencies, and what each decision "
                "threshold trades.",
            )
        )
    else:
        confidence = proba.max(axis=1)
        correct = (pred == y).astype(float)
        bins = min(10, max(3, len(y) // 50))
        order = np.argsort(confidence)
        groups = np.array_split(order, bins)
        mean_conf = np.array([confidence[g].mean() for g in groups])
        accuracy = np.array([correct[g].mean() for g in groups])
        calibration = rp.lines(
            {"model": (mean_conf, accuracy)},
            title="Calibration of the top class",
            x_title="mean probability of the predicted class",
            y_title="share predicted correctly",
            diagonal=True,
            markers=True,
            x_range=(0, 1),
            y_range=(0, 1.02),
            caption=f"{bins} bins of equal size by confidence.",
            height=340,
        )
        thresholds = np.linspace(0.0, 0.99, 100)
        kept = confidence[None, :] >= thresholds[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            acc_t = np.where(
                kept.sum(axis=1) > 0, (kept * correct).sum(axis=1) / kept.sum(axis=1), np.nan
            )
        threshold = rp.lines(
            {
                "accuracy of kept rows": (thresholds, acc_t),
                "share of rows kept": (thresholds, kept.mean(axis=1)),
            },
            title="Accuracy and coverage by confidence threshold",
            x_title="minimum probability of the predicted class",
            y_title="value",
            x_range=(0, 1),
            y_range=(0, 1.02),
            caption="Answering only when the model is at least this confident: how accurate "
            "those answers are and how many rows get one.",
            height=340,
        )
        sections.append(
            rp.Section(
                "Calibration and thresholds",
                rp.grid(str(calibration), str(threshold), min_width=420),
                id="calibration",
                lead="Whether the predicted class's probability can be read as a frequency.",
            )
        )
    return sections


def _sample(n: int, size: int, seed: int = 0) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _regression(analysis: RunAnalysis) -> list[rp.Section]:
    run = analysis.run
    y = run.y_true
    pred = run.y_pred
    residual = y - pred
    index = _sample(len(y), SCATTER_POINTS)
    sampled = len(index) < len(y)
    note = f"; {len(index):,} of {len(y):,} rows drawn at random" if sampled else ""
    target = str(run.metadata.get("target", "target"))
    scatter = rp.scatter(
        pred[index],
        y[index],
        title="Predicted vs actual",
        x_title=f"predicted {target}",
        y_title=f"actual {target}",
        diagonal=True,
        caption="On the dashed line predictions are exact" + note + ".",
        height=380,
    )
    residuals = rp.scatter(
        pred[index],
        residual[index],
        title="Residuals vs predicted",
        x_title=f"predicted {target}",
        y_title="actual − predicted",
        hline=0.0,
        caption="A pattern (funnel, curve) means the errors depend on the prediction" + note + ".",
        height=380,
    )
    counts, edges = np.histogram(residual, bins=40)
    spread = rp.histogram(
        edges,
        counts,
        title="Residual distribution",
        x_title="actual − predicted",
        markers={"0": 0.0, "mean": float(residual.mean())},
        caption=f"All {len(y):,} test rows; mean {rp.fmt_number(residual.mean())}, "
        f"std {rp.fmt_number(residual.std())}.",
        height=300,
    )
    quantiles = np.unique(np.quantile(y, np.linspace(0, 1, 11)))
    bins = np.clip(np.searchsorted(quantiles, y, side="right") - 1, 0, len(quantiles) - 2)
    labels, mae, bias = [], [], []
    for b in range(len(quantiles) - 1):
        mask = bins == b
        if mask.any():
            labels.append(f"{rp.fmt_short(quantiles[b])} – {rp.fmt_short(quantiles[b + 1])}")
            mae.append(float(np.abs(residual[mask]).mean()))
            bias.append(float(residual[mask].mean()))
    by_value = rp.Figure(
        [
            {
                "type": "bar",
                "name": "mean absolute error",
                "x": labels,
                "y": mae,
                "marker": {"color": rp.PALETTE[0]},
            },
            {
                "type": "bar",
                "name": "mean error (bias)",
                "x": labels,
                "y": bias,
                "marker": {"color": rp.PALETTE[1]},
            },
        ],
        {
            "barmode": "group",
            "showlegend": True,
            "xaxis": {"type": "category", "title": {"text": f"actual {target} (deciles)"}},
            "yaxis": {"title": {"text": "error"}},
        },
        title="Error by decile of the actual value",
        caption="Bias above zero: the model predicts too low there.",
        height=320,
    )
    return [
        rp.Section(
            "Predictions and residuals",
            rp.grid(str(scatter), str(residuals), min_width=420)
            + rp.grid(str(spread), str(by_value), min_width=420),
            id="residuals",
            lead="How far predictions are from the truth, and where.",
        )
    ]


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
        fig.layout["shapes"] = [
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": table.overall,
                "x1": table.overall,
                "y0": 0,
                "y1": 1,
                "line": {"color": rp.MUTED, "dash": "dash"},
            }
        ]
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
    rows = _sample(shap.values.shape[0], BEESWARM_ROWS, seed=1)
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
    if run.task == "classification":
        sections += _classification(analysis)
    else:
        sections += _regression(analysis)
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
