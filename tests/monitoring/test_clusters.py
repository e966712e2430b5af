"""Monitoring a clustering on wheat seeds: the reference keeps the training
cluster shares and silhouette; a batch whose rows spread differently over
the clusters is flagged with the clusters that grew and shrank, a noisy
batch with a silhouette drop, and a plain resample with neither."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import silhouette_score
from typer.testing import CliRunner

from cairn.bundle import Model, load_bundle, save_bundle
from cairn.cli import app
from cairn.data.schema import infer_schema
from cairn.models.clustering import search_clusters
from cairn.monitoring import check, cluster_check, load_reference, log_frames
from cairn.monitoring.monitor import LOG_COLUMNS
from cairn.monitoring.reference import REFERENCE_FILE, ReferenceProfile
from cairn.serving.log import LogEntry, PredictionLog, read_log
from cairn.spec import MaintenanceSection
from cairn.workflow._outputs import cluster_reference_profile
from tests.conftest import load_dataset


@dataclass
class Segmented:
    frame: pd.DataFrame  # the training rows (features only)
    ids: np.ndarray  # their cluster ids
    matrix: np.ndarray  # the rows in the prepared space
    model: Model
    bundle: Path
    reference: ReferenceProfile


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory) -> Segmented:
    frame = load_dataset("wheat_seeds").drop(columns="variety")
    result = search_clusters(
        frame, algorithms=["kmeans"], k_range=(3, 3), time_budget=10, n_resamples=5
    )
    schema = infer_schema(frame, task="clustering")
    reference = cluster_reference_profile(result.pipeline, schema, frame, result.labels, seed=0)
    folder = tmp_path_factory.mktemp("segments") / "bundle"
    metadata = {"name": "wheat-segments", "task": "clustering", "metric": "silhouette"}
    save_bundle(
        folder,
        result.pipeline,
        schema,
        metadata,
        files={REFERENCE_FILE: reference.to_json().encode("utf-8")},
    )
    return Segmented(
        frame=frame,
        ids=result.labels,
        matrix=np.asarray(result.pipeline[:-1].transform(frame)),
        model=load_bundle(folder, engine="native"),
        bundle=folder,
        reference=reference,
    )


def _moved(segmented: Segmented, *, grows: int, shrinks: int, seed: int = 0) -> pd.DataFrame:
    """The training rows with most of cluster ``shrinks`` replaced by
    duplicates of cluster ``grows``: the other clusters keep their share."""
    rng = np.random.default_rng(seed)
    ids = segmented.ids
    shrinking = np.flatnonzero(ids == shrinks)
    kept = rng.choice(shrinking, size=len(shrinking) // 4, replace=False)
    extra = rng.choice(np.flatnonzero(ids == grows), size=len(shrinking) - len(kept))
    rows = np.concatenate([np.flatnonzero(ids != shrinks), kept, extra])
    return segmented.frame.iloc[rows].reset_index(drop=True)


def test_the_reference_keeps_cluster_shares_and_silhouette(segmented: Segmented) -> None:
    clusters = segmented.reference.clusters
    assert clusters is not None
    assert clusters.ids == (0, 1, 2)
    assert list(clusters.counts) == np.bincount(segmented.ids).tolist()
    assert clusters.silhouette == pytest.approx(silhouette_score(segmented.matrix, segmented.ids))
    assert clusters.silhouette_rows == len(segmented.frame)
    prediction = segmented.reference.outputs[0]
    assert prediction.name == "prediction" and prediction.kind == "categorical"
    # What the bundle holds reads back the same.
    stored = load_reference(segmented.bundle)
    assert stored.clusters == clusters
    assert stored.importance == pytest.approx(segmented.reference.importance)
    assert "cluster changes" in stored.importance_method


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_unshifted_resample_is_not_flagged(segmented: Segmented, seed: int) -> None:
    batch = segmented.frame.sample(frac=1.0, replace=True, random_state=seed)
    report = check(batch.reset_index(drop=True), segmented.model)
    assert report.clusters is not None
    assert not report.clusters.shares_drifted, report.clusters.summary()
    assert report.clusters.grew == [] and report.clusters.shrank == []
    assert not report.clusters.quality_dropped, report.clusters.summary()
    statuses = {c.name: c.status for c in report.checks}
    assert statuses["cluster_shares"] == "pass"
    assert statuses["cluster_quality"] == "pass"


@pytest.mark.parametrize(("grows", "shrinks"), [(2, 0), (0, 1)])
def test_a_batch_whose_clusters_moved_names_them(
    segmented: Segmented, grows: int, shrinks: int
) -> None:
    report = check(_moved(segmented, grows=grows, shrinks=shrinks), segmented.model)
    clusters = report.clusters
    assert clusters is not None
    assert clusters.shares_drifted and clusters.p_value is not None and clusters.p_value < 0.05
    assert clusters.grew == [grows]
    assert clusters.shrank == [shrinks]
    finding = next(f for f in clusters.findings if f.kind == "cluster_shares")
    assert f"cluster {grows} grew" in finding.message
    assert f"cluster {shrinks} shrank" in finding.message
    # A clustering's share drift makes it unhealthy by default.
    assert not report.healthy
    assert "cluster_shares" in report.summary()
    assert f"cluster {grows} grew, cluster {shrinks} shrank" in report.summary()


def test_moved_clusters_or_a_silhouette_drop_make_retraining_due(segmented: Segmented) -> None:
    policy = MaintenanceSection()
    moved = check(_moved(segmented, grows=2, shrinks=0), segmented.model, maintenance=policy)
    assert moved.retrain is not None and "clusters" in moved.retrain.triggers
    assert any("cluster 2 grew" in reason for reason in moved.retrain.reasons)
    rng = np.random.default_rng(0)
    frame = segmented.frame
    noisy = frame + rng.normal(0.0, 1.0, frame.shape) * frame.std().to_numpy()
    blurred = check(noisy, segmented.model, maintenance=policy)
    assert blurred.retrain is not None and "clusters" in blurred.retrain.triggers
    same = check(frame, segmented.model, maintenance=policy)
    assert same.retrain is not None and not same.retrain.due


def test_served_ids_are_tested_when_given(segmented: Segmented) -> None:
    batch = segmented.frame
    served = pd.DataFrame({"prediction": np.where(segmented.ids == 1, 7, segmented.ids)})
    report = check(batch, segmented.model, outputs=served)
    clusters = report.clusters
    assert clusters is not None
    assert clusters.unknown_rows == int((segmented.ids == 1).sum())
    assert clusters.shrank == [1]
    assert any(f.kind == "unknown_clusters" for f in clusters.findings)
    # The silhouette is the model's own assignment, which has not changed.
    assert clusters.silhouette_current == pytest.approx(clusters.silhouette_reference)


def test_labels_are_not_scored_for_a_clustering(segmented: Segmented) -> None:
    truth = load_dataset("wheat_seeds")["variety"]
    report = check(segmented.frame, segmented.model, labels=truth)
    assert report.performance is None
    assert any("labels are not used for a clustering" in note for note in report.notes)
    assert report.clusters is not None and not report.clusters.shares_drifted


def test_the_served_ids_of_a_prediction_log_are_tested(
    segmented: Segmented, tmp_path: Path
) -> None:
    batch = _moved(segmented, grows=2, shrinks=0)
    served = segmented.model.predict(batch)
    log = PredictionLog(tmp_path / "predictions.db").start()
    log.write(
        LogEntry(
            request_id="r1",
            ts=time.time(),
            model="wheat-segments",
            version="1",
            arm="champion",
            records=json.loads(batch.to_json(orient="records")),
            labels=[int(i) for i in served],
            probabilities=None,
            classes=[],
            latency_ms=1.0,
        )
    )
    log.close()
    inputs, outputs = log_frames(read_log(tmp_path / "predictions.db"), segmented.model.schema)
    report = check(inputs, segmented.model, outputs=outputs, expected_extra=LOG_COLUMNS)
    clusters = report.clusters
    assert clusters is not None and clusters.n_current == len(batch)
    assert clusters.grew == [2] and clusters.shrank == [0]


def test_noise_drops_the_silhouette_and_is_flagged(segmented: Segmented) -> None:
    rng = np.random.default_rng(0)
    frame = segmented.frame
    noisy = frame + rng.normal(0.0, 1.0, frame.shape) * frame.std().to_numpy()
    report = check(noisy, segmented.model)
    clusters = report.clusters
    assert clusters is not None
    drop = clusters.silhouette_drop
    assert drop is not None and drop > 0.1
    assert clusters.quality_dropped
    assert clusters.silhouette_p is not None and clusters.silhouette_p < 0.05
    assert {c.name: c.status for c in report.checks}["cluster_quality"] == "warn"
    assert any(f.kind == "cluster_quality" for f in clusters.findings)


def test_a_small_silhouette_fall_is_not_flagged(segmented: Segmented) -> None:
    reference = segmented.reference.clusters
    assert reference is not None
    rng = np.random.default_rng(0)
    slightly = segmented.matrix + rng.normal(0.0, 0.05, segmented.matrix.shape)
    report = cluster_check(reference, segmented.ids, matrix=slightly)
    drop = report.silhouette_drop
    assert drop is not None and 0 < drop < 0.1
    assert not report.quality_dropped


def test_cairn_monitor_reports_the_clusters(
    segmented: Segmented, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _moved(segmented, grows=2, shrinks=0).to_csv("batch.csv", index=False)
    done = CliRunner().invoke(
        app,
        ["monitor", "batch.csv", "--model", str(segmented.bundle), "-o", "report.html",
         "--json", "out.json"],
    )  # fmt: skip
    assert done.exit_code == 2, done.output
    assert "cluster 2 grew, cluster 0 shrank" in done.output
    result = json.loads(Path("out.json").read_text())
    assert result["clusters"]["grew"] == [2]
    assert result["clusters"]["shrank"] == [0]
    assert {c["name"]: c["status"] for c in result["checks"]}["cluster_shares"] == "fail"
    page = Path("report.html").read_text()
    assert "Rows per cluster" in page and "silhouette training" in page


def test_a_clustering_run_is_monitored_from_its_bundle(
    clustering_run: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = clustering_run("mall_customers")
    clusters = load_reference(run_dir / "bundle").clusters
    assert clusters is not None and clusters.silhouette is not None
    assignments = pd.read_parquet(run_dir / "assignments.parquet")
    ids = assignments.pop("__cluster").to_numpy()
    assert list(clusters.counts) == [int((ids == i).sum()) for i in clusters.ids]
    raw = load_dataset("mall_customers")
    monkeypatch.chdir(tmp_path)
    # The largest cluster's customers come three times as often; the rest as before.
    largest = int(np.argmax(clusters.counts))
    batch = pd.concat([raw, raw[ids == largest], raw[ids == largest]], ignore_index=True)
    batch.to_csv("batch.csv", index=False)
    done = CliRunner().invoke(
        app, ["monitor", "batch.csv", "--model", str(run_dir / "bundle"), "--json", "out.json"]
    )
    assert done.exit_code == 2, done.output
    result = json.loads(Path("out.json").read_text())
    assert result["clusters"]["grew"] == [largest]
    assert largest not in result["clusters"]["shrank"]
    # The unshifted rows are healthy.
    raw.to_csv("same.csv", index=False)
    done = CliRunner().invoke(app, ["monitor", "same.csv", "--model", str(run_dir / "bundle")])
    assert done.exit_code == 0, done.output
    assert "cluster shares stable" in done.output
