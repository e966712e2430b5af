"""What a run computes for its folder, bundle and MLflow record besides the
model: the drift reference, test-set intervals, the held-out predictions
file, tables, and the parameters and metrics logged. Used by
:mod:`cairn.workflow` only."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn._io import atomic_write_bytes, atomic_write_text
from cairn.data.schema import Schema
from cairn.evaluation.evaluate import Evaluation
from cairn.models.search import predict_output
from cairn.monitoring.reference import ReferenceProfile, build_reference, output_frame
from cairn.monitoring.sensitivity import feature_sensitivity
from cairn.spec import ProjectSpec
from cairn.tasks import get_task


def run_identity(spec: ProjectSpec, raw: pd.DataFrame, *, run_id: str) -> dict[str, Any]:
    """What a bundle records about where its run came from: the project, the
    sources and their period, the machine and the run id."""
    return {
        "name": spec.project.name,
        "description": spec.project.description,
        "sources": [source.label for source in spec.data.sources],
        "period": period(raw, spec.data.time_column),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "run_id": run_id,
    }


def period(frame: pd.DataFrame, column: str | None) -> dict[str, str] | None:
    """First and last value of the time column, for the model card."""
    if not column or column not in frame.columns:
        return None
    values = frame[column].dropna()
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = pd.to_datetime(values, errors="coerce", format="mixed").dropna()
    if values.empty:
        return None
    return {"column": column, "start": str(values.min()), "end": str(values.max())}


def reference_profile(
    pipeline: Any,
    schema: Schema,
    X_train: pd.DataFrame,
    X_test: pd.DataFrame,
    test_output: np.ndarray,
    *,
    seed: int,
    seconds: float | None = None,
) -> ReferenceProfile:
    """The bundle's drift reference: the training rows, the model's outputs
    on held-out rows (what it produces on unseen data from the same
    distribution) and each feature's weight from the model's sensitivity
    (within ``seconds`` when given)."""
    task = str(schema.task)
    features = [name for name in schema.feature_names if name in X_train.columns]
    importance = feature_sensitivity(
        lambda frame: predict_output(pipeline, frame, task),
        X_train,
        features,
        seed=seed,
        time_budget=seconds,
    )
    held_out = test_output if len(X_test) else predict_output(pipeline, X_train, task)
    outputs = output_frame(held_out, task=task, classes=schema.classes)
    return build_reference(
        X_train,
        schema,
        outputs=outputs,
        importance=importance,
        importance_method="prediction sensitivity to shuffling each feature",
    )


def cluster_reference_profile(
    pipeline: Any, schema: Schema, X: pd.DataFrame, labels: np.ndarray, *, seed: int
) -> ReferenceProfile:
    """A clustering bundle's drift reference: the training rows, their cluster
    shares and silhouette in the prepared matrix, and each feature's weight
    from the share of rows whose cluster changes when it is shuffled.

    Args:
        pipeline: preparation steps ending in the clustering model.
        X: the training rows (all of them: a clustering has no test split).
        labels: each training row's cluster id.
    """
    model = pipeline[-1]
    known = [int(i) for i in getattr(model, "ids", np.unique(labels))]
    position = {cluster: index for index, cluster in enumerate(known)}

    def assignment(frame: pd.DataFrame) -> np.ndarray:
        # One column per cluster, so a row that changes cluster moves by 2
        # whatever the ids' numbers.
        ids = np.asarray(pipeline.predict(frame)).reshape(-1).astype(int)
        return np.eye(len(known))[[position.get(i, 0) for i in ids]]

    features = [name for name in schema.feature_names if name in X.columns]
    importance = feature_sensitivity(assignment, X, features, seed=seed)
    return build_reference(
        X,
        schema,
        importance=importance,
        importance_method="share of rows whose cluster changes when each feature is shuffled",
        cluster_ids=np.asarray(labels),
        cluster_matrix=np.asarray(pipeline[:-1].transform(X), dtype=float),
        known_clusters=known,
        seed=seed,
    )


def test_metric_intervals(
    output: np.ndarray, y_test: np.ndarray, task: str, *, seed: int
) -> dict[str, list[float]]:
    """95 % bootstrap intervals of the test-set metrics, kept in the bundle so
    that monitoring weighs production figures against the test figures'
    own uncertainty."""
    from cairn.tasks.bootstrap import bootstrap_intervals

    if len(output) < 2:
        return {}
    classification = get_task(task).has_classes
    found = bootstrap_intervals(
        task,
        y_test,
        proba=output if classification else None,
        y_pred=None if classification else output,
        resamples=200,
        seed=seed,
    )
    return {
        name: [i.low, i.high] for name, i in found.items() if np.isfinite([i.low, i.high]).all()
    }


def write_test_predictions(
    path: Path, *, output: np.ndarray, schema: Schema, X_test: pd.DataFrame, y_test: np.ndarray
) -> Path:
    """The held-out rows with their true and predicted values, so reports and
    later comparisons can be made from the run folder alone. Columns
    ``__target`` and ``__prediction`` hold class labels (classification) or
    values; ``__proba_<label>`` one probability per class."""
    out = X_test.reset_index(drop=True).copy()
    if get_task(schema.task).has_classes:
        labels = np.asarray(schema.classes, dtype=object)
        proba = np.asarray(output, dtype=float)
        out["__target"] = labels[y_test]
        out["__prediction"] = labels[proba.argmax(axis=1)]
        for index, label in enumerate(labels):
            out[f"__proba_{label}"] = proba[:, index]
    else:
        out["__target"] = y_test
        out["__prediction"] = np.asarray(output, dtype=float)
    return atomic_write_bytes(path, out.to_parquet(index=False))


def finish_run(
    partial_dir: Path, bundle: Path, reports: dict[str, Path], timings: dict[str, float]
) -> tuple[Path, Path, dict[str, Path]]:
    """Write ``timings.json`` and rename the run folder into place; returns
    the folder, the bundle's path and the reports' paths inside it."""
    from cairn._io import write_json
    from cairn.evaluation.run_state import finish_run_folder

    write_json(partial_dir / "timings.json", timings)
    run_dir = finish_run_folder(partial_dir)
    moved = {name: run_dir / path.relative_to(partial_dir) for name, path in reports.items()}
    return run_dir, run_dir / bundle.relative_to(partial_dir), moved


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return atomic_write_text(path, frame.to_csv(index=False))


def run_params(
    spec: ProjectSpec, task: str, metric: str, best: str, budget: float
) -> dict[str, Any]:
    return {
        "task": task,
        "target": spec.problem.target,
        "metric": metric,
        "objectives": "; ".join(spec.problem.objectives),
        "time_budget_s": budget,
        "seed": spec.train.seed,
        "folds": spec.split.folds,
        "test_size": spec.split.test_size,
        "best_model": best,
        "spec_sha256": spec.fingerprint(),
    }


def run_metrics(candidates: Any, metric: str, evaluation: Evaluation) -> dict[str, float]:
    out: dict[str, float] = {f"test_{k}": v for k, v in evaluation.metrics.items()}
    out.update(evaluation.latency_ms)
    out.update(evaluation.native_latency_ms)
    for candidate in candidates:
        if candidate.fold_scores:
            out[f"cv_{metric}_{candidate.name}"] = candidate.cv_mean
    return out


def tradeoff_metrics(measured: dict[str, dict[str, Any]], final: str) -> dict[str, float]:
    """The trade-off figures as MLflow metrics: the final model's under
    ``served_<figure>``, every measured candidate's under
    ``tradeoff_<figure>_<candidate>``."""
    out: dict[str, float] = {}
    for name, figures in measured.items():
        for key, value in figures.items():
            if isinstance(value, int | float) and math.isfinite(value):
                out[f"tradeoff_{key}_{name}"] = float(value)
                if name == final:
                    out[f"served_{key}"] = float(value)
    return out
