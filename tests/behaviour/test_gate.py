"""``[tests] gate = true``: the behaviour suite decides whether ``cairn run``
may make a version champion and whether ``cairn retrain`` may promote it;
the verdict is recorded in MLflow, the run folder and the model card.

The suite is the stand-in of tests/behaviour/suites.py, told to fail; the
gate with the real suite is in test_suite_integration.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cairn
from cairn.cli.app import app
from cairn.maintenance import retrain
from cairn.spec import load_spec
from cairn.tracking import CHAMPION, alias_version, open_store, set_alias, tracking_uri
from tests.behaviour.suites import FakeSettings, install
from tests.conftest import MakeProject, load_dataset

pytestmark = pytest.mark.slow

FAST_TRAIN = {
    "time_budget": 8,
    "include": ["lightgbm"],
    "max_trials": 0,
    "ensemble": "none",
    "select_features": False,
}


def test_a_failing_suite_keeps_the_run_and_the_retrain_from_champion(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    titanic = load_dataset("titanic")
    spec_path = make_project(
        titanic.iloc[:600],
        name="titanic",
        problem={"target": "Survived"},
        data={"id_columns": ["PassengerId"]},
        train=FAST_TRAIN,
    )
    fake = install(monkeypatch, FakeSettings(gate=True, fail=True))
    monkeypatch.setattr("cairn.workflow._package.gate_enabled", lambda spec: True)

    result = cairn.run(spec_path)
    spec = load_spec(spec_path)
    uri = tracking_uri(spec.project_dir)
    # The first version would be champion; the failing suite holds it back.
    assert result.alias is None and alias_version("titanic", CHAMPION, tracking_uri=uri) is None
    assert result.registry_note is not None
    assert "1 behaviour test(s) failed ([tests] gate = true): invariance/planted" in (
        result.registry_note
    )
    assert result.tests is not None and not result.tests.passed
    # The gate ran on the run's test rows, with the training rows for leakage.
    call = fake.calls[0]
    assert len(call["rows"]) == result.model.metadata["rows"]["test"]
    assert call["train_rows"] is not None and len(call["train_rows"]) > len(call["rows"])
    run_dir = result.bundle_path.parent
    verdict = json.loads((run_dir / "behaviour.json").read_text(encoding="utf-8"))
    assert verdict["passed"] is False
    bundle_meta = json.loads((result.bundle_path / "metadata.json").read_text(encoding="utf-8"))
    assert bundle_meta["behaviour_tests"]["counts"] == {
        "passed": 1,
        "failed": 1,
        "error": 0,
        "skipped": 0,
    }
    card = result.reports["model_card"].read_text(encoding="utf-8")
    assert "## Behaviour tests" in card and "invariance/planted" in card
    # MLflow: the counts as metrics, the three files as artifacts.
    client = open_store(uri)
    runs = client.search_runs(
        [client.get_experiment_by_name("titanic").experiment_id],
        filter_string=f"tags.`cairn.run_id` = '{result.run_id}'",
    )
    assert runs[0].data.metrics["tests_failed"] == 1.0
    assert runs[0].data.metrics["tests_passed"] == 1.0
    logged = {Path(a.path).name for a in client.list_artifacts(runs[0].info.run_id, "reports")}
    assert {"junit.xml", "behaviour.json", "behaviour.html"} <= logged
    assert result.model_uri is not None

    # The registered version, tested from its project folder: the bundle
    # comes from the registry, the rows from the run folder.
    monkeypatch.chdir(spec.project_dir)
    version = result.model_uri.rsplit("/", 1)[-1]
    tested = CliRunner().invoke(app, ["test", f"models:/titanic/{version}"])
    assert tested.exit_code == 1, tested.output
    assert fake.calls[-1]["data_name"].startswith(f"test set of run {result.run_id}")
    assert len(fake.calls[-1]["rows"]) == len(call["rows"])
    assert f"junit: {run_dir / 'junit.xml'}" in tested.output

    # A champion by hand; a challenger that fails the suite is not promoted,
    # however its metrics compare.
    set_alias("titanic", CHAMPION, version, tracking_uri=uri)
    decision = retrain(spec_path, titanic.iloc[600:])
    assert decision.decision == "kept"
    assert decision.reasons[0].startswith(
        "the challenger cannot be champion: 1 behaviour test(s) failed"
    )
    assert alias_version("titanic", CHAMPION, tracking_uri=uri) == "1"
