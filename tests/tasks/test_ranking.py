"""Ranking metrics against hand-computed values and a brute-force reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cairn.tasks import get_task, greater_is_better, is_known_metric
from cairn.tasks.ranking import (
    catalogue_metrics,
    hits_matrix,
    parse_metric,
    per_user_metrics,
    ranking_metrics,
    top_k,
)
from cairn.tasks.recommendation import relevant_rows


def test_metrics_of_one_list_by_hand() -> None:
    # relevant {1, 3, 9}; hits at ranks 1 and 3 of 4
    indptr, indices = relevant_rows([[1, 3, 9]])
    per = per_user_metrics(np.array([[1, 5, 3, 7]]), indptr, indices, k=4)
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert per["ndcg"][0] == pytest.approx(dcg / idcg)
    assert per["precision"][0] == pytest.approx(2 / 4)
    assert per["recall"][0] == pytest.approx(2 / 3)
    assert per["map"][0] == pytest.approx((1 / 1 + 2 / 3) / 3)
    assert per["hit_rate"][0] == 1.0
    assert per["mrr"][0] == 1.0


def _brute_ndcg(recommended: list[int], relevant: set[int], k: int) -> float:
    dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(recommended[:k]) if i in relevant)
    idcg = sum(1 / math.log2(r + 2) for r in range(min(len(relevant), k)))
    return dcg / idcg


def test_vectorised_metrics_match_a_loop_over_users() -> None:
    rng = np.random.default_rng(0)
    lists = [rng.choice(50, size=10, replace=False) for _ in range(40)]
    relevant = [set(rng.choice(50, size=rng.integers(1, 12), replace=False)) for _ in range(40)]
    indptr, indices = relevant_rows([sorted(r) for r in relevant])
    per = per_user_metrics(np.array(lists), indptr, indices, k=10)
    for u in range(40):
        assert per["ndcg"][u] == pytest.approx(_brute_ndcg(list(lists[u]), relevant[u], 10))
        hits = len(set(lists[u]) & relevant[u])
        assert per["recall"][u] == pytest.approx(hits / len(relevant[u]))


def test_users_without_relevant_items_are_skipped_not_zero() -> None:
    indptr, indices = relevant_rows([[2], []])
    out = ranking_metrics(np.array([[2, 1], [0, 1]]), indptr, indices, k=2, n_items=3)
    assert out["users"] == 1
    assert out["ndcg@2"] == 1.0
    assert out["coverage@2"] == pytest.approx(1.0)


def test_empty_slots_never_count_as_hits() -> None:
    indptr, indices = relevant_rows([[0]])
    hits = hits_matrix(np.array([[-1, -1, 0]]), indptr, indices)
    assert hits.tolist() == [[False, False, True]]


def test_top_k_excludes_seen_items_and_pads() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [1.0, -np.inf, 0.2, 0.3]])
    seen = relevant_rows([[1], [0, 3]])
    best = top_k(scores, 3, exclude=seen)
    assert best.tolist() == [[3, 2, 0], [2, -1, -1]]
    assert np.isfinite(scores).sum() == 7  # not modified


def test_catalogue_measures() -> None:
    popularity = np.array([100, 50, 1, 1, 0, 0, 0, 0, 0, 0])
    out = catalogue_metrics(np.array([[0, 2], [0, 3]]), k=2, n_items=10, item_popularity=popularity)
    assert out["coverage@2"] == pytest.approx(0.3)
    assert out["popularity_bias@2"] == pytest.approx(0.5)  # item 0 is the top 10 %
    assert out["novelty@2"] > 0


def test_metric_names_at_any_k() -> None:
    assert parse_metric("ndcg@20") == ("ndcg", 20)
    for bad in ("ndcg@0", "ndcg@101", "ndcg", "foo@10", "ndcg@x"):
        assert parse_metric(bad) is None
    task = get_task("recommendation")
    assert task.default_metric() == "ndcg@10"
    assert is_known_metric("recall@50") and not is_known_metric("recall@500")
    assert greater_is_better("ndcg@5") and not greater_is_better("popularity_bias@10")
    assert not greater_is_better("latency_p99_ms")
    assert task.misfits("rmse", [["ndcg@3", ">=", "0.1"][0], "latency_p99_ms"]) == ["rmse"]


def test_task_scores_raw_output() -> None:
    task = get_task("recommendation")
    relevant = np.array([np.array([1, 2]), np.array([0])], dtype=object)
    output = np.array([[1, 3], [2, 0]])
    assert task.score("hit_rate@2", relevant, output) == 1.0
    assert task.score("precision@1", relevant, output) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="accuracy"):
        task.score("coverage@10", relevant, output)
    assert task.predictions(np.array([[4, -1]]), [])[0] == [[4]]
