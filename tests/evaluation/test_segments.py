"""Performance by segment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cairn.evaluation.run_folder import load_run
from cairn.evaluation.segments import segment_performance
from cairn.tasks.metrics import score


def test_segment_metric_is_the_metric_on_those_rows(finished_run: Callable[[str], Path]) -> None:
    run = load_run(finished_run("car_evaluation"))
    tables = segment_performance(
        run.features,
        run.y_codes,
        task=run.task,
        metric="log_loss",
        schema=run.schema,
        proba=run.proba,
        min_rows=20,
    )
    assert tables and all(t.metric == "accuracy" for t in tables)  # ranking metrics swapped
    safety = next(t for t in tables if t.column == "safety")
    for segment in safety.segments:
        mask = (run.features["safety"].astype(str) == segment.label).to_numpy()
        assert segment.rows == int(mask.sum()) >= 20
        expected = score("accuracy", run.y_codes[mask], proba=run.proba[mask])
        assert segment.value == pytest.approx(expected)
        assert segment.gap == pytest.approx(safety.overall - expected)
    assert safety.worst is not None


def test_regression_segments_by_quintile(finished_run: Callable[[str], Path]) -> None:
    run = load_run(finished_run("ames_house_prices"))
    tables = segment_performance(
        run.features,
        run.y_true,
        task="regression",
        metric="rmse",
        schema=run.schema,
        y_pred=run.y_pred,
        columns=["GrLivArea", "Neighborhood"],
    )
    area = next(t for t in tables if t.column == "GrLivArea")
    assert sum(s.rows for s in area.segments) == len(run.features)
    assert all(np.isfinite(s.value) for s in area.segments)
    worst = area.worst
    assert worst is not None and worst.gap == max(s.gap for s in area.segments)


def test_categories_with_missing_values() -> None:
    from cairn.data.schema import infer_schema
    from tests.conftest import load_dataset

    frame = load_dataset("titanic")
    schema = infer_schema(frame.drop(columns=["Survived"]))
    y = frame["Survived"].to_numpy()
    proba = np.column_stack([1 - y * 0.8 - 0.1, y * 0.8 + 0.1])
    tables = segment_performance(
        frame,
        y,
        task="classification",
        metric="roc_auc",
        schema=schema,
        proba=proba,
        columns=["Embarked", "Sex", "Age"],
    )
    age = next(t for t in tables if t.column == "Age")
    assert any(s.label == "(missing)" for s in age.segments)  # 177 rows without an age
    embarked = next(t for t in tables if t.column == "Embarked")
    assert sum(s.rows for s in embarked.segments) == frame["Embarked"].notna().sum()
