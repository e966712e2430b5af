"""Suite results for the output, command and gate tests: a fixed suite with
every status and the details the HTML report draws, and a stand-in for
``run_suite`` that scores the rows it is given with the real model."""

from __future__ import annotations

import sys
import time
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cairn.behaviour import CheckResult, SuiteResult
from cairn.exceptions import DataError


def mixed_suite() -> SuiteResult:
    """One check of each status over several categories, with slices, intervals
    and example rows, and text that XML and HTML must escape."""
    return SuiteResult(
        model="models:/churn@champion",
        task="classification",
        data="test set of run 20260101-000000-abcdef (1,409 rows)",
        seconds=3.25,
        checks=[
            CheckResult(
                "edge_case/tenure/max",
                "edge_case",
                "passed",
                "tenure at its training max: finite outputs",
                rows=50,
                seconds=0.01,
            ),
            CheckResult(
                "edge_case/all_missing",
                "edge_case",
                "error",
                "the model raised ValueError: <bad & \"input\">",
                seconds=0.02,
            ),
            CheckResult(
                "invariance/customerID",
                "invariance",
                "failed",
                "12 of 200 predictions changed when customerID changed",
                measured=0.06,
                threshold=0.0,
                rows=200,
                seconds=0.2,
                details={
                    "examples": [
                        {"customerID": "A-1", "changed_to": "Z-9", "before": 0.2, "after": 0.7},
                        {"customerID": "B-2", "changed_to": "Y-8", "before": 0.4, "after": 0.9},
                    ],
                    "violations": 12,
                },
            ),
            CheckResult(
                "slice/Contract",
                "slice",
                "failed",
                "Contract = Two year: accuracy 0.61, overall 0.80",
                measured=0.19,
                threshold=0.1,
                rows=1409,
                seconds=0.4,
                details={
                    "metric": "accuracy",
                    "overall": 0.8,
                    "segments": [
                        {"slice": "Month-to-month", "value": 0.82, "low": 0.79, "high": 0.85,
                         "rows": 700, "weak": False},
                        {"slice": "One year", "value": 0.80, "low": 0.75, "high": 0.85,
                         "rows": 400, "weak": False},
                        {"slice": "Two year", "value": 0.61, "low": 0.55, "high": 0.67,
                         "rows": 309, "weak": True},
                    ],
                },
            ),
            CheckResult(
                "fairness/gender",
                "fairness",
                "skipped",
                "no sensitive column declared",
            ),
            CheckResult(
                "fairness/SeniorCitizen/parity",
                "fairness",
                "passed",
                "positive rate: 31.0% for SeniorCitizen=1 vs 24.0% for SeniorCitizen=0",
                measured=0.07,
                threshold=0.1,
                rows=1409,
                details={"rates": {"0": 0.24, "1": 0.31}, "rows": {"0": 1180, "1": 229}},
            ),
            CheckResult(
                "skew/calibration",
                "skew",
                "passed",
                "expected calibration error 0.031 over 1409 labelled rows",
                measured=0.031,
                threshold=0.1,
                rows=1409,
                details={"bins": [{"bin": 0, "rows": 600, "confidence": 0.05, "accuracy": 0.93},
                                  {"bin": 9, "rows": 80, "confidence": 0.95, "accuracy": 0.9}]},
            ),
            CheckResult(
                "skew/onnx_vs_native",
                "skew",
                "passed",
                "largest difference 1e-7",
                measured=1e-7,
                threshold=1e-4,
                rows=1409,
                seconds=0.3,
            ),
        ],
    )  # fmt: skip


@dataclass
class FakeSettings:
    """What the stand-in suite reads from ``[tests]``."""

    gate: bool = False
    fail: bool = False
    columns: list[str] = field(default_factory=list)  # must be inputs of the data


@dataclass
class FakeSuite:
    """``run_suite`` with the contract's signature: it scores the rows with the
    real model (a check that the model answers with finite outputs) and
    records how it was called."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(
        self,
        model: Any,
        rows: pd.DataFrame,
        *,
        labels: Any,
        settings: Any,
        model_name: str,
        data_name: str,
        latency_ms: float | None = None,
        url: str | None = None,
        train_rows: pd.DataFrame | None = None,
    ) -> SuiteResult:
        self.calls.append(
            {
                "model": model,
                "rows": rows,
                "labels": labels,
                "settings": settings,
                "model_name": model_name,
                "data_name": data_name,
                "latency_ms": latency_ms,
                "url": url,
                "train_rows": train_rows,
            }
        )
        for column in getattr(settings, "columns", []):
            if column not in rows.columns:
                raise DataError(f"[[tests.invariance]] names column {column!r}, not in the data")
        started = time.perf_counter()
        output = np.asarray(model.predict(rows.head(50)))
        finite = output.dtype.kind != "f" or bool(np.isfinite(output).all())
        checks = [
            CheckResult(
                "edge_case/answers",
                "edge_case",
                "passed" if finite and len(output) == min(len(rows), 50) else "failed",
                f"{len(output)} rows scored",
                rows=len(output),
                seconds=time.perf_counter() - started,
            )
        ]
        if getattr(settings, "fail", False):
            checks.append(
                CheckResult(
                    "invariance/planted",
                    "invariance",
                    "failed",
                    "the prediction changed with a column declared invariant",
                    measured=0.25,
                    threshold=0.0,
                    rows=len(rows),
                )
            )
        return SuiteResult(model_name, model.task, data_name, checks, seconds=0.5)


def install(monkeypatch: pytest.MonkeyPatch, settings: Any = None) -> FakeSuite:
    """Put the stand-in in place of ``cairn.behaviour.suite`` and the
    ``[tests]`` settings; returns it (its ``calls`` record each run)."""
    fake = FakeSuite()
    module = types.ModuleType("cairn.behaviour.suite")
    module.run_suite = fake  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cairn.behaviour.suite", module)
    chosen = settings if settings is not None else FakeSettings()
    monkeypatch.setattr("cairn.behaviour._run.tests_settings", lambda project: chosen)
    return fake
