"""Model bundles: a fitted pipeline with its schema and metadata, on disk.

A bundle is a folder::

    model.joblib     the fitted scikit-learn pipeline (preprocessing + learner)
    schema.json      the input schema (see cairn.data.schema.Schema)
    metadata.json    task, metrics, objectives verdict, spec and data
                     fingerprints, library versions, creation time, and the
                     sha256 of model.joblib and of every other file
    model.onnx       optional: the whole pipeline as one ONNX graph, used by
    serving.json     the server's fast path (see cairn.onnx_export)

The model file is only unpickled after its sha256 matches the one recorded in
metadata.json, so a modified or truncated file is refused, never loaded; every
other file listed under ``files`` in metadata.json is checked the same way
before it is read (:func:`read_verified`).
Bundles are written to a temporary folder and renamed into place, so a crash
never leaves a half-written bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn.data.schema import Schema, conform
from cairn.exceptions import BundleError

FORMAT_VERSION = 1
MODEL_FILE = "model.joblib"
SCHEMA_FILE = "schema.json"
METADATA_FILE = "metadata.json"
_TRACKED_PACKAGES = ("cairn", "scikit-learn", "numpy", "pandas", "lightgbm", "catboost", "joblib")


class SchemaWarning(UserWarning):
    """Scoring data differs from the schema in a way cairn could repair."""


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _TRACKED_PACKAGES:
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _restore_label(value: str, target_dtype: str) -> Any:
    if target_dtype == "int":
        return int(value)
    if target_dtype == "float":
        return float(value)
    if target_dtype == "bool":
        return value == "True"
    return value


class Model:
    """A trained model that checks its input against the training schema.

    Attributes:
        schema: the input schema.
        metadata: what metadata.json holds (metrics, versions, ...).
        path: the bundle folder it was loaded from, if any.
    """

    def __init__(
        self,
        pipeline: Any,
        schema: Schema,
        metadata: Mapping[str, Any] | None = None,
        path: Path | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.schema = schema
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.path = path

    @property
    def task(self) -> str:
        return self.schema.task or "regression"

    @property
    def classes(self) -> list[Any]:
        """Class labels in their original type, in probability-column order."""
        target_dtype = str(self.schema.metadata.get("target_dtype", "string"))
        return [_restore_label(label, target_dtype) for label in self.schema.classes or ()]

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Check and coerce a frame to the schema; repairable issues warn."""
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(frame)
        conformed, notes = conform(frame, self.schema)
        for note in notes:
            warnings.warn(note, SchemaWarning, stacklevel=3)
        return conformed

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Class labels (classification) or values (regression), one per row.

        Raises:
            SchemaMismatchError: a required column is missing or holds values
                that cannot be coerced to its type.
        """
        X = self.prepare(frame)
        if self.task == "classification":
            codes = np.asarray(self.pipeline.predict_proba(X)).argmax(axis=1)
            return np.asarray(self.classes, dtype=object)[codes]
        return np.asarray(self.pipeline.predict(X), dtype=float)

    def predict_proba(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Class probabilities, one column per class label.

        Raises:
            BundleError: the model is a regression model.
        """
        if self.task != "classification":
            raise BundleError("predict_proba is only available for classification models")
        X = self.prepare(frame)
        proba = np.asarray(self.pipeline.predict_proba(X), dtype=float)
        return pd.DataFrame(proba, columns=self.classes, index=frame.index)

    def __repr__(self) -> str:
        name = self.metadata.get("name", "?")
        family = self.metadata.get("model", "?")
        return f"Model(name={name!r}, model={family!r}, task={self.task!r})"


def save_bundle(
    path: str | Path,
    pipeline: Any,
    schema: Schema,
    metadata: Mapping[str, Any],
    *,
    files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write a bundle atomically; returns its folder.

    Args:
        files: further files to store in the bundle (name → content), e.g.
            the ONNX graph; their sha256 is recorded under ``files``.

    Raises:
        BundleError: the folder cannot be written.
    """
    import joblib

    extra = dict(files or {})
    reserved = {MODEL_FILE, SCHEMA_FILE, METADATA_FILE}
    for name in extra:
        if name in reserved or Path(name).name != name or name.startswith("."):
            raise BundleError(f"cannot store {name!r} in a bundle: use a plain, unreserved name")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model_path = staging / MODEL_FILE
        joblib.dump(pipeline, model_path)
        (staging / SCHEMA_FILE).write_text(schema.to_json(), encoding="utf-8")
        for name, content in extra.items():
            (staging / name).write_bytes(content)
        hashes = {name: sha256_file(staging / name) for name in (SCHEMA_FILE, *extra)}
        full_metadata = {
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": library_versions(),
            **metadata,
            "model_file": MODEL_FILE,
            "model_sha256": sha256_file(model_path),
            "model_size_mb": model_path.stat().st_size / 1e6,
            "files": hashes,
        }
        (staging / METADATA_FILE).write_text(
            json.dumps(full_metadata, indent=2, default=_json_default), encoding="utf-8"
        )
        if target.exists():
            retired = target.with_name(f".{target.name}.old")
            shutil.rmtree(retired, ignore_errors=True)
            os.replace(target, retired)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise BundleError(f"cannot write model bundle to {target}: {error}") from error
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path | datetime):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_metadata(path: str | Path) -> dict[str, Any]:
    """metadata.json of a bundle, without loading the model."""
    folder = Path(path)
    meta_path = folder / METADATA_FILE
    if not folder.is_dir():
        raise BundleError(
            f"{folder}: no model bundle here; pass the folder written by 'cairn run' "
            "(see its output) or a registry URI such as models:/NAME@champion"
        )
    if not meta_path.exists():
        raise BundleError(f"{folder}: not a model bundle ({METADATA_FILE} is missing)")
    try:
        data: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"{meta_path}: unreadable bundle metadata ({error})") from None
    return data


def read_verified(
    folder: str | Path, name: str, metadata: Mapping[str, Any] | None = None
) -> bytes:
    """The content of a bundle file, after checking it against its recorded sha256.

    The bytes returned are the bytes hashed, so nothing can change between
    the check and the use.

    Raises:
        BundleError: the file is missing, has no recorded hash, or does not match it.
    """
    folder = Path(folder)
    meta = dict(metadata) if metadata is not None else read_metadata(folder)
    recorded = (meta.get("files") or {}).get(name)
    path = folder / name
    if not recorded:
        raise BundleError(f"{path}: no sha256 recorded in {METADATA_FILE}; refusing to read it")
    try:
        content = path.read_bytes()
    except OSError as error:
        raise BundleError(f"{path}: cannot read the bundle file ({error})") from None
    actual = hashlib.sha256(content).hexdigest()
    if actual != recorded:
        raise BundleError(
            f"{path}: sha256 {actual[:12]}… does not match the recorded {str(recorded)[:12]}…; "
            "the file was modified or truncated, so it is not used. Re-run 'cairn run' or "
            "restore the bundle"
        )
    return content


def update_metadata(path: str | Path, updates: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``updates`` into a bundle's metadata.json (atomically); returns the result.

    Hashed files are never touched, so the bundle stays verifiable.
    """
    folder = Path(path)
    data = read_metadata(folder)
    for key in ("model_sha256", "files", "model_file"):
        if key in updates:
            raise BundleError(f"{key!r} in {METADATA_FILE} cannot be updated")
    data.update(updates)
    tmp = folder / f".{METADATA_FILE}.tmp"
    tmp.write_text(json.dumps(data, indent=2, default=_json_default), encoding="utf-8")
    os.replace(tmp, folder / METADATA_FILE)
    return data


def load_bundle(path: str | Path) -> Model:
    """Load a bundle folder after verifying the model file's hash.

    Raises:
        BundleError: missing files, a hash mismatch (modified or truncated
            model file), or an unreadable schema.
    """
    import joblib

    folder = Path(path)
    metadata = read_metadata(folder)
    model_path = folder / str(metadata.get("model_file", MODEL_FILE))
    expected = metadata.get("model_sha256")
    if not model_path.exists():
        raise BundleError(f"{model_path}: model file is missing from the bundle")
    if not expected:
        raise BundleError(f"{folder / METADATA_FILE}: no model_sha256 recorded; refusing to load")
    actual = sha256_file(model_path)
    if actual != expected:
        raise BundleError(
            f"{model_path}: sha256 {actual[:12]}… does not match the recorded "
            f"{str(expected)[:12]}…; the file was modified or truncated, so it is not "
            "loaded. Re-run 'cairn run' or restore the bundle"
        )
    try:
        if SCHEMA_FILE in (metadata.get("files") or {}):
            schema_text = read_verified(folder, SCHEMA_FILE, metadata).decode("utf-8")
        else:  # bundles written before per-file hashes
            schema_text = (folder / SCHEMA_FILE).read_text(encoding="utf-8")
        schema = Schema.from_json(schema_text)
    except BundleError:
        raise
    except (OSError, ValueError, KeyError) as error:
        raise BundleError(f"{folder / SCHEMA_FILE}: unreadable schema ({error})") from None
    pipeline = joblib.load(model_path)
    return Model(pipeline, schema, metadata, path=folder)


def load_model(path_or_uri: str | Path, *, tracking_uri: str | None = None) -> Model:
    """Load a model from a bundle folder or a registry URI.

    Args:
        path_or_uri: a bundle folder, or ``models:/NAME@ALIAS`` /
            ``models:/NAME/VERSION`` resolved in the MLflow registry.
        tracking_uri: the MLflow store for registry URIs; defaults to
            ``MLFLOW_TRACKING_URI`` or the project store in ``./.cairn``.

    Raises:
        BundleError: the bundle is missing or fails verification.
        RegistryError: the registry URI cannot be resolved.
    """
    text = str(path_or_uri)
    if text.startswith("models:/"):
        from cairn.tracking import download_bundle

        return load_bundle(download_bundle(text, tracking_uri=tracking_uri))
    return load_bundle(Path(text))
