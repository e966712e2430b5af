"""cairn against FLAML, AutoGluon and H2O AutoML at equal wall-clock budgets.

    .venv/bin/python bench/automl.py                       # everything: 60 s and 300 s
    .venv/bin/python bench/automl.py --budgets 60 --tools cairn flaml ag_medium

Every classification and regression dataset in ../shared/datasets is split
once (80 / 20, stratified for classification, seed 0); each tool trains on
the same training rows in its own virtual environment (bench/.envs/, created
here: the peers pin different library versions) with 2 CPU threads and the
same seed, then predicts the same test rows. Metrics follow the AutoML
Benchmark: ROC-AUC for binary, log loss for multiclass, RMSE for regression.
Results are cached per run in bench/.work/, so an interrupted benchmark
resumes; the table goes to stdout and bench/results/automl.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATASETS = ROOT.parent / "shared" / "datasets"
ENVS = HERE / ".envs"
WORK = HERE / ".work"
RESULTS = HERE / "results"

# name -> (target, task)
SUITE: dict[str, tuple[str, str]] = {
    "titanic": ("Survived", "binary"),
    "adult": ("class", "binary"),
    "telco_churn": ("Churn", "binary"),
    "bank_marketing_full": ("deposit", "binary"),
    "german_credit": ("default", "binary"),
    "wine_quality_red": ("quality", "multiclass"),
    "car_evaluation": ("decision", "multiclass"),
    "iris": ("species", "multiclass"),
    "ames_house_prices": ("SalePrice", "regression"),
    "california_housing": ("median_house_value", "regression"),
    "insurance": ("charges", "regression"),
}
TOOLS = ("cairn", "flaml", "ag_medium", "ag_best", "h2o")
PEER_ENVS: dict[str, tuple[str, list[str]]] = {
    "flaml": ("flaml", ["flaml>=2.3", "lightgbm", "xgboost-cpu", "pandas<3", "scikit-learn"]),
    "ag_medium": ("autogluon", ["autogluon.tabular[lightgbm,catboost,xgboost]"]),
    "ag_best": ("autogluon", ["autogluon.tabular[lightgbm,catboost,xgboost]"]),
    "h2o": ("h2o", ["h2o", "pandas<3", "requests", "tabulate"]),
}
LABELS = {
    "cairn": "cairn",
    "flaml": "FLAML",
    "ag_medium": "AutoGluon medium",
    "ag_best": "AutoGluon best",
    "h2o": "H2O AutoML",
}


def python_for(tool: str) -> Path | None:
    """The interpreter of the tool's environment, creating it if needed."""
    if tool == "cairn":
        return ROOT / ".venv" / "bin" / "python"
    if tool == "h2o" and shutil.which("java") is None:
        return None
    env_name, packages = PEER_ENVS[tool]
    env = ENVS / env_name
    python = env / "bin" / "python"
    stamp = env / ".installed"
    if not stamp.exists():
        print(f"creating {env} ({', '.join(packages)})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(env)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
        stamp.write_text(" ".join(packages))
    return python


def prepare(name: str, seed: int) -> tuple[Path, Path]:
    """The dataset's train and test files (written once)."""
    folder = WORK / "data" / name
    train_path, test_path = folder / "train.csv", folder / "test.csv"
    if train_path.exists() and test_path.exists():
        return train_path, test_path
    target, task = SUITE[name]
    frame = pd.read_csv(DATASETS / f"{name}.csv", sep=None, engine="python")
    frame = frame.dropna(subset=[target])
    stratify = frame[target] if task != "regression" else None
    train, test = train_test_split(frame, test_size=0.2, random_state=seed, stratify=stratify)
    folder.mkdir(parents=True, exist_ok=True)
    train.to_csv(train_path, index=False)
    test.to_csv(test_path, index=False)
    return train_path, test_path


def score(
    name: str, test: pd.DataFrame, predictions: pd.DataFrame, labels: list[str] | None = None
) -> float:
    """The suite metric; ``labels`` (default: the classes in ``test``) fixes
    the class set when ``test`` is a resample that may miss a class."""
    target, task = SUITE[name]
    y = test[target]
    if task == "regression":
        return float(np.sqrt(np.mean((y.to_numpy(dtype=float) - predictions["prediction"]) ** 2)))
    labels = labels or sorted(y.astype(str).unique(), key=_label_key)
    columns = {str(c).removeprefix("proba::"): c for c in predictions.columns}
    columns = {_normalise(k): v for k, v in columns.items()}
    proba = np.column_stack([predictions[columns[_normalise(label)]] for label in labels])
    proba = np.clip(proba, 1e-15, 1)
    proba = proba / proba.sum(axis=1, keepdims=True)
    truth = y.astype(str).map(_normalise).to_numpy()
    if task == "binary":
        return float(roc_auc_score(truth == _normalise(labels[1]), proba[:, 1]))
    return float(log_loss(truth, proba, labels=[_normalise(label) for label in labels]))


def gap_interval(
    name: str, budget: int, peer: str, *, resamples: int = 1000
) -> tuple[float, float] | None:
    """95 % interval of cairn's relative gap behind ``peer`` (positive: cairn
    is worse) over bootstrap resamples of the test rows, both tools scored on
    the same resampled rows. None when a prediction file is missing."""
    runs = WORK / "runs" / str(budget) / name
    paths = [runs / tool / "predictions.csv" for tool in ("cairn", peer)]
    test_path = WORK / "data" / name / "test.csv"
    if not all(path.exists() for path in (*paths, test_path)):
        return None
    test = pd.read_csv(test_path)
    ours, theirs = (pd.read_csv(path) for path in paths)
    target, task = SUITE[name]
    labels = sorted(test[target].astype(str).unique(), key=_label_key)
    rng = np.random.default_rng(0)
    gaps = []
    for _ in range(resamples):
        rows = rng.integers(0, len(test), len(test))
        sample = test.iloc[rows].reset_index(drop=True)
        try:
            a = score(name, sample, ours.iloc[rows].reset_index(drop=True), labels)
            b = score(name, sample, theirs.iloc[rows].reset_index(drop=True), labels)
        except ValueError:  # a resample with one class: no ROC-AUC
            continue
        gaps.append((b - a) / abs(b) if task == "binary" else (a - b) / abs(b))
    low, high = np.percentile(gaps, [2.5, 97.5])
    return float(low), float(high)


def _normalise(label: str) -> str:
    try:
        number = float(label)
    except ValueError:
        return str(label).strip()
    return str(int(number)) if number.is_integer() else str(number)


def _label_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def run_one(tool: str, name: str, budget: int, seed: int) -> dict[str, object]:
    out = WORK / "runs" / str(budget) / name / tool
    record_path = out / "record.json"
    if record_path.exists():
        return json.loads(record_path.read_text())
    python = python_for(tool)
    record: dict[str, object] = {"tool": tool, "dataset": name, "budget": budget}
    if python is None:
        record["error"] = "not available here (no java)"
        return record
    train_path, test_path = prepare(name, seed)
    target, task = SUITE[name]
    out.mkdir(parents=True, exist_ok=True)
    command = [
        str(python),
        str(HERE / "automl_worker.py"),
        "--tool",
        tool,
        "--train",
        str(train_path),
        "--test",
        str(test_path),
        "--target",
        target,
        "--task",
        task,
        "--budget",
        str(budget),
        "--seed",
        str(seed),
        "--out",
        str(out),
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "2",
        "MKL_NUM_THREADS": "2",
        "OPENBLAS_NUM_THREADS": "2",
    }
    if tool == "cairn" and os.environ.get("BENCH_CAIRN_SRC"):
        # Benchmark a fixed checkout of cairn while the working tree changes.
        env["PYTHONPATH"] = os.environ["BENCH_CAIRN_SRC"]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=budget * 3 + 180, env=env, cwd=out
        )
        record["returncode"] = done.returncode
        if done.returncode != 0:
            record["error"] = done.stderr[-500:]
    except subprocess.TimeoutExpired:
        record["error"] = f"timed out after {budget * 3 + 180} s"
    record["wall_s"] = time.perf_counter() - started
    meta_path = out / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        record["version"] = meta.get("version")
        if "error" in meta:
            record["error"] = meta["error"]
    predictions_path = out / "predictions.csv"
    if "error" not in record and predictions_path.exists():
        try:
            record["score"] = score(name, pd.read_csv(test_path), pd.read_csv(predictions_path))
        except Exception as error:
            record["error"] = f"scoring failed: {type(error).__name__}: {error}"
    record_path.write_text(json.dumps(record, indent=2))
    return record


def table(records: list[dict[str, object]], budgets: list[int], tools: list[str]) -> str:
    lines = [
        "# AutoML benchmark: cairn vs FLAML, AutoGluon, H2O",
        "",
        "Same 80/20 split (seed 0) per dataset, same training rows for every tool, 2 CPU",
        "threads each, run one after another on one machine. Metric: ROC-AUC for binary",
        "(higher is better), log loss for multiclass and RMSE for regression (lower is",
        "better), on the held-out 20 %. `rank` is among the tools that produced a score;",
        "`wall` is the tool's whole process (import, fit, predict). Produced by",
        "`python bench/automl.py`.",
        "",
    ]
    versions = sorted({f"{r['tool']} {r.get('version')}" for r in records if r.get("version")})
    lines += [f"Versions: {', '.join(versions)}.", ""]
    for budget in budgets:
        lines += [f"## Budget {budget} s", ""]
        header = "| dataset | metric | " + " | ".join(LABELS[t] for t in tools) + " | cairn rank |"
        lines += [header, "|" + "---|" * (len(tools) + 3)]
        ranks: dict[str, list[float]] = {t: [] for t in tools}
        beats_flaml = compared_flaml = 0
        gaps: list[tuple[str, float, str]] = []
        for name, (_, task) in SUITE.items():
            by_tool = {
                r["tool"]: r for r in records if r["dataset"] == name and r["budget"] == budget
            }
            if not by_tool:
                continue
            higher = task == "binary"
            scored = {t: float(by_tool[t]["score"]) for t in tools if "score" in by_tool.get(t, {})}
            order = sorted(scored, key=lambda t: -scored[t] if higher else scored[t])
            rank = {
                t: float(
                    pd.Series([scored[x] for x in order])
                    .rank(ascending=not higher, method="average")
                    .iloc[i]
                )
                for i, t in enumerate(order)
            }
            for t, value in rank.items():
                ranks[t].append(value)
            cells = []
            for t in tools:
                r = by_tool.get(t)
                if r is None:
                    cells.append("–")
                elif "score" in r:
                    cells.append(f"{float(r['score']):.4g} ({float(r['wall_s']):.0f} s)")
                else:
                    cells.append("failed" if "error" in r else "–")
            metric = {"binary": "ROC-AUC ↑", "multiclass": "log loss ↓", "regression": "RMSE ↓"}[
                task
            ]
            cairn_rank = f"{rank['cairn']:.1f}" if "cairn" in rank else "–"
            lines.append(f"| {name} | {metric} | " + " | ".join(cells) + f" | {cairn_rank} |")
            if "cairn" in scored and "flaml" in scored:
                compared_flaml += 1
                better = (
                    scored["cairn"] >= scored["flaml"]
                    if higher
                    else scored["cairn"] <= scored["flaml"]
                )
                beats_flaml += int(better)
            peers = {t: scored[t] for t in scored if t != "cairn"}
            if "cairn" in scored and peers:
                leader = max(peers, key=lambda t: peers[t] if higher else -peers[t])
                best_peer = peers[leader]
                gap = (
                    (best_peer - scored["cairn"]) / abs(best_peer)
                    if higher
                    else (scored["cairn"] - best_peer) / abs(best_peer)
                )
                gaps.append((name, gap, leader))
        mean_ranks = " | ".join(f"{np.mean(ranks[t]):.2f}" if ranks[t] else "–" for t in tools)
        lines += [f"| **mean rank** | | {mean_ranks} | |", ""]
        covered = len({r["dataset"] for r in records if r["budget"] == budget})
        if covered < len(SUITE):
            lines.append(f"- Run on {covered} of the {len(SUITE)} datasets at this budget.")
        if compared_flaml:
            lines.append(
                f"- cairn matches or beats FLAML on {beats_flaml} of {compared_flaml} datasets."
            )
        if gaps:
            worst = max(gaps, key=lambda item: item[1])
            behind = [f"{n} ({g:+.1%})" for n, g, _ in gaps if g > 0.01]
            lines.append(
                f"- Largest relative gap behind the best peer: {worst[0]} ({worst[1]:+.2%}); "
                f"more than 1 % behind on: {', '.join(behind) or 'none'}."
            )
            for n, g, leader in gaps:
                interval = gap_interval(n, budget, leader) if g > 0.01 else None
                if interval is not None:
                    lines.append(
                        f"  - {n}: gap behind {LABELS[leader]} {g:+.1%}; 95 % interval over "
                        f"1,000 bootstrap resamples of the {n} test rows: "
                        f"{interval[0]:+.1%} to {interval[1]:+.1%}"
                        + (" (includes no gap)" if interval[0] <= 0 else "")
                    )
        failed = [
            f"{LABELS[str(r['tool'])]} on {r['dataset']}: {str(r['error'])[:120]}"
            for r in records
            if r["budget"] == budget and "error" in r
        ]
        if failed:
            lines.append("- Failures: " + "; ".join(failed))
        lines.append("")
    return "\n".join(lines)


def cached_budgets() -> list[int]:
    runs = WORK / "runs"
    return [int(p.name) for p in runs.iterdir() if p.name.isdigit()] if runs.exists() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[60, 300])
    parser.add_argument("--datasets", nargs="+", default=list(SUITE), choices=list(SUITE))
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=list(TOOLS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--setup", action="store_true", help="only create the environments")
    args = parser.parse_args()
    if not DATASETS.exists():
        raise SystemExit(f"datasets not found at {DATASETS}")
    for tool in args.tools:
        python_for(tool)
    if args.setup:
        return
    records = []
    for budget in args.budgets:
        for name in args.datasets:
            for tool in args.tools:
                record = run_one(tool, name, budget, args.seed)
                shown = f"{record['score']:.4f}" if "score" in record else record.get("error", "")
                print(f"{budget:>4}s {name:<22} {tool:<10} {shown}", flush=True)
                records.append(record)
    # The report holds every result run so far (cached per budget, dataset
    # and tool), so a partial run at one budget keeps the others' tables.
    budgets = sorted({*args.budgets, *cached_budgets()})
    records = [
        json.loads(path.read_text())
        for budget in budgets
        for path in sorted((WORK / "runs" / str(budget)).glob("*/*/record.json"))
        if path.parent.name in args.tools and path.parent.parent.name in SUITE
    ]
    report = table(records, budgets, args.tools)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "automl.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
