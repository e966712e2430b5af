"""Model search under a time budget: defaults, portfolio, tuning, feature
selection and ensembles, all scored by cross-validation.

The search runs in phases, each leaving its candidates in one list:

1. **defaults** — every family with its default configuration, cheapest
   first. The first family always runs, however small the budget.
2. **feature selection** — permutation importance of the best default on its
   validation folds plus a correlation filter; the reduced feature set is
   scored as its own candidate and kept for tuning only if it wins.
3. **tuning** — one Optuna study per family (TPE by default; random or grid
   from the spec), seeded with the family's portfolio of known-good
   configurations. Trials go to the leading families (half to the best, then
   30 %, 20 %); a trial that is behind the median after some folds is pruned,
   and boosting families early-stop on each fold's validation rows.
4. **ensemble** — greedy ensemble selection (Caruana et al. 2004) over the
   candidates' out-of-fold predictions, or a linear stacker; for classes,
   a temperature that calibrates the final probabilities on the same
   out-of-fold predictions.

Each phase has its module; :func:`search` calls them in order. Every
candidate is a full pipeline (preprocessing + learner) fitted on the
training folds only, so nothing learned from a validation fold leaks into its
score. :func:`finalize` turns the outcome into one estimator: bags of the
fold models where data is small, refits on all training rows otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cairn._ray import check_executor, stays_local
from cairn.data.schema import Schema
from cairn.data.split import Fold
from cairn.models.catalog import MAX_BOOSTING_ROUNDS, Learner, Params
from cairn.models.search._defaults import require_a_candidate, run_defaults, run_pca_variants
from cairn.models.search._ensembling import (
    EnsembleMethod,
    calibrated_output,
    final_oof,
    run_calibration,
    run_ensemble,
)
from cairn.models.search._finalize import BAG_MAX_ROWS, FinalModel, finalize
from cairn.models.search._pipeline import (
    build_pipeline,
    fit_lightgbm,
    fit_pipeline,
    n_classes_of,
    n_workers,
    predict_output,
)
from cairn.models.search._results import CandidateResult, Config, SearchResult
from cairn.models.search._sample import (
    REFIT_SHARE,
    rounds_for_predictions,
    sample_positions,
    search_rows,
    subset_folds,
)
from cairn.models.search._selection import run_selection
from cairn.models.search._state import REFIT_FACTOR, Progress, SearchState, timed
from cairn.models.search._tuning import Tuner, run_tuning
from cairn.tasks import get_task

if TYPE_CHECKING:
    from cairn.models.search._remote import RemoteFolds

__all__ = [
    "BAG_MAX_ROWS",
    "REFIT_FACTOR",
    "CandidateResult",
    "Config",
    "EnsembleMethod",
    "FinalModel",
    "Progress",
    "SearchResult",
    "Tuner",
    "build_pipeline",
    "calibrated_output",
    "final_oof",
    "finalize",
    "fit_lightgbm",
    "fit_pipeline",
    "n_classes_of",
    "predict_output",
    "search",
]


def search(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    schema: Schema,
    folds: Sequence[Fold],
    task: str,
    metric: str,
    learners: Sequence[Learner],
    time_budget: float,
    seed: int = 42,
    n_jobs: int = -1,
    tuner: Tuner = "tpe",
    max_trials: int | None = None,
    ensemble: EnsembleMethod = "greedy",
    select_features: bool = True,
    pca: bool = False,
    exportable_only: bool = False,
    progress: Progress | None = None,
    executor: str = "local",
    cpus_per_trial: int = 1,
    predict_rows_after: int = 0,
) -> SearchResult:
    """Find the best configuration (and ensemble) within ``time_budget`` seconds.

    Args:
        X: training features (target removed).
        y: training target, integer-coded for classification.
        time_budget: seconds for the whole search. Work running when it ends
            finishes its current batch of folds (boosting stops at once);
            nothing new starts, except that the first family always runs.
        max_trials: cap on tuning trials, for reproducible runs.
        pca: also try the scale-sensitive families (linear, k-NN) on a PCA
            projection keeping 95 % of the variance, as their own candidates.
        exportable_only: only configurations the ONNX serving graph can
            express (no target statistics on categories; families without
            an ONNX form only when nothing else is allowed): for specs with a
            latency objective.
        executor: where fold fits run: ``local`` (threads), ``ray`` or
            ``ray://HOST:PORT`` (Ray tasks of ``cpus_per_trial`` CPUs each,
            several trials side by side). A budget too short to pay for
            Ray's start-up stays local (see :func:`cairn._ray.stays_local`).
        predict_rows_after: rows the final model will predict within the
            same budget after the search (a test set): the search ends early
            enough for the leader to predict them, as it does for its refit.

    Raises:
        TrainingError: every candidate failed.
    """
    started = time.monotonic()
    say = progress or (lambda message: None)
    if exportable_only:
        learners = [lr for lr in learners if lr.exportable] or list(learners)
    keep = _sample(X, y, folds, schema=schema, task=task, seconds=time_budget, seed=seed)
    if keep is not None:
        say(
            f"searching on a random sample of {len(keep):,} of the {len(X):,} training rows "
            "(the final model is refitted on as many as its time allows)"
        )
        folds = subset_folds(folds, keep, len(X))
        X, y = X.iloc[keep], y[keep]
        # The time moved from the search pays for the final refit on more rows.
        time_budget *= 1 - REFIT_SHARE
    remote = _remote_folds(X, y, executor, cpus_per_trial, time_budget, say)
    try:
        outcome = _search(
            X,
            y,
            schema=schema,
            folds=folds,
            task=task,
            metric=metric,
            learners=learners,
            started=started,
            deadline=started + time_budget,
            seed=seed,
            n_jobs=n_jobs,
            tuner=tuner,
            max_trials=max_trials,
            ensemble=ensemble,
            select_features=select_features,
            pca=pca,
            exportable_only=exportable_only,
            progress=say,
            remote=remote,
            predict_rows_after=predict_rows_after,
        )
    finally:
        if remote is not None:
            remote.close()
    outcome.sample_rows = None if keep is None else len(keep)
    outcome.fit_rows = float(np.mean([len(fit_idx) for fit_idx, _ in folds]))
    return outcome


def _sample(
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Sequence[Fold],
    *,
    schema: Schema,
    task: str,
    seconds: float,
    seed: int,
) -> np.ndarray | None:
    """Positions of the training rows the search runs on when it cannot
    afford all of them (see :mod:`._sample`); None: all rows."""
    has_classes = get_task(task).has_classes
    n_classes = n_classes_of(schema, y) if has_classes else 0
    rows = search_rows(len(X), X.shape[1], n_classes, seconds, len(folds))
    if rows >= len(X):
        return None
    return sample_positions(y, rows, seed, classes=has_classes)


def _remote_folds(
    X: pd.DataFrame,
    y: np.ndarray,
    executor: str,
    cpus_per_trial: int,
    time_budget: float,
    say: Progress,
) -> RemoteFolds | None:
    """Fold fits on Ray when the executor asks for it and the budget pays
    for Ray's start-up; None: local threads."""
    if executor == "local":
        return None
    check_executor(executor, "train.executor")
    reason = stays_local(executor, time_budget)
    if reason:
        say(reason)
        return None
    from cairn.models.search._remote import start_remote

    return start_remote(
        X,
        y,
        executor=executor,
        cpus_per_trial=cpus_per_trial,
        time_budget=time_budget,
        progress=say,
    )


def _search(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    schema: Schema,
    folds: Sequence[Fold],
    task: str,
    metric: str,
    learners: Sequence[Learner],
    started: float,
    deadline: float,
    seed: int,
    n_jobs: int,
    tuner: Tuner,
    max_trials: int | None,
    ensemble: EnsembleMethod,
    select_features: bool,
    pca: bool,
    exportable_only: bool,
    progress: Progress,
    remote: RemoteFolds | None,
    predict_rows_after: int = 0,
) -> SearchResult:
    state = SearchState(
        X,
        y,
        schema=schema,
        folds=folds,
        task=task,
        metric=metric,
        deadline=deadline,
        seed=seed,
        workers=n_workers(n_jobs),
        progress=progress,
        learners=learners,
        fixed_params=_exportable_params(learners) if exportable_only else None,
        remote=remote,
        predict_rows_after=predict_rows_after,
    )
    state.max_rounds = _max_rounds(
        predict_rows_after / state.workers, deadline - started, state.n_classes
    )
    phases: dict[str, float] = {}
    with timed(phases, "defaults"):
        run_defaults(state, learners)
        if pca:
            run_pca_variants(state, learners)
    require_a_candidate(state)
    selected: Schema | None = None
    dropped: list[str] = []
    with timed(phases, "feature_selection"):
        if select_features:
            selected, dropped = run_selection(state)
    with timed(phases, "tuning"):
        run_tuning(state, learners, tuner=tuner, max_trials=max_trials, schema=selected)
    with timed(phases, "ensemble"):
        outcome = _outcome(state, selected, dropped)
        if ensemble != "none":
            run_ensemble(state, outcome, ensemble)
        run_calibration(state, outcome)
    outcome.phases = {k: round(v, 3) for k, v in phases.items()}
    outcome.elapsed_s = time.monotonic() - started
    return outcome


def _max_rounds(predict_rows_per_worker: float, seconds: float, n_classes: int) -> int | None:
    """The boosting cap that keeps the final model's predictions after the
    search within reach; None: no cap below the catalog's."""
    rounds = rounds_for_predictions(
        predict_rows_per_worker, seconds, MAX_BOOSTING_ROUNDS, n_classes
    )
    return rounds if rounds < MAX_BOOSTING_ROUNDS else None


def _exportable_params(learners: Sequence[Learner]) -> dict[str, Params]:
    """Settings that keep every family within what the ONNX graph expresses."""
    return {lr.name: {"native_categories": False} for lr in learners if lr.category_statistics}


def _outcome(state: SearchState, selected: Schema | None, dropped: list[str]) -> SearchResult:
    """The search's candidates, best first, before any ensemble."""
    return SearchResult(
        metric=state.metric,
        task=state.task.name,
        candidates=state.candidates,
        best=state.ranked()[0].name,
        elapsed_s=0.0,
        selected_features=selected.feature_names if selected else None,
        dropped_features=dropped,
        target_transform="log1p" if state.shared_params.get("log_target") else None,
        max_rounds=state.max_rounds,
    )
