"""What a recommendation run measures on its test users, from plain arrays:
per-user metrics and their bootstrap intervals over users, metric@k curves,
the figures per user-activity segment, and the margin over a baseline.

Inputs are item indices ranked best first (``-1`` = no item) and the test
users' relevant items as CSR rows, as :mod:`cairn.tasks.ranking` takes them;
nothing here knows how the recommendations were made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cairn.tasks.ranking import per_user_metrics

__all__ = [
    "ACTIVITY_SEGMENTS",
    "CURVE_DEPTH",
    "RESAMPLES",
    "activity_segment",
    "bootstrap_means",
    "metric_curves",
    "paired_margin",
    "segment_table",
]

#: Bootstrap resamples of the test users behind every interval.
RESAMPLES = 500
#: Deepest list length the metric@k curves reach.
CURVE_DEPTH = 50
#: Resample counts drawn per batch (bounds memory at ``batch × users``).
_BATCH = 50
#: Users by their interactions in the data the model learned from: (name,
#: lowest count, highest count or None, how the report states it).
ACTIVITY_SEGMENTS: tuple[tuple[str, int, int | None], ...] = (
    ("cold", 0, 4),
    ("light", 5, 49),
    ("heavy", 50, None),
)


def activity_segment(counts: np.ndarray) -> np.ndarray:
    """Each user's activity segment name from their training interaction count."""
    counts = np.asarray(counts)
    names = np.empty(len(counts), dtype=object)
    for name, low, high in ACTIVITY_SEGMENTS:
        inside = counts >= low if high is None else (counts >= low) & (counts <= high)
        names[inside] = name
    return names


def segment_rule(name: str) -> str:
    """How a segment is defined, in words."""
    for segment, low, high in ACTIVITY_SEGMENTS:
        if segment == name:
            if high is None:
                return f"{low} or more interactions in training"
            return f"{low}–{high} interactions in training"
    raise KeyError(name)


@dataclass(frozen=True)
class Spread:
    """A mean over users and its bootstrap interval."""

    value: float
    low: float
    high: float

    def to_list(self) -> list[float]:
        return [self.low, self.high]


def bootstrap_means(
    per_user: Mapping[str, np.ndarray],
    *,
    resamples: int = RESAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Spread]:
    """Each per-user figure's mean and its percentile-bootstrap interval,
    the users drawn with replacement (all figures on the same resamples).

    Resamples are user counts, so every resample's means are one matrix
    product over all figures.
    """
    names = list(per_user)
    if not names:
        return {}
    values = np.column_stack([np.asarray(per_user[n], dtype=float) for n in names])
    n = values.shape[0]
    if n == 0:
        return {name: Spread(float("nan"), float("nan"), float("nan")) for name in names}
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, resamples, _BATCH):
        batch = min(_BATCH, resamples - start)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=batch)
        means.append(counts @ values / n)
    drawn = np.vstack(means)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(drawn, [tail, 1.0 - tail], axis=0)
    centre = values.mean(axis=0)
    return {
        name: Spread(float(centre[i]), float(low[i]), float(high[i]))
        for i, name in enumerate(names)
    }


def paired_margin(
    chosen: np.ndarray,
    baseline: np.ndarray,
    *,
    resamples: int = RESAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> Spread:
    """The mean per-user difference ``chosen - baseline`` and its interval,
    both models scored on the same resampled users."""
    difference = np.asarray(chosen, dtype=float) - np.asarray(baseline, dtype=float)
    return bootstrap_means({"margin": difference}, resamples=resamples, level=level, seed=seed)[
        "margin"
    ]


def metric_curves(
    recommended: np.ndarray,
    relevant_indptr: np.ndarray,
    relevant_indices: np.ndarray,
    *,
    depth: int = CURVE_DEPTH,
    names: Sequence[str] = ("ndcg", "precision", "recall", "hit_rate", "map"),
) -> dict[str, list[float]]:
    """Each metric's mean over the users at every list length 1..depth
    (at most the recommended lists' width)."""
    depth = max(1, min(depth, recommended.shape[1]))
    curves: dict[str, list[float]] = {name: [] for name in names}
    for k in range(1, depth + 1):
        values = per_user_metrics(recommended, relevant_indptr, relevant_indices, k=k)
        for name in names:
            curves[name].append(float(np.mean(values[name])) if len(values[name]) else 0.0)
    return curves


def segment_table(
    per_user: Mapping[str, np.ndarray],
    segments: np.ndarray,
    *,
    k: int,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> list[dict[str, object]]:
    """One row per activity segment: its rule, users, and each figure's
    mean with the interval of the main one (the first in ``per_user``)."""
    rows: list[dict[str, object]] = []
    main = next(iter(per_user), None)
    for name, _, _ in ACTIVITY_SEGMENTS:
        inside = segments == name
        row: dict[str, object] = {
            "segment": name,
            "rule": segment_rule(name),
            "users": int(inside.sum()),
        }
        if inside.any():
            spread = bootstrap_means(
                {metric: np.asarray(v)[inside] for metric, v in per_user.items()},
                resamples=resamples,
                seed=seed,
            )
            for metric, value in spread.items():
                row[f"{metric}@{k}"] = value.value
            if main is not None:
                row["low"], row["high"] = spread[main].low, spread[main].high
        rows.append(row)
    return rows
