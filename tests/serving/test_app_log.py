"""The prediction log behind a real server: it survives any request, keeps
load-test traffic apart, stores inputs in the schema's types and says in
/ready and /metrics when it loses anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from cairn.serving.app import ServingConfig, create_app
from cairn.serving.loadtest import load_test, payloads_from_frame
from cairn.serving.log import export_log, read_log, read_rejected
from cairn.serving.server import run_in_thread
from tests.serving.conftest import held_out, records_of

JSON = {"content-type": "application/json"}


@pytest.fixture
def server(churn: Any, tmp_path: Path) -> Iterator[Any]:
    log = tmp_path / "predictions.db"
    app = create_app(churn.bundle_path, config=ServingConfig(log_path=log))
    with run_in_thread(app) as running:
        running.log = log
        running.service = app.state.service
        yield running


def _flush(server: Any) -> None:
    """Write what is queued (close drains the queue), then start the writer again."""
    server.service.log.close()
    server.service.log.start()


def _body(records: list[dict[str, Any]]) -> bytes:
    # json.dumps escapes a lone surrogate as \ud800, the way such text travels in JSON
    return json.dumps({"records": records}).encode()


def test_a_lone_surrogate_neither_stops_the_log_nor_is_lost(server: Any, churn: Any) -> None:
    records = records_of(churn, 4)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        odd = {**records[0], "Contract": "A\ud800"}
        answer = client.post(
            "/predict", content=_body([odd]), headers={**JSON, "X-Request-ID": "odd"}
        )
        assert answer.status_code == 200, answer.text
        assert any("surrogate" in w["message"] for w in answer.json()["warnings"])
        ids = []
        for i in range(20):
            later = client.post(
                "/predict", json={"records": records}, headers={"X-Request-ID": f"later-{i}"}
            )
            assert later.status_code == 200
            ids.append(later.json()["request_id"])
        named = {**records[0], "\ud800": 1}
        refused = client.post("/predict", content=_body([named]), headers=JSON)
        assert refused.status_code == 422, refused.text
        assert "surrogate" in refused.json()["detail"][0]["msg"]
        split = {"dataframe_split": {"columns": ["\ud800"], "data": [[1]]}}
        mlflow = client.post("/invocations", content=json.dumps(split).encode(), headers=JSON)
        assert (
            mlflow.status_code == 400 and mlflow.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        )
        assert "surrogate" in mlflow.json()["message"]
        ready = client.get("/ready").json()
        assert ready["ready"] is True and ready["log"]["writer"] == "running"
        metrics = client.get("/metrics").text
        assert "cairn_log_writer_up 1.0" in metrics
        assert 'cairn_log_records{state="dropped"} 0.0' in metrics
    _flush(server)
    frame = read_log(server.log)
    assert frame["request_id"].value_counts().to_dict() == {"odd": 1, **dict.fromkeys(ids, 4)}
    assert frame.loc[frame["request_id"] == "odd", "Contract"].tolist() == ["A\\ud800"]
    log = server.service.log
    assert log.failed == 0 and log.dropped == 0 and log.written == 1 + 20 * 4
    assert log.status()["ok"] is True
    assert 422 in set(read_rejected(server.log)["status"])


def test_a_stopped_writer_makes_the_server_unready(server: Any, churn: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        server.service.log.close()  # the writer is gone, as if it had died
        server.service.log._thread = _Dead()
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["log"]["writer"] == "stopped"
        assert "cairn_log_writer_up 0.0" in client.get("/metrics").text
        server.service.log._thread = None
        server.service.log.start()
        assert client.get("/ready").status_code == 200


class _Dead:
    def is_alive(self) -> bool:
        return False

    def join(self, timeout: float | None = None) -> None:
        return None


def test_load_test_traffic_is_logged_as_synthetic(server: Any, churn: Any, tmp_path: Path) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        real = client.post("/predict", json={"records": records_of(churn, 2)})
        marked = client.post(
            "/predict", json={"records": records_of(churn, 3)}, headers={"X-Cairn-Synthetic": "1"}
        )
        synthetic_bad = client.post(
            "/predict", json={"records": [{}]}, headers={"X-Cairn-Synthetic": "1"}
        )
        assert real.status_code == marked.status_code == 200 and synthetic_bad.status_code == 422
    payloads = payloads_from_frame(held_out(churn), rows_per_request=2, count=20)
    loaded = load_test(f"{server.url}/predict", payloads, duration=0.5, warmup=0.0, max_requests=15)
    assert loaded.errors == 0 and loaded.requests > 0
    _flush(server)
    frame = read_log(server.log)
    assert frame["request_id"].tolist() == [real.json()["request_id"]] * 2
    everything = read_log(server.log, include_synthetic=True)
    assert len(everything) == 2 + 3 + 2 * loaded.requests
    assert everything["synthetic"].sum() == 3 + 2 * loaded.requests
    assert export_log(server.log, tmp_path / "out.parquet") == 2
    assert read_rejected(server.log).empty
    assert len(read_rejected(server.log, include_synthetic=True)) == 1


def test_inputs_are_logged_in_the_schema_types(server: Any, churn: Any, tmp_path: Path) -> None:
    schema = churn.model.schema
    assert schema["SeniorCitizen"].dtype == "int" and schema["tenure"].dtype == "int"
    records = records_of(churn, 6)
    for k, record in enumerate(records):
        record["SeniorCitizen"] = k % 2
    records[0]["SeniorCitizen"] = True  # JSON true for a 0/1 column
    records[1]["tenure"] = "12"  # a number as text
    records[2]["MonthlyCharges"] = 70  # an integer in a float column
    with httpx.Client(base_url=server.url, timeout=30) as client:
        answer = client.post("/predict", json={"records": records})
        assert answer.status_code == 200, answer.text
        warnings = answer.json()["warnings"]
        flagged = [w for w in warnings if "boolean read as a number" in w["message"]]
        assert [(w["record"], w["column"]) for w in flagged] == [(0, "SeniorCitizen")]
        plain = client.post("/predict", json={"records": records[1:]})
        assert not any("boolean" in w["message"] for w in plain.json().get("warnings", []))
    _flush(server)
    frame = read_log(server.log)
    assert frame["SeniorCitizen"].tolist()[:6] == [1, 1, 0, 1, 0, 1]
    assert str(frame["SeniorCitizen"].dtype) == "int64"
    assert str(frame["tenure"].dtype) == "int64" and frame["tenure"].iloc[1] == 12
    assert str(frame["MonthlyCharges"].dtype) == "float64"
    export_log(server.log, tmp_path / "out.parquet")
    exported = pd.read_parquet(tmp_path / "out.parquet")
    assert str(exported["tenure"].dtype) == "int64"
    assert str(exported["SeniorCitizen"].dtype) == "int64"
