"""Fixtures for the serving tests: small real models trained once per session
with ``cairn.run``, and servers started on loopback ports."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import load_dataset

# name -> (dataset, rows, target, [train] settings)
_RUNS: dict[str, tuple[str, int | None, str, dict[str, Any]]] = {
    "churn": (
        "telco_churn",
        2000,
        "Churn",
        {"include": ["lightgbm"], "max_trials": 2, "ensemble": "none"},
    ),
    "housing": (
        "california_housing",
        1500,
        "median_house_value",
        {"include": ["lightgbm", "linear"], "max_trials": 2},
    ),
}


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Any]:
    """``trained(name)`` → the RunResult of a short ``cairn.run`` (made once)."""
    made: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in made:
            import cairn

            dataset, rows, target, train = _RUNS[name]
            root = tmp_path_factory.mktemp(f"serving-{name}")
            load_dataset(dataset, rows=rows, seed=3).to_csv(root / "data.csv", index=False)
            lines = ["[project]", f'name = "{name}"', "", "[data]"]
            lines += ['sources = [{ path = "data.csv" }]', "", "[problem]"]
            lines += [f'target = "{target}"', "", "[train]", "time_budget = 8", "seed = 7"]
            lines += [f"{k} = {json.dumps(v)}" for k, v in train.items()]
            (root / "cairn.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
            made[name] = cairn.run(root / "cairn.toml", register=False)
        return made[name]

    return get


@pytest.fixture(scope="session")
def churn(trained: Callable[[str], Any]) -> Any:
    return trained("churn")


@pytest.fixture(scope="session")
def housing(trained: Callable[[str], Any]) -> Any:
    return trained("housing")


def held_out(result: Any) -> pd.DataFrame:
    """The run's held-out rows (inputs only)."""
    frame = pd.read_parquet(result.reports["test_predictions"])
    return frame[[c for c in frame.columns if not str(c).startswith("__")]]


def records_of(result: Any, n: int | None = None) -> list[dict[str, Any]]:
    from cairn.records import to_records

    frame = held_out(result)
    return to_records(frame if n is None else frame.head(n))


@pytest.fixture
def serve_app() -> Iterator[Callable[..., Any]]:
    """``serve_app(app)`` → a running server (loopback, free port), stopped after the test."""
    import contextlib

    from cairn.serving.server import run_in_thread

    with contextlib.ExitStack() as stack:

        def start(app: Any) -> Any:
            return stack.enter_context(run_in_thread(app))

        yield start


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    return tmp_path / "predictions.db"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def log_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A prediction log: a SQLite file, then a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return tmp_path / "predictions.db"
    cluster = request.getfixturevalue("postgres_cluster")
    return str(cluster.new_schema("log"))
