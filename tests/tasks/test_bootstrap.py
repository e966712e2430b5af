"""Bootstrap intervals: the vectorised resampling agrees with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from cairn.tasks.bootstrap import _classification_stats, _regression_stats, bootstrap_intervals
from cairn.tasks.metrics import classification_metrics, regression_metrics, score
from tests.conftest import load_dataset


def _proba(n_classes: int, y: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(y), n_classes))
    logits[np.arange(len(y)), y] += 1.2
    proba = np.exp(logits)
    return proba / proba.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_weighted_statistics_equal_sklearn_on_a_resample(n_classes: int) -> None:
    frame = load_dataset("car_evaluation")
    labels = sorted(frame["decision"].unique())[:n_classes]
    frame = frame[frame["decision"].isin(labels)]
    y = frame["decision"].map({label: i for i, label in enumerate(labels)}).to_numpy()
    proba = _proba(n_classes, y, seed=n_classes)
    stats = _classification_stats(y, proba)
    rng = np.random.default_rng(0)
    draw = rng.integers(0, len(y), len(y))
    counts = np.bincount(draw, minlength=len(y)).astype(float)[None, :]
    for name, stat in stats.items():
        expected = score(name, y[draw], proba=proba[draw])
        assert float(stat(counts)[0]) == pytest.approx(expected, abs=1e-9), name


def test_regression_statistics_equal_sklearn_on_a_resample() -> None:
    frame = load_dataset("insurance")
    y = frame["charges"].to_numpy(dtype=float)
    pred = y * np.random.default_rng(1).normal(1.0, 0.2, len(y))
    stats = _regression_stats(y, pred)
    draw = np.random.default_rng(2).integers(0, len(y), len(y))
    counts = np.bincount(draw, minlength=len(y)).astype(float)[None, :]
    expected = regression_metrics(y[draw], pred[draw])
    for name, stat in stats.items():
        assert float(stat(counts)[0]) == pytest.approx(expected[name], rel=1e-9), name


def test_intervals_bracket_the_test_value_and_shrink_with_rows() -> None:
    frame = load_dataset("adult")
    y = (frame["class"] == ">50K").to_numpy().astype(int)
    proba = _proba(2, y, seed=3)
    small = bootstrap_intervals("classification", y[:500], proba=proba[:500], resamples=400)
    large = bootstrap_intervals("classification", y, proba=proba, resamples=400)
    point = classification_metrics(y, proba)
    for name, interval in large.items():
        assert interval.value == pytest.approx(point[name])
        assert interval.low <= interval.value <= interval.high
        width_small = small[name].high - small[name].low
        assert interval.high - interval.low < width_small
    assert large["accuracy"].resamples == 400 and large["accuracy"].level == 0.95


def test_same_seed_same_interval() -> None:
    y = np.array([0, 1] * 50)
    proba = _proba(2, y, seed=4)
    first = bootstrap_intervals("classification", y, proba=proba, resamples=100, seed=7)
    second = bootstrap_intervals("classification", y, proba=proba, resamples=100, seed=7)
    assert first == second


def test_intervals_need_the_output_their_task_scores() -> None:
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="classification needs proba"):
        bootstrap_intervals("classification", y, y_pred=y.astype(float))
    with pytest.raises(ValueError, match="regression needs y_pred"):
        bootstrap_intervals("regression", y, proba=np.eye(2)[y])
