"""A load generator that stays out of the way of what it measures.

:func:`load_test` keeps ``concurrency`` HTTP/1.1 keep-alive connections busy
(closed loop) or sends requests on a fixed schedule (``rps``, open loop: a
request's latency counts from when it was due, so a slow server cannot hide
its queueing), for a bounded time and count. The client is plain asyncio
streams on uvloop when installed: a few microseconds per request, so a
millisecond server is measured, not the client.

Payloads are real: rows of a data file (:func:`payloads_from_frame`), or
records drawn from the model's schema as ``/metadata`` describes it
(:func:`payloads_from_metadata`). For a recommendation model's
``/recommend`` the bodies name users the model knows (from ``/metadata``
or the user column of a data file) and, at ``unknown_share``, users it does
not (answered by its fallback); for ``/similar-items``, items of the
catalogue. Every request carries the header
``X-Cairn-Synthetic: 1``, so a cairn server logs it as synthetic and keeps it
out of monitoring, A/B reports and exports.
"""

from __future__ import annotations

import asyncio
import json
import math
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from cairn.exceptions import ServingError

__all__ = [
    "SYNTHETIC_HEADER",
    "LoadTestResult",
    "api_key_hint",
    "body_format_for",
    "check_latency",
    "endpoint_url",
    "fetch_metadata",
    "latency_summary",
    "load_test",
    "payloads_from_frame",
    "payloads_from_metadata",
    "recommendation_payloads",
    "request_body",
]

_MAX_REQUESTS = 10_000_000
#: Sent with every load-test request; the server logs such traffic as synthetic.
SYNTHETIC_HEADER = ("X-Cairn-Synthetic", "1")
_LATENCY_QUANTITIES = {"latency_p50_ms": "p50", "latency_p95_ms": "p95", "latency_p99_ms": "p99"}


@dataclass
class LoadTestResult:
    """What a load test measured (warm-up excluded).

    Attributes:
        latency_ms: p50, p95, p99, max and mean of successful requests.
        throughput_rps: successful requests per second.
        errors: requests that failed (non-2xx status or connection error).
        statuses: count per HTTP status (0 for connection errors).
    """

    url: str
    concurrency: int
    duration_s: float
    requests: int
    errors: int
    throughput_rps: float
    latency_ms: dict[str, float]
    statuses: dict[int, int] = field(default_factory=dict)
    target_rps: float | None = None
    rows_per_request: int = 1

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["error_rate"] = self.error_rate
        data["statuses"] = {str(k): v for k, v in self.statuses.items()}
        return data

    def summary(self) -> str:
        lat = self.latency_ms
        return (
            f"{self.requests} requests in {self.duration_s:.1f}s at concurrency "
            f"{self.concurrency}: {self.throughput_rps:.0f} req/s, p50 {lat['p50']:.2f} ms, "
            f"p95 {lat['p95']:.2f} ms, p99 {lat['p99']:.2f} ms, max {lat['max']:.2f} ms, "
            f"errors {self.errors} ({self.error_rate:.2%})"
        )


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """Milliseconds at p50, p95, p99, the max and the mean of per-request
    times given in seconds (NaN when there are none): the one latency summary
    the load test, the serving gate and the trade-off measurement report."""
    values = np.asarray(seconds, dtype=float) * 1000.0
    if not values.size:
        return dict.fromkeys(("p50", "p95", "p99", "max", "mean"), math.nan)
    return {
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "p99": float(np.percentile(values, 99)),
        "max": float(values.max()),
        "mean": float(values.mean()),
    }


def check_latency(result: LoadTestResult, objectives: Sequence[Any]) -> list[dict[str, Any]]:
    """Latency objectives (``latency_p99_ms < 3`` ...) checked against a load test.

    Objectives on other quantities are skipped. A run with errors fails every
    latency objective: a fast error is not a fast answer.
    """
    out = []
    for objective in objectives:
        key = _LATENCY_QUANTITIES.get(objective.quantity)
        if key is None:
            continue
        value = result.latency_ms[key]
        met = bool(objective.met_by(value)) and result.errors == 0 and result.requests > 0
        out.append(
            {
                "objective": str(objective),
                "quantity": objective.quantity,
                "value": value,
                "met": met,
                "how": f"HTTP load test, concurrency {result.concurrency}, "
                f"{result.requests} requests, {result.errors} errors",
            }
        )
    return out


def endpoint_url(url: str) -> str:
    """``url`` with ``http://`` when no scheme is given and ``/predict`` when no path is.

    Raises:
        ServingError: a scheme other than http or https.
    """
    text = url.strip()
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ServingError(f"{url}: use an http:// or https:// URL, e.g. http://{parts.netloc}")
    if not parts.netloc:
        raise ServingError(f"{url}: no host; use e.g. http://127.0.0.1:8000/predict")
    if parts.path in ("", "/"):
        text = f"{parts.scheme}://{parts.netloc}/predict"
    return text


def api_key_hint(api_key_env: str) -> str:
    return (
        f"the server wants an API key: set it in the environment variable {api_key_env} "
        "(or name another variable with --api-key-env)"
    )


#: Body formats of the recommendation routes: one id per request.
RECOMMENDATION_FORMATS = {"recommend": "user", "similar-items": "item"}
#: Share of /recommend load-test requests for users the model does not know.
UNKNOWN_USER_SHARE = 0.1


def body_format_for(url: str) -> str:
    """``dataframe_records`` for MLflow's /invocations, ``recommend`` or
    ``similar-items`` for those routes, else cairn's ``records``."""
    path = urlsplit(url).path.rstrip("/")
    for route in RECOMMENDATION_FORMATS:
        if path.endswith(f"/{route}"):
            return route
    return "dataframe_records" if path.endswith("invocations") else "records"


def _unknown_ids(known: Sequence[Any], count: int) -> list[Any]:
    """Ids certainly not among ``known``: past the largest number, or marked text."""
    numbers = [v for v in known if isinstance(v, int) and not isinstance(v, bool)]
    if numbers and len(numbers) == len(known):
        top = max(numbers)
        return [top + 1 + i for i in range(count)]
    taken = {str(v) for v in known}
    return [f"unknown-{i}" for i in range(count) if f"unknown-{i}" not in taken]


def recommendation_payloads(
    ids: Sequence[Any],
    *,
    body_format: str = "recommend",
    k: int = 10,
    unknown_share: float = UNKNOWN_USER_SHARE,
    count: int = 1000,
    seed: int = 0,
) -> list[bytes]:
    """/recommend (or /similar-items) bodies for ids drawn from ``ids``; for
    /recommend, ``unknown_share`` of them name users the model does not know.

    Raises:
        ServingError: no ids to draw from.
    """
    key = RECOMMENDATION_FORMATS.get(body_format)
    if key is None:
        raise ServingError(f"unknown recommendation route {body_format!r}")
    known = [v.item() if hasattr(v, "item") else v for v in ids]
    if not known:
        raise ServingError(f"no {key} ids to send")
    rng = np.random.default_rng(seed)
    share = unknown_share if key == "user" else 0.0
    unknown = _unknown_ids(known, max(1, int(count * share))) if share > 0 else []
    bodies = []
    for _ in range(count):
        if unknown and rng.random() < share:
            value = unknown[int(rng.integers(len(unknown)))]
        else:
            value = known[int(rng.integers(len(known)))]
        bodies.append(json.dumps({key: value, "k": k}).encode())
    return bodies


def request_body(records: list[dict[str, Any]], body_format: str) -> bytes:
    if body_format == "records":
        body: Any = {"records": records}
    elif body_format == "dataframe_records":
        body = {"dataframe_records": records}
    elif body_format == "dataframe_split":
        columns = list(records[0]) if records else []
        body = {
            "dataframe_split": {
                "columns": columns,
                "data": [[r.get(c) for c in columns] for r in records],
            }
        }
    else:
        raise ServingError(
            f"unknown body format {body_format!r}; "
            "use records, dataframe_records or dataframe_split"
        )
    return json.dumps(body, allow_nan=False).encode()


def payloads_from_frame(
    frame: Any,
    *,
    rows_per_request: int = 1,
    body_format: str = "records",
    count: int = 1000,
    seed: int = 0,
    drop: Sequence[str] = (),
) -> list[bytes]:
    """Request bodies made of rows sampled from a DataFrame."""
    from cairn.records import to_records

    columns = [c for c in frame.columns if str(c) not in set(drop)]
    records = to_records(frame[columns])
    if not records:
        raise ServingError("the data file has no rows to send")
    rng = np.random.default_rng(seed)
    bodies = []
    for _ in range(min(count, max(1, len(records) // rows_per_request) * 4)):
        picks = rng.integers(len(records), size=rows_per_request)
        bodies.append(request_body([records[int(i)] for i in picks], body_format))
    return bodies


def _synthetic(column: Mapping[str, Any], rng: np.random.Generator) -> Any:
    role, dtype = column.get("role"), column.get("dtype")
    if rng.random() < 0.02:
        return None
    if role == "numeric":
        low, high = column.get("range_p1_p99") or (0.0, 1.0)
        value = float(rng.uniform(low, high))
        return round(value) if dtype == "int" else value
    if role == "datetime":
        day = int(rng.integers(18000, 20000))
        return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))
    if dtype == "bool":
        return bool(rng.random() < 0.5)
    categories = column.get("categories") or []
    if categories:
        value = categories[int(rng.integers(len(categories)))]
        if dtype in ("int", "float"):
            try:
                return float(value) if dtype == "float" else int(float(value))
            except ValueError:
                return value
        return value
    if role == "text":
        return " ".join(rng.choice(["good", "plain", "short", "text", "sample"], size=5))
    return None


def payloads_from_metadata(
    url: str,
    *,
    rows_per_request: int = 1,
    body_format: str = "records",
    count: int = 500,
    seed: int = 0,
    headers: Mapping[str, str] | None = None,
    api_key_env: str = "CAIRN_API_KEY",
    k: int | None = None,
) -> list[bytes]:
    """Request bodies drawn from the schema a cairn server publishes at /metadata
    (for a recommendation route, from the users or items it names there).

    Args:
        api_key_env: named in the error when the server asks for a key.
        k: the list length asked of a recommendation route (default: the model's).

    Raises:
        ServingError: /metadata cannot be read (not a cairn server, or a key is needed).
    """
    metadata = fetch_metadata(url, headers, api_key_env)
    if body_format in RECOMMENDATION_FORMATS:
        return _recommendation_payloads_from(metadata, body_format, k, count, seed)
    columns = [c for c in metadata.get("schema", {}).get("columns", []) if c.get("required")]
    rng = np.random.default_rng(seed)
    bodies = []
    for _ in range(count):
        records = [
            {c["name"]: _synthetic(c, rng) for c in columns} for _ in range(rows_per_request)
        ]
        bodies.append(request_body(records, body_format))
    return bodies


def fetch_metadata(
    url: str, headers: Mapping[str, str] | None = None, api_key_env: str = "CAIRN_API_KEY"
) -> dict[str, Any]:
    """The /metadata of the server behind ``url``.

    Raises:
        ServingError: it cannot be read (not a cairn server, or a key is needed).
    """
    parts = urlsplit(url)
    meta_url = f"{parts.scheme}://{parts.netloc}/metadata"
    try:
        request = urllib.request.Request(meta_url, headers=dict(headers or {}))
        with urllib.request.urlopen(request, timeout=10) as answer:
            metadata: dict[str, Any] = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        if error.code == 401:
            sent = "was refused" if headers and "Authorization" in headers else "is missing"
            raise ServingError(
                f"{meta_url} answered 401 (the API key {sent}): {api_key_hint(api_key_env)}"
            ) from None
        raise ServingError(
            f"cannot read {meta_url} ({error}); pass --data FILE with rows to send instead"
        ) from None
    except (OSError, ValueError) as error:
        raise ServingError(
            f"cannot read {meta_url} ({error}); pass --data FILE with rows to send instead"
        ) from None
    return metadata


def _recommendation_payloads_from(
    metadata: Mapping[str, Any], body_format: str, k: int | None, count: int, seed: int
) -> list[bytes]:
    settings = metadata.get("recommendation")
    if not isinstance(settings, Mapping):
        raise ServingError(
            f"the server's model is a {metadata.get('task')} model: it has no /{body_format} "
            "route; load /predict instead"
        )
    key = "example_users" if body_format == "recommend" else "example_items"
    return recommendation_payloads(
        settings.get(key) or [],
        body_format=body_format,
        k=int(k or settings.get("k") or 10),
        count=count,
        seed=seed,
    )


# ---------------------------------------------------------------------------
# the client
# ---------------------------------------------------------------------------


class _Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int, tls: bool) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        context = ssl.create_default_context() if self.tls else None
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, ssl=context, server_hostname=self.host if self.tls else None
        )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, head: bytes, body: bytes) -> int:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        reader = self.reader
        header = await reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        lower = header.lower()
        length = -1
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lower.index(b"\r\n", at + 2)
            length = int(lower[at + 17 : end])
        if length >= 0:
            await reader.readexactly(length)
        elif b"transfer-encoding: chunked" in lower:
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        else:  # body until close
            await reader.read()
            self.close()
            return status
        if b"\r\nconnection: close" in lower:
            self.close()
        return status


def _head(url: str, headers: Mapping[str, str]) -> tuple[str, int, bool, bytes]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ServingError(f"{url}: use an http:// or https:// URL")
    tls = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if tls else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return host, port, tls, ("\r\n".join(lines) + "\r\nContent-Length: ").encode()


async def _run(
    url: str,
    payloads: Sequence[bytes],
    concurrency: int,
    duration: float,
    rps: float | None,
    max_requests: int,
    warmup: float,
    timeout: float,
    headers: Mapping[str, str],
) -> tuple[list[float], dict[int, int], float, int]:
    host, port, tls, head = _head(url, headers)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration
    connections: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(concurrency):
        connections.put_nowait(_Connection(host, port, tls))

    async def one(body: bytes, due: float) -> None:
        connection = await connections.get()
        status = 0
        try:
            status = await asyncio.wait_for(connection.request(head, body), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            connection.close()
        finally:
            connections.put_nowait(connection)
        finished = time.perf_counter()
        if due >= measure_from and finished <= stop_at + timeout:
            statuses[status] = statuses.get(status, 0) + 1
            if 200 <= status < 300:
                latencies.append(finished - due)

    if rps is None:

        async def worker(offset: int) -> None:
            nonlocal counter
            k = offset
            while counter < max_requests:
                now = time.perf_counter()
                if now >= stop_at:
                    return
                counter += 1
                await one(payloads[k % len(payloads)], now)
                k += concurrency

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    else:
        interval = 1.0 / rps
        tasks = []
        k = 0
        while counter < max_requests:
            due = start + k * interval
            if due >= stop_at:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            counter += 1
            tasks.append(asyncio.ensure_future(one(payloads[k % len(payloads)], due)))
            k += 1
        await asyncio.gather(*tasks)
    while not connections.empty():
        connections.get_nowait().close()
    elapsed = min(time.perf_counter(), stop_at) - measure_from
    return latencies, statuses, max(elapsed, 1e-9), counter


def load_test(
    url: str,
    payloads: Sequence[bytes],
    *,
    concurrency: int = 1,
    duration: float = 10.0,
    rps: float | None = None,
    max_requests: int | None = None,
    warmup: float = 1.0,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
    rows_per_request: int = 1,
    synthetic: bool = True,
) -> LoadTestResult:
    """Load ``url`` with POST requests and measure latency and throughput.

    Args:
        payloads: request bodies, sent in turn.
        synthetic: send ``X-Cairn-Synthetic: 1`` so the server logs the
            traffic as synthetic (kept out of monitoring and exports).
        concurrency: connections kept busy (or, with ``rps``, the most in flight).
        duration: seconds measured, after ``warmup`` seconds not measured.
        rps: send at this rate instead of as fast as answers come.
        max_requests: stop after this many requests, whatever the time.
        timeout: seconds before a request counts as an error.

    Raises:
        ServingError: bad arguments or URL.
    """
    if not payloads:
        raise ServingError("no payloads to send")
    if concurrency < 1 or duration <= 0 or (rps is not None and rps <= 0):
        raise ServingError("concurrency, duration and rps must be positive")
    limit = min(max_requests or _MAX_REQUESTS, _MAX_REQUESTS)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    sent = dict(headers or {})
    if synthetic:
        sent.setdefault(*SYNTHETIC_HEADER)
    latencies, statuses, elapsed, _ = runner(
        _run(url, payloads, concurrency, duration, rps, limit, warmup, timeout, sent)
    )
    measured = sum(statuses.values())
    ok = len(latencies)
    return LoadTestResult(
        url=url,
        concurrency=concurrency,
        duration_s=elapsed,
        requests=measured,
        errors=measured - ok,
        throughput_rps=ok / elapsed,
        latency_ms=latency_summary(latencies),
        statuses=dict(sorted(statuses.items())),
        target_rps=rps,
        rows_per_request=rows_per_request,
    )
