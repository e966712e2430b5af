"""Reading delimited text (CSV, TSV, any separator) with pandas or pyarrow."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.data.sources._detect import (
    DECOMPRESSION_ERRORS,
    binary_kind,
    detect_encoding,
    normalise_encoding,
    normalise_separator,
    open_binary,
    read_sample,
    sniff_compression,
    sniff_decimal,
    sniff_separator,
)
from cairn.data.sources._formats import READ_HINTS_ATTR
from cairn.exceptions import DataError

if TYPE_CHECKING:
    import pandas as pd


# Files larger than this (in bytes) are parsed by pyarrow when the dialect allows.
_PYARROW_MIN_BYTES = 50 * 1024 * 1024
_SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def read_delimited(
    path: Path,
    *,
    compression: str | None,
    separator: str | None,
    encoding: str | None,
    where: str,
    decimal: str | None = None,
    missing: list[str] | None = None,
) -> pd.DataFrame:
    """A delimited text file as a frame.

    ``decimal`` is the decimal separator (sniffed when None: a decimal comma
    is recognised in ';'-separated files); ``missing`` the strings read as
    missing (None: cairn's sentinels, see
    :func:`cairn.data.values.reader_na_values`). A sniffed decimal comma is
    left in ``frame.attrs[READ_HINTS_ATTR]`` for the type repair, which reads
    the values pandas left as text ("1.234,56").
    """
    import pandas as pd

    from cairn.data.values import reader_na_values

    if compression is None:
        compression = sniff_compression(path)
    sample = read_sample(path, compression, where=where)
    if not sample.strip():
        raise DataError(f"{where}: is empty (no text in it)")
    kind = binary_kind(sample)
    if kind is not None:
        raise DataError(
            f"{where}: cannot be read as delimited text: it looks like {kind}; check the "
            "file or set `format`"
        )
    if encoding is None:
        chosen = detect_encoding(sample)
        guessed = True
    else:
        chosen = normalise_encoding(encoding, where=where)
        if chosen == "utf-8" and sample.startswith(codecs.BOM_UTF8):
            chosen = "utf-8-sig"
        guessed = False
    if separator is None:
        separator = sniff_separator(sample.decode(chosen, errors="replace"))
    else:
        separator = normalise_separator(separator)
        if not separator:
            raise DataError(f"{where}: the separator is empty; give one character such as ','")

    sniffed_decimal = False
    if decimal is None:
        decimal = sniff_decimal(sample.decode(chosen, errors="replace"), separator)
        sniffed_decimal = decimal is not None
    na_values = reader_na_values(missing)
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
                fast = _read_csv_pyarrow(path, separator, compression, decimal, na_values)
            if fast is None:
                fast = _read_csv_pandas(path, separator, attempt, compression, decimal, na_values)
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
        except DECOMPRESSION_ERRORS as error:
            raise DataError(f"{where}: cannot be read ({error}); the file may be corrupt") from None
        frame = _check_header(frame, sample.decode(attempt, "replace"), separator, where)
        if sniffed_decimal:
            frame.attrs[READ_HINTS_ATTR] = {"decimal": decimal, "sniffed_decimal": True}
        return frame
    raise DataError(
        f"{where}: cannot be decoded as {chosen} ({last_error}); set `encoding` "
        "(e.g. 'utf-8', 'cp1252', 'latin-1')"
    )


def _refuse_mixed_encoding(path: Path, compression: str | None, *, where: str) -> None:
    """Raise when most lines with non-ASCII bytes are UTF-8 but some are not."""
    utf8, other = 0, []
    with open_binary(path, compression) as handle:
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
    path: Path,
    separator: str,
    encoding: str,
    compression: str | None,
    decimal: str | None,
    na_values: list[str],
) -> pd.DataFrame:
    import pandas as pd

    # No `thousands`: pandas would read "1.5" as 15 with thousands = "."; the
    # type repair reads thousands separators strictly (groups of three).
    options: dict[str, Any] = {
        "sep": separator,
        "encoding": encoding,
        "compression": compression,
        "na_values": na_values,
        "keep_default_na": False,
        "encoding_errors": "strict",
        "decimal": decimal or ".",
    }
    if len(separator) == 1 or separator == r"\s+":
        return pd.read_csv(path, engine="c", low_memory=False, **options)
    return pd.read_csv(path, engine="python", **options)


def _read_csv_pyarrow(
    path: Path, separator: str, compression: str | None, decimal: str | None, na_values: list[str]
) -> pd.DataFrame | None:
    """Large files via pyarrow; dates it would parse are re-read as text.

    Returns None when the result cannot match the C engine's (then the caller
    falls back to it).
    """
    import pandas as pd
    import pyarrow as pa

    options: dict[str, Any] = {
        "sep": separator,
        "compression": compression,
        "na_values": na_values,
        "keep_default_na": False,
        "decimal": decimal or ".",
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
