"""One monitoring check of a trained model: the reference from its bundle,
its outputs, labels, health and retraining advice, and the JSON result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.bundle import Model
from cairn.exceptions import BundleError
from cairn.monitoring import load_reference
from cairn.monitoring.monitor import check, log_frames, model_outputs
from cairn.spec import MaintenanceSection, MonitoringSection
from tests.monitoring.conftest import Trained

FAST = MonitoringSection(bootstrap=30)


def test_bundle_carries_a_reference_profile(trained: Trained) -> None:
    profile = load_reference(trained.bundle)
    schema = trained.model.schema
    assert profile.names == schema.feature_names
    assert profile.n_rows == trained.model.metadata["rows"]["train"]
    assert sum(profile.importance.values()) == pytest.approx(1.0)
    assert "sensitivity" in profile.importance_method
    assert [o.name for o in profile.outputs] == ["prediction", "proba_>50K"]


def test_similar_rows_are_healthy(trained: Trained) -> None:
    batch = trained.young.drop(columns="class")
    report = check(
        batch, trained.model, labels=trained.young["class"], source="young", settings=FAST
    )
    assert report.healthy, report.summary()
    assert report.drift is not None and not report.drift.dataset_drift
    assert not report.drift.prediction_drift
    assert report.performance is not None
    assert report.performance.n == len(batch)
    assert report.performance.objectives_met  # roc_auc >= 0.8, from the bundle
    assert (
        report.performance.test_metrics["roc_auc"] == trained.model.metadata["metrics"]["roc_auc"]
    )
    # The bundle keeps the test-set intervals; weighed with them, nothing degraded.
    intervals = trained.model.metadata["metric_intervals"]
    low, high = intervals["roc_auc"]
    assert low < trained.model.metadata["metrics"]["roc_auc"] < high
    assert report.performance.degraded == []
    gap = report.performance.gaps["roc_auc"]
    assert (gap.test.low, gap.test.high) == (low, high)
    assert gap.basis.startswith("bootstrap intervals of both figures")
    assert {c.name: c.status for c in report.checks}["degradation"] == "pass"
    assert report.verdict == "healthy" and report.summary() == "healthy"


def test_shifted_population_is_unhealthy_and_due_for_retraining(trained: Trained) -> None:
    report = check(
        trained.old.drop(columns="class"),
        trained.model,
        labels=trained.old["class"],
        maintenance=MaintenanceSection(),
        settings=FAST,
    )
    assert not report.healthy
    failed = {c.name for c in report.failed if c.counts}
    assert {"drift", "prediction_drift"} <= failed
    assert report.drift is not None and report.drift.features[0].name == "age"
    assert report.retrain is not None and report.retrain.due and "drift" in report.retrain.triggers
    assert "UNHEALTHY" in report.summary()
    assert report.verdict == "unhealthy"
    assert report.performance is not None and report.performance.degraded
    assert {c.name: c.status for c in report.checks}["degradation"] == "warn"


def test_a_missing_input_is_reported_not_raised(trained: Trained) -> None:
    batch = trained.young.drop(columns=["class", "education_num"])
    report = check(batch, trained.model)
    assert not report.healthy
    assert any("could not score" in note for note in report.notes)
    assert {c.name for c in report.failed} >= {"schema"}


def test_logged_outputs_are_used_as_given(trained: Trained) -> None:
    batch = trained.young.drop(columns="class").iloc[:300]
    served = model_outputs(trained.model, batch)
    log = pd.concat([batch.reset_index(drop=True), served.reset_index(drop=True)], axis=1).assign(
        request_id=[f"r{i}" for i in range(300)], row=0, ts=pd.Timestamp.now(tz="UTC")
    )
    inputs, outputs = log_frames(log, trained.model.schema)
    assert list(outputs.columns) == ["prediction", "proba_<=50K", "proba_>50K"]
    np.testing.assert_allclose(outputs["proba_>50K"], served["proba_>50K"])
    # The served outputs are what performance is measured on.
    flipped = outputs.copy()
    flipped["proba_>50K"], flipped["proba_<=50K"] = outputs["proba_<=50K"], outputs["proba_>50K"]
    labels = trained.young["class"].iloc[:300]
    honest = check(inputs, trained.model, outputs=outputs, labels=labels, settings=FAST)
    broken = check(inputs, trained.model, outputs=flipped, labels=labels, settings=FAST)
    assert honest.performance is not None and broken.performance is not None
    assert honest.performance.score == pytest.approx(1 - broken.performance.score)


def test_json_result_is_plain_json(trained: Trained, tmp_path: Path) -> None:
    report = check(trained.old.drop(columns="class").iloc[:500], trained.model)
    path = report.write_json(tmp_path / "out" / "result.json")
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert data["healthy"] is False
    assert data["model"]["task"] == "classification"
    assert data["drift"]["dataset_drift"] is True
    assert {c["name"] for c in data["checks"]} >= {"drift", "schema", "prediction_drift"}
    assert not list(path.parent.glob(".*tmp"))


def test_model_without_bundle_needs_a_reference(trained: Trained) -> None:
    bare = Model(trained.model.pipeline, trained.model.schema, trained.model.metadata, path=None)
    with pytest.raises(BundleError, match="no reference profile"):
        check(trained.young.drop(columns="class"), bare)
    report = check(
        trained.young.drop(columns="class"), bare, reference=load_reference(trained.bundle)
    )
    assert report.healthy
