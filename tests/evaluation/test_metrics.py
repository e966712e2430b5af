"""Tests for cairn.evaluation.metrics and cairn.evaluation.evaluate."""

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
from cairn.evaluation.metrics import (
    classification_metrics,
    greater_is_better,
    mape,
    regression_metrics,
    score,
)
from cairn.spec import (
    CLASSIFICATION_METRICS,
    OPERATIONAL_QUANTITIES,
    REGRESSION_METRICS,
    Objective,
)

# ---------------------------------------------------------------------------
# Hand-made arrays
# ---------------------------------------------------------------------------

Y_BIN = np.array([0, 0, 1, 1, 0, 1, 1, 0, 1, 0])
P1_BIN = np.array([0.1, 0.6, 0.8, 0.35, 0.2, 0.9, 0.55, 0.45, 0.3, 0.05])
PROBA_BIN = np.column_stack([1 - P1_BIN, P1_BIN])
PRED_BIN = (P1_BIN > 0.5).astype(int)

Y_MULTI = np.array([0, 1, 2, 2, 1, 0, 2, 1, 0, 2, 2, 1, 2, 2])
PROBA_MULTI = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.2, 0.5, 0.3],
        [0.1, 0.3, 0.6],
        [0.3, 0.4, 0.3],
        [0.5, 0.4, 0.1],
        [0.6, 0.3, 0.1],
        [0.2, 0.2, 0.6],
        [0.1, 0.8, 0.1],
        [0.3, 0.3, 0.4],
        [0.1, 0.1, 0.8],
        [0.2, 0.5, 0.3],
        [0.3, 0.4, 0.3],
        [0.1, 0.2, 0.7],
        [0.2, 0.1, 0.7],
    ]
)
PRED_MULTI = PROBA_MULTI.argmax(axis=1)

Y_REG = np.array([3.0, -0.5, 2.0, 7.0, 0.0, 4.5])
PRED_REG = np.array([2.5, 0.0, 2.0, 8.0, 0.3, 4.0])


def test_binary_metrics_match_sklearn() -> None:
    out = classification_metrics(Y_BIN, PROBA_BIN)
    expected = {
        "accuracy": skm.accuracy_score(Y_BIN, PRED_BIN),
        "balanced_accuracy": skm.balanced_accuracy_score(Y_BIN, PRED_BIN),
        "precision": skm.precision_score(Y_BIN, PRED_BIN),
        "recall": skm.recall_score(Y_BIN, PRED_BIN),
        "f1": skm.f1_score(Y_BIN, PRED_BIN),
        "roc_auc": skm.roc_auc_score(Y_BIN, P1_BIN),
        "log_loss": skm.log_loss(Y_BIN, PROBA_BIN),
    }
    assert set(out) == set(expected)
    for name, value in expected.items():
        assert out[name] == pytest.approx(value), name
    # The hand-made data is not trivially perfect.
    assert 0.5 < out["accuracy"] < 1.0
    assert out["precision"] != out["recall"]


def test_multiclass_metrics_match_sklearn() -> None:
    out = classification_metrics(Y_MULTI, PROBA_MULTI)
    expected = {
        "accuracy": skm.accuracy_score(Y_MULTI, PRED_MULTI),
        "balanced_accuracy": skm.balanced_accuracy_score(Y_MULTI, PRED_MULTI),
        "roc_auc": skm.roc_auc_score(Y_MULTI, PROBA_MULTI, multi_class="ovr", average="macro"),
        "log_loss": skm.log_loss(Y_MULTI, PROBA_MULTI),
    }
    for average in ("macro", "weighted"):
        expected[f"precision_{average}"] = skm.precision_score(
            Y_MULTI, PRED_MULTI, average=average, zero_division=0
        )
        expected[f"recall_{average}"] = skm.recall_score(
            Y_MULTI, PRED_MULTI, average=average, zero_division=0
        )
        expected[f"f1_{average}"] = skm.f1_score(Y_MULTI, PRED_MULTI, average=average)
    expected["f1"] = expected["f1_macro"]
    expected["precision"] = expected["precision_macro"]
    expected["recall"] = expected["recall_macro"]
    assert set(out) == set(expected)
    for name, value in expected.items():
        assert out[name] == pytest.approx(value), name
    # Macro and weighted differ on this unbalanced data, so the keys are not swapped.
    assert out["f1_macro"] != pytest.approx(out["f1_weighted"])


def test_multiclass_roc_auc_over_present_classes_when_a_class_is_absent() -> None:
    # Class 1 neither occurs nor is predicted; the probabilities still have 3
    # columns. The AUC is that of the classes present (here two: 0 against 2).
    keep = (Y_MULTI != 1) & (PRED_MULTI != 1)
    out = classification_metrics(Y_MULTI[keep], PROBA_MULTI[keep])
    present = PROBA_MULTI[keep][:, [0, 2]]
    expected = skm.roc_auc_score(Y_MULTI[keep] == 2, present[:, 1] / present.sum(axis=1))
    assert out["roc_auc"] == pytest.approx(expected)
    assert out["log_loss"] == pytest.approx(
        skm.log_loss(Y_MULTI[keep], PROBA_MULTI[keep], labels=[0, 1, 2])
    )


def test_roc_auc_nan_with_one_class() -> None:
    assert math.isnan(score("roc_auc", np.zeros(4, dtype=int), proba=PROBA_BIN[:4]))


def test_probabilities_are_clipped_and_renormalised() -> None:
    proba = np.array([[1.0, 0.0], [0.0, 1.0], [0.2, 0.6]])  # last row sums to 0.8
    y = np.array([1, 1, 1])
    value = score("log_loss", y, proba=proba)
    assert np.isfinite(value)
    clipped = [[1 - 1e-15, 1e-15], [0, 1], [0.25, 0.75]]
    assert value == pytest.approx(skm.log_loss(y, clipped, labels=[0, 1]))


@pytest.mark.parametrize(
    ("metric", "reference"),
    [
        ("accuracy", skm.accuracy_score),
        ("balanced_accuracy", skm.balanced_accuracy_score),
        ("f1", skm.f1_score),
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
    ],
)
def test_score_binary_from_labels(metric: str, reference) -> None:
    assert score(metric, Y_BIN, y_pred=PRED_BIN) == pytest.approx(reference(Y_BIN, PRED_BIN))


def test_score_derives_labels_from_proba() -> None:
    assert score("f1", Y_BIN, proba=PROBA_BIN) == pytest.approx(skm.f1_score(Y_BIN, PRED_BIN))
    assert score("f1_weighted", Y_MULTI, proba=PROBA_MULTI) == pytest.approx(
        skm.f1_score(Y_MULTI, PRED_MULTI, average="weighted")
    )


def test_score_unknown_metric() -> None:
    with pytest.raises(ValueError, match="unknown metric 'gini'"):
        score("gini", Y_BIN, y_pred=PRED_BIN)


def test_regression_metrics_match_sklearn() -> None:
    out = regression_metrics(Y_REG, PRED_REG)
    nonzero = Y_REG != 0
    expected = {
        "mse": skm.mean_squared_error(Y_REG, PRED_REG),
        "rmse": math.sqrt(skm.mean_squared_error(Y_REG, PRED_REG)),
        "mae": skm.mean_absolute_error(Y_REG, PRED_REG),
        "r2": skm.r2_score(Y_REG, PRED_REG),
        # MAPE ignores the row whose true value is 0.
        "mape": skm.mean_absolute_percentage_error(Y_REG[nonzero], PRED_REG[nonzero]),
    }
    assert set(out) == set(expected)
    for name, value in expected.items():
        assert out[name] == pytest.approx(value), name
    # sklearn's own MAPE explodes on the zero target; ours does not.
    assert skm.mean_absolute_percentage_error(Y_REG, PRED_REG) > 1e6 * out["mape"]


def test_mape_all_zero_targets_is_nan() -> None:
    assert math.isnan(mape(np.zeros(3), np.ones(3)))
    assert mape(np.array([2.0, 4.0]), np.array([1.0, 5.0])) == pytest.approx((0.5 + 0.25) / 2)


def test_greater_is_better() -> None:
    higher = {
        "roc_auc",
        "accuracy",
        "balanced_accuracy",
        "f1",
        "f1_macro",
        "f1_weighted",
        "precision",
        "recall",
        "r2",
    }
    lower = {"rmse", "mae", "mse", "mape", "log_loss", *OPERATIONAL_QUANTITIES}
    # Every quantity a spec may name is covered by exactly one of the two sets.
    assert higher | lower == {*CLASSIFICATION_METRICS, *REGRESSION_METRICS, *OPERATIONAL_QUANTITIES}
    assert not higher & lower
    for metric in higher:
        assert greater_is_better(metric), metric
    for metric in lower:
        assert not greater_is_better(metric), metric


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
