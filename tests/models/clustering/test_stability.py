"""Tests for clusterboot stability and its bands, on real data."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from cairn.models.clustering import cluster_jaccard, clusterboot, prepare
from cairn.models.clustering._algorithms import fit_labels
from cairn.models.clustering._stability import prediction_strength
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


Fit = Callable[[np.ndarray], tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]]


def _kmeans(k: int) -> Fit:
    def fit(half: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        labels, estimator, _ = fit_labels("kmeans", k, half, seed=0)
        return labels, estimator.predict

    return fit


def test_two_groups_of_iris_predict_each_other_and_six_do_not(iris_matrix: np.ndarray) -> None:
    """Setosa against the rest is found again from either half of the rows;
    six clusters cut the two groups arbitrarily."""
    assert prediction_strength(_kmeans(2), iris_matrix, seed=0) >= 0.8
    assert prediction_strength(_kmeans(6), iris_matrix, seed=0) < 0.8


def test_clusters_that_predict_nothing_have_a_low_prediction_strength(
    iris_matrix: np.ndarray,
) -> None:
    rng = np.random.default_rng(12345)

    def fit(half: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        return rng.integers(0, 3, len(half)), lambda rows: rng.integers(0, 3, len(rows))

    assert prediction_strength(fit, iris_matrix, seed=0) < 0.5


def test_a_half_without_any_cluster_has_no_prediction_strength(iris_matrix: np.ndarray) -> None:
    def fit(half: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        return np.full(len(half), -1), lambda rows: np.zeros(len(rows), dtype=int)

    assert prediction_strength(fit, iris_matrix, seed=0) == 0.0
