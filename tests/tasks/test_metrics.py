"""Tests for cairn.tasks.metrics, the one metric dispatch, and the task registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from cairn.tasks import (
    OPERATIONAL_QUANTITIES,
    TRADEOFF_QUANTITIES,
    get_task,
    greater_is_better,
    known_metrics,
    known_quantities,
    task_names,
)
from cairn.tasks.metrics import (
    classification_metrics,
    mape,
    regression_metrics,
    score,
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
        "silhouette",
        "calinski_harabasz",
        "adjusted_rand",
        "normalized_mutual_info",
        # a segmentation's own quantities: objectives bound them either way
        "n_clusters",
        "min_cluster_share",
        "stability",
        # ranking measures at the default list length (any other k behaves alike)
        "ndcg@10",
        "precision@10",
        "recall@10",
        "map@10",
        "hit_rate@10",
        "mrr@10",
        "coverage@10",
        "novelty@10",
    }
    lower = {
        "rmse",
        "mae",
        "mse",
        "mape",
        "log_loss",
        "davies_bouldin",
        "popularity_bias@10",
        *OPERATIONAL_QUANTITIES,
        *TRADEOFF_QUANTITIES,
    }
    # Every quantity a spec may name is covered by exactly one of the two sets.
    assert higher | lower == {*known_quantities()}
    assert {*known_metrics(), *OPERATIONAL_QUANTITIES} <= higher | lower
    assert not higher & lower
    for metric in higher:
        assert greater_is_better(metric), metric
    for metric in lower:
        assert not greater_is_better(metric), metric


def test_each_task_scores_its_raw_output_through_the_one_dispatch() -> None:
    classification, regression = get_task("classification"), get_task("regression")
    assert classification.score("roc_auc", Y_BIN, PROBA_BIN) == pytest.approx(
        skm.roc_auc_score(Y_BIN, P1_BIN)
    )
    assert regression.score("mae", Y_REG, PRED_REG) == pytest.approx(
        skm.mean_absolute_error(Y_REG, PRED_REG)
    )
    assert set(classification.all_metrics(Y_BIN, PROBA_BIN)) >= {"roc_auc", "log_loss", "f1"}
    assert set(regression.all_metrics(Y_REG, PRED_REG)) == {"mse", "rmse", "mae", "r2", "mape"}


def test_registry_knows_the_trainable_tasks_and_refuses_others() -> None:
    assert task_names() == ("classification", "regression", "clustering", "recommendation")
    with pytest.raises(KeyError, match="forecasting"):
        get_task("forecasting")
    assert get_task("clustering").default_metric() == "silhouette"
    assert get_task("classification").default_metric(3) == "log_loss"
    assert get_task("classification").default_metric(2) == "roc_auc"
    assert get_task("regression").default_metric() == "rmse"


def test_prediction_shape_and_schema_per_task() -> None:
    labels, proba = get_task("classification").predictions(PROBA_BIN[:3], ["no", "yes"])
    assert labels == ["no", "yes", "yes"] and proba is not None and proba.shape == (3, 2)
    assert "probabilities" in get_task("classification").answer_schema(["no", "yes"])
    values, none = get_task("regression").predictions(np.array([[1.5], [2.0]]), [])
    assert values == [1.5, 2.0] and none is None
    assert get_task("regression").answer_schema([]) == {}
