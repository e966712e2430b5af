"""The fitted clustering: labels new rows, with cluster ids ordered by size."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from cairn.models.clustering._algorithms import CAN_PREDICT, centroids_of, nearest

__all__ = ["ClusterModel"]


class ClusterModel(BaseEstimator):
    """Cluster ids for new rows of the clustering matrix.

    Ids are renumbered so that cluster 0 is the largest in training. KMeans,
    GaussianMixture and Birch label new rows with their own ``predict``;
    Agglomerative and HDBSCAN cannot, so a new row gets the id of the
    nearest training centroid (the mean of each training cluster), the rule
    Ward's linkage itself optimises.

    Args:
        algorithm: the algorithm's name (see ``ALGORITHMS``).
        estimator: the fitted estimator.
    """

    def __init__(self, algorithm: str, estimator: Any) -> None:
        self.algorithm = algorithm
        self.estimator = estimator

    def fit(self, matrix: np.ndarray, labels: np.ndarray) -> ClusterModel:
        """Learn the centroids and the size order from the training labels."""
        k = int(labels.max()) + 1
        order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
        renumber = np.empty(k, dtype=int)
        renumber[order] = np.arange(k)
        self.centroids_ = centroids_of(matrix, labels, k)[order]
        self.n_clusters_ = k
        if self.algorithm in CAN_PREDICT:
            # The estimator's own ids, mapped to the renumbered training ids.
            own = np.asarray(self.estimator.predict(matrix), dtype=int)
            self.own_ids_ = np.zeros(int(own.max()) + 1, dtype=int)
            for raw in np.unique(own):
                self.own_ids_[raw] = renumber[np.bincount(labels[own == raw]).argmax()]
        return self

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """The cluster id (0 = largest in training) of each row."""
        matrix = np.asarray(matrix, dtype=float)
        if self.algorithm in CAN_PREDICT:
            own = np.asarray(self.estimator.predict(matrix), dtype=int)
            return np.asarray(self.own_ids_[np.clip(own, 0, len(self.own_ids_) - 1)], dtype=int)
        return nearest(matrix, self.centroids_)

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        """Each row's Euclidean distance to each cluster's training centroid."""
        matrix = np.asarray(matrix, dtype=float)
        return np.sqrt(((matrix[:, None, :] - self.centroids_[None, :, :]) ** 2).sum(axis=2))
