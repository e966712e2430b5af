"""Checking a bundle before anything in it is read: safe names, the manifest's
signature, every file's hash."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.bundle._common import (
    KEY_ENV,
    MANIFEST_FILE,
    METADATA_FILE,
    MODEL_FILE,
    OPTIONAL_FILES,
    BundleWarning,
)
from cairn.bundle._signing import key_id, key_path, signature_of, signing_key
from cairn.exceptions import BundleError


def inside(folder: Path, name: Any) -> Path:
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


def read_inside(folder: Path, name: str) -> bytes:
    path = inside(folder, name)
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


def check_hash(path: Path, content: bytes, recorded: Any) -> bytes:
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
        content = read_inside(self.folder, name)
        return check_hash(self.folder / name, content, self.hashes[name])

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
        inside(folder, name)
    missing = {name for name in hashes if name in OPTIONAL_FILES and not (folder / name).exists()}
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
    inside(folder, model_file)
    if model_file not in hashes:
        raise BundleError(f"{folder / METADATA_FILE}: no sha256 recorded for {model_file!r}")
    for name in sorted(set(hashes) - missing - {METADATA_FILE}):
        try:
            with inside(folder, name).open("rb") as handle:
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
        manifest = json.loads(read_inside(folder, MANIFEST_FILE))
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
    elif not hmac.compare_digest(signature_of(body, key), signature):
        why = (
            "its signature does not match: a file list or hash was changed after it was "
            "signed, or it was signed with another key "
            f"(key id {str(manifest.get('key_id'))[:16]}, yours {key_id(key)})"
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
        metadata = json.loads(read_inside(folder, METADATA_FILE))
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
    hashes[METADATA_FILE] = hashlib.sha256(read_inside(folder, METADATA_FILE)).hexdigest()
    return hashes


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
    path = inside(folder, name)
    if not recorded:
        raise BundleError(f"{path}: no sha256 recorded in {METADATA_FILE}; refusing to read it")
    return check_hash(path, read_inside(folder, name), recorded)
