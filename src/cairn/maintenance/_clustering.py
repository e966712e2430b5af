"""Champion and challenger clusterings compared on the same recent rows.

A clustering has no labels to score, so both are judged by the ranking
index (the silhouette unless the spec ranks by another internal index) of
their own assignment of the held-out recent rows, each in its own prepared
space. For the silhouette the improvement is the mean of the per-row
differences on the same rows, with a paired bootstrap interval.

The challenger was trained keeping the champion's cluster ids (see
:func:`cairn.workflow.run`'s ``previous``); the evidence shows, per cluster
id, the share of the recent rows each model puts there and how many rows
keep their id.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from cairn.bundle import Model
from cairn.exceptions import CairnError
from cairn.maintenance._comparison import (
    Comparison,
    RetrainResult,
    _challenger_objectives,
    verdict,
)
from cairn.monitoring.monitor import cluster_matrix
from cairn.monitoring.policy import RetrainAdvice
from cairn.monitoring.profiles import row_silhouettes
from cairn.spec import ProjectSpec
from cairn.tasks import greater_is_better
from cairn.tasks.metrics import CLUSTER_INDICES, clustering_metrics
from cairn.workflow import RunResult

__all__ = ["compare_clusterings"]

# The segmentation's own quantities an objective may bound, from the run.
_RUN_QUANTITIES = ("n_clusters", "min_cluster_share", "stability")


def _silhouette_gain(
    old: tuple[np.ndarray, np.ndarray],
    new: tuple[np.ndarray, np.ndarray],
    *,
    rounds: int,
    confidence: float,
    seed: int,
) -> tuple[float, float, float, float | None, float | None] | None:
    """Both silhouettes on the same sampled rows, the mean per-row gain and
    its paired bootstrap interval; None when either is undefined."""
    before = row_silhouettes(*old, seed=seed)
    after = row_silhouettes(*new, seed=seed)
    if before is None or after is None:
        return None
    gains = after - before
    low = high = None
    if rounds:
        rng = np.random.default_rng(seed)
        means = [gains[rng.integers(0, len(gains), len(gains))].mean() for _ in range(rounds)]
        tail = (1 - confidence) / 2 * 100
        low, high = (float(v) for v in np.percentile(means, [tail, 100 - tail]))
    return float(before.mean()), float(after.mean()), float(gains.mean()), low, high


def _cluster_evidence(
    challenger: Model, old_ids: np.ndarray | None, new_ids: np.ndarray
) -> dict[str, Any]:
    """How the ids were matched on the training rows, and each id's share of
    the recent rows under both models."""
    matched = (challenger.metadata.get("clustering") or {}).get("matched_to")
    n = max(len(new_ids), 1)
    every = sorted({*new_ids.tolist(), *([] if old_ids is None else old_ids.tolist())})
    shares = [
        {
            "cluster": int(cluster),
            "champion_share": None if old_ids is None else float((old_ids == cluster).sum() / n),
            "challenger_share": float((new_ids == cluster).sum() / n),
        }
        for cluster in every
    ]
    return {
        "matched_on_training_rows": matched,
        "recent_rows": len(new_ids),
        "agreement": None if old_ids is None else float((old_ids == new_ids).mean()),
        "shares": shares,
    }


def _ids_reason(evidence: dict[str, Any]) -> str | None:
    matched = evidence.get("matched_on_training_rows")
    if not matched:
        return None
    text = "the challenger keeps the champion's cluster ids (matched by centroid)"
    if evidence.get("agreement") is not None:
        text += f"; {evidence['agreement']:.0%} of the recent rows keep their cluster"
    if matched.get("new_ids"):
        text += f"; new cluster id(s) {', '.join(map(str, matched['new_ids']))}"
    if matched.get("dropped_ids"):
        text += f"; cluster id(s) {', '.join(map(str, matched['dropped_ids']))} no longer used"
    return text


def compare_clusterings(
    spec: ProjectSpec,
    champion: Model,
    challenger_run: RunResult,
    holdout: pd.DataFrame,
    *,
    champion_version: str,
    challenger_version: str,
    advice: RetrainAdvice,
    data: dict[str, Any],
) -> RetrainResult:
    """Both clusterings on the held-out recent rows, the challenger's
    objectives checked there, and the decision with its reasons."""
    challenger = challenger_run.model
    metric = challenger_run.evaluation.metric
    rank = metric if metric in CLUSTER_INDICES else "silhouette"
    seed = spec.train.seed
    new = cluster_matrix(challenger, holdout)
    challenger_metrics = clustering_metrics(new[1], features=new[0], seed=seed)
    reasons: list[str] = []
    old: tuple[np.ndarray, np.ndarray] | None = None
    champion_metrics: dict[str, float] = {}
    try:
        old = cluster_matrix(champion, holdout)
        champion_metrics = clustering_metrics(old[1], features=old[0], seed=seed)
    except (CairnError, ValueError, TypeError) as error:
        reasons.append(f"the champion could not label the recent rows ({error})")
    comparison = _weigh(spec, rank, old, new, champion_metrics, challenger_metrics)
    run_figures = challenger_run.evaluation.metrics
    measured = {
        **challenger_metrics,
        **{q: float(run_figures[q]) for q in _RUN_QUANTITIES if q in run_figures},
        **challenger_run.evaluation.latency_ms,
    }
    objectives = _challenger_objectives(spec, measured, challenger_run.evaluation.objectives)
    decision, why = verdict(spec, comparison, objectives)
    evidence = _cluster_evidence(challenger, None if old is None else old[1], new[1])
    ids_reason = _ids_reason(evidence)
    reasons += why + ([ids_reason] if ids_reason else [])
    return RetrainResult(
        decision=decision,
        reasons=reasons,
        advice=advice,
        champion_version=champion_version,
        challenger_version=challenger_version,
        comparison=comparison,
        champion_metrics=champion_metrics,
        challenger_metrics=challenger_metrics,
        objectives=objectives,
        run=challenger_run,
        data=data,
        clusters=evidence,
    )


def _weigh(
    spec: ProjectSpec,
    metric: str,
    old: tuple[np.ndarray, np.ndarray] | None,
    new: tuple[np.ndarray, np.ndarray],
    champion_metrics: dict[str, float],
    challenger_metrics: dict[str, float],
) -> Comparison:
    """The challenger's gain on the ranking index; an infinite one when the
    champion could not label the rows."""
    n = len(new[1])
    confidence = spec.monitoring.confidence
    if old is None:
        return Comparison(
            metric, None, challenger_metrics[metric], math.inf, None, None, n, confidence
        )
    if metric == "silhouette":
        paired = _silhouette_gain(
            old, new, rounds=spec.monitoring.bootstrap, confidence=confidence, seed=spec.train.seed
        )
        if paired is not None:
            before, after, improvement, low, high = paired
            # The figures shown are those the gain was measured on.
            champion_metrics["silhouette"], challenger_metrics["silhouette"] = before, after
            return Comparison(metric, before, after, improvement, low, high, n, confidence)
    old_score, new_score = champion_metrics.get(metric), challenger_metrics[metric]
    if old_score is None or not math.isfinite(old_score):
        return Comparison(metric, old_score, new_score, math.inf, None, None, n, confidence)
    gain = (1.0 if greater_is_better(metric) else -1.0) * (new_score - old_score)
    return Comparison(metric, old_score, new_score, gain, None, None, n, confidence)
