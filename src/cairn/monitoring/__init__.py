"""Monitoring: the reference profile stored with each model, data and
prediction drift, performance once labels arrive, and the health and
retraining policy.

Nothing here imports training code, so the model server can use it.
"""

from cairn.monitoring.drift import DriftReport, FeatureDrift, Finding, correct_p_values, drift
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
    "CategoricalProfile",
    "DriftReport",
    "FeatureDrift",
    "Finding",
    "NumericProfile",
    "ReferenceProfile",
    "build_reference",
    "correct_p_values",
    "drift",
    "feature_sensitivity",
    "load_reference",
    "output_frame",
]
