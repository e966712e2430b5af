"""Type repair on distinct values: the implementation behind
:func:`cairn.data.quality.repair_types`, also used by the profiler
(:func:`cairn.eda.profile`).

Applies the repair rules (strip text,
sentinels to missing, numbers stored as text to numbers, labels differing by
case or spacing merged into the most frequent spelling), but decides once per
distinct value and maps the decision back to every row through the
factorized codes. On a million rows that is a fraction of a second instead
of a pass of Python per value. Every row is repaired; nothing is sampled.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cairn.data._numbers import Ambiguous, NumberFormat, looks_numeric, read_formatted
from cairn.data.findings import Finding, quoted_examples
from cairn.data.schema import KEPT_WORDS_ATTR, NUMBER_FORMATS_ATTR
from cairn.data.sources import READ_HINTS_ATTR
from cairn.data.values import (
    CATEGORY_WORD_MIN_ROWS,
    CATEGORY_WORD_SHARE,
    CATEGORY_WORDS,
    LEADING_ZERO,
    MISSING_SENTINELS,
    is_text_dtype,
)

NUMERIC_TEXT_SHARE = 0.95  # share of values that must parse for text -> numbers
_SPACES = re.compile(r"\s+")
_FIT_SAMPLE = 500
# A numbers column held up by a few other values: at most this many distinct
# non-numbers, and at least this many distinct numbers (a measure, not codes).
_MAX_STRAYS = 3
_MIN_NUMBER_VALUES = 20
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# The TOML line suggested to read a kept category word as missing after all.
_DEFAULT_MISSING_LINE = 'missing = ["", "?", "NA", "N/A", "NaN", "null", "None"]'


@dataclass(frozen=True)
class ColumnHints:
    """What the source's options say about one column."""

    missing: frozenset[str] | None = None  # the source's own missing strings
    decimal: str | None = None
    thousands: str | None = None

    @classmethod
    def of(cls, hints: dict[str, Any] | None, column: str) -> ColumnHints:
        if not hints:
            return cls()

        def lookup(key: str) -> Any:
            # one value for the whole table, or {column: value}
            value = hints.get(key)
            return value.get(column) if isinstance(value, dict) else value

        missing = lookup("missing")
        return cls(
            missing=frozenset(missing) if missing is not None else None,
            decimal=lookup("decimal"),
            thousands=lookup("thousands"),
        )


@dataclass
class Factorized:
    """A column as integer codes (-1 for missing) into ``uniques``."""

    codes: np.ndarray
    uniques: np.ndarray  # the distinct values (object array for text)
    counts: np.ndarray  # rows per distinct value


def factorize(series: pd.Series) -> Factorized:
    """Codes, distinct values and their row counts, missing values coded -1."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    codes = np.asarray(codes)
    if len(codes) and codes.max(initial=-1) < np.iinfo(np.int32).max:
        codes = codes.astype(np.int32, copy=False)
    values = np.asarray(uniques)
    if values.dtype.kind not in "biufcmM":
        values = values.astype(object)
    present = codes[codes >= 0]
    counts = np.bincount(present, minlength=len(values)).astype(np.int64)
    return Factorized(codes=codes, uniques=values, counts=counts)


def repair_column(
    series: pd.Series, hints: ColumnHints | None = None
) -> tuple[pd.Series, list[Finding], Factorized | None]:
    """One column repaired as ``repair_types`` would, with the findings and,
    for text that stays text, the factorized result (reused by the profile)."""
    repaired, findings, fact, _, _ = _repair(series, hints or ColumnHints(), frozenset())
    return repaired, findings, fact


def _repair(
    series: pd.Series, hints: ColumnHints, known: frozenset[str]
) -> tuple[pd.Series, list[Finding], Factorized | None, NumberFormat | None, frozenset[str]]:
    """The column repaired, its findings, its factorized values when it stays
    unchanged text, its number format when read from formatted text, and the
    sentinel words kept as categories (``known``: kept by an earlier repair)."""
    if not is_text_dtype(series):
        return series, [], None, None, frozenset()
    name = str(series.name)
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    fact = factorize(series)
    uniques = fact.uniques
    is_str = np.fromiter((isinstance(v, str) for v in uniques), dtype=bool, count=len(uniques))
    if not is_str.any():
        return series, [], fact, None, frozenset()
    new, sentinel, findings, kept = _strip_and_blank(name, fact, is_str, hints, len(series), known)
    present = ~sentinel
    numbers = _as_numbers(series, fact, new, present, hints)
    if isinstance(numbers, Finding):
        findings.append(numbers)
    elif numbers is not None:
        out, finding, fmt = numbers
        return out, [*findings, finding], None, fmt, frozenset()
    merged = _merge_variants(name, new, fact.counts, present & is_str)
    if merged is not None:
        findings.append(merged)
    if not any(f.applied for f in findings):
        return series, findings, fact, None, kept
    return _rebuild(series, fact.codes, new, missing=sentinel), findings, None, None, kept


def _strip_and_blank(
    name: str,
    fact: Factorized,
    is_str: np.ndarray,
    hints: ColumnHints,
    n_rows: int,
    known: frozenset[str],
) -> tuple[np.ndarray, np.ndarray, list[Finding], frozenset[str]]:
    """Distinct values stripped of surrounding spaces, the missing-value
    sentinels among them (as a mask), a finding for each kind of change, and
    the sentinel words left as values (categories)."""
    uniques, counts = fact.uniques, fact.counts
    findings: list[Finding] = []
    new = uniques.copy()
    stripped = np.array([v.strip() if isinstance(v, str) else v for v in uniques], dtype=object)
    # cairn's sentinels among the values (one pass; the rest looks only at these)
    listed = np.fromiter(
        (isinstance(v, str) and v.lower() in MISSING_SENTINELS for v in stripped),
        dtype=bool,
        count=len(stripped),
    )
    if hints.missing is not None:
        own = hints.missing | {""}
        sentinel = np.fromiter(
            (isinstance(v, str) and v in own for v in stripped), dtype=bool, count=len(stripped)
        )
    else:
        sentinel = listed.copy()
        for position in np.flatnonzero(listed):
            if stripped[position] in known:
                sentinel[position] = False
        kept = _category_words(stripped, counts, sentinel, n_rows)
        if kept.any():
            sentinel &= ~kept
            findings.append(_kept_finding(name, stripped, counts, kept, n_rows))
    kept_words = frozenset(str(stripped[i]) for i in np.flatnonzero(listed & ~sentinel))
    changed = is_str & ~sentinel & (stripped != uniques)
    n_stripped = int(counts[changed].sum())
    if n_stripped:
        findings.append(
            Finding(
                "whitespace",
                "info",
                name,
                n_stripped,
                f"column {name!r}: {n_stripped} value(s) had leading or trailing spaces",
                "stripped",
                True,
            )
        )
    n_sentinel = int(counts[sentinel].sum())
    if n_sentinel:
        examples = list(dict.fromkeys(uniques[sentinel].tolist()))
        findings.append(
            Finding(
                "missing_sentinels",
                "info",
                name,
                n_sentinel,
                f"column {name!r}: {n_sentinel} value(s) such as {quoted_examples(examples)} "
                "stand for missing values",
                "set to missing",
                True,
            )
        )
    new[is_str] = stripped[is_str]
    return new, sentinel, findings, kept_words


def _category_words(
    stripped: np.ndarray, counts: np.ndarray, sentinel: np.ndarray, n_rows: int
) -> np.ndarray:
    """Sentinel words ("None", "NA") that are categories of a text column:
    the column's other values are not numbers, and the word is its most
    frequent value or fills at least CATEGORY_WORD_SHARE of the rows."""
    words = np.zeros(len(stripped), dtype=bool)
    for position in np.flatnonzero(sentinel):
        words[position] = str(stripped[position]).lower() in CATEGORY_WORDS
    if not words.any():
        return words
    others = ~sentinel
    if others.any():
        texts = [str(v) for v in stripped[others]]
        parsed = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce")
        weights = counts[others]
        numeric = weights[parsed.notna().to_numpy()].sum()
        if numeric >= NUMERIC_TEXT_SHARE * weights.sum() or isinstance(
            read_formatted(texts), tuple
        ):
            return np.zeros(len(stripped), dtype=bool)
    top = int(counts[~sentinel | words].max(initial=0))
    floor = CATEGORY_WORD_SHARE * max(n_rows, 1)
    return words & (counts >= CATEGORY_WORD_MIN_ROWS) & ((counts >= top) | (counts >= floor))


def _kept_finding(
    name: str, stripped: np.ndarray, counts: np.ndarray, kept: np.ndarray, n_rows: int
) -> Finding:
    described = ", ".join(
        f"{str(stripped[i])!r} ({int(counts[i])} row(s), {counts[i] / max(n_rows, 1):.0%})"
        for i in np.flatnonzero(kept)
    )
    count = int(counts[kept].sum())
    return Finding(
        "missing_kept_category",
        "info",
        name,
        count,
        f"column {name!r}: {described}: a frequent value of this text column, read as a "
        "category (such as 'no veneer' or 'no alley'), not as a missing value",
        "kept as a category; to read it as missing instead, list the source's missing "
        f"strings in its [[data.sources]] entry: {_DEFAULT_MISSING_LINE}",
        False,
    )


def _as_numbers(
    series: pd.Series,
    fact: Factorized,
    new: np.ndarray,
    present: np.ndarray,
    hints: ColumnHints,
) -> tuple[pd.Series, Finding, NumberFormat | None] | Finding | None:
    """The column as numbers with a finding (and the number format when the
    numbers were formatted: "$1,234.50", "45.2%"), when enough of its
    distinct values parse and none looks like a code with leading zeros; a
    finding alone when the values are numbers read two ways; else None."""
    counts = fact.counts
    all_bools = bool(
        all(isinstance(v, bool | np.bool_) for v in new[present]) if present.any() else False
    )
    if not present.any() or all_bools:
        return None
    texts = pd.Series([str(v) for v in new[present]], dtype=object)
    if bool(texts.str.match(LEADING_ZERO).any()):
        return None
    weights = counts[present]
    total = max(int(weights.sum()), 1)
    plain_allowed = hints.decimal in (None, ".") and hints.thousands is None
    numbers = pd.to_numeric(texts, errors="coerce").to_numpy(dtype=float)
    if plain_allowed and not np.isnan(numbers).any():
        return _numbers_out(series, fact, new, present, numbers, None)
    text_list = texts.tolist()
    found = read_formatted(text_list, decimal=hints.decimal, thousands=hints.thousands)
    if found is None:
        # Mostly formatted numbers with a few stray values: read the rest.
        fits = _fits(text_list)
        if fits.any() and not fits.all() and weights[fits].sum() >= NUMERIC_TEXT_SHARE * total:
            subset = [t for t, ok in zip(text_list, fits, strict=True) if ok]
            partial = read_formatted(subset, decimal=hints.decimal, thousands=hints.thousands)
            if isinstance(partial, tuple):
                values = np.full(len(text_list), np.nan)
                values[fits] = partial[0]
                plain = partial[1] == NumberFormat() and plain_allowed
                return _numbers_out(
                    series, fact, new, present, values, None if plain else partial[1]
                )
        stray = _stray_values(str(series.name), text_list, fits, weights, hints)
        if stray is not None:
            return stray
    if isinstance(found, Ambiguous):
        return _ambiguous_finding(str(series.name), found, total)
    if isinstance(found, tuple):
        values, fmt = found
        plain = fmt == NumberFormat() and plain_allowed
        return _numbers_out(series, fact, new, present, values, None if plain else fmt)
    share = float(weights[~np.isnan(numbers)].sum() / total)
    if not plain_allowed or share < NUMERIC_TEXT_SHARE:
        return None
    return _numbers_out(series, fact, new, present, numbers, None)


def _stray_values(
    name: str, texts: list[str], fits: np.ndarray, weights: np.ndarray, hints: ColumnHints
) -> Finding | None:
    """A warning for a column of numbers kept as text because of a few other
    values filling many rows ("$ -" or "-" for zero or nothing in a
    spreadsheet export), saying how to read them."""
    total = int(weights.sum())
    strays = [t for t, ok in zip(texts, fits, strict=True) if not ok]
    if (
        not 1 <= len(strays) <= _MAX_STRAYS
        or int(fits.sum()) < _MIN_NUMBER_VALUES
        or weights[fits].sum() < 0.5 * total
    ):
        return None
    numbers = [t for t, ok in zip(texts, fits, strict=True) if ok]
    if not isinstance(
        read_formatted(numbers, decimal=hints.decimal, thousands=hints.thousands), tuple
    ):
        return None
    n_stray = int(weights[~fits].sum())
    shown = ", ".join(repr(t) for t in strays)
    missing = ", ".join(json.dumps(t) for t in ("", "?", "NA", "N/A", "NaN", "null", "None"))
    missing += ", " + ", ".join(json.dumps(t) for t in strays)
    key = name if _BARE_KEY.match(name) else json.dumps(name)
    recode = ", ".join(f'{json.dumps(t)} = "0"' for t in strays)
    return Finding(
        "format_stray_values",
        "warning",
        name,
        n_stray,
        f"column {name!r} holds numbers (e.g. {numbers[0]!r}) but {n_stray} of {total} "
        f"value(s) are {shown}, which is no number; it is kept as text",
        "to read it as numbers, in its [[data.sources]] entry either list those values as "
        f"missing: missing = [{missing}], or recode them: values = {{ {key} = {{ {recode} }} }}",
        False,
    )


def _fits(texts: list[str]) -> np.ndarray:
    """Which texts have the shape of a number; all False at once when most of
    the first few hundred do not (a text column, not numbers with strays)."""
    head = texts[:_FIT_SAMPLE]
    if sum(looks_numeric(t) for t in head) < 0.5 * len(head):
        return np.zeros(len(texts), dtype=bool)
    return np.array([looks_numeric(t) for t in texts], dtype=bool)


def _numbers_out(
    series: pd.Series,
    fact: Factorized,
    new: np.ndarray,
    present: np.ndarray,
    numbers: np.ndarray,
    fmt: NumberFormat | None,
) -> tuple[pd.Series, Finding, NumberFormat | None]:
    counts, codes = fact.counts, fact.codes
    weights = counts[present]
    by_code = np.full(len(fact.uniques), np.nan)
    by_code[present] = numbers
    values = np.where(codes >= 0, by_code[np.maximum(codes, 0)], np.nan)
    bad_mask = present & np.isnan(by_code)
    n_bad = int(counts[bad_mask].sum())
    if not np.isnan(values).any() and np.all(np.mod(values, 1.0) == 0.0):
        out = pd.Series(values.astype("int64"), index=series.index, name=series.name)
    else:
        out = pd.Series(values, index=series.index, name=series.name, dtype="float64")
    name = str(series.name)
    bad = ""
    if n_bad:
        bad_values = list(dict.fromkeys(new[bad_mask].tolist()))
        bad = (
            f"; {n_bad} value(s) that are not numbers, such as "
            f"{quoted_examples(bad_values)}, set to missing"
        )
    if fmt is None:
        finding = Finding(
            "numeric_text",
            "warning" if n_bad else "info",
            name,
            n_bad if n_bad else int(weights.sum()),
            f"column {name!r} holds numbers stored as text{bad}",
            "converted to numbers",
            True,
        )
        return out, finding, None
    converted = present & ~np.isnan(by_code)
    shown = _format_examples(new, by_code, converted, counts)
    finding = Finding(
        "format_numbers",
        "warning" if n_bad else "info",
        name,
        int(counts[converted].sum()),
        f"column {name!r}: {int(counts[converted].sum())} value(s) are numbers written with "
        f"{fmt.describe()}: {shown}{bad}",
        "converted to numbers; predictions read the column the same way",
        True,
    )
    return out, finding, fmt


def _format_examples(
    new: np.ndarray, by_code: np.ndarray, converted: np.ndarray, counts: np.ndarray
) -> str:
    """Three values before -> after, the ones that needed the format first."""
    positions = np.flatnonzero(converted)
    plain = pd.to_numeric(pd.Series([str(new[i]) for i in positions], dtype=object), "coerce")
    # the values that needed the format, the longest (most separators) first
    order = sorted(
        range(len(positions)),
        key=lambda k: (
            not np.isnan(plain.iloc[k]),
            -len(str(new[positions[k]])),
            -int(counts[positions[k]]),
        ),
    )
    shown = []
    for k in order[:3]:
        number = float(by_code[positions[k]])
        after = str(int(number)) if number.is_integer() else f"{number:.12g}"
        shown.append(f"{str(new[positions[k]])!r} -> {after}")
    return ", ".join(shown)


def _ambiguous_finding(name: str, found: Ambiguous, count: int) -> Finding:
    readings = " or ".join(
        f"{value:g} (decimal = {decimal!r})" for decimal, value in found.readings
    )
    options = " or ".join(f'decimal = "{decimal}"' for decimal, _ in found.readings)
    return Finding(
        "format_ambiguous",
        "warning",
        name,
        count,
        f"column {name!r} holds numbers that read two ways: {found.example!r} is {readings}; "
        "it is kept as text",
        f"set {options} in the column's [[data.sources]] entry to read it as numbers",
        False,
    )


def _merge_variants(
    name: str, new: np.ndarray, counts: np.ndarray, usable: np.ndarray
) -> Finding | None:
    """Case and spacing variants merged (in ``new``) into the most frequent
    spelling; the finding, or None when no two labels differ that way."""
    merged = _harmonise(new, counts, usable)
    if not merged:
        return None
    totals: dict[str, int] = {}
    for position in np.flatnonzero(usable).tolist():
        totals[str(new[position])] = totals.get(str(new[position]), 0) + int(counts[position])
    groups: dict[str, set[str]] = {}
    n_changed = 0
    for source, canonical in merged.items():
        groups.setdefault(str(new[canonical]), set()).add(str(new[source]))
        n_changed += int(counts[source])
    order = sorted(groups, key=lambda t: (-totals[t], t))
    shown = "; ".join(
        f"{quoted_examples(sorted(groups[c], key=lambda t: (-totals[t], t)))} -> {c!r}"
        for c in order[:3]
    )
    for source, canonical in merged.items():
        new[source] = new[canonical]
    return Finding(
        "inconsistent_labels",
        "warning",
        name,
        n_changed,
        f"column {name!r}: {n_changed} value(s) differ from another label only "
        f"by case or spacing ({shown})",
        "merged into the most frequent spelling",
        True,
    )


def _rebuild(
    series: pd.Series, codes: np.ndarray, new: np.ndarray, *, missing: np.ndarray
) -> pd.Series:
    """Every row mapped to its repaired distinct value (distinct values may
    now coincide: stripped, merged, missing)."""
    mapped = new.astype(object)
    mapped[missing] = None
    out_values = np.empty(len(codes), dtype=object)
    valid = codes >= 0
    out_values[valid] = mapped[codes[valid]]
    out_values[~valid] = None
    dtype = series.dtype if not pd.api.types.is_object_dtype(series.dtype) else object
    try:
        out = pd.Series(out_values, index=series.index, name=series.name, dtype=dtype)
    except (TypeError, ValueError):
        out = pd.Series(out_values, index=series.index, name=series.name, dtype=object)
    if dtype is object:
        out = out.where(out.notna(), np.nan)
    return out


def _harmonise(values: np.ndarray, counts: np.ndarray, usable: np.ndarray) -> dict[int, int]:
    """index of a spelling -> index of the spelling it merges into."""
    totals: dict[str, int] = {}
    for index in np.flatnonzero(usable):
        totals[str(values[index])] = totals.get(str(values[index]), 0) + int(counts[index])
    groups: dict[str, list[str]] = {}
    for text in totals:
        groups.setdefault(_SPACES.sub(" ", text).casefold(), []).append(text)
    canonical_of: dict[str, str] = {}
    for members in groups.values():
        if len(members) > 1:
            members.sort(key=lambda t: (-totals[t], t))
            for other in members[1:]:
                canonical_of[other] = members[0]
    if not canonical_of:
        return {}
    first_index: dict[str, int] = {}
    for index in np.flatnonzero(usable):
        first_index.setdefault(str(values[index]), int(index))
    return {
        int(index): first_index[canonical_of[str(values[index])]]
        for index in np.flatnonzero(usable)
        if str(values[index]) in canonical_of
    }


def repair_frame(
    frame: pd.DataFrame, hints: dict[str, Any] | None = None
) -> tuple[pd.DataFrame, list[Finding], dict[str, Factorized]]:
    """Every text column repaired; returns the frame, the findings and the
    factorized text columns that did not change (to avoid factorizing twice).

    ``hints`` (default: what the readers left in ``frame.attrs``) carry the
    source's ``missing``, ``decimal`` and ``thousands`` options per column.
    The number format of each column read from formatted text is left in the
    result's ``attrs[NUMBER_FORMATS_ATTR]``.
    """
    if hints is None:
        hints = frame.attrs.get(READ_HINTS_ATTR)
    # A frame repaired before keeps what that repair decided.
    formats: dict[str, dict[str, Any]] = dict(frame.attrs.get(NUMBER_FORMATS_ATTR) or {})
    known_kept: dict[str, list[str]] = dict(frame.attrs.get(KEPT_WORDS_ATTR) or {})
    columns: dict[Any, pd.Series] = {}
    findings: list[Finding] = []
    cache: dict[str, Factorized] = {}
    kept_words: dict[str, list[str]] = {}
    for label in frame.columns:
        name = str(label)
        repaired, found, fact, fmt, kept = _repair(
            frame[label], ColumnHints.of(hints, name), frozenset(known_kept.get(name, ()))
        )
        columns[label] = repaired
        findings += found
        if fact is not None:
            cache[name] = fact
        if fmt is not None:
            formats[name] = fmt.to_dict()
        if kept:
            kept_words[name] = sorted(kept)
    formats.update(_read_formats(frame, hints, formats))
    sniffed = _sniffed_decimal(frame, hints)
    if sniffed is not None:
        findings.insert(0, sniffed)
    out = pd.DataFrame(columns, index=frame.index)
    out.columns = frame.columns
    out.attrs = {**frame.attrs, NUMBER_FORMATS_ATTR: formats, KEPT_WORDS_ATTR: kept_words}
    return out, findings, cache


def _read_formats(
    frame: pd.DataFrame, hints: dict[str, Any] | None, known: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The number format of columns the reader already took as numbers with a
    decimal comma or a thousands separator, so that scoring reads "29,85" or
    "1.234" the way training did."""
    formats: dict[str, dict[str, Any]] = {}
    for label in frame.columns:
        name = str(label)
        dtype = frame[label].dtype
        if name in known or not pd.api.types.is_numeric_dtype(dtype):
            continue
        if pd.api.types.is_bool_dtype(dtype):
            continue
        column = ColumnHints.of(hints, name)
        if column.decimal == "," or column.thousands is not None:
            fmt = NumberFormat(decimal=column.decimal or ".", thousands=column.thousands)
            formats[name] = fmt.to_dict()
    return formats


def _sniffed_decimal(frame: pd.DataFrame, hints: dict[str, Any] | None) -> Finding | None:
    """A finding for numbers the reader took with a decimal comma it sniffed."""
    if not hints or not hints.get("sniffed_decimal"):
        return None
    sniffed = hints["sniffed_decimal"]
    columns = [
        str(c)
        for c in frame.columns
        if (sniffed.get(str(c)) if isinstance(sniffed, dict) else sniffed)
        and pd.api.types.is_float_dtype(frame[c].dtype)
    ]
    if not columns:
        return None
    shown = ", ".join(repr(c) for c in columns[:5]) + (", ..." if len(columns) > 5 else "")
    return Finding(
        "format_decimal_comma",
        "info",
        None,
        len(columns),
        f"{len(columns)} column(s) of a ';'-separated file ({shown}) write numbers with a "
        "decimal comma ('3,5' is 3.5); they were read that way",
        'read with decimal ","; if the file uses a decimal point, set decimal = "." in its '
        "[[data.sources]] entry",
        True,
    )
