"""Which tasks let the search fit on a log-scale target (Task.transform_target)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from cairn.data.schema import infer_schema
from cairn.models.catalog import LEARNERS
from cairn.models.search import search
from cairn.models.target import log_target_worth_trying
from cairn.tasks import get_task
from tests.conftest import load_dataset


def test_only_a_numeric_target_may_be_transformed() -> None:
    assert get_task("regression").transform_target
    assert not get_task("classification").transform_target


def test_a_search_over_classes_never_tries_a_log_target() -> None:
    # The codes of a rare positive class (2 % of mammography's rows) have
    # the long right tail of a log-worthy target; the task rules it out.
    frame = load_dataset("mammography", rows=600, seed=0)
    schema = infer_schema(frame, target="class")
    assert schema.task == "classification"
    X = frame.drop(columns=["class"])
    codes = pd.Categorical(frame["class"].astype(str), categories=list(schema.classes or ()))
    y = np.asarray(codes.codes, dtype=int)
    assert log_target_worth_trying(y)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    outcome = search(
        X,
        y,
        schema=schema,
        folds=folds,
        task="classification",
        metric="roc_auc",
        learners=[LEARNERS["linear"]],
        time_budget=120,
        seed=0,
        n_jobs=1,
        max_trials=0,
        ensemble="none",
        select_features=False,
    )
    assert [c.name for c in outcome.candidates] == ["linear"]
    assert outcome.target_transform is None
