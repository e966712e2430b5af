"""Tests for keeping cluster ids across retrainings: Hungarian matching of
centroids and the relabelling of a fitted clustering, on wheat seeds."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.bundle import load_bundle, save_bundle
from cairn.data.schema import infer_schema
from cairn.exceptions import DataError
from cairn.export import export_serving
from cairn.models.clustering import (
    ClusteringResult,
    align_clusters,
    match_clusters,
    search_clusters,
)
from tests.conftest import load_dataset

FAST = {"time_budget": 10.0, "n_resamples": 5, "stability_rows": 200}


def _fit(
    frame: pd.DataFrame, k: int, *, seed: int = 0, algorithm: str = "kmeans"
) -> ClusteringResult:
    return search_clusters(
        frame, exclude=["variety"], algorithms=[algorithm], k_range=(k, k), seed=seed, **FAST
    )


@pytest.fixture(scope="module")
def wheat() -> pd.DataFrame:
    return load_dataset("wheat_seeds")


@pytest.fixture(scope="module")
def champion(wheat: pd.DataFrame) -> ClusteringResult:
    return _fit(wheat, 3)


def test_matching_recovers_a_permutation_exactly(champion: ClusteringResult) -> None:
    centroids = champion.pipeline[-1].centroids_
    permutation = [2, 0, 1]  # new cluster j is old cluster permutation[j]
    mapping = match_clusters(centroids, centroids[permutation] + 0.01)
    assert mapping == {0: 2, 1: 0, 2: 1}


@pytest.mark.parametrize(("share", "seed"), [(1.0, 1), (1.0, 2), (0.8, 1), (0.8, 2)])
def test_a_refit_with_another_seed_keeps_the_ids(
    wheat: pd.DataFrame, champion: ClusteringResult, share: float, seed: int
) -> None:
    resample = wheat.sample(frac=share, random_state=seed).reset_index(drop=True)
    challenger = _fit(resample, 3, seed=seed)
    # Scramble the challenger's ids so that only the matching can restore them.
    challenger.pipeline[-1].relabel({0: 2, 1: 0, 2: 1})
    old_ids = champion.pipeline.predict(wheat)
    scrambled = challenger.pipeline.predict(wheat)
    assert (scrambled == old_ids).mean() < 0.5
    match = align_clusters(challenger.pipeline, wheat, old_ids)
    new_ids = challenger.pipeline.predict(wheat)
    assert match.agreement == pytest.approx((new_ids == old_ids).mean())
    # No other numbering of the challenger's clusters agrees better.
    best = max(
        (np.asarray(order)[scrambled] == old_ids).mean()
        for order in itertools.permutations(range(3))
    )
    assert match.agreement == pytest.approx(best)
    # The same rows refitted with another seed: the same segments, the same ids.
    assert match.agreement >= (0.95 if share == 1.0 else 0.9)
    assert match.new_ids == [] and match.dropped_ids == []
    for row in match.shares:
        assert abs(float(row["old_share"]) - float(row["new_share"])) < 0.05
    # transform and centroids follow the new ids: the nearest centroid is the id.
    model = challenger.pipeline[-1]
    distances = model.transform(challenger.pipeline[:-1].transform(wheat))
    assert (model.ids[distances.argmin(axis=1)] == new_ids).mean() > 0.95


def test_more_clusters_get_fresh_ids_after_the_old_ones(
    wheat: pd.DataFrame, champion: ClusteringResult
) -> None:
    old_ids = champion.pipeline.predict(wheat)
    challenger = _fit(wheat, 4, seed=3)
    match = align_clusters(challenger.pipeline, wheat, old_ids)
    assert sorted(match.mapping.values()) == [0, 1, 2, 3]
    assert match.new_ids == [3] and match.dropped_ids == []
    new_ids = challenger.pipeline.predict(wheat)
    assert set(new_ids) == {0, 1, 2, 3}
    # Each old cluster's rows go to its own id more than to any other.
    for cluster in range(3):
        landed = np.bincount(new_ids[old_ids == cluster], minlength=4)
        assert landed.argmax() == cluster


def test_fewer_clusters_leave_an_old_id_unused(
    wheat: pd.DataFrame, champion: ClusteringResult
) -> None:
    old_ids = champion.pipeline.predict(wheat)
    challenger = _fit(wheat, 2, seed=0, algorithm="agglomerative")
    match = align_clusters(challenger.pipeline, wheat, old_ids)
    assert len(match.dropped_ids) == 1 and match.new_ids == []
    kept = sorted(set(range(3)) - set(match.dropped_ids))
    model = challenger.pipeline[-1]
    assert model.ids.tolist() == kept
    assert sorted(set(challenger.pipeline.predict(wheat))) == kept
    assert model.transform(challenger.pipeline[:-1].transform(wheat)).shape == (len(wheat), 2)


def test_fresh_ids_skip_the_old_models_unseen_ids() -> None:
    old = np.array([[0.0, 0.0], [10.0, 0.0]])
    new = np.array([[0.1, 0.0], [9.9, 0.0], [0.0, 10.0]])
    # The old model also had cluster 4 (no row fell in it): the third new
    # cluster must not take it.
    mapping = match_clusters(old, new, old_ids=[0, 2], reserved=[0, 2, 4])
    assert mapping == {0: 0, 1: 2, 2: 5}


def test_relabel_refuses_an_incomplete_or_clashing_mapping(champion: ClusteringResult) -> None:
    model = champion.pipeline[-1]
    with pytest.raises(DataError, match="no new id for cluster"):
        model.relabel({0: 1, 1: 0})
    with pytest.raises(DataError, match="distinct"):
        model.relabel({0: 1, 1: 1, 2: 0})
    with pytest.raises(DataError, match="dimensions"):
        match_clusters(np.zeros((2, 3)), np.zeros((2, 4)))


@pytest.mark.parametrize("algorithm", ["gaussian_mixture", "agglomerative", "kmeans"])
def test_a_relabelled_model_serves_its_new_ids(
    wheat: pd.DataFrame, algorithm: str, tmp_path: Path
) -> None:
    frame = wheat.drop(columns="variety")
    schema = infer_schema(frame, task="clustering")
    result = search_clusters(
        frame, schema=schema, algorithms=[algorithm], k_range=(3, 3), seed=0, **FAST
    )
    before = result.pipeline.predict(frame)
    result.pipeline[-1].relabel({0: 5, 1: 2, 2: 7})
    after = result.pipeline.predict(frame)
    assert (after == np.array([5, 2, 7])[before]).all()
    exported = export_serving(result.pipeline, schema, frame)
    summary = exported.summary()
    assert summary["engine"] == "onnx", summary["reason"]
    metadata = {"task": "clustering", "n_clusters": 3, "serving": summary}
    path = save_bundle(tmp_path / "bundle", result.pipeline, schema, metadata, files=exported.files)
    graph, native = load_bundle(path, engine="onnx"), load_bundle(path, engine="native")
    assert graph.classes == native.classes == [2, 5, 7]
    assert (graph.predict(frame) == after).all() and (native.predict(frame) == after).all()
    # The distance (and membership) columns are named by the new ids.
    for model in (graph, native):
        distances = model.cluster_distances(frame)
        assert list(distances.columns) == [2, 5, 7]
        assert (distances.idxmin(axis=1).to_numpy() == after).mean() > 0.9
    if algorithm == "gaussian_mixture":
        for model in (graph, native):
            members = model.predict_proba(frame)
            assert list(members.columns) == [2, 5, 7]
            assert (members.idxmax(axis=1).to_numpy() == after).all()
