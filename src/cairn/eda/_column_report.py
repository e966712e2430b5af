"""One column's part of the EDA report: its facts, summary statistics,
distribution or timeline, most frequent values and alerts."""

from __future__ import annotations

from typing import Any

import cairn.reporting as rp
from cairn.data.quality import Finding
from cairn.eda._stats import NumericSummary
from cairn.eda._types import _REPAIR_CHECKS, Alert, ColumnProfile

_ROLE_TONE = {
    "target": "bad",
    "numeric": "info",
    "categorical": "good",
    "boolean": "good",
    "datetime": "warn",
    "text": "warn",
    "id": "muted",
    "constant": "muted",
    "ignore": "muted",
}


def column_id(name: str) -> str:
    """The anchor of a column's part of the page."""
    return "col-" + rp.slug(name)


def role_badge(role: str) -> str:
    return rp.badge(role, _ROLE_TONE.get(role, "info"))


def share_cell(count: int, total: int) -> str:
    """A count with its share of ``total``, muted when zero."""
    if not count:
        return '<span class="note muted">0</span>'
    share = count / total if total else 0.0
    return f"{count:,} <span class='note muted'>({rp.fmt_percent(share)})</span>"


def column_section(column: ColumnProfile, *, sampled_rows: int = 0) -> rp.Section:
    """The column's part: facts and statistics beside its plot, then alerts.
    ``sampled_rows``: the quality checks ran on a sample of that many rows
    (0: on all rows); their findings say so."""
    facts = _basic_facts(column)
    numbers: list[tuple[str, Any]] = []
    plot = ""
    extra = ""
    stats = column.numeric
    if (
        stats is not None
        and column.kind in ("numeric", "id", "categorical")
        and (column.kind == "numeric" or column.n_unique > 12)
    ):
        numbers = _numeric_summary(stats)
        facts += _numeric_facts(stats)
        plot = _distribution_plot(column, stats)
    elif column.kind == "datetime" and column.datetime:
        facts += _datetime_facts(column.datetime)
        plot = _timeline_plot(column)
    if column.kind == "text":
        plot, extra = _text_views(column, facts)
    elif column.kind in ("categorical", "id") or (
        column.kind == "numeric" and column.n_unique <= 12
    ):
        plot, extra = _value_views(column, plot, facts)
    if column.kind == "empty":
        plot = rp.note("No values to plot: every value is missing.", "warn")
    elif column.n_unique == 1 and column.top:
        plot = rp.note(f"Every value is {column.top[0][0]!r}.", "muted")
    tables = [rp.key_values(facts, compact=True)]
    if numbers:
        tables.append(rp.key_values(numbers, compact=True))
    body = _alert_list(column, sampled_rows) + rp.row(
        *tables, plot, widths=[1] * len(tables) + [2 if numbers else 1.6]
    )
    if extra:
        body += rp.grid(extra, min_width=340)
    return rp.Section(column.name, body, id=column_id(column.name), badge=_badge(column))


def _basic_facts(column: ColumnProfile) -> list[tuple[str, Any]]:
    return [
        ("role", rp.Raw(role_badge(column.role) + " " + rp.escape(column.reason))),
        ("type", column.dtype),
        ("values", column.count),
        ("missing", rp.Raw(share_cell(column.missing, column.rows))),
        ("distinct", rp.Raw(share_cell(column.n_unique, column.count))),
        ("memory", rp.fmt_bytes(column.memory_bytes)),
    ]


def _numeric_summary(stats: NumericSummary) -> list[tuple[str, Any]]:
    return [
        ("mean", stats.mean),
        ("std", stats.std),
        ("min", stats.min),
        *[(f"{label} percentile", value) for label, value in stats.quantiles.items()],
        ("max", stats.max),
        ("IQR", stats.iqr),
        ("skewness", stats.skew),
        ("excess kurtosis", stats.kurtosis),
    ]


def _numeric_facts(stats: NumericSummary) -> list[tuple[str, Any]]:
    facts: list[tuple[str, Any]] = [
        ("zeros", rp.Raw(share_cell(stats.zeros, stats.count))),
        ("negative", rp.Raw(share_cell(stats.negatives, stats.count))),
        (
            "outliers (IQR)",
            rp.Raw(
                share_cell(stats.outliers_iqr, stats.count)
                + f" <span class='note muted'>outside [{rp.fmt_number(stats.iqr_low)}, "
                f"{rp.fmt_number(stats.iqr_high)}]</span>"
            ),
        ),
        ("outliers (|z| > 3)", rp.Raw(share_cell(stats.outliers_z, stats.count))),
    ]
    if stats.infinite:
        facts.append(("infinite", stats.infinite))
    return facts


def _distribution_plot(column: ColumnProfile, stats: NumericSummary) -> str:
    hist = stats.histogram
    return str(
        rp.histogram(
            hist.edges,
            hist.counts,
            title="Distribution",
            x_title=column.name,
            markers={"mean": stats.mean, "median": stats.median},
            log_toggle=abs(stats.skew) >= 2,
            caption=f"All {stats.count:,} values"
            + ("; one bar per value." if hist.discrete else f"; {len(hist.counts)} bins."),
        )
    )


def _datetime_facts(info: dict[str, Any]) -> list[tuple[str, Any]]:
    facts: list[tuple[str, Any]] = [
        ("first", info["min"]),
        ("last", info["max"]),
        ("span", f"{info['span_days']:,.1f} days"),
    ]
    if info["unreadable"]:
        facts.append(("unreadable as dates", info["unreadable"]))
    return facts


def _timeline_plot(column: ColumnProfile) -> str:
    info = column.datetime
    assert info is not None
    edges = info["edges"]
    return str(
        rp.Figure(
            [
                {
                    "type": "bar",
                    "x": edges[:-1],
                    "y": info["counts"],
                    "marker": {"color": rp.PALETTE[0]},
                    "hovertemplate": "%{x}<br>%{y:,} rows<extra></extra>",
                }
            ],
            {"xaxis": {"type": "date"}, "yaxis": {"title": {"text": "rows"}}, "bargap": 0.02},
            title="Rows over time",
            caption=f"All {column.count:,} dates, {len(info['counts'])} equal periods.",
            height=260,
        )
    )


def _text_views(column: ColumnProfile, facts: list[tuple[str, Any]]) -> tuple[str, str]:
    """Free text: characters and words per value (min, median, max), the
    share of values without a word and the histogram of lengths; the most
    frequent values only as a table below (a bar per sentence says little)."""
    if column.lengths:
        facts.append(("characters", _min_median_max(column.lengths)))
    if column.words:
        facts.append(("words", _min_median_max(column.words)))
    facts.append(("empty (no words)", rp.Raw(share_cell(column.empty_texts, column.count))))
    plot = _length_histogram(
        column, x_title="characters per value", caption=f"All {column.count:,} values."
    )
    caption = (
        "Examples (every value is distinct)"
        if column.n_unique == column.count
        else f"Most frequent values ({column.n_unique:,} distinct)"
    )
    return plot, _values_table(column, caption) if column.top else ""


def _min_median_max(summary: dict[str, float]) -> str:
    return f"min {summary['min']:.0f}, median {summary['50%']:.0f}, max {summary['max']:.0f}"


def _length_histogram(column: ColumnProfile, **options: Any) -> str:
    lh = column.length_histogram
    if lh is None:
        return ""
    return str(rp.histogram(lh.edges, lh.counts, title="Length in characters", **options))


def _values_table(column: ColumnProfile, caption: str) -> str:
    return rp.table(
        [
            {"value": value, "rows": count, "share": rp.fmt_percent(count / column.count)}
            for value, count in column.top
        ],
        caption=caption,
    )


def _value_views(column: ColumnProfile, plot: str, facts: list[tuple[str, Any]]) -> tuple[str, str]:
    """The most frequent values (beside or instead of ``plot``) and, for
    identifiers, lengths and a table of examples below; adds length facts."""
    extra = ""
    if column.top and column.kind != "id":
        bar = str(_top_values_bar(column))
        plot = plot + bar if column.kind == "categorical" and plot else bar
    if column.lengths:
        facts.append(("length (chars)", _range_text(column.lengths)))
        if column.kind == "id":
            extra = _length_histogram(column, x_title="characters", height=220)
    if column.kind == "id" and column.top:
        extra += _values_table(column, f"Examples ({column.n_unique:,} distinct)")
    return plot, extra


def _top_values_bar(column: ColumnProfile) -> rp.Figure:
    labels = [value for value, _ in column.top]
    counts = [count for _, count in column.top]
    if column.other_count:
        labels.append(f"other ({column.n_unique - len(column.top):,} values)")
        counts.append(column.other_count)
    shares = [rp.fmt_percent(c / max(column.count, 1)) for c in counts]
    return rp.bar(
        labels,
        counts,
        horizontal=True,
        title="Most frequent values",
        x_title="rows",
        text=shares,
        hover="%{y}: %{x:,} rows",
        color=[rp.PALETTE[0]] * len(column.top) + [rp.MUTED] * bool(column.other_count),
    )


def _alert_list(column: ColumnProfile, sampled_rows: int) -> str:
    if not (column.alerts or column.findings):
        return ""
    sample = f" (checked on a random sample of {sampled_rows:,} rows)" if sampled_rows else ""
    items = [
        f"<li>{rp.badge(a.kind.replace('_', ' '), _alert_tone(a))} {rp.escape(a.message)}</li>"
        for a in column.alerts
    ]
    items += [
        f"<li>{rp.badge(f.check.replace('_', ' '), _finding_tone(f))} {rp.escape(f.message)}"
        f"{rp.escape(sample if f.check not in _REPAIR_CHECKS else '')}"
        f" — <em>{rp.escape(f.action)}</em></li>"
        for f in column.findings
    ]
    return f'<ul class="alerts">{"".join(items)}</ul>'


def _badge(column: ColumnProfile) -> str:
    """The role, and the number of errors and warnings (alerts and quality
    findings) when there are any."""
    badge = role_badge(column.role)
    severities = [a.severity for a in column.alerts] + [f.severity for f in column.findings]
    for severity, tone in (("error", "bad"), ("warning", "warn")):
        n = severities.count(severity)
        if n:
            badge += " " + rp.badge(f"{n} {severity}{'s' if n > 1 else ''}", tone)
    return badge


def _alert_tone(alert: Alert) -> str:
    return "warn" if alert.severity == "warning" else "info"


def _finding_tone(finding: Finding) -> str:
    return {"error": "bad", "warning": "warn"}.get(finding.severity, "info")


def _range_text(summary: dict[str, float]) -> str:
    return (
        f"mean {summary['mean']:.1f}, median {summary['50%']:.0f}, "
        f"{summary['min']:.0f} – {summary['max']:.0f}"
    )
