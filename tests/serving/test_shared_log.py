"""Several server processes write one prediction log: two ``cairn serve``
(one of them with ``--workers 2``) scoring at once, every record logged
exactly once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import signal
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cairn.serving.log import read_log
from cairn.serving.server import start_process, stop_process
from tests.serving.conftest import records_of


def _post(url: str, records: list[dict[str, Any]], request_id: str) -> None:
    request = urllib.request.Request(
        f"{url}/predict",
        data=json.dumps({"records": records}).encode(),
        headers={"Content-Type": "application/json", "X-Request-ID": request_id},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 200


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_servers_and_workers_log_every_record_into_one_log(
    churn: Any, log_target: Path | str
) -> None:
    records = records_of(churn, 3)
    log = ["--log", str(log_target)]
    servers = [
        start_process(churn.bundle_path, extra_args=[*log, "--workers", "2"]),
        start_process(churn.bundle_path, extra_args=log),
    ]
    try:
        assert servers[0].process is not None
        # two workers, and multiprocessing's resource tracker
        assert len(_children(servers[0].process.pid)) == 3
        requests = [(server.url, f"{k}-{i}") for k, server in enumerate(servers) for i in range(40)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda job: _post(job[0], records, job[1]), requests))
    finally:
        for server in servers:
            # a clean stop drains every worker's queue (uvicorn re-raises SIGTERM
            # once a single-process server has shut down)
            assert stop_process(server) in (0, -signal.SIGTERM)
    frame = read_log(log_target)
    assert len(frame) == len(requests) * len(records)
    assert frame.groupby("request_id").size().eq(len(records)).all()
    assert set(frame["request_id"]) == {rid for _, rid in requests}
    assert not frame.duplicated(["request_id", "row"]).any()
