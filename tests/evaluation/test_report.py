"""The evaluation report, rebuilt from run folders of real runs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from cairn.evaluation.report import (
    TASK_SECTIONS,
    analyse_run,
    render_evaluation,
    write_evaluation_report,
)
from cairn.evaluation.run_folder import load_run
from cairn.tasks import get_task, task_names


def _plot_titles(page: str) -> list[str]:
    return re.findall(r'<p class="plot-title">(.*?)</p>', page)


def _plots(page: str) -> list[dict]:
    blocks = re.findall(r'<script type="application/json">(.*?)</script>', page, flags=re.S)
    return [json.loads(b.replace("<\\/", "</")) for b in blocks]


def test_binary_classification_report(finished_run: Callable[[str], Path]) -> None:
    folder = finished_run("telco_churn")
    page = (folder / "evaluation.html").read_text(encoding="utf-8")  # written by cairn.run
    titles = _plot_titles(page)
    for expected in (
        "Cross-validated score per candidate",
        "Confusion matrix",
        "ROC curve",
        "Precision–recall curve",
        "Calibration (reliability)",
        "Precision, recall and F1 by threshold",
        "Permutation importance (test set)",
    ):
        assert expected in titles
    assert any(t.startswith("SHAP summary") for t in titles) or "SHAP values are computed" in page
    assert all(spec["data"] for spec in _plots(page))
    run = load_run(folder)
    objectives = run.evaluation["objectives"]
    if not objectives:
        assert "No objectives set" in page
    # The leaderboard lists every candidate.
    for model in run.leaderboard["model"]:
        assert str(model) in page


def test_multiclass_report(finished_run: Callable[[str], Path]) -> None:
    analysis = analyse_run(finished_run("car_evaluation"), resamples=200)
    page = render_evaluation(analysis)
    titles = _plot_titles(page)
    assert "ROC curve (one class against the rest)" in titles
    assert "Calibration of the top class" in titles
    assert "Accuracy and coverage by confidence threshold" in titles
    confusion = next(s for s in _plots(page) if s["data"][0].get("type") == "heatmap")
    assert len(confusion["data"][0]["z"]) == 4
    assert analysis.intervals["accuracy"].low <= analysis.intervals["accuracy"].value


def test_regression_report_and_red_verdict(
    finished_run: Callable[[str], Path], tmp_path: Path
) -> None:
    folder = finished_run("ames_house_prices")
    analysis = analyse_run(folder, resamples=200)
    path = write_evaluation_report(analysis, tmp_path / "eval.html")
    page = path.read_text(encoding="utf-8")
    titles = _plot_titles(page)
    for expected in (
        "Predicted vs actual",
        "Residuals vs predicted",
        "Residual distribution",
        "Error by decile of the actual value",
    ):
        assert expected in titles
    assert any(t.startswith("rmse by ") for t in titles)  # error by segment
    # mape < 0.05 is out of reach for house prices: the banner is red.
    assert 'class="banner bad"' in page and "objectives not met" in page
    assert analysis.importance is not None and analysis.importance.features


def test_report_without_importance_needs_no_model(
    finished_run: Callable[[str], Path], tmp_path: Path
) -> None:
    folder = finished_run("car_evaluation")
    copy = tmp_path / "run"
    import shutil

    shutil.copytree(folder, copy)
    (copy / "bundle" / "model.joblib").unlink()
    analysis = analyse_run(copy, importance=False, resamples=100)
    assert analysis.importance is None and analysis.shap is None
    assert "Permutation importance" not in render_evaluation(analysis)
    with pytest.raises(Exception, match="model file is missing"):
        analyse_run(copy, resamples=100)


def test_time_budget_cuts_bootstrap_resamples_for_large_test_sets(
    finished_run: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import cairn.evaluation._analysis as analysis

    run = finished_run("car_evaluation")
    unbounded = analyse_run(run, importance=False)
    assert {i.resamples for i in unbounded.intervals.values()} == {1000}
    # as if the test set had millions of rows x classes
    monkeypatch.setattr(analysis, "_BOOTSTRAP_CELLS", 1)
    bounded = analyse_run(run, importance=False, time_budget=5.0)
    assert {i.resamples for i in bounded.intervals.values()} == {analysis._MIN_RESAMPLES}
    assert "over 200 resamples" in render_evaluation(bounded)


def _section_ids(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)" class="level-2">', page)


@pytest.mark.parametrize("name", task_names())
def test_every_task_section_is_registered(name: str) -> None:
    from cairn.evaluation._clustering_report import SEGMENTATION_SECTIONS
    from cairn.evaluation._recommendation_report import RECOMMENDATION_SECTIONS

    own = {"clustering": SEGMENTATION_SECTIONS, "recommendation": RECOMMENDATION_SECTIONS}
    drawn = own.get(name, TASK_SECTIONS)
    missing = [s for s in get_task(name).report_sections if s not in drawn]
    assert not missing, f"{name} names report sections nobody draws: {missing}"


@pytest.mark.parametrize("dataset", ["car_evaluation", "ames_house_prices"])
def test_report_draws_the_sections_its_task_names_in_order(
    dataset: str, finished_run: Callable[[str], Path]
) -> None:
    analysis = analyse_run(finished_run(dataset), importance=False, resamples=200)
    ids = _section_ids(render_evaluation(analysis))
    sections = get_task(analysis.run.task).report_sections
    assert ids[:3] == ["results", "leaderboard", "tradeoff"]  # the leaderboard's measured front
    assert ids[3 : 3 + len(sections)] == list(sections)


def test_report_asks_the_task_which_sections_to_draw(
    finished_run: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    analysis = analyse_run(finished_run("car_evaluation"), importance=False, resamples=200)
    task = type(get_task(analysis.run.task))
    monkeypatch.setattr(task, "report_sections", ("calibration", "confusion"))
    ids = _section_ids(render_evaluation(analysis))
    assert "curves" not in ids
    assert ids.index("calibration") < ids.index("confusion")
