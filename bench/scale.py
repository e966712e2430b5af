"""Data larger than memory: the all-row profile, batch scoring in one pandas
process against the partitioned path, and the quality stage of a 1M-row run.

    .venv/bin/python bench/scale.py                          # everything, 20M rows
    .venv/bin/python bench/scale.py --rows 2000000           # smaller
    .venv/bin/python bench/scale.py --before-src /tmp/old/src  # + quality stage before
    .venv/bin/python bench/scale.py --ray-search             # only the search on Ray

The data is real-shaped: the California housing rows (10 columns: coordinates,
ages, rooms, population, income, ocean proximity, the value) resampled, with
10 more columns made from its numbers with noise, 20 columns in all. It is
written once to bench/.work/scale/ as Parquet (row groups of 500,000 rows).

Every measured step runs in its own process; peak memory is the highest
resident set of that process and its children together (sampled every
0.1 s from /proc). The table goes to stdout and bench/results/scale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATASETS = ROOT.parent / "shared" / "datasets"
WORK = HERE / ".work" / "scale"
RESULTS = HERE / "results"
CHUNK = 1_000_000


def make_rows(rows: int, seed: int) -> pd.DataFrame:
    base = pd.read_csv(DATASETS / "california_housing.csv")
    rng = np.random.default_rng(seed)
    frame = base.iloc[rng.integers(0, len(base), rows)].reset_index(drop=True)
    numbers = [c for c in base.columns if base[c].dtype.kind == "f" and c != "median_house_value"]
    for i in range(10):
        column = numbers[i % len(numbers)]
        frame[f"{column}_{i}"] = frame[column] * rng.normal(1.0, 0.05, rows)
    return frame


def write_data(path: Path, rows: int) -> None:
    if path.exists() and pq.read_metadata(path).num_rows == rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    writer: pq.ParquetWriter | None = None
    for start in range(0, rows, CHUNK):
        table = pa.Table.from_pandas(
            make_rows(min(CHUNK, rows - start), start), preserve_index=False
        )
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=500_000)
    assert writer is not None
    writer.close()


def _tree_rss(pid: int) -> int:
    """Resident bytes of PID and all its descendants."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text(encoding="ascii")
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(p) for p in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def measure(command: list[str], env: dict[str, str] | None = None) -> dict[str, object]:
    """Wall seconds, peak resident memory of the process tree, and stdout."""
    started = time.monotonic()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    done.set()
    sampler.join()
    seconds = time.monotonic() - started
    if process.returncode != 0:
        print(err[-3000:], file=sys.stderr)
    return {"seconds": seconds, "peak": peak, "rc": process.returncode, "out": out}


def train_model(work: Path) -> Path:
    """A LightGBM bundle trained on 200,000 rows of the same data."""
    bundle_file = work / "bundle.txt"
    if bundle_file.exists() and Path(bundle_file.read_text()).exists():
        return Path(bundle_file.read_text())
    import cairn

    project = work / "project"
    project.mkdir(parents=True, exist_ok=True)
    make_rows(200_000, 999).to_parquet(project / "train.parquet", index=False)
    (project / "cairn.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "scale"
            [data]
            sources = [{ path = "train.parquet" }]
            [problem]
            target = "median_house_value"
            [train]
            time_budget = 30
            include = ["lightgbm"]
            """
        )
    )
    result = cairn.run(project / "cairn.toml", register=False)
    bundle_file.write_text(str(result.bundle_path))
    return result.bundle_path


_PANDAS_SCORE = """
import sys, time
from pathlib import Path
from cairn.data.sources import read_table
from cairn.serving.batch import score_frame
from cairn.tracking import load_model
model, data, out, engine = sys.argv[1:5]
frame = read_table(Path(data))
scored, _ = score_frame(load_model(model, engine=engine), frame)
scored.to_parquet(out, index=False)
"""

_PROFILE = """
import json, sys
from pathlib import Path
from cairn.data.large import profile_large
p = profile_large(Path(sys.argv[1]))
print(json.dumps({"rows": p.rows, "duplicates": p.duplicates, "columns": len(p.columns)}))
"""

_QUALITY_RUN = """
import json, sys, textwrap
from pathlib import Path
import cairn
root = Path(sys.argv[1])
result = cairn.run(root / "cairn.toml", register=False)
print(json.dumps(result.timings))
"""


def _million_rows(work: Path) -> Path:
    """The 1M x 20 rows of the run benchmarks, written once."""
    data = work / "quality_1m.parquet"
    if not data.exists():
        make_rows(1_000_000, 7).to_parquet(data, index=False)
    return data


def quality_run(work: Path, name: str, src: Path) -> dict[str, float]:
    """``cairn.run`` timings of a 1M x 20 regression with a 60 s budget."""
    root = work / f"run-{name}"
    root.mkdir(parents=True, exist_ok=True)
    data = _million_rows(work)
    (root / "cairn.toml").write_text(
        textwrap.dedent(
            f"""
            [project]
            name = "quality-{name}"
            [data]
            sources = [{{ path = "{data}" }}]
            large = false
            [problem]
            target = "median_house_value"
            [train]
            time_budget = 60
            include = ["lightgbm"]
            """
        )
    )
    if name == "before":  # that tree's spec has no [data] large
        text = (root / "cairn.toml").read_text().replace("large = false\n", "")
        (root / "cairn.toml").write_text(text)
    env = {**os.environ, "PYTHONPATH": str(src)}
    result = measure([sys.executable, "-c", _QUALITY_RUN, str(root)], env=env)
    lines = [line for line in str(result["out"]).splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


_QUALITY_CPU = """
import sys, time
sys.path.insert(0, sys.argv[1])
from scale import make_rows
from cairn.data.quality import check_and_clean
frame = make_rows(1_000_000, 7)
check_and_clean(frame.iloc[:5000], target="median_house_value", task="regression")
cpu, wall = time.process_time(), time.perf_counter()
check_and_clean(frame, target="median_house_value", task="regression")
print(f"{time.process_time() - cpu:.1f} {time.perf_counter() - wall:.1f}")
"""


def append_scoring(args: argparse.Namespace) -> None:
    """Scoring alone on ROWS rows, appended to the results as a section."""
    data = WORK / f"data_{args.rows}.parquet"
    write_data(data, args.rows)
    bundle = train_model(WORK)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    lines = scoring(args, data, bundle, env)
    path = RESULTS / "scale.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    head = f"## Batch scoring, {args.rows:,} rows"
    table = ["| step | processes | seconds | rows/s | peak memory |", "|---|---:|---:|---:|---:|"]
    section = "\n".join([head, "", *table, *lines, ""])
    text = text.split(head)[0].rstrip() + "\n\n" + section
    path.write_text(text, encoding="utf-8")
    print(section)


def quality_cpu(before: Path | None) -> None:
    """CPU and wall seconds of the quality checks alone on 1M x 20 rows,
    before and after, appended to the results (CPU time is what other work
    on the machine disturbs least)."""
    lines = []
    for name, src in [("before", before), ("after", ROOT / "src")]:
        if src is None:
            continue
        env = {**os.environ, "PYTHONPATH": str(src)}
        done = subprocess.run(
            [sys.executable, "-c", _QUALITY_CPU, str(HERE)], capture_output=True, text=True, env=env
        )
        cpu, wall = done.stdout.split()[-2:]
        lines.append(f"- {name}: {cpu} CPU seconds ({wall} s wall)")
        print(name, cpu, wall, flush=True)
    path = RESULTS / "scale.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    head = "## Quality checks alone (`check_and_clean`, 1,000,000 × 20)"
    text = text.split(head)[0].rstrip() + "\n\n" + head + "\n\n" + "\n".join(lines) + "\n"
    path.write_text(text, encoding="utf-8")


def scoring(args: argparse.Namespace, data: Path, bundle: Path, env: dict[str, str]) -> list[str]:
    """Table rows: the partitioned path, then pandas in one process."""
    rows: list[str] = []
    out = WORK / "scored_parts.parquet"
    parted = measure(
        [sys.executable, "-m", "cairn.cli", "predict", str(bundle), str(data), "-o", str(out),
         "--workers", str(args.workers), "--engine", args.engine],
        env=env,
    )  # fmt: skip
    print("partitioned", {k: v for k, v in parted.items() if k != "out"}, flush=True)
    state = "" if parted["rc"] == 0 else f" (failed, exit {parted['rc']})"
    rows.append(
        f"| scoring, partitioned (`cairn predict --workers {args.workers}`){state} | "
        f"{args.workers} | {parted['seconds']:.1f} | {args.rows / parted['seconds']:,.0f} | "
        f"{parted['peak'] / 2**30:.2f} GiB |"
    )
    if parted["rc"] == 0:
        assert pq.read_metadata(out).num_rows == args.rows
        out.unlink(missing_ok=True)

    if not args.skip_pandas:
        out = WORK / "scored_pandas.parquet"
        pandas = measure(
            [sys.executable, "-c", _PANDAS_SCORE, str(bundle), str(data), str(out), args.engine],
            env=env,
        )
        print("pandas", {k: v for k, v in pandas.items() if k != "out"}, flush=True)
        state = "" if pandas["rc"] == 0 else f" (failed, exit {pandas['rc']})"
        rows.append(
            f"| scoring, pandas in one process{state} | 1 | {pandas['seconds']:.1f} | "
            f"{args.rows / pandas['seconds']:,.0f} | {pandas['peak'] / 2**30:.2f} GiB |"
        )
        out.unlink(missing_ok=True)
    return rows


# The search on Ray: tuning throughput with one and two Ray workers against
# local threads, and what Ray costs a small job.
_RAY_ROWS = 4_000
_RAY_TRIALS = 8


def _ray_data(rows: int, seed: int = 0) -> dict[str, object]:
    from sklearn.model_selection import KFold

    from cairn.data.schema import ColumnSchema, Role, Schema

    frame = make_rows(rows, seed).drop(columns=["ocean_proximity"]).dropna()
    frame = frame.reset_index(drop=True)
    y = frame.pop("median_house_value").to_numpy(dtype=float)
    schema = Schema(
        columns=tuple(ColumnSchema(c, Role.NUMERIC, "float") for c in frame.columns),
        target="median_house_value",
        task="regression",
    )
    folds = list(KFold(5, shuffle=True, random_state=0).split(np.arange(len(y))))
    return {"X": frame, "y": y, "schema": schema, "folds": folds, "task": "regression"}


def _ray_search(data: dict[str, object], executor: str, n_jobs: int, **options: object) -> dict:
    """One search; its tuning phase's trials and fold fits per minute."""
    from cairn.models.catalog import LEARNERS
    from cairn.models.search import search

    said: list[str] = []
    started = time.monotonic()
    result = search(
        **data,  # type: ignore[arg-type]
        metric="rmse",
        learners=[LEARNERS["lightgbm"]],
        tuner="random",
        ensemble="none",
        select_features=False,
        executor=executor,
        n_jobs=n_jobs,
        progress=said.append,
        **options,  # type: ignore[arg-type]
    )
    seconds = time.monotonic() - started
    tuned = [c for c in result.candidates if c.config.origin in ("portfolio", "random")]
    tuning = result.phases["tuning"]
    folds = sum(len(c.fold_scores) for c in tuned)
    default = result.candidates[0]
    return {
        "seconds": seconds,
        "tuning": tuning,
        "trials": len(tuned),
        "pruned": sum(c.status == "pruned" for c in tuned),
        "trial_s": default.fit_time_s * len(data["folds"]),  # type: ignore[arg-type]
        "per_min": 60 * len(tuned) / tuning,
        "folds_per_min": 60 * folds / tuning,
        "best": result.candidate(result.best).cv_mean,
        "said": said,
    }


def ray_search() -> None:
    """Trials per minute, local threads against Ray with 1 and 2 workers, and
    Ray's overhead on a small job; appended to the results as a section."""
    import ray
    from ray.cluster_utils import Cluster

    load_before = os.getloadavg()[0]
    data = _ray_data(_RAY_ROWS)
    options = {"time_budget": 3600.0, "max_trials": _RAY_TRIALS}
    runs: list[tuple[str, dict]] = []
    for name, n_jobs in (("local threads, 1 core (n_jobs = 1)", 1), ("local threads, 2 cores", 2)):
        runs.append((name, _ray_search(data, "local", n_jobs, **options)))
        print(name, {k: v for k, v in runs[-1][1].items() if k != "said"}, flush=True)
    node = {"num_cpus": 1, "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=node)
    os.environ["RAY_ADDRESS"] = cluster.address
    try:
        cluster.wait_for_nodes()
        runs.append(("Ray, 1 worker (head node, 1 CPU)", _ray_search(data, "ray", 1, **options)))
        print(runs[-1][0], {k: v for k, v in runs[-1][1].items() if k != "said"}, flush=True)
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        runs.append(("Ray, 2 workers (+1 worker node)", _ray_search(data, "ray", 1, **options)))
        print(runs[-1][0], {k: v for k, v in runs[-1][1].items() if k != "said"}, flush=True)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
        os.environ.pop("RAY_ADDRESS", None)
    # A small job: 2,000 rows, 4 trials; Ray started by the search itself
    # (the budget is over the 100 s from which it does).
    small = _ray_data(2_000, seed=1)
    quick = {"time_budget": 120.0, "max_trials": 4}
    overhead = [
        ("small job, local threads", _ray_search(small, "local", -1, **quick)),
        ("small job, Ray started by the search", _ray_search(small, "ray", -1, **quick)),
    ]
    for name, run in overhead:
        print(name, {k: v for k, v in run.items() if k != "said"}, flush=True)
    _write_ray_section(runs, overhead, load_before)


def _write_ray_section(
    runs: list[tuple[str, dict]], overhead: list[tuple[str, dict]], load_before: float
) -> None:
    one = runs[2][1]
    table = [
        "| executor | tuning s | trials | pruned | trials/min | fold fits/min "
        "| trials/min vs Ray 1 worker | fold fits/min vs Ray 1 worker |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in runs:
        table.append(
            f"| {name} | {run['tuning']:.1f} | {run['trials']} | {run['pruned']} | "
            f"{run['per_min']:.1f} | {run['folds_per_min']:.1f} | "
            f"{run['per_min'] / one['per_min']:.2f}× | "
            f"{run['folds_per_min'] / one['folds_per_min']:.2f}× |"
        )
    small = [
        "| small job (2,000 rows, 4 trials) | search seconds |",
        "|---|---:|",
        *(f"| {name} | {run['seconds']:.1f} |" for name, run in overhead),
    ]
    load = os.getloadavg()
    machine = f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    head = "## Search on Ray: trials per minute"
    section = "\n".join(
        [
            head,
            "",
            f"Command: `.venv/bin/python bench/scale.py --ray-search`. Data: "
            f"{_RAY_ROWS:,} rows × 19 numeric columns of the same resampled California "
            f"housing, 5 folds; LightGBM, random search, {_RAY_TRIALS} trials after the "
            f"default; one trial (5 fold fits on one CPU) about "
            f"{runs[0][1]['trial_s']:.1f} s. Ray: a real cluster on this machine "
            "(ray.cluster_utils.Cluster: a head node of 1 CPU, then a worker node of "
            f"1 CPU), joined through RAY_ADDRESS. Machine: {machine}; load average "
            f"{load_before:.1f} when it started, {load[0]:.1f} when it ended (shared with "
            "other work: a load above 2 means the two cores were not free).",
            "",
            *table,
            "",
            "Trials on Ray run side by side (two at a time with 2 workers, all their "
            "folds at once) and are not pruned; local trials run one at a time, their "
            "folds in parallel batches, and may be pruned after a batch (fewer fold "
            "fits). Fold fits per minute is the like-for-like throughput; the random "
            "search draws the same configurations in every row.",
            "",
            *small,
            "",
        ]
    )
    path = RESULTS / "scale.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    text = text.split(head)[0].rstrip() + "\n\n" + section
    path.write_text(text, encoding="utf-8")
    print(section)


def budget_run(work: Path, name: str, src: Path, budget: int = 60) -> dict[str, object]:
    """A whole ``cairn run`` process (every family, registering) on 1M x 20
    rows with a ``budget``-second budget: wall time, time per phase, R²."""
    root = work / f"budget-{name}"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    data = _million_rows(work)
    (root / "cairn.toml").write_text(
        textwrap.dedent(
            f"""
            [project]
            name = "budget-{name}"
            [data]
            sources = [{{ path = "{data}" }}]
            [problem]
            target = "median_house_value"
            [train]
            time_budget = {budget}
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(src)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "run", "cairn.toml"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        return {"wall": wall, "error": (done.stderr or done.stdout).strip()[-300:]}
    run = max((root / ".cairn" / "runs").iterdir())
    timings = json.loads((run / "timings.json").read_text())
    metrics = json.loads((run / "evaluation.json").read_text())["metrics"]
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in done.stdout.splitlines()
            if line.startswith("model:")
        ),
        "?",
    )
    return {"wall": wall, "timings": timings, "r2": metrics["r2"], "model": model}


def append_budget_runs(before: Path | None) -> None:
    """Before and after lines of the 1M x 20 ``cairn run`` at 60 s, appended."""
    work = WORK
    work.mkdir(parents=True, exist_ok=True)
    lines = [
        "",
        "## A 60 s `cairn run` on 1,000,000 × 20 rows",
        "",
        "The whole `cairn run` process (every family, MLflow registration), California",
        "housing resampled to 1M rows with 10 noisy copies of its numbers (80/20 split:",
        "800,000 training and 200,000 test rows), `time_budget = 60`. Command:",
        "`bench/scale.py --budget-run --before-src SRC`. Load average at the start of each",
        "run is given; the machine ran nothing else heavy.",
        "",
        "| tree | wall s | R² | model | time per phase (s) |",
        "|---|---:|---:|---|---|",
    ]
    runs = [("after", ROOT / "src")]
    if before is not None:
        runs.insert(0, ("before", before))
    for name, src in runs:
        load = os.getloadavg()[0]
        result = budget_run(work, name, src)
        print(name, result, flush=True)
        if "error" in result:
            lines.append(
                f"| {name} (load {load:.1f}) | {result['wall']:.1f} | failed: "
                f"{result['error']} | | |"
            )
            continue
        phases = ", ".join(f"{k} {v:.1f}" for k, v in result["timings"].items())  # type: ignore[union-attr]
        lines.append(
            f"| {name} (load {load:.1f}) | {result['wall']:.1f} | {result['r2']:.3f} | "
            f"{result['model']} | {phases} |"
        )
    with (RESULTS / "scale.md").open("a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--before-src", type=Path, help="cairn sources before the change")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    # The bundle's ONNX path encodes rows one by one for serving (~5,000
    # rows/s here); batches go through the native pipeline.
    parser.add_argument("--engine", default="native")
    parser.add_argument("--quality-cpu", action="store_true", help="only the checks' CPU time")
    parser.add_argument(
        "--append-scoring", action="store_true", help="only scoring, appended to the results"
    )
    parser.add_argument("--ray-search", action="store_true", help="only the search on Ray")
    parser.add_argument(
        "--budget-run", action="store_true", help="only the 1M-row 60 s cairn run, appended"
    )
    args = parser.parse_args()
    if args.budget_run:
        append_budget_runs(args.before_src)
        return
    if args.ray_search:
        ray_search()
        return
    if args.quality_cpu:
        quality_cpu(args.before_src)
        return
    if args.append_scoring:
        append_scoring(args)
        return
    WORK.mkdir(parents=True, exist_ok=True)
    data = WORK / f"data_{args.rows}.parquet"
    write_data(data, args.rows)
    size = data.stat().st_size
    print(f"data: {data} ({args.rows:,} rows, {size / 1e9:.2f} GB)", flush=True)
    bundle = train_model(WORK)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    rows: list[str] = []
    quality: list[str] = []

    def write() -> None:
        text = _results(args, size, rows, quality)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "scale.md").write_text(text, encoding="utf-8")

    profile = measure([sys.executable, "-c", _PROFILE, str(data)], env=env)
    print("profile", profile, flush=True)
    rows.append(
        f"| profile, all rows (DuckDB) | 1 | {profile['seconds']:.1f} | "
        f"{args.rows / profile['seconds']:,.0f} | {profile['peak'] / 2**30:.2f} GiB |"
    )
    write()

    runs = [] if args.skip_quality else [("after", ROOT / "src")]
    if args.before_src and not args.skip_quality:
        runs.insert(0, ("before", args.before_src))
    for name, src in runs:
        timings = quality_run(WORK, name, src)
        print(name, timings, flush=True)
        if timings:
            phases = ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
            quality.append(f"- {name}: quality **{timings.get('quality', 0):.1f} s** ({phases})")
        write()

    rows += scoring(args, data, bundle, env)
    write()

    print((RESULTS / "scale.md").read_text())


def _results(args: argparse.Namespace, size: int, rows: list[str], quality: list[str]) -> str:
    machine = f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    return "\n".join(
        [
            "# Scale: data larger than memory",
            "",
            f"Data: {args.rows:,} rows × 20 columns (California housing resampled, 10 noisy "
            f"copies of its numbers), Parquet {size / 1e9:.2f} GB in row groups of 500,000. "
            f"Model: LightGBM bundle (cairn run, 200,000 rows, 30 s), scored with "
            f"`--engine {args.engine}`. Machine: {machine}, "
            "shared with other work while this ran (timings are noisy).",
            "",
            "Peak memory: highest resident set of the process and its workers together.",
            "",
            "| step | processes | seconds | rows/s | peak memory |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            "## Quality stage of a 1M-row run",
            "",
            "`cairn.run(...).timings` (seconds per phase) on 1,000,000 × 20 rows of the same "
            "data, LightGBM, 60 s budget:",
            "",
            *quality,
            "",
            f"Command: `.venv/bin/python bench/scale.py --rows {args.rows}"
            + (" --before-src SRC`" if args.before_src else "`"),
            "",
        ]
    )


if __name__ == "__main__":
    main()
