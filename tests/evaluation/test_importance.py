"""Permutation importance and tree SHAP on real trained models."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.bundle import load_bundle
from cairn.evaluation.importance import (
    PERMUTATION_BATCH_CELLS,
    PERMUTATION_MIN_ROWS,
    SHAP_MIN_ROWS,
    _explainable,
    permutation_importance,
    tree_shap,
)
from cairn.evaluation.run_folder import load_run
from tests.conftest import load_dataset, wide_frame


def test_permutation_importance_finds_what_the_model_uses(
    finished_run: Callable[[str], Path],
) -> None:
    run = load_run(finished_run("car_evaluation"))
    model = load_bundle(run.bundle_path).pipeline
    result = permutation_importance(
        model, run.features, run.y_codes, task=run.task, metric="accuracy", repeats=3
    )
    assert set(result.features) == set(run.features.columns)
    assert result.mean == sorted(result.mean, reverse=True)
    # Car acceptability hinges on safety and seats; the door count barely matters.
    assert result.features[0] in {"safety", "nunber_of_persons"}
    ranks = {name: i for i, name in enumerate(result.features)}
    assert ranks["number_of_doors"] > ranks["safety"]
    assert result.mean[0] > 0.05
    assert result.baseline == pytest.approx(
        float(np.mean(run.proba.argmax(axis=1) == run.y_codes)), abs=1e-9
    )


def test_time_budget_reduces_rows_then_columns(finished_run: Callable[[str], Path]) -> None:
    run = load_run(finished_run("car_evaluation"))
    model = load_bundle(run.bundle_path).pipeline
    result = permutation_importance(
        model, run.features, run.y_codes, task=run.task, metric="accuracy", time_budget=1e-6
    )
    assert result.rows == PERMUTATION_MIN_ROWS and result.repeats == 1
    assert len(result.features) == 1
    assert result.not_measured == run.features.shape[1] - 1


def test_a_slow_model_is_measured_within_the_time_budget() -> None:
    frame = load_dataset("california_housing", rows=2_000)
    y = frame.pop("median_house_value").to_numpy(dtype=float)
    X = frame.select_dtypes("number")

    class Slow:  # 0.2 ms per row, as a large multiclass booster
        def predict(self, rows: pd.DataFrame) -> np.ndarray:
            time.sleep(2e-4 * len(rows))
            return rows["median_income"].to_numpy(dtype=float)

    started = time.perf_counter()
    result = permutation_importance(Slow(), X, y, task="regression", metric="rmse", time_budget=1.0)
    assert time.perf_counter() - started < 1.0 + 0.5  # + the probe and the scoring
    assert result.features[0] == "median_income"
    assert PERMUTATION_MIN_ROWS <= result.rows < 2_000


def _lightgbm_pipeline(model: object) -> object:
    for _, _, pipelines in _explainable(model):
        pipeline = pipelines[0]
        if type(pipeline.named_steps["model"]).__module__.startswith("lightgbm"):
            return pipeline
    pytest.skip("the run chose no LightGBM model")


def test_tree_shap_adds_up_to_the_model_output(finished_run: Callable[[str], Path]) -> None:
    run = load_run(finished_run("ames_house_prices"))
    model = load_bundle(run.bundle_path).pipeline
    pipeline = _lightgbm_pipeline(model)
    rows = run.features.head(50)
    summary = tree_shap(pipeline, rows, task="regression")
    assert summary is not None and summary.rows == 50
    assert summary.units == "target units"
    prep, estimator = pipeline.named_steps["prep"], pipeline.named_steps["model"]
    transformed = pd.DataFrame(np.asarray(prep.transform(rows), dtype=float))
    raw = estimator.predict(transformed.to_numpy(), pred_contrib=True)
    # Summing back to input columns keeps each row's total contribution.
    np.testing.assert_allclose(summary.values.sum(axis=1), raw[:, :-1].sum(axis=1), rtol=1e-6)
    np.testing.assert_allclose(
        summary.values.sum(axis=1) + raw[:, -1], pipeline.predict(rows), rtol=1e-6
    )
    assert summary.features[0] in {"OverallQual", "GrLivArea"}
    assert set(summary.features) <= set(run.features.columns)


def test_tree_shap_for_classification_and_none_for_other_models(
    finished_run: Callable[[str], Path],
) -> None:
    run = load_run(finished_run("telco_churn"))
    model = load_bundle(run.bundle_path).pipeline
    summary = tree_shap(model, run.features, task="classification", classes=run.classes)
    if _explainable(model):
        assert summary is not None and summary.class_label == "Yes"
        assert summary.units == "log-odds"
        assert summary.values.shape == (len(run.features), len(summary.features))
    else:
        assert summary is None
    from sklearn.linear_model import LogisticRegression

    assert tree_shap(LogisticRegression(), run.features, task="classification") is None


def test_tree_shap_for_catboost_on_category_codes() -> None:
    from cairn.data.schema import infer_schema
    from cairn.features.preprocess import CategoryCodes
    from cairn.models.catalog import LEARNERS
    from cairn.models.search import fit_pipeline
    from tests.conftest import load_dataset

    frame = load_dataset("german_credit")
    schema = infer_schema(frame, target="default", task="classification")
    X = frame.drop(columns=["default"])
    y = pd.Categorical(frame["default"].astype(str)).codes.astype(int)
    pipeline, _ = fit_pipeline(
        LEARNERS["catboost"],
        schema,
        X,
        y,
        task="classification",
        seed=0,
        params={"n_estimators": 40, "native_categories": True},
    )
    assert isinstance(pipeline.named_steps["prep"], CategoryCodes)
    summary = tree_shap(pipeline, X.head(40), task="classification", classes=["1", "2"])
    assert summary is not None and summary.rows == 40
    assert np.isfinite(summary.values).all()
    assert set(summary.features) <= set(X.columns)


def test_permutation_importance_of_a_wide_table_is_bounded() -> None:
    frame = wide_frame("california_housing", "median_house_value", columns=400, rows=300)
    y = frame.pop("median_house_value").to_numpy(dtype=float)
    X = frame.select_dtypes("number").fillna(0.0)
    used = str(X.columns[0])
    calls: list[tuple[int, int]] = []

    class Reads:
        def predict(self, rows: pd.DataFrame) -> np.ndarray:
            calls.append(rows.shape)
            return rows[used].to_numpy(dtype=float) * 100.0

    result = permutation_importance(
        Reads(), X, y, task="regression", metric="rmse", max_cells=2_000_000, time_budget=None
    )
    width = X.shape[1]
    assert sum(n for n, _ in calls) * width <= 2_000_000 + 2 * 300 * width  # + baselines
    assert all(n * width <= PERMUTATION_BATCH_CELLS for n, _ in calls[2:])
    assert result.repeats == 1 and result.rows == PERMUTATION_MIN_ROWS
    assert result.not_measured == width - len(result.features) > 0


def test_tree_shap_cuts_its_rows_to_the_time_budget_and_says_so(
    finished_run: Callable[[str], Path],
) -> None:
    run = load_run(finished_run("car_evaluation"))
    model = load_bundle(run.bundle_path).pipeline
    if not _explainable(model):
        pytest.skip("the search picked a model without tree SHAP")
    assert len(run.features) > SHAP_MIN_ROWS
    full = tree_shap(model, run.features, task="classification", classes=run.classes)
    assert full is not None and full.rows == len(run.features)
    assert not any("sample" in note for note in full.notes)
    cut = tree_shap(
        model, run.features, task="classification", classes=run.classes, time_budget=1e-6
    )
    assert cut is not None and cut.rows == SHAP_MIN_ROWS
    assert f"sample of {SHAP_MIN_ROWS:,} of the {len(run.features):,} test rows" in " ".join(
        cut.notes
    )
