"""kill -9 of ``cairn run`` at several moments: the run folders and the
MLflow store stay consistent, interrupted runs show as such, and the next
``cairn run`` works.

The moment is chosen by watching what the run writes (its progress lines,
its ``.partial`` folder, the store's staging file, a RUNNING row in the
store), so no hook is needed in the code under test.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import load_dataset

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CAIRN = [sys.executable, "-m", "cairn"]


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200")
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _start(spec: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [*CAIRN, "run", str(spec), "--time-budget", "8"],
            cwd=spec.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
        )


def _kill_when(
    process: subprocess.Popen[bytes], ready: Callable[[], bool], what: str, timeout: float = 300
) -> None:
    """kill -9 the run as soon as ``ready()`` holds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            pytest.fail(f"the run ended (status {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no sign of {what} within {timeout:.0f} s")
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


def _cairn(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CAIRN, *args], cwd=cwd, capture_output=True, text=True, env=_env(), timeout=600
    )


def _store_rows(database: Path, sql: str) -> list[tuple[object, ...]]:
    if not database.exists():
        return []
    try:
        with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute(sql).fetchall()
    except sqlite3.OperationalError:  # tables not there yet, or a writer holds the file
        return []


def test_kill_9_at_each_stage_leaves_a_consistent_project(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    load_dataset("iris").to_csv(root / "data.csv", index=False)
    spec = root / "cairn.toml"
    spec.write_text(
        '[project]\nname = "iris"\n\n[data]\nsources = [{ path = "data.csv" }]\n\n'
        '[problem]\ntarget = "species"\n\n[train]\ninclude = ["linear"]\n',
        encoding="utf-8",
    )
    state = root / ".cairn"
    runs = state / "runs"
    database = state / "mlflow.db"
    log = tmp_path / "run.log"
    injected = 0

    def folders() -> list[str]:
        return sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []

    # 1. During the search: nothing is written yet, nothing may be left.
    process = _start(spec, log)
    _kill_when(process, lambda: b"cross-validating" in log.read_bytes(), "the search")
    injected += 1
    assert folders() == []
    assert not database.exists()

    # 2. While the first run sets up the MLflow store: the store is built
    # under a temporary name, so it is either absent or whole.
    process = _start(spec, log)
    _kill_when(
        process,
        lambda: any(state.glob(".mlflow.db.*.new")),
        "the store set-up",
    )
    injected += 1
    assert not database.exists()
    assert folders() and all(not name.endswith(".partial") for name in folders())

    # 3. While packaging: the folder is still '<id>.partial' and reads as interrupted.
    process = _start(spec, log)
    _kill_when(process, lambda: any(runs.glob("*.partial/bundle/metadata.json")), "the packaging")
    injected += 1
    partial = [name for name in folders() if name.endswith(".partial")]
    assert len(partial) == 1
    listing = _cairn("runs", str(spec), cwd=root)
    assert listing.returncode == 0, listing.stderr
    assert "interrupted" in listing.stdout and partial[0].removesuffix(".partial") in listing.stdout

    # 4. While recording in MLflow: the run is RUNNING in the store when killed.
    process = _start(spec, log)
    _kill_when(
        process,
        lambda: bool(_store_rows(database, "SELECT 1 FROM runs WHERE status = 'RUNNING'")),
        "a RUNNING MLflow run",
    )
    injected += 1
    [(killed_run,)] = _store_rows(database, "SELECT run_uuid FROM runs WHERE status = 'RUNNING'")
    listing = _cairn("runs", str(spec), cwd=root)
    assert listing.returncode == 0, listing.stderr
    assert "INTERRUPTED" in listing.stdout

    # The next run works, marks the killed one FAILED and registers a version.
    done = _cairn("run", str(spec), "--time-budget", "8", cwd=root)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "registry:" in done.stdout
    assert not any(state.glob(".mlflow.db.*.new"))  # the killed set-up's leftovers are gone
    statuses = dict(_store_rows(database, "SELECT run_uuid, status FROM runs"))
    assert statuses[killed_run] == "FAILED"
    assert "RUNNING" not in statuses.values()
    # MLflow's logged-model status 1 is PENDING: none is left half-logged.
    assert _store_rows(database, "SELECT model_id FROM logged_models WHERE status = 1") == []
    versions = _cairn("versions", str(spec), cwd=root)
    assert versions.returncode == 0 and "Traceback" not in versions.stderr
    assert "champion" in versions.stdout
    listing = _cairn("runs", str(spec), cwd=root)
    assert "RUNNING" not in listing.stdout and "INTERRUPTED" not in listing.stdout
    assert "interrupted" in listing.stdout  # the packaging kill's folder, until cleaned
    cleaned = _cairn("runs", str(spec), "--clean", cwd=root)
    assert cleaned.returncode == 0 and "removed" in cleaned.stdout
    assert not any(name.endswith(".partial") for name in folders())
    complete = [p for p in runs.iterdir() if (p / "timings.json").exists()]
    assert len(complete) == len(folders()) == 3  # the store set-up, MLflow and last runs
    assert injected == 4
