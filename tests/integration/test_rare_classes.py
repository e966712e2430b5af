"""Multiclass targets whose rarest classes have a handful of rows, or one:
every family trains, the folds and the test split cope, and every class gets
a probability column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn.cli._run_output import print_result
from tests.conftest import MakeProject, load_dataset

pytestmark = pytest.mark.slow

ALL_FAMILIES = ["linear", "lightgbm", "knn", "random_forest", "catboost"]


def _thin(frame: pd.DataFrame, target: str, label: object, keep: int) -> pd.DataFrame:
    """``frame`` with only ``keep`` rows left of class ``label``."""
    rows = frame.index[frame[target] == label]
    return frame.drop(index=rows[keep:]).reset_index(drop=True)


def _assert_every_family_trained(board: pd.DataFrame, metric: str) -> None:
    failed = board[board["status"] == "failed"]
    assert failed.empty, failed[["model", "error"]].to_string()
    assert np.isfinite(board[f"cv_{metric}_mean"].iloc[0])


def test_wine_quality_with_a_two_row_class_runs(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    # The best wines (quality 8) thinned to 2 rows: fewer than the folds.
    frame = _thin(load_dataset("wine_quality_red"), "quality", 8, keep=2)
    spec = make_project(
        frame,
        problem={"target": "quality", "task": "classification"},
        train={"time_budget": 30, "include": ALL_FAMILIES},
    )
    result = cairn.run(spec, register=False)
    _assert_every_family_trained(result.leaderboard, result.evaluation.metric)
    tried = set(result.leaderboard["family"])
    assert {"lightgbm", "linear"} <= tried
    assert any(f.check == "rare_class" for f in result.quality.findings)
    assert result.model.classes == [3, 4, 5, 6, 7, 8]
    proba = result.model.predict_proba(frame.drop(columns=["quality"]))
    assert list(proba.columns) == result.model.classes
    assert np.allclose(proba.sum(axis=1), 1.0)
    # The two quality-8 wines were seen in training: the model gives them a chance.
    assert (proba.loc[frame["quality"] == 8, 8] > 0).any()
    # The reason column travels with the leaderboard and is printed.
    assert "error" in result.leaderboard.columns
    print_result(result)
    printed = capsys.readouterr().out
    assert "reason" in printed and "Leaderboard" in printed


def test_wine_quality_with_a_one_row_class_runs(make_project: MakeProject) -> None:
    frame = _thin(load_dataset("wine_quality_red"), "quality", 3, keep=1)
    spec = make_project(
        frame,
        problem={"target": "quality", "task": "classification"},
        train={"time_budget": 10, "include": ["lightgbm", "catboost"]},
    )
    result = cairn.run(spec, register=False)
    _assert_every_family_trained(result.leaderboard, result.evaluation.metric)
    # The single row cannot be on both sides of the split: it is trained on.
    assert result.model.classes[0] == 3
    lone = frame[frame["quality"] == 3].drop(columns=["quality"])
    assert result.model.predict_proba(lone).shape == (1, 6)
    finding = next(f for f in result.quality.findings if f.check == "rare_class")
    assert "'3' (1)" in finding.message


@pytest.mark.parametrize("families", [["lightgbm", "linear", "knn"], ["catboost"]])
def test_glass_fits_every_class(families: list[str]) -> None:
    # Six classes, the smallest with 9 rows, and 214 rows in all.
    frame = load_dataset("glass")
    model = cairn.fit(frame, "type", task="classification", time_budget=8, include=tuple(families))
    assert model.classes == [1, 2, 3, 5, 6, 7]
    proba = model.predict_proba(frame.drop(columns=["type"]))
    assert proba.shape == (len(frame), 6)
    accuracy = float((model.predict(frame.drop(columns=["type"])) == frame["type"]).mean())
    assert accuracy > 0.6


def test_fit_with_a_two_row_class_and_catboost() -> None:
    frame = _thin(load_dataset("wine_quality_red"), "quality", 8, keep=2)
    model = cairn.fit(frame, "quality", task="classification", time_budget=8, include=("catboost",))
    assert len(model.classes) == 6
    assert model.predict_proba(frame.drop(columns=["quality"]).head(20)).shape == (20, 6)
