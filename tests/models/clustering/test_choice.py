"""Tests for the rule that picks a clustering: the most clusters that are
reproducible (prediction strength and stability), then the best index."""

from __future__ import annotations

import time

import pytest

from cairn.models.clustering import Candidate, choose

# The values the measuring functions reveal, by candidate.
_TRUTH: dict[int, tuple[float, float]] = {}


def _candidate(
    k: int,
    silhouette: float,
    stability: float,
    strength: float,
    algorithm: str = "kmeans",
    davies_bouldin: float = 1.0,
) -> Candidate:
    candidate = Candidate(
        algorithm=algorithm,
        param=k,
        k=k,
        indices={"silhouette": silhouette, "davies_bouldin": davies_bouldin},
        sizes=(1,) * k,
        fit_seconds=0.0,
    )
    _TRUTH[id(candidate)] = (stability, strength)
    return candidate


class Recorder:
    """Measuring functions that reveal the values and record the calls."""

    def __init__(self) -> None:
        self.stability: list[tuple[str, int]] = []
        self.strength: list[tuple[str, int]] = []

    def measure(self, candidate: Candidate) -> None:
        self.stability.append((candidate.algorithm, candidate.k))
        value = _TRUTH[id(candidate)][0]
        candidate.cluster_stability = (value,)
        candidate.stability = value

    def strong(self, candidate: Candidate) -> None:
        self.strength.append((candidate.algorithm, candidate.k))
        candidate.prediction_strength = _TRUTH[id(candidate)][1]


def _choose(
    candidates: list[Candidate], metric: str = "silhouette", deadline: float = 60.0
) -> tuple[Candidate, str, Recorder]:
    recorder = Recorder()
    chosen, rule = choose(
        candidates,
        metric,
        recorder.measure,
        strength=recorder.strong,
        deadline=time.monotonic() + deadline,
    )
    return chosen, rule, recorder


def test_the_most_clusters_that_are_reproducible_win_over_a_better_silhouette() -> None:
    """Two touching groups of three: the silhouette prefers k=2, which is
    stable too, but k=3 is also reproducible and says more."""
    candidates = [
        _candidate(2, 0.58, 1.0, 0.99),
        _candidate(3, 0.46, 0.85, 0.90),
        _candidate(4, 0.40, 0.70, 0.75),  # splits a group arbitrarily
        _candidate(5, 0.35, 0.80, 0.60),  # stable, not predictable
    ]
    chosen, rule, recorder = _choose(candidates)
    assert chosen.k == 3
    assert "most clusters (3)" in rule and "prediction strength >= 0.8" in rule
    assert "2 solutions with more clusters" in rule
    # Stability is dear: it is only measured where the prediction strength passed.
    assert ("kmeans", 5) not in recorder.stability
    assert ("kmeans", 2) not in recorder.stability and ("kmeans", 2) not in recorder.strength


def test_at_the_chosen_count_the_user_metric_decides() -> None:
    def candidates() -> list[Candidate]:
        return [
            _candidate(3, 0.40, 0.9, 0.9, "kmeans", davies_bouldin=0.5),
            _candidate(3, 0.45, 0.9, 0.9, "gaussian_mixture", davies_bouldin=0.7),
            _candidate(3, 0.50, 0.9, 0.5, "birch"),  # best silhouette, not predictable
            _candidate(2, 0.60, 0.9, 0.9, davies_bouldin=0.4),
        ]

    chosen, rule, _ = _choose(candidates())
    assert (chosen.algorithm, chosen.k) == ("gaussian_mixture", 3)
    assert "best silhouette among those" in rule and "1 with a better silhouette" in rule
    # Davies-Bouldin is better lower.
    chosen, _, _ = _choose(candidates(), metric="davies_bouldin")
    assert (chosen.algorithm, chosen.k) == ("kmeans", 3)


@pytest.mark.parametrize(
    ("values", "expected", "words"),
    [
        # (silhouette, stability, prediction strength) for k = 2, 3, 4
        ([(0.5, 0.9, 0.5), (0.6, 0.9, 0.6), (0.4, 0.5, 0.9)], 3, "every cluster has stability"),
        ([(0.5, 0.65, 0.5), (0.6, 0.5, 0.5), (0.4, 0.7, 0.5)], 2, "doubtful"),
        ([(0.5, 0.3, 0.5), (0.6, 0.2, 0.5), (0.4, 0.5, 0.5)], 4, "unstable"),
    ],
)
def test_without_a_reproducible_solution_the_fallback_is_said(
    values: list[tuple[float, float, float]], expected: int, words: str
) -> None:
    candidates = [_candidate(k, *v) for k, v in enumerate(values, start=2)]
    chosen, rule, recorder = _choose(candidates)
    assert "no solution reached prediction strength 0.8" in rule and words in rule
    assert chosen.k == expected
    assert ("kmeans", 3) in recorder.stability  # the best silhouette is always measured


def test_past_the_deadline_the_largest_and_the_best_are_measured() -> None:
    candidates = [_candidate(2, 0.6, 0.9, 0.9), _candidate(3, 0.5, 0.9, 0.5)]
    chosen, rule, recorder = _choose(candidates, deadline=-1)
    assert chosen.k == 2 and chosen.stable
    assert "time ran out" in rule
    assert recorder.strength == [("kmeans", 3)]
    assert recorder.stability == [("kmeans", 2)]
