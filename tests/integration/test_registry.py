"""MLflow tracking and registry: the run is logged, the model registered, and
the bundle reloaded from the registry predicts exactly like the in-memory one."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import cairn
from cairn.bundle import MODEL_FILE, load_bundle
from cairn.cli import app
from cairn.exceptions import BundleError, RegistryError
from cairn.tracking import CHAMPION, alias_version, list_versions, tracking_uri
from cairn.workflow import RunResult
from tests.conftest import load_dataset

pytestmark = pytest.mark.slow


STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=STORES)
def registered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunResult]:
    """A registered run on the default SQLite store, then on PostgreSQL. The
    user's cache folder (models fetched from a shared store, lock files) is
    the run's own."""
    root = tmp_path_factory.mktemp("registry")
    saved_cache = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(root / "user-cache")
    frame = load_dataset("titanic")
    frame.to_csv(root / "titanic.csv", index=False)
    tracking, budget, families, trials = "", 12, '["linear", "lightgbm"]', 2
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_cluster").new_database("registry")
        tracking = f'\n[tracking]\nuri = "{url}"\n'
        budget, families, trials = 6, '["linear"]', 0  # the store is under test, not the search
    (root / "cairn.toml").write_text(
        f"""
[project]
name = "titanic"

[data]
sources = [{{ path = "titanic.csv" }}]

[problem]
target = "Survived"

[train]
time_budget = {budget}
include = {families}
max_trials = {trials}
"""
        + tracking,
        encoding="utf-8",
    )
    try:
        yield cairn.run(root / "cairn.toml")
    finally:
        if saved_cache is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved_cache


def store(result: RunResult) -> str:
    """The run's tracking store (the spec's, else the project's SQLite file)."""
    return tracking_uri(result.spec.project_dir, result.spec.tracking.uri)


def user_cache() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"])


def sqlite_only(result: RunResult) -> None:
    if result.spec.tracking.uri is not None:
        pytest.skip("about the SQLite file store")


def test_run_is_registered_as_champion(registered: RunResult) -> None:
    assert registered.model_uri == "models:/titanic/1"
    assert registered.alias == "champion"
    on_postgres = registered.spec.tracking.uri is not None
    # a PostgreSQL store leaves no SQLite file behind
    assert (registered.spec.state_dir / "mlflow.db").exists() is not on_postgres
    # the run's reports, the combination record among them, are MLflow artifacts
    from mlflow import MlflowClient

    client = MlflowClient(store(registered))
    experiment = client.get_experiment_by_name("titanic")
    # artifacts beside the project, whatever folder the command ran in
    artifacts = (registered.spec.state_dir / "artifacts").resolve().as_uri()
    assert experiment.artifact_location == artifacts
    [logged] = client.search_runs([experiment.experiment_id])
    reports = {item.path for item in client.list_artifacts(logged.info.run_id, "reports")}
    assert {"reports/quality.json", "reports/combination.json"} <= reports


def test_registry_bundle_predicts_identically(registered: RunResult) -> None:
    frame = load_dataset("titanic").drop(columns=["Survived"])
    uri = store(registered)
    from_registry = cairn.load_model("models:/titanic@champion", tracking_uri=uri, engine="native")
    from_disk = cairn.load_model(registered.bundle_path, engine="native")
    expected = registered.model.predict_proba(frame)
    np.testing.assert_array_equal(from_registry.predict_proba(frame).to_numpy(), expected)
    np.testing.assert_array_equal(from_disk.predict_proba(frame).to_numpy(), expected)
    assert (from_registry.predict(frame) == registered.model.predict(frame)).all()
    # the registry copy carries the signed manifest, and its graph serves by default
    served = cairn.load_model("models:/titanic@champion", tracking_uri=uri)
    np.testing.assert_allclose(served.predict_proba(frame).to_numpy(), expected, atol=1e-5)


def test_second_run_adds_a_version_and_keeps_champion(registered: RunResult) -> None:
    again = cairn.run(registered.spec, time_budget=8)
    assert again.model_uri == "models:/titanic/2"
    assert again.alias is None  # the champion stays on version 1 until promoted
    assert again.registry_note is not None
    assert "version 1 is the champion" in again.registry_note
    assert "cairn promote 2" in again.registry_note
    uri = store(registered)
    first, second = list_versions("titanic", tracking_uri=uri)
    assert first.tags["cairn.decision"] == "champion"
    assert second.tags["cairn.decision"] == "registered"
    assert second.tags["cairn.decision_reason"] == again.registry_note


def test_promote_moves_the_champion_and_records_why(registered: RunResult) -> None:
    spec = str(registered.spec.root / "cairn.toml")
    uri = store(registered)
    runner = CliRunner()
    done = runner.invoke(app, ["promote", "2", spec, "--reason", "better on March data"])
    assert done.exit_code == 0, done.output
    assert "champion promoted: version 1 to 2 (better on March data)" in done.output
    assert alias_version("titanic", CHAMPION, tracking_uri=uri) == "2"
    first, second = list_versions("titanic", tracking_uri=uri)
    assert second.tags["cairn.decision"] == "promote"
    assert "better on March data" in second.tags["cairn.decision_reason"]
    assert first.tags["cairn.decision"] == "replaced"
    again = runner.invoke(app, ["promote", "2", spec])
    assert again.exit_code == 1 and "already the champion" in again.output
    unknown = runner.invoke(app, ["promote", "9", spec])
    assert unknown.exit_code == 1 and "no version 9" in unknown.output
    back = runner.invoke(app, ["rollback", spec])
    assert back.exit_code == 0, back.output
    assert "champion rolled back: version 2 to 1" in back.output
    assert alias_version("titanic", CHAMPION, tracking_uri=uri) == "1"
    listing = runner.invoke(app, ["versions", spec])
    assert listing.exit_code == 0, listing.output
    assert "promote" in listing.output and "rollback" in listing.output


def test_versions_answers_without_importing_mlflow(registered: RunResult) -> None:
    sqlite_only(registered)
    spec = str(registered.spec.root / "cairn.toml")
    code = (
        "import sys, time\n"
        "from typer.testing import CliRunner\n"
        "from cairn.cli import app\n"
        "started = time.perf_counter()\n"
        f"done = CliRunner().invoke(app, ['versions', {spec!r}])\n"
        "print(done.exit_code, round(time.perf_counter() - started, 3))\n"
        "print('mlflow' in sys.modules, 'sklearn' in sys.modules)\n"
        "print(done.output)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    status, *_ = out.stdout.split()
    assert status == "0", out.stdout + out.stderr
    assert out.stdout.splitlines()[1] == "False False"
    assert "champion" in out.stdout


def test_unknown_alias_is_a_registry_error(registered: RunResult) -> None:
    uri = store(registered)
    with pytest.raises(RegistryError, match="models:/titanic@nope") as caught:
        cairn.load_model("models:/titanic@nope", tracking_uri=uri)
    assert ".." not in str(caught.value)


def test_registry_loads_leave_nothing_in_the_temp_folder(
    registered: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    uri = store(registered)
    first = cairn.load_model("models:/titanic/1", tracking_uri=uri)
    second = cairn.load_model("models:/titanic/1", tracking_uri=uri)
    assert first.path == second.path  # fetched once, then read from the cache
    cache = registered.spec.state_dir / "model-cache" / "titanic"
    if registered.spec.tracking.uri is not None:  # a shared store: the user's cache folder
        [cache] = (user_cache() / "cairn" / "models").glob("*/titanic")
    assert first.path is not None and cache in first.path.parents
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == ["1"]
    assert list(temp.iterdir()) == []


def test_registered_model_has_a_signature_and_input_example(
    registered: RunResult, tmp_path: Path
) -> None:
    import mlflow

    mlflow.set_tracking_uri(store(registered))
    info = mlflow.models.get_model_info("models:/titanic/1")
    assert info.signature is not None
    inputs = info.signature.inputs.input_names()
    assert {"Age", "Sex", "Pclass", "Fare"} <= set(inputs) and "Survived" not in inputs
    required = {spec.name for spec in info.signature.inputs.inputs if spec.required}
    assert {"Age", "Sex", "Pclass", "Fare"} <= required
    assert "PassengerId" not in required  # an id column: the model does not need it
    outputs = info.signature.outputs.input_names()
    assert outputs == ["prediction", "proba_0", "proba_1"]
    assert info.saved_input_example_info is not None
    # stated, not inferred by importing the model in a subprocess: pinned to what trained it
    from importlib import metadata

    folder = mlflow.artifacts.download_artifacts("models:/titanic/1", dst_path=str(tmp_path))
    pinned = (Path(folder) / "requirements.txt").read_text().split()
    for package in ("scikit-learn", "lightgbm", "numpy", "pandas", "onnxruntime"):
        assert f"{package}=={metadata.version(package)}" in pinned


def test_copied_project_is_detected_and_relocated(registered: RunResult, tmp_path: Path) -> None:
    sqlite_only(registered)
    copy = tmp_path / "copied"
    shutil.copytree(registered.spec.project_dir, copy, ignore=shutil.ignore_patterns("*.lock"))
    uri = tracking_uri(copy)
    with pytest.raises(RegistryError, match="cairn relocate") as caught:
        cairn.load_model("models:/titanic/1", tracking_uri=uri)
    assert str(registered.spec.project_dir) in str(caught.value)
    done = CliRunner().invoke(app, ["relocate", str(copy / "cairn.toml")])
    assert done.exit_code == 0, done.output
    assert "artifact locations moved" in done.output
    loaded = cairn.load_model("models:/titanic/1", tracking_uri=uri)
    assert loaded.path is not None and copy in loaded.path.parents
    with sqlite3.connect(copy / ".cairn" / "mlflow.db") as connection:
        locations = [
            row[0]
            for table, column in (("runs", "artifact_uri"), ("logged_models", "artifact_location"))
            for row in connection.execute(f"SELECT {column} FROM {table}")
        ]
    assert locations and all(str(copy) in location for location in locations)
    again = CliRunner().invoke(app, ["relocate", str(copy / "cairn.toml")])
    assert "already points" in again.output


def test_damaged_store_is_one_line_with_the_way_out(registered: RunResult, tmp_path: Path) -> None:
    sqlite_only(registered)
    broken = tmp_path / "broken"
    (broken / ".cairn").mkdir(parents=True)
    shutil.copy(registered.spec.root / "cairn.toml", broken / "cairn.toml")
    database = broken / ".cairn" / "mlflow.db"
    shutil.copy(registered.spec.state_dir / "mlflow.db", database)
    with sqlite3.connect(database) as connection:
        # What two stores set up at once leave: a half-done migration.
        connection.execute("CREATE TABLE _alembic_tmp_tags (key VARCHAR(250))")
        connection.execute("UPDATE alembic_version SET version_num = '0584bdc529eb'")
    runner = CliRunner()
    for command in (["versions"], ["runs"], ["promote", "1"], ["rollback"]):
        done = runner.invoke(app, [*command, str(broken / "cairn.toml")])
        assert done.exit_code == 1, (command, done.stdout, done.stderr)
        # a clean exit, not an exception that would print a traceback
        assert isinstance(done.exception, SystemExit), done.exception
        assert "Traceback" not in done.stderr
        message = done.stderr.strip()
        assert message.startswith("error: the MLflow store") and "is damaged" in message, message
        assert "mlflow db upgrade" in message and "mlflow.db.broken" in message


@pytest.mark.parametrize("backend", STORES)
def test_two_runs_at_once_on_a_new_project(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Both train, then both reach the new store together: both register,
    version 1 (the first registered) is the champion, version 2 says why not;
    no version number twice, none lost."""
    load_dataset("iris").to_csv(tmp_path / "data.csv", index=False)
    spec = tmp_path / "cairn.toml"
    configured = None
    tracking = ""
    if backend == "postgresql":
        configured = request.getfixturevalue("postgres_cluster").new_database("runs")
        tracking = f'\n[tracking]\nuri = "{configured}"\n'
    spec.write_text(
        '[project]\nname = "iris"\n\n[data]\nsources = [{ path = "data.csv" }]\n\n'
        '[problem]\ntarget = "species"\n\n[train]\ninclude = ["linear"]\nmax_trials = 0\n'
        + tracking,
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    command = [sys.executable, "-m", "cairn", "run", str(spec), "--time-budget", "8"]
    runs = [
        subprocess.Popen(
            command,
            cwd=tmp_path,
            # each its own cache and lock folder, as on two hosts: on PostgreSQL
            # only the database's advisory lock queues them
            env={**env, "XDG_CACHE_HOME": str(tmp_path / f"host-{k}")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(2)
    ]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out[-2000:] + err[-2000:]
    uri = tracking_uri(tmp_path, configured)
    versions = list_versions("iris", tracking_uri=uri)
    assert [v.version for v in versions] == ["1", "2"]
    assert alias_version("iris", CHAMPION, tracking_uri=uri) == "1"
    assert versions[1].tags["cairn.decision"] == "registered"
    joined = "".join(out for out, _ in outputs)
    assert joined.count("(alias @champion)") == 1
    assert "not made champion: version 1 is the champion" in joined
    listing = CliRunner().invoke(app, ["versions", str(spec)])
    assert listing.exit_code == 0 and listing.exception is None, listing.output
    assert "champion" in listing.stdout


def test_tampered_bundle_is_refused(registered: RunResult, tmp_path: Path) -> None:
    sqlite_only(registered)  # the bundle alone: no store involved
    copy = tmp_path / "bundle"
    shutil.copytree(registered.bundle_path, copy)
    with (copy / MODEL_FILE).open("ab") as handle:
        handle.write(b"\x00")
    with pytest.raises(BundleError, match="does not match the recorded"):
        load_bundle(copy)
    truncated = tmp_path / "truncated"
    shutil.copytree(registered.bundle_path, truncated)
    data = (truncated / MODEL_FILE).read_bytes()
    (truncated / MODEL_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="modified or truncated"):
        load_bundle(truncated)


def test_mlflow_pyfunc_loads_the_model(registered: RunResult) -> None:
    sqlite_only(registered)  # MLflow's own loader; the store is read the same way
    uri = store(registered)
    code = (
        "import mlflow, pandas as pd, sys\n"
        f"mlflow.set_tracking_uri({uri!r})\n"
        "m = mlflow.pyfunc.load_model('models:/titanic@champion')\n"
        f"df = pd.read_csv({str(registered.spec.project_dir / 'titanic.csv')!r}).head(5)\n"
        "out = m.predict(df.drop(columns=['Survived']))\n"
        "print(list(out.columns))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "prediction" in done.stdout and "proba_1" in done.stdout


def test_a_tampered_registry_copy_is_refused(registered: RunResult) -> None:
    uri = store(registered)
    stored = [
        path
        for folder in (registered.spec.state_dir, user_cache())
        for path in folder.rglob("metadata.json")
        if path.parent.name == "bundle" or "model-cache" in path.parts or "models" in path.parts
    ]
    # Both the artifact store and the per-version cache copy are altered: whichever
    # copy a models:/ load reads must be refused.
    assert stored, "no bundle in the artifact store"
    originals = {path: path.read_bytes() for path in stored}
    try:
        for path, content in originals.items():
            meta = json.loads(content)
            meta["metrics"] = {"roc_auc": 1.0}
            path.write_text(json.dumps(meta), encoding="utf-8")
        with pytest.raises(BundleError, match=r"metadata\.json: sha256 .* does not match"):
            cairn.load_model("models:/titanic@champion", tracking_uri=uri)
    finally:
        for path, content in originals.items():
            path.write_bytes(content)
    assert cairn.load_model("models:/titanic@champion", tracking_uri=uri).metadata["metrics"]
