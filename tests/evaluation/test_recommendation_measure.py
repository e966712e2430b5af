"""The recommendation run's measurements on real lists: intervals over
users, the paired margin, curves and activity segments."""

from __future__ import annotations

import numpy as np

from cairn.evaluation._recommendation_measure import (
    ACTIVITY_SEGMENTS,
    activity_segment,
    bootstrap_means,
    metric_curves,
    paired_margin,
    segment_table,
)
from cairn.tasks.ranking import per_user_metrics, top_k
from tests.conftest import movielens


def _popularity_lists() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each of 150 users' last fifth of ratings held out; the 50 most rated
    movies of the rest recommended, what the user rated left out."""
    ratings, _ = movielens(users=150, seed=7)
    ratings = ratings.sort_values(["userId", "timestamp"])
    position = ratings.groupby("userId").cumcount()
    size = ratings.groupby("userId")["movieId"].transform("size")
    held = position >= (size * 0.8).astype(int)
    items = {m: i for i, m in enumerate(ratings["movieId"].unique())}
    users = {u: i for i, u in enumerate(ratings["userId"].unique())}
    train, test = ratings[~held], ratings[held & (ratings["rating"] >= 4)]
    counts = np.bincount(train["movieId"].map(items), minlength=len(items)).astype(float)

    def rows(frame):
        pairs = sorted(
            {(users[u], items[m]) for u, m in zip(frame["userId"], frame["movieId"], strict=True)}
        )
        indptr = np.searchsorted([p[0] for p in pairs], np.arange(len(users) + 1))
        return indptr, np.asarray([p[1] for p in pairs], dtype=np.int64)

    seen = rows(train)
    lists = top_k(np.tile(counts, (len(users), 1)), 50, seen)
    indptr, indices = rows(test)
    keep = np.diff(indptr) > 0
    kept = np.flatnonzero(keep)
    sub_indptr = np.concatenate([[0], np.cumsum(np.diff(indptr)[keep])])
    sub_indices = np.concatenate([indices[indptr[u] : indptr[u + 1]] for u in kept])
    activity = np.diff(seen[0])[kept]
    return lists[kept], sub_indptr, sub_indices, activity


def test_intervals_hold_the_mean_and_narrow_with_more_users() -> None:
    lists, indptr, indices, _ = _popularity_lists()
    values = per_user_metrics(lists, indptr, indices, k=10)
    spread = bootstrap_means({"ndcg": values["ndcg"], "recall": values["recall"]}, seed=1)
    for name in ("ndcg", "recall"):
        assert spread[name].low < spread[name].value < spread[name].high
        assert np.isclose(spread[name].value, np.mean(values[name]))
    # Every user counted four times: the interval about half as wide.
    doubled = bootstrap_means({"ndcg": np.tile(values["ndcg"], 4)}, seed=1)["ndcg"]
    width = spread["ndcg"].high - spread["ndcg"].low
    assert 0.35 < (doubled.high - doubled.low) / width < 0.65
    # Same seed, same interval.
    again = bootstrap_means({"ndcg": values["ndcg"], "recall": values["recall"]}, seed=1)
    assert again["ndcg"] == spread["ndcg"]


def test_the_paired_margin_of_a_model_with_itself_is_zero_and_sees_a_real_gap() -> None:
    lists, indptr, indices, _ = _popularity_lists()
    best = per_user_metrics(lists, indptr, indices, k=10)["ndcg"]
    same = paired_margin(best, best)
    assert same.value == same.low == same.high == 0.0
    # The 41st to 50th most popular movies instead of the 10 most popular.
    shifted = per_user_metrics(lists[:, 40:], indptr, indices, k=10)["ndcg"]
    gap = paired_margin(best, shifted)
    assert gap.low > 0 and gap.low < gap.value < gap.high


def test_curves_run_to_fifty_and_recall_never_falls() -> None:
    lists, indptr, indices, _ = _popularity_lists()
    curves = metric_curves(lists, indptr, indices)
    assert all(len(values) == 50 for values in curves.values())
    assert np.all(np.diff(curves["recall"]) >= -1e-12)
    assert np.all(np.diff(curves["hit_rate"]) >= -1e-12)
    direct = per_user_metrics(lists, indptr, indices, k=10)["precision"].mean()
    assert np.isclose(curves["precision"][9], direct)


def test_segments_cover_every_user_once_with_stated_bounds() -> None:
    lists, indptr, indices, activity = _popularity_lists()
    names = activity_segment(np.asarray([0, 4, 5, 49, 50, 900]))
    assert list(names) == ["cold", "cold", "light", "light", "heavy", "heavy"]
    assert [s[0] for s in ACTIVITY_SEGMENTS] == ["cold", "light", "heavy"]
    values = per_user_metrics(lists, indptr, indices, k=10)
    rows = segment_table(
        {"ndcg": values["ndcg"], "precision": values["precision"]},
        activity_segment(activity),
        k=10,
    )
    assert sum(r["users"] for r in rows) == len(activity)
    for row in rows:
        if row["users"]:
            assert row["low"] <= row["ndcg@10"] <= row["high"]
            assert "interactions in training" in row["rule"]
