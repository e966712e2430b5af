"""The prediction log: every scored record, written off the request path.

Format
------
A SQLite database (default ``<project>/.cairn/predictions.db``) in WAL mode,
so readers never block the server; or a PostgreSQL database
(``serving.log_url = "postgresql://..."``) that several server processes or
hosts write at once, its tables created on first use. Each server process
holds one connection to it. Table ``predictions`` holds one row per scored
record::

    id             INTEGER PRIMARY KEY
    request_id     TEXT     the request's id (X-Request-ID header, or generated)
    row            INTEGER  the record's position in the request
    ts             REAL     when the request arrived, seconds since the epoch (UTC)
    model          TEXT     registered model name
    version        TEXT     registry version (or the bundle's run id)
    arm            TEXT     champion, challenger or shadow
    inputs         TEXT     the record as the model read it (values in the schema's
                            types), a JSON object; a column holding personal data
                            is stored as its keyed hash unless the spec says
                            privacy = "keep" for it
    prediction     TEXT     the class label or value, JSON
    probabilities  TEXT     {"class": probability, ...} as JSON, NULL for regression
    latency_ms     REAL     time in the server for the whole request
    synthetic      INTEGER  1 for load-test traffic (header ``X-Cairn-Synthetic: 1``)

Table ``rejected`` holds requests answered with an error (request_id, ts,
route, status, detail, the start of the body (left out when the model has
personal-data columns), synthetic), at most
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
queue before returning, so a clean shutdown loses nothing. Each batch is one
transaction: it is written whole or not at all. While a PostgreSQL log is
unreachable the writer reconnects and retries the batch for up to
``RECONNECT_WINDOW_S`` seconds before counting its rows as failed.
"""

from __future__ import annotations

from cairn.serving.log._database import LogTarget, as_log_target, log_display
from cairn.serving.log._reader import (
    export_log,
    log_counts,
    parse_time,
    prune_log,
    read_log,
    read_rejected,
)
from cairn.serving.log._schema import DEFAULT_LOG, FORMAT_VERSION, default_log_path, escape_text
from cairn.serving.log._writer import (
    MAX_PENDING,
    MAX_REJECTED,
    RECONNECT_WINDOW_S,
    LogEntry,
    PredictionLog,
)

__all__ = [
    "DEFAULT_LOG",
    "FORMAT_VERSION",
    "MAX_PENDING",
    "MAX_REJECTED",
    "RECONNECT_WINDOW_S",
    "LogEntry",
    "LogTarget",
    "PredictionLog",
    "as_log_target",
    "default_log_path",
    "escape_text",
    "export_log",
    "log_counts",
    "log_display",
    "parse_time",
    "prune_log",
    "read_log",
    "read_rejected",
]
