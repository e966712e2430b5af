"""Reading one table (file or URL) and one ``[[data.sources]]`` entry."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from cairn.data.sources._files import check_file, read_file
from cairn.data.sources._formats import resolve_format
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

    Returns:
        The table, with column names stripped of surrounding whitespace and
        values as read (numbers and booleans inferred, text kept as text).

    Raises:
        DataError: The file or URL cannot be found, fetched or read, has an
            unknown format, or holds no rows.
    """
    text = str(location)
    if text.startswith(("http://", "https://")):
        return read_url(text, format=format, separator=separator, encoding=encoding, sheet=sheet)
    path = Path(location).expanduser()
    check_file(path)
    fmt, compression = resolve_format(path.name, format, where=str(path))
    return read_file(
        path,
        fmt,
        compression=compression,
        separator=separator,
        encoding=encoding,
        sheet=sheet,
        where=str(path),
    )


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
            )
        if source.url is not None:
            return read_table(
                source.url,
                format=source.format,
                separator=source.separator,
                encoding=source.encoding,
                sheet=source.sheet,
            )
        assert source.sql is not None
        return read_sql(
            source.sql,
            table=source.table,
            query=source.query,
            root=root,
            where=f"source {source_label(source)!r}",
        )
    except DataError as error:
        if source.name and source.sql is None:
            raise DataError(f"source {source.name!r}: {error}") from None
        raise
