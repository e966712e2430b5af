"""Keyed hashes that stand in for personal data, at training and at scoring.

A column holding personal data that the spec says to ``hash`` is replaced by
``h:`` + the first 16 hex digits of HMAC-SHA256(key, value), so that equal
values still match (the column stays usable as a category) while the value
itself cannot be read back. The key is a per-project secret
(``<project>/.cairn/privacy.key``, mode 600) stored in every bundle as
``privacy.key``, so a served model hashes incoming values exactly as training
did. Values are compared without case or spaces ("John@X.com " and
"john@x.com" hash alike). A value that is already a pseudonym passes
unchanged, so a logged record can be scored again.

This module is read by the server: it imports nothing from training.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cairn._io import atomic_write_bytes
from cairn.data.values import category_string
from cairn.exceptions import DataError

__all__ = [
    "KEY_FILE",
    "PREFIX",
    "Pseudonymiser",
    "is_pseudonym",
    "new_key",
    "privacy_columns",
    "project_key",
    "pseudonym",
]

#: The key's file name, in a bundle and in the project's ``.cairn`` folder.
KEY_FILE = "privacy.key"
PREFIX = "h:"
_DIGITS = 16
_PSEUDONYM = re.compile(rf"^{PREFIX}[0-9a-f]{{{_DIGITS}}}$")
_SPACES = re.compile(r"\s+")


def new_key() -> bytes:
    return secrets.token_bytes(32)


def project_key(project_dir: str | Path) -> bytes:
    """The project's hashing key, created (mode 600) on first use.

    Raises:
        DataError: the key file exists but is too short to be a key.
    """
    path = Path(project_dir) / ".cairn" / KEY_FILE
    if path.exists():
        key = path.read_bytes()
        if len(key) < 16:
            raise DataError(
                f"{path}: the privacy key is {len(key)} bytes, too short to be a key; "
                "restore it from a backup or a bundle's privacy.key (deleting it changes "
                "every hashed value)"
            )
        return key
    key = new_key()
    atomic_write_bytes(path, key)
    path.chmod(0o600)
    return key


def is_pseudonym(value: Any) -> bool:
    return isinstance(value, str) and _PSEUDONYM.match(value) is not None


def pseudonym(value: Any, key: bytes) -> Any:
    """``value``'s pseudonym; a missing value stays missing (None)."""
    if is_pseudonym(value):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        # a card number read as a float (its column has gaps) hashes as the integer
        value = int(value)
    text = category_string(value)
    if not isinstance(text, str):
        return None
    normal = _SPACES.sub("", text).casefold()
    if not normal:
        return None
    digest = hmac.new(key, normal.encode("utf-8", "backslashreplace"), hashlib.sha256)
    return PREFIX + digest.hexdigest()[:_DIGITS]


def privacy_columns(metadata: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """What a schema's metadata records about personal-data columns:
    ``{column: {"kind": ..., "action": "drop" | "hash" | "keep"}}``."""
    recorded = (metadata.get("privacy") or {}).get("columns") or {}
    return {str(name): dict(entry) for name, entry in recorded.items()}


class Pseudonymiser:
    """Replaces the values of protected columns (every personal-data column
    not marked "keep") by their pseudonyms, in records and frames."""

    def __init__(
        self,
        columns: Sequence[str],
        key: bytes | None,
        dropped: Sequence[str] = (),
        where: str = "the model",
    ) -> None:
        self.columns = tuple(columns)
        self.key = key
        self.where = where
        #: the protected columns training dropped (not model inputs)
        self.dropped = tuple(dropped)

    @classmethod
    def from_metadata(
        cls,
        metadata: Mapping[str, Any],
        key: bytes | None,
        where: str = "the bundle",
        *,
        require_key: bool = True,
    ) -> Pseudonymiser:
        """The pseudonymiser a schema's metadata asks for. Without
        ``require_key``, a missing key is refused only when a value that is
        not yet a pseudonym must be hashed.

        Raises:
            DataError: columns are protected but no key was given.
        """
        recorded = privacy_columns(metadata)
        protected = [name for name, entry in recorded.items() if entry["action"] != "keep"]
        dropped = [name for name, entry in recorded.items() if entry["action"] == "drop"]
        if protected and key is None and require_key:
            raise DataError(
                f"{where} protects personal-data column(s) {', '.join(map(repr, protected))} "
                f"but holds no {KEY_FILE}; package the model again with 'cairn run'"
            )
        return cls(protected, key, dropped, where)

    def __bool__(self) -> bool:
        return bool(self.columns)

    def record(self, record: Any) -> Any:
        """A copy of a JSON record with protected values hashed (anything
        that is not an object is returned as it is)."""
        if not self.columns or not isinstance(record, dict):
            return record
        present = [name for name in self.columns if name in record]
        if not present:
            return record
        out = dict(record)
        for name in present:
            value = out[name]
            if isinstance(value, dict | list):
                out[name] = None  # not a value that can be read back either
            elif value is not None and not is_pseudonym(value):
                out[name] = pseudonym(value, self._key(name))
        return out

    def _key(self, column: str) -> bytes:
        if self.key is None:
            raise DataError(
                f"column {column!r} holds personal data that {self.where} hashes, but it has "
                f"no {KEY_FILE} to hash it with; load the model from its bundle"
            )
        return self.key

    def records(self, records: Sequence[Any]) -> list[Any]:
        return [self.record(record) for record in records]

    def frame(self, frame: pd.DataFrame, *, drop: bool = False) -> pd.DataFrame:
        """A copy of ``frame`` with protected columns hashed; with ``drop``,
        the columns training dropped are left out instead (they are no
        model input, so scoring data may hold them without a warning)."""
        if drop:
            frame = frame.drop(columns=[name for name in self.dropped if name in frame.columns])
        present = [name for name in self.columns if name in frame.columns]
        raw = [name for name in present if not frame[name].dropna().map(is_pseudonym).all()]
        if not raw:
            return frame
        out = frame.copy()
        for name in raw:
            out[name] = hash_series(frame[name], self._key(name))
        return out


def hash_series(series: pd.Series, key: bytes) -> pd.Series:
    """Each value's pseudonym (missing stays missing), as text; hashed once
    per distinct value."""
    present = series.dropna()
    mapping = {value: pseudonym(value, key) for value in pd.unique(present)}
    return series.map(mapping, na_action="ignore").astype("str")
