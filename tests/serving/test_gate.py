"""The latency gate: a served bundle loaded over HTTP decides latency objectives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from cairn.evaluation.evaluate import Evaluation, ObjectiveResult
from cairn.serving.gate import apply_gate, latency_gate
from cairn.spec import Objective
from tests.serving.conftest import held_out


def test_gate_measures_over_http_and_records_the_verdict(churn: Any, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(churn.bundle_path, bundle)
    objectives = [Objective.parse("latency_p99_ms < 1000"), Objective.parse("roc_auc > 0.5")]
    gate = latency_gate(bundle, objectives, held_out(churn), duration=0.5)
    assert gate.passed and gate.error is None
    assert gate.measured["requests"] > 20 and gate.measured["errors"] == 0
    assert [c["quantity"] for c in gate.objectives] == ["latency_p99_ms"]
    evaluation = Evaluation(
        task="classification",
        metric="roc_auc",
        metrics={"roc_auc": 0.8},
        latency_ms={},
        objectives=[
            ObjectiveResult("latency_p99_ms < 1000", "latency_p99_ms", 0.1, True, "in-process"),
            ObjectiveResult("roc_auc > 0.5", "roc_auc", 0.8, True, "held-out test set"),
        ],
    )
    apply_gate(evaluation, gate, bundle)
    latency = evaluation.objectives[0]
    assert (
        latency.how.startswith("HTTP load test")
        and latency.value == gate.measured["latency_p99_ms"]
    )
    assert evaluation.objectives[1].how == "held-out test set"
    stored = json.loads((bundle / "metadata.json").read_text())
    assert stored["serving_gate"]["passed"] is True
    assert stored["objectives"][0]["how"].startswith("HTTP load test")


def test_a_gate_that_cannot_measure_fails_closed(churn: Any) -> None:
    objectives = [Objective.parse("latency_p50_ms < 1000")]
    gate = latency_gate(churn.bundle_path, objectives, held_out(churn).head(0), duration=0.5)
    assert not gate.passed and gate.error is not None
    assert gate.objectives[0]["met"] is False
    assert latency_gate(churn.bundle_path, [], held_out(churn)).passed
