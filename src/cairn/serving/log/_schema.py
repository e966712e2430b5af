"""The prediction log's SQLite format: tables, connections, and text made
valid Unicode before it is stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

#: The log's place inside a project folder.
DEFAULT_LOG = Path(".cairn") / "predictions.db"
FORMAT_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    arm TEXT NOT NULL,
    inputs TEXT NOT NULL,
    prediction TEXT,
    probabilities TEXT,
    latency_ms REAL,
    synthetic INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts);
CREATE INDEX IF NOT EXISTS predictions_request ON predictions (request_id);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    ts REAL NOT NULL,
    route TEXT NOT NULL,
    status INTEGER NOT NULL,
    detail TEXT,
    body TEXT,
    synthetic INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# columns added since format 1 was first written: older files get them on open
_ADDED_COLUMNS = {
    "predictions": {"synthetic": "INTEGER NOT NULL DEFAULT 0"},
    "rejected": {"body": "TEXT", "synthetic": "INTEGER NOT NULL DEFAULT 0"},
}


def default_log_path(project_dir: str | Path | None = None) -> Path:
    """``<project>/.cairn/predictions.db`` (the current folder by default)."""
    return Path(project_dir or Path.cwd()) / DEFAULT_LOG


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def table_columns(connection: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}


def add_missing_columns(connection: sqlite3.Connection) -> None:
    for table, added in _ADDED_COLUMNS.items():
        present = table_columns(connection, table)
        for name, declaration in added.items():
            if name not in present:
                connection.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")


def escape_text(text: str) -> str:
    """``text`` as valid Unicode: a lone surrogate becomes the escape ``\\udXXX``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def escaped(value: Any) -> Any:
    """A JSON-like value with every string valid Unicode and every key a string."""
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, dict):
        return {escape_text(str(k)): escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [escaped(v) for v in value]
    if isinstance(value, bool | float) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else str(value)
    return escape_text(str(value))
