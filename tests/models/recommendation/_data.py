"""MovieLens interactions for the recommendation model tests: a 150-user
subsample, split per user at random (every held-out rating relevant)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cairn.models.recommendation import (
    Interactions,
    InteractionSplit,
    build_interactions,
    random_user_split,
)
from tests.conftest import load_dataset


def movielens(n_users: int = 150) -> Interactions:
    """The first ``n_users`` users' ratings."""
    frame = load_dataset("movielens_small_ratings")
    frame = frame[frame["userId"].isin(np.sort(frame["userId"].unique())[:n_users])]
    inter, _ = build_interactions(
        frame,
        user="userId",
        item="movieId",
        rating="rating",
        time="timestamp",
        relevance_threshold="all",
    )
    return inter


def movies() -> pd.DataFrame:
    return load_dataset("movielens_small_movies").set_index("movieId")[["title", "genres"]]


def holdout(inter: Interactions, share: float, seed: int = 0) -> tuple[Interactions, Interactions]:
    """A random ``share`` of each user's interactions held out."""
    return random_user_split(inter, ratio=1 - share, seed=seed)


def split(n_users: int = 150) -> InteractionSplit:
    """75 % train / 25 % test per user; validation a fifth of the train."""
    train, test = holdout(movielens(n_users), 0.25)
    fit, validation = holdout(train, 0.2, seed=1)
    return InteractionSplit(fit, validation, test, "random")
