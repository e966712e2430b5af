"""Retraining a clustering on new rows (no labels): the challenger keeps the
champion's cluster ids, and the decision's evidence shows each id's share of
the recent rows under both models. Real registry, real data (wheat seeds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn.cli.maintenance import _print_retrain
from cairn.maintenance import _advice, retrain
from cairn.spec import load_spec
from cairn.tracking import CHAMPION, alias_version, load_model, tracking_uri
from tests.conftest import load_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheat() -> pd.DataFrame:
    return load_dataset("wheat_seeds").sample(frac=1.0, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory, wheat: pd.DataFrame) -> Path:
    root = tmp_path_factory.mktemp("segments")
    wheat.iloc[:140].to_csv(root / "train.csv", index=False)
    (root / "cairn.toml").write_text(
        """
[project]
name = "wheat-segments"

[data]
sources = [{ path = "train.csv" }]

[problem]
task = "clustering"
ground_truth = "variety"

[clustering]
k_min = 3
k_max = 3
algorithms = ["kmeans", "gaussian_mixture"]

[train]
time_budget = 8

[monitoring]
bootstrap = 50

[maintenance]
holdout = 0.3
min_holdout_rows = 20
""",
        encoding="utf-8",
    )
    with pytest.MonkeyPatch.context() as patch:
        # Module fixtures run before the per-test isolation of the tracking store.
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = cairn.run(root / "cairn.toml")
    assert result.alias == CHAMPION
    return root / "cairn.toml"


def test_familiar_rows_trigger_no_retraining(
    spec_path: Path, wheat: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    familiar = wheat.iloc[140:].drop(columns="variety").reset_index(drop=True)
    result = retrain(spec_path, familiar, only_if_due=True)
    assert result.decision == "skipped", result.summary()
    # Rows of one segment only: the policy's advice (what --if-due reads) fires.
    uri = tracking_uri(spec_path.parent)
    champion = load_model(f"models:/wheat-segments@{CHAMPION}", tracking_uri=uri)
    ids = champion.predict(wheat)
    one_segment = wheat[ids == ids[0]].drop(columns="variety").reset_index(drop=True)
    advice = _advice(load_spec(spec_path), champion, one_segment, uri, now=None)
    assert advice.due and "clusters" in advice.triggers
    assert any(f"cluster {int(ids[0])} grew" in reason for reason in advice.reasons)


def test_a_retrained_clustering_keeps_the_champions_ids(
    spec_path: Path,
    wheat: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = tracking_uri(spec_path.parent)
    champion = load_model(f"models:/wheat-segments@{CHAMPION}", tracking_uri=uri)
    new_rows = wheat.iloc[140:].drop(columns="variety").reset_index(drop=True)
    result = retrain(spec_path, new_rows, time_budget=8)
    assert result.decision in ("promoted", "kept")
    assert result.comparison is not None and result.comparison.metric == "silhouette"
    assert np.isfinite(result.comparison.improvement)
    assert result.comparison.low is not None  # the paired interval on the same rows
    clusters = result.clusters
    assert clusters is not None
    matched = clusters["matched_on_training_rows"]
    assert sorted(matched["mapping"].values()) == [0, 1, 2]
    assert matched["agreement"] >= 0.9
    assert clusters["agreement"] >= 0.8  # 21 recent rows: a few lie between clusters
    assert clusters["recent_rows"] == result.comparison.n == 21
    for row in clusters["shares"]:
        assert abs(row["champion_share"] - row["challenger_share"]) < 0.15
    assert any("keeps the champion's cluster ids" in reason for reason in result.reasons)
    # The challenger's bundle labels every row as the champion does.
    assert result.run is not None
    challenger = result.run.model
    assert (challenger.predict(wheat) == champion.predict(wheat)).mean() >= 0.9
    metadata = challenger.metadata["clustering"]
    assert metadata["matched_to"]["mapping"] == matched["mapping"]
    assert metadata["cluster_ids"] == [0, 1, 2]
    # The evidence recorded in the retrain folder holds the same.
    assert result.evidence_path is not None
    evidence = json.loads(Path(result.evidence_path).read_text())
    assert evidence["clusters"]["shares"] == clusters["shares"]
    # What cairn retrain prints: the shares per matched id under both models.
    _print_retrain(result)
    shown = capsys.readouterr().out
    assert "Rows per cluster id" in shown and "silhouette" in shown
    version = alias_version("wheat-segments", CHAMPION, tracking_uri=uri)
    assert version == (result.challenger_version if result.promoted else "1")
