"""One monitoring check of a model on a batch: drift of its inputs and
outputs, performance when labels are given, the health verdict and the
retraining advice, gathered in a :class:`MonitorReport` that writes itself
as JSON and as an HTML report.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cairn.exceptions import BundleError, CairnError, DataError
from cairn.monitoring.drift import DriftReport, drift
from cairn.monitoring.performance import (
    JoinStats,
    PerformanceReport,
    encode_labels,
    performance,
)
from cairn.monitoring.policy import (
    HealthCheck,
    RetrainAdvice,
    health_checks,
    is_healthy,
    retrain_advice,
)
from cairn.monitoring.reference import ReferenceProfile, load_reference, output_frame
from cairn.spec import MaintenanceSection, MonitoringSection, Objective, default_metric

if TYPE_CHECKING:
    from cairn.bundle import Model
    from cairn.data.schema import Schema

__all__ = ["LOG_COLUMNS", "MonitorReport", "check", "log_frames", "model_outputs"]


@dataclass
class MonitorReport:
    """Everything one ``cairn monitor`` run found.

    Attributes:
        model: name, version, task, metric and creation time of the model.
        source: where the current data came from.
        drift: input and prediction drift (None when no rows were given).
        performance: metrics on labelled rows (None without labels).
        checks: every health check, passed or not.
        healthy: no check listed in ``[monitoring] unhealthy_on`` failed.
        retrain: the maintenance policy's advice.
        notes: things the user should know (e.g. the model could not score).
    """

    model: dict[str, Any]
    source: str
    drift: DriftReport | None
    performance: PerformanceReport | None
    checks: list[HealthCheck]
    healthy: bool
    retrain: RetrainAdvice | None = None
    notes: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def failed(self) -> list[HealthCheck]:
        return [c for c in self.checks if c.ok is False]

    @property
    def verdict(self) -> str:
        """``unhealthy``, ``healthy, with warnings`` (a check that does not
        decide health failed, or the model could not score) or ``healthy``;
        the CLI, the HTML report and the JSON result all show this one."""
        if not self.healthy:
            return "unhealthy"
        if self.failed or self.notes:
            return "healthy, with warnings"
        return "healthy"

    def summary(self) -> str:
        verdict = self.verdict
        named = [c.name for c in self.failed if c.counts == (verdict == "unhealthy")]
        text = ("UNHEALTHY" if verdict == "unhealthy" else verdict) + (
            f" ({', '.join(named)})" if named else ""
        )
        if self.retrain is not None and self.retrain.due:
            text += "; retraining due: " + ", ".join(self.retrain.triggers)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "verdict": self.verdict,
            "summary": self.summary(),
            "created_at": self.created_at,
            "model": self.model,
            "source": self.source,
            "checks": [c.to_dict() for c in self.checks],
            "retrain": (
                {
                    "due": self.retrain.due,
                    "triggers": self.retrain.triggers,
                    "reasons": self.retrain.reasons,
                }
                if self.retrain
                else None
            ),
            "notes": self.notes,
            "drift": self.drift.to_dict() if self.drift else None,
            "performance": self.performance.to_dict() if self.performance else None,
        }

    def write_json(self, path: str | Path) -> Path:
        """Write the machine-readable result, atomically."""
        return _write_text(path, json.dumps(_json_safe(self.to_dict()), indent=2))

    def write_html(self, path: str | Path) -> Path:
        """Write the HTML report, atomically."""
        from cairn.monitoring.report import render_html

        return _write_text(path, render_html(self))


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
        if model.task == "classification":
            proba = model.predict_proba(frame)
            out = output_frame(
                proba.to_numpy(), task="classification", classes=model.schema.classes
            )
        else:
            out = output_frame(model.predict(frame), task=model.task, classes=None)
    out.index = frame.index
    return out


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
    if model.task == "classification":
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
    settings = settings or MonitoringSection()
    if join is not None and list(join.key) != settings.key:
        # The report shows the settings in effect: the key the labels were joined on.
        settings = settings.model_copy(update={"key": list(join.key)})
    if reference is None:
        if model.path is None:
            raise BundleError(
                "the model was not loaded from a bundle, so it has no reference profile; "
                "pass reference= or load the model with cairn.load_model"
            )
        reference = load_reference(model.path)
    notes: list[str] = []
    if outputs is None:
        try:
            outputs = model_outputs(model, current)
        except CairnError as error:
            notes.append(f"the model could not score the data: {error}")
            outputs = None
    target = model.schema.target
    # Ids and other columns the model was trained beside are not news either.
    extra = [*expected_extra, *([target] if target else []), *model.schema.names]
    drift_report = drift(
        current, reference, settings=settings, outputs=outputs, expected_extra=extra
    )
    perf: PerformanceReport | None = None
    if labels is not None:
        if outputs is None:
            notes.append("performance not measured: no model outputs for these rows")
        else:
            metric = str(
                model.metadata.get("metric")
                or default_metric(model.task, len(model.schema.classes or ()))
            )
            if model.task == "classification":
                y = encode_labels(labels.reset_index(drop=True), list(model.schema.classes or ()))
            else:
                y = pd.to_numeric(labels, errors="coerce").to_numpy(dtype=float)
            perf = performance(
                y,
                _output_array(model, outputs.reset_index(drop=True)),
                task=model.task,
                metric=metric,
                timestamps=timestamps,
                objectives=_objectives(model, objectives),
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
    checks = health_checks(drift_report, perf, settings)
    advice = None
    if maintenance is not None:
        created = model.metadata.get("created_at")
        advice = retrain_advice(
            maintenance,
            drift=drift_report,
            performance=perf,
            champion_created=datetime.fromisoformat(created) if created else None,
            last_retrain=last_retrain,
        )
    return MonitorReport(
        model=_model_info(model, model_info),
        source=source,
        drift=drift_report,
        performance=perf,
        checks=checks,
        healthy=is_healthy(checks),
        retrain=advice,
        notes=notes,
    )


def _write_text(path: str | Path, text: str) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, datetime | Path):
        return str(value)
    return value
