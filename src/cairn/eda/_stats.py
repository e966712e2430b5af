"""Vectorised statistics on whole columns: summaries, histograms, and
association measures (Pearson, Spearman, Cramér's V, correlation ratio).

Everything here runs on every row with numpy; the only loops are over
columns or pairs of columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

HIST_BINS = 40
DISCRETE_MAX_VALUES = 60  # integer columns with at most this many values: one bar per value
Z_LIMIT = 3.0
IQR_FACTOR = 1.5
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass
class Histogram:
    """Bin edges (n + 1) and row counts (n). ``discrete``: one bin per integer."""

    edges: list[float]
    counts: list[int]
    discrete: bool = False


@dataclass
class NumericSummary:
    """Statistics of the finite values of a numeric column (all rows).

    ``outliers_iqr`` counts values outside [q1 - 1.5 IQR, q3 + 1.5 IQR]
    (``iqr_low``, ``iqr_high``); ``outliers_z`` those more than 3 standard
    deviations from the mean.
    """

    count: int
    mean: float
    std: float
    min: float
    max: float
    quantiles: dict[str, float]
    skew: float
    kurtosis: float
    zeros: int
    negatives: int
    infinite: int
    sum: float
    iqr_low: float
    iqr_high: float
    outliers_iqr: int
    outliers_z: int
    histogram: Histogram
    integral: bool = False

    @property
    def median(self) -> float:
        return self.quantiles["50%"]

    @property
    def iqr(self) -> float:
        return self.quantiles["75%"] - self.quantiles["25%"]


def _q_label(q: float) -> str:
    return f"{q * 100:g}%"


def histogram(
    values: np.ndarray, *, n_unique: int | None = None, bins: int = HIST_BINS
) -> Histogram:
    """Counts over all finite ``values``: one bin per integer when the values
    are few distinct integers, else ``bins`` equal-width bins."""
    if values.size == 0:
        return Histogram([0.0, 1.0], [0])
    lo, hi = float(values.min()), float(values.max())
    integral = bool(np.all(np.mod(values, 1.0) == 0.0)) if values.size else False
    span = hi - lo
    if integral and span <= 200 and (n_unique is None or n_unique <= DISCRETE_MAX_VALUES):
        counts = np.bincount((values - lo).astype(np.int64), minlength=int(span) + 1)
        edges = np.arange(lo - 0.5, hi + 1.0, 1.0)
        return Histogram(edges.tolist(), counts.tolist(), discrete=True)
    if span == 0:
        return Histogram([lo - 0.5, lo + 0.5], [int(values.size)])
    n_bins = int(min(bins, max(5, math.ceil(math.sqrt(values.size)))))
    counts, edges = np.histogram(values, bins=n_bins, range=(lo, hi))
    return Histogram(edges.tolist(), counts.tolist())


def numeric_summary(raw: np.ndarray, *, n_unique: int | None = None) -> NumericSummary | None:
    """Summary of a float array (NaN = missing); None when nothing is finite."""
    finite_mask = np.isfinite(raw)
    infinite = int((np.isinf(raw)).sum())
    values = raw[finite_mask] if not finite_mask.all() else raw
    n = int(values.size)
    if n == 0:
        return None
    mean = float(values.mean())
    centred = values - mean
    m2 = float(np.dot(centred, centred) / n)
    std = math.sqrt(m2 * n / (n - 1)) if n > 1 else 0.0
    if m2 > 0:
        sq = centred * centred
        m3 = float(np.dot(sq, centred) / n)
        m4 = float(np.dot(sq, sq) / n)
        skew = m3 / m2**1.5
        kurtosis = m4 / m2**2 - 3.0
    else:
        skew = kurtosis = 0.0
    qs = np.quantile(values, QUANTILES)
    quantiles = {_q_label(q): float(v) for q, v in zip(QUANTILES, qs, strict=True)}
    q1, q3 = quantiles["25%"], quantiles["75%"]
    iqr = q3 - q1
    low, high = q1 - IQR_FACTOR * iqr, q3 + IQR_FACTOR * iqr
    outliers_iqr = int(np.count_nonzero((values < low) | (values > high)))
    outliers_z = int(np.count_nonzero(np.abs(centred) > Z_LIMIT * std)) if std > 0 else 0
    hist = histogram(values, n_unique=n_unique)
    return NumericSummary(
        count=n,
        mean=mean,
        std=std,
        min=float(values.min()),
        max=float(values.max()),
        quantiles=quantiles,
        skew=skew,
        kurtosis=kurtosis,
        zeros=int(np.count_nonzero(values == 0)),
        negatives=int(np.count_nonzero(values < 0)),
        infinite=infinite,
        sum=float(values.sum()),
        iqr_low=low,
        iqr_high=high,
        outliers_iqr=outliers_iqr,
        outliers_z=outliers_z,
        histogram=hist,
        integral=hist.discrete or bool(np.all(np.mod(values[:10_000], 1.0) == 0.0)),
    )


def weighted_summary(values: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Mean, min, quartiles and max of ``values`` repeated ``weights`` times
    (e.g. text lengths per distinct value and their row counts)."""
    keep = weights > 0
    values, weights = values[keep].astype(float), weights[keep].astype(float)
    if values.size == 0:
        return {}
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    cumulative = np.cumsum(weights)
    total = cumulative[-1]

    def quantile(q: float) -> float:
        return float(values[min(np.searchsorted(cumulative, q * total), len(values) - 1)])

    return {
        "mean": float(np.dot(values, weights) / total),
        "min": float(values[0]),
        "25%": quantile(0.25),
        "50%": quantile(0.5),
        "75%": quantile(0.75),
        "max": float(values[-1]),
    }


def weighted_histogram(values: np.ndarray, weights: np.ndarray) -> Histogram:
    """Histogram of ``values`` repeated ``weights`` times."""
    keep = weights > 0
    values, weights = values[keep].astype(float), weights[keep]
    if values.size == 0:
        return Histogram([0.0, 1.0], [0])
    lo, hi = float(values.min()), float(values.max())
    if np.all(np.mod(values, 1.0) == 0.0) and hi - lo <= 200:
        counts = np.bincount((values - lo).astype(np.int64), weights=weights).astype(np.int64)
        return Histogram(np.arange(lo - 0.5, hi + 1.0, 1.0).tolist(), counts.tolist(), True)
    counts, edges = np.histogram(values, bins=HIST_BINS, range=(lo, hi), weights=weights)
    return Histogram(edges.tolist(), counts.astype(np.int64).tolist())


# ----------------------------------------------------------------- associations


def pairwise_pearson(matrix: np.ndarray) -> np.ndarray:
    """Pearson correlation of the columns of ``matrix`` over the rows where
    both values are finite (pairwise-complete), NaN where undefined."""
    return pearson_with_support(matrix)[0]


def pearson_with_support(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise-complete Pearson correlation of the columns of ``matrix``,
    and for each pair the number of rows where both values are finite.

    Missing values are handled with a few matrix products over all rows
    rather than a masked copy per pair; columns are centred first so the
    sums stay accurate.
    """
    finite = np.isfinite(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        if finite.all():
            out = np.atleast_2d(np.corrcoef(matrix, rowvar=False)).astype(float)
            spread_diag = np.diag(out)
            n = np.full(out.shape, float(matrix.shape[0]))
        else:
            counts = finite.astype(float)
            x = np.where(finite, matrix, 0.0)
            x -= x.sum(axis=0) / np.maximum(counts.sum(axis=0), 1)
            x[~finite] = 0.0
            n = counts.T @ counts
            sx = x.T @ counts
            sxx = (x * x).T @ counts
            sxy = x.T @ x
            numerator = n * sxy - sx * sx.T
            spread = (n * sxx - sx**2) * (n * sxx.T - sx.T**2)
            out = np.where((spread > 0) & (n >= 3), numerator / np.sqrt(spread), np.nan)
            spread_diag = np.diag(spread)
    out = np.clip(out, -1.0, 1.0)
    # A column correlates perfectly with itself unless it is constant.
    np.fill_diagonal(out, np.where(np.isfinite(spread_diag) & (spread_diag > 0), 1.0, np.nan))
    return out, np.rint(n).astype(np.int64)


def stack_columns(columns: list[np.ndarray]) -> np.ndarray:
    """Columns side by side as one float matrix (column-major, so each
    column is written and read contiguously)."""
    out = np.empty((len(columns[0]) if columns else 0, len(columns)), order="F")
    for position, column in enumerate(columns):
        out[:, position] = column
    return out


def ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks of the finite values (ties share a rank), NaN kept."""
    return pd.Series(values).rank(method="average").to_numpy(dtype=float)


def ranks_from_codes(codes: np.ndarray, uniques: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Average ranks from a factorized numeric column: one sort of the
    distinct values instead of all rows (missing values stay NaN)."""
    order = np.argsort(np.asarray(uniques, dtype=float))  # distinct values: any sort will do
    sorted_counts = counts[order]
    ends = np.cumsum(sorted_counts, dtype=np.float64)
    average = ends - (sorted_counts - 1) / 2.0
    rank_of = np.empty(len(order), dtype=np.float64)
    rank_of[order] = average
    return np.where(codes >= 0, rank_of[np.maximum(codes, 0)], np.nan)


def cramers_v(a: np.ndarray, la: int, b: np.ndarray, lb: int) -> float:
    """Bias-corrected Cramér's V of two coded columns (codes -1 = missing)."""
    return cramers_v_with_support(a, la, b, lb)[0]


def cramers_v_with_support(a: np.ndarray, la: int, b: np.ndarray, lb: int) -> tuple[float, int]:
    """Cramér's V (see :func:`cramers_v`) and the rows where both columns
    have a value."""
    if a.min(initial=0) < 0 or b.min(initial=0) < 0:
        mask = (a >= 0) & (b >= 0)
        a, b = a[mask], b[mask]
    n = int(a.size)
    return _cramers_v(a, la, b, lb, n), n


def _cramers_v(a: np.ndarray, la: int, b: np.ndarray, lb: int, n: int) -> float:
    if la < 2 or lb < 2 or n < 2:
        return float("nan")
    table = np.bincount(a * lb + b, minlength=la * lb).reshape(la, lb)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    r, c = table.shape
    if r < 2 or c < 2:
        return 0.0
    rows = table.sum(axis=1, keepdims=True)
    cols = table.sum(axis=0, keepdims=True)
    expected = rows * cols / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = chi2 / n
    phi2c = max(0.0, phi2 - (r - 1) * (c - 1) / (n - 1))
    rc = r - (r - 1) ** 2 / (n - 1)
    cc = c - (c - 1) ** 2 / (n - 1)
    denominator = min(rc - 1, cc - 1)
    if denominator <= 0:
        return 0.0
    return float(math.sqrt(phi2c / denominator))


def correlation_ratio(values: np.ndarray, codes: np.ndarray, levels: int) -> float:
    """η: the share of a number's spread explained by a category (0..1)."""
    return float(eta_matrix(values[:, None], [(codes, levels)])[0, 0])


def correlation_ratio_with_support(
    values: np.ndarray, codes: np.ndarray, levels: int
) -> tuple[float, int]:
    """η (see :func:`correlation_ratio`) and the rows where both are present."""
    eta, support = eta_with_support(values[:, None], [(codes, levels)])
    return float(eta[0, 0]), int(support[0, 0])


def eta_matrix(matrix: np.ndarray, categories: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """η of every column of ``matrix`` against every coded category (see
    :func:`eta_with_support`)."""
    return eta_with_support(matrix, categories)[0]


def eta_with_support(
    matrix: np.ndarray, categories: list[tuple[np.ndarray, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """η of every column of ``matrix`` (numbers, NaN = missing) against every
    coded category (codes -1 = missing), each pair over the rows where both
    are present, and the number of those rows. Both categories × columns.

    All group sums come from one sparse product: the categories' indicator
    columns side by side, times [x, x², present] for every number.
    """
    from scipy import sparse

    n, k = matrix.shape
    if not categories or n == 0:
        return np.full((len(categories), k), np.nan), np.zeros((len(categories), k), np.int64)
    finite = np.isfinite(matrix)
    means = np.array(
        [matrix[finite[:, j], j].mean() if finite[:, j].any() else 0.0 for j in range(k)]
    )
    x = np.where(finite, matrix - means, 0.0)
    # One extra level per category collects its missing rows, then is ignored.
    widths = [levels + 1 for _, levels in categories]
    offsets = np.concatenate([[0], np.cumsum(widths)[:-1]])
    index_type = np.int32 if sum(widths) < 2**31 and n * len(categories) < 2**31 else np.int64
    indices = np.empty((n, len(categories)), dtype=index_type)
    for position, ((codes, levels), offset) in enumerate(zip(categories, offsets, strict=True)):
        indices[:, position] = np.where(codes >= 0, codes, levels) + offset
    indicator = sparse.csr_matrix(
        (
            np.ones(indices.size),
            indices.ravel(),
            np.arange(0, indices.size + 1, len(categories), dtype=index_type),
        ),
        shape=(n, int(sum(widths))),
    )
    by_group = indicator.T  # CSC, no copy: products read it column by column
    all_sums = np.asarray(by_group @ x)
    all_squares = np.asarray(by_group @ (x * x))
    all_counts = np.asarray(by_group @ finite.astype(float))
    out = np.full((len(categories), k), np.nan)
    support = np.zeros((len(categories), k), dtype=np.int64)
    for position, ((_, levels), offset) in enumerate(zip(categories, offsets, strict=True)):
        rows = slice(offset, offset + levels)
        sums, squares, counts = all_sums[rows], all_squares[rows], all_counts[rows]
        total_sum, total_n = sums.sum(axis=0), counts.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            correction = np.where(total_n > 0, total_sum**2 / np.maximum(total_n, 1), 0.0)
            between = (sums**2 / np.where(counts > 0, counts, 1)).sum(axis=0) - correction
            total = squares.sum(axis=0) - correction
            eta = np.sqrt(np.clip(between / total, 0.0, 1.0))
        usable = (total > 1e-12 * squares.sum(axis=0)) & (total_n >= 3)
        out[position] = np.where(usable, eta, np.nan)
        support[position] = np.rint(total_n).astype(np.int64)
    return out, support


def capped_codes(codes: np.ndarray, counts: np.ndarray, limit: int) -> tuple[np.ndarray, int]:
    """Codes with the rarest levels beyond ``limit - 1`` merged into one
    "other" level; returns the new codes and the number of levels."""
    levels = len(counts)
    if levels <= limit:
        return codes, levels
    keep = np.argsort(-counts, kind="stable")[: limit - 1]
    remap = np.full(levels, limit - 1, dtype=np.int32)
    remap[keep] = np.arange(limit - 1, dtype=np.int32)
    out = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1).astype(np.int32)
    return out, limit


@dataclass
class GroupStats:
    """Box statistics of a number per group (all rows of each group)."""

    labels: list[str]
    count: list[int]
    mean: list[float]
    q1: list[float]
    median: list[float]
    q3: list[float]
    low: list[float]  # 5th percentile
    high: list[float]  # 95th percentile
    extra: dict[str, Any] = field(default_factory=dict)


def group_quantiles(
    y_sorted: np.ndarray, groups_sorted: np.ndarray, n_groups: int
) -> dict[str, np.ndarray]:
    """Per-group mean and quantiles of ``y``, given ``y`` sorted ascending and
    the group of each of its rows (-1 = none). One stable sort on the small
    group codes keeps ``y`` sorted within each group."""
    mask = groups_sorted >= 0
    y, g = y_sorted[mask], groups_sorted[mask]
    order = np.argsort(g, kind="stable")
    y, g = y[order], g[order]
    counts = np.bincount(g, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out: dict[str, np.ndarray] = {"count": counts}
    sums = np.bincount(g, weights=y, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean"] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    for name, q in (("low", 0.05), ("q1", 0.25), ("median", 0.5), ("q3", 0.75), ("high", 0.95)):
        position = starts + np.floor(q * np.maximum(counts - 1, 0)).astype(np.int64)
        values = np.where(counts > 0, y[np.minimum(position, max(len(y) - 1, 0))], np.nan)
        out[name] = values if len(y) else np.full(n_groups, np.nan)
    return out
