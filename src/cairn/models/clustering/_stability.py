"""Bootstrap stability of a clustering, after Hennig's ``clusterboot``.

The algorithm is refitted on bootstrap resamples of the rows. For each
cluster of the original solution, its Jaccard similarity with the most
similar cluster of each refit is measured on the distinct rows the resample
holds; the cluster's stability is the mean over resamples (Hennig, 2007,
"Cluster-wise assessment of cluster stability"). A cluster below 0.6
dissolves under resampling; from 0.75 on it is a stable pattern.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

__all__ = ["cluster_jaccard", "clusterboot"]


def cluster_jaccard(original: np.ndarray, refit: np.ndarray, k: int) -> np.ndarray:
    """For each original cluster 0..k-1, the best Jaccard similarity with a
    cluster of ``refit`` over the same rows (NaN for a cluster absent here)."""
    refit_ids = np.unique(refit)
    both = (original[:, None] == np.arange(k)[None, :]).T.astype(float) @ (
        refit[:, None] == refit_ids[None, :]
    ).astype(float)
    sizes_a = both.sum(axis=1)
    sizes_b = np.bincount(np.searchsorted(refit_ids, refit), minlength=len(refit_ids))
    union = sizes_a[:, None] + sizes_b[None, :] - both
    with np.errstate(invalid="ignore", divide="ignore"):
        jaccard = np.where(union > 0, both / union, 0.0).max(axis=1)
    jaccard[sizes_a == 0] = np.nan
    return np.asarray(jaccard, dtype=float)


def clusterboot(
    refit: Callable[[np.ndarray], np.ndarray],
    matrix: np.ndarray,
    labels: np.ndarray,
    *,
    n_resamples: int = 20,
    min_resamples: int = 5,
    seed: int = 0,
    deadline: float | None = None,
) -> np.ndarray:
    """Each cluster's mean Jaccard over bootstrap refits.

    Args:
        refit: fits the algorithm on a matrix and returns its cluster ids.
        matrix: the rows ``labels`` were found in.
        labels: the cluster ids 0..k-1 of the solution under test.
        n_resamples: bootstrap resamples to draw.
        min_resamples: resamples drawn even past the deadline.
        seed: random state of the resampling.
        deadline: a ``time.monotonic()`` after which no new resample starts
            (once ``min_resamples`` are done).
    """
    rng = np.random.default_rng(seed)
    k = int(labels.max()) + 1
    total = np.zeros(k)
    counted = np.zeros(k)
    for done in range(n_resamples):
        if done >= min_resamples and deadline is not None and time.monotonic() > deadline:
            break
        rows = rng.integers(0, len(matrix), len(matrix))
        refit_labels = refit(matrix[rows])
        distinct, first = np.unique(rows, return_index=True)
        jaccard = cluster_jaccard(labels[distinct], refit_labels[first], k)
        seen = ~np.isnan(jaccard)
        total[seen] += jaccard[seen]
        counted[seen] += 1
    return np.divide(total, counted, out=np.zeros(k), where=counted > 0)
