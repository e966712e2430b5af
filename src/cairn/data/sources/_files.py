"""Reading one local file: checks, format dispatch and the binary formats (Parquet, Excel)."""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cairn.data.sources._delimited import read_delimited
from cairn.data.sources._formats import first_line
from cairn.data.sources._json import read_json
from cairn.exceptions import DataError

if TYPE_CHECKING:
    import pandas as pd


def check_file(path: Path) -> None:
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


def read_file(
    path: Path,
    fmt: str,
    *,
    compression: str | None,
    separator: str | None,
    encoding: str | None,
    sheet: str | int | None,
    where: str,
    decimal: str | None = None,
    missing: list[str] | None = None,
) -> pd.DataFrame:
    if fmt in ("csv", "tsv"):
        if fmt == "tsv" and separator is None:
            separator = "\t"
        frame = read_delimited(
            path,
            compression=compression,
            separator=separator,
            encoding=encoding,
            where=where,
            decimal=decimal,
            missing=missing,
        )
    elif fmt == "parquet":
        frame = _read_parquet(path, where=where)
    elif fmt == "excel":
        frame = _read_excel(path, sheet=sheet, where=where, missing=missing)
    else:
        frame = read_json(path, compression=compression, encoding=encoding, where=where)
    if len(frame) == 0:
        columns = f"{len(frame.columns)} column(s)" if len(frame.columns) else "no columns"
        raise DataError(f"{where}: is empty (it has {columns} but no rows)")
    attrs = dict(frame.attrs)
    frame = clean_columns(frame)
    frame.attrs = attrs
    return frame


def clean_columns(frame: pd.DataFrame) -> pd.DataFrame:
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


def _read_parquet(path: Path, *, where: str) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa

    try:
        return pd.read_parquet(path, engine="pyarrow")
    except (pa.ArrowException, OSError, ValueError, TypeError) as error:
        raise DataError(
            f"{where}: is not a readable Parquet file ({first_line(error)}); check that it "
            "was written completely, or set `format` if it is something else"
        ) from None


def _read_excel(
    path: Path, *, sheet: str | int | None, where: str, missing: list[str] | None
) -> pd.DataFrame:
    import zipfile

    import pandas as pd

    from cairn.data.values import reader_na_values

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
                na_values=reader_na_values(missing),
                keep_default_na=False,
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
            f"{where}: is not a readable Excel workbook ({first_line(error)})"
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise DataError(
            f"{where}: is not a readable Excel workbook ({first_line(error)}); check that it "
            "is a real .xlsx file, or set `format` if it is something else"
        ) from None
    except Exception as error:  # openpyxl raises many kinds on corrupt workbooks
        raise DataError(
            f"{where}: is not a readable Excel workbook ({type(error).__name__}: "
            f"{first_line(error)})"
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
