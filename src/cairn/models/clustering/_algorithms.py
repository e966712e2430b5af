"""The clustering algorithms that compete, and how each labels rows.

Every algorithm here is fitted through :func:`fit_labels`, which returns one
cluster id per row (0..k-1) and the fitted estimator. HDBSCAN finds its own
number of clusters and leaves noise points out (label -1); those are given
the nearest cluster's id, and their share is recorded.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = [
    "ALGORITHMS",
    "CAN_PREDICT",
    "centroids_of",
    "fit_labels",
    "grid",
    "nearest",
]

ALGORITHMS: tuple[str, ...] = ("kmeans", "gaussian_mixture", "agglomerative", "birch", "hdbscan")
# Algorithms whose fitted estimator labels new rows itself; the others are
# given the nearest-centroid rule of :class:`ClusterModel`.
CAN_PREDICT: frozenset[str] = frozenset({"kmeans", "gaussian_mixture", "birch"})
# Above this many rows KMeans runs in mini-batches.
MINIBATCH_ROWS = 20_000


def grid(algorithm: str, k_range: tuple[int, int], n_rows: int) -> list[int]:
    """The parameter values tried: the cluster count for every algorithm but
    HDBSCAN, whose parameter is the smallest cluster size (a few shares of
    the rows)."""
    if algorithm != "hdbscan":
        return list(range(k_range[0], k_range[1] + 1))
    return sorted({max(5, n_rows // share) for share in (40, 20, 10)})


def _estimator(algorithm: str, param: int, n_rows: int, seed: int) -> Any:
    from sklearn import cluster, mixture

    if algorithm == "kmeans":
        if n_rows > MINIBATCH_ROWS:
            return cluster.MiniBatchKMeans(
                n_clusters=param, n_init=3, batch_size=4096, random_state=seed
            )
        return cluster.KMeans(n_clusters=param, n_init=4, random_state=seed)
    if algorithm == "gaussian_mixture":
        return mixture.GaussianMixture(
            n_components=param, covariance_type="full", n_init=2, reg_covar=1e-4, random_state=seed
        )
    if algorithm == "agglomerative":
        return cluster.AgglomerativeClustering(n_clusters=param, linkage="ward")
    if algorithm == "birch":
        return cluster.Birch(n_clusters=param)
    if algorithm == "hdbscan":
        return cluster.HDBSCAN(min_cluster_size=param, copy=True)
    raise ValueError(f"unknown clustering algorithm {algorithm!r}")


def centroids_of(matrix: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The mean row of each cluster 0..k-1."""
    return np.vstack([matrix[labels == cluster].mean(axis=0) for cluster in range(k)])


def nearest(matrix: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The index of each row's nearest centroid (Euclidean)."""
    distances = (
        (matrix**2).sum(axis=1)[:, None] - 2 * matrix @ centroids.T + (centroids**2).sum(axis=1)
    )
    return np.asarray(distances.argmin(axis=1), dtype=int)


def _dense_ids(labels: np.ndarray) -> np.ndarray:
    """Ids renumbered 0..k-1 in order of first value, noise (-1) kept."""
    found = np.unique(labels[labels >= 0])
    ids = np.full(len(labels), -1, dtype=int)
    for new, old in enumerate(found):
        ids[labels == old] = new
    return ids


def fit_labels(
    algorithm: str, param: int, matrix: np.ndarray, *, seed: int
) -> tuple[np.ndarray, Any, float]:
    """Fit one algorithm; return the cluster ids, the estimator and the share
    of rows HDBSCAN called noise (0 for the others)."""
    estimator = _estimator(algorithm, param, len(matrix), seed)
    with warnings.catch_warnings():
        # Birch warns when it finds fewer subclusters than asked, KMeans when
        # rows repeat: both show up as fewer clusters, which the search sees.
        warnings.simplefilter("ignore")
        raw = np.asarray(estimator.fit_predict(matrix), dtype=int)
    labels = _dense_ids(raw)
    noise = labels < 0
    noise_share = float(noise.mean())
    if noise.any() and (~noise).any():
        k = int(labels.max()) + 1
        labels[noise] = nearest(matrix[noise], centroids_of(matrix, labels, k))
    return labels, estimator, noise_share
