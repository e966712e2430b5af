"""Recommendation: interactions, their split, and the recommender search."""

from __future__ import annotations

from cairn.models.recommendation._interactions import (
    AUTO_RELEVANCE_SHARE,
    Interactions,
    build_interactions,
)
from cairn.models.recommendation._split import (
    SPLIT_STRATEGIES,
    InteractionSplit,
    random_user_split,
    split_interactions,
)

__all__ = [
    "AUTO_RELEVANCE_SHARE",
    "SPLIT_STRATEGIES",
    "InteractionSplit",
    "Interactions",
    "build_interactions",
    "random_user_split",
    "split_interactions",
]
