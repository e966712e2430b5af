"""A search result as the plain record the clustering report and card read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cairn.models.clustering._search import ClusteringResult

if TYPE_CHECKING:
    from cairn.evaluation import Segmentation

__all__ = ["stability_by_cluster", "to_segmentation"]


def stability_by_cluster(result: ClusteringResult) -> list[float]:
    """The chosen candidate's per-cluster stability in the ids of
    ``result.labels`` (0 = largest), not in the candidate's own ids.

    The final model renumbers the candidate's clusters by size; KMeans refitted
    on every row is matched to the candidate's clusters by nearest centres.
    """
    chosen = result.chosen
    values = np.asarray(chosen.cluster_stability, dtype=float)
    if len(values) == 0:
        return []
    model = result.pipeline.named_steps["model"]
    if model.estimator is chosen.estimator:
        order = np.argsort(-np.bincount(chosen.labels, minlength=chosen.k), kind="stable")
        return [float(v) for v in values[order]]
    centres = np.asarray(chosen.estimator.cluster_centers_, dtype=float)
    nearest = ((model.centroids_[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    return [float(values[i]) for i in nearest]


def to_segmentation(
    result: ClusteringResult,
    frame: pd.DataFrame,
    *,
    ground_truth: str | None = None,
    project: str = "segmentation",
    noun: str = "rows",
    description: str = "",
) -> Segmentation:
    """The record of ``result``, found on ``frame``, for the clustering report.

    Args:
        result: what :func:`search_clusters` returned for ``frame``.
        frame: the rows the search ran on (ground truth column included).
        ground_truth: a column of ``frame`` with known groups, scored only.
        project: the name shown in titles.
        noun: what one row is ("customers").
        description: the intended use, for the card.
    """
    from cairn.evaluation import Segmentation

    prep = result.preparation
    matrix = result.pipeline.named_steps["prep"].transform(frame)
    chosen: dict[str, Any] = {
        "algorithm": result.chosen.algorithm,
        "k": int(result.labels.max()) + 1,
        "stability": result.chosen.stability,
        "cluster_stability": stability_by_cluster(result),
        "sizes": np.bincount(result.labels).tolist(),
    }
    return Segmentation(
        frame=frame[list(prep.features)].reset_index(drop=True),
        labels=result.labels,
        matrix=np.asarray(matrix, dtype=float),
        leaderboard=result.leaderboard_frame(),
        metric=result.metric,
        chosen=chosen,
        rule=result.rule,
        preparation={
            "features": list(prep.features),
            "dropped": dict(prep.dropped),
            "log_columns": list(prep.log_columns),
            "pca_components": prep.pca_components,
            "n_dimensions": prep.n_dimensions,
        },
        indices=dict(result.indices),
        ground_truth=None if ground_truth is None else frame[ground_truth].reset_index(drop=True),
        ground_truth_name=ground_truth or "",
        project=project,
        noun=noun,
        description=description,
    )
