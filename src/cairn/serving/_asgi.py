"""The scoring routes as a lean ASGI layer in front of the FastAPI router.

``/predict`` and ``/invocations`` are answered by :class:`FastPath`: the body
is read with a size limit, parsed with orjson straight into the record
reader, scored, answered, and only then logged and, with a shadow model,
scored again. The API key is checked here for every route.

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
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from cairn.records import RecordsError
from cairn.serving._recommend import RecommendRequest, RequestProblems, SimilarRequest
from cairn.serving._service import Service
from cairn.serving.log import LogEntry, escape_text

__all__ = ["JSON_OPTIONS", "FastPath"]

_logger = logging.getLogger("cairn.serving")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_OPEN_PATHS = frozenset({"/health", "/ready", "/ping"})
_FAST_ROUTES = {
    "/predict": "predict",
    "/invocations": "invocations",
    "/recommend": "recommend",
    "/similar-items": "similar-items",
}
_RECOMMENDATION_ROUTES = frozenset({"recommend", "similar-items"})
JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_SYNTHETIC_VALUES = frozenset({b"1", b"true", b"yes"})
#: MLflow's input fields on /invocations (mlflow.pyfunc.scoring_server); it
#: takes /predict's "records" as well.
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
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


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


def _csv_records(
    body: bytes, text_columns: Sequence[str], columns: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Records from a CSV body (header row first), as MLflow reads ``text/csv``."""
    import io
    import warnings

    import pandas as pd

    expected = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
    if not body.strip():
        raise _HTTPError(
            400, f"the CSV body is empty; send a header row ({expected}) and one row per record"
        )
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
    if columns and not {str(c) for c in frame.columns} & set(columns):
        first = str(frame.columns[0]) if len(frame.columns) == 1 else ""
        if any(separator in first for separator in (";", "\t", "|")):
            raise _HTTPError(
                400,
                f"the CSV's first row ({first[:200]}) is not comma-separated; separate "
                "values with commas",
            )
        # without a header the first record would be read as one and lost
        raise _HTTPError(
            400,
            f"the CSV's first row ({', '.join(str(c) for c in frame.columns[:8])}) names none "
            f"of the model's columns; start the body with a header row: {expected}",
        )
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{str(k): v for k, v in record.items()} for record in records]


def _problem(loc: list[Any], message: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": loc, "msg": message, "type": kind}


def _records_of(route: str, payload: Any) -> list[Any]:
    """The records in a /predict or /invocations body (/invocations takes
    /predict's body too, so one client serves both)."""
    if route == "predict" or (
        isinstance(payload, dict)
        and "records" in payload
        and not any(key in payload for key in _MLFLOW_FORMATS)
    ):
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
            f"{[*_MLFLOW_FORMATS, 'records']}. Received {_json_kind(payload)}.",
            code="INVALID_PARAMETER_VALUE",
        )
    given = [key for key in (*_MLFLOW_FORMATS, "records") if key in payload]
    if len(given) != 1:
        raise _HTTPError(
            400,
            "The input must be a JSON dictionary with exactly one of the input fields "
            f"{[*_MLFLOW_FORMATS, 'records']}. Received dictionary with input fields: "
            f"{list(payload)}.",
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


def _dumps(answer: Any) -> bytes:
    try:
        return orjson.dumps(answer, option=JSON_OPTIONS)
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


@dataclass
class _Request:
    """What the headers of a scoring request say."""

    request_id: str
    content_type: bytes | None = None
    length: bytes | None = None
    synthetic: bool = False


class FastPath:
    """ASGI layer: API key check for every route, and the scoring routes themselves."""

    def __init__(self, app: Any, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._authorized(scope):
            await self._unauthorized(scope, send)
            return
        route = _FAST_ROUTES.get(scope["path"])
        if route is None:
            await self.app(scope, receive, send)
            return
        await self._handle(route, scope, receive, send)

    # -- auth --------------------------------------------------------------
    def _authorized(self, scope: Scope) -> bool:
        key = self.service.key
        if key is None or scope.get("path") in _OPEN_PATHS:
            return True
        provided = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                provided = value[7:].strip()
                break
            if name == b"x-api-key":
                provided = value.strip()
                break
        return hmac.compare_digest(provided, key)

    async def _unauthorized(self, scope: Scope, send: Send) -> None:
        route = _FAST_ROUTES.get(scope["path"])
        message = "missing or wrong API key; send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
        answer: dict[str, Any] = (
            {"error_code": "UNAUTHENTICATED", "message": message}
            if route == "invocations"
            else {"detail": message}
        )
        request_id = uuid.uuid4().hex
        await _send(send, 401, orjson.dumps(answer), request_id, [(b"www-authenticate", b"Bearer")])
        if route is not None:
            self.service.metrics.request(route, 401, 0.0)
            if self.service.log is not None:
                self.service.log.reject(request_id, time.time(), route, 401, message)

    # -- scoring -----------------------------------------------------------
    async def _handle(self, route: str, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        arrived = time.time()
        service = self.service
        request = self._request(scope)
        request_id, synthetic = request.request_id, request.synthetic
        body = b""
        recommendation: RecommendRequest | SimilarRequest | None = None
        try:
            csv = self._accepted(route, scope, request)
            body = await _read_body(receive, service.config.max_body_bytes)
            if route in _RECOMMENDATION_ROUTES:
                records: list[Any] = []
                answer, entries, recommendation = await self._recommend(route, body, request_id)
            else:
                records, notes = await self._records(route, body, csv)
                answer, entries = await self._answer(route, records, notes, request_id)
            body_out = orjson.dumps(answer, option=JSON_OPTIONS)
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
        service.metrics.request(route, 200, latency)
        service.record(entries, request_id, arrived, latency, synthetic)
        if service.shadow is not None:
            if recommendation is not None:
                service.recommend_shadow(route, recommendation, request_id, arrived, synthetic)
            else:
                await service.score_shadow(records, request_id, arrived, synthetic)

    def _request(self, scope: Scope) -> _Request:
        request = _Request(self.service.next_request_id())
        given_id = None
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                request.content_type = value
            elif name == b"content-length":
                request.length = value
            elif name == b"x-request-id":
                given_id = value
            elif name == b"x-cairn-synthetic":
                request.synthetic = value.strip().lower() in _SYNTHETIC_VALUES
        if given_id is not None:
            text = given_id.decode("latin-1")
            if _REQUEST_ID.match(text):
                request.request_id = text
        return request

    def _accepted(self, route: str, scope: Scope, request: _Request) -> bool:
        """Whether the body is CSV; raises for a request refused before its body is read."""
        if scope.get("method") != "POST":
            raise _HTTPError(405, "use POST with a JSON body", [(b"allow", b"POST")])
        if not self.service.ready:
            raise _HTTPError(503, "the model is still loading; retry shortly")
        self._route_fits_model(route)
        content_type = request.content_type
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
        limit = self.service.config.max_body_bytes
        if request.length is not None:
            try:
                declared = int(request.length)
            except ValueError:
                raise _HTTPError(400, "the Content-Length header is not a number") from None
            if declared > limit:
                raise _HTTPError(
                    413,
                    f"the body is {declared} bytes; the limit is {limit}. Send fewer "
                    "records per request",
                    [(b"connection", b"close")],
                )
        return csv

    def _route_fits_model(self, route: str) -> None:
        """A recommender answers /recommend and /similar-items only; other models
        every route but those."""
        recommends = self.service.recommends
        if recommends and route not in _RECOMMENDATION_ROUTES:
            model = self.service.arms[0].model
            raise _HTTPError(
                400,
                f"{model.name} is a recommendation model: it scores no records. POST "
                '/recommend {"user": ..., "k": 10, "exclude_seen": true} for a user\'s list, '
                'or /similar-items {"item": ..., "k": 10} for an item\'s neighbours',
                code="INVALID_PARAMETER_VALUE",
            )
        if not recommends and route in _RECOMMENDATION_ROUTES:
            model = self.service.arms[0].model
            raise _HTTPError(
                404,
                f"/{route} answers recommendation models; {model.name} is a {model.task} "
                'model: POST /predict {"records": [...]}',
            )

    async def _recommend(
        self, route: str, body: bytes, request_id: str
    ) -> tuple[dict[str, Any], list[LogEntry], RecommendRequest | SimilarRequest]:
        payload, notes = await _parse_json(body)
        try:
            answer, entries, request = self.service.recommend(route, payload)
        except RequestProblems as error:
            raise _HTTPError(422, error.problems) from None
        if notes:
            answer["warnings"] = [*notes, *answer["warnings"]]
        answer["request_id"] = request_id
        return answer, entries, request

    async def _records(
        self, route: str, body: bytes, csv: bool
    ) -> tuple[list[Any], list[dict[str, Any]]]:
        """The body's records and notes on what had to be repaired to read them."""
        if csv:
            columns = self.service.csv_columns
            records = await asyncio.to_thread(_csv_records, body, columns.text, columns.inputs)
            notes: list[dict[str, Any]] = []
        else:
            payload, notes = await _parse_json(body)
            records = _records_of(route, payload)
        max_rows = self.service.config.max_rows
        if len(records) > max_rows:
            raise _HTTPError(
                413,
                f"{len(records)} records in one request; the limit is {max_rows}. Split the batch",
            )
        return records, notes

    async def _answer(
        self, route: str, records: list[Any], notes: list[dict[str, Any]], request_id: str
    ) -> tuple[dict[str, Any], list[LogEntry]]:
        try:
            answer, entries = await self.service.score(records)
        except RecordsError as error:
            raise _HTTPError(422, [p.to_dict() for p in error.problems]) from None
        if notes:
            answer["warnings"] = [*notes, *answer.get("warnings", ())]
        answer["request_id"] = request_id
        if route == "invocations":
            answer = _as_mlflow(answer, entries)
        return answer, entries

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
        self.service.metrics.request(route, status, time.perf_counter() - started)
        log = self.service.log
        if log is not None:
            detail = error.detail if isinstance(error.detail, str) else json.dumps(error.detail)
            body = b"" if self.service.protects_personal_data else received
            log.reject(request_id, arrived, route, status, detail, body=body, synthetic=synthetic)
