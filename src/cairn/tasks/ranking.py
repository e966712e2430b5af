"""Ranking metrics of top-k recommendation lists, vectorised over users.

Inputs are item *indices* (positions in a catalogue of ``n_items``):

``recommended``
    (users, ≥ k) ints, best first; ``-1`` marks an empty slot (fewer
    candidates than k).
``relevant_indptr``, ``relevant_indices``
    the items that count as relevant for the same users, as the rows of a
    CSR matrix (``indices[indptr[u]:indptr[u + 1]]`` for user ``u``).

Relevance is binary. The definitions follow Microsoft Recommenders'
``python_evaluation`` so that figures compare with its published ones:
precision = hits / k, recall = hits / |relevant|, NDCG's ideal DCG runs over
min(|relevant|, k) positions, MAP@k sums the precision at each hit and
divides by min(|relevant|, k), MRR is the reciprocal rank of the first hit.
Users with no relevant item are skipped, never counted as zeros.

numpy only: serving and monitoring import this module.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = [
    "ACCURACY_MEASURES",
    "CATALOGUE_MEASURES",
    "MAX_K",
    "catalogue_metrics",
    "hits_matrix",
    "parse_metric",
    "per_user_metrics",
    "ranking_metrics",
    "top_k",
]

#: Measures of each user's list against what the user did (averaged over users).
ACCURACY_MEASURES: tuple[str, ...] = ("ndcg", "precision", "recall", "map", "hit_rate", "mrr")
#: Measures of all lists together against the catalogue.
CATALOGUE_MEASURES: tuple[str, ...] = ("coverage", "novelty", "popularity_bias")
#: Longest list a metric may name.
MAX_K = 100
_METRIC_RE = re.compile(r"^([a-z_]+)@(\d+)$")
# The share of the catalogue counted as "the most popular items" by popularity_bias.
_POPULAR_SHARE = 0.1


def parse_metric(name: str) -> tuple[str, int] | None:
    """``"ndcg@10"`` → ``("ndcg", 10)``; None when ``name`` is not a ranking
    metric (unknown measure, or k outside 1..MAX_K)."""
    match = _METRIC_RE.match(name)
    if match is None:
        return None
    measure, k = match.group(1), int(match.group(2))
    if measure not in (*ACCURACY_MEASURES, *CATALOGUE_MEASURES) or not 1 <= k <= MAX_K:
        return None
    return measure, k


def top_k(
    scores: np.ndarray,
    k: int,
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The ``k`` best items of each row of a dense score matrix, best first.

    Args:
        scores: (users, items) scores; higher is better. Not modified.
        exclude: items never to return, as CSR rows (indptr, indices) of the
            same users (e.g. what each user has already seen).

    Returns:
        (users, k) item indices; ``-1`` where a row has fewer than ``k``
        finite-scored candidates left.
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    if scores.ndim != 2:
        raise ValueError(f"scores must be a (users, items) matrix, got shape {scores.shape}")
    n_users, n_items = scores.shape
    if exclude is not None:
        indptr, indices = exclude
        rows = np.repeat(np.arange(n_users), np.diff(np.asarray(indptr)))
        scores[rows, np.asarray(indices, dtype=np.int64)] = -np.inf
    scores[~np.isfinite(scores)] = -np.inf
    width = min(k, n_items)
    if width <= 0:
        return np.full((n_users, k), -1, dtype=np.int64)
    if width < n_items:
        part = np.argpartition(-scores, width - 1, axis=1)[:, :width]
    else:
        part = np.tile(np.arange(n_items), (n_users, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    # Ties broken by item index, so that equal scores rank the same everywhere.
    order = np.lexsort((part, -part_scores), axis=1)
    best = np.take_along_axis(part, order, axis=1)
    best[~np.isfinite(np.take_along_axis(part_scores, order, axis=1))] = -1
    if width < k:
        best = np.hstack([best, np.full((n_users, k - width), -1, dtype=best.dtype)])
    return best.astype(np.int64)


def hits_matrix(
    recommended: np.ndarray, relevant_indptr: np.ndarray, relevant_indices: np.ndarray
) -> np.ndarray:
    """(users, slots) bool: whether each recommended item is relevant for its user."""
    recommended = np.asarray(recommended, dtype=np.int64)
    if recommended.ndim != 2:
        raise ValueError(f"recommended must be (users, k), got shape {recommended.shape}")
    n_users = recommended.shape[0]
    indptr = np.asarray(relevant_indptr, dtype=np.int64)
    if len(indptr) != n_users + 1:
        raise ValueError(
            f"relevant items are given for {len(indptr) - 1} users, recommendations for {n_users}"
        )
    indices = np.asarray(relevant_indices, dtype=np.int64)
    width = int(max(indices.max(initial=-1), recommended.max(initial=-1))) + 2
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(indptr))
    keys = np.sort(rows * width + indices)
    asked = np.arange(n_users, dtype=np.int64)[:, None] * width + recommended
    where = np.searchsorted(keys, asked)
    found = keys[np.minimum(where, max(len(keys) - 1, 0))] == asked if len(keys) else asked < 0
    return np.asarray(found & (recommended >= 0))


def per_user_metrics(
    recommended: np.ndarray,
    relevant_indptr: np.ndarray,
    relevant_indices: np.ndarray,
    *,
    k: int,
) -> dict[str, np.ndarray]:
    """Each accuracy measure per user, at ``k`` (see the module docstring).

    Users with no relevant item get NaN in every measure.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    recommended = np.asarray(recommended)[:, :k]
    hits = hits_matrix(recommended, relevant_indptr, relevant_indices).astype(np.float64)
    if hits.shape[1] < k:
        hits = np.hstack([hits, np.zeros((hits.shape[0], k - hits.shape[1]))])
    n_relevant = np.diff(np.asarray(relevant_indptr)).astype(np.float64)
    has = n_relevant > 0
    safe = np.where(has, n_relevant, 1.0)
    ranks = np.arange(1, k + 1, dtype=np.float64)
    discounts = 1.0 / np.log2(ranks + 1.0)
    n_hits = hits.sum(axis=1)
    ideal_len = np.minimum(n_relevant, k).astype(np.int64)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[ideal_len]
    precision_at_hits = np.cumsum(hits, axis=1) / ranks * hits
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1.0, np.inf)
    out = {
        "ndcg": (hits @ discounts) / np.where(ideal > 0, ideal, 1.0),
        "precision": n_hits / k,
        "recall": n_hits / safe,
        "map": precision_at_hits.sum(axis=1) / np.maximum(ideal_len, 1),
        "hit_rate": (n_hits > 0).astype(np.float64),
        "mrr": 1.0 / first,
    }
    return {name: np.where(has, values, np.nan) for name, values in out.items()}


def ranking_metrics(
    recommended: np.ndarray,
    relevant_indptr: np.ndarray,
    relevant_indices: np.ndarray,
    *,
    k: int,
    n_items: int,
    item_popularity: np.ndarray | None = None,
) -> dict[str, float]:
    """Every measure at ``k``, keyed ``"ndcg@10"`` and so on.

    The accuracy measures are means over the users with at least one relevant
    item (how many: ``"users"``). ``coverage@k`` is the share of the
    catalogue recommended to anyone. With ``item_popularity`` (interactions
    per item in training): ``novelty@k``, the mean self-information
    ``-log2(share of interactions)`` of the recommended items, and
    ``popularity_bias@k``, the share of the recommended slots taken by the
    10 % most popular items.
    """
    recommended = np.asarray(recommended)[:, :k]
    per_user = per_user_metrics(recommended, relevant_indptr, relevant_indices, k=k)
    scored = ~np.isnan(per_user["ndcg"])
    out = {
        f"{name}@{k}": float(np.mean(values[scored])) if scored.any() else float("nan")
        for name, values in per_user.items()
    }
    out.update(
        catalogue_metrics(recommended, k=k, n_items=n_items, item_popularity=item_popularity)
    )
    out["users"] = float(scored.sum())
    return out


def catalogue_metrics(
    recommended: np.ndarray,
    *,
    k: int,
    n_items: int,
    item_popularity: np.ndarray | None = None,
) -> dict[str, float]:
    """Coverage, and with ``item_popularity`` novelty and popularity bias, of
    the lists in ``recommended`` (see :func:`ranking_metrics`)."""
    shown = np.asarray(recommended)[:, :k]
    shown = shown[shown >= 0]
    out = {f"coverage@{k}": float(len(np.unique(shown)) / n_items) if n_items else float("nan")}
    if item_popularity is None:
        return out
    popularity = np.asarray(item_popularity, dtype=np.float64)
    if not len(shown) or popularity.sum() <= 0:
        out[f"novelty@{k}"] = float("nan")
        out[f"popularity_bias@{k}"] = float("nan")
        return out
    share = popularity / popularity.sum()
    # An item never seen in training is as novel as one seen once.
    floor = 1.0 / popularity.sum()
    out[f"novelty@{k}"] = float(np.mean(-np.log2(np.maximum(share[shown], floor))))
    n_top = max(1, int(np.ceil(_POPULAR_SHARE * len(popularity))))
    top = np.zeros(len(popularity), dtype=bool)
    top[np.argsort(-popularity, kind="stable")[:n_top]] = True
    out[f"popularity_bias@{k}"] = float(top[shown].mean())
    return out
