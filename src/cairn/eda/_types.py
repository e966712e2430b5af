"""What a profile holds: thresholds and the dataclasses of a :class:`Profile`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from cairn.data.quality import (
    Finding,
    QualityReport,
)
from cairn.data.schema import Schema
from cairn.eda._stats import GroupStats, Histogram, NumericSummary

#: Tables with more rows than this get their roles and quality checks from a
#: random sample of this many rows (column statistics always use every row).
QUALITY_ROWS = 5_000
#: Tables with more rows than this get the target's relationships and the
#: correlations from a random sample of this many rows: estimates whose
#: sampling error is already far below what the report shows, at a fraction
#: of the time.
ASSOCIATION_ROWS = 200_000
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
#: A feature this associated with the target gets an info alert (a warning
#: from ``HIGH_CORRELATION`` on: it may not be known at prediction time).
STRONG_TARGET_ASSOCIATION = 0.5
#: Associations (correlations, Cramér's V, η) need at least this many rows
#: where both columns have a value; pairs with fewer are neither shown nor
#: ranked (a handful of rows gives any strength by chance).
MIN_SUPPORT = 30
#: A numeric column piles up at its maximum (capped) or minimum (floored)
#: when at least this share of its values sit there...
PILE_UP_SHARE = 0.01
#: ...and that many times more than at any of the next ``PILE_UP_NEIGHBOURS``
#: distinct values inward.
PILE_UP_RATIO = 5.0
PILE_UP_NEIGHBOURS = 5
_REPAIR_CHECKS = frozenset(
    {
        "whitespace",
        "missing_sentinels",
        "numeric_text",
        "inconsistent_labels",
        "format_numbers",
        "format_ambiguous",
        "format_decimal_comma",
        "missing_kept_category",
    }
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


@dataclass(frozen=True)
class Issue:
    """One warning, error or note the page shows: a profile alert or a
    data-quality finding, so both can be counted as one list.

    Attributes:
        severity: "error", "warning" or "info".
        origin: "alert" (the statistics) or "quality check".
        name: the alert kind or the check's name.
        column: the column concerned (None for the table).
        message: what was seen.
        sampled: counted on a random sample of rows, not on all of them.
    """

    severity: str
    origin: str
    name: str
    column: str | None
    message: str
    sampled: bool = False


SEVERITIES = ("error", "warning", "info")


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
        empty_texts: values without a single word (text columns).
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
    empty_texts: int = 0
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

    ``top_pairs`` are (column, column, measure, strength, support): support
    is the number of rows where both columns have a value. Pairs with less
    than ``MIN_SUPPORT`` such rows are blank in the matrices and not ranked;
    ``too_few_rows`` counts them.
    """

    pearson: pd.DataFrame | None = None
    spearman: pd.DataFrame | None = None
    cramers_v: pd.DataFrame | None = None
    mixed: pd.DataFrame | None = None
    top_pairs: list[tuple[str, str, str, float, int]] = field(default_factory=list)
    columns_left_out: int = 0
    too_few_rows: int = 0


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
    mean and quantiles per group. ``support``: rows where both the feature
    and the target have a value; under ``MIN_SUPPORT`` the association is
    NaN (not ranked).
    """

    feature: str
    feature_kind: str  # "numeric" or "categorical"
    measure: str
    association: float
    labels: list[str]
    class_counts: list[list[int]] | None = None
    groups: GroupStats | None = None
    edges: list[float] | None = None
    support: int = 0


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
    association_rows: int = 0  # the sample relationships were measured on; 0: every row

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

    def is_sampled(self, finding: Finding) -> bool:
        """Whether a finding was counted on the random sample of
        ``quality_rows`` rows (type repairs always see every row)."""
        return self.sampled_quality and finding.check not in _REPAIR_CHECKS

    @property
    def issues(self) -> list[Issue]:
        """Every alert and quality finding on the page, the one list that
        the banner, tiles, tables and column badges count from."""
        found = [Issue(a.severity, "alert", a.kind, a.column, a.message) for a in self.alerts]
        found += [
            Issue(f.severity, "quality check", f.check, f.column, f.message, self.is_sampled(f))
            for f in self.quality.findings
        ]
        return found

    def issue_counts(self, column: str | None = None) -> dict[str, int]:
        """Issues per severity: of the whole page, or of one column."""
        if column is not None:
            return self.issue_counts_by_column().get(column, dict.fromkeys(SEVERITIES, 0))
        counts = dict.fromkeys(SEVERITIES, 0)
        for issue in self.issues:
            counts[issue.severity] = counts.get(issue.severity, 0) + 1
        return counts

    def issue_counts_by_column(self) -> dict[str | None, dict[str, int]]:
        """Issues per severity of each column (None: the whole table)."""
        out: dict[str | None, dict[str, int]] = {}
        for issue in self.issues:
            counts = out.setdefault(issue.column, dict.fromkeys(SEVERITIES, 0))
            counts[issue.severity] = counts.get(issue.severity, 0) + 1
        return out

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
            "issue_counts": self.issue_counts(),
            "timings": self.timings,
        }
