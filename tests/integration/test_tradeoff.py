"""The trade-off step on a real dataset: every candidate measured on its
serving engine, the front marked, and objectives on latency and size
choosing the packaged model on it (with the card saying what was traded)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cairn.bundle import load_bundle
from cairn.evaluation.run_state import start_run_folder
from cairn.evaluation.tradeoff import choose_on_front
from cairn.spec import Objective, ProjectSpec, load_spec
from cairn.workflow import (
    Clock,
    Prepared,
    Trained,
    _tradeoff,
    choose_on_tradeoff,
    evaluate,
    ingest,
    measure_tradeoff,
    package,
    plan_budget,
    prepare,
    report,
    train,
)
from tests.conftest import load_dataset

pytestmark = pytest.mark.slow

# A budget the two families' defaults fit in on a busy machine (three folds,
# one partition); max_trials ends the search as soon as they and one tuning
# trial are done.
BUDGET_S = 20.0


def quiet(message: str) -> None:
    """Progress messages are not needed here."""


@pytest.fixture(scope="module")
def measured(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[ProjectSpec, Prepared, Trained, object]:
    """A search on 1,200 rows of bank_churn (LightGBM and a linear model,
    which scores clearly lower but is far smaller), with every candidate
    measured."""
    root = tmp_path_factory.mktemp("tradeoff")
    load_dataset("bank_churn", rows=1200).to_csv(root / "data.csv", index=False)
    (root / "cairn.toml").write_text(
        "[project]\nname = 'churn'\n[data]\nsources = [{ path = 'data.csv' }]\n"
        "id_columns = ['RowNumber', 'CustomerId', 'Surname']\n"
        "[problem]\ntarget = 'Exited'\n[split]\nfolds = 3\nrepeats = 1\n"
        f"[train]\ntime_budget = {BUDGET_S}\ninclude = ['lightgbm', 'linear']\n"
        "max_trials = 1\nselect_features = false\n[tracking]\nregister_model = false\n",
        encoding="utf-8",
    )
    spec = load_spec(root / "cairn.toml")
    clock = Clock()
    raw = ingest(spec, quiet)
    prepared = prepare(spec, raw, say=quiet, clock=clock)
    budget = plan_budget(spec, prepared, seconds=BUDGET_S, registering=False, clock=clock)
    trained = train(spec, prepared, budget, say=quiet, clock=clock)
    # generous here so that every candidate is measured whatever the machine's load
    trained = measure_tradeoff(
        spec,
        prepared,
        trained,
        seconds=60,
        say=quiet,
        clock=clock,
        folder=root / "candidates",
    )
    return spec, prepared, trained, raw


def test_every_candidate_measured_and_front_marked(
    measured: tuple[ProjectSpec, Prepared, Trained, object],
) -> None:
    _, _, trained, _ = measured
    board = trained.found.leaderboard
    scored = board[board["status"].isin(["ok", "partial"])]
    assert {"lightgbm", "linear"} <= set(scored["model"])
    assert scored["latency_p99_ms"].notna().all()
    for column in ("latency_p50_ms", "throughput_rows_s", "model_size_mb", "train_s"):
        assert (scored[column] > 0).all(), column
    assert (scored["latency_p99_ms"] >= scored["latency_p50_ms"]).all()
    assert set(scored["engine"]) <= {"onnx", "native"}
    # cost per 1,000 predictions at 0.05 per CPU hour: under the p99 bound
    assert (scored["cost_per_1k"] <= 0.05 * scored["latency_p99_ms"] / 3600 + 1e-12).all()
    # the best candidate is always on the front; the front is never empty of it
    assert bool(scored.iloc[0]["pareto"])
    assert not board[~board["status"].isin(["ok", "partial"])]["pareto"].any()


def test_latency_objective_5x_below_the_packaged_p99_picks_on_the_front(
    measured: tuple[ProjectSpec, Prepared, Trained, object],
) -> None:
    _, prepared, trained, _ = measured
    board = trained.found.leaderboard
    packaged = "ensemble" if trained.found.ensemble else trained.found.best
    p99 = float(board.loc[board["model"] == packaged, "latency_p99_ms"].iloc[0])
    objective = Objective.parse(f"latency_p99_ms < {p99 / 5}")
    choice = choose_on_front(board, [objective], prepared.metric)
    score = f"cv_{prepared.metric}_mean"
    meeting = board[board["latency_p99_ms"] < p99 / 5]
    if meeting.empty:
        assert choice.chosen is None
        return
    row = board[board["model"] == choice.chosen].iloc[0]
    assert bool(row["pareto"])
    assert row["latency_p99_ms"] < p99 / 5
    assert row[score] == pytest.approx(meeting[score].max())
    assert choice.traded.endswith("ms)") and "lower latency (p99 " in choice.traded


def test_a_candidate_that_cannot_be_measured_stays_off_the_front(
    measured: tuple[ProjectSpec, Prepared, Trained, object],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    spec, prepared, trained, _ = measured
    real = _tradeoff._measure

    def no_engine_for_linear(final: Any, *args: Any, **kwargs: Any) -> Any:
        if list(final.members) == ["linear"]:
            raise RuntimeError("no engine")
        return real(final, *args, **kwargs)

    monkeypatch.setattr(_tradeoff, "_measure", no_engine_for_linear)
    fresh = dataclasses.replace(
        trained, found=dataclasses.replace(trained.found, measured={}), built={}
    )
    said: list[str] = []
    again = measure_tradeoff(
        spec, prepared, fresh, seconds=60, say=said.append, clock=Clock(), folder=tmp_path
    )
    board = again.found.leaderboard
    linear = board[board["model"] == "linear"].iloc[0]
    assert np.isnan(linear["latency_p99_ms"]) and not linear["pareto"]
    assert "linear could not be measured on its serving engine: no engine" in said
    assert board.iloc[0]["pareto"] and np.isfinite(board.iloc[0]["latency_p99_ms"])


def test_size_objective_packages_the_chosen_model_and_the_card_says_why(
    measured: tuple[ProjectSpec, Prepared, Trained, object], tmp_path: Path
) -> None:
    spec, prepared, trained, raw = measured
    board = trained.found.leaderboard
    linear = board[board["model"] == "linear"].iloc[0]
    best = board.iloc[0]
    assert best[f"cv_{prepared.metric}_mean"] > linear[f"cv_{prepared.metric}_mean"]
    smallest = float(board["model_size_mb"].min())
    problem = spec.problem.model_copy(update={"objectives": [f"model_size_mb < {smallest * 1.01}"]})
    sized = spec.model_copy(update={"problem": problem})
    clock = Clock()
    chosen = choose_on_tradeoff(sized, prepared, trained, say=quiet)
    name = board.loc[board["model_size_mb"].idxmin(), "model"]
    assert chosen.name == name and chosen.choice.switched
    tested = evaluate(sized, prepared, chosen, seconds=BUDGET_S, say=quiet, clock=clock)
    size = next(o for o in tested.evaluation.objectives if o.quantity == "model_size_mb")
    assert size.met and size.value == pytest.approx(smallest)
    run_dir = start_run_folder(tmp_path / "runs", "r1")
    measured_file = chosen.model_file
    assert measured_file is not None and measured_file.parent.name == name
    packaged = package(
        sized, raw, prepared, chosen, tested, run_id="r1", run_dir=run_dir, say=quiet, clock=clock
    )
    # the measured model file moved into the bundle: written once, and it is the chosen model
    assert not measured_file.exists() and chosen.model_file is None
    X_test, _ = prepared.test_rows
    bundled = load_bundle(packaged.bundle_path).pipeline
    assert np.allclose(np.asarray(bundled.predict_proba(X_test)), tested.output)
    assert packaged.metadata["tradeoff"]["chosen"] == name
    assert packaged.metadata["model"] == ("ensemble" if name == "ensemble" else name)
    written = json.loads((run_dir / "leaderboard.json").read_text())
    assert [row["pareto"] for row in written] == board["pareto"].tolist()
    reports = report(sized, chosen, run_dir, timings={}, seconds=3.0)
    card = reports["model_card"].read_text()
    assert f"Chosen on the Pareto front by model_size_mb < {smallest * 1.01:g}" in card
    assert "lower size (" in card and f"% {prepared.metric} (" in card
    page = reports["evaluation_report"].read_text()
    assert 'id="tradeoff"' in page and "against single-record p99 latency" in page
    # the packaged model is the chosen one: its predictions are the chosen pipeline's
    assert np.allclose(tested.output, np.asarray(chosen.pipeline.predict_proba(X_test)))
