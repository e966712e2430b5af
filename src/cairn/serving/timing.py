"""The serving engine's own time, measured in process: what one ``/predict``
request costs a loaded model besides the HTTP transport.

:func:`measure_served` sends held-out records one per call through
:meth:`ServedModel.predict` (the call the server makes per request), then
one batch, and summarises the single-record times with
:func:`cairn.serving.loadtest.latency_summary`, the same percentiles the
load test and the serving gate report. ``cairn run`` uses it to compare
every candidate on the engine it would be served with; the serving gate
then measures the packaged model over HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cairn.serving.loadtest import latency_summary

__all__ = ["EngineTiming", "measure_served"]

# Single-record calls: at most this many, and at least this many before the
# time cap may stop the measurement.
MAX_CALLS = 300
MIN_CALLS = 20


@dataclass(frozen=True)
class EngineTiming:
    """Single-record latency and batch throughput of one served model.

    Attributes:
        latency_ms: p50, p95, p99, max and mean of the single-record calls.
        calls: single-record calls measured (after two warm-up calls).
        throughput_rows_s: rows per second scoring ``batch_rows`` records in
            one call.
    """

    latency_ms: dict[str, float]
    calls: int
    throughput_rows_s: float
    batch_rows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_served(
    served: Any,
    records: Sequence[dict[str, Any]],
    *,
    max_calls: int = MAX_CALLS,
    max_seconds: float = 1.0,
    batch_rows: int = 1000,
) -> EngineTiming:
    """Time ``served.predict`` on one record per call, then on a batch.

    Stops after ``max_calls`` calls; past ``max_seconds``, as soon as
    ``MIN_CALLS`` calls were timed; past twice ``max_seconds``, as soon as
    three were (a slow model is not timed for long). The batch repeats the
    records up to ``batch_rows``, fewer (at least 10) when one-record calls
    say a batch that size would take longer than ``max_seconds``.
    """
    if not records:
        raise ValueError("no records to time the model on")
    served.predict([records[0]])
    served.predict([records[-1]])
    timings: list[float] = []
    stop = time.perf_counter() + max_seconds
    while len(timings) < max_calls:
        record = records[len(timings) % len(records)]
        started = time.perf_counter()
        served.predict([record])
        ended = time.perf_counter()
        timings.append(ended - started)
        enough = len(timings) >= MIN_CALLS or (len(timings) >= 3 and ended > stop + max_seconds)
        if ended > stop and enough:
            break
    # A slow model's batch is cut to what one-record calls say fits in
    # max_seconds (a batch costs less per row than single calls: an upper bound).
    fitting = int(max_seconds / max(sum(timings) / len(timings), 1e-9))
    batch_rows = max(1, min(batch_rows, max(10, fitting)))
    batch = [records[i % len(records)] for i in range(batch_rows)]
    started = time.perf_counter()
    served.predict(batch)
    seconds = max(time.perf_counter() - started, 1e-9)
    return EngineTiming(latency_summary(timings), len(timings), batch_rows / seconds, batch_rows)
