"""The prediction log: written off the request path, nothing lost on close,
read back as a frame and exported."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


def test_everything_queued_is_written_on_close(log_file: Path) -> None:
    log = PredictionLog(log_file).start()
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
    assert log_counts(log_file) == {"champion": 2000}
    rejected = read_rejected(log_file)
    assert rejected["status"].tolist() == [422]


def test_read_log_layout(log_file: Path) -> None:
    log = PredictionLog(log_file).start()
    log.write(entry("a", 1_700_000_000.0))
    log.write(entry("a", 1_700_000_000.0, arm="shadow"))
    log.close()
    frame = read_log(log_file)
    assert len(frame) == 4
    assert {"tenure", "Contract", "input.model"} <= set(frame.columns)
    for column in ("request_id", "row", "ts", "model", "version", "arm", "latency_ms"):
        assert column in frame.columns
    assert frame["proba_Yes"].tolist() == [0.75] * 4
    assert frame["prediction"].tolist() == ["Yes"] * 4
    assert frame["row"].tolist() == [0, 1, 0, 1]
    assert str(frame["ts"].dt.tz) == "UTC"
    assert frame["model"].eq("churn").all()  # the meta column, not the input named "model"
    assert read_log(log_file, arm="shadow")["arm"].eq("shadow").all()


def test_time_windows(log_file: Path) -> None:
    now = datetime.now(UTC)
    log = PredictionLog(log_file).start()
    log.write(entry("old", (now - timedelta(days=3)).timestamp()))
    log.write(entry("new", (now - timedelta(minutes=5)).timestamp()))
    log.close()
    assert set(read_log(log_file, since="1h")["request_id"]) == {"new"}
    assert prune_log(log_file, "2d") == 2
    assert set(read_log(log_file)["request_id"]) == {"new"}
    assert read_log(log_file, until="1h").empty
    start = (now - timedelta(days=4)).date().isoformat()
    assert len(read_log(log_file, since=start)) == 2
    with pytest.raises(DataError, match="neither an ISO"):
        read_log(log_file, since="yesterday")
    assert parse_time("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)


def test_export_parquet_and_csv(log_file: Path, tmp_path: Path) -> None:
    log = PredictionLog(log_file).start()
    log.write(entry("a", 1e9))
    log.close()
    assert export_log(log_file, tmp_path / "out.parquet") == 2
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 2
    assert export_log(log_file, tmp_path / "out.csv") == 2
    assert "proba_Yes" in pd.read_csv(tmp_path / "out.csv").columns
    with pytest.raises(DataError, match=r"parquet or \.csv"):
        export_log(log_file, tmp_path / "out.xlsx")


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
