"""How cairn reads values, the same way in training, scoring and monitoring:
missing-value sentinels, the canonical string of a category or class label,
numbers or dates stored as text, what kind of values a column holds
(:func:`observe`) and what a target's values suggest (:func:`infer_task`,
:func:`class_labels`). Column roles are decided from these in
:mod:`cairn.data.schema`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cairn.data._numbers import read_formatted
from cairn.exceptions import DataError

__all__ = [
    "CATEGORY_WORDS",
    "LEADING_ZERO",
    "MISSING_SENTINELS",
    "Observed",
    "all_bools",
    "as_strings",
    "category_string",
    "class_labels",
    "infer_task",
    "integral",
    "is_numeric_dtype",
    "is_text_dtype",
    "normalize_missing",
    "numeric_from_text",
    "observe",
    "parse_dates",
    "reader_na_values",
    "sniff_date_format",
]

# Strings read as missing, compared after stripping and lower-casing: the
# one list every reader and every repair uses (a source's ``missing`` option
# replaces it for that source).
MISSING_SENTINELS: frozenset[str] = frozenset(
    {
        "",
        "?",
        "na",
        "n/a",
        "#n/a",
        "#n/a n/a",
        "#na",
        "<na>",
        "nan",
        "-nan",
        "null",
        "none",
        "1.#ind",
        "-1.#ind",
        "1.#qnan",
        "-1.#qnan",
    }
)
# Sentinels that are also ordinary words ("no masonry veneer": None; "no
# alley": NA): in a text column where one is the most frequent value or
# fills at least CATEGORY_WORD_SHARE of the rows (and at least
# CATEGORY_WORD_MIN_ROWS rows), it stays a category.
CATEGORY_WORDS: frozenset[str] = frozenset({"none", "na"})
CATEGORY_WORD_SHARE = 0.10
CATEGORY_WORD_MIN_ROWS = 5


def reader_na_values(missing: list[str] | None) -> list[str]:
    """The strings a file reader turns into missing values: a source's own
    list as given, else the sentinels in their usual spellings, leaving the
    words that may be categories (``CATEGORY_WORDS``) to the type repair."""
    if missing is not None:
        return sorted({"", *missing})
    spellings: set[str] = set()
    for word in MISSING_SENTINELS - CATEGORY_WORDS:
        spellings |= {word, word.upper(), word.title()}
    spellings |= {"NaN", "-NaN"}
    return sorted(spellings)


# Candidate formats tried, in order, when sniffing dates stored as text.
_DATE_FORMATS: tuple[str, ...] = (
    "ISO8601",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d %b %Y",
    "%b %d, %Y",
    "%d %B %Y",
    "%B %d, %Y",
)
_DATE_SNIFF_SAMPLE = 500
_DATE_MIN_SHARE = 0.95
# Targets with at most this many integer values are read as classes.
_MAX_CLASSIFICATION_LEVELS = 10

# Numbers written with a leading zero ("02134") are codes, not numbers.
LEADING_ZERO = re.compile(r"^-?0\d")


def is_text_dtype(series: pd.Series) -> bool:
    """Strings (pandas "str"/"string"), object or categorical columns."""
    dtype = series.dtype
    return (
        pd.api.types.is_object_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype | pd.StringDtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def is_numeric_dtype(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )


def normalize_missing(series: pd.Series, *, keep: frozenset[str] = frozenset()) -> pd.Series:
    """Strings stripped of surrounding whitespace, and missing-value sentinels
    ('?', 'NA', 'N/A', 'null', 'None', blank, ...) replaced by NaN, except
    those in ``keep`` (a column's categories that are sentinel words, such
    as "None").

    Non-text columns are returned unchanged; non-string values inside object
    columns are left alone.
    """
    if not is_text_dtype(series):
        return series
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    values = series.to_numpy(dtype=object)
    # Each distinct value looked at once (a string never equals a non-string,
    # so only strings are merged with their equals).
    codes, uniques = _distinct(values)
    unique_str = np.fromiter((isinstance(v, str) for v in uniques), dtype=bool, count=len(uniques))
    is_str = np.append(unique_str, False)[codes]
    if not is_str.any():
        return series
    out = series.copy()
    stripped = pd.Series(uniques[unique_str], dtype=object).str.strip()
    sentinel = stripped.str.lower().isin(MISSING_SENTINELS).to_numpy()
    if keep:
        sentinel = sentinel & ~stripped.isin(keep).to_numpy()
    cleaned = stripped.to_numpy(dtype=object, copy=True)
    cleaned[sentinel] = np.nan
    by_unique = np.empty(len(uniques), dtype=object)
    by_unique[unique_str] = cleaned
    new_values = by_unique[codes[is_str]]
    if pd.api.types.is_object_dtype(out.dtype):
        out_values = out.to_numpy(dtype=object).copy()
        out_values[is_str] = new_values
        return pd.Series(out_values, index=series.index, name=series.name, dtype=object)
    out.loc[is_str] = new_values
    return out


def _distinct(values: np.ndarray, *, by_type: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Codes and distinct values of an object array (missing values coded
    -1); every value its own code when some cannot be hashed (lists).

    ``by_type``: values of different types are never merged (1, 1.0 and True
    are equal keys to pandas, but a conversion may tell them apart).
    """
    kinds = (
        pd.factorize(np.fromiter(map(type, values), dtype=object, count=len(values)))[0]
        if by_type and len(values)
        else np.zeros(0, dtype=np.intp)
    )
    if kinds.size == 0 or kinds.max() == 0:
        return _factorized(values)
    codes = np.full(len(values), -1, dtype=np.intp)
    uniques: list[np.ndarray] = []
    offset = 0
    for kind in range(int(kinds.max()) + 1):
        rows = np.flatnonzero(kinds == kind)
        part_codes, part_uniques = _factorized(values[rows])
        codes[rows] = np.where(part_codes >= 0, part_codes + offset, -1)
        uniques.append(part_uniques)
        offset += len(part_uniques)
    return codes, np.concatenate(uniques)


def _factorized(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    try:
        codes, uniques = pd.factorize(values)
    except TypeError:
        known = ~pd.isna(values) if values.ndim == 1 else np.ones(len(values), dtype=bool)
        codes = np.where(known, np.arange(len(values)), -1)
        return codes, values
    return codes, np.asarray(uniques, dtype=object)


def category_string(value: Any) -> Any:
    """One value as the string cairn uses for categories and class labels
    (NaN for a missing value)."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return np.nan
    if value is pd.NA or value is pd.NaT:
        return np.nan
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if number.is_integer() and abs(number) < 1e15:
            return str(int(number))
        return repr(number)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value).strip()


def map_distinct(series: pd.Series, convert: Callable[[Any], Any], missing: Any) -> np.ndarray:
    """``convert`` applied to each value of ``series`` (an object array), with
    ``missing`` for missing values; ``convert`` runs once per distinct value,
    not once per row (tables with many rows or many columns)."""
    if series.dtype != object:
        # One type per column: factorizing cannot merge values that convert differently.
        codes, found = pd.factorize(series, use_na_sentinel=True)
        uniques = np.asarray(found, dtype=object)
    else:
        codes, uniques = _distinct(series.to_numpy(dtype=object), by_type=True)
    lookup = np.empty(len(uniques) + 1, dtype=object)
    lookup[:-1] = [convert(v) for v in uniques]
    lookup[-1] = missing
    return lookup[codes]


def as_strings(series: pd.Series) -> pd.Series:
    """Values as strings (pandas "str" dtype, NaN kept): integral numbers
    without a trailing ".0", booleans as "True"/"False", text stripped."""
    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype) or pd.api.types.is_integer_dtype(dtype):
        return series.astype("str").str.strip()
    values = map_distinct(series, category_string, np.nan)
    return pd.Series(values, index=series.index, name=series.name, dtype="str")


def numeric_from_text(values: pd.Series) -> pd.Series | None:
    """``values`` (non-missing text) as numbers if every one parses, plainly
    or as formatted numbers ("$1,234.50", "45.2%", see
    :mod:`cairn.data._numbers`), and none looks like a code with a leading
    zero ("02134"); else None."""
    if values.empty:
        return None
    # Each distinct value parsed once.
    codes, unique = _distinct(values.to_numpy(dtype=object))
    strings = pd.Series([str(v) for v in unique], dtype=object)
    if strings.str.match(LEADING_ZERO).any():
        return None
    parsed = pd.to_numeric(strings, errors="coerce")
    if parsed.isna().any():
        found = read_formatted(list(strings))
        if not isinstance(found, tuple):
            return None
        numbers = np.asarray(found[0], dtype="float64")
    else:
        numbers = parsed.to_numpy(dtype="float64")
    return pd.Series(numbers[codes], index=values.index, name=values.name, dtype="float64")


def parse_dates(values: pd.Series, fmt: str | None) -> pd.Series:
    """Text as datetimes (NaT where unreadable), without pandas warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pd.to_datetime(values, format=fmt or "mixed", errors="coerce")
        except (ValueError, TypeError, OverflowError):
            try:
                return pd.to_datetime(values, format=fmt or "mixed", errors="coerce", utc=True)
            except (ValueError, TypeError, OverflowError):
                return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")


def sniff_date_format(values: pd.Series) -> str | None:
    """The first of a few common formats that reads more than 95% of a sample
    of ``values`` (non-missing text) as dates, or None."""
    sample = values.dropna().astype(str)
    if sample.empty:
        return None
    unique = pd.Series(sample.unique()[:_DATE_SNIFF_SAMPLE], dtype=object)
    # Dates hold digits and are not plain numbers.
    if not unique.str.contains(r"\d", regex=True).mean() >= _DATE_MIN_SHARE:
        return None
    best: tuple[float, str] | None = None
    for fmt in _DATE_FORMATS:
        share = float(parse_dates(unique, fmt).notna().mean())
        if share > _DATE_MIN_SHARE and (best is None or share > best[0]):
            best = (share, fmt)
            if share == 1.0:
                break
    return best[1] if best else None


def all_bools(values: pd.Series) -> bool:
    return len(values) > 0 and all(isinstance(v, bool | np.bool_) for v in values.to_numpy())


def integral(values: pd.Series) -> bool:
    array = values.to_numpy(dtype=float)
    finite = array[np.isfinite(array)]
    return bool(np.all(np.mod(finite, 1.0) == 0.0))


def infer_task(target: pd.Series, *, keep: frozenset[str] = frozenset()) -> str:
    """ "classification" or "regression" for a target column.

    Text and booleans are classes; numbers are classes when there are at most
    two distinct values, or at most ten integer values (wine quality 3..8,
    labels 1/2); other numbers are a regression target. Sentinel words in
    ``keep`` ("None" kept as a class by the type repair) are values.
    """
    values = normalize_missing(target, keep=keep).dropna()
    if values.empty:
        raise DataError(
            f"target column {target.name!r} has no values (all missing); "
            "check the column name and the file"
        )
    if pd.api.types.is_bool_dtype(values.dtype) or all_bools(values):
        return "classification"
    if not is_numeric_dtype(values):
        numbers = numeric_from_text(values) if is_text_dtype(values) else None
        if numbers is None:
            return "classification"
        values = numbers
    n_unique = values.nunique()
    if n_unique <= 2:
        return "classification"
    if n_unique <= _MAX_CLASSIFICATION_LEVELS and integral(values):
        return "classification"
    return "regression"


def class_labels(target: pd.Series, *, keep: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Distinct target values as strings, sorted by value (numbers numerically);
    sentinel words in ``keep`` are labels."""
    values = normalize_missing(target, keep=keep).dropna()
    if is_numeric_dtype(values):
        unique = np.sort(values.unique())
        return tuple(str(category_string(v)) for v in unique)
    strings = as_strings(values).dropna()
    return tuple(sorted(str(v) for v in strings.unique()))


@dataclass
class Observed:
    """What one column holds, ready for choosing a role (see :func:`observe`)."""

    kind: str  # "bool", "int", "float", "datetime", "string"
    values: pd.Series  # non-missing values, parsed when kind came from text
    n_rows: int
    from_text: bool = False
    date_format: str | None = None

    @property
    def count(self) -> int:
        return len(self.values)


def observe(
    series: pd.Series, *, sniff_dates: bool, keep: frozenset[str] = frozenset()
) -> Observed:
    """What ``series`` holds; sentinel words in ``keep`` are values, not missing."""
    cleaned = normalize_missing(series, keep=keep)
    values = cleaned.dropna()
    n_rows = len(series)
    if pd.api.types.is_bool_dtype(values.dtype) or (
        pd.api.types.is_object_dtype(values.dtype) and all_bools(values)
    ):
        return Observed("bool", values, n_rows)
    if is_numeric_dtype(values):
        kind = "int" if pd.api.types.is_integer_dtype(values.dtype) else "float"
        return Observed(kind, values, n_rows)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return Observed("datetime", values, n_rows)
    numbers = numeric_from_text(values)
    if numbers is not None:
        kind = "int" if integral(numbers) else "float"
        return Observed(kind, numbers, n_rows, from_text=True)
    strings = as_strings(values)
    if sniff_dates:
        fmt = sniff_date_format(strings)
        if fmt is not None:
            return Observed("datetime", strings, n_rows, from_text=True, date_format=fmt)
    return Observed("string", strings, n_rows)
