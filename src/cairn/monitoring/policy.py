"""The health verdict and the retraining policy, as pure functions of the
reports and the spec.

Health: each check (dataset drift, prediction drift, schema changes, missed
objectives, degradation against the test set, per-column data quality) is
evaluated; the model is unhealthy when a check listed in
``[monitoring] unhealthy_on`` fails.

Retraining (``[maintenance]``) is due when any enabled trigger fires: a
dataset-drift verdict (for a clustering also drifted cluster shares or a
silhouette drop), a missed objective on labelled production data, a
champion older than ``max_age_days``, or more than ``schedule`` since the
last retraining.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cairn.monitoring.clusters import ClusterReport
from cairn.monitoring.drift import DriftReport
from cairn.monitoring.performance import ObjectiveCheck, PerformanceReport
from cairn.spec import MaintenanceSection, MonitoringSection, duration_seconds

if TYPE_CHECKING:
    from cairn.monitoring.recommendations import RecommendationReport

__all__ = ["HealthCheck", "RetrainAdvice", "health_checks", "retrain_advice"]


@dataclass(frozen=True)
class HealthCheck:
    """One health check.

    Attributes:
        name: ``drift``, ``prediction_drift``, ``schema``, ``objectives``,
            ``degradation``, ``data_quality`` and, for a clustering,
            ``cluster_shares`` and ``cluster_quality``.
        ok: passed (True), failed (False) or not evaluated (None: no data).
        counts: whether a failure makes the model unhealthy (listed in
            ``[monitoring] unhealthy_on``).
        message: what was found.
    """

    name: str
    ok: bool | None
    counts: bool
    message: str

    @property
    def status(self) -> str:
        """The one word every view shows: ``pass``, ``fail`` (a failure
        that decides health), ``warn`` (one that does not) or ``not
        checked``."""
        if self.ok is None:
            return "not checked"
        if self.ok:
            return "pass"
        return "fail" if self.counts else "warn"

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "status": self.status,
            "ok": self.ok,
            "counts": self.counts,
            "message": self.message,
        }


@dataclass(frozen=True)
class RetrainAdvice:
    """Whether the policy asks for retraining, and why."""

    due: bool
    reasons: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)


def health_checks(
    drift: DriftReport | None,
    performance: PerformanceReport | None,
    settings: MonitoringSection,
    *,
    clusters: ClusterReport | None = None,
) -> list[HealthCheck]:
    """Every health check that the reports allow, in a fixed order."""
    counted = set(settings.unhealthy_on)
    checks: list[HealthCheck] = []

    def add(name: str, ok: bool | None, message: str) -> None:
        checks.append(HealthCheck(name, ok, name in counted, message))

    if drift is None:
        add("drift", None, "no current data to compare")
    else:
        add("drift", not drift.dataset_drift, drift.summary().split(";")[0])
        if drift.outputs:
            moved = [r.name for r in drift.outputs if r.drifted]
            add(
                "prediction_drift",
                not moved,
                f"model outputs drifted: {', '.join(moved)}" if moved else "outputs stable",
            )
        else:
            add("prediction_drift", None, "model outputs not available")
        changes = drift.schema_changes
        add(
            "schema",
            not changes,
            "; ".join(f.message for f in changes) if changes else "every model input present",
        )
        quality = [f for f in drift.findings if f.severity == "warning" and not f.is_schema_change]
        add(
            "data_quality",
            not quality,
            "; ".join(f"{f.column}: {f.message}" for f in quality[:5])
            + (f" (and {len(quality) - 5} more)" if len(quality) > 5 else "")
            if quality
            else "no missing-rate jump, out-of-range values or new categories",
        )
    if clusters is not None:
        add("cluster_shares", not clusters.shares_drifted, clusters.shares_message())
        add(
            "cluster_quality",
            not clusters.quality_dropped if clusters.silhouette_drop is not None else None,
            clusters.quality_message(),
        )
    if performance is None:
        add("objectives", None, "no labels")
        add("degradation", None, "no labels")
    else:
        measured = [c for c in performance.objectives if c.met is not None]
        failed = performance.failed_objectives
        if not performance.objectives:
            add("objectives", None, "the spec sets no objectives")
        elif not measured:
            add("objectives", None, "no objective measurable on these rows")
        else:
            add(
                "objectives",
                not failed,
                "missed: " + ", ".join(_missed(c, performance.confidence) for c in failed)
                if failed
                else f"all {len(measured)} measured objective(s) met",
            )
        add("degradation", *_degradation(performance))
    return checks


def _missed(check: ObjectiveCheck, confidence: float) -> str:
    """A missed objective with its interval, so that a miss by the point
    value alone is not mistaken for a certain one."""
    text = f"{check.objective} (got {check.value:.4g}"
    if check.low is not None and check.high is not None:
        text += f", {confidence:.0%} interval {check.low:.4g} to {check.high:.4g}: " + (
            "missed even at its best end" if check.significant else "could still be met"
        )
    return text + ")"


def _degradation(performance: PerformanceReport) -> tuple[bool | None, str]:
    gaps = performance.gaps
    if not gaps:
        return None, "no test-set figure with an interval to compare with"
    # With several metrics the intervals hold for all of them at once.
    level = f"{performance.confidence:.0%}" + (" simultaneous" if len(gaps) > 1 else "")

    def describe(name: str) -> str:
        gap = gaps[name]
        return (
            f"{name} {gap.production.value:.3g} vs {gap.test.value:.3g} on the test set "
            f"(difference {gap.difference.value:+.3g}, {level} interval "
            f"{gap.difference.low:+.3g} to {gap.difference.high:+.3g})"
        )

    if performance.degraded:
        return False, "significantly worse than on the test set: " + "; ".join(
            describe(name) for name in performance.degraded
        )
    main = performance.metric if performance.metric in gaps else next(iter(gaps))
    return True, (
        f"every difference from the test set lies within its {level} interval; " + describe(main)
    )


def is_healthy(checks: list[HealthCheck]) -> bool:
    """No counted check failed."""
    return not any(check.counts and check.ok is False for check in checks)


def retrain_advice(
    policy: MaintenanceSection,
    *,
    drift: DriftReport | None = None,
    performance: PerformanceReport | None = None,
    champion_created: datetime | None = None,
    last_retrain: datetime | None = None,
    now: datetime | None = None,
    clusters: ClusterReport | None = None,
    recommendations: RecommendationReport | None = None,
) -> RetrainAdvice:
    """Whether the maintenance policy asks for retraining now.

    Args:
        policy: the spec's ``[maintenance]`` section.
        drift: the latest drift report, if any.
        performance: the latest performance report, if any.
        champion_created: when the serving model was trained.
        last_retrain: when a retraining last ran (defaults to the
            champion's creation time).
        now: the current time (for tests).
        clusters: a clustering's latest cluster report, if any
            (``retrain_on_drift`` covers its shares and silhouette).
        recommendations: a recommender's latest report, if any
            (``retrain_on_drift`` covers item-popularity and user drift).
    """
    now = now or datetime.now(UTC)
    reasons: list[str] = []
    triggers: list[str] = []
    if policy.retrain_on_drift and drift is not None and drift.dataset_drift:
        triggers.append("drift")
        reasons.append(
            f"dataset drift: {len(drift.drifted)} features drifted "
            f"({drift.drift_share:.0%} of the importance, severity-weighted "
            f"{drift.drift_score:.2f})"
        )
    if (
        policy.retrain_on_drift
        and clusters is not None
        and (clusters.shares_drifted or clusters.quality_dropped)
    ):
        triggers.append("clusters")
        reasons.append(
            "; ".join(
                message
                for moved, message in (
                    (clusters.shares_drifted, clusters.shares_message()),
                    (clusters.quality_dropped, clusters.quality_message()),
                )
                if moved
            )
        )
    if (
        policy.retrain_on_drift
        and recommendations is not None
        and (recommendations.popularity_drifted or recommendations.users_drifted)
    ):
        triggers.append("drift")
        reasons.append(f"interactions drifted: {recommendations.drift_message()}")
    if policy.retrain_on_objective_miss and performance is not None:
        failed = performance.failed_objectives
        if failed:
            triggers.append("objectives")
            reasons.append(
                "objective missed on production data: "
                + ", ".join(f"{c.objective} (got {c.value:.4g})" for c in failed)
            )
    if policy.max_age_days is not None and champion_created is not None:
        age_days = (now - _aware(champion_created)).total_seconds() / 86400
        if age_days > policy.max_age_days:
            triggers.append("age")
            reasons.append(
                f"the champion is {age_days:.1f} days old (max_age_days = {policy.max_age_days:g})"
            )
    since = last_retrain or champion_created
    if policy.schedule is not None and since is not None:
        elapsed = (now - _aware(since)).total_seconds()
        if elapsed >= duration_seconds(policy.schedule):
            triggers.append("schedule")
            reasons.append(
                f"{elapsed / 86400:.1f} days since the last retraining "
                f"(schedule = {policy.schedule!r})"
            )
    return RetrainAdvice(bool(triggers), reasons, triggers)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
