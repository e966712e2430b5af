"""The MLflow store seen from outside MLflow.

- :func:`store_lock`: a lock file beside the store. Creating the tables,
  registering a version and moving an alias happen under it, so two
  ``cairn run`` on one project never set up the store at once (SQLite's
  schema set-up is not safe against that) and exactly one of them finds the
  champion alias free. On a PostgreSQL store the lock is also a PostgreSQL
  advisory lock, so ``cairn run`` on different hosts queue the same way.
- :func:`process_tags` / :func:`process_alive`: who recorded a run, so a run
  left ``RUNNING`` by a killed process can be told from one in progress.
- :class:`SqliteStore`: read-only queries on a local SQLite store. Listing
  versions or runs this way needs no MLflow import (seconds) and no schema
  check; any surprise in the tables makes the caller fall back to MLflow.
- :func:`moved_artifacts` / :func:`relocate`: a copied project's store still
  names the original folder's artifacts; detect it and repoint it.

Only the standard library is imported here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cairn.exceptions import RegistryError

#: Seconds to wait for another process to finish writing to the store.
LOCK_TIMEOUT_S = 900.0
ARTIFACTS_DIR = "artifacts"
STATE_DIR = ".cairn"

# Texts of the errors a store left half set up (or otherwise broken) raises.
_DAMAGE_MARKERS = (
    "_alembic_tmp",
    "out-of-date database schema",
    "alembic",
    "can't locate revision",
    "file is not a database",
    "database disk image is malformed",
)

_held = threading.local()


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` store, else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0])


def is_database_server(uri: str) -> bool:
    """A store on PostgreSQL or MySQL (SQLAlchemy URLs), not a local file."""
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""
    return scheme in ("postgresql", "postgres", "mysql", "mssql")


def _postgres_dsn(uri: str) -> str | None:
    """The libpq form of a PostgreSQL store's URL, else None."""
    if "://" not in uri:
        return None
    scheme, rest = uri.split("://", 1)
    if scheme.split("+", 1)[0].lower() not in ("postgresql", "postgres"):
        return None
    return "postgresql://" + rest


# One advisory lock key for cairn's store lock (the text "cairn" in hex):
# other applications sharing the database pick their own.
_ADVISORY_KEY = 0x6361_6972_6E00


@contextlib.contextmanager
def _advisory_lock(dsn: str, uri: str, timeout: float) -> Iterator[None]:
    """Hold PostgreSQL's session advisory lock on the store's database. The
    server drops it when this connection closes, so a killed holder never
    leaves it behind."""
    try:
        import psycopg
    except ImportError:
        raise RegistryError(
            "a PostgreSQL tracking store needs the psycopg driver: pip install 'cairn[postgres]'"
        ) from None
    try:
        connection = psycopg.connect(dsn, autocommit=True, connect_timeout=30)
    except psycopg.Error as error:
        raise RegistryError(
            f"cannot reach the tracking store {display_uri(uri)}: "
            f"{str(error).strip().splitlines()[0] if str(error).strip() else error!r}; "
            "check tracking.uri in cairn.toml (or MLFLOW_TRACKING_URI) and that the server runs"
        ) from None
    try:
        deadline = time.monotonic() + timeout
        while not _try_advisory_lock(connection):
            if time.monotonic() > deadline:
                raise RegistryError(
                    f"the tracking store is busy: another cairn process has held its lock on "
                    f"{display_uri(uri)} for {timeout:.0f} s; wait for it to finish "
                    "(see 'cairn runs')"
                )
            time.sleep(0.1)
        yield
    finally:
        connection.close()  # ends the session: the lock goes with it


def _try_advisory_lock(connection: Any) -> bool:
    row = connection.execute("SELECT pg_try_advisory_lock(%s)", (_ADVISORY_KEY,)).fetchone()
    return bool(row and row[0])


def display_uri(uri: str) -> str:
    """A store URI for messages: any password left out."""
    head, sep, rest = uri.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return uri
    credentials, host = rest.split("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{head}://{user}{':***' if ':' in credentials else ''}@{host}"


def lock_path(uri: str) -> Path:
    """The lock file of a store: beside a SQLite file, else in the user's
    cache folder (same-machine writers of a remote store still queue)."""
    database = sqlite_file(uri)
    if database is not None:
        return database.with_name(database.name + ".lock")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "cairn" / "locks" / (hashlib.sha256(uri.encode()).hexdigest()[:16] + ".lock")


@contextlib.contextmanager
def store_lock(uri: str, *, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the store's lock (re-entrant within a thread).

    The lock is an OS file lock: it is released when the holder exits or is
    killed, so a crash never leaves it behind.

    Raises:
        RegistryError: another process held it for ``timeout`` seconds.
    """
    path = lock_path(uri)
    depth: dict[str, int] = getattr(_held, "depth", None) or {}
    _held.depth = depth
    key = str(path)
    if depth.get(key):
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    dsn = _postgres_dsn(uri)
    with path.open("a+b") as handle:
        _acquire(handle, path, timeout)
        depth[key] = 1
        try:
            if dsn is None:
                yield
            else:
                with _advisory_lock(dsn, uri, timeout):
                    yield
        finally:
            depth.pop(key, None)
            _release(handle)


def _acquire(handle: IO[bytes], path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _try_lock(handle)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RegistryError(
                    f"the tracking store is busy: another cairn process has held {path} for "
                    f"{timeout:.0f} s; wait for it to finish (see 'cairn runs')"
                ) from None
            time.sleep(0.05)


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]

    def _release(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]

else:
    import fcntl

    def _try_lock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _release(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def damaged_store_error(uri: str, error: BaseException) -> RegistryError | None:
    """A one-line way out when ``error`` says the store itself is broken
    (e.g. a schema set-up that was interrupted), else None."""
    text = str(error)
    if not any(marker in text.lower() for marker in _DAMAGE_MARKERS):
        return None
    cause = text.strip().splitlines()[0][:160] if text.strip() else type(error).__name__
    database = sqlite_file(uri)
    aside = (
        f"or move {database} aside (mv {database} {database}.broken) to start a new, empty store"
        if database is not None
        else "or point tracking.uri at a new store"
    )
    return RegistryError(
        f"the MLflow store {display_uri(uri)} is damaged ({cause}); keep a copy of it, then try "
        f"'mlflow db upgrade {display_uri(uri)}', {aside}"
    )


# ------------------------------------------------------------ who recorded a run


def _start_token(pid: int) -> str | None:
    """The process's start time since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] in ("Z", "X")


def process_tags() -> dict[str, str]:
    """Tags naming this process: host, pid and start time."""
    pid = os.getpid()
    return {
        "cairn.host": socket.gethostname(),
        "cairn.pid": str(pid),
        "cairn.process_start": _start_token(pid) or "",
    }


def process_alive(tags: dict[str, str]) -> bool | None:
    """Whether the process named by :func:`process_tags` still runs: None
    when it ran on another host (or left no tags), so nobody can tell."""
    if tags.get("cairn.host") != socket.gethostname() or not tags.get("cairn.pid", "").isdigit():
        return None
    pid = int(tags["cairn.pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    if _zombie(pid):
        return False
    recorded, current = tags.get("cairn.process_start"), _start_token(pid)
    return not (recorded and current and recorded != current)


# --------------------------------------------------------- read-only SQLite view


@dataclass(frozen=True)
class StoredVersion:
    version: str
    run_id: str | None
    created_ms: int
    status: str
    aliases: tuple[str, ...]
    tags: dict[str, str]


@dataclass(frozen=True)
class StoredRun:
    run_id: str
    status: str
    start_ms: int | None
    end_ms: int | None
    tags: dict[str, str]


class SqliteStore:
    """Read-only queries on a local SQLite MLflow store.

    Raises ``sqlite3.Error`` when the tables are not what it expects; the
    caller then asks MLflow, as it does when ``migration_leftovers`` is not
    empty.
    """

    def __init__(self, database: Path, uri: str) -> None:
        self.database = database
        self.uri = uri
        self._connection = sqlite3.connect(
            f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=30
        )
        # Tables an interrupted schema migration leaves behind: harmless when
        # the migration finished, fatal when it did not, and only MLflow
        # knows which schema is current; such a store is left to MLflow.
        self.migration_leftovers = [
            str(row[0])
            for row in self._connection.execute(
                "SELECT name FROM sqlite_master WHERE name LIKE '\\_alembic\\_tmp%' ESCAPE '\\'"
            )
        ]

    @classmethod
    def open(cls, uri: str) -> SqliteStore | None:
        """The store behind ``uri`` when it is a local SQLite file that
        exists, else None."""
        database = sqlite_file(uri)
        if database is None or not database.is_file():
            return None
        return cls(database, uri)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return self._connection.execute(sql, args).fetchall()

    def experiment_id(self, name: str) -> int | None:
        rows = self._rows(
            "SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'",
            name,
        )
        return int(rows[0][0]) if rows else None

    def versions(self, name: str) -> list[StoredVersion]:
        aliases: dict[str, list[str]] = {}
        for alias, version in self._rows(
            "SELECT alias, version FROM registered_model_aliases WHERE name = ?", name
        ):
            aliases.setdefault(str(version), []).append(str(alias))
        tags: dict[str, dict[str, str]] = {}
        for key, value, version in self._rows(
            "SELECT key, value, version FROM model_version_tags WHERE name = ?", name
        ):
            tags.setdefault(str(version), {})[str(key)] = str(value)
        rows = self._rows(
            "SELECT version, run_id, creation_time, status FROM model_versions "
            "WHERE name = ? AND current_stage != 'Deleted_Internal' ORDER BY version",
            name,
        )
        return [
            StoredVersion(
                version=str(version),
                run_id=run_id,
                created_ms=int(created or 0),
                status=str(status),
                aliases=tuple(sorted(aliases.get(str(version), ()))),
                tags=tags.get(str(version), {}),
            )
            for version, run_id, created, status in rows
        ]

    def runs(self, experiment: str, *, limit: int = 1000) -> list[StoredRun]:
        """The experiment's runs, newest first, with their tags."""
        experiment_id = self.experiment_id(experiment)
        if experiment_id is None:
            return []
        rows = self._rows(
            "SELECT run_uuid, status, start_time, end_time FROM runs "
            "WHERE experiment_id = ? AND lifecycle_stage = 'active' "
            "ORDER BY start_time DESC LIMIT ?",
            experiment_id,
            limit,
        )
        tags: dict[str, dict[str, str]] = {}
        if rows:
            marks = ",".join("?" * len(rows))
            for key, value, run_id in self._rows(
                f"SELECT key, value, run_uuid FROM tags WHERE run_uuid IN ({marks})",
                *[row[0] for row in rows],
            ):
                tags.setdefault(str(run_id), {})[str(key)] = str(value)
        return [
            StoredRun(str(run_id), str(status), start, end, tags.get(str(run_id), {}))
            for run_id, status, start, end in rows
        ]

    def artifact_locations(self) -> list[str]:
        return [str(row[0]) for row in self._rows("SELECT artifact_location FROM experiments")]


# ------------------------------------------------------------ moved projects


def expected_artifacts(database: Path) -> Path | None:
    """Where a project store's artifacts belong: ``.cairn/artifacts`` beside
    ``.cairn/mlflow.db``; None for a store outside a project."""
    folder = database.resolve().parent
    return folder / ARTIFACTS_DIR if folder.name == STATE_DIR else None


def moved_artifacts(uri: str) -> tuple[str, str] | None:
    """``(recorded, expected)`` artifact roots when the project store behind
    ``uri`` still names another project folder's ``.cairn/artifacts`` (the
    folder was copied or moved), else None."""
    database = sqlite_file(uri)
    if database is None or not database.is_file():
        return None
    expected = expected_artifacts(database)
    if expected is None:
        return None
    try:
        with SqliteStore(database, uri) as store:
            locations = store.artifact_locations()
    except sqlite3.Error:
        return None
    suffix = f"/{STATE_DIR}/{ARTIFACTS_DIR}"
    for location in locations:
        recorded = location.rstrip("/")
        foreign = recorded != expected.as_uri()
        if foreign and recorded.startswith("file://") and recorded.endswith(suffix):
            return recorded, expected.as_uri()
    return None


def moved_error(uri: str, recorded: str, expected: str) -> RegistryError:
    old = recorded.removeprefix("file://").removesuffix(f"/{STATE_DIR}/{ARTIFACTS_DIR}")
    new = expected.removeprefix("file://").removesuffix(f"/{STATE_DIR}/{ARTIFACTS_DIR}")
    return RegistryError(
        f"this project's MLflow store ({uri}) still keeps its artifacts in {old}, the folder it "
        f"was copied or moved from; run 'cairn relocate' in {new} to point it at this folder"
    )


# Columns holding artifact locations, per table.
_LOCATION_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "storage_location"),
    ("model_versions", "source"),
)


def relocate(uri: str) -> tuple[str, str] | None:
    """Point a copied or moved project store at its own ``.cairn/artifacts``;
    returns ``(old, new)`` roots, or None when nothing needed changing.

    Raises:
        RegistryError: the store cannot be written.
    """
    database = sqlite_file(uri)
    moved = moved_artifacts(uri)
    if database is None or moved is None:
        return None
    old, new = moved
    with store_lock(uri):
        try:
            connection = sqlite3.connect(database, timeout=60)
            with connection:  # one transaction: all locations move, or none
                tables = {
                    row[0]
                    for row in connection.execute("SELECT name FROM sqlite_master")
                    if row[0] is not None
                }
                for table, column in _LOCATION_COLUMNS:
                    if table in tables:
                        connection.execute(
                            f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                            f"WHERE substr({column}, 1, ?) = ?",
                            (new, len(old) + 1, len(old), old),
                        )
            connection.close()
        except sqlite3.Error as error:
            raise RegistryError(
                f"cannot rewrite the artifact locations in {database}: {error}"
            ) from None
    return old, new
