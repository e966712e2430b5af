"""Reading interactions: ids, ratings, weights, times, duplicates, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cairn.exceptions import DataError
from cairn.models.recommendation import build_interactions
from tests.conftest import dataset_path


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return pd.read_csv(dataset_path("movielens_small_ratings"))


def _build(frame: pd.DataFrame, **options: object):  # type: ignore[no-untyped-def]
    options = {"user": "userId", "item": "movieId", **options}
    return build_interactions(frame, source="ratings.csv", **options)  # type: ignore[arg-type]


def test_movielens_reads_whole(ratings: pd.DataFrame) -> None:
    inter, findings = _build(ratings, rating="rating", time="timestamp")
    assert (inter.n_users, inter.n_items, len(inter)) == (610, 9724, 100836)
    assert inter.explicit and inter.relevance_threshold == 4.0
    assert inter.times is not None and inter.times.min() > 7e8  # seconds, 1996 on
    matrix = inter.matrix()
    assert matrix.shape == (610, 9724) and matrix.nnz == len(inter)
    assert [f.check for f in findings] == ["relevance"]
    # ids map back to the data
    first = ratings.iloc[0]
    row = np.flatnonzero(
        (inter.user_ids[inter.users] == first.userId)
        & (inter.item_ids[inter.items] == first.movieId)
    )
    assert inter.values[row[0]] == first.rating


def test_duplicate_pairs_are_aggregated_and_said(ratings: pd.DataFrame) -> None:
    sample = ratings[ratings.userId <= 20]
    twice = pd.concat([sample, sample.assign(rating=1.0, timestamp=sample.timestamp + 10)])
    inter, findings = _build(twice, rating="rating", time="timestamp")
    assert len(inter) == len(sample)
    assert (inter.values == 1.0).all()  # the latest rating is kept
    duplicate = next(f for f in findings if f.check == "duplicate_interactions")
    assert duplicate.count == len(sample) and "latest rating" in duplicate.action
    events, _ = _build(pd.concat([sample, sample]))  # implicit: counted
    assert len(events) == len(sample) and (events.values == 2.0).all()


def test_missing_column_names_the_close_one(ratings: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"user column 'user_id' not found in ratings.csv.*userId"):
        _build(ratings, user="user_id")
    with pytest.raises(DataError, match=r"problem\.item"):
        _build(ratings, item="movie")


def test_single_user_and_single_item_are_errors(ratings: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="1 user"):
        _build(ratings[ratings.userId == 1], rating="rating")
    with pytest.raises(DataError, match="1 item"):
        _build(ratings[ratings.movieId == 1], rating="rating")


def test_ratings_outside_the_scale_name_the_row(ratings: pd.DataFrame) -> None:
    bad = ratings.head(50).copy()
    bad.loc[7, "rating"] = 11.0
    with pytest.raises(DataError, match=r"1 rating\(s\).*outside.*row 8.*11\.0"):
        _build(bad, rating="rating", rating_scale=(0.5, 5.0))


def test_text_in_ratings_and_bad_times_are_errors(ratings: pd.DataFrame) -> None:
    bad = ratings.head(300).astype({"rating": object, "timestamp": object})
    bad.loc[3, "rating"] = "five"
    with pytest.raises(DataError, match=r"not numbers, first at row 4: 'five'"):
        _build(bad, rating="rating")
    bad.loc[3, "rating"] = 5.0
    bad.loc[5, "timestamp"] = "yesterday"
    with pytest.raises(DataError, match=r"time column 'timestamp'.*row 6"):
        _build(bad, rating="rating", time="timestamp")


def test_missing_ids_dropped_with_a_finding(ratings: pd.DataFrame) -> None:
    frame = ratings.head(300).astype({"userId": object})
    frame.loc[0, "userId"] = "NA"
    frame.loc[1, "movieId"] = np.nan
    inter, findings = _build(frame, rating="rating")
    assert len(inter) == 298
    assert next(f for f in findings if f.check == "missing_ids").count == 2
    assert inter.item_ids.dtype.kind == "i"  # 1.0 read back as 1


def test_weights_and_dates(ratings: pd.DataFrame) -> None:
    frame = ratings.head(300).assign(
        plays=lambda f: (f.rating * 2).astype(int),
        when=lambda f: pd.to_datetime(f.timestamp, unit="s").dt.strftime("%Y-%m-%d %H:%M:%S"),
    )
    frame.loc[0, "plays"] = 0
    inter, _ = _build(frame, weight="plays", time="when")
    assert len(inter) == 299 and not inter.explicit and inter.relevance_threshold is None
    assert abs(int(inter.times.max()) - int(frame.timestamp.max())) <= 1  # type: ignore[union-attr]
    frame.loc[2, "plays"] = -3
    with pytest.raises(DataError, match="negative weight"):
        _build(frame, weight="plays")


def test_relevance_threshold_options(ratings: pd.DataFrame) -> None:
    sample = ratings.head(500)
    assert _build(sample, rating="rating", relevance_threshold="all")[0].relevant_mask().all()
    inter, _ = _build(sample, rating="rating", relevance_threshold=3.5)
    assert inter.relevant_mask().sum() == (sample.rating >= 3.5).sum()
    with pytest.raises(DataError, match="reaches"):
        _build(sample, rating="rating", relevance_threshold=9.0)
