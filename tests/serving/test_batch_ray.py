"""`cairn predict --executor ray`: partitions scored by Ray actors on a real
cluster (head + one worker node), the same predictions as in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cairn.cli.app import app
from cairn.exceptions import BundleError
from cairn.serving.batch import score_file, score_frame
from cairn.tracking import load_model
from tests.conftest import load_dataset
from tests.ray_cluster import RayCluster

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]


def test_predict_on_ray_equals_in_memory(
    churn: Any, ray_cluster: RayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster.address)
    rows = load_dataset("telco_churn", rows=1_500, seed=11).drop(columns=["Churn"])
    data = tmp_path / "score.parquet"
    rows.to_parquet(data, row_group_size=250)
    bundle = str(churn.bundle_path)
    expected, _ = score_frame(load_model(bundle), rows)
    out = tmp_path / "scored.parquet"
    command = ["predict", bundle, str(data), "-o", str(out), "--executor", "ray", "--workers", "2"]
    done = CliRunner().invoke(app, command)
    assert done.exit_code == 0, done.output
    assert "wrote 1500 predictions" in done.output
    got = pd.read_parquet(out)
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_series_equal(got["prediction"], expected["prediction"])
    probabilities = [c for c in expected.columns if c.startswith("proba_")]
    np.testing.assert_allclose(got[probabilities], expected[probabilities], rtol=1e-6)
    assert not list(tmp_path.glob(".scored.parquet.*"))  # no partial file left


def test_predict_on_ray_says_why_a_model_does_not_load(
    ray_cluster: RayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster.address)
    data = tmp_path / "rows.csv"
    load_dataset("iris", rows=50).to_csv(data, index=False)
    with pytest.raises(BundleError, match="no model bundle here"):
        score_file(str(tmp_path / "missing"), data, tmp_path / "out.parquet", executor="ray")
    assert not (tmp_path / "out.parquet").exists()
