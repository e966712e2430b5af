"""Tests for cairn.features.selection and cairn.features.pca."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from cairn.data.schema import infer_schema
from cairn.features import build_preprocessor, useless_features, with_pca
from tests.conftest import load_dataset


def _auc(model: Any, X: pd.DataFrame, y: np.ndarray) -> float:
    return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))


def _banknote_with_noise() -> tuple[pd.DataFrame, np.ndarray, Any]:
    frame = load_dataset("banknote")
    target = frame.columns[-1]
    rng = np.random.default_rng(0)
    frame = frame.assign(
        noise=rng.normal(size=len(frame)),
        copy_of_first=frame[frame.columns[0]] * 2.0 + 1.0,
    )
    schema = infer_schema(frame, target=target)
    X = frame.drop(columns=[target])
    y = frame[target].to_numpy(dtype=int)
    return X, y, schema


def test_useless_features_drops_noise_and_duplicates() -> None:
    X, y, schema = _banknote_with_noise()
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    models = [
        Pipeline(
            [("prep", build_preprocessor(schema, scale=True)), ("model", LogisticRegression())]
        ).fit(X.iloc[fit], y[fit])
        for fit, _ in folds
    ]
    kwargs: dict[str, Any] = dict(
        schema=schema, folds=folds, fold_models=models, model_score=_auc, sign=1.0, seed=0
    )
    dropped = useless_features(X, y, **kwargs)
    assert "noise" in dropped
    assert "copy_of_first" in dropped
    assert X.columns[0] not in dropped  # the earlier of two duplicates stays
    assert dropped == useless_features(X, y, **kwargs)  # seeded: same answer


def test_useless_features_never_drops_every_column() -> None:
    X, y, schema = _banknote_with_noise()
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))

    class Constant:
        def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
            return np.full((len(X), 2), 0.5)

    dropped = useless_features(
        X,
        y,
        schema=schema,
        folds=folds,
        fold_models=[Constant()] * len(folds),
        model_score=_auc,
        sign=1.0,
        seed=0,
    )
    assert dropped == []


def test_with_pca_keeps_the_variance_share() -> None:
    X, y, schema = _banknote_with_noise()
    prep = with_pca(build_preprocessor(schema, scale=True), 0.95, seed=0).fit(X, y)
    projected = prep.transform(X)
    pca = prep.named_steps["pca"]
    assert projected.shape == (len(X), pca.n_components_)
    assert pca.explained_variance_ratio_.sum() >= 0.95
    assert pca.n_components_ < build_preprocessor(schema, scale=True).fit_transform(X, y).shape[1]
