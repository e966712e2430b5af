"""The EDA page agrees with itself: one count of errors and warnings for the
banner, tiles and tables; target associations, capped targets and thin
associations flagged or held back; sampled counts labelled; readable axes;
text described by its lengths. On real datasets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn import reporting as rp
from cairn.eda import MIN_SUPPORT, Profile, profile, render_profile
from cairn.eda.report import share_ticks
from tests.conftest import load_dataset, profiled


def _banner_title(page: str) -> str:
    found = re.search(r'<div class="banner [a-z]+".*?<strong>(.*?)</strong>', page, flags=re.S)
    assert found is not None
    return found.group(1)


def _table_severities(page: str, section: str) -> list[str]:
    """The severity badge of each row of a section's table."""
    start = page.index(f'id="{section}"')
    end = page.index("</table>", start)
    rows = re.findall(r"<tr><td><span class=\"badge [a-z]+\">([a-z]+)</span>", page[start:end])
    return rows


def _counts_in_tables(page: str) -> dict[str, int]:
    severities = _table_severities(page, "quality")
    if 'id="alerts"' in page:
        severities += _table_severities(page, "alerts")
    return {s: severities.count(s) for s in ("error", "warning", "info")}


def _plots(page: str) -> list[dict]:
    blocks = re.findall(r'<script type="application/json">(.*?)</script>', page, flags=re.S)
    return [json.loads(b.replace("<\\/", "</")) for b in blocks]


@pytest.fixture(scope="module")
def telco() -> tuple[pd.DataFrame, Profile]:
    frame = load_dataset("telco_churn")
    return frame, profiled("telco_churn", "Churn", source="telco_churn")


def test_banner_counts_quality_warnings_as_well_as_alerts(
    telco: tuple[pd.DataFrame, Profile],
) -> None:
    _, result = telco
    page = render_profile(result)
    # Telco has no warning-level alert but a conflicting-labels warning from
    # the quality checks: the banner used to say "No warnings in the data".
    assert not [a for a in result.alerts if a.severity == "warning"]
    assert result.quality.warnings
    counts = result.issue_counts()
    in_tables = _counts_in_tables(page)
    assert in_tables == counts
    assert _banner_title(page) == f"{counts['warning']} warning in the data"
    assert f'<span class="value">{counts["error"] + counts["warning"]}</span>' in page
    assert "No errors or warnings" not in page


def test_banner_counts_errors_from_the_checks() -> None:
    frame = load_dataset("iris")
    frame = frame[frame["species"] == "setosa"]
    result = profile(frame, target="species")
    page = render_profile(result)
    counts = result.issue_counts()
    assert counts["error"] == 1
    assert _banner_title(page).startswith("1 error")
    assert _counts_in_tables(page) == counts


def test_strong_target_associations_are_alerts(telco: tuple[pd.DataFrame, Profile]) -> None:
    frame, _ = telco
    rng = np.random.default_rng(0)
    flipped = rng.random(len(frame)) < 0.02
    other = np.where(frame["Churn"] == "Yes", "No", "Yes")
    leaky = frame.assign(churn_copy=np.where(flipped, other, frame["Churn"]))
    result = profile(leaky, target="Churn")
    alerts = [a for a in result.alerts if a.kind == "target_association"]
    assert [(a.column, a.severity) for a in alerts] == [("churn_copy", "warning")]
    assert "very strong association with the target 'Churn'" in alerts[0].message
    assert alerts[0] in result["churn_copy"].alerts
    # An honest, strong predictor gets a note, not a warning.
    titanic = profiled("titanic", "Survived")
    sex = [a for a in titanic.alerts if a.kind == "target_association"]
    assert [(a.column, a.severity) for a in sex] == [("Sex", "info")]
    assert "strong association with the target 'Survived' (Cramér's V 0.54" in sex[0].message


def test_associations_need_shared_rows_and_show_them() -> None:
    frame = load_dataset("ames_house_prices")
    result = profiled("ames_house_prices", "SalePrice")
    assert result.target is not None and result.correlations.mixed is not None
    # PoolQC has 7 values: neither measured against the target nor ranked.
    pool = next(r for r in result.target.relations if r.feature == "PoolQC")
    assert pool.support == int(frame["PoolQC"].notna().sum()) < MIN_SUPPORT
    assert np.isnan(pool.association)
    assert result.target.relations[-1].feature == "PoolQC"
    alley = next(r for r in result.target.relations if r.feature == "Alley")
    assert alley.support == int(frame["Alley"].notna().sum())
    # The pairwise views, on few enough columns to cover them all.
    columns = ["PoolQC", "PoolArea", "Alley", "LotFrontage", "MasVnrArea", "SalePrice"]
    narrow = profile(frame[columns], target="SalePrice")
    mixed = narrow.correlations.mixed
    assert mixed is not None and set(mixed.index) == set(columns)
    assert np.isnan(mixed.loc["PoolQC", "SalePrice"]) and np.isnan(mixed.loc["PoolQC", "Alley"])
    assert not any("PoolQC" in pair[:2] for pair in narrow.correlations.top_pairs)
    assert narrow.correlations.too_few_rows >= 2
    # Every ranked pair says how many rows it stands on.
    for top in (narrow, result):
        for a, b, _, _, support in top.correlations.top_pairs:
            assert support == int(frame[[a, b]].notna().all(axis=1).sum()) >= MIN_SUPPORT
    page = render_profile(narrow)
    assert '<th scope="col" class=num>rows with both</th>' in page
    assert f"fewer than {MIN_SUPPORT} such rows are left blank" in page


def test_missing_chart_ticks_read_distinctly() -> None:
    for largest in (0.000685, 0.0102, 0.043, 0.2, 0.995):
        values, labels = share_ticks(largest)
        assert len(set(labels)) == len(labels) >= 2
        assert values[0] == 0 and values[-1] >= largest
        assert all(label.endswith("%") for label in labels)
    # California: one column misses 1.0% of its values.
    page = render_profile(profile(load_dataset("california_housing")))
    axes = [p["layout"].get("xaxis", {}) for p in _plots(page)]
    axis = next(a for a in axes if a.get("title", {}).get("text") == "share of rows")
    labels = axis["ticktext"]
    assert len(set(labels)) == len(labels) and labels[-1] != "0%"


def test_sampled_counts_say_so_next_to_exact_ones() -> None:
    frame = load_dataset("hr_attrition")  # 3,008 exact duplicate rows
    result = profiled("hr_attrition", "left")
    assert result.sampled_quality and result.duplicate_rows == int(frame.duplicated().sum())
    sampled = result.quality.by_check("duplicate_rows")[0]
    assert sampled.count < result.duplicate_rows and result.is_sampled(sampled)
    page = render_profile(result)
    assert f"{sampled.count:,} <span class='note muted'>in a sample of {result.quality_rows:,}" in (
        page
    )
    assert "all rows compared" in page
    assert f"(checked on a random sample of {result.quality_rows:,} rows)" in page
    # A run's own checks saw every row: nothing is labelled sampled.
    small = profiled("titanic", "Survived")
    assert not any(i.sampled for i in small.issues)
    assert "in a sample of" not in render_profile(small)


def test_capped_target_is_a_warning_with_its_share() -> None:
    frame = load_dataset("california_housing")
    result = profiled("california_housing", "median_house_value")
    capped = {a.column: a for a in result.alerts if a.kind == "capped"}
    target = capped["median_house_value"]
    at_max = int((frame["median_house_value"] == frame["median_house_value"].max()).sum())
    assert target.severity == "warning"
    assert f"{at_max:,} values ({at_max / len(frame):.1%}) sit at the maximum 500,001" in (
        target.message
    )
    assert capped["housing_median_age"].severity == "info"
    assert not any(a.kind == "floored" for a in result.alerts)
    # Ames' sale prices have a long tail, not a cap, but remodelling years
    # are floored at 1950 (houses remodelled earlier, or never, say 1950).
    ames = profiled("ames_house_prices", "SalePrice")
    piled = [(a.column, a.kind, a.severity) for a in ames.alerts if a.kind in ("capped", "floored")]
    assert piled == [("YearRemodAdd", "floored", "info")]
    # Titanic's free fares (0) are left to the zeros alert.
    titanic = profiled("titanic", "Survived")
    assert not [a for a in titanic.alerts if a.kind in ("capped", "floored")]


def test_text_columns_get_lengths_and_words() -> None:
    frame = load_dataset("titanic")
    result = profiled("titanic", "Survived")
    name = result["Name"]
    assert name.kind == "text" and name.words is not None and name.lengths is not None
    words = frame["Name"].str.split().str.len()
    chars = frame["Name"].str.strip().str.len()
    assert (name.words["min"], name.words["50%"], name.words["max"]) == (
        words.min(),
        words.median(),
        words.max(),
    )
    assert (name.lengths["min"], name.lengths["max"]) == (chars.min(), chars.max())
    assert name.empty_texts == 0
    page = render_profile(result)
    start = page.index(f'id="col-{rp.slug("Name")}"')
    part = page[start : page.index("<section", start + 10)]
    assert "Length in characters" in part and "Most frequent values</" not in part
    assert f"min {words.min()}, median {words.median():.0f}, max {words.max()}" in part
    assert "empty (no words)" in part


def test_a_fact_found_by_both_the_statistics_and_the_checks_counts_once() -> None:
    result = profiled("ames_house_prices", "SalePrice")
    assert not result.sampled_quality
    alley = [(i.origin, i.name) for i in result.issues if i.column == "Alley"]
    assert ("quality check", "missing_values") in alley and ("alert", "missing") not in alley
    assert result.issue_counts("Alley")["warning"] == 1
    # On a sample the checks' counts differ, so the exact alert stays beside them.
    hr = profiled("hr_attrition", "left")
    assert {i.name for i in hr.issues if i.column is None} >= {"duplicates", "duplicate_rows"}


def test_cairn_profile_prints_the_banner_counts(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cairn.cli import app

    data = tmp_path / "telco.csv"
    load_dataset("telco_churn").to_csv(data, index=False)
    out = tmp_path / "telco.html"
    done = CliRunner().invoke(app, ["profile", str(data), "--target", "Churn", "-o", str(out)])
    assert done.exit_code == 0, done.output
    page = out.read_text(encoding="utf-8")
    counts = _counts_in_tables(page)
    assert f"{counts['error']} error(s), {counts['warning']} warning(s)" in done.output
    assert _banner_title(page) == f"{counts['warning']} warning in the data"
