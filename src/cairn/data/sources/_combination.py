"""What combining sources did, for people: the :class:`Combination` record.

:func:`~cairn.data.sources.collect` keeps it (as ``to_dict()``) in the
combined frame's ``attrs["cairn_collect"]``; :func:`take_combination` reads it
back. Besides rows per source it holds :class:`~cairn.data.findings.Finding`
objects (checks named ``combine_*``, made in ``_append_checks`` and
``_join_checks``). Suggested fixes are spec lines to paste into a
``[[data.sources]]`` entry (``rename``, ``values``).

Here too are the per-source options applied right after reading
(:func:`apply_source_options`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from cairn.data.sources._formats import READ_HINTS_ATTR
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


def take_combination(frame: pd.DataFrame) -> Combination | None:
    """The record :func:`~cairn.data.sources.collect` left on ``frame``, if
    any, taken off it: pandas deep-copies ``attrs`` into every column and
    slice, so a record of thousands of columns left there makes each column
    access slow (minutes on a 2,000-column table)."""
    data = frame.attrs.pop(ATTRS_KEY, None)
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


def fix_text(label: str, line: str) -> str:
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
        hints = frame.attrs.get(READ_HINTS_ATTR)
        frame = frame.rename(columns=source.rename)
        if hints:
            # The reader's per-column hints follow the columns' new names.
            frame.attrs[READ_HINTS_ATTR] = {
                key: (
                    {source.rename.get(c, c): v for c, v in value.items()}
                    if isinstance(value, dict)
                    else value
                )
                for key, value in hints.items()
            }
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
    numbers again when every value left is a plain number (formatted ones,
    "$1,234.50", are left to the type repair, which records their format)."""
    import pandas as pd

    from cairn.data.values import as_strings, numeric_from_text

    text = as_strings(series)
    matched = text.isin(list(mapping)).to_numpy()
    if not matched.any():
        return series
    values = series.astype(object).where(~matched, text.map(mapping))
    present = values.dropna()
    if pd.to_numeric(present.astype(str), errors="coerce").isna().any():
        return values.astype("str").where(values.notna())
    numbers = numeric_from_text(present.astype(str))
    if numbers is None:
        return values.astype("str").where(values.notna())
    result = pd.Series(float("nan"), index=series.index, dtype="float64")
    result[present.index] = numbers.to_numpy()
    if len(numbers) == len(series) and bool((numbers % 1 == 0).all()):
        return result.astype("int64")
    return result


def sources_finding(frames: list[tuple[str, pd.DataFrame]], rows: int, how: str) -> Finding:
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


def entity_key(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    import pandas as pd

    return pd.util.hash_pandas_object(frame[list(columns)], index=False).to_numpy()
