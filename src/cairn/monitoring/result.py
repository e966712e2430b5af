"""What one monitoring check found, as data: the drift and performance
reports, the health checks, the verdict and the retraining advice.

The checking (:mod:`cairn.monitoring.monitor`) and the HTML report
(:mod:`cairn.monitoring.report`) both build on this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cairn._io import atomic_write_text, json_safe
from cairn.monitoring.clusters import ClusterReport
from cairn.monitoring.drift import DriftReport
from cairn.monitoring.performance import PerformanceReport
from cairn.monitoring.policy import HealthCheck, RetrainAdvice
from cairn.monitoring.recommendations import RecommendationReport

__all__ = ["MonitorResult"]


@dataclass
class MonitorResult:
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
        clusters: a clustering's cluster shares and silhouette (None for
            other models).
        recommendations: a recommender's served quality, coverage and
            drift (None for other models).
    """

    model: dict[str, Any]
    source: str
    drift: DriftReport | None
    performance: PerformanceReport | None
    checks: list[HealthCheck]
    healthy: bool
    retrain: RetrainAdvice | None = None
    notes: list[str] = field(default_factory=list)
    clusters: ClusterReport | None = None
    recommendations: RecommendationReport | None = None
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
        if self.clusters is not None:
            text += "; " + self.clusters.summary()
        if self.recommendations is not None:
            text += "; " + self.recommendations.summary()
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
            "clusters": self.clusters.to_dict() if self.clusters else None,
            "recommendations": (self.recommendations.to_dict() if self.recommendations else None),
        }

    def write_json(self, path: str | Path) -> Path:
        """Write the machine-readable result, atomically."""
        return atomic_write_text(path, json.dumps(json_safe(self.to_dict()), indent=2))
