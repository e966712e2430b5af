"""Monitoring: the reference profile stored with each model, data and
prediction drift, performance once labels arrive, and the health and
retraining policy.

Nothing here imports training code, so the model server can use it::

    from cairn.monitoring import check

    report = check(new_rows, model, labels=new_rows["Churn"])
    report.healthy, report.drift.drifted, report.write_html("report.html")
"""

from cairn.monitoring.drift import (
    SEVERITY_CAP,
    DriftReport,
    FeatureDrift,
    Finding,
    correct_p_values,
    drift,
)
from cairn.monitoring.monitor import MonitorReport, check, log_frames, model_outputs
from cairn.monitoring.performance import (
    Gap,
    JoinStats,
    PerformanceReport,
    encode_labels,
    join_labels,
    performance,
)
from cairn.monitoring.policy import HealthCheck, RetrainAdvice, health_checks, retrain_advice
from cairn.monitoring.reference import (
    REFERENCE_FILE,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    build_reference,
    feature_sensitivity,
    load_reference,
    output_frame,
)

__all__ = [
    "REFERENCE_FILE",
    "SEVERITY_CAP",
    "CategoricalProfile",
    "DriftReport",
    "FeatureDrift",
    "Finding",
    "Gap",
    "HealthCheck",
    "JoinStats",
    "MonitorReport",
    "NumericProfile",
    "PerformanceReport",
    "ReferenceProfile",
    "RetrainAdvice",
    "build_reference",
    "check",
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
    "retrain_advice",
]
