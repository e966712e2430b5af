"""Bundle trust: a signed manifest over every file, names kept inside the
bundle, and nothing unpickled before the whole bundle checks out."""

from __future__ import annotations

import hashlib
import json
import pickle
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cairn.bundle import (
    MANIFEST_FILE,
    METADATA_FILE,
    MODEL_FILE,
    BundleWarning,
    Model,
    load_bundle,
    save_bundle,
    schema_task,
    update_metadata,
    verify_bundle,
)
from cairn.data.schema import infer_schema
from cairn.exceptions import BundleError
from cairn.tracking import load_model
from tests.conftest import load_dataset

CAIRN = [sys.executable, "-m", "cairn"]


class _Plant:
    """Unpickling this creates the marker file: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def _iris_bundle(folder: Path) -> tuple[Path, pd.DataFrame]:
    from sklearn.linear_model import LogisticRegression

    frame = load_dataset("iris")
    schema = infer_schema(frame, target="species")
    features = frame.drop(columns=["species"])
    labels = np.searchsorted(list(schema.classes or ()), frame["species"].astype(str))
    pipeline = LogisticRegression(max_iter=500).fit(features, labels)
    path = save_bundle(folder / "bundle", pipeline, schema, {"name": "iris", "task": "x"})
    return path, features


@pytest.fixture
def iris(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    return _iris_bundle(tmp_path)


def _plant(where: Path, marker: Path) -> str:
    where.write_bytes(pickle.dumps(_Plant(marker)))
    return hashlib.sha256(where.read_bytes()).hexdigest()


def _edit_metadata(bundle: Path, **changes: Any) -> None:
    meta = json.loads((bundle / METADATA_FILE).read_text())
    meta.update(changes)
    (bundle / METADATA_FILE).write_text(json.dumps(meta))


def _rehash_manifest(bundle: Path, **extra: str) -> None:
    """What an attacker without the key can do: fix the manifest's hashes."""
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    for name in manifest["files"]:
        if (bundle / name).is_file():
            manifest["files"][name] = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    manifest["files"].update(extra)
    (bundle / MANIFEST_FILE).write_text(json.dumps(manifest))


def _predict(bundle: Path, data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    out = data.with_name("scored.csv")
    return subprocess.run(
        [*CAIRN, "predict", str(bundle), str(data), "-o", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    text = " ".join(done.stderr.split())
    for word in words:
        assert word in text, done.stderr


def test_a_signed_bundle_loads_and_predicts(iris: tuple[Path, pd.DataFrame]) -> None:
    bundle, features = iris
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    assert set(manifest["files"]) == {METADATA_FILE, MODEL_FILE, "schema.json"}
    assert verify_bundle(bundle).signed
    model = load_bundle(bundle)
    assert set(model.predict(features)) <= {"setosa", "versicolor", "virginica"}


def test_the_bundle_s_task_answers_what_the_model_outputs(
    iris: tuple[Path, pd.DataFrame],
) -> None:
    bundle, features = iris
    model = load_bundle(bundle)
    assert model.task == "classification" and schema_task(model.schema).has_classes
    proba = model.predict_proba(features.head(4))
    assert list(proba.columns) == ["setosa", "versicolor", "virginica"]
    assert list(model.predict(features.head(4))) == list(proba.idxmax(axis=1))
    # a schema that names no task is scored as one value per row
    untasked = replace(model.schema, task=None)
    assert schema_task(untasked).name == "regression"
    assert not schema_task(untasked).has_classes
    with pytest.raises(BundleError, match="only available for classification"):
        Model(model.pipeline, untasked).predict_proba(features)


def test_a_path_outside_the_bundle_is_refused_before_unpickling(
    iris: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    bundle, features = iris
    marker = tmp_path / "code-ran"
    digest = _plant(tmp_path / "outside.joblib", marker)
    _edit_metadata(bundle, model_file="../outside.joblib", model_sha256=digest)
    data = tmp_path / "rows.csv"
    features.head(5).to_csv(data, index=False)
    _one_line_error(_predict(bundle, data), METADATA_FILE, "does not match")
    _rehash_manifest(bundle, **{"../outside.joblib": digest})
    _one_line_error(_predict(bundle, data), "signature does not match")
    # even a trusted bundle may only name its own files
    _one_line_error(_predict(bundle, data, "--trust"), "not a plain file inside the bundle")
    _edit_metadata(bundle, model_file=str(tmp_path / "outside.joblib"))
    _rehash_manifest(bundle, **{str(tmp_path / "outside.joblib"): digest})
    with pytest.raises(BundleError, match="not a plain file"), pytest.warns(BundleWarning):
        load_bundle(bundle, trust=True)
    assert not marker.exists()


def test_a_tampered_metadata_file_is_refused_before_unpickling(
    iris: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    bundle, features = iris
    marker = tmp_path / "code-ran"
    # the attacker swaps the model and records its hash in the metadata
    digest = _plant(bundle / MODEL_FILE, marker)
    _edit_metadata(bundle, model_sha256=digest)
    data = tmp_path / "rows.csv"
    features.head(5).to_csv(data, index=False)
    _one_line_error(_predict(bundle, data), "does not match", METADATA_FILE)
    # a metadata edit alone (no pickle touched) is refused too
    clean, _ = _iris_bundle(tmp_path / "clean")
    _edit_metadata(clean, metrics={"accuracy": 1.0})
    _one_line_error(_predict(clean, data), METADATA_FILE, "does not match")
    assert not marker.exists()


def test_a_re_signed_manifest_needs_the_key(
    iris: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    bundle, _ = iris
    marker = tmp_path / "code-ran"
    _plant(bundle / MODEL_FILE, marker)
    # the attacker rebuilds the manifest and signs it with a key of their own
    from cairn.bundle._signing import sign_folder

    sign_folder(bundle, b"an-attackers-own-key-0123456789")
    with pytest.raises(BundleError, match="signed with another key"):
        load_bundle(bundle)
    assert not marker.exists()


def test_a_symbolic_link_leaving_the_bundle_is_refused(
    iris: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    bundle, _ = iris
    marker = tmp_path / "code-ran"
    outside = tmp_path / "outside.joblib"
    digest = _plant(outside, marker)
    (bundle / MODEL_FILE).unlink()
    (bundle / MODEL_FILE).symlink_to(outside)
    _rehash_manifest(bundle, **{MODEL_FILE: digest})
    with pytest.raises(BundleError, match="symbolic link"), pytest.warns(BundleWarning):
        load_bundle(bundle, trust=True)
    assert not marker.exists()


def test_an_unsigned_bundle_needs_trust(iris: tuple[Path, pd.DataFrame]) -> None:
    bundle, features = iris
    (bundle / MANIFEST_FILE).unlink()
    with pytest.raises(BundleError, match=r"not signed.*--trust"):
        load_bundle(bundle)
    with pytest.warns(BundleWarning, match="unsigned"):
        model = load_bundle(bundle, trust=True)
    assert len(model.predict(features.head(3))) == 3
    # trusted or not, the recorded hashes still hold
    with (bundle / MODEL_FILE).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="does not match"), pytest.warns(BundleWarning):
        load_bundle(bundle, trust=True)


def test_the_model_is_unpickled_from_the_bytes_that_were_hashed(
    iris: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    import joblib

    bundle, _ = iris
    seen: list[Any] = []
    real_load = joblib.load

    def spy(source: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(source)
        return real_load(source, *args, **kwargs)

    monkeypatch.setattr(joblib, "load", spy)
    load_bundle(bundle)
    # an in-memory buffer, never a path the file system could swap underneath
    assert seen and not isinstance(seen[0], str | Path)


def test_update_metadata_signs_again_and_never_launders_a_change(
    iris: tuple[Path, pd.DataFrame],
) -> None:
    bundle, _ = iris
    (bundle / "dropped-in.joblib").write_bytes(b"not ours")
    update_metadata(bundle, {"serving_gate": {"passed": True}})
    assert load_bundle(bundle).metadata["serving_gate"] == {"passed": True}
    assert "dropped-in.joblib" not in json.loads((bundle / MANIFEST_FILE).read_text())["files"]
    with (bundle / MODEL_FILE).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="does not match"):
        update_metadata(bundle, {"note": "x"})


def test_the_key_file_is_made_private_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAIRN_BUNDLE_KEY")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    bundle, _ = _iris_bundle(tmp_path)
    key = tmp_path / "home" / ".cairn" / "bundle.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = key.read_bytes()
    assert verify_bundle(bundle).signed
    _iris_bundle(tmp_path / "again")
    assert key.read_bytes() == first
    key.chmod(0o644)
    with pytest.raises(BundleError, match="chmod 600"):
        load_bundle(bundle)
    key.chmod(0o600)
    key.unlink()  # another machine: no key to check the signature with
    with pytest.raises(BundleError, match="no signing key"):
        load_model(bundle)


def test_a_short_key_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CAIRN_BUNDLE_KEY", "short")
    with pytest.raises(BundleError, match="at least 16"):
        _iris_bundle(tmp_path)
    assert not (tmp_path / "bundle").exists()
