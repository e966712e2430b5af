"""Keeping the served model healthy: retrain a challenger, compare it with
the champion on the same recent labelled rows, promote it or keep the
champion, and roll back.

:func:`retrain` follows the spec's ``[maintenance]`` section:

1. the new labelled rows are ordered by time (the spec's time column, or the
   prediction log's ``ts``; file order otherwise) and the most recent
   ``holdout`` share is set aside: neither model trains on it;
2. the challenger is trained with the same spec (``cairn.workflow.run``) on
   the original sources plus the other new rows (``reference+new``), or on
   the most recent ``window_rows`` of them (``sliding_window``), and
   registered as a new version with the ``challenger`` alias;
3. champion and challenger score the held-out recent rows; the challenger is
   promoted (the ``champion`` alias moves) only if it meets every objective
   there and beats the champion's main metric by ``promotion_margin``;
4. the decision and its evidence (metrics of both, the paired bootstrap
   interval of the difference, objectives, triggers, data sizes) are recorded
   in the registry: an MLflow run tagged ``cairn.kind = decision`` with
   ``decision.json``, and ``cairn.*`` tags on the challenger's version.

A recommender retrains on new interactions (user, item, rating or weight,
time): the most recent part is held out, the challenger trains on the
spec's interactions plus the rest, and both recommend to the held-out
users, judged by NDCG@k and the other ranking measures (see
:mod:`cairn.maintenance._recommendation`).

A clustering needs no labels: the new rows are split the same way, the
challenger keeps the champion's cluster ids (its clusters are matched to
the champion's by centroid before it is packaged), and both are compared on
the held-out rows by the silhouette of their own assignment (see
:mod:`cairn.maintenance._clustering`); the evidence shows each cluster id's
share of those rows under both models.

:func:`rollback` (back to the version it replaced, or to a given one) and
:func:`promote` move ``champion`` by hand and record that too; they live in
:mod:`cairn.registry`, which imports no training library. This package chains
stages (reusing the steps of :mod:`cairn.workflow`), so it lives at the
workflow level.
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from cairn._io import atomic_write_bytes, write_json
from cairn.bundle import Model
from cairn.exceptions import CairnError, DataError, RegistryError
from cairn.maintenance._clustering import compare_clusterings
from cairn.maintenance._comparison import (
    Comparison,
    RetrainResult,
    _aligned_output,
    _compare,
)
from cairn.maintenance._recommendation import (
    compare_recommenders,
    hold_out_interactions,
    recommendation_advice,
    train_recommender_challenger,
)
from cairn.monitoring.drift import drift
from cairn.monitoring.labels import encode_labels
from cairn.monitoring.monitor import cluster_report
from cairn.monitoring.performance import performance
from cairn.monitoring.policy import RetrainAdvice, retrain_advice
from cairn.monitoring.reference import load_reference
from cairn.registry import ChampionMove, promote, rollback
from cairn.spec import ProjectSpec, SourceSpec, load_spec
from cairn.tasks import get_task
from cairn.tracking import (
    CHAMPION,
    alias_version,
    list_decisions,
    load_model,
    record_decision,
    remove_alias,
    set_alias,
    tag_version,
    tracking_uri,
)
from cairn.workflow import RunResult, ingest, run

__all__ = [
    "CHALLENGER",
    "ChampionMove",
    "Comparison",
    "RetrainResult",
    "last_retrain_time",
    "promote",
    "retrain",
    "rollback",
]

CHALLENGER = "challenger"
Progress = Callable[[str], None]
_LOG_TIME_COLUMN = "ts"


# ----------------------------------------------------------------- helpers


def _spec(spec_or_path: ProjectSpec | str | Path) -> ProjectSpec:
    return spec_or_path if isinstance(spec_or_path, ProjectSpec) else load_spec(spec_or_path)


def _time_column(spec: ProjectSpec, frame: pd.DataFrame) -> str | None:
    for name in (spec.data.time_column, _LOG_TIME_COLUMN):
        if name and name in frame.columns:
            return name
    return None


def _recent_order(frame: pd.DataFrame, time_column: str | None) -> pd.DataFrame:
    if time_column is None:
        return frame.reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas' format inference notice
        order = pd.to_datetime(frame[time_column], errors="coerce", utc=True, format="mixed")
    return (
        frame.assign(__order=order)
        .sort_values("__order", kind="stable")
        .drop(columns="__order")
        .reset_index(drop=True)
    )


def _training_frame(
    spec: ProjectSpec, new_rows: pd.DataFrame, time_column: str | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    policy = spec.maintenance
    base = ingest(spec)
    columns = list(base.columns)
    added = new_rows.reindex(columns=columns)
    combined = pd.concat([base, added], ignore_index=True)
    info: dict[str, Any] = {"mode": policy.data, "original_rows": len(base), "new_rows": len(added)}
    if policy.data == "sliding_window":
        assert policy.window_rows is not None
        ordered = _recent_order(combined, time_column if time_column in columns else None)
        combined = ordered.tail(policy.window_rows).reset_index(drop=True)
    info["training_rows"] = len(combined)
    return combined, info


def _write_training_data(frame: pd.DataFrame, folder: Path) -> Path:
    try:
        data = frame.to_parquet(index=False)
    except (ValueError, TypeError):  # pyarrow's ArrowInvalid / ArrowTypeError
        # Mixed-type object columns: store them as text; cairn re-reads types.
        text = frame.copy()
        for name in text.columns:
            if text[name].dtype == object:
                text[name] = text[name].astype("str")
        data = text.to_parquet(index=False)
    return atomic_write_bytes(folder / "train.parquet", data)


def _challenger_spec(spec: ProjectSpec, data_path: Path) -> ProjectSpec:
    data = spec.data.model_copy(
        update={"sources": [SourceSpec(path=data_path)], "combine": "append", "join_on": []}
    )
    derived = spec.model_copy(update={"data": data})
    derived._root = spec.root
    return derived


def last_retrain_time(spec_or_path: ProjectSpec | str | Path = "cairn.toml") -> datetime | None:
    """When the project last retrained (a promote or keep decision), or None."""
    spec = _spec(spec_or_path)
    return _last_retrain(spec.project.name, tracking_uri(spec.project_dir, spec.tracking.uri))


def _last_retrain(name: str, uri: str) -> datetime | None:
    try:
        decisions = list_decisions(name, tracking_uri=uri, limit=20)
    except RegistryError:
        return None
    for item in decisions:
        if item.get("decision") in ("promoted", "kept"):
            moment = item["time"]
            return moment if isinstance(moment, datetime) else None
    return None


# -------------------------------------------------------------------- retrain


def retrain(
    spec_or_path: ProjectSpec | str | Path = "cairn.toml",
    new_data: pd.DataFrame | None = None,
    *,
    only_if_due: bool = False,
    time_budget: float | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> RetrainResult:
    """Train a challenger on recent labelled data and promote it if it wins.

    Args:
        spec_or_path: the project's spec (the same one that trained the champion).
        new_data: recent labelled rows: the model's inputs and the target
            column (optionally the spec's time column or the log's ``ts``);
            for a clustering, recent rows without labels.
        only_if_due: first check the ``[maintenance]`` triggers (drift on
            ``new_data``, objectives missed on it, champion age, schedule) and
            do nothing unless one fires.
        time_budget: seconds for training; default ``maintenance.time_budget``,
            else ``train.time_budget``.
        progress: called with a short message as each step starts.
        now: the current time (for tests of the age and schedule triggers).

    Raises:
        DataError: no target column, or too few labelled rows to compare.
        RegistryError: no champion to compare with, or the store fails.
    """
    spec = _spec(spec_or_path)
    say = progress or (lambda message: None)
    uri = tracking_uri(spec.project_dir, spec.tracking.uri)
    champion_version = _champion_version(spec, uri)
    if spec.problem.task == "recommendation":
        return _retrain_recommender(
            spec,
            new_data,
            uri,
            champion_version,
            only_if_due=only_if_due,
            time_budget=time_budget,
            say=say,
            now=now,
        )
    labelled = _labelled_rows(spec, new_data)
    say(f"loading the champion (version {champion_version})")
    champion = load_model(f"models:/{spec.project.name}@{CHAMPION}", tracking_uri=uri)
    recent = _hold_out(spec, labelled)

    say("checking the maintenance triggers")
    advice = _advice(spec, champion, labelled, uri, now=now)
    if only_if_due and not advice.due:
        reasons = ["no trigger fired (drift, objectives, age, schedule)"]
        return RetrainResult("skipped", reasons, advice, champion_version, data=recent.info)

    clustering = _is_clustering(spec)
    challenger = _train_challenger(
        spec,
        recent,
        uri,
        time_budget=time_budget,
        say=say,
        previous=champion if clustering else None,
    )
    say(f"comparing champion and challenger on {len(recent.holdout)} recent rows")
    compare = compare_clusterings if clustering else _compare
    result = compare(
        spec,
        champion,
        challenger.run,
        recent.holdout,
        champion_version=champion_version,
        challenger_version=challenger.version,
        advice=advice,
        data=recent.info,
    )
    _apply_decision(spec.project.name, result, champion_version, uri)
    _record_decision(spec, result, challenger.folder, champion_version, uri)
    return result


def _retrain_recommender(
    spec: ProjectSpec,
    new_data: pd.DataFrame | None,
    uri: str,
    champion_version: str,
    *,
    only_if_due: bool,
    time_budget: float | None,
    say: Progress,
    now: datetime | None,
) -> RetrainResult:
    """:func:`retrain` for a recommender: new interactions instead of labelled rows."""
    recent = hold_out_interactions(spec, new_data)
    say(f"loading the champion (version {champion_version})")
    champion = load_model(f"models:/{spec.project.name}@{CHAMPION}", tracking_uri=uri)
    say("checking the maintenance triggers")
    assert new_data is not None
    advice = recommendation_advice(
        spec, champion, new_data, last_retrain=_last_retrain(spec.project.name, uri), now=now
    )
    if only_if_due and not advice.due:
        reasons = ["no trigger fired (drift of items or users, age, schedule)"]
        return RetrainResult("skipped", reasons, advice, champion_version, data=recent.info)
    challenger_run, version, folder = train_recommender_challenger(
        spec, recent, uri, time_budget=time_budget, say=say, alias=CHALLENGER
    )
    say(f"comparing champion and challenger on {len(recent.holdout):,} recent interactions")
    result = compare_recommenders(
        spec,
        champion,
        challenger_run,
        recent.holdout,
        champion_version=champion_version,
        challenger_version=version,
        advice=advice,
        data=recent.info,
    )
    _apply_decision(spec.project.name, result, champion_version, uri)
    _record_decision(spec, result, folder, champion_version, uri)
    return result


@dataclass
class _Recent:
    """The labelled new rows, most recent last: the held-out tail both models
    are compared on, the rest (``fresh``) that the challenger may train on."""

    holdout: pd.DataFrame
    fresh: pd.DataFrame
    time_column: str | None
    info: dict[str, Any]


@dataclass
class _Challenger:
    run: RunResult
    version: str
    folder: Path


def _champion_version(spec: ProjectSpec, uri: str) -> str:
    name = spec.project.name
    version = alias_version(name, CHAMPION, tracking_uri=uri)
    if version is None:
        raise RegistryError(
            f"model {name!r} has no champion in {uri}; run 'cairn run' to train and register "
            "the first version"
        )
    return version


def _is_clustering(spec: ProjectSpec) -> bool:
    task = spec.problem.task
    return task is not None and not get_task(task).needs_target


def _labelled_rows(spec: ProjectSpec, new_data: pd.DataFrame | None) -> pd.DataFrame:
    target = spec.problem.target
    if _is_clustering(spec) or not target:
        if new_data is None or len(new_data) == 0:
            raise DataError("no new rows given; retraining a clustering needs recent rows")
        return new_data
    if new_data is None or len(new_data) == 0:
        raise DataError("no new labelled rows given; retraining needs recent rows with labels")
    if target not in new_data.columns:
        raise DataError(
            f"the new data has no target column {target!r}; give rows with their labels "
            "(or join labels to the prediction log with --labels)"
        )
    return new_data[new_data[target].notna()]


def _hold_out(spec: ProjectSpec, labelled: pd.DataFrame) -> _Recent:
    """Order the rows by time and set the most recent ``holdout`` share aside."""
    policy = spec.maintenance
    time_column = _time_column(spec, labelled)
    ordered = _recent_order(labelled, time_column)
    n_holdout = math.ceil(len(ordered) * policy.holdout)
    if n_holdout < policy.min_holdout_rows:
        raise DataError(
            f"{len(ordered)} labelled new rows give {n_holdout} held-out rows to compare the "
            f"models on; [maintenance] needs at least min_holdout_rows = "
            f"{policy.min_holdout_rows}. Wait for more labels or lower min_holdout_rows"
        )
    holdout = ordered.tail(n_holdout).reset_index(drop=True)
    fresh = ordered.iloc[: len(ordered) - n_holdout].reset_index(drop=True)
    info: dict[str, Any] = {
        "labelled_new_rows": len(ordered),
        "holdout_rows": len(holdout),
        "ordered_by": time_column or "file order",
    }
    return _Recent(holdout, fresh, time_column, info)


def _train_challenger(
    spec: ProjectSpec,
    recent: _Recent,
    uri: str,
    *,
    time_budget: float | None,
    say: Progress,
    previous: Model | None = None,
) -> _Challenger:
    """The workflow's run on the challenger's training rows, registered as a
    new version with the ``challenger`` alias; a clustering keeps the
    cluster ids of ``previous``."""
    policy = spec.maintenance
    training, info = _training_frame(spec, recent.fresh, recent.time_column)
    recent.info.update(info)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    folder = spec.state_dir / "retrain" / stamp
    data_path = _write_training_data(training, folder)
    say(f"training a challenger on {len(training)} rows ({policy.data})")
    budget = time_budget or policy.time_budget or spec.train.time_budget
    challenger_run = run(
        _challenger_spec(spec, data_path),
        time_budget=budget,
        progress=say,
        register=True,
        previous=previous,
    )
    if challenger_run.model_uri is None:
        raise RegistryError("the challenger was not registered; check [tracking] in cairn.toml")
    version = challenger_run.model_uri.rsplit("/", 1)[-1]
    set_alias(spec.project.name, CHALLENGER, version, tracking_uri=uri)
    return _Challenger(challenger_run, version, folder)


def _apply_decision(name: str, result: RetrainResult, champion_version: str, uri: str) -> None:
    """Move ``champion`` to a promoted challenger, or take ``challenger`` off a loser."""
    assert result.challenger_version is not None
    if result.promoted:
        # The version names the champion it replaces before it replaces it: if
        # retraining dies between the two, rollback still finds the way back
        # instead of taking the highest older version (maybe a killed run's).
        tag_version(
            name,
            result.challenger_version,
            {
                "cairn.previous_champion": champion_version,
                "cairn.promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            tracking_uri=uri,
        )
        set_alias(name, CHAMPION, result.challenger_version, tracking_uri=uri)
    else:
        # A challenger that lost is no longer one; its version stays, tagged why.
        remove_alias(name, CHALLENGER, tracking_uri=uri)


def _record_decision(
    spec: ProjectSpec, result: RetrainResult, folder: Path, champion_version: str, uri: str
) -> None:
    """The evidence in the retrain folder and in an MLflow decision run, and
    the decision's tags on the challenger's version."""
    name = spec.project.name
    evidence = result.evidence()
    result.evidence_path = write_json(folder / "decision.json", evidence)
    metrics = {f"challenger_{k}": v for k, v in result.challenger_metrics.items()}
    metrics.update({f"champion_{k}": v for k, v in result.champion_metrics.items()})
    result.decision_run_id = record_decision(
        project=name,
        project_dir=spec.project_dir,
        configured_uri=spec.tracking.uri,
        artifacts=spec.tracking.artifacts,
        decision=result.decision,
        evidence=evidence,
        metrics=metrics,
    )
    tags: dict[str, Any] = {
        "cairn.role": CHALLENGER,
        "cairn.decision": result.decision,
        "cairn.decision_reason": "; ".join(result.reasons),
        "cairn.decision_run": result.decision_run_id,
        "cairn.compared_with": champion_version,
    }
    assert result.challenger_version is not None
    tag_version(name, result.challenger_version, tags, tracking_uri=uri)


def _advice(
    spec: ProjectSpec, champion: Model, labelled: pd.DataFrame, uri: str, *, now: datetime | None
) -> RetrainAdvice:
    settings = spec.monitoring
    target = spec.problem.target
    drift_report = clusters = None
    if champion.path is not None:
        rows = labelled.drop(columns=[target]) if target and target in labelled else labelled
        try:
            reference = load_reference(champion.path)
            drift_report = drift(rows, reference, settings=settings)
            clusters = cluster_report(champion, rows, reference, settings=settings)
        except CairnError:
            pass
    perf = None
    try:
        if not target:
            raise DataError("no labels: performance is not measured")
        output = _aligned_output(champion, labelled, list(champion.schema.classes or ()))
        if get_task(champion.task).has_classes:
            y = encode_labels(labelled[spec.problem.target], list(champion.schema.classes or ()))
        else:
            y = pd.to_numeric(labelled[spec.problem.target], errors="coerce").to_numpy()
        perf = performance(
            y,
            output,
            task=champion.task,
            metric=str(champion.metadata.get("metric") or get_task(champion.task).default_metric()),
            objectives=spec.problem.parsed_objectives,
            bootstrap=0,
        )
    except CairnError:
        perf = None
    created = champion.metadata.get("created_at")
    return retrain_advice(
        spec.maintenance,
        drift=drift_report,
        performance=perf,
        champion_created=datetime.fromisoformat(created) if created else None,
        last_retrain=_last_retrain(spec.project.name, uri),
        now=now,
        clusters=clusters,
    )
