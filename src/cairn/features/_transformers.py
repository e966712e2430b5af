"""The custom transformers of the preprocessing: booleans, category
frequencies and codes, range clipping, calendar parts and text.

Every one is a top-level class so that a fitted pipeline pickles and loads in
another process.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)

from cairn.features._values import (
    MISSING_CATEGORY,
    _category_string,
    _checked_frame,
    _text_values,
    to_category_strings,
)

_TRUE_STRINGS = frozenset({"true", "t", "yes", "y", "1", "1.0", "on"})
_FALSE_STRINGS = frozenset({"false", "f", "no", "n", "0", "0.0", "off"})


class BooleanEncoder(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Map two-valued columns to 0.0 / 1.0, anything else to NaN.

    Values are compared as strings (see :func:`to_category_strings`). Columns
    whose values all look boolean (``True/False``, ``yes/no``, ``1/0``,
    ``t/f``, ``y/n``, ``on/off``, any case) keep that meaning. Other columns
    use their two categories sorted as strings: the first is 0, the second 1
    (so ``female/male`` gives ``male = 1``). Unseen or extra values become
    NaN, to be imputed downstream.

    Parameters:
        categories: per input column, the known values (e.g. from
            ``ColumnSchema.categories``) or None to learn them in ``fit``.
    """

    def __init__(self, categories: Sequence[Sequence[str] | None] | None = None) -> None:
        self.categories = categories

    def fit(self, X: Any, y: Any = None) -> BooleanEncoder:
        strings = to_category_strings(_checked_frame(self, X, reset=True))
        n_columns = strings.shape[1]
        if self.categories is not None and len(self.categories) != n_columns:
            raise ValueError(
                f"categories has {len(self.categories)} entries for {n_columns} columns"
            )
        mappings: list[dict[str, float]] = []
        for j in range(n_columns):
            known = self.categories[j] if self.categories is not None else None
            if known is None:
                known = [v for v in strings[:, j] if v != MISSING_CATEGORY]
            mappings.append(_boolean_mapping(known))
        self.mappings_ = mappings
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        strings = to_category_strings(_checked_frame(self, X, reset=False))
        out = np.full(strings.shape, np.nan, dtype="float64")
        for j, mapping in enumerate(self.mappings_):
            for i, value in enumerate(strings[:, j]):
                out[i, j] = _boolean_value(value, mapping)
        return out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags


def _boolean_mapping(known: Iterable[str]) -> dict[str, float]:
    """Value → 0/1 for one column.

    Boolean words (yes/no, true/false, 1/0 ...) keep their meaning and other
    values are left out (NaN). Without any such word, the values sorted as
    strings give first → 0, second → 1; a third or later value is left out.
    """
    values = sorted({_category_string(v) for v in known} - {MISSING_CATEGORY})
    words = {v: v.strip().lower() for v in values}
    if any(low in _TRUE_STRINGS or low in _FALSE_STRINGS for low in words.values()):
        return {
            v: 1.0 if low in _TRUE_STRINGS else 0.0
            for v, low in words.items()
            if low in _TRUE_STRINGS or low in _FALSE_STRINGS
        }
    return {v: float(i) for i, v in enumerate(values[:2])}


def _boolean_value(value: str, mapping: dict[str, float]) -> float:
    if value == MISSING_CATEGORY:
        return np.nan
    found = mapping.get(value)
    if found is not None:
        return found
    low = value.strip().lower()
    if low in _TRUE_STRINGS:
        return 1.0
    if low in _FALSE_STRINGS:
        return 0.0
    return np.nan


class FrequencyEncoder(TransformerMixin, BaseEstimator):
    """Replace each category by its share of the training rows.

    Values are compared as strings (missing is its own category). Categories
    unseen in training get 0.0. Output names are ``<column>_freq``.
    """

    def fit(self, X: Any, y: Any = None) -> FrequencyEncoder:
        strings = to_category_strings(_checked_frame(self, X, reset=True))
        n_rows = max(strings.shape[0], 1)
        frequencies: list[dict[str, float]] = []
        for j in range(strings.shape[1]):
            counts = pd.Series(strings[:, j]).value_counts(sort=False)
            frequencies.append({str(k): float(c) / n_rows for k, c in counts.items()})
        self.frequencies_ = frequencies
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        strings = to_category_strings(_checked_frame(self, X, reset=False))
        out = np.zeros(strings.shape, dtype="float64")
        for j, table in enumerate(self.frequencies_):
            out[:, j] = [table.get(v, 0.0) for v in strings[:, j]]
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        names = _check_feature_names_in(self, input_features)
        return np.asarray([f"{name}_freq" for name in names], dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags


class RangeClipper(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Clip each numeric column to the range seen in training.

    For models that extrapolate linearly (linear, k-NN distances): one row
    far outside the training range otherwise gets a wild prediction, which
    dominates squared-error metrics and surprises users. Trees already
    treat out-of-range values like the nearest training value.
    """

    def fit(self, X: Any, y: Any = None) -> RangeClipper:
        values = validate_data(self, X, dtype="float64", ensure_all_finite="allow-nan")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns
            self.lower_ = np.nanmin(values, axis=0)
            self.upper_ = np.nanmax(values, axis=0)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        values = validate_data(self, X, dtype="float64", ensure_all_finite="allow-nan", reset=False)
        lower = np.where(np.isnan(self.lower_), -np.inf, self.lower_)
        upper = np.where(np.isnan(self.upper_), np.inf, self.upper_)
        return np.asarray(np.clip(values, lower, upper))  # NaN stays NaN

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class CategoryCodes(TransformerMixin, BaseEstimator):
    """Run the column encoder, then hand its output on as a frame whose
    ordinal category columns are integers, for learners that handle
    categories natively (CatBoost's target statistics need integer or
    string category values).

    Args:
        encoder: the (unfitted) column transformer of :func:`build_preprocessor`.
        columns: its output names (``cat_ordinal__<column>``) holding category codes.
    """

    def __init__(self, encoder: Any = None, columns: Iterable[str] = ()) -> None:
        self.encoder = encoder
        self.columns = columns

    def fit(self, X: Any, y: Any = None) -> CategoryCodes:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        encoded = self.encoder.fit_transform(X, y)
        self.names_ = [str(name) for name in self.encoder.get_feature_names_out()]
        return self._frame(encoded)

    def transform(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self)
        return self._frame(self.encoder.transform(X))

    def _frame(self, encoded: Any) -> pd.DataFrame:
        frame = pd.DataFrame(_dense_array(encoded), columns=self.names_)
        for name in self.columns:
            codes = np.nan_to_num(frame[name].to_numpy(dtype="float64"), nan=-1)
            frame[name] = codes.astype("int64")
        return frame

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray(self.names_, dtype=object)


def _dense_array(values: Any) -> np.ndarray:
    return np.asarray(values.toarray() if sp.issparse(values) else values, dtype="float64")


_DATE_PARTS: tuple[str, ...] = ("year", "month", "day", "dayofweek", "hour", "dayofyear")
_EPOCH = pd.Timestamp("1970-01-01")


def _parse_datetimes(values: pd.Series) -> pd.Series:
    """Parse one column to naive UTC datetimes; unparseable values become NaT.

    Time-zone aware values are converted to UTC, naive ones are taken as UTC.
    Values the fast, format-inferring parse misses are parsed again one by
    one, so a column mixing formats still parses.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(values, errors="coerce", utc=True)
        except (TypeError, ValueError, OverflowError):
            parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
        retry = parsed.isna() & values.notna()
        if retry.any() and not pd.api.types.is_numeric_dtype(values.dtype):
            again = pd.Series(
                [_parse_one(v) for v in values[retry]], index=values.index[retry], dtype=object
            )
            parsed = parsed.mask(retry, pd.to_datetime(again, errors="coerce", utc=True))
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None)


def _parse_one(value: Any) -> Any:
    if not isinstance(value, str | bytes | np.str_ | pd.Timestamp | np.datetime64):
        return pd.NaT
    try:
        stamp = pd.to_datetime(value, errors="coerce", utc=True, format="mixed")
    except (TypeError, ValueError, OverflowError):
        return pd.NaT
    return stamp if isinstance(stamp, pd.Timestamp) else pd.NaT


# Output name → pandas ``.dt`` attribute (``dayofweek`` is deprecated in pandas 3).
_DT_ATTRIBUTES = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}


def _date_part(parsed: pd.Series, part: str) -> np.ndarray:
    series = getattr(parsed.dt, _DT_ATTRIBUTES.get(part, part))
    return np.asarray(series.to_numpy(dtype="float64", na_value=np.nan))


class DatetimeFeatures(TransformerMixin, BaseEstimator):
    """Calendar features from date-time columns.

    Each input column is parsed with ``pd.to_datetime`` (unparseable values
    become NaN; time zones are converted to UTC) and gives, in order:
    ``<col>_year``, ``<col>_month``, ``<col>_day``, ``<col>_dayofweek``,
    ``<col>_hour`` (only when the column carries a time of day),
    ``<col>_dayofyear`` and ``<col>_epoch_days`` (days since 1970-01-01).

    Parameters:
        include_hour: emit the hour; None (default) emits it for a column
            only if some value seen in ``fit`` has a non-zero time of day.
    """

    def __init__(self, include_hour: bool | None = None) -> None:
        self.include_hour = include_hour

    def fit(self, X: Any, y: Any = None) -> DatetimeFeatures:
        frame = _checked_frame(self, X, reset=True)
        columns = [frame.iloc[:, j] for j in range(frame.shape[1])]
        has_time: list[bool] = []
        for column in columns:
            if self.include_hour is not None:
                has_time.append(bool(self.include_hour))
                continue
            parsed = _parse_datetimes(column).dropna()
            time_of_day = parsed - parsed.dt.normalize()
            has_time.append(bool((time_of_day != pd.Timedelta(0)).any()))
        self.has_time_ = np.asarray(has_time, dtype=bool)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        frame = _checked_frame(self, X, reset=False)
        columns = [frame.iloc[:, j] for j in range(frame.shape[1])]
        blocks: list[np.ndarray] = []
        for column, has_time in zip(columns, self.has_time_, strict=True):
            parsed = _parse_datetimes(column)
            for part in _DATE_PARTS:
                if part == "hour" and not has_time:
                    continue
                blocks.append(_date_part(parsed, part))
            epoch_days = (parsed - _EPOCH) / pd.Timedelta(days=1)
            blocks.append(epoch_days.to_numpy(dtype="float64", na_value=np.nan))
        if not blocks:
            return np.zeros((frame.shape[0], 0), dtype="float64")
        return np.column_stack(blocks).astype("float64", copy=False)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        names = _check_feature_names_in(self, input_features)
        out: list[str] = []
        for name, has_time in zip(names, self.has_time_, strict=True):
            for part in _DATE_PARTS:
                if part == "hour" and not has_time:
                    continue
                out.append(f"{name}_{part}")
            out.append(f"{name}_epoch_days")
        return np.asarray(out, dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags


class TextVectorizer(TfidfVectorizer):
    """TF-IDF of one text column that tolerates missing values and empty vocabularies.

    Same parameters as :class:`~sklearn.feature_extraction.text.TfidfVectorizer`.
    Missing values are read as empty text. When no term survives pruning in
    training (empty or too short a column), the vectorizer outputs zero
    columns instead of failing.
    """

    def fit(self, raw_documents: Any, y: Any = None) -> TextVectorizer:
        self.fit_transform(raw_documents, y)
        return self

    def fit_transform(self, raw_documents: Any, y: Any = None) -> Any:
        documents = _text_values(raw_documents)
        try:
            result = super().fit_transform(documents, y)
        except ValueError as error:
            message = str(error)
            if "empty vocabulary" not in message and "no terms remain" not in message:
                raise
            self.empty_ = True
            self.vocabulary_: dict[str, int] = {}
            return sp.csr_matrix((len(documents), 0), dtype="float64")
        self.empty_ = False
        return result

    def transform(self, raw_documents: Any) -> Any:
        check_is_fitted(self, "vocabulary_")
        documents = _text_values(raw_documents)
        if self.empty_:
            return sp.csr_matrix((len(documents), 0), dtype="float64")
        return super().transform(documents)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "vocabulary_")
        if self.empty_:
            return np.asarray([], dtype=object)
        return np.asarray(super().get_feature_names_out(input_features), dtype=object)
