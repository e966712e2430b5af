"""JUnit XML, JSON and HTML results of a suite."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from cairn.behaviour import CheckResult, SuiteResult, junit_xml, render_report, write_outputs
from tests.behaviour.suites import mixed_suite


def test_junit_has_one_testsuite_per_category_with_counts_a_ci_reads() -> None:
    root = ET.fromstring(junit_xml(mixed_suite()))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "8",
        "2",
        "1",
        "1",
    )
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    # Categories in the report order, only those with checks.
    assert list(suites) == ["edge_case", "invariance", "slice", "fairness", "skew"]
    edge = suites["edge_case"]
    assert (edge.get("tests"), edge.get("errors"), edge.get("failures")) == ("2", "1", "0")
    assert sum(int(s.get("tests", "0")) for s in suites.values()) == len(
        list(root.iter("testcase"))
    )
    properties = {p.get("name"): p.get("value") for p in edge.iter("property")}
    assert properties["model"] == "models:/churn@champion"


def test_junit_failure_carries_message_and_measured_against_threshold() -> None:
    root = ET.fromstring(junit_xml(mixed_suite()))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    failure = cases["slice/Contract"].find("failure")
    assert failure is not None
    assert failure.get("message") == "Contract = Two year: accuracy 0.61, overall 0.80"
    assert "measured: 0.19; threshold: 0.1" in (failure.text or "")
    assert cases["slice/Contract"].get("classname") == "cairn.behaviour.slice"
    error = cases["edge_case/all_missing"].find("error")
    assert (
        error is not None and error.get("message") == 'the model raised ValueError: <bad & "input">'
    )
    skipped = cases["fairness/gender"].find("skipped")
    assert skipped is not None and skipped.get("message") == "no sensitive column declared"
    passed = cases["skew/onnx_vs_native"]
    assert list(passed) == [] and float(passed.get("time", "-1")) == 0.3


def test_junit_replaces_characters_xml_cannot_hold() -> None:
    suite = SuiteResult(
        "bundle",
        "regression",
        "data.csv",
        [CheckResult("edge_case/name\x00", "edge_case", "failed", "value 'a\x1bb' broke it")],
    )
    root = ET.fromstring(junit_xml(suite))  # parses: no raw control characters
    case = next(root.iter("testcase"))
    assert case.get("name") == "edge_case/name\ufffd"
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "value 'a\ufffdb' broke it"


def test_outputs_are_written_whole_and_json_has_no_nan(tmp_path: Path) -> None:
    suite = mixed_suite()
    suite.checks.append(
        CheckResult("robustness/noise", "robustness", "passed", "no flips", measured=float("nan"))
    )
    elsewhere = tmp_path / "ci" / "results.xml"
    paths = write_outputs(suite, tmp_path / "out", junit=elsewhere)
    assert paths["junit"] == elsewhere and elsewhere.is_file()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "behaviour.html",
        "behaviour.json",
    ]  # no temporary files left behind
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["passed"] is False and data["summary"] == suite.summary()
    assert data["checks"][-1]["measured"] is None
    assert [c["name"] for c in data["checks"]] == [c.name for c in suite.checks]
    assert data["checks"][3]["details"]["segments"][2]["low"] == 0.55


def test_html_report_shows_verdict_categories_slices_and_examples() -> None:
    page = render_report(mixed_suite())
    assert 'class="banner bad"' in page
    for anchor in ("edge_case", "invariance", "slice", "fairness", "skew"):
        assert f'id="{anchor}"' in page
    assert 'id="robustness"' not in page
    # The failing checks are listed in the banner, text escaped.
    assert "&lt;bad &amp; &quot;input&quot;&gt;" in page and "<bad &" not in page
    # Per-slice chart with asymmetric intervals and the overall line.
    spec = json.loads(
        re.search(r'aria-label="accuracy per slice: slice/Contract".*?<script type="application/'
                  r'json">(.*?)</script>', page, re.S).group(1)  # type: ignore[union-attr]
    )  # fmt: skip
    trace = spec["data"][0]
    assert trace["y"] == ["Month-to-month", "One year", "Two year"]
    assert trace["error_x"]["arrayminus"] == [0.03, 0.05, 0.06]
    assert trace["marker"]["color"][2] != trace["marker"]["color"][0]
    assert spec["layout"]["shapes"][0]["x0"] == 0.8
    # Fairness: the rate per group; calibration: its bins as a table.
    assert 'aria-label="Rate per group: fairness/SeniorCitizen/parity"' in page
    assert "Details of skew/calibration" in page and "0.93" in page
    # The rows that broke the invariance, open because the check failed.
    assert "<details open><summary>Rows that broke invariance/customerID" in page
    assert "Z-9" in page and "Y-8" in page
    # Offline: nothing fetched from a network.
    assert not re.search(r'<script[^>]+src="https?://', page)


def test_html_report_of_a_passing_suite_is_good() -> None:
    suite = SuiteResult(
        "bundle", "regression", "data.csv", [CheckResult("skew/batch", "skew", "passed", "same")]
    )
    page = render_report(suite)
    assert 'class="banner good"' in page and "passed: 1 passed, 0 failed" in page
