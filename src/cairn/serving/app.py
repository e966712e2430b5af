"""The HTTP API: FastAPI for the documented routes, a lean ASGI path for scoring.

Routes::

    POST /predict       {"records": [{...}, ...]} -> predictions, probabilities, model, request_id
    POST /invocations   what ``mlflow models serve`` takes: text/csv, or JSON with
                        dataframe_split, dataframe_records, instances or inputs
                        -> {"predictions": [...]}; errors as {"error_code", "message"}
    GET  /health        the process is alive
    GET  /ready         the models are loaded and warmed (503 until then), log health
    GET  /metadata      schema, metrics, version, engine, arms, limits
    GET  /metrics       Prometheus text
    GET  /docs          Swagger UI, served from the package (no network needed)

``/predict`` and ``/invocations`` are answered by :class:`_FastPath`, an ASGI
layer in front of the FastAPI router: the body is read with a size limit,
parsed with orjson straight into the record reader, scored, answered, and
only then logged and, with a shadow model, scored again. The OpenAPI
document still describes them, with the request model generated from the
model's schema.

Safety: requests carry an API key (``Authorization: Bearer KEY`` or
``X-API-Key: KEY``) when one is configured, compared in constant time;
``/health`` and ``/ready`` stay open for probes. Bodies must be JSON (415
otherwise, so pickles and forms never reach the model; /invocations also
takes CSV), at most ``max_body_bytes`` (413, chunked bodies included) and
``max_rows`` records (413). Bad records get 422 naming the record and
column; anything unexpected gets 500 with the request id, and the server
keeps running. Bodies that need more than orjson (NaN, Infinity, lone
surrogates) and CSV bodies are parsed in a worker thread, never on the
event loop.

Requests with the header ``X-Cairn-Synthetic: 1`` (``cairn loadtest`` sends
it) are scored as usual and logged as synthetic, so monitoring, A/B reports
and exports leave them out.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import itertools
import json
import logging
import os
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from cairn.data.schema import Role
from cairn.exceptions import ServingError
from cairn.records import RecordProblem, RecordsError, canonical_string
from cairn.serving.engine import Prediction, ServedModel, load_served_model
from cairn.serving.log import LogEntry, PredictionLog, escape_text
from cairn.serving.metrics import CONTENT_TYPE, ServingMetrics

__all__ = ["Arm", "ServingConfig", "create_app"]

_logger = logging.getLogger("cairn.serving")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_OPEN_PATHS = frozenset({"/health", "/ready"})
_FAST_ROUTES = {"/predict": "predict", "/invocations": "invocations"}
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_SYNTHETIC_VALUES = frozenset({b"1", b"true", b"yes"})
#: MLflow's input fields on /invocations (mlflow.pyfunc.scoring_server).
_MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
#: MLflow error codes for our statuses on /invocations, and the status MLflow answers with.
_MLFLOW_CODES = {
    400: ("BAD_REQUEST", 400),
    401: ("UNAUTHENTICATED", 401),
    405: ("BAD_REQUEST", 405),
    413: ("BAD_REQUEST", 413),
    415: ("BAD_REQUEST", 415),
    422: ("INVALID_PARAMETER_VALUE", 400),
    500: ("INTERNAL_ERROR", 500),
    503: ("TEMPORARILY_UNAVAILABLE", 503),
}
#: Swagger UI's files, shipped by the fastapi-offline package.
_DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class ServingConfig:
    """How the server guards and records itself.

    Attributes:
        api_key: required on every route but /health and /ready when set.
        max_body_bytes: larger bodies get 413 (default 10 MB).
        max_rows: more records in one request get 413.
        entity_key: input column whose value keeps an entity on one A/B arm.
        log_path: the prediction log (SQLite); None logs nothing.
        docs: serve /docs and /openapi.json.
    """

    api_key: str | None = None
    max_body_bytes: int = 10_000_000
    max_rows: int = 10_000
    entity_key: str | None = None
    log_path: Path | None = None
    docs: bool = True


@dataclass
class Arm:
    """A model and the share of traffic it gets."""

    name: str  # champion, challenger or shadow
    model: ServedModel
    share: float = 1.0
    stats: Any = field(default=None, repr=False)


class _HTTPError(Exception):
    """An answer other than 200; ``code`` is MLflow's error code when it is not
    the one :data:`_MLFLOW_CODES` gives for the status."""

    def __init__(
        self,
        status: int,
        detail: Any,
        headers: Sequence[tuple[bytes, bytes]] = (),
        code: str | None = None,
    ):
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.headers = list(headers)
        self.code = code


class _Router:
    """Chooses the arm for each record: sticky by entity key when one is set."""

    def __init__(self, challenger_share: float, entity_key: str | None, salt: str) -> None:
        self.share = challenger_share
        self.entity_key = entity_key
        self.salt = salt.encode()
        self._random = random.Random()

    def _by_entity(self, value: Any) -> int:
        text = canonical_string(value) if not isinstance(value, dict | list) else None
        if text is None:
            return 1 if self._random.random() < self.share else 0
        digest = hashlib.blake2b(text.encode(), digest_size=8, key=self.salt[:64]).digest()
        return 1 if int.from_bytes(digest, "big") / 2**64 < self.share else 0

    def assign(self, records: Sequence[Any]) -> list[int] | int:
        """0 (champion) or 1 (challenger): one for the whole request, or one per record."""
        if self.share <= 0.0:
            return 0
        if self.entity_key is None:
            return 1 if self._random.random() < self.share else 0
        key = self.entity_key
        return [
            self._by_entity(record.get(key)) if isinstance(record, dict) else 0
            for record in records
        ]


def _media(content_type: bytes) -> bytes:
    return content_type.split(b";", 1)[0].strip().lower()


def _is_json(content_type: bytes) -> bool:
    media = _media(content_type)
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


async def _parse_json(body: bytes) -> tuple[Any, list[dict[str, Any]]]:
    """The body's JSON value, and warnings about what had to be repaired."""
    try:
        return orjson.loads(body), []
    except orjson.JSONDecodeError:
        pass
    # NaN and Infinity are not JSON, but Python and pandas clients send them;
    # the standard parser is slow, so it runs in a worker thread
    return await asyncio.to_thread(_parse_lenient, body)


def _parse_lenient(body: bytes) -> tuple[Any, list[dict[str, Any]]]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise _HTTPError(
            400, f"the body is not valid JSON: {error}", code="INVALID_PARAMETER_VALUE"
        ) from None
    # orjson refuses lone surrogates ("\ud800"); the standard parser lets them through
    escaped: list[str] = []
    try:
        payload = _valid_unicode(payload, ["body"], escaped)
    except RecursionError:
        raise _HTTPError(400, "the body is nested too deeply") from None
    if not escaped:
        return payload, []
    shown = ", ".join(escaped[:5]) + (f" and {len(escaped) - 5} more" if len(escaped) > 5 else "")
    note = (
        "text with a lone surrogate (not valid Unicode) was read with it escaped as \\uXXXX, "
        f"at {shown}"
    )
    return payload, [{"record": None, "column": None, "message": note}]


def _valid_unicode(value: Any, path: list[Any], escaped: list[str]) -> Any:
    """``value`` with lone surrogates in text escaped; one in a column name
    (a key, or an entry of dataframe_split's ``columns``) is refused."""
    if isinstance(value, str):
        fixed = escape_text(value)
        if fixed is not value:
            if len(path) > 1 and path[-2] == "columns":
                raise _bad_name(path, fixed)
            escaped.append("/".join(str(p) for p in path))
        return fixed
    if isinstance(value, list):
        return [_valid_unicode(v, [*path, i], escaped) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = escape_text(key)
            if name is not key:
                raise _bad_name([*path, name], name)
            out[key] = _valid_unicode(item, [*path, key], escaped)
        return out
    return value


def _bad_name(loc: list[Any], name: str) -> _HTTPError:
    message = (
        f"the column name {name!r} holds a lone surrogate and is not valid Unicode; "
        "send column names as UTF-8 text"
    )
    return _HTTPError(422, [_problem(loc, message)])


def _csv_records(body: bytes, text_columns: Sequence[str]) -> list[dict[str, Any]]:
    """Records from a CSV body (header row first), as MLflow reads ``text/csv``."""
    import io
    import warnings

    import pandas as pd

    try:
        with warnings.catch_warnings():
            # a row longer than the header: pandas would take the extra values as an index
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.BytesIO(body), dtype=dict.fromkeys(text_columns, str), index_col=False
            )
    except (
        ValueError,
        UnicodeDecodeError,
        pd.errors.ParserError,
        pd.errors.ParserWarning,
    ) as error:
        raise _HTTPError(
            400,
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid "
            f"CSV-formatted Pandas DataFrame produced using `DataFrame.to_csv()`. Error: '{error}'",
        ) from None
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{str(k): v for k, v in record.items()} for record in records]


def _problem(loc: list[Any], message: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": loc, "msg": message, "type": kind}


def _records_of(route: str, payload: Any) -> list[Any]:
    """The records in a /predict or /invocations body."""
    if route == "predict":
        if not isinstance(payload, dict) or "records" not in payload:
            raise _HTTPError(
                422,
                [_problem(["body"], 'expected an object {"records": [{...}, ...]}', "missing")],
            )
        records = payload["records"]
        if not isinstance(records, list):
            raise _HTTPError(422, [_problem(["body", "records"], "expected a list of objects")])
        return records
    if not isinstance(payload, dict):
        raise _HTTPError(
            400,
            "The input must be a JSON dictionary with exactly one of the input fields "
            f"{list(_MLFLOW_FORMATS)}. Received {_json_kind(payload)}.",
            code="INVALID_PARAMETER_VALUE",
        )
    given = [key for key in _MLFLOW_FORMATS if key in payload]
    if len(given) != 1:
        raise _HTTPError(
            400,
            "The input must be a JSON dictionary with exactly one of the input fields "
            f"{list(_MLFLOW_FORMATS)}. Received dictionary with input fields: {list(payload)}.",
        )
    if given[0] in ("instances", "inputs"):
        return _tensor_style_records(given[0], payload[given[0]])
    if "dataframe_records" in payload:
        records = payload["dataframe_records"]
        if not isinstance(records, list):
            raise _HTTPError(
                422, [_problem(["body", "dataframe_records"], "expected a list of objects")]
            )
        return records
    if "dataframe_split" in payload:
        split = payload["dataframe_split"]
        if not isinstance(split, dict) or not isinstance(split.get("data"), list):
            raise _HTTPError(
                422,
                [
                    _problem(
                        ["body", "dataframe_split"], 'expected {"columns": [...], "data": [[...]]}'
                    )
                ],
            )
        columns = split.get("columns")
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise _HTTPError(
                422, [_problem(["body", "dataframe_split", "columns"], "expected a list of names")]
            )
        out = []
        for i, row in enumerate(split["data"]):
            if not isinstance(row, list) or len(row) != len(columns):
                raise _HTTPError(
                    422,
                    [
                        _problem(
                            ["body", "dataframe_split", "data", i],
                            f"expected a list of {len(columns)} values, one per column",
                        )
                    ],
                )
            out.append(dict(zip(columns, row, strict=True)))
        return out
    raise AssertionError("unreachable: one input field was found")


def _json_kind(value: Any) -> str:
    return "a list" if isinstance(value, list) else f"a {type(value).__name__}"


def _tensor_style_records(key: str, value: Any) -> list[Any]:
    """``instances`` / ``inputs`` as MLflow reads them for a table: a list of
    objects (one per row), or an object of columns (equal-length lists, or
    single values for one row)."""
    if isinstance(value, list):
        if all(isinstance(row, dict) for row in value):
            return value
        raise _HTTPError(
            400,
            f"{key}: tensor inputs (lists of values) are not supported: this model takes a "
            f'table; send a list of objects ({{"{key}": [{{"column": value, ...}}]}}) or an '
            f'object of columns ({{"{key}": {{"column": [values]}}}})',
        )
    if isinstance(value, dict):
        if not any(isinstance(v, list) for v in value.values()):
            return [value]
        lengths = {len(v) if isinstance(v, list) else -1 for v in value.values()}
        if len(lengths) != 1 or -1 in lengths:
            raise _HTTPError(
                400,
                f"{key}: every column must be a list of the same length; lengths: "
                + ", ".join(
                    f"{name}={len(v) if isinstance(v, list) else 'not a list'}"
                    for name, v in list(value.items())[:20]
                ),
            )
        names = list(value)
        return [dict(zip(names, row, strict=True)) for row in zip(*value.values(), strict=True)]
    raise _HTTPError(
        400, f"{key}: expected a list of objects or an object of columns, got {_json_kind(value)}"
    )


class _Service:
    """Everything a scoring request needs: arms, router, limits, log, metrics."""

    def __init__(self, arms: list[Arm], shadow: Arm | None, config: ServingConfig) -> None:
        self.arms = arms
        self.shadow = shadow
        self.config = config
        champion = arms[0].model
        self.metrics = ServingMetrics(champion.serving.get("prediction_buckets") or ())
        for arm in [*arms, *([shadow] if shadow else [])]:
            arm.stats = self.metrics.arm(
                arm.model.name, arm.model.version, arm.name, arm.model.engine
            )
        share = arms[1].share if len(arms) > 1 else 0.0
        salt = f"{arms[1].model.name}:{arms[1].model.version}" if len(arms) > 1 else ""
        self.router = _Router(share, config.entity_key, salt)
        self.log: PredictionLog | None = (
            PredictionLog(config.log_path) if config.log_path is not None else None
        )
        if self.log is not None:
            log = self.log
            self.metrics.watch_log(log.counts, lambda: float(log.healthy))
        # CSV bodies on /invocations: text columns stay text ("007" is not 7)
        self.text_columns = [
            c.name for c in champion.schema.columns if c.dtype in ("string", "datetime")
        ]
        self.ready = False
        self.key = config.api_key.encode() if config.api_key else None
        # unique ids without a system call per request: a random prefix and a counter
        self._id_prefix = os.urandom(6).hex()
        self._ids = itertools.count(1)

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> None:
        if self.log is not None:
            self.log.start()
        for arm in [*self.arms, *([self.shadow] if self.shadow else [])]:
            arm.model.warm()
        # what is loaded now lives as long as the server: keep it out of GC passes
        gc.collect()
        gc.freeze()
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        if self.log is not None:
            await asyncio.to_thread(self.log.close)

    # -- auth --------------------------------------------------------------
    def authorized(self, scope: Scope) -> bool:
        if self.key is None or scope.get("path") in _OPEN_PATHS:
            return True
        provided = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                provided = value[7:].strip()
                break
            if name == b"x-api-key":
                provided = value.strip()
                break
        return hmac.compare_digest(provided, self.key)

    # -- scoring -----------------------------------------------------------
    async def handle(self, route: str, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        arrived = time.time()
        content_type = length = given_id = None
        synthetic = False
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
            elif name == b"x-request-id":
                given_id = value
            elif name == b"x-cairn-synthetic":
                synthetic = value.strip().lower() in _SYNTHETIC_VALUES
        request_id = f"{self._id_prefix}{next(self._ids):010x}"
        if given_id is not None:
            text = given_id.decode("latin-1")
            if _REQUEST_ID.match(text):
                request_id = text
        body = b""
        try:
            if scope.get("method") != "POST":
                raise _HTTPError(405, "use POST with a JSON body", [(b"allow", b"POST")])
            if not self.ready:
                raise _HTTPError(503, "the model is still loading; retry shortly")
            csv = False
            if content_type is not None and not _is_json(content_type):
                csv = route == "invocations" and _media(content_type) == b"text/csv"
                if not csv:
                    accepted = (
                        "JSON ('Content-Type: application/json') or CSV ('text/csv')"
                        if route == "invocations"
                        else "JSON with 'Content-Type: application/json'"
                    )
                    raise _HTTPError(
                        415,
                        f"content type {content_type.decode('latin-1')!r} is not accepted; "
                        f"send {accepted}",
                    )
            limit = self.config.max_body_bytes
            if length is not None:
                try:
                    declared = int(length)
                except ValueError:
                    raise _HTTPError(400, "the Content-Length header is not a number") from None
                if declared > limit:
                    raise _HTTPError(
                        413,
                        f"the body is {declared} bytes; the limit is {limit}. Send fewer "
                        "records per request",
                        [(b"connection", b"close")],
                    )
            body = await _read_body(receive, limit)
            if csv:
                records = await asyncio.to_thread(_csv_records, body, self.text_columns)
                notes: list[dict[str, Any]] = []
            else:
                payload, notes = await _parse_json(body)
                records = _records_of(route, payload)
            if len(records) > self.config.max_rows:
                raise _HTTPError(
                    413,
                    f"{len(records)} records in one request; the limit is "
                    f"{self.config.max_rows}. Split the batch",
                )
            answer, entries = await self._score(records)
            if notes:
                answer["warnings"] = [*notes, *answer.get("warnings", ())]
            answer["request_id"] = request_id
            if route == "invocations":
                answer = _as_mlflow(answer, entries)
            body_out = orjson.dumps(answer, option=_JSON_OPTIONS)
        except _HTTPError as error:
            await self._reject(send, route, request_id, error, started, arrived, body, synthetic)
            return
        except Exception:
            _logger.exception("request %s failed", request_id)
            failure = _HTTPError(500, f"internal error while scoring; request id {request_id}")
            await self._reject(send, route, request_id, failure, started, arrived, body, synthetic)
            return
        latency = time.perf_counter() - started
        await _send(send, 200, body_out, request_id)
        self.metrics.request(route, 200, latency)
        if self.log is not None:
            for entry in entries:
                entry.request_id = request_id
                entry.ts = arrived
                entry.latency_ms = latency * 1000.0
                entry.synthetic = synthetic
                self.log.write(entry)
        if self.shadow is not None:
            await self._shadow(records, request_id, arrived, synthetic)

    async def _predict(self, arm: Arm, records: Sequence[Any]) -> tuple[Prediction, float]:
        started = time.perf_counter()
        if arm.model.blocking:
            prediction = await asyncio.to_thread(arm.model.predict, records)
        else:
            prediction = arm.model.predict(records)
        return prediction, time.perf_counter() - started

    async def _score(self, records: list[Any]) -> tuple[dict[str, Any], list[LogEntry]]:
        assignment = self.router.assign(records)
        if isinstance(assignment, int):
            groups = {assignment: list(range(len(records)))}
        else:
            groups = {}
            for position, arm_index in enumerate(assignment):
                groups.setdefault(arm_index, []).append(position)
        results: dict[int, Prediction] = {}
        timings: dict[int, float] = {}
        problems: list[RecordProblem] = []
        entries: list[LogEntry] = []
        for arm_index, positions in groups.items():
            arm = self.arms[arm_index]
            subset = records if len(groups) == 1 else [records[p] for p in positions]
            try:
                prediction, seconds = await self._predict(arm, subset)
            except RecordsError as error:
                problems.extend(
                    RecordProblem(
                        positions[p.record] if p.record is not None else None,
                        p.column,
                        p.message,
                        p.kind,
                    )
                    for p in error.problems
                )
                continue
            results[arm_index] = prediction
            timings[arm_index] = seconds
            entries.append(
                LogEntry(
                    request_id="",
                    ts=0.0,
                    model=arm.model.name,
                    version=arm.model.version,
                    arm=arm.name,
                    records=subset,
                    labels=prediction.labels,
                    probabilities=prediction.probabilities,
                    classes=arm.model.class_strings,
                    latency_ms=0.0,
                    rows=positions,
                    typed=arm.model.adapter.typed,
                )
            )
        if problems:
            problems.sort(key=lambda p: p.record if p.record is not None else -1)
            raise _HTTPError(422, [p.to_dict() for p in problems])
        for arm_index, prediction in results.items():  # only answered requests count
            self._observe(self.arms[arm_index], prediction, timings[arm_index])
        return self._answer(records, groups, results), entries

    def _observe(self, arm: Arm, prediction: Prediction, seconds: float) -> None:
        if prediction.probabilities is not None and prediction.probabilities.size:
            values = prediction.probabilities[:, -1].tolist()
            labels: Sequence[Any] = prediction.labels
        else:
            values = [float(v) for v in prediction.labels]
            labels = ()
        arm.stats.observe(seconds, len(prediction.labels), labels, values)
        for warning in prediction.warnings:
            if warning.get("column") and warning.get("message", "").startswith("category unseen"):
                self.metrics.unseen.labels(arm.model.name, warning["column"]).inc()

    def _answer(
        self, records: list[Any], groups: dict[int, list[int]], results: dict[int, Prediction]
    ) -> dict[str, Any]:
        n = len(records)
        champion = self.arms[min(groups)].model if groups else self.arms[0].model
        if len(groups) == 1:
            (arm_index,) = groups
            prediction = results[arm_index]
            labels = prediction.labels
            proba_rows = prediction.probabilities
            warnings = prediction.warnings
            arms_used = None
        else:
            labels = [None] * n
            proba_rows = None
            warnings = []
            arms_used = [""] * n
            width = len(self.arms[0].model.class_strings)
            if self.arms[0].model.task == "classification":
                proba_rows = np.zeros((n, width))
            for arm_index, positions in groups.items():
                prediction = results[arm_index]
                for k, p in enumerate(positions):
                    labels[p] = prediction.labels[k]
                    arms_used[p] = self.arms[arm_index].name
                    if proba_rows is not None and prediction.probabilities is not None:
                        proba_rows[p] = prediction.probabilities[k]
                for warning in prediction.warnings:
                    record = warning.get("record")
                    warnings.append(
                        {**warning, "record": positions[record] if record is not None else None}
                    )
        first = self.arms[min(groups)] if groups else self.arms[0]
        answer: dict[str, Any] = {"predictions": labels}
        if champion.task == "classification" and proba_rows is not None:
            classes = champion.class_strings
            answer["probabilities"] = [
                dict(zip(classes, row, strict=True)) for row in proba_rows.tolist()
            ]
        answer["model"] = {
            "name": first.model.name,
            "version": first.model.version,
            "arm": first.name,
        }
        if arms_used is not None:
            answer["arms"] = arms_used
        if warnings:
            answer["warnings"] = warnings
        return answer

    async def _shadow(
        self, records: list[Any], request_id: str, arrived: float, synthetic: bool
    ) -> None:
        shadow = self.shadow
        assert shadow is not None
        try:
            prediction, seconds = await self._predict(shadow, records)
        except RecordsError:
            self.metrics.shadow_errors.labels(shadow.model.name, shadow.model.version).inc()
            return
        except Exception:
            _logger.exception("shadow model failed on request %s", request_id)
            self.metrics.shadow_errors.labels(shadow.model.name, shadow.model.version).inc()
            return
        self._observe(shadow, prediction, seconds)
        if self.log is not None:
            self.log.write(
                LogEntry(
                    request_id=request_id,
                    ts=arrived,
                    model=shadow.model.name,
                    version=shadow.model.version,
                    arm=shadow.name,
                    records=records,
                    labels=prediction.labels,
                    probabilities=prediction.probabilities,
                    classes=shadow.model.class_strings,
                    latency_ms=seconds * 1000.0,
                    typed=shadow.model.adapter.typed,
                    synthetic=synthetic,
                )
            )

    async def _reject(
        self,
        send: Send,
        route: str,
        request_id: str,
        error: _HTTPError,
        started: float,
        arrived: float,
        received: bytes = b"",
        synthetic: bool = False,
    ) -> None:
        status = error.status
        if route == "invocations":
            status, answer = _mlflow_error(error, request_id)
        else:
            answer = {"detail": error.detail, "request_id": request_id}
        await _send(send, status, _dumps(answer), request_id, error.headers)
        self.metrics.request(route, status, time.perf_counter() - started)
        if self.log is not None:
            detail = error.detail if isinstance(error.detail, str) else json.dumps(error.detail)
            self.log.reject(
                request_id, arrived, route, status, detail, body=received, synthetic=synthetic
            )


def _dumps(answer: Any) -> bytes:
    try:
        return orjson.dumps(answer, option=_JSON_OPTIONS)
    except TypeError:  # text that is not valid Unicode: escape it rather than fail
        return json.dumps(answer, default=str).encode()


def _message(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    parts = []
    for problem in detail[:20]:
        where = "/".join(str(p) for p in problem.get("loc", ()))
        parts.append(f"{where}: {problem.get('msg')}" if where else str(problem.get("msg")))
    more = f" (and {len(detail) - 20} more)" if len(detail) > 20 else ""
    return "; ".join(parts) + more


def _mlflow_error(error: _HTTPError, request_id: str) -> tuple[int, dict[str, Any]]:
    """MLflow's error answer ({"error_code", "message"}) and its status."""
    code, status = _MLFLOW_CODES.get(error.status, ("INTERNAL_ERROR", error.status))
    answer: dict[str, Any] = {
        "error_code": error.code or code,
        "message": _message(error.detail),
        "request_id": request_id,
    }
    if not isinstance(error.detail, str):
        answer["detail"] = error.detail  # each location, as /predict gives them
    return status, answer


def _as_mlflow(answer: dict[str, Any], entries: Sequence[LogEntry]) -> dict[str, Any]:
    """MLflow's answer for a pyfunc returning a frame: one object per row."""
    rows = []
    probabilities = answer.get("probabilities")
    for k, label in enumerate(answer["predictions"]):
        row: dict[str, Any] = {"prediction": label}
        if probabilities is not None:
            for cls, p in probabilities[k].items():
                row[f"proba_{cls}"] = p
        rows.append(row)
    return {"predictions": rows}


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _HTTPError(400, "the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _HTTPError(
                    413,
                    f"the body is over the limit of {limit} bytes. Send fewer records per request",
                    [(b"connection", b"close")],
                )
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _send(
    send: Send,
    status: int,
    body: bytes,
    request_id: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _FastPath:
    """ASGI layer: API key check for every route, and the scoring routes themselves."""

    def __init__(self, app: Any, service: _Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.service.authorized(scope):
            route = _FAST_ROUTES.get(scope["path"])
            message = (
                "missing or wrong API key; send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
            )
            answer: dict[str, Any] = (
                {"error_code": "UNAUTHENTICATED", "message": message}
                if route == "invocations"
                else {"detail": message}
            )
            request_id = uuid.uuid4().hex
            await _send(
                send, 401, orjson.dumps(answer), request_id, [(b"www-authenticate", b"Bearer")]
            )
            if route is not None:
                self.service.metrics.request(route, 401, 0.0)
                if self.service.log is not None:
                    self.service.log.reject(request_id, time.time(), route, 401, message)
            return
        route = _FAST_ROUTES.get(scope["path"])
        if route is None:
            await self.app(scope, receive, send)
            return
        await self.service.handle(route, scope, receive, send)


# ---------------------------------------------------------------------------
# OpenAPI
# ---------------------------------------------------------------------------


def _column_schema(model: ServedModel, name: str) -> dict[str, Any]:
    column = model.schema[name]
    ranges = model.serving.get("input_ranges") or {}
    out: dict[str, Any]
    if column.role == Role.NUMERIC:
        out = {"type": ["number", "null"]}
        if name in ranges:
            low, high = ranges[name]
            out["description"] = f"numeric; training values mostly within [{low:g}, {high:g}]"
        else:
            out["description"] = "numeric"
    elif column.role == Role.DATETIME:
        fmt = (model.schema.metadata.get("datetime_formats") or {}).get(name)
        out = {"type": ["string", "null"], "description": f"date-time ({fmt or 'ISO 8601'})"}
    elif column.dtype == "bool":
        out = {"type": ["boolean", "null"], "description": "boolean (true/false, yes/no, 1/0)"}
    elif column.role == Role.TEXT:
        out = {"type": ["string", "null"], "description": "free text"}
    else:
        categories = list(column.categories or ())
        shown = ", ".join(repr(c) for c in categories[:20])
        more = f" and {len(categories) - 20} more" if len(categories) > 20 else ""
        # a category column coded as numbers (0/1 flags) takes numbers only
        kinds = (
            ["number", "boolean", "null"]
            if column.dtype in ("int", "float")
            else ["string", "number", "boolean", "null"]
        )
        out = {
            "type": kinds,
            "description": f"{column.role}; known categories: {shown}{more}. "
            "Unseen categories are scored and flagged in 'warnings'",
        }
        if categories:
            out["x-categories"] = categories
            out["examples"] = categories[:3]
    if column.is_feature:
        out["description"] += ". Required; null when unknown"
    else:
        out["description"] = f"{column.role} column, not used by the model; optional"
    return out


def _record_schema(model: ServedModel) -> dict[str, Any]:
    properties = {c.name: _column_schema(model, c.name) for c in model.schema.columns}
    return {
        "type": "object",
        "title": "Record",
        "description": "One row: every required column, in any order; extra keys are ignored "
        "(and named in 'warnings')",
        "properties": properties,
        "required": model.features,
        "additionalProperties": True,
        "example": model.example_record(),
    }


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "detail": {
                "anyOf": [
                    {"type": "string"},
                    {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                                "msg": {"type": "string"},
                                "type": {"type": "string"},
                            },
                            "required": ["loc", "msg", "type"],
                        },
                    },
                ]
            },
            "request_id": {"type": "string"},
        },
        "required": ["detail"],
    }


def _mlflow_error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "MLflow's error answer",
        "properties": {
            "error_code": {"type": "string", "examples": ["BAD_REQUEST"]},
            "message": {"type": "string"},
            "request_id": {"type": "string"},
            "detail": {"type": "array", "items": {"type": "object"}},
        },
        "required": ["error_code", "message"],
    }


def _errors(*codes: int, schema: str = "Error") -> dict[int | str, Any]:
    text = {
        400: "The body is not valid JSON (/invocations: nor a table in MLflow's formats)",
        401: "Missing or wrong API key",
        405: "Method not allowed",
        413: "Body or record count over the limit",
        415: "The body is not JSON (/invocations: nor CSV)",
        422: "A record misses a column or holds a value of the wrong type",
        500: "Unexpected failure (the request id is in the server log)",
        503: "The model is still loading",
    }
    return {
        str(code): {
            "description": text[code],
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
        for code in codes
    }


def _openapi_paths(service: _Service) -> tuple[dict[str, Any], dict[str, Any]]:
    model = service.arms[0].model
    record = {"$ref": "#/components/schemas/Record"}
    max_rows = service.config.max_rows
    classification = model.task == "classification"
    label_schema: dict[str, Any] = (
        {"description": f"class label, one of {model.classes}"}
        if classification
        else {"type": ["number", "null"]}
    )
    answer: dict[str, Any] = {
        "type": "object",
        "properties": {
            "predictions": {"type": "array", "items": label_schema},
            "model": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "string"},
                    "arm": {"type": "string"},
                },
                "required": ["name", "version", "arm"],
            },
            "request_id": {"type": "string"},
            "arms": {"type": "array", "items": {"type": "string"}},
            "warnings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "record": {"type": ["integer", "null"]},
                        "column": {"type": ["string", "null"]},
                        "message": {"type": "string"},
                    },
                },
            },
        },
        "required": ["predictions", "model", "request_id"],
    }
    if classification:
        answer["properties"]["probabilities"] = {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": {"type": ["number", "null"]},
                "description": "probability per class label",
            },
        }
        answer["required"].append("probabilities")
    codes = (400, 401, 405, 413, 415, 422, 500, 503)
    predict = {
        "post": {
            "summary": "Score records",
            "operationId": "predict",
            "description": f"Up to {max_rows} records per request, "
            f"{service.config.max_body_bytes} bytes per body.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "records": {"type": "array", "items": record, "maxItems": max_rows}
                            },
                            "required": ["records"],
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "One prediction per record, in order",
                    "content": {"application/json": {"schema": answer}},
                },
                **_errors(*codes),
            },
        }
    }
    mlflow_row: dict[str, Any] = {"type": "object", "properties": {"prediction": label_schema}}
    invocations = {
        "post": {
            "summary": "Score records sent the way MLflow clients send them",
            "operationId": "invocations",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "properties": {
                                        "dataframe_records": {
                                            "type": "array",
                                            "items": record,
                                            "maxItems": max_rows,
                                        }
                                    },
                                    "required": ["dataframe_records"],
                                },
                                {
                                    "type": "object",
                                    "properties": {
                                        "dataframe_split": {
                                            "type": "object",
                                            "properties": {
                                                "columns": {
                                                    "type": "array",
                                                    "items": {"type": "string"},
                                                },
                                                "data": {
                                                    "type": "array",
                                                    "items": {"type": "array"},
                                                    "maxItems": max_rows,
                                                },
                                            },
                                            "required": ["columns", "data"],
                                        }
                                    },
                                    "required": ["dataframe_split"],
                                },
                                *(
                                    {
                                        "type": "object",
                                        "description": "rows as objects (or columns as an "
                                        "object of equal-length lists)",
                                        "properties": {
                                            key: {
                                                "type": "array",
                                                "items": record,
                                                "maxItems": max_rows,
                                            }
                                        },
                                        "required": [key],
                                    }
                                    for key in ("instances", "inputs")
                                ),
                            ]
                        }
                    },
                    "text/csv": {
                        "schema": {
                            "type": "string",
                            "description": "a header row of column names, then one line per row",
                        }
                    },
                },
            },
            "responses": {
                "200": {
                    "description": "One object per row: prediction, proba_<class>",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "predictions": {"type": "array", "items": mlflow_row}
                                },
                                "required": ["predictions"],
                            }
                        }
                    },
                },
                **_errors(400, 401, 405, 413, 415, 500, 503, schema="MlflowError"),
            },
        }
    }
    schemas = {
        "Record": _record_schema(model),
        "Error": _error_schema(),
        "MlflowError": _mlflow_error_schema(),
    }
    return {"/predict": predict, "/invocations": invocations}, schemas


# ---------------------------------------------------------------------------
# the app
# ---------------------------------------------------------------------------


def _docs_assets() -> Path | None:
    """The folder holding Swagger UI's files, or None when they are not installed."""
    import importlib.util

    spec = importlib.util.find_spec("fastapi_offline")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        static = Path(folder) / "static"
        if all((static / name).is_file() for name in _DOCS_ASSETS):
            return static
    return None


def _served(model: ServedModel | str | Path, tracking_uri: str | None, engine: str) -> ServedModel:
    if isinstance(model, ServedModel):
        return model
    return load_served_model(model, tracking_uri=tracking_uri, engine=engine)


def create_app(
    champion: ServedModel | str | Path,
    *,
    challenger: ServedModel | str | Path | None = None,
    split: float = 0.1,
    shadow: ServedModel | str | Path | None = None,
    config: ServingConfig | None = None,
    tracking_uri: str | None = None,
    engine: str = "auto",
) -> Any:
    """A FastAPI app serving ``champion`` (and optionally A/B and shadow models).

    Args:
        champion: bundle folder, registry URI or loaded model.
        challenger: gets ``split`` of the traffic (per request, or per entity
            when ``config.entity_key`` is set).
        split: the challenger's share, in [0, 1].
        shadow: scored on every request after the answer is sent; logged only.
        config: limits, API key, entity key and log file.
        tracking_uri: MLflow store for registry URIs.
        engine: "auto", "onnx" or "native".

    Raises:
        ServingError: a bad split, or a model that cannot be loaded.
    """
    from fastapi import FastAPI
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import FileResponse, JSONResponse, Response

    config = config or ServingConfig()
    if challenger is not None and not 0.0 <= split <= 1.0:
        raise ServingError(f"--split {split} is not a share between 0 and 1")
    arms = [Arm("champion", _served(champion, tracking_uri, engine), 1.0)]
    if challenger is not None:
        arms[0].share = 1.0 - split
        arms.append(Arm("challenger", _served(challenger, tracking_uri, engine), split))
    shadow_arm = Arm("shadow", _served(shadow, tracking_uri, engine), 0.0) if shadow else None
    if config.entity_key is not None and config.entity_key not in arms[0].model.schema:
        raise ServingError(
            f"entity key {config.entity_key!r} is not a column of the model's schema; "
            f"columns: {', '.join(arms[0].model.schema.names[:30])}"
        )
    service = _Service(arms, shadow_arm, config)

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        await asyncio.to_thread(service.start)
        try:
            yield
        finally:
            await service.stop()

    champion_model = arms[0].model
    app = FastAPI(
        title=f"cairn: {champion_model.name}",
        version=champion_model.version,
        description=f"Predictions of {champion_model.name} ({champion_model.task}) "
        f"served by cairn with the {champion_model.engine} engine.",
        lifespan=lifespan,
        docs_url=None,  # served below from local files: FastAPI's page loads a CDN
        redoc_url=None,
        openapi_url="/openapi.json" if config.docs else None,
    )
    app.state.service = service
    unauthorized = _errors(401)

    @app.get("/health", summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        summary="Models loaded and warmed",
        responses={503: {"description": "Still loading"}},
    )
    async def ready() -> Any:
        log = service.log.status() if service.log is not None else None
        if not service.ready:
            return JSONResponse({"ready": False, "detail": "loading"}, status_code=503)
        if log is not None and log["writer"] != "running":
            # predictions would be answered but no longer recorded
            return JSONResponse(
                {"ready": False, "detail": f"prediction log: {log['last_error']}", "log": log},
                status_code=503,
            )
        return {"ready": True, "arms": [a.name for a in service.arms], "log": log}

    @app.get("/metadata", summary="Schema, metrics, version and engine", responses=unauthorized)
    async def metadata() -> Any:
        body = service.arms[0].model.describe()
        body["arms"] = [
            {
                "arm": arm.name,
                "name": arm.model.name,
                "version": arm.model.version,
                "engine": arm.model.engine,
                "share": arm.share,
            }
            for arm in [*service.arms, *([service.shadow] if service.shadow else [])]
        ]
        body["entity_key"] = config.entity_key
        body["limits"] = {"max_body_bytes": config.max_body_bytes, "max_rows": config.max_rows}
        body["log"] = str(config.log_path) if config.log_path else None
        return Response(orjson.dumps(body, option=_JSON_OPTIONS), media_type="application/json")

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        response_model=None,
        responses={200: {"content": {"text/plain": {}}}, **unauthorized},
    )
    async def metrics() -> Any:
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            paths, schemas = _openapi_paths(service)
            document.setdefault("paths", {}).update(paths)
            document.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
            if config.api_key:
                document["components"]["securitySchemes"] = {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                }
                document["security"] = [{"bearer": []}, {"apiKey": []}]
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if config.docs:
        assets = _docs_assets()

        @app.get("/docs", include_in_schema=False)
        async def docs() -> Any:
            if assets is None:
                return Response(
                    "Swagger UI's files are not installed: pip install fastapi-offline",
                    status_code=503,
                    media_type="text/plain",
                )
            return get_swagger_ui_html(
                openapi_url="/openapi.json",
                title=f"{app.title} - docs",
                swagger_js_url="/docs/swagger-ui-bundle.js",
                swagger_css_url="/docs/swagger-ui.css",
                swagger_favicon_url="/docs/favicon.png",
                swagger_ui_parameters={"validatorUrl": None},
            )

        @app.get("/docs/{name}", include_in_schema=False)
        async def docs_asset(name: str) -> Any:
            if assets is None or name not in _DOCS_ASSETS:
                return Response("not found", status_code=404, media_type="text/plain")
            return FileResponse(assets / name, media_type=_DOCS_ASSETS[name])

    app.add_middleware(_FastPath, service=service)
    return app
