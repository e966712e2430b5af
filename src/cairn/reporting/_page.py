"""The HTML page every cairn report shares: layout, styles, navigation,
tables and small building blocks.

A page is one self-contained file: styles are inline, fonts are the system's,
and when the page holds plots the Plotly library is inlined exactly once, so
the file opens offline and never asks the network for anything.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from cairn._io import atomic_write_text
from cairn.reporting._figure import PLOT_CLASS, plot_scripts
from cairn.reporting._format import (
    escape,
    fmt_number,
    slug,
)

Tone = str  # "good" | "bad" | "warn" | "info" | "muted"
_TONES = ("good", "bad", "warn", "info", "muted")


@dataclass
class Section:
    """One titled part of a page.

    Attributes:
        title: heading text (escaped when rendered).
        body: the section's HTML (already safe: build it with the helpers here).
        id: anchor for the navigation; derived from the title when empty.
        lead: one sentence under the heading saying what the section shows.
        nav: list the section in the side navigation.
        children: sub-sections, rendered after ``body`` with smaller headings.
        badge: short HTML shown next to the heading (e.g. a warning count).
    """

    title: str
    body: str = ""
    id: str = ""
    lead: str = ""
    nav: bool = True
    children: list[Section] = field(default_factory=list)
    badge: str = ""


def _unique_ids(sections: Sequence[Section]) -> None:
    seen: set[str] = set()

    def visit(section: Section) -> None:
        base = section.id or slug(section.title)
        candidate, n = base, 2
        while candidate in seen:
            candidate = f"{base}-{n}"
            n += 1
        section.id = candidate
        seen.add(candidate)
        for child in section.children:
            visit(child)

    for section in sections:
        visit(section)


def _render_section(section: Section, level: int) -> str:
    tag = f"h{min(level, 4)}"
    badge = f" {section.badge}" if section.badge else ""
    lead = f'<p class="lead">{escape(section.lead)}</p>' if section.lead else ""
    children = "".join(_render_section(child, level + 1) for child in section.children)
    return (
        f'<section id="{escape(section.id)}" class="level-{level}">'
        f'<{tag}><a class="anchor" href="#{escape(section.id)}">{escape(section.title)}</a>'
        f"{badge}</{tag}>{lead}{section.body}{children}</section>"
    )


def _render_nav(sections: Sequence[Section]) -> str:
    items = []
    for section in sections:
        if not section.nav:
            continue
        sub = [c for c in section.children if c.nav]
        inner = ""
        if sub and len(sub) <= 60:
            inner = "<ol>" + "".join(
                f'<li><a href="#{escape(c.id)}">{escape(c.title)}</a></li>' for c in sub
            )
            inner += "</ol>"
        items.append(f'<li><a href="#{escape(section.id)}">{escape(section.title)}</a>{inner}</li>')
    return f'<nav class="toc" aria-label="Contents"><ol>{"".join(items)}</ol></nav>'


def render_page(
    title: str,
    sections: Sequence[Section],
    *,
    subtitle: str = "",
    banner: str = "",
    meta: Mapping[str, Any] | None = None,
    footer: str = "",
    generated_at: datetime | None = None,
) -> str:
    """Render a complete, self-contained HTML report.

    Args:
        title: the page title (``<title>`` and the top heading).
        sections: the body, in order; top-level sections form the side
            navigation.
        subtitle: one line under the title (plain text).
        banner: HTML shown above everything (e.g. :func:`banner` with a
            verdict).
        meta: small facts shown under the title (``label -> value``).
        footer: extra HTML for the footer.
        generated_at: timestamp shown in the footer; now when omitted.

    Returns:
        The page as a string. Plotly is inlined once if any section holds a
        plot made with :mod:`cairn.reporting` figure helpers.
    """
    sections = list(sections)
    _unique_ids(sections)
    body = "".join(_render_section(section, 2) for section in sections)
    has_plots = f'class="{PLOT_CLASS}' in body or f'class="{PLOT_CLASS}"' in banner
    stamp = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    meta_html = ""
    if meta:
        meta_html = '<dl class="meta">' + "".join(
            f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in meta.items()
        )
        meta_html += "</dl>"
    from cairn._version import __version__

    scripts = plot_scripts() if has_plots else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="cairn">'
        f"<title>{escape(title)}</title><style>{_css()}</style></head>"
        f'<body><div class="layout">{_render_nav(sections)}<main>'
        f'<header class="page-head"><h1>{escape(title)}</h1>'
        + (f'<p class="subtitle">{escape(subtitle)}</p>' if subtitle else "")
        + f"{meta_html}</header>{banner}{body}"
        f"<footer>Made by cairn {escape(__version__)} on {escape(stamp)}. "
        f"This file is self-contained and opens offline.{footer}</footer>"
        f"</main></div>{scripts}</body></html>\n"
    )


def write_report(path: str | Path, page: str) -> Path:
    """Write a page atomically (temporary file, then rename) and return its path."""
    return atomic_write_text(path, page)


# ---------------------------------------------------------------- building blocks


def badge(text: str, tone: Tone = "info") -> str:
    """A small coloured label."""
    tone = tone if tone in _TONES else "info"
    return f'<span class="badge {tone}">{escape(text)}</span>'


def banner(title: str, tone: Tone = "info", details: str = "") -> str:
    """A full-width coloured box for a verdict; ``details`` is HTML."""
    tone = tone if tone in _TONES else "info"
    icon = {"good": "✓", "bad": "✗", "warn": "!", "info": "i", "muted": "·"}[tone]
    return (
        f'<div class="banner {tone}" role="status"><span class="icon" aria-hidden="true">'
        f"{icon}</span><div><strong>{escape(title)}</strong>{details}</div></div>"
    )


def note(text: str, tone: Tone = "muted") -> str:
    """A short paragraph in a muted (or toned) style; ``text`` is escaped."""
    return f'<p class="note {tone}">{escape(text)}</p>'


def tiles(items: Iterable[tuple[str, Any] | tuple[str, Any, str]]) -> str:
    """A row of headline figures: ``(label, value)`` or ``(label, value, hint)``.
    Values are escaped; numbers are formatted with :func:`fmt_number`."""
    parts = []
    for item in items:
        label, value = item[0], item[1]
        hint = item[2] if len(item) > 2 else ""
        shown = fmt_number(value) if isinstance(value, int | float) else str(value)
        hint_html = f'<span class="hint">{escape(hint)}</span>' if hint else ""
        parts.append(
            f'<div class="tile"><span class="label">{escape(label)}</span>'
            f'<span class="value">{escape(shown)}</span>{hint_html}</div>'
        )
    return f'<div class="tiles">{"".join(parts)}</div>'


def key_values(
    items: Mapping[str, Any] | Iterable[tuple[str, Any]], *, compact: bool = False
) -> str:
    """A two-column table of labels and values (values escaped, numbers
    formatted)."""
    pairs = items.items() if isinstance(items, Mapping) else items
    rows = "".join(
        f'<tr><th scope="row">{escape(k)}</th><td>{_cell(v)}</td></tr>' for k, v in pairs
    )
    return f'<table class="kv{" compact" if compact else ""}"><tbody>{rows}</tbody></table>'


class Raw(str):
    """Text already safe as HTML: :func:`table` and :func:`key_values` insert it
    as is instead of escaping it."""

    __slots__ = ()


def _cell(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, float | int) and not isinstance(value, bool):
        return escape(fmt_number(value))
    try:
        if value is not None and not isinstance(value, str) and pd.isna(value):
            return "—"
    except (TypeError, ValueError):
        pass
    return escape(value)


def table(
    data: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str] | None = None,
    max_rows: int | None = None,
    numeric_align: bool = True,
    highlight_first: bool = False,
    caption: str = "",
) -> str:
    """A data table. Numbers are formatted and right-aligned; :class:`Raw`
    values are inserted as HTML; everything else is escaped.

    Args:
        data: a DataFrame (index ignored) or a list of row mappings.
        columns: which columns to show, in order; all when omitted.
        max_rows: show at most this many rows and say how many were left out.
        highlight_first: mark the first row (e.g. the chosen model).
        caption: plain text shown under the table.
    """
    if isinstance(data, pd.DataFrame):
        cols = list(columns or data.columns)
        records = [dict(zip(cols, row, strict=True)) for row in data[cols].itertuples(index=False)]
    else:
        records = [dict(r) for r in data]
        cols = list(columns or (list(records[0]) if records else []))
    total = len(records)
    if max_rows is not None:
        records = records[:max_rows]
    numeric = {
        c: numeric_align
        and any(
            isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool) for r in records
        )
        for c in cols
    }
    head = "".join(
        f'<th scope="col"{" class=num" if numeric[c] else ""}>{escape(c)}</th>' for c in cols
    )
    body_rows = []
    for position, record in enumerate(records):
        cls = ' class="first"' if highlight_first and position == 0 else ""
        cells = "".join(
            f"<td{' class=num' if numeric[c] else ''}>{_cell(record.get(c))}</td>" for c in cols
        )
        body_rows.append(f"<tr{cls}>{cells}</tr>")
    more = ""
    if max_rows is not None and total > max_rows:
        more = f'<p class="note muted">Showing {max_rows:,} of {total:,} rows.</p>'
    cap = f'<p class="note muted">{escape(caption)}</p>' if caption else ""
    return (
        f'<div class="table-wrap"><table class="data"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body_rows)}</tbody></table></div>{more}{cap}"
    )


def grid(*items: str, min_width: int = 320) -> str:
    """Lay HTML blocks side by side, wrapping on narrow screens."""
    cells = "".join(f'<div class="cell">{item}</div>' for item in items if item)
    return f'<div class="grid" style="--min:{int(min_width)}px">{cells}</div>'


def row(*items: str, widths: Sequence[float] | None = None) -> str:
    """Lay HTML blocks side by side in fixed proportions (``widths``, e.g.
    ``(1, 1, 2)``); they stack on narrow screens."""
    cells = [item for item in items if item]
    shares = list(widths or [1] * len(cells))[: len(cells)]
    shares += [1] * (len(cells) - len(shares))
    template = " ".join(f"minmax(0,{float(w):g}fr)" for w in shares)
    inner = "".join(f'<div class="cell">{item}</div>' for item in cells)
    return f'<div class="row" style="grid-template-columns:{template}">{inner}</div>'


def details(summary: str, body: str, *, open: bool = False) -> str:
    """A collapsible block; ``summary`` is escaped, ``body`` is HTML."""
    flag = " open" if open else ""
    return f"<details{flag}><summary>{escape(summary)}</summary>{body}</details>"


@functools.cache
def _css() -> str:
    return (resources.files("cairn.reporting") / "report.css").read_text(encoding="utf-8")


#: The page's style sheet (for pages assembled by hand).
CSS = _css()
