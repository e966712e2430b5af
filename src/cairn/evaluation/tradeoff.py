"""Accuracy against latency, size and cost: the Pareto front of a
leaderboard, the choice the spec's objectives make on it, and the sentence
that says what the choice traded.

A candidate is on the front when no other candidate is at least as good on
the cross-validated metric and on every cost (single-record p99 latency,
model size) and strictly better on one. Candidates not measured (missing
figures) are never on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cairn.tasks import greater_is_better

__all__ = [
    "FRONT_COSTS",
    "TRADEOFF_COLUMNS",
    "FrontChoice",
    "choose_on_front",
    "pareto_mask",
    "trade_sentence",
]

#: the costs the leaderboard's ``pareto`` column weighs the metric against
FRONT_COSTS: tuple[str, ...] = ("latency_p99_ms", "model_size_mb")
#: the measured columns a leaderboard gains, in display order
TRADEOFF_COLUMNS: tuple[str, ...] = (
    "engine",
    "latency_p50_ms",
    "latency_p99_ms",
    "throughput_rows_s",
    "model_size_mb",
    "memory_mb",
    "train_s",
    "cost_per_1k",
    "cost_per_training",
    "pareto",
)
# How each objective quantity reads in the trade-off sentence: its noun, the
# word before its figures and their unit.
_NOUNS = {
    "latency_p50_ms": ("latency", "p50 ", "ms"),
    "latency_p95_ms": ("latency", "p95 ", "ms"),
    "latency_p99_ms": ("latency", "p99 ", "ms"),
    "model_size_mb": ("size", "", "MB"),
    "cost_per_1k": ("cost per 1,000 predictions", "", ""),
}


def pareto_mask(
    metric: Sequence[float] | np.ndarray,
    costs: Sequence[Sequence[float] | np.ndarray],
    *,
    higher_is_better: bool,
) -> np.ndarray:
    """True for each point no other point dominates.

    Args:
        metric: one score per point.
        costs: one sequence per cost (smaller is better), each one value per point.
        higher_is_better: direction of ``metric``.

    A point with a missing (NaN) figure is never on the front and never
    dominates another.
    """
    score = np.asarray(metric, dtype=float) * (1.0 if higher_is_better else -1.0)
    table = np.column_stack([-score, *[np.asarray(c, dtype=float) for c in costs]])
    usable = np.isfinite(table).all(axis=1)
    on_front = usable.copy()
    for i in np.flatnonzero(usable):
        others = table[usable]
        dominated = (others <= table[i]).all(axis=1) & (others < table[i]).any(axis=1)
        on_front[i] = not dominated.any()
    return on_front


@dataclass(frozen=True)
class FrontChoice:
    """The candidate the objectives chose, and the best one by the metric.

    Attributes:
        chosen: leaderboard name of the chosen candidate, None when no
            measured candidate meets the objectives.
        best: leaderboard name of the best measured candidate by the metric.
        objectives: the objectives that chose (as text).
        traded: what the choice gave up and gained, in words ("" when the
            best candidate meets the objectives itself).
    """

    chosen: str | None
    best: str
    objectives: tuple[str, ...]
    traded: str = ""

    @property
    def switched(self) -> bool:
        return self.chosen is not None and self.chosen != self.best

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "best": self.best,
            "objectives": list(self.objectives),
            "traded": self.traded,
        }


def choose_on_front(board: pd.DataFrame, objectives: Sequence[Any], metric: str) -> FrontChoice:
    """The best candidate by ``metric`` among those meeting every objective on
    a measured quantity (a leaderboard column such as ``latency_p99_ms``).

    That candidate is on the front of the metric against the bounded
    quantities: one that dominated it would meet the bounds too, and score
    better. Ties on the metric go to the lower p99 latency.

    Args:
        board: a leaderboard with ``model``, ``cv_<metric>_mean`` and the
            measured columns.
        objectives: the spec's objectives; those on other quantities are ignored.
    """
    score_col = f"cv_{metric}_mean"
    measured = board[np.isfinite(board[score_col].astype(float))]
    measured = measured[measured["latency_p99_ms"].notna()] if len(measured) else measured
    if measured.empty:
        raise ValueError("no candidate has measured trade-off figures")
    sign = 1.0 if greater_is_better(metric) else -1.0
    order = measured.assign(
        _score=sign * measured[score_col].astype(float),
        _p99=measured["latency_p99_ms"].astype(float),
    ).sort_values(["_score", "_p99"], ascending=[False, True])
    bounds = [o for o in objectives if o.quantity in board.columns]
    best = order.iloc[0]
    meets = np.ones(len(order), dtype=bool)
    for objective in bounds:
        values = order[objective.quantity].astype(float).to_numpy()
        meets &= np.array([np.isfinite(v) and objective.met_by(v) for v in values], dtype=bool)
    text = tuple(str(o) for o in bounds)
    if not meets.any():
        return FrontChoice(None, str(best["model"]), text)
    chosen = order[meets].iloc[0]
    same = chosen["model"] == best["model"]
    traded = "" if same else trade_sentence(metric, best, chosen, bounds)
    return FrontChoice(str(chosen["model"]), str(best["model"]), text, traded)


def trade_sentence(metric: str, best: Any, chosen: Any, objectives: Sequence[Any] = ()) -> str:
    """What ``chosen`` gives up on ``metric`` against ``best`` and what it
    gains on the bounded quantities, e.g. "0.4 % roc_auc (0.912 against
    0.916) for 9× lower latency (p99 0.6 ms against 5.4 ms)"."""
    col = f"cv_{metric}_mean"
    lost, won = float(best[col]), float(chosen[col])
    worse = (lost - won) if greater_is_better(metric) else (won - lost)
    share = 100.0 * worse / abs(lost) if lost else float("nan")
    head = (
        f"{share:.1f} % {metric} ({won:.4g} against {lost:.4g})"
        if worse > 0
        else f"no {metric} ({won:.4g} against {lost:.4g})"
    )
    quantities = list(dict.fromkeys(o.quantity for o in objectives)) or ["latency_p99_ms"]
    gains = []
    for quantity in quantities:
        noun, prefix, unit = _NOUNS.get(quantity, (quantity, "", ""))
        a, b = float(chosen[quantity]), float(best[quantity])
        ratio = b / a if a > 0 else float("inf")
        figures = f"{_figure(a, unit)} against {_figure(b, unit)}"
        gains.append(f"{ratio:.1f}× lower {noun} ({prefix}{figures})")
    return f"{head} for " + " and ".join(gains)


def _figure(value: float, unit: str) -> str:
    text = f"{value:.3g}" if value >= 0.001 or value == 0 else f"{value:.2e}"
    return f"{text} {unit}".strip()
