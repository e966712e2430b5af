"""The recommendation algorithms, each fitted on a users × items matrix and
turned into the scoring components of a :class:`cairn.bundle.Recommender`.

Every algorithm reads the *binary* interaction matrix (who interacted with
what): the ranking protocols count any held-out interaction (or any rating
above the relevance threshold) as relevant, and the item-based models and
ALS's confidence weighting work on presence, not on rating values.

- ``popularity``: interactions per item, the baseline every model must beat.
- ``item_knn``: cosine similarity between item columns with a shrinkage term
  in the denominator (``dot / (|i| |j| + shrinkage)``, which damps
  similarities resting on few common users), the ``neighbours`` largest kept
  per item.
- ``ease``: Steck's closed-form linear item-item model,
  ``B = I - P diag(1 / diag(P))`` with ``P = (XᵀX + λI)⁻¹`` and a zero
  diagonal. The inverse is cubic in the items, so only the
  :data:`EASE_MAX_ITEMS` items with the most training interactions (and at
  least two) enter it; the others get no EASE score. ``B`` is pruned to the
  ``top_m`` largest weights (in magnitude) per item for the artifact.
- ``als``, ``bpr``: ``implicit``'s CPU AlternatingLeastSquares (confidence
  ``1 + alpha``) and BayesianPersonalizedRanking, on every core, with BLAS
  kept to one thread while they run (implicit warns otherwise).
- ``content``: TF-IDF of the item table's text columns (scikit-learn), the
  ``neighbours`` most cosine-similar items per item; also links items with
  no interactions to the rest, so they can be recommended and have
  similar items.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from cairn.bundle import ScoringComponent

__all__ = [
    "ALGORITHMS",
    "DEFAULT_PARAMS",
    "EASE_MAX_ITEMS",
    "Fitted",
    "binary_matrix",
    "ease_weights",
    "fit_algorithm",
    "prune_rows",
    "sparse_component",
    "threads",
]

ALGORITHMS: tuple[str, ...] = ("popularity", "item_knn", "ease", "als", "bpr", "content")
#: Most items EASE inverts a Gram matrix over (2,000 items: about 2 s on two
#: cores; ML-100k's 1,682 items fit whole). On movielens_small (9,724 items)
#: the 1,500, 2,000 and 3,000 most rated items give the same NDCG@10 as the
#: whole catalogue within 0.001, at an eighth of the time or less.
EASE_MAX_ITEMS = 2000
# Dense Gram products up to this many user × item cells (BLAS beats a
# single-threaded sparse product by far); sparse above.
_DENSE_GRAM_CELLS = 60_000_000
# Items below this many training interactions stay out of EASE's inverse.
_EASE_MIN_COUNT = 2
# Item-item products are computed for this many cells at a time.
_BLOCK_CELLS = 8_000_000

#: Starting parameters: implicit's documented defaults for ALS and BPR,
#: common settings for the others.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "popularity": {},
    "item_knn": {"neighbours": 100, "shrinkage": 10.0},
    "ease": {"l2": 500.0, "top_m": 200},
    "als": {"factors": 100, "regularization": 0.01, "alpha": 1.0, "iterations": 15},
    "bpr": {"factors": 100, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100},
    "content": {"neighbours": 100},
}


@dataclass
class Fitted:
    """An algorithm's scoring components and what fitting it found out."""

    components: list[ScoringComponent]
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


def threads() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def binary_matrix(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Who interacted with what: 1.0 wherever ``matrix`` holds an entry."""
    binary = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    binary.sum_duplicates()
    binary.eliminate_zeros()
    binary.data[:] = 1.0
    return binary


def fit_algorithm(
    name: str,
    matrix: sp.csr_matrix,
    params: Mapping[str, Any],
    *,
    seed: int = 0,
    item_text: pd.Series | None = None,
) -> Fitted:
    """Fit one algorithm on a binary users × items matrix.

    Args:
        name: one of :data:`ALGORITHMS`.
        matrix: users × items, 1.0 per interaction (see :func:`binary_matrix`).
        params: the algorithm's parameters (missing ones take
            :data:`DEFAULT_PARAMS`).
        seed: random state of ALS and BPR.
        item_text: for ``content``: one text per item index (NaN or empty
            for items without a description).

    Raises:
        ValueError: an unknown algorithm, or ``content`` without item text.
    """
    if name not in ALGORITHMS:
        raise ValueError(
            f"unknown recommendation algorithm {name!r}; known: {', '.join(ALGORITHMS)}"
        )
    merged = {**DEFAULT_PARAMS[name], **params}
    started = time.perf_counter()
    info: dict[str, Any] = {}
    components: list[ScoringComponent]
    if name == "popularity":
        components = [ScoringComponent("popularity", "popularity")]
    elif name == "item_knn":
        components = [_item_knn(matrix, int(merged["neighbours"]), float(merged["shrinkage"]))]
    elif name == "ease":
        weights, kept = ease_weights(matrix, float(merged["l2"]))
        info["ease_items"] = len(kept)
        components = [
            sparse_component(
                "ease", prune_rows(weights, int(merged["top_m"])), kept, matrix.shape[1]
            )
        ]
    elif name in ("als", "bpr"):
        components = [_factor_model(name, matrix, merged, seed)]
    else:
        if item_text is None:
            raise ValueError("the content model needs an item table with text columns")
        components = [_content(item_text, int(merged["neighbours"]))]
    return Fitted(components, time.perf_counter() - started, info)


# ------------------------------------------------------------------ item-kNN


def _item_knn(matrix: sp.csr_matrix, neighbours: int, shrinkage: float) -> ScoringComponent:
    columns = matrix.T.tocsr()
    norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=1)).ravel())

    def similarity(start: int, stop: int) -> np.ndarray:
        block = (columns[start:stop] @ matrix).toarray().astype(np.float64)
        block /= norms[start:stop, None] * norms[None, :] + shrinkage + 1e-12
        return block

    indptr, indices, data = _top_rows(similarity, matrix.shape[1], neighbours)
    return ScoringComponent("item_item", "item_knn", indptr=indptr, indices=indices, data=data)


def _top_rows(
    block_of: Callable[[int, int], np.ndarray], n_items: int, keep: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR rows holding the ``keep`` largest positive entries of each row of
    an item × item matrix computed a block of rows at a time (the diagonal
    left out)."""
    step = max(1, _BLOCK_CELLS // max(n_items, 1))
    rows_i, rows_j, rows_v = [], [], []
    for start in range(0, n_items, step):
        stop = min(start + step, n_items)
        block = block_of(start, stop)
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0
        cols, values = _largest(block, keep)
        rows_i.append(np.repeat(np.arange(start, stop), cols.shape[1]))
        rows_j.append(cols.ravel())
        rows_v.append(values.ravel())
    return _to_csr(np.concatenate(rows_i), np.concatenate(rows_j), np.concatenate(rows_v), n_items)


def _largest(
    block: np.ndarray, keep: int, *, magnitude: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of each row's ``keep`` largest entries
    (largest in magnitude when asked); zeros (and, by value, negatives) are
    dropped later."""
    keep = min(keep, block.shape[1])
    key = np.abs(block) if magnitude else block
    cols = np.argpartition(-key, keep - 1, axis=1)[:, :keep]
    values = np.take_along_axis(block, cols, axis=1)
    if not magnitude:
        values = np.where(values > 0, values, 0.0)
    return cols, values


def _to_csr(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nonzero = values != 0
    rows, cols, values = rows[nonzero], cols[nonzero], values[nonzero]
    order = np.lexsort((cols, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_items))]).astype(np.int64)
    return indptr, cols.astype(np.int32), values.astype(np.float32)


# ---------------------------------------------------------------------- EASE


def ease_items(matrix: sp.csr_matrix) -> np.ndarray:
    """The items EASE is fitted over: at least two training interactions,
    the :data:`EASE_MAX_ITEMS` most interacted with."""
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    eligible = np.flatnonzero(counts >= _EASE_MIN_COUNT)
    if len(eligible) > EASE_MAX_ITEMS:
        order = np.argsort(-counts[eligible], kind="stable")[:EASE_MAX_ITEMS]
        eligible = np.sort(eligible[order])
    return eligible


def ease_weights(matrix: sp.csr_matrix, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """EASE's dense weight matrix over the kept items, and those items.

    ``B[i, j]`` is how much having interacted with item ``kept[i]`` adds to
    item ``kept[j]``'s score.
    """
    from scipy.linalg import lapack

    kept = ease_items(matrix)
    sub = matrix[:, kept]
    if sub.shape[0] * sub.shape[1] <= _DENSE_GRAM_CELLS:
        dense = sub.toarray().astype(np.float64)
        gram = dense.T @ dense
    else:
        gram = (sub.T @ sub).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += l2
    # Cholesky factor and inverse of the positive definite Gram matrix (one
    # third of the work of a general inverse); LAPACK fills one triangle.
    factor, status = lapack.dpotrf(gram, lower=False, overwrite_a=True)
    if status != 0:
        raise ValueError(f"EASE: the Gram matrix is not positive definite (l2={l2})")
    inverse, status = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if status != 0:
        raise ValueError(f"EASE: the Gram matrix could not be inverted (l2={l2})")
    inverse = np.triu(inverse) + np.triu(inverse, 1).T
    weights = inverse / -np.diag(inverse)[None, :]
    np.fill_diagonal(weights, 0.0)
    return weights.astype(np.float32), kept


def prune_rows(weights: np.ndarray, top_m: int) -> np.ndarray:
    """``weights`` with only each row's ``top_m`` largest entries in magnitude left."""
    if top_m >= weights.shape[1]:
        return weights
    cols = np.argpartition(-np.abs(weights), top_m - 1, axis=1)[:, :top_m]
    pruned = np.zeros_like(weights)
    np.put_along_axis(pruned, cols, np.take_along_axis(weights, cols, axis=1), axis=1)
    return pruned


def sparse_component(
    name: str, weights: np.ndarray, kept: np.ndarray, n_items: int
) -> ScoringComponent:
    """An item_item component from a dense matrix over the ``kept`` items."""
    rows, cols = np.nonzero(weights)
    indptr, indices, data = _to_csr(kept[rows], kept[cols], weights[rows, cols], n_items)
    return ScoringComponent("item_item", name, indptr=indptr, indices=indices, data=data)


# ----------------------------------------------------------------- ALS, BPR


def _factor_model(
    name: str, matrix: sp.csr_matrix, params: Mapping[str, Any], seed: int
) -> ScoringComponent:
    # implicit runs its own threads, and warns (when built) if BLAS runs more.
    with threadpool_limits(1, "blas"):
        if name == "als":
            from implicit.cpu.als import AlternatingLeastSquares

            model: Any = AlternatingLeastSquares(
                factors=int(params["factors"]),
                regularization=float(params["regularization"]),
                alpha=float(params["alpha"]),
                iterations=int(params["iterations"]),
                num_threads=threads(),
                random_state=seed,
            )
        else:
            from implicit.cpu.bpr import BayesianPersonalizedRanking

            model = BayesianPersonalizedRanking(
                factors=int(params["factors"]),
                learning_rate=float(params["learning_rate"]),
                regularization=float(params["regularization"]),
                iterations=int(params["iterations"]),
                num_threads=threads(),
                random_state=seed,
            )
        model.fit(sp.csr_matrix(matrix, dtype=np.float32), show_progress=False)
    return ScoringComponent(
        "factors",
        name,
        user_factors=np.ascontiguousarray(model.user_factors, dtype=np.float32),
        item_factors=np.ascontiguousarray(model.item_factors, dtype=np.float32),
    )


# ------------------------------------------------------------------ content


def _content(item_text: pd.Series, neighbours: int) -> ScoringComponent:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = item_text.fillna("").astype(str).str.replace("|", " ", regex=False).tolist()
    n_items = len(texts)
    if not any(t.strip() for t in texts):
        raise ValueError(
            "the item table's text columns are empty: the content model has nothing to read"
        )
    # Single characters and years count as words: "(1995)" and "Sci-Fi" matter.
    vectors = (
        TfidfVectorizer(token_pattern=r"(?u)\b\w+\b", sublinear_tf=True, dtype=np.float32)
        .fit_transform(texts)
        .tocsr()
    )
    transposed = vectors.T.tocsr()

    def similarity(start: int, stop: int) -> np.ndarray:
        return (vectors[start:stop] @ transposed).toarray().astype(np.float64)

    indptr, indices, data = _top_rows(similarity, n_items, neighbours)
    return ScoringComponent("item_item", "content", indptr=indptr, indices=indices, data=data)
