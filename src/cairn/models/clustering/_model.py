"""The fitted clustering: labels new rows, with cluster ids ordered by size."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.metaestimators import available_if

from cairn.exceptions import DataError
from cairn.models.clustering._algorithms import CAN_PREDICT, centroids_of, nearest

__all__ = ["ClusterModel"]


class ClusterModel(BaseEstimator):
    """Cluster ids for new rows of the clustering matrix.

    Ids are renumbered so that cluster 0 is the largest in training. KMeans,
    GaussianMixture and Birch label new rows with their own ``predict``;
    Agglomerative and HDBSCAN cannot, so a new row gets the id of the
    nearest training centroid (the mean of each training cluster), the rule
    Ward's linkage itself optimises.

    After :meth:`relabel` (a retrained model given the ids of the model it
    replaces) the ids need not follow size any more, nor be 0..k-1:
    ``cluster_ids_`` lists them in ascending order, and row ``j`` of
    ``centroids_`` (and column ``j`` of :meth:`transform`) belongs to
    cluster ``cluster_ids_[j]``.

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
        self.cluster_ids_ = np.arange(k)
        if self.algorithm in CAN_PREDICT:
            # The estimator's own ids, mapped to the renumbered training ids.
            own = np.asarray(self.estimator.predict(matrix), dtype=int)
            self.own_ids_ = np.zeros(int(own.max()) + 1, dtype=int)
            for raw in np.unique(own):
                self.own_ids_[raw] = renumber[np.bincount(labels[own == raw]).argmax()]
        return self

    @property
    def ids(self) -> np.ndarray:
        """The cluster ids, ascending (row order of ``centroids_``)."""
        # Models pickled before relabelling existed number their clusters 0..k-1.
        found = getattr(self, "cluster_ids_", None)
        return np.arange(len(self.centroids_)) if found is None else np.asarray(found)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """The cluster id of each row (0 = largest in training unless relabelled)."""
        matrix = np.asarray(matrix, dtype=float)
        if self.algorithm in CAN_PREDICT:
            own = np.asarray(self.estimator.predict(matrix), dtype=int)
            return np.asarray(self.own_ids_[np.clip(own, 0, len(self.own_ids_) - 1)], dtype=int)
        return np.asarray(self.ids[nearest(matrix, self.centroids_)], dtype=int)

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
        """Each cluster's membership probability (gaussian_mixture only), in
        ``ids`` order: the posterior probabilities of the mixture components
        that make it up."""
        matrix = np.asarray(matrix, dtype=float)
        components = np.asarray(self.estimator.predict_proba(matrix), dtype=float)
        return components @ self.component_owner()

    def component_owner(self) -> np.ndarray:
        """(components, clusters) 0/1: which cluster (column, in ``ids``
        order) each mixture component belongs to."""
        columns = np.searchsorted(self.ids, self.component_ids())
        owner = np.zeros((len(columns), len(self.ids)))
        owner[np.arange(len(columns)), columns] = 1.0
        return owner

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        """Each row's Euclidean distance to each cluster's training centroid
        (columns in ``cluster_ids_`` order)."""
        matrix = np.asarray(matrix, dtype=float)
        return np.sqrt(((matrix[:, None, :] - self.centroids_[None, :, :]) ** 2).sum(axis=2))

    def relabel(self, mapping: Mapping[int, int]) -> ClusterModel:
        """Give every cluster a new id, in place; ``predict``, ``transform``
        and ``centroids_`` follow.

        Args:
            mapping: the new id of each current id; every current id must
                be mapped, to distinct non-negative integers.

        Raises:
            DataError: a current id is not mapped, or two share a new id.
        """
        current = [int(i) for i in self.ids]
        unmapped = [i for i in current if i not in mapping]
        if unmapped:
            raise DataError(
                f"relabelling the clusters: no new id for cluster(s) {unmapped}; "
                f"map every one of {current}"
            )
        new = np.asarray([int(mapping[i]) for i in current], dtype=int)
        if len(set(new.tolist())) != len(new) or (new < 0).any():
            raise DataError(
                f"relabelling the clusters: the new ids {new.tolist()} must be distinct "
                "non-negative integers"
            )
        order = np.argsort(new, kind="stable")
        self.centroids_ = self.centroids_[order]
        self.cluster_ids_ = new[order]
        if self.algorithm in CAN_PREDICT:
            translate = dict(zip(current, new.tolist(), strict=True))
            self.own_ids_ = np.asarray([translate[int(i)] for i in self.own_ids_], dtype=int)
        return self
