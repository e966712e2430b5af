"""A search result turned into the record the clustering report reads: the
per-cluster stability follows the final cluster ids, not the candidate's."""

from __future__ import annotations

import numpy as np
import pytest

from cairn.models.clustering import search_clusters, stability_by_cluster, to_segmentation
from tests.conftest import load_dataset

FAST = {"time_budget": 5.0, "n_resamples": 6, "stability_rows": 300}


def _majority_map(final: np.ndarray, own: np.ndarray) -> list[int]:
    """For each final id, the candidate id most of its rows carry."""
    return [int(np.bincount(own[final == j]).argmax()) for j in range(int(final.max()) + 1)]


def test_stability_follows_the_final_ids_when_the_search_saw_every_row() -> None:
    frame = load_dataset("wholesale_customers")
    result = search_clusters(frame, algorithms=("agglomerative",), k_range=(3, 4), **FAST)
    assert len(result.chosen.labels) == len(result.labels)  # no refit: the same rows
    own = _majority_map(result.labels, result.chosen.labels)
    expected = [result.chosen.cluster_stability[i] for i in own]
    assert stability_by_cluster(result) == pytest.approx(expected)


def test_stability_follows_a_kmeans_refitted_on_every_row() -> None:
    frame = load_dataset("penguins")
    result = search_clusters(
        frame, exclude=["species"], algorithms=("kmeans",), k_range=(3, 3), search_rows=120, **FAST
    )
    model = result.pipeline.named_steps["model"]
    assert model.estimator is not result.chosen.estimator  # refitted on all 344 rows
    matrix = result.pipeline.named_steps["prep"].transform(frame)
    own = _majority_map(result.labels, result.chosen.estimator.predict(matrix))
    expected = [result.chosen.cluster_stability[i] for i in own]
    assert stability_by_cluster(result) == pytest.approx(expected)


def test_the_record_holds_the_features_matrix_and_ground_truth() -> None:
    frame = load_dataset("penguins")
    result = search_clusters(frame, exclude=["species"], algorithms=("kmeans",), **FAST)
    seg = to_segmentation(result, frame, ground_truth="species", noun="penguins")
    assert list(seg.frame.columns) == list(result.preparation.features)
    assert seg.matrix.shape == (len(frame), result.preparation.n_dimensions)
    assert seg.chosen["sizes"] == np.bincount(result.labels).tolist()
    assert seg.ground_truth is not None and seg.ground_truth_name == "species"
    assert seg.chosen_row() == 0 or seg.leaderboard.iloc[seg.chosen_row()]["k"] == seg.n_clusters
