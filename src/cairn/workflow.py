"""The whole job for a spec: ingest → quality → split → search → refit →
evaluate → package → register. This is the only module that chains stages."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn.bundle import Model, save_bundle
from cairn.data.quality import QualityReport, check_and_clean
from cairn.data.schema import Schema
from cairn.data.sources import collect
from cairn.data.split import split
from cairn.evaluation.evaluate import Evaluation, evaluate
from cairn.evaluation.run_state import finish_run_folder, start_run_folder
from cairn.exceptions import SpecError
from cairn.models.catalog import LEARNERS, choose_learners
from cairn.models.search import finalize, search
from cairn.monitoring.reference import (
    REFERENCE_FILE,
    ReferenceProfile,
    build_reference,
    output_frame,
)
from cairn.monitoring.sensitivity import feature_sensitivity
from cairn.spec import SUPPORTED_TASKS, ProjectSpec, default_metric, load_spec

Progress = Callable[[str], None]

# Share of the budget kept back for the final model, evaluation and packaging,
# and the seconds that reports and registration take whatever the budget.
_RESERVE_SHARE = 0.12
_FIXED_OVERHEAD_S = 4.0
_REGISTER_OVERHEAD_S = 5.0
# Post-search seconds per training cell (rows x columns x classes), and the
# share of the post-search reserve given to permutation importance and SHAP.
_SECONDS_PER_CELL = 1.2e-5
_EXPLAIN_SHARE = 0.2
# Post-search seconds per fold model when the final model is a bag of them.
_SECONDS_PER_BAGGED_MODEL = 0.8
# With train.bagging = "auto", fold models are bagged up to this many rows.
# Bags multiply the cost of everything after the search (evaluation, export,
# reports, serving) by the number of folds, so "auto" keeps them for tiny data.
_AUTO_BAG_MAX_ROWS = 500


@dataclass
class RunResult:
    """What ``cairn.run`` produced.

    Attributes:
        leaderboard: every candidate's CV score, spread and timings, best first.
        evaluation: test-set metrics and the objectives verdict.
        quality: findings of the data-quality stage and the fixes applied.
        bundle_path: the saved model bundle folder.
        model_uri: the registry URI (``models:/NAME/VERSION``), if registered.
        registry_note: why the registered version did not become champion.
        reports: paths of the files written for this run, by name.
        timings: seconds spent per stage.
    """

    run_id: str
    spec: ProjectSpec
    leaderboard: pd.DataFrame
    evaluation: Evaluation
    quality: QualityReport
    bundle_path: Path
    model: Model
    model_uri: str | None = None
    alias: str | None = None
    registry_note: str | None = None
    reports: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def best_model(self) -> str:
        return str(self.leaderboard.iloc[0]["model"])


def data_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 over the frame's column names and row hashes."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _encode_target(frame: pd.DataFrame, schema: Schema) -> tuple[np.ndarray, Schema]:
    """Integer codes for classification (order of ``schema.classes``), floats
    for regression; records the target's original type for decoding."""
    target = frame[str(schema.target)]
    if schema.task != "classification":
        return target.to_numpy(dtype=float), schema
    if pd.api.types.is_bool_dtype(target):
        target_dtype = "bool"
    elif pd.api.types.is_integer_dtype(target):
        target_dtype = "int"
    elif pd.api.types.is_float_dtype(target):
        target_dtype = "int" if bool((target.dropna() % 1 == 0).all()) else "float"
    else:
        target_dtype = "string"
    labels = target.map(lambda v: str(int(v)) if target_dtype == "int" else str(v))
    classes = tuple(sorted(labels.unique(), key=_class_sort_key))
    codes = pd.Categorical(labels, categories=list(classes)).codes.astype(int)
    metadata = {**schema.metadata, "target_dtype": target_dtype}
    return codes, replace(schema, classes=classes, metadata=metadata)


def _class_sort_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _write_json(path: Path, data: Any) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)
    return path


def run(
    spec_or_path: ProjectSpec | str | Path = "cairn.toml",
    *,
    time_budget: float | None = None,
    progress: Progress | None = None,
    register: bool | None = None,
) -> RunResult:
    """Run the whole workflow for a spec.

    Args:
        spec_or_path: a loaded spec or the path of a ``cairn.toml``.
        time_budget: seconds; overrides ``train.time_budget``.
        progress: called with a short message as each stage starts.
        register: log to MLflow and register the model; defaults to the
            spec's ``tracking.register_model``.

    Raises:
        SpecError, DataError, TrainingError, BundleError, RegistryError.
    """
    spec = spec_or_path if isinstance(spec_or_path, ProjectSpec) else load_spec(spec_or_path)
    budget = float(time_budget if time_budget is not None else spec.train.time_budget)
    say = progress or (lambda message: None)
    started = time.monotonic()
    timings: dict[str, float] = {}

    def lap(stage: str, since: float) -> float:
        now = time.monotonic()
        timings[stage] = round(now - since, 3)
        return now

    problem = spec.problem
    if problem.task is not None and problem.task not in SUPPORTED_TASKS:
        raise SpecError(
            f"problem.task = {problem.task!r} is not supported yet; "
            f"use one of: {', '.join(SUPPORTED_TASKS)}"
        )
    say("reading data")
    t = time.monotonic()
    raw = collect(spec)
    t = lap("ingest", t)

    say("checking data quality")
    cleaned = check_and_clean(
        raw,
        target=problem.target,
        task=problem.task,
        roles=spec.data.roles,
        id_columns=spec.data.id_columns,
        time_column=spec.data.time_column,
        folds=spec.split.folds,
        source=", ".join(source.label for source in spec.data.sources),
    )
    task = cleaned.task
    spec.check_task(task)
    frame = cleaned.frame
    y_all, schema = _encode_target(frame, cleaned.schema)
    n_classes = len(schema.classes or ()) or None
    metric = problem.metric or default_metric(task, n_classes)
    t = lap("quality", t)

    say("splitting train / test")
    label = _free_name("__y", frame.columns)
    parts = split(
        frame.assign(**{label: y_all}),
        target=label,
        task=task,
        test_size=spec.split.test_size,
        folds=spec.split.folds,
        validation_size=spec.split.validation_size,
        stratify=spec.split.stratify,
        group_column=spec.split.group_column,
        time_column=spec.data.time_column,
        time_ordered=spec.split.time_ordered,
        seed=spec.train.seed,
        repeats=spec.split.repeats,
    )
    y_train = parts.train.pop(label).to_numpy()
    y_test = parts.test.pop(label).to_numpy()
    X_train = parts.train.drop(columns=[problem.target])
    X_test = parts.test.drop(columns=[problem.target])
    t = lap("split", t)

    learners = choose_learners(
        n_rows=len(X_train), include=spec.train.include, exclude=spec.train.exclude
    )
    elapsed = time.monotonic() - started
    registering = register if register is not None else spec.tracking.register_model
    # After the search: final model, evaluation, export, reports and, when
    # registering, MLflow; reserve a share of the budget plus an estimate
    # that grows with rows, columns and classes.
    bag_max_rows = _bag_max_rows(spec.train.bagging, problem.has_latency_objective)
    bagged = len(parts.folds) if len(X_train) <= bag_max_rows else 1
    post_search = _post_search_seconds(
        len(X_train), X_train.shape[1], n_classes, budget, bagged=bagged
    )
    overhead = post_search + (_REGISTER_OVERHEAD_S if registering else 0.0)
    search_budget = max(1.0, budget * (1 - _RESERVE_SHARE) - elapsed - overhead)
    found = search(
        X_train,
        y_train,
        schema=schema,
        folds=parts.folds,
        task=task,
        metric=metric,
        learners=learners,
        time_budget=search_budget,
        seed=spec.train.seed,
        n_jobs=spec.train.n_jobs,
        tuner=spec.train.tuner,
        max_trials=spec.train.max_trials,
        ensemble=spec.train.ensemble,
        select_features=spec.train.select_features,
        pca=spec.train.pca,
        # A latency objective wants the compiled serving graph.
        exportable_only=problem.has_latency_objective,
        progress=say,
    )
    t = lap("search", t)

    best = LEARNERS[found.candidate(found.best).family]
    say("building the final model")
    final = finalize(
        found,
        X_train,
        y_train,
        schema=schema,
        seed=spec.train.seed,
        n_jobs=spec.train.n_jobs,
        deadline=started + budget * 0.92 - overhead,
        bag_max_rows=bag_max_rows,
    )
    pipeline = final.estimator
    t = lap("final_model", t)

    say("evaluating on the held-out test set")
    from cairn.models.search import predict_output

    # Predicted once: evaluation, intervals, drift reference and the test
    # predictions file all use these.
    test_output = predict_output(pipeline, X_test, task)
    evaluation = evaluate(
        pipeline,
        X_test,
        y_test,
        task=task,
        metric=metric,
        objectives=problem.parsed_objectives,
        latency_seconds=min(3.0, max(0.5, 0.02 * budget)),
        output=test_output,
    )
    t = lap("evaluate", t)

    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    # Written as <run id>.partial and renamed when complete, so a killed
    # run never leaves a folder that looks finished.
    run_dir = start_run_folder(spec.state_dir / "runs", run_id)
    leaderboard = found.leaderboard
    say("packaging the model bundle")
    metadata = {
        "name": spec.project.name,
        "description": spec.project.description,
        "sources": [source.label for source in spec.data.sources],
        "period": _period(raw, spec.data.time_column),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "run_id": run_id,
        "task": task,
        "target": problem.target,
        "metric": metric,
        "model": "ensemble" if found.ensemble else best.name,
        "model_label": final.description,
        "ensemble": final.members,
        "search": {
            "trials": found.n_trials,
            "phases_s": found.phases,
            "tuner": spec.train.tuner,
            "dropped_features": found.dropped_features,
            "features_selected": found.selected_features is not None,
            "target_transform": found.target_transform,
        },
        "classes": list(schema.classes or ()),
        "spec_sha256": spec.fingerprint(),
        "data_fingerprint": data_fingerprint(raw),
        "rows": {"raw": len(raw), "clean": len(frame), "train": len(X_train), "test": len(X_test)},
        "split": parts.strategy,
        "metrics": evaluation.metrics,
        "metric_intervals": _test_intervals(test_output, y_test, task, seed=spec.train.seed),
        "latency_ms": evaluation.latency_ms,
        "native_latency_ms": evaluation.native_latency_ms,
        "objectives": [o.__dict__ for o in evaluation.objectives],
        "objectives_met": evaluation.objectives_met,
        "cv": {"metric": metric, "mean": float(leaderboard.iloc[0][f"cv_{metric}_mean"])},
    }
    say("profiling the training data for drift checks")
    reference = _reference_profile(
        pipeline, schema, X_train, X_test, test_output, seed=spec.train.seed
    )
    bundle_files = {REFERENCE_FILE: reference.to_json().encode("utf-8")}
    say("exporting the serving graph (ONNX) and checking it on the test set")
    from cairn.onnx_export import export_serving

    exported = export_serving(pipeline, schema, X_test, seed=spec.train.seed)
    metadata["serving"] = exported.summary()
    bundle_files.update(exported.files)
    bundle_path = save_bundle(run_dir / "bundle", pipeline, schema, metadata, files=bundle_files)
    gate = None
    if problem.has_latency_objective:
        say("load-testing the served model against the latency objectives")
        from cairn.serving.gate import apply_gate, latency_gate

        gate = latency_gate(
            bundle_path,
            problem.parsed_objectives,
            X_test,
            duration=spec.serving.gate_duration,
            concurrency=spec.serving.gate_concurrency,
        )
        apply_gate(evaluation, gate, bundle_path)
        t = lap("serving_gate", t)
    reports = {
        "test_predictions": _write_test_predictions(
            run_dir / "test_predictions.parquet",
            output=test_output,
            schema=schema,
            X_test=X_test,
            y_test=y_test,
        ),
        "leaderboard": _write_csv(run_dir / "leaderboard.csv", leaderboard),
        "trials": _write_csv(run_dir / "trials.csv", found.trials),
        "quality": _write_json(run_dir / "quality.json", cleaned.report.to_dict()),
        "evaluation": _write_json(run_dir / "evaluation.json", evaluation.to_dict()),
    }
    t = lap("package", t)
    say("writing reports: data profile, evaluation, model card")
    reports.update(
        _write_reports(
            run_dir,
            raw=raw,
            cleaned=cleaned,
            spec=spec,
            model=pipeline,
            timings=timings,
            explain_seconds=max(3.0, _EXPLAIN_SHARE * post_search, 0.05 * budget),
        )
    )
    t = lap("reports", t)
    timings["total"] = round(time.monotonic() - started, 3)
    _write_json(run_dir / "timings.json", timings)
    partial_dir, run_dir = run_dir, finish_run_folder(run_dir)
    bundle_path = run_dir / bundle_path.relative_to(partial_dir)
    reports = {name: run_dir / path.relative_to(partial_dir) for name, path in reports.items()}

    model = Model(pipeline, schema, {**metadata}, path=bundle_path)
    result = RunResult(
        run_id=run_id,
        spec=spec,
        leaderboard=leaderboard,
        evaluation=evaluation,
        quality=cleaned.report,
        bundle_path=bundle_path,
        model=model,
        reports=reports,
        timings=timings,
    )
    if register if register is not None else spec.tracking.register_model:
        say("recording the run in MLflow and registering the model")
        from cairn.tracking import record_run

        tracked = record_run(
            project=spec.project.name,
            project_dir=spec.project_dir,
            configured_uri=spec.tracking.uri,
            params=_run_params(spec, task, metric, best.name, budget),
            metrics=_run_metrics(found.candidates, metric, evaluation),
            reports=list(reports.values()),
            bundle_dir=bundle_path,
            tags={"cairn.run_id": run_id, "cairn.model": best.name},
            promote=gate is None or gate.passed,
            hold_reason="the served model missed its latency objectives",
            examples=reports["test_predictions"],
        )
        result.model_uri = tracked.model_uri
        result.alias = tracked.alias
        result.registry_note = tracked.note
        lap("track", t)
        timings["total"] = round(time.monotonic() - started, 3)
        _write_json(run_dir / "timings.json", timings)
    return result


def _free_name(name: str, taken: Any) -> str:
    """``name``, lengthened until no column of the data has it."""
    while name in set(taken):
        name += "_"
    return name


def _post_search_seconds(
    rows: int, columns: int, classes: int | None, budget: float, *, bagged: int = 1
) -> float:
    """Seconds kept back for the stages after the search: a fixed part, one
    proportional to rows x columns x classes (what prediction, export and
    explanation cost) and one per fold model of a bag (every prediction calls
    each), at most half the budget."""
    cells = rows * max(1, columns) * max(1, classes or 1)
    per_bag = _SECONDS_PER_BAGGED_MODEL * bagged if bagged > 1 else 0.0
    return min(0.5 * budget, _FIXED_OVERHEAD_S + _SECONDS_PER_CELL * cells + per_bag)


def _bag_max_rows(bagging: str, latency_objective: bool) -> int:
    """Up to how many rows the final members are bags of fold models."""
    if bagging == "always":
        return 2**62
    if bagging == "never" or latency_objective:
        return 0
    return _AUTO_BAG_MAX_ROWS


def _period(frame: pd.DataFrame, column: str | None) -> dict[str, str] | None:
    """First and last value of the time column, for the model card."""
    if not column or column not in frame.columns:
        return None
    values = frame[column].dropna()
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = pd.to_datetime(values, errors="coerce", format="mixed").dropna()
    if values.empty:
        return None
    return {"column": column, "start": str(values.min()), "end": str(values.max())}


def _write_reports(
    run_dir: Path,
    *,
    raw: pd.DataFrame,
    cleaned: Any,
    spec: ProjectSpec,
    model: Any,
    timings: dict[str, float],
    explain_seconds: float,
) -> dict[str, Path]:
    """The data profile (EDA), the evaluation report and the model card,
    written into the run folder."""
    from cairn.eda.profile import profile
    from cairn.eda.report import write_profile_report
    from cairn.evaluation.card import write_model_card
    from cairn.evaluation.report import analyse_run, write_evaluation_report
    from cairn.evaluation.run_folder import load_run

    data = profile(
        raw,
        target=spec.problem.target,
        task=cleaned.task,
        schema=cleaned.schema,
        quality=cleaned.report,
        source=", ".join(source.label for source in spec.data.sources),
    )
    folder = load_run(run_dir)
    folder.timings = dict(timings)
    analysis = analyse_run(folder, model=model, seed=spec.train.seed, time_budget=explain_seconds)
    card, card_html = write_model_card(analysis)
    return {
        "eda": write_profile_report(data, run_dir / "eda.html"),
        "evaluation_report": write_evaluation_report(analysis),
        "model_card": card,
        "model_card_html": card_html,
    }


def _reference_profile(
    pipeline: Any,
    schema: Schema,
    X_train: pd.DataFrame,
    X_test: pd.DataFrame,
    test_output: np.ndarray,
    *,
    seed: int,
) -> ReferenceProfile:
    """The bundle's drift reference: the training rows, the model's outputs
    on held-out rows (what it produces on unseen data from the same
    distribution) and each feature's weight from the model's sensitivity."""
    from cairn.models.search import predict_output

    task = str(schema.task)
    features = [name for name in schema.feature_names if name in X_train.columns]
    importance = feature_sensitivity(
        lambda frame: predict_output(pipeline, frame, task), X_train, features, seed=seed
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


def _test_intervals(
    output: np.ndarray, y_test: np.ndarray, task: str, *, seed: int
) -> dict[str, list[float]]:
    """95 % bootstrap intervals of the test-set metrics, kept in the bundle so
    that monitoring weighs production figures against the test figures'
    own uncertainty."""
    from cairn.evaluation.bootstrap import bootstrap_intervals

    if len(output) < 2:
        return {}
    classification = task == "classification"
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


def _write_test_predictions(
    path: Path, *, output: np.ndarray, schema: Schema, X_test: pd.DataFrame, y_test: np.ndarray
) -> Path:
    """The held-out rows with their true and predicted values, so reports and
    later comparisons can be made from the run folder alone. Columns
    ``__target`` and ``__prediction`` hold class labels (classification) or
    values; ``__proba_<label>`` one probability per class."""
    out = X_test.reset_index(drop=True).copy()
    if schema.task == "classification":
        labels = np.asarray(schema.classes, dtype=object)
        proba = np.asarray(output, dtype=float)
        out["__target"] = labels[y_test]
        out["__prediction"] = labels[proba.argmax(axis=1)]
        for index, label in enumerate(labels):
            out[f"__proba_{label}"] = proba[:, index]
    else:
        out["__target"] = y_test
        out["__prediction"] = np.asarray(output, dtype=float)
    tmp = path.with_suffix(".tmp")
    out.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    tmp = path.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def _run_params(
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


def _run_metrics(candidates: Any, metric: str, evaluation: Evaluation) -> dict[str, float]:
    out: dict[str, float] = {f"test_{k}": v for k, v in evaluation.metrics.items()}
    out.update(evaluation.latency_ms)
    out.update(evaluation.native_latency_ms)
    for candidate in candidates:
        if candidate.fold_scores:
            out[f"cv_{metric}_{candidate.name}"] = candidate.cv_mean
    return out


def fit(
    frame: pd.DataFrame,
    target: str,
    *,
    task: str | None = None,
    metric: str | None = None,
    time_budget: float = 60.0,
    folds: int = 5,
    seed: int = 42,
    n_jobs: int = -1,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    progress: Progress | None = None,
) -> Model:
    """Search and train on every row of ``frame``, with no held-out test set.

    For notebooks and for comparisons where the caller keeps its own test
    data; ``run`` is the full workflow (split, evaluation, bundle, registry).
    The search is the same: cleaning, schema, CV folds, tuning, ensembles.

    Raises:
        DataError, SpecError, TrainingError.
    """
    from cairn.data.split import make_folds

    started = time.monotonic()
    cleaned = check_and_clean(frame, target=target, task=task, folds=folds)
    y, schema = _encode_target(cleaned.frame, cleaned.schema)
    chosen_metric = metric or default_metric(cleaned.task, len(schema.classes or ()) or None)
    X = cleaned.frame.drop(columns=[target])
    label = _free_name("__y", cleaned.frame.columns)
    fold_list = make_folds(
        cleaned.frame.assign(**{label: y}),
        target=label,
        task=cleaned.task,
        folds=folds,
        validation_size=None,
        stratify=True,
        group_column=None,
        time_ordered=False,
        seed=seed,
    )
    found = search(
        X,
        y,
        schema=schema,
        folds=fold_list,
        task=cleaned.task,
        metric=chosen_metric,
        learners=choose_learners(n_rows=len(X), include=include, exclude=exclude),
        time_budget=max(1.0, time_budget * 0.9 - (time.monotonic() - started)),
        seed=seed,
        n_jobs=n_jobs,
        progress=progress,
    )
    final = finalize(
        found, X, y, schema=schema, seed=seed, n_jobs=n_jobs, deadline=started + time_budget
    )
    metadata = {
        "task": cleaned.task,
        "target": target,
        "metric": chosen_metric,
        "model": "ensemble" if found.ensemble else found.candidate(found.best).family,
        "model_label": final.description,
        "cv": {
            "metric": chosen_metric,
            "mean": float(found.leaderboard.iloc[0][f"cv_{chosen_metric}_mean"]),
        },
        "search": {
            "trials": found.n_trials,
            "phases_s": found.phases,
            "target_transform": found.target_transform,
        },
    }
    return Model(final.estimator, schema, metadata)
