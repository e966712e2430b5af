"""One monitoring check of a model on a batch: drift of its inputs and
outputs, performance when labels are given, for a clustering its cluster
shares and silhouette, the health verdict and the retraining advice,
gathered in a :class:`MonitorReport` that writes itself as JSON and as an
HTML report.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cairn.exceptions import BundleError, CairnError, DataError
from cairn.monitoring.clusters import ClusterReport, cluster_check
from cairn.monitoring.drift import DriftReport, drift
from cairn.monitoring.labels import JoinStats, encode_labels
from cairn.monitoring.performance import PerformanceReport, performance
from cairn.monitoring.policy import RetrainAdvice, health_checks, is_healthy, retrain_advice
from cairn.monitoring.recommendations import (
    RecommendationThresholds,
    ServedLists,
    recommendation_checks,
    recommendation_report,
    training_profile,
)
from cairn.monitoring.reference import ReferenceProfile, load_reference, output_frame
from cairn.monitoring.report import write_monitoring_report
from cairn.monitoring.result import MonitorResult
from cairn.spec import MaintenanceSection, MonitoringSection, Objective
from cairn.tasks import get_task

if TYPE_CHECKING:
    from cairn.bundle import Model, Recommender
    from cairn.data.schema import Schema

__all__ = [
    "LOG_COLUMNS",
    "MonitorReport",
    "check",
    "check_recommendations",
    "cluster_matrix",
    "cluster_report",
    "log_frames",
    "model_outputs",
]


@dataclass
class MonitorReport(MonitorResult):
    """Everything one ``cairn monitor`` run found (see
    :class:`~cairn.monitoring.result.MonitorResult`), able to write its HTML
    report."""

    def write_html(self, path: str | Path) -> Path:
        """Write the HTML report, atomically."""
        return write_monitoring_report(self, path)


def model_outputs(model: Model, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's outputs on ``frame`` in the prediction-log shape:
    ``prediction`` and, for classification, ``proba_<class>``.

    Raises:
        SchemaMismatchError: the frame does not fit the model's schema.
    """
    from cairn.bundle import SchemaWarning

    with warnings.catch_warnings():
        # Extra columns and unseen categories are reported by the drift check.
        warnings.simplefilter("ignore", SchemaWarning)
        if get_task(model.task).has_classes:
            proba = model.predict_proba(frame)
            out = output_frame(proba.to_numpy(), task=model.task, classes=model.schema.classes)
        else:
            out = output_frame(model.predict(frame), task=model.task, classes=None)
    out.index = frame.index
    return out


def cluster_matrix(model: Model, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """A clustering's view of ``frame``: the rows in its prepared space (every
    pipeline step but the last) and the cluster id the last step gives each.

    Raises:
        SchemaMismatchError: the frame does not fit the model's schema.
        BundleError: the model is not a pipeline of steps.
    """
    from cairn.bundle import SchemaWarning

    pipeline = model.pipeline
    if not getattr(pipeline, "steps", None) or len(pipeline.steps) < 2:
        raise BundleError(
            "the clustering model is not a pipeline of a preparation and a clustering step, "
            "so its prepared matrix (for the silhouette) cannot be computed"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SchemaWarning)
        rows = model.prepare(frame)
    matrix = np.asarray(pipeline[:-1].transform(rows), dtype=float)
    return matrix, np.asarray(pipeline[-1].predict(matrix)).reshape(-1).astype(int)


#: Bookkeeping columns of the prediction log (see cairn.serving.log.read_log).
LOG_COLUMNS = ("request_id", "row", "ts", "model", "version", "arm", "latency_ms")


def log_frames(
    frame: pd.DataFrame, schema: Schema | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split prediction-log rows into the inputs (with the bookkeeping columns)
    and the outputs served (``prediction``, ``proba_<class>``).

    An input that the log renamed ``input.NAME`` because NAME clashes with a
    bookkeeping column gets its name back when it is a model input.
    """
    outputs = [c for c in frame.columns if c == "prediction" or str(c).startswith("proba_")]
    inputs = frame.drop(columns=outputs)
    if schema is not None:
        renamed = {
            c: str(c)[len("input.") :]
            for c in inputs.columns
            if str(c).startswith("input.") and str(c)[len("input.") :] in schema
        }
        if renamed:
            inputs = inputs.drop(columns=[v for v in renamed.values() if v in inputs.columns])
            inputs = inputs.rename(columns=renamed)
    return inputs.reset_index(drop=True), frame[outputs].reset_index(drop=True)


def _model_info(model: Model, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    meta = model.metadata
    info = {
        "name": meta.get("name"),
        "task": model.task,
        "metric": meta.get("metric"),
        "model": meta.get("model_label") or meta.get("model"),
        "created_at": meta.get("created_at"),
        "run_id": meta.get("run_id"),
        "path": str(model.path) if model.path else None,
    }
    info.update(dict(extra or {}))
    return info


def _objectives(model: Model, objectives: Sequence[Objective] | None) -> list[Objective]:
    if objectives is not None:
        return list(objectives)
    parsed = []
    for item in model.metadata.get("objectives") or []:
        text = item.get("objective") if isinstance(item, Mapping) else item
        if text:
            try:
                parsed.append(Objective.parse(str(text)))
            except ValueError:
                continue
    return parsed


def _output_array(model: Model, outputs: pd.DataFrame) -> np.ndarray:
    if get_task(model.task).has_classes:
        columns = [f"proba_{label}" for label in model.schema.classes or ()]
        absent = [c for c in columns if c not in outputs.columns]
        if absent:
            raise DataError(
                f"the predictions lack the probability column(s) {', '.join(absent)}; "
                "performance needs one proba_<class> column per class"
            )
        return outputs[columns].to_numpy(dtype=float)
    return pd.to_numeric(outputs["prediction"], errors="coerce").to_numpy(dtype=float)


def check(
    current: pd.DataFrame,
    model: Model,
    *,
    settings: MonitoringSection | None = None,
    maintenance: MaintenanceSection | None = None,
    objectives: Sequence[Objective] | None = None,
    reference: ReferenceProfile | None = None,
    outputs: pd.DataFrame | None = None,
    labels: pd.Series | None = None,
    timestamps: pd.Series | None = None,
    latency_ms: pd.Series | None = None,
    join: JoinStats | None = None,
    source: str = "",
    model_info: Mapping[str, Any] | None = None,
    expected_extra: Sequence[str] = (),
    last_retrain: datetime | None = None,
) -> MonitorReport:
    """Check one batch: drift, performance (with labels), health, advice.

    Args:
        current: the batch, with the model's input columns.
        model: the model that serves (or will serve) these rows.
        settings: the spec's ``[monitoring]`` section (defaults if omitted).
        maintenance: the spec's ``[maintenance]`` section, for the advice.
        objectives: the spec's objectives; the bundle's when omitted.
        reference: the reference profile; read from the bundle when omitted.
        outputs: the outputs that were served (prediction log); computed
            with ``model`` when omitted.
        labels: ground truth aligned with ``current`` (original values).
        timestamps: when each row was scored, for performance windows.
        latency_ms: served latency per row, for latency objectives.
        join: how labels were matched, shown in the report.
        source: a description of the data (file, query, log window).
        model_info: extra model facts (registry name, version, alias).
        expected_extra: columns besides the inputs that are expected.
        last_retrain: when a retraining last ran (schedule trigger).

    Raises:
        BundleError: the model has no reference profile.
        DataError: the batch is empty, or labels cannot be used.
    """
    if getattr(model, "is_recommender", False):
        raise DataError(
            "a recommendation model is checked on the interactions that came later and the "
            "lists it served: use cairn.monitoring.check_recommendations (cairn monitor "
            "LATER_INTERACTIONS --model ...)"
        )
    privacy = getattr(model, "privacy", None)
    if privacy:
        # the reference holds training's hashes: the batch is compared hashed too
        current = privacy.frame(current, drop=True)
    settings = _settings_in_effect(settings, join)
    if reference is None:
        reference = _bundle_reference(model)
    notes: list[str] = []
    if outputs is None:
        outputs = _score(model, current, notes)
    drift_report = drift(
        current,
        reference,
        settings=settings,
        outputs=outputs,
        expected_extra=_expected_columns(model, expected_extra),
    )
    perf: PerformanceReport | None = None
    if labels is not None and reference.clusters is not None:
        notes.append(
            "labels are not used for a clustering: its health is judged by the cluster "
            "shares and the silhouette"
        )
    elif labels is not None:
        if outputs is None:
            notes.append("performance not measured: no model outputs for these rows")
        else:
            perf = _labelled_performance(
                model,
                labels,
                outputs,
                settings=settings,
                objectives=_objectives(model, objectives),
                timestamps=timestamps,
                latency_ms=latency_ms,
                join=join,
            )
    clusters = cluster_report(
        model, current, reference, settings=settings, outputs=outputs, notes=notes
    )
    checks = health_checks(drift_report, perf, settings, clusters=clusters)
    return MonitorReport(
        model=_model_info(model, model_info),
        source=source,
        drift=drift_report,
        performance=perf,
        checks=checks,
        healthy=is_healthy(checks),
        retrain=_advice(maintenance, model, drift_report, perf, last_retrain, clusters),
        notes=notes,
        clusters=clusters,
    )


def cluster_report(
    model: Model,
    current: pd.DataFrame,
    reference: ReferenceProfile,
    *,
    settings: MonitoringSection | None = None,
    outputs: pd.DataFrame | None = None,
    notes: list[str] | None = None,
) -> ClusterReport | None:
    """A clustering's cluster shares (of the ids served in ``outputs``, else
    of the ids the model gives now) and its silhouette on the batch; None for
    other models. Why the silhouette could not be measured goes to ``notes``."""
    if reference.clusters is None:
        return None
    notes = [] if notes is None else notes
    matrix = ids = None
    try:
        matrix, ids = cluster_matrix(model, current)
    except (CairnError, ValueError, TypeError) as error:
        notes.append(f"the silhouette could not be measured: {error}")
    assigned: Any = ids
    if outputs is not None and "prediction" in outputs.columns:
        assigned = pd.to_numeric(outputs["prediction"], errors="coerce").to_numpy(dtype=float)
    if assigned is None:
        return None
    return cluster_check(
        reference.clusters, assigned, matrix=matrix, matrix_ids=ids, settings=settings
    )


def _expected_columns(model: Model, expected_extra: Sequence[str]) -> list[str]:
    # Ids and other columns the model was trained beside are not news either.
    target = model.schema.target
    return [*expected_extra, *([target] if target else []), *model.schema.names]


def _advice(
    maintenance: MaintenanceSection | None,
    model: Model,
    drift_report: DriftReport,
    perf: PerformanceReport | None,
    last_retrain: datetime | None,
    clusters: ClusterReport | None = None,
) -> RetrainAdvice | None:
    """The maintenance policy's advice; None without a maintenance policy."""
    if maintenance is None:
        return None
    created = model.metadata.get("created_at")
    return retrain_advice(
        maintenance,
        drift=drift_report,
        performance=perf,
        champion_created=datetime.fromisoformat(created) if created else None,
        last_retrain=last_retrain,
        clusters=clusters,
    )


def _settings_in_effect(
    settings: MonitoringSection | None, join: JoinStats | None
) -> MonitoringSection:
    settings = settings or MonitoringSection()
    if join is not None and list(join.key) != settings.key:
        # The report shows the settings in effect: the key the labels were joined on.
        settings = settings.model_copy(update={"key": list(join.key)})
    return settings


def _bundle_reference(model: Model) -> ReferenceProfile:
    if model.path is None:
        raise BundleError(
            "the model was not loaded from a bundle, so it has no reference profile; "
            "pass reference= or load the model with cairn.load_model"
        )
    return load_reference(model.path)


def _score(model: Model, current: pd.DataFrame, notes: list[str]) -> pd.DataFrame | None:
    """The model's outputs on the batch, or None (with a note) when it cannot score."""
    try:
        return model_outputs(model, current)
    except CairnError as error:
        notes.append(f"the model could not score the data: {error}")
        return None


def _labelled_performance(
    model: Model,
    labels: pd.Series,
    outputs: pd.DataFrame,
    *,
    settings: MonitoringSection,
    objectives: list[Objective],
    timestamps: pd.Series | None,
    latency_ms: pd.Series | None,
    join: JoinStats | None,
) -> PerformanceReport:
    """Performance on the labelled rows, against the test figures in the bundle."""
    metric = str(
        model.metadata.get("metric")
        or get_task(model.task).default_metric(len(model.schema.classes or ()))
    )
    if get_task(model.task).has_classes:
        y = encode_labels(labels.reset_index(drop=True), list(model.schema.classes or ()))
    else:
        y = pd.to_numeric(labels, errors="coerce").to_numpy(dtype=float)
    return performance(
        y,
        _output_array(model, outputs.reset_index(drop=True)),
        task=model.task,
        metric=metric,
        timestamps=timestamps,
        objectives=objectives,
        test_metrics=model.metadata.get("metrics") or {},
        test_intervals=model.metadata.get("metric_intervals") or {},
        test_rows=(model.metadata.get("rows") or {}).get("test"),
        window=settings.window,
        confidence=settings.confidence,
        bootstrap=settings.bootstrap,
        min_window_rows=settings.min_window_rows,
        latency_ms=None if latency_ms is None else latency_ms.to_numpy(dtype=float),
        join=join,
    )


def check_recommendations(
    interactions: pd.DataFrame,
    recommender: Recommender,
    metadata: Mapping[str, Any],
    *,
    served: ServedLists | None,
    user: str,
    item: str,
    time: str | None,
    settings: MonitoringSection | None = None,
    maintenance: MaintenanceSection | None = None,
    thresholds: RecommendationThresholds | None = None,
    horizon: float | None = None,
    source: str = "",
    model_info: Mapping[str, Any] | None = None,
    last_retrain: datetime | None = None,
) -> MonitorReport:
    """Check a recommender: what its served lists achieved against the later
    ``interactions``, their coverage, and drift of item popularity and users
    (see :mod:`cairn.monitoring.recommendations`).

    Raises:
        DataError: a column is missing or the interactions are empty.
    """
    settings = settings or MonitoringSection()
    thresholds = thresholds or RecommendationThresholds(confidence=settings.confidence)
    config = metadata.get("recommendation") or {}
    notes: list[str] = []
    if served is None:
        notes.append(
            "no served recommendations were read from the prediction log: only the drift "
            "of the interactions is measured"
        )
    report = recommendation_report(
        served,
        interactions,
        training_profile(recommender),
        user=user,
        item=item,
        time=time,
        k=int(config.get("k") or 10),
        horizon=horizon,
        thresholds=thresholds,
        test_metrics={
            str(k): float(v)
            for k, v in (metadata.get("metrics") or {}).items()
            if isinstance(v, int | float)
        },
    )
    if time is None:
        notes.append(
            "the interactions have no time column, so none can be placed after a serving: "
            "served quality is not measured"
        )
    checks = recommendation_checks(report, settings.unhealthy_on)
    info = {
        "name": metadata.get("name"),
        "task": "recommendation",
        "metric": metadata.get("metric"),
        "model": metadata.get("model_label") or metadata.get("model"),
        "created_at": metadata.get("created_at"),
        "run_id": metadata.get("run_id"),
        **dict(model_info or {}),
    }
    advice = None
    if maintenance is not None:
        created = metadata.get("created_at")
        advice = retrain_advice(
            maintenance,
            champion_created=datetime.fromisoformat(created) if created else None,
            last_retrain=last_retrain,
            recommendations=report,
        )
    return MonitorReport(
        model=info,
        source=source,
        drift=None,
        performance=None,
        checks=checks,
        healthy=is_healthy(checks),
        retrain=advice,
        notes=notes,
        recommendations=report,
    )
