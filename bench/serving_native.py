"""The native engine (a model served by its pickled pipeline): records read
through a per-request frame and the schema's conform, against the lean path
(checked records straight to the trained-form frame).

    .venv/bin/python bench/serving_native.py              # 5 s per measurement
    .venv/bin/python bench/serving_native.py --duration 3

``cairn run`` trains a LightGBM model on each dataset (telco churn: 19
mixed columns; red wine: 11 numeric) under bench/.work/serving-native/. Each
model is served with ``--engine native`` in this process on a loopback port,
once with the path of earlier releases (a frame from the records, then
:meth:`cairn.bundle.Model.raw_output`, which conforms it) and once with the
lean path, and loaded by cairn's load generator with one real row per
request. Both paths' answers on 400 held-out rows are checked to be equal
first. The table is written into bench/results/serving.md, in its own section.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATASETS = HERE.parent.parent / "shared" / "datasets"
WORK = HERE / ".work" / "serving-native"
RESULTS = HERE / "results" / "serving.md"
HEADING = "## Native engine: per-request frame and conform against the lean path"
RUNS = {"telco_churn": ("Churn", ","), "wine_quality_red": ("quality", ";")}


def _train(name: str, target: str, separator: str) -> tuple[Path, pd.DataFrame]:
    """A small LightGBM model on ``name``; its bundle and held-out inputs."""
    import cairn

    root = WORK / name
    root.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(DATASETS / f"{name}.csv", sep=separator)
    frame.sample(min(len(frame), 2000), random_state=3).to_csv(root / "data.csv", index=False)
    (root / "cairn.toml").write_text(
        f'[project]\nname = "{name.replace("_", "-")}"\n\n[data]\n'
        'sources = [{ path = "data.csv" }]\n\n'
        f'[problem]\ntarget = "{target}"\n\n'
        '[train]\ntime_budget = 8\nseed = 7\ninclude = ["lightgbm"]\nmax_trials = 2\n'
        'ensemble = "none"\n',
        encoding="utf-8",
    )
    result = cairn.run(root / "cairn.toml", register=False)
    held = pd.read_parquet(result.reports["test_predictions"])
    held = held[[c for c in held.columns if not str(c).startswith("__")]]
    return result.bundle_path, held


def _conform_path(model: Any) -> Any:
    """The earlier native path: a frame from the records, conformed by the library."""

    def output(records: Any) -> np.ndarray:
        names = [n for n in model.schema.names if any(n in r for r in records)]
        frame = pd.DataFrame.from_records(list(records), columns=names)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(model._native.raw_output(frame), dtype=np.float64)

    return output


def _measure(bundle: Path, held: pd.DataFrame, duration: float) -> list[dict[str, Any]]:
    from cairn.records import to_records
    from cairn.serving import ServingConfig, create_app, load_served_model, run_in_thread
    from cairn.serving.loadtest import load_test, payloads_from_frame

    model = load_served_model(bundle, engine="native")
    records = to_records(held.head(400))
    old = _conform_path(model)
    same = np.array_equal(old(records), model._native_output(records))
    in_process = _in_process(model, old, records[:200])
    payloads = payloads_from_frame(held, rows_per_request=1)
    rows = []
    for path in ("per-request frame + conform", "lean"):
        if path != "lean":
            model._native_output = old  # type: ignore[method-assign]
        else:
            del model._native_output  # back to the class's lean method
        app = create_app(model, config=ServingConfig(log_path=None, docs=False))
        with run_in_thread(app) as server:
            result = load_test(
                f"{server.url}/predict", payloads, concurrency=1, duration=duration, warmup=1.0
            )
        rows.append(
            {
                "path": path,
                "p50": result.latency_ms["p50"],
                "p99": result.latency_ms["p99"],
                "rps": result.throughput_rps,
                "requests": result.requests,
                "errors": result.errors,
                "same": same,
                "call_ms": in_process[path],
            }
        )
    return rows


def _in_process(model: Any, old: Any, records: list[Any]) -> dict[str, float]:
    """Median milliseconds of one single-record call of each path, the two
    paths interleaved record by record so that other work on the machine
    weighs on both alike."""
    times: dict[str, list[float]] = {"per-request frame + conform": [], "lean": []}
    for record in records:
        for path, output in (("per-request frame + conform", old), ("lean", None)):
            started = time.perf_counter()
            if output is None:
                model._native_output([record])
            else:
                output([record])
            times[path].append((time.perf_counter() - started) * 1000.0)
    return {path: float(np.median(values)) for path, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    lines = [
        "| model | path | in-process ms per record (median) | HTTP p50 ms | HTTP p99 ms "
        "| req/s | requests | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for name, (target, separator) in RUNS.items():
        bundle, held = _train(name, target, separator)
        rows = _measure(bundle, held, args.duration)
        for row in rows:
            lines.append(
                f"| {name} | {row['path']} | {row['call_ms']:.2f} | {row['p50']:.2f} | "
                f"{row['p99']:.2f} | "
                f"{row['rps']:.0f} | {row['requests']} | {row['errors']} |"
            )
        gain = rows[1]["rps"] / rows[0]["rps"] if rows[0]["rps"] else float("nan")
        faster = rows[0]["call_ms"] / rows[1]["call_ms"]
        notes.append(
            f"- {name}: one record scores {faster:.1f}× faster in process on the lean path; "
            f"over HTTP it serves {gain:.1f}× the requests per second; both paths give "
            f"{'identical' if rows[0]['same'] else 'DIFFERENT'} outputs on 400 held-out rows."
        )
    load = os.getloadavg()[0]
    section = "\n".join(
        [
            HEADING,
            "",
            f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU(s), Python "
            f"{platform.python_version()}. Command: `.venv/bin/python bench/serving_native.py "
            f"--duration {args.duration:g}`. Load average (1 min) at the end: {load:.1f} "
            "(the machine was shared with other work: compare the rows with each other, "
            "not with the table above).",
            "",
            "LightGBM on 2,000 rows of each dataset, served with `--engine native` (no ONNX "
            "graph used), one real row per request, concurrency 1, no prediction log.",
            "",
            *lines,
            "",
            *notes,
            "",
        ]
    )
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    if HEADING in text:
        text = text[: text.index(HEADING)].rstrip() + "\n"
    RESULTS.write_text(text.rstrip() + "\n\n" + section, encoding="utf-8")
    print(section)


if __name__ == "__main__":
    started = time.time()
    main()
    print(f"done in {time.time() - started:.0f}s")
