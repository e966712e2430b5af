"""Accuracy against latency, size and cost on three shared datasets.

    .venv/bin/python bench/tradeoff.py                 # 120 s per run
    .venv/bin/python bench/tradeoff.py --budget 30 --datasets telco_churn

For telco_churn (binary), car_evaluation (multiclass) and concrete
(regression), ``cairn run`` (no registry; linear, LightGBM, random forest
and k-NN, at most 12 tuning trials) in a throwaway project under
bench/.work/tradeoff/: every measured leaderboard row with its CV metric,
engine, single-record p50/p99, batch throughput, size, memory, training
seconds and costs at the default 0.05 per CPU hour, and whether it is on the
Pareto front. Then a second run of the same spec with the objective
``latency_p99_ms < P/5``, where P is the first run's packaged model's
(usually the ensemble's) p99: which model it packaged, its CV metric
against that model's, and what the card says was traded. Writes
bench/results/tradeoff.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work" / "tradeoff"
RESULTS = HERE / "results" / "tradeoff.md"
DATASETS = ROOT.parent / "shared" / "datasets"

# name -> (task label, target, id columns)
CASES: dict[str, tuple[str, str, list[str]]] = {
    "telco_churn": ("binary", "Churn", ["customerID"]),
    "car_evaluation": ("multiclass", "decision", []),
    "concrete": ("regression", "strength", []),
}


def _shown() -> tuple[str, ...]:
    """The measured columns, without ``pareto`` (shown last as "front")."""
    from cairn.evaluation.tradeoff import TRADEOFF_COLUMNS

    return TRADEOFF_COLUMNS[:-1]


def write_project(name: str, budget: float, objectives: list[str]) -> Path:
    """A fresh project folder for ``name``; returns its spec."""
    _, target, ids = CASES[name]
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    lines = [
        "[project]",
        f'name = "{name.replace("_", "-")}"',
        "[data]",
        f'sources = [{{ path = "{DATASETS / (name + ".csv")}" }}]',
        f"id_columns = {ids!r}".replace("'", '"'),
        "[problem]",
        f'target = "{target}"',
        f"objectives = {objectives!r}".replace("'", '"'),
        "[train]",
        f"time_budget = {budget}",
        # a fast linear model, boosting, a large forest and a native k-NN
        'include = ["linear", "lightgbm", "random_forest", "knn"]',
        "max_trials = 12",
        "[tracking]",
        "register_model = false",
        "[serving]",
        "gate_duration = 2.0",
    ]
    spec = folder / "cairn.toml"
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return spec


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        if value != value:
            return "–"
        return f"{value:.3g}" if abs(value) >= 0.001 or value == 0 else f"{value:.2e}"
    return str(value)


def front_table(result: Any) -> list[str]:
    """The measured leaderboard rows as a markdown table."""
    metric = result.evaluation.metric
    board = result.leaderboard
    measured = board[board["latency_p99_ms"].notna()]
    shown = _shown()
    head = ["model", f"CV {metric}", *shown, "front"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, row in measured.iterrows():
        cells = [row["model"], row[f"cv_{metric}_mean"], *(row[c] for c in shown), row["pareto"]]
        lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
    unmeasured = int(board["status"].isin(["ok", "partial"]).sum()) - len(measured)
    if unmeasured:
        lines.append("")
        lines.append(f"{unmeasured} scored row(s) not measured (the measurement's budget ran out).")
    return lines


def size_choice(result: Any, packaged: str) -> list[str]:
    """What ``model_size_mb < S/5`` (S: the packaged model's size) chooses on
    this run's front, with the function ``cairn run`` uses."""
    from cairn.evaluation.tradeoff import choose_on_front
    from cairn.spec import Objective

    board = result.leaderboard
    size = float(board.loc[board["model"] == packaged, "model_size_mb"].iloc[0])
    objective = Objective.parse(f"model_size_mb < {size / 5:.3g}")
    choice = choose_on_front(board, [objective], result.evaluation.metric)
    if choice.chosen is None:
        told = f"no measured candidate meets it; {choice.best} would stay"
    else:
        told = f"it picks **{choice.chosen}**: {choice.traded or 'nothing traded'}"
    return [f"On this front, `{objective}` ({packaged} size / 5): {told}.", ""]


def run_case(name: str, budget: float) -> list[str]:
    import cairn

    label, target, _ = CASES[name]
    started = time.monotonic()
    first = cairn.run(write_project(name, budget, []), register=False)
    seconds = time.monotonic() - started
    metric = first.evaluation.metric
    packaged = first.model.metadata["tradeoff"]["model"]
    board = first.leaderboard
    row = board[board["model"] == packaged].iloc[0]
    p99 = float(row["latency_p99_ms"])
    bound = p99 / 5
    lines = [
        f"## {name} ({label}, target {target})",
        "",
        f"Run without objectives: {seconds:.0f} s; packaged {packaged}, "
        f"test {metric} {first.evaluation.metrics[metric]:.4g}.",
        "",
        *front_table(first),
        "",
    ]
    lines += size_choice(first, packaged)
    started = time.monotonic()
    objective = f"latency_p99_ms < {bound:.3g}"
    second = cairn.run(write_project(name, budget, [objective]), register=False)
    seconds = time.monotonic() - started
    tradeoff = second.model.metadata["tradeoff"]
    lines += [
        f"Second run with `{objective}` (the first run's {packaged} p99 {p99:.3g} ms / 5): "
        f"{seconds:.0f} s.",
        "",
    ]
    score = f"cv_{metric}_mean"
    board2 = second.leaderboard
    best = board2.iloc[0]
    if tradeoff.get("chosen") is None:
        met = board2["latency_p99_ms"] < bound
        lines.append(
            f"No measured candidate meets it (fastest p99 "
            f"{board2['latency_p99_ms'].min():.3g} ms; {int(met.sum())} rows under the bound); "
            f"the best, {best['model']}, is packaged and the objective fails."
        )
    else:
        chosen = board2[board2["model"] == tradeoff["chosen"]].iloc[0]
        gap = abs(float(best[score]) - float(chosen[score])) / abs(float(best[score]))
        within = "within" if gap <= 0.01 else "not within"
        lines.append(
            f"Packaged **{tradeoff['chosen']}** (on the front: {bool(chosen['pareto'])}), CV "
            f"{metric} {float(chosen[score]):.4g} against the best ({best['model']}) "
            f"{float(best[score]):.4g}: {100 * gap:.2f} % apart, {within} 1 %. "
            f'Card: "{tradeoff.get("traded") or "nothing traded"}".'
        )
    served = second.evaluation.latency_ms
    if served:
        lines.append(
            f"Serving gate over HTTP: p99 {served.get('latency_p99_ms', float('nan')):.3g} ms, "
            f"objectives met: {second.evaluation.objectives_met}."
        )
    lines += ["", *front_table(second), ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per run")
    parser.add_argument("--datasets", nargs="*", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    lines = [
        "# Accuracy against latency, size and cost",
        "",
        f"`python bench/tradeoff.py --budget {args.budget:g}` on {platform.node()} "
        f"({os.cpu_count()} CPUs, Python {platform.python_version()}), "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Latency: one record per call through "
        "the serving engine, in process (p50/p99 of up to 300 calls); throughput: one call "
        "of 1,000 records; size: the serialized model the engine loads; cost at 0.05 per "
        "CPU hour. Front: no other row is at least as good on the CV metric, p99 and size "
        "and better on one. The machine is shared with other work, which puts "
        "scheduler pauses of several ms into every p99.",
        "",
    ]
    for name in args.datasets:
        lines += run_case(name, args.budget)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(RESULTS.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
