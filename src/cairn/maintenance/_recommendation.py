"""Retraining a recommender on new interactions, and the challenger against
the champion on the same recent interactions.

1. The new interactions (user, item, optional rating and time, named as in
   the spec) are ordered by the spec's time column (file order without
   one) and the most recent ``holdout`` share is set aside: neither model
   trains on it.
2. The challenger is trained by the workflow's own run on the spec's
   interaction sources plus the other new interactions (``reference+new``),
   or on the most recent ``window_rows`` of them (``sliding_window``); the
   item and user side tables stay as they are.
3. Both models recommend ``k`` items to every user with a relevant held-out
   interaction (a rating at or above the relevance threshold the champion
   was trained with; every interaction for implicit data), each excluding
   what it saw in training; the lists are scored with the task's ranking
   measures (NDCG, precision, recall, MAP, hit rate, MRR at k, and
   coverage). The improvement on the spec's metric (``ndcg@10`` by default)
   gets a paired bootstrap interval over users, and the maintenance policy
   decides as for the other tasks (:func:`~cairn.maintenance._comparison.verdict`).

A user the champion never saw gets its fallback list, as in serving: a
stale model's disadvantage is part of what is measured.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn._io import atomic_write_bytes
from cairn.bundle import Model
from cairn.data.sources import apply_source_options, read_source
from cairn.exceptions import DataError, RegistryError
from cairn.maintenance._comparison import (
    Comparison,
    RetrainResult,
    _challenger_objectives,
    verdict,
)
from cairn.monitoring.policy import RetrainAdvice, retrain_advice
from cairn.monitoring.recommendations import (
    paired_interval,
    recommendation_report,
    training_profile,
)
from cairn.spec import ProjectSpec, SourceSpec
from cairn.tasks.ranking import catalogue_metrics, parse_metric, per_user_metrics
from cairn.tracking import set_alias
from cairn.workflow import RunResult, run

__all__ = [
    "RecentInteractions",
    "compare_recommenders",
    "hold_out_interactions",
    "recommendation_advice",
    "train_recommender_challenger",
]

_PER_USER = ("ndcg", "precision", "recall", "map", "hit_rate", "mrr")
_DEFAULT_METRIC = "ndcg@10"


@dataclass
class RecentInteractions:
    """The new interactions, most recent last: the held-out tail both models
    are compared on, and the rest (``fresh``) the challenger may train on."""

    holdout: pd.DataFrame
    fresh: pd.DataFrame
    time_column: str | None
    info: dict[str, Any]


def _columns(spec: ProjectSpec) -> tuple[str, str]:
    user, item = spec.problem.user, spec.problem.item
    if not user or not item:
        raise DataError("the spec names no problem.user and problem.item columns")
    return str(user), str(item)


def _order(frame: pd.DataFrame, time_column: str | None) -> pd.DataFrame:
    """Oldest first: epoch seconds as numbers, or parsed date-times."""
    if time_column is None:
        return frame.reset_index(drop=True)
    column = frame[time_column]
    if pd.api.types.is_numeric_dtype(column):
        order = pd.to_numeric(column, errors="coerce")
    else:
        order = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
    return (
        frame.assign(__order=order)
        .sort_values("__order", kind="stable", na_position="first")
        .drop(columns="__order")
        .reset_index(drop=True)
    )


def hold_out_interactions(spec: ProjectSpec, new_data: pd.DataFrame | None) -> RecentInteractions:
    """Check the new interactions and set the most recent ``holdout`` share aside.

    Raises:
        DataError: no rows, a missing user or item column, or too few
            held-out interactions for ``min_holdout_rows``.
    """
    user, item = _columns(spec)
    if new_data is None or len(new_data) == 0:
        raise DataError("no new interactions given; retraining a recommender needs recent ones")
    missing = [c for c in (user, item) if c not in new_data.columns]
    if missing:
        raise DataError(
            f"the new interactions lack the column(s) {', '.join(missing)} (the spec's "
            f"problem.user / problem.item); columns: {', '.join(map(str, new_data.columns[:20]))}"
        )
    rows = new_data.dropna(subset=[user, item])
    time_column = spec.data.time_column if spec.data.time_column in rows.columns else None
    ordered = _order(rows, time_column)
    policy = spec.maintenance
    n_holdout = math.ceil(len(ordered) * policy.holdout)
    if n_holdout < policy.min_holdout_rows:
        raise DataError(
            f"{len(ordered)} new interactions give {n_holdout} held-out ones to compare the "
            f"models on; [maintenance] needs at least min_holdout_rows = "
            f"{policy.min_holdout_rows}. Wait for more interactions or lower min_holdout_rows"
        )
    holdout = ordered.tail(n_holdout).reset_index(drop=True)
    fresh = ordered.iloc[: len(ordered) - n_holdout].reset_index(drop=True)
    info: dict[str, Any] = {
        "new_interactions": len(ordered),
        "dropped_without_user_or_item": len(new_data) - len(rows),
        "holdout_interactions": len(holdout),
        "holdout_users": int(holdout[user].nunique()),
        "ordered_by": time_column or "file order",
    }
    return RecentInteractions(holdout, fresh, time_column, info)


def recommendation_advice(
    spec: ProjectSpec,
    champion: Model,
    new_data: pd.DataFrame,
    *,
    last_retrain: datetime | None,
    now: datetime | None,
) -> RetrainAdvice:
    """The maintenance triggers on the new interactions: drift of items and
    users against the champion's training, its age, the schedule."""
    user, item = _columns(spec)
    time_column = spec.data.time_column if spec.data.time_column in new_data.columns else None
    report = recommendation_report(
        None,
        new_data,
        training_profile(champion.pipeline),
        user=user,
        item=item,
        time=time_column,
        seed=spec.train.seed,
    )
    created = champion.metadata.get("created_at")
    return retrain_advice(
        spec.maintenance,
        champion_created=datetime.fromisoformat(created) if created else None,
        last_retrain=last_retrain,
        now=now,
        recommendations=report,
    )


def _interactions_and_sides(spec: ProjectSpec) -> tuple[pd.DataFrame, list[SourceSpec]]:
    """The spec's interaction sources appended, and its side-table sources."""
    settings = spec.recommendation
    side_names = {name for name in (settings.items, settings.users) if name}
    frames, sides = [], []
    for source in spec.data.sources:
        if source.name and source.name in side_names:
            sides.append(source)
        else:
            frame = read_source(source, root=spec.root)
            frames.append(apply_source_options(frame, source, source.label))
    if not frames:
        raise DataError("the spec has no interaction source besides its side tables")
    return (frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)), sides


def train_recommender_challenger(
    spec: ProjectSpec,
    recent: RecentInteractions,
    uri: str,
    *,
    time_budget: float | None,
    say: Any,
    alias: str,
) -> tuple[RunResult, str, Path]:
    """The workflow's run on the original interactions plus the fresh ones
    (or the policy's window of them), registered as a new version with the
    ``alias`` (challenger). Returns the run, its version and its folder."""
    base, sides = _interactions_and_sides(spec)
    added = recent.fresh.reindex(columns=list(base.columns))
    combined = pd.concat([base, added], ignore_index=True)
    policy = spec.maintenance
    info: dict[str, Any] = {
        "mode": policy.data,
        "original_interactions": len(base),
        "new_interactions_trained_on": len(added),
    }
    if policy.data == "sliding_window":
        assert policy.window_rows is not None
        time_column = recent.time_column if recent.time_column in combined.columns else None
        combined = _order(combined, time_column).tail(policy.window_rows).reset_index(drop=True)
    info["training_interactions"] = len(combined)
    recent.info.update(info)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    folder = spec.state_dir / "retrain" / stamp
    data_path = atomic_write_bytes(
        folder / "interactions.parquet", combined.to_parquet(index=False)
    )
    data = spec.data.model_copy(
        update={"sources": [SourceSpec(path=data_path), *sides], "combine": "append"}
    )
    derived = spec.model_copy(update={"data": data})
    derived._root = spec.root
    say(f"training a challenger on {len(combined):,} interactions ({policy.data})")
    budget = time_budget or policy.time_budget or spec.train.time_budget
    challenger_run = run(derived, time_budget=budget, progress=say, register=True)
    if challenger_run.model_uri is None:
        raise RegistryError("the challenger was not registered; check [tracking] in cairn.toml")
    version = challenger_run.model_uri.rsplit("/", 1)[-1]
    set_alias(spec.project.name, alias, version, tracking_uri=uri)
    return challenger_run, version, folder


def _relevant(spec: ProjectSpec, champion: Model, holdout: pd.DataFrame) -> pd.DataFrame:
    """The held-out interactions that count as relevant: ratings at or above
    the threshold the champion was trained with (each user's mean when it
    used that), every interaction for implicit data."""
    rating = spec.problem.rating
    if not rating or rating not in holdout.columns:
        return holdout
    values = pd.to_numeric(holdout[rating], errors="coerce")
    threshold = (champion.metadata.get("recommendation") or {}).get("relevance_threshold")
    if not isinstance(threshold, int | float) and isinstance(
        spec.problem.relevance_threshold, int | float
    ):
        threshold = spec.problem.relevance_threshold
    if isinstance(threshold, int | float):
        return holdout[values >= float(threshold)]
    if spec.problem.relevance_threshold == "all":
        return holdout
    user = str(spec.problem.user)
    means = values.groupby(holdout[user]).transform("mean")
    return holdout[values >= means]


def _key(value: Any) -> str:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


@dataclass
class _Lists:
    """Each model's top-k for the same users, in one shared item index."""

    champion: np.ndarray
    challenger: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    n_items: int


def _lists(
    champion: Any, challenger: Any, relevant: pd.DataFrame, user: str, item: str, k: int, seen: bool
) -> tuple[_Lists, list[Any]]:
    index: dict[str, int] = {}

    def position(value: Any) -> int:
        return index.setdefault(_key(value), len(index))

    for model in (champion, challenger):
        for value in model.item_ids:
            position(value)
    users = list(dict.fromkeys(relevant[user].tolist()))
    grouped = relevant.groupby(relevant[user].map(_key))[item].agg(list)
    tops = {name: np.full((len(users), k), -1, dtype=np.int64) for name in ("old", "new")}
    indptr, indices = [0], []
    for row, who in enumerate(users):
        for name, model in (("old", champion), ("new", challenger)):
            found = model.recommend(who, k, exclude_seen=seen)
            tops[name][row, : len(found.items)] = [position(i) for i in found.items]
        items = sorted({position(i) for i in grouped[_key(who)]})
        indices.extend(items)
        indptr.append(len(indices))
    lists = _Lists(
        tops["old"],
        tops["new"],
        np.asarray(indptr, dtype=np.int64),
        np.asarray(indices, dtype=np.int64),
        len(index),
    )
    return lists, users


def _measures(top: np.ndarray, lists: _Lists, k: int) -> tuple[dict[str, float], dict[str, Any]]:
    per_user = per_user_metrics(top, lists.indptr, lists.indices, k=k)
    means = {f"{name}@{k}": float(np.nanmean(per_user[name])) for name in _PER_USER}
    means.update(catalogue_metrics(top, k=k, n_items=max(lists.n_items, 1)))
    return means, per_user


def compare_recommenders(
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
    """Both recommenders on the same held-out recent interactions, the
    challenger's objectives checked there, and the decision with its reasons.

    Raises:
        DataError: no held-out interaction counts as relevant.
    """
    user, item = _columns(spec)
    metric = str(challenger_run.evaluation.metric or _DEFAULT_METRIC)
    parsed = parse_metric(metric)
    name, k = parsed if parsed is not None else ("ndcg", spec.recommendation.k)
    if name not in _PER_USER:  # coverage or novelty: not a per-user measure to pair
        name, metric = "ndcg", f"ndcg@{k}"
    relevant = _relevant(spec, champion, holdout)
    if not len(relevant):
        raise DataError(
            f"none of the {len(holdout)} held-out interactions counts as relevant (rating at "
            "or above the relevance threshold); give more recent interactions"
        )
    lists, users = _lists(
        champion.pipeline,
        challenger_run.model.pipeline,
        relevant,
        user,
        item,
        k,
        spec.recommendation.exclude_seen,
    )
    champion_metrics, old = _measures(lists.champion, lists, k)
    challenger_metrics, new = _measures(lists.challenger, lists, k)
    difference = new[name] - old[name]
    difference = difference[np.isfinite(difference)]
    low, high = paired_interval(
        difference, spec.monitoring.confidence, spec.monitoring.bootstrap, spec.train.seed
    )
    comparison = Comparison(
        metric,
        champion_metrics[f"{name}@{k}"],
        challenger_metrics[f"{name}@{k}"],
        float(difference.mean()) if len(difference) else 0.0,
        low,
        high,
        len(users),
        spec.monitoring.confidence,
    )
    measured = {**challenger_metrics, **challenger_run.evaluation.latency_ms}
    objectives = _challenger_objectives(spec, measured, challenger_run.evaluation.objectives)
    decision, reasons = verdict(spec, comparison, objectives)
    data["compared_users"] = len(users)
    data["relevant_interactions"] = len(relevant)
    return RetrainResult(
        decision=decision,
        # the comparison counts users, each with the list both models gave
        reasons=[r.replace("recent rows", "recent users") for r in reasons],
        advice=advice,
        champion_version=champion_version,
        challenger_version=challenger_version,
        comparison=comparison,
        champion_metrics=champion_metrics,
        challenger_metrics=challenger_metrics,
        objectives=objectives,
        run=challenger_run,
        data=data,
    )
