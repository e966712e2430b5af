"""Weak slices and fairness, on labelled rows.

Slices: the model's metric within every category (and missing values) of
each input column and within each quintile of a number, with bootstrap
intervals. A slice fails when it is worse than the metric on all rows by
more than ``slice_max_gap`` (relative) and its whole interval is worse than
it, or when the model meets its objective on all rows but the slice's whole
interval misses it. A regression's scale-bound errors (RMSE, MAE, MSE) are
judged both as they are and relative to each slice's mean absolute target:
a slice is weak only when it is worse both ways, so that slices of large
values are not weak merely for being large, nor slices of small ones for
being small.

Fairness, for a binary classifier and each declared sensitive column: the
largest difference between groups in the share predicted positive
(demographic parity) and in the share of actual positives predicted
positive (equal opportunity)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cairn.behaviour._context import Context, skipped
from cairn.behaviour._result import CheckResult
from cairn.data.schema import Role
from cairn.data.values import as_strings
from cairn.exceptions import DataError
from cairn.spec import Objective
from cairn.tasks import get_task

__all__ = ["Labelled", "fairness", "label_rows", "slices"]

RESAMPLES = 200
LEVEL = 0.9
MAX_LEVELS = 12
BINS = 5
# Scale-bound errors judged relative to the slice's mean absolute target.
_SCALED = {"rmse": 1, "mae": 1, "mse": 2}
# Ranking measures undefined within one-class slices.
_RANKING = ("roc_auc", "log_loss")
#: Equal opportunity is measured in groups with at least this many positives.
MIN_POSITIVES = 10


@dataclass
class Labelled:
    """Rows with a label, the label (class code or value) and the model's output."""

    rows: pd.DataFrame
    y: np.ndarray
    output: np.ndarray


def label_rows(ctx: Context, output: np.ndarray) -> Labelled | None:
    """The labelled rows, labels encoded as the model's class codes; None
    when no row has a label.

    Raises:
        DataError: a label is a class the model does not know.
    """
    if ctx.labels is None:
        return None
    present = ctx.labels.notna().to_numpy()
    if not present.any():
        return None  # a target column left empty labels nothing
    rows = ctx.rows.loc[present].reset_index(drop=True)
    labels = ctx.labels.loc[present].reset_index(drop=True)
    if ctx.has_classes:
        classes = list(ctx.model.schema.classes or ())
        strings = as_strings(labels)
        unknown = sorted(set(strings) - set(classes))
        if unknown:
            raise DataError(
                f"labels hold {len(unknown)} class(es) the model does not know, e.g. "
                f"{unknown[0]!r} (its classes: {', '.join(classes[:10])}); check the target column"
            )
        y = strings.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)
    else:
        y = pd.to_numeric(labels, errors="coerce").to_numpy(dtype=float)
        keep = np.isfinite(y)
        if not keep.any():
            return None
        rows, y, output = rows.loc[keep].reset_index(drop=True), y[keep], output[present][keep]
        return Labelled(rows, y, output)
    return Labelled(rows, y, output[present])


def _groups(series: pd.Series, role: Role, min_rows: int) -> Iterator[tuple[str, np.ndarray]]:
    if role in (Role.CATEGORICAL, Role.BOOLEAN):
        strings = as_strings(series)
        for level in strings.value_counts().index[:MAX_LEVELS]:
            yield str(level), strings.eq(level).to_numpy(dtype=bool, na_value=False)
    elif role == Role.NUMERIC:
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        distinct = np.unique(finite)
        if len(distinct) <= BINS:
            # a few values (a class, a count): each is its own group, not a
            # range whose bounds it shares with the next
            for value in distinct:
                yield f"{value:g}", values == value
        elif finite.size >= 2 * min_rows:
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, BINS + 1)))
            bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
            for i in range(len(edges) - 1):
                yield f"{edges[i]:.4g} – {edges[i + 1]:.4g}", np.isfinite(values) & (bins == i)
    else:
        return
    missing = series.isna().to_numpy()
    if missing.any():
        yield "(missing)", missing


def _measure(ctx: Context) -> str:
    kind = get_task(ctx.model.schema.task or "regression")
    metric = str(ctx.model.metadata.get("metric") or kind.default_metric())
    if kind.has_classes and metric in _RANKING:
        return "accuracy"
    return metric


def _scale(metric: str, y: np.ndarray) -> float:
    """What a scale-bound error is divided by on these rows (1 for others)."""
    power = _SCALED.get(metric)
    if power is None:
        return 1.0
    mean = float(np.mean(np.abs(y))) if len(y) else 0.0
    return mean**power if mean > 0 else 1.0


def _interval(ctx: Context, data: Labelled, mask: np.ndarray, metric: str) -> tuple[float, ...]:
    # scikit-learn comes with the bootstrap: loaded when slices are scored
    from cairn.tasks.bootstrap import bootstrap_intervals

    output = {"proba" if ctx.has_classes else "y_pred": data.output[mask]}
    found = bootstrap_intervals(
        ctx.model.schema.task or "regression",
        data.y[mask],
        metrics=[metric],
        resamples=RESAMPLES,
        level=LEVEL,
        seed=ctx.seed,
        **output,
    )
    interval = found[metric]
    return interval.value, interval.low, interval.high


def slices(ctx: Context, data: Labelled) -> list[CheckResult]:
    metric = _measure(ctx)
    greater = get_task(ctx.model.schema.task or "regression").greater_is_better(metric)
    sign = 1.0 if greater else -1.0
    settings = ctx.settings
    everything = np.ones(len(data.y), dtype=bool)
    overall_raw, _, _ = _interval(ctx, data, everything, metric)
    overall = overall_raw / _scale(metric, data.y)
    objective = _objective(ctx, metric)
    overall_meets = objective is not None and objective.met_by(overall_raw)
    scaled = metric in _SCALED and not ctx.has_classes
    label = f"{metric} relative to the mean target" if scaled else metric
    results = []
    for column in ctx.features:
        if column.name not in data.rows.columns:
            continue
        started = time.perf_counter()
        segments: list[dict[str, Any]] = []
        weak: list[str] = []
        for level, mask in _groups(data.rows[column.name], column.role, settings.slice_min_rows):
            rows = int(mask.sum())
            if rows < settings.slice_min_rows or rows == len(mask):
                continue
            raw, low_raw, high_raw = _interval(ctx, data, mask, metric)
            scale = _scale(metric, data.y[mask])
            value, low, high = raw / scale, low_raw / scale, high_raw / scale
            gap = sign * (overall - value) / max(abs(overall), 1e-12)
            # judged at the slice's optimistic end: many slices are tried, and
            # a small one is often unlucky
            best = high if greater else low
            best_gap = sign * (overall - best) / max(abs(overall), 1e-12)
            if scaled:
                # Weak only when worse both in the target's units and relative
                # to the slice's own values: a model as good in dollars on
                # cheap houses, or as good in percent on dear ones, is not.
                best_raw = high_raw if greater else low_raw
                raw_gap = sign * (overall_raw - best_raw) / max(abs(overall_raw), 1e-12)
                best_gap = min(best_gap, raw_gap)
            reasons = []
            if np.isfinite(best_gap) and best_gap > settings.slice_max_gap:
                reasons.append(f"{gap:.0%} under all rows")
            if overall_meets and objective is not None:
                best_raw = high_raw if greater else low_raw
                if np.isfinite(best_raw) and not objective.met_by(best_raw):
                    reasons.append(f"misses '{objective}'")
            segment = {
                "slice": level,
                "rows": rows,
                "value": value,
                "low": low,
                "high": high,
                "gap": gap,
                "optimistic_gap": best_gap,
                "weak": bool(reasons),
            }
            segments.append(segment)
            if reasons:
                weak.append(f"{level} ({value:.4g}, {'; '.join(reasons)})")
        if not segments:
            continue
        worst = max(segments, key=lambda s: s["gap"] if np.isfinite(s["gap"]) else -np.inf)
        message = (
            f"weak slice(s) of {column.name!r}: {', '.join(weak[:3])}; {label} on all rows "
            f"{overall:.4g}"
            if weak
            else f"{len(segments)} slice(s) of {column.name!r} within {settings.slice_max_gap:.0%}"
            f" of {label} on all rows ({overall:.4g})"
        )
        results.append(
            CheckResult(
                f"slice/{column.name}",
                "slice",
                "failed" if weak else "passed",
                message,
                measured=float(worst["gap"]),
                threshold=settings.slice_max_gap,
                rows=len(data.y),
                seconds=time.perf_counter() - started,
                details={
                    "metric": label,
                    "overall": overall,
                    "level": LEVEL,
                    "segments": segments,
                },
            )
        )
    if not results:
        results.append(
            skipped(
                "slice/(all)",
                "slice",
                f"no slice has {settings.slice_min_rows} labelled rows (tests.slice_min_rows)",
            )
        )
    return results


def _objective(ctx: Context, metric: str) -> Objective | None:
    for text in ctx.model.metadata.get("objectives") or ():
        try:
            objective = Objective.parse(str(text))
        except ValueError:
            continue
        if objective.quantity == metric:
            return objective
    return None


def fairness(ctx: Context, data: Labelled | None, column: str) -> list[CheckResult]:
    names = [f"fairness/{column}/demographic_parity", f"fairness/{column}/equal_opportunity"]
    if data is None:
        return [skipped(n, "fairness", "no labels to measure fairness on") for n in names]
    if not ctx.has_classes or data.output.shape[1] != 2:
        reason = "parity and equal opportunity are measured for binary classifiers"
        return [skipped(n, "fairness", reason) for n in names]
    schema = ctx.model.schema
    role = schema[column].role if column in schema else Role.CATEGORICAL
    if role not in (Role.NUMERIC, Role.CATEGORICAL, Role.BOOLEAN):
        role = Role.CATEGORICAL
    predicted = data.output.argmax(axis=1) == 1
    actual = data.y == 1
    min_rows = ctx.settings.slice_min_rows
    parity: dict[str, float] = {}
    opportunity: dict[str, float] = {}
    sizes: dict[str, int] = {}
    for level, mask in _groups(data.rows[column], role, min_rows):
        if mask.sum() < min_rows:
            continue
        sizes[level] = int(mask.sum())
        parity[level] = float(predicted[mask].mean())
        positives = mask & actual
        if positives.sum() >= MIN_POSITIVES:
            opportunity[level] = float(predicted[positives].mean())
    limit = ctx.settings.fairness_max_gap
    results = []
    for name, rates, what in (
        (names[0], parity, "share predicted positive"),
        (names[1], opportunity, "share of actual positives predicted positive"),
    ):
        if len(rates) < 2:
            results.append(
                skipped(name, "fairness", f"fewer than two groups of {column!r} large enough")
            )
            continue
        high = max(rates, key=lambda k: rates[k])
        low = min(rates, key=lambda k: rates[k])
        gap = rates[high] - rates[low]
        results.append(
            CheckResult(
                name,
                "fairness",
                "failed" if gap > limit else "passed",
                f"{what}: {rates[high]:.1%} for {column}={high} vs {rates[low]:.1%} for "
                f"{column}={low} (difference {gap:.3f})",
                measured=gap,
                threshold=limit,
                rows=sum(sizes.values()),
                details={"rates": rates, "rows": sizes},
            )
        )
    return results
