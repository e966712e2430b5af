"""cairn's HTML reports opened in a real headless Chromium.

For real datasets (adult, ames_house_prices, car_evaluation, telco_churn)
the EDA report, and for real runs the evaluation report and the model card,
are opened from disk: no console errors, every plot present and drawn,
nothing fetched from the network (one test runs with the network off), and
a screenshot of each saved under ``tests/artifacts/`` (git-ignored).

Uses Debian's ``chromium`` (installed by ``scripts/ensure-chromium.sh``,
which ``make test`` runs) driven by Playwright; no browser is downloaded.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.eda import write_profile_report
from tests.conftest import load_dataset, profiled

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
    pytest.skip(
        f"{CHROMIUM} not found: install Debian's chromium (scripts/ensure-chromium.sh, run by "
        "'make test' as root) to open the reports in a browser",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package drives Chromium (pip install playwright)"
)

EDA_CASES = [
    ("adult", "class", 8000),
    ("ames_house_prices", "SalePrice", None),
    ("car_evaluation", "decision", None),
    ("telco_churn", "Churn", None),
]
RUNS = ["telco_churn", "car_evaluation", "ames_house_prices"]
# The EDA banner against the tables it summarises (target, rows kept).
BANNER_CASES = [
    ("telco_churn", "Churn", None),
    ("ames_house_prices", "SalePrice", None),
    ("california_housing", "median_house_value", 8000),
]

# Runs in the page: the banner's title, the "errors and warnings" tile and
# the severity of every row of the alerts and data-quality tables.
_READ_COUNTS = """
() => {
  const severities = (id) => Array.from(
    document.querySelectorAll(`#${id} table.data tbody tr td:first-child .badge`)
  ).map((badge) => badge.textContent.trim());
  const tile = Array.from(document.querySelectorAll('.tile')).find(
    (t) => t.querySelector('.label').textContent === 'errors and warnings'
  );
  return {
    banner: document.querySelector('.banner strong').textContent,
    visible: document.querySelector('.banner').getBoundingClientRect().height > 0,
    tile: tile ? tile.querySelector('.value').textContent : null,
    rows: [...severities('quality'), ...severities('alerts')],
  };
}
"""

# Runs in the page: every plot's state and the size of what plotly.js drew.
_CHECK_PLOTS = """
async () => {
  // Pages without plots (the model card) carry no plot script at all.
  const count = window.cairnRenderAll ? await window.cairnRenderAll() : 0;
  return Array.from(document.querySelectorAll('.cairn-plot')).map((el) => {
    const area = el.querySelector('.plot-area');
    const svg = area.querySelector('svg.main-svg');
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    // Drawn marks: bar, line, marker and box paths with a shape, heatmap images.
    const drawn = area.querySelectorAll('g.trace path, g.hm image, g.heatmaplayer image');
    const marks = Array.from(drawn)
      .filter((node) => node.tagName === 'image' || (node.getAttribute('d') || '').length > 2)
      .length;
    return {
      title: (el.querySelector('.plot-title') || {}).textContent || '',
      state: el.dataset.state,
      width: box.width, height: box.height,
      traces: (area._fullData || []).length,
      marks: marks, count: count,
    };
  });
}
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports")


def _open(
    browser: Any, path: Path, shot: str, *, offline: bool = False
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Open a report; returns the plot checks, console errors and network requests."""
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, offline=offline, device_scale_factor=1
    )
    requests: list[str] = []

    def route(route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            requests.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri(), wait_until="load")
    plots = page.evaluate(_CHECK_PLOTS)
    page.evaluate("window.scrollTo(0, 0)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / f"{shot}.png"
    page.screenshot(path=str(screenshot))
    print(f"screenshot: {screenshot}")
    context.close()
    return plots, errors, requests


def _assert_drawn(plots: list[dict[str, Any]], expected_at_least: int) -> None:
    assert len(plots) >= expected_at_least
    for plot in plots:
        where = plot["title"] or "untitled plot"
        assert plot["state"] == "drawn", f"{where}: not drawn ({plot['state']})"
        assert plot["width"] > 150 and plot["height"] > 100, f"{where}: drawn at no size"
        assert plot["traces"] >= 1 and plot["marks"] >= 1, f"{where}: nothing drawn"


@pytest.mark.parametrize(("name", "target", "rows"), EDA_CASES)
def test_eda_report_in_chromium(
    browser: Any, report_dir: Path, name: str, target: str, rows: int | None
) -> None:
    result = profiled(name, target, rows=rows, source=name)
    path = write_profile_report(result, report_dir / f"eda_{name}.html")
    plots, errors, requests = _open(browser, path, f"eda_{name}")
    assert errors == []
    assert requests == []
    _assert_drawn(plots, expected_at_least=len([c for c in result.columns if c.count]) + 2)


@pytest.mark.parametrize(("name", "target", "rows"), BANNER_CASES)
def test_eda_banner_agrees_with_the_tables(
    browser: Any, report_dir: Path, name: str, target: str, rows: int | None
) -> None:
    result = profiled(name, target, rows=rows, source=name)
    path = write_profile_report(result, report_dir / f"eda_banner_{name}.html")
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    try:
        page.goto(path.as_uri(), wait_until="load")
        seen = page.evaluate(_READ_COUNTS)
    finally:
        page.close()
    errors, warnings = seen["rows"].count("error"), seen["rows"].count("warning")
    assert seen["visible"] and seen["tile"] == str(errors + warnings)
    said = {
        word: int(found.group(1))
        if (found := re.search(rf"(\d+) {word}s?\b", seen["banner"]))
        else 0
        for word in ("error", "warning")
    }
    assert said == {"error": errors, "warning": warnings}, seen["banner"]
    if not errors and not warnings:
        assert seen["banner"] == "No errors or warnings in the data"
    counts = result.issue_counts()
    assert (errors, warnings) == (counts["error"], counts["warning"])
    # Each dataset has something to warn about, which the banner names.
    assert warnings >= 1


@pytest.mark.parametrize("name", RUNS)
def test_evaluation_report_and_card_in_chromium(
    browser: Any, finished_run: Callable[[str], Path], name: str
) -> None:
    folder = finished_run(name)
    plots, errors, requests = _open(browser, folder / "evaluation.html", f"evaluation_{name}")
    assert errors == [] and requests == []
    _assert_drawn(plots, expected_at_least=5)
    titles = {p["title"] for p in plots}
    assert "Permutation importance (test set)" in titles
    card = folder / "model_card.html"
    plots, errors, requests = _open(browser, card, f"model_card_{name}")
    assert errors == [] and requests == [] and plots == []
    assert "<script" not in card.read_text(encoding="utf-8")
    # The card's interval chart is drawn with CSS: each range has a width.
    tab = browser.new_page(viewport={"width": 1440, "height": 900})
    try:
        tab.goto(card.as_uri())
        widths = tab.eval_on_selector_all(
            ".ci-range", "nodes => nodes.map(n => n.getBoundingClientRect().width)"
        )
    finally:
        tab.close()
    assert len(widths) >= 2 and all(w > 0 for w in widths)


def test_recommendation_report_and_card_in_chromium(browser: Any, recommendation_run: Any) -> None:
    plots, errors, requests = _open(
        browser, recommendation_run.reports["evaluation_report"], "recommendation_report"
    )
    assert errors == [] and requests == []
    _assert_drawn(plots, expected_at_least=4)
    titles = {p["title"] for p in plots}
    assert "Test metrics against the list length k" in titles
    plots, errors, requests = _open(
        browser, recommendation_run.reports["model_card_html"], "recommendation_card"
    )
    assert errors == [] and requests == [] and plots == []


def test_reports_open_with_the_network_off(
    browser: Any, report_dir: Path, finished_run: Callable[[str], Path]
) -> None:
    result = profiled("telco_churn", "Churn", source="telco_churn")
    eda = write_profile_report(result, report_dir / "offline_eda.html")
    for path, shot in (
        (eda, "offline_eda_telco_churn"),
        (finished_run("telco_churn") / "evaluation.html", "offline_evaluation_telco_churn"),
    ):
        plots, errors, requests = _open(browser, path, shot, offline=True)
        assert requests == [], f"{path.name} tried to reach the network: {requests}"
        assert errors == []
        _assert_drawn(plots, expected_at_least=5)


def test_the_checks_catch_broken_pages(browser: Any, report_dir: Path) -> None:
    from cairn import reporting as rp

    broken = rp.Figure([{"type": "bar", "x": [], "y": []}], title="broken")
    page = rp.render_page("broken", [rp.Section("s", str(broken) + str(rp.bar(["a"], [1])))])
    page = page.replace("</body>", "<script>window.undefinedFunction();</script></body>")
    path = rp.write_report(report_dir / "broken.html", page)
    plots, errors, _ = _open(browser, path, "broken_page_check")
    assert errors and "undefinedFunction" in errors[0]
    with pytest.raises(AssertionError, match="broken: nothing drawn"):
        _assert_drawn(plots, expected_at_least=2)


def test_clustering_report_and_card_in_chromium(browser: Any, report_dir: Path) -> None:
    from cairn.evaluation import write_clustering_card, write_clustering_report
    from cairn.models.clustering import search_clusters, to_segmentation

    frame = load_dataset("penguins")
    result = search_clusters(frame, exclude=["species"], time_budget=5.0, n_resamples=6)
    seg = to_segmentation(result, frame, ground_truth="species", noun="penguins")
    path = write_clustering_report(seg, report_dir / "clustering_penguins.html")
    plots, errors, requests = _open(browser, path, "clustering_penguins", offline=True)
    assert errors == [] and requests == []
    _assert_drawn(plots, expected_at_least=6 + seg.n_clusters)
    titles = {p["title"] for p in plots}
    assert {"Silhouette of each row, by segment", "Segments against species"} <= titles
    _, card = write_clustering_card(seg, report_dir / "clustering_card")
    plots, errors, requests = _open(browser, card, "clustering_card_penguins")
    assert errors == [] and requests == [] and plots == []
