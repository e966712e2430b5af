"""Shared fixtures for the data tests: the real datasets and a PostgreSQL server."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
PG_MISSING = "PostgreSQL server binaries not installed (apt-get install postgresql)"


def dataset_path(name: str) -> Path:
    """A dataset from ``../shared/datasets``; skips the test when it is absent."""
    path = DATASETS / name
    if not path.is_file():
        pytest.skip(f"dataset {name} not found in {DATASETS} (the shared datasets are absent)")
    return path


@dataclass(frozen=True)
class PostgresServer:
    """A throwaway PostgreSQL cluster holding the titanic table."""

    url: str  # SQLAlchemy URL (postgresql+psycopg://)
    table: str
    rows: int


def _pg_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: PATH first, then Debian's layout."""
    folders: list[Path] = []
    found = shutil.which("initdb")
    if found:
        folders.append(Path(found).resolve().parent)
        folders.append(Path(found).parent)

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    folders += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for folder in folders:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _as_server_user(command),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start a temporary PostgreSQL cluster on a free loopback port.

    The cluster lives in a fresh folder under the system temp dir (pytest's
    own temp dirs are private to the current user, which the ``postgres`` user
    cannot enter when the tests run as root), listens on 127.0.0.1 only with
    its unix socket in that folder, and is stopped and deleted at the end.
    """
    bin_dir = _pg_bin_dir()
    if bin_dir is None:
        pytest.skip(PG_MISSING)
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install 'cairn[postgres]')")
    import pandas as pd
    import sqlalchemy as sa

    titanic = pd.read_csv(dataset_path("titanic.csv"))
    base = Path(tempfile.mkdtemp(prefix="cairn-pg-"))
    if os.geteuid() == 0:
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        os.chown(base, user.pw_uid, user.pw_gid)
    data, sockets, log = base / "data", base / "sockets", base / "server.log"
    port = _free_port()
    started = False
    try:
        done = _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            cwd=base,
        )
        if done.returncode != 0:
            pytest.skip(f"initdb failed: {(done.stderr or done.stdout).strip()[-500:]}")
        _run(["mkdir", "-p", str(sockets)], cwd=base)
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -F"
        done = _run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ],
            cwd=base,
        )
        started = done.returncode == 0
        if not started:
            tail = log.read_text(errors="replace")[-500:] if log.exists() else done.stderr
            pytest.skip(f"PostgreSQL could not be started: {tail.strip()}")
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        engine = sa.create_engine(url)
        try:
            titanic.to_sql("titanic", engine, index=False)
        finally:
            engine.dispose()
        yield PostgresServer(url=url, table="titanic", rows=len(titanic))
    finally:
        if started:
            _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], base)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def dataset() -> Callable[[str], Path]:
    """``dataset("titanic.csv")``: the path of a shared dataset, or skip."""
    return dataset_path
