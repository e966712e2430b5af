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
   candidates' out-of-fold predictions, or a linear stacker.

Every candidate is a full pipeline (preprocessing + learner) fitted on the
training folds only, so nothing learned from a validation fold leaks into its
score. :func:`finalize` turns the outcome into one estimator: bags of the
fold models where data is small, refits on all training rows otherwise.
"""

from __future__ import annotations

import inspect
import itertools
import json
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from cairn.data.schema import Role, Schema
from cairn.data.split import Fold
from cairn.evaluation.metrics import greater_is_better, score
from cairn.exceptions import TrainingError
from cairn.features import build_preprocessor
from cairn.features.preprocess import CategoryCodes
from cairn.models.catalog import LEARNERS, MAX_BOOSTING_ROUNDS, Learner, Params
from cairn.models.ensemble import (
    BaggedModel,
    EnsembleModel,
    fit_stacker,
    greedy_selection,
    stack_features,
)
from cairn.models.target import (
    ClassAlignedClassifier,
    LogTargetRegressor,
    log_target_worth_trying,
    missing_classes,
)

Progress = Callable[[str], None]
Tuner = Literal["tpe", "random", "grid"]
EnsembleMethod = Literal["greedy", "stacking", "none"]

# Up to this many training rows the final members are the bagged fold models
# (no refit). Off by default: a bag predicts k times slower than a refit.
BAG_MAX_ROWS = 0
# How many of the best candidates keep their fold models for bagging.
_KEEP_FOLD_MODELS = 12
_EARLY_STOPPING_ROUNDS = 50
_TUNING_SHARES = (0.5, 0.3, 0.2)
_MAX_MEMBERS = 3
_NATIVE_CATEGORIES_MAX_COLUMNS = 20
# Larger data starts from plain codes too: target statistics make every
# prediction after the search (evaluation, reports, serving) several times slower.
_NATIVE_CATEGORIES_MAX_ROWS = 5_000
# A refit sees all training rows, a fold fit (k-1)/k of them, and boosting
# refits 10 % more rounds than early stopping found.
_REFIT_FACTOR = 1.5
_CHEAP_REFIT_S = 2.0


def _n_workers(n_jobs: int) -> int:
    cores = os.cpu_count() or 1
    return cores if n_jobs == -1 else max(1, min(n_jobs, cores))


def n_classes_of(schema: Schema, y: np.ndarray) -> int:
    """Size of the class set: the schema's classes (some may be absent from
    ``y``, e.g. a class whose only rows are in the test set), else the codes."""
    return max(len(schema.classes or ()), int(np.max(y)) + 1 if len(y) else 0)


def predict_output(model: Any, frame: pd.DataFrame, task: str) -> np.ndarray:
    """Class probabilities for classification, values for regression."""
    if task == "classification":
        return np.asarray(model.predict_proba(frame), dtype=float)
    return np.asarray(model.predict(frame), dtype=float)


def score_output(metric: str, task: str, y_true: np.ndarray, output: np.ndarray) -> float:
    if task == "classification":
        return score(metric, y_true, proba=output)
    return score(metric, y_true, y_pred=output)


@dataclass(frozen=True)
class Config:
    """One configuration of one family, on one feature set."""

    family: str
    params: Mapping[str, Any] = field(default_factory=dict)
    origin: str = "default"  # default, portfolio, tpe, random, grid, selection
    schema: Schema | None = None  # None: the search's full schema


def build_pipeline(
    learner: Learner,
    schema: Schema,
    *,
    task: str,
    n_rows: int,
    seed: int,
    n_jobs: int = 1,
    params: Mapping[str, Any] | None = None,
) -> Pipeline:
    """Preprocessing built from the schema, then the learner.

    ``params["pca"]`` (a variance share, e.g. 0.95) adds a PCA projection
    after the preprocessing; the learner ignores the key.
    """
    preprocessor: Any = build_preprocessor(
        schema,
        scale=learner.needs_scaling,
        native_categorical=learner.ordinal_categories,
        seed=seed,
    )
    categories = [
        f"cat_ordinal__{name}"
        for name in schema.feature_names
        if schema[name].role == Role.CATEGORICAL
    ]
    # Target statistics cost CatBoost time per round for every categorical
    # column: on wide or large data the default keeps plain codes, and the
    # portfolio and the search space still try the native handling.
    default_native = len(categories) <= _NATIVE_CATEGORIES_MAX_COLUMNS
    native = learner.category_statistics and (params or {}).get("native_categories", default_native)
    if native and categories and not (params and params.get("pca")):
        # CatBoost's ordered target statistics on the category codes.
        preprocessor = CategoryCodes(preprocessor, categories)
        params = {**(params or {}), "cat_features": categories}
    if params and params.get("pca"):
        from sklearn.decomposition import PCA

        projection = PCA(n_components=float(params["pca"]), random_state=seed)
        preprocessor = Pipeline([("columns", preprocessor), ("pca", projection)])
    model = learner.make(task, n_rows=n_rows, seed=seed, n_jobs=n_jobs, params=params)
    return Pipeline([("prep", preprocessor), ("model", model)])


class _DeadlineCallback:
    """Stops boosting when the search deadline passes (LightGBM and CatBoost)."""

    order = 30  # LightGBM callback ordering

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline

    def __call__(self, env: Any) -> None:  # LightGBM
        if self.deadline is not None and time.monotonic() > self.deadline:
            import lightgbm as lgb

            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    def after_iteration(self, info: Any) -> bool:  # CatBoost: False stops training
        return self.deadline is None or time.monotonic() <= self.deadline


def fit_pipeline(
    learner: Learner,
    schema: Schema,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    task: str,
    seed: int,
    params: Mapping[str, Any] | None = None,
    n_jobs: int = 1,
    X_val: pd.DataFrame | None = None,
    y_val: np.ndarray | None = None,
    deadline: float | None = None,
    n_classes: int | None = None,
) -> tuple[Pipeline, int | None]:
    """Fit preprocessing + learner; boosting early-stops on (X_val, y_val).

    For classification, ``n_classes`` is the size of the whole class set: a
    model whose rows miss some classes still answers with one probability
    column per class (see :class:`ClassAlignedClassifier`).

    Returns:
        The fitted pipeline and, for boosting, the number of rounds used.
    """
    from sklearn.exceptions import ConvergenceWarning

    params = dict(params or {})
    log_target = bool(params.pop("log_target", False))
    if log_target:
        y = np.log1p(y)
        y_val = None if y_val is None else np.log1p(y_val)
    if task == "classification" and X_val is not None and y_val is not None:
        # Boosting cannot be evaluated on classes it has not seen (CatBoost
        # refuses them): early stopping watches the validation rows of the
        # classes present in the fitting rows.
        known = np.isin(y_val, np.unique(y))
        if not known.all():
            X_val, y_val = X_val.iloc[np.flatnonzero(known)], y_val[known]
        if not len(y_val):
            X_val = y_val = None
    early = learner.early_stopping and X_val is not None and y_val is not None
    if early:
        params["n_estimators"] = MAX_BOOSTING_ROUNDS
    pipeline = build_pipeline(
        learner, schema, task=task, n_rows=len(X), seed=seed, n_jobs=n_jobs, params=params
    )
    prep, model = pipeline.named_steps["prep"], pipeline.named_steps["model"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*does not have valid feature names.*")
        features = prep.fit_transform(X, y)
        rounds: int | None = None
        if not learner.early_stopping:
            model.fit(features, y)
        elif learner.name == "lightgbm":
            import lightgbm as lgb

            callbacks: list[Any] = [_DeadlineCallback(deadline)]
            fit_kwargs: dict[str, Any] = {}
            if early:
                assert X_val is not None and y_val is not None
                callbacks.append(lgb.early_stopping(_EARLY_STOPPING_ROUNDS, verbose=False))
                val_features = prep.transform(X_val)
                if "eval_X" in inspect.signature(model.fit).parameters:  # LightGBM >= 4.6
                    watched = y_val
                    if task == "classification":
                        # LGBMClassifier codes classes as their position among
                        # the fitted ones but passes eval_y on uncoded: a fold
                        # missing a class would hand the booster an out-of-range
                        # label (a crash in native code).
                        watched = np.searchsorted(np.unique(y), y_val)
                    fit_kwargs.update(eval_X=(val_features,), eval_y=(watched,))
                else:
                    fit_kwargs["eval_set"] = [(val_features, y_val)]
            model.fit(features, y, callbacks=callbacks, **fit_kwargs)
            best = getattr(model, "best_iteration_", None)
            rounds = int(best) if best else int(model.n_estimators_)
        else:  # catboost
            fit_kwargs = {"callbacks": [_DeadlineCallback(deadline)]}
            if early:
                assert X_val is not None
                fit_kwargs["eval_set"] = (prep.transform(X_val), y_val)
                fit_kwargs["early_stopping_rounds"] = _EARLY_STOPPING_ROUNDS
            model.fit(features, y, **fit_kwargs)
            best = model.get_best_iteration() if early else None
            rounds = int(best) + 1 if best is not None else int(model.tree_count_)
    if log_target:
        pipeline.steps[-1] = ("model", LogTargetRegressor(model))
    elif task == "classification" and n_classes and missing_classes(model, n_classes):
        pipeline.steps[-1] = ("model", ClassAlignedClassifier(model, n_classes))
    return pipeline, rounds


@dataclass
class CandidateResult:
    """How one configuration did in cross-validation."""

    name: str
    config: Config
    label: str = ""
    status: str = "ok"  # ok, partial, pruned, failed, skipped
    fold_scores: list[float] = field(default_factory=list)
    fit_time_s: float = 0.0
    predict_ms_per_row: float = float("nan")
    oof: np.ndarray | None = None
    rounds: list[int] = field(default_factory=list)
    fold_models: list[Any] | None = None
    n_features: int = 0
    error: str = ""

    @property
    def family(self) -> str:
        return self.config.family

    @property
    def cv_mean(self) -> float:
        return float(np.mean(self.fold_scores)) if self.fold_scores else float("nan")

    @property
    def cv_std(self) -> float:
        return float(np.std(self.fold_scores)) if len(self.fold_scores) > 1 else float("nan")

    @property
    def complete(self) -> bool:
        return self.status == "ok" and self.oof is not None and bool(np.isfinite(self.oof).all())


@dataclass
class SearchResult:
    """Outcome of the search.

    Attributes:
        candidates: every configuration tried, in order.
        best: name of the best single candidate.
        ensemble: candidate name → weight, when an ensemble beat the best
            single candidate on out-of-fold data (empty otherwise).
        ensemble_scores: per-fold scores of that ensemble.
        phases: seconds spent per phase.
        selected_features: the feature set tuning used, when selection won.
        target_transform: "log1p" when regression models learn a log-scale
            target (chosen because it scored better), else None.
    """

    metric: str
    task: str
    candidates: list[CandidateResult]
    best: str
    elapsed_s: float
    ensemble: dict[str, float] = field(default_factory=dict)
    ensemble_method: str = "none"
    ensemble_scores: list[float] = field(default_factory=list)
    stacker: Any = None
    phases: dict[str, float] = field(default_factory=dict)
    selected_features: list[str] | None = None
    dropped_features: list[str] = field(default_factory=list)
    target_transform: str | None = None

    def candidate(self, name: str) -> CandidateResult:
        for candidate in self.candidates:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    @property
    def n_trials(self) -> int:
        return sum(1 for c in self.candidates if c.config.origin in ("tpe", "random", "grid"))

    def _row(self, c: CandidateResult) -> dict[str, Any]:
        # A failed candidate's scores on the folds it got through are not
        # comparable with complete ones: shown as missing, with the reason.
        scored = c.status != "failed"
        return {
            "model": c.name,
            "family": c.family,
            "label": c.label,
            "origin": c.config.origin,
            "status": c.status,
            f"cv_{self.metric}_mean": c.cv_mean if scored else float("nan"),
            f"cv_{self.metric}_std": c.cv_std if scored else float("nan"),
            "folds": len(c.fold_scores),
            "fit_time_s": round(c.fit_time_s, 3),
            "predict_ms_per_row": c.predict_ms_per_row,
            "features": c.n_features,
            "params": json.dumps(dict(c.config.params), sort_keys=True, default=str),
            "error": c.error,
        }

    def _sorted(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        board = pd.DataFrame(rows)
        key = f"cv_{self.metric}_mean"
        board["_ok"] = board["status"].isin(["ok", "partial", "selected"])
        board = board.sort_values(
            ["_ok", key], ascending=[False, not greater_is_better(self.metric)], na_position="last"
        )
        return board.drop(columns="_ok").reset_index(drop=True)

    @property
    def trials(self) -> pd.DataFrame:
        """Every configuration tried, best first."""
        return self._sorted([self._row(c) for c in self.candidates])

    @property
    def leaderboard(self) -> pd.DataFrame:
        """The ensemble (if any), the best configuration of each family and
        the feature-selection variant, best first; skipped and failed last."""
        best_per_family: dict[str, CandidateResult] = {}
        sign = 1.0 if greater_is_better(self.metric) else -1.0
        for c in self.candidates:
            if c.config.origin == "selection":
                continue
            held = best_per_family.get(c.family)
            usable = c.status in ("ok", "partial") and np.isfinite(c.cv_mean)
            held_usable = held is not None and held.status in ("ok", "partial")
            if held is None or (
                usable and (not held_usable or sign * c.cv_mean > sign * held.cv_mean)
            ):
                best_per_family[c.family] = c
        rows = [self._row(c) for c in best_per_family.values()]
        rows += [self._row(c) for c in self.candidates if c.config.origin == "selection"]
        if self.ensemble:
            members = ", ".join(f"{name} ×{weight:.2f}" for name, weight in self.ensemble.items())
            fit_time = sum(self.candidate(n).fit_time_s for n in self.ensemble)
            predict_time = sum(self.candidate(n).predict_ms_per_row for n in self.ensemble)
            rows.append(
                {
                    "model": "ensemble",
                    "family": "ensemble",
                    "label": f"{self.ensemble_method} ensemble",
                    "origin": self.ensemble_method,
                    "status": "ok",
                    f"cv_{self.metric}_mean": float(np.mean(self.ensemble_scores)),
                    f"cv_{self.metric}_std": float(np.std(self.ensemble_scores)),
                    "folds": len(self.ensemble_scores),
                    "fit_time_s": round(fit_time, 3),
                    "predict_ms_per_row": predict_time,
                    "features": max(self.candidate(n).n_features for n in self.ensemble),
                    "params": members,
                    "error": "",
                }
            )
        return self._sorted(rows)


class _Search:
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
        self.task, self.metric, self.seed = task, metric, seed
        # The search ends early enough to refit its leader on all rows within
        # the budget; the deadline moves as the leader changes.
        self.end, self.deadline = deadline, deadline
        self.workers, self.progress = workers, progress
        self.sign = 1.0 if greater_is_better(metric) else -1.0
        self.n_classes = n_classes_of(schema, y) if task == "classification" else 0
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
            task=self.task,
            seed=self.seed,
            params=config.params,
            X_val=X_val,
            y_val=y_val,
            deadline=self.deadline,
            n_classes=self.n_classes,
        )
        fit_time = time.perf_counter() - started
        started = time.perf_counter()
        output = predict_output(pipeline, X_val, self.task)
        predict_time = time.perf_counter() - started
        fold_score = score_output(self.metric, self.task, y_val, output)
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
        # Every phase's configurations pass here: forced settings apply once.
        forced = {**self.shared_params, **self.fixed_params.get(config.family, {})}
        if learner.category_statistics and "native_categories" not in config.params:
            # Decided on all training rows, recorded, so the refit matches the folds.
            forced.setdefault("native_categories", len(self.X) <= _NATIVE_CATEGORIES_MAX_ROWS)
        if forced:
            config = replace(config, params={**config.params, **forced})
        schema = config.schema or self.schema
        result = CandidateResult(
            name=name, config=config, label=learner.label, n_features=len(schema.feature_names)
        )
        self.candidates.append(result)
        shape = (len(self.y), self.n_classes) if self.n_classes else (len(self.y),)
        # Repeated partitions validate a row once per repeat: average them.
        oof_sum = np.zeros(shape)
        seen = np.zeros(len(self.y))
        fold_models: list[Any] = []
        fit_total = predict_total = 0.0
        rows_predicted = 0
        started = time.monotonic()
        try:
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
                    oof_sum[fold[1]] += output
                    seen[fold[1]] += 1
                    fit_total += fit_t
                    predict_total += predict_t
                    rows_predicted += len(fold[1])
                    fold_models.append(model)
                    if rounds is not None:
                        result.rounds.append(rounds)
                if trial is not None:
                    trial.report(result.cv_mean, step=len(result.fold_scores))
                    if trial.should_prune():
                        result.status = "pruned"
                        result.error = f"pruned after {len(result.fold_scores)} folds"
                        break
                if self.left() <= 0 and start + self.workers < len(self.folds):
                    result.status = "partial"
                    result.error = f"time budget ran out after {len(result.fold_scores)} folds"
                    break
        except Exception as error:  # a failing configuration must not end the search
            result.status = "failed"
            result.error = f"{type(error).__name__}: {error}"[:300]
            return result
        if not all(np.isfinite(s) for s in result.fold_scores):
            result.status = "failed"
            result.error = "the metric could not be computed on some folds"
        result.fit_time_s = fit_total / max(1, len(result.fold_scores))
        result.predict_ms_per_row = 1000.0 * predict_total / max(1, rows_predicted)
        with np.errstate(invalid="ignore", divide="ignore"):
            counts = seen.reshape((-1,) + (1,) * (oof_sum.ndim - 1))
            result.oof = np.where(counts > 0, oof_sum / np.maximum(counts, 1), np.nan)
        if result.status == "ok":
            result.fold_models = fold_models
            self.cv_seconds.setdefault(config.family, time.monotonic() - started)
            self._evict_fold_models()
            leader = self.ranked(complete_only=True)
            if leader:
                self.deadline = self.end - _REFIT_FACTOR * leader[0].fit_time_s
        return result

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


def _select_features(state: _Search, best: CandidateResult, max_rows: int = 1000) -> list[str]:
    """Columns whose shuffling does not hurt the best default (permutation
    importance on its validation folds), plus near-duplicates of earlier
    numeric columns (|Pearson r| > 0.98). Returns the columns to drop."""
    assert best.fold_models is not None
    rng = np.random.default_rng(state.seed)
    schema = best.config.schema or state.schema
    features = schema.feature_names
    drops: dict[str, list[float]] = {name: [] for name in features}
    for fold, model in list(zip(state.folds, best.fold_models, strict=False))[:2]:
        val_idx = fold[1]
        if len(val_idx) > max_rows:
            val_idx = rng.choice(val_idx, size=max_rows, replace=False)
        X_val, y_val = state.X.iloc[val_idx], state.y[val_idx]
        base = score_output(
            state.metric, state.task, y_val, predict_output(model, X_val, state.task)
        )
        for name in features:
            shuffled = X_val.copy()
            shuffled[name] = rng.permutation(shuffled[name].to_numpy())
            permuted = score_output(
                state.metric, state.task, y_val, predict_output(model, shuffled, state.task)
            )
            drops[name].append(state.sign * (base - permuted))
    # A column helps only if shuffling it costs more than a hair of the score.
    tolerance = 1e-3 * abs(base) if np.isfinite(base) else 0.0
    useless = [name for name, values in drops.items() if np.mean(values) <= tolerance]
    numeric = [n for n in schema.by_role(Role.NUMERIC) if n in features and n not in useless]
    if len(numeric) > 1:
        corr = state.X[numeric].astype(float).corr().abs().to_numpy()
        for j in range(len(numeric)):
            if any(corr[i, j] > 0.98 for i in range(j) if numeric[i] not in useless):
                useless.append(numeric[j])
    keep = [name for name in features if name not in useless]
    return useless if keep else []


def _study_for(
    learner: Learner, tuner: Tuner, task: str, seed: int, direction: Literal["minimize", "maximize"]
) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler: Any
    if tuner == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    elif tuner == "grid":
        # Every grid point is enqueued; Optuna's GridSampler would call
        # Study.stop(), which the ask-and-tell interface does not allow.
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)
    study = optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)
    if tuner == "grid":
        for point in _grid_points(learner, task):
            study.enqueue_trial(point)
    else:
        keys = _space_keys(learner, task)
        for config in learner.portfolio[1:]:
            known = {k: v for k, v in config.items() if k in keys}
            if known:
                study.enqueue_trial(known, skip_if_exists=True)
    return study


def _space_keys(learner: Learner, task: str) -> set[str]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    return set(learner.space(probe.ask(), task, 1000).keys())


def _finished_states() -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def _grid_points(learner: Learner, task: str) -> list[Params]:
    keys = sorted(_space_keys(learner, task) & set(learner.grid))
    values = [list(learner.grid[k]) for k in keys]
    return [dict(zip(keys, point, strict=True)) for point in itertools.product(*values)]


def _grid_size(learner: Learner, task: str) -> int:
    return len(_grid_points(learner, task)) if learner.grid else 0


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

    Raises:
        TrainingError: every candidate failed.
    """
    started = time.monotonic()
    say = progress or (lambda message: None)
    fixed: dict[str, Params] = {}
    if exportable_only:
        learners = [lr for lr in learners if lr.exportable] or list(learners)
        fixed = {lr.name: {"native_categories": False} for lr in learners if lr.category_statistics}
    state = _Search(
        X,
        y,
        schema=schema,
        folds=folds,
        task=task,
        metric=metric,
        deadline=started + time_budget,
        seed=seed,
        workers=_n_workers(n_jobs),
        progress=say,
        learners=learners,
        fixed_params=fixed,
    )
    phases: dict[str, float] = {}

    # 1. Defaults, cheapest family first.
    t = time.monotonic()
    for learner in learners:
        if state.ranked() and state.left() <= _expected_seconds(state, learner, learners):
            state.candidates.append(
                CandidateResult(
                    name=learner.name,
                    config=Config(learner.name),
                    label=learner.label,
                    status="skipped",
                    error="not enough of the time budget left to start it",
                )
            )
            continue
        say(f"cross-validating {learner.label} ({max(0.0, state.left()):.0f}s left)")
        first = state.evaluate(learner.name, Config(learner.name))
        if first is state.candidates[0] and task == "regression" and log_target_worth_trying(y):
            _try_log_target(state, learner, first)
    if pca:
        for learner in learners:
            if learner.needs_scaling and learner.name in state.cv_seconds and state.left() > 0:
                say(f"cross-validating {learner.label} on a PCA projection")
                state.evaluate(f"{learner.name}+pca", Config(learner.name, {"pca": 0.95}, "pca"))
    phases["defaults"] = time.monotonic() - t
    if not state.ranked():
        reasons = "; ".join(f"{c.name}: {c.error}" for c in state.candidates)
        raise TrainingError(f"no candidate model could be trained ({reasons})")

    # 2. Feature selection on the best default.
    t = time.monotonic()
    selected_schema: Schema | None = None
    dropped: list[str] = []
    leader = state.ranked(complete_only=True)
    if (
        select_features
        and leader
        and leader[0].fold_models
        and len(schema.feature_names) >= 5
        and state.left() > 2 * state.cv_seconds.get(leader[0].family, 0.0)
    ):
        best = leader[0]
        say(f"selecting features with {best.label}")
        dropped = _select_features(state, best)
        if dropped:
            reduced = schema
            for name in dropped:
                reduced = reduced.with_role(name, Role.IGNORE, "dropped by feature selection")
            variant = state.evaluate(
                f"{best.family}+selected",
                Config(best.family, best.config.params, "selection", reduced),
            )
            if variant.status == "ok" and state.sign * variant.cv_mean > state.sign * best.cv_mean:
                selected_schema = reduced
    phases["feature_selection"] = time.monotonic() - t

    # 3. Tuning: studies per family, trials to the leaders.
    t = time.monotonic()
    direction: Literal["minimize", "maximize"] = "maximize" if state.sign > 0 else "minimize"
    studies: dict[str, Any] = {}
    exhausted: set[str] = set()
    trial_count = 0
    step = 0
    tuning_families = [lr for lr in learners if lr.name in state.cv_seconds]
    # Every family's known-good configurations come before any exploration
    # (they are the first trials its study asks for), best family first.
    portfolio_queue = (
        []
        if tuner == "grid"
        else [
            lr
            for lr in _by_family_score(state, tuning_families)
            for _ in range(_n_portfolio_trials(lr, task))
        ]
    )
    while tuning_families and (max_trials is None or trial_count < max_trials):
        order = [lr for lr in _by_family_score(state, tuning_families) if lr.name not in exhausted]
        order = order[: len(_TUNING_SHARES)]
        if not order:
            break
        if portfolio_queue:
            learner = portfolio_queue.pop(0)
            if learner.name in exhausted:
                continue
        else:
            learner = order[_pick_share(step, len(order))]
            step += 1
        expected = state.cv_seconds.get(learner.name, 0.0) * 1.5
        if state.left() <= max(expected, 0.5):
            if all(state.left() <= state.cv_seconds.get(lr.name, 0.0) * 1.5 for lr in order):
                break
            exhausted.add(learner.name)  # too slow for what is left; others may fit
            continue
        if learner.name not in studies:
            studies[learner.name] = _study_for(learner, tuner, task, seed + len(studies), direction)
        study = studies[learner.name]
        done = study.get_trials(deepcopy=False, states=_finished_states())
        if tuner == "grid" and len(done) >= _grid_size(learner, task):
            exhausted.add(learner.name)
            continue
        trial = study.ask()
        params = learner.space(trial, task, len(X))
        trial_count += 1
        name = f"{learner.name}#{trial.number + 1}"
        say(
            f"tuning {learner.label}: trial {trial.number + 1} ({max(0.0, state.left()):.0f}s left)"
        )
        result = state.evaluate(
            name, Config(learner.name, params, tuner, selected_schema), trial=trial
        )
        import optuna

        if result.status == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif result.status in ("ok", "partial") and np.isfinite(result.cv_mean):
            study.tell(trial, result.cv_mean)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    phases["tuning"] = time.monotonic() - t

    # 4. Ensemble over out-of-fold predictions.
    t = time.monotonic()
    best = state.ranked()[0]
    outcome = SearchResult(
        metric=metric,
        task=task,
        candidates=state.candidates,
        best=best.name,
        elapsed_s=0.0,
        selected_features=selected_schema.feature_names if selected_schema else None,
        dropped_features=dropped,
        target_transform="log1p" if state.shared_params.get("log_target") else None,
    )
    if ensemble != "none":
        _ensemble(state, outcome, ensemble)
    phases["ensemble"] = time.monotonic() - t
    outcome.phases = {k: round(v, 3) for k, v in phases.items()}
    outcome.elapsed_s = time.monotonic() - started
    return outcome


def _try_log_target(state: _Search, learner: Learner, plain: CandidateResult) -> None:
    """Score ``learner`` on a log-scale target; keep the log scale for every
    later configuration when it wins on the original scale."""
    state.progress(f"cross-validating {learner.label} on a log-scale target")
    logged = state.evaluate(
        f"{learner.name}+log", Config(learner.name, {"log_target": True}, "log_target")
    )
    if (
        logged.status == "ok"
        and plain.status == "ok"
        and state.sign * logged.cv_mean > state.sign * plain.cv_mean
    ):
        state.shared_params["log_target"] = True


def _by_family_score(state: _Search, learners: Sequence[Learner]) -> list[Learner]:
    """``learners`` ordered by the best score each family has reached so far."""
    family_best: dict[str, float] = {}
    for c in state.ranked():
        family_best.setdefault(c.family, state.sign * c.cv_mean)
    return sorted(learners, key=lambda lr: family_best.get(lr.name, -np.inf), reverse=True)


def _n_portfolio_trials(learner: Learner, task: str) -> int:
    """How many portfolio configurations the family's study has enqueued."""
    keys = _space_keys(learner, task)
    return sum(1 for config in learner.portfolio[1:] if any(k in keys for k in config))


def _expected_seconds(state: _Search, learner: Learner, learners: Sequence[Learner]) -> float:
    """A rough guess of one default CV of ``learner``: the slowest family
    measured so far, scaled by relative cost. Zero before any measurement."""
    if not state.cv_seconds:
        return 0.0
    costs = {lr.name: lr.cost for lr in learners}
    slowest = max(state.cv_seconds, key=lambda name: state.cv_seconds[name])
    scale = learner.cost / max(1, costs.get(slowest, 1))
    return 0.5 * state.cv_seconds[slowest] * scale


def _pick_share(step: int, n: int) -> int:
    """Deterministic schedule giving leaders 50 %, 30 %, 20 % of the trials."""
    shares = np.asarray(_TUNING_SHARES[:n]) / sum(_TUNING_SHARES[:n])
    counts = np.floor(shares * (step + 1) + 1e-9) - np.floor(shares * step + 1e-9)
    return int(np.argmax(counts)) if counts.max() > 0 else int(np.argmax(shares))


def _fold_scores(state: _Search, output: np.ndarray) -> list[float]:
    return [
        score_output(state.metric, state.task, state.y[val], output[val]) for _, val in state.folds
    ]


def _ensemble(state: _Search, outcome: SearchResult, method: EnsembleMethod) -> None:
    complete = [c for c in state.ranked(complete_only=True) if c.fold_models is not None]
    pool = state.ensemble_pool(complete, 10)
    if len(pool) < 2:
        return
    oofs = [c.oof for c in pool if c.oof is not None]

    def combined_score(output: np.ndarray) -> float:
        return score_output(state.metric, state.task, state.y, output)

    weights = greedy_selection(
        oofs,
        combined_score,
        greater_is_better=state.sign > 0,
        max_rounds=40,
        max_members=_MAX_MEMBERS,
    )
    chosen = {c.name: float(w) for c, w in zip(pool, weights, strict=True) if w > 0}
    if method == "stacking":
        members = pool[:5]
        member_oofs = [c.oof for c in members if c.oof is not None]
        stacked_oof = np.zeros_like(member_oofs[0])
        for fit_idx, val_idx in state.folds:
            stacker = fit_stacker(
                [o[fit_idx] for o in member_oofs], state.y[fit_idx], state.task, state.seed
            )
            features = stack_features([o[val_idx] for o in member_oofs])
            stacked_oof[val_idx] = (
                stacker.predict_proba(features)
                if state.task == "classification"
                else stacker.predict(features)
            )
        scores = _fold_scores(state, stacked_oof)
        if state.sign * np.mean(scores) > state.sign * pool[0].cv_mean:
            outcome.ensemble = {c.name: 1.0 / len(members) for c in members}
            outcome.ensemble_method = "stacking"
            outcome.ensemble_scores = scores
            outcome.stacker = fit_stacker(member_oofs, state.y, state.task, state.seed)
        return
    # Every member is paid for again after the search (refit, export, reports,
    # serving), hence the cap on distinct members above.
    if len(chosen) < 2:
        return
    by_name = {c.name: c for c in pool}
    output = np.sum(
        [w * np.asarray(by_name[name].oof, dtype=float) for name, w in chosen.items()], axis=0
    )
    if state.sign * combined_score(np.asarray(output)) < state.sign * combined_score(
        np.asarray(pool[0].oof)
    ):
        return
    scores = _fold_scores(state, np.asarray(output))
    outcome.ensemble = chosen
    outcome.ensemble_method = "greedy"
    outcome.ensemble_scores = scores


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
    found in CV). A member whose refit would overrun the deadline becomes the
    bag of its fold models instead (exactly the models whose out-of-fold
    predictions were scored). ``bag_max_rows``
    forces bags on data up to that size (AutoGluon-style bagging), trading
    prediction time for a little accuracy.
    """
    started = time.monotonic()
    members = outcome.ensemble or {outcome.best: 1.0}
    bag = len(X) <= bag_max_rows
    fitted: list[Any] = []
    names: list[str] = []
    how: list[str] = []
    for name in members:
        candidate = outcome.candidate(name)
        learner = LEARNERS[candidate.family]
        expected = candidate.fit_time_s * _REFIT_FACTOR
        # A refit that would overrun the budget becomes the bag of the fold
        # models (k times slower to predict, but exactly what was scored).
        # A cheap refit of the leader is always done: its bag would cost more
        # in every prediction after the search (evaluation, reports, export).
        in_time = (
            deadline is None
            or time.monotonic() + expected <= deadline
            or (not fitted and expected <= _CHEAP_REFIT_S)
        )
        if (bag or not in_time) and candidate.fold_models:
            fitted.append(BaggedModel(candidate.fold_models, outcome.task))
            how.append("bag")
        else:
            params: Params = dict(candidate.config.params)
            if candidate.rounds:
                params["n_estimators"] = max(10, int(np.mean(candidate.rounds) * 1.1))
            with threadpool_limits(limits=1 if len(X) < 50_000 else None):
                model, _ = fit_pipeline(
                    learner,
                    candidate.config.schema or schema,
                    X,
                    y,
                    task=outcome.task,
                    seed=seed,
                    params=params,
                    n_classes=n_classes_of(schema, y) if outcome.task == "classification" else None,
                    # OpenMP threads cost more than they save on small data, and
                    # spin badly when the machine is busy.
                    n_jobs=_n_workers(n_jobs) if len(X) >= 50_000 else 1,
                )
            fitted.append(model)
            how.append("refit")
        names.append(name)
    _single_threaded(fitted)
    refit_seconds = time.monotonic() - started
    if len(fitted) == 1:
        kind = "bagged fold models" if how[0] == "bag" else "refitted on all training rows"
        return FinalModel(
            fitted[0], f"{names[0]} ({kind})", dict(members), how[0] == "bag", refit_seconds
        )
    estimator = EnsembleModel(
        fitted,
        list(members.values()),
        outcome.task,
        names=names,
        stacker=outcome.stacker if outcome.ensemble_method == "stacking" else None,
    )
    parts = ", ".join(f"{n} ×{w:.2f} ({h})" for (n, w), h in zip(members.items(), how, strict=True))
    return FinalModel(
        estimator,
        f"{outcome.ensemble_method} ensemble of {parts}",
        dict(members),
        all(h == "bag" for h in how),
        refit_seconds,
    )


def _single_threaded(models: Sequence[Any]) -> None:
    """Serve on one thread: thread start-up dominates small batches."""
    for model in models:
        inner = model.models if isinstance(model, BaggedModel) else [model]
        for pipeline in inner:
            estimator = pipeline.named_steps["model"]
            if isinstance(estimator, LogTargetRegressor):
                estimator = estimator.regressor
            elif isinstance(estimator, ClassAlignedClassifier):
                estimator = estimator.classifier
            params = estimator.get_params()
            for key in ("n_jobs", "thread_count"):
                if key in params:
                    try:
                        estimator.set_params(**{key: 1})
                    except Exception:  # some fitted learners refuse; keep their setting
                        continue
