"""Figures for cairn reports: a Plotly figure specification (plain ``data`` +
``layout`` dicts, no plotly.py objects), the shared colours and styles, and the
scripts a page with plots needs.

plotly.js is read from the installed ``plotly`` package and inlined once per
page by :func:`cairn.reporting.render_page`; nothing is fetched from a network.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import numpy as np

from cairn.reporting._format import escape

PLOT_CLASS = "cairn-plot"

#: Colours used in order for series; the first is the accent colour.
PALETTE = (
    "#2f6fde",
    "#e4572e",
    "#17a398",
    "#f3a712",
    "#8e5ac8",
    "#5b6475",
    "#d13f8a",
    "#76b041",
    "#3c91e6",
    "#a0522d",
)
GOOD = "#1b7f3b"
BAD = "#b42318"
MUTED = "#9aa3b2"
#: Sequential and diverging colour scales.
SEQUENTIAL = [[0.0, "#f4f7fd"], [0.5, "#7da7ea"], [1.0, "#1d4fa8"]]
DIVERGING = [[0.0, "#b42318"], [0.5, "#f7f7f7"], [1.0, "#1d4fa8"]]

_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif'
_AXIS = {
    "gridcolor": "#eceff3",
    "zeroline": False,
    "automargin": True,
    "linecolor": "#c9ced8",
    "ticks": "outside",
    "tickcolor": "#c9ced8",
}
_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


def _clean(value: Any) -> Any:
    """JSON-ready copy: numpy to Python, NaN/inf to null, floats trimmed.

    Not ``cairn._io.json_safe``: trimming floats keeps pages with many plots small.
    """
    if isinstance(value, np.ndarray):
        if value.ndim > 1:
            return [_clean(row) for row in value]
        if value.dtype.kind == "f":
            rounded = np.where(np.isfinite(value), value, np.nan).astype(float)
            return [None if math.isnan(v) else _trim(v) for v in rounded.tolist()]
        if value.dtype.kind in "iub":
            return value.tolist()
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, float):
        return None if not math.isfinite(value) else _trim(value)
    return value


def _trim(number: float) -> float:
    # Seven significant digits are plenty on a screen and keep pages small.
    return float(f"{number:.7g}")


class Figure:
    """A plot ready to place in a page: ``str(figure)`` is its HTML.

    Attributes:
        data: Plotly traces.
        layout: Plotly layout (merged over cairn's defaults).
        title: plain-text heading above the plot.
        caption: plain-text note under the plot (e.g. "sample of 5,000 rows").
        height: pixels.
    """

    def __init__(
        self,
        data: Sequence[Mapping[str, Any]],
        layout: Mapping[str, Any] | None = None,
        *,
        title: str = "",
        caption: str = "",
        height: int = 300,
    ) -> None:
        self.data = [dict(trace) for trace in data]
        self.layout = _merge_layout(layout or {})
        self.title = title
        self.caption = caption
        self.height = int(height)

    def to_json(self) -> str:
        """The plot specification as JSON (safe inside a ``<script>`` element)."""
        spec = {"data": _clean(self.data), "layout": _clean(self.layout), "config": _CONFIG}
        text = json.dumps(spec, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
        return text.replace("</", "<\\/").replace("<!--", "<\\!--")

    def to_html(self) -> str:
        """The plot's container, its specification and its title and caption."""
        title = f'<p class="plot-title">{escape(self.title)}</p>' if self.title else ""
        caption = f'<p class="plot-caption">{escape(self.caption)}</p>' if self.caption else ""
        return (
            f'<figure class="{PLOT_CLASS}" style="--h:{self.height}px;margin:0">{title}'
            f'<div class="plot-area" role="img" aria-label="{escape(self.title or "plot")}"></div>'
            f'<script type="application/json">{self.to_json()}</script>{caption}</figure>'
        )

    def __str__(self) -> str:
        return self.to_html()

    def __html__(self) -> str:  # Jinja2/markupsafe protocol
        return self.to_html()


def _merge_layout(layout: Mapping[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "font": {"family": _FONT, "size": 12, "color": "#1f2430"},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#ffffff",
        "colorway": list(PALETTE),
        "xaxis": dict(_AXIS),
        "yaxis": dict(_AXIS),
        "showlegend": False,
        "hovermode": "closest",
        "bargap": 0.08,
        "hoverlabel": {"font": {"family": _FONT}},
        "legend": {
            "orientation": "h",
            "y": 1.0,
            "yanchor": "bottom",
            "x": 0,
            "font": {"size": 11},
        },
    }
    for key, value in layout.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


@functools.cache
def plotly_js() -> str:
    """The plotly.js library from the installed ``plotly`` package."""
    return (resources.files("plotly") / "package_data" / "plotly.min.js").read_text(
        encoding="utf-8"
    )


@functools.cache
def _loader() -> str:
    return (resources.files("cairn.reporting") / "loader.js").read_text(encoding="utf-8")


def plot_scripts() -> str:
    """The ``<script>`` elements a page with plots needs: plotly.js once and the
    lazy loader."""
    library = plotly_js().replace("</script", "<\\/script")
    return f"<script>{library}</script><script>{_loader()}</script>"
