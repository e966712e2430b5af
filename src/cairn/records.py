"""JSON records ↔ arrays, shared by export and serving.

:func:`to_records` turns a frame into JSON-ready records; :func:`restore_label`
turns a class label stored as text back into the target's type.

A :class:`RecordAdapter` checks each record (a JSON object) against the
model's :class:`~cairn.data.schema.Schema` and turns a list of them into the
arrays the serving graph takes (see :mod:`cairn.export`):

``num``   float64 (rows, numeric columns): the value, NaN when missing.
``cat``   int64 (rows, categorical and boolean columns): a code per value,
          from the column's dictionary; :data:`MISSING`, :data:`UNSEEN`,
          :data:`UNSEEN_TRUE`, :data:`UNSEEN_FALSE` are reserved.
``dt``    float64 (rows, 7 per datetime column): year, month, day,
          day of week, hour, day of year, days since 1970-01-01.
``text_<i>`` float64 (rows, vocabulary size): term counts of text column i.

Values are read exactly as :func:`cairn.data.schema.conform` reads a column:
sentinels such as ``"?"`` and blanks are missing, integral numbers are the
category ``"3"`` whether sent as ``3`` or ``3.0``, numbers written as text are
numbers. JSON numbers, strings, booleans and null take a fast path; anything
rarer (numbers as text, dates in a non-ISO format) goes through
:func:`~cairn.data.schema.coerce_column` itself, so both paths agree.

Problems are collected per record and column and raised together as
:class:`RecordsError` (the server answers 422 with each location). A boolean
sent for a number column is read as 1 or 0 and noted in the warnings, since
that changes what the value says. :meth:`RecordAdapter.typed` gives a record
back with each value in its column's type, as the model read it (what the
prediction log stores).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from cairn.data.schema import (
    MISSING_SENTINELS,
    ColumnSchema,
    NumberFormat,
    Role,
    Schema,
    coerce_column,
    kept_words,
    number_format,
)
from cairn.data.values import category_string
from cairn.exceptions import SchemaMismatchError

__all__ = [
    "DATE_PARTS",
    "FIRST_CODE",
    "MISSING",
    "UNSEEN",
    "UNSEEN_FALSE",
    "UNSEEN_TRUE",
    "Encoded",
    "RecordAdapter",
    "RecordProblem",
    "RecordsError",
    "canonical_string",
    "restore_label",
    "to_records",
]

#: Reserved codes in the ``cat`` input; known strings start at FIRST_CODE.
MISSING, UNSEEN, UNSEEN_TRUE, UNSEEN_FALSE = 0, 1, 2, 3
FIRST_CODE = 4
#: The parts computed for each datetime column, in ``dt`` order.
DATE_PARTS: tuple[str, ...] = (
    "year",
    "month",
    "day",
    "dayofweek",
    "hour",
    "dayofyear",
    "epoch_days",
)
_MAX_PROBLEMS = 50
_SCHEMA_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_SCHEMA_FALSE = frozenset({"false", "f", "no", "n", "0"})
_ISO_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?$")
_DAY_NS = 86_400 * 10**9
_PYTHON_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool}
_EPOCH = datetime(1970, 1, 1)


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: NaN → None, numpy scalars → Python, times → ISO text."""
    columns = [str(c) for c in frame.columns]
    out: list[dict[str, Any]] = []
    for row in frame.itertuples(index=False, name=None):
        out.append({name: _json_value(value) for name, value in zip(columns, row, strict=True)})
    return out


def _json_value(value: Any) -> Any:
    # Not cairn._io.json_safe: a record cell is one scalar the adapter reads as
    # conform reads a column, so anything that is not a JSON scalar (durations,
    # lists, decimals) becomes its str(); json_safe would give ISO durations and
    # nested lists, and nanoseconds for a numpy datetime64.
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else number
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).isoformat()
    return value if isinstance(value, str) else str(value)


def restore_label(label: str, target_dtype: str | None) -> Any:
    """A class label stored as text, back in the target's type."""
    if target_dtype == "int":
        return int(label)
    if target_dtype == "float":
        return float(label)
    if target_dtype == "bool":
        return label == "True"
    return label


@dataclass(frozen=True)
class RecordProblem:
    """One value the model cannot take: where it is and what is wrong."""

    record: int | None
    column: str | None
    message: str
    kind: str = "value_error"

    def to_dict(self) -> dict[str, Any]:
        loc: list[Any] = ["body", "records"]
        if self.record is not None:
            loc.append(self.record)
        if self.column is not None:
            loc.append(self.column)
        return {"loc": loc, "msg": self.message, "type": self.kind}

    def __str__(self) -> str:
        where = []
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where) or 'request'}: {self.message}"


class RecordsError(SchemaMismatchError):
    """Records that do not match the model's schema; ``problems`` lists each one."""

    def __init__(self, problems: Sequence[RecordProblem]) -> None:
        self.problems = list(problems)
        shown = "; ".join(str(p) for p in self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"{shown}{more}")


@dataclass
class Encoded:
    """What :meth:`RecordAdapter.encode` produced for a batch of records.

    Attributes:
        feeds: graph inputs by name (empty when the adapter has no graph spec).
        warnings: repairs and notes, each with record and column.
        unseen: per record, the columns holding a category unseen in training.
    """

    feeds: dict[str, np.ndarray]
    warnings: list[dict[str, Any]] = field(default_factory=list)
    unseen: list[list[str]] = field(default_factory=list)


def canonical_string(value: Any, keep: frozenset[str] = frozenset()) -> str | None:
    """A JSON value as the category string cairn trained on; None when missing.

    Same convention as the schema's categories: text stripped (sentinels such
    as ``"?"`` are missing, except those in ``keep``: a column's categories
    such as "None"), integral numbers without ``.0``, booleans as
    ``True``/``False``.
    """
    # JSON scalars only: an object or a list is refused, not written as text.
    if not isinstance(value, str | bool | int | float | None):
        raise TypeError(type(value).__name__)
    text = category_string(value)
    # category_string gives NaN for None and NaN; only text can be a sentinel.
    if not isinstance(text, str) or (text.lower() in MISSING_SENTINELS and text not in keep):
        return None
    return text


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


class _Column:
    """How one schema column is read from a record."""

    def __init__(
        self,
        column: ColumnSchema,
        *,
        date_format: str | None,
        number_format: NumberFormat | None = None,
        codes: Mapping[str, int] | None = None,
        true_words: frozenset[str] = frozenset(),
        false_words: frozenset[str] = frozenset(),
        known: frozenset[str] | None = None,
    ) -> None:
        self.name = column.name
        self.schema = column
        self.role = column.role
        self.dtype = column.dtype
        self.date_format = date_format
        self.number_format = number_format
        # sentinel words that are categories of this column ("None")
        self.keep = kept_words(column)
        self.codes = dict(codes or {})
        self.true_words = true_words
        self.false_words = false_words
        self.known = known
        # values already of this type are logged as sent (the common case, kept cheap)
        self.pytype: type = _PYTHON_TYPES.get(column.dtype, str)

    # -- slow path: the library's own coercion, for rare value forms -------
    def _coerce(self, value: Any) -> Any:
        values, bad = coerce_column(
            pd.Series([value], dtype=object),
            self.schema,
            date_format=self.date_format,
            number_format=self.number_format,
        )
        if bool(bad.iloc[0]):
            raise ValueError(f"cannot read {value!r} as {self.dtype}")
        out = values.iloc[0]
        return None if out is None or out is pd.NA or out is pd.NaT or out != out else out

    def number(self, value: Any) -> float:
        """Numeric columns: the float the pipeline sees (NaN when missing)."""
        if value is None:
            return math.nan
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            if value.strip().lower() in MISSING_SENTINELS:
                return math.nan
            coerced = self._coerce(value)
            number = math.nan if coerced is None else float(coerced)
        else:
            raise TypeError(f"expected a number, got {_json_type(value)}")
        if math.isinf(number):
            raise ValueError(f"{value!r} is not a finite number; send null for a missing value")
        return number

    def category(self, value: Any) -> str | None:
        """Categorical, boolean and text columns: the canonical string."""
        if isinstance(value, dict | list):
            raise TypeError(f"expected a string, number, boolean or null, got {_json_type(value)}")
        if self.role == Role.TEXT or self.role == Role.CATEGORICAL or self.dtype == "string":
            return canonical_string(value, self.keep)
        if self.dtype == "bool":
            text = canonical_string(value, self.keep)
            if text is None:
                return None
            low = text.lower()
            if low in _SCHEMA_TRUE:
                return "True"
            if low in _SCHEMA_FALSE:
                return "False"
            raise ValueError(f"cannot read {value!r} as a boolean (true/false, yes/no, 1/0)")
        # a boolean column holding numbers (e.g. 0/1): numeric, then as a category
        return canonical_string(self.number(value))

    def typed(self, value: Any) -> Any:
        """The value in the column's type (int, float, bool or str), None when missing."""
        if value is None:
            return None
        dtype = self.dtype
        if dtype in ("int", "float"):
            if isinstance(value, int) and not isinstance(value, bool):
                return value if dtype == "int" else float(value)
            number = self.number(value)
            if math.isnan(number):
                return None
            return int(number) if dtype == "int" and number.is_integer() else number
        if isinstance(value, dict | list):
            raise TypeError(f"expected a single value, got {_json_type(value)}")
        if dtype == "bool":
            text = self.category(value)
            return None if text is None else text == "True"
        return canonical_string(value, self.keep)

    def code(self, text: str | None) -> int:
        if text is None:
            return MISSING
        found = self.codes.get(text)
        if found is not None:
            return found
        if self.role == Role.BOOLEAN:
            low = text.lower()
            if low in self.true_words:
                return UNSEEN_TRUE
            if low in self.false_words:
                return UNSEEN_FALSE
        return UNSEEN

    def date_parts(self, value: Any) -> list[float]:
        """Datetime columns: the seven parts (NaN when missing)."""
        if isinstance(value, dict | list):
            raise TypeError(f"expected a date-time string, got {_json_type(value)}")
        stamp: Any = None
        text = canonical_string(value)
        if text is None:
            return [math.nan] * len(DATE_PARTS)
        if self.date_format in (None, "ISO8601") and _ISO_NAIVE.match(text):
            try:
                stamp = datetime.fromisoformat(text)
            except ValueError:
                stamp = None
        if stamp is None:
            coerced = self._coerce(value)
            if coerced is None:
                return [math.nan] * len(DATE_PARTS)
            stamp = pd.Timestamp(coerced)
            if stamp.tzinfo is not None:
                stamp = stamp.tz_convert("UTC").tz_localize(None)
        return _parts(stamp)


def _parts(stamp: Any) -> list[float]:
    """Calendar parts as DatetimeFeatures computes them (naive UTC)."""
    if isinstance(stamp, pd.Timestamp):
        ns = int(stamp.value)
        if stamp.unit != "ns":
            ns = int(stamp.as_unit("ns").value)
    else:
        delta = stamp - _EPOCH
        ns = ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1000
    return [
        float(stamp.year),
        float(stamp.month),
        float(stamp.day),
        float(stamp.weekday()),
        float(stamp.hour),
        float(stamp.timetuple().tm_yday),
        # pandas divides int64 nanoseconds as float64, so do the same
        float(np.float64(ns) / np.float64(_DAY_NS)),
    ]


class _TextColumn:
    """Term counts of one text column over the union of the models' vocabularies."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.vocabulary = {term: i for i, term in enumerate(spec["vocabulary"])}
        self.lowercase = bool(spec.get("lowercase", True))
        self.pattern = re.compile(str(spec["token_pattern"]))
        low, high = spec.get("ngram_range", (1, 1))
        self.min_n, self.max_n = int(low), int(high)

    def terms(self, text: str) -> list[str]:
        """The analyzer of scikit-learn's word n-gram vectorizers."""
        if self.lowercase:
            text = text.lower()
        tokens = self.pattern.findall(text)
        if self.max_n == 1:
            return tokens if self.min_n == 1 else []
        out = list(tokens) if self.min_n == 1 else []
        first = max(self.min_n, 2)
        for n in range(first, min(self.max_n, len(tokens)) + 1):
            out.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        return out

    def counts(self, text: str | None, row: np.ndarray) -> None:
        if not text:
            return
        vocabulary = self.vocabulary
        for term in self.terms(text):
            index = vocabulary.get(term)
            if index is not None:
                row[index] += 1.0


class RecordAdapter:
    """Reads JSON records for one model.

    Args:
        schema: the model's input schema.
        spec: the ``inputs`` part of the bundle's serving.json, or None to
            check records only (no graph inputs).
    """

    def __init__(self, schema: Schema, spec: Mapping[str, Any] | None = None) -> None:
        self.schema = schema
        formats = schema.metadata.get("datetime_formats") or {}
        inputs = dict(spec or {})
        codes = inputs.get("codes") or {}
        self.columns: dict[str, _Column] = {}
        # columns the model does not use (ids, ...): typed for the log only
        self.others: dict[str, _Column] = {}
        for column in schema.columns:
            if not column.is_feature:
                self.others[column.name] = _Column(column, date_format=formats.get(column.name))
                continue
            coded = codes.get(column.name) or {}
            strings = list(coded.get("strings", ()))
            categories = column.categories
            complete = categories is not None and len(categories) >= column.n_unique
            if complete:
                known: frozenset[str] | None = frozenset(categories or ())
            elif strings:
                known = frozenset(strings)
            else:
                known = None
            self.columns[column.name] = _Column(
                column,
                date_format=formats.get(column.name),
                number_format=number_format(schema, column.name),
                codes={text: FIRST_CODE + i for i, text in enumerate(strings)},
                true_words=frozenset(coded.get("true_words", ())),
                false_words=frozenset(coded.get("false_words", ())),
                known=known
                if column.role in (Role.CATEGORICAL, Role.BOOLEAN) and column.dtype != "bool"
                else None,
            )
        self.required = [name for name in self.columns]
        self.known_names = frozenset(schema.names) | (
            {schema.target} if schema.target is not None else set()
        )
        self.num = [self.columns[n] for n in inputs.get("num", ())]
        self.cat = [self.columns[n] for n in inputs.get("cat", ())]
        # category columns coded as numbers: a boolean there becomes 1 or 0
        self.numeric_cat = frozenset(
            c.name for c in self.columns.values() if c.dtype in ("int", "float")
        )
        self.dt = [self.columns[n] for n in inputs.get("dt", ())]
        self.text = [
            (self.columns[item["column"]], _TextColumn(item)) for item in inputs.get("text", ())
        ]
        self.has_graph = spec is not None
        # Columns checked but not fed (validation-only adapters check every feature).
        fed = {c.name for c in (*self.num, *self.cat, *self.dt)} | {c.name for c, _ in self.text}
        self.checked_only = [c for name, c in self.columns.items() if name not in fed]

    def encode(self, records: Sequence[Any]) -> Encoded:
        """Check records and build the graph inputs.

        Raises:
            RecordsError: a record is not an object, misses a model input, or
                holds a value that cannot be read as its column's type.
        """
        n = len(records)
        problems: list[RecordProblem] = []
        num = np.empty((n, len(self.num)), dtype=np.float64)
        cat = np.empty((n, len(self.cat)), dtype=np.int64)
        dt = np.empty((n, len(DATE_PARTS) * len(self.dt)), dtype=np.float64)
        texts = [np.zeros((n, len(t.vocabulary)), dtype=np.float64) for _, t in self.text]
        unseen: list[list[str]] = [[] for _ in range(n)]
        extra: set[str] = set()
        as_numbers: list[tuple[int, str]] = []
        numeric_cat = self.numeric_cat

        def fail(index: int, column: str | None, error: Exception | str, kind: str) -> None:
            if len(problems) < _MAX_PROBLEMS:
                problems.append(RecordProblem(index, column, str(error), kind))

        for i, record in enumerate(records):
            if not isinstance(record, dict):
                fail(i, None, TypeError(f"expected an object, got {_json_type(record)}"), "type")
                continue
            if len(record) > len(self.columns) or not self.columns.keys() <= record.keys():
                missing = [name for name in self.required if name not in record]
                for name in missing:
                    fail(i, name, "column is missing; send null if unknown", "missing")
                if missing:
                    continue
                extra.update(str(k) for k in record if k not in self.known_names)
            for j, col in enumerate(self.num):
                value = record[col.name]
                if value.__class__ is bool:
                    as_numbers.append((i, col.name))
                try:
                    num[i, j] = col.number(value)
                except (TypeError, ValueError) as error:
                    fail(i, col.name, error, _kind(error))
            for j, col in enumerate(self.cat):
                value = record[col.name]
                if value.__class__ is bool and col.name in numeric_cat:
                    as_numbers.append((i, col.name))
                try:
                    text = col.category(value)
                except (TypeError, ValueError) as error:
                    fail(i, col.name, error, _kind(error))
                    continue
                cat[i, j] = col.code(text)
                if text is not None and col.known is not None and text not in col.known:
                    unseen[i].append(col.name)
            for j, col in enumerate(self.dt):
                try:
                    dt[i, j * len(DATE_PARTS) : (j + 1) * len(DATE_PARTS)] = col.date_parts(
                        record[col.name]
                    )
                except (TypeError, ValueError) as error:
                    fail(i, col.name, error, _kind(error))
            for (col, vectorizer), out in zip(self.text, texts, strict=True):
                try:
                    vectorizer.counts(col.category(record[col.name]), out[i])
                except (TypeError, ValueError) as error:
                    fail(i, col.name, error, _kind(error))
            for col in self.checked_only:
                value = record[col.name]
                if value.__class__ is bool and col.name in numeric_cat:
                    as_numbers.append((i, col.name))
                try:
                    self._check(col, value, unseen[i])
                except (TypeError, ValueError) as error:
                    fail(i, col.name, error, _kind(error))
        if problems:
            raise RecordsError(problems)
        return Encoded(
            feeds=self._feeds(num, cat, dt, texts),
            warnings=self._notes(extra, unseen, as_numbers),
            unseen=unseen,
        )

    def _notes(
        self, extra: set[str], unseen: list[list[str]], as_numbers: list[tuple[int, str]]
    ) -> list[dict[str, Any]]:
        """Warnings for a batch that was read: ignored columns, unseen
        categories, booleans read as numbers."""
        warnings: list[dict[str, Any]] = []
        if extra:
            shown = ", ".join(sorted(extra)[:20])
            warnings.append(
                {"record": None, "column": None, "message": f"ignored extra column(s): {shown}"}
            )
        for i, columns in enumerate(unseen):
            for name in columns:
                warnings.append(
                    {"record": i, "column": name, "message": "category unseen in training"}
                )
        for i, name in as_numbers:
            warnings.append(
                {
                    "record": i,
                    "column": name,
                    "message": f"boolean read as a number ({self.columns[name].dtype} column): "
                    "true is 1, false is 0; send the number",
                }
            )
        return warnings

    def _feeds(
        self, num: np.ndarray, cat: np.ndarray, dt: np.ndarray, texts: list[np.ndarray]
    ) -> dict[str, np.ndarray]:
        """The graph inputs by name; none when the adapter has no graph spec."""
        feeds: dict[str, np.ndarray] = {}
        if self.has_graph:
            if self.num:
                feeds["num"] = num
            if self.cat:
                feeds["cat"] = cat
            if self.dt:
                feeds["dt"] = dt
            for k, out in enumerate(texts):
                feeds[f"text_{k}"] = out
        return feeds

    def typed(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """``record`` with each schema column's value in the column's type, as
        the model read it (``"12"`` → 12, ``true`` → 1 in an int column);
        other keys and values that cannot be read stay as sent."""
        out: dict[str, Any] = {}
        columns, others = self.columns, self.others
        for key, value in record.items():
            col = columns.get(key) or others.get(key)
            if col is None or value is None or value.__class__ is col.pytype:
                out[key] = value
                continue
            try:
                out[key] = col.typed(value)
            except (TypeError, ValueError, OverflowError):
                out[key] = value
        return out

    @staticmethod
    def _check(col: _Column, value: Any, unseen: list[str]) -> None:
        if col.role == Role.NUMERIC:
            col.number(value)
        elif col.role == Role.DATETIME:
            col.date_parts(value)
        else:
            text = col.category(value)
            if text is not None and col.known is not None and text not in col.known:
                unseen.append(col.name)


def _kind(error: Exception) -> str:
    return "type_error" if isinstance(error, TypeError) else "value_error"
