"""The budget, the search and final model (train), and the held-out
evaluation (evaluate)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn.data import after_search_findings
from cairn.data.split import Fold
from cairn.evaluation.evaluate import Evaluation
from cairn.evaluation.evaluate import evaluate as evaluate_pipeline
from cairn.models.catalog import LEARNERS, Learner, choose_learners
from cairn.models.compress import CompressionResult, compress, not_compressed
from cairn.models.search import (
    FinalModel,
    SearchResult,
    finalize,
    n_workers,
    predict_output,
    search,
)
from cairn.spec import ProjectSpec
from cairn.tasks import get_task
from cairn.workflow._clock import Clock, Progress
from cairn.workflow._prepare import Prepared

# Objective quantities the trade-off table measures for every candidate.
CHOOSING_QUANTITIES = frozenset(
    {"latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "model_size_mb", "cost_per_1k"}
)
# Share of the budget kept back for what overruns the plan (the search's last
# batch of folds; the analyses after the model fit what is left by
# themselves), and the seconds that reports and registration take whatever
# the budget.
_RESERVE_SHARE = 0.08
_FIXED_OVERHEAD_S = 4.0
_REGISTER_OVERHEAD_S = 6.0
# Post-search seconds per training cell (rows x columns x classes) up to
# _CELLS_AT_FULL_COST cells, and per cell beyond (large tables: the reports'
# relationships, the checks and the explanations run on samples there); and
# the share of the post-search reserve given to permutation importance and SHAP.
_SECONDS_PER_CELL = 0.9e-5
_CELLS_AT_FULL_COST = 1_000_000
_SECONDS_PER_LARGE_CELL = 0.4e-6
_EXPLAIN_SHARE = 0.2
# Post-search seconds per fold model when the final model is a bag of them.
_SECONDS_PER_BAGGED_MODEL = 0.8
# Seconds kept after the analyses for writing reports and the run folder,
# and the least an analysis gets when the budget is spent.
_TAIL_S = 3.0
_MIN_ANALYSIS_S = 0.3
# Share of the budget spent measuring every candidate's serving figures (the
# trade-off table), larger when objectives on latency, size or cost choose
# the packaged model from it; and its cap in seconds.
TRADEOFF_SHARE = 0.08
CHOOSING_TRADEOFF_SHARE = 0.25
MAX_TRADEOFF_S = 120.0
CHOOSING_MIN_S = 60.0
# Share of the budget kept for compression (student, pruned variants) when on,
# and the smallest budget "auto" takes it from: below, the search needs it more.
_COMPRESS_SHARE = 0.15
_AUTO_COMPRESS_MIN_S = 60.0
# With train.bagging = "auto", fold models are bagged up to this many rows.
# Bags multiply the cost of everything after the search (evaluation, export,
# reports, serving) by the number of folds, so "auto" keeps them for tiny data.
_AUTO_BAG_MAX_ROWS = 500


@dataclass(frozen=True)
class Budget:
    """How a run's seconds are shared: the search gets what the stages after
    it (final model, evaluation, export, reports, registration) leave."""

    seconds: float
    started: float
    post_search: float
    overhead: float
    search: float
    bag_max_rows: int
    tradeoff: float = 0.0
    compression: float = 0.0  # seconds kept for compression, part of overhead
    tail: float = 0.0  # seconds kept after the analyses: writing, registering

    @property
    def analyses_end(self) -> float:
        """When the analyses after the model (drift sensitivities, permutation
        importance, SHAP) must be done, leaving the run's last steps their time."""
        return self.started + self.seconds - self.tail

    def analysis_seconds(self, share: float = 1.0) -> float:
        """``share`` of the seconds left for the analyses; a small floor keeps
        each analysis on a few rows when the budget is already spent."""
        return max(_MIN_ANALYSIS_S, share * (self.analyses_end - time.monotonic()))

    @property
    def final_deadline(self) -> float:
        return self.started + self.seconds * 0.92 - self.overhead

    @property
    def tradeoff_deadline(self) -> float:
        """When measuring the other candidates must stop: the final model's
        deadline plus the measuring share, leaving the later stages their time."""
        return self.final_deadline + self.tradeoff

    @property
    def compress_deadline(self) -> float:
        """Compression ends where the stages after it begin."""
        return self.final_deadline + self.compression

    @property
    def explain_seconds(self) -> float:
        return max(3.0, _EXPLAIN_SHARE * self.post_search, 0.05 * self.seconds)


@dataclass
class Trained:
    """The search and the final model built from its winner.

    Attributes:
        chosen: the leaderboard name of the final model when the spec's
            objectives chose it on the trade-off front over the search's
            best; None when the search's best is the final model.
        choice: that choice, when objectives on latency, size or cost made one.
        exported: the final model's verified serving graph, when the
            trade-off step already built it.
        built: leaderboard name → (final model, serving graph, its
            ``model.joblib`` as measured) of each candidate the trade-off
            step measured, until one is chosen.
        model_file: the final model as the trade-off step wrote it; the
            bundle takes this file instead of writing the model again.
    """

    found: SearchResult
    final: FinalModel
    chosen: str | None = None
    choice: Any = None
    exported: Any = None
    built: dict[str, tuple[FinalModel, Any, Path]] = field(default_factory=dict)
    model_file: Path | None = None
    compression: CompressionResult | None = None

    @property
    def pipeline(self) -> Any:
        return self.final.estimator

    @property
    def name(self) -> str:
        """The final model's leaderboard name ("ensemble" for the ensemble)."""
        if self.chosen is not None:
            return self.chosen
        return "ensemble" if self.found.ensemble else self.found.best

    @property
    def best(self) -> Learner:
        """The final model's family (the search's best member for an ensemble)."""
        name = self.found.best if self.name == "ensemble" else self.name
        return LEARNERS[self.found.candidate(name).family]

    @property
    def model(self) -> str:
        """What the metadata calls the final model: "ensemble" or its family."""
        return "ensemble" if self.name == "ensemble" else self.best.name


@dataclass
class Tested:
    """The held-out evaluation and the model's outputs on the test rows,
    predicted once for evaluation, intervals, drift reference and files."""

    evaluation: Evaluation
    output: np.ndarray


def plan_budget(
    spec: ProjectSpec, prepared: Prepared, *, seconds: float, registering: bool, clock: Clock
) -> Budget:
    """Seconds for the search: the budget less a reserved share, the time
    already spent, and an estimate of the stages after the search that grows
    with rows, columns and classes (plus MLflow when registering)."""
    X_train, _ = prepared.train_rows
    bag_max_rows = _bag_max_rows(spec.train.bagging, spec.problem.has_latency_objective)
    bagged = len(prepared.folds) if len(X_train) <= bag_max_rows else 1
    post_search = _post_search_seconds(
        len(X_train), X_train.shape[1], prepared.n_classes, seconds, bagged=bagged
    )
    choosing = any(o.quantity in CHOOSING_QUANTITIES for o in spec.problem.parsed_objectives)
    measuring = tradeoff_seconds(seconds, choosing=choosing)
    compression = _COMPRESS_SHARE * seconds if compressing(spec, seconds) else 0.0
    overhead = (
        post_search + measuring + compression + (_REGISTER_OVERHEAD_S if registering else 0.0)
    )
    search_seconds = max(1.0, seconds * (1 - _RESERVE_SHARE) - clock.elapsed() - overhead)
    return Budget(
        seconds,
        clock.started,
        post_search,
        overhead,
        search_seconds,
        bag_max_rows,
        tradeoff=measuring,
        compression=compression,
        tail=_TAIL_S + (_REGISTER_OVERHEAD_S if registering else 0.0),
    )


def tradeoff_seconds(budget: float, *, choosing: bool = False) -> float:
    """Seconds of a run's budget for measuring the candidates besides the
    packaged model (always measured): 8 %, or 25 % when objectives on
    latency, size or cost choose from them and the budget is at least
    :data:`CHOOSING_MIN_S` (a shorter search needs its time more); at most
    two minutes."""
    choosing = choosing and budget >= CHOOSING_MIN_S
    share = CHOOSING_TRADEOFF_SHARE if choosing else TRADEOFF_SHARE
    return min(MAX_TRADEOFF_S, share * budget)


def compressing(spec: ProjectSpec, seconds: float) -> bool:
    """Whether a run of ``seconds`` builds compressed variants after the search."""
    return not _no_compression_reason(spec, seconds) and spec.train.compress != "never"


def _no_compression_reason(spec: ProjectSpec, seconds: float) -> str:
    """Why a run that "auto" would compress does not, or ""."""
    if spec.train.compress != "auto":
        return ""
    if not spec.problem.has_serving_objective:
        return 'no objective on latency, size or cost (train.compress = "auto")'
    if seconds < _AUTO_COMPRESS_MIN_S:
        return (
            f"a time budget of {seconds:g} s is under the {_AUTO_COMPRESS_MIN_S:g} s from "
            'which compression takes 15 % of it; train.compress = "always" takes it anyway'
        )
    return ""


def fit_model(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    prepared: Prepared,
    folds: list[Fold],
    learners: list[Learner],
    search_seconds: float,
    deadline: float,
    seed: int,
    n_jobs: int,
    say: Progress,
    clock: Clock,
    search_options: Mapping[str, Any] | None = None,
    bag_max_rows: int | None = None,
    refit_note: str | None = "building the final model",
) -> Trained:
    """Search the candidate families on the CV folds, then build the final
    model (refit or bag of fold models) from the winner."""
    found = search(
        X,
        y,
        schema=prepared.schema,
        folds=folds,
        task=prepared.task,
        metric=prepared.metric,
        learners=learners,
        time_budget=search_seconds,
        seed=seed,
        n_jobs=n_jobs,
        **dict(search_options or {}),
        progress=say,
    )
    clock.lap("search")
    if refit_note:
        say(refit_note)
    bagging = {} if bag_max_rows is None else {"bag_max_rows": bag_max_rows}
    final = finalize(
        found, X, y, schema=prepared.schema, seed=seed, n_jobs=n_jobs, deadline=deadline, **bagging
    )
    clock.lap("final_model")
    return Trained(found, final)


def train(
    spec: ProjectSpec, prepared: Prepared, budget: Budget, *, say: Progress, clock: Clock
) -> Trained:
    """The spec's search on the training rows, and the final model."""
    X_train, y_train = prepared.train_rows
    options = {
        "tuner": spec.train.tuner,
        "max_trials": spec.train.max_trials,
        "ensemble": spec.train.ensemble,
        "select_features": spec.train.select_features,
        "pca": spec.train.pca,
        "executor": spec.train.executor,
        "cpus_per_trial": spec.train.cpus_per_trial,
        # The evaluation predicts the test rows with the final model.
        "predict_rows_after": len(prepared.test_rows[0]),
        # A latency objective wants the compiled serving graph.
        "exportable_only": spec.problem.has_latency_objective,
    }
    trained = fit_model(
        X_train,
        y_train,
        prepared=prepared,
        folds=prepared.folds,
        learners=choose_learners(
            n_rows=len(X_train), include=spec.train.include, exclude=spec.train.exclude
        ),
        search_seconds=budget.search,
        deadline=budget.final_deadline,
        seed=spec.train.seed,
        n_jobs=spec.train.n_jobs,
        say=say,
        clock=clock,
        search_options=options,
        bag_max_rows=budget.bag_max_rows,
    )
    reason = _no_compression_reason(spec, budget.seconds)
    if reason and spec.problem.has_serving_objective:
        # Asked for by the objectives but not affordable: say why.
        trained.compression = not_compressed(
            trained.found, trained.final, spec.train.distil_tolerance, reason
        )
    elif compressing(spec, budget.seconds):
        X_test, _ = prepared.test_rows
        trained.compression = compress(
            trained.found,
            trained.final,
            X_train,
            y_train,
            schema=prepared.schema,
            folds=prepared.folds,
            X_check=X_test,
            seed=spec.train.seed,
            deadline=budget.compress_deadline,
            tolerance=spec.train.distil_tolerance,
            say=say,
        )
        # The kept variants join the leaderboard as candidates of their own.
        trained.found.candidates += trained.compression.candidates()
        clock.lap("compress")
    return trained


def evaluate(
    spec: ProjectSpec,
    prepared: Prepared,
    trained: Trained,
    *,
    seconds: float,
    say: Progress,
    clock: Clock,
) -> Tested:
    """Test-set metrics, latency and the objectives' verdict."""
    say("evaluating on the held-out test set")
    X_test, y_test = prepared.test_rows
    output = predict_output(
        trained.pipeline, X_test, prepared.task, workers=n_workers(spec.train.n_jobs)
    )
    # Size and cost of the packaged model as the trade-off step measured them.
    figures = trained.found.measured.get(trained.name, {})
    extra = {q: float(figures[q]) for q in ("model_size_mb", "cost_per_1k") if q in figures}
    evaluation = evaluate_pipeline(
        trained.pipeline,
        X_test,
        y_test,
        task=prepared.task,
        metric=prepared.metric,
        objectives=spec.problem.parsed_objectives,
        latency_seconds=min(3.0, max(0.5, 0.02 * seconds)),
        output=output,
        extra=extra,
    )
    X_train, y_train = prepared.train_rows
    # The final score is known now: report columns the model is no better than.
    prepared.cleaned.report.findings += after_search_findings(
        X_train,
        y_train,
        X_test,
        y_test,
        output,
        prepared.schema,
        get_task(prepared.task),
        exclude=[name for name in (spec.data.time_column, spec.split.group_column) if name],
    )
    clock.lap("evaluate")
    return Tested(evaluation, output)


def _post_search_seconds(
    rows: int, columns: int, classes: int | None, budget: float, *, bagged: int = 1
) -> float:
    """Seconds kept back for the stages after the search: a fixed part, one
    proportional to rows x columns x classes (what prediction, export and
    explanation cost) and one per fold model of a bag (every prediction calls
    each), at most half the budget."""
    cells = rows * max(1, columns) * max(1, classes or 1)
    scaled = _SECONDS_PER_CELL * min(cells, _CELLS_AT_FULL_COST) + _SECONDS_PER_LARGE_CELL * max(
        0, cells - _CELLS_AT_FULL_COST
    )
    per_bag = _SECONDS_PER_BAGGED_MODEL * bagged if bagged > 1 else 0.0
    return min(0.5 * budget, _FIXED_OVERHEAD_S + scaled + per_bag)


def _bag_max_rows(bagging: str, latency_objective: bool) -> int:
    """Up to how many rows the final members are bags of fold models."""
    if bagging == "always":
        return 2**62
    if bagging == "never" or latency_objective:
        return 0
    return _AUTO_BAG_MAX_ROWS
