"""Model bundles: a fitted pipeline with its schema and metadata, on disk.

A bundle is a folder::

    model.joblib     the fitted scikit-learn pipeline (preprocessing + learner)
    schema.json      the input schema (see cairn.data.schema.Schema)
    metadata.json    task, metrics, objectives verdict, spec and data
                     fingerprints, library versions, creation time, and the
                     sha256 of model.joblib and of every other file
    model.onnx       optional: the whole pipeline as one ONNX graph, used by
    serving.json     the server's fast path (see cairn.onnx_export)
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

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import platform
import secrets
import shutil
import stat
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
MANIFEST_FILE = "manifest.json"
GRAPH_FILE = "model.onnx"
SERVING_FILE = "serving.json"
KEY_ENV = "CAIRN_BUNDLE_KEY"
_MIN_KEY_CHARS = 16
# Without the graph a bundle still serves, natively: its absence is warned about.
_OPTIONAL_FILES = frozenset({GRAPH_FILE})
_TRACKED_PACKAGES = ("cairn", "scikit-learn", "numpy", "pandas", "lightgbm", "catboost", "joblib")


class SchemaWarning(UserWarning):
    """Scoring data differs from the schema in a way cairn could repair."""


class BundleWarning(UserWarning):
    """A bundle is loaded with less than full checks or without its fast path."""


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


# ------------------------------------------------------------ signing key


def key_path() -> Path:
    """Where the signing key lives when ``CAIRN_BUNDLE_KEY`` is not set."""
    return Path.home() / ".cairn" / "bundle.key"


def signing_key(*, create: bool = False) -> bytes | None:
    """The key bundles are signed and checked with, or None when there is none.

    ``CAIRN_BUNDLE_KEY`` (at least 16 characters) wins; otherwise the key file
    at :func:`key_path`, which ``create=True`` makes (mode 600) when absent.

    Raises:
        BundleError: the variable is too short, or the key file is readable or
            writable by other users, or empty.
    """
    given = os.environ.get(KEY_ENV)
    if given:
        if len(given) < _MIN_KEY_CHARS:
            raise BundleError(
                f"{KEY_ENV} is {len(given)} characters long; use at least "
                f"{_MIN_KEY_CHARS} (e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        return given.encode("utf-8")
    path = key_path()
    try:
        if not path.exists():
            if not create:
                return None
            _create_key(path)
        mode = path.stat().st_mode
        key = path.read_bytes().strip()
    except OSError as error:
        raise BundleError(
            f"{path}: cannot read or create the bundle signing key ({error}); "
            f"set {KEY_ENV} to a secret of at least {_MIN_KEY_CHARS} characters instead"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BundleError(
            f"{path}: the bundle signing key is open to other users (mode {stat.S_IMODE(mode):o}); "
            f"run 'chmod 600 {path}'"
        )
    if len(key) < _MIN_KEY_CHARS:
        raise BundleError(f"{path}: the bundle signing key is empty or too short; delete it")
    return key


def _own_key() -> bytes:
    """The key to sign with: made on first use."""
    key = signing_key(create=True)
    if key is None:  # pragma: no cover - create=True makes one or raises
        raise BundleError(f"no bundle signing key at {key_path()}")
    return key


def _create_key(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    try:
        os.link(tmp, path)  # creates the key only if no other process did first
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"cairn bundle key id\0" + key).hexdigest()[:16]


def _signature(body: Mapping[str, Any], key: bytes) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def _sign(folder: Path, key: bytes, names: Sequence[str] | None = None) -> None:
    """Write manifest.json: the sha256 of ``names`` (default: every file of
    ``folder``), signed."""
    if names is None:
        names = [
            entry.name
            for entry in folder.iterdir()
            if entry.is_file()
            and not entry.is_symlink()
            and entry.name != MANIFEST_FILE
            and not entry.name.startswith(".")
        ]
    names = sorted(names)
    body = {
        "format_version": 1,
        "algorithm": "hmac-sha256",
        "key_id": _key_id(key),
        "files": {name: sha256_file(folder / name) for name in names},
    }
    manifest = {**body, "signature": _signature(body, key)}
    tmp = folder / f".{MANIFEST_FILE}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST_FILE)


# ------------------------------------------------------------ verification


def _inside(folder: Path, name: Any) -> Path:
    """``folder / name`` when ``name`` is a plain file name of the bundle."""
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or Path(name).name != name
        or "\\" in name
        or "\0" in name
    ):
        raise BundleError(
            f"{folder}: the bundle names {name!r}, which is not a plain file inside the "
            "bundle (absolute paths, '..' and folders are refused); do not load this bundle"
        )
    path = folder / name
    if path.is_symlink():
        raise BundleError(
            f"{path}: a symbolic link in the bundle; bundle files must be regular files inside "
            "the bundle, so it is refused"
        )
    return path


def _read_inside(folder: Path, name: str) -> bytes:
    path = _inside(folder, name)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise BundleError(f"{path}: not a regular file; the bundle is refused")
            return handle.read()
    except FileNotFoundError:
        raise BundleError(f"{path}: missing from the bundle; restore the bundle") from None
    except OSError as error:
        raise BundleError(f"{path}: cannot read the bundle file ({error})") from None


def _check_hash(path: Path, content: bytes, recorded: Any) -> bytes:
    actual = hashlib.sha256(content).hexdigest()
    if not isinstance(recorded, str) or not hmac.compare_digest(actual, recorded):
        raise BundleError(
            f"{path}: sha256 {actual[:12]}… does not match the recorded {str(recorded)[:12]}…; "
            "the file was modified or truncated, so it is not used. Re-run 'cairn run' or "
            "restore the bundle"
        )
    return content


@dataclass
class VerifiedBundle:
    """A bundle whose manifest (or, trusted, its metadata) was checked.

    Attributes:
        folder: the bundle folder (resolved).
        metadata: metadata.json, read from the verified bytes.
        hashes: file name → recorded sha256, for every file of the bundle.
        signed: True when the manifest's signature was checked with the key.
        missing: optional files listed but absent (e.g. the ONNX graph).
    """

    folder: Path
    metadata: dict[str, Any]
    hashes: dict[str, str]
    signed: bool
    missing: set[str] = field(default_factory=set)

    def has(self, name: str) -> bool:
        return name in self.hashes and name not in self.missing

    def read(self, name: str) -> bytes:
        """The bytes of a bundle file, checked against its recorded hash.

        The bytes returned are the bytes hashed, so nothing can change between
        the check and the use.
        """
        if name not in self.hashes:
            raise BundleError(
                f"{self.folder / name}: not recorded in the bundle's manifest; refusing to read it"
            )
        content = _read_inside(self.folder, name)
        return _check_hash(self.folder / name, content, self.hashes[name])

    @property
    def model_file(self) -> str:
        return str(self.metadata.get("model_file", MODEL_FILE))


def _unsigned(folder: Path, why: str) -> BundleError:
    return BundleError(
        f"{folder}: {why}; loading a bundle runs its code, so only a bundle signed with your "
        f"key is loaded. Re-run 'cairn run' to make one, or pass --trust (trust=True) if you "
        "know where this bundle comes from"
    )


def verify_bundle(path: str | Path, *, trust: bool = False) -> VerifiedBundle:
    """Check a bundle's manifest signature and every file's hash; read nothing else.

    Args:
        trust: accept an unsigned bundle or one signed with another key
            (with a warning); every file's hash is still checked.

    Raises:
        BundleError: not a bundle, an unsafe file name, a bad or missing
            signature (unless trusted), or a file that does not match its hash.
    """
    given = Path(path)
    if not given.is_dir():
        raise BundleError(
            f"{given}: no model bundle here; pass the folder written by 'cairn run' "
            "(see its output) or a registry URI such as models:/NAME@champion"
        )
    folder = given.resolve()
    if not (folder / METADATA_FILE).exists() and not (folder / MANIFEST_FILE).exists():
        raise BundleError(f"{folder}: not a model bundle ({METADATA_FILE} is missing)")
    signed = False
    if (folder / MANIFEST_FILE).exists() or (folder / MANIFEST_FILE).is_symlink():
        hashes, signed = _manifest_hashes(folder, trust=trust)
    elif trust:
        warnings.warn(
            f"{folder}: unsigned bundle loaded because it is trusted", BundleWarning, stacklevel=2
        )
        hashes = _legacy_hashes(folder)
    else:
        raise _unsigned(folder, f"the bundle is not signed ({MANIFEST_FILE} is missing)")
    for name in hashes:
        _inside(folder, name)
    missing = {name for name in hashes if name in _OPTIONAL_FILES and not (folder / name).exists()}
    bundle = VerifiedBundle(folder, {}, hashes, signed, missing)
    try:
        bundle.metadata = json.loads(bundle.read(METADATA_FILE))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(
            f"{folder / METADATA_FILE}: unreadable bundle metadata ({error})"
        ) from None
    if not isinstance(bundle.metadata, dict):
        raise BundleError(f"{folder / METADATA_FILE}: unreadable bundle metadata (not an object)")
    model_file = bundle.model_file
    _inside(folder, model_file)
    if model_file not in hashes:
        raise BundleError(f"{folder / METADATA_FILE}: no sha256 recorded for {model_file!r}")
    for name in sorted(set(hashes) - missing - {METADATA_FILE}):
        try:
            with _inside(folder, name).open("rb") as handle:
                actual = hashlib.file_digest(handle, "sha256").hexdigest()
        except FileNotFoundError:
            what = "model file" if name == model_file else "file"
            raise BundleError(
                f"{folder / name}: {what} is missing from the bundle; restore the bundle"
            ) from None
        except OSError as error:
            raise BundleError(f"{folder / name}: cannot read the bundle file ({error})") from None
        if actual != hashes[name]:
            raise BundleError(
                f"{folder / name}: sha256 {actual[:12]}… does not match the recorded "
                f"{hashes[name][:12]}…; the file was modified or truncated, so the bundle is "
                "not loaded. Re-run 'cairn run' or restore the bundle"
            )
    return bundle


def _manifest_hashes(folder: Path, *, trust: bool) -> tuple[dict[str, str], bool]:
    where = folder / MANIFEST_FILE
    try:
        manifest = json.loads(_read_inside(folder, MANIFEST_FILE))
        files = manifest["files"]
        body = {key: value for key, value in manifest.items() if key != "signature"}
        signature = str(manifest["signature"])
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
            raise TypeError("'files' is not a table of hashes")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise BundleError(f"{where}: unreadable bundle manifest ({error})") from None
    key = signing_key()
    if key is None:
        why = f"there is no signing key here to check its signature ({KEY_ENV} or {key_path()})"
    elif not hmac.compare_digest(_signature(body, key), signature):
        why = (
            "its signature does not match: a file list or hash was changed after it was "
            "signed, or it was signed with another key "
            f"(key id {str(manifest.get('key_id'))[:16]}, yours {_key_id(key)})"
        )
    else:
        return dict(files), True
    if not trust:
        raise _unsigned(folder, why)
    warnings.warn(f"{folder}: {why}; loaded because it is trusted", BundleWarning, stacklevel=3)
    return dict(files), False


def _legacy_hashes(folder: Path) -> dict[str, str]:
    """Hashes recorded in metadata.json by bundles made before manifests."""
    try:
        metadata = json.loads(_read_inside(folder, METADATA_FILE))
        hashes = {str(k): str(v) for k, v in (metadata.get("files") or {}).items()}
        model_file = str(metadata.get("model_file", MODEL_FILE))
        recorded = metadata.get("model_sha256")
    except (ValueError, AttributeError) as error:
        raise BundleError(
            f"{folder / METADATA_FILE}: unreadable bundle metadata ({error})"
        ) from None
    if not recorded:
        raise BundleError(f"{folder / METADATA_FILE}: no model_sha256 recorded; refusing to load")
    hashes[model_file] = str(recorded)
    hashes[METADATA_FILE] = hashlib.sha256(_read_inside(folder, METADATA_FILE)).hexdigest()
    return hashes


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
        pipeline: the fitted scikit-learn pipeline.
        schema: the input schema.
        metadata: what metadata.json holds (metrics, versions, ...).
        path: the bundle folder it was loaded from, if any.
        engine: "onnx" when predictions come from the bundle's verified ONNX
            graph (the one the server uses), else "native".
    """

    def __init__(
        self,
        pipeline: Any,
        schema: Schema,
        metadata: Mapping[str, Any] | None = None,
        path: Path | None = None,
        *,
        graph: Any = None,
    ) -> None:
        self.pipeline = pipeline
        self.schema = schema
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.path = path
        self._graph = graph

    @property
    def engine(self) -> str:
        return "native" if self._graph is None else "onnx"

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

    def _output(self, frame: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
        """Probabilities (classification) or values, and the rows' index."""
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(frame)
        if self._graph is None or not len(frame):
            X = self.prepare(frame)
            if self.task == "classification":
                return np.asarray(self.pipeline.predict_proba(X), dtype=float), X.index
            return np.asarray(self.pipeline.predict(X), dtype=float), X.index
        return self._graph_output(frame), frame.index

    def _graph_output(self, frame: pd.DataFrame) -> np.ndarray:
        # The graph's record adapter checks and coerces values itself (the
        # same code the server runs), so the frame is not conformed first.
        from cairn.records import to_records

        if any(name not in frame.columns for name in self._graph.adapter.required):
            self.prepare(frame.iloc[:0])  # the schema's own error, naming the columns
        output, notes = self._graph.output(to_records(frame))
        unseen: dict[str, int] = {}
        for note in notes:
            if note.get("column") is None:
                warnings.warn(str(note["message"]), SchemaWarning, stacklevel=4)
            else:
                unseen[str(note["column"])] = unseen.get(str(note["column"]), 0) + 1
        for column, count in unseen.items():
            warnings.warn(
                f"column {column!r}: {count} row(s) hold a category unseen in training",
                SchemaWarning,
                stacklevel=4,
            )
        output = np.asarray(output, dtype=float)
        if self.task == "classification":
            return output.reshape(len(frame), -1)
        return output.reshape(-1)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Class labels (classification) or values (regression), one per row.

        Raises:
            SchemaMismatchError: a required column is missing or holds values
                that cannot be coerced to its type.
        """
        output, _ = self._output(frame)
        if self.task == "classification":
            return np.asarray(self.classes, dtype=object)[output.argmax(axis=1)]
        return output

    def predict_proba(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Class probabilities, one column per class label.

        Raises:
            BundleError: the model is a regression model.
        """
        if self.task != "classification":
            raise BundleError("predict_proba is only available for classification models")
        output, index = self._output(frame)
        return pd.DataFrame(output, columns=self.classes, index=index)

    def __repr__(self) -> str:
        name = self.metadata.get("name", "?")
        family = self.metadata.get("model", "?")
        return f"Model(name={name!r}, model={family!r}, task={self.task!r}, engine={self.engine!r})"


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

    key = _own_key()
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
        _sign(staging, key)
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
    """metadata.json of a bundle, for display: not verified (see :func:`verify_bundle`)."""
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
    """The content of a bundle file, after checking it against the sha256
    recorded under ``files`` in metadata.json.

    The bytes returned are the bytes hashed, so nothing can change between
    the check and the use. Code that unpickles uses :func:`verify_bundle`,
    which also checks metadata.json itself against the signed manifest.

    Raises:
        BundleError: the file is missing, has no recorded hash, is not a plain
            file inside the bundle, or does not match its hash.
    """
    folder = Path(folder)
    meta = dict(metadata) if metadata is not None else read_metadata(folder)
    recorded = (meta.get("files") or {}).get(name)
    path = _inside(folder, name)
    if not recorded:
        raise BundleError(f"{path}: no sha256 recorded in {METADATA_FILE}; refusing to read it")
    return _check_hash(path, _read_inside(folder, name), recorded)


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
    tmp = bundle.folder / f".{METADATA_FILE}.tmp"
    tmp.write_text(json.dumps(data, indent=2, default=_json_default), encoding="utf-8")
    os.replace(tmp, bundle.folder / METADATA_FILE)
    # only the files already vouched for: nothing dropped in later gets signed
    _sign(bundle.folder, _own_key(), sorted(set(bundle.hashes) - bundle.missing))
    return data


def load_bundle(path: str | Path, *, trust: bool = False, engine: str = "auto") -> Model:
    """Load a bundle folder once its signature and every file's hash check out.

    Args:
        trust: accept an unsigned bundle or one signed with another key
            (hashes are still checked); only for bundles from a known source.
        engine: "auto" predicts with the bundle's verified ONNX graph when it
            has one and ONNX Runtime is installed, else with the pickled
            pipeline; "native" always uses the pipeline; "onnx" requires the graph.

    Raises:
        BundleError: missing files, an unsafe file name, a bad signature, a
            hash mismatch (modified or truncated file), or an unreadable schema.
    """
    import joblib

    if engine not in ("auto", "onnx", "native"):
        raise BundleError(f"engine {engine!r} is not one of auto, onnx, native")
    bundle = verify_bundle(path, trust=trust)
    try:
        schema = Schema.from_json(bundle.read(SCHEMA_FILE).decode("utf-8"))
    except BundleError:
        raise
    except (ValueError, KeyError) as error:
        raise BundleError(f"{bundle.folder / SCHEMA_FILE}: unreadable schema ({error})") from None
    # unpickle exactly the bytes that were hashed
    pipeline = joblib.load(io.BytesIO(bundle.read(bundle.model_file)))
    graph = None
    if engine != "native":
        from cairn.serving.engine import open_graph

        graph, reason = open_graph(bundle, schema)
        if graph is None and engine == "onnx":
            raise BundleError(f"{bundle.folder}: cannot predict with ONNX: {reason}")
    return Model(pipeline, schema, bundle.metadata, path=bundle.folder, graph=graph)


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
    text = str(path_or_uri)
    if text.startswith("models:/"):
        from cairn.tracking import download_bundle

        text = str(download_bundle(text, tracking_uri=tracking_uri))
    return load_bundle(Path(text), trust=trust, engine=engine)
