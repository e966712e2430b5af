"""The serving commands, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from cairn.serving.app import ServingConfig, create_app
from cairn.serving.server import run_in_thread
from tests.serving.conftest import held_out, records_of

CAIRN = [sys.executable, "-m", "cairn"]


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [*CAIRN, *args], capture_output=True, text=True, cwd=cwd, timeout=120, env=env
    )


@pytest.fixture(scope="module")
def served(churn: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    log = tmp_path_factory.mktemp("cli") / "predictions.db"
    with run_in_thread(create_app(churn.bundle_path, config=ServingConfig(log_path=log))) as s:
        s.log = log
        yield s


def test_public_address_without_a_key_is_refused(churn: Any, tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "CAIRN_API_KEY"}
    done = cli("serve", str(churn.bundle_path), "--host", "0.0.0.0", cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert "needs an API key" in done.stderr and "Traceback" not in done.stderr
    nothing = cli("serve", cwd=tmp_path, env=env)
    assert nothing.returncode == 1 and "no model given" in nothing.stderr


def test_loadtest_checks_objectives(served: Any, churn: Any, tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    held_out(churn).to_csv(data, index=False)
    url = f"{served.url}/predict"
    common = ["loadtest", url, "-d", "0.5", "--warmup", "0.1", "--data", str(data)]
    ok = cli(
        *common,
        "--objective",
        "latency_p99_ms < 100000",
        "--json",
        str(tmp_path / "r.json"),
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert "req/s" in ok.stdout and "met" in ok.stdout
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["errors"] == 0 and result["objectives"][0]["met"] is True
    missed = cli(*common, "--objective", "latency_p50_ms < 0.000001", cwd=tmp_path)
    assert missed.returncode == 2 and "NOT met" in missed.stdout
    schema_drawn = cli("loadtest", url, "-d", "0.3", "--warmup", "0", "-c", "2", cwd=tmp_path)
    assert schema_drawn.returncode == 0 and "errors 0 " in schema_drawn.stdout


def test_logs_export_and_abtest_report(served: Any, churn: Any, tmp_path: Path) -> None:
    ids = []
    with httpx.Client(base_url=served.url) as c:
        for _ in range(30):
            ids.append(
                c.post("/predict", json={"records": records_of(churn, 2)}).json()["request_id"]
            )
    out = tmp_path / "log.parquet"
    # the log is written in the background: poll until the rows are there
    for _ in range(100):
        done = cli("logs", "export", "--log", str(served.log), "-o", str(out), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        frame = pd.read_parquet(out)
        if set(ids) <= set(frame["request_id"]):
            break
    assert set(ids) <= set(frame["request_id"])
    labels = frame[["request_id", "row"]].assign(Churn=frame["prediction"])
    labels.to_csv(tmp_path / "labels.csv", index=False)
    report = cli(
        "abtest",
        "report",
        "--log",
        str(served.log),
        "--labels",
        str(tmp_path / "labels.csv"),
        "--json",
        str(tmp_path / "ab.json"),
        cwd=tmp_path,
    )
    assert report.returncode == 0, report.stderr
    assert "champion" in report.stdout
    body = json.loads((tmp_path / "ab.json").read_text())
    # labels equal to the predictions
    assert body["arms"][0]["metrics"]["accuracy"]["value"] == 1.0
    bad = cli(
        "logs", "export", "--log", str(served.log), "-o", str(tmp_path / "x.xlsx"), cwd=tmp_path
    )
    assert bad.returncode == 1 and "parquet or .csv" in bad.stderr


def test_loadtest_takes_a_bare_address_and_its_traffic_stays_out_of_exports(
    served: Any, churn: Any, tmp_path: Path
) -> None:
    with httpx.Client(base_url=served.url) as c:
        real = c.post("/predict", json={"records": records_of(churn, 1)}).json()["request_id"]
        c.post("/predict", json={"records": [{"tenure": 1}]})  # rejected: columns missing
    address = served.url.removeprefix("http://")  # 127.0.0.1:PORT
    done = cli("loadtest", address, "-d", "0.3", "--warmup", "0", "--json", "r.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["url"] == f"{served.url}/predict" and result["errors"] == 0
    sent = result["requests"]
    log = ["--log", str(served.log)]
    for _ in range(100):  # the log is written in the background
        everything = cli(
            "logs", "export", *log, "-o", "all.csv", "--include-synthetic", cwd=tmp_path
        )
        assert everything.returncode == 0, everything.stderr
        frame = pd.read_csv(tmp_path / "all.csv")
        if frame["synthetic"].sum() >= sent and real in set(frame["request_id"]):
            break
    real_only = cli("logs", "export", *log, "-o", "real.csv", cwd=tmp_path)
    assert real_only.returncode == 0, real_only.stderr
    exported = pd.read_csv(tmp_path / "real.csv")
    assert real in set(exported["request_id"]) and "synthetic" not in exported.columns
    assert len(exported) == len(frame) - frame["synthetic"].sum() >= 1
    rejected = cli("logs", "export", *log, "-o", "rejected.csv", "--rejected", cwd=tmp_path)
    assert rejected.returncode == 0 and "rejected request(s)" in rejected.stdout
    refused = pd.read_csv(tmp_path / "rejected.csv")
    row = refused[refused["body"].str.contains('"tenure"', na=False)].iloc[0]
    assert row["status"] == 422 and "missing" in row["detail"]
    wrong = cli("loadtest", "ftp://127.0.0.1:1/predict", "-d", "0.1", cwd=tmp_path)
    assert wrong.returncode == 1 and "http://" in wrong.stderr and "Traceback" not in wrong.stderr


def test_loadtest_on_a_keyed_server_says_to_set_the_key(churn: Any, tmp_path: Path) -> None:
    import os

    key = "k" * 40
    app = create_app(churn.bundle_path, config=ServingConfig(api_key=key))
    env = {k: v for k, v in os.environ.items() if k != "CAIRN_API_KEY"}
    data = tmp_path / "rows.csv"
    held_out(churn).head(20).to_csv(data, index=False)
    with run_in_thread(app) as running:
        url = f"{running.url}/predict"
        drawn = cli("loadtest", url, "-d", "0.2", cwd=tmp_path, env=env)
        assert drawn.returncode == 1 and "Traceback" not in drawn.stderr
        assert "CAIRN_API_KEY" in drawn.stderr and "--data" not in drawn.stderr
        replayed = cli("loadtest", url, "-d", "0.2", "--data", str(data), cwd=tmp_path, env=env)
        assert "401" in replayed.stdout and "CAIRN_API_KEY" in replayed.stdout
        keyed = cli("loadtest", url, "-d", "0.2", cwd=tmp_path, env={**env, "CAIRN_API_KEY": key})
        assert keyed.returncode == 0 and "errors 0 " in keyed.stdout
