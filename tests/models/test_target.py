"""Tests for cairn.models.target: the log-scale target for skewed regression,
and vote-share classifiers smoothed towards the class frequencies."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline

from cairn.data.schema import infer_schema
from cairn.models.catalog import LEARNERS
from cairn.models.search import fit_pipeline, search
from cairn.models.target import (
    LogTargetRegressor,
    SmoothedClassifier,
    innermost,
    log_target_worth_trying,
    vote_count,
)
from tests.conftest import load_dataset


def test_skewed_non_negative_targets_qualify() -> None:
    assert log_target_worth_trying(load_dataset("ames_house_prices")["SalePrice"].to_numpy())
    assert log_target_worth_trying(load_dataset("insurance")["charges"].to_numpy())
    # Symmetric, negative or constant targets do not.
    rng = np.random.default_rng(0)
    assert not log_target_worth_trying(rng.normal(100.0, 1.0, 500))
    assert not log_target_worth_trying(rng.lognormal(size=500) - 0.5)
    assert not log_target_worth_trying(np.full(100, 3.0))
    assert not log_target_worth_trying(np.array([1.0, 2.0, np.nan] * 10))


def test_regressor_learns_the_log_and_predicts_the_original_scale() -> None:
    frame = load_dataset("insurance")
    X = frame[["age", "bmi", "children"]].to_numpy(dtype=float)
    y = frame["charges"].to_numpy(dtype=float)
    model = Pipeline([("model", LogTargetRegressor(Ridge(alpha=1.0)))]).fit(X, y)
    inner = model.named_steps["model"].regressor
    np.testing.assert_allclose(model.predict(X[:10]), np.expm1(inner.predict(X[:10])))
    assert model.named_steps["model"].n_features_in_ == 3
    assert (model.predict(X) > 0).all()  # a log-scale model never predicts a negative charge


def test_search_keeps_the_log_scale_only_when_it_scores_better() -> None:
    frame = load_dataset("ames_house_prices", rows=600, seed=3)
    schema = infer_schema(frame, target="SalePrice", task="regression")
    X = frame.drop(columns=["SalePrice"])
    y = frame["SalePrice"].to_numpy(dtype=float)
    folds = list(KFold(4, shuffle=True, random_state=0).split(X))
    outcome = search(
        X,
        y,
        schema=schema,
        folds=folds,
        task="regression",
        metric="rmse",
        learners=[LEARNERS["lightgbm"], LEARNERS["linear"]],
        time_budget=600,
        seed=0,
        n_jobs=2,
        max_trials=3,
        select_features=False,
    )
    plain, logged = outcome.candidate("lightgbm"), outcome.candidate("lightgbm+log")
    assert logged.config.origin == "log_target"
    assert logged.config.params == {"log_target": True}
    chose_log = logged.cv_mean < plain.cv_mean
    assert outcome.target_transform == ("log1p" if chose_log else None)
    later = [c for c in outcome.candidates if c.name not in ("lightgbm", "lightgbm+log")]
    assert later
    assert all(bool(c.config.params.get("log_target")) == chose_log for c in later)
    # Out-of-fold predictions are on the original scale either way.
    assert np.nanmedian(logged.oof) == pytest.approx(np.median(y), rel=0.3)


def test_fit_pipeline_early_stops_on_the_log_scale() -> None:
    frame = load_dataset("insurance")
    schema = infer_schema(frame, target="charges", task="regression")
    X = frame.drop(columns=["charges"])
    y = frame["charges"].to_numpy(dtype=float)
    pipeline, rounds = fit_pipeline(
        LEARNERS["lightgbm"],
        schema,
        X.iloc[:900],
        y[:900],
        task="regression",
        seed=0,
        params={"log_target": True},
        X_val=X.iloc[900:],
        y_val=y[900:],
    )
    assert isinstance(pipeline.named_steps["model"], LogTargetRegressor)
    assert rounds is not None and 10 < rounds < 3000
    error = np.sqrt(np.mean((pipeline.predict(X.iloc[900:]) - y[900:]) ** 2))
    assert error < 0.5 * np.std(y[900:])


def _wine() -> tuple[Any, np.ndarray]:
    frame = load_dataset("wine_quality_red")
    X = frame.drop(columns=["quality"])
    codes = np.unique(frame["quality"], return_inverse=True)[1]
    return X, codes


def test_vote_shares_never_leave_a_class_at_zero() -> None:
    """Red wine quality: grades 3 and 8 hold 10 and 18 of 1,599 rows. A forest
    gives some of their rows probability 0 for their own grade, and each such
    row costs a log loss of 34.5; one pseudo-vote removes that."""
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    X, y = _wine()
    n_classes = int(y.max()) + 1
    plain, smoothed = np.zeros((len(y), n_classes)), np.zeros((len(y), n_classes))
    for fit, val in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        forest = ExtraTreesClassifier(n_estimators=100, random_state=0, n_jobs=2)
        forest.fit(X.iloc[fit], y[fit])
        plain[np.ix_(val, forest.classes_)] = forest.predict_proba(X.iloc[val])
        votes = vote_count(forest)
        assert votes == 100
        model = SmoothedClassifier.around(forest, y[fit])
        assert model.share == pytest.approx(1 / 101)
        smoothed[val] = model.predict_proba(X.iloc[val])
    assert (plain[np.arange(len(y)), y] == 0).any()
    assert (smoothed > 0).all()
    np.testing.assert_allclose(smoothed.sum(axis=1), 1.0)
    floor = 1e-15
    before = log_loss(y, np.clip(plain, floor, 1), labels=np.arange(n_classes))
    after = log_loss(y, smoothed, labels=np.arange(n_classes))
    assert after < 0.95 * before
    # a confident answer moves by at most the pseudo-vote's share
    assert np.abs(smoothed - plain).max() <= 1 / 101 + 1e-12


def test_fitting_learns_the_prior_in_the_classifiers_column_order() -> None:
    """Fitted through the wrapper or wrapped once fitted, the same model;
    class codes that skip a value (0 and 2 only) keep their own columns."""
    from sklearn.ensemble import RandomForestClassifier

    X, y = _wine()
    y = np.where(y < 3, 0, 2)
    wrapped = SmoothedClassifier(RandomForestClassifier(n_estimators=20, random_state=0))
    wrapped.fit(X, y)
    around = SmoothedClassifier.around(
        RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y), y
    )
    np.testing.assert_allclose(wrapped.predict_proba(X), around.predict_proba(X))
    frequencies = np.array([(y == 0).sum() + 1, (y == 2).sum() + 1]) / (len(y) + 2)
    np.testing.assert_allclose(wrapped.prior, frequencies)
    assert wrapped.share == pytest.approx(1 / 21)
    assert list(wrapped.classes_) == [0, 2]


def test_search_smooths_forests_and_neighbours_only() -> None:
    from sklearn.metrics import roc_auc_score

    frame = load_dataset("titanic")
    schema = infer_schema(frame, target="Survived", task="classification")
    X = frame.drop(columns=["Survived"])
    y = frame["Survived"].to_numpy(dtype=int)
    for name, smoothed in (("random_forest", True), ("knn", True), ("lightgbm", False)):
        pipeline, _ = fit_pipeline(
            LEARNERS[name], schema, X, y, task="classification", seed=0, n_classes=2
        )
        model = pipeline.named_steps["model"]
        assert isinstance(model, SmoothedClassifier) is smoothed, name
        if smoothed:
            raw = innermost(model).predict_proba(pipeline.named_steps["prep"].transform(X))
            proba = pipeline.predict_proba(X)
            assert proba.min() > 0
            # a binary model's ranking of the rows is unchanged
            assert roc_auc_score(y, proba[:, 1]) == pytest.approx(roc_auc_score(y, raw[:, 1]))
    assert vote_count(innermost(model)) is None
