"""Any column name a CSV allows survives the whole workflow and prediction."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import cairn
from tests.conftest import MakeProject, load_dataset

pytestmark = pytest.mark.slow

LONG = "a very long column name " * 10
HOSTILE = {
    "Fare": "__fare",
    "Pclass": "passenger class",
    "SibSp": "sib.sp",
    "Age": "Âge ñ 年齢",
    "Parch": "a__b",
    "PassengerId": "__y",
    "Embarked": "1st embarked",
    "Sex": LONG.strip(),
    "Ticket": "ticket",
    "Cabin": "TICKET",
    "Name": "num__Name",
}


@pytest.mark.parametrize("include", [["lightgbm"], ["linear", "random_forest"]])
def test_hostile_column_names_through_run_and_predict(
    make_project: MakeProject, include: list[str], tmp_path
) -> None:
    frame = load_dataset("titanic").rename(columns=HOSTILE)
    spec = make_project(
        frame,
        problem={"target": "Survived"},
        train={"time_budget": 12, "include": include},
    )
    result = cairn.run(spec, register=False)
    names = HOSTILE["Name"]  # passengers' names: personal data, dropped by default
    assert names in result.model.schema.metadata["privacy"]["columns"]
    for name in HOSTILE.values():
        assert (name in result.model.schema) is (name != names), name
    assert result.evaluation.metrics["roc_auc"] > 0.75
    for kind in ("eda", "evaluation_report", "model_card"):
        assert result.reports[kind].exists()
    new = frame.drop(columns=["Survived"]).head(40)
    predicted = cairn.load_model(result.bundle_path).predict(new)
    assert len(predicted) == 40
    # From the command line, with the names read back from a CSV file.
    source = tmp_path / "new.csv"
    new.to_csv(source, index=False)
    out = tmp_path / "scored.csv"
    command = [sys.executable, "-m", "cairn.cli", "predict", str(result.bundle_path)]
    done = subprocess.run(
        [*command, str(source), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(out)) == 40
