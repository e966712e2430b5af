"""``cairn monitor`` on files, SQL and labels: exit status 0 when healthy, 2
when not, 1 on a user mistake; the report and the JSON result are written."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

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
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")


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
