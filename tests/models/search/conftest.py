"""Data shared by the search's tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import KFold

from cairn.data.schema import ColumnSchema, Role, Schema
from cairn.models.catalog import LEARNERS, Learner
from cairn.models.search import SearchResult, search


def numeric_schema(frame: pd.DataFrame, *, target: str, task: str) -> Schema:
    return Schema(
        columns=tuple(ColumnSchema(name, Role.NUMERIC, "float") for name in frame.columns),
        target=target,
        task=task,
    )


def kfolds(n_rows: int, n_splits: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    return list(KFold(n_splits=n_splits, shuffle=True, random_state=0).split(np.arange(n_rows)))


def _case(X: pd.DataFrame, y: np.ndarray, task: str) -> dict[str, Any]:
    return {
        "X": X,
        "y": y,
        "schema": numeric_schema(X, target="target", task=task),
        "folds": kfolds(len(X)),
        "task": task,
    }


@pytest.fixture(scope="module")
def cancer() -> dict[str, Any]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return _case(X, y.to_numpy().astype(int), "classification")


@pytest.fixture(scope="module")
def diabetes() -> dict[str, Any]:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return _case(X, y.to_numpy().astype(float), "regression")


def run_search(
    case: dict[str, Any], metric: str, learners: list[Learner | str], **options: Any
) -> SearchResult:
    """A search on ``case``; by default each family's default only: no
    tuning, no feature selection, no ensemble."""
    settings: dict[str, Any] = {
        "time_budget": 600,
        "n_jobs": 2,
        "max_trials": 0,
        "ensemble": "none",
        "select_features": False,
        **options,
    }
    return search(
        case["X"],
        case["y"],
        schema=case["schema"],
        folds=case["folds"],
        task=case["task"],
        metric=metric,
        learners=[LEARNERS[lr] if isinstance(lr, str) else lr for lr in learners],
        **settings,
    )
