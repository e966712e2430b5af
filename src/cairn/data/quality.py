"""Data quality checks and the repairs cairn applies before training.

:func:`check_and_clean` takes the training table and returns a cleaned copy,
the inferred :class:`~cairn.data.schema.Schema` and a :class:`QualityReport`
listing every finding: what was seen, where, how many rows, and what cairn
did about it (``applied``) or suggests. Problems that make training
impossible raise :class:`~cairn.exceptions.DataError` with a message saying
what is wrong, where, and what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from cairn.data._leakage import leakage_findings
from cairn.data._table_checks import check_shape, check_table, check_target
from cairn.data.findings import Finding, QualityReport, Severity, quoted_examples
from cairn.data.privacy import protect
from cairn.data.repair import repair_frame
from cairn.data.schema import (
    DROPPED_ROLES,
    KEPT_WORDS_ATTR,
    ColumnSchema,
    Role,
    Schema,
    coerce_column,
    infer_schema,
    infer_task,
    missing_column_message,
)
from cairn.data.values import as_strings, is_numeric_dtype
from cairn.exceptions import DataError
from cairn.tasks import Task, get_task

# Thresholds, named so that reports and tests can refer to them.
NEAR_CONSTANT_SHARE = 0.995  # one value in at least this share of rows
NEAR_CONSTANT_SAMPLE = 100_000  # rows that estimate the share first in larger tables
HIGH_CARDINALITY_LEVELS = 50  # more levels than this ...
HIGH_CARDINALITY_SHARE = 0.05  # ... and more than this share of rows
IMBALANCE_SHARE = 0.10  # binary: minority class below this share
MANY_CLASSES = 20  # numeric target with more classes than this: regression?


@dataclass
class CleanResult:
    """The cleaned training table, its schema, the report and the task; the
    key that hashed personal-data columns, when a column is protected."""

    frame: pd.DataFrame
    schema: Schema
    report: QualityReport
    task: str
    privacy_key: bytes | None = None


# ---------------------------------------------------------------------------
# Type repair
# ---------------------------------------------------------------------------


def repair_types(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Finding]]:
    """Repair text columns.

    In each text column: surrounding whitespace is stripped; sentinels ('?',
    'NA', 'N/A', 'null', blank) become missing; a column whose values are at
    least 95% numbers becomes numeric (the rest set to missing); labels that
    differ only by case or spacing ("Yes", "yes ", "YES") are merged into the
    most frequent spelling. Codes with leading zeros ("02134") stay text.

    Returns the repaired copy and one finding per repair made.
    """
    # Decided once per distinct value (see cairn.data.repair), not per row.
    repaired, findings, _ = repair_frame(frame)
    return repaired, findings


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def _conflicting_labels(frame: pd.DataFrame, features: list[str], target: str) -> tuple[int, int]:
    """Rows (and groups) whose features are identical but whose targets differ."""
    if not features:
        return 0, 0
    keys = pd.Series(pd.util.hash_pandas_object(frame[features], index=False).to_numpy())
    shared = keys.duplicated(keep=False).to_numpy()
    if not shared.any():
        return 0, 0
    # Labels only for the rows sharing their features with another row.
    labels = as_strings(frame[target].iloc[shared]).to_numpy()
    repeated = pd.DataFrame({"key": keys.to_numpy()[shared], "label": labels})
    per_key = repeated.groupby("key")["label"].nunique()
    conflicted = per_key[per_key > 1].index
    return int(repeated["key"].isin(conflicted).sum()), len(conflicted)


def _refuse_unlearnable_classes(counts: pd.Series, target: str, source: str, folds: int) -> None:
    """Refuse a target whose classes are mostly too small to learn or check.

    A few rare classes are kept (the split and the folds cope, and the
    rare-class warning says so); a target where most rows are in classes of
    one row, or with many classes and fewer than ``2 * folds`` rows per class
    on average (a test split and ``folds`` folds leave almost nothing per
    class, and boosting trains a tree per class and round), is refused.
    """
    n_rows, n_classes = int(counts.sum()), len(counts)
    singles = counts[counts < 2]
    fix = (
        "merge rare classes into an 'other' class or a coarser grouping of the target, "
        "drop them, or add data"
    )
    if int(singles.sum()) * 2 > n_rows:
        raise DataError(
            f"target {target!r} in {source}: {int(singles.sum())} of {n_rows} rows are in "
            f"classes with a single row ({len(singles)} such classes); nothing can be learned "
            f"or checked for them: {fix}"
        )
    if n_classes > MANY_CLASSES and n_rows < 2 * folds * n_classes:
        raise DataError(
            f"target {target!r} in {source} has {n_classes} classes for {n_rows} rows "
            f"({n_rows / n_classes:.1f} per class on average); training and {folds}-fold "
            f"cross-validation need at least {2 * folds} per class on average: {fix}"
        )


def _infinite_to_missing(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, list[Finding]]:
    """Infinite numbers (a division by zero upstream, usually) become missing
    values: imputed in a feature, the row dropped in the target."""
    findings: list[Finding] = []
    replaced: dict[str, pd.Series] = {}
    for name in frame.columns:
        column = frame[name]
        if not pd.api.types.is_float_dtype(column.dtype):
            continue
        infinite = np.isinf(column.to_numpy(dtype=float, na_value=np.nan))
        count = int(infinite.sum())
        if not count:
            continue
        replaced[name] = column.mask(infinite)
        role = "the target" if name == target else "a feature"
        findings.append(
            Finding(
                "infinite_values",
                "warning",
                str(name),
                count,
                f"column {name!r} ({role}) has {count} infinite value(s) (inf or -inf)",
                "treated as missing"
                + (" (rows dropped)" if name == target else " (imputed like other gaps)")
                + "; fix the computation that produced them if they are errors",
                True,
            )
        )
    if replaced:
        frame = frame.copy()
        for name, column in replaced.items():
            frame[name] = column
    return frame, findings


def _class_findings(
    labels: pd.Series, target: str, source: str, folds: int, numeric: bool
) -> list[Finding]:
    counts = labels.value_counts()
    findings: list[Finding] = []
    _refuse_unlearnable_classes(counts, target, source, folds)
    rare = counts[counts < folds]
    if len(rare):
        shown = ", ".join(f"{k!r} ({v})" for k, v in rare.items())
        findings.append(
            Finding(
                "rare_class",
                "warning",
                target,
                int(rare.sum()),
                f"target {target!r}: class(es) {shown} have fewer examples than folds ({folds})",
                "kept: their rows are spread over different folds (a class of one row "
                "stays in training); for steadier scores set split.folds lower, or drop "
                "or merge those classes",
                False,
            )
        )
    total = int(counts.sum())
    minority, majority = int(counts.iloc[-1]), int(counts.iloc[0])
    share = minority / total
    imbalanced = share < IMBALANCE_SHARE if len(counts) == 2 else minority < 0.1 * majority
    if imbalanced:
        shown = ", ".join(f"{k!r}: {v}" for k, v in counts.items())
        findings.append(
            Finding(
                "class_imbalance",
                "warning",
                target,
                minority,
                f"target {target!r} is imbalanced: smallest class {counts.index[-1]!r} is "
                f"{share:.1%} of rows ({shown})",
                "stratified folds; prefer metrics such as roc_auc or balanced_accuracy",
                False,
            )
        )
    if numeric and len(counts) > MANY_CLASSES:
        findings.append(
            Finding(
                "many_classes",
                "warning",
                target,
                len(counts),
                f"target {target!r} is numeric with {len(counts)} classes",
                "check the task: set task = 'regression' if the numbers are quantities",
                False,
            )
        )
    return findings


def _column_findings(frame: pd.DataFrame, schema: Schema) -> list[Finding]:
    findings: list[Finding] = []
    for column in schema.columns:
        if column.role in (Role.ID, Role.CONSTANT):
            findings.append(_excluded_column(column, len(frame)))
        elif column.role != Role.IGNORE:
            findings += _feature_findings(column, frame[column.name])
    return findings


def _excluded_column(column: ColumnSchema, n_rows: int) -> Finding:
    """The note for an identifier or constant column kept out of the features."""
    severity: Severity
    if column.role == Role.ID:
        check, severity, count, what = "id_column", "info", column.n_unique, "an identifier"
    else:
        check, severity, count, what = "constant_column", "warning", n_rows, "constant"
    return Finding(
        check,
        severity,
        column.name,
        count,
        f"column {column.name!r} is {what}: {column.reason}",
        "excluded from features",
        True,
    )


def _top_share(series: pd.Series) -> tuple[float, Any]:
    """The commonest value's share of rows, and the value. Above
    NEAR_CONSTANT_SAMPLE rows, a seeded sample of that many rows decides
    first: a share clearly under NEAR_CONSTANT_SHARE (by 0.01, over six
    standard errors) is returned as estimated, anything else is counted on
    every row."""
    if len(series) > NEAR_CONSTANT_SAMPLE:
        # Drawn with replacement: a permutation of every row costs more.
        rows = np.random.default_rng(0).integers(0, len(series), NEAR_CONSTANT_SAMPLE)
        share, top = _top_share(series.iloc[rows])
        if share < NEAR_CONSTANT_SHARE - 0.01:
            return share, top
    # Counted by hashing (value_counts also sorts every distinct value).
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    if not len(codes):
        return 0.0, None
    counts = np.bincount(codes)
    return float(counts.max()) / len(codes), uniques[int(counts.argmax())]


def _feature_findings(column: ColumnSchema, series: pd.Series) -> list[Finding]:
    """Near-constant values, many levels and missing values in one feature."""
    findings: list[Finding] = []
    name, n_rows = column.name, len(series)
    top_share, top = _top_share(series)
    if top_share >= NEAR_CONSTANT_SHARE:
        shown = "missing" if pd.isna(top) else repr(as_strings(pd.Series([top])).iloc[0])
        findings.append(
            Finding(
                "near_constant",
                "warning",
                name,
                int(round((1.0 - top_share) * n_rows)),
                f"column {name!r} is nearly constant: {top_share:.1%} of rows are {shown}",
                "kept; consider removing it (set its role to 'ignore')",
                False,
            )
        )
    if (
        column.role == Role.CATEGORICAL
        and column.n_unique > HIGH_CARDINALITY_LEVELS
        and column.n_unique > HIGH_CARDINALITY_SHARE * n_rows
    ):
        findings.append(
            Finding(
                "high_cardinality",
                "info",
                name,
                column.n_unique,
                f"column {name!r} has {column.n_unique} levels "
                f"({column.n_unique / max(n_rows, 1):.1%} of rows)",
                "target-encoded",
                False,
            )
        )
    missing = int(series.isna().sum())
    if missing:
        share = missing / n_rows
        findings.append(
            Finding(
                "missing_values",
                "warning" if share >= 0.5 else "info",
                name,
                missing,
                f"column {name!r}: {missing} missing value(s) ({share:.1%} of rows)",
                # Categories encode missing as a level of their own; numbers
                # and booleans are imputed (with an indicator column).
                "missing kept as its own category"
                if column.role == Role.CATEGORICAL
                else "imputed in the feature pipeline (with a missing indicator)",
                False,
            )
        )
    return findings


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def _coerce_features(frame: pd.DataFrame, schema: Schema) -> tuple[pd.DataFrame, list[Finding]]:
    """Feature columns converted as :func:`~cairn.data.schema.conform` will
    convert scoring data, so that training and scoring see the same types."""
    converted: dict[str, pd.Series] = {}
    findings: list[Finding] = []
    formats = schema.metadata.get("datetime_formats") or {}
    for column in schema.columns:
        if not column.is_feature:
            continue
        original = frame[column.name]
        values, bad = coerce_column(original, column, date_format=formats.get(column.name))
        converted[column.name] = values
        n_bad = int(bad.sum())
        if n_bad:
            examples = list(dict.fromkeys(original[bad].tolist()))
            findings.append(
                Finding(
                    "unreadable_values",
                    "warning",
                    column.name,
                    n_bad,
                    f"column {column.name!r}: {n_bad} value(s) such as {quoted_examples(examples)} "
                    f"cannot be read as {column.dtype}",
                    "set to missing",
                    True,
                )
            )
    # Built in one go: setting a wide table's columns one by one fragments it.
    out = pd.DataFrame(
        {name: converted.get(name, frame[name]) for name in frame.columns}, index=frame.index
    )
    return out, findings


def check_and_clean(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str | None = None,
    roles: Mapping[str, str] | None = None,
    id_columns: Sequence[str] = (),
    time_column: str | None = None,
    folds: int = 5,
    source: str = "data",
    privacy: Mapping[str, str] | None = None,
    privacy_key: bytes | Callable[[], bytes] | None = None,
    allow_leakage: Sequence[str] = (),
) -> CleanResult:
    """Check the training table, repair what can be repaired, infer the schema.

    Repairs applied: text cleaned (see :func:`repair_types`), rows with a
    missing target dropped, exact duplicate rows dropped, feature values
    converted to their schema types. Identifier and constant columns stay in
    the frame but get roles that keep them out of the features. Everything
    else is reported, not changed. The returned frame has a fresh 0..n-1
    index and keeps the target column. Columns holding personal data are
    dropped, hashed or kept as ``privacy`` says (see
    :func:`cairn.data.privacy.protect`; ``privacy_key`` is the hashing key
    or a function giving it).

    Raises:
        DataError: no rows or columns, target column absent or empty, target
            constant or with a single class, a class with fewer than 2 rows,
            fewer rows than ``2 * folds``, or a column named in ``privacy``
            that is not in the table.
    """
    check_table(frame, target=target, task=task, source=source)
    for name in allow_leakage:
        if name not in frame.columns:
            raise DataError(
                missing_column_message(
                    "data.allow_leakage: column", name, list(frame.columns), source
                )
            )
    rows_in, columns_in = len(frame), len(frame.columns)
    data, findings = repair_types(frame)
    data, infinite_findings = _infinite_to_missing(data, target)
    findings += infinite_findings
    data, dropped = _drop_unusable_rows(data, target, source)
    findings += dropped
    protected = protect(
        data, target=target, decisions=privacy, key=privacy_key, id_columns=id_columns
    )
    data = protected.frame
    findings += protected.findings
    roles, id_columns = _without_dropped(data, roles, id_columns)

    if task is None:
        kept = (data.attrs.get(KEPT_WORDS_ATTR) or {}).get(target, ())
        task = infer_task(data[target], keep=frozenset(kept))
    kind = get_task(task)
    y = data[target]
    check_target(y, target=target, task=kind, source=source)
    if len(data) < 2 * folds:
        raise DataError(
            f"{source} has only {len(data)} usable row(s) after cleaning, fewer than "
            f"2 x folds = {2 * folds} ({folds} folds); add rows or set split.folds lower"
        )
    if kind.has_classes:
        findings += _class_findings(
            as_strings(y), target, source, folds, numeric=is_numeric_dtype(y)
        )

    schema = infer_schema(
        data,
        target=target,
        task=task,
        roles=roles,
        id_columns=id_columns,
        time_column=time_column,
    )
    schema = _with_privacy(schema, protected.columns)
    data, coerce_findings = _coerce_features(data, schema)
    findings += coerce_findings
    findings += _conflict_findings(data, schema, target, kind)
    findings += _column_findings(data, schema)
    leaks, excluded = leakage_findings(
        data, schema, kind, allow=allow_leakage, time_column=time_column
    )
    findings += leaks
    for name in excluded:
        schema = schema.with_role(name, Role.IGNORE, "suspected target leakage")

    report = QualityReport(
        findings=findings,
        rows_in=rows_in,
        rows_out=len(data),
        columns_in=columns_in,
        columns_out=len([c for c in schema.columns if c.role not in DROPPED_ROLES]) + 1,
    )
    return CleanResult(data, schema, report, task, protected.key)


def _without_dropped(
    data: pd.DataFrame, roles: Mapping[str, str] | None, id_columns: Sequence[str]
) -> tuple[dict[str, str], list[str]]:
    """Roles and id columns less the personal-data columns dropped from the table."""
    kept = {str(c) for c in data.columns}
    named = {name: role for name, role in (roles or {}).items() if name in kept}
    return named, [name for name in id_columns if name in kept]


def _with_privacy(schema: Schema, columns: Mapping[str, Mapping[str, object]]) -> Schema:
    """The schema recording what was found and done per personal-data column
    (read by the bundle, the server, the prediction log and the card)."""
    if not columns:
        return schema
    recorded = {name: dict(entry) for name, entry in columns.items()}
    return replace(schema, metadata={**schema.metadata, "privacy": {"columns": recorded}})


def clean_unlabelled(
    frame: pd.DataFrame,
    *,
    task: str,
    roles: Mapping[str, str] | None = None,
    id_columns: Sequence[str] = (),
    time_column: str | None = None,
    exclude: Sequence[str] = (),
    source: str = "data",
    privacy: Mapping[str, str] | None = None,
    privacy_key: bytes | Callable[[], bytes] | None = None,
) -> CleanResult:
    """Check and repair a table for a task without a target (clustering).

    The same repairs as :func:`check_and_clean` on the features (text
    cleaned, infinite numbers made missing, values converted to their schema
    types), but every row is kept: a duplicate customer is still a customer,
    and dropping it would change the segments' shares. ``exclude`` columns
    (a ground truth) stay in the frame with the role ``ignore``.

    Raises:
        DataError: no rows or columns, a repeated column name, or an excluded
            column that is absent.
    """
    check_shape(frame, source)
    for name in exclude:
        if name not in frame.columns:
            raise DataError(
                missing_column_message("ground-truth column", name, list(frame.columns), source)
            )
    rows_in, columns_in = len(frame), len(frame.columns)
    data, findings = repair_types(frame)
    data, infinite_findings = _infinite_to_missing(data, "")
    findings += infinite_findings
    data = data.reset_index(drop=True)
    protected = protect(
        data,
        target=None,
        decisions=privacy,
        key=privacy_key,
        skip=exclude,
        id_columns=id_columns,
    )
    data = protected.frame
    findings += protected.findings
    roles, id_columns = _without_dropped(data, roles, id_columns)
    schema = infer_schema(
        data,
        task=task,
        roles={**dict(roles or {}), **{name: "ignore" for name in exclude}},
        id_columns=id_columns,
        time_column=time_column,
    )
    schema = _with_privacy(schema, protected.columns)
    data, coerce_findings = _coerce_features(data, schema)
    findings += coerce_findings
    findings += _column_findings(data, schema)
    report = QualityReport(
        findings=findings,
        rows_in=rows_in,
        rows_out=len(data),
        columns_in=columns_in,
        columns_out=len([c for c in schema.columns if c.role not in DROPPED_ROLES]),
        has_target=False,
    )
    return CleanResult(data, schema, report, task, protected.key)


def _drop_unusable_rows(
    data: pd.DataFrame, target: str, source: str
) -> tuple[pd.DataFrame, list[Finding]]:
    """Rows without a target and exact duplicate rows dropped; the index reset."""
    findings: list[Finding] = []
    missing_target = data[target].isna()
    n_missing = int(missing_target.sum())
    if n_missing == len(data):
        raise DataError(
            f"target column {target!r} in {source} has no values: all {len(data)} rows are "
            "missing; check that the right column is named as target and that it is filled"
        )
    if n_missing:
        data = data[~missing_target]
        findings.append(
            Finding(
                "missing_target",
                "warning",
                target,
                n_missing,
                f"{n_missing} row(s) have no value for the target {target!r}",
                "rows dropped",
                True,
            )
        )

    duplicated = _duplicated_rows(data)
    n_duplicated = int(duplicated.sum())
    if n_duplicated:
        data = data[~duplicated]
        findings.append(
            Finding(
                "duplicate_rows",
                "warning",
                None,
                n_duplicated,
                f"{n_duplicated} row(s) are exact copies of an earlier row",
                "duplicates dropped",
                True,
            )
        )
    return data.reset_index(drop=True), findings


def _duplicated_rows(data: pd.DataFrame) -> pd.Series:
    """``data.duplicated()``, compared only among the rows whose 64-bit row
    hash repeats: hashing is one vectorised pass, comparing every column of
    every row is many."""
    try:
        # -0.0 + 0.0 is 0.0: the two zeros are equal values with other bits.
        hashed = data.apply(lambda c: c + 0.0 if c.dtype.kind == "f" else c)
        hashes = pd.util.hash_pandas_object(hashed, index=False)
    except TypeError:  # cells that cannot be hashed (lists)
        return data.duplicated()
    candidates = hashes.duplicated(keep=False).to_numpy()
    found = np.zeros(len(data), dtype=bool)
    if candidates.any():
        found[candidates] = data[candidates].duplicated().to_numpy()
    return pd.Series(found, index=data.index)


def _conflict_findings(
    data: pd.DataFrame, schema: Schema, target: str, task: Task
) -> list[Finding]:
    """Rows with identical features but different targets."""
    n_conflicts, n_groups = _conflicting_labels(data, schema.feature_names, target)
    if not n_conflicts:
        return []
    return [
        Finding(
            "conflicting_labels",
            "warning" if task.has_classes else "info",
            target,
            n_conflicts,
            f"{n_conflicts} row(s) in {n_groups} group(s) have identical features "
            f"but different values of {target!r}",
            "kept; check the labelling, or add a feature that tells them apart",
            False,
        )
    ]
