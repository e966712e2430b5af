"""``cairn monitor`` on files, SQL and labels: exit status 0 when healthy, 2
when not, 1 on a user mistake; the report and the JSON result are written."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cairn.cli import app
from tests.monitoring.conftest import Trained


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no cairn.toml here: the model comes from --model
    return CliRunner()


def test_healthy_batch_exits_zero(trained: Trained, runner: CliRunner, tmp_path: Path) -> None:
    trained.young.to_csv(tmp_path / "young.csv", index=False)
    done = runner.invoke(
        app,
        ["monitor", "young.csv", "--model", str(trained.bundle), "--json", "out.json"],
    )
    assert done.exit_code == 0, done.output
    assert "healthy" in done.output
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["healthy"] is True
    # The target column came with the rows, so performance was measured too.
    assert result["performance"]["n"] == len(trained.young)
    # An i.i.d. batch: no metric is called worse than on the test set.
    assert result["performance"]["degraded"] == []
    assert {c["name"]: c["status"] for c in result["checks"]}["degradation"] == "pass"
    _assert_paths_exist(result)


def test_shifted_batch_exits_two_with_report(
    trained: Trained, runner: CliRunner, tmp_path: Path
) -> None:
    batch = trained.old.assign(customer=range(len(trained.old)))
    batch.drop(columns="class").to_csv(tmp_path / "old.csv", index=False)
    batch[["customer", "class"]].iloc[:800].to_csv(tmp_path / "labels.csv", index=False)
    done = runner.invoke(
        app,
        [
            "monitor", "old.csv", "--model", str(trained.bundle), "--labels", "labels.csv",
            "--key", "customer", "-o", "report.html", "--json", "out.json",
        ],
    )  # fmt: skip
    assert done.exit_code == 2, done.output
    assert "UNHEALTHY" in done.output and "age" in done.output
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["drift"]["n_current"] == len(batch)  # drift on every row
    assert result["performance"]["n"] == 800  # performance on the labelled ones
    assert result["performance"]["join"]["unmatched_predictions"] == len(batch) - 800
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    # One verdict per check, the same word in the terminal, the page and the JSON.
    printed = dict(re.findall(r"│ (\w+) +│ (pass|fail|warn|not checked) +│", done.output))
    shown = dict(re.findall(r'<tr><td>(\w+)</td><td><span class="badge \w+">([^<]+)</span>', page))
    stored = {c["name"]: c["status"] for c in result["checks"]}
    assert printed == shown == stored and len(stored) == 6
    assert stored["drift"] == "fail" and "warn" in stored.values()  # data_quality only warns
    assert result["verdict"] == "unhealthy" and html.escape(result["summary"]) in page
    assert result["summary"] in " ".join(done.output.split())
    # The key given on the command line is the key reported.
    assert result["drift"]["settings"]["key"] == ["customer"]
    assert '<th scope="row">key</th><td>customer</td>' in page
    _assert_paths_exist(result)


def _assert_paths_exist(result: dict[str, Any]) -> None:
    assert result["model"]["path"] and Path(result["model"]["path"]).is_dir()
    assert Path(result["source"]).is_absolute() and Path(result["source"]).is_file()


def test_a_registry_model_is_reported_at_its_persisted_bundle(
    trained: Trained, tmp_path: Path
) -> None:
    """A registry model is checked from a cached copy; the result names the
    run's own bundle."""
    from cairn.cli.maintenance import _persisted_bundle
    from cairn.spec import load_spec
    from cairn.tracking import load_model

    download = Path(tempfile.mkdtemp(prefix="cairn-model-")) / "artifacts" / "bundle"
    shutil.copytree(trained.bundle, download)
    copy = load_model(download)
    project = load_spec(trained.bundle.parents[3] / "cairn.toml")
    assert _persisted_bundle(copy, project) == str(trained.bundle.resolve())
    assert _persisted_bundle(copy, None) is None
    shutil.rmtree(download.parents[1])


def test_current_rows_from_a_sql_query(trained: Trained, runner: CliRunner, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "shop.db") as connection:
        trained.young.drop(columns="class").to_sql("people", connection, index=False)
    done = runner.invoke(
        app,
        [
            "monitor", "sqlite:///shop.db", "--query", "SELECT * FROM people WHERE age < 30",
            "--model", str(trained.bundle), "--json", "out.json",
        ],
    )  # fmt: skip
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["drift"]["n_current"] == int((trained.young["age"] < 30).sum())
    assert "SELECT" in result["source"]
    assert done.exit_code in (0, 2)
    # Everyone under 30 is a narrower population than the training rows.
    assert result["drift"]["features"][0]["name"] == "age"


def test_user_mistakes_exit_one(trained: Trained, runner: CliRunner) -> None:
    done = runner.invoke(app, ["monitor", "missing.csv", "--model", str(trained.bundle)])
    assert done.exit_code == 1 and "error:" in done.output
    done = runner.invoke(app, ["monitor", "missing.csv"])
    assert done.exit_code == 1 and "no model to monitor" in done.output
    done = runner.invoke(app, ["monitor", "sqlite:///x.db", "--model", str(trained.bundle)])
    assert done.exit_code == 1 and "--query or --table" in done.output


def test_tables_are_not_cut_when_output_is_piped(trained: Trained, tmp_path: Path) -> None:
    trained.old.drop(columns="class").to_csv(tmp_path / "old.csv", index=False)
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "monitor", "old.csv", "--model", str(trained.bundle)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "60"},
    )
    assert done.returncode == 2, done.stderr
    cut = [line for line in done.stdout.splitlines() if "…" in line and "more features" not in line]
    assert not cut, cut
    for name in ("marital_status", "native_country", "hours_per_week", "education_num"):
        assert name in done.stdout
    assert not any(line.endswith(" ") for line in done.stdout.splitlines())
