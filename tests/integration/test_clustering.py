"""Clustering from the spec: cairn init and cairn run on real data, from the
CLI and the Python API, and bad input stopped with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cairn
from tests.conftest import dataset_path, load_dataset

CLI = [sys.executable, "-m", "cairn"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_init_then_run_on_penguins_scores_against_the_ground_truth(tmp_path: Path) -> None:
    data = dataset_path("penguins")
    done = _cli(
        "init", str(data), "--task", "clustering", "--ground-truth", "species", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    spec = (tmp_path / "cairn.toml").read_text()
    assert 'task = "clustering"' in spec and 'ground_truth = "species"' in spec
    assert "target" not in spec.split("[problem]")[1].split("[clustering]")[0].replace(
        "without a target", ""
    )
    done = _cli("run", "--time-budget", "12", "--no-register", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "adjusted_rand" in done.stdout and "chosen because" in done.stdout
    run_dir = next((tmp_path / ".cairn" / "runs").iterdir())
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert evaluation["task"] == "clustering"
    # The species are recovered far better than chance, and never used as a feature.
    assert evaluation["metrics"]["adjusted_rand"] > 0.4
    metadata = json.loads((run_dir / "bundle" / "metadata.json").read_text())
    assert "species" not in metadata["clustering"]["preparation"]["features"]
    assignments = pd.read_parquet(run_dir / "assignments.parquet")
    assert len(assignments) == 344
    assert set(assignments["__cluster"]) == set(range(metadata["n_clusters"]))
    assert (
        assignments["__ground_truth"].dropna() == load_dataset("penguins")["species"].dropna()
    ).all()


def test_run_from_python_on_wheat_seeds_checks_segmentation_objectives(
    make_project: Callable[..., Path],
) -> None:
    spec = make_project(
        source=dataset_path("wheat_seeds"),
        problem={
            "task": "clustering",
            "ground_truth": "variety",
            "objectives": ["n_clusters <= 8", "min_cluster_share >= 0.05", "stability >= 0.75"],
        },
        train={"time_budget": 10},
    )
    result = cairn.run(spec, register=False)
    verdict = {o.quantity: o for o in result.evaluation.objectives}
    assert set(verdict) == {"n_clusters", "min_cluster_share", "stability"}
    assert all(o.met is not None for o in verdict.values())
    k = result.model.metadata["n_clusters"]
    assert verdict["n_clusters"].value == k and verdict["n_clusters"].met == (k <= 8)
    assert result.leaderboard.iloc[0]["chosen"]
    # The bundle labels rows as the search did.
    frame = load_dataset("wheat_seeds").drop(columns=["variety"])
    ids = np.asarray(cairn.load_model(result.bundle_path).predict(frame))
    assignments = pd.read_parquet(result.reports["assignments"])
    assert (ids == assignments["__cluster"].to_numpy()).mean() == 1.0


def test_mall_customers_segments_without_ground_truth(
    clustering_run: Callable[[str], Path],
) -> None:
    run_dir = clustering_run("mall_customers")
    metadata = json.loads((run_dir / "bundle" / "metadata.json").read_text())
    assert metadata["task"] == "clustering" and metadata["target"] is None
    assert "CustomerID" not in metadata["clustering"]["preparation"]["features"]
    assert 2 <= metadata["n_clusters"] <= 10
    assert sum(metadata["clustering"]["sizes"]) == 200
    assert "adjusted_rand" not in metadata["metrics"]
    board = pd.read_csv(run_dir / "leaderboard.csv")
    assert {"algorithm", "k", "silhouette", "stability", "sizes", "fit_seconds"} <= set(board)


def _bad(tmp_path: Path, name: str, frame: pd.DataFrame, extra: str = "") -> str:
    folder = tmp_path / name
    folder.mkdir()
    frame.to_csv(folder / "data.csv", index=False)
    (folder / "cairn.toml").write_text(
        f'[project]\nname = "{name}"\n[data]\nsources = [{{ path = "data.csv" }}]\n'
        f'[problem]\ntask = "clustering"\n[train]\ntime_budget = 5\n{extra}'
    )
    done = _cli("run", "--no-register", cwd=folder)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("name", "frame", "extra", "expected"),
    [
        (
            "no_features",
            pd.DataFrame(
                {"id": range(40), "note": [f"free text {i} words {i * 7}" for i in range(40)]}
            ),
            "",
            "no usable feature column",
        ),
        ("single_row", pd.DataFrame({"a": [1.5], "b": [2.5]}), "", "at least 3 rows"),
        ("identical", pd.DataFrame({"a": [1.5] * 30, "b": ["x"] * 30}), "", "single value"),
        (
            "k_too_large",
            pd.DataFrame({"a": np.linspace(0, 1, 12) ** 2, "b": [0.5, 1.5, 2.5] * 4}),
            "[clustering]\nk_max = 50\n",
            "larger than the data allows",
        ),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, name: str, frame: pd.DataFrame, extra: str, expected: str
) -> None:
    line = _bad(tmp_path, name, frame, extra)
    assert expected in line and "data.csv" in line


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ({"target": "variety", "ground_truth": "variety"}, "ground_truth scores a clustering"),
        ({"task": "clustering", "metric": "adjusted_rand"}, "problem.ground_truth"),
        ({"task": "clustering", "metric": "rmse"}, "not a clustering metric"),
        ({"task": "clustering", "objectives": ["accuracy > 0.5"]}, "not measured on"),
    ],
)
def test_spec_mistakes_are_named(problem: dict[str, object], expected: str) -> None:
    from cairn.exceptions import SpecError
    from cairn.spec import parse_spec

    with pytest.raises(SpecError, match=expected):
        parse_spec(
            {"project": {"name": "p"}, "data": {"sources": [{"path": "x.csv"}]}, "problem": problem}
        )


def test_an_empty_ground_truth_stops_before_the_search(make_project: Callable[..., Path]) -> None:
    from cairn.exceptions import DataError

    frame = load_dataset("wheat_seeds").assign(variety=np.nan)
    spec = make_project(frame, problem={"task": "clustering", "ground_truth": "variety"})
    with pytest.raises(DataError, match=r"data\.csv: ground-truth column 'variety' has 0 filled"):
        cairn.run(spec, register=False)
