"""Reading JSON tables: an array of records, JSON lines or column-oriented objects."""

from __future__ import annotations

import codecs
import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.data.sources._detect import (
    DECOMPRESSION_ERRORS,
    SAMPLE_BYTES,
    binary_kind,
    detect_encoding,
    normalise_encoding,
    open_binary,
    sniff_compression,
)
from cairn.exceptions import DataError

if TYPE_CHECKING:
    import pandas as pd


def read_json(
    path: Path, *, compression: str | None, encoding: str | None, where: str
) -> pd.DataFrame:
    import pandas as pd

    if compression is None:
        compression = sniff_compression(path)
    try:
        with open_binary(path, compression) as handle:
            raw = handle.read()
    except DECOMPRESSION_ERRORS as error:
        raise DataError(f"{where}: cannot be read ({error}); the file may be corrupt") from None
    kind = binary_kind(raw[:SAMPLE_BYTES])
    if kind is not None:
        raise DataError(f"{where}: cannot be read as JSON: it looks like {kind}")
    chosen = (
        normalise_encoding(encoding, where=where)
        if encoding is not None
        else detect_encoding(raw[:SAMPLE_BYTES])
    )
    if chosen == "utf-8" and raw.startswith(codecs.BOM_UTF8):
        chosen = "utf-8-sig"
    try:
        text = raw.decode(chosen)
    except UnicodeDecodeError as error:
        raise DataError(
            f"{where}: cannot be decoded as {chosen} ({error}); set `encoding`"
        ) from None
    stripped = text.lstrip()
    if not stripped:
        raise DataError(f"{where}: is empty (no text in it)")
    if stripped[0] == "[":
        records = _json_document(text, where=where)
    elif stripped[0] == "{":
        records = _json_lines(text, where=where)
    else:
        raise DataError(
            f"{where}: is not a JSON table: expected an array of objects ('[{{...}}, ...]') "
            f"or one object per line (JSON lines), found {stripped[:20]!r}"
        )
    if not records:
        raise DataError(f"{where}: is empty (no records)")
    nested = any(isinstance(value, dict) for record in records[:1000] for value in record.values())
    return pd.json_normalize(records) if nested else pd.DataFrame.from_records(records)


def _json_document(text: str, *, where: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(
            f"{where}: is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    return _records(data, where=where)


def _records(data: Any, *, where: str) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        # {"column": [values], ...} or {"data": [records]}
        lists = [value for value in data.values() if isinstance(value, list)]
        if lists and len(lists) == len(data) and len({len(v) for v in lists}) == 1:
            if len(lists) == 1 and all(isinstance(item, dict) for item in lists[0]):
                return list(lists[0])
            keys = list(data)
            return [dict(zip(keys, row, strict=True)) for row in zip(*lists, strict=True)]
        raise DataError(
            f"{where}: is one JSON object, not a table; expected an array of objects "
            "(records) or one object per line (JSON lines)"
        )
    if not isinstance(data, list):
        raise DataError(f"{where}: is not a JSON table: expected an array of objects")
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise DataError(
                f"{where}: item {position} of the JSON array is a {type(item).__name__}, not an "
                "object; expected an array of objects (records)"
            )
    return data


def _json_lines(text: str, *, where: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            if number == 1:
                # Perhaps one pretty-printed JSON document rather than JSON lines.
                with contextlib.suppress(json.JSONDecodeError):
                    return _records(json.loads(text), where=where)
            raise DataError(
                f"{where}: line {number} is not valid JSON ({error.msg} at column "
                f"{error.colno}); expected one JSON object per line"
            ) from None
        if not isinstance(item, dict):
            raise DataError(
                f"{where}: line {number} is a JSON {type(item).__name__}, not an object; "
                "expected one JSON object per line"
            )
        records.append(item)
    if len(records) == 1 and records[0] and all(isinstance(v, list) for v in records[0].values()):
        return _records(records[0], where=where)  # one column-oriented object
    return records
