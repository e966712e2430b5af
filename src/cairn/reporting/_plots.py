"""Plot helpers for cairn reports.

Figures are Plotly figure specifications (plain ``data`` + ``layout`` dicts,
no plotly.py objects, so building hundreds of them costs milliseconds) that
the page draws with plotly.js. The library is read from the installed
``plotly`` package and inlined once per page by
:func:`cairn.reporting.render_page`; nothing is fetched from a network.

Plots are drawn lazily as they scroll into view, so a long report opens at
once. ``window.cairnRenderAll()`` draws them all and resolves when done (used
before printing and by the browser tests); each plot's container carries
``data-state="drawn"`` once drawn, ``"failed"`` if plotly.js refused it.

Helpers take data already reduced (bin counts, curve points): statistics are
computed by the caller on all rows, and only scatter plots take a sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cairn.reporting._figure import (
    MUTED,
    PALETTE,
    SEQUENTIAL,
    Figure,
    _clean,
)

# ---------------------------------------------------------------- helpers


def _axis_titles(x_title: str, y_title: str) -> dict[str, Any]:
    return {
        "xaxis": {"title": {"text": x_title}} if x_title else {},
        "yaxis": {"title": {"text": y_title}} if y_title else {},
    }


def bar(
    categories: Sequence[Any],
    values: Sequence[float] | np.ndarray,
    *,
    horizontal: bool = False,
    title: str = "",
    caption: str = "",
    x_title: str = "",
    y_title: str = "",
    color: str | Sequence[str] = PALETTE[0],
    text: Sequence[str] | None = None,
    hover: str = "",
    height: int | None = None,
) -> Figure:
    """Bars for named categories (top values, importances, counts).

    Args:
        horizontal: bars run left to right, first category on top; best for
            long labels.
        text: a label printed on each bar.
        hover: a Plotly ``hovertemplate``.
    """
    labels = [str(c) for c in categories]
    trace: dict[str, Any] = {"type": "bar", "marker": {"color": color}}
    if horizontal:
        trace.update({"x": np.asarray(values, dtype=float), "y": labels, "orientation": "h"})
    else:
        trace.update({"x": labels, "y": np.asarray(values, dtype=float)})
    if text is not None:
        trace.update({"text": list(text), "textposition": "auto", "cliponaxis": False})
    if hover:
        trace["hovertemplate"] = hover + "<extra></extra>"
    layout = _axis_titles(x_title, y_title)
    if horizontal:
        layout["yaxis"] = {**layout["yaxis"], "autorange": "reversed", "type": "category"}
        height = height or max(160, 24 * len(labels) + 60)
    else:
        layout["xaxis"] = {**layout["xaxis"], "type": "category"}
    return Figure([trace], layout, title=title, caption=caption, height=height or 280)


def histogram(
    edges: Sequence[float] | np.ndarray,
    counts: Sequence[float] | np.ndarray,
    *,
    title: str = "",
    caption: str = "",
    x_title: str = "",
    y_title: str = "rows",
    color: str = PALETTE[0],
    markers: Mapping[str, float] | None = None,
    log_toggle: bool = False,
    height: int = 260,
) -> Figure:
    """A histogram from precomputed bin edges (n+1) and counts (n).

    Args:
        markers: vertical reference lines by name (e.g. mean, median).
        log_toggle: add buttons to switch the count axis to a log scale
            (for skewed data where one bin dwarfs the rest).
    """
    edges = np.asarray(edges, dtype=float)
    counts = np.asarray(counts, dtype=float)
    centres = (edges[:-1] + edges[1:]) / 2
    widths = np.diff(edges)
    trace = {
        "type": "bar",
        "x": centres,
        "y": counts,
        "width": widths,
        "marker": {"color": color, "line": {"width": 0}},
        "customdata": np.column_stack([edges[:-1], edges[1:]]),
        "hovertemplate": "%{customdata[0]:.4g} – %{customdata[1]:.4g}<br>%{y:,} "
        + (y_title or "")
        + "<extra></extra>",
    }
    layout: dict[str, Any] = _axis_titles(x_title, y_title)
    layout["bargap"] = 0.02
    shapes, notes = _marker_lines(markers or {})
    if shapes:
        layout["shapes"] = shapes
        layout["annotations"] = notes
    if log_toggle:
        layout["updatemenus"] = [_log_scale_buttons()]
        layout["margin"] = {"t": 26}
    return Figure([trace], layout, title=title, caption=caption, height=height)


def vertical_line(
    x: float, *, color: str, dash: str = "dash", width: float | None = None
) -> dict[str, Any]:
    """A plotly shape: a vertical line at ``x`` across the whole plot height."""
    line: dict[str, Any] = {"color": color, "dash": dash}
    if width is not None:
        line["width"] = width
    return {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": line,
    }


def _marker_lines(
    markers: Mapping[str, float],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Dotted vertical lines at named positions and their labels, in matching colours."""
    shapes, notes = [], []
    for position, (name, where) in enumerate(markers.items()):
        if where is None or not math.isfinite(float(where)):
            continue
        colour = PALETTE[(position + 1) % len(PALETTE)]
        shapes.append(vertical_line(where, color=colour, dash="dot", width=1.5))
        notes.append(
            {
                "x": where,
                "y": 1 - 0.09 * position,
                "xref": "x",
                "yref": "paper",
                "text": f" {name} ",
                "showarrow": False,
                "yanchor": "top",
                "xanchor": "left",
                "bgcolor": "rgba(255,255,255,0.8)",
                "font": {"size": 10, "color": colour},
            }
        )
    return shapes, notes


def _log_scale_buttons() -> dict[str, Any]:
    """Buttons that switch the count axis between linear and log scale."""
    return {
        "type": "buttons",
        "direction": "right",
        "x": 1,
        "y": 1.02,
        "xanchor": "right",
        "yanchor": "bottom",
        "showactive": True,
        "pad": {"r": 0, "t": 0},
        "font": {"size": 10},
        "buttons": [
            {"label": "linear", "method": "relayout", "args": [{"yaxis.type": "linear"}]},
            {"label": "log", "method": "relayout", "args": [{"yaxis.type": "log"}]},
        ],
    }


def lines(
    series: Mapping[str, tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]],
    *,
    title: str = "",
    caption: str = "",
    x_title: str = "",
    y_title: str = "",
    diagonal: bool = False,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    markers: bool = False,
    vlines: Mapping[str, float] | None = None,
    height: int = 320,
    square: bool = False,
) -> Figure:
    """One line per named series of ``(x, y)``; a legend when more than one.

    Args:
        diagonal: add the dashed line y = x (ROC, calibration, predicted vs
            actual).
        vlines: vertical reference lines by name (e.g. the chosen threshold).
        square: keep x and y on the same scale.
    """
    traces: list[dict[str, Any]] = []
    for position, (name, (x, y)) in enumerate(series.items()):
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers" if markers else "lines",
                "name": name,
                "x": np.asarray(x, dtype=float),
                "y": np.asarray(y, dtype=float),
                "line": {"color": PALETTE[position % len(PALETTE)], "width": 2},
                "marker": {"size": 5},
                "hovertemplate": f"{name}<br>%{{x:.3g}}, %{{y:.3g}}<extra></extra>",
            }
        )
    layout = _axis_titles(x_title, y_title)
    shapes = []
    if diagonal:
        lo, hi = x_range or (0.0, 1.0)
        shapes.append(
            {
                "type": "line",
                "x0": lo,
                "y0": lo,
                "x1": hi,
                "y1": hi,
                "line": {"color": MUTED, "dash": "dash", "width": 1},
            }
        )
    for name, where in (vlines or {}).items():
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": where,
                "x1": where,
                "y0": 0,
                "y1": 1,
                "line": {"color": MUTED, "dash": "dot", "width": 1.5},
                "label": {"text": name, "textposition": "end", "font": {"size": 10}},
            }
        )
    if shapes:
        layout["shapes"] = shapes
    if x_range:
        layout["xaxis"] = {**layout["xaxis"], "range": list(x_range)}
    if y_range:
        layout["yaxis"] = {**layout["yaxis"], "range": list(y_range)}
    if square:
        layout["yaxis"] = {**layout["yaxis"], "scaleanchor": "x", "scaleratio": 1}
    if len(traces) > 1:
        layout["showlegend"] = True
    return Figure(traces, layout, title=title, caption=caption, height=height)


def scatter(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    title: str = "",
    caption: str = "",
    x_title: str = "",
    y_title: str = "",
    diagonal: bool = False,
    hline: float | None = None,
    color: str = PALETTE[0],
    height: int = 320,
) -> Figure:
    """Points (already sampled by the caller to a few thousand).

    Args:
        diagonal: add y = x over the data's range.
        hline: a horizontal reference line (e.g. zero residual).
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    opacity = 0.6 if len(xs) < 1000 else 0.35
    trace = {
        "type": "scatter",
        "mode": "markers",
        "x": xs,
        "y": ys,
        "marker": {"color": color, "size": 5, "opacity": opacity},
        "hovertemplate": "%{x:.4g}, %{y:.4g}<extra></extra>",
    }
    layout = _axis_titles(x_title, y_title)
    shapes = []
    finite = np.concatenate([xs[np.isfinite(xs)], ys[np.isfinite(ys)]])
    if diagonal and finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        shapes.append(
            {
                "type": "line",
                "x0": lo,
                "y0": lo,
                "x1": hi,
                "y1": hi,
                "line": {"color": MUTED, "dash": "dash", "width": 1},
            }
        )
    if hline is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": hline,
                "y1": hline,
                "line": {"color": MUTED, "dash": "dash", "width": 1},
            }
        )
    if shapes:
        layout["shapes"] = shapes
    return Figure([trace], layout, title=title, caption=caption, height=height)


def heatmap(
    z: Sequence[Sequence[float]] | np.ndarray,
    x: Sequence[Any],
    y: Sequence[Any],
    *,
    title: str = "",
    caption: str = "",
    x_title: str = "",
    y_title: str = "",
    zmin: float | None = None,
    zmax: float | None = None,
    colorscale: Any = None,
    text_format: str | None = ".2f",
    colorbar_title: str = "",
    height: int | None = None,
    hover: str = "",
) -> Figure:
    """A matrix of coloured cells (correlations, confusion matrix, missingness).

    Args:
        text_format: d3 format for the value printed in each cell; None to
            print nothing (large matrices).
        hover: a Plotly ``hovertemplate``.
    """
    matrix = np.asarray(z, dtype=float)
    xs = [str(v) for v in x]
    ys = [str(v) for v in y]
    trace: dict[str, Any] = {
        "type": "heatmap",
        "z": [_clean(row) for row in matrix],
        "x": xs,
        "y": ys,
        "colorscale": colorscale or SEQUENTIAL,
        "zmin": zmin,
        "zmax": zmax,
        "xgap": 1,
        "ygap": 1,
        "hoverongaps": False,
        "colorbar": {"thickness": 12, "title": {"text": colorbar_title, "side": "right"}},
        "hovertemplate": hover or "%{y} × %{x}: %{z:.3f}<extra></extra>",
    }
    if text_format and len(xs) <= 16 and len(ys) <= 16:
        trace["texttemplate"] = "%{z:" + text_format + "}"
        trace["textfont"] = {"size": 10 if len(xs) > 10 else 12}
    layout = _axis_titles(x_title, y_title)
    layout["xaxis"] = {**layout["xaxis"], "type": "category", "showgrid": False, "ticks": ""}
    layout["yaxis"] = {
        **layout["yaxis"],
        "type": "category",
        "autorange": "reversed",
        "showgrid": False,
        "ticks": "",
    }
    layout["plot_bgcolor"] = "#f6f7f9"
    if len(ys) > 25 or len(xs) > 25:
        # Large matrices: every label, in a smaller font, one thin row each.
        small = {"dtick": 1, "tickfont": {"size": 9}}
        layout["xaxis"] = {**layout["xaxis"], **small}
        layout["yaxis"] = {**layout["yaxis"], **small}
    row = 26 if len(ys) <= 25 else 14
    size = height or min(1500, max(260, row * len(ys) + 140))
    return Figure([trace], layout, title=title, caption=caption, height=size)


def stacked_bars(
    categories: Sequence[Any],
    series: Mapping[str, Sequence[float] | np.ndarray],
    *,
    title: str = "",
    caption: str = "",
    x_title: str = "",
    y_title: str = "",
    horizontal: bool = False,
    percent: bool = False,
    height: int | None = None,
) -> Figure:
    """Bars split into named parts (e.g. target classes per category).

    Args:
        percent: values are shares in [0, 1]; axis shown as percentages.
    """
    labels = [str(c) for c in categories]
    traces = []
    for position, (name, values) in enumerate(series.items()):
        vals = np.asarray(values, dtype=float)
        trace: dict[str, Any] = {
            "type": "bar",
            "name": str(name),
            "marker": {"color": PALETTE[position % len(PALETTE)]},
            "hovertemplate": f"{name}: %{{{'x' if horizontal else 'y'}"
            + (":.1%" if percent else ":,")
            + "}<extra>%{"
            + ("y" if horizontal else "x")
            + "}</extra>",
        }
        if horizontal:
            trace.update({"x": vals, "y": labels, "orientation": "h"})
        else:
            trace.update({"x": labels, "y": vals})
        traces.append(trace)
    layout = _axis_titles(x_title, y_title)
    layout["barmode"] = "stack"
    layout["showlegend"] = True
    layout["legend"] = {"traceorder": "normal"}  # merged over the default position
    value_axis = "xaxis" if horizontal else "yaxis"
    cat_axis = "yaxis" if horizontal else "xaxis"
    layout[cat_axis] = {**layout[cat_axis], "type": "category"}
    if horizontal:
        layout[cat_axis]["autorange"] = "reversed"
    if percent:
        layout[value_axis] = {**layout[value_axis], "tickformat": ".0%", "range": [0, 1]}
    if horizontal:
        height = height or max(200, 24 * len(labels) + 90)
    return Figure(traces, layout, title=title, caption=caption, height=height or 300)


def boxes(
    names: Sequence[Any],
    stats: Mapping[str, Sequence[float] | np.ndarray],
    *,
    title: str = "",
    caption: str = "",
    x_title: str = "",
    y_title: str = "",
    horizontal: bool = False,
    height: int | None = None,
) -> Figure:
    """Box plots from precomputed statistics, one box per name.

    Args:
        stats: arrays ``q1``, ``median``, ``q3``, ``lowerfence``,
            ``upperfence`` and optionally ``mean``, one value per name.
    """
    labels = [str(n) for n in names]
    trace: dict[str, Any] = {
        "type": "box",
        "marker": {"color": PALETTE[0]},
        "fillcolor": "rgba(47,111,222,0.25)",
        "line": {"color": PALETTE[0], "width": 1.5},
        "boxpoints": False,
    }
    for key in ("q1", "median", "q3", "lowerfence", "upperfence", "mean"):
        if key in stats:
            trace[key] = np.asarray(stats[key], dtype=float)
    if horizontal:
        trace["y"] = labels
        trace["orientation"] = "h"
    else:
        trace["x"] = labels
    layout = _axis_titles(x_title, y_title)
    cat_axis = "yaxis" if horizontal else "xaxis"
    layout[cat_axis] = {**layout[cat_axis], "type": "category"}
    if horizontal:
        layout[cat_axis]["autorange"] = "reversed"
        height = height or max(200, 26 * len(labels) + 80)
    return Figure([trace], layout, title=title, caption=caption, height=height or 300)


def front(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    labels: Sequence[str],
    on_front: Sequence[bool] | np.ndarray,
    *,
    title: str = "",
    caption: str = "",
    x_title: str = "",
    y_title: str = "",
    higher_is_better: bool = True,
    log_x: bool = False,
    marked: str | None = None,
    height: int = 340,
) -> Figure:
    """Labelled points against a cost (x, smaller is better) and a score (y),
    with the Pareto front joined as a step line and ``marked`` (the chosen
    point) ringed."""
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    keep = np.isfinite(xs) & np.isfinite(ys) & ((xs > 0) if log_x else True)
    names = [str(label) for label in labels]
    flags = np.asarray(on_front, dtype=bool)
    traces: list[dict[str, Any]] = []
    for wanted, colour, name in ((False, MUTED, "dominated"), (True, PALETTE[1], "on the front")):
        pick = keep & (flags == wanted)
        traces.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": name,
                "x": xs[pick],
                "y": ys[pick],
                "text": [n for n, p in zip(names, pick, strict=True) if p],
                "textposition": "top center",
                "textfont": {"size": 10},
                "marker": {"color": colour, "size": 9},
                "hovertemplate": "%{text}: %{x:.4g}, %{y:.4g}<extra></extra>",
            }
        )
    order = np.argsort(xs[keep & flags])
    fx, fy = xs[keep & flags][order], ys[keep & flags][order]
    # Each front point is the best score up to its cost: a step from one to the next.
    step_x = np.repeat(fx, 2)[1:]
    step_y = np.repeat(fy, 2)[:-1]
    traces.insert(
        0,
        {
            "type": "scatter",
            "mode": "lines",
            "name": "front",
            "x": step_x,
            "y": step_y,
            "line": {"color": PALETTE[1], "width": 1, "dash": "dot"},
            "hoverinfo": "skip",
            "showlegend": False,
        },
    )
    if marked is not None and marked in names:
        i = names.index(marked)
        if keep[i]:
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": "packaged",
                    "x": [xs[i]],
                    "y": [ys[i]],
                    "marker": {
                        "color": "rgba(0,0,0,0)",
                        "size": 17,
                        "line": {"color": PALETTE[2], "width": 2},
                    },
                    "hovertemplate": f"packaged: {marked}<extra></extra>",
                }
            )
    layout = _axis_titles(x_title, y_title)
    if log_x:
        layout["xaxis"]["type"] = "log"
    if not higher_is_better:
        layout["yaxis"]["autorange"] = "reversed"
    layout["legend"] = {"orientation": "h", "y": -0.25}
    return Figure(traces, layout, title=title, caption=caption, height=height)
