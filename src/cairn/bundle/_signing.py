"""The signing key and the signed manifest (sha256 of every file, HMAC-SHA256)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cairn._io import write_json
from cairn.bundle._common import KEY_ENV, MANIFEST_FILE, sha256_file
from cairn.exceptions import BundleError

MIN_KEY_CHARS = 16


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
        if len(given) < MIN_KEY_CHARS:
            raise BundleError(
                f"{KEY_ENV} is {len(given)} characters long; use at least "
                f"{MIN_KEY_CHARS} (e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
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
            f"set {KEY_ENV} to a secret of at least {MIN_KEY_CHARS} characters instead"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BundleError(
            f"{path}: the bundle signing key is open to other users (mode {stat.S_IMODE(mode):o}); "
            f"run 'chmod 600 {path}'"
        )
    if len(key) < MIN_KEY_CHARS:
        raise BundleError(f"{path}: the bundle signing key is empty or too short; delete it")
    return key


def own_key() -> bytes:
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


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"cairn bundle key id\0" + key).hexdigest()[:16]


def signature_of(body: Mapping[str, Any], key: bytes) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def sign_folder(folder: Path, key: bytes, names: Sequence[str] | None = None) -> None:
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
        "key_id": key_id(key),
        "files": {name: sha256_file(folder / name) for name in names},
    }
    manifest = {**body, "signature": signature_of(body, key)}
    write_json(folder / MANIFEST_FILE, manifest)
