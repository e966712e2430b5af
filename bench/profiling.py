"""cairn's data profile against ydata-profiling, side by side.

    .venv/bin/python bench/profiling.py                   # 100k and 1M rows
    .venv/bin/python bench/profiling.py --rows 100000     # one size
    .venv/bin/python bench/profiling.py --rows 1000000 --cairn-only --repeat 3
                                          # cairn alone, printed (results file untouched)

The data is real-shaped: 20 columns made by resampling rows of the adult
census data (15 columns: ages, weights, hours, education, occupation, ...)
and of the California housing data (5 columns: coordinates, income, age,
ocean proximity) with a little noise on the numbers, so distributions,
cardinalities and missing values are those of real data. It is written once
to bench/.work/ as Parquet.

Each tool runs in its own process (cairn in the project's .venv,
ydata-profiling in bench/.envs/ydata with pandas < 3 and numpy < 2.4, as it
requires) and is timed from the loaded DataFrame to the written HTML file:
cairn's ``profile`` + ``write_profile_report`` (with the target), and
ydata-profiling's ``ProfileReport(...).to_file`` with ``minimal=False`` (its
full report: the content comparable to cairn's, with correlations,
missing-value diagrams and per-column plots) and ``minimal=True``. Peak
memory is the process's maximum resident set. The table goes to stdout and
bench/results/profiling.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cairn.eda import QUALITY_ROWS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATASETS = ROOT.parent / "shared" / "datasets"
ENVS = HERE / ".envs"
WORK = HERE / ".work" / "profiling"
RESULTS = HERE / "results"
YDATA_PACKAGES = ["ydata-profiling>=4.12", "pandas<3", "numpy<2.4", "pyarrow", "setuptools"]

# Runs inside each tool's interpreter: load the data, time the report.
_WORKER = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
tool, mode, data, out, target = sys.argv[1:6]
frame = pd.read_parquet(data)
if tool == "cairn":
    from cairn.eda import profile
    from cairn.eda import write_profile_report
else:
    from ydata_profiling import ProfileReport
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu_before = usage.ru_utime + usage.ru_stime
started = time.perf_counter()
if tool == "cairn":
    result = profile(frame, target=target, source="real-shaped")
    write_profile_report(result, out)
    extra = {"stages": result.timings}
else:
    minimal = mode == "minimal"
    report = ProfileReport(frame, minimal=minimal, title="real-shaped", progress_bar=False)
    report.to_file(out)
    extra = {}
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime - cpu_before
peak = usage.ru_maxrss / 1024
print("RESULT " + json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak, **extra}))
"""


def real_shaped(rows: int, seed: int = 0) -> pd.DataFrame:
    """20 columns resampled from adult (15) and california_housing (5)."""
    rng = np.random.default_rng(seed)
    adult = pd.read_csv(DATASETS / "adult.csv")
    housing = pd.read_csv(DATASETS / "california_housing.csv")
    a = adult.iloc[rng.integers(0, len(adult), rows)].reset_index(drop=True)
    h = housing.iloc[rng.integers(0, len(housing), rows)].reset_index(drop=True)
    for column in ("age", "hours_per_week", "fnlwgt"):
        noise = rng.normal(0, a[column].std() * 0.05, rows)
        a[column] = (a[column] + noise).round().astype("int64")
    out = a.copy()
    for column in ("longitude", "latitude", "median_income", "housing_median_age"):
        values = h[column].to_numpy(dtype=float)
        out[column] = values + rng.normal(0, np.nanstd(values) * 0.02, rows)
    out["ocean_proximity"] = h["ocean_proximity"].to_numpy()
    # California's missing bedrooms, spread over one of the new columns.
    missing = rng.random(rows) < housing["total_bedrooms"].isna().mean() * 5
    out.loc[missing, "median_income"] = np.nan
    return out


def data_file(rows: int) -> Path:
    path = WORK / f"real_shaped_{rows}.parquet"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        real_shaped(rows).to_parquet(path, index=False)
    return path


def ydata_python() -> Path:
    env = ENVS / "ydata"
    python = env / "bin" / "python"
    if not (env / ".installed").exists():
        print(f"creating {env} ({', '.join(YDATA_PACKAGES)})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *YDATA_PACKAGES], check=True)
        (env / ".installed").touch()
    return python


def version(python: Path, package: str) -> str:
    code = f"from importlib.metadata import version; print(version({package!r}))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


def measure(tool: str, mode: str, rows: int, timeout: float) -> dict[str, float | str]:
    own = ROOT / ".venv" / "bin" / "python"
    # cairn runs in the interpreter of this script when the project has no .venv.
    python = (own if own.exists() else Path(sys.executable)) if tool == "cairn" else ydata_python()
    out = WORK / f"{tool}_{mode}_{rows}.html"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": str(os.cpu_count() or 1)}
    command = [str(python), "-c", _WORKER, tool, mode, str(data_file(rows)), str(out), "class"]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - started
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
            result["html_mb"] = out.stat().st_size / 1e6
            result["wall"] = wall
            return result
    return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:200]}


def cairn_alone(sizes: list[int], repeat: int, timeout: float) -> None:
    """Wall-clock and CPU seconds of cairn's profile and report, each run
    printed, then the median per size (for before/after comparisons)."""
    for rows in sizes:
        data_file(rows)
        walls, cpus = [], []
        for run in range(1, repeat + 1):
            result = measure("cairn", "full", rows, timeout)
            if "error" in result:
                print(f"{rows:>9,} rows  run {run}: {result['error']}", flush=True)
                continue
            walls.append(float(result["seconds"]))
            cpus.append(float(result["cpu"]))
            print(
                f"{rows:>9,} rows  run {run}: {walls[-1]:.2f} s, {cpus[-1]:.2f} CPU s, "
                f"{float(result['peak_mb']):,.0f} MB",
                flush=True,
            )
        if walls:
            print(
                f"{rows:>9,} rows  median of {len(walls)}: {float(np.median(walls)):.2f} s, "
                f"{float(np.median(cpus)):.2f} CPU s",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument(
        "--cairn-only",
        action="store_true",
        help="time cairn alone and print it, leaving bench/results/profiling.md as it is",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of cairn per size")
    args = parser.parse_args()
    if args.cairn_only:
        cairn_alone(args.rows, args.repeat, args.timeout)
        return
    cases = [("cairn", "full"), ("ydata", "full"), ("ydata", "minimal")]
    results: dict[tuple[int, str, str], dict[str, float | str]] = {}
    for rows in args.rows:
        data_file(rows)
        for tool, mode in cases:
            print(f"{rows:>9,} rows  {tool:<6} {mode:<8} ...", end=" ", flush=True)
            result = measure(tool, mode, rows, args.timeout)
            results[(rows, tool, mode)] = result
            shown = result.get("error") or f"{float(result['seconds']):.1f} s"
            print(shown, flush=True)
    python = ydata_python()
    cairn_version = version(ROOT / ".venv" / "bin" / "python", "cairn")
    lines = [
        "# Profiling: cairn vs ydata-profiling",
        "",
        f"Data: real-shaped, 20 columns (adult × 15 + California housing × 5, resampled with "
        f"noise); target `class`. Machine: {platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. ydata-profiling {version(python, 'ydata-profiling')} "
        f"(pandas {version(python, 'pandas')}); cairn {cairn_version} "
        f"(pandas {pd.__version__}).",
        "",
        "Time from the loaded DataFrame (libraries imported) to the written HTML report, as "
        "wall-clock and as CPU time of the process (less sensitive to other work on the machine); "
        "peak resident memory of the process (data included). Statistics use every row in "
        "both tools; cairn samples only the role and quality checks above "
        f"{QUALITY_ROWS:,} rows (plus a few rows of each class). The machine was shared with other "
        "work while this ran, so timings are noisy.",
        "",
        "| rows | tool | report | seconds | CPU seconds | peak memory | HTML size "
        "| cairn faster by |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for rows in args.rows:
        base = results.get((rows, "cairn", "full"), {})
        for tool, mode in cases:
            result = results[(rows, tool, mode)]
            label = "cairn" if tool == "cairn" else "ydata-profiling"
            report = "full" if mode == "full" else "minimal=True"
            if tool == "ydata" and mode == "full":
                report = "full (minimal=False)"
            if "error" in result:
                lines.append(f"| {rows:,} | {label} | {report} | {result['error']} | | | | |")
                continue
            seconds = float(result["seconds"])
            cpu = float(result["cpu"])
            ratio = ""
            if tool != "cairn" and "seconds" in base:
                ratio = (
                    f"{seconds / float(base['seconds']):.1f}× ({cpu / float(base['cpu']):.1f}× CPU)"
                )
            memory = f"{float(result['peak_mb']):,.0f} MB"
            size = f"{float(result['html_mb']):.1f} MB"
            lines.append(
                f"| {rows:,} | {label} | {report} | {seconds:.1f} | {cpu:.1f} | {memory} | {size} "
                f"| {ratio} |"
            )
    stages = {rows: results.get((rows, "cairn", "full"), {}).get("stages") for rows in args.rows}
    lines += ["", "cairn's time by step (seconds):", ""]
    for rows, steps in stages.items():
        if isinstance(steps, dict):
            shown = ", ".join(f"{k} {v:.2f}" for k, v in steps.items())
            lines.append(f"- {rows:,} rows: {shown}")
    lines += [
        "",
        "Content: both reports have an overview, per-column statistics with histograms or bar "
        "charts, top values, missing-value charts and Pearson/Spearman/Cramér's V correlation "
        "matrices. cairn adds the target's relationship with every feature, outlier counts "
        "(IQR and z-score) and cairn's data-quality findings; ydata-profiling's full report "
        "adds pairwise scatter plots of numeric columns (interactions) and sample rows.",
        "",
        "Command: `.venv/bin/python bench/profiling.py`",
    ]
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "profiling.md").write_text(text, encoding="utf-8")
    print()
    print(text)


if __name__ == "__main__":
    main()
