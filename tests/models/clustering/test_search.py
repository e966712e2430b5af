"""Tests for the clustering search on real datasets: the leaderboard, the
choice by index and stability, the recorded preparation, and the assignment
of new rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from cairn.models.clustering import ALGORITHMS, ClusteringResult, search_clusters
from tests.conftest import load_dataset

FAST = {"time_budget": 20.0, "n_resamples": 8, "stability_rows": 400}


@pytest.fixture(scope="module")
def wheat() -> ClusteringResult:
    return search_clusters(
        load_dataset("wheat_seeds"), exclude=["variety"], k_range=(2, 5), finer_within=0.2, **FAST
    )


def test_every_algorithm_reaches_the_leaderboard(wheat: ClusteringResult) -> None:
    board = wheat.leaderboard_frame()
    assert set(board["algorithm"]) == set(ALGORITHMS)
    for column in ("silhouette", "calinski_harabasz", "davies_bouldin", "stability", "sizes"):
        assert column in board
    assert board["silhouette"].is_monotonic_decreasing
    assert (board["sizes"].map(sum) == 210).all()


def test_the_choice_is_the_finest_stable_solution_near_the_best_silhouette(
    wheat: ClusteringResult,
) -> None:
    assert wheat.stable and wheat.chosen.stability is not None
    measured = [c for c in wheat.leaderboard if c.stability is not None]
    best_stable = max(c.indices["silhouette"] for c in measured if c.stable)
    # Every stable solution with a silhouette near the best has no more clusters.
    near = [c for c in measured if c.stable and c.indices["silhouette"] >= 0.8 * best_stable]
    assert wheat.chosen in near
    assert all(c.k <= wheat.chosen.k for c in near)
    # Unmeasured solutions with more clusters are not near the best.
    assert all(
        c.indices["silhouette"] < 0.8 * best_stable
        for c in wheat.leaderboard
        if c.stability is None and c.k > wheat.chosen.k
    )
    assert "stability >= 0.75" in wheat.rule


def test_the_segments_match_the_varieties(wheat: ClusteringResult) -> None:
    truth = load_dataset("wheat_seeds")["variety"]
    assert adjusted_rand_score(truth, wheat.labels) > 0.4
    assert np.bincount(wheat.labels).tolist() == sorted(np.bincount(wheat.labels), reverse=True)


def test_skewed_amounts_are_log_scaled_and_recorded() -> None:
    frame = load_dataset("wholesale_customers")
    result = search_clusters(
        frame, exclude=["Channel"], algorithms=["kmeans"], k_range=(2, 3), **FAST
    )
    assert {"Fresh", "Milk", "Grocery"} <= set(result.preparation.log_columns)
    assert "Channel" not in result.preparation.features
    plain = search_clusters(
        frame, exclude=["Channel"], algorithms=["kmeans"], k_range=(2, 3), log_skewed=False, **FAST
    )
    assert plain.preparation.log_columns == ()


def test_pca_is_recorded() -> None:
    result = search_clusters(
        load_dataset("penguins"),
        exclude=["species"],
        algorithms=["kmeans"],
        k_range=(2, 4),
        pca=0.9,
        **FAST,
    )
    assert result.preparation.pca_components is not None
    assert result.preparation.pca_components < len(result.preparation.features) + 3
    assert result.pipeline.predict(load_dataset("penguins").head(5)).shape == (5,)


@pytest.mark.parametrize("algorithm", ["agglomerative", "hdbscan"])
def test_rows_of_algorithms_that_cannot_predict_go_to_the_nearest_centroid(
    algorithm: str,
) -> None:
    """The assignment rule gives the training rows the clusters the algorithm
    itself found, nearly always."""
    frame = load_dataset("penguins")
    result = search_clusters(
        frame, exclude=["species"], algorithms=[algorithm], k_range=(2, 6), **FAST
    )
    assert result.chosen.algorithm == algorithm
    assert adjusted_rand_score(result.chosen.labels, result.labels) > 0.9
    assert (result.pipeline.predict(frame) == result.labels).all()


def test_large_data_is_searched_on_a_sample_and_labelled_whole() -> None:
    frame = pd.concat([load_dataset("iris")] * 30, ignore_index=True)
    result = search_clusters(
        frame, exclude=["species"], algorithms=["kmeans", "birch"], search_rows=600, **FAST
    )
    assert result.search_rows == 600
    assert len(result.labels) == len(frame)
    assert adjusted_rand_score(frame["species"], result.labels) > 0.5


def test_the_fitted_pipeline_survives_pickling(wheat: ClusteringResult) -> None:
    import pickle

    frame = load_dataset("wheat_seeds")
    restored = pickle.loads(pickle.dumps(wheat.pipeline))
    assert (restored.predict(frame) == wheat.labels).all()
    distances = restored[-1].transform(restored[:-1].transform(frame))
    assert (distances.argmin(axis=1) == wheat.labels).mean() > 0.9
