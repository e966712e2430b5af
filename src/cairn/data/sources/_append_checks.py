"""Checks on appended sources: rows repeated across sources, entities in
several sources, columns held by some sources only, likely renames and value
vocabularies that differ by source (findings named ``combine_*``)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cairn.data.sources._combination import (
    MAX_VOCABULARY,
    NAME_SIMILARITY,
    VALUE_SIMILARITY,
    VOCABULARY_OVERLAP,
    VOCABULARY_ROWS,
    entity_key,
    fix_text,
    sources_finding,
    toml_inline,
    toml_key,
)

# Distinct values looked at to tell a column's decimal separator.
_DECIMAL_SAMPLE = 5000
# Text forms read as yes/no when pairing two sources' vocabularies.
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from cairn.data.findings import Finding


# ---------------------------------------------------------------------------
# Append
# ---------------------------------------------------------------------------


@dataclass
class Twins:
    """Rows of a later source equal to rows of an earlier one on the columns both have."""

    earlier: int
    later: int
    shared: int
    later_dropped: int
    earlier_dropped: int


def append_findings(
    frames: list[tuple[str, pd.DataFrame]],
    result: pd.DataFrame,
    origin: np.ndarray,
    twins: list[Twins],
    id_columns: Sequence[str],
) -> tuple[list[Finding], dict[str, dict[str, Any]]]:
    """Findings and suggested per-source maps for appended sources."""
    if len(frames) < 2:
        return [], {}
    suggestions: dict[str, dict[str, Any]] = {}
    findings = [sources_finding(frames, len(result), "appended")]
    findings += [_twins_finding(frames, pair) for pair in twins]
    findings += _entity_findings(frames, result, origin, id_columns)
    renames = _rename_candidates(frames, suggestions)
    paired = {f.column for f in renames} | {
        keep for maps in suggestions.values() for keep in maps.get("rename", {}).values()
    }
    findings += renames
    findings += _partial_columns(frames, result, skip=paired)
    findings += _vocabulary_mismatches(frames, suggestions)
    findings += _decimal_mismatches(frames, result)
    return findings, suggestions


def _twins_finding(frames: list[tuple[str, pd.DataFrame]], pair: Twins) -> Finding:
    from cairn.data.findings import Finding

    earlier, later = frames[pair.earlier][0], frames[pair.later][0]
    count = pair.later_dropped + pair.earlier_dropped
    kept = []
    if pair.later_dropped:
        kept.append(f"{pair.later_dropped:,} dropped from {later!r}")
    if pair.earlier_dropped:
        kept.append(
            f"{pair.earlier_dropped:,} dropped from {earlier!r} (its twin in {later!r} "
            "fills more columns)"
        )
    return Finding(
        "combine_duplicate_rows",
        "warning",
        None,
        count,
        f"{count:,} row(s) of {later!r} repeat rows of {earlier!r} on the {pair.shared} "
        "column(s) both sources have",
        "one copy kept, the fuller one: " + "; ".join(kept),
        True,
    )


def _entity_findings(
    frames: list[tuple[str, pd.DataFrame]],
    result: pd.DataFrame,
    origin: np.ndarray,
    id_columns: Sequence[str],
) -> list[Finding]:
    """The same entity (``id_columns``) in rows from several sources."""
    import pandas as pd

    from cairn.data.findings import Finding, quoted_examples

    if not id_columns or any(c not in result.columns for c in id_columns):
        return []
    present = result[list(id_columns)].notna().all(axis=1).to_numpy()
    keys = entity_key(result, id_columns)[present]
    table = pd.DataFrame({"key": keys, "origin": origin[present]})
    per_key = table.groupby("key")["origin"].nunique()
    shared = per_key[per_key > 1].index
    if not len(shared):
        return []
    rows = present.nonzero()[0][table["key"].isin(shared).to_numpy()]
    name = ", ".join(id_columns)
    examples = list(dict.fromkeys(result[id_columns[0]].iloc[rows[:20]].tolist()))
    labels = sorted({frames[k][0] for k in table["origin"][table["key"].isin(shared)]})
    return [
        Finding(
            "combine_duplicate_entities",
            "warning",
            id_columns[0],
            len(shared),
            f"{len(shared):,} {name} value(s) appear in more than one source "
            f"({', '.join(map(repr, labels))}) on {len(rows):,} rows that differ in other "
            f"columns, e.g. {quoted_examples(examples)}",
            f"kept as separate rows; the train/test split and the folds keep each {name} on "
            "one side",
            True,
        )
    ]


def _holders(frames: list[tuple[str, pd.DataFrame]]) -> dict[str, list[int]]:
    holders: dict[str, list[int]] = {}
    for position, (_, frame) in enumerate(frames):
        for column in frame.columns:
            holders.setdefault(str(column), []).append(position)
    return holders


def _partial_columns(
    frames: list[tuple[str, pd.DataFrame]], result: pd.DataFrame, *, skip: set[str | None]
) -> list[Finding]:
    """Columns held by some sources only (``skip``: those a rename finding covers)."""
    from cairn.data.findings import Finding

    findings = []
    for column, positions in _holders(frames).items():
        if len(positions) == len(frames) or column not in result.columns or column in skip:
            continue
        missing = int(result[column].isna().sum())
        share = missing / max(len(result), 1)
        labels = ", ".join(repr(frames[p][0]) for p in positions)
        findings.append(
            Finding(
                "combine_partial_column",
                "warning" if share >= 0.5 else "info",
                column,
                missing,
                f"column {column!r} is only in {labels}: missing on {missing:,} of "
                f"{len(result):,} combined rows ({share:.1%})",
                "kept; its gaps are imputed like other missing values (if another source "
                "names it differently, add a rename to that source)",
                False,
            )
        )
    return findings


def _normal_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _name_similarity(a: str, b: str) -> float:
    left, right = _normal_name(a), _normal_name(b)
    if left and left == right:
        return 1.0
    return difflib.SequenceMatcher(None, left, right).ratio()


def _stacked(frames: list[tuple[str, pd.DataFrame]], column: str) -> pd.Series:
    import pandas as pd

    parts = [frame[column] for _, frame in frames if column in frame.columns]
    return pd.concat([p.astype(object) for p in parts], ignore_index=True)


def _value_similarity(a: pd.Series, b: pd.Series) -> tuple[float, str]:
    """How alike two columns' values are (0..1), and the evidence in words."""
    import pandas as pd

    from cairn.data.values import as_strings

    a, b = a.dropna(), b.dropna()
    if a.empty or b.empty:
        return 0.0, "no values to compare"
    numbers_a = pd.to_numeric(a, errors="coerce")
    numbers_b = pd.to_numeric(b, errors="coerce")
    if numbers_a.notna().mean() > 0.95 and numbers_b.notna().mean() > 0.95:
        low_a, high_a = numbers_a.quantile([0.05, 0.95])
        low_b, high_b = numbers_b.quantile([0.05, 0.95])
        overlap = max(0.0, min(high_a, high_b) - max(low_a, low_b))
        span = max(high_a, high_b) - min(low_a, low_b)
        share = 1.0 if span == 0 else overlap / span
        return float(share), (
            f"ranges {numbers_a.min():g}–{numbers_a.max():g} and "
            f"{numbers_b.min():g}–{numbers_b.max():g}"
        )
    top_a = set(as_strings(a).str.lower().value_counts().index[:50])
    top_b = set(as_strings(b).str.lower().value_counts().index[:50])
    share = len(top_a & top_b) / max(len(top_a | top_b), 1)
    return share, f"{len(top_a & top_b)} of their most frequent values shared"


def _rename_candidates(
    frames: list[tuple[str, pd.DataFrame]], suggestions: dict[str, dict[str, Any]]
) -> list[Finding]:
    """Pairs of columns never in the same source, with alike names and values."""
    from cairn.data.findings import Finding

    holders = _holders(frames)
    partial = [c for c, p in holders.items() if len(p) < len(frames)]
    scored = []
    for i, first in enumerate(partial):
        for second in partial[i + 1 :]:
            if set(holders[first]) & set(holders[second]):
                continue
            names = _name_similarity(first, second)
            if names < NAME_SIMILARITY:
                continue
            values, evidence = _value_similarity(_stacked(frames, first), _stacked(frames, second))
            if values < VALUE_SIMILARITY:
                continue
            scored.append((names + values, first, second, evidence))
    findings, paired = [], set()
    for _, first, second, evidence in sorted(scored, reverse=True):
        if first in paired or second in paired:
            continue
        paired |= {first, second}
        # the name of the column found first (in spec order) is kept
        keep, other = (
            (first, second) if min(holders[first]) < min(holders[second]) else (second, first)
        )
        fixes = []
        for position in holders[other]:
            label = frames[position][0]
            renames = suggestions.setdefault(label, {}).setdefault("rename", {})
            renames[other] = keep
            fixes.append(fix_text(label, "rename = " + toml_inline({other: keep})))
        kept_in = ", ".join(repr(frames[p][0]) for p in holders[keep])
        other_in = ", ".join(repr(frames[p][0]) for p in holders[other])
        findings.append(
            Finding(
                "combine_rename_candidate",
                "warning",
                other,
                sum(len(frames[p][1]) for p in holders[other]),
                f"columns {keep!r} (in {kept_in}) and {other!r} (in {other_in}) look like one "
                f"column under two names: never in the same source, names alike, {evidence}; "
                "combined they are two half-empty columns",
                "; ".join(fixes),
                False,
            )
        )
    return findings


def _vocabulary(series: pd.Series) -> pd.Series | None:
    """Counts of the text forms of a column's values (in its first
    ``VOCABULARY_ROWS`` rows), or None for a column with too many distinct
    values to be a vocabulary."""
    import pandas as pd

    from cairn.data.values import as_strings

    try:
        counts = series.iloc[:VOCABULARY_ROWS].value_counts(dropna=True)
    except TypeError:  # unhashable values, e.g. lists read from JSON
        return None
    if len(counts) < 2 or len(counts) > MAX_VOCABULARY:
        return None
    # text forms of the distinct values only: cheap on a large table
    text = as_strings(pd.Series(counts.index, dtype=object)).to_numpy()
    merged = pd.Series(counts.to_numpy(), index=text).groupby(level=0).sum()
    return merged.sort_values(ascending=False, kind="stable") if len(merged) >= 2 else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _pairing(reference: pd.Series, other: pd.Series) -> tuple[dict[str, str], str] | None:
    """How ``other``'s values map onto ``reference``'s (equal-size vocabularies),
    and how the pairing was made."""
    if len(reference) != len(other):
        return None
    ref, oth = list(reference.index), list(other.index)

    def truth(values: list[str]) -> list[bool] | None:
        lowered = [v.lower() for v in values]
        if len(values) != 2 or not all(v in _TRUE | _FALSE for v in lowered):
            return None
        flags = [v in _TRUE for v in lowered]
        return flags if flags[0] != flags[1] else None

    ref_truth, oth_truth = truth(ref), truth(oth)
    if ref_truth is not None and oth_truth is not None:
        by_truth = {flag: value for value, flag in zip(ref, ref_truth, strict=True)}
        return {v: by_truth[f] for v, f in zip(oth, oth_truth, strict=True)}, "yes/no meaning"
    shares_ref = (reference / reference.sum()).to_numpy()
    shares_oth = (other / other.sum()).to_numpy()
    gaps = [-gap for gap in _diff(shares_ref) + _diff(shares_oth)]
    if min(gaps, default=0.0) >= 0.05:
        return dict(zip(oth, ref, strict=True)), "frequency (most frequent to most frequent)"
    return (
        dict(zip(sorted(oth), sorted(ref), strict=True)),
        "sorted order (frequencies too close to pair by): check it",
    )


def _diff(values: Any) -> list[float]:
    return [float(values[k + 1] - values[k]) for k in range(len(values) - 1)]


def _vocabulary_mismatches(
    frames: list[tuple[str, pd.DataFrame]], suggestions: dict[str, dict[str, Any]]
) -> list[Finding]:
    """Columns whose values are written differently in different sources (0/1, No/Yes)."""
    from cairn.data.findings import Finding, quoted_examples

    findings = []
    for column, positions in _holders(frames).items():
        if len(positions) < 2:
            continue
        reference_position, reference = None, None
        for position in positions:
            vocabulary = _vocabulary(frames[position][1][column])
            if vocabulary is None:
                continue
            if reference is None:
                reference_position, reference = position, vocabulary
                continue
            ref_norm = {v.lower() for v in reference.index}
            oth_norm = {v.lower() for v in vocabulary.index}
            overlap = len(ref_norm & oth_norm) / min(len(ref_norm), len(oth_norm))
            numeric = all(_is_number(v) for v in ref_norm | oth_norm)
            if overlap >= VOCABULARY_OVERLAP or numeric:
                continue
            assert reference_position is not None
            label, ref_label = frames[position][0], frames[reference_position][0]
            pairing = _pairing(reference, vocabulary)
            if pairing is None:
                action = (
                    f"kept as written; if they mean the same, map {label!r}'s values with "
                    f"values = {{ {toml_key(column)} = {{ ... }} }} in its [[data.sources]] entry"
                )
            else:
                mapping, how = pairing
                values = suggestions.setdefault(label, {}).setdefault("values", {})
                values[column] = mapping
                line = "values = " + toml_inline({column: mapping})
                action = f"kept as written; if they mean the same, paired by {how}: " + fix_text(
                    label, line
                )
            findings.append(
                Finding(
                    "combine_value_mismatch",
                    "warning",
                    column,
                    len(frames[position][1]),
                    f"column {column!r} has different values by source: "
                    f"{quoted_examples(list(reference.index), 5)} in {ref_label!r}, "
                    f"{quoted_examples(list(vocabulary.index), 5)} in {label!r}; combined it "
                    f"would have {len(ref_norm | oth_norm)} levels",
                    action,
                    False,
                )
            )
    return findings


def _decimal_of(series: pd.Series) -> str | None:
    """The decimal separator a text column's numbers use ("74,40": ","), or
    None when it is not text, not numbers, or shows no decimal separator."""
    from cairn.data._numbers import read_formatted
    from cairn.data.values import is_text_dtype

    if not is_text_dtype(series):
        return None
    texts = [str(v) for v in series.dropna().unique()[:_DECIMAL_SAMPLE]]
    found = read_formatted(texts)
    if not isinstance(found, tuple):
        return None
    decimal = found[1].decimal
    return decimal if any(decimal in text for text in texts) else None


def _decimal_mismatches(
    frames: list[tuple[str, pd.DataFrame]], result: pd.DataFrame
) -> list[Finding]:
    """Columns of numbers written with a decimal comma in some sources and a
    decimal point (or as numbers) in others, which combined read as neither."""
    from pandas.api import types

    from cairn.data.findings import Finding

    findings = []
    for column, positions in _holders(frames).items():
        if len(positions) < 2 or column not in result.columns:
            continue
        if types.is_numeric_dtype(result[column].dtype):
            continue
        decimals = {}
        for position in positions:
            series = frames[position][1][column]
            if types.is_float_dtype(series.dtype):
                decimals[position] = "."
            elif (decimal := _decimal_of(series)) is not None:
                decimals[position] = decimal
        commas = [p for p, d in decimals.items() if d == ","]
        points = [p for p, d in decimals.items() if d == "."]
        if not commas or not points:
            continue
        labels = ", ".join(repr(frames[p][0]) for p in commas)
        others = ", ".join(repr(frames[p][0]) for p in points)
        example = next(str(v) for v in frames[commas[0]][1][column].dropna() if "," in str(v))
        findings.append(
            Finding(
                "combine_decimal_mismatch",
                "warning",
                column,
                sum(len(frames[p][1]) for p in commas),
                f"column {column!r} writes numbers with a decimal comma in {labels} "
                f"(e.g. {example!r}) and a decimal point in {others}; combined it is read "
                "as text, not numbers",
                " and ".join(fix_text(frames[p][0], 'decimal = ","') for p in commas),
                False,
            )
        )
    return findings
