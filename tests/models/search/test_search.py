"""Tests for cairn.models.search: cross-validated search under a time budget."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from cairn.exceptions import TrainingError
from cairn.models.catalog import LEARNERS, Learner
from cairn.models.search import SearchResult, build_pipeline, search
from cairn.tasks import get_task
from tests.models.search.conftest import run_search


class FakeEstimator(BaseEstimator):
    """Predicts the training prior/mean; can be made slow or broken."""

    def __init__(self, kind: str = "classifier", delay: float = 0.0, fail: str = "") -> None:
        self.kind = kind
        self.delay = delay
        self.fail = fail

    def fit(self, X: Any, y: Any) -> FakeEstimator:
        if self.fail:
            raise RuntimeError(self.fail)
        time.sleep(self.delay)
        y = np.asarray(y)
        self.center_ = np.bincount(y) / len(y) if self.kind == "classifier" else y.mean()
        return self

    def predict(self, X: Any) -> np.ndarray:
        if self.kind == "classifier":
            return np.full(len(X), int(np.argmax(self.center_)))
        return np.full(len(X), self.center_)

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.tile(self.center_, (len(X), 1))


def fake_learner(name: str, *, delay: float = 0.0, fail: str = "", cost: int = 1) -> Learner:
    def factory(
        kind: str, n_rows: int, seed: int, n_jobs: int, params: Any = None
    ) -> FakeEstimator:
        return FakeEstimator(kind=kind, delay=delay, fail=fail)

    def space(trial: Any, kind: str, n_rows: int) -> dict[str, Any]:
        return {}

    return Learner(name, name.title(), factory, space, cost=cost)


@pytest.fixture(scope="module")
def cancer_result(cancer: dict[str, Any]) -> SearchResult:
    return run_search(cancer, "roc_auc", ["linear", "lightgbm"])


@pytest.fixture(scope="module")
def diabetes_result(diabetes: dict[str, Any]) -> SearchResult:
    return run_search(diabetes, "rmse", ["linear", "lightgbm"])


# ---------------------------------------------------------------------------
# Real learners
# ---------------------------------------------------------------------------


def test_build_pipeline(cancer: dict[str, Any]) -> None:
    pipeline = build_pipeline(
        LEARNERS["linear"], cancer["schema"], task="classification", n_rows=100, seed=0
    )
    assert isinstance(pipeline, Pipeline)
    assert [name for name, _ in pipeline.steps] == ["prep", "model"]
    pipeline.fit(cancer["X"], cancer["y"])
    assert pipeline.predict_proba(cancer["X"].head(3)).shape == (3, 2)


@pytest.mark.parametrize(
    ("data_name", "result_name", "metric", "higher_is_better"),
    [
        ("cancer", "cancer_result", "roc_auc", True),
        ("diabetes", "diabetes_result", "rmse", False),
    ],
)
def test_search_leaderboard(
    request: pytest.FixtureRequest,
    data_name: str,
    result_name: str,
    metric: str,
    higher_is_better: bool,
) -> None:
    data = request.getfixturevalue(data_name)
    result: SearchResult = request.getfixturevalue(result_name)
    column = f"cv_{metric}_mean"

    assert result.metric == metric
    assert [c.name for c in result.candidates] == ["linear", "lightgbm"]
    assert all(c.status == "ok" and c.error == "" for c in result.candidates)

    board = result.leaderboard
    assert len(board) == 2
    assert sorted(board["model"]) == ["lightgbm", "linear"]
    assert (board["status"] == "ok").all()
    assert (board["folds"] == 5).all()
    means = board[column].tolist()
    assert means == sorted(means, reverse=higher_is_better)
    assert means[0] != means[1]
    assert result.best == board["model"].iloc[0]
    assert {f"cv_{metric}_std", "fit_time_s", "predict_ms_per_row", "label"} <= set(board)

    y = data["y"]
    for candidate in result.candidates:
        assert len(candidate.fold_scores) == 5
        assert candidate.cv_mean == pytest.approx(np.mean(candidate.fold_scores))
        assert candidate.cv_std == pytest.approx(np.std(candidate.fold_scores))
        row = board.set_index("model").loc[candidate.name]
        assert row[column] == pytest.approx(candidate.cv_mean)
        assert candidate.fit_time_s > 0
        assert candidate.predict_ms_per_row > 0
        # Out-of-fold predictions fill every row, and each fold's score is
        # the metric of that fold's OOF predictions.
        oof = candidate.oof
        assert oof is not None
        assert oof.shape == ((len(y), 2) if data["task"] == "classification" else (len(y),))
        assert np.isfinite(oof).all()
        for (_, val_idx), fold_score in zip(data["folds"], candidate.fold_scores, strict=True):
            task = get_task(data["task"])
            assert task.score(metric, y[val_idx], oof[val_idx]) == pytest.approx(fold_score)


def test_search_scores_are_sensible(
    cancer_result: SearchResult, diabetes_result: SearchResult
) -> None:
    for candidate in cancer_result.candidates:
        assert candidate.cv_mean > 0.95, candidate.name
        assert candidate.oof is not None
        np.testing.assert_allclose(candidate.oof.sum(axis=1), 1.0)
    for candidate in diabetes_result.candidates:
        # The target's standard deviation is about 77; a useful model does better.
        assert 40 < candidate.cv_mean < 70, candidate.name


def test_progress_is_reported(cancer: dict[str, Any]) -> None:
    messages: list[str] = []
    search(
        cancer["X"],
        cancer["y"],
        schema=cancer["schema"],
        folds=cancer["folds"][:2],
        task="classification",
        metric="accuracy",
        learners=[fake_learner("alpha"), fake_learner("beta")],
        time_budget=600,
        max_trials=0,
        ensemble="none",
        select_features=False,
        progress=messages.append,
    )
    assert len(messages) == 2
    assert "Alpha" in messages[0] and "Beta" in messages[1]


# ---------------------------------------------------------------------------
# Failures and the time budget
# ---------------------------------------------------------------------------


def test_failing_learner_is_reported(cancer: dict[str, Any]) -> None:
    result = search(
        cancer["X"],
        cancer["y"],
        schema=cancer["schema"],
        folds=cancer["folds"],
        task="classification",
        metric="roc_auc",
        learners=[fake_learner("broken", fail="kaputt"), LEARNERS["linear"]],
        time_budget=600,
        max_trials=0,
        ensemble="none",
        select_features=False,
    )
    broken, linear = result.candidates
    assert broken.status == "failed"
    assert broken.error == "RuntimeError: kaputt"
    assert broken.fold_scores == []
    assert broken.oof is None
    assert linear.status == "ok"
    assert result.best == "linear"

    board = result.leaderboard
    assert board["model"].tolist() == ["linear", "broken"]
    assert board["status"].tolist() == ["ok", "failed"]
    assert board["error"].iloc[1] == "RuntimeError: kaputt"
    assert np.isnan(board["cv_roc_auc_mean"].iloc[1])


def test_all_failing_raises(diabetes: dict[str, Any]) -> None:
    with pytest.raises(TrainingError, match="no candidate") as caught:
        search(
            diabetes["X"],
            diabetes["y"],
            schema=diabetes["schema"],
            folds=diabetes["folds"],
            task="regression",
            metric="rmse",
            learners=[fake_learner("one", fail="first bad"), fake_learner("two", fail="worse")],
            time_budget=600,
            max_trials=0,
            ensemble="none",
            select_features=False,
        )
    message = str(caught.value)
    assert "one: RuntimeError: first bad" in message
    assert "two: RuntimeError: worse" in message


def test_later_learners_skipped_when_budget_spent(diabetes: dict[str, Any]) -> None:
    result = search(
        diabetes["X"],
        diabetes["y"],
        schema=diabetes["schema"],
        folds=diabetes["folds"],
        task="regression",
        metric="rmse",
        learners=[fake_learner("slow", delay=0.1), LEARNERS["linear"], LEARNERS["lightgbm"]],
        time_budget=0.05,
        n_jobs=-1,
    )
    slow, linear, lightgbm = result.candidates
    assert slow.status in ("ok", "partial")
    assert slow.fold_scores
    assert (linear.status, lightgbm.status) == ("skipped", "skipped")
    assert "time budget" in linear.error
    assert linear.fold_scores == [] and linear.oof is None
    assert result.best == "slow"
    assert result.leaderboard["status"].tolist()[1:] == ["skipped", "skipped"]


def test_tiny_budget_still_trains_the_first_candidate(diabetes: dict[str, Any]) -> None:
    result = search(
        diabetes["X"],
        diabetes["y"],
        schema=diabetes["schema"],
        folds=diabetes["folds"],
        task="regression",
        metric="rmse",
        learners=[LEARNERS["linear"], LEARNERS["lightgbm"], LEARNERS["knn"]],
        time_budget=1e-6,
    )
    statuses = {c.name: c.status for c in result.candidates}
    assert statuses["linear"] in ("ok", "partial")
    assert statuses["lightgbm"] == "skipped" and statuses["knn"] == "skipped"
    assert result.best == "linear"


def _one_fold_at_a_time(
    cancer: dict[str, Any], learners: list[Learner], *, time_budget: float
) -> SearchResult:
    """A log-loss search on ``cancer`` that fits one fold at a time (n_jobs=1)."""
    return search(
        cancer["X"],
        cancer["y"],
        schema=cancer["schema"],
        folds=cancer["folds"],
        task="classification",
        metric="log_loss",
        learners=learners,
        time_budget=time_budget,
        n_jobs=1,
    )


def test_budget_running_out_mid_candidate_is_partial(cancer: dict[str, Any]) -> None:
    # After the first slow fold the budget is spent.
    result = _one_fold_at_a_time(
        cancer, [fake_learner("slow", delay=0.1), LEARNERS["linear"]], time_budget=0.05
    )
    slow, linear = result.candidates
    assert slow.status == "partial"
    assert len(slow.fold_scores) == 1
    assert "after 1 folds" in slow.error
    assert slow.oof is not None
    validated = cancer["folds"][0][1]
    assert np.isfinite(slow.oof[validated]).all()
    assert np.isnan(slow.oof).any()
    assert slow.fold_models is not None and len(slow.fold_models) == 1  # what finished is kept
    assert linear.status == "skipped"
    assert result.best == "slow"


def test_partial_candidate_behind_the_leader_lets_its_fold_models_go(
    cancer: dict[str, Any],
) -> None:
    # The prior-predicting slow learner is cut short and ranks below the
    # logistic regression: no later stage can use its fold models.
    result = _one_fold_at_a_time(
        cancer, [LEARNERS["linear"], fake_learner("slow", delay=1.5)], time_budget=3.0
    )
    linear, slow = result.candidates
    assert linear.status == "ok" and linear.fold_models is not None
    assert slow.status == "partial" and slow.fold_scores
    assert slow.fold_models is None
    assert result.best == "linear"


def test_candidate_failing_after_good_folds_ranks_below_the_winner(
    cancer: dict[str, Any],
) -> None:
    from sklearn.linear_model import LogisticRegression

    fits = iter(range(1000))

    class BreaksOnThirdFold(LogisticRegression):
        def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
            if next(fits) == 2:
                raise ValueError("y_true contains values not belonging to the passed labels")
            return super().fit(X, y, sample_weight)

    def factory(kind: str, n_rows: int, seed: int, n_jobs: int, params: Any) -> Any:
        return BreaksOnThirdFold(max_iter=2000)

    flaky = Learner("flaky", "Flaky", factory, lambda trial, kind, n: {}, needs_scaling=True)
    result = search(
        cancer["X"],
        cancer["y"],
        schema=cancer["schema"],
        folds=cancer["folds"],
        task="classification",
        metric="roc_auc",
        learners=[flaky, fake_learner("prior")],
        time_budget=600,
        max_trials=0,
        ensemble="none",
        select_features=False,
        n_jobs=1,
    )
    failed = result.candidate("flaky")
    assert failed.status == "failed" and len(failed.fold_scores) == 2
    assert failed.cv_mean > 0.9  # its good folds are kept in the record ...
    assert result.best == "prior"
    board = result.leaderboard
    # ... but the leaderboard shows no score for it, its reason, and puts it last.
    assert board["model"].tolist() == ["prior", "flaky"]
    assert np.isnan(board["cv_roc_auc_mean"].iloc[1])
    assert "passed labels" in board["error"].iloc[1]
