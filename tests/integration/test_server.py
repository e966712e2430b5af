"""From ``cairn run`` to a served champion: the latency gate decides the alias,
``cairn serve models:/NAME@champion`` serves it in its own process, and a
clean stop leaves every answered record in the prediction log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import cairn
from cairn.serving.loadtest import load_test, payloads_from_frame, payloads_from_metadata
from cairn.serving.log import read_log
from cairn.serving.server import start_process, stop_process
from tests.conftest import MakeProject, load_dataset

pytestmark = pytest.mark.slow


def _project(make_project: MakeProject, objective: str, folder: Path) -> Path:
    return make_project(
        load_dataset("telco_churn", rows=1500, seed=2),
        name="churn-served",
        problem={"target": "Churn", "objectives": ["roc_auc >= 0.6", objective]},
        train={"time_budget": 8, "include": ["lightgbm"], "max_trials": 2, "ensemble": "none"},
        data={"id_columns": ["customerID"]},
        folder=folder,
    )


def test_gate_promotes_and_the_champion_serves_and_logs(
    make_project: MakeProject, tmp_path: Path
) -> None:
    spec = _project(make_project, "latency_p99_ms < 500", tmp_path / "ok")
    result = cairn.run(spec)
    assert result.alias == "champion"
    metadata = json.loads((result.bundle_path / "metadata.json").read_text())
    gate = metadata["serving_gate"]
    assert gate["passed"] and gate["measured"]["requests"] > 100 and gate["measured"]["errors"] == 0
    latency = next(o for o in result.evaluation.objectives if o.quantity == "latency_p99_ms")
    assert latency.how.startswith("HTTP load test") and latency.met
    assert latency.value == pytest.approx(gate["measured"]["latency_p99_ms"])
    assert metadata["serving"]["engine"] == "onnx"

    project = spec.parent
    server = start_process("models:/churn-served@champion", cwd=project)
    try:
        with httpx.Client(base_url=server.url) as client:
            meta = client.get("/metadata").json()
            assert meta["version"] == "1" and meta["engine"]["name"] == "onnx"
            record = load_dataset("telco_churn", rows=3, seed=9).drop(columns=["Churn"])
            from cairn.records import to_records

            answer = client.post("/predict", json={"records": to_records(record)})
            assert answer.status_code == 200 and len(answer.json()["predictions"]) == 3
            # a lone surrogate is scored and logged escaped; the log goes on for later requests
            odd = {**to_records(record)[0], "Contract": "A\ud800"}
            scored = client.post(
                "/predict",
                content=json.dumps({"records": [odd]}).encode(),
                headers={"content-type": "application/json"},
            )
            assert scored.status_code == 200, scored.text
        frame = load_dataset("telco_churn", rows=300, seed=4).drop(columns=["Churn"])
        payloads = payloads_from_frame(frame, rows_per_request=2, count=200)
        loaded = load_test(
            f"{server.url}/predict", payloads, concurrency=4, duration=1.5, warmup=0.0
        )
        assert loaded.errors == 0
        # rows drawn from /metadata look nothing like real traffic: they must not reach monitoring
        drawn = payloads_from_metadata(f"{server.url}/predict", count=50)
        synthetic = load_test(f"{server.url}/predict", drawn, duration=0.5, warmup=0.0)
        assert synthetic.errors == 0
        with httpx.Client(base_url=server.url, timeout=60) as client:
            after = client.post("/predict", json={"records": to_records(record)})
            assert after.status_code == 200
            real = client.post("/predict", json={"records": to_records(frame)})
            assert real.status_code == 200
            ready = client.get("/ready").json()
            assert ready["log"]["writer"] == "running" and ready["log"]["failed"] == 0
    finally:
        code = stop_process(server)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it for the parent to see
    assert code in (0, -15)
    log_file = project / ".cairn" / "predictions.db"
    everything = read_log(log_file, include_synthetic=True)
    real_rows = 3 + 1 + 3 + len(frame)
    load_rows = 2 * loaded.requests + synthetic.requests
    assert len(everything) == real_rows + load_rows  # count in = count logged
    assert everything["synthetic"].sum() == load_rows  # the load tests' rows
    logged = read_log(log_file)  # real traffic only
    assert len(logged) == real_rows
    assert "A\\ud800" in set(logged["Contract"])
    assert logged["version"].eq("1").all() and logged["arm"].eq("champion").all()
    monitored = subprocess.run(
        [sys.executable, "-m", "cairn", "monitor", "--log", "--json", "monitor.json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert monitored.returncode in (0, 2), monitored.stderr
    drift = json.loads((project / "monitor.json").read_text())["drift"]
    assert drift["n_current"] == real_rows
    assert len(drift["drifted_features"]) <= 2, drift["drifted_features"]


def test_a_missed_latency_objective_keeps_the_champion_alias_free(
    make_project: MakeProject, tmp_path: Path
) -> None:
    spec = _project(make_project, "latency_p99_ms < 0.0001", tmp_path / "slow")
    result = cairn.run(spec)
    assert result.model_uri is not None and result.alias is None
    latency = next(o for o in result.evaluation.objectives if o.quantity == "latency_p99_ms")
    assert latency.met is False and latency.how.startswith("HTTP load test")
    evaluation: dict[str, Any] = json.loads(result.reports["evaluation"].read_text())
    assert evaluation["objectives_met"] is False
