"""Reading the prediction log: DataFrames, exports, pruning."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cairn._io import atomic_write_bytes
from cairn.exceptions import CairnError, DataError
from cairn.serving.log._database import (
    LogConnection,
    LogTarget,
    as_log_target,
    connect,
    log_display,
)
from cairn.serving.log._schema import DEFAULT_LOG, table_columns

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


def _open_for_reading(path: LogTarget, *, read_only: bool = True) -> LogConnection:
    target = as_log_target(path)
    if isinstance(target, Path) and not target.exists():
        raise DataError(
            f"{target}: no prediction log here; the server writes one to "
            f"{DEFAULT_LOG} in the folder it was started from (or where --log points)"
        )
    try:
        connection = connect(target, read_only=read_only)
    except CairnError:
        raise
    except Exception as error:  # the driver's: sqlite3 or psycopg
        raise DataError(
            f"{log_display(target)}: cannot open the prediction log ({_first_line(error)}); "
            "check --log or serving.log_url"
        ) from None
    try:
        connection.execute("SELECT 1 FROM predictions LIMIT 1")
    except connection.errors as error:
        connection.close()
        raise DataError(
            f"{log_display(target)}: not a cairn prediction log ({_first_line(error)}); a server "
            "creates its tables when it starts logging"
        ) from None
    return connection


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


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
    path: LogTarget,
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
        path: the log file (see :func:`default_log_path`), or the
            ``postgresql://`` URL of a shared log.
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
        marked = "synthetic" in table_columns(connection, "predictions")
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
    path: LogTarget,
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
        present = table_columns(connection, "rejected")
        marked = "synthetic" in present
        where, params = _where(since, until, {}, real_only=marked and not include_synthetic)
        body = "body" if "body" in present else "NULL AS body"
        rows = connection.execute(
            f"SELECT request_id, ts, route, status, detail, {body} FROM rejected{where} "
            "ORDER BY id",
            params,
        ).fetchall()
    finally:
        connection.close()
    columns = ["request_id", "ts", "route", "status", "detail", "body"]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    frame["ts"] = pd.to_datetime(frame["ts"].astype("float64"), unit="s", utc=True)
    frame["status"] = frame["status"].astype("int64")
    return frame


def export_log(
    path: LogTarget,
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
    if suffix == ".csv":
        data = frame.to_csv(index=False).encode("utf-8")
    else:
        out = frame.copy()
        for column in out.columns:
            if out[column].dtype == object:
                # mixed JSON values (e.g. numbers and text in one input) as text
                kinds = {type(v) for v in out[column].dropna()}
                if len(kinds) > 1:
                    out[column] = out[column].map(lambda v: None if v is None else str(v))
        data = out.to_parquet(None, index=False)
    atomic_write_bytes(target, data)
    return len(frame)


def prune_log(path: LogTarget, before: str | datetime) -> int:
    """Delete logged predictions and rejections older than ``before``
    (ISO time or a duration ago such as ``"30d"``); returns how many
    predictions were deleted.

    Safe while servers write: the database serialises the writers, and the
    deletion is one transaction.

    Raises:
        DataError: the file is not a prediction log, or the time is malformed.
    """
    cutoff = parse_time(before)
    assert cutoff is not None
    connection = _open_for_reading(path, read_only=False)
    try:
        with connection.transaction():
            deleted = connection.execute(
                "DELETE FROM predictions WHERE ts < ?", (cutoff.timestamp(),)
            ).rowcount
            connection.execute("DELETE FROM rejected WHERE ts < ?", (cutoff.timestamp(),))
    finally:
        connection.close()
    return int(deleted)


def log_counts(path: LogTarget) -> dict[str, int]:
    """Rows per arm in the log (a quick summary)."""
    connection = _open_for_reading(path)
    try:
        rows = connection.execute("SELECT arm, COUNT(*) FROM predictions GROUP BY arm")
        return {str(arm): int(count) for arm, count in rows}
    finally:
        connection.close()
