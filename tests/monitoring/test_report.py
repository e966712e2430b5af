"""The HTML monitoring report: built with the shared report page, one
self-contained file with the verdict, drift per feature, prediction drift,
column checks and performance over time."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cairn import reporting as rp
from cairn.monitoring.monitor import check
from cairn.monitoring.report import render_html
from cairn.spec import MonitoringSection
from tests.monitoring.conftest import Trained


def test_unhealthy_report_shows_verdict_features_and_performance(
    trained: Trained, tmp_path: Path
) -> None:
    batch = trained.old.copy()
    batch["workclass"] = batch["workclass"].where(batch.index % 7 != 0, "Gig-economy")
    times = pd.Series(pd.date_range("2026-05-01", periods=len(batch), freq="10min", tz="UTC"))
    report = check(
        batch.drop(columns="class"),
        trained.model,
        labels=batch["class"],
        timestamps=times,
        settings=MonitoringSection(bootstrap=20),
        source="old.csv",
    )
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert "UNHEALTHY (drift" in page and rp.escape(report.summary()) in page
    for section in ("Data drift", "Prediction drift", "Column checks", "Performance", "Settings"):
        assert f">{section}</a>" in page
    for feature in trained.model.schema.feature_names:
        assert f'id="feature-{rp.slug(feature)}"' in page
    assert "Gig-economy" in page  # the new category is listed
    assert f'class="{rp.PLOT_CLASS}' in page and "Plotly" in page  # plots, library inlined
    assert "roc_auc per window" in page  # metric over time
    assert "<script src=" not in page  # nothing fetched from the network
    path = report.write_html(tmp_path / "report.html")
    assert path.read_text(encoding="utf-8") == page or "Monitoring" in path.read_text()
    assert not list(tmp_path.glob(".*.tmp"))


def test_healthy_report_has_a_good_banner(trained: Trained) -> None:
    report = check(trained.young.drop(columns="class"), trained.model)
    page = render_html(report)
    assert report.verdict.startswith("healthy")
    assert rp.escape(report.summary()) in page and "UNHEALTHY" not in page
    assert "Performance</a>" not in page  # no labels, no performance section


def test_unscored_batch_says_prediction_drift_was_not_checked(trained: Trained) -> None:
    """Without model outputs the overview and the check agree: not checked."""
    report = check(trained.young.drop(columns=["class", "education_num"]), trained.model)
    assert {c.name: c.status for c in report.checks}["prediction_drift"] == "not checked"
    page = render_html(report)
    assert (
        '<span class="label">prediction drift</span><span class="value">not checked</span>' in page
    )
    assert '<td>prediction_drift</td><td><span class="badge muted">not checked</span>' in page


def test_report_writer_needs_only_the_result(trained: Trained, tmp_path: Path) -> None:
    """The HTML writer works on the result types and never imports the checking
    module, so the two do not depend on each other."""
    import ast
    import inspect

    from cairn.monitoring import report as report_module
    from cairn.monitoring.report import write_monitoring_report

    tree = ast.parse(inspect.getsource(report_module))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "cairn.monitoring.monitor" not in imported
    result = check(trained.young.drop(columns="class"), trained.model)
    path = write_monitoring_report(result, tmp_path / "out" / "report.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and rp.escape(result.summary()) in page
    assert not list(path.parent.glob(".*.tmp"))
