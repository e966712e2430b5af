"""What the data checks report: one :class:`Finding` per thing noticed, and the
:class:`QualityReport` that gathers them with row and column counts.

Shared by the checks (:mod:`cairn.data.quality`) and the type repairs
(:mod:`cairn.data.repair`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import pandas as pd

__all__ = ["Finding", "QualityReport", "Severity", "quoted_examples"]

Severity = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class Finding:
    """One thing the checks noticed.

    Attributes:
        check: short name of the check, e.g. "duplicate_rows".
        severity: "info", "warning" or "error".
        column: the column concerned, or None for the whole table.
        count: rows (or values) concerned.
        message: what was seen, for people.
        action: what cairn did, or suggests when ``applied`` is False.
        applied: whether the action was applied to the cleaned data or schema.
    """

    check: str
    severity: Severity
    column: str | None
    count: int
    message: str
    action: str
    applied: bool


@dataclass
class QualityReport:
    """Every finding of :func:`check_and_clean`, with row and column counts.

    ``columns_in`` counts the input columns (target included); ``columns_out``
    counts the columns that reach the learner plus the target. A report of
    a task without a target (``has_target`` False) counts features only.
    """

    findings: list[Finding] = field(default_factory=list)
    rows_in: int = 0
    rows_out: int = 0
    columns_in: int = 0
    columns_out: int = 0
    has_target: bool = True
    # What combining the sources did (cairn.data.sources.Combination.to_dict()),
    # when the table came from a spec's sources.
    combination: dict[str, Any] | None = None
    # For a file larger than memory (cairn.data.large): the all-row profile
    # and the policy that drew the training sample.
    large: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.findings)

    def by_check(self, name: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.check == name]

    def by_severity(self, severity: Severity) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == severity]

    @property
    def warnings(self) -> list[Finding]:
        return self.by_severity("warning")

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "columns_in": self.columns_in,
            "columns_out": self.columns_out,
            "findings": [asdict(finding) for finding in self.findings],
            **({"combination": self.combination} if self.combination is not None else {}),
            **({"large": self.large} if self.large is not None else {}),
        }

    def to_frame(self) -> pd.DataFrame:
        names = [f.name for f in fields(Finding)]
        return pd.DataFrame([asdict(finding) for finding in self.findings], columns=names)

    def summary(self) -> str:
        severities: tuple[Severity, ...] = ("error", "warning", "info")
        counts = {s: len(self.by_severity(s)) for s in severities}
        return (
            f"{self.rows_in} rows in, {self.rows_out} kept; "
            f"{self.columns_in} columns in, {self.columns_out} used"
            f"{' (target included)' if self.has_target else ''}; "
            f"{counts['error']} error(s), {counts['warning']} warning(s), "
            f"{counts['info']} note(s)"
        )


def quoted_examples(values: Sequence[Any], limit: int = 3) -> str:
    """The first few values, quoted, for a finding's message."""
    return ", ".join(repr(v) for v in list(values)[:limit])
