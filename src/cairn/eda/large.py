"""The profile page of a file larger than memory: statistics of every
column over all rows, computed in DuckDB (:func:`cairn.data.large.profile_large`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cairn.reporting as rp
from cairn.data.large import LargeProfile

__all__ = ["write_large_profile_report"]


def _value(value: Any) -> Any:
    return "" if value is None else value


def write_large_profile_report(profile: LargeProfile, path: Path) -> Path:
    """Write PROFILE as a self-contained HTML page at PATH (atomically)."""
    rows = profile.rows
    overview = rp.tiles(
        [
            ("rows", f"{rows:,}"),
            ("columns", str(len(profile.columns))),
            ("duplicate rows", f"{profile.duplicates:,}"),
            ("seconds", f"{profile.seconds:.1f}"),
        ]
    )
    stats = [
        {
            "column": c.name,
            "type": c.type,
            "missing": c.missing,
            "missing %": round(100 * c.missing / max(rows, 1), 2),
            "distinct (est.)": c.distinct,
            "min": _value(c.minimum),
            "max": _value(c.maximum),
            "mean": _value(c.mean),
            "std": _value(c.std),
            **{f"q{q}": v for q, v in c.quantiles.items()},
        }
        for c in profile.columns
    ]
    top = [
        {
            "column": c.name,
            "top values (rows)": ", ".join(f"{value!r} ({n:,})" for value, n in c.top),
        }
        for c in profile.columns
        if c.top
    ]
    findings = [
        {"severity": f.severity, "column": f.column or "", "finding": f.message, "action": f.action}
        for f in profile.findings
    ]
    sections = [
        rp.Section(
            "Overview",
            overview,
            lead="Every row was read: counts are exact; distinct counts and quantiles are "
            "estimates (HyperLogLog, t-digest); duplicates are rows with the same 64-bit hash.",
        ),
        rp.Section("Columns", rp.table(stats)),
        rp.Section("Top values", rp.table(top) if top else rp.note("no column with few values")),
        rp.Section(
            "Quality findings",
            rp.table(findings) if findings else rp.note("nothing found over all rows", "good"),
        ),
    ]
    page = rp.render_page(
        f"Profile of {Path(profile.source).name}",
        sections,
        subtitle=f"{rows:,} rows × {len(profile.columns)} columns, read in DuckDB",
    )
    return rp.write_report(path, page)
