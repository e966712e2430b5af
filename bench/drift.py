"""Drift-check speed and false-alarm rate: cairn against Evidently, side by side.

Usage::

    .venv/bin/python bench/drift.py                    # 100k x 100 and 1M x 100, then false alarms
    .venv/bin/python bench/drift.py --sizes 100000 --splits 20

Part 1, speed. For each size, a reference and a current table of that many
rows and 100 columns (70 numeric of four shapes with some missing values, 30
categorical with 5 to 45 levels; 20 columns shifted in the current table) are
written to Parquet. Each tool then runs in its own process and virtual
environment and checks every column with the same tests: normed Wasserstein
distance for numbers and Jensen–Shannon distance for categories, threshold
0.1 (Evidently's ``DataDriftPreset`` defaults for more than 1,000 rows, and
what cairn's ``auto`` picks at that size). Timed: the drift check from frames
in memory to a result dictionary. cairn's reference profile is built once when
a model is packaged, so it is timed separately. Also run: plain per-column
scipy (``wasserstein_distance`` + ``jensenshannon``), the floor a hand-written
loop reaches. Evidently runs in ``bench/.envs/evidently`` (``pandas<3``),
created on first use.

Part 2, false alarms. Real datasets (california_housing, adult) split at
random many times, so nothing shifted: how often does cairn (default
settings) call dataset drift, flag any feature, or flag a feature? Then the
same data split by a shifted feature (housing by longitude, adult by age).

Writes ``bench/results/drift.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / "bench" / ".envs"
RESULTS = ROOT / "bench" / "results" / "drift.md"
EVIDENTLY = ENVS / "evidently"
EVIDENTLY_PINS = ["evidently==0.7.23", "pandas<3", "pyarrow"]
N_NUMERIC, N_CATEGORICAL = 70, 30
THRESHOLD = 0.1


# ------------------------------------------------------------------ data


def make_table(n: int, seed: int, *, shifted: bool) -> pd.DataFrame:
    """Synthetic mixed table; with ``shifted``, every fifth column moves."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for j in range(N_NUMERIC):
        shift = 0.3 if shifted and j % 5 == 0 else 0.0
        kind = j % 4
        if kind == 0:
            values = rng.normal(shift, 1.0, n)
        elif kind == 1:
            values = rng.lognormal(shift, 1.0, n)
        elif kind == 2:
            values = rng.poisson(3.0 + 3 * shift, n).astype(float)
        else:
            values = rng.uniform(0.0, 1.0 + shift, n)
        if j % 7 == 0:
            values[rng.random(n) < 0.05] = np.nan
        columns[f"num_{j:02d}"] = values
    for j in range(N_CATEGORICAL):
        levels = 5 + (j % 6) * 8
        power = 0.8 if shifted and j % 5 == 0 else 1.2
        p = 1.0 / np.arange(1, levels + 1) ** power
        labels = np.array([f"level_{i}" for i in range(levels)], dtype=object)
        columns[f"cat_{j:02d}"] = labels[rng.choice(levels, n, p=p / p.sum())]
    return pd.DataFrame(columns)


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("num_")]


def categorical_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("cat_")]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------- workers


def worker_cairn(reference_path: str, current_path: str) -> dict[str, Any]:
    from cairn.data.schema import infer_schema
    from cairn.monitoring import build_reference, drift
    from cairn.spec import MonitoringSection

    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    sample = reference.head(5000).assign(__y=np.arange(5000) % 2)
    schema = infer_schema(sample, target="__y")
    started = time.perf_counter()
    profile = build_reference(reference, schema)
    build_s = time.perf_counter() - started
    settings = MonitoringSection(numeric_test="wasserstein", categorical_test="jensenshannon")
    started = time.perf_counter()
    report = drift(current, profile, settings=settings)
    result = report.to_dict()
    drift_s = time.perf_counter() - started
    return {
        "seconds": drift_s,
        "reference_seconds": build_s,
        "profile_kb": len(profile.to_json()) / 1024,
        "rss_mb": peak_rss_mb(),
        "scores": {f["name"]: f["statistic"] for f in result["features"]},
    }


def worker_scipy(reference_path: str, current_path: str) -> dict[str, Any]:
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    started = time.perf_counter()
    scores: dict[str, float] = {}
    for name in numeric_columns(reference):
        ref = reference[name].dropna().to_numpy()
        cur = current[name].dropna().to_numpy()
        scores[name] = float(wasserstein_distance(ref, cur) / np.std(ref))
    for name in categorical_columns(reference):
        ref_share = reference[name].value_counts(normalize=True)
        cur_share = current[name].value_counts(normalize=True)
        index = ref_share.index.union(cur_share.index)
        scores[name] = float(
            jensenshannon(
                ref_share.reindex(index, fill_value=0).to_numpy(),
                cur_share.reindex(index, fill_value=0).to_numpy(),
                base=2,
            )
        )
    return {"seconds": time.perf_counter() - started, "rss_mb": peak_rss_mb(), "scores": scores}


def worker_evidently(reference_path: str, current_path: str) -> dict[str, Any]:
    import evidently
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    definition = DataDefinition(
        numerical_columns=numeric_columns(reference),
        categorical_columns=categorical_columns(reference),
    )
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    result = snapshot.dict()
    seconds = time.perf_counter() - started
    scores: dict[str, float] = {}
    methods = set()
    for metric in result["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            scores[config["column"]] = float(metric["value"])
            methods.add(config.get("method"))
    return {
        "seconds": seconds,
        "rss_mb": peak_rss_mb(),
        "scores": scores,
        "version": evidently.__version__,
        "methods": sorted(m for m in methods if m),
    }


WORKERS = {"cairn": worker_cairn, "scipy": worker_scipy, "evidently": worker_evidently}


# --------------------------------------------------------------- harness


def ensure_evidently() -> Path:
    python = EVIDENTLY / "bin" / "python"
    if not python.exists():
        print(f"creating {EVIDENTLY} ({', '.join(EVIDENTLY_PINS)})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY)], check=True)
        subprocess.run(
            [str(EVIDENTLY / "bin" / "pip"), "install", "-q", *EVIDENTLY_PINS], check=True
        )
    return python


def run_worker(python: Path, tool: str, reference: Path, current: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            str(python),
            str(Path(__file__).resolve()),
            "--worker",
            tool,
            str(reference),
            str(current),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{tool} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def agreement(scores: dict[str, float], truth: dict[str, float]) -> tuple[float, float]:
    """Share of columns with the same verdict as ``truth`` and the largest
    score difference."""
    names = [n for n in truth if n in scores]
    same = sum((scores[n] > THRESHOLD) == (truth[n] > THRESHOLD) for n in names)
    gap = max(abs(scores[n] - truth[n]) for n in names)
    return same / len(names), gap


def speed(sizes: list[int], skip_peer: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    evidently_python = None if skip_peer else ensure_evidently()
    with tempfile.TemporaryDirectory(prefix="cairn-drift-bench-") as tmp:
        for n in sizes:
            reference, current = Path(tmp) / f"ref_{n}.parquet", Path(tmp) / f"cur_{n}.parquet"
            print(f"generating {n:,} x {N_NUMERIC + N_CATEGORICAL}", flush=True)
            make_table(n, 0, shifted=False).to_parquet(reference)
            make_table(n, 1, shifted=True).to_parquet(current)
            results = {}
            for tool in ("cairn", "scipy", "evidently"):
                if tool == "evidently" and evidently_python is None:
                    continue
                python = evidently_python if tool == "evidently" else Path(sys.executable)
                assert python is not None
                print(f"  {tool} ...", flush=True)
                results[tool] = run_worker(python, tool, reference, current)
                print(f"  {tool}: {results[tool]['seconds']:.2f} s", flush=True)
            verdicts = results.get("evidently", results["scipy"])["scores"]
            exact = results["scipy"]["scores"]
            for tool, result in results.items():
                same, _ = agreement(result["scores"], verdicts)
                _, gap = agreement(result["scores"], exact)
                rows.append(
                    {
                        "rows": n,
                        "tool": tool,
                        "seconds": result["seconds"],
                        "reference_seconds": result.get("reference_seconds"),
                        "rss_mb": result["rss_mb"],
                        "drifted": sum(v > THRESHOLD for v in result["scores"].values()),
                        "agreement": same,
                        "gap": gap,
                        "version": result.get("version"),
                        "methods": result.get("methods"),
                        "profile_kb": result.get("profile_kb"),
                    }
                )
    return rows


def false_alarms(splits: int) -> list[dict[str, Any]]:
    from tests.conftest import DATASETS

    from cairn.data.schema import infer_schema
    from cairn.monitoring import build_reference, drift
    from cairn.spec import MonitoringSection

    alpha = MonitoringSection().significance
    rows: list[dict[str, Any]] = []
    for name, target in (("california_housing", "median_house_value"), ("adult", "class")):
        path = DATASETS / f"{name}.csv"
        if not path.exists():
            print(f"skipping {name}: {path} not found")
            continue
        data = pd.read_csv(path)
        schema = infer_schema(data, target=target)
        frame = data.drop(columns=target)
        for size in (500, 5000):
            dataset = any_feature = flagged = tested = 0
            started = time.perf_counter()
            for seed in range(splits):
                order = np.random.default_rng(seed).permutation(len(frame))
                report = drift(
                    frame.iloc[order[:size]], build_reference(frame.iloc[order[size:]], schema)
                )
                dataset += report.dataset_drift
                any_feature += bool(report.drifted)
                flagged += len(report.drifted)
                tested += len(report.features)
            rows.append(
                {
                    "data": name,
                    "rows": size,
                    "tests": "KS / chi-square, BH-corrected"
                    if size <= 1000
                    else "Wasserstein / JS",
                    "splits": splits,
                    "dataset": dataset / splits,
                    "any": any_feature / splits,
                    "feature": flagged / tested,
                    "alpha": alpha,
                    "seconds": time.perf_counter() - started,
                }
            )
            print(f"  {name} {size}: {rows[-1]}", flush=True)
    return rows


def shifted_splits() -> list[dict[str, Any]]:
    from tests.conftest import DATASETS

    from cairn.data.schema import infer_schema
    from cairn.monitoring import build_reference, drift

    cases = (
        ("california_housing", "median_house_value", "longitude", -119.5),
        ("adult", "class", "age", 40),
    )
    rows = []
    for name, target, column, cut in cases:
        path = DATASETS / f"{name}.csv"
        if not path.exists():
            continue
        data = pd.read_csv(path)
        schema = infer_schema(data, target=target)
        frame = data.drop(columns=target)
        low, high = frame[frame[column] < cut], frame[frame[column] >= cut]
        reference = build_reference(low, schema)
        for size in (500, 5000):
            report = drift(high.sample(size, random_state=0), reference)
            rows.append(
                {
                    "data": name,
                    "split": f"reference {column} < {cut}, current {column} ≥ {cut}",
                    "rows": size,
                    "dataset_drift": report.dataset_drift,
                    "top": report.features[0].name,
                    "drifted": ", ".join(report.drifted),
                }
            )
    return rows


def write_markdown(
    speed_rows: list[dict[str, Any]],
    alarm_rows: list[dict[str, Any]],
    shift_rows: list[dict[str, Any]],
    command: str,
) -> None:
    lines = [
        "# Drift check: cairn vs Evidently",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}. The machine was shared with other jobs while this ran, "
        "so timings are noisy; treat them as rough.",
        "",
        "## Speed: same data, same tests",
        "",
        f"{N_NUMERIC} numeric + {N_CATEGORICAL} categorical columns; reference and current "
        "tables of the same size, 20 columns shifted. Every tool uses normed Wasserstein "
        "(numeric) and Jensen–Shannon (categorical) with threshold 0.1. *Check* is the drift "
        "check from frames in memory to a result; cairn's *profile* is built once when the "
        "model is packaged (stored in the bundle) and is shown apart. Agreement: columns "
        "with the same verdict as Evidently. Max score gap: largest difference from the "
        "exact statistic computed by scipy on all rows.",
        "",
        "| rows | tool | check (s) | profile, once (s) | peak RSS (MB) | × faster than "
        "Evidently | drifted columns | agreement | max score gap |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_size: dict[int, dict[str, dict[str, Any]]] = {}
    for row in speed_rows:
        by_size.setdefault(row["rows"], {})[row["tool"]] = row
    for size, tools in by_size.items():
        peer = tools.get("evidently")
        for tool in ("cairn", "scipy", "evidently"):
            row = tools.get(tool)
            if row is None:
                continue
            label = {
                "cairn": "cairn",
                "scipy": "per-column scipy loop",
                "evidently": f"Evidently {row.get('version') or ''} DataDriftPreset",
            }[tool]
            faster = f"{peer['seconds'] / row['seconds']:.0f}×" if peer else "—"
            profile = f"{row['reference_seconds']:.2f}" if row.get("reference_seconds") else "—"
            lines.append(
                f"| {size:,} | {label} | {row['seconds']:.2f} | {profile} | "
                f"{row['rss_mb']:.0f} | {faster} | {row['drifted']} | "
                f"{row['agreement']:.0%} | {row['gap']:.3g} |"
            )
    cairn_rows = [r for r in speed_rows if r["tool"] == "cairn"]
    if cairn_rows:
        kb = max(r["profile_kb"] or 0 for r in cairn_rows)
        lines += ["", f"The reference profile is about {kb:.0f} KB of JSON for 100 columns."]
    if alarm_rows:
        lines += [
            "",
            "## False alarms on unshifted data",
            "",
            "Each dataset split at random into reference and current (nothing shifted), "
            "repeated over many seeds; cairn with default settings (significance 0.05, "
            "Benjamini–Hochberg correction, drift share 0.5, equal weights).",
            "",
            "| data | current rows | tests | splits | dataset drift called | any feature "
            "flagged | feature-level rate | configured level | time (s) |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in alarm_rows:
            lines.append(
                f"| {row['data']} | {row['rows']:,} | {row['tests']} | {row['splits']} | "
                f"{row['dataset']:.1%} | {row['any']:.1%} | {row['feature']:.2%} | "
                f"{row['alpha']:.0%} | {row['seconds']:.1f} |"
            )
    if shift_rows:
        lines += [
            "",
            "## Shifted splits",
            "",
            "| data | split | current rows | dataset drift | most drifted | drifted features |",
            "|---|---|---:|---|---|---|",
        ]
        for row in shift_rows:
            lines.append(
                f"| {row['data']} | {row['split']} | {row['rows']:,} | "
                f"{'yes' if row['dataset_drift'] else 'no'} | {row['top']} | {row['drifted']} |"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(RESULTS)
    print(f"wrote {RESULTS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--splits", type=int, default=100, help="random splits per case")
    parser.add_argument("--skip-peer", action="store_true", help="do not run Evidently")
    parser.add_argument("--worker", nargs=3, metavar=("TOOL", "REFERENCE", "CURRENT"))
    args = parser.parse_args()
    if args.worker:
        tool, reference, current = args.worker
        print(json.dumps(WORKERS[tool](reference, current)))
        return
    sys.path.insert(0, str(ROOT))  # for the datasets' location in tests/conftest.py
    command = "python bench/drift.py " + " ".join(sys.argv[1:])
    speed_rows = speed(args.sizes, args.skip_peer) if args.sizes else []
    print("false alarms ...", flush=True)
    alarm_rows = false_alarms(args.splits) if args.splits else []
    shift_rows = shifted_splits()
    write_markdown(speed_rows, alarm_rows, shift_rows, command.strip())


if __name__ == "__main__":
    main()
