"""``cairn test`` and ``cairn.test``: finding the model and its test rows,
where results go, exit statuses and one-line errors. The suite itself is a
stand-in here (tests/behaviour/suites.py) that scores the rows with the
real model; tests/behaviour/test_suite_integration.py runs the real one."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import cairn
from cairn.cli.app import app
from tests.behaviour.suites import FakeSettings, install


@pytest.fixture
def run_dir(finished_run: Callable[[str], Path], tmp_path: Path) -> Path:
    """A copy of a finished telco_churn run folder (bundle and test rows)."""
    copy = tmp_path / "runs" / finished_run("telco_churn").name
    shutil.copytree(finished_run("telco_churn"), copy)
    return copy


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # no ./cairn.toml, a fresh ./.cairn
    return CliRunner()


def test_tests_the_runs_test_set_and_writes_results_into_the_run_folder(
    runner: CliRunner, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = install(monkeypatch)
    result = runner.invoke(app, ["test", str(run_dir / "bundle")])
    assert result.exit_code == 0, result.output
    call = fake.calls[0]
    held_out = pd.read_parquet(run_dir / "test_predictions.parquet")
    assert len(call["rows"]) == len(held_out) and len(call["labels"]) == len(held_out)
    assert "Churn" not in call["rows"].columns
    assert not any(str(c).startswith("__") for c in call["rows"].columns)
    assert set(call["labels"]) == {"Yes", "No"}
    assert call["data_name"].startswith(f"test set of run {run_dir.name}")
    assert call["url"] is None and call["model_name"] == str(run_dir / "bundle")
    for name in ("junit.xml", "behaviour.json", "behaviour.html"):
        assert (run_dir / name).is_file()
    assert "passed: 1 passed, 0 failed" in result.output


def test_a_failing_check_prints_one_line_and_exits_1(
    runner: CliRunner, run_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch, FakeSettings(fail=True))
    junit = tmp_path / "ci" / "junit.xml"
    result = runner.invoke(
        app, ["test", str(run_dir), "-o", str(tmp_path / "o"), "--junit", str(junit)]
    )
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("FAILED ")]
    assert lines == [
        "FAILED invariance/planted: the prediction changed with a column declared invariant "
        "(measured 0.25, threshold 0)"
    ]
    assert "FAILED: 1 passed, 1 failed" in result.output
    assert junit.is_file() and (tmp_path / "o" / "behaviour.html").is_file()
    assert not (tmp_path / "o" / "junit.xml").exists()


def test_data_given_gives_its_target_as_labels_and_writes_to_cairn_test(
    runner: CliRunner, run_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = install(monkeypatch)
    held_out = pd.read_parquet(run_dir / "test_predictions.parquet")
    rows = held_out.drop(columns=[c for c in held_out.columns if c.startswith("__")]).head(80)
    rows["Churn"] = held_out["__target"].head(80)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    result = runner.invoke(app, ["test", str(run_dir / "bundle"), str(tmp_path / "rows.csv")])
    assert result.exit_code == 0, result.output
    call = fake.calls[0]
    assert len(call["rows"]) == 80 and "Churn" not in call["rows"].columns
    assert list(call["labels"]) == list(held_out["__target"].head(80))
    assert (Path.cwd() / "cairn-test" / "behaviour.json").is_file()
    assert not (run_dir / "behaviour.json").exists()


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["no/such/bundle"], "no/such/bundle"),
        (["models:/no-such-model@champion"], "no-such-model"),
        (["http://127.0.0.1:9"], "127.0.0.1:9/metadata"),
    ],
)
def test_an_unknown_model_is_a_one_line_error_with_status_2(
    runner: CliRunner, arguments: list[str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = install(monkeypatch)
    result = runner.invoke(app, ["test", *arguments])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and expected in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert fake.calls == []


def test_unreadable_data_and_unknown_columns_are_one_line_errors(
    runner: CliRunner, run_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch)
    missing = runner.invoke(app, ["test", str(run_dir), str(tmp_path / "none.csv")])
    assert missing.exit_code == 2 and "none.csv" in missing.output
    assert len(missing.output.strip().splitlines()) == 1
    install(monkeypatch, FakeSettings(columns=["no_such_column"]))
    unknown = runner.invoke(app, ["test", str(run_dir)])
    assert unknown.exit_code == 2, unknown.output
    assert unknown.output.strip() == (
        "error: [[tests.invariance]] names column 'no_such_column', not in the data"
    )


def test_without_data_or_run_folder_says_to_pass_data(
    runner: CliRunner, run_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch)
    alone = tmp_path / "alone"
    shutil.copytree(run_dir / "bundle", alone)  # a bundle without its run folder
    result = runner.invoke(app, ["test", str(alone)])
    assert result.exit_code == 2
    assert "no DATA given" in result.output and "pass a table of rows" in result.output


def test_python_entry_returns_the_suite(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch, FakeSettings(fail=True))
    suite = cairn.test(run_dir / "bundle", output_dir=tmp_path / "py")
    assert not suite.passed and suite.task == "classification"
    assert [c.name for c in suite.checks] == ["edge_case/answers", "invariance/planted"]
    assert (tmp_path / "py" / "junit.xml").is_file()


def test_a_served_model_is_tested_against_the_bundle_it_serves(
    runner: CliRunner, run_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cairn.serving.server import start_process, stop_process

    fake = install(monkeypatch)
    server = start_process(run_dir / "bundle", extra_args=["--no-log"])
    try:
        by_url = runner.invoke(app, ["test", server.url, "-o", str(tmp_path / "u")])
        by_bundle = runner.invoke(app, ["test", str(run_dir), "-o", str(tmp_path / "b")])
    finally:
        stop_process(server)
    assert by_url.exit_code == by_bundle.exit_code == 0, by_url.output
    served, local = fake.calls
    assert served["url"] == server.url.rstrip("/") and local["url"] is None
    assert served["model"].metadata["run_id"] == local["model"].metadata["run_id"]
    assert served["data_name"] == local["data_name"]  # the same test rows


def test_a_server_of_another_model_is_refused(
    runner: CliRunner, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch)
    monkeypatch.setattr(
        "cairn.behaviour._run._served_metadata",
        lambda url: {"schema": {}, "source": "elsewhere", "run_id": "another-run"},
    )
    result = runner.invoke(app, ["test", str(run_dir), "--url", "http://127.0.0.1:8000"])
    assert result.exit_code == 2
    assert "serves run another-run, not the bundle's run" in result.output


def test_the_gates_reason_is_printed_with_its_brackets() -> None:
    # "[tests]" in a reason must not be read as console markup and vanish
    from types import SimpleNamespace

    from cairn.cli._common import console
    from cairn.cli._run_output import _print_outcome
    from cairn.cli.maintenance import _print_retrain

    reason = "1 behaviour test(s) failed ([tests] gate = true): invariance/Ticket"
    quality = SimpleNamespace(
        summary=lambda: "891 rows in", by_severity=lambda severity: [], combination=None
    )
    run = SimpleNamespace(
        model=SimpleNamespace(metadata={"model_label": "LightGBM"}),
        quality=quality,
        bundle_path=Path("bundle"),
        reports={},
        tests=None,
        model_uri="models:/titanic/1",
        alias=None,
        registry_note=f"not made champion: {reason}",
        timings={"total": 1.0},
    )
    retrained = SimpleNamespace(
        comparison=None,
        clusters=None,
        decision="kept",
        summary=lambda: f"kept the champion: {reason}",
        evidence_path=None,
    )
    with console.capture() as captured:
        _print_outcome(run)
        _print_retrain(retrained)
    assert captured.get().count("([tests] gate = true)") == 2, captured.get()


def test_an_output_folder_that_is_a_file_is_a_one_line_error(
    runner: CliRunner, run_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch)
    in_the_way = tmp_path / "results"
    in_the_way.write_text("not a folder\n", encoding="utf-8")
    result = runner.invoke(app, ["test", str(run_dir), "-o", str(in_the_way)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: cannot write the test results to {in_the_way}")
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_a_clustering_without_data_is_told_it_has_no_test_set(
    runner: CliRunner, clustering_bundle: Callable[..., Any]
) -> None:
    made = clustering_bundle("kmeans")
    result = runner.invoke(app, ["test", str(made.path)])
    assert result.exit_code == 2, result.output
    assert "a clustering run keeps no test set" in result.output
    assert "target" not in result.output and len(result.output.strip().splitlines()) == 1


def test_data_holding_only_the_target_names_the_missing_columns(
    runner: CliRunner, run_dir: Path, tmp_path: Path
) -> None:
    from tests.conftest import load_dataset

    only_target = tmp_path / "churn.csv"
    load_dataset("telco_churn")[["Churn"]].to_csv(only_target, index=False)
    result = runner.invoke(app, ["test", str(run_dir), str(only_target)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: data is missing ")
    assert "'tenure'" in result.output and len(result.output.strip().splitlines()) == 1


def test_the_retrain_help_shows_the_section_it_reads(runner: CliRunner) -> None:
    result = runner.invoke(app, ["retrain", "--help"], terminal_width=200)
    words = " ".join(result.output.replace("│", " ").split())
    assert "when a [maintenance] trigger fires" in words, words
