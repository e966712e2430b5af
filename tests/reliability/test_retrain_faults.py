"""``cairn retrain`` killed with SIGKILL while it searches, packages and
registers: the champion alias never moves to a half-made version, the
champion still loads and predicts, and the next ``cairn retrain`` succeeds."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.tracking import CHAMPION, alias_version, list_decisions, load_model, tracking_uri
from tests.conftest import load_dataset
from tests.reliability._faults_serving import (
    Child,
    integrity,
    print_tally,
    registered_project,
    tally,
)

pytestmark = pytest.mark.slow

NAME = "churn-retrained"
SCENARIOS = [
    "retrain SIGKILL: search",
    "retrain SIGKILL: registering",
    "retrain SIGKILL: version registered",
    "retrain SIGKILL: champion moved",
    "retrain SIGKILL: recording decision",
]


@pytest.fixture(scope="module")
def project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    spec = registered_project(tmp_path_factory.mktemp("retrain-faults"), NAME)
    # recent labelled rows, none of them in the training data
    recent = load_dataset("telco_churn", rows=4000, seed=11).iloc[3000:]
    recent.to_csv(spec.parent / "recent.csv", index=False)
    # the world turned over: the champion now ranks churners backwards, so a
    # challenger trained on these rows wins and is promoted
    turned = recent.assign(Churn=recent["Churn"].map({"Yes": "No", "No": "Yes"}))
    turned.to_csv(spec.parent / "turned.csv", index=False)
    yield spec.parent
    print_tally(request.config, SCENARIOS)


def _versions(root: Path) -> list[tuple[str, str]]:
    """(version, status) of every registered version, read from the store itself."""
    connection = sqlite3.connect(str(root / ".cairn" / "mlflow.db"), timeout=30.0)
    try:
        rows = connection.execute(
            "SELECT version, status FROM model_versions WHERE name = ? ORDER BY version", (NAME,)
        ).fetchall()
    finally:
        connection.close()
    return [(str(v), str(s)) for v, s in rows]


def _retrain(root: Path, data: str = "recent.csv") -> Child:
    return Child(["retrain", "cairn.toml", "--data", data, "--time-budget", "4"], root)


def _alias(root: Path, alias: str) -> str | None:
    """The alias's version, read from the store without MLflow's caches."""
    connection = sqlite3.connect(str(root / ".cairn" / "mlflow.db"), timeout=30.0)
    try:
        found = connection.execute(
            "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
            (NAME, alias),
        ).fetchone()
    finally:
        connection.close()
    return None if found is None else str(found[0])


def _champion_serves(root: Path) -> str:
    """The champion's version, after checking that it loads and predicts real rows."""
    uri = tracking_uri(root)
    version = alias_version(NAME, CHAMPION, tracking_uri=uri)
    assert version is not None
    model = load_model(f"models:/{NAME}@{CHAMPION}", tracking_uri=uri)
    rows = load_dataset("telco_churn", rows=50, seed=5).drop(columns=["Churn"])
    predictions = model.predict(rows)
    assert len(predictions) == 50
    statuses = dict(_versions(root))
    assert statuses[version] == "READY", statuses
    return version


def _said(child: Child, text: str) -> bool:
    return text in child.output


@pytest.mark.parametrize(
    ("scenario", "marker", "delay"),
    [
        ("retrain SIGKILL: search", "splitting train / test", 1.0),
        ("retrain SIGKILL: registering", "recording the run in MLflow", 0.8),
        ("retrain SIGKILL: version registered", None, 0.0),
    ],
)
def test_a_killed_retrain_leaves_the_champion_serving(
    project: Path, scenario: str, marker: str | None, delay: float
) -> None:
    record = tally(scenario)
    before = _champion_serves(project)
    known = len(_versions(project))
    child = _retrain(project)
    if marker is not None:
        reached = child.wait_for(lambda: _said(child, marker), timeout=240)
    else:  # the challenger's version row exists, the decision is not taken yet
        reached = child.wait_for(lambda: len(_versions(project)) > known, timeout=240)
    assert reached, f"never reached {marker or 'a new version'}:\n{child.output[-3000:]}"
    time.sleep(delay)
    code = child.kill()
    assert code == -9, f"it ended on its own ({code}) before the fault:\n{child.output[-2000:]}"
    record.injected += 1
    assert integrity(project / ".cairn" / "mlflow.db") == "ok"
    assert _champion_serves(project) == before
    record.recovered += 1


def test_a_retrain_killed_as_it_promotes_can_be_rolled_back(project: Path) -> None:
    """Killed the moment the champion alias moves: the new champion is a whole
    version, and ``cairn rollback`` returns to the champion it replaced, not to
    a version a killed retrain left behind."""
    record = tally("retrain SIGKILL: champion moved")
    before = _champion_serves(project)
    child = _retrain(project, "turned.csv")
    moved = child.wait_for(lambda: _alias(project, CHAMPION) != before, timeout=300)
    assert moved, f"the challenger was not promoted:\n{child.output[-3000:]}"
    code = child.kill()
    assert code == -9, f"it ended on its own ({code}) before the fault:\n{child.output[-2000:]}"
    record.injected += 1
    assert integrity(project / ".cairn" / "mlflow.db") == "ok"
    promoted = _champion_serves(project)
    assert promoted != before
    rolled = Child(["rollback", "cairn.toml", "--reason", "killed while promoting"], project)
    assert rolled.finish(timeout=120) == 0, rolled.output
    assert _champion_serves(project) == before, rolled.output
    record.recovered += 1


def _decision_runs(root: Path) -> int:
    connection = sqlite3.connect(str(root / ".cairn" / "mlflow.db"), timeout=30.0)
    try:
        found = connection.execute(
            "SELECT COUNT(*) FROM tags WHERE key = 'cairn.kind' AND value = 'decision'"
        ).fetchone()
    finally:
        connection.close()
    return int(found[0])


def test_a_retrain_killed_while_recording_its_decision(project: Path) -> None:
    """Killed as the decision run opens, before its evidence is written: the
    versions and decisions still list, and the champion serves."""
    record = tally("retrain SIGKILL: recording decision")
    before = _champion_serves(project)
    known = _decision_runs(project)
    child = _retrain(project)
    opened = child.wait_for(lambda: _decision_runs(project) > known, timeout=300)
    assert opened, child.output[-3000:]
    code = child.kill()
    assert code == -9, f"it ended on its own ({code}) before the fault:\n{child.output[-2000:]}"
    record.injected += 1
    assert integrity(project / ".cairn" / "mlflow.db") == "ok"
    listed = Child(["versions", "cairn.toml"], project)
    assert listed.finish(timeout=120) == 0, listed.output
    assert "champion" in listed.output
    decisions = list_decisions(NAME, tracking_uri=tracking_uri(project))
    assert decisions and all(d["evidence"]["decision"] for d in decisions)
    assert _champion_serves(project) in {before, *(v for v, _ in _versions(project))}
    record.recovered += 1


def test_the_next_retrain_succeeds_after_the_faults(project: Path) -> None:
    before = _champion_serves(project)
    known = {v for v, _ in _versions(project)}
    child = _retrain(project)
    code = child.finish(timeout=300)
    assert code == 0, child.output[-3000:]
    assert "promoted version" in child.output or "kept version" in child.output
    new = [v for v, status in _versions(project) if v not in known]
    assert len(new) == 1, new
    after = _champion_serves(project)
    assert after in (before, new[0])
    if "promoted version" in child.output:
        assert after == new[0]
    else:
        assert after == before
