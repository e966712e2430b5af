"""Reading the tables a project names in ``[[data.sources]]``.

A source is a local file, an ``http(s)`` URL or a SQL database reached through
SQLAlchemy. :func:`read_table` reads one file or URL, :func:`read_source` one
:class:`~cairn.spec.SourceSpec`, and :func:`collect` every source of a spec,
appended or joined into one frame.

Values are kept as read: pandas infers numbers and booleans, text stays text,
and no column role is decided here. Missing values are pandas' default NA
strings plus ``"?"``. Every failure is a :class:`~cairn.exceptions.DataError`
saying what went wrong, where (file, URL, source, column) and what to do.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import difflib
import gzip
import io
import json
import lzma
import re
import shutil
import tempfile
import urllib.parse
import warnings
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cairn.exceptions import DataError

if TYPE_CHECKING:
    import pandas as pd

    from cairn.spec import ProjectSpec, SourceSpec

__all__ = ["FORMATS", "collect", "read_source", "read_table"]

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
_TEXT_FORMATS = frozenset({"csv", "tsv", "json", "jsonl"})
_CONTENT_TYPES: dict[str, str] = {
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

#: Strings read as missing on top of pandas' defaults ("", "NA", "NaN", "null", ...).
EXTRA_NA_VALUES: tuple[str, ...] = ("?",)
# Files larger than this (in bytes) are parsed by pyarrow when the dialect allows.
_PYARROW_MIN_BYTES = 50 * 1024 * 1024
_SAMPLE_BYTES = 256 * 1024
_SNIFF_LINES = 50
_SEPARATOR_CANDIDATES = ",;\t|"
_SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_DOWNLOAD_TIMEOUT_S = 60.0

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PAR1", "a Parquet file (set format = 'parquet')"),
    (b"PK\x03\x04", "a ZIP archive or an Excel .xlsx workbook (set format = 'excel')"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook (set format = 'excel')"),
    (b"SQLite format 3\x00", "a SQLite database (use a 'sql' source: sql = 'sqlite:///FILE')"),
    (b"%PDF", "a PDF document"),
)


# --------------------------------------------------------------------------- files


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
        return _read_url(text, format=format, separator=separator, encoding=encoding, sheet=sheet)
    path = Path(location).expanduser()
    _check_file(path)
    fmt, compression = _resolve_format(path.name, format, where=str(path))
    return _read_file(
        path,
        fmt,
        compression=compression,
        separator=separator,
        encoding=encoding,
        sheet=sheet,
        where=str(path),
    )


def _normalise_format(format: str, *, where: str) -> str:
    key = format.strip().lower().lstrip(".")
    key = _FORMAT_ALIASES.get(key, key)
    if key not in FORMATS:
        raise DataError(
            f"{where}: unknown format {format!r}; set `format` to one of {', '.join(FORMATS)}"
        )
    return key


def _format_from_name(name: str) -> tuple[str | None, str | None]:
    """(format, compression) implied by a file name; format is None if unknown."""
    lower = name.lower()
    compression = None
    for suffix, kind in _COMPRESSION_SUFFIXES.items():
        if lower.endswith(suffix):
            compression = kind
            lower = lower[: -len(suffix)]
            break
    fmt = _EXTENSION_FORMAT.get(Path(lower).suffix)
    if fmt is not None and compression is not None and fmt not in _TEXT_FORMATS:
        fmt = None
    return fmt, compression


def _supported_extensions() -> str:
    exts = [ext for exts in FORMATS.values() for ext in exts]
    return ", ".join(exts) + " (text formats also as .gz, .bz2, .xz)"


def _resolve_format(name: str, format: str | None, *, where: str) -> tuple[str, str | None]:
    fmt, compression = _format_from_name(name)
    if format is not None:
        chosen = _normalise_format(format, where=where)
        return chosen, compression if chosen in _TEXT_FORMATS else None
    if fmt is None:
        suffix = "".join(Path(name).suffixes[-2:]) or None
        what = f"extension {suffix!r}" if suffix else "no extension"
        raise DataError(
            f"{where}: cannot tell the format from the file name ({what}); supported "
            f"extensions: {_supported_extensions()}. Set `format` to one of "
            f"{', '.join(FORMATS)}"
        )
    return fmt, compression


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a file; name a file inside it")
    if path.exists():
        try:
            size = path.stat().st_size
        except OSError as error:
            raise DataError(f"{path}: cannot be read ({error.strerror or error})") from None
        if size == 0:
            raise DataError(f"{path}: is empty (0 bytes); check that the export finished")
        return
    folder = path.parent
    if not folder.is_dir():
        raise DataError(
            f"{path}: file not found (the folder {folder} does not exist); check the path"
        )
    try:
        names = sorted(entry.name for entry in folder.iterdir() if entry.is_file())
    except OSError:
        names = []
    close = difflib.get_close_matches(path.name, names, n=3, cutoff=0.6)
    if not close:
        lowered = {name.lower(): name for name in names}
        close = [lowered[n] for n in difflib.get_close_matches(path.name.lower(), lowered, n=3)]
    hint = (
        f"; did you mean {', '.join(repr(n) for n in close)}?"
        if close
        else (f"; files there: {', '.join(names[:10])}" if names else f"; {folder} has no files")
    )
    raise DataError(f"{path}: file not found{hint}")


def _read_file(
    path: Path,
    fmt: str,
    *,
    compression: str | None,
    separator: str | None,
    encoding: str | None,
    sheet: str | int | None,
    where: str,
) -> pd.DataFrame:
    if fmt in ("csv", "tsv"):
        if fmt == "tsv" and separator is None:
            separator = "\t"
        frame = _read_delimited(
            path, compression=compression, separator=separator, encoding=encoding, where=where
        )
    elif fmt == "parquet":
        frame = _read_parquet(path, where=where)
    elif fmt == "excel":
        frame = _read_excel(path, sheet=sheet, where=where)
    else:
        frame = _read_json(path, compression=compression, encoding=encoding, where=where)
    if len(frame) == 0:
        columns = f"{len(frame.columns)} column(s)" if len(frame.columns) else "no columns"
        raise DataError(f"{where}: is empty (it has {columns} but no rows)")
    return _clean_columns(frame)


def _clean_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Column names as text, stripped of whitespace and BOMs, kept unique."""
    names: list[str] = []
    seen: set[str] = set()
    for column in frame.columns:
        name = str(column).replace("\ufeff", "").strip()
        base, n = name, 0
        while name in seen:
            n += 1
            name = f"{base}.{n}"
        seen.add(name)
        names.append(name)
    if names != list(frame.columns):
        frame = frame.set_axis(names, axis=1)
    return frame


def _open_binary(path: Path, compression: str | None) -> io.BufferedIOBase:
    """The file opened for reading, decompressed on the fly."""
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "bz2":
        return bz2.open(path, "rb")
    if compression == "xz":
        return lzma.open(path, "rb")
    return path.open("rb")


_DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError)


def _read_sample(path: Path, compression: str | None, *, where: str) -> bytes:
    try:
        with _open_binary(path, compression) as handle:
            return handle.read(_SAMPLE_BYTES)
    except _DECOMPRESSION_ERRORS as error:
        raise DataError(
            f"{where}: cannot be decompressed as {compression} ({error}); the file is "
            "corrupt or not compressed that way"
        ) from None


def _sniff_compression(path: Path) -> str | None:
    with path.open("rb") as handle:
        head = handle.read(6)
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return None


def _binary_kind(sample: bytes) -> str | None:
    """A description of a binary sample, or None when it looks like text."""
    for magic, kind in _MAGIC:
        if sample.startswith(magic):
            return kind
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    if b"\x00" in sample[:8192]:
        return "binary data"
    return None


def _detect_encoding(sample: bytes) -> str:
    """Guess the encoding of a text sample: BOM, then UTF-8, then charset_normalizer."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        if error.start >= len(sample) - 3 and error.reason == "unexpected end of data":
            return "utf-8"
    import charset_normalizer

    matches = list(charset_normalizer.from_bytes(sample))
    western = _decodes(sample, "cp1252")
    if not matches:
        return "cp1252" if western else "latin-1"
    best = matches[0]
    # On short samples the detector is unsure between many single-byte code
    # pages; Western European (cp1252) is by far the most common, so prefer it
    # when it is (nearly) as plausible as the best guess.
    for match in matches:
        if match.encoding in ("cp1252", "latin_1", "iso8859_15") and (
            match.chaos <= best.chaos + 0.01
        ):
            return "cp1252" if western else "latin-1"
    non_ascii = sum(byte >= 0x80 for byte in sample)
    if non_ascii < 64 and western:
        return "cp1252"
    return str(best.encoding)


def _decodes(sample: bytes, encoding: str) -> bool:
    try:
        sample.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _normalise_encoding(encoding: str, *, where: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise DataError(
            f"{where}: unknown encoding {encoding!r}; use a Python codec name such as "
            "'utf-8', 'cp1252' or 'latin-1'"
        ) from None


def _normalise_separator(separator: str) -> str:
    if separator.lower() in ("\\t", "tab"):
        return "\t"
    return separator


def _sniff_separator(text: str) -> str:
    """The separator of a delimited text sample: csv.Sniffer, checked by counting."""
    lines = text.splitlines()
    if len(lines) > 1:
        lines = lines[:-1]  # the last line of a sample may be cut short
    lines = [line for line in lines[:_SNIFF_LINES] if line.strip()]
    if not lines:
        return ","
    sample = "\n".join(lines)
    try:
        sniffed: str | None = (
            csv.Sniffer().sniff(sample, delimiters=_SEPARATOR_CANDIDATES).delimiter
        )
    except csv.Error:
        sniffed = None
    counts = {cand: _field_counts(lines, cand) for cand in _SEPARATOR_CANDIDATES}
    if sniffed in counts and counts[sniffed][0] > 1:
        return sniffed
    # Fall back to the candidate giving the most fields, consistently across lines.
    best, best_score = ",", (False, 1)
    for cand, (header_fields, consistent) in counts.items():
        score = (consistent, header_fields)
        if header_fields > 1 and score > best_score:
            best, best_score = cand, score
    return best


def _field_counts(lines: list[str], separator: str) -> tuple[int, bool]:
    """(fields in the header line, whether every line has that many)."""
    try:
        rows = list(csv.reader(lines, delimiter=separator))
    except csv.Error:
        return 0, False
    if not rows:
        return 0, False
    header = len(rows[0])
    return header, all(len(row) == header for row in rows if row)


def _read_delimited(
    path: Path,
    *,
    compression: str | None,
    separator: str | None,
    encoding: str | None,
    where: str,
) -> pd.DataFrame:
    import pandas as pd

    if compression is None:
        compression = _sniff_compression(path)
    sample = _read_sample(path, compression, where=where)
    if not sample.strip():
        raise DataError(f"{where}: is empty (no text in it)")
    kind = _binary_kind(sample)
    if kind is not None:
        raise DataError(
            f"{where}: cannot be read as delimited text: it looks like {kind}; check the "
            "file or set `format`"
        )
    if encoding is None:
        chosen = _detect_encoding(sample)
        guessed = True
    else:
        chosen = _normalise_encoding(encoding, where=where)
        if chosen == "utf-8" and sample.startswith(codecs.BOM_UTF8):
            chosen = "utf-8-sig"
        guessed = False
    if separator is None:
        separator = _sniff_separator(sample.decode(chosen, errors="replace"))
    else:
        separator = _normalise_separator(separator)
        if not separator:
            raise DataError(f"{where}: the separator is empty; give one character such as ','")

    size = path.stat().st_size
    use_pyarrow = (
        size > _PYARROW_MIN_BYTES and len(separator) == 1 and chosen in ("utf-8", "utf-8-sig")
    )
    encodings = [chosen]
    if guessed:
        encodings += [e for e in ("cp1252", "latin-1") if e != chosen]
    last_error: UnicodeDecodeError | None = None
    for attempt in encodings:
        if guessed and not attempt.startswith("utf-8"):
            # Reading a mostly-UTF-8 file as cp1252 would garble every
            # UTF-8 name ("ZoÃ« MÃ¼ller"); stop and say which lines differ.
            _refuse_mixed_encoding(path, compression, where=where)
        try:
            fast = None
            if use_pyarrow and attempt == chosen:
                fast = _read_csv_pyarrow(path, separator, compression)
            if fast is None:
                fast = _read_csv_pandas(path, separator, attempt, compression)
            frame: pd.DataFrame = fast
        except UnicodeDecodeError as error:
            last_error = error
        except pd.errors.EmptyDataError:
            raise DataError(f"{where}: is empty (no header and no rows)") from None
        except pd.errors.ParserError as error:
            name = _SEPARATOR_NAMES.get(separator, repr(separator))
            detail = str(error).removeprefix("Error tokenizing data. C error: ").strip()
            raise DataError(
                f"{where}: cannot be parsed as {name}-separated text: {detail}; check the "
                "separator (set `separator`) and that quoted values are closed"
            ) from None
        except _DECOMPRESSION_ERRORS as error:
            raise DataError(f"{where}: cannot be read ({error}); the file may be corrupt") from None
        return _check_header(frame, sample.decode(attempt, "replace"), separator, where)
    raise DataError(
        f"{where}: cannot be decoded as {chosen} ({last_error}); set `encoding` "
        "(e.g. 'utf-8', 'cp1252', 'latin-1')"
    )


def _refuse_mixed_encoding(path: Path, compression: str | None, *, where: str) -> None:
    """Raise when most lines with non-ASCII bytes are UTF-8 but some are not."""
    utf8, other = 0, []
    with _open_binary(path, compression) as handle:
        for number, line in enumerate(handle, start=1):
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
                utf8 += 1
            except UnicodeDecodeError:
                other.append(number)
    if other and utf8 >= len(other):
        shown = ", ".join(str(n) for n in other[:10])
        more = f" and {len(other) - 10} more" if len(other) > 10 else ""
        raise DataError(
            f"{where}: mixes encodings: {utf8} line(s) are UTF-8 but line(s) {shown}{more} "
            "are not; re-save those lines as UTF-8, or set `encoding` (e.g. 'cp1252') "
            "to read the whole file in one encoding"
        )


def _check_header(frame: pd.DataFrame, text: str, separator: str, where: str) -> pd.DataFrame:
    """Refuse a header that names a column twice (pandas would rename the
    second one 'Age.1' without a word)."""
    if len(separator) != 1:
        return frame
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=separator))
    except (csv.Error, StopIteration):
        return frame
    names = [name.replace("\ufeff", "").strip() for name in header]
    if "\n" not in text and "\r" not in text:
        names = names[:-1]  # the sample ends inside the header: its last name may be cut
    positions: dict[str, list[int]] = {}
    for index, name in enumerate(names, start=1):
        positions.setdefault(name, []).append(index)
    repeated = {name: where_ for name, where_ in positions.items() if len(where_) > 1}
    if repeated:
        described = "; ".join(
            f"{name!r} in columns {', '.join(map(str, at))}" for name, at in repeated.items()
        )
        raise DataError(
            f"{where}: the header names a column more than once ({described}); "
            "give each column a unique name"
        )
    return frame


def _read_csv_pandas(
    path: Path, separator: str, encoding: str, compression: str | None
) -> pd.DataFrame:
    import pandas as pd

    options: dict[str, Any] = {
        "sep": separator,
        "encoding": encoding,
        "compression": compression,
        "na_values": list(EXTRA_NA_VALUES),
        "keep_default_na": True,
        "encoding_errors": "strict",
    }
    if len(separator) == 1 or separator == r"\s+":
        return pd.read_csv(path, engine="c", low_memory=False, **options)
    return pd.read_csv(path, engine="python", **options)


def _read_csv_pyarrow(path: Path, separator: str, compression: str | None) -> pd.DataFrame | None:
    """Large files via pyarrow; dates it would parse are re-read as text.

    Returns None when the result cannot match the C engine's (then the caller
    falls back to it).
    """
    import pandas as pd
    import pyarrow as pa

    options: dict[str, Any] = {
        "sep": separator,
        "compression": compression,
        "na_values": list(EXTRA_NA_VALUES),
        "keep_default_na": True,
        "engine": "pyarrow",
    }
    try:
        frame = pd.read_csv(path, **options)
        temporal = [
            column
            for column in frame.columns
            if frame[column].dtype.kind in "mM" or _holds_temporal(frame[column])
        ]
        if temporal:
            frame = pd.read_csv(path, dtype=dict.fromkeys(temporal, "str"), **options)
    except (pa.ArrowException, ValueError):
        return None
    if any(_holds_bytes(frame[column]) for column in frame.columns):
        return None  # not valid UTF-8 after all
    return frame


def _holds_temporal(series: pd.Series) -> bool:
    import datetime as dt

    if series.dtype != object:
        return False
    first = series.dropna()[:1]
    return bool(len(first)) and isinstance(first.iloc[0], dt.date | dt.time)


def _holds_bytes(series: pd.Series) -> bool:
    if series.dtype != object:
        return False
    return bool(series.map(lambda value: isinstance(value, bytes)).any())


def _read_parquet(path: Path, *, where: str) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa

    try:
        return pd.read_parquet(path, engine="pyarrow")
    except (pa.ArrowException, OSError, ValueError, TypeError) as error:
        raise DataError(
            f"{where}: is not a readable Parquet file ({_first_line(error)}); check that it "
            "was written completely, or set `format` if it is something else"
        ) from None


def _read_excel(path: Path, *, sheet: str | int | None, where: str) -> pd.DataFrame:
    import zipfile

    import pandas as pd

    with path.open("rb") as handle:
        head = handle.read(8)
    engine: Literal["xlrd", "openpyxl"] = (
        "xlrd" if head.startswith(b"\xd0\xcf\x11\xe0") else "openpyxl"
    )
    sheet_name: str | int = 0 if sheet is None else sheet
    try:
        with warnings.catch_warnings():
            # openpyxl complains about styles and extensions it does not need.
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            frame = pd.read_excel(
                path,
                sheet_name=sheet_name,
                engine=engine,
                na_values=list(EXTRA_NA_VALUES),
                keep_default_na=True,
            )
    except ImportError:
        raise DataError(
            f"{where}: reading old .xls workbooks needs xlrd: pip install xlrd, or save the "
            "workbook as .xlsx"
        ) from None
    except (ValueError, IndexError, KeyError) as error:
        sheets = _sheet_names(path)
        if sheets and (
            (isinstance(sheet_name, str) and sheet_name not in sheets)
            or (isinstance(sheet_name, int) and not -len(sheets) <= sheet_name < len(sheets))
        ):
            raise DataError(
                f"{where}: has no sheet {sheet_name!r}; sheets: "
                f"{', '.join(repr(s) for s in sheets)}; set `sheet` to one of them"
            ) from None
        raise DataError(
            f"{where}: is not a readable Excel workbook ({_first_line(error)})"
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise DataError(
            f"{where}: is not a readable Excel workbook ({_first_line(error)}); check that it "
            "is a real .xlsx file, or set `format` if it is something else"
        ) from None
    except Exception as error:  # openpyxl raises many kinds on corrupt workbooks
        raise DataError(
            f"{where}: is not a readable Excel workbook ({type(error).__name__}: "
            f"{_first_line(error)})"
        ) from None
    return frame


def _sheet_names(path: Path) -> list[str]:
    try:
        import openpyxl

        workbook = openpyxl.load_workbook(path, read_only=True)
        try:
            return list(workbook.sheetnames)
        finally:
            workbook.close()
    except Exception:
        return []


def _read_json(
    path: Path, *, compression: str | None, encoding: str | None, where: str
) -> pd.DataFrame:
    import pandas as pd

    if compression is None:
        compression = _sniff_compression(path)
    try:
        with _open_binary(path, compression) as handle:
            raw = handle.read()
    except _DECOMPRESSION_ERRORS as error:
        raise DataError(f"{where}: cannot be read ({error}); the file may be corrupt") from None
    kind = _binary_kind(raw[:_SAMPLE_BYTES])
    if kind is not None:
        raise DataError(f"{where}: cannot be read as JSON: it looks like {kind}")
    chosen = (
        _normalise_encoding(encoding, where=where)
        if encoding is not None
        else _detect_encoding(raw[:_SAMPLE_BYTES])
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


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


# --------------------------------------------------------------------------- URLs


def _read_url(
    url: str,
    *,
    format: str | None,
    separator: str | None,
    encoding: str | None,
    sheet: str | int | None,
) -> pd.DataFrame:
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    fmt, compression = _format_from_name(name)
    if format is not None:
        fmt = _normalise_format(format, where=url)
        if fmt not in _TEXT_FORMATS:
            compression = None
    with tempfile.TemporaryDirectory(prefix="cairn-download-") as folder:
        target = Path(folder) / "download"
        content_type = _download(url, target)
        if fmt is None:
            fmt = _CONTENT_TYPES.get(content_type)
        if fmt is None:
            raise DataError(
                f"{url}: cannot tell the format from the URL or its Content-Type "
                f"({content_type or 'none'}); supported extensions: "
                f"{_supported_extensions()}. Set `format` to one of {', '.join(FORMATS)}"
            )
        if target.stat().st_size == 0:
            raise DataError(f"{url}: is empty (the server sent 0 bytes)")
        return _read_file(
            target,
            fmt,
            compression=compression,
            separator=separator,
            encoding=encoding,
            sheet=sheet,
            where=url,
        )


def _download(url: str, target: Path) -> str:
    """Save ``url`` to ``target``; returns the media type of the response."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "cairn"})
    try:
        with (
            urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT_S) as response,
            target.open("wb") as out,
        ):
            shutil.copyfileobj(response, out, length=1024 * 1024)
            return str(response.headers.get_content_type() or "").lower()
    except urllib.error.HTTPError as error:
        raise DataError(
            f"{url}: download failed with HTTP {error.code} {error.reason}; check the URL "
            "and that it is public"
        ) from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError):
            raise DataError(
                f"{url}: download timed out after {_DOWNLOAD_TIMEOUT_S:g} s; check the "
                "network or download the file and use 'path'"
            ) from None
        raise DataError(
            f"{url}: cannot be downloaded ({reason}); check the URL and the network"
        ) from None
    except TimeoutError:
        raise DataError(
            f"{url}: download timed out after {_DOWNLOAD_TIMEOUT_S:g} s; check the network "
            "or download the file and use 'path'"
        ) from None
    except (OSError, ValueError) as error:
        raise DataError(f"{url}: cannot be downloaded ({error})") from None


# --------------------------------------------------------------------------- SQL


def _read_sql(
    url: str,
    *,
    table: str | None,
    query: str | None,
    root: Path | None,
    where: str,
) -> pd.DataFrame:
    import pandas as pd
    import sqlalchemy as sa
    from sqlalchemy import exc

    try:
        parsed = sa.engine.make_url(url)
    except exc.ArgumentError:
        raise DataError(
            f"{where}: {url!r} is not a SQLAlchemy database URL; write e.g. "
            "'sqlite:///data.db' or 'postgresql+psycopg://user:password@host:5432/database'"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        parsed = _sqlite_url(parsed, root=root, where=where)
    engine = _create_engine(parsed, shown=shown, where=where)
    try:
        with engine.connect() as connection:
            if table is not None:
                schema, name = _find_table(connection, table, shown=shown, where=where)
                frame = pd.read_sql_table(name, connection, schema=schema)
                what = f"table {table!r}"
            else:
                assert query is not None
                frame = pd.read_sql_query(query, connection)
                what = "the query"
    except DataError:
        raise
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise DataError(
            f"{where}: cannot query {shown} ({_db_message(error)}); check that the server "
            "is running, the host, port, user, password and database name"
        ) from None
    except (exc.SQLAlchemyError, pd.errors.DatabaseError) as error:
        raise DataError(
            f"{where}: the SQL failed on {shown}: {_db_message(error)}; check the query"
        ) from None
    finally:
        engine.dispose()
    if len(frame) == 0:
        raise DataError(f"{where}: {what} on {shown} is empty (no rows)")
    return _clean_columns(frame)


def _sqlite_url(parsed: Any, *, root: Path | None, where: str) -> Any:
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return parsed
    path = Path(database).expanduser()
    if not path.is_absolute() and root is not None:
        path = root / path
    if not path.is_file():
        # sqlite would silently create an empty database; say what is wrong instead.
        try:
            _check_file(path)
        except DataError as error:
            raise DataError(f"{where}: SQLite database {error}") from None
    return parsed.set(database=str(path))


def _create_engine(parsed: Any, *, shown: str, where: str) -> Any:
    import sqlalchemy as sa
    from sqlalchemy import exc

    backend = parsed.get_backend_name()
    try:
        return sa.create_engine(parsed)
    except exc.NoSuchModuleError:
        raise DataError(
            f"{where}: {shown}: SQLAlchemy has no dialect {parsed.drivername!r}; cairn reads "
            "SQLite ('sqlite:///FILE') and PostgreSQL ('postgresql+psycopg://...')"
        ) from None
    except ImportError as error:
        if backend == "postgresql":
            hint = (
                "install the PostgreSQL driver: pip install 'cairn[postgres]' (psycopg) and "
                "write the URL as 'postgresql+psycopg://...'"
            )
        else:
            hint = f"install the driver for {backend}: pip install {error.name or backend}"
        raise DataError(
            f"{where}: the database driver for {shown} is not installed ({error}); {hint}"
        ) from None
    except (exc.ArgumentError, TypeError, ValueError) as error:
        raise DataError(f"{where}: invalid database URL {shown} ({error})") from None


def _find_table(connection: Any, table: str, *, shown: str, where: str) -> tuple[str | None, str]:
    import sqlalchemy as sa

    inspector = sa.inspect(connection)
    candidates: list[tuple[str | None, str]] = [(None, table)]
    if "." in table:
        prefix, _, rest = table.partition(".")
        candidates.append((prefix, rest))
    for schema, name in candidates:
        if inspector.has_table(name, schema=schema):
            return schema, name
        if name in inspector.get_view_names(schema=schema):
            return schema, name
    tables = sorted(inspector.get_table_names()) + sorted(inspector.get_view_names())
    close = difflib.get_close_matches(table, tables, n=3)
    hint = f"; did you mean {', '.join(repr(t) for t in close)}?" if close else ""
    listing = ", ".join(tables) if tables else "none"
    raise DataError(f"{where}: table {table!r} not found in {shown}; tables there: {listing}{hint}")


def _db_message(error: BaseException) -> str:
    original = getattr(error, "orig", None)
    return _first_line(original if original is not None else error)


# --------------------------------------------------------------------------- sources


def _label(source: SourceSpec) -> str:
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
        return _read_sql(
            source.sql,
            table=source.table,
            query=source.query,
            root=root,
            where=f"source {_label(source)!r}",
        )
    except DataError as error:
        if source.name and source.sql is None:
            raise DataError(f"source {source.name!r}: {error}") from None
        raise


def collect(spec: ProjectSpec) -> pd.DataFrame:
    """Read every source of a spec and combine them into one frame.

    With ``combine = "append"`` the tables are stacked: columns are aligned by
    name (a column missing from a source is filled with NaN), dtypes are
    reconciled (int and float give float; a number and text give text) and rows
    of a later source that exactly repeat a row of an earlier source are
    dropped. With ``combine = "join"`` the tables are merged one after another
    on ``data.join_on`` with ``data.join_how``; clashing non-key columns get the
    source's name as a suffix.

    Args:
        spec: The project spec.

    Returns:
        The combined frame. ``frame.attrs["cairn_collect"]`` records the
        sources (label, rows, columns), ``"combine"``, the rows removed as
        duplicates across sources (``"duplicates_removed"``) and, for a join,
        the renamed columns (``"renamed"``).

    Raises:
        DataError: A source cannot be read, a join key is missing from a source,
            or the join leaves no rows.
    """
    data = spec.data
    frames: list[tuple[str, pd.DataFrame]] = []
    for source in data.sources:
        frames.append((_label(source), read_source(source, root=spec.root)))
    info: dict[str, Any] = {
        "combine": data.combine,
        "sources": [
            {"label": label, "rows": len(frame), "columns": len(frame.columns)}
            for label, frame in frames
        ],
        "duplicates_removed": 0,
    }
    if data.combine == "join":
        result, renamed = _join(frames, data.sources, on=data.join_on, how=data.join_how)
        info["renamed"] = renamed
    else:
        result, removed = _append([frame for _, frame in frames])
        info["duplicates_removed"] = removed
    info["rows"] = len(result)
    result.attrs["cairn_collect"] = info
    return result


def _kind(dtype: Any) -> str:
    from pandas.api import types

    if types.is_bool_dtype(dtype):
        return "bool"
    if types.is_integer_dtype(dtype):
        return "int"
    if types.is_float_dtype(dtype):
        return "float"
    if types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "text"


def _common_dtype(dtypes: list[Any], *, some_missing: bool) -> Any:
    """The dtype a column takes when the frames holding it are stacked."""
    import numpy as np

    kinds = {_kind(dtype) for dtype in dtypes}
    first = dtypes[0]
    if all(dtype == first for dtype in dtypes):
        if some_missing and kinds & {"int", "bool"}:
            return np.dtype("float64") if kinds == {"int"} else np.dtype(object)
        return first
    if kinds <= {"int", "float", "bool"} and kinds != {"bool"}:
        if "float" in kinds or some_missing:
            return np.dtype("float64")
        return np.dtype("int64")
    if kinds == {"bool"}:
        return np.dtype(object) if some_missing else np.dtype(bool)
    if kinds == {"datetime"}:
        return None  # let pandas unify units and time zones
    return "str"


def _convert(series: pd.Series, dtype: Any) -> pd.Series:
    if dtype is None or series.dtype == dtype:
        return series
    if dtype == "str":
        if _kind(series.dtype) == "text" and series.dtype != object:
            return series.astype("str")
        # numbers, booleans and dates as their text; missing stays missing
        mask = series.isna()
        text = series.astype("str")
        return text.where(~mask) if mask.any() else text
    if _kind(series.dtype) == "bool" and str(dtype) == "float64":
        return series.astype("float64")
    return series.astype(dtype)


def _reconcile(frames: list[pd.DataFrame], columns: list[str] | None = None) -> list[pd.DataFrame]:
    """Frames with shared columns converted to one dtype per column."""
    import pandas as pd

    names: list[str] = []
    if columns is None:
        seen: set[str] = set()
        for frame in frames:
            for column in frame.columns:
                if column not in seen:
                    seen.add(column)
                    names.append(column)
    else:
        names = list(columns)
    targets: dict[str, Any] = {}
    for column in names:
        holding = [frame[column].dtype for frame in frames if column in frame.columns]
        some_missing = columns is None and len(holding) < len(frames)
        targets[column] = _common_dtype(holding, some_missing=some_missing)
    result = []
    for frame in frames:
        converted = {}
        for column in names:
            if column in frame.columns:
                converted[column] = _convert(frame[column], targets[column])
            elif columns is None:
                dtype = targets[column]
                converted[column] = pd.Series(
                    pd.NA if dtype == "str" else None,
                    index=frame.index,
                    dtype=dtype if dtype is not None else "datetime64[ns]",
                )
        if columns is None:
            result.append(pd.DataFrame(converted, index=frame.index))
        else:
            result.append(frame.assign(**converted))
    return result


def _append(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    import numpy as np
    import pandas as pd

    if len(frames) == 1:
        return frames[0], 0
    aligned = _reconcile(frames)
    combined = pd.concat(aligned, ignore_index=True)
    origin = np.repeat(np.arange(len(aligned)), [len(frame) for frame in aligned])
    try:
        hashes = pd.util.hash_pandas_object(combined, index=False).to_numpy()
    except TypeError:  # unhashable values, e.g. lists read from JSON
        hashes = pd.util.hash_pandas_object(combined.astype("str"), index=False).to_numpy()
    first_source = pd.Series(origin).groupby(hashes).transform("min").to_numpy()
    repeated = origin > first_source
    removed = int(repeated.sum())
    if removed:
        combined = combined.loc[~repeated].reset_index(drop=True)
    return combined, removed


def _source_tag(source: SourceSpec, position: int) -> str:
    if source.name:
        base = source.name
    elif source.path is not None:
        base = Path(source.path).name.split(".")[0]
    elif source.url is not None:
        base = Path(urllib.parse.urlparse(source.url).path).name.split(".")[0]
    else:
        base = source.table or ""
    tag = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in base).strip("_")
    return tag or f"source{position + 1}"


def _join(
    frames: list[tuple[str, pd.DataFrame]],
    sources: list[SourceSpec],
    *,
    on: list[str],
    how: Literal["inner", "left", "outer"],
) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    for label, frame in frames:
        for key in on:
            if key not in frame.columns:
                close = difflib.get_close_matches(key, [str(c) for c in frame.columns], n=3)
                hint = (
                    f"; did you mean {', '.join(repr(c) for c in close)}?"
                    if close
                    else f"; its columns: {', '.join(map(str, list(frame.columns)[:20]))}"
                )
                raise DataError(
                    f"source {label!r}: has no join key column {key!r} (data.join_on){hint}"
                )
    keyed = _reconcile([frame for _, frame in frames], columns=on)
    result = keyed[0]
    renamed: dict[str, dict[str, str]] = {}
    for position in range(1, len(keyed)):
        right = keyed[position]
        label = frames[position][0]
        tag = _source_tag(sources[position], position)
        taken = set(result.columns) | set(right.columns)
        mapping: dict[str, str] = {}
        for column in right.columns:
            if column in on or column not in result.columns:
                continue
            new, n = f"{column}_{tag}", 1
            while new in taken:
                n += 1
                new = f"{column}_{tag}{n}"
            taken.add(new)
            mapping[column] = new
        if mapping:
            right = right.rename(columns=mapping)
            renamed[label] = mapping
        result = result.merge(right, on=on, how=how)
        if len(result) == 0:
            raise DataError(
                f"source {label!r}: joining on {', '.join(on)} ({how}) left no rows; check "
                "that the key values match across sources"
            )
    return result, renamed
