"""Model bundles: a fitted pipeline with its schema and metadata, on disk.

A bundle is a folder::

    model.joblib     the fitted scikit-learn pipeline (preprocessing + learner)
    schema.json      the input schema (see cairn.data.schema.Schema)
    metadata.json    task, metrics, objectives verdict, spec and data
                     fingerprints, library versions, creation time, and the
                     sha256 of model.joblib and of every other file
    model.onnx       optional: the whole pipeline as one ONNX graph, used by
    serving.json     the server's fast path (see cairn.export)
    manifest.json    the sha256 of every other file, signed with HMAC-SHA256

Unpickling runs code, so a bundle is trusted only when its manifest's
signature checks out with the signing key (``CAIRN_BUNDLE_KEY``, else
``~/.cairn/bundle.key``, created on first use with mode 600). Every file is
then checked against the manifest before anything is read, every name must
be a plain file inside the bundle (no absolute path, ``..`` or symbolic
link), and the model is unpickled from exactly the bytes that were hashed.
An unsigned bundle, or one signed with another key, is refused unless the
caller passes ``trust=True`` (``--trust``); the file hashes are checked even
then.
Bundles are written to a temporary folder and renamed into place, so a crash
never leaves a half-written bundle.
"""

from cairn.bundle._common import (
    FORMAT_VERSION,
    GRAPH_FILE,
    KEY_ENV,
    MANIFEST_FILE,
    METADATA_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
    SERVING_FILE,
    BundleWarning,
    SchemaWarning,
    sha256_file,
)
from cairn.bundle._graph import GraphScorer, onnx_session, open_graph, read_serving
from cairn.bundle._model import (
    ITEMS_FILE,
    Model,
    load_bundle,
    output_classes,
    privacy_key,
    schema_task,
)
from cairn.bundle._recommender import (
    RecommendationList,
    Recommender,
    ScoringComponent,
    popularity_tie_break,
    standardise_scores,
)
from cairn.bundle._signing import key_path, signing_key
from cairn.bundle._verify import VerifiedBundle, read_metadata, read_verified, verify_bundle
from cairn.bundle._write import library_versions, save_bundle, update_metadata

__all__ = [
    "FORMAT_VERSION",
    "GRAPH_FILE",
    "ITEMS_FILE",
    "KEY_ENV",
    "MANIFEST_FILE",
    "METADATA_FILE",
    "MODEL_FILE",
    "SCHEMA_FILE",
    "SERVING_FILE",
    "BundleWarning",
    "GraphScorer",
    "Model",
    "RecommendationList",
    "Recommender",
    "SchemaWarning",
    "ScoringComponent",
    "VerifiedBundle",
    "key_path",
    "library_versions",
    "load_bundle",
    "onnx_session",
    "open_graph",
    "output_classes",
    "popularity_tie_break",
    "privacy_key",
    "read_metadata",
    "read_serving",
    "read_verified",
    "save_bundle",
    "schema_task",
    "sha256_file",
    "signing_key",
    "standardise_scores",
    "update_metadata",
    "verify_bundle",
]
