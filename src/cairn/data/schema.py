"""Column roles and the table schema that travels with a model.

A :class:`Schema` records, for each input column, the role cairn gave it
(numeric, categorical, boolean, datetime, text, id, constant, ignore), the
logical type used to coerce scoring data, and the known categories. It is
inferred once from the training data, stored as JSON in the bundle, and used
to check every frame given to the model afterwards.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from cairn.data._numbers import NumberFormat, parse_with
from cairn.data.values import (
    MISSING_SENTINELS,
    Observed,
    as_strings,
    category_string,
    class_labels,
    infer_task,
    integral,
    is_numeric_dtype,
    normalize_missing,
    observe,
    parse_dates,
    sniff_date_format,
)
from cairn.exceptions import DataError, SchemaMismatchError
from cairn.tasks import get_task, task_names

# Where cairn.data.repair leaves its decisions in a repaired frame's attrs:
# the number format of each column read from formatted text, and the
# sentinel words kept as categories (column -> values).
NUMBER_FORMATS_ATTR = "cairn_number_formats"
KEPT_WORDS_ATTR = "cairn_kept_words"

# The value rules (cairn.data.values) are part of what a schema applies, so
# they are exported here too for code that reads values against a schema.
__all__ = [
    "DROPPED_ROLES",
    "MISSING_SENTINELS",
    "ColumnSchema",
    "NumberFormat",
    "Role",
    "Schema",
    "as_strings",
    "category_string",
    "class_labels",
    "coerce_column",
    "conform",
    "infer_role",
    "infer_schema",
    "infer_task",
    "kept_words",
    "missing_column_message",
    "normalize_missing",
    "number_format",
    "sniff_date_format",
    "unseen_categories",
]


class Role(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    TEXT = "text"
    ID = "id"
    CONSTANT = "constant"
    IGNORE = "ignore"


# Roles whose columns never reach the learner.
DROPPED_ROLES: frozenset[Role] = frozenset({Role.ID, Role.CONSTANT, Role.IGNORE})


@dataclass(frozen=True)
class ColumnSchema:
    """One input column.

    Attributes:
        name: column name as in the data.
        role: how the column is used.
        dtype: logical type used to coerce scoring data: "float", "int",
            "bool", "string" or "datetime".
        nullable: whether missing values were seen in training.
        categories: known values for categorical and boolean columns (as
            strings), most frequent first; None for other roles.
        n_unique: distinct non-missing values seen in training.
        missing_rate: share of missing values in training.
        reason: why the role was chosen (shown in reports and ``cairn init``).
    """

    name: str
    role: Role
    dtype: str
    nullable: bool = True
    categories: tuple[str, ...] | None = None
    n_unique: int = 0
    missing_rate: float = 0.0
    reason: str = ""

    @property
    def is_feature(self) -> bool:
        return self.role not in DROPPED_ROLES


@dataclass(frozen=True)
class Schema:
    """The inputs a model expects, and what it predicts.

    Attributes:
        columns: every input column seen in training, target excluded.
        target: name of the target column (None for unsupervised tasks).
        task: "classification" or "regression" (room for more).
        classes: class labels, as strings, in the order the model's
            probabilities use; None for regression.
    """

    columns: tuple[ColumnSchema, ...]
    target: str | None = None
    task: str | None = None
    classes: tuple[str, ...] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ColumnSchema:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(column.name == name for column in self.columns)

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def feature_names(self) -> list[str]:
        """Columns that reach the learner, in schema order."""
        return [column.name for column in self.columns if column.is_feature]

    def by_role(self, *roles: Role) -> list[str]:
        return [column.name for column in self.columns if column.role in roles]

    def with_role(self, name: str, role: Role, reason: str) -> Schema:
        """A copy with one column's role changed."""
        columns = tuple(
            replace(column, role=role, reason=reason) if column.name == name else column
            for column in self.columns
        )
        return replace(self, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for column in data["columns"]:
            column["role"] = str(column["role"])
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        columns = tuple(
            ColumnSchema(
                name=c["name"],
                role=Role(c["role"]),
                dtype=c["dtype"],
                nullable=c.get("nullable", True),
                categories=tuple(c["categories"]) if c.get("categories") is not None else None,
                n_unique=c.get("n_unique", 0),
                missing_rate=c.get("missing_rate", 0.0),
                reason=c.get("reason", ""),
            )
            for c in data["columns"]
        )
        classes = data.get("classes")
        return cls(
            columns=columns,
            target=data.get("target"),
            task=data.get("task"),
            classes=tuple(classes) if classes is not None else None,
            metadata=data.get("metadata", {}),
        )

    @classmethod
    def from_json(cls, text: str) -> Schema:
        return cls.from_dict(json.loads(text))


# ---------------------------------------------------------------------------
# Inference and conformance
# ---------------------------------------------------------------------------

# Values accepted for a "bool" column, compared after stripping and lower-casing.
_TRUE_STRINGS = frozenset({"true", "t", "yes", "y", "1"})
_FALSE_STRINGS = frozenset({"false", "f", "no", "n", "0"})

_MAX_CATEGORIES = 1000

# "id", "ID", "Id", "customer_id", "customer id", "uuid", ... (any case) ...
_ID_NAME_SEPARATED = re.compile(r"(?:^|[\s_.\-])(?:id|uuid|guid)$|^(?:id|uuid|guid)[\s_.\-]", re.I)
# ... and camelCase "PassengerId", "customerID", "userId" (case-sensitive).
_ID_NAME_CAMEL = re.compile(r"[a-z0-9](?:Id|ID)$")
_USER_ROLES: frozenset[str] = frozenset(
    {"numeric", "categorical", "boolean", "datetime", "text", "id", "ignore"}
)


def _looks_like_id_name(name: str) -> bool:
    return bool(_ID_NAME_SEPARATED.search(name) or _ID_NAME_CAMEL.search(name))


def _ranked_categories(strings: pd.Series) -> tuple[str, ...]:
    counts = strings.dropna().value_counts()
    ordered = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
    return tuple(str(value) for value, _ in ordered[:_MAX_CATEGORIES])


def _preview(values: Sequence[Any], limit: int = 3) -> str:
    shown = ", ".join(repr(category_string(v)) for v in list(values)[:limit])
    return shown + (", ..." if len(values) > limit else "")


def _auto_role(name: str, seen: Observed, n_unique: int) -> tuple[Role, str]:
    if seen.count == 0:
        return Role.CONSTANT, "all values missing"
    if n_unique == 1:
        only = category_string(seen.values.iloc[0])
        extra = f" ({seen.n_rows - seen.count} missing)" if seen.count < seen.n_rows else ""
        return Role.CONSTANT, f"single value {only!r}{extra}"
    if seen.kind == "datetime":
        if seen.date_format:
            return Role.DATETIME, f"dates stored as text ({seen.date_format})"
        return Role.DATETIME, "datetime values"
    if seen.kind == "bool" or n_unique == 2:
        top = _ranked_categories(as_strings(seen.values))
        return Role.BOOLEAN, f"two distinct values ({_preview(top)})"
    if seen.kind in ("int", "float"):
        values = seen.values
        unique_per_row = n_unique == seen.count
        if unique_per_row and integral(values):
            if _looks_like_id_name(name):
                return Role.ID, "integer, unique per row, named like an id"
            diffs = np.diff(values.to_numpy(dtype=float))
            first = float(values.iloc[0])
            if seen.count >= 20 and first in (0.0, 1.0) and bool(np.all(diffs == 1.0)):
                return Role.ID, "consecutive row numbers; set its role to 'numeric' to use it"
        text = " (numbers stored as text)" if seen.from_text else ""
        return Role.NUMERIC, f"numeric, {n_unique} distinct values{text}"
    strings = seen.values.astype(str)
    sample = strings.iloc[:5000]
    mean_words = float(sample.str.count(r"\S+").mean())
    mean_length = float(sample.str.len().mean())
    ratio = n_unique / seen.count
    if mean_words >= 3 and ratio >= 0.5 and n_unique >= 10:
        return Role.TEXT, f"free text (about {mean_words:.0f} words, {n_unique} distinct values)"
    if (
        ratio >= 0.95
        and mean_words < 3
        and mean_length <= 64
        and (seen.count >= 20 or _looks_like_id_name(name))
    ):
        return Role.ID, f"short text, unique per row ({n_unique} of {seen.count})"
    high = " (high cardinality)" if n_unique > 50 else ""
    return Role.CATEGORICAL, f"{n_unique} distinct values{high}"


def _dtype_for(role: Role, kind: str) -> str:
    if role == Role.CATEGORICAL or role == Role.TEXT:
        return "string"
    if role == Role.NUMERIC:
        return kind if kind in ("int", "float") else "float"
    if role == Role.DATETIME:
        return kind if kind in ("int", "float") else "datetime"
    return kind


def infer_role(name: str, series: pd.Series) -> Role:
    """The role cairn would give one column on its own (no spec roles)."""
    return _infer_column(name, series, forced=None)[0].role


def _infer_column(
    name: str,
    series: pd.Series,
    *,
    forced: tuple[Role, str] | None,
    keep: frozenset[str] = frozenset(),
) -> tuple[ColumnSchema, str | None]:
    sniff = forced is None or forced[0] == Role.DATETIME
    seen = observe(series, sniff_dates=sniff, keep=keep)
    strings: pd.Series | None = None
    if seen.kind in ("int", "float") and not seen.from_text:
        # Distinct numbers are distinct strings too; no per-value conversion needed.
        n_unique = int(seen.values.nunique())
    else:
        strings = as_strings(seen.values)
        n_unique = int(strings.nunique())
    role, reason = forced if forced is not None else _auto_role(name, seen, n_unique)
    dtype = _dtype_for(role, seen.kind)
    categories = None
    if role in (Role.CATEGORICAL, Role.BOOLEAN):
        categories = _ranked_categories(as_strings(seen.values) if strings is None else strings)
    n_rows = seen.n_rows
    column = ColumnSchema(
        name=name,
        role=role,
        dtype=dtype,
        nullable=seen.count < n_rows,
        categories=categories,
        n_unique=n_unique,
        missing_rate=float(1.0 - seen.count / n_rows) if n_rows else 0.0,
        reason=reason,
    )
    fmt = seen.date_format if dtype == "datetime" else None
    return column, fmt


def _close_matches(name: str, candidates: Sequence[str]) -> list[str]:
    lowered = {str(c).lower(): str(c) for c in candidates}
    found = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    return [lowered[f] for f in found]


def _column_list(columns: Sequence[Any], limit: int = 30) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def missing_column_message(what: str, name: str, columns: Sequence[Any], source: str) -> str:
    """ "{what} 'x' not found in {source}; did you mean 'X'? Columns: ..."."""
    message = f"{what} {name!r} not found in {source}"
    if len(columns) == 1:
        # The whole header in one column: the file was split on the wrong character.
        header = str(columns[0])
        counts = {sep: header.count(sep) for sep in ",;\t|"}
        separator = max(counts, key=lambda sep: counts[sep])
        if counts[separator]:
            shown = "\\t" if separator == "\t" else separator
            return (
                f"{message}: the header {header!r} looks like '{shown}'-separated: "
                f"set separator = '{shown}' in [data]"
            )
    matches = _close_matches(name, [str(c) for c in columns])
    if matches:
        message += "; did you mean " + " or ".join(repr(m) for m in matches) + "?"
    return message + f" Columns: {_column_list(columns)}"


def _check_named_columns(
    frame: pd.DataFrame,
    target: str | None,
    roles: Mapping[str, str],
    id_columns: Sequence[str],
    time_column: str | None,
) -> None:
    columns = list(frame.columns)
    if target is not None and target not in frame.columns:
        raise DataError(missing_column_message("target column", target, columns, "data"))
    named = [(name, "roles") for name in roles]
    named += [(name, "id_columns") for name in id_columns]
    if time_column is not None:
        named.append((time_column, "time_column"))
    for name, key in named:
        if name not in frame.columns:
            raise DataError(missing_column_message(f"column named in {key}", name, columns, "data"))
        if name == target:
            raise DataError(
                f"column {name!r} is the target but is also named in {key}; remove it from {key}"
            )
    for name, role in roles.items():
        if role not in _USER_ROLES:
            raise DataError(
                f"roles: column {name!r} has unknown role {role!r}; "
                f"allowed: {', '.join(sorted(_USER_ROLES))}"
            )


def infer_schema(
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    task: str | None = None,
    roles: Mapping[str, str] | None = None,
    id_columns: Sequence[str] = (),
    time_column: str | None = None,
) -> Schema:
    """Infer each column's role and type from training data.

    Roles set by the user (``roles``, ``id_columns``, ``time_column``) win;
    other columns get a role from what they hold (see ``ColumnSchema.reason``).
    Sentinel words that the type repair kept as categories ("None" in a
    column where it is the most frequent value; recorded in the repaired
    frame's attrs) are categories here too, and number formats it read
    ("$1,234.50") are kept in the metadata for scoring.
    The target is left out of the columns; ``task`` is inferred from it when
    not given, and ``classes`` are its sorted values for classification.

    Raises:
        DataError: the target or a column named in the arguments is missing,
            or a role is unknown.
    """
    roles = dict(roles or {})
    _check_named_columns(frame, target, roles, id_columns, time_column)
    kept: dict[str, list[str]] = frame.attrs.get(KEPT_WORDS_ATTR) or {}
    ids = set(id_columns)
    columns: list[ColumnSchema] = []
    formats: dict[str, str] = {}
    for label in frame.columns:
        name = str(label)
        if target is not None and name == target:
            continue
        forced: tuple[Role, str] | None = None
        if name in roles:
            forced = (Role(roles[name]), f"set to {roles[name]!r} in roles")
        elif name in ids:
            forced = (Role.ID, "listed in id_columns")
        elif name == time_column:
            forced = (Role.DATETIME, "the time column")
        column, fmt = _infer_column(
            name, frame[label], forced=forced, keep=frozenset(kept.get(name, ()))
        )
        columns.append(column)
        if fmt is not None:
            formats[name] = fmt
    classes: tuple[str, ...] | None = None
    if target is not None:
        if task is None:
            task = infer_task(frame[target], keep=frozenset(kept.get(target, ())))
        if task in task_names() and get_task(task).has_classes:
            classes = class_labels(frame[target], keep=frozenset(kept.get(target, ())))
    metadata: dict[str, Any] = {"datetime_formats": formats} if formats else {}
    numbers = {
        name: fmt
        for name, fmt in (frame.attrs.get(NUMBER_FORMATS_ATTR) or {}).items()
        if name in frame.columns and name != target
    }
    if numbers:
        metadata["number_formats"] = numbers
    return Schema(
        columns=tuple(columns), target=target, task=task, classes=classes, metadata=metadata
    )


def _date_format(schema: Schema, name: str) -> str | None:
    formats = schema.metadata.get("datetime_formats") or {}
    fmt = formats.get(name)
    return str(fmt) if fmt else None


def number_format(schema: Schema, name: str) -> NumberFormat | None:
    """How the column wrote its numbers in training ("$1,234.50"), if formatted."""
    found = (schema.metadata.get("number_formats") or {}).get(name)
    return NumberFormat.from_dict(found) if found else None


def kept_words(column: ColumnSchema) -> frozenset[str]:
    """The column's categories that are also missing-value sentinels ("None")."""
    if not column.categories:
        return frozenset()
    return frozenset(c for c in column.categories if c.strip().lower() in MISSING_SENTINELS)


def coerce_column(
    series: pd.Series,
    column: ColumnSchema,
    *,
    date_format: str | None = None,
    number_format: NumberFormat | None = None,
) -> tuple[pd.Series, pd.Series]:
    """``series`` converted to the column's logical type.

    Returns the converted values and a boolean mask of the rows whose value
    was present but could not be converted (they become missing).

    Representation: "float" -> float64; "int" -> int64, or float64 when
    values are missing or fractional; "bool" -> bool, or pandas "boolean"
    when values are missing; "string" -> pandas "str" (numbers written as by
    :func:`as_strings`); "datetime" -> datetime64. Numbers written as in
    training (``number_format``: "$1,234.50", "45.2%") read as training read
    them; a sentinel word that is one of the column's categories ("None")
    stays that category.
    """
    cleaned = normalize_missing(series, keep=kept_words(column))
    present = cleaned.notna()
    dtype = column.dtype
    if dtype in ("float", "int"):
        if pd.api.types.is_bool_dtype(cleaned.dtype) or is_numeric_dtype(cleaned):
            numbers = cleaned.astype("float64")
        else:
            source = cleaned.map(
                lambda v: float(v) if isinstance(v, bool | np.bool_) else v, na_action="ignore"
            )
            numbers = pd.to_numeric(source, errors="coerce").astype("float64")
            if number_format is not None:
                numbers = _formatted(source, numbers, number_format)
        bad = present & numbers.isna()
        if dtype == "int" and not numbers.isna().any() and integral(numbers):
            return numbers.astype("int64"), bad
        return numbers, bad
    if dtype == "bool":
        strings = as_strings(cleaned).str.lower()
        mapped = strings.map(
            lambda v: True if v in _TRUE_STRINGS else (False if v in _FALSE_STRINGS else None),
            na_action="ignore",
        )
        bad = present & mapped.isna()
        if mapped.isna().any():
            return mapped.astype("boolean"), bad
        return mapped.astype(bool), bad
    if dtype == "datetime":
        if pd.api.types.is_datetime64_any_dtype(cleaned.dtype):
            return cleaned, present & cleaned.isna()
        dates = parse_dates(as_strings(cleaned), date_format)
        dates.index = series.index
        return dates, present & dates.isna()
    strings = as_strings(cleaned)
    return strings, present & strings.isna()


def _formatted(source: pd.Series, numbers: pd.Series, fmt: NumberFormat) -> pd.Series:
    """Text that did not read as a plain number, read with the column's format."""
    todo = numbers.isna() & source.map(lambda v: isinstance(v, str), na_action="ignore").eq(True)
    if fmt.decimal != ".":
        # "1.234" is 1234 where the decimal is a comma.
        todo |= source.map(lambda v: isinstance(v, str), na_action="ignore").eq(True)
    if not todo.any():
        return numbers
    texts = [str(v) for v in source[todo]]
    out = numbers.copy()
    out[todo] = parse_with(texts, fmt)
    return out


def unseen_categories(values: pd.Series, column: ColumnSchema) -> pd.Series:
    """Counts of values not among the column's known categories (empty when
    the column has no complete category list)."""
    known = column.categories
    if (
        column.role not in (Role.CATEGORICAL, Role.BOOLEAN)
        or known is None
        or len(known) < column.n_unique
    ):
        return pd.Series(dtype="int64")
    strings = as_strings(values).dropna()
    unseen = strings[~strings.isin(list(known))]
    return unseen.value_counts()


def text_names(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every column name as text (``pd.DataFrame(array)``
    names its columns 0, 1, ...): a schema names columns by text, so the
    same frame trains and predicts."""
    if all(isinstance(c, str) for c in frame.columns):
        return frame
    return frame.set_axis([str(c) for c in frame.columns], axis=1)


def conform(frame: pd.DataFrame, schema: Schema) -> tuple[pd.DataFrame, list[str]]:
    """Check scoring data against a schema and bring it to the trained form.

    The target (if present) is dropped; extra columns are dropped with a
    warning; columns are put in schema order, with absent non-feature
    columns (ids, constants, ignored) filled with NaN; feature values are
    converted to the trained types (see :func:`coerce_column`), sentinels
    such as "?" and blanks read as missing.

    Returns:
        The conformed frame and a list of warnings (extra columns, unseen
        categories).

    Raises:
        SchemaMismatchError: a feature column is missing, a column name is
            repeated, or a value cannot be converted (names the column, row
            and value).
    """
    notes: list[str] = []
    frame = text_names(frame)
    repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if repeated:
        raise SchemaMismatchError(
            f"column name(s) repeated in the data: {', '.join(repr(c) for c in repeated)}; "
            "give each column a unique name"
        )
    present = set(frame.columns)
    missing = [name for name in schema.feature_names if name not in present]
    if missing:
        hints = []
        for name in missing:
            matches = _close_matches(name, [str(c) for c in frame.columns])
            if matches:
                hints.append(f"{name!r} (found {matches[0]!r})")
        hint = f"; similar names in the data: {', '.join(hints)}" if hints else ""
        raise SchemaMismatchError(
            f"data is missing {len(missing)} column(s) the model needs: "
            f"{', '.join(repr(m) for m in missing)}{hint}. "
            f"Expected columns: {_column_list(schema.feature_names)}"
        )
    known = set(schema.names)
    extra = [c for c in frame.columns if c not in known and c != schema.target]
    if extra:
        notes.append(f"ignored extra column(s): {_column_list(extra)}")
    out: dict[str, pd.Series] = {}
    for column in schema.columns:
        if column.name not in present:
            out[column.name] = pd.Series(np.nan, index=frame.index, dtype="float64")
            continue
        series = frame[column.name]
        if not column.is_feature:
            out[column.name] = series
            continue
        values, bad = coerce_column(
            series,
            column,
            date_format=_date_format(schema, column.name),
            number_format=number_format(schema, column.name),
        )
        if bad.any():
            first = bad[bad].index[0]
            raise SchemaMismatchError(
                f"column {column.name!r}: value {series.loc[first]!r} in row {first!r} "
                f"cannot be read as {column.dtype} ({int(bad.sum())} such value(s)); "
                f"fix or blank out the value(s), or retrain if the column changed type"
            )
        if pd.api.types.is_float_dtype(values.dtype):
            # Training reads inf and -inf as missing (a quality finding); scoring
            # does the same instead of failing inside the imputer.
            infinite = np.isinf(values.to_numpy(dtype=float, na_value=np.nan))
            if infinite.any():
                values = values.mask(infinite)
                notes.append(
                    f"column {column.name!r}: {int(infinite.sum())} infinite value(s) "
                    "read as missing, as in training"
                )
        unseen = unseen_categories(values, column)
        if len(unseen):
            notes.append(
                f"column {column.name!r}: {len(unseen)} unseen categor"
                f"{'y' if len(unseen) == 1 else 'ies'} in {int(unseen.sum())} row(s), "
                f"e.g. {unseen.index[0]!r}"
            )
        out[column.name] = values
    return pd.DataFrame(out, index=frame.index), notes
