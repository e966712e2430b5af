"""Feature sensitivity: the reference profile's importance weights, measured
by shuffling one feature at a time, with bounded work on wide tables."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression

from cairn.monitoring import feature_sensitivity
from cairn.monitoring.sensitivity import SENSITIVITY_CHUNK_CELLS
from tests.conftest import load_dataset, wide_frame


@pytest.fixture(scope="module")
def housing() -> pd.DataFrame:
    return load_dataset("california_housing")


def test_sensitivity_weights_the_features_the_model_uses(housing: pd.DataFrame) -> None:
    frame = housing[["median_income", "housing_median_age"]].copy()
    frame["noise"] = np.random.default_rng(0).normal(size=len(frame))
    # A model that reads income and age, and ignores the noise column.
    model = LinearRegression().fit(
        frame[["median_income", "housing_median_age"]], housing["median_house_value"]
    )

    def predict(rows: pd.DataFrame) -> np.ndarray:
        return model.predict(rows[["median_income", "housing_median_age"]])

    weights = feature_sensitivity(predict, frame, list(frame.columns), rows=300)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights["noise"] == 0.0
    assert weights["median_income"] > weights["housing_median_age"] > 0


def test_constant_model_gets_equal_weights(housing: pd.DataFrame) -> None:
    frame = housing[["median_income", "population"]]
    model = DummyRegressor().fit(frame, housing["median_house_value"])
    weights = feature_sensitivity(model.predict, frame, ["median_income", "population"])
    assert weights == {"median_income": 0.5, "population": 0.5}


def test_sensitivity_of_a_wide_table_is_bounded() -> None:
    frame = wide_frame("california_housing", "median_house_value", columns=600, rows=300)
    frame = frame.drop(columns=["median_house_value"]).select_dtypes("number").fillna(0.0)
    used = str(frame.columns[0])
    calls: list[tuple[int, int]] = []

    def predict(rows: pd.DataFrame) -> np.ndarray:
        calls.append(rows.shape)
        return rows[used].to_numpy(dtype=float)

    # Every feature measured on the minimum of rows: the one the model reads wins.
    weights = feature_sensitivity(predict, frame, list(frame.columns), max_scored_rows=12_000)
    assert 20 * len(frame.columns) <= sum(n for n, _ in calls[1:]) <= 12_000
    assert all(n * width <= SENSITIVITY_CHUNK_CELLS for n, width in calls)
    assert weights[used] == pytest.approx(1.0)
    # Fewer rows allowed than features x minimum rows: a subset is measured,
    # every feature still gets a weight, and the scored rows stay capped.
    calls.clear()
    weights = feature_sensitivity(predict, frame, list(frame.columns), max_scored_rows=4_000)
    assert sum(n for n, _ in calls[1:]) <= 4_000
    assert len(weights) == len(frame.columns)
    assert sum(weights.values()) == pytest.approx(1.0)


def test_a_slow_model_is_measured_within_the_time_budget(housing: pd.DataFrame) -> None:
    frame = housing.select_dtypes("number").drop(columns=["median_house_value"])
    scored: list[int] = []

    def slow(rows: pd.DataFrame) -> np.ndarray:  # 1 ms per row, as a large multiclass booster
        scored.append(len(rows))
        time.sleep(1e-3 * len(rows))
        return rows["median_income"].to_numpy(dtype=float)

    started = time.perf_counter()
    weights = feature_sensitivity(slow, frame, list(frame.columns), time_budget=0.5)
    # the unshuffled sample (200 rows) is timed, then about 0.5 s of shuffled rows
    assert time.perf_counter() - started < 0.2 + 0.5 + 0.3
    assert sum(scored[1:]) <= 0.5 / 1e-3
    assert max(weights, key=lambda name: weights[name]) == "median_income"
