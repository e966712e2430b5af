"""The tests behind an A/B report: closed-form intervals and tests for
accuracy, mean absolute error and ROC-AUC, and the records each would need."""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "delong",
    "mcnemar",
    "mean_ci",
    "rows_needed",
    "two_proportions",
    "welch",
    "wilson",
    "z_two_sided",
]


def _z(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))


def z_two_sided(alpha: float) -> float:
    """The normal quantile that leaves ``alpha / 2`` above it (exact even for
    a tiny ``alpha``, where ``1 - alpha / 2`` rounds to 1)."""
    from scipy.stats import norm

    return float(norm.isf(alpha / 2))


def wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (centre - half, centre + half)


def mean_ci(values: np.ndarray, alpha: float) -> tuple[float, float]:
    from scipy.stats import t

    n = len(values)
    if n < 2:
        return (math.nan, math.nan)
    half = float(t.ppf(1 - alpha / 2, n - 1)) * float(values.std(ddof=1)) / math.sqrt(n)
    mean = float(values.mean())
    return (mean - half, mean + half)


def two_proportions(
    a: np.ndarray, b: np.ndarray, alpha: float, power: float
) -> tuple[float, float, float, float, float]:
    """Difference b - a of success rates, its CI, p-value and rows per arm needed."""
    from scipy.stats import norm

    n1, n2 = len(a), len(b)
    p1, p2 = float(a.mean()), float(b.mean())
    diff = p2 - p1
    # The p-value and the interval rest on the same standard error, so the
    # verdict and the interval never disagree.
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    p_value = float(2 * norm.sf(abs(diff) / se)) if se > 0 else (1.0 if diff == 0 else 0.0)
    z = z_two_sided(alpha)
    needed = math.inf
    if diff != 0:
        mean = (p1 + p2) / 2
        needed = (
            z * math.sqrt(2 * mean * (1 - mean))
            + _z(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
        ) ** 2 / diff**2
    return diff, diff - z * se, diff + z * se, p_value, needed


def mcnemar(
    a: np.ndarray, b: np.ndarray, alpha: float, power: float
) -> tuple[float, float, float, float, float]:
    """Paired success indicators: exact McNemar test on the discordant pairs."""
    from scipy.stats import binomtest

    n = len(a)
    only_a = int((a & ~b).sum())
    only_b = int((b & ~a).sum())
    diff = (only_b - only_a) / n
    discordant = only_a + only_b
    p_value = float(binomtest(only_b, discordant, 0.5).pvalue) if discordant else 1.0
    share = discordant / n
    z = z_two_sided(alpha)
    se = math.sqrt(max(share - diff * diff, 0.0) / n)
    needed = math.inf
    if diff != 0:
        needed = (z * math.sqrt(share) + _z(power) * math.sqrt(max(share - diff**2, 0.0))) ** 2 / (
            diff**2
        )
    return diff, diff - z * se, diff + z * se, p_value, needed


def welch(
    a: np.ndarray, b: np.ndarray, alpha: float, power: float, paired: bool
) -> tuple[float, float, float, float, float]:
    from scipy.stats import t, ttest_ind, ttest_rel

    z = z_two_sided(alpha)
    if paired:
        d = b - a
        diff = float(d.mean())
        sd = float(d.std(ddof=1)) if len(d) > 1 else math.nan
        p_value = float(ttest_rel(b, a).pvalue) if len(d) > 1 and sd > 0 else 1.0
        half = (
            float(t.ppf(1 - alpha / 2, len(d) - 1)) * sd / math.sqrt(len(d))
            if len(d) > 1
            else math.nan
        )
        needed = (z + _z(power)) ** 2 * sd**2 / diff**2 if diff else math.inf
        return diff, diff - half, diff + half, p_value, needed
    diff = float(b.mean() - a.mean())
    va, vb = float(a.var(ddof=1)), float(b.var(ddof=1))
    needed = (z + _z(power)) ** 2 * (va + vb) / diff**2 if diff else math.inf
    if va + vb == 0:
        return diff, diff, diff, 1.0 if diff == 0 else 0.0, needed
    # Welch's t on its own degrees of freedom, for the p-value and the interval alike.
    welch = ttest_ind(b, a, equal_var=False)
    interval = welch.confidence_interval(1 - alpha)
    return diff, float(interval.low), float(interval.high), float(welch.pvalue), needed


def delong(
    a: np.ndarray, b: np.ndarray, positive_a: np.ndarray, positive_b: np.ndarray, paired: bool
) -> tuple[float, float, float]:
    """ROC-AUC of b minus that of a, its standard error (DeLong) and the
    two-sided p-value. ``a`` and ``b`` are the positive-class scores."""
    from scipy.stats import norm, rankdata

    def components(
        scores: np.ndarray, positive: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        pos, neg = scores[positive], scores[~positive]
        m, n = len(pos), len(neg)
        ranks = rankdata(np.concatenate([pos, neg]))
        v10 = (ranks[:m] - rankdata(pos)) / n  # per positive: share of negatives below
        v01 = 1.0 - (ranks[m:] - rankdata(neg)) / m  # per negative: share of positives above
        return float(v10.mean()), v10, v01

    auc_a, v10_a, v01_a = components(a, positive_a)
    auc_b, v10_b, v01_b = components(b, positive_b)
    if paired:
        variance = float(np.var(v10_b - v10_a, ddof=1) / len(v10_a)) + float(
            np.var(v01_b - v01_a, ddof=1) / len(v01_a)
        )
    else:
        variance = sum(float(np.var(v, ddof=1) / len(v)) for v in (v10_a, v01_a, v10_b, v01_b))
    diff = auc_b - auc_a
    se = math.sqrt(max(variance, 0.0))
    p_value = float(2 * norm.sf(abs(diff) / se)) if se > 0 else (1.0 if diff == 0 else 0.0)
    return diff, se, p_value


def rows_needed(se: float, n: int, diff: float, alpha: float, power: float) -> float:
    """Records per arm to detect ``diff`` when ``n`` records give ``se``."""
    if not diff or not math.isfinite(se) or not math.isfinite(diff):
        return math.inf
    return n * ((z_two_sided(alpha) + _z(power)) * se / diff) ** 2
