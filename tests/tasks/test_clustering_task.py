"""Tests for the clustering task: its metrics, their directions, its output,
and plugging it into the registry."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_score

import cairn.tasks
from cairn.models.clustering import prepare
from cairn.models.clustering._algorithms import fit_labels
from cairn.tasks import Output, get_task, greater_is_better
from cairn.tasks.clustering import Clustering
from tests.conftest import load_dataset


@pytest.fixture(scope="module")
def penguins() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = load_dataset("penguins")
    _, matrix, _ = prepare(frame, exclude=["species"])
    labels, _, _ = fit_labels("kmeans", 3, matrix, seed=0)
    return matrix, labels, frame["species"].to_numpy()


def test_the_task_declares_a_clustering() -> None:
    task = Clustering()
    assert not task.needs_target and task.output == Output.LABELS and not task.has_classes
    assert task.default_metric() == "silhouette"
    assert not task.greater_is_better("davies_bouldin")
    assert task.greater_is_better("silhouette") and task.greater_is_better("adjusted_rand")
    assert not task.greater_is_better("latency_p95_ms")
    assert task.misfits("silhouette", ["n_clusters", "stability", "min_cluster_share"]) == []
    assert task.misfits("roc_auc", []) == ["roc_auc"]


def test_scores_match_scikit_learn(penguins: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    matrix, labels, truth = penguins
    task = Clustering()
    assert task.score("silhouette", None, labels, features=matrix) == pytest.approx(
        silhouette_score(matrix, labels)
    )
    assert task.score("adjusted_rand", truth, labels) == pytest.approx(
        adjusted_rand_score(truth, labels)
    )
    every = task.all_metrics(truth, labels, features=matrix)
    assert set(every) == set(task.metrics)
    assert every["adjusted_rand"] > 0.5
    assert set(task.all_metrics(None, labels, features=matrix)) == {
        "silhouette",
        "calinski_harabasz",
        "davies_bouldin",
    }


def test_an_index_without_what_it_needs_is_refused(
    penguins: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    _, labels, _ = penguins
    with pytest.raises(ValueError, match="ground truth"):
        Clustering().score("adjusted_rand", None, labels)
    with pytest.raises(ValueError, match="features"):
        Clustering().score("silhouette", None, labels)


def test_predictions_are_cluster_ids() -> None:
    ids, extra = Clustering().predictions(np.array([0.0, 2.0, 1.0]), [])
    assert ids == [0, 2, 1] and extra is None
    assert Clustering().prediction_schema([])["type"] == "integer"


def test_it_plugs_into_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    task = Clustering()
    monkeypatch.setitem(cairn.tasks._REGISTRY, task.name, task)
    assert get_task("clustering") is task
    assert not greater_is_better("davies_bouldin")
    assert "normalized_mutual_info" in cairn.tasks.known_metrics()
