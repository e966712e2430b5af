"""Holding interactions out: train, validation and test parts for a recommender.

Strategies (``recommendation.split``):

``time_last_n``
    each user's latest interactions are held out: ``last_n`` of them, or the
    ``test_size`` share (at least one). The default with a time column: it
    asks the question a deployed recommender answers, "what next?".
``time_global``
    everything after one cut-off time (the ``1 - test_size`` quantile of the
    interaction times) is held out; users first seen after it are cold.
``random``
    a random ``test_size`` share of each user's interactions (at least one);
    the default without a time column.

Every part keeps the id maps. A user needs ``min_user_interactions`` to
have any held out, and always keeps at least one in training; the others
stay in training only and are counted. Validation is carved from the
training part the same way, for the search to choose on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cairn.exceptions import DataError
from cairn.models.recommendation._interactions import Interactions

__all__ = ["SPLIT_STRATEGIES", "InteractionSplit", "random_user_split", "split_interactions"]

SPLIT_STRATEGIES: tuple[str, ...] = ("time_last_n", "time_global", "random")


@dataclass
class InteractionSplit:
    """Three parts of one set of interactions, over the same id maps.

    Attributes:
        train: what the search fits on.
        validation: what the search chooses on (carved from the training
            part; may be empty when no user has enough interactions).
        test: what the final model is judged on.
        strategy: the strategy applied ("time_last_n", "time_global", "random").
        counts: users and interactions in each part, users kept in training
            only, cold test users (no training interaction), and so on.
        cut_time: the cut-off (epoch seconds) of a time_global split.
    """

    train: Interactions
    validation: Interactions
    test: Interactions
    strategy: str
    counts: dict[str, int] = field(default_factory=dict)
    cut_time: float | None = None

    @property
    def train_and_validation(self) -> Interactions:
        """Training and validation together: what the final model is refit on."""
        return _merge(self.train, self.validation)


def _merge(first: Interactions, second: Interactions) -> Interactions:
    times = None
    if first.times is not None and second.times is not None:
        times = np.concatenate([first.times, second.times])
    return Interactions(
        user_ids=first.user_ids,
        item_ids=first.item_ids,
        users=np.concatenate([first.users, second.users]),
        items=np.concatenate([first.items, second.items]),
        values=np.concatenate([first.values, second.values]),
        times=times,
        explicit=first.explicit,
        relevance_threshold=first.relevance_threshold,
        rating_scale=first.rating_scale,
    )


def _per_user_order(inter: Interactions, *, by_time: bool, seed: int) -> np.ndarray:
    """Each interaction's position within its user's interactions, 0 =
    earliest (by time) or first of a random shuffle."""
    n = len(inter)
    if by_time:
        assert inter.times is not None
        # Ties in time keep the table's order.
        order = np.lexsort((np.arange(n), inter.times, inter.users))
    else:
        keys = np.random.default_rng(seed).random(n)
        order = np.lexsort((keys, inter.users))
    users = inter.users[order]
    starts = np.searchsorted(users, users, side="left")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts
    return rank


def _holdout_mask(
    inter: Interactions,
    strategy: str,
    *,
    share: float,
    last_n: int | None,
    min_user_interactions: int,
    seed: int,
) -> tuple[np.ndarray, float | None]:
    """Which interactions are held out, and a time_global split's cut-off."""
    if strategy == "time_global":
        assert inter.times is not None
        cut = float(np.quantile(inter.times, 1.0 - share))
        return np.asarray(inter.times > cut), cut
    per_user = inter.per_user()
    n_user = per_user[inter.users]
    if last_n is not None:
        n_out = np.full(inter.n_users, last_n)
    else:
        n_out = np.maximum(1, np.round(share * per_user)).astype(np.int64)
    # At least one interaction stays in training; small users stay whole.
    n_out = np.minimum(n_out, np.maximum(per_user - 1, 0))
    n_out[per_user < min_user_interactions] = 0
    rank = _per_user_order(inter, by_time=strategy == "time_last_n", seed=seed)
    return np.asarray(rank >= n_user - n_out[inter.users]), None


def split_interactions(
    inter: Interactions,
    *,
    strategy: str = "auto",
    test_size: float = 0.2,
    last_n: int | None = None,
    min_user_interactions: int = 2,
    seed: int = 0,
) -> InteractionSplit:
    """Train, validation and test parts; see the module docstring.

    Raises:
        DataError: a time strategy without times, nothing left to hold out
            (too few interactions per user), or no test user with any
            training interaction (nothing to judge personalised lists on).
    """
    if strategy == "auto":
        strategy = "time_last_n" if inter.times is not None else "random"
    if strategy not in SPLIT_STRATEGIES:
        raise DataError(
            f"unknown split strategy {strategy!r}; use one of auto, {', '.join(SPLIT_STRATEGIES)}"
        )
    if strategy.startswith("time_") and inter.times is None:
        raise DataError(f"split {strategy!r} needs a time column: set data.time_column")
    held, cut = _holdout_mask(
        inter,
        strategy,
        share=test_size,
        last_n=last_n,
        min_user_interactions=min_user_interactions,
        seed=seed,
    )
    if not held.any():
        raise DataError(
            f"no interaction can be held out for testing: every user has fewer than "
            f"{max(min_user_interactions, 2)} interactions; collect more, or lower "
            "recommendation.min_user_interactions"
        )
    test, rest = inter.subset(held), inter.subset(~held)
    # Validation: the share of what is left that matches the test part's size.
    share = min(0.5, test_size / (1.0 - test_size))
    in_validation, _ = _holdout_mask(
        rest,
        strategy,
        share=share,
        last_n=last_n,
        min_user_interactions=min_user_interactions,
        seed=seed + 1,
    )
    train, validation = rest.subset(~in_validation), rest.subset(in_validation)
    counts = _counts(inter, train, validation, test, min_user_interactions)
    if not counts["test_users_with_history"]:
        raise DataError(
            f"no user in the test part ({counts['test_users']} users) has interactions in the "
            f"training part, so no personalised list can be judged ({strategy} split); use "
            "recommendation.split = 'time_last_n' or 'random'"
        )
    return InteractionSplit(train, validation, test, strategy, counts, cut)


def _counts(
    inter: Interactions,
    train: Interactions,
    validation: Interactions,
    test: Interactions,
    min_user_interactions: int,
) -> dict[str, int]:
    in_train = np.zeros(inter.n_users, dtype=bool)
    in_train[train.users] = True
    test_users = test.users_present()
    return {
        "users": int(len(inter.users_present())),
        "items": int(inter.n_items),
        "interactions": len(inter),
        "train_interactions": len(train),
        "validation_interactions": len(validation),
        "test_interactions": len(test),
        "train_users": int(in_train.sum()),
        "validation_users": int(len(validation.users_present())),
        "test_users": int(len(test_users)),
        "test_users_with_history": int(in_train[test_users].sum()),
        "cold_test_users": int((~in_train[test_users]).sum()),
        "train_only_users": int((inter.per_user() < min_user_interactions).sum()),
        "test_items_unseen_in_train": int(
            len(np.setdiff1d(np.unique(test.items), np.unique(train.items)))
        ),
    }


def random_user_split(
    inter: Interactions, *, ratio: float = 0.75, seed: int = 0
) -> tuple[Interactions, Interactions]:
    """Microsoft Recommenders' stratified split: each user's interactions
    shuffled, the first ``round(ratio × n)`` to training, the rest to testing.

    Returns:
        (train, test) over the same id maps.
    """
    if not 0.0 < ratio < 1.0:
        raise DataError(f"ratio must lie between 0 and 1, got {ratio}")
    per_user = inter.per_user()
    n_train = np.round(ratio * per_user).astype(np.int64)
    rank = _per_user_order(inter, by_time=False, seed=seed)
    in_train = rank < n_train[inter.users]
    return inter.subset(in_train), inter.subset(~in_train)
