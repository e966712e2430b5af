"""The state shared by the phases of one search, and the cross-validation
of one configuration that every phase goes through."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from cairn.models.search._remote import RemoteFolds

Progress = Callable[[str], None]
# One fold's fit: score, validation output, fit and predict seconds, boosting
# rounds, the fitted pipeline.
FoldFit = tuple[float, np.ndarray, float, float, int | None, Any]

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


def fit_fold(
    X: pd.DataFrame,
    y: np.ndarray,
    learner: Learner,
    schema: Schema,
    params: Mapping[str, Any],
    fold: Fold,
    *,
    task: str,
    metric: str,
    seed: int,
    deadline: float,
    n_classes: int,
    n_jobs: int = 1,
    max_rounds: int | None = None,
) -> FoldFit:
    """Fit one configuration on a fold's fitting rows and score it on its
    validation rows."""
    fit_idx, val_idx = fold
    X_val, y_val = X.iloc[val_idx], y[val_idx]
    started = time.perf_counter()
    pipeline, rounds = fit_pipeline(
        learner,
        schema,
        X.iloc[fit_idx],
        y[fit_idx],
        task=task,
        seed=seed,
        params=params,
        n_jobs=n_jobs,
        X_val=X_val,
        y_val=y_val,
        deadline=deadline,
        n_classes=n_classes,
        max_rounds=max_rounds,
    )
    fit_time = time.perf_counter() - started
    started = time.perf_counter()
    output = predict_output(pipeline, X_val, task)
    predict_time = time.perf_counter() - started
    fold_score = get_task(task).score(metric, y_val, output)
    return fold_score, output, fit_time, predict_time, rounds, pipeline


def _failed(result: CandidateResult, error: Exception) -> CandidateResult:
    result.status = "failed"
    result.error = f"{type(error).__name__}: {error}"[:300]
    return result


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
        remote: RemoteFolds | None = None,
        predict_rows_after: int = 0,
    ) -> None:
        self.X, self.y, self.schema, self.folds = X, y, schema, list(folds)
        self.fixed_params = dict(fixed_params or {})  # family -> params forced on it
        self.learners = {**LEARNERS, **{learner.name: learner for learner in learners}}
        self.task: Task = get_task(task)
        self.metric, self.seed = metric, seed
        # The search ends early enough to refit its leader on all rows within
        # the budget; the deadline moves as the leader changes.
        self.end, self.deadline = deadline, deadline
        self.predict_rows_after = predict_rows_after
        self.max_rounds: int | None = None  # boosting cap; None: the catalog's
        self.workers, self.progress = workers, progress
        self.remote = remote  # fold fits on Ray; None: local threads
        self.sign = 1.0 if self.task.greater_is_better(metric) else -1.0
        self.n_classes = n_classes_of(schema, y) if self.task.has_classes else 0
        self.candidates: list[CandidateResult] = []
        self.cv_seconds: dict[str, float] = {}  # family -> seconds for one full CV
        # Decided early and forced on every later configuration (log target).
        self.shared_params: Params = {}

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def _fit_fold(self, learner: Learner, config: Config, fold: Fold) -> FoldFit:
        return fit_fold(
            self.X,
            self.y,
            learner,
            config.schema or self.schema,
            config.params,
            fold,
            task=self.task.name,
            metric=self.metric,
            seed=self.seed,
            deadline=self.deadline,
            n_classes=self.n_classes,
            max_rounds=self.max_rounds,
        )

    def _fit_fold_or_error(
        self, learner: Learner, config: Config, fold: Fold
    ) -> FoldFit | Exception:
        # An error is returned, not raised: a raise would end the parallel
        # batch while the other folds still train in their threads, and a
        # native library (CatBoost) still running there at interpreter exit
        # crashes the process.
        try:
            return self._fit_fold(learner, config, fold)
        except Exception as error:
            return error

    def _fit_folds(
        self, name: str, learner: Learner, config: Config, batch: Sequence[Fold]
    ) -> list[FoldFit | Exception]:
        if self.remote is not None:
            return self.remote.fit([(name, learner, config, fold) for fold in batch], self)
        # Folds are the unit of parallelism: BLAS threads on top of them
        # oversubscribe the cores (30x slower logistic fits seen).
        with threadpool_limits(limits=1):
            return list(
                Parallel(n_jobs=len(batch), backend="threading")(
                    delayed(self._fit_fold_or_error)(learner, config, fold) for fold in batch
                )
            )

    @property
    def concurrent_trials(self) -> int:
        """Configurations cross-validated side by side: one locally (its
        folds fill the cores); on Ray enough to keep every slot busy."""
        if self.remote is None or self.remote.slots <= 1:
            return 1
        return max(2, -(-self.remote.slots // len(self.folds)) + 1)

    def evaluate(self, name: str, config: Config, trial: Any = None) -> CandidateResult:
        """Cross-validate one configuration; folds run in parallel batches.

        With an Optuna ``trial``, the running mean is reported after each
        batch and the trial is pruned when the pruner says so.
        """
        learner, config, result, folds = self._start(name, config)
        started = time.monotonic()
        try:
            self._cross_validate(learner, config, result, folds, trial)
        except Exception as error:  # a failing configuration must not end the search
            return _failed(result, error)
        self._record(result, folds, time.monotonic() - started)
        return result

    def evaluate_many(self, jobs: Sequence[tuple[str, Config]]) -> list[CandidateResult]:
        """Cross-validate several configurations; on Ray all their folds are
        submitted at once (no pruning: a trial's folds run side by side)."""
        if self.remote is None or len(jobs) == 1:
            return [self.evaluate(name, config) for name, config in jobs]
        started = time.monotonic()
        begun = [self._start(name, config) for name, config in jobs]
        outputs = self.remote.fit(
            [(r.name, lr, c, fold) for lr, c, r, _ in begun for fold in self.folds], self
        )
        k = len(self.folds)
        for i, (_, _, result, folds) in enumerate(begun):
            try:
                self._absorb(result, folds, self.folds, outputs[i * k : (i + 1) * k])
            except Exception as error:
                _failed(result, error)
                continue
            self._record(result, folds, time.monotonic() - started)
        return [result for _, _, result, _ in begun]

    def _start(
        self, name: str, config: Config
    ) -> tuple[Learner, Config, CandidateResult, _FoldOutputs]:
        learner = self.learners[config.family]
        config = self._with_forced_params(learner, config)
        schema = config.schema or self.schema
        result = CandidateResult(
            name=name, config=config, label=learner.label, n_features=len(schema.feature_names)
        )
        self.candidates.append(result)
        shape = (len(self.y), self.n_classes) if self.n_classes else (len(self.y),)
        return learner, config, result, _FoldOutputs(np.zeros(shape), np.zeros(len(self.y)))

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
        # On Ray a configuration's folds all go at once; the cluster queues them.
        size = len(self.folds) if self.remote is not None else self.workers
        for start in range(0, len(self.folds), size):
            batch = self.folds[start : start + size]
            self._absorb(result, folds, batch, self._fit_folds(result.name, learner, config, batch))
            if trial is not None and self.remote is None:  # on Ray every fold is done by now
                trial.report(result.cv_mean, step=len(result.fold_scores))
                if trial.should_prune():
                    result.status = "pruned"
                    result.error = f"pruned after {len(result.fold_scores)} folds"
                    return
            if self.left() <= 0 and start + size < len(self.folds):
                result.status = "partial"
                result.error = f"time budget ran out after {len(result.fold_scores)} folds"
                return

    @staticmethod
    def _absorb(
        result: CandidateResult,
        folds: _FoldOutputs,
        batch: Sequence[Fold],
        outputs: Sequence[FoldFit | Exception],
    ) -> None:
        """Add a batch's fold outputs to ``result`` and ``folds``; raises the
        first fold's error."""
        failures = [output for output in outputs if isinstance(output, Exception)]
        if failures:
            raise failures[0]
        for fold, output in zip(batch, outputs, strict=True):
            assert not isinstance(output, Exception)
            fold_score, predicted, fit_t, predict_t, rounds, model = output
            result.fold_scores.append(fold_score)
            folds.oof_sum[fold[1]] += predicted
            folds.seen[fold[1]] += 1
            folds.fit_total += fit_t
            folds.predict_total += predict_t
            folds.rows_predicted += len(fold[1])
            folds.models.append(model)
            if rounds is not None:
                result.rounds.append(rounds)

    def _record(self, result: CandidateResult, folds: _FoldOutputs, seconds: float) -> None:
        """Finish ``result`` from its folds' outputs; a complete result keeps
        its fold models and moves the deadline for the leader's refit, a
        partial one keeps the fold models that finished."""
        if not all(np.isfinite(s) for s in result.fold_scores):
            result.status = "failed"
            result.error = "the metric could not be computed on some folds"
        result.fit_time_s = folds.fit_total / max(1, len(result.fold_scores))
        result.predict_ms_per_row = 1000.0 * folds.predict_total / max(1, folds.rows_predicted)
        with np.errstate(invalid="ignore", divide="ignore"):
            # Repeated partitions validate a row once per repeat: average them.
            counts = folds.seen.reshape((-1,) + (1,) * (folds.oof_sum.ndim - 1))
            result.oof = np.where(counts > 0, folds.oof_sum / np.maximum(counts, 1), np.nan)
        if self.remote is not None and result.status == "ok":
            result.error = self.remote.notes.pop(result.name, "")
        if result.status == "ok":
            result.fold_models = folds.models
            self.cv_seconds.setdefault(result.config.family, seconds)
            self._evict_fold_models()
            leader = self.ranked(complete_only=True)
            if leader:
                # ... and predict what the stages after the search ask of it.
                per_row = np.nan_to_num(leader[0].predict_ms_per_row) / 1000
                predicting = per_row * self.predict_rows_after / self.workers
                self.deadline = self.end - REFIT_FACTOR * leader[0].fit_time_s - predicting
        elif result.status == "partial" and folds.models:
            # A search whose time ran out in its first configuration (a costly
            # one on many classes) may ship it: with no time left for a refit,
            # as the bag of the fold models that finished.
            result.fold_models = folds.models
            self._evict_fold_models()

    def _evict_fold_models(self) -> None:
        """Free the fold models no later stage can use: keep the ensemble pool
        of complete candidates, and a partial one only while it leads."""
        held = [c for c in self.candidates if c.fold_models is not None]
        complete = [c for c in held if c.complete]
        keep = {id(c) for c in self.ensemble_pool(complete, _KEEP_FOLD_MODELS)}
        leader = self.ranked()
        if leader and not leader[0].complete:
            keep.add(id(leader[0]))
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
