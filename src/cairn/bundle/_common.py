"""Bundle file names and the warnings bundles give."""

from __future__ import annotations

import hashlib
from pathlib import Path

FORMAT_VERSION = 1
MODEL_FILE = "model.joblib"
SCHEMA_FILE = "schema.json"
METADATA_FILE = "metadata.json"
MANIFEST_FILE = "manifest.json"
GRAPH_FILE = "model.onnx"
SERVING_FILE = "serving.json"
KEY_ENV = "CAIRN_BUNDLE_KEY"
# Without the graph a bundle still serves, natively: its absence is warned about.
OPTIONAL_FILES = frozenset({GRAPH_FILE})


class SchemaWarning(UserWarning):
    """Scoring data differs from the schema in a way cairn could repair."""


class BundleWarning(UserWarning):
    """A bundle is loaded with less than full checks or without its fast path."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
