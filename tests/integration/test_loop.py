"""The whole maintenance loop, as a user runs it from the command line:

train and register → serve (the server logs every prediction) → requests from
a shifted population → labels arrive → ``cairn monitor --log`` calls the model
unhealthy → ``cairn retrain --log --labels`` trains a challenger and promotes
it (or keeps the champion) → ``cairn rollback`` restores the previous champion.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from cairn.tracking import CHAMPION, alias_version, list_decisions, tracking_uri
from tests.conftest import load_dataset

pytestmark = pytest.mark.slow

CAIRN = [sys.executable, "-m", "cairn.cli"]
SPEC = """
[project]
name = "adult-loop"

[data]
sources = [{ path = "train.csv" }]

[problem]
target = "class"
objectives = ["roc_auc >= 0.8"]

[split]
folds = 3

[train]
time_budget = 10
include = ["lightgbm"]
max_trials = 0
ensemble = "none"
select_features = false

[monitoring]
bootstrap = 50

[maintenance]
min_holdout_rows = 100
"""


def cairn(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CAIRN, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post(url: str, records: list[dict[str, object]], request_id: str) -> dict[str, object]:
    body = json.dumps({"records": records}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": "application/json", "X-Request-ID": request_id},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return dict(json.loads(answer.read()))


def wait_ready(base: str, server: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server stopped: {server.stderr.read() if server.stderr else ''}")
        try:
            with urllib.request.urlopen(f"{base}/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    pytest.fail("the server was not ready in time")


def test_train_serve_monitor_retrain_rollback(tmp_path: Path) -> None:
    adult = load_dataset("adult")
    young = adult[adult.age < 40].sample(frac=1.0, random_state=0).reset_index(drop=True)
    old = adult[adult.age >= 40].sample(1500, random_state=1).reset_index(drop=True)
    young.iloc[:800].to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "cairn.toml").write_text(SPEC, encoding="utf-8")

    # 1. train and register: version 1 becomes the champion
    done = cairn("run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    store = tracking_uri(tmp_path)
    assert alias_version("adult-loop", CHAMPION, tracking_uri=store) == "1"

    # 2. serve the champion; every prediction goes to .cairn/predictions.db
    port = free_port()
    server = subprocess.Popen(
        [*CAIRN, "serve", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server)
        # 3. the population changes: older people, 30 requests of 50 records
        features = old.drop(columns="class")
        for k in range(30):
            chunk = features.iloc[k * 50 : (k + 1) * 50]
            records = json.loads(chunk.to_json(orient="records"))
            answer = post(f"{base}/predict", records, request_id=f"batch-{k}")
            assert len(answer["predictions"]) == 50  # type: ignore[arg-type]
    finally:
        server.send_signal(signal.SIGINT)  # a clean stop writes the whole log
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    log = tmp_path / ".cairn" / "predictions.db"
    assert log.exists()

    # 4. labels arrive, keyed by request id and position in the request
    labels = pd.DataFrame(
        {
            "request_id": [f"batch-{i // 50}" for i in range(len(old))],
            "row": [i % 50 for i in range(len(old))],
            "class": old["class"],
        }
    )
    labels.to_csv(tmp_path / "labels.csv", index=False)

    # 5. monitoring the log window says the model is unhealthy (exit 2)
    done = cairn(
        "monitor", "--log", "--since", "1h", "--labels", "labels.csv",
        "-o", "report.html", "--json", "result.json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["healthy"] is False
    assert result["model"]["version"] == "1"
    assert "prediction log" in result["source"]
    assert result["drift"]["n_current"] == len(old)
    assert result["drift"]["features"][0]["name"] == "age"
    assert result["performance"]["n"] == len(old)
    assert result["performance"]["join"]["key"] == ["request_id", "row"]
    assert result["retrain"]["due"] is True
    assert "<!DOCTYPE html>" in (tmp_path / "report.html").read_text()

    # 6. retrain on the labelled log rows: the challenger is compared on the
    #    most recent ones and promoted only if it wins
    done = cairn("retrain", "--log", "--labels", "labels.csv", "--if-due", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    decision = list_decisions("adult-loop", tracking_uri=store)[0]
    assert decision["decision"] in ("promoted", "kept")
    champion = alias_version("adult-loop", CHAMPION, tracking_uri=store)
    if decision["decision"] == "promoted":
        assert champion == "2" and "promoted version 2" in done.stdout
    else:
        assert champion == "1" and "kept version 1" in done.stdout
    assert decision["evidence"]["comparison"]["n"] == 450  # 30% of the 1,500 labelled rows

    # 7. roll back to the version before (after a promotion), or pick one
    target = [] if champion == "2" else ["--to", "2"]
    done = cairn("rollback", *target, "--reason", "loop test", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = "1" if champion == "2" else "2"
    assert alias_version("adult-loop", CHAMPION, tracking_uri=store) == expected
    assert list_decisions("adult-loop", tracking_uri=store)[0]["decision"] == "rollback"
    assert (tmp_path / ".cairn" / "retrain").is_dir()
