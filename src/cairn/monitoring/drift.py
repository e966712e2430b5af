"""Data drift: a batch of current data compared with the reference profile.

Each feature is binned once on the reference's cut points (one
``searchsorted`` and two ``bincount`` calls per numeric column, one hash pass
per categorical column); every statistic is then computed from the bin counts
with numpy, so a check costs about one pass over the data whatever the tests.

Tests, chosen by the column's type and the batch size (``[monitoring]``):

======================  ==========================================  =============================
numeric                 categorical                                 verdict
======================  ==========================================  =============================
``ks`` Kolmogorov–      ``chi2`` chi-square on category counts      p-value below the
Smirnov                 (rare categories pooled)                    significance level after the
                                                                    multiple-testing correction
``wasserstein``         ``jensenshannon`` Jensen–Shannon distance   distance above its threshold
(divided by the         (base 2, 0..1)
reference's std)
``psi``                 ``psi``                                     PSI above its threshold
======================  ==========================================  =============================

``auto`` (the default) uses the p-value tests for batches of up to
``stat_test_max_rows`` rows and the distances above, where a p-value test
would call any negligible difference significant. Every statistic is
computed and reported for every column whatever the choice.

Besides distribution drift, each column is checked on its own for schema
changes (missing, or no longer readable as its type), a missing-rate jump,
values outside the training range and new categories.

The dataset verdict weighs each drifted feature by its importance to the
model and by how far it moved: a drifted feature counts its importance
times its *severity*, the distance (normed Wasserstein for numbers,
Jensen–Shannon for categories) divided by that distance's threshold, at
least 1 and at most ``SEVERITY_CAP``. The dataset drifted when the sum,
divided by the total importance, reaches ``drift_share``. So half the
importance drifting just past the threshold fails it, and so does one
feature with an eighth of the importance drifting four thresholds or more.
Drift of the model's outputs is tested like the features and reported
separately.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cairn._io import json_safe
from cairn.data.schema import normalize_missing
from cairn.exceptions import DataError
from cairn.monitoring._drift_stats import (
    P_VALUE_TESTS,
    Measured,
    categorical_stats,
    choose_test,
    correct_p_values,
    missing_jump_p,
    numeric_stats,
    threshold,
)
from cairn.monitoring.profiles import (
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    UntestedProfile,
    category_counts,
    numeric_values,
)
from cairn.monitoring.reference import ReferenceProfile
from cairn.spec import MonitoringSection

__all__ = [
    "SEVERITY_CAP",
    "ColumnChange",
    "DriftReport",
    "FeatureDrift",
    "correct_p_values",
    "drift",
]

#: The most a drifted feature's importance is multiplied by in the verdict.
SEVERITY_CAP = 4.0

Severity = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class ColumnChange:
    """A change in one column since training, reported on its own rather than
    by a distribution test (listed as the report's ``findings``).

    Attributes:
        kind: ``missing_column``, ``retyped``, ``unreadable_values``,
            ``new_column``, ``missing_rate``, ``out_of_range`` or
            ``new_categories``.
        severity: ``error`` (the model cannot use the column), ``warning``
            (above its threshold) or ``info``.
    """

    kind: str
    column: str
    severity: Severity
    message: str
    value: float | None = None

    @property
    def is_schema_change(self) -> bool:
        return self.kind in ("missing_column", "retyped")


@dataclass
class FeatureDrift:
    """The drift test of one column.

    Attributes:
        test: the test that decides (``ks``, ``chi2``, ``wasserstein``,
            ``jensenshannon`` or ``psi``).
        statistic: that test's value.
        p_value: raw p-value (p-value tests only).
        p_adjusted: p-value after the multiple-testing correction.
        threshold: significance level or distance threshold.
        scores: every statistic computed for the column.
        importance: the column's share of the model's sensitivity.
        severity: how far it moved: the distance divided by the distance's
            threshold (normed Wasserstein or Jensen–Shannon, whatever the
            deciding test).
        weight: what it adds to the dataset verdict: importance times
            severity (between 1 and ``SEVERITY_CAP``) when drifted, else 0.
        bins, reference_share, current_share: the two distributions on
            the same bins (for plots).
    """

    name: str
    kind: str
    test: str
    statistic: float
    threshold: float
    drifted: bool
    p_value: float | None = None
    p_adjusted: float | None = None
    importance: float = 0.0
    severity: float = 0.0
    n_reference: int = 0
    n_current: int = 0
    missing_reference: float = 0.0
    missing_current: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    bins: list[str] = field(default_factory=list)
    reference_share: list[float] = field(default_factory=list)
    current_share: list[float] = field(default_factory=list)
    reference_mean: float | None = None
    current_mean: float | None = None

    @property
    def weight(self) -> float:
        if not self.drifted:
            return 0.0
        return self.importance * float(np.clip(self.severity, 1.0, SEVERITY_CAP))

    def to_dict(self) -> dict[str, Any]:
        return json_safe({**asdict(self), "weight": self.weight})


@dataclass
class DriftReport:
    """The outcome of :func:`drift`.

    Attributes:
        features: one test per tested feature, most drifted first.
        outputs: tests of the model's outputs (prediction drift).
        findings: schema changes and per-column checks.
        drift_share: importance-weighted share of drifted features.
        drift_score: the verdict's figure: drifted features' importance
            times severity, over the total importance (see the module).
        dataset_drift: ``drift_score`` reached the configured
            ``drift_share``.
        prediction_drift: any model output drifted.
    """

    n_reference: int
    n_current: int
    features: list[FeatureDrift]
    outputs: list[FeatureDrift]
    findings: list[ColumnChange]
    drift_share: float
    drift_share_unweighted: float
    drift_score: float
    dataset_drift: bool
    prediction_drift: bool
    weighting: str
    settings: dict[str, Any]
    seconds: float = 0.0

    @property
    def drifted(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    @property
    def schema_changes(self) -> list[ColumnChange]:
        return [f for f in self.findings if f.is_schema_change]

    def feature(self, name: str) -> FeatureDrift:
        for item in self.features:
            if item.name == name:
                return item
        raise KeyError(name)

    def summary(self) -> str:
        tested = len(self.features)
        verdict = "dataset drift" if self.dataset_drift else "no dataset drift"
        text = (
            f"{verdict}: {len(self.drifted)} of {tested} features drifted, "
            f"{self.drift_share:.0%} of the importance (severity-weighted "
            f"{self.drift_score:.2f}, threshold {self.settings['drift_share']:g})"
        )
        if self.outputs:
            text += "; prediction drift" if self.prediction_drift else "; predictions stable"
        if self.schema_changes:
            text += f"; {len(self.schema_changes)} schema change(s)"
        return text

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "n_reference": self.n_reference,
                "n_current": self.n_current,
                "dataset_drift": self.dataset_drift,
                "drift_share": self.drift_share,
                "drift_share_unweighted": self.drift_share_unweighted,
                "drift_score": self.drift_score,
                "prediction_drift": self.prediction_drift,
                "drifted_features": self.drifted,
                "weighting": self.weighting,
                "settings": self.settings,
                "seconds": self.seconds,
                "findings": [asdict(f) for f in self.findings],
                "features": [f.to_dict() for f in self.features],
                "outputs": [f.to_dict() for f in self.outputs],
            }
        )


# ---------------------------------------------------------------- the check


def _test_columns(
    profiles: Sequence[ColumnProfile],
    frame: pd.DataFrame,
    *,
    n_rows: int,
    settings: MonitoringSection,
    importance: Mapping[str, float],
    findings: list[ColumnChange],
) -> list[FeatureDrift]:
    results: list[FeatureDrift] = []
    for profile in profiles:
        if profile.name not in frame.columns:
            continue
        measured = _measure(profile, frame[profile.name], settings, findings)
        _missing_finding(profile, measured, settings, findings)
        if isinstance(profile, UntestedProfile) or profile.n == 0:
            continue
        results.append(_feature_drift(profile, measured, n_rows, settings, importance))
    _decide(results, settings)
    return results


def _measure(
    profile: ColumnProfile,
    series: pd.Series,
    settings: MonitoringSection,
    findings: list[ColumnChange],
) -> Measured:
    """The column's statistics, noting unreadable, out-of-range and new values."""
    if isinstance(profile, NumericProfile):
        values, unreadable = numeric_values(series)
        _unreadable_finding(profile.name, unreadable, len(series), findings)
        measured = numeric_stats(profile, values)
        if measured.out_of_range > settings.out_of_range_share and measured.n_current:
            findings.append(
                ColumnChange(
                    "out_of_range",
                    profile.name,
                    "warning",
                    f"{measured.out_of_range:.1%} of the values lie outside the training "
                    f"range [{profile.minimum:.6g}, {profile.maximum:.6g}]",
                    measured.out_of_range,
                )
            )
        return measured
    if isinstance(profile, CategoricalProfile):
        counts, n_missing = category_counts(series)
        measured = categorical_stats(profile, counts, n_missing)
        if measured.new_categories:
            findings.append(_new_categories_finding(profile.name, measured, settings))
        return measured
    missing = int(normalize_missing(series).isna().sum())
    return Measured({}, {}, len(series) - missing, missing, [], [], [])


def _new_categories_finding(
    name: str, measured: Measured, settings: MonitoringSection
) -> ColumnChange:
    severity: Severity = "warning" if measured.new_share > settings.new_category_share else "info"
    shown = ", ".join(repr(k) for k in list(measured.new_categories)[:5])
    more = len(measured.new_categories) - 5
    return ColumnChange(
        "new_categories",
        name,
        severity,
        f"{len(measured.new_categories)} categor"
        f"{'y' if len(measured.new_categories) == 1 else 'ies'} unseen in "
        f"training in {measured.new_share:.1%} of the rows: {shown}"
        + (f" and {more} more" if more > 0 else ""),
        measured.new_share,
    )


def _feature_drift(
    profile: NumericProfile | CategoricalProfile,
    measured: Measured,
    n_rows: int,
    settings: MonitoringSection,
    importance: Mapping[str, float],
) -> FeatureDrift:
    """The column's deciding test, before the verdict (see :func:`_decide`)."""
    kind = "numeric" if isinstance(profile, NumericProfile) else "categorical"
    test = choose_test(kind, n_rows, settings)
    if measured.scores:
        statistic = float(measured.scores[test])
        p_value = measured.p_values.get(test) if test in P_VALUE_TESTS else None
    else:
        # No usable current value (all missing or unreadable): as far from
        # the reference as a column can be.
        statistic = float("inf")
        p_value = 0.0 if test in P_VALUE_TESTS else None
    return FeatureDrift(
        name=profile.name,
        kind=kind,
        test=test,
        statistic=statistic,
        threshold=threshold(test, settings),
        drifted=False,
        p_value=p_value,
        importance=float(importance.get(profile.name, 0.0)),
        n_reference=profile.n,
        n_current=measured.n_current,
        missing_reference=profile.missing_rate,
        missing_current=measured.missing_current,
        scores={**measured.scores, **{f"{k}_p": v for k, v in measured.p_values.items()}},
        bins=measured.bins,
        reference_share=measured.reference_share,
        current_share=measured.current_share,
        reference_mean=(profile.mean if isinstance(profile, NumericProfile) else None),
        current_mean=measured.current_mean,
    )


def _decide(results: list[FeatureDrift], settings: MonitoringSection) -> None:
    tested = [r for r in results if r.p_value is not None and r.test in P_VALUE_TESTS]
    adjusted = correct_p_values([float(r.p_value or 0.0) for r in tested], settings.correction)
    for result, p in zip(tested, adjusted, strict=True):
        result.p_adjusted = float(p)
        result.drifted = bool(p < settings.significance)
    for result in results:
        if result.test not in P_VALUE_TESTS:
            result.drifted = bool(result.statistic > result.threshold)
        distance = "wasserstein" if result.kind == "numeric" else "jensenshannon"
        if result.test in (distance, "psi"):
            result.severity = result.statistic / result.threshold
        elif distance in result.scores:
            result.severity = result.scores[distance] / threshold(distance, settings)
        else:  # no usable current value
            result.severity = float("inf")


def _unreadable_finding(
    name: str, unreadable: int, total: int, findings: list[ColumnChange]
) -> None:
    if not unreadable:
        return
    share = unreadable / max(total, 1)
    if share > 0.5:
        findings.append(
            ColumnChange(
                "retyped",
                name,
                "error",
                f"{share:.0%} of the values are not numbers: the column changed type "
                "(fix the data, or retrain on the new type)",
                share,
            )
        )
    else:
        findings.append(
            ColumnChange(
                "unreadable_values",
                name,
                "warning",
                f"{unreadable} value(s) ({share:.1%}) cannot be read as numbers; "
                "the model sees them as missing",
                share,
            )
        )


def _missing_finding(
    profile: ColumnProfile,
    measured: Measured,
    settings: MonitoringSection,
    findings: list[ColumnChange],
) -> None:
    jump = measured.missing_current - profile.missing_rate
    if jump <= settings.missing_rate_increase:
        return
    p = missing_jump_p(
        profile.n_missing,
        profile.n + profile.n_missing,
        measured.n_missing,
        measured.n_current + measured.n_missing,
    )
    if p < settings.significance:
        findings.append(
            ColumnChange(
                "missing_rate",
                profile.name,
                "warning",
                f"missing values rose from {profile.missing_rate:.1%} in training to "
                f"{measured.missing_current:.1%}",
                float(measured.missing_current),
            )
        )


def drift(
    current: pd.DataFrame,
    reference: ReferenceProfile,
    *,
    settings: MonitoringSection | None = None,
    outputs: pd.DataFrame | None = None,
    expected_extra: Sequence[str] = (),
) -> DriftReport:
    """Compare a batch of current data with the reference profile.

    Args:
        current: the current rows, with (at least) the model's input columns;
            values as read (text that holds numbers is read as numbers).
        reference: the profile stored in the bundle.
        settings: the spec's ``[monitoring]`` section; defaults when omitted.
        outputs: the model's outputs on ``current`` (columns ``prediction``
            and ``proba_<class>``), for prediction drift.
        expected_extra: columns that may be present besides the features
            (target, keys, log bookkeeping) and are not reported as new.

    Raises:
        DataError: the batch has no rows.
    """
    started = time.perf_counter()
    settings = settings or MonitoringSection()
    if len(current) == 0:
        raise DataError("the current data has no rows; nothing to compare with the reference")
    findings = _schema_findings(current, reference, expected_extra)
    importance, weighting = _importance(reference, settings)
    features = _test_columns(
        reference.features,
        current,
        n_rows=len(current),
        settings=settings,
        importance=importance,
        findings=findings,
    )
    _mark_retyped(features, findings)
    output_results: list[FeatureDrift] = []
    if outputs is not None and reference.outputs:
        # Output columns are tested for drift only; their findings are not news.
        output_results = _test_columns(
            reference.outputs,
            outputs,
            n_rows=len(outputs),
            settings=settings,
            importance={},
            findings=[],
        )
    total_weight = sum(r.importance for r in features)
    drifted_weight = sum(r.importance for r in features if r.drifted)
    share = drifted_weight / total_weight if total_weight > 0 else 0.0
    score = sum(r.weight for r in features) / total_weight if total_weight > 0 else 0.0
    unweighted = sum(r.drifted for r in features) / len(features) if features else 0.0
    features.sort(key=lambda r: (not r.drifted, -_past_threshold(r)))
    return DriftReport(
        n_reference=reference.n_rows,
        n_current=len(current),
        features=features,
        outputs=output_results,
        findings=findings,
        drift_share=float(share),
        drift_share_unweighted=float(unweighted),
        drift_score=float(score),
        dataset_drift=bool(features) and score >= settings.drift_share,
        prediction_drift=any(r.drifted for r in output_results),
        weighting=weighting,
        settings=settings.model_dump(mode="json"),
        seconds=time.perf_counter() - started,
    )


def _schema_findings(
    current: pd.DataFrame, reference: ReferenceProfile, expected_extra: Sequence[str]
) -> list[ColumnChange]:
    """Model inputs missing from the batch, and columns the model does not know."""
    findings: list[ColumnChange] = []
    present = {str(c) for c in current.columns}
    for profile in reference.features:
        if profile.name not in present:
            findings.append(
                ColumnChange(
                    "missing_column",
                    profile.name,
                    "error",
                    f"column {profile.name!r} is missing from the current data; the model "
                    "needs it (restore it, or retrain without it)",
                )
            )
    known = {*reference.names, *expected_extra}
    for name in sorted(present - known):
        findings.append(
            ColumnChange("new_column", name, "info", f"column {name!r} is not a model input")
        )
    return findings


def _importance(
    reference: ReferenceProfile, settings: MonitoringSection
) -> tuple[dict[str, float], str]:
    """Each tested feature's weight in the verdict, and how it was weighted."""
    if settings.weight_by_importance and reference.importance_method != "equal weights":
        return dict(reference.importance), f"by importance ({reference.importance_method})"
    tested = [p.name for p in reference.features if p.kind != "untested"]
    importance = {name: 1.0 / len(tested) for name in tested} if tested else {}
    return importance, "equal weights"


def _mark_retyped(features: list[FeatureDrift], findings: list[ColumnChange]) -> None:
    """A column that changed type has drifted as far as a column can."""
    for finding in findings:
        if finding.kind == "retyped":
            for result in features:
                if result.name == finding.column:
                    result.drifted = True
                    result.severity = float("inf")


def _past_threshold(result: FeatureDrift) -> float:
    """How far past its threshold a column is, comparable across tests."""
    if result.p_adjusted is not None:
        return -np.log10(max(result.p_adjusted, 1e-300))
    return result.statistic / result.threshold if result.threshold else 0.0
