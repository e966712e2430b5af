"""Clustering: no target; the model answers one cluster id per row.

A clustering is judged on the features it was found in (silhouette,
Calinski-Harabasz, Davies-Bouldin) and, where the data carry a ground truth
used only for scoring, by its agreement with it (adjusted Rand, normalized
mutual information). The internal indices need the features, so
:meth:`Clustering.score` and :meth:`Clustering.all_metrics` take them as a
keyword; ``y_true`` is the ground truth, or None without one.

A fitted clustering's raw output (what the native pipeline and the ONNX
graph both give, see :func:`cluster_output`) is one row per record of
``1 + 2k`` numbers: the cluster id, the Euclidean distance to each of the
k cluster centroids, and the membership probability of each cluster (NaN
for algorithms that assign by distance and have none, i.e. all but
gaussian_mixture). The cluster ids 0..k-1 play the part of classes: they
name the distance and probability columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from cairn.tasks.base import OPERATIONAL_QUANTITIES, Output, Task

__all__ = ["STABLE", "UNSTABLE", "Clustering", "cluster_output", "split_cluster_output"]

#: Hennig's bands for a cluster's mean bootstrap Jaccard: below UNSTABLE the
#: cluster dissolves under resampling, from STABLE on it is a stable pattern.
UNSTABLE = 0.6
STABLE = 0.75

# Quantities of a segmentation an objective may bound beside the metrics.
_SEGMENTATION_QUANTITIES: tuple[str, ...] = ("n_clusters", "min_cluster_share", "stability")


class Clustering(Task):
    name: ClassVar[str] = "clustering"
    needs_target: ClassVar[bool] = False
    spec_fields: ClassVar[tuple[str, ...]] = ("ground_truth",)
    output: ClassVar[str] = Output.LABELS
    metrics: ClassVar[tuple[str, ...]] = (
        "silhouette",
        "calinski_harabasz",
        "davies_bouldin",
        "adjusted_rand",
        "normalized_mutual_info",
    )
    lower_is_better: ClassVar[frozenset[str]] = frozenset(
        {"davies_bouldin", *OPERATIONAL_QUANTITIES}
    )
    estimator_kind: ClassVar[str] = "clusterer"
    report_sections: ClassVar[tuple[str, ...]] = (
        "segments",
        "k_selection",
        "fit",
        "profiles",
        "ground_truth",
    )
    monitored_outputs: ClassVar[tuple[str, ...]] = ("prediction",)
    explanation_units: ClassVar[str] = "cluster"

    def quantities(self) -> tuple[str, ...]:
        return (*self.metrics, *_SEGMENTATION_QUANTITIES, *OPERATIONAL_QUANTITIES)

    def example_objective(self, metric: str) -> str:
        return "silhouette >= 0.25" if metric == "silhouette" else super().example_objective(metric)

    def score(
        self,
        metric: str,
        y_true: np.ndarray | None,
        output: np.ndarray,
        *,
        features: np.ndarray | None = None,
    ) -> float:
        """One index of the cluster ids ``output``; see the module docstring."""
        from cairn.tasks.metrics import cluster_score

        return cluster_score(metric, _ids(output), features=features, y_true=y_true)

    def all_metrics(
        self,
        y_true: np.ndarray | None,
        output: np.ndarray,
        *,
        features: np.ndarray | None = None,
    ) -> dict[str, float]:
        """The internal indices when ``features`` are given, the agreement
        indices when ``y_true`` is."""
        from cairn.tasks.metrics import clustering_metrics

        return clustering_metrics(_ids(output), features=features, y_true=y_true)

    def output_width(self, n_classes: int) -> int:
        """The id, then a distance and a probability per cluster."""
        return 1 + 2 * n_classes

    def predictions(
        self, output: np.ndarray, classes: Sequence[Any]
    ) -> tuple[list[Any], np.ndarray | None]:
        return [int(value) for value in _ids(output)], None

    def answer_details(self, output: np.ndarray, classes: Sequence[Any]) -> dict[str, list[Any]]:
        """The distances to the centroids and the memberships, by cluster id
        (none when ``output`` holds the ids only)."""
        if np.ndim(output) < 2 or np.shape(output)[1] == 1:
            return {}
        _, distances, probabilities = split_cluster_output(output)
        names = [str(cluster) for cluster in classes] or [
            str(cluster) for cluster in range(distances.shape[1])
        ]
        return {
            "distances": [dict(zip(names, row, strict=True)) for row in distances.tolist()],
            "probabilities": (
                [None] * len(distances)
                if probabilities is None
                else [dict(zip(names, row, strict=True)) for row in probabilities.tolist()]
            ),
        }

    def prediction_schema(self, classes: Sequence[Any]) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer", "minimum": 0, "description": "cluster id"}
        if classes:
            schema["enum"] = [int(cluster) for cluster in classes]
        return schema

    def answer_schema(self, classes: Sequence[Any]) -> dict[str, dict[str, Any]]:
        per_cluster = {
            "type": "object",
            "additionalProperties": {"type": "number"},
        }
        if classes:
            per_cluster["properties"] = {str(c): {"type": "number"} for c in classes}
        return {
            "distances": {
                "type": "array",
                "items": {
                    **per_cluster,
                    "description": "Euclidean distance to each cluster's centroid, in the "
                    "prepared (scaled) feature space, by cluster id",
                },
            },
            "probabilities": {
                "type": "array",
                "items": {
                    "anyOf": [{**per_cluster}, {"type": "null"}],
                    "description": "membership probability of each cluster, by cluster id "
                    "(gaussian_mixture only; null for the algorithms that assign by distance)",
                },
            },
        }


def cluster_output(
    ids: np.ndarray, distances: np.ndarray, probabilities: np.ndarray | None = None
) -> np.ndarray:
    """The raw output (rows, 1 + 2k) from ids, distances (rows, k) and, for a
    mixture, probabilities (rows, k)."""
    distances = np.asarray(distances, dtype=np.float64).reshape(len(ids), -1)
    if probabilities is None:
        probabilities = np.full(distances.shape, np.nan)
    return np.column_stack(
        [np.asarray(ids, dtype=np.float64), distances, np.asarray(probabilities, dtype=np.float64)]
    )


def split_cluster_output(
    output: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Ids, distances and probabilities (None when the algorithm has none) of
    a raw output; see :func:`cluster_output`."""
    output = np.asarray(output, dtype=np.float64)
    if output.ndim < 2:
        output = output.reshape(len(output), -1)
    k = (output.shape[1] - 1) // 2
    if output.shape[1] != 1 + 2 * k or (not k and len(output)):
        raise ValueError(f"a clustering's output has 1 + 2k columns, got {output.shape[1]}")
    probabilities = output[:, 1 + k :]
    has_probabilities = bool(len(output)) and not np.isnan(probabilities).all()
    return (
        output[:, 0].astype(int),
        output[:, 1 : 1 + k],
        probabilities if has_probabilities else None,
    )


def _ids(output: np.ndarray) -> np.ndarray:
    """Cluster ids: the output itself, or the id column of a raw output."""
    output = np.asarray(output)
    if output.ndim == 2 and output.shape[1] > 1:
        return split_cluster_output(output)[0]
    return output.reshape(-1).astype(int)
