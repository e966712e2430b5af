"""How long ``cairn test`` takes on a 20-column model.

    .venv/bin/python bench/behaviour.py                    # telco_churn, one timed run
    .venv/bin/python bench/behaviour.py --repeats 3 --tests-toml my_tests.toml

``cairn run`` trains a model on telco_churn (7,043 rows; 19 inputs and the
customer id, 21 columns with the target: numbers, yes/no columns and
categories) in a throwaway project under bench/.work/behaviour/, without the
registry. Then ``cairn.test`` runs on its bundle, as a user runs it: the
bundle loaded and verified, the held-out test set read from the run folder,
every check of the suite, and junit.xml, behaviour.json and behaviour.html
written. Timed: that whole call, wall clock, in this process after a first
call that also pays the imports (reported beside it). ``--tests-toml`` appends a
``[tests]`` section (declared invariances, directions, a sensitive column)
to the project's spec; without it the suite runs its generated checks only.

The goal is under 30 s on the development machine. Writes
bench/results/behaviour.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work" / "behaviour"
RESULTS = HERE / "results" / "behaviour.md"
DATASET = ROOT.parent / "shared" / "datasets" / "telco_churn.csv"
GOAL_SECONDS = 30.0


def write_project(tests_toml: Path | None) -> Path:
    """A fresh project folder for telco_churn; returns its spec."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    spec = WORK / "cairn.toml"
    text = f"""[project]
name = "telco-behaviour"

[data]
sources = [{{ path = "{DATASET}" }}]
id_columns = ["customerID"]

[problem]
target = "Churn"
objectives = ["latency_p99_ms < 100"]

[train]
time_budget = 60
include = ["lightgbm", "linear"]
"""
    if tests_toml is not None:
        text += "\n" + tests_toml.read_text(encoding="utf-8")
    spec.write_text(text, encoding="utf-8")
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="timed calls of cairn.test")
    parser.add_argument("--tests-toml", type=Path, help="a [tests] section to add to the spec")
    args = parser.parse_args()
    if not DATASET.is_file():
        sys.exit(f"{DATASET} not found")

    import pandas as pd

    import cairn

    spec = write_project(args.tests_toml)
    started = time.perf_counter()
    run = cairn.run(spec, register=False)
    train_seconds = time.perf_counter() - started
    bundle = run.bundle_path
    columns = len(pd.read_csv(DATASET, nrows=5).columns)
    cwd = Path.cwd()
    os.chdir(WORK)  # ./cairn.toml is the project's: its [tests] and objectives apply
    try:
        started = time.perf_counter()
        cairn.test(bundle, output_dir=WORK / "warmup")
        cold = time.perf_counter() - started
        times, suite = [], None
        for repeat in range(args.repeats):
            started = time.perf_counter()
            suite = cairn.test(bundle, output_dir=WORK / f"out-{repeat}")
            times.append(time.perf_counter() - started)
    finally:
        os.chdir(cwd)
    assert suite is not None
    per_category: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for check in suite.checks:
        per_category[check.category] += check.seconds
        counts[check.category] += 1
    median = statistics.median(times)
    verdict = "under" if median < GOAL_SECONDS else "OVER"
    lines = [
        "# cairn test on a 20-column model",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU(s), "
        f"{platform.platform()}, Python {platform.python_version()}. Command: "
        f"`{' '.join(['python bench/behaviour.py', *sys.argv[1:]])}`.",
        "",
        f"Model: {run.model.metadata.get('model_label')} trained by `cairn run` on telco_churn "
        f"({columns} columns, {run.model.metadata['rows']['train']:,} training rows) in "
        f"{train_seconds:.0f} s; suite on the {run.model.metadata['rows']['test']:,} held-out "
        f"rows{' with the given [tests] section' if args.tests_toml else ''}.",
        "",
        f"**`cairn.test` wall time: {median:.2f} s** (median of {len(times)}; "
        f"{', '.join(f'{t:.2f}' for t in times)} s), {verdict} the {GOAL_SECONDS:.0f} s goal. "
        f"The first call, which also imports the suite's libraries, took {cold:.2f} s. "
        f"Verdict: {suite.summary()}.",
        "",
        "| category | checks | seconds (sum of checks) |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {category} | {counts[category]} | {per_category[category]:.2f} |"
        for category in sorted(per_category, key=lambda c: -per_category[c])
    ]
    slowest = sorted(suite.checks, key=lambda c: -c.seconds)[:5]
    lines += ["", "Slowest checks: " + ", ".join(f"{c.name} {c.seconds:.2f} s" for c in slowest)]
    lines += [
        "",
        f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        "(other work on the machine slows every figure).",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
