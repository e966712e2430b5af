"""Bootstrap confidence intervals for test-set metrics.

Each resample draws the test rows with replacement; a metric is recomputed
on every resample and the interval is the central ``level`` share of those
values (percentile bootstrap). Resamples are represented as row counts, so
every metric is a few matrix products over all resamples at once instead of
a Python loop of scikit-learn calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from cairn.tasks import get_task
from cairn.tasks.metrics import score

#: Resamples drawn per batch (bounds memory at ``batch × rows`` counts).
_BATCH = 64


@dataclass(frozen=True)
class Interval:
    """A metric's value on the test set and its bootstrap interval."""

    metric: str
    value: float
    low: float
    high: float
    level: float
    resamples: int

    def to_dict(self) -> dict[str, float | str | int]:
        return {
            "metric": self.metric,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "resamples": self.resamples,
        }


def _count_batches(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    done = 0
    while done < resamples:
        size = min(_BATCH, resamples - done)
        draws = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        counts = np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(float)
        done += size
        yield counts


Stat = Callable[[np.ndarray], np.ndarray]  # counts (B × n) -> metric per resample (B,)


def _classification_stats(y: np.ndarray, proba: np.ndarray) -> dict[str, Stat]:
    n_classes = proba.shape[1]
    clipped = np.clip(proba, 1e-15, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    pred = clipped.argmax(axis=1)
    correct = (pred == y).astype(float)
    per_class = _PerClass(np.eye(n_classes)[y], np.eye(n_classes)[pred])
    losses = -np.log(clipped[np.arange(len(y)), y])

    def accuracy(counts: np.ndarray) -> np.ndarray:
        return (counts @ correct) / counts.sum(axis=1)

    def balanced(counts: np.ndarray) -> np.ndarray:
        tp, support, _ = per_class(counts)
        present = support > 0
        recall = _safe_div(tp, support)
        return (recall * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)

    def log_loss(counts: np.ndarray) -> np.ndarray:
        return (counts @ losses) / counts.sum(axis=1)

    stats: dict[str, Stat] = {
        "accuracy": accuracy,
        "balanced_accuracy": balanced,
        "log_loss": log_loss,
    }
    if n_classes == 2:
        stats.update(_binary_stats(per_class, clipped, y))
    else:
        stats.update(_multiclass_stats(per_class, clipped, y))
    return stats


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


class _PerClass:
    """True positives, support and predicted counts per class under
    resampling weights (one row of ``counts`` per resample)."""

    def __init__(self, onehot_true: np.ndarray, onehot_pred: np.ndarray) -> None:
        self.onehot_true = onehot_true
        self.onehot_pred = onehot_pred
        self.hits = onehot_true * onehot_pred

    def __call__(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return counts @ self.hits, counts @ self.onehot_true, counts @ self.onehot_pred


def _binary_stats(per_class: _PerClass, clipped: np.ndarray, y: np.ndarray) -> dict[str, Stat]:
    """Precision, recall and F1 of the positive class (index 1), and ROC-AUC."""

    def binary(kind: str) -> Stat:
        def stat(counts: np.ndarray) -> np.ndarray:
            tp, support, predicted = per_class(counts)
            precision = _safe_div(tp[:, 1], predicted[:, 1])
            recall = _safe_div(tp[:, 1], support[:, 1])
            if kind == "precision":
                return precision
            if kind == "recall":
                return recall
            return _safe_div(2 * precision * recall, precision + recall)

        return stat

    stats: dict[str, Stat] = {kind: binary(kind) for kind in ("precision", "recall", "f1")}
    stats["roc_auc"] = _auc_stat(clipped[:, 1], y == 1)
    return stats


def _multiclass_stats(per_class: _PerClass, clipped: np.ndarray, y: np.ndarray) -> dict[str, Stat]:
    """Macro precision, recall and F1, and one-against-rest macro ROC-AUC."""

    def macro(kind: str) -> Stat:
        def stat(counts: np.ndarray) -> np.ndarray:
            tp, support, predicted = per_class(counts)
            precision = _safe_div(tp, predicted)
            recall = _safe_div(tp, support)
            if kind == "precision":
                values = precision
            elif kind == "recall":
                values = recall
            else:
                values = _safe_div(2 * precision * recall, precision + recall)
            # scikit-learn's macro average runs over the classes present in
            # the true or predicted labels of the sample.
            present = (support > 0) | (predicted > 0)
            return (values * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)

        return stat

    stats: dict[str, Stat] = {kind: macro(kind) for kind in ("precision", "recall", "f1")}
    stats["f1_macro"] = stats["f1"]
    aucs = [_auc_stat(clipped[:, c], y == c) for c in range(clipped.shape[1])]

    def macro_auc(counts: np.ndarray) -> np.ndarray:
        return np.mean([auc(counts) for auc in aucs], axis=0)

    stats["roc_auc"] = macro_auc
    return stats


def _auc_stat(scores: np.ndarray, positive: np.ndarray) -> Stat:
    """ROC-AUC under resampling weights: the weighted Mann-Whitney statistic,
    with the scores sorted once."""
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    pos = positive[order].astype(float)
    neg = 1.0 - pos
    # Rows with equal scores form one group; ties count one half.
    starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
    tied = len(starts) < len(s)

    def stat(counts: np.ndarray) -> np.ndarray:
        counts = counts[:, order]
        w_pos = counts * pos
        w_neg = counts * neg
        if tied:  # sorted, so each group of equal scores is one contiguous run
            neg_by_group = np.add.reduceat(w_neg, starts, axis=1)
            pos_by_group = np.add.reduceat(w_pos, starts, axis=1)
        else:
            neg_by_group, pos_by_group = w_neg, w_pos
        below = np.cumsum(neg_by_group, axis=1) - neg_by_group
        wins = (pos_by_group * (below + 0.5 * neg_by_group)).sum(axis=1)
        total = pos_by_group.sum(axis=1) * neg_by_group.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, wins / np.where(total > 0, total, 1), np.nan)

    return stat


def _regression_stats(y: np.ndarray, pred: np.ndarray) -> dict[str, Stat]:
    error = pred - y
    squared = error**2
    absolute = np.abs(error)
    nonzero = y != 0
    ape = np.where(nonzero, absolute / np.where(nonzero, np.abs(y), 1.0), 0.0)

    def mean_of(values: np.ndarray) -> Stat:
        return lambda counts: (counts @ values) / counts.sum(axis=1)

    def rmse(counts: np.ndarray) -> np.ndarray:
        return np.sqrt(mean_of(squared)(counts))

    def mape(counts: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return (counts @ ape) / (counts @ nonzero.astype(float))

    def r2(counts: np.ndarray) -> np.ndarray:
        n = counts.sum(axis=1)
        mean_y = (counts @ y) / n
        total = counts @ (y**2) - n * mean_y**2
        with np.errstate(invalid="ignore", divide="ignore"):
            return 1.0 - (counts @ squared) / total

    return {"mse": mean_of(squared), "rmse": rmse, "mae": mean_of(absolute), "r2": r2, "mape": mape}


def bootstrap_intervals(
    task: str,
    y_true: np.ndarray,
    *,
    proba: np.ndarray | None = None,
    y_pred: np.ndarray | None = None,
    metrics: list[str] | None = None,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Percentile bootstrap intervals for test-set metrics.

    Args:
        task: a task name; one with classes takes ``y_true`` as integer
            codes and ``proba`` (one column per class), any other
            ``y_pred`` values.
        metrics: which metrics; every one cairn computes for the task when
            omitted.
        resamples: bootstrap resamples (all test rows each time).
        level: central coverage of the interval, e.g. 0.95.

    Returns:
        One :class:`Interval` per metric; ``value`` is the metric on the test
        set itself (as :func:`cairn.tasks.metrics.score` computes it).
    """
    y_true = np.asarray(y_true)
    kind = get_task(task)
    stats = metric_statistics(task, y_true, proba=proba, y_pred=y_pred)
    names = [m for m in (metrics or list(stats)) if m in stats]
    values: dict[str, list[np.ndarray]] = {name: [] for name in names}
    n = len(y_true)
    for counts in _count_batches(n, resamples, seed):
        for name in names:
            values[name].append(stats[name](counts))
    tail = (1.0 - level) / 2.0
    out: dict[str, Interval] = {}
    for name in names:
        drawn = np.concatenate(values[name])
        drawn = drawn[np.isfinite(drawn)]
        if kind.has_classes:
            point = score(name, y_true.astype(int), proba=proba)
        else:
            point = score(name, y_true.astype(float), y_pred=y_pred)
        low, high = (
            (float(np.quantile(drawn, tail)), float(np.quantile(drawn, 1 - tail)))
            if drawn.size
            else (float("nan"), float("nan"))
        )
        out[name] = Interval(name, float(point), low, high, level, resamples)
    return out


def metric_statistics(
    task: str,
    y_true: np.ndarray,
    *,
    proba: np.ndarray | None = None,
    y_pred: np.ndarray | None = None,
) -> dict[str, Stat]:
    """Every metric of the task as a function of resampling counts
    (``B × n`` row counts to one value per resample), for resampling two
    models on the same rows (paired) or on different rows."""
    if get_task(task).has_classes:
        if proba is None:
            raise ValueError(f"{task} needs proba")
        return _classification_stats(np.asarray(y_true).astype(int), np.asarray(proba, dtype=float))
    if y_pred is None:
        raise ValueError(f"{task} needs y_pred")
    return _regression_stats(np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float))


def resample_counts(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap resamples of ``n`` rows as row counts, in batches of ``B × n``."""
    return _count_batches(n, resamples, seed)
