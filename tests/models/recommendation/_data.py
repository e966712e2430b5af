"""MovieLens interactions for the recommendation model tests: a 150-user
subsample as a users × items matrix, and a per-user random holdout."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tests.conftest import load_dataset


@dataclass
class Interactions:
    """The part of cairn's interactions the search reads (id maps, a
    users × items matrix, which interactions are relevant)."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    threshold: float | None = None

    def matrix(self, mask: np.ndarray | None = None) -> sp.csr_matrix:
        keep = np.ones(len(self.users), dtype=bool) if mask is None else mask
        return sp.csr_matrix(
            (self.values[keep], (self.users[keep], self.items[keep])),
            shape=(len(self.user_ids), len(self.item_ids)),
        )

    def relevant_mask(self) -> np.ndarray:
        if self.threshold is None:
            return np.ones(len(self.users), dtype=bool)
        return self.values >= self.threshold

    def subset(self, mask: np.ndarray) -> Interactions:
        return Interactions(
            self.user_ids,
            self.item_ids,
            self.users[mask],
            self.items[mask],
            self.values[mask],
            self.threshold,
        )


@dataclass
class Split:
    train: Interactions
    validation: Interactions
    test: Interactions


def movielens(n_users: int = 150) -> Interactions:
    """The first ``n_users`` users' ratings."""
    frame = load_dataset("movielens_small_ratings")
    frame = frame[frame["userId"].isin(np.sort(frame["userId"].unique())[:n_users])]
    user_ids, users = np.unique(frame["userId"].to_numpy(), return_inverse=True)
    item_ids, items = np.unique(frame["movieId"].to_numpy(), return_inverse=True)
    return Interactions(
        user_ids,
        item_ids,
        users.astype(np.int32),
        items.astype(np.int32),
        frame["rating"].to_numpy(np.float32),
    )


def movies() -> pd.DataFrame:
    return load_dataset("movielens_small_movies").set_index("movieId")[["title", "genres"]]


def holdout(inter: Interactions, share: float, seed: int = 0) -> tuple[Interactions, Interactions]:
    """A random ``share`` of each user's interactions held out."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(inter.users)), inter.users))
    counts = np.bincount(inter.users, minlength=len(inter.user_ids))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.repeat(starts, counts)
    kept = rank < np.round((1 - share) * counts[inter.users])
    return inter.subset(kept), inter.subset(~kept)


def split(n_users: int = 150) -> Split:
    """75 % train / 25 % test per user; validation a fifth of the train."""
    train, test = holdout(movielens(n_users), 0.25)
    fit, validation = holdout(train, 0.2, seed=1)
    return Split(fit, validation, test)
