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
    inputs         TEXT     the record as the model read it (values in the schema's
                            types), a JSON object
    prediction     TEXT     the class label or value, JSON
    probabilities  TEXT     {"class": probability, ...} as JSON, NULL for regression
    latency_ms     REAL     time in the server for the whole request
    synthetic      INTEGER  1 for load-test traffic (header ``X-Cairn-Synthetic: 1``)

Table ``rejected`` holds requests answered with an error (request_id, ts,
route, status, detail, the start of the body, synthetic), at most
``max_rejected`` rows (the oldest go first), and table ``meta`` the format
version. A shadow model's rows share the request id and row of the
champion's rows they shadow. Text that is not valid Unicode (a lone
surrogate sent as ``"\\ud800"``) is stored escaped, as ``\\ud800``.

Reading
-------
:func:`read_log` returns a DataFrame with one row per logged record: one
column per input, then ``request_id``, ``row``, ``ts`` (UTC
timestamps), ``model``, ``version``, ``arm``, ``latency_ms``, ``prediction``
and one ``proba_<class>`` per class (classification). An input whose name is
one of those gets the prefix ``input.`` instead. Synthetic (load-test) rows
are left out unless ``include_synthetic=True``, which adds a ``synthetic``
column. :func:`export_log` writes it to Parquet or CSV (``cairn logs
export``), and :func:`read_rejected` the rejected requests.

Writing
-------
:class:`PredictionLog` takes entries on an in-memory queue (a request never
waits on the disk) and a background thread writes them in batches. The queue
holds at most ``max_pending`` records: past that, entries are dropped and
counted (``dropped``), never queued without bound. A record that cannot be
written is counted in ``failed`` and noted in ``rejected`` with the reason;
the writer itself survives any record. :meth:`PredictionLog.close` drains the
queue before returning, so a clean shutdown loses nothing.
"""

from __future__ import annotations

import logging
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cairn.exceptions import DataError, ServingError

__all__ = [
    "DEFAULT_LOG",
    "FORMAT_VERSION",
    "MAX_PENDING",
    "MAX_REJECTED",
    "LogEntry",
    "PredictionLog",
    "default_log_path",
    "escape_text",
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
#: Records waiting for the writer before new ones are dropped (and counted).
MAX_PENDING = 200_000
#: Rejected requests kept; older ones are deleted as new ones come.
MAX_REJECTED = 100_000
_DETAIL_CHARS = 2000
_BODY_CHARS = 1000
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


@dataclass
class LogEntry:
    """One scored request (or one arm of it).

    ``records`` are the JSON objects as received, ``labels`` the predictions,
    ``probabilities`` a (records, classes) array or None. ``typed``, when
    given, turns a record into the values the model read (run by the writer
    thread, off the request path); ``synthetic`` marks load-test traffic.
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
    typed: Callable[[Any], Any] | None = None
    synthetic: bool = False


@dataclass
class _Rejected:
    request_id: str
    ts: float
    route: str
    status: int
    detail: str
    body: str | None = None
    synthetic: bool = False


_STOP = object()


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def _columns(connection: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    for table, added in _ADDED_COLUMNS.items():
        present = _columns(connection, table)
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


def _escaped(value: Any) -> Any:
    """A JSON-like value with every string valid Unicode and every key a string."""
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, dict):
        return {escape_text(str(k)): _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    if isinstance(value, bool | float) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else str(value)
    return escape_text(str(value))


class PredictionLog:
    """A background writer for the prediction log.

    Args:
        path: the SQLite file; its folder is created.
        max_pending: records queued before new ones are dropped (and counted).
        max_rejected: rejected requests kept in the log.

    Attributes:
        accepted, written, failed, dropped: record counts; ``failed`` are
            records the writer could not store, ``dropped`` those (and
            rejected requests) refused because the queue was full.
        last_error: the writer's latest failure, or None.

    Raises:
        ServingError: the file cannot be created or is not a prediction log.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_pending: int = MAX_PENDING,
        max_rejected: int = MAX_REJECTED,
    ) -> None:
        self.path = Path(path)
        self.max_pending = max_pending
        self.max_rejected = max_rejected
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = _connect(self.path)
            connection.executescript(_SCHEMA)
            _add_missing_columns(connection)
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
        self.dropped = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._warned_full = 0.0
        self._rejections_queued = 0

    # -- producer side (request path) -------------------------------------
    def start(self) -> PredictionLog:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cairn-log", daemon=True)
            self._thread.start()
        return self

    def write(self, entry: LogEntry) -> bool:
        """Queue an entry; never blocks. False when the queue is full and the
        entry was dropped (counted in ``dropped``)."""
        n = len(entry.records)
        if self._full(n):
            return False
        self.accepted += n
        self._queue.put(entry)
        return True

    def _full(self, n: int) -> bool:
        """True (and ``n`` counted as dropped) when ``n`` more would overfill the queue."""
        if self.pending + self._rejections_queued + n <= self.max_pending:
            return False
        self.dropped += n
        now = time.monotonic()
        if now - self._warned_full > 10.0:  # one line per 10 s, not one per request
            self._warned_full = now
            _logger.error(
                "prediction log: %d entries waiting for the disk; dropping new ones "
                "(%d dropped so far)",
                self.pending + self._rejections_queued,
                self.dropped,
            )
        return True

    def reject(
        self,
        request_id: str,
        ts: float,
        route: str,
        status: int,
        detail: str,
        *,
        body: bytes | None = None,
        synthetic: bool = False,
    ) -> None:
        """Queue a record of a request answered with an error; never blocks.

        ``body``: its first bytes are kept with the reason.
        """
        if self._full(1):
            return
        excerpt = None
        if body:
            excerpt = body[:_BODY_CHARS].decode("utf-8", "backslashreplace")
            if len(body) > _BODY_CHARS:
                excerpt += f"... ({len(body)} bytes)"
        with self._lock:
            self._rejections_queued += 1
        self._queue.put(
            _Rejected(request_id, ts, route, status, detail[:_DETAIL_CHARS], excerpt, synthetic)
        )

    @property
    def pending(self) -> int:
        """Records accepted but not yet written (or failed)."""
        return max(0, self.accepted - self.written - self.failed)

    @property
    def healthy(self) -> bool:
        """The writer thread runs (or was never started)."""
        return self._thread is None or self._thread.is_alive()

    def counts(self) -> dict[str, float]:
        """Records by state: accepted, written, failed, dropped, pending."""
        return {
            "accepted": float(self.accepted),
            "written": float(self.written),
            "failed": float(self.failed),
            "dropped": float(self.dropped),
            "pending": float(self.pending),
        }

    def status(self) -> dict[str, Any]:
        """What /ready says about the log: ok, counts and the latest error."""
        ok = self.healthy and self.failed == 0 and self.dropped == 0
        return {
            "ok": ok,
            "writer": "running" if self.healthy else "stopped",
            **{state: int(n) for state, n in self.counts().items()},
            "last_error": self.last_error,
        }

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
                    try:
                        self._write(connection, batch, orjson)
                    except Exception as error:  # the writer must outlive any batch
                        self._lost(batch, error)
        except BaseException as error:
            self.last_error = f"the log writer stopped: {error!r}"
            _logger.exception("prediction log: the writer stopped")
            raise
        finally:
            connection.close()

    def _lost(self, batch: list[Any], error: Exception) -> None:
        count = sum(len(item.records) for item in batch if isinstance(item, LogEntry))
        self._fail(count, f"{count} record(s) not written: {error!r}")

    def _fail(self, count: int, reason: str) -> None:
        _logger.error("prediction log: %s", reason)
        with self._lock:
            self.failed += count
            self.last_error = reason

    def _write(self, connection: sqlite3.Connection, batch: list[Any], orjson: Any) -> None:
        rows: list[tuple[Any, ...]] = []
        rejected: list[tuple[Any, ...]] = []
        count = 0
        taken = sum(isinstance(item, _Rejected) for item in batch)
        with self._lock:
            self._rejections_queued -= taken
        for k, item in enumerate(batch):
            if isinstance(item, _Rejected):
                rejected.append(
                    (
                        escape_text(item.request_id),
                        item.ts,
                        item.route,
                        item.status,
                        escape_text(item.detail),
                        item.body,
                        int(item.synthetic),
                    )
                )
                continue
            try:
                rows.extend(_rows(item, orjson))
            except Exception as error:  # keep the reason where `logs export --rejected` shows it
                reason = f"not logged: {error!r}"
                self._fail(len(item.records), f"request {item.request_id}: {reason}")
                rejected.append(
                    (
                        escape_text(str(item.request_id)),
                        item.ts,
                        "log",
                        0,
                        escape_text(reason)[:_DETAIL_CHARS],
                        None,
                        int(item.synthetic),
                    )
                )
                continue
            count += len(item.records)
            if k % 50 == 49:
                time.sleep(0)  # hand the GIL back to the event loop: requests come first
        for attempt in range(3):
            try:
                with connection:
                    if rows:
                        connection.executemany(_INSERT_PREDICTION, rows)
                    if rejected:
                        connection.executemany(_INSERT_REJECTED, rejected)
                        connection.execute(
                            "DELETE FROM rejected WHERE id <= (SELECT MAX(id) FROM rejected) - ?",
                            (self.max_rejected,),
                        )
                with self._lock:
                    self.written += count
                return
            except sqlite3.OperationalError as error:  # locked by a reader or a full disk
                if attempt == 2:
                    self._fail(count, f"{count} row(s) not written: {error}")
                    return
                time.sleep(0.2 * (attempt + 1))
            except sqlite3.Error:  # one bad row: write the others one by one
                self._one_by_one(connection, rows, rejected)
                return

    def _one_by_one(
        self,
        connection: sqlite3.Connection,
        rows: list[tuple[Any, ...]],
        rejected: list[tuple[Any, ...]],
    ) -> None:
        for statement, items in ((_INSERT_PREDICTION, rows), (_INSERT_REJECTED, rejected)):
            for item in items:
                try:
                    with connection:
                        connection.execute(statement, item)
                except sqlite3.Error as error:
                    if statement is _INSERT_PREDICTION:
                        self._fail(1, f"request {item[0]} row {item[1]} not written: {error}")
                    continue
                if statement is _INSERT_PREDICTION:
                    with self._lock:
                        self.written += 1


_INSERT_PREDICTION = (
    "INSERT INTO predictions (request_id, row, ts, model, version, arm, inputs, prediction, "
    "probabilities, latency_ms, synthetic) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_REJECTED = (
    "INSERT INTO rejected (request_id, ts, route, status, detail, body, synthetic) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _json_text(value: Any, orjson: Any, options: int) -> str:
    try:
        return str(orjson.dumps(value, option=options).decode())
    except TypeError:  # invalid Unicode, huge integers, odd types: stored escaped
        return str(orjson.dumps(_escaped(value), option=options).decode())


def _rows(entry: LogEntry, orjson: Any) -> list[tuple[Any, ...]]:
    out = []
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    positions = entry.rows if entry.rows is not None else range(len(entry.records))
    synthetic = int(entry.synthetic)
    for k, (position, record, label) in enumerate(
        zip(positions, entry.records, entry.labels, strict=True)
    ):
        probabilities = None
        if entry.probabilities is not None:
            probabilities = orjson.dumps(
                dict(zip(entry.classes, entry.probabilities[k].tolist(), strict=True)),
                option=options,
            ).decode()
        typed = record
        if entry.typed is not None:
            try:
                typed = entry.typed(record)
            except Exception:  # the record was scored, so log it as sent
                typed = record
        out.append(
            (
                entry.request_id,
                int(position),
                entry.ts,
                entry.model,
                entry.version,
                entry.arm,
                _json_text(typed, orjson, options),
                _json_text(label, orjson, options),
                probabilities,
                entry.latency_ms,
                synthetic,
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


def _where(
    since: Any, until: Any, filters: dict[str, str | None], *, real_only: bool = False
) -> tuple[str, list[Any]]:
    clauses: list[str] = ["synthetic = 0"] if real_only else []
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
    include_synthetic: bool = False,
) -> Any:
    """The logged predictions as a DataFrame, oldest first.

    Args:
        path: the log file (see :func:`default_log_path`).
        since: keep rows at or after this time (ISO text, a datetime, or a
            duration before now such as ``"24h"``).
        until: keep rows before this time.
        model, version, arm: keep only rows with these values.
        include_synthetic: keep load-test rows too (sent with the header
            ``X-Cairn-Synthetic: 1``), and add a boolean ``synthetic`` column.

    Returns:
        One row per scored record: one column per input (in the schema's
        types), then ``request_id``, ``row``, ``ts`` (UTC), ``model``,
        ``version``, ``arm``, ``latency_ms``, ``prediction`` and one
        ``proba_<class>`` per class.

    Raises:
        DataError: the file is missing or not a prediction log, or a time is malformed.
    """
    import orjson
    import pandas as pd

    connection = _open_for_reading(path)
    try:
        marked = "synthetic" in _columns(connection, "predictions")
        where, params = _where(
            since,
            until,
            {"model": model, "version": version, "arm": arm},
            real_only=marked and not include_synthetic,
        )
        flag = "synthetic" if marked else "0"
        rows = connection.execute(
            "SELECT request_id, row, ts, model, version, arm, inputs, prediction, "
            f"probabilities, latency_ms, {flag} FROM predictions{where} ORDER BY id",
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
    if include_synthetic:
        meta["synthetic"] = pd.Series([bool(r[10]) for r in rows], dtype="bool")
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
    include_synthetic: bool = False,
) -> Any:
    """Requests answered with an error, oldest first: request_id, ts (UTC),
    route, status, detail (the reason) and body (its first 1000 bytes).

    Status 0 on route ``log`` marks a scored request the log could not store.
    Synthetic (load-test) requests are left out unless ``include_synthetic``.
    """
    import pandas as pd

    connection = _open_for_reading(path)
    try:
        present = _columns(connection, "rejected")
        marked = "synthetic" in present
        where, params = _where(since, until, {}, real_only=marked and not include_synthetic)
        body = "body" if "body" in present else "NULL AS body"
        frame = pd.read_sql_query(
            f"SELECT request_id, ts, route, status, detail, {body} FROM rejected{where} "
            "ORDER BY id",
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
    include_synthetic: bool = False,
    rejected: bool = False,
) -> int:
    """Write :func:`read_log`'s frame to ``output`` (.parquet or .csv) atomically.

    Args:
        include_synthetic: keep load-test rows (with a ``synthetic`` column).
        rejected: write the rejected requests (:func:`read_rejected`) instead.

    Returns:
        The number of rows written.

    Raises:
        DataError: unknown output format, unreadable log or malformed time.
    """
    target = Path(output)
    suffix = target.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise DataError(f"-o {target}: use a .parquet or .csv file name")
    if rejected:
        frame = read_rejected(path, since=since, until=until, include_synthetic=include_synthetic)
    else:
        frame = read_log(
            path,
            since=since,
            until=until,
            model=model,
            version=version,
            arm=arm,
            include_synthetic=include_synthetic,
        )
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
