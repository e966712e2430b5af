"""Sniffing a text file: compression, binary content, encoding and separator."""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import lzma
import re
import zlib
from pathlib import Path

from cairn.exceptions import DataError

SAMPLE_BYTES = 256 * 1024
_SNIFF_LINES = 50
_SEPARATOR_CANDIDATES = ",;\t|"

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PAR1", "a Parquet file (set format = 'parquet')"),
    (b"PK\x03\x04", "a ZIP archive or an Excel .xlsx workbook (set format = 'excel')"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook (set format = 'excel')"),
    (b"SQLite format 3\x00", "a SQLite database (use a 'sql' source: sql = 'sqlite:///FILE')"),
    (b"%PDF", "a PDF document"),
)


def open_binary(path: Path, compression: str | None) -> io.BufferedIOBase:
    """The file opened for reading, decompressed on the fly."""
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "bz2":
        return bz2.open(path, "rb")
    if compression == "xz":
        return lzma.open(path, "rb")
    return path.open("rb")


DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError)


def read_sample(path: Path, compression: str | None, *, where: str) -> bytes:
    try:
        with open_binary(path, compression) as handle:
            return handle.read(SAMPLE_BYTES)
    except DECOMPRESSION_ERRORS as error:
        raise DataError(
            f"{where}: cannot be decompressed as {compression} ({error}); the file is "
            "corrupt or not compressed that way"
        ) from None


def sniff_compression(path: Path) -> str | None:
    with path.open("rb") as handle:
        head = handle.read(6)
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return None


def binary_kind(sample: bytes) -> str | None:
    """A description of a binary sample, or None when it looks like text."""
    for magic, kind in _MAGIC:
        if sample.startswith(magic):
            return kind
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    if b"\x00" in sample[:8192]:
        return "binary data"
    return None


def detect_encoding(sample: bytes) -> str:
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


def normalise_encoding(encoding: str, *, where: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise DataError(
            f"{where}: unknown encoding {encoding!r}; use a Python codec name such as "
            "'utf-8', 'cp1252' or 'latin-1'"
        ) from None


def normalise_separator(separator: str) -> str:
    if separator.lower() in ("\\t", "tab"):
        return "\t"
    return separator


def sniff_separator(text: str) -> str:
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


# "1.234,56", "3,5", "-0,25": numbers written with a decimal comma ...
_COMMA_DECIMAL = re.compile(r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+),\d+$")
# ... and "3.14", "0.5": a decimal point (not "1.234", which may be thousands).
_POINT_DECIMAL = re.compile(r"^[+-]?\d+\.(?:\d{1,2}|\d{4,})$")


def sniff_decimal(text: str, separator: str) -> str | None:
    """ "," when a ';'-separated sample writes its numbers with a decimal comma
    (European exports: "1.234,56;3,5") and never with a decimal point; else None."""
    if separator != ";":
        return None
    lines = text.splitlines()
    if len(lines) > 1:
        lines = lines[:-1]  # the last line of a sample may be cut short
    try:
        rows = list(csv.reader(lines[1 : _SNIFF_LINES * 4], delimiter=separator))
    except csv.Error:
        return None
    comma = point = 0
    for row in rows:
        for field in row:
            value = field.strip()
            if _COMMA_DECIMAL.match(value):
                comma += 1
            elif _POINT_DECIMAL.match(value):
                point += 1
    return "," if comma and not point else None


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
