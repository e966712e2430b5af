"""The recommendation algorithms on a MovieLens subsample: each one's
arithmetic against a direct computation, and the strong ones against
popularity on held-out ratings."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cairn.bundle import Recommender
from cairn.models.recommendation import _algorithms
from cairn.models.recommendation._algorithms import (
    binary_matrix,
    ease_items,
    ease_weights,
    fit_algorithm,
    prune_rows,
)
from cairn.tasks.ranking import ranking_metrics
from tests.models.recommendation._data import holdout, movielens, movies


@pytest.fixture(scope="module")
def data() -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray, np.ndarray]:
    inter = movielens(150)
    train, test = holdout(inter, 0.25)
    return binary_matrix(train.matrix()), test.matrix(), inter.user_ids, inter.item_ids


def _ndcg(data, components) -> float:  # type: ignore[no-untyped-def]
    matrix, test, user_ids, item_ids = data
    model = Recommender(
        user_ids,
        item_ids,
        matrix.indptr,
        matrix.indices,
        np.asarray(matrix.sum(axis=0)).ravel(),
        components,
    )
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    top, _ = model.recommend_many(users, 10)
    target = test[users]
    return ranking_metrics(top, target.indptr, target.indices, k=10, n_items=len(item_ids))[
        "ndcg@10"
    ]


def test_strong_models_beat_popularity_on_held_out_ratings(data) -> None:  # type: ignore[no-untyped-def]
    matrix = data[0]
    scores = {
        name: _ndcg(data, fit_algorithm(name, matrix, params).components)
        for name, params in [
            ("popularity", {}),
            ("ease", {"l2": 200.0, "top_m": 400}),
            ("item_knn", {}),
            ("als", {"factors": 32, "regularization": 1.0, "alpha": 10.0}),
        ]
    }
    assert scores["ease"] > scores["popularity"] + 0.03
    assert scores["item_knn"] > scores["popularity"]
    assert scores["als"] > scores["popularity"]


def test_ease_is_the_closed_form(data) -> None:  # type: ignore[no-untyped-def]
    matrix = data[0][:, :300]
    weights, kept = ease_weights(matrix, 50.0)
    sub = matrix[:, kept].toarray().astype(np.float64)
    gram = sub.T @ sub + 50.0 * np.eye(len(kept))
    inverse = np.linalg.inv(gram)
    expected = np.eye(len(kept)) - inverse / np.diag(inverse)[None, :]
    np.testing.assert_allclose(weights, expected.astype(np.float32), atol=1e-5)
    assert np.all(np.diag(weights) == 0)


def test_ease_keeps_the_most_interacted_items(data, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    matrix = data[0]
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    kept = ease_items(matrix)
    assert counts[kept].min() >= 2
    monkeypatch.setattr(_algorithms, "EASE_MAX_ITEMS", 50)
    few = ease_items(matrix)
    assert len(few) == 50
    assert counts[few].min() >= np.sort(counts)[-50]


def test_prune_rows_keeps_the_largest_weights_in_magnitude() -> None:
    weights = np.array([[0.0, -5.0, 1.0, 3.0], [2.0, 0.0, -0.5, 0.1]], dtype=np.float32)
    np.testing.assert_array_equal(
        prune_rows(weights, 2), [[0.0, -5.0, 0.0, 3.0], [2.0, 0.0, -0.5, 0.0]]
    )


def test_item_knn_is_shrunk_cosine_top_neighbours(data) -> None:  # type: ignore[no-untyped-def]
    matrix = data[0][:, :200]
    component = fit_algorithm("item_knn", matrix, {"neighbours": 5, "shrinkage": 7.0}).components[0]
    dense = matrix.toarray().astype(np.float64)
    norms = np.sqrt((dense**2).sum(axis=0))
    similarity = dense.T @ dense / (norms[:, None] * norms[None, :] + 7.0 + 1e-12)
    np.fill_diagonal(similarity, 0.0)
    for item in range(0, 200, 17):
        row = component.indices[component.indptr[item] : component.indptr[item + 1]]
        values = component.data[component.indptr[item] : component.indptr[item + 1]]
        assert len(row) <= 5
        np.testing.assert_allclose(values, similarity[item, row], rtol=1e-5)
        if len(row):
            assert values.min() >= np.sort(similarity[item])[-5] - 1e-6


def test_factor_models_give_one_row_per_user_and_item(data) -> None:  # type: ignore[no-untyped-def]
    matrix = data[0]
    for name in ("als", "bpr"):
        component = fit_algorithm(name, matrix, {"factors": 16, "iterations": 5}).components[0]
        assert component.kind == "factors"
        assert component.user_factors is not None and component.item_factors is not None
        assert component.user_factors.shape[0] == matrix.shape[0]
        assert component.item_factors.shape[0] == matrix.shape[1]


def test_content_model_links_items_by_their_text(data) -> None:  # type: ignore[no-untyped-def]
    matrix, _, user_ids, item_ids = data
    table = movies()
    text = (table["title"] + " " + table["genres"]).reindex(item_ids)
    component = fit_algorithm("content", matrix, {"neighbours": 20}, item_text=text).components[0]
    model = Recommender(
        user_ids,
        item_ids,
        matrix.indptr,
        matrix.indices,
        np.asarray(matrix.sum(axis=0)).ravel(),
        [component],
    )
    # Toy Story 2's nearest neighbours by title and genres include Toy Story.
    assert 1 in model.similar_items(3114, k=10).items
    genres = set(table.loc[3114, "genres"].split("|"))
    for item in model.similar_items(3114, k=5).items:
        assert genres & set(table.loc[item, "genres"].split("|"))
    with pytest.raises(ValueError, match="item table"):
        fit_algorithm("content", matrix, {})


def test_unknown_algorithm_is_refused(data) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="unknown recommendation algorithm 'svd'"):
        fit_algorithm("svd", data[0], {})
