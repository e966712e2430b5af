"""The whole workflow on real datasets: ingest → quality → split → search →
refit → evaluate → package (→ register)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cairn
from cairn.bundle import load_bundle
from cairn.evaluation.tradeoff import TRADEOFF_COLUMNS
from tests.conftest import MakeProject, load_dataset

pytestmark = pytest.mark.slow


def test_titanic_classification(make_project: MakeProject) -> None:
    spec = make_project(
        load_dataset("titanic"),
        problem={"target": "Survived", "objectives": ["roc_auc >= 0.8", "latency_p99_ms < 200"]},
        train={"time_budget": 20, "include": ["linear", "lightgbm", "random_forest"]},
    )
    result = cairn.run(spec, register=False)
    assert result.evaluation.task == "classification"
    assert result.evaluation.metric == "roc_auc"
    assert result.evaluation.metrics["roc_auc"] > 0.8
    families = set(result.leaderboard["family"])
    assert (
        {"linear", "lightgbm", "random_forest"}
        <= families
        <= {"linear", "lightgbm", "random_forest", "ensemble"}
    )
    assert result.leaderboard["status"].isin(["ok", "partial"]).all()
    # The passenger id never reaches the learner; the quality report says so.
    assert result.model.schema["PassengerId"].role == "id"
    assert any(f.column == "PassengerId" for f in result.quality.findings)
    assert {o.quantity for o in result.evaluation.objectives} == {"roc_auc", "latency_p99_ms"}
    assert result.evaluation.objectives_met
    # Everything the run wrote is on disk and readable.
    for path in result.reports.values():
        assert path.exists()
    evaluation = json.loads(result.reports["evaluation"].read_text())
    assert evaluation["metrics"]["roc_auc"] == pytest.approx(result.evaluation.metrics["roc_auc"])
    reloaded = load_bundle(result.bundle_path)
    frame = load_dataset("titanic").drop(columns=["Survived"]).head(50)
    assert (reloaded.predict(frame) == result.model.predict(frame)).all()
    assert set(np.unique(reloaded.predict(frame))) <= {0, 1}


def test_telco_churn_repairs_total_charges(make_project: MakeProject) -> None:
    spec = make_project(
        load_dataset("telco_churn", rows=3000),
        problem={"target": "Churn"},
        train={"time_budget": 20, "include": ["linear", "lightgbm"]},
    )
    result = cairn.run(spec, register=False)
    assert result.model.schema["TotalCharges"].role == "numeric"
    assert result.model.schema["customerID"].role == "id"
    assert result.evaluation.metrics["roc_auc"] > 0.78
    assert sorted(result.model.classes) == ["No", "Yes"]
    proba = result.model.predict_proba(load_dataset("telco_churn").head(5))
    assert list(proba.columns) == ["No", "Yes"]
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_ames_house_prices_regression(make_project: MakeProject) -> None:
    spec = make_project(
        load_dataset("ames_house_prices"),
        problem={"target": "SalePrice", "objectives": ["rmse < 60000", "mape < 0.2"]},
        data={"id_columns": ["Id"]},
        train={"time_budget": 30, "include": ["linear", "lightgbm", "extra_trees"]},
    )
    result = cairn.run(spec, register=False)
    assert result.evaluation.task == "regression"
    assert result.evaluation.metric == "rmse"
    assert result.evaluation.metrics["r2"] > 0.75
    assert result.evaluation.metrics["rmse"] < 60000
    board = result.leaderboard
    ok = board[board["status"].isin(["ok", "partial"])]["cv_rmse_mean"].tolist()
    assert ok == sorted(ok), "leaderboard must rank lower RMSE first"


def test_california_housing_subsample(make_project: MakeProject) -> None:
    spec = make_project(
        load_dataset("california_housing", rows=4000),
        problem={"target": "median_house_value", "metric": "mae"},
        train={"time_budget": 20, "include": ["lightgbm", "knn"]},
    )
    result = cairn.run(spec, register=False)
    assert result.evaluation.metric == "mae"
    assert result.evaluation.metrics["r2"] > 0.6
    assert result.model.metadata["model"] in {"lightgbm", "knn", "ensemble"}


def test_car_evaluation_multiclass_all_families(make_project: MakeProject) -> None:
    spec = make_project(
        load_dataset("car_evaluation"),
        problem={"target": "decision"},
        train={"time_budget": 30},
    )
    result = cairn.run(spec, register=False)
    assert result.evaluation.metric == "log_loss"
    assert len(result.model.classes) == 4
    assert result.evaluation.metrics["accuracy"] > 0.9
    assert {"f1_macro", "f1_weighted", "precision_macro", "recall_weighted"} <= set(
        result.evaluation.metrics
    )
    assert {"linear", "lightgbm", "knn", "extra_trees", "random_forest", "catboost"} <= set(
        result.leaderboard["family"]
    )


def test_budget_is_respected(make_project: MakeProject) -> None:
    spec = make_project(
        load_dataset("adult", rows=8000),
        problem={"target": "class"},
        train={"time_budget": 15},
    )
    result = cairn.run(spec, register=False)
    # Within the budget plus 10 % (and a second of slack for a busy machine).
    assert result.timings["total"] <= 15 * 1.1 + 1.0, result.timings
    assert (result.leaderboard["status"] != "failed").all()
    search = result.model.metadata["search"]
    assert set(search["phases_s"]) == {"defaults", "feature_selection", "tuning", "ensemble"}


def test_max_trials_makes_runs_reproducible(make_project: MakeProject) -> None:
    spec = make_project(
        load_dataset("german_credit"),
        problem={"target": "default"},
        # three folds: the same phases (repeated partitions, feature selection,
        # tuning, ensemble) with fewer fits, twice over
        split={"folds": 3},
        train={"time_budget": 300, "include": ["linear", "lightgbm"], "max_trials": 2},
    )
    first = cairn.run(spec, register=False)
    second = cairn.run(spec, register=False)
    # measured times, and the front drawn from them, differ between runs
    timing = ["fit_time_s", "predict_ms_per_row", *TRADEOFF_COLUMNS]
    assert first.leaderboard.drop(columns=timing).equals(second.leaderboard.drop(columns=timing))
    assert first.evaluation.metrics == second.evaluation.metrics


def test_run_steps_report_write_and_time_in_order(make_project: MakeProject) -> None:
    """The steps run in the documented order: the progress lines, the stages
    of ``timings.json`` and the run folder's files stay what users rely on."""
    spec = make_project(
        load_dataset("german_credit"),
        problem={"target": "default"},
        train={
            "time_budget": 10,
            "include": ["linear"],
            "max_trials": 0,
            "ensemble": "none",
            "select_features": False,
        },
    )
    said: list[str] = []
    result = cairn.run(spec, register=False, progress=said.append)
    # the search's own lines (its folds, a calibration) vary with the data
    search_lines = ("cross-validating", "probabilities calibrated")
    assert [m for m in said if not m.startswith(search_lines)] == [
        "reading data",
        "checking data quality",
        "splitting train / test",
        "building the final model",
        "measuring latency, size and cost of every candidate on its serving engine",
        "evaluating on the held-out test set",
        "packaging the model bundle",
        "profiling the training data for drift checks",
        "exporting the serving graph (ONNX) and checking it on the test set",
        "writing reports: data profile, evaluation, model card",
    ]
    stages = [
        "ingest",
        "quality",
        "split",
        "search",
        "final_model",
        "tradeoff",
        "evaluate",
        "package",
    ]
    assert list(result.timings) == [*stages, "reports", "total"]
    run_dir = result.bundle_path.parent
    assert json.loads((run_dir / "timings.json").read_text()) == result.timings
    assert list(result.reports) == [
        "test_predictions",
        "leaderboard",
        "leaderboard_json",
        "trials",
        "quality",
        "evaluation",
        "combination",
        "eda",
        "evaluation_report",
        "model_card",
        "model_card_html",
    ]
    assert all(path.parent == run_dir and path.exists() for path in result.reports.values())
    assert not list(run_dir.parent.glob("*.partial")) and not list(run_dir.rglob("*.tmp"))
    metadata = json.loads((result.bundle_path / "metadata.json").read_text())
    assert metadata["rows"]["train"] + metadata["rows"]["test"] == metadata["rows"]["clean"]
    assert metadata["model"] == "linear" and metadata["run_id"] == result.run_id


def test_fit_trains_on_every_row_with_the_run_steps() -> None:
    frame = load_dataset("german_credit", rows=300)
    said: list[str] = []
    model = cairn.fit(
        frame, "default", time_budget=8, include=("linear",), seed=1, progress=said.append
    )
    assert model.metadata["task"] == "classification"
    assert model.metadata["metric"] == "roc_auc"
    # linear models only; several tuned ones may win as an ensemble
    assert model.metadata["model"] in {"linear", "ensemble"}
    assert set(model.metadata["search"]) == {
        "trials",
        "phases_s",
        "target_transform",
        "temperature",
    }
    # fit has no held-out test set, so no run-only progress lines
    assert "building the final model" not in said and said
    predictions = model.predict(frame.drop(columns=["default"]).head(20))
    assert len(predictions) == 20


def test_an_error_after_the_search_leaves_no_run_folder(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run folder starts before the trade-off step (which writes the
    candidates' bundles into it); an error later removes it whole."""
    spec = make_project(
        load_dataset("german_credit", rows=300),
        problem={"target": "default"},
        train={"time_budget": 5, "include": ["linear"], "max_trials": 0, "ensemble": "none"},
    )

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("evaluation broke")

    monkeypatch.setattr(cairn.workflow, "evaluate", broken)
    with pytest.raises(RuntimeError, match="evaluation broke"):
        cairn.run(spec, register=False)
    runs = spec.parent / ".cairn" / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []
