"""The search: every algorithm over the range of cluster counts, scored by
the internal indices and by bootstrap stability, under a time budget."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from cairn.data.schema import Schema
from cairn.exceptions import SpecError
from cairn.models.clustering._algorithms import (
    ALGORITHMS,
    CAN_PREDICT,
    centroids_of,
    fit_labels,
    grid,
    nearest,
)
from cairn.models.clustering._model import ClusterModel
from cairn.models.clustering._prepare import Preparation, prepare, resolve_k_range
from cairn.models.clustering._stability import clusterboot, prediction_strength
from cairn.tasks.clustering import STABLE, UNSTABLE, Clustering
from cairn.tasks.metrics import CLUSTER_INDICES, clustering_metrics

__all__ = ["Candidate", "ClusteringResult", "choose", "search_clusters"]

_TASK = Clustering()
# Tibshirani & Walther's threshold: from 0.8 on, clusters found on one half of
# the rows predict those found on the other.
STRONG = 0.8


@dataclass
class Candidate:
    """One fitted algorithm and cluster count, with its scores.

    ``param`` is the cluster count asked for, or HDBSCAN's smallest cluster
    size; ``k`` the clusters found. ``cluster_stability`` holds each
    cluster's mean bootstrap Jaccard, ``stability`` their mean (None: not
    measured, see :func:`choose`); ``prediction_strength`` how well the
    clusters found on one half of the rows predict those found on the other
    (None: not measured); ``bic`` is GaussianMixture's Bayesian information
    criterion (lower is better).
    """

    algorithm: str
    param: int
    k: int
    indices: dict[str, float]
    sizes: tuple[int, ...]
    fit_seconds: float
    noise_share: float = 0.0
    bic: float | None = None
    stability: float | None = None
    cluster_stability: tuple[float, ...] = ()
    prediction_strength: float | None = None
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int), repr=False)
    estimator: Any = field(default=None, repr=False)

    @property
    def weakest(self) -> float | None:
        """The least stable cluster's stability (None: not measured)."""
        return min(self.cluster_stability) if self.stability is not None else None

    @property
    def stable(self) -> bool:
        """Every cluster is stable: none below 0.75 (a solution whose mean
        is high but has a doubtful cluster is not called stable)."""
        return self.weakest is not None and self.weakest >= STABLE

    def row(self) -> dict[str, Any]:
        """The candidate's line of the leaderboard."""
        return {
            "algorithm": self.algorithm,
            "k": self.k,
            **{name: round(value, 4) for name, value in self.indices.items()},
            "stability": None if self.stability is None else round(self.stability, 3),
            "weakest_cluster": None if self.weakest is None else round(self.weakest, 3),
            "prediction_strength": (
                None if self.prediction_strength is None else round(self.prediction_strength, 3)
            ),
            "bic": None if self.bic is None else round(self.bic, 1),
            "noise_share": round(self.noise_share, 3),
            "sizes": list(self.sizes),
            "fit_seconds": round(self.fit_seconds, 3),
        }


@dataclass
class ClusteringResult:
    """The chosen segmentation and how it was chosen.

    Attributes:
        pipeline: preprocessing plus :class:`ClusterModel`; ``predict(frame)``
            gives cluster ids (0 = largest training cluster).
        labels: the cluster id of every training row.
        chosen: the chosen candidate (its indices are on the search rows).
        leaderboard: every candidate, best metric first.
        preparation: what was done to the columns.
        metric: the index the choice ranked by.
        rule: in words, why this candidate was chosen.
        indices: the chosen clustering's indices on all training rows.
        search_rows: rows the search fitted on (a sample of large data).
        seconds: wall time of the whole search.
    """

    pipeline: Pipeline
    labels: np.ndarray
    chosen: Candidate
    leaderboard: list[Candidate]
    preparation: Preparation
    metric: str
    rule: str
    indices: dict[str, float]
    search_rows: int
    seconds: float

    @property
    def stable(self) -> bool:
        """Every cluster of the chosen solution is stable (bootstrap Jaccard
        >= 0.75)."""
        return self.chosen.stable

    def leaderboard_frame(self) -> pd.DataFrame:
        return pd.DataFrame([candidate.row() for candidate in self.leaderboard])


def _fit_candidates(
    matrix: np.ndarray,
    k_range: tuple[int, int],
    algorithms: Sequence[str],
    *,
    seed: int,
    deadline: float,
) -> list[Candidate]:
    """Every algorithm over its grid until the deadline (one candidate is
    always fitted). The grids are walked side by side, smallest values
    first, so that a short budget still tries every algorithm."""
    candidates: list[Candidate] = []
    grids = {algorithm: grid(algorithm, k_range, len(matrix)) for algorithm in algorithms}
    steps = [
        (algorithm, values[position])
        for position in range(max(len(values) for values in grids.values()))
        for algorithm, values in grids.items()
        if position < len(values)
    ]
    for algorithm, param in steps:
        if candidates and time.monotonic() > deadline:
            break
        start = time.perf_counter()
        labels, estimator, noise = fit_labels(algorithm, param, matrix, seed=seed)
        seconds = time.perf_counter() - start
        k = int(labels.max()) + 1
        if not k_range[0] <= k <= k_range[1]:
            continue  # HDBSCAN found a count outside the range asked for
        bic = float(estimator.bic(matrix)) if algorithm == "gaussian_mixture" else None
        candidates.append(
            Candidate(
                algorithm=algorithm,
                param=param,
                k=k,
                indices=clustering_metrics(labels, features=matrix, seed=seed),
                sizes=tuple(int(n) for n in np.bincount(labels, minlength=k)),
                fit_seconds=seconds,
                noise_share=noise,
                bic=bic,
                labels=labels,
                estimator=estimator,
            )
        )
    return candidates


def _ranked(candidates: list[Candidate], metric: str) -> list[Candidate]:
    sign = 1.0 if _TASK.greater_is_better(metric) else -1.0

    def key(candidate: Candidate) -> float:
        value = candidate.indices.get(metric, math.nan)
        return -math.inf if math.isnan(value) else sign * value

    return sorted(candidates, key=key, reverse=True)


def _sample(matrix: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """A seeded sample of at most ``rows`` row indices."""
    return np.random.default_rng(seed).permutation(len(matrix))[:rows]


def _measure_stability(
    candidate: Candidate,
    matrix: np.ndarray,
    *,
    rows: int,
    n_resamples: int,
    seed: int,
    deadline: float,
) -> None:
    """clusterboot on a seeded sample of at most ``rows`` of the search rows."""
    sample = _sample(matrix, rows, seed)
    _, labels = np.unique(candidate.labels[sample], return_inverse=True)

    def refit(resample: np.ndarray) -> np.ndarray:
        return fit_labels(candidate.algorithm, candidate.param, resample, seed=seed + 1)[0]

    per_cluster = clusterboot(
        refit, matrix[sample], labels, n_resamples=n_resamples, seed=seed, deadline=deadline
    )
    candidate.cluster_stability = tuple(float(v) for v in per_cluster)
    candidate.stability = float(per_cluster.mean())


def _measure_strength(candidate: Candidate, matrix: np.ndarray, *, rows: int, seed: int) -> None:
    """Prediction strength of the candidate's algorithm and parameter on the
    same seeded sample as its stability."""
    sample = matrix[_sample(matrix, rows, seed)]

    def fit(half: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        labels, estimator, _ = fit_labels(candidate.algorithm, candidate.param, half, seed=seed)
        if candidate.algorithm in CAN_PREDICT:
            return labels, estimator.predict
        if labels.max() < 0:
            return labels, lambda rows: np.full(len(rows), -1)  # HDBSCAN found only noise
        centroids = centroids_of(half, labels, int(labels.max()) + 1)
        return labels, lambda rows: nearest(rows, centroids)

    candidate.prediction_strength = prediction_strength(fit, sample, seed=seed)


def choose(
    candidates: list[Candidate],
    metric: str,
    measure: Callable[[Candidate], None],
    *,
    strength: Callable[[Candidate], None],
    deadline: float,
) -> tuple[Candidate, str]:
    """Pick the most clusters the data reproducibly holds, then the best
    ``metric`` among the solutions with that many.

    A solution qualifies when its clusters can be found again: the clusters
    found on one half of the rows predict those found on the other half
    (prediction strength >= 0.8, Tibshirani & Walther, 2005), and every
    cluster survives bootstrap resampling (stability >= 0.75, Hennig, 2007).
    Among qualifying solutions the largest number of clusters wins (a finer
    segmentation that is still reproducible says more than a coarser one;
    internal indices such as the silhouette favour two clusters whenever
    groups touch), and at that number the best ``metric``.

    Candidates are visited most clusters first, best metric first within a
    count; ``strength(candidate)`` (cheap) is measured on the way, and
    ``measure(candidate)`` (stability, dearer) only for those strong enough,
    so the first one that qualifies is the answer. When time runs out or
    none qualifies, the choice falls back on stability alone: candidates are
    measured best metric first (the best one always, the others while time
    allows) and the first whose clusters are all stable wins; failing that,
    the best metric among those whose clusters all reach 0.6 (doubtful but
    not dissolving), and failing that the one with the most stable weakest
    cluster.
    The rule in words is returned too.
    """
    ranked = _ranked(candidates, metric)
    # A stable sort: within one count of clusters the metric order is kept.
    by_count = sorted(ranked, key=lambda c: c.k, reverse=True)
    for rejected, candidate in enumerate(by_count):
        if time.monotonic() > deadline and rejected:
            break
        if candidate.prediction_strength is None:
            strength(candidate)
        if (candidate.prediction_strength or 0.0) >= STRONG:
            if candidate.stability is None:
                measure(candidate)
            if candidate.stable:
                more = sum(c.k > candidate.k for c in by_count[:rejected])
                return candidate, (
                    f"the most clusters ({candidate.k}) at which a solution is reproducible "
                    f"(prediction strength >= {STRONG}, every cluster's stability >= "
                    f"{STABLE}), and the best {metric} among those; {more} solutions with more "
                    f"clusters and {rejected - more} with a better {metric} were not reproducible"
                )
    reason = (
        "time ran out before a reproducible solution was found"
        if time.monotonic() > deadline
        else f"no solution reached prediction strength {STRONG} with every cluster stable"
    )
    # Then the best metric among stable solutions, measured best first while
    # time allows (the best one always).
    for position, candidate in enumerate(ranked):
        if candidate.stability is None:
            if position and time.monotonic() > deadline:
                break
            measure(candidate)
        if candidate.stable:
            break
    measured = [c for c in ranked if c.stability is not None]
    stable = [c for c in measured if c.stable]
    if stable:
        return stable[0], (
            f"{reason}: best {metric} among the measured solutions whose every cluster has "
            f"stability >= {STABLE}"
        )
    doubtful = [c for c in measured if c.weakest is not None and c.weakest >= UNSTABLE]
    if doubtful:
        return doubtful[0], (
            f"{reason}; no measured solution reached stability {STABLE}: best {metric} "
            f"among those >= {UNSTABLE} (doubtful)"
        )
    best = max(measured, key=lambda c: c.weakest or 0.0)
    return best, (
        f"{reason}; every measured solution is unstable (< {UNSTABLE}): the most stable one"
    )


def _final_model(
    chosen: Candidate, full: np.ndarray, searched: np.ndarray, *, seed: int
) -> ClusterModel:
    """KMeans is refitted on every row when the search saw a sample (in
    mini-batches on large data); the others keep their fit on the search
    rows and label the rest through :class:`ClusterModel`."""
    if chosen.algorithm == "kmeans" and len(full) > len(searched):
        labels, estimator, _ = fit_labels("kmeans", chosen.param, full, seed=seed)
        return ClusterModel("kmeans", estimator).fit(full, labels)
    return ClusterModel(chosen.algorithm, chosen.estimator).fit(searched, chosen.labels)


def search_clusters(
    frame: pd.DataFrame,
    *,
    metric: str = "silhouette",
    k_range: tuple[int, int] | None = None,
    algorithms: Sequence[str] = ALGORITHMS,
    time_budget: float = 60.0,
    schema: Schema | None = None,
    exclude: Sequence[str] = (),
    log_skewed: bool = True,
    pca: float | None = None,
    seed: int = 0,
    search_rows: int = 3000,
    stability_rows: int = 1000,
    n_resamples: int = 20,
) -> ClusteringResult:
    """Find a segmentation of ``frame`` and justify it.

    The columns are prepared (see :func:`prepare`); on a seeded sample of at
    most ``search_rows`` rows every algorithm is fitted over the range of
    cluster counts and scored by every internal index; then the choice is
    made by prediction strength, bootstrap stability and ``metric`` (see
    :func:`choose`). Half of ``time_budget`` (counted from the call,
    preparation included) goes to fitting candidates, the next 35 % to
    prediction strength and stability, the rest to the final fit.

    Args:
        frame: the rows to segment.
        metric: the internal index to rank by: silhouette, calinski_harabasz
            or davies_bouldin.
        k_range: (k_min, k_max); default 2..10 capped by the rows.
        algorithms: the competing algorithms (a subset of ``ALGORITHMS``).
        time_budget: seconds for the search (at least one candidate is fitted
            and its stability measured even past it).
        schema: column roles (inferred when None).
        exclude: columns never used as features, e.g. a ground truth.
        log_skewed: log-transform skewed non-negative numeric columns.
        pca: keep this share of the variance with a PCA (None: no PCA).
        seed: random state of sampling, algorithms and resampling.
        search_rows: rows the candidates are fitted on.
        stability_rows: rows each bootstrap resample draws from (and that
            prediction strength splits in halves).
        n_resamples: bootstrap resamples per stability measurement.

    Raises:
        SpecError: an unknown metric or algorithm, a bad k range or PCA share.
        DataError: data that cannot be clustered (too few rows, no usable
            column, every value the same, more clusters asked than rows).
    """
    start = time.monotonic()
    if metric not in CLUSTER_INDICES:
        raise SpecError(
            f"clusterings are chosen by an internal index ({', '.join(CLUSTER_INDICES)}), "
            f"got {metric!r}; agreement with a ground truth is only reported"
        )
    unknown = [name for name in algorithms if name not in ALGORITHMS]
    if unknown or not algorithms:
        raise SpecError(
            f"unknown clustering algorithms {unknown}; choose among {', '.join(ALGORITHMS)}"
        )
    pipeline, matrix, preparation = prepare(
        frame, schema=schema, exclude=exclude, log_skewed=log_skewed, pca=pca, seed=seed
    )
    k_range = resolve_k_range(k_range, matrix)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.permutation(len(matrix))[:search_rows])
    searched = matrix[rows]
    candidates = _fit_candidates(
        searched, k_range, algorithms, seed=seed, deadline=start + 0.5 * time_budget
    )
    # The last 15 % of the budget is left for the final fit on every row.
    deadline = start + 0.85 * time_budget

    def measure(candidate: Candidate) -> None:
        _measure_stability(
            candidate,
            searched,
            rows=stability_rows,
            n_resamples=n_resamples,
            seed=seed,
            deadline=deadline,
        )

    def strength(candidate: Candidate) -> None:
        _measure_strength(candidate, searched, rows=stability_rows, seed=seed)

    chosen, rule = choose(candidates, metric, measure, strength=strength, deadline=deadline)
    model = _final_model(chosen, matrix, searched, seed=seed)
    labels = model.predict(matrix)
    return ClusteringResult(
        pipeline=Pipeline([("prep", pipeline), ("model", model)]),
        labels=labels,
        chosen=chosen,
        leaderboard=_ranked(candidates, metric),
        preparation=preparation,
        metric=metric,
        rule=rule,
        indices=clustering_metrics(labels, features=matrix, seed=seed),
        search_rows=len(rows),
        seconds=time.monotonic() - start,
    )
