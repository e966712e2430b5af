"""A clustering bundle loaded as a Model: cluster ids, distances to the
centroids, and membership probabilities where the algorithm has them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cairn.bundle import Model, load_bundle, output_classes
from cairn.data.schema import Schema, infer_schema
from cairn.exceptions import BundleError


@pytest.mark.parametrize("engine", ["native", "onnx"])
def test_predict_gives_integer_cluster_ids(
    clustering_bundle: Callable[..., Any], engine: str
) -> None:
    made = clustering_bundle("kmeans")
    model = load_bundle(made.path, engine=engine)
    assert model.task == "clustering" and model.engine == engine
    assert model.classes == [0, 1, 2]
    ids = model.predict(made.frame)
    assert ids.dtype.kind == "i" and len(ids) == len(made.frame)
    assert (ids == made.result.labels).all()


def test_distances_have_a_column_per_cluster_and_the_id_is_the_nearest(
    clustering_bundle: Callable[..., Any],
) -> None:
    made = clustering_bundle("agglomerative")
    model = load_bundle(made.path)
    frame = made.frame.head(40)
    distances = model.cluster_distances(frame)
    assert list(distances.columns) == [0, 1, 2]
    assert distances.index.equals(frame.index) and (distances.to_numpy() >= 0).all()
    # Ward's clusters label new rows by the nearest training centroid
    assert (distances.to_numpy().argmin(axis=1) == model.predict(frame)).all()


def test_a_mixture_gives_membership_probabilities(clustering_bundle: Callable[..., Any]) -> None:
    made = clustering_bundle("gaussian_mixture")
    model = load_bundle(made.path)
    assert model.has_memberships
    members = model.predict_proba(made.frame.head(50))
    assert list(members.columns) == [0, 1, 2]
    np.testing.assert_allclose(members.sum(axis=1), 1.0, atol=1e-9)
    assert (members.to_numpy().argmax(axis=1) == model.predict(made.frame.head(50))).all()


@pytest.mark.parametrize("algorithm", ["kmeans", "birch", "hdbscan"])
def test_probabilities_of_a_distance_clustering_are_refused_with_the_way_out(
    clustering_bundle: Callable[..., Any], algorithm: str
) -> None:
    model = load_bundle(clustering_bundle(algorithm).path)
    assert not model.has_memberships
    with pytest.raises(BundleError) as error:
        model.predict_proba(pd.DataFrame())
    message = str(error.value)
    assert f"a {algorithm} clustering" in message and "cluster_distances(frame)" in message
    assert "gaussian_mixture" in message


def test_distances_of_a_supervised_model_are_refused() -> None:
    schema = Schema(columns=(), target="y", task="regression")
    with pytest.raises(BundleError, match="only available for clustering models, not regression"):
        Model(None, schema).cluster_distances(pd.DataFrame({"x": [1.0]}))


def test_no_rows_give_empty_answers(clustering_bundle: Callable[..., Any]) -> None:
    made = clustering_bundle("gaussian_mixture")
    model = load_bundle(made.path)
    empty = made.frame.iloc[:0]
    assert len(model.predict(empty)) == 0
    assert model.cluster_distances(empty).shape == (0, 3)
    assert model.predict_proba(empty).shape == (0, 3)


def test_the_cluster_count_comes_from_the_bundle() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    schema = infer_schema(frame, task="clustering")
    assert output_classes(schema, {"n_clusters": 4}) == ["0", "1", "2", "3"]
    assert output_classes(schema, {}, {"classes": ["0", "1"]}) == ["0", "1"]
    with pytest.raises(BundleError, match="records no number of clusters"):
        output_classes(schema, {})


@pytest.mark.parametrize("algorithm", ["gaussian_mixture", "birch"])
def test_cairn_predict_writes_ids_distances_and_memberships(
    clustering_bundle: Callable[..., Any], algorithm: str, tmp_path: Path
) -> None:
    made = clustering_bundle(algorithm)
    made.frame.head(25).to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "segments.csv"
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "predict", str(made.path), str(tmp_path / "new.csv"),
         "-o", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(out)
    assert written["cluster"].tolist() == made.result.labels[:25].tolist()
    distances = written[["distance_0", "distance_1", "distance_2"]].to_numpy()
    expected = load_bundle(made.path).cluster_distances(made.frame.head(25)).to_numpy()
    np.testing.assert_allclose(distances, expected, rtol=1e-12)
    members = [c for c in written.columns if c.startswith("proba_")]
    if algorithm == "gaussian_mixture":
        assert members == ["proba_0", "proba_1", "proba_2"]
        np.testing.assert_allclose(written[members].sum(axis=1), 1.0, atol=1e-9)
    else:
        assert members == []
