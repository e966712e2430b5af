"""What ``cairn.run`` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cairn.behaviour import SuiteResult
from cairn.bundle import Model
from cairn.data.findings import QualityReport
from cairn.evaluation.evaluate import Evaluation
from cairn.spec import ProjectSpec

__all__ = ["RunResult"]


@dataclass
class RunResult:
    """What ``cairn.run`` produced.

    Attributes:
        leaderboard: every candidate's CV score, spread and timings, best first.
        evaluation: test-set metrics and the objectives verdict.
        quality: findings of the data-quality stage and the fixes applied.
        bundle_path: the saved model bundle folder.
        model_uri: the registry URI (``models:/NAME/VERSION``), if registered.
        registry_note: why the registered version did not become champion.
        reports: paths of the files written for this run, by name.
        timings: seconds spent per stage.
        tests: the behaviour tests run as a gate (``[tests] gate = true``).
    """

    run_id: str
    spec: ProjectSpec
    leaderboard: pd.DataFrame
    evaluation: Evaluation
    quality: QualityReport
    bundle_path: Path
    model: Model
    model_uri: str | None = None
    alias: str | None = None
    registry_note: str | None = None
    reports: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    tests: SuiteResult | None = None

    @property
    def best_model(self) -> str:
        return str(self.leaderboard.iloc[0]["model"])
