"""Writing bundles: staged in a temporary folder, signed, renamed into place;
metadata updates re-signed."""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from cairn._io import atomic_write_text, json_safe
from cairn.bundle._common import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    METADATA_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
    sha256_file,
)
from cairn.bundle._signing import own_key, sign_folder
from cairn.bundle._verify import verify_bundle
from cairn.data.schema import Schema
from cairn.exceptions import BundleError

_TRACKED_PACKAGES = ("cairn", "scikit-learn", "numpy", "pandas", "lightgbm", "catboost", "joblib")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _TRACKED_PACKAGES:
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def save_bundle(
    path: str | Path,
    pipeline: Any,
    schema: Schema,
    metadata: Mapping[str, Any],
    *,
    files: Mapping[str, bytes] | None = None,
    model_file: Path | None = None,
) -> Path:
    """Write a bundle atomically; returns its folder.

    Args:
        files: further files to store in the bundle (name → content), e.g.
            the ONNX graph; their sha256 is recorded under ``files``.
        model_file: ``pipeline`` already written by joblib (by an earlier
            bundle of the same model, on the same file system): moved into
            the bundle instead of serialising a large model twice.

    Raises:
        BundleError: the folder cannot be written.
    """
    import joblib

    key = own_key()
    extra = dict(files or {})
    reserved = {MODEL_FILE, SCHEMA_FILE, METADATA_FILE, MANIFEST_FILE}
    for name in extra:
        if name in reserved or Path(name).name != name or name.startswith("."):
            raise BundleError(f"cannot store {name!r} in a bundle: use a plain, unreserved name")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model_path = staging / MODEL_FILE
        if model_file is not None:
            os.replace(model_file, model_path)
        else:
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
        atomic_write_text(staging / METADATA_FILE, _metadata_text(full_metadata))
        sign_folder(staging, key)
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


def _metadata_text(metadata: Mapping[str, Any]) -> str:
    # json_safe only for what json cannot write itself (numpy values, arrays,
    # paths): a NaN metric stays NaN, as metadata.json has always stored it.
    return json.dumps(metadata, indent=2, default=json_safe)


def update_metadata(path: str | Path, updates: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``updates`` into a bundle's metadata.json (atomically) and sign the
    manifest again; returns the result.

    The bundle is verified first, so a changed bundle is never re-signed.
    """
    for key in ("model_sha256", "files", "model_file"):
        if key in updates:
            raise BundleError(f"{key!r} in {METADATA_FILE} cannot be updated")
    bundle = verify_bundle(path)
    data = {**bundle.metadata, **updates}
    atomic_write_text(bundle.folder / METADATA_FILE, _metadata_text(data))
    # only the files already vouched for: nothing dropped in later gets signed
    sign_folder(bundle.folder, own_key(), sorted(set(bundle.hashes) - bundle.missing))
    return data
