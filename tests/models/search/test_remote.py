"""The search's fold fits on a real Ray cluster (head + one worker node on
loopback): a worker killed mid-search costs at most its fold, and the run
says so."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from sklearn.model_selection import KFold

from cairn.data.schema import ColumnSchema, Role, Schema
from cairn.exceptions import TrainingError
from cairn.models.catalog import LEARNERS
from cairn.models.search import search
from tests.conftest import load_dataset
from tests.ray_cluster import Killer, RayCluster

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]


def _housing(rows: int) -> dict[str, Any]:
    frame = load_dataset("california_housing", rows=rows).drop(columns=["ocean_proximity"])
    frame = frame.dropna().reset_index(drop=True)
    y = frame.pop("median_house_value").to_numpy(dtype=float)
    schema = Schema(
        columns=tuple(ColumnSchema(n, Role.NUMERIC, "float") for n in frame.columns),
        target="median_house_value",
        task="regression",
    )
    folds = list(KFold(4, shuffle=True, random_state=0).split(np.arange(len(y))))
    return {"X": frame, "y": y, "schema": schema, "folds": folds, "task": "regression"}


def test_search_on_ray_survives_a_killed_worker(
    ray_cluster: RayCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster.address)
    data = _housing(3_000)
    said: list[str] = []
    killer = Killer(ray_cluster, "fit_fold_on_ray")
    started = time.monotonic()
    with killer.watching():
        result = search(
            **data,
            metric="rmse",
            learners=[LEARNERS["lightgbm"], LEARNERS["linear"]],
            time_budget=60,
            max_trials=2,
            ensemble="none",
            select_features=False,
            executor="ray",
            progress=said.append,
        )
    assert time.monotonic() - started < 90
    assert any("fold fits run on Ray" in m and "2 at a time" in m for m in said), said
    # The kill landed on a fold fit, which the search ran again (or, lost
    # twice, recorded as a failed candidate): nothing else was lost.
    assert killer.killed, "no fold fit was seen running on the worker node"
    lost = [m for m in said if "a Ray worker was lost fitting" in m]
    assert lost, said
    noted = [c for c in result.candidates if "a Ray worker was lost" in c.error]
    assert noted and all(c.status in ("ok", "failed") for c in noted)
    assert any(m in lost[0] for m in (c.name for c in noted))
    # Default, log-target variant, then the two trials run side by side.
    tuned = [c for c in result.candidates if c.config.origin in ("portfolio", "tpe")]
    assert len(tuned) == 2
    scored = [c for c in result.candidates if c.status == "ok"]
    assert len(scored) >= 3
    assert all(len(c.fold_scores) == 4 and c.oof is not None for c in scored)
    assert result.candidate(result.best).cv_mean < np.std(data["y"])  # learned something
    trials = result.trials
    assert trials["error"].str.contains("a Ray worker was lost").any()


def test_a_fit_that_raises_on_ray_fails_its_candidate_with_the_cause(
    ray_cluster: RayCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster.address)
    data = _housing(500)
    data["X"] = data["X"].drop(columns=["median_income"])  # the schema still names it
    said: list[str] = []
    with pytest.raises(TrainingError, match=r"lightgbm: .*median_income") as raised:
        search(
            **data,
            metric="rmse",
            learners=[LEARNERS["lightgbm"]],
            time_budget=30,
            max_trials=0,
            ensemble="none",
            select_features=False,
            executor="ray",
            progress=said.append,
        )
    # The error came back from the worker as itself, not as a lost worker.
    assert any("fold fits run on Ray" in m for m in said), said
    assert "lost" not in str(raised.value)
    assert not any("lost" in m for m in said), said


def test_small_budget_stays_local_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    data = _housing(400)
    said: list[str] = []
    result = search(
        **data,
        metric="rmse",
        learners=[LEARNERS["linear"]],
        time_budget=20,
        max_trials=0,
        ensemble="none",
        select_features=False,
        executor="ray",
        progress=said.append,
    )
    assert result.candidates[0].status == "ok"
    assert any("runs locally" in m and "under 100 s" in m for m in said), said
    assert not any("fold fits run on Ray" in m for m in said)
