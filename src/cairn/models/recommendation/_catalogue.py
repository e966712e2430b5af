"""The search's view of the data: the training matrix over the whole catalogue
(cold items from the item table included) and the validation scorer that
judges every trial through the serving artifact."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cairn.bundle import (
    Recommender,
    ScoringComponent,
    popularity_tie_break,
)
from cairn.exceptions import DataError
from cairn.models.recommendation._algorithms import (
    binary_matrix,
)
from cairn.tasks.ranking import ranking_metrics, top_k

__all__ = ["Catalogue", "Evaluator", "InteractionsLike", "SplitLike", "item_text_series"]

# Validation users scored at most (a random sample beyond).
_MAX_EVAL_USERS = 5000


class InteractionsLike(Protocol):
    user_ids: np.ndarray
    item_ids: np.ndarray

    def matrix(self, mask: np.ndarray | None = None) -> sp.csr_matrix: ...

    def relevant_mask(self) -> np.ndarray: ...


class SplitLike(Protocol):
    train: InteractionsLike
    validation: InteractionsLike


def item_text_series(item_table: pd.DataFrame | None, item_ids: np.ndarray) -> pd.Series | None:
    """One text per item id (the item table's columns joined by spaces),
    aligned to ``item_ids``; None without a table."""
    if item_table is None:
        return None
    if item_table.index.has_duplicates:
        raise DataError(
            "the item table lists some items more than once "
            f"(e.g. {item_table.index[item_table.index.duplicated()][0]!r}); "
            "keep one row per item"
        )
    text = item_table.astype("string").fillna("").agg(" ".join, axis=1)
    lookup = {str(k): v for k, v in text.items()}
    return pd.Series([lookup.get(str(i), "") for i in item_ids], dtype=object)


@dataclass
class Catalogue:
    """The training matrix over the full catalogue: the interactions' items,
    then items only the item table knows (cold items, reachable through the
    content model)."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    matrix: sp.csr_matrix
    text: pd.Series | None

    @classmethod
    def build(cls, interactions: InteractionsLike, item_table: pd.DataFrame | None) -> Catalogue:
        matrix = binary_matrix(interactions.matrix())
        item_ids = np.asarray(interactions.item_ids)
        if item_table is not None:
            known = {str(i) for i in item_ids}
            cold = [i for i in item_table.index if str(i) not in known]
            if cold:
                item_ids = np.concatenate([item_ids, np.asarray(cold, dtype=item_ids.dtype)])
                matrix = sp.csr_matrix(
                    (matrix.data, matrix.indices, matrix.indptr),
                    shape=(matrix.shape[0], len(item_ids)),
                )
        return cls(
            np.asarray(interactions.user_ids),
            item_ids,
            matrix,
            item_text_series(item_table, item_ids),
        )

    @property
    def popularity(self) -> np.ndarray:
        return np.asarray(self.matrix.sum(axis=0)).ravel()

    def recommender(
        self, components: list[ScoringComponent], description: dict[str, Any] | None = None
    ) -> Recommender:
        return Recommender(
            self.user_ids,
            self.item_ids,
            self.matrix.indptr,
            self.matrix.indices,
            self.popularity,
            components,
            description,
        )


class Evaluator:
    """Scores candidates on the validation users: top-k with the training
    items excluded, ranking metrics against the relevant validation items."""

    def __init__(
        self,
        data: Catalogue,
        relevant: sp.csr_matrix,
        *,
        k: int,
        exclude_seen: bool,
        seed: int,
    ) -> None:
        relevant = sp.csr_matrix(
            (relevant.data, relevant.indices, relevant.indptr),
            shape=(relevant.shape[0], data.matrix.shape[1]),
        )
        has_train = np.diff(data.matrix.indptr) > 0
        has_relevant = np.diff(relevant.indptr) > 0
        users = np.flatnonzero(has_train & has_relevant)
        self.cold_users = int((has_relevant & ~has_train).sum())
        if len(users) > _MAX_EVAL_USERS:
            users = np.sort(
                np.random.default_rng(seed).choice(users, _MAX_EVAL_USERS, replace=False)
            )
        if not len(users):
            raise DataError(
                "no validation user has both training interactions and a relevant "
                "validation interaction: there is nothing to choose a recommender on"
            )
        self.users = users
        self.data = data
        self.k = k
        self.exclude_seen = exclude_seen
        target = relevant[users]
        self._relevant = (target.indptr, target.indices)
        seen = data.matrix[users]
        self._seen = (seen.indptr, seen.indices)
        self.popularity = data.popularity
        self._tie_break = popularity_tie_break(self.popularity)

    def evaluate(
        self, scores_of: Callable[[np.ndarray], np.ndarray]
    ) -> tuple[dict[str, float], float]:
        """Metrics of a scorer (users → dense scores) and its ms per user."""
        started = time.perf_counter()
        block = max(1, 2_000_000 // max(self.data.matrix.shape[1], 1))
        lists = []
        for start in range(0, len(self.users), block):
            users = self.users[start : start + block]
            scores = np.asarray(scores_of(users), dtype=np.float64) + self._tie_break
            lists.append(self._top(scores, start, len(users)))
        elapsed = (time.perf_counter() - started) * 1000 / len(self.users)
        return self._metrics(np.vstack(lists)), elapsed

    def _top(self, scores: np.ndarray, start: int, n: int) -> np.ndarray:
        exclude = None
        if self.exclude_seen:
            indptr, indices = self._seen
            lo, hi = indptr[start], indptr[start + n]
            exclude = (indptr[start : start + n + 1] - lo, indices[lo:hi])
        return top_k(scores, self.k, exclude)

    def _metrics(self, recommended: np.ndarray) -> dict[str, float]:
        indptr, indices = self._relevant
        return ranking_metrics(
            recommended,
            indptr,
            indices,
            k=self.k,
            n_items=self.data.matrix.shape[1],
            item_popularity=self.popularity,
        )

    def evaluate_recommender(self, recommender: Recommender) -> tuple[dict[str, float], float]:
        """Metrics of an artifact through its own top-k (what serving returns)."""
        started = time.perf_counter()
        recommended, _ = recommender.recommend_many(
            self.users, self.k, exclude_seen=self.exclude_seen
        )
        elapsed = (time.perf_counter() - started) * 1000 / len(self.users)
        return self._metrics(recommended), elapsed
