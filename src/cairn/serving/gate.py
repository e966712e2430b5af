"""The latency gate of ``cairn run``: serve the new bundle on a loopback port,
load it for a few seconds with held-out rows, and check the spec's latency
objectives against what a client measured over HTTP. A model that misses
them does not take the ``champion`` alias."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cairn.exceptions import ServingError

__all__ = ["LATENCY_QUANTITIES", "GateResult", "latency_gate"]

LATENCY_QUANTITIES = frozenset({"latency_p50_ms", "latency_p95_ms", "latency_p99_ms"})


@dataclass
class GateResult:
    """What the gate measured and decided.

    Attributes:
        passed: every latency objective met with no failed request.
        measured: latency_p50_ms, latency_p95_ms, latency_p99_ms,
            throughput_rps, requests, errors (empty when the server failed).
        objectives: one dict per latency objective (objective, quantity,
            value, met, how), as in the evaluation's objectives.
        error: why the gate could not measure, if it could not.
    """

    passed: bool
    measured: dict[str, float] = field(default_factory=dict)
    objectives: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def latency_gate(
    bundle: str | Path,
    objectives: Sequence[Any],
    rows: Any,
    *,
    duration: float = 3.0,
    concurrency: int = 1,
    start_timeout: float = 90.0,
) -> GateResult:
    """Check latency objectives against the bundle served over HTTP.

    Args:
        bundle: the bundle folder to serve.
        objectives: the spec's objectives (only latency ones are checked).
        rows: held-out rows (a DataFrame of inputs) to send, one per request.
        duration: seconds measured (after half a second of warm-up).
        concurrency: connections kept busy.
    """
    from cairn.serving.loadtest import check_latency, load_test, payloads_from_frame
    from cairn.serving.server import start_process, stop_process

    started = time.monotonic()
    wanted = [o for o in objectives if o.quantity in LATENCY_QUANTITIES]
    if not wanted:
        return GateResult(True)
    # the child must not require a key the load test does not send
    env = {k: v for k, v in os.environ.items() if k != "CAIRN_API_KEY"}
    server = None
    try:
        payloads = payloads_from_frame(rows, count=500)
        server = start_process(
            Path(bundle),
            extra_args=["--no-log", "--engine", "auto"],
            timeout=start_timeout,
            env=env,
            cwd=Path(bundle),
        )
        result = load_test(
            f"{server.url}/predict",
            payloads,
            concurrency=concurrency,
            duration=duration,
            warmup=0.5,
            max_requests=200_000,
        )
    except ServingError as error:
        failed = [
            {
                "objective": str(o),
                "quantity": o.quantity,
                "value": None,
                "met": False,
                "how": f"HTTP load test could not run: {error}",
            }
            for o in wanted
        ]
        return GateResult(False, {}, failed, str(error), round(time.monotonic() - started, 2))
    finally:
        if server is not None:
            stop_process(server)
    checks = check_latency(result, wanted)
    measured = {
        "latency_p50_ms": result.latency_ms["p50"],
        "latency_p95_ms": result.latency_ms["p95"],
        "latency_p99_ms": result.latency_ms["p99"],
        "throughput_rps": result.throughput_rps,
        "requests": float(result.requests),
        "errors": float(result.errors),
        "concurrency": float(concurrency),
    }
    passed = all(check["met"] for check in checks)
    return GateResult(passed, measured, checks, None, round(time.monotonic() - started, 2))


def apply_gate(evaluation: Any, gate: GateResult, bundle: str | Path | None = None) -> None:
    """Record the served latency in ``evaluation`` (its ``latency_ms`` and its
    latency objectives), and the gate in the bundle's metadata."""
    served = {check["objective"]: check for check in gate.objectives}
    updated = []
    for result in evaluation.objectives:
        check = served.get(result.objective)
        if check is None:
            updated.append(result)
            continue
        updated.append(
            type(result)(
                objective=check["objective"],
                quantity=check["quantity"],
                value=check["value"],
                met=check["met"],
                how=check["how"],
            )
        )
    evaluation.objectives = updated
    evaluation.latency_ms = {
        name: gate.measured[name] for name in sorted(LATENCY_QUANTITIES) if name in gate.measured
    }
    if bundle is not None:
        from cairn.bundle import update_metadata

        update_metadata(
            bundle,
            {
                "objectives": [dict(vars(o)) for o in updated],
                "latency_ms": evaluation.latency_ms,
                "objectives_met": evaluation.objectives_met,
                "serving_gate": gate.to_dict(),
            },
        )
