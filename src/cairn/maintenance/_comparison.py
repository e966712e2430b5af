"""Champion and challenger compared on the same recent labelled rows: both
models' metrics, the paired bootstrap interval of the improvement, the
challenger's objectives, and the decision with its reasons."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from cairn._io import json_safe
from cairn.behaviour import hold_reason
from cairn.bundle import Model, SchemaWarning
from cairn.evaluation.evaluate import ObjectiveResult, check_objectives
from cairn.exceptions import CairnError
from cairn.monitoring.labels import encode_labels
from cairn.monitoring.policy import RetrainAdvice
from cairn.serving.gate import LATENCY_QUANTITIES
from cairn.spec import ProjectSpec
from cairn.tasks import get_task, greater_is_better
from cairn.workflow import RunResult

Decision = Literal["promoted", "kept", "skipped"]


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
        clusters: for a clustering, how the challenger's cluster ids were
            matched to the champion's and each id's share of the recent
            rows under both models.
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
    clusters: dict[str, Any] | None = None

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
        return json_safe(
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
                "clusters": self.clusters,
                "challenger_run": self.run.run_id if self.run else None,
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )


def _aligned_output(model: Model, frame: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """Probabilities in ``classes`` order (0 for classes the model does not
    know), or predicted values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SchemaWarning)
        if not get_task(model.task).has_classes:
            return np.asarray(model.predict(frame), dtype=float)
        proba = model.predict_proba(frame)
    proba.columns = [str(c) for c in (model.schema.classes or proba.columns)]
    return proba.reindex(columns=list(classes), fill_value=0.0).to_numpy(dtype=float)


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
    sign = 1.0 if greater_is_better(metric) else -1.0
    kind = get_task(task)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(rounds):
        rows = rng.integers(0, len(y), size=len(y))
        a = kind.score(metric, y[rows], challenger[rows])
        b = kind.score(metric, y[rows], champion[rows])
        if math.isfinite(a) and math.isfinite(b):
            diffs.append(sign * (a - b))
    if len(diffs) < rounds / 2:
        return None, None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return float(low), float(high)


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
    """Both models scored on the held-out recent rows, the challenger's
    objectives checked there, and the decision with its reasons."""
    challenger = challenger_run.model
    metric = challenger_run.evaluation.metric
    scores = _score_holdout(spec.problem.target, champion, challenger, holdout)
    measured = {**scores.challenger_metrics, **challenger_run.evaluation.latency_ms}
    size = challenger.metadata.get("model_size_mb")
    if size is not None:
        measured["model_size_mb"] = float(size)
    objectives = _challenger_objectives(spec, measured, challenger_run.evaluation.objectives)
    comparison = _weigh(spec, metric, challenger.task, scores)
    decision, reasons = verdict(spec, comparison, objectives)
    held = hold_reason(challenger_run.tests) if challenger_run.tests is not None else None
    if held is not None:
        decision = "kept"
        reasons.insert(0, f"the challenger cannot be champion: {held}")
    return RetrainResult(
        decision=decision,
        reasons=scores.reasons + reasons,
        advice=advice,
        champion_version=champion_version,
        challenger_version=challenger_version,
        comparison=comparison,
        champion_metrics=scores.champion_metrics,
        challenger_metrics=scores.challenger_metrics,
        objectives=objectives,
        run=challenger_run,
        data=data,
    )


@dataclass
class _Scores:
    """Both models' outputs and metrics on the held-out rows with a usable label."""

    y: np.ndarray
    challenger_out: np.ndarray
    challenger_metrics: dict[str, float]
    champion_out: np.ndarray | None
    champion_metrics: dict[str, float]
    reasons: list[str]


def _score_holdout(
    target: str, champion: Model, challenger: Model, holdout: pd.DataFrame
) -> _Scores:
    task = challenger.task
    classes = [str(c) for c in challenger.schema.classes or ()]
    if get_task(task).has_classes:
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
    challenger_metrics = get_task(task).all_metrics(y, challenger_out)
    champion_out: np.ndarray | None
    try:
        champion_out = _aligned_output(champion, features, classes)
        champion_metrics = get_task(task).all_metrics(y, champion_out)
    except CairnError as error:
        champion_out, champion_metrics = None, {}
        reasons.append(f"the champion could not score the recent rows ({error})")
    return _Scores(y, challenger_out, challenger_metrics, champion_out, champion_metrics, reasons)


def _weigh(spec: ProjectSpec, metric: str, task: str, scores: _Scores) -> Comparison:
    """The challenger's improvement on the main metric and its paired interval;
    an infinite improvement when the champion could not be scored."""
    sign = 1.0 if greater_is_better(metric) else -1.0
    new_score = scores.challenger_metrics[metric]
    champion_out = scores.champion_out
    old_score = scores.champion_metrics.get(metric) if champion_out is not None else None
    confidence = spec.monitoring.confidence
    if old_score is not None and champion_out is not None:
        improvement = sign * (new_score - old_score)
        low, high = _paired_interval(
            metric,
            task,
            scores.y,
            champion_out,
            scores.challenger_out,
            rounds=spec.monitoring.bootstrap,
            confidence=confidence,
            seed=spec.train.seed,
        )
    else:
        improvement, low, high = math.inf, None, None
    return Comparison(
        metric, old_score, new_score, improvement, low, high, len(scores.y), confidence
    )


def verdict(
    spec: ProjectSpec, comparison: Comparison, objectives: Sequence[ObjectiveResult]
) -> tuple[Decision, list[str]]:
    """Promote a challenger that meets every objective and beats the champion
    by ``promotion_margin`` (or that faces a champion that could not be
    scored); the reasons in words."""
    failed = [o for o in objectives if o.met is False]
    margin = spec.maintenance.promotion_margin
    improvement = comparison.improvement
    beats = not math.isfinite(improvement) or (improvement > 0 and improvement >= margin)
    decision: Decision = "promoted" if beats and not failed else "kept"
    return decision, _reasons(comparison, failed, beats=beats, margin=margin)


def _reasons(
    comparison: Comparison, failed: list[ObjectiveResult], *, beats: bool, margin: float
) -> list[str]:
    """The decision's reasons in words: objectives missed, then the metric."""
    reasons: list[str] = []
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
    old_score, low, high = comparison.champion, comparison.low, comparison.high
    if old_score is not None:
        verb = "beats" if beats else "does not beat"
        reasons.append(
            f"the challenger {verb} the champion on {comparison.metric}: "
            f"{comparison.challenger:.4g} vs {old_score:.4g} on {comparison.n} recent rows "
            f"(improvement {comparison.improvement:+.4g}, margin {margin:g}"
            + (
                f", {comparison.confidence:.0%} interval {low:+.4g} to {high:+.4g}"
                if low is not None
                else ""
            )
            + ")"
        )
    return reasons
