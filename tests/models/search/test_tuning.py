"""Tuning, feature selection, ensembles and reproducibility of the search,
on real data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import KFold, StratifiedKFold

from cairn.data.schema import infer_schema
from cairn.models.catalog import LEARNERS
from cairn.models.search import SearchResult, finalize
from cairn.tasks.metrics import score
from tests.conftest import load_dataset
from tests.models.search.conftest import run_search

TIMING_COLUMNS = ["fit_time_s", "predict_ms_per_row"]


def prepare(frame: pd.DataFrame, target: str, task: str) -> dict[str, Any]:
    schema = infer_schema(frame, target=target, task=task)
    X = frame.drop(columns=[target])
    if task == "classification":
        codes = pd.Categorical(frame[target].astype(str)).codes.astype(int)
        folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, codes))
        y = codes
    else:
        y = frame[target].to_numpy(dtype=float)
        folds = list(KFold(5, shuffle=True, random_state=0).split(X))
    return {"X": X, "y": y, "schema": schema, "folds": folds, "task": task}


@pytest.fixture(scope="module")
def housing() -> dict[str, Any]:
    frame = load_dataset("california_housing", rows=2000, seed=1)
    return prepare(frame, "median_house_value", "regression")


@pytest.fixture(scope="module")
def adult() -> dict[str, Any]:
    frame = load_dataset("adult", rows=2000, seed=2)
    return prepare(frame, "class", "classification")


def run(data: dict[str, Any], metric: str, learners: list[str], **kwargs: Any) -> SearchResult:
    """The whole search (tuning, selection, ensemble) unless ``kwargs`` say otherwise."""
    options = {"seed": 7, "max_trials": None, "ensemble": "greedy", "select_features": True}
    return run_search(data, metric, list(learners), **{**options, **kwargs})


def test_tuning_improves_on_the_default(housing: dict[str, Any]) -> None:
    outcome = run(
        housing, "rmse", ["lightgbm"], max_trials=12, ensemble="none", select_features=False
    )
    default = outcome.candidate("lightgbm")
    tuned = [c for c in outcome.candidates if c.config.origin == "tpe" and c.status == "ok"]
    assert outcome.n_trials == 12
    assert tuned, "no trial completed"
    assert min(c.cv_mean for c in tuned) < default.cv_mean
    assert outcome.candidate(outcome.best).config.origin == "tpe"
    # Boosting early-stopped on each fold and recorded the rounds it used.
    assert len(default.rounds) == 5 and all(r > 0 for r in default.rounds)


def test_same_seed_same_leaderboard(adult: dict[str, Any]) -> None:
    first = run(adult, "roc_auc", ["linear", "lightgbm"], max_trials=5)
    second = run(adult, "roc_auc", ["linear", "lightgbm"], max_trials=5)
    pd.testing.assert_frame_equal(
        first.trials.drop(columns=TIMING_COLUMNS), second.trials.drop(columns=TIMING_COLUMNS)
    )
    assert first.ensemble == second.ensemble


def test_grid_tuner_exhausts_its_grid() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = X.assign(target=y)
    data = prepare(frame, "target", "classification")
    outcome = run(
        data, "log_loss", ["linear"], tuner="grid", ensemble="none", select_features=False
    )
    grid = [c for c in outcome.candidates if c.config.origin == "grid"]
    assert sorted(c.config.params["C"] for c in grid) == [0.01, 0.1, 1.0, 10.0]


def test_random_tuner_draws_configurations(adult: dict[str, Any]) -> None:
    outcome = run(adult, "roc_auc", ["knn"], tuner="random", max_trials=3, ensemble="none")
    drawn = [c for c in outcome.candidates if c.config.origin == "random"]
    assert len(drawn) == 3
    assert len({c.config.params["n_neighbors"] for c in drawn}) > 1


def test_ensemble_beats_or_matches_its_best_member(adult: dict[str, Any]) -> None:
    outcome = run(adult, "roc_auc", ["linear", "lightgbm", "knn"], max_trials=4)
    assert outcome.ensemble, "greedy selection found no ensemble better than one model"
    assert sum(outcome.ensemble.values()) == pytest.approx(1.0)
    members = [outcome.candidate(name) for name in outcome.ensemble]
    combined = sum(w * c.oof for c, w in zip(members, outcome.ensemble.values(), strict=True))
    ensemble_oof = score("roc_auc", adult["y"], proba=np.asarray(combined))
    best_single = max(
        score("roc_auc", adult["y"], proba=c.oof)
        for c in outcome.candidates
        if c.complete and c.oof is not None
    )
    assert ensemble_oof >= best_single
    board = outcome.leaderboard
    assert board.iloc[0]["model"] == "ensemble"


def test_final_ensemble_predicts_like_a_model(adult: dict[str, Any]) -> None:
    outcome = run(adult, "roc_auc", ["linear", "lightgbm"], max_trials=2)
    final = finalize(outcome, adult["X"], adult["y"], schema=adult["schema"], seed=7)
    proba = final.estimator.predict_proba(adult["X"].head(20))
    assert proba.shape == (20, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(final.members) == set(outcome.ensemble or {outcome.best: 1.0})


def test_stacking_option(housing: dict[str, Any]) -> None:
    outcome = run(housing, "rmse", ["linear", "lightgbm", "knn"], max_trials=0, ensemble="stacking")
    if outcome.ensemble:
        assert outcome.ensemble_method == "stacking"
        assert outcome.stacker is not None
        final = finalize(outcome, housing["X"], housing["y"], schema=housing["schema"], seed=7)
        assert final.estimator.predict(housing["X"].head(5)).shape == (5,)
    else:  # stacking did not beat the best model; the search says so by omission
        assert outcome.ensemble_method == "none"


def test_feature_selection_drops_pure_noise(adult: dict[str, Any]) -> None:
    rng = np.random.default_rng(0)
    X = adult["X"].copy()
    for i in range(3):
        X[f"noise_{i}"] = rng.normal(size=len(X))
    data = {**adult, "X": X, "schema": infer_schema(X)}
    data["schema"] = type(data["schema"])(
        columns=data["schema"].columns, target="class", task="classification"
    )
    outcome = run(data, "roc_auc", ["lightgbm"], max_trials=0, ensemble="none")
    dropped = set(outcome.dropped_features)
    assert len(dropped & {"noise_0", "noise_1", "noise_2"}) >= 2
    variant = outcome.candidate("lightgbm+selected")
    assert variant.n_features < outcome.candidate("lightgbm").n_features
    assert "lightgbm+selected" in set(outcome.leaderboard["model"])


def test_pca_variants_are_their_own_candidates(housing: dict[str, Any]) -> None:
    outcome = run(
        housing,
        "rmse",
        ["linear", "knn"],
        max_trials=0,
        ensemble="none",
        pca=True,
        select_features=False,
    )
    variants = {c.name: c for c in outcome.candidates if c.config.origin == "pca"}
    assert set(variants) == {"linear+pca", "knn+pca"}
    assert all(c.status == "ok" for c in variants.values())
    final = finalize(outcome, housing["X"], housing["y"], schema=housing["schema"], seed=7)
    assert np.isfinite(final.estimator.predict(housing["X"].head(3))).all()


def test_small_data_members_can_be_bagged(adult: dict[str, Any]) -> None:
    from cairn.models.ensemble import BaggedModel

    outcome = run(adult, "roc_auc", ["lightgbm"], max_trials=0, ensemble="none")
    final = finalize(
        outcome, adult["X"], adult["y"], schema=adult["schema"], seed=7, bag_max_rows=10**6
    )
    assert isinstance(final.estimator, BaggedModel)
    assert len(final.estimator.models) == 5
    # The bag is exactly the fold models that produced the out-of-fold scores.
    candidate = outcome.candidate(outcome.best)
    assert candidate.fold_models is not None and candidate.oof is not None
    _, validation = adult["folds"][0]
    np.testing.assert_allclose(
        candidate.fold_models[0].predict_proba(adult["X"].iloc[validation]),
        candidate.oof[validation],
    )


def test_greedy_selection_keeps_at_most_the_allowed_members(adult: dict[str, Any]) -> None:
    from cairn.models.ensemble import greedy_selection

    outcome = run(adult, "roc_auc", ["linear", "lightgbm", "knn", "extra_trees"], max_trials=0)
    oofs = [c.oof for c in outcome.candidates if c.complete and c.oof is not None]
    assert len(oofs) >= 4

    def auc(output: np.ndarray) -> float:
        return score("roc_auc", adult["y"], proba=output)

    free = greedy_selection(oofs, auc, greater_is_better=True, max_rounds=40)
    capped = greedy_selection(oofs, auc, greater_is_better=True, max_rounds=40, max_members=2)
    assert np.count_nonzero(capped) <= 2
    assert capped.sum() == pytest.approx(1.0)
    best_single = max(auc(o) for o in oofs)
    combined = auc(np.tensordot(capped, np.stack(oofs), axes=1))
    assert best_single <= combined <= auc(np.tensordot(free, np.stack(oofs), axes=1)) + 1e-9


def test_ensemble_pool_holds_each_family_leader(adult: dict[str, Any]) -> None:
    outcome = run(adult, "roc_auc", ["lightgbm", "linear", "knn"], max_trials=8)
    families = {c.family for c in outcome.candidates if c.complete}
    # Many lightgbm trials, but each family's best keeps its fold models.
    for family in families:
        leader = max(
            (c for c in outcome.candidates if c.family == family and c.complete),
            key=lambda c: c.cv_mean,
        )
        assert leader.fold_models is not None, family


def test_every_family_tries_its_portfolio_before_exploring(adult: dict[str, Any]) -> None:
    from cairn.models.search._tuning import _space_keys
    from cairn.tasks import get_task

    task = get_task("classification")
    # Each family's portfolio entries (after its default), as its study sees them.
    expected = {
        name: [
            {k: v for k, v in config.items() if k in _space_keys(LEARNERS[name], task)}
            for config in LEARNERS[name].portfolio[1:]
        ]
        for name in ("lightgbm", "linear")
    }
    expected = {name: [c for c in configs if c] for name, configs in expected.items()}
    n_portfolio = sum(len(configs) for configs in expected.values())
    assert n_portfolio >= 2
    outcome = run(adult, "roc_auc", ["lightgbm", "linear"], max_trials=n_portfolio)
    tuned = [c for c in outcome.candidates if c.config.origin == "tpe"]
    assert len(tuned) == n_portfolio
    for name, configs in expected.items():
        tried = [c.config.params for c in tuned if c.family == name]
        assert len(tried) == len(configs)
        for config in configs:
            assert any(all(p.get(k) == v for k, v in config.items()) for p in tried), config


def test_catboost_tries_native_categories_and_plain_codes() -> None:
    from cairn.features.preprocess import CategoryCodes

    frame = load_dataset("german_credit")
    data = prepare(frame, "default", "classification")
    outcome = run(data, "roc_auc", ["catboost"], max_trials=2, select_features=False)
    default = outcome.candidate("catboost")
    assert default.fold_models is not None
    assert isinstance(default.fold_models[0].named_steps["prep"], CategoryCodes)
    natives = {c.config.params.get("native_categories", True) for c in outcome.candidates}
    assert natives == {True, False}
    assert all(c.status == "ok" for c in outcome.candidates)


def test_latency_objective_keeps_to_exportable_configurations() -> None:
    frame = load_dataset("german_credit")
    data = prepare(frame, "default", "classification")
    outcome = run(
        data,
        "roc_auc",
        ["catboost", "knn", "linear"],
        max_trials=2,
        select_features=False,
        exportable_only=True,
    )
    assert "knn" not in {c.family for c in outcome.candidates}
    boosted = [c for c in outcome.candidates if c.family == "catboost"]
    assert boosted
    assert all(c.config.params.get("native_categories") is False for c in boosted)
