"""Test-set evaluation and the objectives verdict.

Latency has one definition: the served engine, one record per HTTP request on
a loopback port, as the serving gate of ``cairn run`` measures it
(:mod:`cairn.serving.gate`). ``Evaluation.latency_ms`` holds that figure once
the gate has run, and only it decides latency objectives. The in-process
predict time of the scikit-learn pipeline is kept apart, under
``native_latency_ms`` (keys ``native_latency_p50_ms``...), for comparison.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cairn.spec import Objective
from cairn.tasks import get_task


@dataclass(frozen=True)
class ObjectiveResult:
    """One objective checked against a measured value.

    ``met`` is None when the quantity was not measured (e.g. a classification
    metric named in a regression project).
    """

    objective: str
    quantity: str
    value: float | None
    met: bool | None
    how: str = ""


LATENCY_HOW = "served over HTTP, one record per request (serving gate)"
NATIVE_PREFIX = "native_"


@dataclass
class Evaluation:
    """Test-set metrics, latency and the objectives verdict.

    Attributes:
        latency_ms: the served latency (latency_p50_ms, latency_p95_ms,
            latency_p99_ms) measured over HTTP by the serving gate; empty
            when it did not run (no latency objective).
        native_latency_ms: the pipeline's single-row in-process predict time
            (native_latency_p50_ms...), not the served latency.
    """

    task: str
    metric: str
    metrics: dict[str, float]
    latency_ms: dict[str, float]
    objectives: list[ObjectiveResult] = field(default_factory=list)
    n_test: int = 0
    native_latency_ms: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """The spec's main metric on the test set."""
        return self.metrics[self.metric]

    @property
    def objectives_met(self) -> bool:
        """True when no objective failed (unmeasured ones do not count)."""
        return all(result.met is not False for result in self.objectives)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["objectives_met"] = self.objectives_met
        return data


def measure_latency(
    predict: Callable[[pd.DataFrame], Any],
    frame: pd.DataFrame,
    *,
    rows: int = 200,
    max_seconds: float = 3.0,
) -> dict[str, float]:
    """Single-row, in-process predict time in milliseconds (p50, p95, p99),
    over up to ``rows`` rows or ``max_seconds``, whichever comes first (at
    least 20 rows, unless they would take over twice ``max_seconds``; then at
    least 3)."""
    sample = frame.head(rows)
    predict(sample.iloc[[0]])  # warm-up: first call pays for lazy initialisation
    timings: list[float] = []
    stop = time.perf_counter() + max_seconds
    for position in range(len(sample)):
        row = sample.iloc[[position]]
        started = time.perf_counter()
        predict(row)
        timings.append((time.perf_counter() - started) * 1000.0)
        enough = len(timings) >= 20 or (len(timings) >= 3 and started > stop + max_seconds)
        if started > stop and enough:
            break
    values = np.asarray(timings)
    return {
        "latency_p50_ms": float(np.percentile(values, 50)),
        "latency_p95_ms": float(np.percentile(values, 95)),
        "latency_p99_ms": float(np.percentile(values, 99)),
    }


def check_objectives(
    objectives: Sequence[Objective], measured: dict[str, float]
) -> list[ObjectiveResult]:
    """Each objective with the measured value and whether it is met."""
    results = []
    for objective in objectives:
        value = measured.get(objective.quantity)
        if value is None or not np.isfinite(value):
            results.append(
                ObjectiveResult(str(objective), objective.quantity, None, None, "not measured")
            )
            continue
        how = LATENCY_HOW if objective.quantity.startswith("latency") else "held-out test set"
        results.append(
            ObjectiveResult(
                str(objective), objective.quantity, float(value), objective.met_by(value), how
            )
        )
    return results


def evaluate(
    model: Any,
    X_test: pd.DataFrame,
    y_test: np.ndarray,
    *,
    task: str,
    metric: str,
    objectives: Sequence[Objective] = (),
    extra: dict[str, float] | None = None,
    latency_seconds: float = 3.0,
    output: np.ndarray | None = None,
) -> Evaluation:
    """Score a fitted pipeline on the held-out test set and check objectives.

    Latency objectives stay "not measured" here: the serving gate decides them
    (:func:`cairn.serving.gate.apply_gate`). The pipeline's in-process predict
    time is recorded as ``native_latency_ms``.

    Args:
        model: a fitted pipeline; ``predict_proba`` for classification.
        y_test: integer-coded for classification.
        extra: further measured quantities (e.g. ``model_size_mb``).
        output: the model's probabilities / values on ``X_test`` when the
            caller has them already.
    """
    kind = get_task(task)
    predict = model.predict_proba if kind.has_classes else model.predict
    output = np.asarray(predict(X_test) if output is None else output, dtype=float)
    metrics = kind.all_metrics(y_test, output)
    latency = measure_latency(predict, X_test, max_seconds=latency_seconds)
    measured = {**metrics, **(extra or {})}
    return Evaluation(
        task=task,
        metric=metric,
        metrics=metrics,
        latency_ms={},
        objectives=check_objectives(objectives, measured),
        n_test=len(X_test),
        native_latency_ms={f"{NATIVE_PREFIX}{k}": v for k, v in latency.items()},
    )
