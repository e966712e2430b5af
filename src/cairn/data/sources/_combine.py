"""Combining sources: appended (dropping rows repeated across sources) or joined on keys."""

from __future__ import annotations

import difflib
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cairn.data.sources._formats import READ_HINTS_ATTR
from cairn.data.sources._read import merge_read_hints, read_source, source_label
from cairn.exceptions import DataError

if TYPE_CHECKING:
    import pandas as pd

    from cairn.spec import ProjectSpec, SourceSpec


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
        frames.append((source_label(source), read_source(source, root=spec.root)))
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
    result.attrs[READ_HINTS_ATTR] = merge_read_hints([frame for _, frame in frames])
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
