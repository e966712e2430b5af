"""Models fitted on rows that miss some classes still answer for every class
(cairn.models.search.fit_pipeline, cairn.models.target.ClassAlignedClassifier)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from cairn.data.quality import check_and_clean
from cairn.models.catalog import LEARNERS
from cairn.models.ensemble import BaggedModel, fit_stacker
from cairn.models.search import fit_pipeline, predict_output
from cairn.models.target import ClassAlignedClassifier
from cairn.tasks import get_task
from cairn.workflow._prepare import _encode_target
from tests.conftest import load_dataset


@pytest.fixture(scope="module")
def letters() -> tuple[pd.DataFrame, np.ndarray, object]:
    frame = load_dataset("letter", rows=1000)
    cleaned = check_and_clean(frame, target="letter", task="classification")
    y, schema = _encode_target(cleaned.frame, cleaned.schema)
    return cleaned.frame.drop(columns=["letter"]), y, schema


@pytest.mark.parametrize("family", ["lightgbm", "catboost", "linear"])
def test_fold_missing_a_middle_class_answers_for_all(
    letters: tuple[pd.DataFrame, np.ndarray, object], family: str
) -> None:
    X, y, schema = letters
    rng = np.random.default_rng(0)
    val = rng.random(len(y)) < 0.25
    # Letter "M" (code 12) is absent from the fitting rows but present in the
    # validation rows that boosting watches for early stopping.
    fit = ~val & (y != 12)
    assert (y[val] == 12).any()
    model, rounds = fit_pipeline(
        LEARNERS[family],
        schema,  # type: ignore[arg-type]
        X[fit],
        y[fit],
        task="classification",
        seed=0,
        deadline=time.monotonic() + 3,  # boosting: a few seconds of rounds
        X_val=X[val] if family != "linear" else None,
        y_val=y[val] if family != "linear" else None,
        n_classes=26,
    )
    assert isinstance(model.named_steps["model"], ClassAlignedClassifier)
    proba = predict_output(model, X[val], "classification")
    assert proba.shape == (int(val.sum()), 26)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert np.all(proba[:, 12] == 0.0)
    # The other letters are still learned: well above chance (1/26).
    assert float((proba.argmax(axis=1) == y[val]).mean()) > 0.25
    assert np.isfinite(get_task("classification").score("log_loss", y[val], proba))
    if family != "linear":
        assert rounds is not None and rounds > 1
    # Fold models of different class subsets average into one bag.
    full, _ = fit_pipeline(
        LEARNERS["linear"],
        schema,
        X[~val],
        y[~val],
        task="classification",
        seed=0,
        n_classes=26,  # type: ignore[arg-type]
    )
    bag = BaggedModel([model, full], "classification")
    assert bag.predict_proba(X[val]).shape == (int(val.sum()), 26)


def test_stacker_answers_for_a_class_its_rows_miss(
    letters: tuple[pd.DataFrame, np.ndarray, object],
) -> None:
    _, y, _ = letters
    rng = np.random.default_rng(1)
    oof = rng.dirichlet(np.ones(26), size=len(y))
    keep = y != 25
    stacker = fit_stacker([oof[keep]], y[keep], "classification", seed=0)
    assert stacker.predict_proba(oof[:5]).shape == (5, 26)
