"""The prediction log: every scored record, written off the request path.

Format
------
A SQLite database (default ``<project>/.cairn/predictions.db``) in WAL mode,
so readers never block the server. Table ``predictions`` holds one row per
scored record::

    id             INTEGER PRIMARY KEY
    request_id     TEXT     the request's id (X-Request-ID header, or generated)
    row            INTEGER  the record's position in the request
    ts             REAL     when the request arrived, seconds since the epoch (UTC)
    model          TEXT     registered model name
    version        TEXT     registry version (or the bundle's run id)
    arm            TEXT     champion, challenger or shadow
    inputs         TEXT     the record as received, a JSON object
    prediction     TEXT     the class label or value, JSON
    probabilities  TEXT     {"class": probability, ...} as JSON, NULL for regression
    latency_ms     REAL     time in the server for the whole request

Table ``rejected`` holds requests answered with an error (request_id, ts,
route, status, detail), and table ``meta`` the format version. A shadow
model's rows share the request id and row of the champion's rows they
shadow.

Reading
-------
:func:`read_log` returns a DataFrame with one row per logged record: one
column per input (as sent), then ``request_id``, ``row``, ``ts`` (UTC
timestamps), ``model``, ``version``, ``arm``, ``latency_ms``, ``prediction``
and one ``proba_<class>`` per class (classification). An input whose name is
one of those gets the prefix ``input.`` instead.
:func:`export_log` writes it to Parquet or CSV (``cairn logs export``).

Writing
-------
:class:`PredictionLog` takes entries on an unbounded in-memory queue (a
request never waits on the disk) and a background thread writes them in
batches. :meth:`PredictionLog.close` drains the queue before returning, so a
clean shutdown loses nothing.
"""

from __future__ import annotations

import logging
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cairn.exceptions import DataError, ServingError

__all__ = [
    "DEFAULT_LOG",
    "FORMAT_VERSION",
    "LogEntry",
    "PredictionLog",
    "default_log_path",
    "export_log",
    "log_counts",
    "parse_time",
    "prune_log",
    "read_log",
    "read_rejected",
]

#: The log's place inside a project folder.
DEFAULT_LOG = Path(".cairn") / "predictions.db"
FORMAT_VERSION = 1
_BATCH = 2000
_logger = logging.getLogger("cairn.serving.log")

_SCHEMA = """
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
    latency_ms REAL
);
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts);
CREATE INDEX IF NOT EXISTS predictions_request ON predictions (request_id);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    ts REAL NOT NULL,
    route TEXT NOT NULL,
    status INTEGER NOT NULL,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def default_log_path(project_dir: str | Path | None = None) -> Path:
    """``<project>/.cairn/predictions.db`` (the current folder by default)."""
    return Path(project_dir or Path.cwd()) / DEFAULT_LOG


@dataclass
class LogEntry:
    """One scored request (or one arm of it).

    ``records`` are the JSON objects as received, ``labels`` the predictions,
    ``probabilities`` a (records, classes) array or None.
    """

    request_id: str
    ts: float
    model: str
    version: str
    arm: str
    records: Sequence[Any]
    labels: Sequence[Any]
    probabilities: np.ndarray | None
    classes: Sequence[str]
    latency_ms: float
    rows: Sequence[int] | None = None


@dataclass
class _Rejected:
    request_id: str
    ts: float
    route: str
    status: int
    detail: str


_STOP = object()


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


class PredictionLog:
    """A background writer for the prediction log.

    Args:
        path: the SQLite file; its folder is created.

    Raises:
        ServingError: the file cannot be created or is not a prediction log.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = _connect(self.path)
            connection.executescript(_SCHEMA)
            found = connection.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if found is None:
                connection.execute(
                    "INSERT INTO meta (key, value) VALUES ('format', ?)", (str(FORMAT_VERSION),)
                )
            elif int(found[0]) > FORMAT_VERSION:
                raise ServingError(
                    f"{self.path}: prediction log format {found[0]} is newer than this cairn "
                    f"reads ({FORMAT_VERSION}); upgrade cairn or use another --log file"
                )
            connection.commit()
            connection.close()
        except sqlite3.DatabaseError as error:
            raise ServingError(
                f"{self.path}: cannot open the prediction log ({error}); pass another file "
                "with --log, or --no-log"
            ) from None
        except OSError as error:
            raise ServingError(f"{self.path}: cannot create the prediction log ({error})") from None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.accepted = 0
        self.written = 0
        self.failed = 0
        self._lock = threading.Lock()

    # -- producer side (request path) -------------------------------------
    def start(self) -> PredictionLog:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cairn-log", daemon=True)
            self._thread.start()
        return self

    def write(self, entry: LogEntry) -> None:
        """Queue an entry; never blocks."""
        self.accepted += len(entry.records)
        self._queue.put(entry)

    def reject(self, request_id: str, ts: float, route: str, status: int, detail: str) -> None:
        """Queue a record of a request answered with an error; never blocks."""
        self._queue.put(_Rejected(request_id, ts, route, status, detail[:2000]))

    @property
    def pending(self) -> int:
        """Records accepted but not yet written (or failed)."""
        return max(0, self.accepted - self.written - self.failed)

    def close(self, timeout: float | None = 60.0) -> None:
        """Write everything queued, then stop the writer."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    # -- writer thread -----------------------------------------------------
    def _run(self) -> None:
        import orjson

        connection = _connect(self.path)
        try:
            stop = False
            while not stop:
                batch = [self._queue.get()]
                while len(batch) < _BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if any(item is _STOP for item in batch):
                    stop = True
                    batch = [item for item in batch if item is not _STOP]
                    # drain whatever arrived with the stop signal
                    while True:
                        try:
                            item = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if item is not _STOP:
                            batch.append(item)
                if batch:
                    self._write(connection, batch, orjson)
        finally:
            connection.close()

    def _write(self, connection: sqlite3.Connection, batch: list[Any], orjson: Any) -> None:
        rows: list[tuple[Any, ...]] = []
        rejected: list[tuple[Any, ...]] = []
        count = 0
        for k, item in enumerate(batch):
            if isinstance(item, _Rejected):
                rejected.append((item.request_id, item.ts, item.route, item.status, item.detail))
                continue
            count += len(item.records)
            rows.extend(_rows(item, orjson))
            if k % 50 == 49:
                time.sleep(0)  # hand the GIL back to the event loop: requests come first
        for attempt in range(3):
            try:
                with connection:
                    if rows:
                        connection.executemany(
                            "INSERT INTO predictions (request_id, row, ts, model, version, arm, "
                            "inputs, prediction, probabilities, latency_ms) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            rows,
                        )
                    if rejected:
                        connection.executemany(
                            "INSERT INTO rejected (request_id, ts, route, status, detail) "
                            "VALUES (?, ?, ?, ?, ?)",
                            rejected,
                        )
                with self._lock:
                    self.written += count
                return
            except sqlite3.OperationalError as error:  # locked by a reader or a full disk
                if attempt == 2:
                    _logger.error("prediction log: %d row(s) not written: %s", count, error)
                    with self._lock:
                        self.failed += count
                    return
                time.sleep(0.2 * (attempt + 1))


def _rows(entry: LogEntry, orjson: Any) -> list[tuple[Any, ...]]:
    out = []
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    positions = entry.rows if entry.rows is not None else range(len(entry.records))
    for k, (position, record, label) in enumerate(
        zip(positions, entry.records, entry.labels, strict=True)
    ):
        probabilities = None
        if entry.probabilities is not None:
            probabilities = orjson.dumps(
                dict(zip(entry.classes, entry.probabilities[k].tolist(), strict=True)),
                option=options,
            ).decode()
        try:
            inputs = orjson.dumps(record, option=options).decode()
        except TypeError:  # values orjson cannot write (e.g. huge integers)
            inputs = orjson.dumps({str(k): str(v) for k, v in record.items()}).decode()
        out.append(
            (
                entry.request_id,
                int(position),
                entry.ts,
                entry.model,
                entry.version,
                entry.arm,
                inputs,
                orjson.dumps(label, option=options).decode(),
                probabilities,
                entry.latency_ms,
            )
        )
    return out


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str | datetime | None, *, now: datetime | None = None) -> datetime | None:
    """A point in time from ISO text (``2026-03-01``, ``2026-03-01T12:00``) or a
    duration before now (``30m``, ``24h``, ``7d``, ``2w``); naive times are UTC.

    Raises:
        DataError: the text is neither.
    """
    if text is None or isinstance(text, datetime):
        if isinstance(text, datetime) and text.tzinfo is None:
            return text.replace(tzinfo=UTC)
        return text
    match = _RELATIVE.match(text)
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DataError(
            f"time {text!r} is neither an ISO date-time (2026-03-01, 2026-03-01T12:00) "
            "nor a duration before now (30m, 24h, 7d, 2w)"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _open_for_reading(path: str | Path) -> sqlite3.Connection:
    target = Path(path)
    if not target.exists():
        raise DataError(
            f"{target}: no prediction log here; the server writes one to "
            f"{DEFAULT_LOG} in the folder it was started from (or where --log points)"
        )
    try:
        connection = sqlite3.connect(f"file:{target}?mode=ro", uri=True, timeout=30.0)
        connection.execute("SELECT 1 FROM predictions LIMIT 1")
    except sqlite3.DatabaseError as error:
        raise DataError(f"{target}: not a cairn prediction log ({error})") from None
    return connection


def _where(since: Any, until: Any, filters: dict[str, str | None]) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    start, end = parse_time(since), parse_time(until)
    if start is not None:
        clauses.append("ts >= ?")
        params.append(start.timestamp())
    if end is not None:
        clauses.append("ts < ?")
        params.append(end.timestamp())
    for column, value in filters.items():
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def read_log(
    path: str | Path,
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    model: str | None = None,
    version: str | None = None,
    arm: str | None = None,
) -> Any:
    """The logged predictions as a DataFrame, oldest first.

    Args:
        path: the log file (see :func:`default_log_path`).
        since: keep rows at or after this time (ISO text, a datetime, or a
            duration before now such as ``"24h"``).
        until: keep rows before this time.
        model, version, arm: keep only rows with these values.

    Returns:
        One row per scored record: one column per input (as sent), then
        ``request_id``, ``row``, ``ts`` (UTC), ``model``, ``version``, ``arm``,
        ``latency_ms``, ``prediction`` and one ``proba_<class>`` per class.

    Raises:
        DataError: the file is missing or not a prediction log, or a time is malformed.
    """
    import orjson
    import pandas as pd

    where, params = _where(since, until, {"model": model, "version": version, "arm": arm})
    connection = _open_for_reading(path)
    try:
        rows = connection.execute(
            "SELECT request_id, row, ts, model, version, arm, inputs, prediction, "
            f"probabilities, latency_ms FROM predictions{where} ORDER BY id",
            params,
        ).fetchall()
    finally:
        connection.close()
    inputs = pd.DataFrame.from_records([orjson.loads(r[6]) for r in rows])
    meta = pd.DataFrame(
        {
            "request_id": pd.Series([r[0] for r in rows], dtype="str"),
            "row": pd.Series([r[1] for r in rows], dtype="int64"),
            "ts": pd.to_datetime(
                pd.Series([r[2] for r in rows], dtype="float64"), unit="s", utc=True
            ),
            "model": pd.Series([r[3] for r in rows], dtype="str"),
            "version": pd.Series([r[4] for r in rows], dtype="str"),
            "arm": pd.Series([r[5] for r in rows], dtype="str"),
            "latency_ms": pd.Series([r[9] for r in rows], dtype="float64"),
            "prediction": pd.Series(
                [orjson.loads(r[7]) if r[7] is not None else None for r in rows], dtype=object
            ),
        }
    )
    probabilities = [orjson.loads(r[8]) if r[8] else {} for r in rows]
    labels = sorted({label for p in probabilities for label in p}, key=_class_key)
    for label in labels:
        meta[f"proba_{label}"] = [p.get(label, np.nan) for p in probabilities]
    if len(rows):
        meta["prediction"] = pd.Series(list(meta["prediction"])).infer_objects()
    taken = set(meta.columns)
    inputs = inputs.rename(columns={c: f"input.{c}" for c in inputs.columns if c in taken})
    return pd.concat([inputs, meta], axis=1)


def _class_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def read_rejected(
    path: str | Path,
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
) -> Any:
    """Requests answered with an error: request_id, ts (UTC), route, status, detail."""
    import pandas as pd

    where, params = _where(since, until, {})
    connection = _open_for_reading(path)
    try:
        frame = pd.read_sql_query(
            f"SELECT request_id, ts, route, status, detail FROM rejected{where} ORDER BY id",
            connection,
            params=params,
        )
    finally:
        connection.close()
    frame["ts"] = pd.to_datetime(frame["ts"], unit="s", utc=True)
    return frame


def export_log(
    path: str | Path,
    output: str | Path,
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    model: str | None = None,
    version: str | None = None,
    arm: str | None = None,
) -> int:
    """Write :func:`read_log`'s frame to ``output`` (.parquet or .csv) atomically.

    Returns:
        The number of rows written.

    Raises:
        DataError: unknown output format, unreadable log or malformed time.
    """
    target = Path(output)
    suffix = target.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise DataError(f"-o {target}: use a .parquet or .csv file name")
    frame = read_log(path, since=since, until=until, model=model, version=version, arm=arm)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    if suffix == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        out = frame.copy()
        for column in out.columns:
            if out[column].dtype == object:
                # mixed JSON values (e.g. numbers and text in one input) as text
                kinds = {type(v) for v in out[column].dropna()}
                if len(kinds) > 1:
                    out[column] = out[column].map(lambda v: None if v is None else str(v))
        out.to_parquet(tmp, index=False)
    tmp.replace(target)
    return len(frame)


def prune_log(path: str | Path, before: str | datetime) -> int:
    """Delete logged predictions and rejections older than ``before``
    (ISO time or a duration ago such as ``"30d"``); returns how many
    predictions were deleted.

    Safe while a server writes: SQLite serialises the writers.

    Raises:
        DataError: the file is not a prediction log, or the time is malformed.
    """
    cutoff = parse_time(before)
    assert cutoff is not None
    _open_for_reading(path).close()
    connection = sqlite3.connect(str(path), timeout=30.0)
    try:
        with connection:
            deleted = connection.execute(
                "DELETE FROM predictions WHERE ts < ?", (cutoff.timestamp(),)
            ).rowcount
            connection.execute("DELETE FROM rejected WHERE ts < ?", (cutoff.timestamp(),))
    finally:
        connection.close()
    return int(deleted)


def log_counts(path: str | Path) -> dict[str, int]:
    """Rows per arm in the log (a quick summary)."""
    connection = _open_for_reading(path)
    try:
        return dict(connection.execute("SELECT arm, COUNT(*) FROM predictions GROUP BY arm"))
    finally:
        connection.close()
