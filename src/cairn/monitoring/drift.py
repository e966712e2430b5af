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
from scipy import special, stats

from cairn.data.schema import normalize_missing
from cairn.exceptions import DataError
from cairn.monitoring.reference import (
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    ReferenceProfile,
    UntestedProfile,
    category_counts,
    numeric_values,
)
from cairn.spec import MonitoringSection

__all__ = [
    "SEVERITY_CAP",
    "DriftReport",
    "FeatureDrift",
    "Finding",
    "correct_p_values",
    "drift",
]

#: The most a drifted feature's importance is multiplied by in the verdict.
SEVERITY_CAP = 4.0

Severity = Literal["info", "warning", "error"]
_PSI_FLOOR = 1e-4  # share used for empty bins in PSI, so log(0) never occurs
_MIN_EXPECTED = 5.0  # chi-square: categories expected below this are pooled
_SHOWN_CATEGORIES = 15
_P_VALUE_TESTS = ("ks", "chi2")
_KS_ASYMPTOTIC_N = 10_000  # effective sample size above which KS uses its limit law


@dataclass(frozen=True)
class Finding:
    """Something about one column reported on its own (not a distribution test).

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
        return _json_ready({**asdict(self), "weight": self.weight})


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
    findings: list[Finding]
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
    def schema_changes(self) -> list[Finding]:
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
        return _json_ready(
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


# ---------------------------------------------------------------- statistics


def correct_p_values(p_values: Sequence[float], method: str) -> np.ndarray:
    """Adjusted p-values: Benjamini–Hochberg (``fdr_bh``), ``holm``,
    ``bonferroni`` or ``none``."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0 or method == "none":
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    if method == "fdr_bh":
        return np.asarray(stats.false_discovery_control(p, method="bh"), dtype=float)
    if method == "holm":
        order = np.argsort(p)
        scaled = np.maximum.accumulate(p[order] * (m - np.arange(m)))
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(scaled, 1.0)
        return adjusted
    raise ValueError(f"unknown correction {method!r}; use fdr_bh, holm, bonferroni or none")


def _psi(p: np.ndarray, q: np.ndarray) -> float:
    p = np.maximum(p, _PSI_FLOOR)
    q = np.maximum(q, _PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def _jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon distance (square root of the divergence, base 2)."""
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log2(p / m), 0.0)
        right = np.where(q > 0, q * np.log2(q / m), 0.0)
    return float(np.sqrt(max(0.0, 0.5 * left.sum() + 0.5 * right.sum())))


def _chi_square(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample chi-square on counts; columns expected below five rows are
    pooled so the approximation holds."""
    n_ref, n_cur = reference.sum(), current.sum()
    total = reference + current
    keep = total > 0
    reference, current, total = reference[keep], current[keep], total[keep]
    smaller = min(n_ref, n_cur) / (n_ref + n_cur)
    small = total * smaller < _MIN_EXPECTED
    if small.any():
        pooled_ref, pooled_cur = reference[small].sum(), current[small].sum()
        reference, current = reference[~small], current[~small]
        if (pooled_ref + pooled_cur) * smaller >= _MIN_EXPECTED or len(reference) == 0:
            reference = np.append(reference, pooled_ref)
            current = np.append(current, pooled_cur)
        else:
            # Still too small on its own: fold it into the smallest column.
            smallest = int(np.argmin(reference + current))
            reference[smallest] += pooled_ref
            current[smallest] += pooled_cur
        total = reference + current
    if len(total) < 2 or n_ref == 0 or n_cur == 0:
        return 0.0, 1.0
    expected_ref = total * n_ref / (n_ref + n_cur)
    expected_cur = total * n_cur / (n_ref + n_cur)
    statistic = float(
        np.sum((reference - expected_ref) ** 2 / expected_ref)
        + np.sum((current - expected_cur) ** 2 / expected_cur)
    )
    return statistic, float(stats.chi2.sf(statistic, len(total) - 1))


@dataclass
class _Measured:
    """All statistics of one column, before the verdict."""

    scores: dict[str, float]
    p_values: dict[str, float]
    n_current: int
    n_missing: int
    bins: list[str]
    reference_share: list[float]
    current_share: list[float]
    current_mean: float | None = None
    out_of_range: float = 0.0
    new_categories: dict[str, int] = field(default_factory=dict)
    new_share: float = 0.0

    @property
    def missing_current(self) -> float:
        total = self.n_current + self.n_missing
        return self.n_missing / total if total else 0.0


def _numeric_stats(profile: NumericProfile, values: np.ndarray) -> _Measured:
    counts, sums, n_missing = profile.bin_values(values)
    n_cur = int(counts.sum())
    n_ref = profile.n
    if n_cur == 0 or n_ref == 0:
        return _Measured({}, {}, n_cur, n_missing, [], [], [])
    ref = profile.counts.astype(float)
    cur = counts.astype(float)
    cuts = profile.cuts
    # CDFs at each cut point (bins 0..len(cuts)-1 lie at or below it).
    cdf_ref = np.cumsum(ref)[:-1] / n_ref
    cdf_cur = np.cumsum(cur)[:-1] / n_cur
    ks = float(np.max(np.abs(cdf_ref - cdf_cur)))
    effective = n_ref * n_cur / (n_ref + n_cur)
    if effective > _KS_ASYMPTOTIC_N:
        ks_p = float(special.kolmogorov(np.sqrt(effective) * ks))  # exact one is slow here
    else:
        ks_p = float(stats.kstwo.sf(ks, max(1, round(effective))))
    # Wasserstein-1 = integral of |F_ref - F_cur|: per in-range bin (a, b] the
    # exact integral of each CDF is F(a)(b - a) + (count * b - sum) / n.
    left, right = cuts[:-1], cuts[1:]
    width = right - left
    inner = slice(1, len(cuts))
    area_ref = cdf_ref[:-1] * width + (ref[inner] * right - profile.sums[inner]) / n_ref
    area_cur = cdf_cur[:-1] * width + (cur[inner] * right - sums[inner]) / n_cur
    below = (cur[0] * cuts[0] - sums[0]) / n_cur
    above = (sums[-1] - cur[-1] * cuts[-1]) / n_cur
    wasserstein = float(np.abs(area_ref - area_cur).sum() + max(below, 0.0) + max(above, 0.0))
    if profile.std > 0:
        normed = wasserstein / profile.std
    else:
        normed = 0.0 if wasserstein == 0 else float("inf")
    groups = profile.groups
    ref_groups = np.bincount(groups, weights=ref) / n_ref
    cur_groups = np.bincount(groups, weights=cur) / n_cur
    chi2_stat, chi2_p = _chi_square(
        np.bincount(groups, weights=ref), np.bincount(groups, weights=cur)
    )
    labels, ref_share, cur_share = _numeric_display(profile, ref_groups, cur_groups, cur)
    return _Measured(
        scores={
            "ks": ks,
            "wasserstein": normed,
            "wasserstein_raw": wasserstein,
            "psi": _psi(ref_groups, cur_groups),
            "jensenshannon": _jensen_shannon(ref_groups, cur_groups),
            "chi2": chi2_stat,
        },
        p_values={"ks": ks_p, "chi2": chi2_p},
        n_current=n_cur,
        n_missing=n_missing,
        bins=labels,
        reference_share=ref_share,
        current_share=cur_share,
        current_mean=float(sums.sum() / n_cur),
        out_of_range=float((cur[0] + cur[-1]) / n_cur),
    )


def _numeric_display(
    profile: NumericProfile, ref_groups: np.ndarray, cur_groups: np.ndarray, cur: np.ndarray
) -> tuple[list[str], list[float], list[float]]:
    """Coarse groups labelled by their value range, with the out-of-range
    shares split off when the current batch has any."""
    groups = profile.groups
    cuts = profile.cuts
    n_cur = cur.sum()
    labels: list[str] = []
    ref_share = ref_groups.tolist()
    cur_share = cur_groups.tolist()
    previous: float | None = None
    for g in range(len(ref_groups)):
        members = np.flatnonzero(groups == g)
        inner = members[(members >= 1) & (members < len(cuts))]
        high = float(cuts[inner[-1]]) if len(inner) else profile.maximum
        low = profile.minimum if previous is None else previous
        labels.append(f"{_short(low)}–{_short(high)}" if high != low else _short(high))
        previous = high
    below, above = float(cur[0] / n_cur), float(cur[-1] / n_cur)
    if below > 0:
        labels.insert(0, f"< {_short(profile.minimum)}")
        ref_share.insert(0, 0.0)
        cur_share.insert(0, below)
        cur_share[1] -= below
    if above > 0:
        labels.append(f"> {_short(profile.maximum)}")
        ref_share.append(0.0)
        cur_share.append(above)
        cur_share[-2] -= above
    return labels, ref_share, cur_share


def _short(value: float) -> str:
    return f"{value:.4g}"


def _categorical_stats(
    profile: CategoricalProfile, counts: Mapping[str, int], n_missing: int
) -> _Measured:
    index = {label: i for i, label in enumerate(profile.categories)}
    cur = np.zeros(len(profile.categories) + 2)  # + pooled "other", + new
    new: dict[str, int] = {}
    for label, count in counts.items():
        position = index.get(label)
        if position is not None:
            cur[position] += count
        elif profile.complete:
            cur[-1] += count
            new[label] = count
        else:
            cur[-2] += count
    ref = np.concatenate([profile.counts.astype(float), [profile.other, 0.0]])
    n_cur = int(cur.sum())
    n_ref = profile.n
    if n_cur == 0 or n_ref == 0:
        return _Measured({}, {}, n_cur, n_missing, [], [], [])
    p, q = ref / n_ref, cur / n_cur
    chi2_stat, chi2_p = _chi_square(ref, cur)
    names = [*profile.categories, "(other)", "(new)"]
    order = np.argsort(-np.maximum(p, q), kind="stable")
    shown = [int(i) for i in order if p[i] > 0 or q[i] > 0]
    top, rest = shown[:_SHOWN_CATEGORIES], shown[_SHOWN_CATEGORIES:]
    bins = [names[i] for i in top]
    ref_share = [float(p[i]) for i in top]
    cur_share = [float(q[i]) for i in top]
    if rest:
        bins.append(f"{len(rest)} more")
        ref_share.append(float(p[rest].sum()))
        cur_share.append(float(q[rest].sum()))
    return _Measured(
        scores={
            "chi2": chi2_stat,
            "jensenshannon": _jensen_shannon(p, q),
            "psi": _psi(p, q),
        },
        p_values={"chi2": chi2_p},
        n_current=n_cur,
        n_missing=n_missing,
        bins=bins,
        reference_share=ref_share,
        current_share=cur_share,
        new_categories=dict(sorted(new.items(), key=lambda item: -item[1])),
        new_share=float(cur[-1] / n_cur),
    )


def _choose_test(kind: str, n_rows: int, settings: MonitoringSection) -> str:
    small = n_rows <= settings.stat_test_max_rows
    if kind == "numeric":
        if settings.numeric_test == "auto":
            return "ks" if small else "wasserstein"
        return settings.numeric_test
    if settings.categorical_test == "auto":
        return "chi2" if small else "jensenshannon"
    return settings.categorical_test


def _threshold(test: str, settings: MonitoringSection) -> float:
    return {
        "wasserstein": settings.wasserstein_threshold,
        "jensenshannon": settings.jensenshannon_threshold,
        "psi": settings.psi_threshold,
    }.get(test, settings.significance)


def _missing_jump_p(ref_missing: int, ref_total: int, cur_missing: int, cur_total: int) -> float:
    """One-sided two-proportion z-test that the missing rate rose."""
    if ref_total == 0 or cur_total == 0:
        return 1.0
    p0, p1 = ref_missing / ref_total, cur_missing / cur_total
    pooled = (ref_missing + cur_missing) / (ref_total + cur_total)
    se = np.sqrt(pooled * (1 - pooled) * (1 / ref_total + 1 / cur_total))
    if se == 0:
        return 0.0 if p1 > p0 else 1.0
    return float(stats.norm.sf((p1 - p0) / se))


# ---------------------------------------------------------------- the check


def _test_columns(
    profiles: Sequence[ColumnProfile],
    frame: pd.DataFrame,
    *,
    n_rows: int,
    settings: MonitoringSection,
    importance: Mapping[str, float],
    findings: list[Finding],
) -> list[FeatureDrift]:
    results: list[FeatureDrift] = []
    for profile in profiles:
        if profile.name not in frame.columns:
            continue
        series = frame[profile.name]
        if isinstance(profile, NumericProfile):
            values, unreadable = numeric_values(series)
            _unreadable_finding(profile.name, unreadable, len(series), findings)
            measured = _numeric_stats(profile, values)
            if measured.out_of_range > settings.out_of_range_share and measured.n_current:
                findings.append(
                    Finding(
                        "out_of_range",
                        profile.name,
                        "warning",
                        f"{measured.out_of_range:.1%} of the values lie outside the training "
                        f"range [{profile.minimum:.6g}, {profile.maximum:.6g}]",
                        measured.out_of_range,
                    )
                )
        elif isinstance(profile, CategoricalProfile):
            counts, n_missing = category_counts(series)
            measured = _categorical_stats(profile, counts, n_missing)
            if measured.new_categories:
                severity: Severity = (
                    "warning" if measured.new_share > settings.new_category_share else "info"
                )
                shown = ", ".join(repr(k) for k in list(measured.new_categories)[:5])
                more = len(measured.new_categories) - 5
                findings.append(
                    Finding(
                        "new_categories",
                        profile.name,
                        severity,
                        f"{len(measured.new_categories)} categor"
                        f"{'y' if len(measured.new_categories) == 1 else 'ies'} unseen in "
                        f"training in {measured.new_share:.1%} of the rows: {shown}"
                        + (f" and {more} more" if more > 0 else ""),
                        measured.new_share,
                    )
                )
        else:
            missing = int(normalize_missing(series).isna().sum())
            measured = _Measured({}, {}, len(series) - missing, missing, [], [], [])
        _missing_finding(profile, measured, settings, findings)
        if isinstance(profile, UntestedProfile) or profile.n == 0:
            continue
        kind = "numeric" if isinstance(profile, NumericProfile) else "categorical"
        test = _choose_test(kind, n_rows, settings)
        if measured.scores:
            statistic = float(measured.scores[test])
            p_value = measured.p_values.get(test) if test in _P_VALUE_TESTS else None
        else:
            # No usable current value (all missing or unreadable): as far from
            # the reference as a column can be.
            statistic = float("inf")
            p_value = 0.0 if test in _P_VALUE_TESTS else None
        results.append(
            FeatureDrift(
                name=profile.name,
                kind=kind,
                test=test,
                statistic=statistic,
                threshold=_threshold(test, settings),
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
        )
    _decide(results, settings)
    return results


def _decide(results: list[FeatureDrift], settings: MonitoringSection) -> None:
    tested = [r for r in results if r.p_value is not None and r.test in _P_VALUE_TESTS]
    adjusted = correct_p_values([float(r.p_value or 0.0) for r in tested], settings.correction)
    for result, p in zip(tested, adjusted, strict=True):
        result.p_adjusted = float(p)
        result.drifted = bool(p < settings.significance)
    for result in results:
        if result.test not in _P_VALUE_TESTS:
            result.drifted = bool(result.statistic > result.threshold)
        distance = "wasserstein" if result.kind == "numeric" else "jensenshannon"
        if result.test in (distance, "psi"):
            result.severity = result.statistic / result.threshold
        elif distance in result.scores:
            result.severity = result.scores[distance] / _threshold(distance, settings)
        else:  # no usable current value
            result.severity = float("inf")


def _unreadable_finding(name: str, unreadable: int, total: int, findings: list[Finding]) -> None:
    if not unreadable:
        return
    share = unreadable / max(total, 1)
    if share > 0.5:
        findings.append(
            Finding(
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
            Finding(
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
    measured: _Measured,
    settings: MonitoringSection,
    findings: list[Finding],
) -> None:
    jump = measured.missing_current - profile.missing_rate
    if jump <= settings.missing_rate_increase:
        return
    p = _missing_jump_p(
        profile.n_missing,
        profile.n + profile.n_missing,
        measured.n_missing,
        measured.n_current + measured.n_missing,
    )
    if p < settings.significance:
        findings.append(
            Finding(
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
    findings: list[Finding] = []
    present = {str(c) for c in current.columns}
    for profile in reference.features:
        if profile.name not in present:
            findings.append(
                Finding(
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
            Finding("new_column", name, "info", f"column {name!r} is not a model input")
        )
    if settings.weight_by_importance and reference.importance_method != "equal weights":
        importance = dict(reference.importance)
        weighting = f"by importance ({reference.importance_method})"
    else:
        tested = [p.name for p in reference.features if p.kind != "untested"]
        importance = {name: 1.0 / len(tested) for name in tested} if tested else {}
        weighting = "equal weights"
    features = _test_columns(
        reference.features,
        current,
        n_rows=len(current),
        settings=settings,
        importance=importance,
        findings=findings,
    )
    for finding in findings:
        if finding.kind == "retyped":
            for result in features:
                if result.name == finding.column:
                    result.drifted = True
                    result.severity = float("inf")
    output_results: list[FeatureDrift] = []
    if outputs is not None and reference.outputs:
        output_findings: list[Finding] = []
        output_results = _test_columns(
            reference.outputs,
            outputs,
            n_rows=len(outputs),
            settings=settings,
            importance={},
            findings=output_findings,
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


def _past_threshold(result: FeatureDrift) -> float:
    """How far past its threshold a column is, comparable across tests."""
    if result.p_adjusted is not None:
        return -np.log10(max(result.p_adjusted, 1e-300))
    return result.statistic / result.threshold if result.threshold else 0.0


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
