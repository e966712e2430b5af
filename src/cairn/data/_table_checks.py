"""Refusals before any check can run: a table without rows or columns or
with unusable column names, a missing target, and a target with nothing to
learn from."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cairn.data.schema import missing_column_message
from cairn.data.values import as_strings, is_numeric_dtype
from cairn.exceptions import DataError
from cairn.tasks import Task, get_task, task_names


def check_shape(frame: pd.DataFrame, source: str) -> None:
    """Refuse a table without rows or columns, with a column name that is not
    text, or naming a column twice."""
    if len(frame) == 0:
        raise DataError(f"{source} has no rows; check the file, its separator and its header")
    if len(frame.columns) == 0:
        raise DataError(f"{source} has no columns; check the file, its separator and its header")
    for position, name in enumerate(frame.columns, start=1):
        if not isinstance(name, str):
            # Every later stage (the schema, bundles, the JSON API) names columns by text.
            raise DataError(
                f"{source}: column {position} is named {name!r}, a {type(name).__name__}; "
                "column names must be text: rename them, e.g. "
                "frame.columns = frame.columns.astype(str), and name the target as text"
            )
    repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if repeated:
        raise DataError(
            f"{source}: column name(s) repeated: {', '.join(repr(c) for c in repeated)}; "
            "give each column a unique name"
        )


def check_table(frame: pd.DataFrame, *, target: str, task: str | None, source: str) -> None:
    """Refuse a table that cannot be checked at all: no rows or columns, a
    repeated column name, no target column or an unknown task."""
    check_shape(frame, source)
    if target not in frame.columns:
        raise DataError(
            missing_column_message("target column", target, list(frame.columns), source)
        )
    if task is not None and task not in task_names():
        raise DataError(
            f"task {task!r} is not supported for training; use one of {', '.join(task_names())}"
        )
    if task is not None and not get_task(task).needs_target:
        raise DataError(
            f"task {task!r} learns without a target, so {target!r} cannot be one; "
            "check such a table with clean_unlabelled"
        )


# A regression target beyond this has squares past float64's 1.8e308.
_LARGEST_TARGET = 1e150


def check_target(y: pd.Series, *, target: str, task: Task, source: str) -> None:
    """Refuse a target there is nothing to learn from for ``task``."""
    if not task.has_classes:
        if not is_numeric_dtype(y):
            example = y[pd.to_numeric(y, errors="coerce").isna()].iloc[0]
            raise DataError(
                f"target {target!r} in {source} is not numeric (e.g. {example!r}) but the "
                f"task is {task.name}; set task = 'classification' or fix the values"
            )
        if y.nunique() == 1:
            raise DataError(
                f"target {target!r} in {source} is constant (every row is {y.iloc[0]!r}): "
                "there is nothing to learn; check the target column"
            )
        largest = float(np.nanmax(np.abs(y.to_numpy(dtype=float))))
        if largest > _LARGEST_TARGET:
            raise DataError(
                f"target {target!r} in {source} reaches {largest:.3g}: values this large "
                "overflow the squared errors every regression metric uses; rescale the "
                f"column (divide it by 1e{int(np.log10(largest)) - 6}, or take its logarithm)"
            )
    else:
        labels = as_strings(y)
        if labels.nunique() == 1:
            raise DataError(
                f"target {target!r} in {source} has a single class ({labels.iloc[0]!r}) in "
                f"all {len(labels)} rows; classification needs at least two classes. "
                "Check the target column or the filter that produced the data"
            )
