"""Tests for the rule that picks a clustering by index and stability."""

from __future__ import annotations

import time

import pytest

from cairn.models.clustering import Candidate, choose


def _candidates(pairs: list[tuple[float, float]]) -> list[Candidate]:
    """Candidates k=2,3,... with the given (silhouette, stability)."""
    return [
        Candidate(
            algorithm="kmeans",
            param=k,
            k=k,
            indices={"silhouette": silhouette, "davies_bouldin": 1 - silhouette},
            sizes=(1,) * k,
            fit_seconds=0.0,
            cluster_stability=(stability,),
        )
        for k, (silhouette, stability) in enumerate(pairs, start=2)
    ]


def _choose(pairs: list[tuple[float, float]], metric: str = "silhouette") -> tuple[int, str, int]:
    candidates = _candidates(pairs)
    truth = {c.k: c.cluster_stability[0] for c in candidates}
    measured: list[int] = []

    def measure(candidate: Candidate) -> None:
        measured.append(candidate.k)
        candidate.stability = truth[candidate.k]

    chosen, rule = choose(candidates, metric, measure, deadline=time.monotonic() + 60)
    return chosen.k, rule, len(measured)


def test_the_best_index_among_stable_solutions_wins_and_the_rest_is_not_measured() -> None:
    k, rule, measured = _choose([(0.5, 0.5), (0.6, 0.7), (0.4, 0.9), (0.3, 0.95)])
    assert k == 4 and measured == 3
    assert "2 with a better silhouette were less stable" in rule


def test_a_lower_is_better_index_ranks_the_other_way() -> None:
    k, _, _ = _choose([(0.5, 0.9), (0.6, 0.9)], metric="davies_bouldin")
    assert k == 3


@pytest.mark.parametrize(
    ("pairs", "expected", "words"),
    [
        ([(0.5, 0.65), (0.6, 0.5), (0.4, 0.7)], 2, "doubtful"),
        ([(0.5, 0.3), (0.6, 0.2), (0.4, 0.5)], 4, "unstable"),
    ],
)
def test_without_a_stable_solution_the_fallback_is_said(
    pairs: list[tuple[float, float]], expected: int, words: str
) -> None:
    k, rule, _ = _choose(pairs)
    assert k == expected and words in rule


def test_past_the_deadline_only_the_best_is_measured() -> None:
    candidates = _candidates([(0.5, 0.5), (0.6, 0.9)])

    def measure(candidate: Candidate) -> None:
        candidate.stability = candidate.cluster_stability[0]

    chosen, _ = choose(candidates, "silhouette", measure, deadline=time.monotonic() - 1)
    assert chosen.k == 3 and chosen.stable
    assert candidates[0].stability is None
