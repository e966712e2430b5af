"""``cairn test`` and the ``[tests]`` gate with the real suite
(cairn.behaviour.suite) on real runs: a server's verdict equals its bundle's,
a clean run passes its gate and becomes champion, and a ``[tests]`` entry
naming a column the data lacks is a one-line error."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cairn
from cairn.cli.app import app
from cairn.tracking import CHAMPION, alias_version, tracking_uri
from tests.conftest import MakeProject, load_dataset

pytest.importorskip("cairn.behaviour.suite", reason="the behaviour suite is not installed")
pytestmark = pytest.mark.slow


@pytest.fixture
def run_dir(finished_run: Callable[[str], Path], tmp_path: Path) -> Path:
    copy = tmp_path / "runs" / finished_run("telco_churn").name
    shutil.copytree(finished_run("telco_churn"), copy)
    return copy


def _checks(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {check["name"]: check["status"] for check in data["checks"]}


def test_a_served_model_gets_the_verdict_of_its_bundle(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cairn.serving.server import start_process, stop_process

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    server = start_process(run_dir / "bundle", extra_args=["--no-log"])
    try:
        by_url = runner.invoke(app, ["test", server.url, "-o", str(tmp_path / "url")])
    finally:
        stop_process(server)
    by_bundle = runner.invoke(app, ["test", str(run_dir / "bundle"), "-o", str(tmp_path / "b")])
    assert by_url.exit_code == by_bundle.exit_code, by_url.output + by_bundle.output
    served, local = (
        _checks(tmp_path / "url" / "behaviour.json"),
        _checks(tmp_path / "b" / "behaviour.json"),
    )
    assert set(served) == set(local)
    # Only the checks that need a server differ: skipped on the bundle alone,
    # passed against the server (its answers equal the bundle's).
    differing = {name for name in local if served[name] != local[name]}
    assert differing, "no check compared the server with the bundle"
    assert all(local[n] == "skipped" and served[n] == "passed" for n in differing), differing


def test_a_clean_run_passes_its_gate_and_becomes_champion(make_project: MakeProject) -> None:
    spec_path = make_project(
        load_dataset("titanic"),
        name="titanic",
        problem={"target": "Survived"},
        data={"id_columns": ["PassengerId"]},
        train={"time_budget": 10, "include": ["lightgbm"], "ensemble": "none"},
    )
    with spec_path.open("a", encoding="utf-8") as spec:
        spec.write("\n[tests]\ngate = true\n")
    result = cairn.run(spec_path)
    assert result.tests is not None and result.tests.passed, result.tests and result.tests.summary()
    assert result.alias == CHAMPION
    uri = tracking_uri(spec_path.parent)
    assert alias_version("titanic", CHAMPION, tracking_uri=uri) == "1"
    run_dir = result.bundle_path.parent
    assert (run_dir / "junit.xml").is_file() and (run_dir / "behaviour.html").is_file()
    assert "## Behaviour tests" in result.reports["model_card"].read_text(encoding="utf-8")


def test_a_sensitive_column_the_data_lacks_is_a_one_line_error(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "cairn.toml"
    spec.write_text(
        '[project]\nname = "telco-churn"\n\n[data]\nsources = [{ path = "data.csv" }]\n\n'
        '[problem]\ntarget = "Churn"\n\n[tests]\nsensitive = ["no_such_column"]\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["test", str(run_dir), "--spec", str(spec)])
    assert result.exit_code == 2, result.output
    assert "no_such_column" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
