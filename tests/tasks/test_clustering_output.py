"""A clustering's raw output: the id, a distance and a probability per
cluster, and the /predict answer made from it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cairn.tasks import get_task
from cairn.tasks.clustering import cluster_output, split_cluster_output


def test_the_output_splits_back_into_its_parts() -> None:
    distances = np.array([[0.5, 2.0, 3.0], [4.0, 1.0, 0.25]])
    output = cluster_output(np.array([0, 2]), distances)
    assert output.shape == (2, 1 + 2 * 3) == (2, get_task("clustering").output_width(3))
    ids, back, members = split_cluster_output(output)
    assert ids.tolist() == [0, 2] and members is None
    np.testing.assert_array_equal(back, distances)
    with_members = cluster_output(np.array([1]), [[1.0, 0.5]], [[0.2, 0.8]])
    assert split_cluster_output(with_members)[2].tolist() == [[0.2, 0.8]]
    with pytest.raises(ValueError, match="1 \\+ 2k columns, got 4"):
        split_cluster_output(np.zeros((2, 4)))


def test_the_answer_names_distances_and_memberships_by_cluster_id() -> None:
    task = get_task("clustering")
    output = cluster_output(np.array([1]), [[1.5, 0.5]], [[0.1, 0.9]])
    assert task.predictions(output, [0, 1]) == ([1], None)
    details = task.answer_details(output, [0, 1])
    assert details == {"distances": [{"0": 1.5, "1": 0.5}], "probabilities": [{"0": 0.1, "1": 0.9}]}
    plain = task.answer_details(cluster_output(np.array([0]), [[0.0, 3.0]]), [0, 1])
    assert plain["probabilities"] == [None]
    schema = task.answer_schema([0, 1])
    assert set(schema) == {"distances", "probabilities"}
    assert task.prediction_schema([0, 1])["enum"] == [0, 1]
    assert not math.isnan(details["distances"][0]["0"])
