"""From a frame to the numeric matrix the clustering search works in.

Distances drive every clustering algorithm, so the schema-driven
preprocessing always scales the numeric columns. Columns that carry no
distance (ids, constants, free text, categoricals too wide to one-hot) are
left out and recorded with the reason. Skewed non-negative columns (money
amounts, counts) are put on a log scale first, so that a few large values do
not stretch the space; an optional PCA keeps a share of the variance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from cairn.data.schema import Role, Schema, infer_schema, missing_column_message
from cairn.exceptions import DataError, SpecError
from cairn.features import build_preprocessor

__all__ = [
    "DEFAULT_K_RANGE",
    "KeepColumns",
    "LogColumns",
    "Preparation",
    "prepare",
    "resolve_k_range",
]

DEFAULT_K_RANGE = (2, 10)
# A column is put on a log scale when it is non-negative and its skewness
# exceeds this (a long right tail).
SKEW_THRESHOLD = 1.0
# Categoricals with more values than this carry no usable distance once
# one-hot encoded (and target encoding needs a target): they are left out.
MAX_ONEHOT_CATEGORIES = 30


@dataclass(frozen=True)
class Preparation:
    """What was done to the columns before clustering, for the record.

    Attributes:
        features: the input columns used.
        dropped: input columns left out, with the reason.
        log_columns: columns put on a ``log1p`` scale before scaling.
        pca_components: components kept by PCA (None: no PCA).
        n_dimensions: width of the matrix the clusters are found in.
    """

    features: tuple[str, ...]
    dropped: dict[str, str] = field(default_factory=dict)
    log_columns: tuple[str, ...] = ()
    pca_components: int | None = None
    n_dimensions: int = 0


class LogColumns(BaseEstimator, TransformerMixin):
    """``log1p`` of the named columns of a DataFrame (negative values, which
    training never saw, are clipped to 0); other columns pass through."""

    def __init__(self, columns: Sequence[str] = ()) -> None:
        self.columns = columns

    def fit(self, X: pd.DataFrame, y: Any = None) -> LogColumns:
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        frame = X.copy()
        for name in self.columns:
            values = pd.to_numeric(frame[name], errors="coerce").clip(lower=0)
            frame[name] = np.log1p(values)
        return frame


class KeepColumns(BaseEstimator, TransformerMixin):
    """The listed columns (by position) of a matrix."""

    def __init__(self, columns: Sequence[int] = ()) -> None:
        self.columns = columns

    def fit(self, X: np.ndarray, y: Any = None) -> KeepColumns:
        self.n_features_in_ = np.shape(X)[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=float)[:, list(self.columns)]


def _usable_schema(schema: Schema) -> tuple[Schema, dict[str, str]]:
    """The schema with the columns clustering cannot use set aside."""
    dropped: dict[str, str] = {}
    for column in schema.columns:
        if not column.is_feature:
            dropped[column.name] = f"{column.role.value} column"
        elif column.role == Role.TEXT:
            dropped[column.name] = "free text carries no distance"
        elif column.role == Role.DATETIME and not column.reason.startswith("set to"):
            # Calendar parts would take several dimensions and split rows by
            # when they were recorded rather than by what they are.
            dropped[column.name] = (
                "a date places rows in time, not in a segment; set its role to "
                "'datetime' in data.roles to cluster on its calendar parts"
            )
        elif column.role == Role.CATEGORICAL and column.n_unique > MAX_ONEHOT_CATEGORIES:
            dropped[column.name] = (
                f"{column.n_unique} categories, more than {MAX_ONEHOT_CATEGORIES} to one-hot"
            )
    for name, reason in dropped.items():
        if schema[name].is_feature:
            schema = schema.with_role(name, Role.IGNORE, reason)
    return schema, dropped


def _skewness(values: np.ndarray) -> float:
    spread = values.std()
    return float(((values - values.mean()) ** 3).mean() / spread**3) if spread > 0 else 0.0


def _skewed_columns(frame: pd.DataFrame, schema: Schema) -> tuple[str, ...]:
    skewed = []
    for name in schema.by_role(Role.NUMERIC):
        values = pd.to_numeric(frame[name], errors="coerce").dropna().to_numpy(dtype=float)
        if len(values) > 2 and values.min() >= 0 and _skewness(values) > SKEW_THRESHOLD:
            skewed.append(name)
    return tuple(skewed)


def _check_usable(schema: Schema, dropped: dict[str, str]) -> None:
    if schema.feature_names:
        return
    constant = [name for name in dropped if schema[name].role == Role.CONSTANT]
    if constant and len(constant) == len(schema.columns):
        raise DataError(
            "every column holds a single value: there is nothing to cluster; "
            "give data whose rows differ"
        )
    reasons = "; ".join(f"{name}: {why}" for name, why in dropped.items()) or "no columns"
    raise DataError(
        f"no usable feature column to cluster on ({reasons}); "
        "give at least one numeric, boolean or categorical column"
    )


def prepare(
    frame: pd.DataFrame,
    *,
    schema: Schema | None = None,
    exclude: Sequence[str] = (),
    log_skewed: bool = True,
    pca: float | None = None,
    seed: int = 0,
) -> tuple[Pipeline, np.ndarray, Preparation]:
    """Fit the preprocessing on ``frame``; return it, the matrix and the record.

    Args:
        frame: the rows to cluster.
        schema: roles of the columns (inferred from ``frame`` when None).
        exclude: columns never used as features (e.g. a ground truth).
        log_skewed: put skewed non-negative numeric columns on a log scale.
        pca: keep this share of the variance with a PCA (None: no PCA).
        seed: random state of the PCA.

    Raises:
        DataError: fewer than 3 rows, an excluded column missing, no usable
            column, or every value the same.
    """
    if len(frame) < 3:
        raise DataError(
            f"clustering needs at least 3 rows (2 clusters and a comparison), got {len(frame)}"
        )
    if pca is not None and not 0 < pca <= 1:
        raise SpecError(f"pca must be a share of the variance in (0, 1], got {pca}")
    for name in exclude:
        if name not in frame.columns:
            raise DataError(
                missing_column_message("excluded column", name, list(frame.columns), "the data")
            )
    frame = frame.drop(columns=list(exclude))
    if schema is None:
        schema = infer_schema(frame)
    schema, dropped = _usable_schema(schema)
    _check_usable(schema, dropped)
    log_columns = _skewed_columns(frame, schema) if log_skewed else ()
    columns = build_preprocessor(
        schema, scale=True, onehot_max_categories=MAX_ONEHOT_CATEGORIES, seed=seed
    )
    encode = Pipeline([("log", LogColumns(log_columns)), ("columns", columns)])
    matrix = np.asarray(encode.fit_transform(frame), dtype=float)
    # Missing-value indicators would make "has gaps" a segment of its own:
    # rows with gaps are placed by their imputed values instead.
    names = columns.get_feature_names_out()
    keep = [i for i, name in enumerate(names) if "missingindicator_" not in name]
    steps: list[tuple[str, Any]] = [("encode", encode), ("keep", KeepColumns(keep).fit(matrix))]
    matrix = matrix[:, keep]
    if matrix.shape[1] == 0 or not np.any(np.ptp(matrix, axis=0) > 0):
        raise DataError(
            "every feature value is identical across the rows: there is nothing to cluster"
        )
    if pca is not None:
        from sklearn.decomposition import PCA

        projection = PCA(n_components=pca, random_state=seed)
        matrix = projection.fit_transform(matrix)
        steps.append(("pca", projection))
    pipeline = Pipeline(steps)
    record = Preparation(
        features=tuple(schema.feature_names),
        dropped=dropped,
        log_columns=log_columns,
        pca_components=int(matrix.shape[1]) if pca is not None else None,
        n_dimensions=int(matrix.shape[1]),
    )
    return pipeline, matrix, record


def resolve_k_range(k_range: tuple[int, int] | None, matrix: np.ndarray) -> tuple[int, int]:
    """The range of cluster counts to search.

    The default (2..10) is capped by the distinct rows; a range the caller
    gives must fit them.

    Raises:
        SpecError: the range is not ``(k_min, k_max)`` with ``2 <= k_min <= k_max``.
        DataError: the rows cannot hold that many clusters.
    """
    distinct = len(np.unique(matrix, axis=0))
    if distinct < 2:
        raise DataError("every row has the same values after encoding: there is nothing to cluster")
    limit = min(distinct, len(matrix) - 1)
    if k_range is None:
        low, high = DEFAULT_K_RANGE
        high = min(high, limit)
        if low > high:
            raise DataError(
                f"{len(matrix)} rows ({distinct} distinct) are too few for {low} clusters"
            )
        return low, high
    low, high = k_range
    if low < 2 or low > high:
        raise SpecError(f"k range must be (k_min, k_max) with 2 <= k_min <= k_max, got {k_range}")
    if high > limit:
        raise DataError(
            f"k range {low}..{high} is larger than the data allows: {len(matrix)} rows "
            f"({distinct} distinct) hold at most {limit} clusters; lower k_max to {limit} or below"
        )
    return low, high
