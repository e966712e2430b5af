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

:func:`rollback` (back to the version it replaced, or to a given one) and
:func:`promote` move ``champion`` by hand and record that too; they live in
:mod:`cairn.registry`, which imports no training library. This module chains
stages, so it lives at the workflow level, beside :mod:`cairn.workflow`.
"""

from __future__ import annotations

import json
import math
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from cairn.bundle import Model, SchemaWarning, load_model
from cairn.data.sources import collect
from cairn.evaluation.evaluate import ObjectiveResult, check_objectives
from cairn.evaluation.metrics import classification_metrics, regression_metrics, score
from cairn.exceptions import CairnError, DataError, RegistryError
from cairn.monitoring.drift import drift
from cairn.monitoring.labels import encode_labels
from cairn.monitoring.performance import performance
from cairn.monitoring.policy import RetrainAdvice, retrain_advice
from cairn.monitoring.reference import load_reference
from cairn.registry import ChampionMove, promote, rollback
from cairn.serving.gate import LATENCY_QUANTITIES
from cairn.spec import LOWER_IS_BETTER, ProjectSpec, SourceSpec, default_metric, load_spec
from cairn.tracking import (
    CHAMPION,
    alias_version,
    list_decisions,
    record_decision,
    remove_alias,
    set_alias,
    tag_version,
    tracking_uri,
)
from cairn.workflow import RunResult, run

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
Decision = Literal["promoted", "kept", "skipped"]
_LOG_TIME_COLUMN = "ts"


@dataclass(frozen=True)
class Comparison:
    """Champion and challenger on the same recent labelled rows.

    Attributes:
        improvement: how much better the challenger is on the main metric
            (positive is better, in the metric's units, whatever its direction).
        low, high: paired bootstrap interval of ``improvement``.
    """

    metric: str
    champion: float | None
    challenger: float
    improvement: float
    low: float | None
    high: float | None
    n: int
    confidence: float


@dataclass
class RetrainResult:
    """What :func:`retrain` did, and why.

    Attributes:
        decision: ``promoted``, ``kept`` or ``skipped`` (nothing was due).
        reasons: the decision's reasons, in words.
        advice: the policy triggers that fired.
        champion_metrics, challenger_metrics: every task metric of each model
            on the held-out recent rows.
        objectives: the spec's objectives checked for the challenger.
        run: the challenger's training run.
        decision_run_id: the MLflow run holding the evidence.
        evidence_path: the evidence, also written in the project folder.
    """

    decision: Decision
    reasons: list[str]
    advice: RetrainAdvice
    champion_version: str | None = None
    challenger_version: str | None = None
    comparison: Comparison | None = None
    champion_metrics: dict[str, float] = field(default_factory=dict)
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    objectives: list[ObjectiveResult] = field(default_factory=list)
    run: RunResult | None = None
    decision_run_id: str | None = None
    evidence_path: Path | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def promoted(self) -> bool:
        return self.decision == "promoted"

    def summary(self) -> str:
        if self.decision == "skipped":
            return "retraining not due: " + "; ".join(self.reasons)
        head = (
            f"promoted version {self.challenger_version} to champion"
            if self.promoted
            else f"kept version {self.champion_version} as champion"
        )
        return head + ": " + "; ".join(self.reasons)

    def evidence(self) -> dict[str, Any]:
        """The decision and what it rests on, as recorded in the registry."""
        return _jsonable(
            {
                "decision": self.decision,
                "version": self.challenger_version,
                "champion_version": self.champion_version,
                "challenger_version": self.challenger_version,
                "reasons": self.reasons,
                "triggers": self.advice.triggers,
                "trigger_reasons": self.advice.reasons,
                "comparison": asdict(self.comparison) if self.comparison else None,
                "champion_metrics": self.champion_metrics,
                "challenger_metrics": self.challenger_metrics,
                "objectives": [asdict(o) for o in self.objectives],
                "data": self.data,
                "challenger_run": self.run.run_id if self.run else None,
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )


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


def _aligned_output(model: Model, frame: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """Probabilities in ``classes`` order (0 for classes the model does not
    know), or predicted values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SchemaWarning)
        if model.task != "classification":
            return np.asarray(model.predict(frame), dtype=float)
        proba = model.predict_proba(frame)
    proba.columns = [str(c) for c in (model.schema.classes or proba.columns)]
    return proba.reindex(columns=list(classes), fill_value=0.0).to_numpy(dtype=float)


def _metrics(task: str, y: np.ndarray, output: np.ndarray) -> dict[str, float]:
    if task == "classification":
        return classification_metrics(y, output)
    return regression_metrics(y, output)


def _metric(metric: str, task: str, y: np.ndarray, output: np.ndarray) -> float:
    if task == "classification":
        return score(metric, y, proba=output)
    return score(metric, y, y_pred=output)


def _paired_interval(
    metric: str,
    task: str,
    y: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    *,
    rounds: int,
    confidence: float,
    seed: int,
) -> tuple[float | None, float | None]:
    """Bootstrap interval of the challenger's improvement, resampling the same
    rows for both models so their shared noise cancels."""
    if rounds == 0:
        return None, None
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(rounds):
        rows = rng.integers(0, len(y), size=len(y))
        a = _metric(metric, task, y[rows], challenger[rows])
        b = _metric(metric, task, y[rows], champion[rows])
        if math.isfinite(a) and math.isfinite(b):
            diffs.append(sign * (a - b))
    if len(diffs) < rounds / 2:
        return None, None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return float(low), float(high)


def _training_frame(
    spec: ProjectSpec, new_rows: pd.DataFrame, time_column: str | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    policy = spec.maintenance
    base = collect(spec)
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
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train.parquet"
    tmp = folder / ".train.parquet.tmp"
    try:
        frame.to_parquet(tmp, index=False)
    except (ValueError, TypeError):  # pyarrow's ArrowInvalid / ArrowTypeError
        # Mixed-type object columns: store them as text; cairn re-reads types.
        text = frame.copy()
        for name in text.columns:
            if text[name].dtype == object:
                text[name] = text[name].astype("str")
        text.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


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
            column (optionally the spec's time column or the log's ``ts``).
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
    policy = spec.maintenance
    name = spec.project.name
    target = spec.problem.target
    uri = tracking_uri(spec.project_dir, spec.tracking.uri)
    champion_version = alias_version(name, CHAMPION, tracking_uri=uri)
    if champion_version is None:
        raise RegistryError(
            f"model {name!r} has no champion in {uri}; run 'cairn run' to train and register "
            "the first version"
        )
    if new_data is None or len(new_data) == 0:
        raise DataError("no new labelled rows given; retraining needs recent rows with labels")
    if target not in new_data.columns:
        raise DataError(
            f"the new data has no target column {target!r}; give rows with their labels "
            "(or join labels to the prediction log with --labels)"
        )
    say(f"loading the champion (version {champion_version})")
    champion = load_model(f"models:/{name}@{CHAMPION}", tracking_uri=uri)
    labelled = new_data[new_data[target].notna()]
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
    data_info: dict[str, Any] = {
        "labelled_new_rows": len(ordered),
        "holdout_rows": len(holdout),
        "ordered_by": time_column or "file order",
    }

    say("checking the maintenance triggers")
    advice = _advice(spec, champion, labelled, uri, now=now)
    if only_if_due and not advice.due:
        reasons = ["no trigger fired (drift, objectives, age, schedule)"]
        return RetrainResult("skipped", reasons, advice, champion_version, data=data_info)

    training, info = _training_frame(spec, fresh, time_column)
    data_info.update(info)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    folder = spec.state_dir / "retrain" / stamp
    data_path = _write_training_data(training, folder)
    say(f"training a challenger on {len(training)} rows ({policy.data})")
    budget = time_budget or policy.time_budget or spec.train.time_budget
    challenger_run = run(
        _challenger_spec(spec, data_path), time_budget=budget, progress=say, register=True
    )
    if challenger_run.model_uri is None:
        raise RegistryError("the challenger was not registered; check [tracking] in cairn.toml")
    challenger_version = challenger_run.model_uri.rsplit("/", 1)[-1]
    set_alias(name, CHALLENGER, challenger_version, tracking_uri=uri)

    say(f"comparing champion and challenger on {len(holdout)} recent rows")
    result = _compare(
        spec,
        champion,
        challenger_run,
        holdout,
        champion_version=champion_version,
        challenger_version=challenger_version,
        advice=advice,
        data=data_info,
    )
    if result.promoted:
        # The version names the champion it replaces before it replaces it: if
        # retraining dies between the two, rollback still finds the way back
        # instead of taking the highest older version (maybe a killed run's).
        tag_version(
            name,
            challenger_version,
            {
                "cairn.previous_champion": champion_version,
                "cairn.promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            tracking_uri=uri,
        )
        set_alias(name, CHAMPION, challenger_version, tracking_uri=uri)
    else:
        # A challenger that lost is no longer one; its version stays, tagged why.
        remove_alias(name, CHALLENGER, tracking_uri=uri)
    evidence = result.evidence()
    result.evidence_path = folder / "decision.json"
    result.evidence_path.write_text(json.dumps(evidence, indent=2), encoding="utf-8")
    metrics = {f"challenger_{k}": v for k, v in result.challenger_metrics.items()}
    metrics.update({f"champion_{k}": v for k, v in result.champion_metrics.items()})
    result.decision_run_id = record_decision(
        project=name,
        project_dir=spec.project_dir,
        configured_uri=spec.tracking.uri,
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
    tag_version(name, challenger_version, tags, tracking_uri=uri)
    return result


def _advice(
    spec: ProjectSpec, champion: Model, labelled: pd.DataFrame, uri: str, *, now: datetime | None
) -> RetrainAdvice:
    settings = spec.monitoring
    drift_report = None
    if champion.path is not None:
        try:
            drift_report = drift(
                labelled.drop(columns=[spec.problem.target]),
                load_reference(champion.path),
                settings=settings,
            )
        except CairnError:
            drift_report = None
    perf = None
    try:
        output = _aligned_output(champion, labelled, list(champion.schema.classes or ()))
        if champion.task == "classification":
            y = encode_labels(labelled[spec.problem.target], list(champion.schema.classes or ()))
        else:
            y = pd.to_numeric(labelled[spec.problem.target], errors="coerce").to_numpy()
        perf = performance(
            y,
            output,
            task=champion.task,
            metric=str(champion.metadata.get("metric") or default_metric(champion.task)),
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
    )


def _challenger_objectives(
    spec: ProjectSpec, measured: dict[str, float], from_run: Sequence[ObjectiveResult]
) -> list[ObjectiveResult]:
    """The spec's objectives for the challenger: quality on the recent rows;
    latency exactly as its ``cairn run`` judged it, on the served engine over
    HTTP (the serving gate), never on the in-process pipeline."""
    served = {o.objective: o for o in from_run if o.quantity in LATENCY_QUANTITIES}
    checked = []
    for result in check_objectives(spec.problem.parsed_objectives, measured):
        if result.quantity in LATENCY_QUANTITIES:
            result = served.get(result.objective, result)
        elif result.how == "held-out test set":
            result = replace(result, how="recent held-out rows")
        checked.append(result)
    return checked


def _compare(
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
    target = spec.problem.target
    challenger = challenger_run.model
    task = challenger.task
    metric = challenger_run.evaluation.metric
    classes = [str(c) for c in challenger.schema.classes or ()]
    if task == "classification":
        known = set(classes)
        extra = [str(c) for c in champion.schema.classes or () if str(c) not in known]
        classes = classes + extra
        y = encode_labels(holdout[target], classes)
        keep = y >= 0
    else:
        y = pd.to_numeric(holdout[target], errors="coerce").to_numpy(dtype=float)
        keep = np.isfinite(y)
    features = holdout.drop(columns=[target])[keep].reset_index(drop=True)
    y = y[keep]
    reasons: list[str] = []
    challenger_out = _aligned_output(challenger, features, classes)
    challenger_metrics = _metrics(task, y, challenger_out)
    champion_out: np.ndarray | None
    try:
        champion_out = _aligned_output(champion, features, classes)
        champion_metrics = _metrics(task, y, champion_out)
    except CairnError as error:
        champion_out, champion_metrics = None, {}
        reasons.append(f"the champion could not score the recent rows ({error})")
    measured = {**challenger_metrics, **challenger_run.evaluation.latency_ms}
    size = challenger.metadata.get("model_size_mb")
    if size is not None:
        measured["model_size_mb"] = float(size)
    objectives = _challenger_objectives(spec, measured, challenger_run.evaluation.objectives)
    failed = [o for o in objectives if o.met is False]
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    new_score = challenger_metrics[metric]
    old_score = champion_metrics.get(metric) if champion_out is not None else None
    confidence = spec.monitoring.confidence
    if old_score is not None and champion_out is not None:
        improvement = sign * (new_score - old_score)
        low, high = _paired_interval(
            metric,
            task,
            y,
            champion_out,
            challenger_out,
            rounds=spec.monitoring.bootstrap,
            confidence=confidence,
            seed=spec.train.seed,
        )
    else:
        improvement, low, high = math.inf, None, None
    comparison = Comparison(
        metric, old_score, new_score, improvement, low, high, len(y), confidence
    )
    margin = spec.maintenance.promotion_margin
    beats = not math.isfinite(improvement) or (improvement > 0 and improvement >= margin)
    if failed:
        reasons.append(
            "the challenger misses objective(s) on the recent rows: "
            + ", ".join(
                f"{o.objective} (got {o.value:.4g})"
                if o.value is not None
                else f"{o.objective} ({o.how})"
                for o in failed
            )
        )
    if old_score is not None:
        verb = "beats" if beats else "does not beat"
        reasons.append(
            f"the challenger {verb} the champion on {metric}: {new_score:.4g} vs "
            f"{old_score:.4g} on {len(y)} recent rows (improvement {improvement:+.4g}, "
            f"margin {margin:g}"
            + (f", {confidence:.0%} interval {low:+.4g} to {high:+.4g}" if low is not None else "")
            + ")"
        )
    decision: Decision = "promoted" if beats and not failed else "kept"
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
    )


def _jsonable(value: Any) -> Any:
    """Plain JSON values; NaN and infinities become null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | Path):
        return str(value)
    return value
