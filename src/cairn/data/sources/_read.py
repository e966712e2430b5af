"""Reading one table (file or URL) and one ``[[data.sources]]`` entry."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.data.sources._files import check_file, read_file
from cairn.data.sources._formats import READ_HINTS_ATTR, resolve_format
from cairn.data.sources._http import read_url
from cairn.data.sources._sql import read_sql
from cairn.exceptions import DataError

if TYPE_CHECKING:
    import pandas as pd

    from cairn.spec import SourceSpec


def read_table(
    location: str | Path,
    *,
    format: str | None = None,
    separator: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    decimal: str | None = None,
    thousands: str | None = None,
    missing: list[str] | None = None,
) -> pd.DataFrame:
    """Read one table from a local file or an ``http(s)`` URL.

    The format comes from the extension (``.csv .tsv .txt .parquet .pq .xlsx
    .xls .json .jsonl .ndjson``, text formats optionally compressed as ``.gz``,
    ``.bz2`` or ``.xz``) unless ``format`` names it. For delimited text the
    separator and the encoding are sniffed when not given.

    Args:
        location: A file path or an ``http://`` / ``https://`` URL.
        format: One of ``csv``, ``tsv``, ``parquet``, ``excel``, ``json``,
            ``jsonl``; sniffed from the extension when ``None``.
        separator: The field separator of delimited text; sniffed when ``None``.
        encoding: The text encoding; sniffed when ``None``.
        sheet: The Excel sheet, by name or 0-based position; the first when ``None``.
        decimal: The decimal separator of numbers in text files ("." or
            ","); sniffed when ``None`` (a decimal comma in ';'-separated files).
        thousands: The thousands separator; read strictly (groups of three)
            by the type repair, recognised there when ``None``.
        missing: The strings read as missing; ``None``: cairn's sentinels
            (:data:`cairn.data.values.MISSING_SENTINELS`).

    Returns:
        The table, with column names stripped of surrounding whitespace and
        values as read (numbers and booleans inferred, text kept as text).
        ``attrs["cairn_read"]`` holds the number and missing-value options
        (given or sniffed) for the type repair.

    Raises:
        DataError: The file or URL cannot be found, fetched or read, has an
            unknown format, or holds no rows.
    """
    text = str(location)
    if text.startswith(("http://", "https://")):
        frame = read_url(
            text,
            format=format,
            separator=separator,
            encoding=encoding,
            sheet=sheet,
            decimal=decimal,
            missing=missing,
        )
    else:
        path = Path(location).expanduser()
        check_file(path)
        fmt, compression = resolve_format(path.name, format, where=str(path))
        frame = read_file(
            path,
            fmt,
            compression=compression,
            separator=separator,
            encoding=encoding,
            sheet=sheet,
            where=str(path),
            decimal=decimal,
            missing=missing,
        )
    return _with_hints(frame, decimal=decimal, thousands=thousands, missing=missing)


def _with_hints(
    frame: pd.DataFrame,
    *,
    decimal: str | None,
    thousands: str | None,
    missing: list[str] | None,
) -> pd.DataFrame:
    """``frame`` carrying the reading options for the type repair (with what
    the reader sniffed)."""
    given = {"decimal": decimal, "thousands": thousands, "missing": missing}
    hints = {
        **frame.attrs.get(READ_HINTS_ATTR, {}),
        **{k: v for k, v in given.items() if v is not None},
    }
    if hints:
        frame.attrs[READ_HINTS_ATTR] = hints
    return frame


def merge_read_hints(frames: list[pd.DataFrame]) -> dict[str, Any]:
    """The reading options of several tables, per column (for a combined
    frame; the first table holding a column decides)."""
    merged: dict[str, dict[str, Any]] = {}
    for frame in frames:
        hints = frame.attrs.get(READ_HINTS_ATTR) or {}
        for key, value in hints.items():
            if key not in ("decimal", "thousands", "missing", "sniffed_decimal"):
                continue
            by_column = merged.setdefault(key, {})
            for column in frame.columns:
                chosen = value.get(str(column)) if isinstance(value, dict) else value
                if chosen is not None:
                    by_column.setdefault(str(column), chosen)
    return merged


def source_label(source: SourceSpec) -> str:
    """The source's label with any password in a database URL masked."""
    if source.sql is not None and not source.name:
        return f"{_mask_password(source.sql)} ({source.table or 'query'})"
    return source.label


def _mask_password(url: str) -> str:
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", url)


def read_source(source: SourceSpec, *, root: Path) -> pd.DataFrame:
    """Read one ``[[data.sources]]`` entry.

    Args:
        source: The source: a ``path``, a ``url`` or ``sql`` with ``table`` or ``query``.
        root: The folder that relative paths (including relative SQLite
            database files) are resolved against, normally the spec's folder.

    Returns:
        The table as read.

    Raises:
        DataError: The source cannot be found, fetched or read, or holds no rows.
    """
    try:
        if source.path is not None:
            path = source.path.expanduser()
            return read_table(
                path if path.is_absolute() else root / path,
                format=source.format,
                separator=source.separator,
                encoding=source.encoding,
                sheet=source.sheet,
                decimal=source.decimal,
                thousands=source.thousands,
                missing=source.missing,
            )
        if source.url is not None:
            return read_table(
                source.url,
                format=source.format,
                separator=source.separator,
                encoding=source.encoding,
                sheet=source.sheet,
                decimal=source.decimal,
                thousands=source.thousands,
                missing=source.missing,
            )
        assert source.sql is not None
        frame = read_sql(
            source.sql,
            table=source.table,
            query=source.query,
            root=root,
            where=f"source {source_label(source)!r}",
        )
        # Text columns of a database are repaired like a file's text.
        given = {
            "decimal": source.decimal,
            "thousands": source.thousands,
            "missing": source.missing,
        }
        hints = {key: value for key, value in given.items() if value}
        if hints:
            frame.attrs[READ_HINTS_ATTR] = hints
        return frame
    except DataError as error:
        if source.name and source.sql is None:
            raise DataError(f"source {source.name!r}: {error}") from None
        raise
