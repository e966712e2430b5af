"""The latency gate: a served bundle loaded over HTTP decides latency objectives."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from cairn.evaluation.evaluate import Evaluation, ObjectiveResult
from cairn.serving.gate import apply_gate, latency_gate
from cairn.spec import Objective
from tests.conftest import load_dataset
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


def test_a_run_shows_one_latency_the_served_one(tmp_path: Path) -> None:
    """The figure in the summary, evaluation.json, the bundle, evaluation.html
    and the model card is the one the latency objective was judged on."""
    import cairn
    from cairn.bundle import read_metadata
    from cairn.cli._common import console
    from cairn.cli._run_output import print_result
    from cairn.reporting import fmt_number

    load_dataset("penguins").to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "cairn.toml").write_text(
        '[project]\nname = "penguins"\n[data]\nsources = [{ path = "data.csv" }]\n'
        '[problem]\ntarget = "species"\nobjectives = ["latency_p99_ms < 1000"]\n'
        '[train]\ntime_budget = 6\ninclude = ["linear"]\nmax_trials = 1\n'
        "[serving]\ngate_duration = 1.0\n",
        encoding="utf-8",
    )
    result = cairn.run(tmp_path / "cairn.toml", register=False)
    [objective] = result.evaluation.objectives
    assert objective.how.startswith("HTTP load test") and objective.met
    p99 = result.evaluation.latency_ms["latency_p99_ms"]
    assert p99 == objective.value
    native = result.evaluation.native_latency_ms
    assert set(native) == {f"native_latency_p{q}_ms" for q in (50, 95, 99)}
    stored = json.loads(result.reports["evaluation"].read_text())
    assert stored["latency_ms"]["latency_p99_ms"] == p99
    assert read_metadata(result.bundle_path)["latency_ms"]["latency_p99_ms"] == p99
    page = result.reports["evaluation_report"].read_text(encoding="utf-8")
    assert f"{p99:.1f} ms" in page and "served, one record per HTTP request" in page
    card = result.reports["model_card"].read_text(encoding="utf-8")
    assert fmt_number(p99) in card and "native_latency_p99_ms" in card
    assert "one record per HTTP request" in card
    with console.capture() as captured:
        print_result(result)
    summary = captured.get()
    assert re.search(r"latency_p99_ms \(served\)\W+" + re.escape(f"{p99:.4g}"), summary)
    assert "native_latency_p99_ms (in-process pipeline)" in summary
