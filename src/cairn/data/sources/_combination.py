"""What combining sources did, for people: the :class:`Combination` record.

:func:`~cairn.data.sources.collect` keeps it (as ``to_dict()``) in the
combined frame's ``attrs["cairn_collect"]``; :func:`combination_of` reads it
back. Besides rows per source it holds :class:`~cairn.data.findings.Finding`
objects (checks named ``combine_*``): rows repeated across sources, the same
entity in several sources, columns held by only some sources, columns that
look like one column under two names, value vocabularies that differ by
source, and for joins the cardinality, the rows each side lost and the
columns a join duplicated. Suggested fixes are spec lines to paste into a
``[[data.sources]]`` entry (``rename``, ``values``).

Here too are the per-source options applied right after reading
(:func:`apply_source_options`).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from cairn.exceptions import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from cairn.data.findings import Finding, QualityReport
    from cairn.spec import SourceSpec

#: Attribute of the combined frame holding :meth:`Combination.to_dict`.
ATTRS_KEY = "cairn_collect"
#: Names this alike (0..1, after lower-casing and dropping punctuation) may be one column.
NAME_SIMILARITY = 0.8
#: Value evidence (range or vocabulary overlap) needed besides the names.
VALUE_SIMILARITY = 0.3
#: Columns with at most this many distinct values per source get their vocabularies compared.
MAX_VOCABULARY = 20
#: Vocabularies are read from a source's first this many rows: enough to see
#: a few coded values and their shares, cheap on a large table.
VOCABULARY_ROWS = 100_000
#: Vocabularies sharing less than this share of values are reported.
VOCABULARY_OVERLAP = 0.5
#: Two join copies of a column agreeing on at least this share of rows are reported as
#: a partial overlap (below it they are different columns that share a name).
PARTIAL_AGREEMENT = 0.5

_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}


@dataclass
class SourceRecord:
    """One source as read (after its ``rename`` and ``values`` options)."""

    label: str
    rows: int
    column_names: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "rows": self.rows,
            "columns": len(self.column_names),
            "column_names": list(self.column_names),
        }


@dataclass
class JoinRecord:
    """One join step: the rows so far (left) joined with one more source (right).

    ``left_unmatched`` / ``right_unmatched`` count rows whose key has no
    partner on the other side; ``*_lost`` those of them the join dropped.
    """

    source: str
    on: list[str]
    how: str
    cardinality: str
    left_rows: int
    right_rows: int
    left_unmatched: int
    right_unmatched: int
    rows: int
    left_examples: list[str] = field(default_factory=list)
    right_examples: list[str] = field(default_factory=list)

    @property
    def left_lost(self) -> int:
        return self.left_unmatched if self.how == "inner" else 0

    @property
    def right_lost(self) -> int:
        return self.right_unmatched if self.how in ("inner", "left") else 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "left_lost": self.left_lost, "right_lost": self.right_lost}


@dataclass
class Combination:
    """What :func:`~cairn.data.sources.collect` did with the spec's sources.

    Attributes:
        combine: "append" or "join".
        sources: each source as read, in spec order.
        rows: rows of the combined table.
        duplicates_removed: rows dropped as repeated across sources.
        renamed: for a join, the clashing columns given the source's name
            as a suffix, by source label.
        joins: one record per join step.
        findings: what combining noticed (checks ``combine_*``).
        suggestions: by source label, the ``rename`` and ``values`` maps
            the findings suggest for that source.
    """

    combine: str
    sources: list[SourceRecord]
    rows: int = 0
    duplicates_removed: int = 0
    renamed: dict[str, dict[str, str]] = field(default_factory=dict)
    joins: list[JoinRecord] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    suggestions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def single(self) -> bool:
        """True when there was one source: nothing was combined."""
        return len(self.sources) == 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "combine": self.combine,
            "sources": [source.to_dict() for source in self.sources],
            "rows": self.rows,
            "duplicates_removed": self.duplicates_removed,
            "renamed": {k: dict(v) for k, v in self.renamed.items()},
            "joins": [join.to_dict() for join in self.joins],
            "findings": [asdict(finding) for finding in self.findings],
            "suggestions": json.loads(json.dumps(self.suggestions)),
            "suggested_lines": self.suggested_lines(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Combination:
        from cairn.data.findings import Finding

        join_fields = set(JoinRecord.__dataclass_fields__)
        return cls(
            combine=str(data.get("combine", "append")),
            sources=[
                SourceRecord(str(s["label"]), int(s["rows"]), list(s.get("column_names", [])))
                for s in data.get("sources", [])
            ],
            rows=int(data.get("rows", 0)),
            duplicates_removed=int(data.get("duplicates_removed", 0)),
            renamed={k: dict(v) for k, v in (data.get("renamed") or {}).items()},
            joins=[
                JoinRecord(**{k: v for k, v in j.items() if k in join_fields})
                for j in data.get("joins", [])
            ],
            findings=[Finding(**f) for f in data.get("findings", [])],
            suggestions=dict(data.get("suggestions") or {}),
        )

    def source_rows(self) -> list[dict[str, Any]]:
        """One row per source for a report table."""
        return [
            {"source": s.label, "rows": s.rows, "columns": len(s.column_names)}
            for s in self.sources
        ]

    def join_rows(self) -> list[dict[str, Any]]:
        """One row per join step for a report table."""
        return [
            {
                "joined with": j.source,
                "on": ", ".join(j.on),
                "how": j.how,
                "cardinality": j.cardinality,
                "left rows without match": j.left_unmatched,
                "right rows without match": j.right_unmatched,
                "rows lost": j.left_lost + j.right_lost,
                "rows after": j.rows,
            }
            for j in self.joins
        ]

    def summary(self) -> str:
        """One sentence: how many sources, how combined, into how many rows."""
        if self.single:
            return f"1 source, {self.rows:,} rows read"
        how = "appended" if self.combine == "append" else "joined"
        text = f"{len(self.sources)} sources {how} into {self.rows:,} rows"
        if self.duplicates_removed:
            text += f" ({self.duplicates_removed:,} repeated across sources dropped)"
        return text

    def suggested_lines(self) -> dict[str, list[str]]:
        """By source label, the spec lines that apply every suggested fix at
        once (one ``rename`` and one ``values`` line per source)."""
        lines: dict[str, list[str]] = {}
        for label, maps in self.suggestions.items():
            entry = []
            if maps.get("rename"):
                entry.append("rename = " + toml_inline(maps["rename"]))
            if maps.get("values"):
                entry.append("values = " + toml_inline(maps["values"]))
            if entry:
                lines[label] = entry
        return lines


def combination_of(frame: pd.DataFrame) -> Combination | None:
    """The record :func:`~cairn.data.sources.collect` left on ``frame``, if any."""
    data = frame.attrs.get(ATTRS_KEY)
    return Combination.from_dict(data) if isinstance(data, dict) else None


def attach_combination(report: QualityReport, combination: Combination | None) -> None:
    """Put the combination's findings first in ``report`` and keep the record
    there, so that quality.json, the EDA page and the card show them."""
    if combination is None:
        return
    report.findings[:0] = combination.findings
    report.combination = combination.to_dict()


# ---------------------------------------------------------------------------
# TOML text for suggested lines
# ---------------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def toml_inline(mapping: dict[str, Any]) -> str:
    """``{ a = "b", c = { d = "e" } }``: a TOML inline table of text values."""
    parts = []
    for key, value in mapping.items():
        shown = toml_inline(value) if isinstance(value, dict) else json.dumps(str(value))
        parts.append(f"{toml_key(str(key))} = {shown}")
    return "{ " + ", ".join(parts) + " }"


def _fix_text(label: str, line: str) -> str:
    return f"add to the [[data.sources]] entry of {label!r}: {line}"


# ---------------------------------------------------------------------------
# Per-source options
# ---------------------------------------------------------------------------


def _shown_columns(columns: Any, limit: int = 25) -> str:
    names = [str(c) for c in columns]
    return ", ".join(names[:limit]) + (f", … ({len(names)} in all)" if len(names) > limit else "")


def apply_source_options(frame: pd.DataFrame, source: SourceSpec, label: str) -> pd.DataFrame:
    """The source's ``rename`` then ``values`` options applied to its table.

    Raises:
        DataError: an option names a column the source does not have, or a
            rename gives a name another column already has.
    """
    if source.rename:
        for old, new in source.rename.items():
            if old not in frame.columns:
                raise DataError(
                    f"source {label!r}: rename names column {old!r}, which it does not have; "
                    f"its columns: {_shown_columns(frame.columns)}"
                )
            if new in frame.columns and new not in source.rename:
                raise DataError(
                    f"source {label!r}: rename maps {old!r} to {new!r}, a column it already "
                    "has; rename or drop that one too"
                )
        frame = frame.rename(columns=source.rename)
    if source.values:
        changed = {}
        for column, mapping in source.values.items():
            if column not in frame.columns:
                raise DataError(
                    f"source {label!r}: values names column {column!r}, which it does not have "
                    f"(after rename); its columns: {_shown_columns(frame.columns)}"
                )
            changed[column] = _mapped(frame[column], mapping)
        frame = frame.assign(**changed)
    return frame


def _mapped(series: pd.Series, mapping: dict[str, str]) -> pd.Series:
    """``series`` with values whose text form is a key of ``mapping`` replaced;
    numbers again when every value left is a number."""
    import pandas as pd

    from cairn.data.values import as_strings, numeric_from_text

    text = as_strings(series)
    matched = text.isin(list(mapping)).to_numpy()
    if not matched.any():
        return series
    values = series.astype(object).where(~matched, text.map(mapping))
    present = values.dropna()
    numbers = numeric_from_text(present.astype(str))
    if numbers is None:
        return values.astype("str").where(values.notna())
    result = pd.Series(float("nan"), index=series.index, dtype="float64")
    result[present.index] = numbers.to_numpy()
    if len(numbers) == len(series) and bool((numbers % 1 == 0).all()):
        return result.astype("int64")
    return result


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
    findings = [_sources_finding(frames, len(result), "appended")]
    findings += [_twins_finding(frames, pair) for pair in twins]
    findings += _entity_findings(frames, result, origin, id_columns)
    renames = _rename_candidates(frames, suggestions)
    paired = {f.column for f in renames} | {
        keep for maps in suggestions.values() for keep in maps.get("rename", {}).values()
    }
    findings += renames
    findings += _partial_columns(frames, result, skip=paired)
    findings += _vocabulary_mismatches(frames, suggestions)
    return findings, suggestions


def _sources_finding(frames: list[tuple[str, pd.DataFrame]], rows: int, how: str) -> Finding:
    from cairn.data.findings import Finding

    parts = ", ".join(f"{label!r} {len(frame):,} rows" for label, frame in frames)
    return Finding(
        "combine_sources",
        "info",
        None,
        rows,
        f"{len(frames)} sources {how}: {parts}; {rows:,} rows combined",
        "combined as the spec says",
        True,
    )


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


def _entity_key(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    import pandas as pd

    return pd.util.hash_pandas_object(frame[list(columns)], index=False).to_numpy()


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
    keys = _entity_key(result, id_columns)[present]
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
            fixes.append(_fix_text(label, "rename = " + toml_inline({other: keep})))
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
                action = f"kept as written; if they mean the same, paired by {how}: " + _fix_text(
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


# ---------------------------------------------------------------------------
# Join
# ---------------------------------------------------------------------------


def join_step(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    source: str,
    on: list[str],
    how: str,
) -> JoinRecord:
    """Key multiplicity and unmatched rows of one join, measured before it."""
    import numpy as np

    left_keys = _entity_key(left, on)
    right_keys = _entity_key(right, on)
    left_many = len(np.unique(left_keys)) < len(left_keys)
    right_many = len(np.unique(right_keys)) < len(right_keys)
    cardinality = {
        (False, False): "1:1",
        (False, True): "1:n",
        (True, False): "n:1",
        (True, True): "n:m",
    }[(left_many, right_many)]
    left_alone = ~np.isin(left_keys, right_keys)
    right_alone = ~np.isin(right_keys, left_keys)

    def examples(frame: pd.DataFrame, alone: np.ndarray) -> list[str]:
        keys = frame.loc[alone, list(on)].head(3)
        return [", ".join(str(value) for value in row) for row in keys.itertuples(index=False)]

    return JoinRecord(
        source=source,
        on=list(on),
        how=how,
        cardinality=cardinality,
        left_rows=len(left),
        right_rows=len(right),
        left_unmatched=int(left_alone.sum()),
        right_unmatched=int(right_alone.sum()),
        rows=0,
        left_examples=examples(left, left_alone),
        right_examples=examples(right, right_alone),
    )


def join_findings(
    frames: list[tuple[str, pd.DataFrame]], joins: list[JoinRecord], rows: int
) -> list[Finding]:
    """Rows each side of every join lost, and joins that repeat rows."""
    from cairn.data.findings import Finding, quoted_examples

    findings = [_sources_finding(frames, rows, "joined")]
    for step, join in enumerate(joins):
        left = repr(frames[0][0]) if step == 0 else "the sources joined before it"
        keys = ", ".join(join.on)
        findings.append(
            Finding(
                "combine_join",
                "warning" if join.cardinality in ("1:n", "n:m") else "info",
                None,
                join.rows,
                f"{join.how} join of {left} ({join.left_rows:,} rows) with {join.source!r} "
                f"({join.right_rows:,} rows) on {keys}: {join.cardinality}, {join.rows:,} rows",
                "joined"
                + (
                    f"; the key repeats in {join.source!r}, so rows of {left} are repeated: "
                    f"check that {keys} identifies one row there"
                    if join.cardinality in ("1:n", "n:m")
                    else ""
                ),
                True,
            )
        )
        for side, unmatched, lost, other, shown in (
            (left, join.left_unmatched, join.left_lost, repr(join.source), join.left_examples),
            (repr(join.source), join.right_unmatched, join.right_lost, left, join.right_examples),
        ):
            if not unmatched:
                continue
            total = join.left_rows if side == left else join.right_rows
            if lost:
                action = (
                    f"dropped by the {join.how} join; set join_how = "
                    f'"{"left" if side == left else "outer"}" to keep them'
                )
            else:
                action = f"kept with {other}'s columns missing (imputed)"
            findings.append(
                Finding(
                    "combine_join_rows_lost" if lost else "combine_join_unmatched",
                    "warning" if lost and side == left else "info",
                    None,
                    unmatched,
                    f"{unmatched:,} of {total:,} rows of {side} have no match in {other} "
                    f"on {keys}, e.g. {quoted_examples(shown)}",
                    action,
                    True,
                )
            )
    return findings


def agreement(a: pd.Series, b: pd.Series) -> tuple[int, int]:
    """(rows where both have a value, rows of those where the values are equal)."""
    import numpy as np
    import pandas as pd

    from cairn.data.values import as_strings

    both = (a.notna() & b.notna()).to_numpy()
    n_both = int(both.sum())
    if not n_both:
        return 0, 0
    left, right = a[both], b[both]
    numbers_left = pd.to_numeric(left, errors="coerce")
    numbers_right = pd.to_numeric(right, errors="coerce")
    if numbers_left.notna().all() and numbers_right.notna().all():
        equal = np.isclose(
            numbers_left.to_numpy(dtype=float), numbers_right.to_numpy(dtype=float), rtol=1e-9
        )
    else:
        equal = as_strings(left).to_numpy() == as_strings(right).to_numpy()
    return n_both, int(equal.sum())


def duplicate_column_finding(
    column: str, copy: str, source: str, both: int, equal: int
) -> Finding | None:
    """The note for a column a join brought twice (``copy`` from ``source``)."""
    from cairn.data.findings import Finding

    if not both:
        return None
    share = equal / both
    if equal == both:
        return Finding(
            "combine_join_duplicate_column",
            "info",
            copy,
            both,
            f"column {copy!r} (from {source!r}) repeats {column!r}: equal on all {both:,} rows "
            "where both have a value",
            f"{copy!r} dropped, {column!r} kept (its gaps filled from {copy!r})",
            True,
        )
    if share < PARTIAL_AGREEMENT:
        return None
    return Finding(
        "combine_join_duplicate_column",
        "warning",
        copy,
        both - equal,
        f"column {copy!r} (from {source!r}) and {column!r} agree on {share:.1%} of the "
        f"{both:,} rows where both have a value, and differ on {both - equal:,}",
        f'both kept; if one is stale, drop it with roles = {{ {toml_key(copy)} = "ignore" }} '
        "in [data]",
        False,
    )
