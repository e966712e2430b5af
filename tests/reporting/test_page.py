"""The shared page template: structure, escaping, offline, atomic writes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn import reporting as rp


def test_page_with_plots_inlines_plotly_once_and_nothing_external() -> None:
    figures = [str(rp.bar(["a", "b"], [1, 2])) for _ in range(3)]
    page = rp.render_page("Report", [rp.Section("Plots", "".join(figures))])
    assert page.count("<script>") == 2  # the library, then the loader
    assert page.count(rp.plotly_js()[:200]) == 1
    assert page.count('class="cairn-plot"') == 3
    # cairn's own markup points nowhere outside the file (the browser test
    # checks that the whole page, plotly.js included, fetches nothing).
    own = page.replace(rp.plotly_js(), "")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", own)
    assert "@import" not in own and "url(http" not in own


def test_page_without_plots_has_no_script() -> None:
    page = rp.render_page("Plain", [rp.Section("Table", rp.table(pd.DataFrame({"a": [1]})))])
    assert "<script" not in page


def test_text_is_escaped_everywhere() -> None:
    evil = "<img src=x onerror=alert(1)>"
    page = rp.render_page(
        evil,
        [rp.Section(evil, rp.table([{"c": evil}]) + rp.key_values({evil: evil}) + rp.note(evil))],
        subtitle=evil,
        meta={evil: evil},
        banner=rp.banner(evil, "bad"),
    )
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_figure_json_is_safe_inside_script_and_has_no_nan() -> None:
    fig = rp.lines({"</script><b>": (np.array([0.0, 1.0, 2.0]), np.array([1.0, np.nan, np.inf]))})
    text = fig.to_json()
    assert "</script" not in text
    assert "NaN" not in text and "Infinity" not in text
    page = rp.render_page("x", [rp.Section("s", str(fig))])
    # The only closing script tags are the page's own two.
    assert page.count("</script>") == 3  # two scripts plus the figure's data block


def test_section_ids_are_unique_and_navigation_lists_them() -> None:
    sections = [rp.Section("Same"), rp.Section("Same"), rp.Section("Hidden", nav=False)]
    page = rp.render_page("t", sections)
    assert 'id="same"' in page and 'id="same-2"' in page
    nav = page.split("<nav", 1)[1].split("</nav>", 1)[0]
    assert "#same-2" in nav and "Hidden" not in nav


def test_write_report_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out" / "r.html"
    rp.write_report(target, "first")
    assert target.read_text(encoding="utf-8") == "first"

    def fail(self: Path, other: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", fail)
    with pytest.raises(OSError):
        rp.write_report(target, "second")
    assert target.read_text(encoding="utf-8") == "first"
    assert [p.name for p in target.parent.iterdir()] == ["r.html"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1234567, "1,234,567"),
        (189778.37, "189,778"),
        (12.3456, "12.35"),
        (0.012345, "0.01235"),
        (0.0001234, "1.234e-04"),
        (float("nan"), "—"),
        (None, "—"),
    ],
)
def test_fmt_number(value: object, shown: str) -> None:
    assert rp.fmt_number(value) == shown


def test_fmt_helpers() -> None:
    assert rp.fmt_short(35310) == "35.3k"
    assert rp.fmt_short(1.2e6) == "1.2M"
    assert rp.fmt_percent(0.0004) == "<0.1%"
    assert rp.fmt_percent(0.256) == "25.6%"
    assert rp.fmt_bytes(2048) == "2.0 KiB"
    assert rp.fmt_duration(0.25) == "250 ms"
    assert rp.fmt_duration(125) == "2 min 05 s"


def test_table_formats_numbers_and_keeps_raw_html() -> None:
    html = rp.table([{"n": 1234.5, "link": rp.Raw('<a href="#x">x</a>'), "t": "<b>"}], max_rows=1)
    assert "class=num" in html and "1,234.5" in html
    assert '<a href="#x">x</a>' in html and "&lt;b&gt;" in html


def test_public_names_are_listed() -> None:
    from cairn.reporting import _figure, _format, _page, _plots

    assert len(set(rp.__all__)) == len(rp.__all__)
    assert all(hasattr(rp, name) for name in rp.__all__)
    for module in (_figure, _format, _page, _plots):
        public = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and getattr(value, "__module__", module.__name__) == module.__name__
            and (callable(value) or name.isupper())
            and name not in ("Tone", "annotations", "UTC")
        }
        assert public <= set(rp.__all__), public - set(rp.__all__)
