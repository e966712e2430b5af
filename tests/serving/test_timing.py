"""The engine's own time per record: the stop rule, and the same summary
as the load test."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from cairn.serving import load_served_model, measure_served
from cairn.serving.loadtest import latency_summary
from tests.serving.conftest import records_of


class _Sleeper:
    """A served model whose every call takes ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.batches: list[int] = []

    def predict(self, records: list[dict[str, Any]]) -> None:
        self.batches.append(len(records))
        time.sleep(self.seconds)


def test_calls_are_capped_and_a_slow_model_stops_early() -> None:
    fast = _Sleeper(0.0)
    timing = measure_served(fast, [{"x": 1}, {"x": 2}], max_calls=50, batch_rows=10)
    assert timing.calls == 50
    # two warm-up calls, the timed single records, then one batch
    assert fast.batches == [1] * 52 + [10]
    # past the time cap it stops once 20 calls are in ...
    steady = _Sleeper(0.004)
    timing = measure_served(steady, [{"x": 1}], max_calls=300, max_seconds=0.05, batch_rows=5)
    assert 3 <= timing.calls <= 20
    # ... and at twice the cap once three are, however few that is
    slow = _Sleeper(0.05)
    started = time.monotonic()
    timing = measure_served(slow, [{"x": 1}], max_calls=300, max_seconds=0.1, batch_rows=5)
    assert 3 <= timing.calls <= 6
    assert time.monotonic() - started < 2.0
    assert timing.latency_ms["p50"] >= 50.0
    assert timing.throughput_rows_s <= 5 / 0.05


def test_summary_is_the_load_tests() -> None:
    seconds = np.linspace(0.001, 0.1, 100)
    summary = latency_summary(seconds)
    assert summary["p99"] == pytest.approx(float(np.percentile(seconds * 1000, 99)))
    assert summary["mean"] == pytest.approx(50.5)
    assert np.isnan(latency_summary([])["p50"])
    with pytest.raises(ValueError, match="no records"):
        measure_served(_Sleeper(0.0), [])


def test_a_real_bundle_on_its_engine(churn: Any) -> None:
    served = load_served_model(churn.bundle_path)
    timing = measure_served(served, records_of(churn, 50), max_calls=40, batch_rows=200)
    assert timing.calls == 40
    assert 0 < timing.latency_ms["p50"] <= timing.latency_ms["p99"] <= timing.latency_ms["max"]
    assert timing.throughput_rows_s > 0
