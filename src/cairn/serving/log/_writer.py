"""Writing the prediction log: a queue on the request path, a background
thread that writes batches."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cairn.exceptions import CairnError, ServingError
from cairn.serving.log._database import (
    LogConnection,
    LogTarget,
    as_log_target,
    connect,
    is_postgres,
    log_display,
)
from cairn.serving.log._schema import (
    FORMAT_VERSION,
    create_tables,
    escape_text,
    escaped,
)

_BATCH = 2000
#: Records waiting for the writer before new ones are dropped (and counted).
MAX_PENDING = 200_000
#: Rejected requests kept; older ones are deleted as new ones come.
MAX_REJECTED = 100_000
_DETAIL_CHARS = 2000
_BODY_CHARS = 1000
#: Seconds the writer keeps retrying a batch while a PostgreSQL log is
#: unreachable (a restart, a fail-over) before counting its rows as failed.
RECONNECT_WINDOW_S = 60.0
_logger = logging.getLogger("cairn.serving.log")


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


class PredictionLog:
    """A background writer for the prediction log.

    Args:
        path: the SQLite file (its folder is created), or a ``postgresql://``
            URL: several server processes or hosts then write one log; the
            tables are created on first use.
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
        path: LogTarget,
        *,
        max_pending: int = MAX_PENDING,
        max_rejected: int = MAX_REJECTED,
    ) -> None:
        self.target = as_log_target(path)
        self.path = self.target if isinstance(self.target, Path) else None
        self.max_pending = max_pending
        self.max_rejected = max_rejected
        self._prepare()
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
        self._connection: LogConnection | None = None  # the writer thread's own

    def _prepare(self) -> None:
        """Create the tables on first use and check the format."""
        where = log_display(self.target)
        connection: LogConnection | None = None
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = connect(self.target)
            with connection.transaction():
                create_tables(connection)
                found = connection.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
                if found is None:
                    connection.execute(
                        "INSERT INTO meta (key, value) VALUES ('format', ?)",
                        (str(FORMAT_VERSION),),
                    )
            if found is not None and int(found[0]) > FORMAT_VERSION:
                raise ServingError(
                    f"{where}: prediction log format {found[0]} is newer than this cairn "
                    f"reads ({FORMAT_VERSION}); upgrade cairn or use another --log"
                )
        except CairnError:
            raise
        except OSError as error:
            raise ServingError(f"{where}: cannot create the prediction log ({error})") from None
        except Exception as error:  # the driver's own errors: sqlite3 or psycopg
            remedy = (
                "check serving.log_url and that the database server runs"
                if is_postgres(self.target)
                else "pass another file with --log"
            )
            raise ServingError(
                f"{where}: cannot open the prediction log ({_first_line(error)}); "
                f"{remedy}, or --no-log"
            ) from None
        finally:
            if connection is not None:
                connection.close()

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
                        self._write(batch, orjson)
                    except Exception as error:  # the writer must outlive any batch
                        self._lost(batch, error)
        except BaseException as error:
            self.last_error = f"the log writer stopped: {error!r}"
            _logger.exception("prediction log: the writer stopped")
            raise
        finally:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _connected(self) -> LogConnection:
        if self._connection is None:
            self._connection = connect(self.target)
        return self._connection

    def _reconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _lost(self, batch: list[Any], error: Exception) -> None:
        count = sum(len(item.records) for item in batch if isinstance(item, LogEntry))
        self._fail(count, f"{count} record(s) not written: {error!r}")

    def _fail(self, count: int, reason: str) -> None:
        _logger.error("prediction log: %s", reason)
        with self._lock:
            self.failed += count
            self.last_error = reason

    def _write(self, batch: list[Any], orjson: Any) -> None:
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
        # SQLite: a few short waits for a lock. PostgreSQL: reconnect and retry
        # the whole batch (one transaction, so never half written) for up to
        # RECONNECT_WINDOW_S while the server is away.
        deadline = time.monotonic() + (RECONNECT_WINDOW_S if is_postgres(self.target) else 0.0)
        attempt = 0
        while True:
            attempt += 1
            connection: LogConnection | None = None
            try:
                connection = self._connected()
                with connection.transaction():
                    if rows:
                        connection.insert_rows("predictions", _PREDICTION_COLUMNS, rows)
                    if rejected:
                        connection.insert_rows("rejected", _REJECTED_COLUMNS, rejected)
                        connection.execute(
                            "DELETE FROM rejected WHERE id <= (SELECT MAX(id) FROM rejected) - ?",
                            (self.max_rejected,),
                        )
                with self._lock:
                    self.written += count
                return
            except Exception as error:
                if connection is None or isinstance(error, connection.transient):
                    # locked by a reader, a full disk, or the database server away
                    if attempt >= 3 and time.monotonic() >= deadline:
                        self._fail(count, f"{count} row(s) not written: {_first_line(error)}")
                        return
                    self.last_error = f"retrying a batch: {_first_line(error)}"
                    if connection is not None and connection.postgres:
                        self._reconnect()
                    time.sleep(min(0.2 * attempt, 2.0))
                    continue
                if isinstance(error, connection.errors):  # one bad row: the others one by one
                    self._one_by_one(connection, rows, rejected)
                    return
                raise

    def _one_by_one(
        self,
        connection: LogConnection,
        rows: list[tuple[Any, ...]],
        rejected: list[tuple[Any, ...]],
    ) -> None:
        for statement, items in ((_INSERT_PREDICTION, rows), (_INSERT_REJECTED, rejected)):
            for item in items:
                try:
                    with connection.transaction():
                        connection.execute(statement, item)
                except connection.errors as error:
                    if statement is _INSERT_PREDICTION:
                        self._fail(1, f"request {item[0]} row {item[1]} not written: {error}")
                    continue
                if statement is _INSERT_PREDICTION:
                    with self._lock:
                        self.written += 1


_PREDICTION_COLUMNS = (
    "request_id",
    "row",
    "ts",
    "model",
    "version",
    "arm",
    "inputs",
    "prediction",
    "probabilities",
    "latency_ms",
    "synthetic",
)
_REJECTED_COLUMNS = ("request_id", "ts", "route", "status", "detail", "body", "synthetic")
_INSERT_PREDICTION = (
    f"INSERT INTO predictions ({', '.join(_PREDICTION_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_PREDICTION_COLUMNS))})"
)
_INSERT_REJECTED = (
    f"INSERT INTO rejected ({', '.join(_REJECTED_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_REJECTED_COLUMNS))})"
)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _json_text(value: Any, orjson: Any, options: int) -> str:
    try:
        return str(orjson.dumps(value, option=options).decode())
    except TypeError:  # invalid Unicode, huge integers, odd types: stored escaped
        return str(orjson.dumps(escaped(value), option=options).decode())


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
