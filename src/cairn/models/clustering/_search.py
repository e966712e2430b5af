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
from threadpoolctl import threadpool_limits

from cairn.data.schema import Schema
from cairn.exceptions import SpecError
from cairn.models.clustering._algorithms import ALGORITHMS, fit_labels, grid
from cairn.models.clustering._model import ClusterModel
from cairn.models.clustering._prepare import Preparation, prepare, resolve_k_range
from cairn.models.clustering._stability import clusterboot
from cairn.tasks.clustering import STABLE, UNSTABLE, Clustering
from cairn.tasks.metrics import CLUSTER_INDICES, clustering_metrics

__all__ = ["Candidate", "ClusteringResult", "choose", "search_clusters"]

_TASK = Clustering()


@dataclass
class Candidate:
    """One fitted algorithm and cluster count, with its scores.

    ``param`` is the cluster count asked for, or HDBSCAN's smallest cluster
    size; ``k`` the clusters found. ``cluster_stability`` holds each
    cluster's mean bootstrap Jaccard, ``stability`` their mean (None: not
    measured, see :func:`choose`); ``bic`` is GaussianMixture's Bayesian information
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


def _near(value: float, best: float, metric: str, within: float) -> bool:
    """``value`` is within ``within`` of ``best`` (relative, in the
    direction that is worse for ``metric``)."""
    slack = within * abs(best)
    if _TASK.greater_is_better(metric):
        return value >= best - slack
    return value <= best + slack


def choose(
    candidates: list[Candidate],
    metric: str,
    measure: Callable[[Candidate], None],
    *,
    deadline: float,
    finer_within: float = 0.0,
) -> tuple[Candidate, str]:
    """Pick the best ``metric`` among stable solutions or, with
    ``finer_within`` > 0, the most clusters among stable solutions whose
    ``metric`` is within that share of it, and the best ``metric`` at that count.

    First the best ``metric`` among stable solutions: candidates are visited
    best metric first and their stability measured (``measure(candidate)``)
    on the way; the first in which every cluster's stability reaches 0.75 is
    the reference. Internal indices, the silhouette above all, favour few
    clusters whenever groups touch, so a solution with more clusters whose
    index is within ``finer_within`` of the reference's describes the data as well and
    says more (Hennig's advice: among near-best solutions whose clusters are
    all stable, prefer the finer one). Those are visited most clusters
    first, best metric first within a count, and the first stable one wins;
    when time runs out (the best one is always measured) the reference
    stands. When no candidate is stable, the best metric among the measured
    candidates whose clusters all reach 0.6 (doubtful but not dissolving)
    wins, and failing that the one with the most stable weakest cluster.
    The rule in words is returned too.
    """
    ranked = _ranked(candidates, metric)
    reference: Candidate | None = None
    for candidate in ranked:
        if candidate.stability is None:
            if time.monotonic() > deadline and ranked[0].stability is not None:
                break
            measure(candidate)
        if candidate.stable:
            reference = candidate
            break
    if reference is not None and finer_within <= 0:
        return reference, (
            f"best {metric} among the solutions whose every cluster has stability "
            f">= {STABLE}; {ranked.index(reference)} with a better {metric} were less stable"
        )
    if reference is not None:
        best = reference.indices[metric]
        finer = sorted(
            (
                c
                for c in ranked
                if c.k > reference.k and _near(c.indices[metric], best, metric, finer_within)
            ),
            key=lambda c: c.k,
            reverse=True,  # a stable sort: the metric order is kept within a count
        )
        unmeasured = 0
        for candidate in finer:
            if candidate.stability is None:
                if time.monotonic() > deadline:
                    unmeasured = len(finer) - finer.index(candidate)
                    break
                measure(candidate)
            if candidate.stable:
                return candidate, (
                    f"the most clusters ({candidate.k}) among the solutions whose every "
                    f"cluster has stability >= {STABLE} and whose {metric} is within "
                    f"{finer_within:.0%} of the best such one ({best:.3f}, "
                    f"{reference.k} clusters); "
                    f"the best {metric} at {candidate.k} clusters"
                )
        finer_said = (
            f"time ran out before {unmeasured} with more clusters within {finer_within:.0%} of "
            f"its {metric} were measured"
            if unmeasured
            else f"none with more clusters within {finer_within:.0%} of its {metric} was stable"
        )
        return reference, (
            f"best {metric} among the solutions whose every cluster has stability "
            f">= {STABLE}; {ranked.index(reference)} with a better {metric} were less stable, "
            f"and {finer_said}"
        )
    measured = [c for c in ranked if c.stability is not None]
    doubtful = [c for c in measured if c.weakest is not None and c.weakest >= UNSTABLE]
    if doubtful:
        return doubtful[0], (
            f"no measured solution reached stability {STABLE}: best {metric} among those "
            f">= {UNSTABLE} (doubtful)"
        )
    best_weakest = max(measured, key=lambda c: c.weakest or 0.0)
    return best_weakest, (
        f"every measured solution is unstable (< {UNSTABLE}): the most stable one"
    )


def _measure_each_count(
    candidates: list[Candidate],
    metric: str,
    measure: Callable[[Candidate], None],
    *,
    deadline: float,
) -> None:
    """With time left after the choice, the stability of the best candidate
    at each cluster count, so that stability can be read against k (the
    choice itself is made; this only records)."""
    ranked = _ranked(candidates, metric)
    for k in sorted({c.k for c in ranked}):
        best = next(c for c in ranked if c.k == k)
        if time.monotonic() > deadline:
            return
        if best.stability is None:
            measure(best)


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
    finer_within: float = 0.0,
) -> ClusteringResult:
    """Find a segmentation of ``frame`` and justify it.

    The columns are prepared (see :func:`prepare`); on a seeded sample of at
    most ``search_rows`` rows every algorithm is fitted over the range of
    cluster counts and scored by every internal index; then the choice is
    made by ``metric`` and bootstrap stability (see :func:`choose`). Half of
    ``time_budget`` (counted from the call, preparation included) goes to
    fitting candidates, the next 35 % to stability, the rest to the final fit.

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
        stability_rows: rows each bootstrap resample draws from.
        n_resamples: bootstrap resamples per stability measurement.
        finer_within: prefer the most clusters among stable solutions whose
            metric is within this share of the best stable one's (0: the best
            stable one; see :func:`choose`).

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

    # Hundreds of small fits: one thread each. Thread start-up and cores
    # shared with other work would otherwise cost more than the threads gain.
    with threadpool_limits(1):
        candidates = _fit_candidates(
            searched, k_range, algorithms, seed=seed, deadline=start + 0.5 * time_budget
        )
        chosen, rule = choose(
            candidates, metric, measure, deadline=deadline, finer_within=finer_within
        )
        _measure_each_count(candidates, metric, measure, deadline=deadline)
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
