"""The prediction log: written off the request path, nothing lost on close,
read back as a frame and exported."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cairn.exceptions import DataError, ServingError
from cairn.serving.log import (
    LogEntry,
    PredictionLog,
    default_log_path,
    export_log,
    log_counts,
    parse_time,
    prune_log,
    read_log,
    read_rejected,
)


def entry(request_id: str, ts: float, arm: str = "champion", rows: int = 2) -> LogEntry:
    return LogEntry(
        request_id=request_id,
        ts=ts,
        model="churn",
        version="3",
        arm=arm,
        records=[{"tenure": i, "Contract": "Month-to-month", "model": "x"} for i in range(rows)],
        labels=["Yes"] * rows,
        probabilities=np.tile([0.25, 0.75], (rows, 1)),
        classes=["No", "Yes"],
        latency_ms=0.4,
    )


def test_everything_queued_is_written_on_close(log_target: Path | str) -> None:
    log = PredictionLog(log_target).start()
    threads = [
        threading.Thread(
            target=lambda k=k: [log.write(entry(f"{k}-{i}", 1e9 + i)) for i in range(250)]
        )
        for k in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.reject("bad-1", 1e9, "predict", 422, "record 0: column 'tenure' is missing")
    log.close()
    assert log.accepted == log.written == 4 * 250 * 2
    assert log.pending == 0 and log.failed == 0
    assert log_counts(log_target) == {"champion": 2000}
    rejected = read_rejected(log_target)
    assert rejected["status"].tolist() == [422]


def test_read_log_layout(log_target: Path | str) -> None:
    log = PredictionLog(log_target).start()
    log.write(entry("a", 1_700_000_000.0))
    log.write(entry("a", 1_700_000_000.0, arm="shadow"))
    log.close()
    frame = read_log(log_target)
    assert len(frame) == 4
    assert {"tenure", "Contract", "input.model"} <= set(frame.columns)
    for column in ("request_id", "row", "ts", "model", "version", "arm", "latency_ms"):
        assert column in frame.columns
    assert frame["proba_Yes"].tolist() == [0.75] * 4
    assert frame["prediction"].tolist() == ["Yes"] * 4
    assert frame["row"].tolist() == [0, 1, 0, 1]
    assert str(frame["ts"].dt.tz) == "UTC"
    assert frame["model"].eq("churn").all()  # the meta column, not the input named "model"
    assert read_log(log_target, arm="shadow")["arm"].eq("shadow").all()


def test_time_windows(log_target: Path | str) -> None:
    now = datetime.now(UTC)
    log = PredictionLog(log_target).start()
    log.write(entry("old", (now - timedelta(days=3)).timestamp()))
    log.write(entry("new", (now - timedelta(minutes=5)).timestamp()))
    log.close()
    assert set(read_log(log_target, since="1h")["request_id"]) == {"new"}
    assert prune_log(log_target, "2d") == 2
    assert set(read_log(log_target)["request_id"]) == {"new"}
    assert read_log(log_target, until="1h").empty
    start = (now - timedelta(days=4)).date().isoformat()
    assert len(read_log(log_target, since=start)) == 2
    with pytest.raises(DataError, match="neither an ISO"):
        read_log(log_target, since="yesterday")
    assert parse_time("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)


def test_export_parquet_and_csv(log_target: Path | str, tmp_path: Path) -> None:
    log = PredictionLog(log_target).start()
    log.write(entry("a", 1e9))
    log.close()
    assert export_log(log_target, tmp_path / "out.parquet") == 2
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 2
    assert export_log(log_target, tmp_path / "out.csv") == 2
    assert "proba_Yes" in pd.read_csv(tmp_path / "out.csv").columns
    with pytest.raises(DataError, match=r"parquet or \.csv"):
        export_log(log_target, tmp_path / "out.xlsx")


def test_export_replaces_the_file_whole_and_leaves_no_temporary(
    log_target: Path | str, tmp_path: Path
) -> None:
    log = PredictionLog(log_target).start()
    log.write(entry("a", 1e9))
    log.write(entry("b", 1e9 + 1, rows=3))
    log.close()
    out = tmp_path / "exports" / "out.csv"
    out.parent.mkdir()
    out.write_text("an older export\n")
    assert export_log(log_target, out) == 5
    assert out.read_text() == read_log(log_target).to_csv(index=False)
    assert export_log(log_target, out.with_suffix(".parquet")) == 5
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.csv", "out.parquet"]


def test_missing_or_foreign_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no prediction log here"):
        read_log(tmp_path / "none.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(DataError, match="not a cairn prediction log"):
        read_log(other)
    (tmp_path / "text.db").write_text("not a database" * 100)
    with pytest.raises(ServingError, match="cannot open the prediction log"):
        PredictionLog(tmp_path / "text.db")
    assert default_log_path(tmp_path) == tmp_path / ".cairn" / "predictions.db"


def test_the_writer_survives_any_record(log_target: Path | str) -> None:
    log = PredictionLog(log_target).start()
    bad_text = entry("surrogate", 1e9)
    bad_text.records = [{"tenure": 1, "Contract": "A\ud800", "\udfff": 2, "big": 10**30}] * 2
    broken = entry("broken", 1e9)
    broken.classes = ["only-one"]  # probabilities no longer match the classes

    def failing(record: Any) -> Any:
        raise RuntimeError("cannot type this record")

    untyped = entry("untyped", 1e9)
    untyped.typed = failing
    log.write(bad_text)
    log.write(broken)
    log.write(untyped)
    log.reject("bad-\ud800", 1e9, "predict", 422, "column '\ud800'", body=b"\xff\xfe{")
    for i in range(5):
        log.write(entry(f"after-{i}", 1e9 + i))
    for _ in range(100):  # the writer is live: rows appear without a close
        if log.written >= 2 + 2 + 10:
            break
        time.sleep(0.05)
    assert log.healthy and log.written == 14 and log.failed == 2
    status = log.status()
    assert status["ok"] is False and status["failed"] == 2 and "broken" in status["last_error"]
    log.close()
    frame = read_log(log_target)
    assert set(frame["request_id"]) == {"surrogate", "untyped"} | {f"after-{i}" for i in range(5)}
    escaped = frame[frame["request_id"] == "surrogate"]
    assert escaped["Contract"].tolist() == ["A\\ud800"] * 2
    assert escaped["\\udfff"].tolist() == [2, 2]
    rejected = read_rejected(log_target)
    reasons = dict(zip(rejected["request_id"], rejected["detail"], strict=True))
    assert "not logged" in reasons["broken"]
    assert reasons["bad-\\ud800"] == "column '\\ud800'"


def test_the_queue_is_bounded_and_drops_are_counted(log_target: Path | str) -> None:
    log = PredictionLog(log_target, max_pending=5)  # not started: nothing leaves the queue
    assert log.write(entry("a", 1e9)) and log.write(entry("b", 1e9))
    assert not log.write(entry("c", 1e9))  # 6 records would be over 5
    assert log.accepted == 4 and log.dropped == 2 and log.pending == 4
    assert log.status()["ok"] is False and log.counts()["dropped"] == 2
    log.start()
    log.close()
    assert set(read_log(log_target)["request_id"]) == {"a", "b"}


def test_synthetic_rows_are_left_out_unless_asked(log_target: Path | str, tmp_path: Path) -> None:
    log = PredictionLog(log_target).start()
    log.write(entry("real", 1e9))
    load = entry("load", 1e9)
    load.synthetic = True
    log.write(load)
    log.reject("load-bad", 1e9, "predict", 422, "missing", synthetic=True)
    log.reject("real-bad", 1e9, "predict", 422, "missing", body=b'{"records": [{}]}')
    log.close()
    assert set(read_log(log_target)["request_id"]) == {"real"}
    assert "synthetic" not in read_log(log_target).columns
    everything = read_log(log_target, include_synthetic=True)
    assert dict(zip(everything["request_id"], everything["synthetic"], strict=False)) == {
        "real": False,
        "load": True,
    }
    assert export_log(log_target, tmp_path / "real.csv") == 2
    assert export_log(log_target, tmp_path / "all.csv", include_synthetic=True) == 4
    assert export_log(log_target, tmp_path / "rejected.csv", rejected=True) == 1
    rejected = pd.read_csv(tmp_path / "rejected.csv")
    assert rejected["request_id"].tolist() == ["real-bad"]
    assert rejected["body"].tolist() == ['{"records": [{}]}']
    assert len(read_rejected(log_target, include_synthetic=True)) == 2


def test_rejected_requests_are_bounded(log_target: Path | str) -> None:
    log = PredictionLog(log_target, max_rejected=3).start()
    for i in range(7):
        log.reject(f"bad-{i}", 1e9 + i, "predict", 400, "not JSON", body=b"x" * 5000)
    log.close()
    rejected = read_rejected(log_target)
    assert rejected["request_id"].tolist() == ["bad-4", "bad-5", "bad-6"]
    assert rejected["body"].str.len().max() < 1100 and "5000 bytes" in rejected["body"][0]


def test_logs_of_the_first_format_are_read_and_extended(log_file: Path) -> None:
    connection = sqlite3.connect(log_file)
    connection.executescript(
        """
        CREATE TABLE predictions (id INTEGER PRIMARY KEY, request_id TEXT NOT NULL,
            row INTEGER NOT NULL, ts REAL NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL,
            arm TEXT NOT NULL, inputs TEXT NOT NULL, prediction TEXT, probabilities TEXT,
            latency_ms REAL);
        CREATE TABLE rejected (id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, ts REAL NOT NULL,
            route TEXT NOT NULL, status INTEGER NOT NULL, detail TEXT);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('format', '1');
        INSERT INTO predictions (request_id, row, ts, model, version, arm, inputs, prediction)
            VALUES ('old', 0, 1e9, 'churn', '1', 'champion', '{"tenure": 3}', '"No"');
        INSERT INTO rejected (request_id, ts, route, status, detail)
            VALUES ('old-bad', 1e9, 'predict', 400, 'not JSON');
        """
    )
    connection.commit()
    connection.close()
    assert read_log(log_file)["request_id"].tolist() == ["old"]  # read as it is
    assert read_rejected(log_file)["body"].isna().all()
    log = PredictionLog(log_file).start()  # the writer adds the new columns
    log.write(entry("new", 1e9))
    log.close()
    assert read_log(log_file)["request_id"].tolist() == ["old", "new", "new"]


def test_rejections_count_against_the_bound(log_target: Path | str) -> None:
    log = PredictionLog(log_target, max_pending=3)
    for i in range(5):
        log.reject(f"bad-{i}", 1e9, "predict", 400, "not JSON")
    assert log.dropped == 2 and not log.write(entry("a", 1e9, rows=1))
    log.start()
    log.close()
    assert len(read_rejected(log_target)) == 3
    assert log.write(entry("b", 1e9, rows=1))  # room again once written


@pytest.mark.postgres
def test_a_postgres_log_survives_losing_its_connection(postgres_cluster: Any) -> None:
    """The server drops the writer's connection between batches: the writer
    reconnects and the batch is written once, nothing lost or doubled."""
    import psycopg

    url = postgres_cluster.new_schema("log")
    log = PredictionLog(url).start()
    log.write(entry("before", 1e9))
    for _ in range(100):
        if log.written == 2:
            break
        time.sleep(0.05)
    with psycopg.connect(url, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'cairn' AND pid <> pg_backend_pid()"
        ).fetchall()
    assert ended, "the writer held no connection to end"
    log.write(entry("after", 1e9 + 1, rows=3))
    log.close()
    assert log.written == 5 and log.failed == 0
    assert read_log(url)["request_id"].tolist() == ["before"] * 2 + ["after"] * 3


@pytest.mark.postgres
def test_an_unreachable_or_foreign_database_is_a_clear_error(postgres_cluster: Any) -> None:
    closed = f"postgresql://cairn:secret@127.0.0.1:{postgres_cluster.port + 1}/nowhere"
    with pytest.raises(ServingError, match="cannot open the prediction log") as caught:
        PredictionLog(closed)
    assert "secret" not in str(caught.value) and "cairn:***@" in str(caught.value)
    with pytest.raises(DataError, match="cannot open the prediction log"):
        read_log(closed)
    empty = postgres_cluster.new_schema("empty")
    with pytest.raises(DataError, match="not a cairn prediction log"):
        read_log(empty)
    with pytest.raises(DataError, match="use a file path, sqlite:///FILE or postgresql://"):
        read_log("mysql://cairn:secret@host/db")


def test_commands_and_readers_reach_the_log_a_spec_names(
    log_target: Path | str, tmp_path: Path
) -> None:
    """``[serving] log_url`` (or ``--log``) takes the log to the log commands
    and to the readers behind monitor, performance and labels."""
    from typer.testing import CliRunner

    from cairn.cli import app
    from cairn.cli._common import read_prediction_log
    from cairn.spec import load_spec

    log = PredictionLog(log_target).start()
    log.write(entry("old", 1e9))
    log.write(entry("new", time.time(), rows=3))
    log.close()
    url = str(log_target) if isinstance(log_target, str) else f"sqlite:///{log_target}"
    spec = tmp_path / "cairn.toml"
    spec.write_text(
        '[project]\nname = "churn"\n\n[data]\nsources = [{ path = "data.csv" }]\n\n'
        f'[problem]\ntarget = "Churn"\n\n[serving]\nlog_url = "{url}"\n',
        encoding="utf-8",
    )
    inputs, outputs, source = read_prediction_log(load_spec(spec), None, "1h", None, {})
    assert inputs["request_id"].tolist() == ["new"] * 3 and len(outputs) == 3
    assert "Yes" in set(outputs["prediction"]) and "prediction log" in source
    runner = CliRunner()
    out = tmp_path / "export.csv"
    done = runner.invoke(app, ["logs", "export", "-o", str(out), "--spec", str(spec)])
    assert done.exit_code == 0, done.output
    assert "wrote 5 logged prediction(s)" in done.output
    done = runner.invoke(app, ["logs", "prune", "--before", "1d", "--log", str(log_target)])
    assert done.exit_code == 0 and "deleted 2 logged prediction(s)" in done.output, done.output
    assert read_log(log_target)["request_id"].tolist() == ["new"] * 3


def test_log_url_must_be_a_database_url(tmp_path: Path) -> None:
    from cairn.exceptions import SpecError
    from cairn.spec import load_spec

    spec = tmp_path / "cairn.toml"
    base = '[project]\nname = "p"\n\n[data]\nsources = [{ path = "d.csv" }]\n\n'
    base += '[problem]\ntarget = "y"\n\n[serving]\n'
    spec.write_text(base + 'log_url = "mysql://host/db"\n', encoding="utf-8")
    with pytest.raises(SpecError, match="not a database URL; use postgresql://"):
        load_spec(spec)
    spec.write_text(base + 'log_url = "postgresql://h/db"\nlog_path = "x.db"\n', encoding="utf-8")
    with pytest.raises(SpecError, match=r"log_path \(a file\) or log_url"):
        load_spec(spec)
