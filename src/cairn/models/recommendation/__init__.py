"""Recommendation: interactions, their split, and the recommender search.

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
from cairn.models.recommendation._catalogue import item_text_series
from cairn.models.recommendation._interactions import (
    AUTO_RELEVANCE_SHARE,
    Interactions,
    build_interactions,
)
from cairn.models.recommendation._search import RecommenderSearch, Trial, search_recommenders
from cairn.models.recommendation._split import (
    SPLIT_STRATEGIES,
    InteractionSplit,
    random_user_split,
    split_interactions,
)

__all__ = [
    "ALGORITHMS",
    "AUTO_RELEVANCE_SHARE",
    "DEFAULT_PARAMS",
    "EASE_MAX_ITEMS",
    "SPLIT_STRATEGIES",
    "Fitted",
    "InteractionSplit",
    "Interactions",
    "RecommenderSearch",
    "Trial",
    "build_interactions",
    "fit_algorithm",
    "item_text_series",
    "random_user_split",
    "search_recommenders",
    "split_interactions",
]
