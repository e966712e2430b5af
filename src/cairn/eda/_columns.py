"""Statistics of one column over every row: kind, top values, numbers, text
and dates, alerts; duplicate rows and missingness across columns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cairn.data.quality import (
    HIGH_CARDINALITY_LEVELS,
    HIGH_CARDINALITY_SHARE,
    NEAR_CONSTANT_SHARE,
)
from cairn.data.repair import Factorized
from cairn.data.schema import Role
from cairn.eda import _stats
from cairn.eda._stats import Histogram
from cairn.eda._types import (
    IMBALANCE_SHARE,
    MAX_PAIRWISE_COLUMNS,
    MISSING_WARN_SHARE,
    OUTLIER_SHARE,
    PILE_UP_NEIGHBOURS,
    PILE_UP_RATIO,
    PILE_UP_SHARE,
    SKEW_LIMIT,
    TOP_VALUES,
    ZEROS_SHARE,
    Alert,
    ColumnProfile,
    Missingness,
)


def display(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, float | np.floating):
        number = float(value)
        if number.is_integer() and abs(number) < 1e15:
            return str(int(number))
        return f"{number:.6g}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def top_values(fact: Factorized, limit: int = TOP_VALUES) -> tuple[list[tuple[str, int]], int]:
    counts = fact.counts
    if len(counts) == 0:
        return [], 0
    if len(counts) > limit:
        index = np.argpartition(-counts, limit - 1)[:limit]
        index = index[np.lexsort((index, -counts[index]))]
    else:
        index = np.lexsort((np.arange(len(counts)), -counts))
    top = [(display(fact.uniques[i]), int(counts[i])) for i in index]
    return top, int(counts.sum() - sum(c for _, c in top))


def kind_for(role: str, series: pd.Series) -> str:
    numeric = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )
    if role == Role.NUMERIC:
        return "numeric"
    if role in (Role.CATEGORICAL, Role.BOOLEAN):
        return "categorical"
    if role == Role.TEXT:
        return "text"
    if role == Role.DATETIME:
        return "datetime"
    if role == Role.ID:
        return "id"
    return "numeric" if numeric else "categorical"


def _as_float(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64").to_numpy()
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _as_datetime(series: pd.Series, fmt: str | None) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pd.to_datetime(series, format=fmt or "mixed", errors="coerce")
        except (ValueError, TypeError, OverflowError):
            return pd.to_datetime(series, format=fmt or "mixed", errors="coerce", utc=True)


def _text_lengths(
    fact: Factorized,
) -> tuple[dict[str, float], Histogram, dict[str, float], int]:
    """Characters and words per value (summaries weighted by row counts),
    the histogram of characters, and the values without a word."""
    texts = [str(v) for v in fact.uniques]
    chars = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    words = np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=len(texts))
    return (
        _stats.weighted_summary(chars, fact.counts),
        _stats.weighted_histogram(chars, fact.counts),
        _stats.weighted_summary(words, fact.counts),
        int(fact.counts[words == 0].sum()),
    )


def pile_up_alerts(column: ColumnProfile, fact: Factorized, *, is_target: bool) -> list[Alert]:
    """Alerts for a numeric column whose maximum (capped) or minimum
    (floored) holds far more rows than the values next to it, like house
    prices recorded as "500,001 or more". Zeros of a feature are left to the
    "zeros" alert; a target gets a warning (a model learns the cap)."""
    uniques = fact.uniques
    if column.kind != "numeric" or uniques.dtype.kind not in "iuf" or column.count == 0:
        return []
    k = PILE_UP_NEIGHBOURS
    if len(uniques) < 2 * (k + 1):
        return []
    counts = np.asarray(fact.counts)
    alerts = []
    for side, at in (("maximum", int(np.argmax(uniques))), ("minimum", int(np.argmin(uniques)))):
        extreme, pile = float(uniques[at]), int(counts[at])
        share = pile / column.count
        # Most columns stop here: their extreme value holds few rows.
        if share < PILE_UP_SHARE or not np.isfinite(extreme) or (extreme == 0 and not is_target):
            continue
        # The k distinct values next to it, found in linear time.
        values = np.asarray(uniques, dtype=float)
        if side == "maximum":
            near = np.argpartition(values, len(values) - k - 1)[-k - 1 :]
        else:
            near = np.argpartition(values, k)[: k + 1]
        inward = counts[near[near != at]]
        if pile < PILE_UP_RATIO * max(int(inward.max()), 1):
            continue
        word = "capped" if side == "maximum" else "floored"
        shown = f"{extreme:,.0f}" if abs(extreme) >= 10_000 else display(extreme)
        message = (
            f"looks {word}: {pile:,} values ({share:.1%}) sit at the {side} "
            f"{shown}, at least {PILE_UP_RATIO:g}× more than at any of the "
            f"{k} values next to it"
        )
        if is_target:
            message += (
                f"; the true values beyond it are unknown, so a model cannot predict past {shown}"
            )
        alerts.append(Alert(word, "warning" if is_target else "info", column.name, message))
    return alerts


def column_alerts(column: ColumnProfile, n_rows: int) -> list[Alert]:
    alerts: list[Alert] = []
    name = column.name

    def add(kind: str, severity: str, message: str) -> None:
        alerts.append(Alert(kind, severity, name, message))

    if column.count == 0:
        add("empty", "warning", f"{name!r} has no values")
        return alerts
    if column.missing:
        share = column.missing_share
        add(
            "missing",
            "warning" if share >= MISSING_WARN_SHARE else "info",
            f"{column.missing:,} missing value(s) ({share:.1%})"
            # the model gives a missing category its own code, it imputes nothing
            + ("; missing kept as its own category" if column.role == "categorical" else ""),
        )
    if column.n_unique == 1:
        add("constant", "warning", f"a single value ({column.top[0][0]!r})")
        return alerts
    if column.top and column.top[0][1] / n_rows >= NEAR_CONSTANT_SHARE:
        add(
            "near_constant",
            "warning",
            f"{column.top[0][1] / n_rows:.1%} of rows are {column.top[0][0]!r}",
        )
    if column.kind in ("categorical", "text") and (
        column.n_unique > HIGH_CARDINALITY_LEVELS
        and column.n_unique > HIGH_CARDINALITY_SHARE * column.count
    ):
        add("high_cardinality", "info", f"{column.n_unique:,} distinct values")
    if column.kind != "id" and column.n_unique == column.count and column.count > 20:
        add("unique", "info", "every value is distinct")
    if column.kind == "categorical" and column.top and column.n_unique > 2:
        top_share = column.top[0][1] / column.count
        if IMBALANCE_SHARE <= top_share < NEAR_CONSTANT_SHARE:
            add("imbalanced", "info", f"{column.top[0][0]!r} holds {top_share:.1%} of values")
    stats = column.numeric
    if stats is not None and column.kind == "numeric":
        if abs(stats.skew) >= SKEW_LIMIT:
            add("skewed", "info", f"skewness {stats.skew:.2f}")
        if stats.zeros / column.count >= ZEROS_SHARE:
            add("zeros", "info", f"{stats.zeros:,} zeros ({stats.zeros / column.count:.1%})")
        if stats.outliers_iqr / column.count >= OUTLIER_SHARE:
            add(
                "outliers",
                "info",
                f"{stats.outliers_iqr:,} values ({stats.outliers_iqr / column.count:.1%}) "
                f"outside the IQR fences [{stats.iqr_low:.4g}, {stats.iqr_high:.4g}]",
            )
        if stats.infinite:
            add("infinite", "warning", f"{stats.infinite:,} infinite value(s)")
    return alerts


def count_duplicate_rows(frame: pd.DataFrame) -> int:
    if frame.shape[1] == 0 or len(frame) < 2:
        return 0
    try:
        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:  # unhashable cells (lists, dicts): compare their text
        hashes = pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()
    return int(pd.Series(hashes).duplicated().sum())


def role_over_all_rows(
    role: Role, series: pd.Series, n_unique: int, count: int
) -> tuple[Role, str] | None:
    """A role inferred on a sample, corrected where every row says otherwise
    (a column unique in the sample but not overall is no identifier)."""
    numeric = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )
    fallback = Role.NUMERIC if numeric else Role.CATEGORICAL
    if role == Role.ID and count and n_unique / count < 0.95:
        return fallback, f"{n_unique:,} distinct values over {count:,} rows (not unique per row)"
    if role == Role.CONSTANT and n_unique > 1:
        return fallback, f"{n_unique:,} distinct values over all rows"
    if role == Role.BOOLEAN and n_unique > 2:
        return Role.CATEGORICAL, f"{n_unique:,} distinct values over all rows"
    return None


def describe(
    column: ColumnProfile,
    series: pd.Series,
    fact: Factorized,
    date_format: str | None,
    numbers: dict[str, np.ndarray],
) -> None:
    kind = column.kind
    numeric_dtype = pd.api.types.is_numeric_dtype(series.dtype)
    if kind == "numeric" or (kind in ("categorical", "id") and numeric_dtype):
        values = _as_float(series)
        column.numeric = _stats.numeric_summary(values, n_unique=column.n_unique)
        if kind in ("numeric", "categorical") and column.numeric is not None:
            numbers[column.name] = values
        if kind == "numeric" and column.numeric is None:
            column.kind = "empty"
    if kind in ("text", "id", "categorical") and not numeric_dtype:
        lengths, histogram, words, empty = _text_lengths(fact)
        column.lengths, column.length_histogram = lengths, histogram
        if kind == "text":
            column.words, column.empty_texts = words, empty
    if kind == "datetime":
        dates = _as_datetime(series, date_format)
        stamps = dates.dropna()
        if stamps.empty:
            column.kind = "empty"
            return
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        ints = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64)
        lo, hi = int(ints.min()), int(ints.max())
        bins = 40 if hi > lo else 1
        counts, edges = np.histogram(ints, bins=bins, range=(lo, hi if hi > lo else lo + 1))
        as_iso = [pd.Timestamp(int(e)).isoformat() for e in edges]
        column.datetime = {
            "min": pd.Timestamp(lo).isoformat(),
            "max": pd.Timestamp(hi).isoformat(),
            "span_days": (hi - lo) / 86_400e9,
            "unreadable": int(series.notna().sum() - len(stamps)),
            "edges": as_iso,
            "counts": counts.tolist(),
        }
        numbers[column.name] = np.where(
            dates.notna().to_numpy(),
            dates.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(float),
            np.nan,
        )


def measure_missingness(
    columns: list[ColumnProfile], facts: dict[str, Factorized], n_rows: int
) -> Missingness:
    by_column = {c.name: c.missing_share for c in columns}
    with_missing = [c.name for c in columns if 0 < c.missing < n_rows]
    if len(with_missing) > MAX_PAIRWISE_COLUMNS:
        # Pairwise again: keep the columns that miss the most values.
        most = sorted(with_missing, key=lambda name: -by_column[name])[:MAX_PAIRWISE_COLUMNS]
        with_missing = [name for name in with_missing if name in set(most)]
    row_counts = np.zeros(n_rows, dtype=np.int32)
    for column in columns:
        if column.missing:
            row_counts += facts[column.name].codes < 0
    rows_by_count = np.bincount(row_counts, minlength=1).tolist()
    nullity = None
    if len(with_missing) >= 2:
        indicators = np.column_stack(
            [(facts[name].codes < 0).astype(np.float32) for name in with_missing]
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            matrix = np.corrcoef(indicators, rowvar=False)
        nullity = pd.DataFrame(matrix, index=with_missing, columns=with_missing)
    return Missingness(by_column=by_column, rows_by_count=rows_by_count, nullity=nullity)
