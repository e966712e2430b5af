"""MLflow tracking and registry: the run is logged, the model registered, and
the bundle reloaded from the registry predicts exactly like the in-memory one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cairn
from cairn.bundle import MODEL_FILE, load_bundle
from cairn.exceptions import BundleError, RegistryError
from cairn.tracking import tracking_uri
from cairn.workflow import RunResult
from tests.conftest import load_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    root = tmp_path_factory.mktemp("registry")
    frame = load_dataset("titanic")
    frame.to_csv(root / "titanic.csv", index=False)
    (root / "cairn.toml").write_text(
        """
[project]
name = "titanic"

[data]
sources = [{ path = "titanic.csv" }]

[problem]
target = "Survived"

[train]
time_budget = 30
include = ["linear", "lightgbm"]
""",
        encoding="utf-8",
    )
    return cairn.run(root / "cairn.toml")


def test_run_is_registered_as_champion(registered: RunResult) -> None:
    assert registered.model_uri == "models:/titanic/1"
    assert registered.alias == "champion"
    assert (registered.spec.state_dir / "mlflow.db").exists()


def test_registry_bundle_predicts_identically(registered: RunResult) -> None:
    frame = load_dataset("titanic").drop(columns=["Survived"])
    uri = tracking_uri(registered.spec.project_dir)
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
    again = cairn.run(registered.spec, time_budget=20)
    assert again.model_uri == "models:/titanic/2"
    assert again.alias is None  # the champion stays on version 1 until promoted


def test_unknown_alias_is_a_registry_error(registered: RunResult) -> None:
    uri = tracking_uri(registered.spec.project_dir)
    with pytest.raises(RegistryError, match="models:/titanic@nope"):
        cairn.load_model("models:/titanic@nope", tracking_uri=uri)


def test_tampered_bundle_is_refused(registered: RunResult, tmp_path: Path) -> None:
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
    uri = tracking_uri(registered.spec.project_dir)
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
    uri = tracking_uri(registered.spec.project_dir)
    stored = [
        path
        for path in (registered.spec.state_dir / "artifacts").rglob("metadata.json")
        if path.parent.name == "bundle"
    ]
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
