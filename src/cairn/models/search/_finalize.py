"""After the search: the outcome becomes one fitted estimator, each member
refitted on all training rows or kept as the bag of its fold models."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cairn.data.schema import Schema
from cairn.models.catalog import LEARNERS, Params
from cairn.models.ensemble import BaggedModel, EnsembleModel
from cairn.models.search._pipeline import fit_pipeline, n_classes_of, n_workers
from cairn.models.search._results import CandidateResult, SearchResult
from cairn.models.search._sample import refit_rows, sample_positions
from cairn.models.search._state import REFIT_FACTOR
from cairn.models.target import innermost
from cairn.tasks import get_task

# Up to this many training rows the final members are the bagged fold models
# (no refit). Off by default: a bag predicts k times slower than a refit.
BAG_MAX_ROWS = 0
_CHEAP_REFIT_S = 2.0
# A refit on a sample must see this many times the rows of a fold model,
# or the bag of fold models (what was scored) is kept instead.
_MIN_REFIT_GAIN = 1.25
# Below this many training rows a refit runs on one thread.
_THREADED_REFIT_ROWS = 50_000


@dataclass
class FinalModel:
    """The estimator to package, and how it was made."""

    estimator: Any
    description: str
    members: dict[str, float]
    bagged: bool
    refit_seconds: float


def finalize(
    outcome: SearchResult,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    schema: Schema,
    seed: int,
    n_jobs: int = -1,
    deadline: float | None = None,
    bag_max_rows: int = BAG_MAX_ROWS,
) -> FinalModel:
    """Turn the search outcome into one fitted estimator.

    Each member is refitted on all training rows (boosting with the rounds
    found in CV). A member whose refit would overrun the deadline is refitted
    on a random sample of the rows its time allows, or, when that is not
    clearly more than a fold model saw, becomes the bag of its fold models
    (exactly the models whose out-of-fold predictions were scored). ``bag_max_rows``
    forces bags on data up to that size (AutoGluon-style bagging), trading
    prediction time for a little accuracy.
    """
    started = time.monotonic()
    members = outcome.ensemble or {outcome.best: 1.0}
    bag = len(X) <= bag_max_rows
    fitted: list[Any] = []
    names: list[str] = []
    how: list[str] = []
    candidates = [outcome.candidate(name) for name in members]
    for i, (name, candidate) in enumerate(zip(members, candidates, strict=True)):
        rows = _rows_in_time(outcome, candidate, len(X), deadline, later=candidates[i + 1 :])
        # A cheap refit of the leader is always done on every row: its bag
        # would cost more in every prediction after the search (evaluation,
        # reports, export).
        cheap = _refit_rows_in(_CHEAP_REFIT_S, outcome, candidate, len(X)) >= len(X)
        if not fitted and cheap:
            rows = len(X)
        # A refit on too few rows more than the fold models saw becomes the
        # bag of the fold models (k times slower to predict, but exactly
        # what was scored); between that and every row, the refit takes the
        # rows its time allows.
        too_few = rows < _MIN_REFIT_GAIN * max(1.0, outcome.fit_rows)
        if too_few and not candidate.fold_models:
            rows = len(X)  # no bag to fall back on (its fold models were let go)
        if (bag or too_few) and candidate.fold_models:
            fitted.append(BaggedModel(candidate.fold_models, outcome.task))
            how.append("bag")
        else:
            keep = None
            if rows < len(X):
                has_classes = get_task(outcome.task).has_classes
                keep = sample_positions(y, rows, seed, classes=has_classes)
            X_fit, y_fit = (X, y) if keep is None else (X.iloc[keep], y[keep])
            fitted.append(
                _refit(
                    candidate,
                    X_fit,
                    y_fit,
                    schema,
                    task=outcome.task,
                    seed=seed,
                    n_jobs=n_jobs,
                    max_rounds=outcome.max_rounds,
                )
            )
            how.append("refit" if keep is None else f"refit on {len(keep):,} of {len(X):,} rows")
        names.append(name)
    _single_threaded(fitted)
    return _final_model(outcome, fitted, names, how, time.monotonic() - started)


def _rows_in_time(
    outcome: SearchResult,
    candidate: CandidateResult,
    n_rows: int,
    deadline: float | None,
    *,
    later: Sequence[CandidateResult],
) -> int:
    """Training rows the member's refit can take before ``deadline``,
    sharing the time left with the ``later`` members in proportion to what
    their refits cost (a slow member's refit is not cut short so that a
    fast one keeps time it does not need)."""
    if deadline is None:
        return n_rows
    costs = [max(c.fit_time_s, 1e-3) for c in (candidate, *later)]
    share = costs[0] / sum(costs)
    return _refit_rows_in(share * (deadline - time.monotonic()), outcome, candidate, n_rows)


def _refit_rows_in(
    seconds: float, outcome: SearchResult, candidate: CandidateResult, n_rows: int
) -> int:
    """Training rows a refit of ``candidate`` takes in ``seconds``: a refit
    on the rows the search ran on costs ``REFIT_FACTOR`` fold fits, and cost
    grows linearly with rows."""
    searched = outcome.sample_rows or n_rows
    return refit_rows(seconds, REFIT_FACTOR * candidate.fit_time_s, searched, n_rows)


def _refit(
    candidate: CandidateResult,
    X: pd.DataFrame,
    y: np.ndarray,
    schema: Schema,
    *,
    task: str,
    seed: int,
    n_jobs: int,
    max_rounds: int | None,
) -> Any:
    """``candidate`` fitted on all training rows (boosting with the rounds
    found in cross-validation, within the search's cap)."""
    params: Params = dict(candidate.config.params)
    if candidate.rounds:
        params["n_estimators"] = max(10, int(np.mean(candidate.rounds) * 1.1))
    large = len(X) >= _THREADED_REFIT_ROWS
    with threadpool_limits(limits=None if large else 1):
        model, _ = fit_pipeline(
            LEARNERS[candidate.family],
            candidate.config.schema or schema,
            X,
            y,
            task=task,
            seed=seed,
            params=params,
            n_classes=n_classes_of(schema, y) if get_task(task).has_classes else None,
            # OpenMP threads cost more than they save on small data, and
            # spin badly when the machine is busy.
            n_jobs=n_workers(n_jobs) if large else 1,
            max_rounds=max_rounds,
        )
    return model


def _final_model(
    outcome: SearchResult, fitted: list[Any], names: list[str], how: list[str], seconds: float
) -> FinalModel:
    """One fitted member as it is; several as the outcome's ensemble; a
    calibrating temperature wraps even one member."""
    members = outcome.ensemble or {outcome.best: 1.0}
    calibrated = outcome.temperature != 1.0
    if len(fitted) == 1:
        kind = {"bag": "bagged fold models", "refit": "refitted on all training rows"}.get(
            how[0], f"{how[0].replace('refit', 'refitted', 1)} within the time budget"
        )
        description = f"{names[0]} ({kind})"
    else:
        parts = ", ".join(
            f"{n} ×{w:.2f} ({h})" for (n, w), h in zip(members.items(), how, strict=True)
        )
        description = f"{outcome.ensemble_method} ensemble of {parts}"
    estimator = fitted[0]
    if len(fitted) > 1 or calibrated:
        estimator = EnsembleModel(
            fitted,
            list(members.values()),
            outcome.task,
            names=names,
            stacker=outcome.stacker if outcome.ensemble_method == "stacking" else None,
            temperature=outcome.temperature,
        )
    if calibrated:
        description += f"; probabilities tempered by {outcome.temperature:.3g}"
    return FinalModel(estimator, description, dict(members), all(h == "bag" for h in how), seconds)


def _single_threaded(models: Sequence[Any]) -> None:
    """Serve on one thread: thread start-up dominates small batches."""
    for model in models:
        inner = model.models if isinstance(model, BaggedModel) else [model]
        for pipeline in inner:
            estimator = innermost(pipeline.named_steps["model"])
            params = estimator.get_params()
            for key in ("n_jobs", "thread_count"):
                if key in params:
                    try:
                        estimator.set_params(**{key: 1})
                    except Exception:  # some fitted learners refuse; keep their setting
                        continue
