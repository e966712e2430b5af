"""Train, validation and test parts of interactions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cairn.exceptions import DataError
from cairn.models.recommendation import (
    Interactions,
    build_interactions,
    random_user_split,
    split_interactions,
)
from tests.conftest import dataset_path


@pytest.fixture(scope="module")
def inter() -> Interactions:
    frame = pd.read_csv(dataset_path("movielens_small_ratings"))
    frame = frame[frame.userId % 3 == 0]
    return build_interactions(
        frame, user="userId", item="movieId", rating="rating", time="timestamp"
    )[0]


def _pairs(part: Interactions) -> set[tuple[int, int]]:
    return set(zip(part.users.tolist(), part.items.tolist(), strict=True))


def test_parts_partition_the_interactions(inter: Interactions) -> None:
    split = split_interactions(inter, seed=1)
    parts = [_pairs(split.train), _pairs(split.validation), _pairs(split.test)]
    assert sum(len(p) for p in parts) == len(inter)
    assert not (parts[0] & parts[2]) and not (parts[1] & parts[2]) and not (parts[0] & parts[1])
    assert split.strategy == "time_last_n"
    assert split.counts["test_users_with_history"] == split.counts["test_users"]
    assert len(split.train_and_validation) == len(split.train) + len(split.validation)


def test_time_last_n_holds_out_each_users_latest(inter: Interactions) -> None:
    split = split_interactions(inter, strategy="time_last_n", last_n=3)
    assert split.test.times is not None and split.train.times is not None
    assert (split.test.per_user()[split.test.users_present()] <= 3).all()
    latest_train = np.zeros(inter.n_users)
    np.maximum.at(latest_train, split.train.users, split.train.times)
    assert (split.test.times >= latest_train[split.test.users]).all()


def test_random_split_share_and_seed(inter: Interactions) -> None:
    first = split_interactions(inter, strategy="random", test_size=0.2, seed=3)
    again = split_interactions(inter, strategy="random", test_size=0.2, seed=3)
    assert _pairs(first.test) == _pairs(again.test)
    assert len(first.test) / len(inter) == pytest.approx(0.2, abs=0.02)


def test_time_global_counts_cold_users(inter: Interactions) -> None:
    split = split_interactions(inter, strategy="time_global", test_size=0.3)
    assert split.cut_time is not None
    assert split.test.times is not None and (split.test.times > split.cut_time).all()
    assert split.counts["cold_test_users"] > 0


def test_no_overlap_between_train_and_test_users_is_an_error(inter: Interactions) -> None:
    # every user's interactions in one instant: the global cut separates users
    by_user = inter.times.copy()  # type: ignore[union-attr]
    by_user[:] = inter.users.astype(np.int64) * 1000
    stamped = Interactions(**{**inter.__dict__, "times": by_user})
    with pytest.raises(DataError, match="no user in the test part"):
        split_interactions(stamped, strategy="time_global")


def test_users_with_too_few_interactions_stay_in_training(inter: Interactions) -> None:
    split = split_interactions(inter, min_user_interactions=40)
    small = inter.per_user() < 40
    assert not small[split.test.users].any()
    assert split.counts["train_only_users"] == int(small.sum())
    with pytest.raises(DataError, match="min_user_interactions"):
        split_interactions(inter, min_user_interactions=100_000)


def test_microsoft_protocol_split(inter: Interactions) -> None:
    train, test = random_user_split(inter, ratio=0.75, seed=0)
    per_user = inter.per_user()
    assert (train.per_user() == np.round(0.75 * per_user)).all()
    assert len(train) + len(test) == len(inter)
