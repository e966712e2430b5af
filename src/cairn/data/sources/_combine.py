"""Combining sources: appended (dropping rows repeated across sources) or joined on keys;
what was done is recorded in :mod:`cairn.data.sources._combination`."""

from __future__ import annotations

import difflib
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cairn.data.large import LARGE_ATTR, is_large, read_large
from cairn.data.sources._append_checks import Twins, append_findings
from cairn.data.sources._combination import (
    ATTRS_KEY,
    Combination,
    JoinRecord,
    SourceRecord,
    apply_source_options,
)
from cairn.data.sources._formats import READ_HINTS_ATTR
from cairn.data.sources._join_checks import (
    agreement,
    duplicate_column_finding,
    join_findings,
    join_step,
)
from cairn.data.sources._read import merge_read_hints, read_source, source_label
from cairn.exceptions import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from cairn.data.findings import Finding
    from cairn.spec import ProjectSpec, SourceSpec


def collect(spec: ProjectSpec) -> pd.DataFrame:
    """Read every source of a spec and combine them into one frame.

    Each source's ``rename`` and ``values`` options are applied right after
    it is read. With ``combine = "append"`` the tables are stacked: columns
    are aligned by name (a column missing from a source is filled with NaN),
    dtypes are reconciled (int and float give float; a number and text give
    text) and a row of a later source equal to a row of an earlier source on
    the columns both sources have (when they are at least half of the
    wider source's columns) is the same row: one copy is kept, the one
    filling more columns (the earlier one on a tie). With ``combine = "join"``
    the tables are merged one after another on ``data.join_on`` with
    ``data.join_how``; clashing non-key columns get the source's name as a
    suffix, and such a copy equal to the original wherever both have a value
    is dropped.

    Args:
        spec: The project spec.

    Returns:
        The combined frame. ``frame.attrs["cairn_collect"]`` holds the
        :class:`~cairn.data.sources.Combination` record as a dict (see
        :func:`~cairn.data.sources.take_combination`): the sources (label, rows,
        columns), ``"combine"``, the rows removed as duplicates across
        sources (``"duplicates_removed"``), for a join the renamed columns
        (``"renamed"``) and each step (``"joins"``), and the findings.

    Raises:
        DataError: A source cannot be read, a ``rename`` or ``values`` option
            names a column the source lacks, a join key is missing from a
            source, or the join leaves no rows.
    """
    data = spec.data
    frames: list[tuple[str, pd.DataFrame]] = []
    large: list[dict[str, Any]] = []
    for source in data.sources:
        label = source_label(source)
        frame = apply_source_options(_read(source, spec), source, label)
        if LARGE_ATTR in frame.attrs:
            large.append({"source": label, **frame.attrs.pop(LARGE_ATTR)})
        frames.append((label, frame))
    combination = Combination(
        combine=data.combine,
        sources=[
            SourceRecord(label, len(frame), [str(c) for c in frame.columns])
            for label, frame in frames
        ],
    )
    if data.combine == "join":
        result, renamed, joins, duplicates = _join(
            frames, data.sources, on=data.join_on, how=data.join_how
        )
        combination.renamed, combination.joins = renamed, joins
        if len(frames) > 1:
            combination.findings = join_findings(frames, joins, len(result)) + duplicates
    else:
        result, origin, twins = _append([frame for _, frame in frames])
        combination.duplicates_removed = sum(
            pair.later_dropped + pair.earlier_dropped for pair in twins
        )
        combination.findings, combination.suggestions = append_findings(
            frames, result, origin, twins, data.id_columns
        )
    combination.rows = len(result)
    result.attrs[ATTRS_KEY] = combination.to_dict()
    result.attrs[READ_HINTS_ATTR] = merge_read_hints([frame for _, frame in frames])
    if large:
        result.attrs[LARGE_ATTR] = large
    return result


def _read(source: SourceSpec, spec: ProjectSpec) -> pd.DataFrame:
    """One source: a file larger than memory as its training sample (see
    :mod:`cairn.data.large`), anything else whole."""
    if source.path is not None:
        path = source.path.expanduser()
        path = path if path.is_absolute() else spec.root / path
        if is_large(path, spec.data.large):
            return read_large(
                path,
                target=spec.problem.target,
                task=spec.problem.task,
                time_budget=spec.train.time_budget,
                seed=spec.train.seed,
                roles=dict(spec.data.roles),
            )
    return read_source(source, root=spec.root)


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


#: Rows of two sources are compared only when the columns both have are at
#: least this share of the wider source's columns: equal on an id and one
#: more column, two rows of otherwise different tables are not the same row.
TWIN_SHARED_SHARE = 0.5


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    import pandas as pd

    try:
        return pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:  # unhashable values, e.g. lists read from JSON
        return pd.util.hash_pandas_object(frame.astype("str"), index=False).to_numpy()


def _append(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, np.ndarray, list[Twins]]:
    """The stacked frame, the source position of each of its rows, and the
    rows found repeated across sources (one pair of sources each)."""
    import numpy as np
    import pandas as pd

    if len(frames) == 1:
        return frames[0], np.zeros(len(frames[0]), dtype=int), []
    aligned = _reconcile(frames)
    combined = pd.concat(aligned, ignore_index=True)
    origin = np.repeat(np.arange(len(aligned)), [len(frame) for frame in aligned])
    # a row filling more columns holds more information: that copy is kept
    fullness = combined.notna().sum(axis=1).to_numpy()
    keep = np.ones(len(combined), dtype=bool)
    twins: list[Twins] = []
    for later in range(1, len(frames)):
        for earlier in range(later):
            columns = set(frames[later].columns)
            shared = [c for c in frames[earlier].columns if c in columns]
            wider = max(len(frames[earlier].columns), len(columns))
            if not shared or len(shared) < TWIN_SHARED_SHARE * wider:
                continue
            # each source's rows are hashed where they are, without copying them out
            kept_e, kept_l = keep[origin == earlier], keep[origin == later]
            rows_e = np.flatnonzero(origin == earlier)[kept_e]
            rows_l = np.flatnonzero(origin == later)[kept_l]
            hashes_e = _row_hashes(aligned[earlier][shared])[kept_e]
            hashes_l = _row_hashes(aligned[later][shared])[kept_l]
            matched = np.isin(hashes_l, hashes_e)
            if not matched.any():
                continue
            best_e = pd.Series(fullness[rows_e]).groupby(hashes_e).max()
            later_fuller = fullness[rows_l][matched] > best_e.reindex(hashes_l[matched]).to_numpy()
            drop_e = rows_e[np.isin(hashes_e, hashes_l[matched][later_fuller])]
            drop_l = rows_l[matched][~later_fuller]
            keep[drop_e] = False
            keep[drop_l] = False
            twins.append(Twins(earlier, later, len(shared), len(drop_l), len(drop_e)))
    if not keep.all():
        combined = combined.loc[keep].reset_index(drop=True)
    return combined, origin[keep], twins


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
) -> tuple[pd.DataFrame, dict[str, dict[str, str]], list[JoinRecord], list[Finding]]:
    """The joined frame, the clashing columns renamed per source, one record
    per join step, and the notes on columns a join brought twice."""
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
    joins: list[JoinRecord] = []
    duplicates: list[Finding] = []
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
        step = join_step(result, right, source=label, on=on, how=how)
        result = result.merge(right, on=on, how=how)
        step.rows = len(result)
        joins.append(step)
        if len(result) == 0:
            raise DataError(
                f"source {label!r}: joining on {', '.join(on)} ({how}) left no rows; check "
                "that the key values match across sources"
            )
        result, notes = _drop_copies(result, mapping, label)
        duplicates += notes
    return result, renamed, joins, duplicates


def _drop_copies(
    frame: pd.DataFrame, mapping: dict[str, str], label: str
) -> tuple[pd.DataFrame, list[Finding]]:
    """Columns a join brought twice: a copy equal to the original wherever
    both have a value fills the original's gaps and is dropped; the others
    are reported."""
    notes: list[Finding] = []
    dropped = []
    for column, copy in mapping.items():
        both, equal = agreement(frame[column], frame[copy])
        note = duplicate_column_finding(column, copy, label, both, equal)
        if note is None:
            continue
        notes.append(note)
        if note.applied:
            frame[column] = frame[column].fillna(frame[copy])
            dropped.append(copy)
    return (frame.drop(columns=dropped) if dropped else frame), notes
