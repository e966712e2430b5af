"""The EDA page's "Combining sources" section: rows per source, the joins,
what combining noticed and the spec lines that fix it."""

from __future__ import annotations

import cairn.reporting as rp
from cairn.data.findings import QualityReport
from cairn.data.sources import Combination

_TONE = {"error": "bad", "warning": "warn", "info": "info"}


def combination_sections(quality: QualityReport) -> list[rp.Section]:
    """The section, or none when the data came from one source (or from a
    frame, not from a spec's sources)."""
    if quality.combination is None:
        return []
    combination = Combination.from_dict(quality.combination)
    if combination.single:
        return []
    body = rp.table(combination.source_rows(), numeric_align=True)
    if combination.joins:
        body += rp.table(combination.join_rows(), numeric_align=True)
    findings = [
        f
        for f in quality.findings
        if f.check.startswith("combine_") and f.check != "combine_sources"
    ]
    if findings:
        body += rp.table(
            [
                {
                    "severity": rp.Raw(rp.badge(f.severity, _TONE.get(f.severity, "info"))),
                    "check": f.check.removeprefix("combine_").replace("_", " "),
                    "column": f.column or "—",
                    "rows": f.count,
                    "what was seen": f.message,
                    "action": rp.Raw(
                        rp.badge(
                            "applied" if f.applied else "suggested",
                            "good" if f.applied else "muted",
                        )
                        + " "
                        + rp.escape(f.action)
                    ),
                }
                for f in findings
            ]
        )
    else:
        body += rp.note("Combining found nothing to report.", "good")
    for label, lines in combination.suggested_lines().items():
        text = "\n".join(["[[data.sources]]", f"# the entry of {label!r}", *lines])
        body += (
            f'<p class="note">Every suggested fix for {rp.escape(label)}, to paste into its '
            f"entry in cairn.toml:</p><pre>{rp.escape(text)}</pre>"
        )
    warned = sum(f.severity != "info" for f in findings)
    return [
        rp.Section(
            "Combining sources",
            body,
            id="combining",
            lead=f"{combination.summary()}. Rows per source, what combining noticed "
            "and what cairn did (applied) or suggests.",
            badge=rp.badge(str(warned), "warn") if warned else "",
        )
    ]
