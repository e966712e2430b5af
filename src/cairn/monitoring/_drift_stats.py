"""The statistics behind the drift check: distances and tests between a
column's reference profile and its current values, the choice of test and
its threshold, and the multiple-testing correction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

from cairn.monitoring.profiles import CategoricalProfile, NumericProfile
from cairn.spec import MonitoringSection

_PSI_FLOOR = 1e-4  # share used for empty bins in PSI, so log(0) never occurs
_MIN_EXPECTED = 5.0  # chi-square: categories expected below this are pooled
_SHOWN_CATEGORIES = 15
P_VALUE_TESTS = ("ks", "chi2")
_KS_ASYMPTOTIC_N = 10_000  # effective sample size above which KS uses its limit law


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
class Measured:
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


def numeric_stats(profile: NumericProfile, values: np.ndarray) -> Measured:
    counts, sums, n_missing = profile.bin_values(values)
    n_cur = int(counts.sum())
    n_ref = profile.n
    if n_cur == 0 or n_ref == 0:
        return Measured({}, {}, n_cur, n_missing, [], [], [])
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
    return Measured(
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


def categorical_stats(
    profile: CategoricalProfile, counts: Mapping[str, int], n_missing: int
) -> Measured:
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
        return Measured({}, {}, n_cur, n_missing, [], [], [])
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
    return Measured(
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


def choose_test(kind: str, n_rows: int, settings: MonitoringSection) -> str:
    small = n_rows <= settings.stat_test_max_rows
    if kind == "numeric":
        if settings.numeric_test == "auto":
            return "ks" if small else "wasserstein"
        return settings.numeric_test
    if settings.categorical_test == "auto":
        return "chi2" if small else "jensenshannon"
    return settings.categorical_test


def threshold(test: str, settings: MonitoringSection) -> float:
    return {
        "wasserstein": settings.wasserstein_threshold,
        "jensenshannon": settings.jensenshannon_threshold,
        "psi": settings.psi_threshold,
    }.get(test, settings.significance)


def missing_jump_p(ref_missing: int, ref_total: int, cur_missing: int, cur_total: int) -> float:
    """One-sided two-proportion z-test that the missing rate rose."""
    if ref_total == 0 or cur_total == 0:
        return 1.0
    p0, p1 = ref_missing / ref_total, cur_missing / cur_total
    pooled = (ref_missing + cur_missing) / (ref_total + cur_total)
    se = np.sqrt(pooled * (1 - pooled) * (1 / ref_total + 1 / cur_total))
    if se == 0:
        return 0.0 if p1 > p0 else 1.0
    return float(stats.norm.sf((p1 - p0) / se))
