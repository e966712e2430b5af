"""Clustering: no target; the model answers one cluster id per row.

A clustering is judged on the features it was found in (silhouette,
Calinski-Harabasz, Davies-Bouldin) and, where the data carry a ground truth
used only for scoring, by its agreement with it (adjusted Rand, normalized
mutual information). The internal indices need the features, so
:meth:`Clustering.score` and :meth:`Clustering.all_metrics` take them as a
keyword; ``y_true`` is the ground truth, or None without one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from cairn.tasks.base import OPERATIONAL_QUANTITIES, Output, Task

__all__ = ["STABLE", "UNSTABLE", "Clustering"]

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
        "k_selection",
        "silhouette",
        "projection",
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
        return 1

    def predictions(
        self, output: np.ndarray, classes: Sequence[Any]
    ) -> tuple[list[Any], np.ndarray | None]:
        return [int(value) for value in _ids(output)], None

    def prediction_schema(self, classes: Sequence[Any]) -> dict[str, Any]:
        return {"type": "integer", "minimum": 0, "description": "cluster id"}


def _ids(output: np.ndarray) -> np.ndarray:
    return np.asarray(output).reshape(-1).astype(int)
