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

Forests and nearest neighbours answer with vote shares, and a class no tree
or neighbour voted for gets probability 0: one such row costs a log loss of
34.5 (the floor of 1e-15), more than a thousand well-predicted rows gain.
:class:`SmoothedClassifier` adds one pseudo-vote spread by the training class
frequencies, as a Dirichlet prior of weight one vote would: the classifier's
probabilities ``p`` become ``(1 - s) p + s prior`` with ``s = 1 / (votes + 1)``.
It never reorders a binary model's rows, and moves a confident answer by at
most ``s`` (a third of a percent for 300 trees).
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


def vote_count(classifier: Any) -> int | None:
    """The votes a fitted forest or nearest-neighbour classifier shares out
    (its trees, its neighbours); None for a classifier whose probabilities
    are not vote shares."""
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier

    if isinstance(classifier, RandomForestClassifier | ExtraTreesClassifier):
        return len(classifier.estimators_)
    if isinstance(classifier, KNeighborsClassifier):
        return int(classifier.n_neighbors)
    return None


class SmoothedClassifier(ClassifierMixin, BaseEstimator):
    """A vote-share classifier whose probabilities are mixed with the class
    frequencies it was trained on, so that none is exactly 0.

    Attributes:
        classifier: the model (a forest or k-NN, possibly class-aligned),
            answering one column per class code.
        prior: the training class frequencies in the order of the
            classifier's columns, add-one smoothed (every class, seen or
            not, gets a share).
        share: the weight of ``prior`` in the mix: one vote among the
            classifier's, 1 / (votes + 1).
    """

    def __init__(self, classifier: Any = None, prior: Any = None, share: float = 0.0) -> None:
        self.classifier = classifier
        self.prior = prior
        self.share = share

    @classmethod
    def around(cls, classifier: Any, y: np.ndarray) -> SmoothedClassifier:
        """``classifier``, already fitted on class codes ``y``, smoothed."""
        return cls(classifier)._learn_prior(y)

    def fit(self, X: Any, y: Any) -> SmoothedClassifier:
        self.classifier.fit(X, y)
        return self._learn_prior(y)

    def _learn_prior(self, y: Any) -> SmoothedClassifier:
        columns = np.asarray(self.classifier.classes_)
        counts = (np.asarray(y)[:, None] == columns[None, :]).sum(axis=0)
        self.prior = (counts + 1.0) / (counts.sum() + len(columns))
        votes = vote_count(innermost(self.classifier))
        if votes is None:
            raise TypeError(f"{type(self.classifier).__name__} does not answer with vote shares")
        self.share = 1.0 / (votes + 1.0)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return self.prior is not None

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.classifier.classes_)

    @property
    def n_features_in_(self) -> int:
        return int(self.classifier.n_features_in_)

    def predict_proba(self, X: Any) -> np.ndarray:
        proba = np.asarray(self.classifier.predict_proba(X), dtype=float)
        return np.asarray((1.0 - self.share) * proba + self.share * self.prior[None, :])

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.predict_proba(X).argmax(axis=1))


def innermost(estimator: Any) -> Any:
    """The learner inside the target wrappers of this module."""
    while isinstance(estimator, LogTargetRegressor | ClassAlignedClassifier | SmoothedClassifier):
        estimator = (
            estimator.regressor
            if isinstance(estimator, LogTargetRegressor)
            else estimator.classifier
        )
    return estimator
