"""The EDA page: every part present for real datasets, one plot per
expected chart, and nothing but the page itself needed to open it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cairn import reporting as rp
from cairn.eda import profile, render_profile, write_profile_report
from tests.conftest import load_dataset, profiled

CASES = [
    ("adult", "class", 8000),
    ("ames_house_prices", "SalePrice", None),
    ("car_evaluation", "decision", None),
    ("telco_churn", "Churn", None),
]


def _plots(page: str) -> list[dict]:
    blocks = re.findall(r'<script type="application/json">(.*?)</script>', page, flags=re.S)
    return [json.loads(b.replace("<\\/", "</")) for b in blocks]


@pytest.mark.parametrize(("name", "target", "rows"), CASES)
def test_report_has_every_part(name: str, target: str, rows: int | None, tmp_path: Path) -> None:
    frame = load_dataset(name, rows=rows)
    result = profiled(name, target, rows=rows, source=name)
    path = write_profile_report(result, tmp_path / f"{name}.html")
    page = path.read_text(encoding="utf-8")
    for anchor in ("overview", "quality", "columns", "missing", "correlations", "target"):
        assert f'id="{anchor}"' in page
    for column in frame.columns:
        assert f'id="col-{rp.slug(column)}"' in page
    plots = _plots(page)
    # Every non-empty column has a chart, plus target and correlation charts.
    assert len(plots) >= len([c for c in result.columns if c.count]) + 2
    for spec in plots:
        assert spec["data"], "a plot without data"
        assert all(trace.get("type") for trace in spec["data"])
    assert page.count(rp.plotly_js()[:120]) == 1
    assert f"Data profile: {name}" in page


def test_report_says_when_checks_were_sampled() -> None:
    frame = load_dataset("adult", rows=6000)
    result = profile(frame, target="class", quality_rows=1000)
    page = render_profile(result)
    assert f"random sample of {result.quality_rows:,} of 6,000 rows" in page


def test_report_without_target_or_missing_values() -> None:
    page = render_profile(profile(load_dataset("car_evaluation")))
    assert 'id="target"' not in page
    assert "No value is missing in any column." in page
