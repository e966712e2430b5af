"""The load generator against a real server: counts, rates, errors, objectives."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from cairn.exceptions import ServingError
from cairn.serving.app import create_app
from cairn.serving.loadtest import (
    body_format_for,
    check_latency,
    endpoint_url,
    load_test,
    payloads_from_frame,
    payloads_from_metadata,
)
from cairn.serving.server import run_in_thread
from cairn.spec import Objective
from tests.serving.conftest import held_out


@pytest.fixture(scope="module")
def url(churn: Any) -> Iterator[str]:
    with run_in_thread(create_app(churn.bundle_path)) as running:
        yield running.url


def test_closed_loop_counts_every_answer(url: str, churn: Any) -> None:
    payloads = payloads_from_frame(held_out(churn), count=100)
    result = load_test(f"{url}/predict", payloads, concurrency=2, duration=1.0, warmup=0.2)
    assert result.requests > 50 and result.errors == 0
    assert result.statuses == {200: result.requests}
    lat = result.latency_ms
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert result.throughput_rps == pytest.approx(result.requests / result.duration_s, rel=0.01)
    assert "req/s" in result.summary()


def test_open_loop_keeps_the_rate_and_the_request_cap(url: str, churn: Any) -> None:
    payloads = payloads_from_frame(held_out(churn), count=20)
    paced = load_test(f"{url}/predict", payloads, rps=100, duration=1.0, warmup=0.0)
    assert 80 <= paced.requests <= 101
    capped = load_test(f"{url}/predict", payloads, duration=5.0, warmup=0.0, max_requests=30)
    assert capped.requests == 30


def test_errors_are_counted(url: str) -> None:
    bad = [json.dumps({"records": [{"tenure": "x"}]}).encode()]
    result = load_test(f"{url}/predict", bad, duration=0.5, warmup=0.0, max_requests=20)
    assert result.errors == result.requests == 20
    assert result.statuses == {422: 20}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    refused = load_test(
        f"http://127.0.0.1:{closed}/predict",
        bad,
        duration=0.3,
        warmup=0.0,
        max_requests=5,
        timeout=1.0,
    )
    assert refused.statuses == {0: 5}


def test_payloads_from_metadata_are_accepted(url: str) -> None:
    payloads = payloads_from_metadata(f"{url}/predict", count=30, rows_per_request=3)
    result = load_test(f"{url}/predict", payloads, duration=0.5, warmup=0.0, max_requests=30)
    assert result.errors == 0, result.statuses
    split = payloads_from_metadata(f"{url}/invocations", count=5, body_format="dataframe_split")
    assert load_test(f"{url}/invocations", split, duration=0.3, warmup=0.0).errors == 0


def test_objectives_are_checked() -> None:
    from cairn.serving.loadtest import LoadTestResult

    result = LoadTestResult(
        "u", 1, 1.0, 100, 0, 100.0, {"p50": 1.0, "p95": 2.0, "p99": 2.5, "max": 3, "mean": 1}
    )
    checks = check_latency(
        result,
        [
            Objective.parse("latency_p99_ms < 3"),
            Objective.parse("latency_p50_ms < 0.5"),
            Objective.parse("rmse < 3"),
        ],
    )
    assert [(c["quantity"], c["met"]) for c in checks] == [
        ("latency_p99_ms", True),
        ("latency_p50_ms", False),
    ]
    result.errors = 1
    assert not check_latency(result, [Objective.parse("latency_p99_ms < 3")])[0]["met"]


def test_bad_arguments() -> None:
    assert body_format_for("http://h/invocations") == "dataframe_records"
    assert body_format_for("http://h/predict") == "records"
    with pytest.raises(ServingError):
        load_test("ftp://h/predict", [b"{}"], duration=0.1)
    with pytest.raises(ServingError):
        load_test("http://127.0.0.1:1/predict", [], duration=0.1)
    with pytest.raises(ServingError):
        load_test("http://127.0.0.1:1/predict", [b"{}"], concurrency=0)
    with pytest.raises(ServingError, match="cannot read"):
        payloads_from_metadata("http://127.0.0.1:1/predict")


def test_addresses_without_a_scheme_or_path() -> None:
    assert endpoint_url("localhost:8199") == "http://localhost:8199/predict"
    assert endpoint_url("localhost:8199/invocations") == "http://localhost:8199/invocations"
    assert endpoint_url("https://h:1/") == "https://h:1/predict"
    assert endpoint_url("http://h/predict") == "http://h/predict"
    with pytest.raises(ServingError, match=r"http:// or https://"):
        endpoint_url("ftp://h/predict")
    with pytest.raises(ServingError, match="no host"):
        endpoint_url("http:///predict")
