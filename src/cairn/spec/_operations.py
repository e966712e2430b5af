"""The spec's sections about running a model after training: ``[cost]``,
``[tracking]``, ``[monitoring]``, ``[maintenance]`` and ``[serving]``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from cairn.spec._data import Section as _Section


class CostSection(_Section):
    """Prices behind the trade-off table's cost per 1,000 predictions and
    per training run."""

    # strict and finite: "0.05" or true would be read as a price, inf as no figure at all
    cpu_hour: float = Field(
        default=0.05,
        ge=0.0,
        strict=True,
        allow_inf_nan=False,
        description="price of one CPU core for an hour",
    )


class TrackingSection(_Section):
    uri: str | None = None  # default: sqlite store in <project>/.cairn/
    # where a new experiment keeps its artifacts (a shared folder, s3://...);
    # default: <project>/.cairn/artifacts
    artifacts: str | None = None
    register_model: bool = True


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(min|h|d|w)\s*$")
_DURATION_SECONDS = {"min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_NAMED_DURATIONS = {"hourly": "1h", "daily": "1d", "weekly": "1w", "monthly": "30d"}


def duration_seconds(text: str) -> float:
    """Seconds in ``"30min"``, ``"12h"``, ``"7d"``, ``"2w"``, or ``"hourly"``,
    ``"daily"``, ``"weekly"``, ``"monthly"`` (30 days).

    Raises:
        ValueError: the text is none of these.
    """
    match = _DURATION_RE.match(_NAMED_DURATIONS.get(text.strip().lower(), text))
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration; use a number with min, h, d or w "
            "(e.g. '12h', '7d') or one of hourly, daily, weekly, monthly"
        )
    return float(match.group(1)) * _DURATION_SECONDS[match.group(2)]


DriftCheck = Literal[
    "drift",
    "prediction_drift",
    "schema",
    "objectives",
    "degradation",
    "data_quality",
    "cluster_shares",
    "cluster_quality",
]


# Failed checks that make `cairn monitor` exit non-zero unless the spec says otherwise.
_UNHEALTHY_BY_DEFAULT: tuple[DriftCheck, ...] = (
    "drift",
    "prediction_drift",
    "schema",
    "objectives",
    "cluster_shares",
)


class MonitoringSection(_Section):
    """How ``cairn monitor`` tests drift and judges health."""

    numeric_test: Literal["auto", "ks", "wasserstein", "psi", "jensenshannon"] = "auto"
    categorical_test: Literal["auto", "chi2", "jensenshannon", "psi"] = "auto"
    # "auto": p-value tests (KS, chi-square) up to this many current rows,
    # distances (normed Wasserstein, Jensen-Shannon) above, where any tiny
    # difference would be "significant".
    stat_test_max_rows: int = Field(default=1000, ge=1)
    significance: float = Field(default=0.05, gt=0.0, lt=0.5)
    correction: Literal["fdr_bh", "holm", "bonferroni", "none"] = "fdr_bh"
    wasserstein_threshold: float = Field(default=0.1, gt=0.0)
    jensenshannon_threshold: float = Field(default=0.1, gt=0.0, le=1.0)
    psi_threshold: float = Field(default=0.2, gt=0.0)
    drift_share: float = Field(default=0.5, gt=0.0, le=1.0)
    weight_by_importance: bool = True
    missing_rate_increase: float = Field(default=0.05, ge=0.0, le=1.0)
    out_of_range_share: float = Field(default=0.01, ge=0.0, le=1.0)
    new_category_share: float = Field(default=0.01, ge=0.0, le=1.0)
    # A clustering's silhouette on the batch this far below training's (and
    # significantly so) fails the cluster_quality check.
    silhouette_drop: float = Field(default=0.1, gt=0.0, le=2.0)
    key: list[str] = Field(default_factory=list)  # joins labels to predictions
    window: str = "auto"  # performance windows: "auto" or a duration ("1d", "12h", "1w")
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    bootstrap: int = Field(default=200, ge=0, le=10_000)
    min_window_rows: int = Field(default=30, ge=1)
    unhealthy_on: list[DriftCheck] = Field(default_factory=lambda: list(_UNHEALTHY_BY_DEFAULT))

    @field_validator("window")
    @classmethod
    def _window_is_duration(cls, value: str) -> str:
        if value != "auto":
            duration_seconds(value)
        return value


class MaintenanceSection(_Section):
    """When ``cairn retrain`` retrains, on what data, and when it promotes."""

    retrain_on_drift: bool = True
    retrain_on_objective_miss: bool = True
    max_age_days: float | None = Field(default=None, gt=0.0)
    schedule: str | None = None  # "weekly", "7d", ...: time since the last retraining
    data: Literal["reference+new", "sliding_window"] = "reference+new"
    window_rows: int | None = Field(default=None, ge=10)
    holdout: float = Field(default=0.3, gt=0.0, lt=1.0)
    min_holdout_rows: int = Field(default=30, ge=1)
    promotion_margin: float = Field(default=0.0, ge=0.0)
    time_budget: float | None = Field(default=None, gt=0.0, description="seconds")

    @field_validator("schedule")
    @classmethod
    def _schedule_is_duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration_seconds(value)
        return value

    @model_validator(mode="after")
    def _window_needs_rows(self) -> MaintenanceSection:
        if self.data == "sliding_window" and self.window_rows is None:
            raise ValueError("data = 'sliding_window' needs window_rows, the rows to keep")
        return self


class ServingSection(_Section):
    """How ``cairn serve`` runs, and the latency gate of ``cairn run``."""

    host: str = "127.0.0.1"  # any other address needs an API key
    port: int = Field(default=8000, ge=0, le=65535)
    api_key_env: str = "CAIRN_API_KEY"
    api_key_file: Path | None = None
    max_body_bytes: int = Field(default=10_000_000, ge=1024)
    max_rows: int = Field(default=10_000, ge=1)
    entity_key: str | None = None  # keeps an entity on one A/B arm
    log: bool = True
    log_path: Path | None = None  # default: <project>/.cairn/predictions.db
    # a log shared by several servers: postgresql://USER@HOST:PORT/DB (or sqlite:///FILE)
    log_url: str | None = None
    gate_duration: float = Field(default=3.0, gt=0.0, le=120.0, description="seconds")
    gate_concurrency: int = Field(default=1, ge=1, le=64)

    @field_validator("log_url")
    @classmethod
    def _log_url_is_a_database(cls, value: str | None) -> str | None:
        schemes = ("postgresql://", "postgres://", "postgresql+psycopg://", "sqlite:///")
        if value is not None and not value.startswith(schemes):
            raise ValueError(
                f"{value!r} is not a database URL; use postgresql://USER@HOST:PORT/DATABASE "
                "(or sqlite:///FILE, or log_path for a file)"
            )
        return value

    @model_validator(mode="after")
    def _one_log(self) -> ServingSection:
        if self.log_url is not None and self.log_path is not None:
            raise ValueError("give the prediction log once: log_path (a file) or log_url")
        return self
