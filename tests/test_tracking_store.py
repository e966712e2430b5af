"""A PostgreSQL tracking store seen from outside MLflow: how cairn spells its
URL, bounds MLflow's connection pool, and queues writers on other hosts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cairn.exceptions import RegistryError
from cairn.tracking import open_store, tracking_uri
from cairn.tracking_store import display_uri, store_lock
from tests.postgres import PostgresCluster


def test_postgres_urls_use_psycopg_and_hide_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://cairn:s3cret@db:5432/mlflow"
    assert tracking_uri(tmp_path, url) == "postgresql+psycopg://cairn:s3cret@db:5432/mlflow"
    assert tracking_uri(tmp_path, "postgres://db/x") == "postgresql+psycopg://db/x"
    assert tracking_uri(tmp_path, "postgresql+psycopg2://db/x") == "postgresql+psycopg2://db/x"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://db/x")
    assert tracking_uri(tmp_path) == "postgresql+psycopg://db/x"
    assert display_uri(url) == "postgresql://cairn:***@db:5432/mlflow"
    assert display_uri("postgresql://cairn@db/x") == "postgresql://cairn@db/x"


@pytest.mark.postgres
def test_an_unreachable_store_is_one_clear_error_at_once(
    postgres_cluster: PostgresCluster,
) -> None:
    import mlflow  # noqa: F401  (imported first: its import is not what is timed)

    closed = f"postgresql://cairn:s3cret@127.0.0.1:{postgres_cluster.port + 1}/nowhere"
    started = time.monotonic()
    with pytest.raises(RegistryError, match="cannot reach the tracking store") as caught:
        open_store(closed)
    assert time.monotonic() - started < 10  # not MLflow's minutes of retries
    assert "s3cret" not in str(caught.value) and "cairn:***@" in str(caught.value)


@pytest.mark.postgres
def test_the_store_lock_holds_across_hosts(
    postgres_cluster: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another "host" (its own lock-file folder) holds the lock: this one
    waits on the database's advisory lock, not on a file."""
    uri = tracking_uri(tmp_path, postgres_cluster.new_database("lock"))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from cairn.tracking_store import store_lock\n"
            f"with store_lock({uri!r}):\n"
            "    print('held', flush=True)\n"
            "    sys.stdin.readline()\n",
        ],
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "other-host")},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "this-host"))
        busy = pytest.raises(RegistryError, match="busy: another cairn process has held")
        with busy, store_lock(uri, timeout=0.5):
            pass
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(30)
    with store_lock(uri, timeout=5):  # released when its holder's session ended
        pass
