"""Tests for the rule that picks a clustering: among stable solutions whose
index is near the best, the most clusters, then the best index."""

from __future__ import annotations

import time

import pytest

from cairn.models.clustering import Candidate, choose


def _candidate(
    k: int,
    silhouette: float,
    stability: float,
    algorithm: str = "kmeans",
    davies_bouldin: float = 1.0,
) -> Candidate:
    return Candidate(
        algorithm=algorithm,
        param=k,
        k=k,
        indices={"silhouette": silhouette, "davies_bouldin": davies_bouldin},
        sizes=(1,) * k,
        fit_seconds=0.0,
        # The true value, revealed by ``measure`` below.
        cluster_stability=(stability,),
    )


def _choose(
    candidates: list[Candidate],
    metric: str = "silhouette",
    deadline: float = 60.0,
    finer_within: float = 0.2,
) -> tuple[Candidate, str, list[tuple[str, int]]]:
    measured: list[tuple[str, int]] = []

    def measure(candidate: Candidate) -> None:
        measured.append((candidate.algorithm, candidate.k))
        candidate.stability = candidate.cluster_stability[0]

    chosen, rule = choose(
        candidates,
        metric,
        measure,
        deadline=time.monotonic() + deadline,
        finer_within=finer_within,
    )
    return chosen, rule, measured


def test_more_clusters_with_a_near_best_index_win_when_stable() -> None:
    """Touching groups: the silhouette prefers two clusters; three are
    stable and nearly as good, four are stable but far worse."""
    candidates = [
        _candidate(2, 0.58, 1.0),
        _candidate(3, 0.48, 0.85),  # within 20 % of 0.58
        _candidate(4, 0.30, 0.90),  # stable, far from the best
        _candidate(5, 0.50, 0.60),  # near the best, a cluster dissolves
    ]
    chosen, rule, measured = _choose(candidates)
    assert chosen.k == 3
    assert "the most clusters (3)" in rule and "within 20%" in rule
    assert "best silhouette at 3 clusters" in rule
    # Far from the best, four clusters are not even measured.
    assert ("kmeans", 4) not in measured
    assert measured == [("kmeans", 2), ("kmeans", 5), ("kmeans", 3)]


def test_at_the_chosen_count_the_user_metric_decides() -> None:
    def candidates() -> list[Candidate]:
        return [
            _candidate(2, 0.60, 0.9, davies_bouldin=0.50),
            _candidate(3, 0.50, 0.9, "kmeans", davies_bouldin=0.55),
            _candidate(3, 0.55, 0.9, "gaussian_mixture", davies_bouldin=0.58),
            _candidate(3, 0.57, 0.5, "birch", davies_bouldin=0.52),  # unstable
        ]

    chosen, _, _ = _choose(candidates())
    assert (chosen.algorithm, chosen.k) == ("gaussian_mixture", 3)
    # Davies-Bouldin is better lower; within 20 % of 0.50 means up to 0.60.
    chosen, rule, _ = _choose(candidates(), metric="davies_bouldin")
    assert (chosen.algorithm, chosen.k) == ("kmeans", 3)
    assert "davies_bouldin is within 20%" in rule


def test_without_a_stable_finer_solution_the_best_stable_one_stays() -> None:
    candidates = [_candidate(2, 0.5, 0.5), _candidate(3, 0.6, 0.7), _candidate(4, 0.4, 0.9)]
    chosen, rule, measured = _choose(candidates)
    assert chosen.k == 4
    assert "2 with a better silhouette were less stable" in rule
    assert "none with more clusters" in rule
    assert len(measured) == 3


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
    candidates = [_candidate(k, *pair) for k, pair in enumerate(pairs, start=2)]
    chosen, rule, _ = _choose(candidates)
    assert chosen.k == expected and words in rule


def test_past_the_deadline_only_the_best_is_measured_and_that_is_said() -> None:
    candidates = [_candidate(2, 0.5, 0.5), _candidate(3, 0.6, 0.9), _candidate(4, 0.55, 0.9)]
    chosen, rule, measured = _choose(candidates, deadline=-1)
    assert chosen.k == 3 and chosen.stable
    assert measured == [("kmeans", 3)]
    assert "time ran out before 1 with more clusters" in rule


def test_by_default_the_best_stable_solution_wins() -> None:
    candidates = [
        _candidate(2, 0.58, 1.0),
        _candidate(3, 0.48, 0.85),  # stable and near, but finer solutions are opt-in
        _candidate(5, 0.60, 0.60),  # better, but a cluster dissolves
    ]
    chosen, rule, measured = _choose(candidates, finer_within=0.0)
    assert chosen.k == 2
    assert "best silhouette among the solutions whose every cluster has stability" in rule
    assert "1 with a better silhouette were less stable" in rule
    assert measured == [("kmeans", 5), ("kmeans", 2)]
