"""Recommendation: top-k items per user from interactions.

:func:`search_recommenders` scores popularity, item-kNN, EASE, implicit's
ALS and BPR and a TF-IDF content model on the validation interactions, tunes
them with Optuna under a time budget and blends the best; its result's
:meth:`~RecommenderSearch.fit` refits the choice as a numpy-only
:class:`cairn.bundle.Recommender`.
"""

from __future__ import annotations

from cairn.models.recommendation._algorithms import (
    ALGORITHMS,
    DEFAULT_PARAMS,
    EASE_MAX_ITEMS,
    Fitted,
    fit_algorithm,
)
from cairn.models.recommendation._search import (
    RecommenderSearch,
    Trial,
    item_text_series,
    search_recommenders,
)

__all__ = [
    "ALGORITHMS",
    "DEFAULT_PARAMS",
    "EASE_MAX_ITEMS",
    "Fitted",
    "RecommenderSearch",
    "Trial",
    "fit_algorithm",
    "item_text_series",
    "search_recommenders",
]
