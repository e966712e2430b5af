"""The Pareto front, the choice objectives make on it, and the sentence that
says what was traded, on hand-built candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cairn.evaluation.tradeoff import choose_on_front, pareto_mask, trade_sentence
from cairn.exceptions import SpecError
from cairn.spec import Objective, ProjectSpec, parse_spec


def _board(metric: str = "roc_auc") -> pd.DataFrame:
    # ensemble: best and slowest; lightgbm: nearly as good, 9x faster;
    # linear: fastest and smallest; knn: dominated by lightgbm on both costs;
    # catboost: not measured (the budget ran out).
    return pd.DataFrame(
        {
            "model": ["ensemble", "lightgbm", "linear", "knn", "catboost"],
            f"cv_{metric}_mean": [0.916, 0.912, 0.850, 0.880, 0.905],
            "latency_p99_ms": [5.4, 0.6, 0.1, 2.0, np.nan],
            "model_size_mb": [3.0, 1.0, 0.01, 4.0, np.nan],
            "cost_per_1k": [6e-5, 7e-6, 1e-6, 2e-5, np.nan],
        }
    )


def test_front_of_metric_against_latency_and_size() -> None:
    board = _board()
    score = board["cv_roc_auc_mean"]
    both = pareto_mask(
        score, [board["latency_p99_ms"], board["model_size_mb"]], higher_is_better=True
    )
    assert both.tolist() == [True, True, True, False, False]
    # On latency alone knn is dominated too; on nothing but the metric only the best stays.
    assert pareto_mask(score, [board["latency_p99_ms"]], higher_is_better=True).tolist() == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert pareto_mask(score, [], higher_is_better=True).tolist() == [1, 0, 0, 0, 0]


def test_front_for_a_metric_that_falls() -> None:
    # rmse: lower is better, so the slow model with the lowest error is on the front
    rmse = [10.0, 12.0, 11.0]
    latency = [5.0, 1.0, 6.0]
    assert pareto_mask(rmse, [latency], higher_is_better=False).tolist() == [True, True, False]


def test_equal_points_are_both_on_the_front() -> None:
    assert pareto_mask([0.9, 0.9], [[1.0, 1.0]], higher_is_better=True).tolist() == [True, True]


def test_latency_objective_picks_the_best_model_that_meets_it() -> None:
    choice = choose_on_front(_board(), [Objective.parse("latency_p99_ms < 1")], "roc_auc")
    assert (choice.chosen, choice.best, choice.switched) == ("lightgbm", "ensemble", True)
    assert choice.traded == (
        "0.4 % roc_auc (0.912 against 0.916) for 9.0× lower latency (p99 0.6 ms against 5.4 ms)"
    )


def test_size_and_cost_objectives_choose_too() -> None:
    board = _board()
    size = choose_on_front(board, [Objective.parse("model_size_mb < 0.5")], "roc_auc")
    assert size.chosen == "linear"
    assert "300.0× lower size (0.01 MB against 3 MB)" in size.traded
    cost = choose_on_front(board, [Objective.parse("cost_per_1k <= 0.00001")], "roc_auc")
    assert cost.chosen == "lightgbm"
    assert "lower cost per 1,000 predictions" in cost.traded


def test_best_model_meeting_the_objective_trades_nothing() -> None:
    choice = choose_on_front(_board(), [Objective.parse("latency_p99_ms < 10")], "roc_auc")
    assert (choice.chosen, choice.switched, choice.traded) == ("ensemble", False, "")


def test_no_model_meets_the_objective() -> None:
    choice = choose_on_front(_board(), [Objective.parse("latency_p99_ms < 0.01")], "roc_auc")
    assert choice.chosen is None
    assert choice.best == "ensemble"
    assert choice.objectives == ("latency_p99_ms < 0.01",)


def test_metric_objectives_do_not_choose() -> None:
    objectives = [Objective.parse("roc_auc > 0.99"), Objective.parse("latency_p99_ms < 1")]
    assert choose_on_front(_board(), objectives, "roc_auc").chosen == "lightgbm"


def test_lower_is_better_metric_in_the_sentence() -> None:
    board = _board("rmse").assign(cv_rmse_mean=[10.0, 10.5, 14.0, 12.0, 11.0])
    choice = choose_on_front(board, [Objective.parse("latency_p99_ms < 1")], "rmse")
    assert choice.chosen == "lightgbm"
    assert choice.traded.startswith("5.0 % rmse (10.5 against 10)")
    best, chosen = board.iloc[0], board.iloc[1]
    assert trade_sentence("rmse", best, best).startswith("no rmse")
    assert "lower latency" in trade_sentence("rmse", best, chosen)


def test_cost_section_and_objectives_parse(tmp_path: object) -> None:
    spec = ProjectSpec.model_validate(
        {
            "project": {"name": "p"},
            "data": {"sources": [{"path": "x.csv"}]},
            "problem": {
                "target": "y",
                "objectives": ["model_size_mb < 20", "cost_per_1k < 0.001"],
            },
            "cost": {"cpu_hour": 0.12},
        }
    )
    assert spec.cost.cpu_hour == 0.12
    assert [o.quantity for o in spec.problem.parsed_objectives] == ["model_size_mb", "cost_per_1k"]
    spec.check_task("regression")
    with pytest.raises(SpecError, match="cost_per_1k"):
        spec.check_task("clustering")
    default = ProjectSpec.model_validate(
        {
            "project": {"name": "p"},
            "data": {"sources": [{"path": "x.csv"}]},
            "problem": {"target": "y"},
        }
    )
    assert default.cost.cpu_hour == 0.05


@pytest.mark.parametrize(
    ("price", "says"),
    [
        (-1.0, "greater than or equal to 0"),
        ("0.05", "valid number"),
        (True, "valid number"),
        (float("inf"), "finite number"),
        (float("nan"), "finite number"),
    ],
)
def test_a_price_that_is_not_a_finite_number_is_refused(price: object, says: str) -> None:
    text = {
        "project": {"name": "p"},
        "data": {"sources": [{"path": "x.csv"}]},
        "problem": {"target": "y"},
        "cost": {"cpu_hour": price},
    }
    with pytest.raises(SpecError, match=f"cost.cpu_hour.*{says}"):
        parse_spec(text, source="cairn.toml")
    text["cost"] = {"cpu_hour": 0}
    assert parse_spec(text).cost.cpu_hour == 0.0


def test_cli_prints_the_front_and_the_choice(capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from cairn.cli._run_output import _print_tradeoff

    board = _board().assign(
        engine=["onnx", "onnx", "onnx", "native", np.nan],
        latency_p50_ms=[1.0, 0.2, 0.05, 1.5, np.nan],
        throughput_rows_s=[1e4, 5e4, 1e5, 2e3, np.nan],
        pareto=[True, True, True, False, False],
    )
    choice = choose_on_front(board, [Objective.parse("latency_p99_ms < 1")], "roc_auc")
    metadata = {"tradeoff": {"model": "lightgbm", **choice.to_dict()}}
    _print_tradeoff(SimpleNamespace(leaderboard=board, model=SimpleNamespace(metadata=metadata)))
    out = capsys.readouterr().out
    assert "lightgbm *" in out and "knn *" not in out and "catboost" not in out
    assert "Packaged lightgbm (front choice): 0.4 % roc_auc" in out


@pytest.mark.parametrize(
    ("objectives", "says"),
    [
        (["model_size_mb < 0"], "cannot be met: model_size_mb is never below 0"),
        (["cost_per_1k <= -0.5"], "cannot be met"),
        (["latency_p99_ms < 1", "latency_p99_ms > 5"], "contradict each other"),
        (["roc_auc < 0.8", "roc_auc >= 0.8"], "contradict each other"),
    ],
)
def test_objectives_no_model_can_meet_are_refused(objectives: list[str], says: str) -> None:
    text = {
        "project": {"name": "p"},
        "data": {"sources": [{"path": "x.csv"}]},
        "problem": {"target": "y", "objectives": objectives},
    }
    with pytest.raises(SpecError, match=f"problem.objectives.*{says}"):
        parse_spec(text, source="cairn.toml")
    text["problem"]["objectives"] = ["latency_p99_ms <= 5", "latency_p99_ms >= 5"]  # type: ignore[index]
    assert len(parse_spec(text).problem.parsed_objectives) == 2
