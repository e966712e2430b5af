"""Column values as the encoders read them: category strings, floats, text,
and the scikit-learn input checks shared by the custom transformers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import validate_data

from cairn.data.schema import category_string
from cairn.data.values import map_distinct

#: Value that stands for a missing category after string casting.
MISSING_CATEGORY = "__missing__"


def _is_missing(value: Any) -> bool:
    """True for None, NaN, NaT and pd.NA; False for everything else."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    if isinstance(value, np.datetime64 | np.timedelta64):
        return bool(np.isnat(value))
    return False


def _category_string(value: Any) -> str:
    """Canonical string for one category value: the schema's convention
    (:func:`cairn.data.schema.category_string`), with missing values as
    :data:`MISSING_CATEGORY`."""
    if _is_missing(value):
        return MISSING_CATEGORY
    return str(category_string(value))


# Up to this many rows, values are cast cell by cell rather than by column.
_CELLWISE_ROWS = 16
_CATEGORY_STRINGS = np.frompyfunc(_category_string, 1, 1)


def _as_frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, pd.Series):
        return X.to_frame()
    array = np.asarray(X, dtype=object)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    return pd.DataFrame(array)


def to_category_strings(X: Any) -> np.ndarray:
    """Cast a 2-D table to an object array of strings, missing → ``"__missing__"``.

    Works for object, pandas ``str``, numeric, boolean and nullable columns,
    so mixed types never reach the encoders.
    """
    frame = _as_frame(X)
    if len(frame) <= _CELLWISE_ROWS:
        # A request's few rows: one pass over the cells costs less than a
        # column-by-column pass (which a wide table makes thousands of).
        return np.asarray(_CATEGORY_STRINGS(frame.to_numpy(dtype=object)), dtype=object)
    out = np.empty(frame.shape, dtype=object)
    for j in range(frame.shape[1]):
        out[:, j] = map_distinct(frame.iloc[:, j], _category_string, MISSING_CATEGORY)
    return out


def to_float_frame(X: Any) -> pd.DataFrame:
    """Coerce every column to float64, anything unparseable → NaN.

    Handles numbers stored as text, booleans, nullable dtypes and pd.NA.
    """
    frame = _as_frame(X)
    columns: dict[Any, np.ndarray] = {}
    for name in frame.columns:
        column = frame[name]
        if column.dtype == bool:
            numeric: pd.Series = column.astype("float64")
        else:
            numeric = pd.to_numeric(column, errors="coerce")
        columns[name] = numeric.to_numpy(dtype="float64", na_value=np.nan)
    return pd.DataFrame(columns, index=frame.index, columns=frame.columns)


def _checked_frame(estimator: BaseEstimator, X: Any, *, reset: bool) -> pd.DataFrame:
    """Validate X as scikit-learn does (feature count and names) and return it as a frame.

    DataFrames keep their column dtypes (strings, datetimes, nullable types);
    other inputs go through ``check_array`` with no dtype conversion.
    """
    if isinstance(X, pd.DataFrame):
        validate_data(estimator, X, skip_check_array=True, reset=reset)
        for axis, what in ((0, "sample"), (1, "feature")):
            if X.shape[axis] == 0:
                raise ValueError(
                    f"Found array with 0 {what}(s) (shape={X.shape}) while a minimum of 1 "
                    f"is required by {type(estimator).__name__}."
                )
        return X.reset_index(drop=True)
    array = validate_data(estimator, X, dtype=None, ensure_all_finite=False, reset=reset)
    return pd.DataFrame(array)


def _same_names(transformer: Any, input_features: Any) -> np.ndarray:
    """``feature_names_out`` for one-to-one FunctionTransformers."""
    return np.asarray(input_features, dtype=object)


def _text_values(X: Any) -> list[str]:
    """One text column (Series, 1-D array or one-column table) as strings, missing → ''."""
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(f"a text vectorizer takes one column, got {X.shape[1]}")
        X = X.iloc[:, 0]
    values = X.to_numpy(dtype=object) if isinstance(X, pd.Series) else np.asarray(X, dtype=object)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    return ["" if _is_missing(v) else str(v) for v in values.ravel()]
