"""What an A/B report takes from the metric dispatch (:mod:`cairn.tasks`):
metric values, bootstrap intervals and the bootstrap of a difference between
arms.

Every use of the scikit-learn based metrics by the A/B report goes through
here; the imports stay inside the functions so that serving loads none of it
until a report is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cairn.tasks import Output, Task

__all__ = [
    "AGREEMENT_INDICES",
    "arm_intervals",
    "arm_statistics",
    "bootstrap_gap",
    "metric_value",
]

#: A clustering's agreement with labels joined to the log: cluster ids are
#: arbitrary names, so these indices, which ignore them, compare arms.
AGREEMENT_INDICES = ("adjusted_rand", "normalized_mutual_info")


def arm_intervals(
    task: Task,
    y: np.ndarray,
    output: np.ndarray,
    metrics: Sequence[str],
    *,
    resamples: int,
    level: float,
    seed: int,
) -> dict[str, Any]:
    """Percentile bootstrap intervals of ``metrics`` on one arm's records."""
    from cairn.tasks.bootstrap import Interval, bootstrap_intervals, resample_counts

    if task.output == Output.LABELS:
        stats = arm_statistics(task, y, output)
        found: dict[str, Any] = {}
        for name in [m for m in metrics if m in stats]:
            drawn = np.concatenate(
                [stats[name](counts) for counts in resample_counts(len(y), resamples, seed)]
            )
            drawn = drawn[np.isfinite(drawn)]
            tail = (1.0 - level) / 2.0
            low, high = np.quantile(drawn, [tail, 1 - tail]) if drawn.size else (np.nan, np.nan)
            value = metric_value(name, task, y, output)
            found[name] = Interval(name, value, float(low), float(high), level, resamples)
        return found

    with_proba = task.has_classes
    return bootstrap_intervals(
        task.name,
        y,
        proba=output if with_proba else None,
        y_pred=None if with_proba else output,
        metrics=list(metrics),
        resamples=resamples,
        level=level,
        seed=seed,
    )


def arm_statistics(
    task: Task, y: np.ndarray, output: np.ndarray
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Each metric as a function of resample counts, for :func:`bootstrap_gap`."""
    from cairn.tasks.bootstrap import metric_statistics

    if task.output == Output.LABELS:
        return {name: _cluster_statistic(task, name, y, output) for name in AGREEMENT_INDICES}

    with_proba = task.has_classes
    return metric_statistics(
        task.name, y, proba=output if with_proba else None, y_pred=None if with_proba else output
    )


def _cluster_statistic(
    task: Task, metric: str, y: np.ndarray, ids: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """An agreement index of cluster ids with labels, on each resample (a
    row drawn twice counts twice)."""
    rows = np.arange(len(y))

    def statistic(counts: np.ndarray) -> np.ndarray:
        values = []
        for row_counts in counts:
            drawn = np.repeat(rows, row_counts.astype(int))
            values.append(task.score(metric, y[drawn], ids[drawn]))
        return np.asarray(values, dtype=float)

    return statistic


def metric_value(metric: str, task: Task, y: np.ndarray, output: np.ndarray) -> float:
    return float(task.score(metric, y, output))


def bootstrap_gap(
    stat_a: Callable[[np.ndarray], np.ndarray],
    stat_b: Callable[[np.ndarray], np.ndarray],
    n_a: int,
    n_b: int,
    *,
    paired: bool,
    resamples: int,
    alpha: float,
    seed: int,
) -> tuple[float, float, float, float]:
    """Bootstrap of b minus a: interval, standard error and two-sided p-value.
    Paired arms share every resample of the records; unpaired arms are
    resampled independently."""
    from cairn.tasks.bootstrap import resample_counts

    drawn: list[np.ndarray] = []
    if paired:
        for counts in resample_counts(n_a, resamples, seed):
            drawn.append(stat_b(counts) - stat_a(counts))
    else:
        batches = zip(
            resample_counts(n_a, resamples, seed),
            resample_counts(n_b, resamples, seed + 1),
            strict=True,
        )
        for counts_a, counts_b in batches:
            drawn.append(stat_b(counts_b) - stat_a(counts_a))
    gaps = np.concatenate(drawn)
    gaps = gaps[np.isfinite(gaps)]
    if gaps.size < 2:
        return math.nan, math.nan, math.nan, 1.0
    low, high = np.quantile(gaps, [alpha / 2, 1 - alpha / 2])
    tail = min(float(np.mean(gaps <= 0)), float(np.mean(gaps >= 0)))
    p_value = min(1.0, max(2 * tail, 1.0 / gaps.size))
    return float(low), float(high), float(np.std(gaps, ddof=1)), p_value
