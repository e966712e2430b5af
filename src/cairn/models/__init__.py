"""Model families, the time-budgeted search over them, and the estimators
it produces (bags, ensembles, target wrappers).

Names load their module on first use: a fitted model unpickles through
``cairn.models.target`` and ``cairn.models.ensemble`` without the search.
The search itself is :func:`cairn.models.search.search` (``cairn.models.search``
is its package).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn._lazy import lazy_exports as _lazy_exports

__all__ = [
    "LEARNERS",
    "MAX_BOOSTING_ROUNDS",
    "BaggedModel",
    "ClassAlignedClassifier",
    "EnsembleModel",
    "FinalModel",
    "Learner",
    "LogTargetRegressor",
    "Params",
    "SearchResult",
    "choose_learners",
    "finalize",
    "fit_pipeline",
    "predict_output",
]

_LAZY = {
    "LEARNERS": "cairn.models.catalog",
    "MAX_BOOSTING_ROUNDS": "cairn.models.catalog",
    "Learner": "cairn.models.catalog",
    "Params": "cairn.models.catalog",
    "choose_learners": "cairn.models.catalog",
    "BaggedModel": "cairn.models.ensemble",
    "EnsembleModel": "cairn.models.ensemble",
    "ClassAlignedClassifier": "cairn.models.target",
    "LogTargetRegressor": "cairn.models.target",
    "FinalModel": "cairn.models.search",
    "SearchResult": "cairn.models.search",
    "finalize": "cairn.models.search",
    "fit_pipeline": "cairn.models.search",
    "predict_output": "cairn.models.search",
}

if TYPE_CHECKING:
    from cairn.models.catalog import (
        LEARNERS,
        MAX_BOOSTING_ROUNDS,
        Learner,
        Params,
        choose_learners,
    )
    from cairn.models.ensemble import BaggedModel, EnsembleModel
    from cairn.models.search import (
        FinalModel,
        SearchResult,
        finalize,
        fit_pipeline,
        predict_output,
    )
    from cairn.models.target import ClassAlignedClassifier, LogTargetRegressor


__getattr__, __dir__ = _lazy_exports("cairn.models", _LAZY, __all__)
