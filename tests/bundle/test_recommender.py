"""The numpy-only recommendation artifact: scoring, fallbacks, ids and storage,
on a subsample of the MovieLens ratings."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cairn.bundle import RecommendationList, Recommender, ScoringComponent
from cairn.bundle._recommender import standardise_scores
from tests.conftest import load_dataset


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    frame = load_dataset("movielens_small_ratings")
    users = np.sort(frame["userId"].unique())[:150]
    frame = frame[frame["userId"].isin(users)]
    # Items rated by at least three of them keep the hand-built matrices small.
    counts = frame["movieId"].value_counts()
    return frame[frame["movieId"].isin(counts.index[counts >= 3])].reset_index(drop=True)


def _history(ratings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    user_ids, users = np.unique(ratings["userId"].to_numpy(), return_inverse=True)
    item_ids, items = np.unique(ratings["movieId"].to_numpy(), return_inverse=True)
    dense = np.zeros((len(user_ids), len(item_ids)), dtype=np.float64)
    dense[users, items] = 1.0
    return user_ids, item_ids, dense, items


def _csr(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(dense)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=dense.shape[0]))])
    return indptr, cols, dense[rows, cols]


def _build(ratings: pd.DataFrame, kinds: tuple[str, ...] = ("item_item",)) -> Recommender:
    """A recommender whose components are computed here by hand: co-occurrence
    counts (top 30 per item), random factors, popularity."""
    user_ids, item_ids, dense, _ = _history(ratings)
    indptr, indices, _ = _csr(dense)
    components = []
    if "item_item" in kinds:
        co = dense.T @ dense
        np.fill_diagonal(co, 0.0)
        keep = np.argsort(-co, axis=1)[:, :30]
        pruned = np.zeros_like(co)
        np.put_along_axis(pruned, keep, np.take_along_axis(co, keep, axis=1), axis=1)
        components.append(
            ScoringComponent("item_item", "cooccurrence", 0.7, *(None, None), *_csr(pruned))
        )
    if "factors" in kinds:
        rng = np.random.default_rng(0)
        components.append(
            ScoringComponent(
                "factors",
                "random",
                0.3,
                user_factors=rng.normal(size=(len(user_ids), 8)).astype(np.float32),
                item_factors=rng.normal(size=(len(item_ids), 8)).astype(np.float32),
            )
        )
    if "popularity" in kinds:
        components.append(ScoringComponent("popularity", "popularity", 0.1))
    return Recommender(
        user_ids, item_ids, indptr, indices, dense.sum(axis=0), components, {"model": "test"}
    )


def test_item_item_scores_are_the_sum_of_seen_rows(ratings: pd.DataFrame) -> None:
    model = _build(ratings)
    _, _, dense, _ = _history(ratings)
    component = model.components[0]
    matrix = np.zeros((model.n_items, model.n_items))
    rows = np.repeat(np.arange(model.n_items), np.diff(component.indptr))
    matrix[rows, component.indices] = component.data
    np.testing.assert_allclose(model.scores(np.arange(20)), 0.7 * dense[:20] @ matrix, rtol=1e-6)


def test_blend_adds_standardised_components_with_their_weights(ratings: pd.DataFrame) -> None:
    model = _build(ratings, ("item_item", "factors", "popularity"))
    users = np.array([0, 5, 9])
    expected = sum(
        c.weight * standardise_scores(model.component_scores(c, users)) for c in model.components
    )
    np.testing.assert_allclose(model.scores(users), expected)
    standardised = standardise_scores(model.component_scores(model.components[1], users))
    np.testing.assert_allclose(standardised.mean(axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(standardised.std(axis=1), 1.0, atol=1e-9)


def test_round_trip_through_files_gives_the_same_lists(ratings: pd.DataFrame) -> None:
    model = _build(ratings, ("item_item", "factors", "popularity"))
    files = model.to_files()
    assert set(files) == {"recommender.npz", "recommender.json"}
    loaded = Recommender.from_files(files.__getitem__)
    users = np.arange(model.n_users)
    before, before_scores = model.recommend_many(users, 10)
    after, after_scores = loaded.recommend_many(users, 10)
    np.testing.assert_array_equal(before, after)
    np.testing.assert_allclose(before_scores, after_scores)
    assert [c.weight for c in loaded.components] == [0.7, 0.3, 0.1]
    assert loaded.description == {"model": "test"}
    np.testing.assert_array_equal(loaded.item_ids, model.item_ids)


def test_recommend_matches_recommend_many_and_excludes_seen(ratings: pd.DataFrame) -> None:
    model = _build(ratings)
    user = int(model.user_ids[3])
    listed = model.recommend(user, k=10)
    indices, scores = model.recommend_many(np.array([3]), 10)
    assert listed.fallback is None
    assert listed.items == [int(model.item_ids[i]) for i in indices[0]]
    np.testing.assert_allclose(listed.scores, scores[0])
    assert listed.scores == sorted(listed.scores, reverse=True)
    seen = set(model.seen(user))
    assert seen and not seen & set(listed.items)
    # Co-occurrence scores the user's own items highest: without the
    # exclusion they fill the list.
    with_seen = model.recommend(user, k=10, exclude_seen=False)
    assert set(with_seen.items) & seen


def test_exclude_drops_the_given_items_and_names_unknown_ones(ratings: pd.DataFrame) -> None:
    model = _build(ratings)
    user = int(model.user_ids[3])
    first = model.recommend(user, k=5)
    again = model.recommend(user, k=5, exclude=[first.items[0], str(first.items[1])])
    assert first.items[0] not in again.items and first.items[1] not in again.items
    assert again.items[:3] == first.items[2:5]
    with pytest.raises(KeyError, match="99999999"):
        model.recommend(user, k=5, exclude=[99999999])


def test_unknown_user_gets_the_most_popular_items(ratings: pd.DataFrame) -> None:
    model = _build(ratings)
    listed = model.recommend(-12345, k=10)
    assert listed.fallback == "popularity"
    counts = ratings["movieId"].value_counts()
    assert set(listed.items) <= set(counts.index[counts >= counts.iloc[9]])
    assert model.seen(-12345) == []
    assert model.recommend("no such user", k=3).fallback == "popularity"


def test_ids_are_found_as_int_or_str(ratings: pd.DataFrame) -> None:
    model = _build(ratings)
    user = int(model.user_ids[7])
    assert model.user_index(user) == 7
    assert model.user_index(str(user)) == 7
    assert model.user_index(np.int32(user)) == 7
    assert model.user_index(float(user)) == 7
    assert model.user_index("7x") is None
    assert model.recommend(str(user), k=5) == model.recommend(user, k=5)
    item = int(model.item_ids[11])
    assert model.item_index(str(item)) == model.item_index(item) == 11


def test_string_ids_survive_storage(ratings: pd.DataFrame) -> None:
    model = _build(ratings)
    named = Recommender(
        np.array([f"u{v}" for v in model.user_ids], dtype=object),
        model.item_ids.astype(str),
        model._seen_indptr,
        model._seen_indices,
        model.popularity,
        model.components,
    )
    loaded = Recommender.from_files(named.to_files().__getitem__)
    user = f"u{model.user_ids[2]}"
    assert loaded.user_index(user) == 2
    # stripped as the interactions' ids were when read
    assert loaded.user_index(f"  {user} ") == 2
    assert loaded.recommend(user, k=5).items == [
        str(i) for i in model.recommend(int(model.user_ids[2]), k=5).items
    ]
    assert loaded.item_index(int(model.item_ids[4])) == 4


def test_similar_items_and_unknown_item(ratings: pd.DataFrame) -> None:
    model = _build(ratings)
    item = int(model.item_ids[model.popularity.argmax()])
    similar = model.similar_items(item, k=10)
    assert similar.fallback is None and len(similar.items) == 10
    assert item not in similar.items
    row = model.components[0]
    index = model.item_index(item)
    top = row.indices[row.indptr[index] : row.indptr[index + 1]]
    assert {model.item_index(i) for i in similar.items} <= set(top.tolist())
    with pytest.raises(KeyError, match="424242"):
        model.similar_items(424242)
    factors_only = _build(ratings, ("factors",))
    assert len(factors_only.similar_items(str(item), k=4).items) == 4
    popularity_only = _build(ratings, ("popularity",))
    assert popularity_only.similar_items(item, k=4).fallback == "popularity"


def test_short_catalogue_pads_with_minus_one(ratings: pd.DataFrame) -> None:
    model = _build(ratings)
    user = model.user_index(int(ratings["userId"].value_counts().index[0]))
    assert user is not None
    n_left = model.n_items - len(model.seen(int(model.user_ids[user])))
    indices, scores = model.recommend_many(np.array([user]), n_left + 5)
    assert (indices[0, n_left:] == -1).all() and np.isnan(scores[0, n_left:]).all()
    assert (indices[0, :n_left] >= 0).all()
    listed = model.recommend(int(model.user_ids[user]), k=n_left + 5)
    assert isinstance(listed, RecommendationList) and len(listed.items) == n_left


def test_mismatched_arrays_are_refused(ratings: pd.DataFrame) -> None:
    model = _build(ratings)
    with pytest.raises(ValueError, match="popularity"):
        Recommender(
            model.user_ids,
            model.item_ids,
            model._seen_indptr,
            model._seen_indices,
            model.popularity[:-1],
            model.components,
        )
    with pytest.raises(ValueError, match="kind"):
        Recommender(
            model.user_ids,
            model.item_ids,
            model._seen_indptr,
            model._seen_indices,
            model.popularity,
            [ScoringComponent("nonsense", "x")],
        )


def test_many_users_score_the_same_with_and_without_scipy(
    ratings: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _build(ratings, ("item_item", "factors"))
    users = np.arange(model.n_users)
    with_scipy = model.recommend_many(users, 10)
    monkeypatch.setattr(Recommender, "_sparse_product", lambda *args: None)
    without = model.recommend_many(users, 10)
    np.testing.assert_array_equal(with_scipy[0], without[0])
    np.testing.assert_allclose(with_scipy[1], without[1], rtol=1e-6)


def test_one_user_is_scored_without_scipy() -> None:
    code = (
        "import sys, numpy as np\n"
        "from cairn.bundle._recommender import Recommender, ScoringComponent\n"
        "rows = ScoringComponent('item_item', 'knn', indptr=np.array([0, 1, 2, 2]),"
        " indices=np.array([1, 0]), data=np.array([1.0, 1.0]))\n"
        "model = Recommender(np.array([7, 8]), np.array([1, 2, 3]), np.array([0, 1, 2]),"
        " np.array([0, 2]), np.array([3.0, 2.0, 1.0]), [rows])\n"
        "assert model.recommend(7, k=2).items == [2, 3]\n"
        "print(sorted(m for m in ('scipy', 'sklearn', 'implicit') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
