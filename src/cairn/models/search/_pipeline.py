"""One candidate pipeline: preprocessing built from the schema plus a
learner, fitted with early stopping on a validation fold where the learner
boosts, and its predictions."""

from __future__ import annotations

import inspect
import os
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.pipeline import Pipeline

from cairn.data.schema import Role, Schema
from cairn.features import build_preprocessor, with_pca
from cairn.features.preprocess import CategoryCodes
from cairn.models.catalog import MAX_BOOSTING_ROUNDS, Learner
from cairn.models.search._sample import PREDICT_SECONDS_PER_TREE_ROW, trees_per_round
from cairn.models.target import (
    ClassAlignedClassifier,
    LogTargetRegressor,
    SmoothedClassifier,
    missing_classes,
    vote_count,
)
from cairn.tasks import get_task

_EARLY_STOPPING_ROUNDS = 50
# From this many rows a prediction with several workers is split between them.
_PARALLEL_PREDICT_ROWS = 20_000
_NATIVE_CATEGORIES_MAX_COLUMNS = 20


def n_workers(n_jobs: int) -> int:
    """Worker count for ``n_jobs`` (-1: every core), capped at the cores."""
    cores = os.cpu_count() or 1
    return cores if n_jobs == -1 else max(1, min(n_jobs, cores))


def n_classes_of(schema: Schema, y: np.ndarray) -> int:
    """Size of the class set: the schema's classes (some may be absent from
    ``y``, e.g. a class whose only rows are in the test set), else the codes."""
    return max(len(schema.classes or ()), int(np.max(y)) + 1 if len(y) else 0)


def predict_output(
    model: Any, frame: pd.DataFrame | np.ndarray, task: str, *, workers: int = 1
) -> np.ndarray:
    """The raw output the task scores: class probabilities for a task with
    classes, one value per row otherwise. With ``workers`` > 1, a large frame
    is predicted in that many slices side by side (final models predict on
    one thread, which suits serving, not a large test set)."""
    if workers > 1 and len(frame) >= _PARALLEL_PREDICT_ROWS:
        slices = np.array_split(np.arange(len(frame)), workers)
        parts = Parallel(n_jobs=workers, backend="threading")(
            delayed(predict_output)(model, _rows(frame, part), task) for part in slices
        )
        return np.concatenate(parts)
    if get_task(task).has_classes:
        return np.asarray(model.predict_proba(frame), dtype=float)
    return np.asarray(model.predict(frame), dtype=float)


def _rows(frame: pd.DataFrame | np.ndarray, positions: np.ndarray) -> pd.DataFrame | np.ndarray:
    return frame.iloc[positions] if isinstance(frame, pd.DataFrame) else frame[positions]


def build_pipeline(
    learner: Learner,
    schema: Schema,
    *,
    task: str,
    n_rows: int,
    seed: int,
    n_jobs: int = 1,
    params: Mapping[str, Any] | None = None,
) -> Pipeline:
    """Preprocessing built from the schema, then the learner.

    ``params["pca"]`` (a variance share, e.g. 0.95) adds a PCA projection
    after the preprocessing; the learner ignores the key.
    """
    preprocessor: Any = build_preprocessor(
        schema,
        scale=learner.needs_scaling,
        native_categorical=learner.ordinal_categories,
        seed=seed,
    )
    categories = [
        f"cat_ordinal__{name}"
        for name in schema.feature_names
        if schema[name].role == Role.CATEGORICAL
    ]
    # Target statistics cost CatBoost time per round for every categorical
    # column: on wide or large data the default keeps plain codes, and the
    # portfolio and the search space still try the native handling.
    default_native = len(categories) <= _NATIVE_CATEGORIES_MAX_COLUMNS
    native = learner.category_statistics and (params or {}).get("native_categories", default_native)
    if native and categories and not (params and params.get("pca")):
        # CatBoost's ordered target statistics on the category codes.
        preprocessor = CategoryCodes(preprocessor, categories)
        params = {**(params or {}), "cat_features": categories}
    if params and params.get("pca"):
        preprocessor = with_pca(preprocessor, float(params["pca"]), seed=seed)
    model = learner.make(get_task(task), n_rows=n_rows, seed=seed, n_jobs=n_jobs, params=params)
    return Pipeline([("prep", preprocessor), ("model", model)])


class _DeadlineCallback:
    """Stops boosting when the search deadline passes (LightGBM and CatBoost),
    or when predicting the validation rows with the rounds so far
    (``predict_seconds_per_round`` each) would end after it."""

    order = 30  # LightGBM callback ordering

    def __init__(self, deadline: float | None, predict_seconds_per_round: float = 0.0) -> None:
        self.deadline = deadline
        self.per_round = predict_seconds_per_round

    def _late(self, rounds: int) -> bool:
        if self.deadline is None:
            return False
        return time.monotonic() + rounds * self.per_round > self.deadline

    def __call__(self, env: Any) -> None:  # LightGBM
        if self._late(env.iteration + 1):
            import lightgbm as lgb

            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    def after_iteration(self, info: Any) -> bool:  # CatBoost: False stops training
        return not self._late(info.iteration + 1)


def fit_pipeline(
    learner: Learner,
    schema: Schema,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    task: str,
    seed: int,
    params: Mapping[str, Any] | None = None,
    n_jobs: int = 1,
    X_val: pd.DataFrame | None = None,
    y_val: np.ndarray | None = None,
    deadline: float | None = None,
    n_classes: int | None = None,
    max_rounds: int | None = None,
) -> tuple[Pipeline, int | None]:
    """Fit preprocessing + learner; boosting early-stops on (X_val, y_val).

    ``max_rounds`` caps boosting below :data:`MAX_BOOSTING_ROUNDS` when the
    model's predictions after the search must stay fast (a large test set).

    For a task with classes, ``n_classes`` is the size of the whole class
    set: a model whose rows miss some classes still answers with one probability
    column per class (see :class:`ClassAlignedClassifier`).

    Returns:
        The fitted pipeline and, for boosting, the number of rounds used.
    """
    from sklearn.exceptions import ConvergenceWarning

    has_classes = get_task(task).has_classes
    params = dict(params or {})
    log_target = bool(params.pop("log_target", False))
    if log_target:
        y = np.log1p(y)
        y_val = None if y_val is None else np.log1p(y_val)
    if has_classes and X_val is not None and y_val is not None:
        X_val, y_val = _known_classes_only(y, X_val, y_val)
    early = learner.early_stopping and X_val is not None and y_val is not None
    max_rounds = max_rounds or MAX_BOOSTING_ROUNDS
    if early:
        params["n_estimators"] = max_rounds
    elif "n_estimators" in params:
        params["n_estimators"] = min(int(params["n_estimators"]), max_rounds)
    pipeline = build_pipeline(
        learner, schema, task=task, n_rows=len(X), seed=seed, n_jobs=n_jobs, params=params
    )
    prep, model = pipeline.named_steps["prep"], pipeline.named_steps["model"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*does not have valid feature names.*")
        features = prep.fit_transform(X, y)
        rounds: int | None = None
        if not learner.early_stopping:
            model.fit(features, y)
        else:
            validation = None
            if early:
                assert X_val is not None and y_val is not None
                validation = (prep.transform(X_val), y_val)
            # Scoring the fold comes after the fit, within the same deadline.
            per_round = 0.0 if X_val is None else len(X_val) * PREDICT_SECONDS_PER_TREE_ROW
            if learner.name == "lightgbm":
                rounds = fit_lightgbm(
                    model,
                    features,
                    y,
                    validation,
                    has_classes=has_classes,
                    deadline=deadline,
                    predict_seconds_per_round=per_round * trees_per_round(n_classes),
                )
            else:  # catboost: one tree a round whatever the classes
                rounds = _fit_catboost(
                    model,
                    features,
                    y,
                    validation,
                    deadline=deadline,
                    predict_seconds_per_round=per_round,
                )
    if log_target:
        pipeline.steps[-1] = ("model", LogTargetRegressor(model))
    elif has_classes:
        if n_classes and missing_classes(model, n_classes):
            pipeline.steps[-1] = ("model", ClassAlignedClassifier(model, n_classes))
        if vote_count(model) is not None:
            pipeline.steps[-1] = ("model", SmoothedClassifier.around(pipeline.steps[-1][1], y))
    return pipeline, rounds


def _known_classes_only(
    y: np.ndarray, X_val: pd.DataFrame, y_val: np.ndarray
) -> tuple[pd.DataFrame | None, np.ndarray | None]:
    """The validation rows of the classes present in ``y``; None when none is.

    Boosting cannot be evaluated on classes it has not seen (CatBoost refuses
    them): early stopping watches only these rows.
    """
    known = np.isin(y_val, np.unique(y))
    if not known.all():
        X_val, y_val = X_val.iloc[np.flatnonzero(known)], y_val[known]
    if not len(y_val):
        return None, None
    return X_val, y_val


def fit_lightgbm(
    model: Any,
    features: Any,
    y: np.ndarray,
    validation: tuple[Any, np.ndarray] | None,
    *,
    has_classes: bool,
    deadline: float | None,
    sample_weight: np.ndarray | None = None,
    predict_seconds_per_round: float = 0.0,
) -> int:
    """Fit a LightGBM model, early-stopping on ``validation`` when given;
    returns the rounds used."""
    import lightgbm as lgb

    callbacks: list[Any] = [_DeadlineCallback(deadline, predict_seconds_per_round)]
    fit_kwargs: dict[str, Any] = {}
    if sample_weight is not None:
        fit_kwargs["sample_weight"] = sample_weight
    if validation is not None:
        val_features, y_val = validation
        callbacks.append(lgb.early_stopping(_EARLY_STOPPING_ROUNDS, verbose=False))
        if "eval_X" in inspect.signature(model.fit).parameters:  # LightGBM >= 4.6
            watched = y_val
            if has_classes:
                # LGBMClassifier codes classes as their position among
                # the fitted ones but passes eval_y on uncoded: a fold
                # missing a class would hand the booster an out-of-range
                # label (a crash in native code).
                watched = np.searchsorted(np.unique(y), y_val)
            fit_kwargs.update(eval_X=(val_features,), eval_y=(watched,))
        else:
            fit_kwargs["eval_set"] = [(val_features, y_val)]
    model.fit(features, y, callbacks=callbacks, **fit_kwargs)
    best = getattr(model, "best_iteration_", None)
    return int(best) if best else int(model.n_estimators_)


def _fit_catboost(
    model: Any,
    features: Any,
    y: np.ndarray,
    validation: tuple[Any, np.ndarray] | None,
    *,
    deadline: float | None,
    predict_seconds_per_round: float = 0.0,
) -> int:
    """Fit a CatBoost model, early-stopping on ``validation`` when given;
    returns the rounds used."""
    fit_kwargs: dict[str, Any] = {
        "callbacks": [_DeadlineCallback(deadline, predict_seconds_per_round)]
    }
    if validation is not None:
        fit_kwargs["eval_set"] = validation
        fit_kwargs["early_stopping_rounds"] = _EARLY_STOPPING_ROUNDS
    model.fit(features, y, **fit_kwargs)
    best = model.get_best_iteration() if validation is not None else None
    return int(best) + 1 if best is not None else int(model.tree_count_)
