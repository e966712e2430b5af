"""What the evaluation report and the model card show, computed once from a
run folder: bootstrap intervals of the test metrics, permutation importance,
SHAP values and the metric per segment of the most important inputs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn.evaluation.importance import Importance, ShapSummary, permutation_importance, tree_shap
from cairn.evaluation.run_folder import RunFolder, load_run
from cairn.evaluation.segments import SegmentTable, segment_performance
from cairn.tasks import get_task
from cairn.tasks.bootstrap import Interval, bootstrap_intervals

_SEGMENT_COLUMNS = 6


@dataclass
class RunAnalysis:
    """What the evaluation report and the model card show, computed once.

    Attributes:
        run: the run folder read back.
        intervals: bootstrap intervals of the test metrics.
        importance: permutation importance (None if the model could not be
            loaded or scored).
        shap: tree SHAP summary (None for models without a LightGBM or
            CatBoost part).
        segments: the metric per segment of the most important inputs.
        notes: things that could not be computed, and why.
        seconds: time spent per part.
    """

    run: RunFolder
    intervals: dict[str, Interval]
    importance: Importance | None = None
    shap: ShapSummary | None = None
    segments: list[SegmentTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


# With a time budget: resamples x test rows x classes stays under this.
_BOOTSTRAP_CELLS = 40_000_000
_MIN_RESAMPLES = 200


def analyse_run(
    run: RunFolder | str | Path,
    *,
    model: Any = None,
    importance: bool = True,
    resamples: int = 1000,
    seed: int = 0,
    time_budget: float | None = None,
) -> RunAnalysis:
    """Bootstrap intervals, importance and segment performance for a run.

    Args:
        run: a :class:`RunFolder`, or a run folder / run id for :func:`load_run`.
        model: the fitted estimator (``Model.pipeline``); loaded from the
            run's bundle (hash-checked) when omitted and ``importance`` is on.
        importance: compute permutation importance and SHAP values (needs the
            model).
        resamples: bootstrap resamples.
        time_budget: seconds for permutation importance and SHAP together;
            each works on fewer rows to fit its half (the report says so).
            Also bounds the bootstrap: fewer resamples (at least 200) when
            test rows x classes is large.
    """
    folder = run if isinstance(run, RunFolder) else load_run(run)
    if time_budget is not None:
        resamples = _bounded_resamples(folder, resamples)
    y, proba = _targets(folder)
    result = _bootstrap(folder, y, proba, resamples, seed)
    X = folder.features  # a property that slices the predictions frame: take it once
    present = set(X.columns)
    features = [f for f in folder.schema.feature_names if f in present]
    if importance:
        _explain(result, X, y, model, features, seed, time_budget)
    _segment(result, X, y, proba, features)
    return result


def _bounded_resamples(folder: RunFolder, resamples: int) -> int:
    # Macro metrics cost resamples x rows x classes: fewer resamples for
    # large many-class test sets (the report states how many).
    width = get_task(folder.task).output_width(len(folder.classes))
    cells = max(1, len(folder.predictions) * max(1, width))
    return min(resamples, max(_MIN_RESAMPLES, _BOOTSTRAP_CELLS // cells))


def _targets(folder: RunFolder) -> tuple[np.ndarray, np.ndarray | None]:
    """The test target as the metrics read it, and the class probabilities."""
    if get_task(folder.task).has_classes:
        return folder.y_codes, folder.proba
    return folder.y_true, None


def _bootstrap(
    folder: RunFolder, y: np.ndarray, proba: np.ndarray | None, resamples: int, seed: int
) -> RunAnalysis:
    clock = time.perf_counter()
    task = folder.task
    if get_task(task).has_classes:
        intervals = bootstrap_intervals(task, y, proba=proba, resamples=resamples, seed=seed)
    else:
        intervals = bootstrap_intervals(
            task, y, y_pred=folder.y_pred, resamples=resamples, seed=seed
        )
    seconds = {"bootstrap": time.perf_counter() - clock}
    return RunAnalysis(folder, intervals, notes=[], seconds=seconds)


def _explain(
    result: RunAnalysis,
    X: pd.DataFrame,
    y: np.ndarray,
    model: Any,
    features: list[str],
    seed: int,
    time_budget: float | None,
) -> None:
    """Permutation importance and SHAP values, each on half the time budget."""
    folder = result.run
    task = folder.task
    clock = time.perf_counter()
    if model is None:
        from cairn.bundle import load_bundle

        model = load_bundle(folder.bundle_path, engine="native").pipeline
    result.importance = permutation_importance(
        model,
        X,
        y,
        task=task,
        metric=folder.metric,
        features=features,
        seed=seed,
        time_budget=6.0 if time_budget is None else time_budget / 2,
    )
    result.seconds["permutation importance"] = time.perf_counter() - clock
    clock = time.perf_counter()
    result.shap = tree_shap(
        model,
        X,
        task=task,
        classes=folder.classes,
        seed=seed,
        time_budget=None if time_budget is None else time_budget / 2,
    )
    if result.shap is None:
        result.notes.append(
            "SHAP values are computed for LightGBM and CatBoost models; this model has none."
        )
    result.seconds["shap"] = time.perf_counter() - clock


def _segment(
    result: RunAnalysis,
    X: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray | None,
    features: list[str],
) -> None:
    """The metric per segment of the most important inputs."""
    folder = result.run
    task = folder.task
    clock = time.perf_counter()
    ranked = result.importance.features if result.importance else features
    result.segments = segment_performance(
        X,
        y,
        task=task,
        metric=folder.metric,
        schema=folder.schema,
        proba=proba,
        y_pred=None if get_task(task).has_classes else folder.y_pred,
        columns=ranked[:_SEGMENT_COLUMNS],
    )
    result.seconds["segments"] = time.perf_counter() - clock
