"""The preprocessing half of every model pipeline, built from a :class:`Schema`.

:func:`build_preprocessor` turns a schema into an unfitted scikit-learn
``ColumnTransformer`` that selects the feature columns by name (id, constant
and ignored columns are dropped, extra columns are ignored, column order does
not matter) and encodes each role:

- numeric: coerced to float, median imputation with missing indicators,
  optional standard scaling;
- boolean: mapped to 0/1 (:class:`BooleanEncoder`), most-frequent
  imputation with missing indicators;
- categorical: cast to strings (missing → ``"__missing__"``), then one-hot
  (low cardinality) or a cross-fitted target encoding plus a frequency
  encoding (high cardinality); ordinal codes instead when
  ``native_categorical=True``;
- datetime: calendar parts and epoch days (:class:`DatetimeFeatures`),
  median imputation;
- text: TF-IDF of words and word pairs, one vectorizer per column
  (:class:`TextVectorizer`).

Every custom step is a top-level class or function so that the fitted
pipeline pickles and loads in another process.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
    TargetEncoder,
)
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)

from cairn.data.schema import ColumnSchema, Role, Schema, category_string
from cairn.exceptions import DataError

__all__ = [
    "MISSING_CATEGORY",
    "BooleanEncoder",
    "CategoryCodes",
    "DatetimeFeatures",
    "FrequencyEncoder",
    "RangeClipper",
    "TextVectorizer",
    "build_preprocessor",
    "to_category_strings",
    "to_float_frame",
]

#: Value that stands for a missing category after string casting.
MISSING_CATEGORY = "__missing__"

# Categories seen fewer times than this in training are grouped by the one-hot
# encoder into one "infrequent" column (unknown categories at predict time go
# there too).
_ONEHOT_MIN_FREQUENCY = 5
_TEXT_MAX_FEATURES = 200
_TARGET_ENCODER_CV = 5
_SKLEARN_VERSION = tuple(int(part) for part in sklearn.__version__.split(".")[:2])

_TRUE_STRINGS = frozenset({"true", "t", "yes", "y", "1", "1.0", "on"})
_FALSE_STRINGS = frozenset({"false", "f", "no", "n", "0", "0.0", "off"})


# --------------------------------------------------------------------------
# helpers shared by the transformers
# --------------------------------------------------------------------------


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
    out = np.empty(frame.shape, dtype=object)
    for j in range(frame.shape[1]):
        values = frame.iloc[:, j].to_numpy(dtype=object)
        out[:, j] = [_category_string(v) for v in values]
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


# --------------------------------------------------------------------------
# custom transformers
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# the builder
# --------------------------------------------------------------------------


def _category_cast() -> FunctionTransformer:
    return FunctionTransformer(to_category_strings, validate=False, feature_names_out=_same_names)


def _target_encoder(task: str | None, seed: int) -> TargetEncoder:
    """A cross-fitted TargetEncoder with shuffled, seeded folds.

    Classification uses stratified folds; regression and unknown tasks plain
    ones. scikit-learn 1.9 takes the splitter as ``cv`` (and deprecates
    ``shuffle``/``random_state``); older versions only take a fold count.
    """
    target_type = {"regression": "continuous"}.get(task or "", "auto")
    if _SKLEARN_VERSION < (1, 9):
        return TargetEncoder(
            target_type=target_type, cv=_TARGET_ENCODER_CV, shuffle=True, random_state=seed
        )
    splitter = StratifiedKFold if task == "classification" else KFold
    cv = splitter(n_splits=_TARGET_ENCODER_CV, shuffle=True, random_state=seed)
    return TargetEncoder(target_type=target_type, cv=cv)


def _n_unique(column: ColumnSchema) -> int:
    if column.n_unique > 0:
        return column.n_unique
    return len(column.categories) if column.categories else 0


def _transformer_name(prefix: str, column: str, taken: set[str]) -> str:
    slug = re.sub(r"[^0-9A-Za-z]+", "_", column).strip("_") or "col"
    name = f"{prefix}_{slug}"
    k = 2
    while name in taken:
        name = f"{prefix}_{slug}_{k}"
        k += 1
    taken.add(name)
    return name


def build_preprocessor(
    schema: Schema,
    *,
    scale: bool = False,
    onehot_max_categories: int = 20,
    sparse_text: bool = False,
    seed: int = 0,
    native_categorical: bool = False,
) -> ColumnTransformer:
    """An unfitted ColumnTransformer that encodes the schema's feature columns.

    Columns are selected by name from a DataFrame, so frames with extra
    columns or another column order are fine; id, constant and ignored
    columns are dropped. Unseen categories and missing values anywhere at
    predict time never raise. Output is a dense float64 array with names
    from ``get_feature_names_out()`` prefixed by the encoding
    (``num__Age``, ``cat_onehot__Embarked_S``, ``text_Name__mr`` ...).

    Args:
        schema: the training schema; only ``schema.feature_names`` are used.
        scale: standard-scale the numeric (not indicator) columns.
        onehot_max_categories: categoricals with at most this many distinct
            values (``ColumnSchema.n_unique``) are one-hot encoded; wider
            ones get a cross-fitted target encoding plus a frequency
            encoding, which needs ``y`` in ``fit`` (as inside
            ``Pipeline.fit(X, y)``).
        sparse_text: keep TF-IDF columns sparse; the output is then a
            scipy CSR matrix when the schema has text columns.
        seed: random state of the target encoder's cross-fitting.
        native_categorical: encode every categorical as ordinal codes
            (unknown → -1) instead of one-hot / target encoding, for tree
            learners that split on codes.

    Raises:
        DataError: the schema has no feature column, or a bad option.
    """
    if onehot_max_categories < 1:
        raise DataError(f"onehot_max_categories must be at least 1, got {onehot_max_categories}")
    features = [schema[name] for name in schema.feature_names]
    if not features:
        raise DataError(
            "the schema has no feature column: every column is an id, constant or ignored; "
            "give at least one column a numeric, categorical, boolean, datetime or text role"
        )

    def names(*roles: Role) -> list[str]:
        return [c.name for c in features if c.role in roles]

    transformers: list[tuple[str, Any, Any]] = []

    numeric = names(Role.NUMERIC)
    if numeric:
        steps: list[tuple[str, Any]] = [
            (
                "to_float",
                FunctionTransformer(to_float_frame, validate=False, feature_names_out=_same_names),
            ),
            (
                "impute",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            ),
        ]
        if scale:
            steps.append(("clip", RangeClipper()))
            steps.append(("scale", StandardScaler()))
        transformers.append(("num", Pipeline(steps), numeric))

    boolean = [c for c in features if c.role == Role.BOOLEAN]
    if boolean:
        known = [tuple(c.categories) if c.categories else None for c in boolean]
        bool_pipeline = Pipeline(
            [
                ("to_01", BooleanEncoder(categories=known)),
                (
                    "impute",
                    SimpleImputer(
                        strategy="most_frequent", add_indicator=True, keep_empty_features=True
                    ),
                ),
            ]
        )
        transformers.append(("bool", bool_pipeline, [c.name for c in boolean]))

    categorical = [c for c in features if c.role == Role.CATEGORICAL]
    if categorical and native_categorical:
        ordinal = Pipeline(
            [
                ("to_str", _category_cast()),
                (
                    "ordinal",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value",
                        unknown_value=-1,
                        encoded_missing_value=-1,
                    ),
                ),
            ]
        )
        transformers.append(("cat_ordinal", ordinal, [c.name for c in categorical]))
    elif categorical:
        narrow = [c.name for c in categorical if _n_unique(c) <= onehot_max_categories]
        wide = [c.name for c in categorical if _n_unique(c) > onehot_max_categories]
        if narrow:
            onehot = Pipeline(
                [
                    ("to_str", _category_cast()),
                    (
                        "onehot",
                        OneHotEncoder(
                            handle_unknown="infrequent_if_exist",
                            min_frequency=_ONEHOT_MIN_FREQUENCY,
                            max_categories=onehot_max_categories + 1,
                            sparse_output=False,
                        ),
                    ),
                ]
            )
            transformers.append(("cat_onehot", onehot, narrow))
        if wide:
            target = Pipeline(
                [
                    ("to_str", _category_cast()),
                    ("target", _target_encoder(schema.task, seed)),
                ]
            )
            transformers.append(("cat_target", target, wide))
            transformers.append(("cat_freq", FrequencyEncoder(), wide))

    datetime = names(Role.DATETIME)
    if datetime:
        dt_pipeline = Pipeline(
            [
                ("parts", DatetimeFeatures()),
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ]
        )
        transformers.append(("dt", dt_pipeline, datetime))

    taken = {name for name, _, _ in transformers}
    for name in names(Role.TEXT):
        vectorizer = TextVectorizer(
            max_features=_TEXT_MAX_FEATURES,
            min_df=2,
            ngram_range=(1, 2),
            sublinear_tf=True,
            dtype=np.float64,
        )
        # A scalar column selects a 1-D Series, which is what a vectorizer takes.
        transformers.append((_transformer_name("text", name, taken), vectorizer, name))

    return ColumnTransformer(
        transformers,
        remainder="drop",
        sparse_threshold=1.0 if sparse_text else 0.0,
        verbose_feature_names_out=True,
    )
