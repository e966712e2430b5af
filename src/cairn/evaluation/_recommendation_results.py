"""What a recommendation run measured, as plain data: the report and the
model card are drawn from it, and the run folder keeps it as
``recommendation.json`` so that ``cairn report`` redraws them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from cairn.evaluation.run_folder import find_run
from cairn.exceptions import BundleError

__all__ = ["RecommendationResults", "load_recommendation"]


@dataclass
class RecommendationResults:
    """A recommendation run's figures, ready to draw.

    Attributes:
        metric: the spec's metric, e.g. "ndcg@10"; ``k`` its list length.
        chosen: the model the search chose; ``rule`` why.
        metrics: every metric at ``k`` on the test users (and "users").
        intervals: per-user metrics' bootstrap intervals, ``[low, high]``.
        baseline: the chosen model against the popularity baseline on the
            same test users: {"model", "value", "margin", "low", "high"}.
        curves: metric name -> its mean at k = 1, 2, ... (test users).
        leaderboard: the search's rows (validation figures), chosen first.
        segments: one row per user-activity segment.
        examples: a few test users: history, recommendations, what came next.
        findings: the data checks' findings (``Finding`` as dicts).
        data: counts and settings of the interactions (users, items, ...).
        split: how the interactions were split and what each part holds.
        objectives: each objective checked (``ObjectiveResult`` as dicts).
        latency_ms: ``Recommender.recommend`` time per call, p50/p95/p99.
        components: the bundle's recommender description.
        final_fit: which interactions the bundle's model learned from.
        tested_fit: which interactions the tested model learned from.
    """

    #: The run folder's file that holds them.
    FILE: ClassVar[str] = "recommendation.json"

    project: str
    metric: str
    k: int
    chosen: str
    rule: str
    metrics: dict[str, float]
    intervals: dict[str, list[float]] = field(default_factory=dict)
    resamples: int = 0
    baseline: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    split: dict[str, Any] = field(default_factory=dict)
    objectives: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    components: dict[str, Any] = field(default_factory=dict)
    final_fit: str = ""
    tested_fit: str = ""
    description: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return float(self.metrics.get(self.metric, float("nan")))

    @property
    def segment_metric(self) -> str:
        """The main metric at the report's list length, as the segments hold it."""
        return f"{self.metric.split('@')[0]}@{self.k}"

    @property
    def objectives_met(self) -> bool | None:
        if not self.objectives:
            return None
        return all(o.get("met") is not False for o in self.objectives)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecommendationResults:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def load_recommendation(
    run: str | Path, *, project_dir: str | Path | None = None
) -> RecommendationResults:
    """Read a recommendation run folder's figures (see :func:`find_run`).

    Raises:
        BundleError: not a recommendation run, or its figures are missing or unreadable.
    """
    folder = find_run(run, project_dir=project_dir)
    path = folder / RecommendationResults.FILE
    if not path.exists():
        raise BundleError(
            f"{path} is missing: not a recommendation run folder, or an interrupted one; "
            "re-run 'cairn run'"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RecommendationResults.from_dict(data)
    except (ValueError, TypeError) as error:
        raise BundleError(f"{path}: unreadable ({error}); re-run 'cairn run'") from None
