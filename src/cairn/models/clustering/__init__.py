"""Clustering: find a segmentation of rows without a target, and justify it.

:func:`search_clusters` prepares the columns (schema-driven encoding with
scaling, optional log scale for skewed amounts and PCA), fits KMeans,
GaussianMixture, Agglomerative (Ward), Birch and HDBSCAN over a range of
cluster counts under a time budget, scores each with the silhouette,
Calinski-Harabasz and Davies-Bouldin indices and with bootstrap stability
(Hennig's clusterboot), and chooses the best index among the stable
solutions. The result's pipeline labels new rows, also for algorithms that
cannot predict (nearest training centroid).
"""

from __future__ import annotations

from cairn.models.clustering._algorithms import ALGORITHMS, CAN_PREDICT
from cairn.models.clustering._match import ClusterMatch, align_clusters, match_clusters
from cairn.models.clustering._model import ClusterModel
from cairn.models.clustering._prepare import (
    DEFAULT_K_RANGE,
    KeepColumns,
    LogColumns,
    Preparation,
    prepare,
    resolve_k_range,
)
from cairn.models.clustering._search import Candidate, ClusteringResult, choose, search_clusters
from cairn.models.clustering._segmentation import stability_by_cluster, to_segmentation
from cairn.models.clustering._stability import cluster_jaccard, clusterboot

__all__ = [
    "ALGORITHMS",
    "CAN_PREDICT",
    "DEFAULT_K_RANGE",
    "Candidate",
    "ClusterMatch",
    "ClusterModel",
    "ClusteringResult",
    "KeepColumns",
    "LogColumns",
    "Preparation",
    "align_clusters",
    "choose",
    "cluster_jaccard",
    "clusterboot",
    "match_clusters",
    "prepare",
    "resolve_k_range",
    "search_clusters",
    "stability_by_cluster",
    "to_segmentation",
]
