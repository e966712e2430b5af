"""Phase 2, feature selection: the columns the best default does without
(see :func:`cairn.features.selection.useless_features`) are dropped, and the
reduced feature set is scored as its own candidate; tuning uses it only if it
wins."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cairn.data.schema import Role, Schema
from cairn.features.selection import useless_features
from cairn.models.search._pipeline import predict_output
from cairn.models.search._results import Config
from cairn.models.search._state import SearchState

# Selection is tried only on schemas with at least this many feature columns.
_MIN_FEATURES = 5


def run_selection(state: SearchState) -> tuple[Schema | None, list[str]]:
    """Try the best default without its useless columns.

    Returns:
        The reduced schema when it scored better (else None), and the
        columns selection proposed to drop.
    """
    leader = state.ranked(complete_only=True)
    if not (
        leader
        and leader[0].fold_models
        and len(state.schema.feature_names) >= _MIN_FEATURES
        and state.left() > 2 * state.cv_seconds.get(leader[0].family, 0.0)
    ):
        return None, []
    best = leader[0]
    assert best.fold_models is not None
    state.progress(f"selecting features with {best.label}")

    def model_score(model: Any, X: pd.DataFrame, y: np.ndarray) -> float:
        return state.score(y, predict_output(model, X, state.task.name))

    dropped = useless_features(
        state.X,
        state.y,
        schema=best.config.schema or state.schema,
        folds=state.folds,
        fold_models=best.fold_models,
        model_score=model_score,
        sign=state.sign,
        seed=state.seed,
    )
    if not dropped:
        return None, dropped
    reduced = state.schema
    for name in dropped:
        reduced = reduced.with_role(name, Role.IGNORE, "dropped by feature selection")
    variant = state.evaluate(
        f"{best.family}+selected", Config(best.family, best.config.params, "selection", reduced)
    )
    if variant.status == "ok" and state.sign * variant.cv_mean > state.sign * best.cv_mean:
        return reduced, dropped
    return None, dropped
