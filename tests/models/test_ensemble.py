"""Tests for cairn.models.ensemble: temperatures and the ensemble object."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from cairn.models.ensemble import EnsembleModel, fit_temperature, tempered
from tests.conftest import load_dataset


def test_fit_temperature_undoes_a_known_softening() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(4000, 4))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(4, p=row) for row in proba])
    softened = tempered(proba, 2.0)
    assert fit_temperature(softened, y) == pytest.approx(0.5, rel=0.1)
    assert fit_temperature(proba, y) == pytest.approx(1.0, rel=0.1)


def test_a_bundle_pickled_before_temperatures_predicts_as_it_did() -> None:
    frame = load_dataset("banknote")
    X, y = frame.drop(columns=["class"]), frame["class"].to_numpy()
    member = LogisticRegression(max_iter=2000).fit(X, y)
    ensemble = EnsembleModel([member], [1.0], "classification")
    del ensemble.__dict__["temperature"]  # as an older version pickled it
    loaded = pickle.loads(pickle.dumps(ensemble))
    assert loaded.temperature == 1.0
    np.testing.assert_allclose(loaded.predict_proba(X), member.predict_proba(X))
