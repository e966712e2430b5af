"""Behaviour-suite speed on a 20-column model.

Usage::

    .venv/bin/python bench/behaviour.py

Trains a short LightGBM run (10 s budget, no registry) on telco_churn
(customerID, 19 features and the target; 20 columns of input), then times
``run_suite`` on the run's held-out rows with one declared invariance
(customerID), one direction (tenure) and one sensitive column
(gender): edge cases, invariance, direction, robustness, slices, fairness
and skew, all of them. Timed: the suite alone, from a loaded model to its
result, three times (the median is reported).

Writes ``bench/results/behaviour.md``.
"""

from __future__ import annotations

import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "telco_churn.csv"
RESULTS = ROOT / "bench" / "results" / "behaviour.md"
LIMIT_S = 30.0


def main() -> int:
    import cairn
    from cairn.behaviour.suite import run_suite
    from cairn.spec import TestsSection

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        pd.read_csv(DATASET).sample(n=3000, random_state=0).to_csv(root / "data.csv", index=False)
        (root / "cairn.toml").write_text(
            '[project]\nname = "churn"\n\n[data]\nsources = [{ path = "data.csv" }]\n'
            'id_columns = ["customerID"]\n\n[problem]\ntarget = "Churn"\n\n'
            '[train]\ntime_budget = 10\ninclude = ["lightgbm"]\n',
            encoding="utf-8",
        )
        result = cairn.run(root / "cairn.toml", register=False)
        held = pd.read_parquet(result.reports["test_predictions"])
        labels = held.pop("__target")
        rows = held[[c for c in held.columns if not str(c).startswith("__")]]
        settings = TestsSection.model_validate(
            {
                "invariance": [{"column": "customerID"}],
                "direction": [{"column": "tenure", "direction": "decreasing"}],
                "sensitive": ["gender"],
            }
        )
        timings, suite = [], None
        for _ in range(3):
            model = cairn.load_model(result.bundle_path)
            started = time.perf_counter()
            suite = run_suite(
                model,
                rows,
                labels=labels,
                settings=settings,
                model_name="churn",
                data_name="held-out rows",
            )
            timings.append(time.perf_counter() - started)
    assert suite is not None
    median = statistics.median(timings)
    line = (
        f"| telco_churn, {rows.shape[1]} input columns, {len(rows)} rows | {len(suite.checks)} "
        f"| {median:.1f} s | {min(timings):.1f} s | {max(timings):.1f} s "
        f"| {'yes' if median < LIMIT_S else 'NO'} |"
    )
    text = (
        "# Behaviour suite speed\n\n"
        f"`python bench/behaviour.py` on {platform.machine()}, {platform.python_version()}, "
        f"{sys.platform}; suite timed three times from a loaded model to its result.\n\n"
        f"| model | checks | median | fastest | slowest | under {LIMIT_S:.0f} s |\n"
        "|---|---|---|---|---|---|\n" + line + "\n\n" + suite.summary() + "\n"
    )
    RESULTS.write_text(text, encoding="utf-8")
    print(text)
    return 0 if median < LIMIT_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
