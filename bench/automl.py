"""cairn against FLAML, AutoGluon and H2O AutoML at equal wall-clock budgets.

    .venv/bin/python bench/automl.py                          # 21 datasets, seeds 0 and 1, 60 s
    .venv/bin/python bench/automl.py --tools flaml ag_medium  # peers only
    .venv/bin/python bench/automl.py --tools cairn --rerun cairn   # cairn again, peers cached
    .venv/bin/python bench/automl.py --report                 # the table from the cache alone

Every classification and regression dataset in ../shared/datasets is split
80 / 20 once per seed (stratified for classification); each tool trains on
the same training rows in its own virtual environment (bench/.envs/, created
here: the peers pin different library versions) with 2 CPU threads and the
same seed, then predicts the same test rows. Metrics follow the AutoML
Benchmark: ROC-AUC for binary, log loss for multiclass, RMSE for regression.

Each finished run is one line of bench/results/automl_runs.jsonl (score,
wall time, version, error, the machine's load when it started). That file is
committed: a later run skips what it holds, so the peers run once and cairn
alone can be run again (``--rerun cairn``). The report, with mean ranks,
bootstrap intervals and win/tie/loss per peer, goes to bench/results/automl.md.

HOLDOUT names a third of the datasets kept out of every decision made while
developing the search; the report gives them their own section.
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
    "banknote": ("class", "binary"),
    "sonar": ("label", "binary"),
    "letter": ("letter", "multiclass"),
    "diamonds": ("price", "regression"),
    "concrete": ("strength", "regression"),
    "power_plant": ("PE", "regression"),
    "bank_churn": ("Exited", "binary"),
    "hr_attrition": ("left", "binary"),
    "mammography": ("class", "binary"),
    "glass": ("type", "multiclass"),
}
# Kept out of development: no search decision was made by looking at them.
HOLDOUT = (
    "diamonds",
    "concrete",
    "power_plant",
    "bank_churn",
    "hr_attrition",
    "mammography",
    "glass",
)
RUNS_FILE = HERE / "results" / "automl_runs.jsonl"
# Two scores closer than this (relative) are a tie in win/tie/loss.
TIE = 1e-3
QUIET_LOAD = 2.5
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
    """The dataset's train and test files for one seed (written once)."""
    folder = WORK / "data" / f"seed{seed}" / name
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


Key = tuple[int, int, str, str]  # budget, seed, dataset, tool


def _key(record: dict[str, object]) -> Key:
    return (
        int(record["budget"]),  # type: ignore[call-overload]
        int(record.get("seed", 0)),  # type: ignore[call-overload]
        str(record["dataset"]),
        str(record["tool"]),
    )


def load_runs() -> dict[Key, dict[str, object]]:
    if not RUNS_FILE.exists():
        return {}
    records = [json.loads(line) for line in RUNS_FILE.read_text().splitlines() if line.strip()]
    return {_key(record): record for record in records}


def save_runs(runs: dict[Key, dict[str, object]]) -> None:
    """Rewrite the cache atomically: an interrupted benchmark keeps what it had."""
    RUNS_FILE.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(runs[key], sort_keys=True) for key in sorted(runs)]
    partial = RUNS_FILE.with_suffix(".partial")
    partial.write_text("\n".join(lines) + "\n")
    partial.replace(RUNS_FILE)


def run_one(tool: str, name: str, budget: int, seed: int) -> dict[str, object]:
    out = WORK / "runs" / str(budget) / f"seed{seed}" / name / tool
    if out.exists():
        shutil.rmtree(out)
    python = python_for(tool)
    record: dict[str, object] = {"tool": tool, "dataset": name, "budget": budget, "seed": seed}
    if python is None:
        record["error"] = "not available here (no java)"
        return record
    train_path, test_path = prepare(name, seed)
    target, task = SUITE[name]
    out.mkdir(parents=True, exist_ok=True)
    command = [
        str(python),
        str(HERE / "automl_worker.py"),
        *("--tool", tool, "--train", str(train_path), "--test", str(test_path)),
        *("--target", target, "--task", task, "--budget", str(budget)),
        *("--seed", str(seed), "--out", str(out)),
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
    record["load_before"] = round(os.getloadavg()[0], 2)
    started = time.perf_counter()
    limit = budget * 3 + 180
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=limit, env=env, cwd=out
        )
        if done.returncode != 0:
            record["error"] = (done.stderr.strip().splitlines() or ["no output"])[-1][-300:]
    except subprocess.TimeoutExpired:
        record["error"] = f"timed out after {limit} s"
    record["wall_s"] = round(time.perf_counter() - started, 2)
    meta_path = out / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        record["version"] = meta.get("version")
        if "error" in meta:
            record["error"] = str(meta["error"])[:300]
    predictions_path = out / "predictions.csv"
    if "error" not in record and predictions_path.exists():
        try:
            record["score"] = score(name, pd.read_csv(test_path), pd.read_csv(predictions_path))
        except Exception as error:
            record["error"] = f"scoring failed: {type(error).__name__}: {error}"[:300]
    elif "error" not in record:
        record["error"] = "no predictions written"
    return record


def wait_for_a_quiet_machine(most_seconds: float = 600.0) -> None:
    """Wait until the 1-minute load average shows no work beside the run
    that just ended (which leaves up to 2 on two cores), at most ten minutes:
    a run started on a busy machine is not a fair run."""
    waited = 0.0
    while os.getloadavg()[0] > QUIET_LOAD and waited < most_seconds:
        if waited == 0:
            print(f"  waiting for the load average to fall under {QUIET_LOAD}", flush=True)
        time.sleep(10)
        waited += 10


# --- statistics ---------------------------------------------------------


def case_ranks(scores: dict[str, float | None], higher: bool) -> dict[str, float]:
    """Ranks of one dataset-seed (1 is best, ties averaged); a tool that
    failed shares the places after every tool that produced a score."""
    # Rounded: floating-point noise (an AUC of 0.9999999999999999) is no rank.
    ok = {t: round(s, 10) for t, s in scores.items() if s is not None and np.isfinite(s)}
    failed = [t for t in scores if t not in ok]
    ranks: dict[str, float] = {}
    if ok:
        series = pd.Series(ok).rank(ascending=not higher, method="average")
        ranks.update({t: float(r) for t, r in series.items()})
    if failed:
        shared = (len(ok) + 1 + len(scores)) / 2
        ranks.update({t: shared for t in failed})
    return ranks


def outcome(ours: float | None, theirs: float | None, higher: bool) -> str:
    """'win', 'tie' or 'loss' of ours against theirs; a failure loses to a score."""
    if ours is None and theirs is None:
        return "tie"
    if ours is None:
        return "loss"
    if theirs is None:
        return "win"
    if abs(ours - theirs) <= TIE * max(abs(theirs), 1e-12):
        return "tie"
    return "win" if (ours > theirs) == higher else "loss"


def cases(
    runs: dict[Key, dict[str, object]], budget: int, tools: list[str], datasets: list[str]
) -> list[tuple[str, int, dict[str, float | None]]]:
    """Every (dataset, seed) at ``budget`` where every tool has a record."""
    found = []
    seeds = sorted({k[1] for k in runs if k[0] == budget})
    for name in datasets:
        for seed in seeds:
            records = {t: runs.get((budget, seed, name, t)) for t in tools}
            if any(r is None for r in records.values()):
                continue
            found.append(
                (
                    name,
                    seed,
                    {
                        t: (float(r["score"]) if "score" in r else None)  # type: ignore[arg-type, index]
                        for t, r in records.items()
                    },
                )
            )
    return found


def summary(
    found: list[tuple[str, int, dict[str, float | None]]], tools: list[str], resamples: int = 2000
) -> list[str]:
    """Mean rank per tool with a 95 % bootstrap interval (datasets resampled,
    each with all its seeds, the same resample for every tool), and
    cairn's win/tie/loss against each peer."""
    if not found:
        return ["No dataset-seed has a record from every tool yet.", ""]
    ranks = pd.DataFrame(
        [case_ranks(scores, SUITE[name][1] == "binary") for name, _, scores in found]
    )[tools]
    datasets = [name for name, _, _ in found]
    groups = {
        name: [i for i, d in enumerate(datasets) if d == name] for name in dict.fromkeys(datasets)
    }
    rng = np.random.default_rng(0)
    names = list(groups)
    boot = []
    for _ in range(resamples):
        picked = rng.choice(len(names), len(names), replace=True)
        rows = [i for p in picked for i in groups[names[p]]]
        boot.append(ranks.iloc[rows].mean())
    boot_frame = pd.DataFrame(boot)
    lines = [
        f"{len(found)} dataset-seeds ({len(names)} datasets). Rank 1 is best; a failure "
        "counts as last. Interval: 95 % over "
        f"{resamples:,} bootstrap resamples of the datasets.",
        "",
        "| tool | mean rank | 95 % interval | first place | failures |",
        "|---|---:|---|---:|---:|",
    ]
    for tool in sorted(tools, key=lambda t: ranks[t].mean()):
        low, high = np.percentile(boot_frame[tool], [2.5, 97.5])
        firsts = int((ranks[tool] == ranks.min(axis=1)).sum())
        failures = sum(scores[tool] is None for _, _, scores in found)
        lines.append(
            f"| {LABELS[tool]} | {ranks[tool].mean():.2f} | {low:.2f}–{high:.2f} | "
            f"{firsts} | {failures} |"
        )
    if "cairn" in tools:
        lines += [
            "",
            "cairn against each peer (ties: within 0.1 %; rank gap: cairn's mean rank minus "
            "the peer's, negative is better for cairn):",
            "",
            "| peer | win | tie | loss | cairn wins or ties | rank gap (95 % interval) |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for peer in (t for t in tools if t != "cairn"):
            counts = {"win": 0, "tie": 0, "loss": 0}
            for name, _, scores in found:
                counts[outcome(scores["cairn"], scores[peer], SUITE[name][1] == "binary")] += 1
            gap = boot_frame["cairn"] - boot_frame[peer]
            low, high = np.percentile(gap, [2.5, 97.5])
            share = (counts["win"] + counts["tie"]) / len(found)
            lines.append(
                f"| {LABELS[peer]} | {counts['win']} | {counts['tie']} | {counts['loss']} | "
                f"{share:.0%} | {ranks['cairn'].mean() - ranks[peer].mean():+.2f} "
                f"({low:+.2f} to {high:+.2f}) |"
            )
    lines.append("")
    return lines


def report(runs: dict[Key, dict[str, object]], tools: list[str]) -> str:
    lines = [
        "# AutoML benchmark: cairn vs FLAML, AutoGluon, H2O",
        "",
        "Each dataset is split 80/20 once per seed (stratified for classification); every",
        "tool trains on the same training rows with 2 CPU threads, one run at a time on",
        "one 2-core machine, and predicts the same test rows. Metric: ROC-AUC for binary",
        "(higher is better), log loss for multiclass and RMSE for regression (lower is",
        "better). `wall` is the tool's whole process (import, fit, predict); `load` is the",
        "machine's 1-minute load average when the run started (2 means both cores busy",
        "before it began; work at lower priority, such as nice-19 jobs, counts there too).",
        "Produced by `python bench/automl.py`; every run is a line of",
        "`bench/results/automl_runs.jsonl`.",
        "",
        f"Holdout third (kept out of every development decision): {', '.join(HOLDOUT)}.",
        "",
    ]
    chosen = [r for r in runs.values() if r["tool"] in tools]
    versions = sorted(
        {f"{LABELS[str(r['tool'])]} {r.get('version')}" for r in chosen if r.get("version")}
    )
    lines += [f"Versions: {', '.join(versions)}.", ""]
    every_tool = tools
    for budget in sorted({k[0] for k in runs}):
        at_budget = [r for r in chosen if r["budget"] == budget]
        if not at_budget:
            continue
        # A budget run on fewer tools (300 s) shows only the tools it ran.
        tools = [t for t in every_tool if any(r["tool"] == t for r in at_budget)]
        lines += [f"## Budget {budget} s", ""]
        development = [d for d in SUITE if d not in HOLDOUT]
        for title, datasets in (
            (f"All {len(SUITE)} datasets", list(SUITE)),
            (f"Development datasets ({len(development)})", development),
            (f"Holdout datasets ({len(HOLDOUT)})", list(HOLDOUT)),
        ):
            lines += [f"### {title}", ""]
            started = {(k[1], k[2]) for k in runs if k[0] == budget and k[2] in datasets}
            # Tools run on every dataset-seed first, over all of them; then
            # every tool, over the dataset-seeds each of them ran.
            everywhere = [t for t in tools if all((budget, s, d, t) in runs for s, d in started)]
            if len(everywhere) < len(tools) and "cairn" in everywhere and len(everywhere) > 1:
                lines += [
                    f"Tools with a result on all {len(started)} dataset-seeds: "
                    f"{', '.join(LABELS[t] for t in everywhere)}.",
                    "",
                ]
                lines += summary(cases(runs, budget, everywhere, datasets), everywhere)
                lines += ["Every tool:", ""]
            found = cases(runs, budget, tools, datasets)
            if len(found) < len(started):
                lines += [
                    f"Of {len(started)} dataset-seeds run so far, {len(started) - len(found)} "
                    "lack a result from some tool and are left out here.",
                    "",
                ]
            lines += summary(found, tools)
        lines += [
            "### Wall time per tool",
            "",
            "| tool | runs | median | max |",
            "|---|---:|---:|---:|",
        ]
        for tool in tools:
            walls = [float(r["wall_s"]) for r in at_budget if r["tool"] == tool and "wall_s" in r]
            if walls:
                lines.append(
                    f"| {LABELS[tool]} | {len(walls)} | {np.median(walls):.0f} s "
                    f"| {max(walls):.0f} s |"
                )
        lines.append("")
        for seed in sorted({int(r.get("seed", 0)) for r in at_budget}):  # type: ignore[call-overload]
            lines += [f"### Seed {seed}", ""]
            header = (
                "| dataset | metric | " + " | ".join(LABELS[t] for t in tools) + " | cairn rank |"
            )
            lines += [header, "|" + "---|" * (len(tools) + 3)]
            for name, (_, task) in SUITE.items():
                records = {t: runs.get((budget, seed, name, t)) for t in tools}
                if all(r is None for r in records.values()):
                    continue
                higher = task == "binary"
                cells = []
                for t in tools:
                    r = records[t]
                    if r is None:
                        cells.append("–")
                    elif "score" in r:
                        cells.append(
                            f"{float(r['score']):.4g} ({float(r['wall_s']):.0f} s, "  # type: ignore[arg-type]
                            f"load {r.get('load_before', '?')})"
                        )
                    else:
                        cells.append("failed")
                rank = "–"
                if all(r is not None for r in records.values()):
                    scores = {
                        t: (float(r["score"]) if "score" in r else None) for t, r in records.items()
                    }  # type: ignore[union-attr, arg-type, index]
                    if "cairn" in tools:
                        rank = f"{case_ranks(scores, higher)['cairn']:.1f}"
                metric = {
                    "binary": "ROC-AUC ↑",
                    "multiclass": "log loss ↓",
                    "regression": "RMSE ↓",
                }[task]
                marker = " (holdout)" if name in HOLDOUT else ""
                lines.append(f"| {name}{marker} | {metric} | " + " | ".join(cells) + f" | {rank} |")
            lines.append("")
        failed = [
            f"{LABELS[str(r['tool'])]} on {r['dataset']} (seed {r.get('seed', 0)}): "
            f"{str(r['error'])[:160]}"
            for r in at_budget
            if "error" in r
        ]
        if failed:
            lines += ["### Failures", ""] + [f"- {f}" for f in failed] + [""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[60])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--datasets", nargs="+", default=list(SUITE), choices=list(SUITE))
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=list(TOOLS))
    parser.add_argument(
        "--rerun",
        nargs="*",
        default=[],
        choices=list(TOOLS),
        help="run these tools again even where the cache has their result",
    )
    parser.add_argument("--report", action="store_true", help="only write the report")
    parser.add_argument(
        "--report-tools",
        nargs="+",
        choices=list(TOOLS),
        help="tools compared in the report (default: every tool with a result)",
    )
    parser.add_argument("--setup", action="store_true", help="only create the environments")
    args = parser.parse_args()
    if not DATASETS.exists():
        raise SystemExit(f"datasets not found at {DATASETS}")
    runs = load_runs()
    if not args.report:
        for tool in args.tools:
            python_for(tool)
        if args.setup:
            return
        rerun = set(args.rerun)
        for budget in args.budgets:
            for seed in args.seeds:
                for name in args.datasets:
                    for tool in args.tools:
                        key = (budget, seed, name, tool)
                        if key in runs and tool not in rerun:
                            continue
                        while (WORK / "PAUSE").exists():  # lets other work have the machine
                            time.sleep(5)
                        wait_for_a_quiet_machine()
                        record = run_one(tool, name, budget, seed)
                        runs[key] = record
                        save_runs(runs)
                        shown = (
                            f"{record['score']:.4f}"
                            if "score" in record
                            else record.get("error", "")
                        )
                        print(
                            f"{budget:>4}s seed {seed} {name:<20} {tool:<10} {shown} "
                            f"({record.get('wall_s', 0):.0f} s)",
                            flush=True,
                        )
    shown_tools = args.report_tools or [t for t in TOOLS if any(k[3] == t for k in runs)]
    text = report(runs, shown_tools)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "automl.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
