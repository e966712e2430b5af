"""Exploratory statistics of a table: one pass of vectorised numpy/pandas
per column, on every row.

:func:`profile` returns a :class:`Profile`: the overview (rows, columns,
memory, duplicate rows, missing cells, inferred roles), a
:class:`ColumnProfile` per column (statistics, histogram, top values,
outliers by IQR and z-score, alerts), missingness, correlations (Pearson and
Spearman between numbers, Cramér's V between categories, a mixed matrix of
all three kinds of association), the target's relationship with every
feature, and the data-quality findings with the actions taken.

Statistics never use a sample. Column roles and the data-quality checks of
:func:`cairn.data.quality.check_and_clean` go value by value, so on tables
larger than ``quality_rows`` they run on a random sample of that many rows;
the profile records this (:attr:`Profile.quality_rows`) and the report says
so. Type repairs (text stripped, sentinels to missing, numbers stored as
text) are applied to every row.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cairn.data.quality import (
    HIGH_CARDINALITY_LEVELS,
    HIGH_CARDINALITY_SHARE,
    NEAR_CONSTANT_SHARE,
    Finding,
    QualityReport,
    check_and_clean,
)
from cairn.data.repair import Factorized, factorize, repair_frame
from cairn.data.schema import Role, Schema, infer_schema, infer_task, missing_column_message
from cairn.eda import _stats
from cairn.eda._stats import GroupStats, Histogram, NumericSummary
from cairn.exceptions import DataError
from cairn.reporting import fmt_short

#: Tables with more rows than this get their roles and quality checks from a
#: random sample of this many rows (statistics always use every row).
QUALITY_ROWS = 5_000
#: Values shown in a column's top-values table and bar chart.
TOP_VALUES = 10
#: Category levels kept for Cramér's V and target plots; rarer ones are merged.
MAX_LEVELS = 50
#: Columns covered by the pairwise views (see _pairwise_columns).
MAX_PAIRWISE_COLUMNS = 50
TARGET_PLOT_LEVELS = 15
MAX_CLASSES_SHOWN = 10
#: Alert thresholds.
SKEW_LIMIT = 2.0
ZEROS_SHARE = 0.5
OUTLIER_SHARE = 0.05
HIGH_CORRELATION = 0.9
MISSING_WARN_SHARE = 0.5
IMBALANCE_SHARE = 0.9  # one category holds at least this share of rows
_REPAIR_CHECKS = frozenset(
    {"whitespace", "missing_sentinels", "numeric_text", "inconsistent_labels"}
)


@dataclass(frozen=True)
class Alert:
    """Something in a column worth a look, computed on all rows.

    Attributes:
        kind: short name, e.g. "skewed", "missing", "high_correlation".
        severity: "info" or "warning".
        column: the column concerned (None for the table).
        message: what was seen, for people.
    """

    kind: str
    severity: str
    column: str | None
    message: str


@dataclass
class ColumnProfile:
    """Statistics of one column.

    Attributes:
        name: column name.
        role: the role cairn gave it (see :class:`cairn.data.schema.Role`),
            or "target".
        reason: why that role.
        dtype: the pandas dtype after type repair.
        kind: how it is summarised: "numeric", "categorical", "text",
            "datetime", "id" or "empty".
        count: non-missing values.
        missing: missing values.
        n_unique: distinct non-missing values.
        memory_bytes: memory used by the column.
        top: the most frequent values and their row counts.
        other_count: rows holding any other value.
        numeric: statistics of numbers (numeric columns, and numbers in
            id columns).
        lengths: text length in characters (mean, quartiles) for text-like
            columns; ``length_histogram`` its distribution.
        words: mean and quartiles of words per value (text columns).
        datetime: first and last date, span, and a histogram over time.
        alerts: what the column's statistics flag.
        findings: data-quality findings about this column.
    """

    name: str
    role: str
    reason: str
    dtype: str
    kind: str
    count: int
    missing: int
    n_unique: int
    memory_bytes: int
    top: list[tuple[str, int]] = field(default_factory=list)
    other_count: int = 0
    numeric: NumericSummary | None = None
    lengths: dict[str, float] | None = None
    length_histogram: Histogram | None = None
    words: dict[str, float] | None = None
    datetime: dict[str, Any] | None = None
    alerts: list[Alert] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.count + self.missing

    @property
    def missing_share(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    @property
    def unique_share(self) -> float:
        return self.n_unique / self.count if self.count else 0.0


@dataclass
class Correlations:
    """Association matrices (columns and index are column names).

    ``mixed`` holds, for every pair of numeric and categorical columns (the
    target included), the measure that suits the pair: |Spearman| between
    numbers, Cramér's V between categories, the correlation ratio η between
    a number and a category; all in [0, 1].
    """

    pearson: pd.DataFrame | None = None
    spearman: pd.DataFrame | None = None
    cramers_v: pd.DataFrame | None = None
    mixed: pd.DataFrame | None = None
    top_pairs: list[tuple[str, str, str, float]] = field(default_factory=list)
    columns_left_out: int = 0


@dataclass
class Missingness:
    """Where values are missing.

    Attributes:
        by_column: missing share per column (all columns).
        rows_by_count: ``rows_by_count[k]`` rows miss exactly k values.
        nullity: correlation between the missing-value indicators of columns
            that have missing values (1: always missing together); in a wide
            table only the ``MAX_PAIRWISE_COLUMNS`` columns missing most.
    """

    by_column: dict[str, float]
    rows_by_count: list[int]
    nullity: pd.DataFrame | None = None

    @property
    def rows_with_missing(self) -> int:
        return int(sum(self.rows_by_count[1:]))


@dataclass
class TargetRelation:
    """How the target varies with one feature (all rows).

    For a classification target, ``class_counts[c][g]`` rows of class
    ``classes[c]`` fall in group ``labels[g]`` (a bin of a numeric feature,
    or a category). For a regression target, ``groups`` holds the target's
    mean and quantiles per group.
    """

    feature: str
    feature_kind: str  # "numeric" or "categorical"
    measure: str
    association: float
    labels: list[str]
    class_counts: list[list[int]] | None = None
    groups: GroupStats | None = None
    edges: list[float] | None = None


@dataclass
class TargetProfile:
    """The target column and its relationship with each feature, strongest
    association first."""

    name: str
    task: str
    classes: list[tuple[str, int]] | None = None
    relations: list[TargetRelation] = field(default_factory=list)


@dataclass
class Profile:
    """Everything :func:`profile` found.

    Attributes:
        source: where the data came from (for titles).
        n_rows, n_columns: table size.
        memory_bytes: memory the table takes in pandas.
        duplicate_rows: rows that repeat an earlier row exactly.
        missing_cells: missing values in the whole table.
        columns: one profile per column, in table order.
        schema: the inferred (or given) schema; roles of every column.
        quality: data-quality findings (type repairs counted on all rows).
        quality_rows: rows the role inference and quality checks ran on
            (``n_rows`` unless sampled).
        task: "classification" or "regression" when there is a target.
        target: the target's profile, or None.
        correlations, missingness: see their classes.
        alerts: every column alert, plus table-level ones.
        timings: seconds per step.
    """

    source: str
    n_rows: int
    n_columns: int
    memory_bytes: int
    duplicate_rows: int
    missing_cells: int
    columns: list[ColumnProfile]
    schema: Schema
    quality: QualityReport
    quality_rows: int
    correlations: Correlations
    missingness: Missingness
    task: str | None = None
    target: TargetProfile | None = None
    alerts: list[Alert] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def sampled_quality(self) -> bool:
        return self.quality_rows < self.n_rows

    @property
    def roles(self) -> dict[str, str]:
        return {column.name: column.role for column in self.columns}

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready apart from NaN) for storing or comparing."""

        def frame(value: pd.DataFrame | None) -> dict[str, Any] | None:
            return None if value is None else {str(k): v for k, v in value.to_dict().items()}

        corr = self.correlations
        return {
            "source": self.source,
            "n_rows": self.n_rows,
            "n_columns": self.n_columns,
            "memory_bytes": self.memory_bytes,
            "duplicate_rows": self.duplicate_rows,
            "missing_cells": self.missing_cells,
            "task": self.task,
            "quality_rows": self.quality_rows,
            "columns": [asdict(column) for column in self.columns],
            "correlations": {
                "pearson": frame(corr.pearson),
                "spearman": frame(corr.spearman),
                "cramers_v": frame(corr.cramers_v),
                "mixed": frame(corr.mixed),
                "top_pairs": corr.top_pairs,
            },
            "missingness": {
                "by_column": self.missingness.by_column,
                "rows_by_count": self.missingness.rows_by_count,
            },
            "target": asdict(self.target) if self.target else None,
            "quality": self.quality.to_dict(),
            "alerts": [asdict(alert) for alert in self.alerts],
            "timings": self.timings,
        }


# ---------------------------------------------------------------------------


def _display(value: Any) -> str:
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


def _top(fact: Factorized, limit: int = TOP_VALUES) -> tuple[list[tuple[str, int]], int]:
    counts = fact.counts
    if len(counts) == 0:
        return [], 0
    if len(counts) > limit:
        index = np.argpartition(-counts, limit - 1)[:limit]
        index = index[np.lexsort((index, -counts[index]))]
    else:
        index = np.lexsort((np.arange(len(counts)), -counts))
    top = [(_display(fact.uniques[i]), int(counts[i])) for i in index]
    return top, int(counts.sum() - sum(c for _, c in top))


def _kind_for(role: str, series: pd.Series) -> str:
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


def _text_lengths(fact: Factorized) -> tuple[dict[str, float], Histogram, dict[str, float]]:
    texts = [str(v) for v in fact.uniques]
    chars = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    words = np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=len(texts))
    return (
        _stats.weighted_summary(chars, fact.counts),
        _stats.weighted_histogram(chars, fact.counts),
        _stats.weighted_summary(words, fact.counts),
    )


def _column_alerts(column: ColumnProfile, n_rows: int) -> list[Alert]:
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
            f"{column.missing:,} missing value(s) ({share:.1%})",
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


def _duplicates(frame: pd.DataFrame) -> int:
    if frame.shape[1] == 0 or len(frame) < 2:
        return 0
    try:
        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:  # unhashable cells (lists, dicts): compare their text
        hashes = pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()
    return int(pd.Series(hashes).duplicated().sum())


# ---------------------------------------------------------------------------


def _roles_and_quality(
    repaired: pd.DataFrame,
    original: pd.DataFrame,
    repairs: list[Finding],
    *,
    target: str | None,
    task: str | None,
    roles: Mapping[str, str] | None,
    id_columns: Sequence[str],
    time_column: str | None,
    source: str,
    quality_rows: int,
    seed: int,
) -> tuple[Schema, QualityReport, str | None, int]:
    n = len(original)
    sample = n > quality_rows
    rows = quality_rows if sample else n
    if sample:
        rng = np.random.default_rng(seed)
        index = rng.choice(n, size=quality_rows, replace=False)
        if target is not None:
            # Keep a few rows of every class, so a rare class is not mistaken
            # for a missing or single-row one.
            codes = pd.factorize(repaired[target], use_na_sentinel=True)[0]
            counts = np.bincount(codes[codes >= 0])
            if 0 < len(counts) <= 200:
                order = np.argsort(codes, kind="stable")[int((codes < 0).sum()) :]
                groups = np.split(order, np.cumsum(counts)[:-1])
                extra = [rng.choice(g, size=min(len(g), 20), replace=False) for g in groups]
                index = np.unique(np.concatenate([index, *extra]))
                rows = len(index)
        part_repaired = repaired.iloc[np.sort(index)].reset_index(drop=True)
    else:
        part_repaired = repaired
    findings: list[Finding] = []
    schema: Schema | None = None
    if target is not None:
        try:
            # The sample is already repaired (the repair is idempotent), which
            # spares check_and_clean its own value-by-value pass.
            cleaned = check_and_clean(
                part_repaired,
                target=target,
                task=task,
                roles=roles,
                id_columns=id_columns,
                time_column=time_column,
                source=source,
            )
            schema, task = cleaned.schema, cleaned.task
            findings = [f for f in cleaned.report.findings if f.check not in _REPAIR_CHECKS]
        except DataError as error:
            # The profile is still worth having: show why training would stop.
            findings = [
                Finding(
                    "training_blocked", "error", target, 0, str(error), "fix before training", False
                )
            ]
    if schema is None:
        features = part_repaired.drop(columns=[target]) if target is not None else part_repaired
        schema = infer_schema(features, roles=roles, id_columns=id_columns, time_column=time_column)
        if target is not None:
            values = part_repaired[target]
            try:
                task = task or infer_task(values)
            except DataError:
                task = None
            schema = replace(schema, target=target, task=task)
    report = QualityReport(
        findings=repairs + findings,
        rows_in=n,
        rows_out=n,
        columns_in=len(original.columns),
        columns_out=len(schema.feature_names) + (1 if target is not None else 0),
    )
    return schema, report, task, rows


# The matrix products here are tall and thin: one BLAS thread does them at
# full speed, and spares the start-up and spinning of a thread pool.
@threadpool_limits.wrap(limits=1, user_api="blas")
def profile(
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    task: str | None = None,
    roles: Mapping[str, str] | None = None,
    id_columns: Sequence[str] = (),
    time_column: str | None = None,
    schema: Schema | None = None,
    quality: QualityReport | None = None,
    source: str = "data",
    quality_rows: int = QUALITY_ROWS,
    seed: int = 0,
) -> Profile:
    """Profile a table.

    Args:
        frame: the data, as read (type repairs are applied here).
        target: the column to relate every feature to, if any.
        task: "classification" or "regression"; inferred from the target
            when omitted.
        roles, id_columns, time_column: as in the spec's ``[data]`` section.
        schema, quality: the schema and quality report already computed by a
            run (then neither is recomputed).
        source: the data's name, used in messages and titles.
        quality_rows: above this many rows, roles and quality checks use a
            random sample of this size; statistics always use every row.
        seed: seed of that sample.

    Raises:
        DataError: the table has no rows or columns, a column name repeats,
            or the target is not a column.
    """
    clock = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 4)
        clock = now

    if frame.shape[1] == 0:
        raise DataError(f"{source} has no columns; check the file, its separator and its header")
    if len(frame) == 0:
        raise DataError(f"{source} has no rows; check the file, its separator and its header")
    repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if repeated:
        raise DataError(
            f"{source}: column name(s) repeated: {', '.join(repr(c) for c in repeated)}; "
            "give each column a unique name"
        )
    frame = (
        frame.rename(columns=str) if not all(isinstance(c, str) for c in frame.columns) else frame
    )
    if target is not None and target not in frame.columns:
        raise DataError(
            missing_column_message("target column", target, list(frame.columns), source)
        )
    n_rows, n_columns = frame.shape
    memory = int(frame.memory_usage(deep=True, index=False).sum())
    lap("memory")

    repaired, repairs, cache = repair_frame(frame)
    lap("type repair")
    if schema is None or quality is None:
        schema, quality, task, quality_n = _roles_and_quality(
            repaired,
            frame,
            repairs,
            target=target,
            task=task,
            roles=roles,
            id_columns=id_columns,
            time_column=time_column,
            source=source,
            quality_rows=quality_rows,
            seed=seed,
        )
    else:
        quality_n = n_rows
        task = task or schema.task
    lap("roles and quality checks")

    by_column: dict[str, list[Finding]] = {}
    for finding in quality.findings:
        if finding.column is not None:
            by_column.setdefault(finding.column, []).append(finding)
    formats = schema.metadata.get("datetime_formats") or {}

    columns: list[ColumnProfile] = []
    facts: dict[str, Factorized] = {}
    numbers: dict[str, np.ndarray] = {}
    for name in frame.columns:
        series = repaired[name]
        if name == target:
            role, reason = "target", f"{task or 'prediction'} target"
            kind = "numeric" if task == "regression" else "categorical"
        elif name in schema:
            spec = schema[name]
            role, reason = str(spec.role), spec.reason
            kind = _kind_for(spec.role, series)
        else:
            role, reason, kind = "unknown", "", _kind_for("", series)
        fact = cache.get(name) or factorize(series)
        facts[name] = fact
        missing = int((fact.codes < 0).sum())
        count = n_rows - missing
        forced = name in (roles or {}) or name in id_columns or name == time_column
        if quality_n < n_rows and role not in ("target", "unknown") and not forced:
            corrected = _role_over_all_rows(Role(role), series, len(fact.uniques), count)
            if corrected is not None:
                role, reason = str(corrected[0]), corrected[1]
                kind = _kind_for(corrected[0], series)
                schema = schema.with_role(name, corrected[0], reason)
        top, other = _top(fact)
        column = ColumnProfile(
            name=name,
            role=role,
            reason=reason,
            dtype=str(series.dtype),
            kind=kind if count else "empty",
            count=count,
            missing=missing,
            n_unique=len(fact.uniques),
            memory_bytes=int(frame[name].memory_usage(deep=True, index=False)),
            top=top,
            other_count=other,
            findings=by_column.get(name, []),
        )
        if count:
            _describe(column, series, fact, formats.get(name), numbers)
        column.alerts = _column_alerts(column, n_rows)
        columns.append(column)
    lap("column statistics")

    duplicate_rows = _duplicates(frame)
    lap("duplicates")
    missingness = _missingness(columns, facts, n_rows)
    lap("missingness")
    target_profile = None
    if target is not None and task in ("classification", "regression"):
        target_profile = _target_profile(target, task, columns, facts, numbers)
    lap("target relationships")
    pairwise_columns = _pairwise_columns(columns, target, target_profile)
    correlations = _correlations(
        [c for c in columns if c.name in pairwise_columns], facts, numbers, target
    )
    correlations.columns_left_out = len(columns) - len(pairwise_columns)
    lap("correlations")

    alerts = [alert for column in columns for alert in column.alerts]
    if duplicate_rows:
        alerts.append(
            Alert(
                "duplicates",
                "warning",
                None,
                f"{duplicate_rows:,} row(s) ({duplicate_rows / n_rows:.1%}) repeat an earlier row",
            )
        )
    for a, b, measure, value in correlations.top_pairs:
        if value >= HIGH_CORRELATION and target not in (a, b):
            message = f"{a!r} and {b!r} are strongly associated ({measure} {value:.2f})"
            alert = Alert("high_correlation", "info", a, message)
            alerts.append(alert)
            column_a = next(c for c in columns if c.name == a)
            column_a.alerts.append(alert)
    return Profile(
        source=source,
        n_rows=n_rows,
        n_columns=n_columns,
        memory_bytes=memory,
        duplicate_rows=duplicate_rows,
        missing_cells=int(sum(c.missing for c in columns)),
        columns=columns,
        schema=schema,
        quality=quality,
        quality_rows=quality_n,
        correlations=correlations,
        missingness=missingness,
        task=task,
        target=target_profile,
        alerts=alerts,
        timings=timings,
    )


def _role_over_all_rows(
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


def _describe(
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
        lengths, histogram, words = _text_lengths(fact)
        column.lengths, column.length_histogram = lengths, histogram
        if kind == "text":
            column.words = words
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


def _missingness(
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


def _categorical_codes(
    columns: list[ColumnProfile], facts: dict[str, Factorized], limit: int
) -> dict[str, tuple[np.ndarray, int]]:
    out = {}
    for column in columns:
        if column.kind == "categorical" and column.n_unique >= 2:
            fact = facts[column.name]
            codes, levels = _stats.capped_codes(fact.codes, fact.counts, limit)
            # intp once here: bincount would convert on every call otherwise.
            out[column.name] = (codes.astype(np.intp, copy=False), levels)
    return out


def _pairwise_columns(
    columns: list[ColumnProfile], target: str | None, target_profile: TargetProfile | None
) -> set[str]:
    """The columns the pairwise views (correlation matrices, strongly
    associated pairs) cover: every column of a table up to
    ``MAX_PAIRWISE_COLUMNS`` columns; in a wider one, the target and the
    columns most associated with it, or the first ones when there is no
    target. Pairwise work grows with the square of the columns, so it is
    capped to keep the profile linear in the width of the table."""
    names = [c.name for c in columns]
    if len(names) <= MAX_PAIRWISE_COLUMNS:
        return set(names)
    if target_profile is None or target is None:
        return set(names[:MAX_PAIRWISE_COLUMNS])
    ranked = [relation.feature for relation in target_profile.relations]  # strongest first
    return {target, *ranked[: MAX_PAIRWISE_COLUMNS - 1]}


def _correlations(
    columns: list[ColumnProfile],
    facts: dict[str, Factorized],
    numbers: dict[str, np.ndarray],
    target: str | None,
) -> Correlations:
    numeric = [
        c.name
        for c in columns
        if c.kind in ("numeric", "datetime") and c.name in numbers and c.n_unique >= 2
    ]
    categorical = _categorical_codes(columns, facts, MAX_LEVELS)
    out = Correlations()
    pairs: list[tuple[str, str, str, float]] = []
    matrix = _stats.stack_columns([numbers[name] for name in numeric]) if numeric else None
    if len(numeric) >= 2:
        assert matrix is not None
        pearson = _stats.pairwise_pearson(matrix)
        ranked = _stats.stack_columns(
            [
                _stats.ranks_from_codes(facts[name].codes, facts[name].uniques, facts[name].counts)
                if facts[name].uniques.dtype.kind in "biuf"
                else _stats.ranks(numbers[name])
                for name in numeric
            ]
        )
        spearman = _stats.pairwise_pearson(ranked)
        out.pearson = pd.DataFrame(pearson, index=numeric, columns=numeric)
        out.spearman = pd.DataFrame(spearman, index=numeric, columns=numeric)
        for i, a in enumerate(numeric):
            for j in range(i + 1, len(numeric)):
                if np.isfinite(spearman[i, j]):
                    pairs.append((a, numeric[j], "Spearman ρ", abs(float(spearman[i, j]))))
    cat_names = list(categorical)
    if len(cat_names) >= 2:
        v = np.eye(len(cat_names))
        for i, a in enumerate(cat_names):
            for j in range(i + 1, len(cat_names)):
                ca, la = categorical[a]
                cb, lb = categorical[cat_names[j]]
                v[i, j] = v[j, i] = _stats.cramers_v(ca, la, cb, lb)
                if np.isfinite(v[i, j]):
                    pairs.append((a, cat_names[j], "Cramér's V", float(v[i, j])))
        out.cramers_v = pd.DataFrame(v, index=cat_names, columns=cat_names)
    names = [c.name for c in columns if c.name in numeric or c.name in categorical]
    etas: dict[str, np.ndarray] = {}
    if numeric and categorical:
        assert matrix is not None
        by_category = _stats.eta_matrix(matrix, list(categorical.values()))
        etas = {name: by_category[i] for i, name in enumerate(categorical)}
    if len(names) >= 2:
        mixed = np.eye(len(names))
        for i, a in enumerate(names):
            for j in range(i + 1, len(names)):
                b = names[j]
                if a in numeric and b in numeric:
                    assert out.spearman is not None
                    value = abs(float(out.spearman.to_numpy()[numeric.index(a), numeric.index(b)]))
                elif a in categorical and b in categorical:
                    assert out.cramers_v is not None
                    value = float(out.cramers_v.to_numpy()[cat_names.index(a), cat_names.index(b)])
                else:
                    num, cat = (a, b) if a in numeric else (b, a)
                    value = float(etas[cat][numeric.index(num)])
                    if np.isfinite(value):
                        pairs.append((num, cat, "correlation ratio η", value))
                mixed[i, j] = mixed[j, i] = value
        out.mixed = pd.DataFrame(mixed, index=names, columns=names)
    pairs.sort(key=lambda p: -p[3])
    out.top_pairs = pairs[:30]
    return out


def _target_profile(
    target: str,
    task: str,
    columns: list[ColumnProfile],
    facts: dict[str, Factorized],
    numbers: dict[str, np.ndarray],
) -> TargetProfile:
    target_fact = facts[target]
    features = [
        c
        for c in columns
        if c.name != target
        and c.count
        and c.n_unique >= 2
        and (c.kind == "categorical" or (c.kind in ("numeric", "datetime") and c.name in numbers))
    ]
    categorical = _categorical_codes(features, facts, TARGET_PLOT_LEVELS)
    relations: list[TargetRelation] = []
    if task == "classification":
        order = np.lexsort((np.arange(len(target_fact.counts)), -target_fact.counts))
        classes = [(_display(target_fact.uniques[i]), int(target_fact.counts[i])) for i in order]
        rank_of = np.empty(len(order), dtype=np.int32)
        rank_of[order] = np.arange(len(order), dtype=np.int32)
        y = np.where(target_fact.codes >= 0, rank_of[np.maximum(target_fact.codes, 0)], -1)
        k = len(order)
        if k > MAX_CLASSES_SHOWN:
            y = np.where(y >= MAX_CLASSES_SHOWN - 1, MAX_CLASSES_SHOWN - 1, y)
            k = MAX_CLASSES_SHOWN
        y_codes = y.astype(np.int32)
        measured = [c.name for c in features if c.name not in categorical]
        etas = (
            dict(
                zip(
                    measured,
                    _stats.eta_matrix(
                        np.column_stack([numbers[n] for n in measured]), [(y_codes, k)]
                    )[0],
                    strict=True,
                )
            )
            if measured
            else {}
        )
        for column in features:
            name = column.name
            if name in categorical:
                codes, levels = categorical[name]
                mask = (codes >= 0) & (y_codes >= 0)
                table = np.bincount(
                    y_codes[mask].astype(np.int64) * levels + codes[mask], minlength=k * levels
                ).reshape(k, levels)
                fact = facts[name]
                labels = _level_labels(fact, levels)
                association = _stats.cramers_v(codes, levels, y_codes, k)
                relations.append(
                    TargetRelation(
                        name, "categorical", "Cramér's V", association, labels, table.tolist()
                    )
                )
            else:
                values = numbers[name]
                edges = _relation_edges(column, values)
                bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
                mask = np.isfinite(values) & (y_codes >= 0)
                n_bins = len(edges) - 1
                table = np.bincount(
                    y_codes[mask].astype(np.int64) * n_bins + bins[mask], minlength=k * n_bins
                ).reshape(k, n_bins)
                association = float(etas[name])
                labels = [f"{fmt_short(lo)} – {fmt_short(hi)}" for lo, hi in pairwise(edges)]
                relations.append(
                    TargetRelation(
                        name,
                        "numeric",
                        "correlation ratio η",
                        association,
                        labels,
                        table.tolist(),
                        edges=list(map(float, edges)),
                    )
                )
        if len(order) > MAX_CLASSES_SHOWN:
            shown = classes[: MAX_CLASSES_SHOWN - 1]
            rest = sum(c for _, c in classes[MAX_CLASSES_SHOWN - 1 :])
            class_labels = [*shown, ("other classes", rest)]
        else:
            class_labels = classes
        relations.sort(key=lambda r: -(r.association if math.isfinite(r.association) else -1))
        return TargetProfile(target, task, class_labels, relations)

    found = numbers.get(target)
    if found is None:
        return TargetProfile(target, task)
    y = found
    finite = np.isfinite(y)
    order = np.argsort(np.where(finite, y, np.inf), kind="stable")[: int(finite.sum())]
    y_sorted = y[order]
    y_ranks = _stats.ranks(y)
    for column in features:
        name = column.name
        if name in categorical:
            codes, levels = categorical[name]
            labels = _level_labels(facts[name], levels)
            groups = codes[order]
            n_groups = levels
            association = _stats.correlation_ratio(y, codes, levels)
            measure, kind, edges_out = "correlation ratio η", "categorical", None
        else:
            values = numbers[name]
            hist = column.numeric.histogram if column.numeric is not None else None
            if hist is not None and hist.discrete and column.n_unique <= TARGET_PLOT_LEVELS:
                # Few whole numbers (ratings, counts): one group per value.
                qs = np.asarray(hist.edges, dtype=float)
                labels = [fmt_short(lo + 0.5) for lo in qs[:-1]]
            else:
                qs = np.unique(np.nanquantile(values, np.linspace(0, 1, 11)))
                labels = [f"{fmt_short(lo)} – {fmt_short(hi)}" for lo, hi in pairwise(qs)]
            if len(qs) < 2:
                continue
            bins = np.clip(np.searchsorted(qs, values, side="right") - 1, 0, len(qs) - 2)
            bins = np.where(np.isfinite(values), bins, -1).astype(np.int16)
            groups = bins[order]
            n_groups = len(qs) - 1
            ranked = np.column_stack([_stats.ranks(values), y_ranks])
            association = abs(float(_stats.pairwise_pearson(ranked)[0, 1]))
            measure, kind, edges_out = "|Spearman ρ|", "numeric", [float(e) for e in qs]
        stats = _stats.group_quantiles(y_sorted, groups, n_groups)
        keep = stats["count"] > 0
        group_stats = GroupStats(
            labels=[label for label, k in zip(labels, keep, strict=True) if k],
            count=stats["count"][keep].astype(int).tolist(),
            mean=stats["mean"][keep].tolist(),
            q1=stats["q1"][keep].tolist(),
            median=stats["median"][keep].tolist(),
            q3=stats["q3"][keep].tolist(),
            low=stats["low"][keep].tolist(),
            high=stats["high"][keep].tolist(),
        )
        relations.append(
            TargetRelation(
                name,
                kind,
                measure,
                association,
                group_stats.labels,
                groups=group_stats,
                edges=edges_out,
            )
        )
    relations.sort(key=lambda r: -(r.association if math.isfinite(r.association) else -1))
    return TargetProfile(target, task, None, relations)


def _level_labels(fact: Factorized, levels: int) -> list[str]:
    if levels >= len(fact.counts):
        return [_display(v) for v in fact.uniques]
    keep = np.argsort(-fact.counts, kind="stable")[: levels - 1]
    return [_display(fact.uniques[i]) for i in keep] + ["(other)"]


def _relation_edges(column: ColumnProfile, values: np.ndarray) -> np.ndarray:
    stats = column.numeric
    if stats is not None and stats.histogram.discrete and len(stats.histogram.counts) <= 30:
        return np.asarray(stats.histogram.edges, dtype=float)
    finite = values[np.isfinite(values)]
    lo, hi = float(finite.min()), float(finite.max())
    if stats is not None:
        # Clip the long tails so that the bulk of the distribution is readable.
        lo = max(lo, stats.quantiles["1%"])
        hi = min(hi, stats.quantiles["99%"])
    if hi <= lo:
        hi = lo + 1.0
    if stats is not None and stats.integral:
        # Whole-number bins, so that no bin holds one more value than its neighbours.
        width = max(1.0, math.ceil((hi - lo + 1) / 20))
        return np.arange(lo - 0.5, hi + width, width)
    return np.linspace(lo, hi, 21)
