"""The fitted clustering: labels new rows, with cluster ids ordered by size."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.metaestimators import available_if

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

    def component_ids(self) -> np.ndarray:
        """The cluster id each of the estimator's own labels (KMeans centres,
        Birch subcluster labels, mixture components) maps to, as
        :meth:`predict` maps them."""
        n_own = {
            "kmeans": lambda e: len(e.cluster_centers_),
            "gaussian_mixture": lambda e: e.n_components,
            "birch": lambda e: int(np.max(e.subcluster_labels_)) + 1,
        }[self.algorithm](self.estimator)
        return np.asarray(
            self.own_ids_[np.clip(np.arange(n_own), 0, len(self.own_ids_) - 1)], dtype=int
        )

    def _is_mixture(self) -> bool:
        return self.algorithm == "gaussian_mixture"

    @available_if(_is_mixture)
    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """Each cluster's membership probability (gaussian_mixture only): the
        posterior probabilities of the mixture components that make it up."""
        matrix = np.asarray(matrix, dtype=float)
        components = np.asarray(self.estimator.predict_proba(matrix), dtype=float)
        # one column per cluster id: the sum of its components
        owner = np.zeros((components.shape[1], self.n_clusters_))
        owner[np.arange(components.shape[1]), self.component_ids()] = 1.0
        return components @ owner

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        """Each row's Euclidean distance to each cluster's training centroid."""
        matrix = np.asarray(matrix, dtype=float)
        return np.sqrt(((matrix[:, None, :] - self.centroids_[None, :, :]) ** 2).sum(axis=2))
