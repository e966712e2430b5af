"""A throwaway PostgreSQL cluster for the tests (initdb + pg_ctl on loopback).

The server binaries come from Debian's ``postgresql`` package
(``scripts/ensure-postgres.sh`` installs it for ``make test``); without them,
or without the psycopg driver, the tests that need a server are skipped.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_MISSING = "PostgreSQL server binaries not installed (apt-get install postgresql)"


@dataclass
class PostgresCluster:
    """A running cluster: ``url`` reaches its ``postgres`` database;
    :meth:`new_database` makes an empty one per test."""

    host: str
    port: int
    user: str = "postgres"
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database (psycopg driver)."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        """libpq URL of database ``name`` (what users write: postgresql://...)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{name}"

    def new_database(self, prefix: str = "test") -> str:
        """Create an empty database; returns its ``postgresql://`` URL."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.database_url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def new_schema(self, prefix: str = "test") -> str:
        """Create an empty schema in the ``postgres`` database; returns a
        ``postgresql://`` URL whose tables land in it (ten times quicker
        than a new database)."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.database_url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{name}"')
        return self.database_url("postgres") + f"?options=-csearch_path%3D{name}"


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


@contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """Start a temporary cluster on a free loopback port (or skip the test).

    The cluster lives in a fresh folder under the system temp dir (pytest's
    own temp dirs are private to the current user, which the ``postgres``
    user cannot enter when the tests run as root), listens on 127.0.0.1 only
    with its unix socket in that folder, and is stopped and deleted at the end.
    """
    bin_dir = _pg_bin_dir()
    if bin_dir is None:
        pytest.skip(PG_MISSING)
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install 'cairn[postgres]')")
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
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        done = _run([*initdb, "-E", "UTF8", "--locale=C", "--no-sync"], cwd=base)
        if done.returncode != 0:
            pytest.skip(f"initdb failed: {(done.stderr or done.stdout).strip()[-500:]}")
        _run(["mkdir", "-p", str(sockets)], cwd=base)
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -F"
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60"]
        done = _run([*pg_ctl, "-o", options, "start"], cwd=base)
        started = done.returncode == 0
        if not started:
            tail = log.read_text(errors="replace")[-500:] if log.exists() else done.stderr
            pytest.skip(f"PostgreSQL could not be started: {tail.strip()}")
        yield PostgresCluster(host="127.0.0.1", port=port)
    finally:
        if started:
            _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], base)
        shutil.rmtree(base, ignore_errors=True)
