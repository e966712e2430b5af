"""Where the prediction log lives: a SQLite file, or a PostgreSQL database
shared by several server processes or hosts.

:class:`LogConnection` hides the two drivers' differences (placeholders,
transactions, the catalog) behind the few calls the reader and the writer
make; SQL is written once, with ``?`` placeholders.

Each server process holds one connection to the log (its writer thread's);
readers open one for the duration of a query. ``cairn serve --workers 4``
therefore holds 4 connections, far below PostgreSQL's default
``max_connections`` of 100.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cairn.exceptions import DataError

#: A log: a file path, or a ``postgresql://`` URL.
LogTarget = str | Path

_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
_PASSWORD = re.compile(r"(://[^:/@]+:)[^@/]*@")
# Concurrent CREATE TABLE IF NOT EXISTS races in PostgreSQL's catalog; the
# processes setting up one log queue on this advisory lock instead.
_SCHEMA_LOCK = 0x6361_6972_6E01


def is_postgres(target: LogTarget) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return isinstance(target, str) and target.startswith(_POSTGRES_SCHEMES)


def as_log_target(target: LogTarget) -> LogTarget:
    """A PostgreSQL URL as given, anything else as a file path
    (``sqlite:///PATH`` included).

    Raises:
        DataError: a URL of another kind (``mysql://...``).
    """
    if is_postgres(target):
        return target
    text = str(target)
    if text.startswith("sqlite:///"):
        return Path(text.removeprefix("sqlite:///"))
    if isinstance(target, str) and "://" in text:
        raise DataError(
            f"prediction log {log_display(text)}: use a file path, sqlite:///FILE or "
            "postgresql://USER@HOST:PORT/DATABASE"
        )
    return Path(target)


def log_display(target: LogTarget) -> str:
    """The target for messages, with any password left out."""
    return _PASSWORD.sub(r"\1***@", str(target))


def _libpq_url(url: str) -> str:
    """SQLAlchemy spells the driver into the scheme; libpq does not."""
    return "postgresql://" + url.split("://", 1)[1]


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise DataError(
            "a PostgreSQL prediction log needs the psycopg driver: pip install 'cairn[postgres]'"
        ) from None
    return psycopg


class LogConnection:
    """One connection to the log's database.

    Raises ``sqlite3.Error`` or ``psycopg.Error`` from the driver; use
    :attr:`transient` and :attr:`errors` to tell them apart.
    """

    def __init__(self, raw: Any, postgres: bool) -> None:
        self.raw = raw
        self.postgres = postgres
        if postgres:
            psycopg = _psycopg()
            self.errors: tuple[type[Exception], ...] = (psycopg.Error,)
            # the server went away or is restarting: worth reconnecting and retrying
            self.transient: tuple[type[Exception], ...] = (
                psycopg.OperationalError,
                psycopg.InterfaceError,
            )
        else:
            self.errors = (sqlite3.Error,)
            self.transient = (sqlite3.OperationalError,)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def _params(self, params: Sequence[Any]) -> Sequence[Any]:
        if not self.postgres:
            return params
        # PostgreSQL text cannot hold NUL: store it escaped, as JSON would
        return [
            p.replace("\x00", "\\u0000") if isinstance(p, str) and "\x00" in p else p
            for p in params
        ]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(self._sql(sql), self._params(params))

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Append ``rows`` to ``table``: one COPY on PostgreSQL (several
        times faster than row-by-row inserts), one executemany on SQLite."""
        names = ", ".join(columns)
        if self.postgres:
            with (
                self.raw.cursor() as cursor,
                cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(self._params(row))
        else:
            marks = ", ".join("?" * len(columns))
            self.raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit everything inside, or nothing."""
        if self.postgres:
            with self.raw.transaction():
                yield
        else:
            with self.raw:
                yield

    def columns(self, table: str) -> set[str]:
        if self.postgres:
            rows = self.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = ? AND table_schema = current_schema()",
                (table,),
            )
            return {str(row[0]) for row in rows}
        return {str(row[1]) for row in self.raw.execute(f"PRAGMA table_info({table})")}

    def lock_schema(self) -> None:
        """Inside a transaction: queue behind other processes setting up the log."""
        if self.postgres:
            self.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.raw.close()


def connect(target: LogTarget, *, read_only: bool = False) -> LogConnection:
    """A connection to the log at ``target`` (the driver's errors propagate);
    ``read_only`` opens a SQLite file without creating or changing it."""
    if is_postgres(target):
        psycopg = _psycopg()
        raw = psycopg.connect(
            _libpq_url(str(target)), autocommit=True, connect_timeout=30, application_name="cairn"
        )
        return LogConnection(raw, postgres=True)
    path = Path(target)
    if read_only:
        raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
        return LogConnection(raw, postgres=False)
    raw = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    return LogConnection(raw, postgres=False)
