"""The ``[data]`` section of the spec: sources, how they combine, and what the
data stage may do to columns (renames, value maps, reading options, leakage
and privacy decisions)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ColumnRole = Literal["numeric", "categorical", "boolean", "datetime", "text", "id", "ignore"]
# What happens to a column holding personal data: dropped from the features,
# replaced by a keyed hash (still usable as a category), or kept as it is.
PrivacyAction = Literal["drop", "hash", "keep"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSpec(Section):
    """Where one table comes from: exactly one of ``path``, ``url`` or ``sql``."""

    path: Path | None = None
    url: str | None = None
    sql: str | None = None  # a SQLAlchemy URL, e.g. sqlite:///data.db
    table: str | None = None
    query: str | None = None
    format: Literal["csv", "tsv", "parquet", "excel", "json", "jsonl"] | None = None
    separator: str | None = None
    encoding: str | None = None
    sheet: str | int | None = None
    name: str | None = None
    # Number formatting of text files; None: detected (a decimal comma is
    # recognised in ';'-separated files).
    decimal: Literal[".", ","] | None = None
    thousands: Literal[",", ".", " ", "'", "_"] | None = None
    # Strings read as missing in this source; None: cairn's own list
    # (cairn.data.values.MISSING_SENTINELS).
    missing: list[str] | None = None
    # Column renames applied right after reading (old name -> new name), so
    # that sources naming one column differently line up when combined.
    rename: dict[str, str] = Field(default_factory=dict)
    # Per-column value maps applied after renaming: {column = {from = to}};
    # values are matched on their text form ("0", "No").
    values: dict[str, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_location(self) -> SourceSpec:
        given = [k for k in ("path", "url", "sql") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a source needs exactly one of 'path', 'url' or 'sql' "
                f"(got {', '.join(given) or 'none'})"
            )
        if self.sql is not None and (self.table is None) == (self.query is None):
            raise ValueError("a 'sql' source needs exactly one of 'table' or 'query'")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"'url' must start with http:// or https:// (got {self.url!r})")
        if self.decimal is not None and self.decimal == self.thousands:
            raise ValueError(
                f"'decimal' and 'thousands' are both {self.decimal!r}; they must differ"
            )
        blank = sorted(old for old, new in self.rename.items() if not new.strip())
        if blank:
            raise ValueError(f"'rename' gives {', '.join(map(repr, blank))} an empty name")
        targets = list(self.rename.values())
        clashes = sorted({name for name in targets if targets.count(name) > 1})
        if clashes:
            raise ValueError(f"'rename' maps several columns to {', '.join(map(repr, clashes))}")
        return self

    @property
    def label(self) -> str:
        """A short human name for messages."""
        if self.name:
            return self.name
        if self.path is not None:
            return str(self.path)
        if self.url is not None:
            return self.url
        return f"{self.sql} ({self.table or 'query'})"


class DataSection(Section):
    sources: list[SourceSpec] = Field(min_length=1)
    combine: Literal["append", "join"] = "append"
    join_on: list[str] = Field(default_factory=list)
    join_how: Literal["inner", "left", "outer"] = "inner"
    id_columns: list[str] = Field(default_factory=list)
    time_column: str | None = None
    roles: dict[str, ColumnRole] = Field(default_factory=dict)
    # Columns flagged as target leakage that the user keeps as features anyway.
    allow_leakage: list[str] = Field(default_factory=list)
    # Per-column decision for personal data; columns found to hold direct
    # identifiers and not named here are dropped from the features.
    privacy: dict[str, PrivacyAction] = Field(default_factory=dict)
    # A Parquet or CSV source read as larger than memory (profiled in DuckDB,
    # trained on a sample); None: decided by its estimated size.
    large: bool | None = None

    @model_validator(mode="after")
    def _join_needs_keys(self) -> DataSection:
        if self.combine == "join" and not self.join_on:
            raise ValueError("combine = 'join' needs 'join_on', the key column(s)")
        return self

    @field_validator("allow_leakage")
    @classmethod
    def _no_blank_names(cls, value: list[str]) -> list[str]:
        if any(not name.strip() for name in value):
            raise ValueError("'allow_leakage' holds an empty column name")
        return value
