"""Self-contained HTML reports: one page template and plot helpers shared by
every cairn report (EDA, evaluation, model card, drift and monitoring).

Build a page from :class:`Section` objects whose bodies are made with the
helpers here, then write it::

    import cairn.reporting as rp

    fig = rp.histogram(edges, counts, title="age", x_title="years")
    page = rp.render_page(
        "Drift report",
        [rp.Section("Overview", rp.tiles([("rows", 10_000), ("drifted", "3 of 20")])),
         rp.Section("age", rp.grid(str(fig), rp.key_values({"PSI": 0.31})))],
        banner=rp.banner("3 columns drifted", "bad"),
    )
    rp.write_report("drift.html", page)

Bodies are HTML strings: plain text must go through :func:`escape`, the
helpers escape what they are given, and figures render with ``str(fig)``.
Plotly's JavaScript is inlined once per page, only when the page has plots,
so every report opens offline.
"""

from cairn.reporting._figure import (
    BAD,
    DIVERGING,
    GOOD,
    MUTED,
    PALETTE,
    PLOT_CLASS,
    SEQUENTIAL,
    Figure,
    plot_scripts,
    plotly_js,
)
from cairn.reporting._format import (
    escape,
    fmt_bytes,
    fmt_duration,
    fmt_number,
    fmt_percent,
    fmt_short,
    slug,
)
from cairn.reporting._page import (
    CSS,
    Raw,
    Section,
    badge,
    banner,
    details,
    grid,
    key_values,
    note,
    render_page,
    row,
    table,
    tiles,
    write_report,
)
from cairn.reporting._plots import (
    bar,
    boxes,
    front,
    heatmap,
    histogram,
    lines,
    scatter,
    stacked_bars,
    vertical_line,
)

__all__ = [
    "BAD",
    "CSS",
    "DIVERGING",
    "GOOD",
    "MUTED",
    "PALETTE",
    "PLOT_CLASS",
    "SEQUENTIAL",
    "Figure",
    "Raw",
    "Section",
    "badge",
    "banner",
    "bar",
    "boxes",
    "details",
    "escape",
    "fmt_bytes",
    "fmt_duration",
    "fmt_number",
    "fmt_percent",
    "fmt_short",
    "front",
    "grid",
    "heatmap",
    "histogram",
    "key_values",
    "lines",
    "note",
    "plot_scripts",
    "plotly_js",
    "render_page",
    "row",
    "scatter",
    "slug",
    "stacked_bars",
    "table",
    "tiles",
    "vertical_line",
    "write_report",
]
