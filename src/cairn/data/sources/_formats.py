"""The formats cairn reads: names, file extensions and HTTP content types."""

from __future__ import annotations

from pathlib import Path

from cairn.exceptions import DataError

#: The formats cairn reads, and the file extensions that imply each one.
FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".txt"),
    "tsv": (".tsv", ".tab"),
    "parquet": (".parquet", ".pq"),
    "excel": (".xlsx", ".xlsm", ".xls"),
    "json": (".json",),
    "jsonl": (".jsonl", ".ndjson"),
}
_FORMAT_ALIASES: dict[str, str] = {
    "txt": "csv",
    "text": "csv",
    "pq": "parquet",
    "xlsx": "excel",
    "xlsm": "excel",
    "xls": "excel",
    "ndjson": "jsonl",
    "jsonlines": "jsonl",
}
_EXTENSION_FORMAT: dict[str, str] = {ext: fmt for fmt, exts in FORMATS.items() for ext in exts}
# Compression suffixes accepted after a text format's extension (e.g. data.csv.gz).
_COMPRESSION_SUFFIXES: dict[str, str] = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
TEXT_FORMATS = frozenset({"csv", "tsv", "json", "jsonl"})
CONTENT_TYPES: dict[str, str] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "text/comma-separated-values": "csv",
    "text/plain": "csv",
    "text/tab-separated-values": "tsv",
    "application/json": "json",
    "text/json": "json",
    "application/x-ndjson": "jsonl",
    "application/ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/jsonlines": "jsonl",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "excel",
    "application/vnd.ms-excel": "excel",
}

#: Where a reader leaves what the source's options (or the sniffer) say
#: about its columns, for the type repair: ``frame.attrs[READ_HINTS_ATTR]``
#: = {"missing" | "decimal" | "thousands": {column: value}}.
READ_HINTS_ATTR = "cairn_read"


def normalise_format(format: str, *, where: str) -> str:
    key = format.strip().lower().lstrip(".")
    key = _FORMAT_ALIASES.get(key, key)
    if key not in FORMATS:
        raise DataError(
            f"{where}: unknown format {format!r}; set `format` to one of {', '.join(FORMATS)}"
        )
    return key


def format_from_name(name: str) -> tuple[str | None, str | None]:
    """(format, compression) implied by a file name; format is None if unknown."""
    lower = name.lower()
    compression = None
    for suffix, kind in _COMPRESSION_SUFFIXES.items():
        if lower.endswith(suffix):
            compression = kind
            lower = lower[: -len(suffix)]
            break
    fmt = _EXTENSION_FORMAT.get(Path(lower).suffix)
    if fmt is not None and compression is not None and fmt not in TEXT_FORMATS:
        fmt = None
    return fmt, compression


def supported_extensions() -> str:
    exts = [ext for exts in FORMATS.values() for ext in exts]
    return ", ".join(exts) + " (text formats also as .gz, .bz2, .xz)"


def resolve_format(name: str, format: str | None, *, where: str) -> tuple[str, str | None]:
    fmt, compression = format_from_name(name)
    if format is not None:
        chosen = normalise_format(format, where=where)
        return chosen, compression if chosen in TEXT_FORMATS else None
    if fmt is None:
        suffix = "".join(Path(name).suffixes[-2:]) or None
        what = f"extension {suffix!r}" if suffix else "no extension"
        raise DataError(
            f"{where}: cannot tell the format from the file name ({what}); supported "
            f"extensions: {supported_extensions()}. Set `format` to one of "
            f"{', '.join(FORMATS)}"
        )
    return fmt, compression


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
