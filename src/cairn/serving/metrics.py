"""Prometheus metrics of one server (its own registry, so several apps in one
process never share counters).

=====================================  =========================================
``cairn_requests_total``               requests by route and status code
``cairn_request_errors_total``         requests answered 4xx/5xx, by route and status
``cairn_request_duration_seconds``     time in the server per request, by route
``cairn_predictions_total``            records scored, by model, version and arm
``cairn_model_duration_seconds``       model time per request, by model, version and arm
``cairn_prediction_value``             regression values, or the probability of the
                                       last class, by model, version and arm
``cairn_predicted_class_total``        predicted labels, by model, version, arm and class
``cairn_unseen_categories_total``      values unseen in training, by model and column
``cairn_shadow_errors_total``          shadow requests that failed, by model and version
``cairn_log_records``                  prediction-log records accepted / written / failed /
                                       dropped (queue full) / pending
``cairn_log_writer_up``                 1 while the prediction-log writer runs, else 0
``cairn_model_info``                   1 per arm, with model, version and engine labels
=====================================  =========================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["CONTENT_TYPE", "ServingMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (
    0.0002,
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
)
_ARM_LABELS = ("model", "version", "arm")


class _Arm:
    """Pre-bound metric children of one arm (labels looked up once)."""

    def __init__(self, metrics: ServingMetrics, model: str, version: str, arm: str) -> None:
        self.rows = metrics.predictions.labels(model, version, arm)
        self.duration = metrics.model_duration.labels(model, version, arm)
        self.value = metrics.values.labels(model, version, arm)
        self.model, self.version, self.arm = model, version, arm
        self._metrics = metrics
        self._classes: dict[str, Any] = {}

    def observe(
        self, seconds: float, rows: int, labels: Sequence[Any], values: Sequence[float]
    ) -> None:
        self.rows.inc(rows)
        self.duration.observe(seconds)
        for value in values:
            if value == value:  # NaN is not a bucket
                self.value.observe(value)
        for label in labels:
            key = str(label)
            child = self._classes.get(key)
            if child is None:
                child = self._metrics.classes.labels(self.model, self.version, self.arm, key)
                self._classes[key] = child
            child.inc()


class ServingMetrics:
    """Counters and histograms of one app.

    Args:
        value_buckets: bucket edges for ``cairn_prediction_value``.
    """

    def __init__(self, value_buckets: Sequence[float] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "cairn_requests",
            "HTTP requests by route and status code",
            ["route", "status"],
            registry=r,
        )
        self.errors = Counter(
            "cairn_request_errors",
            "HTTP requests answered with a 4xx or 5xx status",
            ["route", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "cairn_request_duration_seconds",
            "Time in the server per request",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "cairn_predictions", "Records scored", list(_ARM_LABELS), registry=r
        )
        self.model_duration = Histogram(
            "cairn_model_duration_seconds",
            "Model time per request (reading records and inference)",
            list(_ARM_LABELS),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        buckets = sorted({float(b) for b in value_buckets}) or [0.1 * k for k in range(1, 11)]
        self.values = Histogram(
            "cairn_prediction_value",
            "Predicted values (regression) or the probability of the last class",
            list(_ARM_LABELS),
            buckets=buckets,
            registry=r,
        )
        self.classes = Counter(
            "cairn_predicted_class", "Predicted class labels", [*_ARM_LABELS, "class"], registry=r
        )
        self.unseen = Counter(
            "cairn_unseen_categories",
            "Category values unseen in training",
            ["model", "column"],
            registry=r,
        )
        self.shadow_errors = Counter(
            "cairn_shadow_errors", "Shadow requests that failed", ["model", "version"], registry=r
        )
        self.info = Gauge(
            "cairn_model_info", "Models served, one per arm", [*_ARM_LABELS, "engine"], registry=r
        )
        self.log_records = Gauge(
            "cairn_log_records", "Prediction-log records by state", ["state"], registry=r
        )
        self.log_writer_up = Gauge(
            "cairn_log_writer_up", "1 while the prediction-log writer runs", registry=r
        )
        self._route_children: dict[tuple[str, int], tuple[Any, Any | None]] = {}
        self._durations: dict[str, Any] = {}

    def arm(self, model: str, version: str, arm: str, engine: str) -> _Arm:
        self.info.labels(model, version, arm, engine).set(1)
        return _Arm(self, model, version, arm)

    def watch_log(self, counts: Callable[[], dict[str, float]], up: Callable[[], float]) -> None:
        """Read the log's record counts (by state) and writer health at each scrape."""
        for state in ("accepted", "written", "failed", "dropped", "pending"):
            self.log_records.labels(state).set_function(_reader(counts, state))
        self.log_writer_up.set_function(up)

    def request(self, route: str, status: int, seconds: float) -> None:
        key = (route, status)
        children = self._route_children.get(key)
        if children is None:
            error = self.errors.labels(route, str(status)) if status >= 400 else None
            children = (self.requests.labels(route, str(status)), error)
            self._route_children[key] = children
        children[0].inc()
        if children[1] is not None:
            children[1].inc()
        duration = self._durations.get(route)
        if duration is None:
            duration = self.duration.labels(route)
            self._durations[route] = duration
        duration.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _reader(counts: Callable[[], dict[str, float]], state: str) -> Callable[[], float]:
    return lambda: counts()[state]
