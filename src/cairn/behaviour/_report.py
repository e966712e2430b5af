"""The offline HTML report of a behaviour-test suite: a verdict banner, one
section per category with a table of its checks, a chart per sliced check
(the metric per slice with its interval, against the overall figure) and
the rows that broke a check.

A check's ``details`` feed the charts and tables when they hold:

- ``segments`` (or ``slices``): a list of ``{"slice" | "label" | "name",
  "value", "low", "high", "rows", "weak" | "failed"}``; ``overall`` and
  ``metric`` beside the list name the reference line and the axis;
- ``rates``: a figure per group (fairness), drawn as bars;
- ``examples`` (or ``violations``): a list of rows, each a mapping of
  column to value (the inputs and what the model answered).

Anything else in ``details`` is shown as small tables: scalars together,
each other mapping or list of mappings on its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cairn.reporting as rp
from cairn.behaviour._junit import CATEGORIES
from cairn.behaviour._result import CheckResult, Status, SuiteResult

__all__ = ["render_report", "write_report"]

_TITLES = {
    "edge_case": "Edge cases",
    "invariance": "Invariance",
    "direction": "Direction",
    "robustness": "Robustness",
    "slice": "Slices",
    "fairness": "Fairness",
    "skew": "Train/serve skew and leakage",
}
_LEADS = {
    "edge_case": "Inputs at and beyond what training saw, unseen and missing values: the model "
    "must answer with finite outputs of the right shape, in time.",
    "invariance": "Declared invariances: changing these columns must not change the prediction.",
    "direction": "Declared directions: the prediction must move with these columns, within a "
    "tolerance.",
    "robustness": "Small noise on numbers and typo-like changes to categories: the share of "
    "predictions that change.",
    "slice": "The metric on each category and numeric bin with enough rows; a slice far under "
    "the overall figure or the objective is a weak segment.",
    "fairness": "Differences across the groups of a sensitive column.",
    "skew": "The same rows through the native pipeline, the ONNX engine and the server, one row "
    "at a time and in batches; rows shared by training and test; calibration.",
}
_STATUS_TONES = {"passed": "good", "failed": "bad", "error": "bad", "skipped": "muted"}
_EXAMPLE_ROWS = 20
_EXAMPLE_COLUMNS = 12
_SLICE_KEYS = ("segments", "slices")
_EXAMPLE_KEYS = ("examples", "violations")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _checks_table(checks: Sequence[CheckResult]) -> str:
    rows = [
        {
            "status": rp.Raw(rp.badge(check.status, _STATUS_TONES.get(check.status, "info"))),
            "check": check.name,
            "message": check.message,
            "measured": check.measured,
            "threshold": check.threshold,
            "rows": check.rows,
            "time": rp.fmt_duration(check.seconds),
        }
        for check in checks
    ]
    return rp.table(rows)


def _slice_label(entry: Mapping[str, Any]) -> str:
    for key in ("slice", "label", "name"):
        if entry.get(key) is not None:
            return str(entry[key])
    return "?"


def _slice_value(entry: Mapping[str, Any]) -> float | None:
    for key in ("value", "metric"):
        number = _number(entry.get(key))
        if number is not None:
            return number
    return None


def slice_chart(check: CheckResult) -> str:
    """The metric per slice with its interval (when given), failing slices in
    red, the overall figure as a dashed line; empty without usable slices."""
    listed = next((check.details[k] for k in _SLICE_KEYS if k in check.details), None)
    entries = [
        e
        for e in (listed if isinstance(listed, list) else [])
        if isinstance(e, Mapping) and _slice_value(e) is not None
    ][:60]
    if not entries:
        return ""
    labels = [_slice_label(e) for e in entries]
    values = [_slice_value(e) for e in entries]
    lows = [_number(e.get("low")) for e in entries]
    highs = [_number(e.get("high")) for e in entries]
    trace: dict[str, Any] = {
        "type": "bar",
        "orientation": "h",
        "y": labels,
        "x": values,
        "marker": {
            "color": [
                rp.BAD if e.get("weak") or e.get("failed") else rp.PALETTE[0] for e in entries
            ],
        },
        "hovertemplate": "%{y}: %{x:.4g}<extra></extra>",
    }
    if any(low is not None for low in lows) or any(high is not None for high in highs):
        trace["error_x"] = {
            "type": "data",
            "symmetric": False,
            "array": [
                max(h - v, 0.0) if h is not None and v is not None else 0.0
                for v, h in zip(values, highs, strict=True)
            ],
            "arrayminus": [
                max(v - lo, 0.0) if lo is not None and v is not None else 0.0
                for v, lo in zip(values, lows, strict=True)
            ],
            "visible": True,
            "color": "#5b6475",
            "thickness": 1.2,
        }
    metric = str(check.details.get("metric") or "metric")
    layout: dict[str, Any] = {
        "yaxis": {"autorange": "reversed", "type": "category"},
        "xaxis": {"title": {"text": metric}},
    }
    overall = _number(check.details.get("overall"))
    caption = "Red bars are failing slices; whiskers show each slice's interval."
    if overall is not None:
        layout["shapes"] = [rp.vertical_line(overall, color=rp.MUTED)]
        caption += f" The dashed line is the overall {metric} ({overall:.4g})."
    figure = rp.Figure(
        [trace],
        layout,
        title=f"{metric} per slice: {check.name}",
        caption=caption,
        height=max(200, 26 * len(entries) + 90),
    )
    return str(figure)


def rates_chart(check: CheckResult) -> str:
    """A fairness check's figure per group as bars; empty without ``rates``."""
    rates = check.details.get("rates")
    if not isinstance(rates, Mapping):
        return ""
    pairs = [(str(k), _number(v)) for k, v in rates.items()]
    shown = [(group, value) for group, value in pairs if value is not None][:40]
    if len(shown) < 2:
        return ""
    sizes = check.details.get("rows")
    counts = sizes if isinstance(sizes, Mapping) else {}
    return str(
        rp.bar(
            [group for group, _ in shown],
            [value for _, value in shown],
            horizontal=True,
            title=f"Rate per group: {check.name}",
            text=[
                f"{value:.1%}" + (f" ({rp.fmt_number(counts[group])})" if group in counts else "")
                for group, value in shown
            ],
            hover="%{y}: %{x:.3f}",
            caption="Rows per group in brackets; the check compares the highest and lowest.",
        )
    )


def _examples_table(check: CheckResult) -> str:
    for key in _EXAMPLE_KEYS:
        rows = check.details.get(key)
        if isinstance(rows, list) and rows and all(isinstance(r, Mapping) for r in rows):
            columns: list[str] = []
            for row in rows[:_EXAMPLE_ROWS]:
                columns += [str(c) for c in row if str(c) not in columns]
            shown = columns[:_EXAMPLE_COLUMNS]
            caption = f"{len(rows):,} example row(s)"
            if len(columns) > len(shown):
                caption += f"; {len(columns) - len(shown)} more column(s) in behaviour.json"
            body = rp.table(
                [{str(k): v for k, v in row.items()} for row in rows],
                columns=shown,
                max_rows=_EXAMPLE_ROWS,
                caption=caption + ".",
            )
            return rp.details(f"Rows that broke {check.name}", body, open=not check.ok)
    return ""


def _other_details(check: CheckResult) -> str:
    """The extras of ``details`` the charts and example rows do not show:
    scalars in one table, each mapping or list of mappings in its own."""
    used = {*_SLICE_KEYS, *_EXAMPLE_KEYS, "overall", "metric"}
    if rates_chart(check):
        used.update({"rates", "rows"})
    simple: dict[str, Any] = {}
    tables: list[str] = []
    for key, value in check.details.items():
        if key in used:
            continue
        if value is None or isinstance(value, str | int | float | bool):
            simple[str(key)] = value
        elif isinstance(value, Mapping):
            tables.append(rp.key_values({str(k): v for k, v in value.items()}, compact=True))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            records = [{str(k): v for k, v in item.items()} for item in value]
            tables.append(rp.table(records, max_rows=_EXAMPLE_ROWS, caption=str(key)))
    parts = ([rp.key_values(simple, compact=True)] if simple else []) + tables
    if not parts:
        return ""
    return rp.details(f"Details of {check.name}", "".join(parts))


def _category_section(category: str, checks: Sequence[CheckResult]) -> rp.Section:
    failing = [c for c in checks if not c.ok]
    charts = [chart for c in checks for chart in (slice_chart(c), rates_chart(c)) if chart]
    extras = "".join(_examples_table(c) + _other_details(c) for c in checks)
    body = _checks_table(checks)
    if charts:
        body += rp.grid(*charts, min_width=460)
    body += extras
    badge = rp.badge(f"{len(failing)} failing", "bad") if failing else rp.badge("ok", "good")
    return rp.Section(
        _TITLES.get(category, category),
        body,
        id=category,
        lead=_LEADS.get(category, ""),
        badge=badge,
    )


def _banner(suite: SuiteResult) -> str:
    failing = [check for check in suite.checks if not check.ok]
    if not failing:
        return rp.banner(suite.summary(), "good")
    items = "".join(
        f"<li><strong>{rp.escape(c.name)}</strong>: {rp.escape(c.message)}</li>"
        for c in failing[:15]
    )
    more = f"<li>and {len(failing) - 15} more</li>" if len(failing) > 15 else ""
    return rp.banner(suite.summary(), "bad", f"<ul>{items}{more}</ul>")


def render_report(suite: SuiteResult) -> str:
    """The report as one self-contained HTML page."""
    statuses: tuple[Status, ...] = ("passed", "failed", "error", "skipped")
    counts = {status: len(suite.by_status(status)) for status in statuses}
    overview = rp.tiles(
        [
            ("checks", len(suite.checks)),
            ("passed", counts["passed"]),
            ("failed", counts["failed"]),
            ("errors", counts["error"]),
            ("skipped", counts["skipped"]),
            ("time", rp.fmt_duration(suite.seconds)),
        ]
    )
    sections = [rp.Section("Overview", overview, id="overview")]
    present = [c for c in CATEGORIES if any(check.category == c for check in suite.checks)]
    present += sorted({check.category for check in suite.checks} - set(present))
    for category in present:
        members = [check for check in suite.checks if check.category == category]
        sections.append(_category_section(category, members))
    if not suite.checks:
        sections.append(rp.Section("Checks", rp.note("The suite ran no checks."), id="checks"))
    return rp.render_page(
        "Behaviour tests",
        sections,
        subtitle=f"{suite.model} on {suite.data}",
        banner=_banner(suite),
        meta={"model": suite.model, "task": suite.task, "data": suite.data},
    )


def write_report(suite: SuiteResult, path: str | Path) -> Path:
    """Write :func:`render_report` atomically to ``path``."""
    return rp.write_report(path, render_report(suite))
