"""The tested recommender measured on the test users: every metric with its
interval, the margin over popularity, curves by list length, results by user
activity, example users, and the in-process latency."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cairn._io import json_safe
from cairn.evaluation import (
    activity_segment,
    bootstrap_means,
    metric_curves,
    paired_margin,
    segment_table,
)
from cairn.exceptions import DataError, SpecError
from cairn.models.recommendation import (
    Interactions,
)
from cairn.spec import ProjectSpec
from cairn.tasks.ranking import parse_metric, per_user_metrics, ranking_metrics, top_k

__all__ = ["CURVE_DEPTH", "RECOMMEND_HOW", "RESAMPLES", "Measured", "measure", "recommend_latency"]

#: Example users shown in the report, and the items listed for each.
_EXAMPLE_USERS = 5
_EXAMPLE_ITEMS = 10
#: Users timed for the latency figures, and the most seconds spent on it.
_LATENCY_USERS = 300
_LATENCY_SECONDS = 2.0
#: Bootstrap resamples of the test users, and the deepest list the curves reach.
RESAMPLES = 500
CURVE_DEPTH = 50
RECOMMEND_HOW = "Recommender.recommend in process, one user per call"
#: The per-user metrics, the main one's name first when it is among them.
_PER_USER = ("ndcg", "precision", "recall", "map", "hit_rate", "mrr")


@dataclass
class Measured:
    """The chosen model's test figures and what the report draws from them."""

    metrics: dict[str, float]
    intervals: dict[str, list[float]]
    baseline: dict[str, Any]
    curves: dict[str, list[float]]
    segments: list[dict[str, Any]]
    examples: list[dict[str, Any]]


def _popularity_lists(
    known: Interactions, users: np.ndarray, k: int, *, exclude_seen: bool
) -> np.ndarray:
    """The baseline: the most interacted-with items in ``known``, those a
    user already has left out when ``exclude_seen``; ``-1`` pads."""
    popularity = known.per_item().astype(np.float64)
    lists = np.full((len(users), k), -1, dtype=np.int64)
    block = max(1, 2_000_000 // max(known.n_items, 1))
    for start in range(0, len(users), block):
        chunk = users[start : start + block]
        scores = np.broadcast_to(popularity, (len(chunk), known.n_items))
        seen = known.item_rows(chunk) if exclude_seen else None
        lists[start : start + len(chunk)] = top_k(scores, k, seen)
    return lists


def measure(
    spec: ProjectSpec,
    recommender: Any,
    known: Interactions,
    test: Interactions,
    *,
    metric: str,
    items: pd.DataFrame | None,
) -> Measured:
    """The chosen model on the test users (those with a relevant test item):
    every metric at the spec's list length ``k`` (and at the metric's own,
    when it differs), intervals over users, curves to depth 50."""
    settings = spec.recommendation
    name, metric_k = _parse(metric)
    k = settings.k
    relevant = np.unique(test.users[test.relevant_mask()]).astype(np.int64)
    if not len(relevant):
        raise DataError(
            "no test user has a relevant interaction to score the recommendations against "
            f"({len(np.unique(test.users))} test user(s)); lower problem.relevance_threshold "
            "or give more interactions per user"
        )
    indptr, indices = test.item_rows(relevant, relevant_only=True)
    depth = max(k, metric_k, CURVE_DEPTH)
    lists, _ = recommender.recommend_many(relevant, depth, exclude_seen=settings.exclude_seen)
    lists = np.asarray(lists, dtype=np.int64)
    # The recommender's catalogue may hold items only the item table knows
    # (after the interactions' own, which keep their indices): none seen yet.
    n_items = int(recommender.n_items)
    popularity = np.zeros(n_items, dtype=np.float64)
    popularity[: known.n_items] = known.per_item()
    metrics: dict[str, float] = {}
    for at in dict.fromkeys((k, metric_k)):
        metrics.update(
            ranking_metrics(
                lists[:, :at],
                indptr,
                indices,
                k=at,
                n_items=n_items,
                item_popularity=popularity,
            )
        )
    order = [name, *(m for m in _PER_USER if m != name)] if name in _PER_USER else list(_PER_USER)
    found = per_user_metrics(lists, indptr, indices, k=k)
    per_user = {m: np.asarray(found[m], dtype=float) for m in order if m in found}
    seed = spec.train.seed
    spread = bootstrap_means(per_user, resamples=RESAMPLES, seed=seed)
    intervals = {f"{m}@{k}": s.to_list() for m, s in spread.items()}
    if name in _PER_USER and metric_k != k:
        main = per_user_metrics(lists, indptr, indices, k=metric_k)[name]
        intervals[metric] = bootstrap_means({name: main}, resamples=RESAMPLES, seed=seed)[
            name
        ].to_list()
    baseline = _baseline(
        known, relevant, indptr, indices, metric=metric, chosen=lists, seed=seed, settings=settings
    )
    activity = known.per_user()[relevant]
    segments = segment_table(
        per_user, activity_segment(activity), k=k, resamples=RESAMPLES, seed=seed
    )
    examples = _examples(
        recommender, known, test, relevant, lists[:, :k], activity, items, spec=spec
    )
    return Measured(
        metrics={key: float(v) for key, v in metrics.items()},
        intervals=intervals,
        baseline=baseline,
        curves=metric_curves(lists, indptr, indices, depth=CURVE_DEPTH),
        segments=segments,
        examples=examples,
    )


def _parse(metric: str) -> tuple[str, int]:
    parsed = parse_metric(metric)
    if parsed is None:
        raise SpecError(
            f"problem.metric = {metric!r} is not a ranking metric; use e.g. ndcg@10, "
            "precision@10, recall@10, map@10, hit_rate@10 or mrr@10"
        )
    return parsed


def _baseline(
    known: Interactions,
    users: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    *,
    metric: str,
    chosen: np.ndarray,
    seed: int,
    settings: Any,
) -> dict[str, Any]:
    """The popularity baseline's main metric on the same test users and the
    chosen model's margin over it, with a paired bootstrap interval."""
    name, k = _parse(metric)
    if name not in _PER_USER:
        return {}
    lists = _popularity_lists(known, users, k, exclude_seen=settings.exclude_seen)
    base = per_user_metrics(lists, indptr, indices, k=k)[name]
    mine = per_user_metrics(chosen, indptr, indices, k=k)[name]
    margin = paired_margin(mine, base, resamples=RESAMPLES, seed=seed)
    return {
        "model": "popularity",
        "value": float(np.mean(base)),
        "margin": margin.value,
        "low": margin.low,
        "high": margin.high,
    }


def _titles(items: pd.DataFrame | None, key: str) -> dict[str, str]:
    if items is None:
        return {}
    title = next((c for c in items.columns if str(c).lower() in ("title", "name")), None)
    if title is None:
        return {}
    return dict(zip(items[key].astype(str), items[title].astype(str), strict=True))


def _example_users(segments: np.ndarray, seed: int) -> list[int]:
    """Positions of a few test users: one of each activity segment first,
    then at random."""
    rng = np.random.default_rng(seed)
    picked: list[int] = []
    for name in ("heavy", "light", "cold"):
        inside = np.flatnonzero(segments == name)
        if len(inside):
            picked.append(int(rng.choice(inside)))
    rest = [i for i in rng.permutation(len(segments)) if int(i) not in picked]
    return (picked + [int(i) for i in rest])[:_EXAMPLE_USERS]


def _by_time(inter: Interactions, user: int) -> np.ndarray:
    rows = np.flatnonzero(inter.users == user)
    if inter.times is not None:
        rows = rows[np.argsort(inter.times[rows], kind="stable")]
    return rows


def _examples(
    recommender: Any,
    known: Interactions,
    test: Interactions,
    users: np.ndarray,
    lists: np.ndarray,
    activity: np.ndarray,
    items: pd.DataFrame | None,
    *,
    spec: ProjectSpec,
) -> list[dict[str, Any]]:
    """A few test users: their latest known interactions, the
    recommendations, and what they did in the test period."""
    titles = _titles(items, str(spec.problem.item))
    segments = activity_segment(activity)
    explicit = bool(known.explicit)
    relevant_mask = test.relevant_mask()

    def described(inter: Interactions, row: int) -> dict[str, Any]:
        item = inter.item_ids[inter.items[row]]
        entry: dict[str, Any] = {"item": json_safe(item), "title": titles.get(str(item))}
        if explicit:
            entry["rating"] = float(inter.values[row])
        return entry

    out = []
    for position in _example_users(segments, spec.train.seed):
        user = int(users[position])
        history = _by_time(known, user)[-_EXAMPLE_ITEMS:][::-1]
        upcoming = _by_time(test, user)[:_EXAMPLE_ITEMS]
        relevant = {int(i) for i in test.items[(test.users == user) & relevant_mask]}
        recommended = []
        for index in lists[position]:
            if index < 0:
                continue
            item = recommender.item_ids[index]
            recommended.append(
                {
                    "item": json_safe(item),
                    "title": titles.get(str(item)),
                    "hit": int(index) in relevant,
                }
            )
        out.append(
            {
                "user": json_safe(known.user_ids[user]),
                "segment": str(segments[position]),
                "n_train": int(activity[position]),
                "history": [described(known, int(r)) for r in history],
                "recommended": recommended,
                "next": [described(test, int(r)) for r in upcoming],
            }
        )
    return out


def recommend_latency(
    recommender: Any, k: int, *, exclude_seen: bool, seed: int
) -> dict[str, float]:
    """``Recommender.recommend`` time per call (ms) for known users."""
    ids = recommender.user_ids
    if not len(ids):
        return {}
    rng = np.random.default_rng(seed)
    chosen = ids[rng.choice(len(ids), size=min(_LATENCY_USERS, len(ids)), replace=False)]
    recommender.recommend(chosen[0], k, exclude_seen=exclude_seen)  # warm-up
    timings = []
    stop = time.perf_counter() + _LATENCY_SECONDS
    for user in chosen:
        started = time.perf_counter()
        recommender.recommend(user, k, exclude_seen=exclude_seen)
        timings.append((time.perf_counter() - started) * 1000.0)
        if started > stop and len(timings) >= 20:
            break
    values = np.asarray(timings)
    return {f"latency_p{q}_ms": round(float(np.percentile(values, q)), 4) for q in (50, 95, 99)}
