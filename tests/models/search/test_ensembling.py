"""Tests for the search's last phase: the temperature that calibrates the
final model's class probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from cairn.models.catalog import Learner
from cairn.models.ensemble import EnsembleModel, fit_temperature, tempered
from cairn.models.search import final_oof, finalize
from tests.models.search.conftest import kfolds, run_search


class Hesitant(BaseEstimator):
    """A logistic regression whose probabilities are pulled halfway to
    uniform: right about the order of the rows, too unsure of each."""

    def fit(self, X: Any, y: Any) -> Hesitant:
        self.model_ = LogisticRegression(max_iter=5000).fit(X, y)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        proba = self.model_.predict_proba(X)
        return 0.5 * proba + 0.5 / proba.shape[1]

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.predict_proba(X).argmax(axis=1))


def _hesitant() -> Learner:
    def factory(kind: str, n_rows: int, seed: int, n_jobs: int, params: Any = None) -> Hesitant:
        return Hesitant()

    return Learner(
        "hesitant", "Hesitant", factory, lambda trial, kind, n_rows: {}, needs_scaling=True
    )


def test_unsure_probabilities_are_sharpened_and_the_final_model_keeps_the_temperature(
    cancer: dict[str, Any],
) -> None:
    found = run_search(cancer, "log_loss", [_hesitant()], ensemble="greedy")
    assert found.temperature < 0.8
    plain, calibrated = final_oof(found), final_oof(found, calibrated=True)
    assert plain is not None and calibrated is not None
    y = cancer["y"]
    assert log_loss(y, calibrated) < 0.9 * log_loss(y, plain)
    assert np.mean(found.calibrated_scores) == pytest.approx(log_loss(y, calibrated), rel=0.05)

    # the fold models are kept as they are: the catalog has no such family to refit
    final = finalize(
        found, cancer["X"], y, schema=cancer["schema"], seed=0, n_jobs=1, bag_max_rows=len(y)
    )
    assert isinstance(final.estimator, EnsembleModel)
    assert final.estimator.temperature == found.temperature
    assert "tempered" in final.description
    member = final.estimator.members[0].predict_proba(cancer["X"])
    np.testing.assert_allclose(
        final.estimator.predict_proba(cancer["X"]), tempered(member, found.temperature)
    )


def test_calibrated_probabilities_are_left_as_they_are(cancer: dict[str, Any]) -> None:
    found = run_search(cancer, "roc_auc", ["linear"], ensemble="greedy")
    assert found.temperature == 1.0
    assert found.calibrated_scores == []
    final = finalize(found, cancer["X"], cancer["y"], schema=cancer["schema"], seed=0, n_jobs=1)
    assert not isinstance(final.estimator, EnsembleModel)


class Overconfident(Hesitant):
    """A logistic regression sure of every answer, wrong ones included."""

    def predict_proba(self, X: Any) -> np.ndarray:
        return tempered(self.model_.predict_proba(X), 0.2)


def test_a_gain_carried_by_a_few_rows_of_small_data_is_not_taken(
    cancer: dict[str, Any],
) -> None:
    rows = np.random.default_rng(3).choice(len(cancer["y"]), size=80, replace=False)
    small = {
        **cancer,
        "X": cancer["X"].iloc[rows].reset_index(drop=True),
        "y": cancer["y"][rows],
        "folds": kfolds(80),
    }
    learner = Learner(
        "overconfident",
        "Overconfident",
        lambda kind, n_rows, seed, n_jobs, params=None: Overconfident(),
        lambda trial, kind, n_rows: {},
        needs_scaling=True,
    )
    found = run_search(small, "log_loss", [learner], ensemble="greedy")
    oof = final_oof(found)
    assert oof is not None
    # softening would lower the log loss on these rows, but only through the
    # handful the model gets wrong
    temperature = fit_temperature(oof, small["y"])
    assert temperature > 1.5
    assert log_loss(small["y"], tempered(oof, temperature)) < 0.9 * log_loss(small["y"], oof)
    assert found.temperature == 1.0
