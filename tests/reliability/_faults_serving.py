"""Helpers shared by the fault-injection tests: a small registered project,
subprocess control, and the tally of faults injected, recovered and rows lost
that is printed when a module's tests end."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import load_dataset

FAST_TRAIN = {
    "time_budget": 6,
    "include": ["lightgbm"],
    "max_trials": 0,
    "ensemble": "none",
    "select_features": False,
}


@dataclass
class Tally:
    """Per scenario: faults injected, recoveries seen, rows lost (of rows answered)."""

    injected: int = 0
    recovered: int = 0
    rows_lost: int = 0
    rows_answered: int = 0


TALLY: dict[str, Tally] = {}


def tally(scenario: str) -> Tally:
    return TALLY.setdefault(scenario, Tally())


def print_tally(config: pytest.Config, scenarios: list[str]) -> None:
    """Print the table of these scenarios once the session ends (after the
    summary, where no capture hides it)."""

    def show() -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        reporter.write_line("")
        reporter.write_line(
            f"{'fault scenario':<36} {'injected':>8} {'recovered':>9} {'rows lost':>9} "
            f"{'answered':>8}"
        )
        for name in scenarios:
            if name in TALLY:
                t = TALLY[name]
                reporter.write_line(
                    f"{name:<36} {t.injected:>8} {t.recovered:>9} {t.rows_lost:>9} "
                    f"{t.rows_answered:>8}"
                )

    config.add_cleanup(show)


def registered_project(root: Path, name: str, *, rows: int = 900, seed: int = 3) -> Path:
    """A telco churn project trained once with ``cairn run`` and registered
    (version 1 is champion); returns the spec path."""
    import cairn

    root.mkdir(parents=True, exist_ok=True)
    load_dataset("telco_churn", rows=rows, seed=seed).to_csv(root / "train.csv", index=False)
    train = "\n".join(f"{k} = {json.dumps(v)}" for k, v in FAST_TRAIN.items())
    (root / "cairn.toml").write_text(
        f"""[project]
name = "{name}"

[data]
sources = [{{ path = "train.csv" }}]
id_columns = ["customerID"]

[problem]
target = "Churn"

[split]
folds = 3

[train]
{train}

[monitoring]
bootstrap = 20

[maintenance]
holdout = 0.3
min_holdout_rows = 100
""",
        encoding="utf-8",
    )
    with pytest.MonkeyPatch.context() as patch:
        # module fixtures run before the per-test isolation of the tracking store
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = cairn.run(root / "cairn.toml")
    assert result.alias == "champion"
    return root / "cairn.toml"


def integrity(path: Path) -> str:
    connection = sqlite3.connect(str(path), timeout=30.0)
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        connection.close()


def cairn_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cairn", *args]


class Child:
    """A ``cairn`` command in its own process, its output read line by line."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
        env.pop("MLFLOW_TRACKING_URI", None)
        self.process = subprocess.Popen(
            cairn_command(*args),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            start_new_session=True,  # its own group: a kill takes its workers too
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, seen: Callable[[], bool], timeout: float) -> bool:
        """True once ``seen()`` holds; False if the process ended or time ran out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if seen():
                return True
            if self.process.poll() is not None:
                return seen()
            time.sleep(0.02)
        return False

    def kill(self) -> int:
        """SIGKILL, the fault no handler can soften."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.finish(30)

    def finish(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise
        self._reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code
