"""Target transforms: a log scale for regression, the full class set for
classification.

A right-skewed, non-negative target (prices, charges, counts) is often
learned better on a log scale: squared errors there weigh relative rather
than absolute mistakes, so a few very large values no longer dominate the
fit. The search tries it on the first family and keeps it only when
cross-validation on the original scale says it helps.

A classifier fitted on rows that miss some classes (a rare class absent from
one cross-validation fold) knows only the classes it saw;
:class:`ClassAlignedClassifier` gives it one probability column per class of
the whole target, so fold outputs can be averaged, stacked and scored
together.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

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


def missing_classes(classifier: Any, n_classes: int) -> bool:
    """True when the fitted ``classifier`` does not answer for each class
    code 0..n_classes-1 in order."""
    classes = np.asarray(getattr(classifier, "classes_", np.arange(n_classes)))
    return len(classes) != n_classes or not np.array_equal(
        classes.astype(int), np.arange(n_classes)
    )


class ClassAlignedClassifier(ClassifierMixin, BaseEstimator):
    """A classifier that saw only some of the classes 0..n_classes-1, answering
    with a probability column for every class: 0 for the classes it never saw.

    Attributes:
        classifier: the fitted model; its ``classes_`` are integer class codes.
        n_classes: the number of classes of the whole target.
    """

    def __init__(self, classifier: Any = None, n_classes: int = 0) -> None:
        self.classifier = classifier
        self.n_classes = n_classes

    def fit(self, X: Any, y: Any) -> ClassAlignedClassifier:
        self.classifier.fit(X, y)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self.classifier, "classes_")

    @property
    def classes_(self) -> np.ndarray:
        return np.arange(self.n_classes)

    @property
    def n_features_in_(self) -> int:
        return int(self.classifier.n_features_in_)

    def predict_proba(self, X: Any) -> np.ndarray:
        seen = np.asarray(self.classifier.predict_proba(X), dtype=float)
        proba = np.zeros((seen.shape[0], self.n_classes))
        proba[:, np.asarray(self.classifier.classes_).astype(int)] = seen
        return proba

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.predict_proba(X).argmax(axis=1))
