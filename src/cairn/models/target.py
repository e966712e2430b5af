"""Target transforms for regression.

A right-skewed, non-negative target (prices, charges, counts) is often
learned better on a log scale: squared errors there weigh relative rather
than absolute mistakes, so a few very large values no longer dominate the
fit. The search tries it on the first family and keeps it only when
cross-validation on the original scale says it helps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

# Below this sample skewness the target is close enough to symmetric that
# the log scale is not worth a candidate.
_MIN_SKEW = 0.75


def log_target_worth_trying(y: np.ndarray) -> bool:
    """True for a non-negative target with a long right tail."""
    values = np.asarray(y, dtype=float)
    if values.size < 10 or not np.isfinite(values).all() or values.min() < 0:
        return False
    centred = values - values.mean()
    spread = np.sqrt(np.mean(centred**2))
    if spread == 0:
        return False
    return float(np.mean(centred**3) / spread**3) > _MIN_SKEW


class LogTargetRegressor(RegressorMixin, BaseEstimator):
    """A regressor of ``log1p(y)`` that predicts on the original scale.

    Attributes:
        regressor: the model of the log-scale target (fitted by the search,
            which early-stops it on log-scale validation rows, or by ``fit``).
    """

    def __init__(self, regressor: Any = None) -> None:
        self.regressor = regressor

    def fit(self, X: Any, y: Any) -> LogTargetRegressor:
        self.regressor.fit(X, np.log1p(np.asarray(y, dtype=float)))
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self.regressor, "n_features_in_")

    @property
    def n_features_in_(self) -> int:
        return int(self.regressor.n_features_in_)

    def predict(self, X: Any) -> np.ndarray:
        return np.expm1(np.asarray(self.regressor.predict(X), dtype=float))
