"""Feature selection: permutation importance of a fitted model on its
validation folds, plus a filter of near-duplicate numeric columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cairn.data.schema import Role, Schema
from cairn.data.split import Fold

#: Scores a fitted model on (X, y); higher or lower is better as ``sign`` says.
ModelScore = Callable[[Any, pd.DataFrame, np.ndarray], float]

# Numeric columns correlated beyond this with an earlier kept one are dropped.
_MAX_CORRELATION = 0.98
# Permutation importance is measured on this many folds.
_IMPORTANCE_FOLDS = 2


def useless_features(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    schema: Schema,
    folds: Sequence[Fold],
    fold_models: Sequence[Any],
    model_score: ModelScore,
    sign: float,
    seed: int,
    max_rows: int = 1000,
) -> list[str]:
    """Columns whose shuffling does not hurt the fold models (permutation
    importance on their validation folds), plus near-duplicates of earlier
    numeric columns (|Pearson r| > 0.98). Returns the columns to drop, or
    none when every column would go.

    Args:
        fold_models: the models fitted on ``folds``, in the same order.
        sign: 1.0 when a higher score is better, -1.0 when lower is.
    """
    features = schema.feature_names
    useless = _unimportant(
        X, y, features, folds, fold_models, model_score, sign=sign, seed=seed, max_rows=max_rows
    )
    numeric = [n for n in schema.by_role(Role.NUMERIC) if n in features and n not in useless]
    useless += _near_duplicates(X, numeric)
    keep = [name for name in features if name not in useless]
    return useless if keep else []


def _unimportant(
    X: pd.DataFrame,
    y: np.ndarray,
    features: list[str],
    folds: Sequence[Fold],
    fold_models: Sequence[Any],
    model_score: ModelScore,
    *,
    sign: float,
    seed: int,
    max_rows: int,
) -> list[str]:
    """Columns whose shuffling costs at most a hair of the score."""
    rng = np.random.default_rng(seed)
    drops: dict[str, list[float]] = {name: [] for name in features}
    pairs = list(zip(folds, fold_models, strict=False))[:_IMPORTANCE_FOLDS]
    for fold, model in pairs:
        val_idx = fold[1]
        if len(val_idx) > max_rows:
            val_idx = rng.choice(val_idx, size=max_rows, replace=False)
        X_val, y_val = X.iloc[val_idx], y[val_idx]
        base = model_score(model, X_val, y_val)
        for name in features:
            shuffled = X_val.copy()
            shuffled[name] = rng.permutation(shuffled[name].to_numpy())
            drops[name].append(sign * (base - model_score(model, shuffled, y_val)))
    # The tolerance is relative to the score on the last fold measured.
    tolerance = 1e-3 * abs(base) if np.isfinite(base) else 0.0
    return [name for name, values in drops.items() if np.mean(values) <= tolerance]


def _near_duplicates(X: pd.DataFrame, numeric: list[str]) -> list[str]:
    """Numeric columns nearly collinear with an earlier one of ``numeric``."""
    duplicates: list[str] = []
    if len(numeric) > 1:
        corr = X[numeric].astype(float).corr().abs().to_numpy()
        for j in range(len(numeric)):
            if any(corr[i, j] > _MAX_CORRELATION for i in range(j) if numeric[i] not in duplicates):
                duplicates.append(numeric[j])
    return duplicates
