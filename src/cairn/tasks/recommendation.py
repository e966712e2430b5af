"""Recommendation: from who interacted with what, a ranked list of items per user.

There is no target column: the spec names the user and item columns (and a
rating or an event weight). A model's raw output for a batch of users is a
(users, k) matrix of item indices, best first, ``-1`` for an empty slot; it
is judged against the items each user went on to interact with, by the
ranking metrics of :mod:`cairn.tasks.ranking` at any list length
(``ndcg@10``, ``recall@20``, ...), and by what the lists do to the catalogue
(``coverage@k``, ``novelty@k``, ``popularity_bias@k``).

In :meth:`Recommendation.score` and :meth:`Recommendation.all_metrics`,
``y_true`` holds, per user, the array of relevant item indices, and
``output`` the recommended indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from cairn.tasks.base import OPERATIONAL_QUANTITIES, Output, Task
from cairn.tasks.ranking import ACCURACY_MEASURES, CATALOGUE_MEASURES, parse_metric

__all__ = ["DEFAULT_K", "Recommendation", "relevant_rows"]

#: The list length the report, the metric and serving default to.
DEFAULT_K = 10
# Catalogue measures that improve downwards.
_SMALLER_IS_BETTER = ("popularity_bias",)


class Recommendation(Task):
    name: ClassVar[str] = "recommendation"
    needs_target: ClassVar[bool] = False
    spec_fields: ClassVar[tuple[str, ...]] = (
        "user",
        "item",
        "rating",
        "weight",
        "relevance_threshold",
        "rating_scale",
    )
    output: ClassVar[str] = Output.RANKED
    metrics: ClassVar[tuple[str, ...]] = tuple(
        f"{measure}@{DEFAULT_K}" for measure in (*ACCURACY_MEASURES, *CATALOGUE_MEASURES)
    )
    lower_is_better: ClassVar[frozenset[str]] = frozenset(
        {*(f"{m}@{DEFAULT_K}" for m in _SMALLER_IS_BETTER), *OPERATIONAL_QUANTITIES}
    )
    estimator_kind: ClassVar[str] = "recommender"
    report_sections: ClassVar[tuple[str, ...]] = (
        "leaderboard",
        "curves",
        "catalogue",
        "segments",
        "examples",
    )
    monitored_outputs: ClassVar[tuple[str, ...]] = ("items",)
    explanation_units: ClassVar[str] = "score"

    def measures_metric(self, name: str) -> bool:
        """Any ranking measure at a list length 1..100 (``ndcg@20``, ...)."""
        return parse_metric(name) is not None

    def measures_quantity(self, name: str) -> bool:
        return self.measures_metric(name) or name in OPERATIONAL_QUANTITIES

    def greater_is_better(self, metric: str) -> bool:
        parsed = parse_metric(metric)
        if parsed is not None:
            return parsed[0] not in _SMALLER_IS_BETTER
        return metric not in OPERATIONAL_QUANTITIES

    def example_objective(self, metric: str) -> str:
        return f"{metric} >= 0.2" if self.greater_is_better(metric) else f"{metric} < 0.5"

    def score(self, metric: str, y_true: np.ndarray, output: np.ndarray) -> float:
        """One accuracy measure (``ndcg@10``, ...) of the lists in ``output``
        against the relevant items in ``y_true``; see the module docstring.

        Raises:
            ValueError: ``metric`` is not an accuracy measure at some k (the
                catalogue measures need the catalogue: use
                :func:`cairn.tasks.ranking.ranking_metrics`).
        """
        parsed = parse_metric(metric)
        if parsed is None or parsed[0] not in ACCURACY_MEASURES:
            raise ValueError(f"{metric!r} is not a ranking accuracy metric such as 'ndcg@10'")
        return self.all_metrics(y_true, output, k=parsed[1])[metric]

    def all_metrics(
        self, y_true: np.ndarray, output: np.ndarray, *, k: int = DEFAULT_K
    ) -> dict[str, float]:
        """Every accuracy measure at ``k``, averaged over the users with at
        least one relevant item."""
        from cairn.tasks.ranking import per_user_metrics

        indptr, indices = relevant_rows(y_true)
        per_user = per_user_metrics(np.asarray(output), indptr, indices, k=k)
        scored = ~np.isnan(per_user["ndcg"])
        return {
            f"{name}@{k}": float(np.mean(values[scored])) if scored.any() else float("nan")
            for name, values in per_user.items()
        }

    def output_width(self, n_classes: int) -> int:
        """The list length (``n_classes`` plays no part)."""
        return DEFAULT_K

    def predictions(
        self, output: np.ndarray, classes: Sequence[Any]
    ) -> tuple[list[Any], np.ndarray | None]:
        """Each user's list of item indices, empty slots left out."""
        ranked = np.asarray(output, dtype=np.int64).reshape(len(output), -1)
        return [[int(i) for i in row if i >= 0] for row in ranked], None

    def prediction_schema(self, classes: Sequence[Any]) -> dict[str, Any]:
        return {
            "type": "array",
            "items": {"description": "an item id"},
            "description": "recommended items, best first",
        }


def relevant_rows(relevant: Sequence[Sequence[int]] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR rows (indptr, sorted indices) from one array of item indices per user."""
    rows = [np.unique(np.asarray(items, dtype=np.int64)) for items in relevant]
    lengths = np.asarray([len(r) for r in rows], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, dtype=np.int64)
    return indptr, indices
