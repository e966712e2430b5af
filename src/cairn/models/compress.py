"""Compression after the search: a distilled LightGBM student and pruned
LightGBM variants, each cross-validated on the search's folds and checked
against the final model on held-out rows.

* **Student.** When the final model is slow to serve (an ensemble, a bag of
  fold models, k-NN, a forest, CatBoost), one LightGBM model learns the
  teacher's out-of-fold outputs. For classification the targets are the
  teacher's class probabilities: each row is repeated once per class with
  that class as label and its probability as sample weight, which is exactly
  the cross-entropy against the soft targets, so the student is an ordinary
  LightGBM classifier (exported, served and explained like any other). For
  regression the targets are the teacher's predictions. The student is kept
  when its cross-validated metric is within ``tolerance`` (relative) of the
  teacher's. The teacher's out-of-fold output on a fold's training rows comes
  from fold models that saw that fold's validation rows, so the student's
  cross-validated score leans slightly optimistic; the held-out agreement
  does not.
* **Pruned variants** of the best LightGBM candidate: a half and a quarter
  of its refit rounds (the first trees of the same model), and shallower
  trees (a quarter of the leaves) early-stopped on each fold. They are all
  recorded, whatever their metric: they are points between accuracy and
  speed for the objectives to choose from.

Every variant is verified against the final model on held-out rows: the
share of rows given the same class (classification) or R² against the final
model's predictions (regression), and the largest absolute difference.
"""

from __future__ import annotations

import pickle
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cairn.data.schema import Schema
from cairn.data.split import Fold
from cairn.models.catalog import LEARNERS, MAX_BOOSTING_ROUNDS, Params
from cairn.models.ensemble import stack_features
from cairn.models.search import (
    CandidateResult,
    Config,
    FinalModel,
    SearchResult,
    build_pipeline,
    calibrated_output,
    final_oof,
    fit_lightgbm,
    fit_pipeline,
    n_classes_of,
    predict_output,
)
from cairn.models.target import (
    ClassAlignedClassifier,
    LogTargetRegressor,
    innermost,
    missing_classes,
)
from cairn.tasks import Task, get_task

#: A student is kept when its cross-validated metric is within this share of
#: the teacher's (``[train] distil_tolerance``).
DEFAULT_TOLERANCE = 0.01
# Soft-target rows lighter than this are left out (they barely move the loss
# and multiply the rows by the number of classes); the true class always stays.
_MIN_SOFT_WEIGHT = 1e-3
# Families whose single refitted model is already as fast as a student.
_FAST_FAMILIES = frozenset({"lightgbm", "linear"})
_TRUNCATED_SHARES = (0.5, 0.25)
_SHALLOW_FACTOR = 4
_MIN_ROUNDS = 10
# A refit sees all training rows and trains 10 % more rounds than early stopping found.
_REFIT_ROUNDS = 1.1

Progress = Callable[[str], None]


@dataclass
class Variant:
    """One compressed model and how it compares with the final model.

    Attributes:
        name: leaderboard name (``student``, ``<candidate>-trees<n>``, ...).
        kind: ``distilled``, ``fewer_trees`` or ``shallower``.
        source: what it compresses (the teacher or the LightGBM candidate).
        estimator: the fitted pipeline (None when skipped).
        params: the LightGBM configuration.
        fold_scores: cross-validated metric on the search's folds.
        teacher_cv: the final model's cross-validated metric.
        kept: a candidate for the leaderboard (a student must be within the
            tolerance; pruned variants always are).
        reason: why not kept, or why skipped.
        agreement: on held-out rows, the share given the final model's class
            (classification) or R² against its predictions (regression).
        max_abs_diff: largest absolute difference from the final model's
            output (probabilities or values) on held-out rows.
        trees: trees in the model.
        size_bytes: the pickled model's size.
        ms_per_row: native prediction milliseconds per row on the held-out batch.
        seconds: time spent building and checking it.
    """

    name: str
    kind: str
    source: str
    estimator: Any = field(default=None, repr=False)
    params: Params = field(default_factory=dict)
    fold_scores: list[float] = field(default_factory=list)
    teacher_cv: float = float("nan")
    kept: bool = False
    reason: str = ""
    agreement: float = float("nan")
    max_abs_diff: float = float("nan")
    trees: int = 0
    size_bytes: int = 0
    ms_per_row: float = float("nan")
    fit_time_s: float = 0.0
    seconds: float = 0.0

    @property
    def cv_mean(self) -> float:
        return float(np.mean(self.fold_scores)) if self.fold_scores else float("nan")

    def summary(self) -> dict[str, Any]:
        """What a run records about the variant (JSON-safe, no model)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "kept": self.kept,
            "reason": self.reason,
            "cv_mean": self.cv_mean,
            "teacher_cv": self.teacher_cv,
            "agreement": self.agreement,
            "max_abs_diff": self.max_abs_diff,
            "trees": self.trees,
            "size_bytes": self.size_bytes,
            "ms_per_row": self.ms_per_row,
            "seconds": round(self.seconds, 3),
            "params": {k: v for k, v in self.params.items() if _plain(v)},
        }

    def candidate(self) -> CandidateResult:
        """The variant as a search candidate, for the leaderboard."""
        return CandidateResult(
            name=self.name,
            config=Config("lightgbm", dict(self.params), origin=self.kind),
            label=f"LightGBM, {self.kind.replace('_', ' ')} ({self.source})",
            fold_scores=list(self.fold_scores),
            fit_time_s=self.fit_time_s,
            predict_ms_per_row=self.ms_per_row,
        )


@dataclass
class CompressionResult:
    """The compressed variants of one run, or why there are none.

    Attributes:
        metric: the search's metric.
        teacher: the final model's description.
        teacher_cv: its cross-validated metric.
        tolerance: the relative metric loss a student may have.
        variants: every variant tried (kept or not).
        skipped: why compression did not run at all ("" when it ran).
        seconds: time spent.
    """

    metric: str
    teacher: str
    teacher_cv: float
    tolerance: float
    variants: list[Variant] = field(default_factory=list)
    skipped: str = ""
    seconds: float = 0.0

    @property
    def kept(self) -> list[Variant]:
        return [v for v in self.variants if v.kept]

    def summary(self) -> dict[str, Any]:
        """What a run records (``compression.json``)."""
        return {
            "metric": self.metric,
            "teacher": self.teacher,
            "teacher_cv": self.teacher_cv,
            "tolerance": self.tolerance,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "variants": [v.summary() for v in self.variants],
        }

    def candidates(self) -> list[CandidateResult]:
        """The kept variants, as leaderboard candidates (the others are
        recorded in :meth:`summary` only)."""
        return [v.candidate() for v in self.kept]


def compress(
    found: SearchResult,
    final: FinalModel,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    schema: Schema,
    folds: Sequence[Fold],
    X_check: pd.DataFrame,
    seed: int,
    deadline: float,
    tolerance: float = DEFAULT_TOLERANCE,
    say: Progress | None = None,
) -> CompressionResult:
    """The student and the pruned variants, as far as ``deadline`` allows.

    Args:
        found: the search's outcome (candidates with out-of-fold outputs).
        final: the final model built from it (the teacher).
        X, y: the training rows the search used, and ``folds`` its folds.
        X_check: held-out rows on which each variant is compared with the
            final model.
        deadline: ``time.monotonic()`` value by which compression ends; a
            variant whose estimated cost does not fit is skipped with a reason.
        tolerance: relative metric loss allowed to a student (0.01: 1 %).
    """
    started = time.monotonic()
    task = get_task(found.task)
    teacher_cv = _teacher_cv(found)
    result = CompressionResult(found.metric, final.description, teacher_cv, tolerance)
    run = _Runner(
        found, final, X, y, schema=schema, folds=list(folds), seed=seed, deadline=deadline
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have valid feature names.*")
        teacher_output: np.ndarray | None = None  # predicted once a variant is built
        plans, reasons = _plans(found, final, run)
        if not plans:
            result.skipped = "; ".join(reasons)
        for variant, build in plans:
            variant.teacher_cv = teacher_cv
            needed = run.estimate(variant)
            left = deadline - time.monotonic()
            if needed > left:
                variant.reason = (
                    f"skipped: about {needed:.1f} s needed, {max(0.0, left):.1f} s of the "
                    "time budget left"
                )
                result.variants.append(variant)
                continue
            if say is not None:
                say(f"compressing: {variant.name} ({variant.kind.replace('_', ' ')})")
            begun = time.monotonic()
            try:
                build(variant)
            except Exception as error:  # a failed variant must not end the run
                variant.estimator, variant.kept = None, False
                variant.reason = f"failed: {type(error).__name__}: {error}"[:300]
            else:
                if teacher_output is None:
                    teacher_output = predict_output(final.estimator, X_check, task.name)
                _check(variant, X_check, teacher_output, task)
                if variant.kind == "distilled":
                    _judge_student(variant, task, found.metric, tolerance)
                else:
                    variant.kept = True
            variant.seconds = time.monotonic() - begun
            result.variants.append(variant)
        if plans and not any(v.fold_scores for v in result.variants):
            result.skipped = "; ".join(f"{v.name}: {v.reason}" for v in result.variants)
    result.seconds = time.monotonic() - started
    return result


def not_compressed(
    found: SearchResult, final: FinalModel, tolerance: float, reason: str
) -> CompressionResult:
    """The record of a run that builds no variant, and why."""
    return CompressionResult(
        found.metric, final.description, _teacher_cv(found), tolerance, skipped=reason
    )


def _teacher_cv(found: SearchResult) -> float:
    if found.calibrated_scores:
        return float(np.mean(found.calibrated_scores))
    if found.ensemble:
        return float(np.mean(found.ensemble_scores))
    return found.candidate(found.best).cv_mean


def distil_reason(found: SearchResult, final: FinalModel) -> str:
    """Why the final model is not worth distilling, or "" when it is."""
    if not found.ensemble and not final.bagged:
        family = found.candidate(found.best).family
        if family in _FAST_FAMILIES:
            return f"the final model is one {LEARNERS[family].label} model already"
    return ""


def _plans(
    found: SearchResult, final: FinalModel, run: _Runner
) -> tuple[list[tuple[Variant, Callable[[Variant], None]]], list[str]]:
    """The variants to build, and why some kinds are not built."""
    plans: list[tuple[Variant, Callable[[Variant], None]]] = []
    reasons: list[str] = []
    not_distilled = distil_reason(found, final)
    if not not_distilled and final_oof(found) is None:
        not_distilled = "the final model has no out-of-fold output to learn from"
    if not_distilled:
        reasons.append(f"no student: {not_distilled}")
    else:
        student = Variant("student", "distilled", final.description, params=run.lightgbm_params())
        plans.append((student, run.distil))
    booster = run.best_lightgbm()
    if booster is None:
        reasons.append("no pruned variants: no LightGBM candidate was cross-validated")
    else:
        params = {**dict(booster.config.params), **_shared(found)}
        rounds = _refit_rounds(booster, params)
        for share in _TRUNCATED_SHARES:
            n = max(_MIN_ROUNDS, int(rounds * share))
            if n < rounds:
                variant = Variant(
                    f"{booster.name}-trees{n}",
                    "fewer_trees",
                    booster.name,
                    params={**params, "n_estimators": n},
                )
                plans.append((variant, run.prune))
        leaves = int(run.lightgbm_setting(params, "num_leaves"))
        shallow = max(4, leaves // _SHALLOW_FACTOR)
        if shallow < leaves:
            variant = Variant(
                f"{booster.name}-leaves{shallow}",
                "shallower",
                booster.name,
                params={**params, "num_leaves": shallow},
            )
            plans.append((variant, run.prune))
    return plans, reasons


def _shared(found: SearchResult) -> Params:
    return {"log_target": True} if found.target_transform == "log1p" else {}


def _refit_rounds(candidate: CandidateResult, params: Mapping[str, Any]) -> int:
    if candidate.rounds:
        return max(_MIN_ROUNDS, int(np.mean(candidate.rounds) * _REFIT_ROUNDS))
    return int(params.get("n_estimators", 400))


class _Runner:
    """Cross-validation and refits of LightGBM variants on the search's rows."""

    def __init__(
        self,
        found: SearchResult,
        final: FinalModel,
        X: pd.DataFrame,
        y: np.ndarray,
        *,
        schema: Schema,
        folds: list[Fold],
        seed: int,
        deadline: float,
    ) -> None:
        self.found, self.final, self.X, self.y = found, final, X, y
        self.schema, self.folds, self.seed, self.deadline = schema, folds, seed, deadline
        self.task: Task = get_task(found.task)
        self.n_classes = n_classes_of(schema, y) if self.task.has_classes else 0

    # -- what to compress --------------------------------------------------
    def best_lightgbm(self) -> CandidateResult | None:
        sign = 1.0 if self.task.greater_is_better(self.found.metric) else -1.0
        boosters = [
            c
            for c in self.found.candidates
            if c.family == "lightgbm"
            and c.status in ("ok", "partial")
            and c.config.origin in ("default", "portfolio", "tpe", "random", "grid")
            and c.config.schema is None
            and not c.config.params.get("pca")
            and np.isfinite(c.cv_mean)
        ]
        return max(boosters, key=lambda c: sign * c.cv_mean) if boosters else None

    def lightgbm_params(self) -> Params:
        best = self.best_lightgbm()
        params = dict(best.config.params) if best is not None else {}
        return {**params, **_shared(self.found)}

    def lightgbm_setting(self, params: Mapping[str, Any], name: str) -> Any:
        """A LightGBM setting as the catalog would build it for these rows."""
        model = LEARNERS["lightgbm"].make(
            self.task, n_rows=len(self.X), seed=self.seed, params=params
        )
        return model.get_params()[name]

    def estimate(self, variant: Variant) -> float:
        """Seconds a variant is expected to take: one fit per fold and a refit."""
        booster = self.best_lightgbm()
        reference = booster or self.found.candidate(self.found.best)
        per_fit = max(0.05, reference.fit_time_s)
        if variant.kind == "distilled":
            per_fit *= min(max(self.n_classes, 1), 3)
        return per_fit * (len(self.folds) + 1.5)

    # -- building ----------------------------------------------------------
    def prune(self, variant: Variant) -> None:
        """Cross-validate the pruned configuration, then refit it on all rows."""
        early = variant.kind == "shallower"
        params = dict(variant.params)
        scores, rounds, fit_total = [], [], 0.0
        for fit_idx, val_idx in self.folds:
            begun = time.perf_counter()
            model, used = fit_pipeline(
                LEARNERS["lightgbm"],
                self.schema,
                self.X.iloc[fit_idx],
                self.y[fit_idx],
                task=self.task.name,
                seed=self.seed,
                params=params,
                X_val=self.X.iloc[val_idx] if early else None,
                y_val=self.y[val_idx] if early else None,
                deadline=self.deadline,
                n_classes=self.n_classes or None,
                max_rounds=self.found.max_rounds,
            )
            fit_total += time.perf_counter() - begun
            output = predict_output(model, self.X.iloc[val_idx], self.task.name)
            scores.append(self.task.score(self.found.metric, self.y[val_idx], output))
            if used is not None:
                rounds.append(used)
        if early and rounds:
            params["n_estimators"] = max(_MIN_ROUNDS, int(np.mean(rounds) * _REFIT_ROUNDS))
        variant.params = params
        variant.fold_scores = scores
        variant.fit_time_s = fit_total / max(1, len(scores))
        variant.estimator, _ = fit_pipeline(
            LEARNERS["lightgbm"],
            self.schema,
            self.X,
            self.y,
            task=self.task.name,
            seed=self.seed,
            params=params,
            n_classes=self.n_classes or None,
            max_rounds=self.found.max_rounds,
        )

    def distil(self, variant: Variant) -> None:
        """Cross-validate the student, then refit it on all rows towards the
        teacher's out-of-fold outputs with the rounds found.

        On fold ``j`` the student learns what the teacher's own fold-``j``
        models answer on that fold's training rows: the out-of-fold outputs
        there come from models that saw fold ``j``'s validation rows, and a
        student taught them would be scored on rows it had, in effect,
        learnt (several points of AUC too good on adult). Early stopping
        watches the validation rows' true labels, as for every boosting
        candidate of the search.
        """
        targets = final_oof(self.found, calibrated=True)
        assert targets is not None
        scores, rounds, fit_total = [], [], 0.0
        for index, (fit_idx, val_idx) in enumerate(self.folds):
            taught = self._teacher_in_fold(index, fit_idx)
            begun = time.perf_counter()
            model, used = self._fit_student(fit_idx, taught, variant.params, validation=val_idx)
            fit_total += time.perf_counter() - begun
            output = predict_output(model, self.X.iloc[val_idx], self.task.name)
            scores.append(self.task.score(self.found.metric, self.y[val_idx], output))
            rounds.append(used)
        params = {
            **variant.params,
            "n_estimators": max(_MIN_ROUNDS, int(np.mean(rounds) * _REFIT_ROUNDS)),
        }
        variant.params = params
        variant.fold_scores = scores
        variant.fit_time_s = fit_total / max(1, len(scores))
        finite = np.flatnonzero(np.isfinite(targets.reshape(len(targets), -1)).all(axis=1))
        variant.estimator, _ = self._fit_student(finite, targets[finite], params, validation=None)

    def _teacher_in_fold(self, index: int, rows: np.ndarray) -> np.ndarray:
        """The teacher's output on ``rows`` from its members' fold-``index``
        models, combined as the final model combines its members."""
        members = self.found.ensemble or {self.found.best: 1.0}
        frame = self.X.iloc[rows]
        outputs = []
        for name in members:
            models = self.found.candidate(name).fold_models
            if models is None or len(models) != len(self.folds):
                raise ValueError(f"the fold models of {name!r} were not kept")
            outputs.append(predict_output(models[index], frame, self.task.name))
        if self.found.ensemble_method == "stacking" and self.found.stacker is not None:
            combined = predict_output(self.found.stacker, stack_features(outputs), self.task.name)
        else:
            weights = list(members.values())
            combined = np.sum([w * o for w, o in zip(weights, outputs, strict=True)], axis=0)
        return calibrated_output(self.found, np.asarray(combined, dtype=float))

    def _fit_student(
        self,
        rows: np.ndarray,
        targets: np.ndarray,
        params: Mapping[str, Any],
        *,
        validation: np.ndarray | None,
    ) -> tuple[Any, int]:
        """A LightGBM pipeline fitted on ``rows`` towards the teacher's
        ``targets``; early-stopped on the true labels of ``validation``."""
        params = dict(params)
        log_target = bool(params.pop("log_target", False)) and not self.task.has_classes
        if validation is not None:
            params["n_estimators"] = MAX_BOOSTING_ROUNDS
        X_fit, y_fit = self.X.iloc[rows], self.y[rows]
        pipeline = build_pipeline(
            LEARNERS["lightgbm"],
            self.schema,
            task=self.task.name,
            n_rows=len(rows),
            seed=self.seed,
            params=params,
        )
        prep, model = pipeline.named_steps["prep"], pipeline.named_steps["model"]
        features = prep.fit_transform(X_fit, y_fit)
        weights: np.ndarray | None = None
        if self.task.has_classes:
            repeat, labels, weights = soft_rows(targets, y_fit)
            features, goal = _take(features, repeat), labels
        else:
            goal = np.log1p(np.maximum(targets, 0.0)) if log_target else targets
        watched = None
        if validation is not None:
            y_val = self.y[validation]
            known = np.isin(y_val, np.unique(goal)) if self.task.has_classes else None
            val_rows = validation if known is None else validation[known]
            if len(val_rows):
                y_watch = self.y[val_rows]
                watched = (
                    prep.transform(self.X.iloc[val_rows]),
                    np.log1p(np.maximum(y_watch, 0.0)) if log_target else y_watch,
                )
        used = fit_lightgbm(
            model,
            features,
            goal,
            watched,
            has_classes=self.task.has_classes,
            deadline=self.deadline,
            sample_weight=weights,
        )
        if log_target:
            pipeline.steps[-1] = ("model", LogTargetRegressor(model))
        elif self.task.has_classes and missing_classes(model, self.n_classes):
            pipeline.steps[-1] = ("model", ClassAlignedClassifier(model, self.n_classes))
        return pipeline, used


def soft_rows(
    probabilities: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft targets as weighted hard labels: row ``i`` repeated once per
    class ``k`` with weight ``probabilities[i, k]`` (the cross-entropy against
    the soft targets is the weighted log loss of these rows). Classes below a
    small weight are left out, except the row's true class.

    Returns:
        Row indices into ``probabilities``, their labels and their weights.
    """
    n, k = probabilities.shape
    rows = np.repeat(np.arange(n), k)
    labels = np.tile(np.arange(k), n)
    weights = np.clip(probabilities.reshape(-1), 0.0, 1.0)
    keep = (weights >= _MIN_SOFT_WEIGHT) | (labels == np.repeat(np.asarray(y), k))
    # the true class keeps a floor so that every row counts
    weights = np.where(keep, np.maximum(weights, _MIN_SOFT_WEIGHT), 0.0)
    return rows[keep], labels[keep], weights[keep]


def _take(features: Any, rows: np.ndarray) -> Any:
    if isinstance(features, pd.DataFrame):
        return features.iloc[rows]
    return features[rows]


def _check(variant: Variant, X_check: pd.DataFrame, teacher: np.ndarray, task: Task) -> None:
    """Agreement with the final model on held-out rows, size, trees, speed."""
    begun = time.perf_counter()
    output = predict_output(variant.estimator, X_check, task.name)
    variant.ms_per_row = 1000 * (time.perf_counter() - begun) / max(1, len(X_check))
    if len(X_check):
        variant.max_abs_diff = float(np.max(np.abs(output - teacher)))
        if task.has_classes:
            variant.agreement = float(np.mean(output.argmax(axis=1) == teacher.argmax(axis=1)))
        else:
            spread = float(np.sum((teacher - teacher.mean()) ** 2))
            residual = float(np.sum((output - teacher) ** 2))
            variant.agreement = 1.0 - residual / spread if spread > 0 else float(residual == 0)
    variant.size_bytes = len(pickle.dumps(variant.estimator))
    variant.trees = _trees(variant.estimator)


def _trees(pipeline: Any) -> int:
    booster = getattr(innermost(pipeline.named_steps["model"]), "booster_", None)
    return int(booster.num_trees()) if booster is not None else 0


def _judge_student(variant: Variant, task: Task, metric: str, tolerance: float) -> None:
    """Keep the student when its metric is within ``tolerance`` of the teacher's."""
    teacher, student = variant.teacher_cv, variant.cv_mean
    if not (np.isfinite(teacher) and np.isfinite(student)):
        variant.kept, variant.reason = False, "its cross-validated metric could not be computed"
        return
    sign = 1.0 if task.greater_is_better(metric) else -1.0
    loss = sign * (teacher - student)
    allowed = tolerance * abs(teacher)
    variant.kept = loss <= allowed
    if not variant.kept:
        variant.reason = (
            f"cv {metric} {student:.4g} against the final model's {teacher:.4g}: "
            f"{loss / max(abs(teacher), 1e-12):.2%} worse, over the {tolerance:.2%} allowed"
        )


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None
