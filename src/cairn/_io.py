"""Atomic file writes and JSON-safe values, written once for every stage.

A write goes to a temporary file in the target's folder and is renamed over the
target, so a crash or kill leaves either the old file or the new one, never half
of one. NaN and infinities have no JSON form; they become null.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_bytes", "atomic_write_text", "json_safe", "write_json"]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any, *, indent: int | None = 2) -> Path:
    """Write ``data`` as JSON atomically, after :func:`json_safe`."""
    text = json.dumps(json_safe(data), indent=indent, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def json_safe(value: Any) -> Any:
    """Plain JSON values: numpy and pandas scalars unwrapped, NaN and infinities as
    null, dates as ISO text, paths and other objects as their text."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    item = getattr(value, "item", None)  # numpy scalars and 0-d arrays
    if callable(item) and getattr(value, "ndim", None) == 0:
        return json_safe(item())
    tolist = getattr(value, "tolist", None)  # numpy arrays, pandas Series
    if callable(tolist):
        return json_safe(tolist())
    if _is_missing(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    isoformat = getattr(value, "isoformat", None)  # pandas Timestamp
    if callable(isoformat):
        return isoformat()
    return str(value)


def _is_missing(value: Any) -> bool:
    # pd.NA and pd.NaT without importing pandas here.
    return type(value).__name__ in {"NAType", "NaTType"}
