"""Cross-validated search over candidate families under a time budget.

Every candidate is a full scikit-learn pipeline (preprocessing + learner)
fitted on the training folds only, so nothing learned from a validation fold
leaks into its score. Folds of one candidate run in parallel threads; the
candidates run cheapest first, and a candidate that would start after the
deadline is skipped and shown as such in the leaderboard.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.pipeline import Pipeline

from cairn.data.schema import Schema
from cairn.data.split import Fold
from cairn.evaluation.metrics import greater_is_better, score
from cairn.exceptions import TrainingError
from cairn.features import build_preprocessor
from cairn.models.catalog import Learner

Progress = Callable[[str], None]


def build_pipeline(
    learner: Learner, schema: Schema, *, task: str, n_rows: int, seed: int, n_jobs: int = 1
) -> Pipeline:
    """Preprocessing built from the schema, then the learner."""
    preprocessor = build_preprocessor(
        schema,
        scale=learner.needs_scaling,
        native_categorical=learner.ordinal_categories,
        seed=seed,
    )
    model = learner.make(task, n_rows=n_rows, seed=seed, n_jobs=n_jobs)
    return Pipeline([("prep", preprocessor), ("model", model)])


def predict_output(pipeline: Any, frame: pd.DataFrame, task: str) -> np.ndarray:
    """Class probabilities for classification, values for regression."""
    if task == "classification":
        return np.asarray(pipeline.predict_proba(frame), dtype=float)
    return np.asarray(pipeline.predict(frame), dtype=float)


def score_output(metric: str, task: str, y_true: np.ndarray, output: np.ndarray) -> float:
    if task == "classification":
        return score(metric, y_true, proba=output)
    return score(metric, y_true, y_pred=output)


@dataclass
class CandidateResult:
    """How one family did in cross-validation."""

    name: str
    label: str
    status: str = "ok"
    fold_scores: list[float] = field(default_factory=list)
    fit_time_s: float = 0.0
    predict_ms_per_row: float = float("nan")
    oof: np.ndarray | None = None
    error: str = ""

    @property
    def cv_mean(self) -> float:
        return float(np.mean(self.fold_scores)) if self.fold_scores else float("nan")

    @property
    def cv_std(self) -> float:
        return float(np.std(self.fold_scores)) if len(self.fold_scores) > 1 else float("nan")


@dataclass
class SearchResult:
    """Outcome of the search: one result per candidate and the winner's name."""

    metric: str
    candidates: list[CandidateResult]
    best: str
    elapsed_s: float

    @property
    def leaderboard(self) -> pd.DataFrame:
        """Candidates ranked by CV mean, best first; failed and skipped last."""
        rows = [
            {
                "model": c.name,
                "label": c.label,
                "status": c.status,
                f"cv_{self.metric}_mean": c.cv_mean,
                f"cv_{self.metric}_std": c.cv_std,
                "folds": len(c.fold_scores),
                "fit_time_s": round(c.fit_time_s, 3),
                "predict_ms_per_row": c.predict_ms_per_row,
                "error": c.error,
            }
            for c in self.candidates
        ]
        board = pd.DataFrame(rows)
        key = f"cv_{self.metric}_mean"
        ascending = not greater_is_better(self.metric)
        board["_ok"] = board["status"].isin(["ok", "partial"])
        board = board.sort_values(["_ok", key], ascending=[False, ascending], na_position="last")
        return board.drop(columns="_ok").reset_index(drop=True)


def _fit_fold(
    learner: Learner,
    schema: Schema,
    X: pd.DataFrame,
    y: np.ndarray,
    fold: Fold,
    *,
    task: str,
    metric: str,
    seed: int,
) -> tuple[float, np.ndarray, float, float]:
    fit_idx, val_idx = fold
    pipeline = build_pipeline(learner, schema, task=task, n_rows=len(fit_idx), seed=seed)
    started = time.perf_counter()
    pipeline.fit(X.iloc[fit_idx], y[fit_idx])
    fit_time = time.perf_counter() - started
    started = time.perf_counter()
    output = predict_output(pipeline, X.iloc[val_idx], task)
    predict_time = time.perf_counter() - started
    return score_output(metric, task, y[val_idx], output), output, fit_time, predict_time


def _n_workers(n_jobs: int) -> int:
    import os

    cores = os.cpu_count() or 1
    return cores if n_jobs == -1 else max(1, min(n_jobs, cores))


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
    progress: Progress | None = None,
) -> SearchResult:
    """Cross-validate each learner, cheapest first, until the budget is spent.

    Args:
        X: training features (target removed).
        y: training target, integer-coded for classification.
        time_budget: seconds for the whole search; the folds running when it
            runs out finish, later folds and candidates are skipped (the
            first candidate always gets at least one batch of folds).

    Raises:
        TrainingError: every candidate failed.
    """
    started = time.monotonic()
    deadline = started + time_budget
    workers = _n_workers(n_jobs)
    n_classes = int(y.max()) + 1 if task == "classification" else 0
    results: list[CandidateResult] = []
    for learner in learners:
        result = CandidateResult(name=learner.name, label=learner.label)
        results.append(result)
        # The first family always runs, so a tiny budget still yields a model.
        has_score = any(r.fold_scores for r in results)
        if time.monotonic() >= deadline and has_score:
            result.status = "skipped"
            result.error = "time budget spent before it could start"
            continue
        if progress:
            left = max(0.0, deadline - time.monotonic())
            progress(f"cross-validating {learner.label} ({left:.0f}s left)")
        oof = np.full((len(y), n_classes) if n_classes else len(y), np.nan)
        fit_total = predict_total = 0.0
        rows_predicted = 0
        try:
            for start in range(0, len(folds), workers):
                batch = list(folds[start : start + workers])
                outputs = Parallel(n_jobs=len(batch), backend="threading")(
                    delayed(_fit_fold)(
                        learner, schema, X, y, fold, task=task, metric=metric, seed=seed
                    )
                    for fold in batch
                )
                for fold, (fold_score, output, fit_time, predict_time) in zip(
                    batch, outputs, strict=True
                ):
                    result.fold_scores.append(fold_score)
                    oof[fold[1]] = output
                    fit_total += fit_time
                    predict_total += predict_time
                    rows_predicted += len(fold[1])
                if time.monotonic() >= deadline and start + workers < len(folds):
                    result.status = "partial"
                    result.error = f"time budget ran out after {len(result.fold_scores)} folds"
                    break
        except Exception as error:  # a failing family must not end the search
            result.status = "failed"
            result.error = f"{type(error).__name__}: {error}"[:300]
            continue
        result.fit_time_s = fit_total / max(1, len(result.fold_scores))
        result.predict_ms_per_row = 1000.0 * predict_total / max(1, rows_predicted)
        result.oof = oof
    scored = [r for r in results if r.status in ("ok", "partial") and np.isfinite(r.cv_mean)]
    if not scored:
        reasons = "; ".join(f"{r.name}: {r.error}" for r in results)
        raise TrainingError(f"no candidate model could be trained ({reasons})")
    pick = max if greater_is_better(metric) else min
    best = pick(scored, key=lambda r: r.cv_mean)
    return SearchResult(
        metric=metric, candidates=results, best=best.name, elapsed_s=time.monotonic() - started
    )
