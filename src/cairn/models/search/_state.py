"""The state shared by the phases of one search, and the cross-validation
of one configuration that every phase goes through."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from cairn.data.schema import Schema
from cairn.data.split import Fold
from cairn.models.catalog import LEARNERS, Learner, Params
from cairn.models.search._pipeline import fit_pipeline, n_classes_of, predict_output
from cairn.models.search._results import CandidateResult, Config
from cairn.tasks import Task, get_task

Progress = Callable[[str], None]

# How many of the best candidates keep their fold models for bagging.
_KEEP_FOLD_MODELS = 12
# Larger data starts from plain codes too: target statistics make every
# prediction after the search (evaluation, reports, serving) several times slower.
_NATIVE_CATEGORIES_MAX_ROWS = 5_000
# A refit sees all training rows, a fold fit (k-1)/k of them, and boosting
# refits 10 % more rounds than early stopping found.
REFIT_FACTOR = 1.5


@dataclass
class _FoldOutputs:
    """What the folds of one configuration produced, summed over folds."""

    oof_sum: np.ndarray
    seen: np.ndarray
    models: list[Any] = field(default_factory=list)
    fit_total: float = 0.0
    predict_total: float = 0.0
    rows_predicted: int = 0


@contextmanager
def timed(phases: dict[str, float], name: str) -> Iterator[None]:
    """Record the seconds the block takes as ``phases[name]``."""
    started = time.monotonic()
    try:
        yield
    finally:
        phases[name] = time.monotonic() - started


class SearchState:
    """State shared by the phases of one search."""

    def __init__(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        *,
        schema: Schema,
        folds: Sequence[Fold],
        task: str,
        metric: str,
        deadline: float,
        seed: int,
        workers: int,
        progress: Progress,
        learners: Sequence[Learner] = (),
        fixed_params: Mapping[str, Params] | None = None,
    ) -> None:
        self.X, self.y, self.schema, self.folds = X, y, schema, list(folds)
        self.fixed_params = dict(fixed_params or {})  # family -> params forced on it
        self.learners = {**LEARNERS, **{learner.name: learner for learner in learners}}
        self.task: Task = get_task(task)
        self.metric, self.seed = metric, seed
        # The search ends early enough to refit its leader on all rows within
        # the budget; the deadline moves as the leader changes.
        self.end, self.deadline = deadline, deadline
        self.workers, self.progress = workers, progress
        self.sign = 1.0 if self.task.greater_is_better(metric) else -1.0
        self.n_classes = n_classes_of(schema, y) if self.task.has_classes else 0
        self.candidates: list[CandidateResult] = []
        self.cv_seconds: dict[str, float] = {}  # family -> seconds for one full CV
        # Decided early and forced on every later configuration (log target).
        self.shared_params: Params = {}

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def _fit_fold(
        self, learner: Learner, config: Config, fold: Fold
    ) -> tuple[float, np.ndarray, float, float, int | None, Any]:
        fit_idx, val_idx = fold
        schema = config.schema or self.schema
        X_val, y_val = self.X.iloc[val_idx], self.y[val_idx]
        started = time.perf_counter()
        pipeline, rounds = fit_pipeline(
            learner,
            schema,
            self.X.iloc[fit_idx],
            self.y[fit_idx],
            task=self.task.name,
            seed=self.seed,
            params=config.params,
            X_val=X_val,
            y_val=y_val,
            deadline=self.deadline,
            n_classes=self.n_classes,
        )
        fit_time = time.perf_counter() - started
        started = time.perf_counter()
        output = predict_output(pipeline, X_val, self.task.name)
        predict_time = time.perf_counter() - started
        fold_score = self.score(y_val, output)
        return fold_score, output, fit_time, predict_time, rounds, pipeline

    def _fit_fold_or_error(
        self, learner: Learner, config: Config, fold: Fold
    ) -> tuple[float, np.ndarray, float, float, int | None, Any] | Exception:
        # An error is returned, not raised: a raise would end the parallel
        # batch while the other folds still train in their threads, and a
        # native library (CatBoost) still running there at interpreter exit
        # crashes the process.
        try:
            return self._fit_fold(learner, config, fold)
        except Exception as error:
            return error

    def evaluate(self, name: str, config: Config, trial: Any = None) -> CandidateResult:
        """Cross-validate one configuration; folds run in parallel batches.

        With an Optuna ``trial``, the running mean is reported after each
        batch and the trial is pruned when the pruner says so.
        """
        learner = self.learners[config.family]
        config = self._with_forced_params(learner, config)
        schema = config.schema or self.schema
        result = CandidateResult(
            name=name, config=config, label=learner.label, n_features=len(schema.feature_names)
        )
        self.candidates.append(result)
        shape = (len(self.y), self.n_classes) if self.n_classes else (len(self.y),)
        folds = _FoldOutputs(oof_sum=np.zeros(shape), seen=np.zeros(len(self.y)))
        started = time.monotonic()
        try:
            self._cross_validate(learner, config, result, folds, trial)
        except Exception as error:  # a failing configuration must not end the search
            result.status = "failed"
            result.error = f"{type(error).__name__}: {error}"[:300]
            return result
        self._record(result, folds, time.monotonic() - started)
        return result

    def _with_forced_params(self, learner: Learner, config: Config) -> Config:
        # Every phase's configurations pass here: forced settings apply once.
        forced = {**self.shared_params, **self.fixed_params.get(config.family, {})}
        if learner.category_statistics and "native_categories" not in config.params:
            # Decided on all training rows, recorded, so the refit matches the folds.
            forced.setdefault("native_categories", len(self.X) <= _NATIVE_CATEGORIES_MAX_ROWS)
        if forced:
            config = replace(config, params={**config.params, **forced})
        return config

    def _cross_validate(
        self,
        learner: Learner,
        config: Config,
        result: CandidateResult,
        folds: _FoldOutputs,
        trial: Any,
    ) -> None:
        """Fit and score the folds batch by batch into ``result`` and
        ``folds``; stops early when pruned or out of time."""
        for start in range(0, len(self.folds), self.workers):
            batch = self.folds[start : start + self.workers]
            # Folds are the unit of parallelism: BLAS threads on top of
            # them oversubscribe the cores (30x slower logistic fits seen).
            with threadpool_limits(limits=1):
                outputs = Parallel(n_jobs=len(batch), backend="threading")(
                    delayed(self._fit_fold_or_error)(learner, config, fold) for fold in batch
                )
            failures = [output for output in outputs if isinstance(output, Exception)]
            if failures:
                raise failures[0]
            for fold, (fold_score, output, fit_t, predict_t, rounds, model) in zip(
                batch, outputs, strict=True
            ):
                result.fold_scores.append(fold_score)
                folds.oof_sum[fold[1]] += output
                folds.seen[fold[1]] += 1
                folds.fit_total += fit_t
                folds.predict_total += predict_t
                folds.rows_predicted += len(fold[1])
                folds.models.append(model)
                if rounds is not None:
                    result.rounds.append(rounds)
            if trial is not None:
                trial.report(result.cv_mean, step=len(result.fold_scores))
                if trial.should_prune():
                    result.status = "pruned"
                    result.error = f"pruned after {len(result.fold_scores)} folds"
                    return
            if self.left() <= 0 and start + self.workers < len(self.folds):
                result.status = "partial"
                result.error = f"time budget ran out after {len(result.fold_scores)} folds"
                return

    def _record(self, result: CandidateResult, folds: _FoldOutputs, seconds: float) -> None:
        """Finish ``result`` from its folds' outputs; a complete result keeps
        its fold models and moves the deadline for the leader's refit."""
        if not all(np.isfinite(s) for s in result.fold_scores):
            result.status = "failed"
            result.error = "the metric could not be computed on some folds"
        result.fit_time_s = folds.fit_total / max(1, len(result.fold_scores))
        result.predict_ms_per_row = 1000.0 * folds.predict_total / max(1, folds.rows_predicted)
        with np.errstate(invalid="ignore", divide="ignore"):
            # Repeated partitions validate a row once per repeat: average them.
            counts = folds.seen.reshape((-1,) + (1,) * (folds.oof_sum.ndim - 1))
            result.oof = np.where(counts > 0, folds.oof_sum / np.maximum(counts, 1), np.nan)
        if result.status == "ok":
            result.fold_models = folds.models
            self.cv_seconds.setdefault(result.config.family, seconds)
            self._evict_fold_models()
            leader = self.ranked(complete_only=True)
            if leader:
                self.deadline = self.end - REFIT_FACTOR * leader[0].fit_time_s

    def _evict_fold_models(self) -> None:
        held = [c for c in self.candidates if c.fold_models is not None]
        keep = {id(c) for c in self.ensemble_pool(held, _KEEP_FOLD_MODELS)}
        for candidate in held:
            if id(candidate) not in keep:
                candidate.fold_models = None

    def ensemble_pool(
        self, candidates: Sequence[CandidateResult], size: int
    ) -> list[CandidateResult]:
        """The best candidate of each family, then the best of the rest, up to
        ``size``: diverse members make better ensembles than near-copies of
        the leader."""
        ranked = sorted(candidates, key=lambda c: self.sign * c.cv_mean, reverse=True)
        leaders: dict[str, CandidateResult] = {}
        for c in ranked:
            leaders.setdefault(c.family, c)
        pool = list(leaders.values())[:size]
        pool += [c for c in ranked if c not in pool][: size - len(pool)]
        return sorted(pool, key=lambda c: self.sign * c.cv_mean, reverse=True)

    def ranked(self, *, complete_only: bool = False) -> list[CandidateResult]:
        usable = [
            c
            for c in self.candidates
            if (c.complete if complete_only else c.status in ("ok", "partial"))
            and np.isfinite(c.cv_mean)
        ]
        return sorted(usable, key=lambda c: self.sign * c.cv_mean, reverse=True)

    def score(self, y_true: np.ndarray, output: np.ndarray) -> float:
        """The search's metric of a raw ``output`` against ``y_true``."""
        return self.task.score(self.metric, y_true, output)

    def fold_scores(self, output: np.ndarray) -> list[float]:
        """Scores of out-of-fold ``output`` on each validation fold."""
        return [self.score(self.y[val], output[val]) for _, val in self.folds]
