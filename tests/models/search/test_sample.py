"""Large data under a time budget: the search's row sample, the final refit on
the rows its time allows, and the cap on boosting rounds a large test set
imposes."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from cairn.data.schema import Schema, infer_schema
from cairn.data.split import Fold
from cairn.models.catalog import LEARNERS, MAX_BOOSTING_ROUNDS
from cairn.models.search import SearchResult, finalize, predict_output, search
from cairn.models.search._finalize import _rows_in_time
from cairn.models.search._results import CandidateResult, Config
from cairn.models.search._sample import (
    MIN_SEARCH_ROWS,
    refit_rows,
    rounds_for_predictions,
    sample_positions,
    search_rows,
    subset_folds,
)
from tests.conftest import load_dataset


def test_search_rows_are_all_rows_on_small_data_and_a_sample_on_large() -> None:
    assert search_rows(5_000, 20, 2, 30.0, 5) == 5_000
    assert search_rows(MIN_SEARCH_ROWS, 20, 2, 1.0, 5) == MIN_SEARCH_ROWS
    # 1M rows x 18 columns with 13 s: a sample, never under the floor.
    assert search_rows(1_000_000, 18, 0, 13.0, 5) == MIN_SEARCH_ROWS
    # More time affords more rows; more classes fewer.
    assert search_rows(1_000_000, 18, 0, 600.0, 5) > search_rows(1_000_000, 18, 0, 60.0, 5)
    assert search_rows(1_000_000, 18, 10, 600.0, 5) < search_rows(1_000_000, 18, 2, 600.0, 5)


def test_a_class_sample_keeps_every_class_and_its_share() -> None:
    y = np.r_[np.zeros(99_000, int), np.ones(990, int), np.full(10, 2)]
    keep = sample_positions(y, 10_000, seed=0, classes=True)
    assert np.all(np.diff(keep) > 0)
    counts = np.bincount(y[keep])
    assert counts[2] == 10  # a class rarer than the floor keeps all its rows
    assert counts[1] >= 20 and abs(counts[0] - 9_900) <= 1
    plain = sample_positions(np.arange(1_000.0), 100, seed=0, classes=False)
    assert len(plain) == 100 and len(np.unique(plain)) == 100


def test_subset_folds_keep_the_partition_and_renumber_rows() -> None:
    y = np.arange(1_000) % 2
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(1_000), y))
    keep = sample_positions(y, 300, seed=1, classes=True)
    subset = subset_folds(folds, keep, 1_000)
    seen = np.concatenate([val for _, val in subset])
    assert sorted(seen) == list(range(len(keep)))  # each sampled row validated once
    for (fit, val), (old_fit, old_val) in zip(subset, folds, strict=True):
        assert set(keep[val]) <= set(old_val) and set(keep[fit]) <= set(old_fit)


def test_refit_rows_and_rounds_follow_the_time() -> None:
    assert refit_rows(10.0, 1.0, 1_000, 1_000_000) == 10_000
    assert refit_rows(10.0, 1.0, 1_000, 5_000) == 5_000
    assert refit_rows(-1.0, 1.0, 1_000, 5_000) == 0
    assert rounds_for_predictions(0, 10.0, MAX_BOOSTING_ROUNDS) == MAX_BOOSTING_ROUNDS
    assert rounds_for_predictions(1_000, 60.0, MAX_BOOSTING_ROUNDS) == MAX_BOOSTING_ROUNDS
    capped = rounds_for_predictions(100_000, 13.0, MAX_BOOSTING_ROUNDS)
    assert 200 <= capped < MAX_BOOSTING_ROUNDS
    # A round grows a tree per class: 26 classes afford fewer rounds.
    assert rounds_for_predictions(1_000, 13.0, MAX_BOOSTING_ROUNDS) == MAX_BOOSTING_ROUNDS
    assert 200 < rounds_for_predictions(1_000, 13.0, MAX_BOOSTING_ROUNDS, 26) < MAX_BOOSTING_ROUNDS


def test_a_short_search_on_many_rows_runs_on_a_sample_and_refits_on_more() -> None:
    frame = load_dataset("adult")  # 32,561 rows: more than a 10 s search affords
    schema = infer_schema(frame, target="class", task="classification")
    X = frame.drop(columns=["class"])
    y = pd.Categorical(frame["class"].astype(str)).codes.astype(int)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    outcome = _lightgbm_defaults(
        X, y, schema, folds, task="classification", metric="roc_auc", seconds=10, n_jobs=2
    )
    assert outcome.sample_rows is not None
    assert MIN_SEARCH_ROWS <= outcome.sample_rows < len(X)
    assert outcome.fit_rows < outcome.sample_rows
    best = outcome.candidate(outcome.best)
    assert best.oof is not None and len(best.oof) == outcome.sample_rows
    assert best.status == "ok" and best.fold_models is not None
    # Time for more rows than a fold model saw, not for all of them (the fold
    # fits' time set high: a refit under 2 s would take every row anyway).
    best.fit_time_s = 10.0
    seconds = best.fit_time_s * 1.5 * 1.3  # 1.3 times the rows searched on
    final = finalize(
        outcome, X, y, schema=schema, seed=0, n_jobs=2, deadline=time.monotonic() + seconds
    )
    assert "refitted on" in final.description and f"of {len(X):,} rows" in final.description
    assert not final.bagged
    proba = predict_output(final.estimator, X.iloc[:30_000], "classification", workers=2)
    assert proba.shape == (30_000, 2)
    assert np.allclose(proba, predict_output(final.estimator, X.iloc[:30_000], "classification"))
    # With all the time it needs, the refit takes every row.
    everything = finalize(outcome, X, y, schema=schema, seed=0, n_jobs=2, deadline=None)
    assert everything.description.endswith("(refitted on all training rows)")
    # Out of time: the bag of fold models; without them, a refit on every row.
    late = time.monotonic() - 1
    bagged = finalize(outcome, X, y, schema=schema, seed=0, n_jobs=2, deadline=late)
    assert bagged.bagged
    best.fold_models = None
    refitted = finalize(outcome, X, y, schema=schema, seed=0, n_jobs=2, deadline=late)
    assert refitted.description.endswith("(refitted on all training rows)")


def test_a_large_test_set_caps_the_boosting_rounds() -> None:
    frame = load_dataset("california_housing", rows=4_000, seed=3)
    schema = infer_schema(frame, target="median_house_value", task="regression")
    X = frame.drop(columns=["median_house_value"])
    y = frame["median_house_value"].to_numpy(dtype=float)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y > np.median(y)))
    outcome = _lightgbm_defaults(
        X,
        y,
        schema,
        folds,
        task="regression",
        metric="rmse",
        seconds=4,
        n_jobs=1,
        predict_rows_after=10_000_000,
    )
    best = outcome.candidate(outcome.best)
    assert outcome.max_rounds == 200
    assert "max_rounds" not in best.config.params  # a setting of the search, not of a trial
    assert max(best.rounds) <= 200
    final = finalize(outcome, X, y, schema=schema, seed=0, n_jobs=1, deadline=None)
    model = final.estimator.named_steps["model"]
    assert getattr(model, "regressor", model).n_estimators <= 200  # the refit keeps the cap


def test_a_costly_first_configuration_ends_in_time_and_ships_its_finished_folds() -> None:
    # 26 classes: a LightGBM round grows 26 trees, and scoring a fold with
    # them is part of the fold's time.
    frame = load_dataset("letter", rows=6_000, seed=0)
    schema = infer_schema(frame, target="letter", task="classification")
    X = frame.drop(columns=["letter"])
    y = pd.Categorical(frame["letter"]).codes.astype(int)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    started = time.monotonic()
    outcome = _lightgbm_defaults(
        X, y, schema, folds, task="classification", metric="log_loss", seconds=4, n_jobs=2
    )
    assert time.monotonic() - started < 4 * 1.1 + 1.5
    best = outcome.candidate(outcome.best)
    assert best.status == "partial" and best.fold_models
    assert len(best.fold_models) == len(best.fold_scores) < len(folds)
    # No time left for a refit: the fold models that finished are the model.
    final = finalize(outcome, X, y, schema=schema, seed=0, n_jobs=2, deadline=time.monotonic())
    assert final.bagged and final.description == "lightgbm (bagged fold models)"
    proba = predict_output(final.estimator, X.iloc[:50], "classification")
    assert proba.shape == (50, 26) and np.allclose(proba.sum(axis=1), 1.0)


def test_refit_time_is_shared_in_proportion_to_each_members_cost() -> None:
    slow = CandidateResult("slow", Config("lightgbm"), fit_time_s=6.0)
    fast = CandidateResult("fast", Config("linear"), fit_time_s=1.0)
    outcome = SearchResult("rmse", "regression", [slow, fast], "slow", 0.0)
    # 12.6 s cover both refits (1.5 x 6 s and 1.5 x 1 s): the slow one gets its 9 s.
    deadline = time.monotonic() + 12.6
    rows = _rows_in_time(outcome, slow, 10_000, deadline, later=[fast])
    assert rows == 10_000
    # Half the time: each gets half of what it needs.
    rows = _rows_in_time(outcome, slow, 10_000, time.monotonic() + 5.25, later=[fast])
    assert 4_900 <= rows <= 5_000


def _lightgbm_defaults(
    X: pd.DataFrame,
    y: np.ndarray,
    schema: Schema,
    folds: list[Fold],
    *,
    task: str,
    metric: str,
    seconds: float,
    n_jobs: int,
    predict_rows_after: int = 0,
) -> SearchResult:
    """A search of LightGBM's default configurations alone."""
    return search(
        X,
        y,
        schema=schema,
        folds=folds,
        task=task,
        metric=metric,
        learners=[LEARNERS["lightgbm"]],
        time_budget=seconds,
        max_trials=0,
        seed=0,
        n_jobs=n_jobs,
        select_features=False,
        ensemble="none",
        predict_rows_after=predict_rows_after,
    )
