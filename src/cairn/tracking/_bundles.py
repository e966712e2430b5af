"""Registry URIs (``models:/NAME@ALIAS``, ``models:/NAME/VERSION``) resolved
to a bundle on disk, each version fetched once into a cache."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.exceptions import RegistryError

if TYPE_CHECKING:
    from cairn.bundle import Model
from cairn.tracking._client import (
    BUNDLE_ARTIFACT,
    error_reason,
    globals_uri,
    open_store,
)
from cairn.tracking_store import (
    display_uri,
    sqlite_file,
)


def download_bundle(uri: str, *, tracking_uri: str | None = None) -> Path:
    """Fetch the bundle behind ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.

    A version's artifacts never change, so each is fetched once into a cache
    (``.cairn/model-cache/NAME/VERSION`` beside a project store, else the
    user's cache folder), written under a temporary name and renamed when
    complete; nothing is left in the temporary folder.

    Raises:
        RegistryError: unknown model, version or alias, or an unreachable store.
    """
    store = tracking_uri or globals_uri()
    client = open_store(store)
    import mlflow

    try:
        name, version = _resolve_version(client, uri)
        cached = _cache_dir(store) / _safe_name(name) / version
        if not cached.is_dir():
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=".download-", dir=cached.parent))
            try:
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{name}/{version}", dst_path=str(partial)
                )
                try:
                    partial.rename(cached)
                except OSError:  # another process cached it first
                    if not cached.is_dir():
                        raise
            finally:
                shutil.rmtree(partial, ignore_errors=True)
    except Exception as error:
        raise RegistryError(
            f"cannot resolve {uri} in the registry at {display_uri(store)}: {error_reason(error)}. "
            "Check the name and alias (e.g. models:/NAME@champion) and the tracking store"
        ) from None
    bundle = cached / "artifacts" / BUNDLE_ARTIFACT
    if not bundle.is_dir():
        candidates = list(cached.rglob("metadata.json"))
        if not candidates:
            raise RegistryError(f"{uri} is not a cairn model (no bundle in its artifacts)")
        bundle = candidates[0].parent
    return bundle


def _resolve_version(client: Any, uri: str) -> tuple[str, str]:
    body = uri.removeprefix("models:/")
    if "@" in body:
        name, alias = body.split("@", 1)
        return name, str(client.get_model_version_by_alias(name, alias).version)
    name, _, number = body.partition("/")
    return name, str(client.get_model_version(name, number).version)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "_"


def _cache_dir(store: str) -> Path:
    database = sqlite_file(store)
    if database is not None and database.resolve().parent.name == ".cairn":
        return database.resolve().parent / "model-cache"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cairn" / "models" / hashlib.sha256(store.encode()).hexdigest()[:16]


def describe_version(uri: str, *, tracking_uri: str | None = None) -> dict[str, Any]:
    """Name, version and aliases of a registry URI, as a dict."""
    client = open_store(tracking_uri or globals_uri())
    name, number = _resolve_version(client, uri)
    version = client.get_model_version(name, number)
    return json.loads(
        json.dumps(
            {"name": version.name, "version": version.version, "aliases": version.aliases},
            default=str,
        )
    )


def load_model(
    path_or_uri: str | Path,
    *,
    tracking_uri: str | None = None,
    trust: bool = False,
    engine: str = "auto",
) -> Model:
    """Load a model from a bundle folder or a registry URI.

    Args:
        path_or_uri: a bundle folder, or ``models:/NAME@ALIAS`` /
            ``models:/NAME/VERSION`` resolved in the MLflow registry.
        tracking_uri: the MLflow store for registry URIs; defaults to
            ``MLFLOW_TRACKING_URI`` or the project store in ``./.cairn``.
        trust: load an unsigned bundle, or one signed with another key.
        engine: "auto" (the verified ONNX graph the server uses, when there
            is one), "native" (the scikit-learn pipeline) or "onnx".

    Raises:
        BundleError: the bundle is missing or fails verification.
        RegistryError: the registry URI cannot be resolved.
    """
    from cairn.bundle import load_bundle

    text = str(path_or_uri)
    if text.startswith("models:/"):
        text = str(download_bundle(text, tracking_uri=tracking_uri))
    return load_bundle(Path(text), trust=trust, engine=engine)
