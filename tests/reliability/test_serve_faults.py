"""``cairn serve`` under load, stopped by faults: SIGKILL loses at most what
the log writer had queued and leaves a sound log a new server appends to;
SIGTERM and SIGINT lose nothing that was answered."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cairn.records import to_records
from cairn.serving.log import MAX_PENDING
from cairn.serving.server import RunningServer, start_process, stop_process
from tests.conftest import load_dataset
from tests.reliability._faults_serving import integrity, print_tally, registered_project, tally

pytestmark = pytest.mark.slow

NAME = "churn-served"
MODEL = f"models:/{NAME}@champion"
ROWS_PER_REQUEST = 3
SCENARIOS = [
    "serve SIGKILL under load",
    "serve restart on the same log",
    "serve SIGTERM under load",
    "serve SIGINT under load",
    "serve SIGINT twice under load",
]


@pytest.fixture(scope="module")
def project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    spec = registered_project(tmp_path_factory.mktemp("serve-faults"), NAME)
    yield spec.parent
    print_tally(request.config, SCENARIOS)


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    """Real rows the model did not train on."""
    frame = load_dataset("telco_churn", rows=3000, seed=21).iloc[2000:]
    return to_records(frame.drop(columns=["Churn"]))


@dataclass
class Sent:
    request_id: str
    rows: int
    done: float | None = None  # when the answer arrived (monotonic)
    status: int | None = None


class Load:
    """Concurrent clients posting real rows, each request with its own id."""

    def __init__(self, url: str, records: list[dict[str, Any]], prefix: str, workers: int = 4):
        self.url = url
        self.records = records
        self.prefix = prefix
        self.sent: list[Sent] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, args=(w,), daemon=True) for w in range(workers)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _work(self, worker: int) -> None:
        with httpx.Client(base_url=self.url, timeout=20) as client:
            n = 0
            while not self._stop.is_set():
                start = (worker * 97 + n * ROWS_PER_REQUEST) % (len(self.records) - 3)
                chosen = self.records[start : start + ROWS_PER_REQUEST]
                sent = Sent(f"{self.prefix}-{worker}-{n}", len(chosen))
                with self._lock:
                    self.sent.append(sent)
                n += 1
                try:
                    answer = client.post(
                        "/predict",
                        json={"records": chosen},
                        headers={"X-Request-ID": sent.request_id},
                    )
                except httpx.HTTPError:  # the server went away: stop this client
                    return
                sent.status, sent.done = answer.status_code, time.monotonic()

    def answered(self) -> list[Sent]:
        return [s for s in self.sent if s.status == 200]


def _pending(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    match = re.search(r'^cairn_log_records\{state="pending"\} ([0-9.e+]+)$', text, re.M)
    assert match, text[:2000]
    return float(match.group(1))


class HeldWriter:
    """Another process's write transaction on the log (``cairn logs prune``,
    say): the server's writer waits and the queue grows meanwhile."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
        self.connection.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.connection.execute("ROLLBACK")
        self.connection.close()


def _logged(path: Path) -> dict[str, list[int]]:
    """Rows per request id, after checking that every logged row is complete."""
    connection = sqlite3.connect(str(path), timeout=30.0)
    try:
        rows = connection.execute(
            "SELECT request_id, row, ts, model, version, arm, inputs, prediction, "
            "probabilities, latency_ms FROM predictions"
        ).fetchall()
    finally:
        connection.close()
    found: dict[str, list[int]] = {}
    for request_id, row, ts, model, version, arm, inputs, prediction, proba, latency in rows:
        assert model == NAME and version == "1" and arm == "champion"
        assert ts > 0 and latency is not None and latency >= 0
        assert set(json.loads(inputs)) >= {"tenure", "Contract", "TotalCharges"}
        assert json.loads(prediction) in ("Yes", "No")
        probabilities = json.loads(proba)
        assert set(probabilities) == {"Yes", "No"}
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        found.setdefault(request_id, []).append(row)
    return found


def _check_requests(load: Load, logged: dict[str, list[int]]) -> int:
    """Every logged request was sent and is logged whole; returns the answered
    rows missing from the log."""
    sent = {s.request_id: s for s in load.sent}
    for request_id, positions in logged.items():
        if request_id.startswith(load.prefix):
            assert request_id in sent, request_id
            assert sorted(positions) == list(range(sent[request_id].rows)), request_id
    return sum(s.rows for s in load.answered() if s.request_id not in logged)


def _start(project: Path, log: Path) -> RunningServer:
    return start_process(MODEL, cwd=project, extra_args=["--log", str(log)])


def test_sigkill_under_load_loses_at_most_the_queue(
    project: Path, records: list[dict[str, Any]], tmp_path: Path
) -> None:
    record = tally("serve SIGKILL under load")
    log = tmp_path / "predictions.db"
    server = _start(project, log)
    assert server.process is not None
    try:
        with Load(server.url, records, "kill") as load:
            time.sleep(1.0)
            held = HeldWriter(log)  # so that there is a queue to lose
            time.sleep(1.0)
            scraped = time.monotonic()
            pending = _pending(server.url)
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(30)
            record.injected += 1
            held.release()
    finally:
        stop_process(server)
    answered = load.answered()
    assert len(answered) > 20, "the load never got going"
    assert pending > 0, "the writer kept up: nothing was queued to lose"
    assert integrity(log) == "ok"
    lost = _check_requests(load, _logged(log))
    # Written rows are committed; what a kill can take is what waited for the
    # writer: the queue /metrics showed, plus rows answered since.
    late = sum(s.rows for s in answered if s.done is not None and s.done >= scraped - 0.05)
    assert lost <= pending + late, (lost, pending, late)
    assert lost <= MAX_PENDING
    record.rows_lost += lost
    record.rows_answered += sum(s.rows for s in answered)
    record.recovered += 1

    # a new server on the same file starts and logs again, after the old rows
    again = tally("serve restart on the same log")
    before = _logged(log)
    server = _start(project, log)
    try:
        with Load(server.url, records, "again", workers=2) as reload:
            time.sleep(0.5)
    finally:
        again.injected += 1
        code = stop_process(server)
    assert code in (0, -15)
    assert integrity(log) == "ok"
    after = _logged(log)
    assert {k: v for k, v in after.items() if k in before} == before
    again.rows_lost += _check_requests(reload, after)
    again.rows_answered += sum(s.rows for s in reload.answered())
    assert len(reload.answered()) > 5 and again.rows_lost == 0
    again.recovered += 1


@pytest.mark.parametrize(
    ("scenario", "signals"),
    [
        ("serve SIGTERM under load", [signal.SIGTERM]),
        ("serve SIGINT under load", [signal.SIGINT]),
        # Ctrl-C twice: the server quits without waiting for open requests
        ("serve SIGINT twice under load", [signal.SIGINT, signal.SIGINT]),
    ],
    ids=["SIGTERM", "SIGINT", "SIGINT-twice"],
)
def test_a_clean_stop_under_load_loses_no_answered_row(
    project: Path,
    records: list[dict[str, Any]],
    tmp_path: Path,
    scenario: str,
    signals: list[signal.Signals],
) -> None:
    record = tally(scenario)
    log = tmp_path / "predictions.db"
    server = _start(project, log)
    assert server.process is not None
    try:
        with Load(server.url, records, "stop") as load:
            time.sleep(1.0)
            held = HeldWriter(log)  # the stop finds rows waiting for the disk
            time.sleep(1.0)
            assert _pending(server.url) > 0
            for sent in signals:
                server.process.send_signal(sent)
                record.injected += 1
                time.sleep(0.05)
            time.sleep(1.0)
            held.release()
            code = server.process.wait(60)
            time.sleep(0.2)  # clients notice the closed port
    finally:
        stop_process(server)
    assert code in (0, 1, -signals[-1], 128 + signals[-1]), code
    answered = load.answered()
    assert len(answered) > 20, "the load never got going"
    assert integrity(log) == "ok"
    lost = _check_requests(load, _logged(log))
    record.rows_lost += lost
    record.rows_answered += sum(s.rows for s in answered)
    assert lost == 0, f"{lost} answered rows are missing from the log"
    record.recovered += 1
