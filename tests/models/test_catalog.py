"""Tests for cairn.models.catalog: the learner families and how they are chosen."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest
from sklearn.base import is_classifier, is_regressor

from cairn.exceptions import SpecError, TrainingError
from cairn.models.catalog import LEARNERS, Learner, choose_learners
from cairn.spec import ModelName
from cairn.tasks import get_task, task_names

ALL = ["linear", "lightgbm", "knn", "extra_trees", "random_forest", "catboost"]


def names(learners: list[Learner]) -> list[str]:
    return [learner.name for learner in learners]


def test_catalog_matches_the_spec_model_names() -> None:
    # Every name a spec may include/exclude is a learner, and the other way round.
    allowed = set(get_args(ModelName))
    assert set(LEARNERS) == allowed == set(ALL)
    for name, learner in LEARNERS.items():
        assert learner.name == name
        assert learner.label


def test_default_choice_is_everything_cheapest_first() -> None:
    chosen = choose_learners(n_rows=1_000)
    assert sorted(names(chosen)) == sorted(ALL)
    costs = [learner.cost for learner in chosen]
    assert costs == sorted(costs)
    assert chosen[0].name == "lightgbm"
    assert chosen[-1].name == "catboost"


def test_include_is_reordered_by_cost() -> None:
    chosen = choose_learners(n_rows=1_000, include=["catboost", "random_forest", "lightgbm"])
    assert names(chosen) == ["lightgbm", "random_forest", "catboost"]


def test_exclude_removes_families() -> None:
    chosen = choose_learners(n_rows=1_000, exclude=["catboost", "knn"])
    assert sorted(names(chosen)) == sorted(set(ALL) - {"catboost", "knn"})


def test_include_and_exclude_together() -> None:
    chosen = choose_learners(n_rows=1_000, include=["lightgbm", "linear"], exclude=["linear"])
    assert names(chosen) == ["lightgbm"]


def test_knn_dropped_above_max_rows() -> None:
    limit = LEARNERS["knn"].max_rows
    assert limit is not None
    assert "knn" in names(choose_learners(n_rows=limit))
    above = names(choose_learners(n_rows=limit + 1))
    assert "knn" not in above
    assert sorted(above) == sorted(set(ALL) - {"knn"})


def test_explicit_include_keeps_knn_on_large_data() -> None:
    limit = LEARNERS["knn"].max_rows
    assert limit is not None
    assert names(choose_learners(n_rows=limit * 10, include=["knn"])) == ["knn"]


@pytest.mark.parametrize(
    ("include", "exclude"), [(["xgboost"], []), ([], ["svm"]), (["linear", "Linear"], [])]
)
def test_unknown_name(include: list[str], exclude: list[str]) -> None:
    with pytest.raises(SpecError, match=r"unknown model '(xgboost|svm|Linear)'.*allowed:"):
        choose_learners(n_rows=100, include=include, exclude=exclude)


def test_nothing_left() -> None:
    with pytest.raises(SpecError, match="no model to try"):
        choose_learners(n_rows=100, exclude=ALL)
    with pytest.raises(SpecError, match="no model to try"):
        choose_learners(n_rows=100, include=["knn"], exclude=["knn"])


def test_only_knn_on_large_data_is_nothing_left() -> None:
    limit = LEARNERS["knn"].max_rows
    assert limit is not None
    with pytest.raises(SpecError):
        choose_learners(n_rows=limit + 1, exclude=[name for name in ALL if name != "knn"])


@pytest.fixture(scope="module")
def small_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y_class = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    y_reg = 3.0 * X[:, 0] - X[:, 2] + rng.normal(scale=0.1, size=120)
    return X, y_class, y_reg


@pytest.mark.parametrize("name", ALL)
def test_make_classifier(name: str, small_data) -> None:
    X, y, _ = small_data
    model = LEARNERS[name].make(get_task("classification"), n_rows=len(X), seed=0, n_jobs=1)
    assert is_classifier(model)
    model.fit(X, y)
    prediction = np.asarray(model.predict(X)).ravel()
    assert prediction.shape == (len(X),)
    assert set(np.unique(prediction)) <= {0, 1}
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # Each family learns something on this easy, separable problem.
    assert (prediction == y).mean() > 0.8


@pytest.mark.parametrize("name", ALL)
def test_make_regressor(name: str, small_data) -> None:
    X, _, y = small_data
    model = LEARNERS[name].make(get_task("regression"), n_rows=len(X), seed=0, n_jobs=1)
    assert is_regressor(model)
    model.fit(X, y)
    prediction = np.asarray(model.predict(X), dtype=float)
    assert prediction.shape == (len(X),)
    assert np.isfinite(prediction).all()
    assert np.corrcoef(prediction, y)[0, 1] > 0.8


@pytest.mark.parametrize("name", ["random_forest", "extra_trees", "lightgbm", "linear"])
def test_seed_is_passed_on(name: str) -> None:
    model = LEARNERS[name].make(get_task("regression"), n_rows=100, seed=123, n_jobs=1)
    assert model.get_params()["random_state"] == 123


@pytest.mark.parametrize("task_name", [t for t in task_names() if get_task(t).needs_target])
@pytest.mark.parametrize("name", ALL)
def test_every_family_builds_and_searches_for_every_task(name: str, task_name: str) -> None:
    import optuna

    task = get_task(task_name)
    model = LEARNERS[name].make(task, n_rows=100, seed=0)
    check = {"classifier": is_classifier, "regressor": is_regressor}[task.estimator_kind]
    assert check(model)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    params = LEARNERS[name].suggest(trial, task, 100)
    assert params
    configured = LEARNERS[name].make(task, n_rows=100, seed=0, params=params)
    assert check(configured)


def test_a_family_without_the_kind_a_task_asks_for_is_named() -> None:
    with pytest.raises(
        TrainingError,
        match=r"'random_forest' has no ranker estimator; it builds: classifier, regressor; "
        r"add 'random_forest' to exclude in \[train\]",
    ):
        LEARNERS["random_forest"].factory("ranker", 100, 0, 1, {})
    with pytest.raises(TrainingError, match=r"'linear' has no ranker estimator"):
        LEARNERS["linear"].factory("ranker", 100, 0, 1, {})


def test_forest_defaults_follow_the_estimator_kind() -> None:
    forest = LEARNERS["random_forest"].make(get_task("classification"), n_rows=100, seed=0)
    assert forest.min_samples_leaf == 1 and forest.max_features == "sqrt"
    forest = LEARNERS["random_forest"].make(get_task("regression"), n_rows=100, seed=0)
    assert forest.min_samples_leaf == 2 and forest.max_features == 0.5
    trees = LEARNERS["extra_trees"].make(get_task("regression"), n_rows=100, seed=0)
    assert trees.min_samples_leaf == 2 and trees.max_features == 0.7


def test_size_dependent_settings() -> None:
    small = LEARNERS["lightgbm"].make(get_task("classification"), n_rows=500, seed=0)
    large = LEARNERS["lightgbm"].make(get_task("classification"), n_rows=50_000, seed=0)
    assert small.get_params()["num_leaves"] < large.get_params()["num_leaves"]
    forest_small = LEARNERS["random_forest"].make(get_task("regression"), n_rows=500, seed=0)
    forest_large = LEARNERS["random_forest"].make(get_task("regression"), n_rows=50_000, seed=0)
    assert forest_small.n_estimators > forest_large.n_estimators


def test_preprocessing_flags() -> None:
    assert LEARNERS["linear"].needs_scaling and not LEARNERS["linear"].ordinal_categories
    assert LEARNERS["knn"].needs_scaling
    for name in ("lightgbm", "extra_trees", "random_forest", "catboost"):
        assert LEARNERS[name].ordinal_categories, name
        assert not LEARNERS[name].needs_scaling, name
