"""Running the API: in the foreground (``cairn serve``), in a thread, or as a
child process on a loopback port (tests, the latency gate of ``cairn run``)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.exceptions import ServingError

__all__ = [
    "DEFAULT_API_KEY_ENV",
    "RunningServer",
    "check_bind",
    "is_loopback",
    "read_api_key",
    "run_in_thread",
    "serve",
    "serve_workers",
    "start_process",
]

DEFAULT_API_KEY_ENV = "CAIRN_API_KEY"


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8, ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_api_key(
    *, env: str | None = DEFAULT_API_KEY_ENV, file: str | Path | None = None
) -> str | None:
    """The API key from a file (first line) or an environment variable, or None.

    Raises:
        ServingError: the file cannot be read, is empty, or others may read it.
    """
    if file is not None:
        path = Path(file)
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ServingError(f"--api-key-file {path}: cannot read it ({error})") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ServingError(
                f"--api-key-file {path}: other users may read it; run 'chmod 600 {path}'"
            )
        key = text.strip().splitlines()[0].strip() if text.strip() else ""
        if not key:
            raise ServingError(f"--api-key-file {path}: the file is empty")
        return key
    if env:
        value = os.environ.get(env, "").strip()
        return value or None
    return None


def check_bind(host: str, api_key: str | None, env: str | None = DEFAULT_API_KEY_ENV) -> None:
    """Refuse a non-loopback address without an API key, and short keys anywhere.

    Raises:
        ServingError: what is wrong and how to set a key.
    """
    if api_key is not None and len(api_key) < 16:
        raise ServingError("the API key is shorter than 16 characters; use a long random key")
    if not is_loopback(host) and api_key is None:
        raise ServingError(
            f"binding to {host} exposes the model beyond this machine, so it needs an API key: "
            f"export {env or DEFAULT_API_KEY_ENV}=$(openssl rand -hex 32) or pass "
            "--api-key-file PATH; or bind to 127.0.0.1"
        )


def _uvicorn_config(app: Any, host: str, port: int, **extra: Any) -> Any:
    import importlib.util

    import uvicorn

    fast = importlib.util.find_spec("uvloop") is not None
    parser = importlib.util.find_spec("httptools") is not None
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop" if fast else "asyncio",
        http="httptools" if parser else "h11",
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=30,
        **extra,
    )


def serve(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    api_key_env: str | None = DEFAULT_API_KEY_ENV,
    announce: Callable[[], None] | None = None,
    check: bool = True,
) -> None:
    """Serve ``app`` (from :func:`cairn.serving.create_app`) until interrupted.

    Binding to anything but a loopback address needs the app to have an API
    key, unless ``check`` is False (something in front authenticates).
    ``announce`` is called once the port is bound.

    Raises:
        ServingError: no API key for a public address, or the port is taken.
    """
    import uvicorn

    _check_key(host, api_key, api_key_env, check)
    # the log writer thread must not hold the GIL for long while a request waits
    sys.setswitchinterval(0.001)
    server = uvicorn.Server(_uvicorn_config(app, host, port))
    server.run(sockets=[_listen(host, port, announce)])


def _check_key(host: str, api_key: str | None, api_key_env: str | None, check: bool) -> None:
    """A public address needs a key unless ``check`` is False; a short key is refused anywhere."""
    if check:
        check_bind(host, api_key, api_key_env)
    elif api_key is not None and len(api_key) < 16:
        check_bind("127.0.0.1", api_key, api_key_env)


def serve_workers(
    factory: str,
    *,
    workers: int,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    api_key_env: str | None = DEFAULT_API_KEY_ENV,
    announce: Callable[[], None] | None = None,
    check: bool = True,
) -> None:
    """Serve from ``workers`` processes sharing one listening socket, until
    interrupted. Each process calls ``factory`` (``"module:function"``,
    returning the app) and so loads its own models and writes the prediction
    log on its own connection; a worker that dies is replaced. On SIGTERM or
    Ctrl-C every worker finishes its requests and drains its log queue.

    Raises:
        ServingError: no API key for a public address, or the port is taken.
    """
    from uvicorn.supervisors import Multiprocess

    _check_key(host, api_key, api_key_env, check)
    config = _uvicorn_config(factory, host, port, factory=True, workers=workers)
    sock = _listen(host, port, announce)
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


def _listen(host: str, port: int, announce: Callable[[], None] | None) -> socket.socket:
    """The bound socket, then the announcement."""
    try:
        sock = _bind(host, port)
    except OSError as error:
        raise ServingError(
            f"cannot listen on {host}:{port} ({error.strerror}); pick another --port"
        ) from None
    if announce is not None:
        announce()
    return sock


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


@dataclass
class RunningServer:
    """A server started by :func:`run_in_thread` or :func:`start_process`."""

    url: str
    host: str
    port: int
    process: subprocess.Popen[bytes] | None = None


@contextlib.contextmanager
def run_in_thread(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 60.0
) -> Iterator[RunningServer]:
    """Serve ``app`` on a loopback port in a background thread, for tests and tools.

    The port is bound before the server starts (port 0 picks a free one), and
    the context exits after a clean shutdown (lifespan included).
    """
    import uvicorn

    if not is_loopback(host):
        raise ServingError("run_in_thread binds loopback addresses only")
    sock = _bind(host, port)
    server = uvicorn.Server(_uvicorn_config(app, host, sock.getsockname()[1]))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise ServingError("the server stopped while starting; see the log above")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise ServingError(f"the server did not start within {timeout:.0f}s")
        time.sleep(0.01)
    actual = sock.getsockname()[1]
    try:
        yield RunningServer(f"http://{host}:{actual}", host, actual)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_ready(
    url: str,
    *,
    timeout: float = 60.0,
    process: subprocess.Popen[bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Poll ``url/ready`` until it answers 200.

    Raises:
        ServingError: the process exited or the timeout passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            output = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise ServingError(f"the server exited while starting: {output.strip()[-500:]}")
        try:
            request = urllib.request.Request(f"{url}/ready", headers=headers or {})
            with urllib.request.urlopen(request, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            raise ServingError(f"the server at {url} was not ready within {timeout:.0f}s")
        time.sleep(0.05)


def start_process(
    model: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 90.0,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> RunningServer:
    """Start ``cairn serve MODEL`` in a child process on a loopback port and wait until ready.

    ``env`` replaces the child's environment (default: this process's);
    ``extra_args`` are further ``cairn serve`` options. Stop it with
    :func:`stop_process`.

    Raises:
        ServingError: it did not become ready in time.
    """
    if not is_loopback(host):
        raise ServingError("start_process binds loopback addresses only")
    last: ServingError | None = None
    for _ in range(3):  # a free port can be taken between the probe and the bind
        chosen = port or _free_port(host)
        command = [
            sys.executable,
            "-m",
            "cairn",
            "serve",
            str(model),
            "--host",
            host,
            "--port",
            str(chosen),
            *extra_args,
        ]
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
        url = f"http://{host}:{chosen}"
        try:
            wait_ready(url, timeout=timeout, process=process)
        except ServingError as error:
            last = error
            stop_process(RunningServer(url, host, chosen, process))
            if port is not None or "address" not in str(error).lower():
                raise
            continue
        return RunningServer(url, host, chosen, process)
    assert last is not None
    raise last


def stop_process(server: RunningServer, *, timeout: float = 30.0) -> int | None:
    """Stop a server started by :func:`start_process` (SIGTERM, then SIGKILL)."""
    process = server.process
    if process is None:
        return None
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    if process.stderr is not None:
        process.stderr.close()
    return process.returncode
