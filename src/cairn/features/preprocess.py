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
from typing import Any

import numpy as np
import sklearn
from sklearn.compose import ColumnTransformer
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

from cairn.data.schema import ColumnSchema, Role, Schema
from cairn.exceptions import DataError
from cairn.features._transformers import (
    BooleanEncoder,
    CategoryCodes,
    DatetimeFeatures,
    FrequencyEncoder,
    RangeClipper,
    TextVectorizer,
)
from cairn.features._values import (
    MISSING_CATEGORY,
    _same_names,
    to_category_strings,
    to_float_frame,
)
from cairn.tasks import get_task

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

# Categories seen fewer times than this in training are grouped by the one-hot
# encoder into one "infrequent" column (unknown categories at predict time go
# there too).
_ONEHOT_MIN_FREQUENCY = 5
_TEXT_MAX_FEATURES = 200
_TARGET_ENCODER_CV = 5
_SKLEARN_VERSION = tuple(int(part) for part in sklearn.__version__.split(".")[:2])


def _category_cast() -> FunctionTransformer:
    return FunctionTransformer(to_category_strings, validate=False, feature_names_out=_same_names)


def _target_encoder(task: str | None, seed: int) -> TargetEncoder:
    """A cross-fitted TargetEncoder with shuffled, seeded folds.

    A target of classes lets scikit-learn infer binary or multiclass; any
    other target is encoded as continuous. The folds keep each class's share
    where the task stratifies, plain ones otherwise (and for an unknown task).
    scikit-learn 1.9 takes the splitter as ``cv`` (and deprecates
    ``shuffle``/``random_state``); older versions only take a fold count.
    """
    known = get_task(task) if task else None
    target_type = "continuous" if known is not None and not known.has_classes else "auto"
    if _SKLEARN_VERSION < (1, 9):
        return TargetEncoder(
            target_type=target_type, cv=_TARGET_ENCODER_CV, shuffle=True, random_state=seed
        )
    splitter = StratifiedKFold if known is not None and known.stratify else KFold
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
    transformers = [
        *_numeric_step(features, scale=scale),
        *_boolean_step(features),
        *_categorical_steps(
            features,
            native=native_categorical,
            onehot_max_categories=onehot_max_categories,
            task=schema.task,
            seed=seed,
        ),
        *_datetime_step(features),
    ]
    transformers += _text_steps(features, taken={name for name, _, _ in transformers})
    return ColumnTransformer(
        transformers,
        remainder="drop",
        sparse_threshold=1.0 if sparse_text else 0.0,
        verbose_feature_names_out=True,
    )


# One ColumnTransformer entry: (name, transformer, columns).
_Step = tuple[str, Any, Any]


def _with_role(features: list[ColumnSchema], role: Role) -> list[ColumnSchema]:
    return [c for c in features if c.role == role]


def _numeric_step(features: list[ColumnSchema], *, scale: bool) -> list[_Step]:
    numeric = [c.name for c in _with_role(features, Role.NUMERIC)]
    if not numeric:
        return []
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
    return [("num", Pipeline(steps), numeric)]


def _boolean_step(features: list[ColumnSchema]) -> list[_Step]:
    boolean = _with_role(features, Role.BOOLEAN)
    if not boolean:
        return []
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
    return [("bool", bool_pipeline, [c.name for c in boolean])]


def _categorical_steps(
    features: list[ColumnSchema],
    *,
    native: bool,
    onehot_max_categories: int,
    task: str | None,
    seed: int,
) -> list[_Step]:
    categorical = _with_role(features, Role.CATEGORICAL)
    if not categorical:
        return []
    if native:
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
        return [("cat_ordinal", ordinal, [c.name for c in categorical])]
    steps: list[_Step] = []
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
        steps.append(("cat_onehot", onehot, narrow))
    if wide:
        target = Pipeline([("to_str", _category_cast()), ("target", _target_encoder(task, seed))])
        steps.append(("cat_target", target, wide))
        steps.append(("cat_freq", FrequencyEncoder(), wide))
    return steps


def _datetime_step(features: list[ColumnSchema]) -> list[_Step]:
    datetime = [c.name for c in _with_role(features, Role.DATETIME)]
    if not datetime:
        return []
    dt_pipeline = Pipeline(
        [
            ("parts", DatetimeFeatures()),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ]
    )
    return [("dt", dt_pipeline, datetime)]


def _text_steps(features: list[ColumnSchema], *, taken: set[str]) -> list[_Step]:
    steps: list[_Step] = []
    for column in _with_role(features, Role.TEXT):
        vectorizer = TextVectorizer(
            max_features=_TEXT_MAX_FEATURES,
            min_df=2,
            ngram_range=(1, 2),
            sublinear_tf=True,
            dtype=np.float64,
        )
        # A scalar column selects a 1-D Series, which is what a vectorizer takes.
        steps.append((_transformer_name("text", column.name, taken), vectorizer, column.name))
    return steps
