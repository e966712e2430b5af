"""Compression after the search: the distilled student, pruned LightGBM
variants and the time budget, on a shared dataset."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from cairn.data.schema import infer_schema
from cairn.export import export_serving
from cairn.models.catalog import LEARNERS
from cairn.models.compress import CompressionResult, compress, soft_rows
from cairn.models.search import FinalModel, SearchResult, finalize, predict_output, search
from cairn.spec import load_spec
from cairn.tasks import get_task
from cairn.workflow._train import compressing
from tests.conftest import MakeProject, load_dataset


@pytest.fixture(scope="module")
def searched() -> dict[str, Any]:
    """An ensemble of LightGBM, linear and k-NN on 1,500 adult rows, 500 held out."""
    frame = load_dataset("adult", rows=2000, seed=3)
    target = "class"
    schema = infer_schema(frame, target=target, task="classification")
    y_all = np.asarray(
        frame[target].astype(str).map({c: i for i, c in enumerate(schema.classes or ())})
    )
    X_all = frame.drop(columns=[target])
    X, y, X_test, y_test = X_all.iloc[:1500], y_all[:1500], X_all.iloc[1500:], y_all[1500:]
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    found = search(
        X,
        y,
        schema=schema,
        folds=folds,
        task="classification",
        metric="roc_auc",
        learners=[LEARNERS[name] for name in ("lightgbm", "linear", "knn")],
        time_budget=600,
        seed=7,
        n_jobs=2,
        max_trials=0,
        select_features=False,
    )
    final = finalize(found, X, y, schema=schema, seed=7, n_jobs=1)
    compressed = compress(
        found,
        final,
        X,
        y,
        schema=schema,
        folds=folds,
        X_check=X_test,
        seed=7,
        deadline=time.monotonic() + 600,
    )
    return {
        "X": X,
        "y": y,
        "X_test": X_test,
        "y_test": y_test,
        "schema": schema,
        "folds": folds,
        "found": found,
        "final": final,
        "compressed": compressed,
    }


def test_student_is_within_tolerance_and_agrees_with_the_ensemble(
    searched: dict[str, Any],
) -> None:
    found: SearchResult = searched["found"]
    compressed: CompressionResult = searched["compressed"]
    assert found.ensemble, "the fixture's search should build an ensemble (the teacher)"
    student = next(v for v in compressed.variants if v.kind == "distilled")
    assert student.kept, student.reason
    assert student.cv_mean >= compressed.teacher_cv * (1 - compressed.tolerance)
    # Held-out rows: the same class as the ensemble on nearly every row, and
    # a held-out AUC close to the ensemble's.
    assert student.agreement >= 0.95
    task = get_task("classification")
    y_test, X_test = searched["y_test"], searched["X_test"]
    teacher_auc = task.score(
        "roc_auc", y_test, predict_output(searched["final"].estimator, X_test, "classification")
    )
    student_auc = task.score(
        "roc_auc", y_test, predict_output(student.estimator, X_test, "classification")
    )
    assert student_auc >= teacher_auc - 0.02
    assert student.trees > 0 and student.size_bytes > 0
    # One LightGBM model: it exports to the serving graph like any other.
    exported = export_serving(student.estimator, searched["schema"], X_test, seed=0)
    assert exported.engine == "onnx", exported.reason
    assert exported.verification["label_mismatches"] == 0
    assert exported.verification["float32"]["rows"] == exported.verification["rows"]


def test_pruned_variants_are_smaller_and_on_the_leaderboard(searched: dict[str, Any]) -> None:
    found: SearchResult = searched["found"]
    compressed: CompressionResult = searched["compressed"]
    final: FinalModel = searched["final"]
    original = final.estimator.members[final.estimator.names.index("lightgbm")]
    original_trees = original.named_steps["model"].booster_.num_trees()
    fewer = [v for v in compressed.variants if v.kind == "fewer_trees"]
    shallow = [v for v in compressed.variants if v.kind == "shallower"]
    assert len(fewer) == 2 and len(shallow) == 1
    assert all(v.kept and 0 < v.trees < original_trees for v in fewer)
    assert fewer[1].trees < fewer[0].trees and fewer[1].size_bytes < fewer[0].size_bytes
    params = shallow[0].estimator.named_steps["model"].get_params()
    assert params["num_leaves"] < original.named_steps["model"].get_params()["num_leaves"]
    for variant in fewer + shallow:
        assert len(variant.fold_scores) == len(searched["folds"])
        assert 0.8 <= variant.agreement <= 1.0
    board = replace(found, candidates=found.candidates + compressed.candidates()).leaderboard
    # after the search's rows: the first row stays the final model
    assert board.iloc[0]["model"] == "ensemble"
    assert set(board["origin"].iloc[-4:]) == {"distilled", "fewer_trees", "shallower"}
    rows = board.set_index("model")
    assert {v.name for v in fewer + shallow} | {"student"} <= set(rows.index)
    assert rows.loc["lightgbm", "origin"] != "fewer_trees"  # the original keeps its row
    assert rows.loc[fewer[1].name, "origin"] == "fewer_trees"
    assert compressed.summary()["variants"][0]["name"] == "student"


def test_no_time_left_skips_every_variant_with_a_reason(searched: dict[str, Any]) -> None:
    skipped = compress(
        searched["found"],
        searched["final"],
        searched["X"],
        searched["y"],
        schema=searched["schema"],
        folds=searched["folds"],
        X_check=searched["X_test"].head(50),
        seed=7,
        deadline=time.monotonic() + 0.01,
    )
    assert skipped.variants and not skipped.kept
    assert all(v.estimator is None and "time budget left" in v.reason for v in skipped.variants)
    assert "time budget left" in skipped.skipped
    assert not skipped.candidates()


def test_soft_rows_are_the_soft_cross_entropy() -> None:
    probabilities = np.array([[0.7, 0.2995, 0.0005], [0.0, 0.0, 1.0]])
    rows, labels, weights = soft_rows(probabilities, np.array([2, 2]))
    # the negligible class is dropped, except where it is the true class
    assert list(zip(rows, labels, strict=True)) == [(0, 0), (0, 1), (0, 2), (1, 2)]
    assert weights.tolist() == pytest.approx([0.7, 0.2995, 0.001, 1.0])


def test_latency_objective_keeps_knn_out_of_the_search(searched: dict[str, Any]) -> None:
    # k-NN has no verified ONNX form: a latency-bound search never tries it.
    found = search(
        searched["X"].head(300),
        searched["y"][:300],
        schema=searched["schema"],
        folds=list(
            StratifiedKFold(2, shuffle=True, random_state=0).split(
                searched["X"].head(300), searched["y"][:300]
            )
        ),
        task="classification",
        metric="roc_auc",
        learners=[LEARNERS["linear"], LEARNERS["knn"]],
        time_budget=60,
        n_jobs=1,
        max_trials=0,
        select_features=False,
        ensemble="none",
        exportable_only=True,
    )
    assert {c.family for c in found.candidates} == {"linear"}


def test_run_with_a_tiny_budget_records_why_compression_was_skipped(
    make_project: MakeProject,
) -> None:
    import cairn

    spec = make_project(
        load_dataset("banknote"),
        problem={"target": "class"},
        train={"time_budget": 2, "include": ["lightgbm"], "max_trials": 0, "compress": "always"},
    )
    result = cairn.run(spec, register=False)
    record = json.loads(result.reports["compression"].read_text(encoding="utf-8"))
    # With 2 s nothing fits after the search.
    assert record["skipped"]
    assert all(not v["kept"] and "time budget" in v["reason"] for v in record["variants"])
    assert not {"fewer_trees", "shallower", "distilled"} & set(result.leaderboard["origin"])
    card = result.reports["model_card"].read_text(encoding="utf-8")
    assert "Compression: none (" in card


def test_auto_compresses_only_under_a_serving_objective(make_project: MakeProject) -> None:
    frame = load_dataset("banknote").head(50)
    plain = load_spec(make_project(frame, problem={"target": "class"}))
    bounded = load_spec(
        make_project(
            frame,
            problem={"target": "class", "objectives": ["latency_p99_ms < 5"]},
            folder=plain.root.parent / "bounded",
        )
    )
    never = load_spec(
        make_project(
            frame,
            problem={"target": "class", "objectives": ["latency_p99_ms < 5"]},
            train={"compress": "never"},
            folder=plain.root.parent / "never",
        )
    )
    assert [compressing(spec, 300) for spec in (plain, bounded, never)] == [False, True, False]
    # A small budget is left to the search, unless compression is asked for.
    assert not compressing(bounded, 20)
    assert compressing(
        load_spec(
            make_project(
                frame,
                problem={"target": "class"},
                train={"compress": "always"},
                folder=plain.root.parent / "always",
            )
        ),
        20,
    )
