"""Learn the search's portfolio of configurations across many datasets (zero-shot).

    .venv/bin/python bench/portfolio.py            # evaluate what is missing, then select
    .venv/bin/python bench/portfolio.py --select   # selection only, from the cache

Every candidate configuration (each family's default, its hand-picked
portfolio, and configurations drawn at random from its search space) is
cross-validated with cairn's own pipeline (cleaning, preprocessing, early
stopping) on every development dataset of bench/automl.py, never on its
holdout third. Each dataset is subsampled to at most ``--rows`` rows (3-fold
CV), so every configuration is measured everywhere within a session.

Selection is greedy, as in AutoGluon's and FLAML's zero-shot portfolios: the
family defaults always run (the search's first phase), and configurations are
added one at a time, each the one that most lowers the mean over datasets of
the best normalised error reached so far (0: the best configuration on that
dataset, 1: the median one). Leave-one-dataset-out shows whether the choice
generalises: the portfolio chosen without a dataset is scored on it, against
the hand-picked portfolio of the same size.

Results: bench/results/portfolio_runs.jsonl (one line per dataset and
configuration, committed so that selection can be rerun alone),
bench/results/portfolio.md, and the frozen portfolio in
src/cairn/models/_portfolio.py.
"""

from __future__ import annotations

import argparse
import json
import pprint
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from automl import DATASETS, HOLDOUT, SUITE  # noqa: E402

from cairn.data.split import make_folds  # noqa: E402
from cairn.models.catalog import LEARNERS  # noqa: E402
from cairn.models.search._results import Config  # noqa: E402
from cairn.models.search._state import SearchState  # noqa: E402
from cairn.workflow._clock import quiet  # noqa: E402
from cairn.workflow._prepare import clean  # noqa: E402

RUNS_FILE = HERE / "results" / "portfolio_runs.jsonl"
REPORT = HERE / "results" / "portfolio.md"
FROZEN = HERE.parent / "src" / "cairn" / "models" / "_portfolio.py"
METRICS = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
# Random configurations drawn per family: more where the space is large and
# a fit is cheap.
DRAWS = {
    "lightgbm": 14,
    "catboost": 6,
    "extra_trees": 5,
    "random_forest": 5,
    "linear": 4,
    "knn": 3,
}


# The portfolio cairn shipped before it was learned, chosen by hand.
HAND: dict[str, tuple[dict[str, Any], ...]] = {
    "linear": (
        {"C": 10.0, "penalty": "l2", "alpha": 0.1},
        {"C": 0.1, "penalty": "l2", "alpha": 10.0},
        {"C": 100.0, "penalty": "l2", "alpha": 0.01},
    ),
    "lightgbm": (
        {
            "learning_rate": 0.03,
            "num_leaves": 128,
            "min_child_samples": 5,
            "colsample_bytree": 0.6,
            "reg_lambda": 1.0,
        },
        {
            "learning_rate": 0.05,
            "num_leaves": 8,
            "min_child_samples": 30,
            "colsample_bytree": 0.9,
            "reg_lambda": 5.0,
        },
    ),
    "knn": ({"n_neighbors": 5, "weights": "uniform"},),
    "extra_trees": ({"max_features": 1.0, "min_samples_leaf": 1},),
    "random_forest": ({"max_features": 0.3, "min_samples_leaf": 3},),
    "catboost": (
        {
            "depth": 8,
            "learning_rate": 0.05,
            "l2_leaf_reg": 5.0,
            "native_categories": True,
            "max_ctr_complexity": 4,
        },
        {"depth": 4, "learning_rate": 0.08, "native_categories": False},
    ),
}


def candidates(seed: int = 0) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, family, params) of every configuration measured: the family's
    default, the hand-picked portfolio, and random draws from its space (one
    draw names both the classifier's and the regressor's parameters)."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for family, learner in LEARNERS.items():
        found.append((f"{family}/default", family, {}))
        for i, params in enumerate(HAND.get(family, ()), start=1):
            found.append((f"{family}/hand{i}", family, dict(params)))
        sampler = optuna.samplers.RandomSampler(seed=seed + len(found))
        study = optuna.create_study(sampler=sampler)
        for i in range(DRAWS.get(family, 0)):
            trial = study.ask()
            params: dict[str, Any] = {}
            for kind in ("classifier", "regressor"):
                try:
                    params.update(learner.space(trial, kind, 2_000))
                except Exception:  # a family without this kind of estimator
                    continue
            study.tell(trial, 0.0)
            found.append((f"{family}/r{i + 1:02d}", family, _plain(params)))
    return found


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Rounded, JSON-friendly values, as they will be frozen."""
    return {
        k: (float(f"{v:.3g}") if isinstance(v, float) else v.item() if hasattr(v, "item") else v)
        for k, v in params.items()
    }


def state_for(name: str, rows: int, seed: int) -> SearchState:
    target, task = SUITE[name]
    frame = pd.read_csv(DATASETS / f"{name}.csv", sep=None, engine="python")
    frame = frame.dropna(subset=[target])
    if len(frame) > rows:
        stratify = frame[target] if task != "regression" else None
        counts = frame[target].value_counts() if stratify is not None else None
        if counts is not None and counts.min() < 2:
            stratify = None
        frame, _ = train_test_split(frame, train_size=rows, random_state=seed, stratify=stratify)
    task_name = "regression" if task == "regression" else "classification"
    prepared = clean(frame, target=target, task=task_name, metric=METRICS[task], folds=3)
    coded, label = prepared.with_codes()
    folds = make_folds(
        coded,
        target=label,
        task=prepared.task,
        folds=3,
        validation_size=None,
        stratify=True,
        group_column=None,
        time_ordered=False,
        seed=seed,
    )
    X = prepared.frame.drop(columns=[target])
    return SearchState(
        X,
        prepared.y,
        schema=prepared.schema,
        folds=folds,
        task=prepared.task,
        metric=prepared.metric,
        deadline=time.monotonic() + 1e9,
        seed=seed,
        workers=2,
        progress=quiet,
        learners=list(LEARNERS.values()),
    )


def load_runs() -> dict[tuple[str, str], dict[str, Any]]:
    if not RUNS_FILE.exists():
        return {}
    lines = [json.loads(line) for line in RUNS_FILE.read_text().splitlines() if line.strip()]
    return {(r["dataset"], r["config"]): r for r in lines}


def save_runs(runs: dict[tuple[str, str], dict[str, Any]]) -> None:
    RUNS_FILE.parent.mkdir(parents=True, exist_ok=True)
    partial = RUNS_FILE.with_suffix(".partial")
    partial.write_text("".join(json.dumps(runs[k], sort_keys=True) + "\n" for k in sorted(runs)))
    partial.replace(RUNS_FILE)


def measure(datasets: list[str], configs: list[tuple[str, str, dict[str, Any]]], rows: int) -> None:
    runs = load_runs()
    for name in datasets:
        missing = [c for c in configs if (name, c[0]) not in runs]
        if not missing:
            continue
        state = state_for(name, rows, seed=0)
        for config_id, family, params in missing:
            started = time.perf_counter()
            result = state.evaluate(config_id, Config(family, params, "portfolio"))
            record: dict[str, Any] = {
                "dataset": name,
                "config": config_id,
                "family": family,
                "params": params,
                "rows": len(state.y),
                "seconds": round(time.perf_counter() - started, 3),
            }
            if result.status == "ok":
                # Oriented so that higher is better for every metric.
                record["score"] = state.sign * float(result.cv_mean)
            else:
                record["error"] = result.error
            runs[(name, config_id)] = record
            save_runs(runs)
            state.candidates.clear()  # keep no fold models around
            print(
                f"{name:<20} {config_id:<22} {record.get('score', record.get('error'))} "
                f"({record['seconds']:.1f} s)",
                flush=True,
            )


def normalised_errors(
    runs: dict[tuple[str, str], dict[str, Any]], datasets: list[str]
) -> pd.DataFrame:
    """Datasets × configurations: 0 for the best score on the dataset, 1 for
    the median configuration's, clipped at 3; a failure counts as 3."""
    table = pd.DataFrame(
        {
            name: {r["config"]: r.get("score", np.nan) for (d, _), r in runs.items() if d == name}
            for name in datasets
        }
    ).T
    best = table.max(axis=1)
    median = table.median(axis=1)
    spread = (best - median).where(lambda s: s > 1e-12, 1e-12)
    errors = table.rsub(best, axis=0).div(spread, axis=0).clip(upper=3.0)
    return errors.fillna(3.0)


def greedy(errors: pd.DataFrame, start: list[str], size: int, min_gain: float = 0.005) -> list[str]:
    """Configurations added to ``start`` one at a time, each lowering the
    mean over datasets of the best error reached so far the most; stops at
    ``size`` or when the next would gain less than ``min_gain`` (the search's
    own tuning has the time better then)."""
    chosen = list(start)
    reached = errors[chosen].min(axis=1) if chosen else pd.Series(np.inf, index=errors.index)
    added: list[str] = []
    for _ in range(size):
        options = [c for c in errors.columns if c not in chosen]
        if not options:
            break
        gains = {c: np.minimum(reached, errors[c]).mean() for c in options}
        pick = min(gains, key=lambda c: gains[c])
        if reached.mean() - gains[pick] < min_gain:
            break
        chosen.append(pick)
        added.append(pick)
        reached = np.minimum(reached, errors[pick])
    return added


def loss(errors: pd.DataFrame, portfolio: list[str]) -> pd.Series:
    return errors[portfolio].min(axis=1)


def select(size: int, configs: list[tuple[str, str, dict[str, Any]]]) -> None:
    runs = load_runs()
    ids = {c[0] for c in configs}
    measured = {d: {c for (name, c) in runs if name == d} for d, _ in runs}
    # Only datasets on which every configuration was measured are compared.
    datasets = sorted(d for d, done in measured.items() if ids <= done)
    partial = sorted(set(measured) - set(datasets))
    errors = normalised_errors(runs, datasets)
    defaults = [f"{family}/default" for family in LEARNERS]
    hand = [c for c in errors.columns if "/hand" in c]
    # Learned configurations extend the hand-picked ones: chosen alone, they
    # generalised worse in leave-one-dataset-out (mean 0.095 against 0.064).
    chosen = greedy(errors, defaults + hand, size)
    lines = [
        "# Learned portfolio",
        "",
        f"Configurations measured: {errors.shape[1]} on {errors.shape[0]} development datasets "
        f"({', '.join(datasets)}); the holdout third of bench/automl.py "
        f"({', '.join(HOLDOUT)}) is never used. Each dataset at most "
        f"{max(r['rows'] for r in runs.values()):,} rows, 3-fold CV with cairn's pipeline. "
        "Error per dataset: 0 for its best configuration, 1 for the median one "
        "(clipped at 3; a failure is 3). Produced by `python bench/portfolio.py`.",
        "",
        f"Left out, not every configuration measured yet: {', '.join(partial) or 'none'}.",
        "",
        "## Chosen, in order (after every family's default and the hand-picked portfolio)",
        "",
        "Greedy selection stops when the next configuration would lower the mean best "
        "error by less than 0.005.",
        "",
        "| # | configuration | mean best error after adding it |",
        "|---:|---|---:|",
    ]
    reached = loss(errors, defaults + hand)
    lines.append(f"| 0 | family defaults and the hand-picked portfolio | {reached.mean():.3f} |")
    for i, config in enumerate(chosen, start=1):
        reached = np.minimum(reached, errors[config])
        lines.append(f"| {i} | `{config}` | {reached.mean():.3f} |")
    hand_loss = loss(errors, defaults + hand)
    lines += [
        "",
        f"Hand-picked portfolio ({len(hand)} configurations after the defaults): "
        f"mean best error {hand_loss.mean():.3f}.",
        "",
        "## Leave one dataset out",
        "",
        "Configurations added the same way on the other datasets, scored on the one left "
        "out: the hand-picked portfolio with them, alone, and learned alone (greedy from the "
        "defaults, no hand-picked configurations).",
        "",
        "| dataset | hand-picked + learned | hand-picked | learned alone | defaults only |",
        "|---|---:|---:|---:|---:|",
    ]
    both_out, hand_out, alone_out = [], [], []
    for name in datasets:
        others = errors.drop(index=name)
        row = errors.loc[[name]]
        both = float(loss(row, defaults + hand + greedy(others, defaults + hand, size)).iloc[0])
        alone = float(loss(row, defaults + greedy(others, defaults, size)).iloc[0])
        b = float(hand_loss.loc[name])
        both_out.append(both)
        hand_out.append(b)
        alone_out.append(alone)
        lines.append(
            f"| {name} | {both:.3f} | {b:.3f} | {alone:.3f} | "
            f"{float(loss(row, defaults).iloc[0]):.3f} |"
        )
    lines.append(
        f"| **mean** | {np.mean(both_out):.3f} | {np.mean(hand_out):.3f} | "
        f"{np.mean(alone_out):.3f} | {loss(errors, defaults).mean():.3f} |"
    )
    REPORT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    # Each configuration as it was measured (the cache holds its parameters).
    by_id = {r["config"]: (r["config"], r["family"], r["params"]) for r in runs.values()}
    frozen: dict[str, list[dict[str, Any]]] = {
        family: [dict(params) for params in HAND.get(family, ())] for family in LEARNERS
    }
    for config in chosen:
        _, family, params = by_id[config]
        frozen[family].append(params)
    body = pprint.pformat({k: tuple(v) for k, v in frozen.items()}, width=90, sort_dicts=True)
    FROZEN.write_text(
        '"""Configurations tried first by each family\'s tuning, in order, after its\n'
        "default: chosen greedily across many datasets by bench/portfolio.py\n"
        '(bench/results/portfolio.md). Generated; edit by running that script."""\n\n'
        "from typing import Any\n\n"
        f"PORTFOLIO: dict[str, tuple[dict[str, Any], ...]] = {body}\n"
    )
    # In the project's style, as if written by hand.
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(FROZEN)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--size", type=int, default=12, help="configurations chosen")
    parser.add_argument("--select", action="store_true", help="selection only, from the cache")
    parser.add_argument("--datasets", nargs="+", default=[d for d in SUITE if d not in HOLDOUT])
    args = parser.parse_args()
    leaked = set(args.datasets) & set(HOLDOUT)
    if leaked:
        raise SystemExit(f"holdout datasets are never used here: {', '.join(sorted(leaked))}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    configs = candidates()
    if not args.select:
        measure(args.datasets, configs, args.rows)
    select(args.size, configs)


if __name__ == "__main__":
    main()
