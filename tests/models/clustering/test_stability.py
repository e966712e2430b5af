"""Tests for clusterboot stability and its bands, on real data."""

from __future__ import annotations

import numpy as np
import pytest

from cairn.models.clustering import cluster_jaccard, clusterboot, prepare
from cairn.models.clustering._algorithms import fit_labels
from cairn.tasks.clustering import STABLE, UNSTABLE
from tests.conftest import load_dataset


def test_jaccard_of_a_relabelled_copy_is_one_and_of_a_split_is_partial() -> None:
    original = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert cluster_jaccard(original, 1 - original, 2).tolist() == [1.0, 1.0]
    split = np.array([0, 0, 2, 2, 1, 1, 1, 1])
    assert cluster_jaccard(original, split, 2).tolist() == [0.5, 1.0]


def test_a_cluster_absent_from_the_resample_is_not_counted() -> None:
    jaccard = cluster_jaccard(np.array([0, 0, 2]), np.array([0, 0, 1]), 3)
    assert jaccard[0] == 1.0 and np.isnan(jaccard[1]) and jaccard[2] == 1.0


@pytest.fixture(scope="module")
def iris_matrix() -> np.ndarray:
    _, matrix, _ = prepare(load_dataset("iris"), exclude=["species"])
    return matrix


def test_setosa_against_the_rest_is_stable(iris_matrix: np.ndarray) -> None:
    labels, _, _ = fit_labels("kmeans", 2, iris_matrix, seed=0)

    def refit(matrix: np.ndarray) -> np.ndarray:
        return fit_labels("kmeans", 2, matrix, seed=1)[0]

    per_cluster = clusterboot(refit, iris_matrix, labels, n_resamples=10, seed=0)
    assert per_cluster.min() >= STABLE


def test_clusters_an_algorithm_cannot_reproduce_are_unstable(iris_matrix: np.ndarray) -> None:
    """A refit that labels at random reproduces nothing: every cluster falls
    below the unstable band."""
    labels, _, _ = fit_labels("kmeans", 3, iris_matrix, seed=0)
    # Another seed than the resampling's, whose draws would track the row order.
    rng = np.random.default_rng(12345)

    def refit(matrix: np.ndarray) -> np.ndarray:
        return rng.integers(0, 3, len(matrix))

    per_cluster = clusterboot(refit, iris_matrix, labels, n_resamples=10, seed=0)
    assert per_cluster.max() < UNSTABLE


def test_many_clusters_on_iris_are_less_stable_than_two(iris_matrix: np.ndarray) -> None:
    def stability(k: int) -> float:
        labels, _, _ = fit_labels("agglomerative", k, iris_matrix, seed=0)

        def refit(matrix: np.ndarray) -> np.ndarray:
            return fit_labels("agglomerative", k, matrix, seed=0)[0]

        return float(clusterboot(refit, iris_matrix, labels, n_resamples=10, seed=0).mean())

    assert stability(9) < stability(2)
