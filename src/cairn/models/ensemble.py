"""Ensembles over cross-validated candidates.

* :func:`greedy_selection` — Caruana et al. (2004): start from the best single
  model and repeatedly add (with replacement) the candidate whose addition
  most improves the out-of-fold score; stop when nothing improves it. The
  result is never worse than its best member on out-of-fold data.
* :func:`fit_stacker` — a simple level-2 learner (logistic / ridge) on the
  members' out-of-fold predictions.
* :class:`BaggedModel` — the fold models of one configuration, averaged: the
  model whose out-of-fold predictions were scored, with no refit.
* :class:`EnsembleModel` — the final estimator: members combined by weights
  or by a stacker, class probabilities optionally tempered; one object,
  saved in one bundle, served like any model.
* :func:`fit_temperature` — temperature scaling (Guo et al. 2017): the one
  scale of the log-probabilities that minimises out-of-fold log loss.
  Averaged members are under-confident where they agree; a temperature
  below 1 sharpens them, above 1 softens over-confident ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cairn.tasks import get_task

Scorer = Callable[[np.ndarray], float]

# Probabilities are floored here before their logarithm is taken.
PROBABILITY_FLOOR = 1e-15
# Temperatures searched, as log(T): from e^-3 (≈ 0.05) to e^3 (≈ 20).
_LOG_TEMPERATURE_RANGE = (-3.0, 3.0)


class BaggedModel:
    """Average of models fitted on different folds of the same data.

    ``task`` is the task's name (fitted bundles pickle it under that
    attribute); what the model answers is asked of the task.
    """

    def __init__(self, models: Sequence[Any], task: str) -> None:
        self.models = list(models)
        self.task = task

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.mean([np.asarray(m.predict_proba(X), dtype=float) for m in self.models], axis=0)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if get_task(self.task).has_classes:
            return self.predict_proba(X).argmax(axis=1)
        return np.mean([np.asarray(m.predict(X), dtype=float) for m in self.models], axis=0)


class EnsembleModel:
    """Members combined by non-negative weights, or by a level-2 stacker.

    Attributes:
        members: fitted estimators (pipelines or bags) taking the raw frame.
        weights: one per member, summing to 1 (ignored with a stacker).
        task: the task's name (pickled under this attribute); what the
            members answer is asked of the task.
        names: the candidate each member came from.
        stacker: optional level-2 model over the members' outputs.
        temperature: class probabilities are rescaled as softmax(log p / T)
            after the members are combined (1: as combined).
    """

    # bundles pickled before temperatures existed load with none
    temperature: float = 1.0

    def __init__(
        self,
        members: Sequence[Any],
        weights: Sequence[float],
        task: str,
        names: Sequence[str] = (),
        stacker: Any = None,
        temperature: float = 1.0,
    ) -> None:
        self.members = list(members)
        self.weights = np.asarray(weights, dtype=float)
        self.task = task
        self.names = list(names)
        self.stacker = stacker
        self.temperature = float(temperature)

    def _outputs(self, X: pd.DataFrame) -> list[np.ndarray]:
        if get_task(self.task).has_classes:
            return [np.asarray(m.predict_proba(X), dtype=float) for m in self.members]
        return [np.asarray(m.predict(X), dtype=float) for m in self.members]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        outputs = self._outputs(X)
        if self.stacker is not None:
            combined = np.asarray(self.stacker.predict_proba(stack_features(outputs)), dtype=float)
        else:
            combined = np.tensordot(self.weights, np.stack(outputs), axes=1)
        return tempered(combined, self.temperature)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if get_task(self.task).has_classes:
            return self.predict_proba(X).argmax(axis=1)
        outputs = self._outputs(X)
        if self.stacker is not None:
            return np.asarray(self.stacker.predict(stack_features(outputs)), dtype=float)
        return np.tensordot(self.weights, np.stack(outputs), axes=1)


def stack_features(outputs: Sequence[np.ndarray]) -> np.ndarray:
    """Members' outputs side by side: class probabilities (dropping one
    redundant column for binary) or regression values."""
    columns = []
    for output in outputs:
        if output.ndim == 1:
            columns.append(output[:, None])
        elif output.shape[1] == 2:
            columns.append(output[:, 1:])
        else:
            columns.append(output)
    return np.hstack(columns)


def greedy_selection(
    oofs: Sequence[np.ndarray],
    score: Callable[[np.ndarray], float],
    *,
    greater_is_better: bool,
    max_rounds: int = 40,
    max_members: int | None = None,
) -> np.ndarray:
    """Caruana's ensemble selection with replacement over out-of-fold outputs.

    Args:
        oofs: one out-of-fold output per candidate (same shape each).
        score: metric of a combined output.
        max_members: at most this many distinct candidates; once reached,
            later rounds only re-weight the ones chosen.

    Returns:
        Weights, one per candidate, summing to 1.
    """
    sign = 1.0 if greater_is_better else -1.0
    singles = [sign * score(oof) for oof in oofs]
    best = int(np.argmax(singles))
    counts = np.zeros(len(oofs))
    counts[best] = 1
    total = np.array(oofs[best], dtype=float)
    current = singles[best]
    for _ in range(max_rounds):
        n = counts.sum()
        full = max_members is not None and np.count_nonzero(counts) >= max_members
        trial_scores = [
            sign * score((total + oof) / (n + 1)) if counts[k] or not full else -np.inf
            for k, oof in enumerate(oofs)
        ]
        pick = int(np.argmax(trial_scores))
        if trial_scores[pick] <= current + 1e-12:
            break
        counts[pick] += 1
        total = total + oofs[pick]
        current = trial_scores[pick]
    return counts / counts.sum()


def tempered(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Class probabilities rescaled by ``temperature``: softmax(log p / T).
    The most likely class stays the same."""
    if temperature == 1.0:
        return proba
    logits = np.log(np.clip(proba, PROBABILITY_FLOOR, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return np.asarray(scaled / scaled.sum(axis=1, keepdims=True))


def row_log_losses(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each row's log loss: -log of the probability given to its class."""
    picked = proba[np.arange(len(y)), y]
    return np.asarray(-np.log(np.clip(picked, PROBABILITY_FLOOR, 1.0)))


def fit_temperature(proba: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the log loss of ``proba`` (rows ×
    classes) against integer labels ``y``."""
    from scipy.optimize import minimize_scalar

    def loss(log_temperature: float) -> float:
        return float(row_log_losses(tempered(proba, float(np.exp(log_temperature))), y).mean())

    found = minimize_scalar(
        loss, bounds=_LOG_TEMPERATURE_RANGE, method="bounded", options={"xatol": 1e-3}
    )
    return float(np.exp(found.x))


def fit_stacker(oofs: Sequence[np.ndarray], y: np.ndarray, task: str, seed: int) -> Any:
    """A regularised linear level-2 model on the members' OOF outputs:
    logistic over class probabilities, ridge over values."""
    features = stack_features(oofs)
    if get_task(task).has_classes:
        return _class_stacker(features, y, n_classes=oofs[0].shape[1], seed=seed)
    from sklearn.linear_model import RidgeCV

    return RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(features, y)


def _class_stacker(features: np.ndarray, y: np.ndarray, *, n_classes: int, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    from cairn.models.target import ClassAlignedClassifier, missing_classes

    stacker = LogisticRegression(C=1.0, max_iter=2000, random_state=seed).fit(features, y)
    # The members answer for every class; so must the stacker, also when
    # a rare class is absent from the rows it is fitted on.
    if missing_classes(stacker, n_classes):
        return ClassAlignedClassifier(stacker, n_classes)
    return stacker
