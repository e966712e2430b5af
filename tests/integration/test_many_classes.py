"""A 26-class dataset (letter, 3,000 rows) runs end to end within its time
budget: the stages after the search (evaluation, export, importance, SHAP,
reports) are reserved for in the budget and bounded by it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import cairn
from tests.conftest import MakeProject, load_dataset

pytestmark = pytest.mark.slow

BUDGET_S = 30
# Imports, quality checks and scheduling noise of a busy 2-core machine.
SLACK_S = 15


def test_many_classes_run_stays_within_budget(make_project: MakeProject) -> None:
    frame = load_dataset("letter", rows=3_000)
    spec = make_project(frame, problem={"target": "letter"}, train={"time_budget": BUDGET_S})
    started = time.monotonic()
    result = cairn.run(spec, register=False)
    wall = time.monotonic() - started
    print(f"letter 3,000 rows: {wall:.1f}s, stages {result.timings}")
    assert wall <= BUDGET_S + SLACK_S, result.timings
    timings = json.loads((result.bundle_path.parent / "timings.json").read_text())
    assert timings["total"] <= BUDGET_S + SLACK_S
    assert len(result.model.metadata["classes"]) == 26
    report = Path(result.reports["evaluation_report"]).read_text(encoding="utf-8")
    assert "test rows; baseline" in report  # permutation importance was computed
    assert "SHAP" in report
