"""`cairn predict --executor ray`: partitions scored by Ray actors on a real
cluster (head + one worker node), the same predictions as in memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cairn.serving.batch import score_frame
from cairn.tracking import load_model
from tests.conftest import load_dataset
from tests.ray_cluster import RayCluster
from tests.serving.conftest import held_out

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]

CAIRN = [sys.executable, "-m", "cairn.cli"]


def test_predict_on_ray_equals_in_memory(
    churn: Any, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    rows = load_dataset("telco_churn", rows=3_000, seed=11).drop(columns=["Churn"])
    data = tmp_path / "score.parquet"
    rows.to_parquet(data, row_group_size=400)
    bundle = str(churn.bundle_path)
    expected, _ = score_frame(load_model(bundle), rows)
    out = tmp_path / "scored.parquet"
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.address}
    command = [*CAIRN, "predict", bundle, str(data), "-o", str(out), "--executor", "ray"]
    done = subprocess.run(
        [*command, "--workers", "2"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrote 3000 predictions" in done.stdout
    got = pd.read_parquet(out)
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_series_equal(got["prediction"], expected["prediction"])
    probabilities = [c for c in expected.columns if c.startswith("proba_")]
    np.testing.assert_allclose(got[probabilities], expected[probabilities], rtol=1e-6)
    assert not list(tmp_path.glob(".scored.parquet.*"))  # no partial file left
    # An unknown executor is one line, before anything is scored.
    bad = subprocess.run(
        [
            *CAIRN,
            "predict",
            bundle,
            str(data),
            "-o",
            str(tmp_path / "x.parquet"),
            "--executor",
            "spark",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr and "not available" in bad.stderr


def test_held_out_rows_score_the_same_through_ray(
    churn: Any, ray_cluster: RayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process (score_file), CSV partitions travel through the object store."""
    from cairn.serving.batch import score_file

    monkeypatch.setenv("RAY_ADDRESS", ray_cluster.address)
    frame = held_out(churn)
    text = tmp_path / "held.csv"
    frame.to_csv(text, index=False)
    out = tmp_path / "held.parquet"
    written, _ = score_file(
        str(churn.bundle_path), text, out, workers=2, executor="ray", partition_rows=100
    )
    assert written == len(frame)
    expected, _ = score_frame(load_model(str(churn.bundle_path)), pd.read_csv(text))
    pd.testing.assert_series_equal(pd.read_parquet(out)["prediction"], expected["prediction"])
