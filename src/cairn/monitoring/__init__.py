"""Monitoring: the reference profile stored with each model, data and
prediction drift, performance once labels arrive, and the health and
retraining policy.

Nothing here imports training code, so the model server can use it::

    from cairn.monitoring import check

    report = check(new_rows, model, labels=new_rows["Churn"])
    report.healthy, report.drift.drifted, report.write_html("report.html")

A recommender is checked by :func:`check_recommendations` on the
interactions that came later and the lists it served
(:mod:`cairn.monitoring.recommendations`); ``report.recommendations``
holds the result.

For a clustering, ``report.clusters`` holds the cluster-share drift (which
clusters grew or shrank) and the silhouette of the batch against training's.
"""

from cairn.monitoring.clusters import ClusterReport, ClusterShare, cluster_check
from cairn.monitoring.drift import (
    SEVERITY_CAP,
    ColumnChange,
    DriftReport,
    FeatureDrift,
    correct_p_values,
    drift,
)
from cairn.monitoring.labels import JoinStats, encode_labels, join_labels
from cairn.monitoring.monitor import (
    MonitorReport,
    check,
    check_recommendations,
    cluster_matrix,
    log_frames,
    model_outputs,
)
from cairn.monitoring.performance import Gap, PerformanceReport, performance
from cairn.monitoring.policy import HealthCheck, RetrainAdvice, health_checks, retrain_advice
from cairn.monitoring.profiles import (
    CategoricalProfile,
    ClusterProfile,
    NumericProfile,
    UntestedProfile,
)
from cairn.monitoring.recommendations import (
    RecommendationReport,
    RecommendationThresholds,
    recommendation_report,
    served_lists,
)
from cairn.monitoring.reference import (
    REFERENCE_FILE,
    ReferenceProfile,
    build_reference,
    load_reference,
    output_frame,
)
from cairn.monitoring.report import write_monitoring_report
from cairn.monitoring.result import MonitorResult
from cairn.monitoring.sensitivity import feature_sensitivity

__all__ = [
    "REFERENCE_FILE",
    "SEVERITY_CAP",
    "CategoricalProfile",
    "ClusterProfile",
    "ClusterReport",
    "ClusterShare",
    "ColumnChange",
    "DriftReport",
    "FeatureDrift",
    "Gap",
    "HealthCheck",
    "JoinStats",
    "MonitorReport",
    "MonitorResult",
    "NumericProfile",
    "PerformanceReport",
    "RecommendationReport",
    "RecommendationThresholds",
    "ReferenceProfile",
    "RetrainAdvice",
    "UntestedProfile",
    "build_reference",
    "check",
    "check_recommendations",
    "cluster_check",
    "cluster_matrix",
    "correct_p_values",
    "drift",
    "encode_labels",
    "feature_sensitivity",
    "health_checks",
    "join_labels",
    "load_reference",
    "log_frames",
    "model_outputs",
    "output_frame",
    "performance",
    "recommendation_report",
    "retrain_advice",
    "served_lists",
    "write_monitoring_report",
]
