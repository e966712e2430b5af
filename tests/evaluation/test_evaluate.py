"""Tests for cairn.evaluation.evaluate: objectives, latency, evaluation of a fitted model."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cairn.evaluation.evaluate import (
    Evaluation,
    ObjectiveResult,
    check_objectives,
    evaluate,
    measure_latency,
)
from cairn.spec import Objective

# ---------------------------------------------------------------------------
# Objectives and latency
# ---------------------------------------------------------------------------


def test_check_objectives_met_not_met_and_not_measured() -> None:
    objectives = [
        Objective.parse("rmse < 10"),
        Objective.parse("r2 >= 0.9"),
        Objective.parse("roc_auc > 0.8"),
        Objective.parse("latency_p95_ms <= 5"),
        Objective.parse("mape < 0.1"),
    ]
    measured = {"rmse": 7.5, "r2": 0.5, "latency_p95_ms": 1.0, "mape": float("nan")}
    results = check_objectives(objectives, measured)

    assert [r.met for r in results] == [True, False, None, True, None]
    assert [r.value for r in results] == [7.5, 0.5, None, 1.0, None]
    assert results[0] == ObjectiveResult("rmse < 10", "rmse", 7.5, True, "held-out test set")
    assert results[2].how == "not measured"
    assert results[3].how == "served over HTTP, one record per request (serving gate)"
    assert results[4].how == "not measured"


def test_evaluation_objectives_met_ignores_unmeasured() -> None:
    ok = ObjectiveResult("rmse < 1", "rmse", 0.5, True)
    unmeasured = ObjectiveResult("roc_auc > 0.5", "roc_auc", None, None)
    failed = ObjectiveResult("r2 > 0.5", "r2", 0.1, False)
    evaluation = Evaluation("regression", "rmse", {"rmse": 0.5}, {}, [ok, unmeasured])
    assert evaluation.objectives_met is True
    assert evaluation.score == 0.5
    evaluation.objectives.append(failed)
    assert evaluation.objectives_met is False
    assert evaluation.to_dict()["objectives_met"] is False


def test_measure_latency_percentiles() -> None:
    calls: list[int] = []

    def predict(frame: pd.DataFrame) -> np.ndarray:
        calls.append(len(frame))
        # Every tenth row is slow, so the upper percentiles stand out.
        if int(frame["x"].iloc[0]) % 10 == 9:
            time.sleep(0.002)
        return np.zeros(len(frame))

    frame = pd.DataFrame({"x": np.arange(300)})
    latency = measure_latency(predict, frame, rows=100)

    assert set(latency) == {"latency_p50_ms", "latency_p95_ms", "latency_p99_ms"}
    assert 0 < latency["latency_p50_ms"] <= latency["latency_p95_ms"] <= latency["latency_p99_ms"]
    assert latency["latency_p50_ms"] < 2.0
    assert latency["latency_p99_ms"] >= 2.0
    # One warm-up call, then one call per row, each with a single row.
    assert calls == [1] * 101


# ---------------------------------------------------------------------------
# evaluate() on fitted sklearn models
# ---------------------------------------------------------------------------


def test_evaluate_classifier_on_breast_cancer() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y.to_numpy(), test_size=0.25, random_state=0, stratify=y
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X_train, y_train)

    evaluation = evaluate(
        model,
        X_test,
        y_test,
        task="classification",
        metric="roc_auc",
        objectives=[
            Objective.parse("roc_auc > 0.95"),
            Objective.parse("accuracy > 0.999"),
            Objective.parse("rmse < 1"),
        ],
        extra={"model_size_mb": 0.01},
    )

    assert set(evaluation.metrics) == {
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
    }
    assert evaluation.score == pytest.approx(
        skm.roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    )
    assert evaluation.score > 0.95
    assert evaluation.n_test == len(X_test)
    # The served latency comes from the serving gate; evaluate() measures the
    # pipeline in process and labels it as such.
    assert evaluation.latency_ms == {}
    assert set(evaluation.native_latency_ms) == {
        "native_latency_p50_ms",
        "native_latency_p95_ms",
        "native_latency_p99_ms",
    }
    assert [r.met for r in evaluation.objectives] == [True, False, None]
    assert evaluation.objectives_met is False
    data = evaluation.to_dict()
    assert data["metric"] == "roc_auc"
    assert data["objectives"][0]["quantity"] == "roc_auc"


def test_evaluate_regressor_on_diabetes() -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y.to_numpy(), test_size=0.25, random_state=0
    )
    model = Ridge(alpha=1.0).fit(X_train, y_train)

    evaluation = evaluate(
        model,
        X_test,
        y_test,
        task="regression",
        metric="rmse",
        objectives=[Objective.parse("rmse < 100"), Objective.parse("latency_p99_ms < 1000")],
    )

    assert set(evaluation.metrics) == {"mse", "rmse", "mae", "r2", "mape"}
    prediction = model.predict(X_test)
    assert evaluation.score == pytest.approx(math.sqrt(skm.mean_squared_error(y_test, prediction)))
    assert evaluation.metrics["r2"] == pytest.approx(skm.r2_score(y_test, prediction))
    # A latency objective is judged on the served figure only, which evaluate()
    # leaves to the serving gate: the in-process time never decides it.
    assert [r.met for r in evaluation.objectives] == [True, None]
    assert evaluation.objectives[1].how == "not measured"
    assert evaluation.objectives_met is True


def test_measure_latency_takes_few_rows_when_each_is_slow() -> None:
    calls = []

    def slow_predict(frame: pd.DataFrame) -> np.ndarray:
        calls.append(len(frame))
        time.sleep(0.02)
        return np.zeros(len(frame))

    frame = pd.DataFrame({"x": np.arange(100.0)})
    measure_latency(slow_predict, frame, rows=100, max_seconds=0.01)
    # warm-up plus the 3-row floor: 20 rows would be 0.4 s against 0.01 s allowed
    assert 4 <= len(calls) <= 5
