"""One model, three servers: cairn, ``mlflow models serve`` and a bare FastAPI app.

    .venv/bin/python bench/serving.py                  # 10 s per measurement
    .venv/bin/python bench/serving.py --duration 5 --concurrency 1 8

``cairn run`` trains a LightGBM model on the red wine data (11 numeric
features, no missing values, so the native boosters take the raw columns)
and registers it in a throwaway MLflow store under bench/.work/serving/.
The same model is then served, one server at a time, on a loopback port:

- ``cairn serve`` (ONNX engine, prediction log on: the defaults), and
  ``cairn serve --engine native`` (the pickled pipeline) for reference;
- ``mlflow models serve --env-manager local`` on the registered pyfunc
  (cairn's venv: the pyfunc needs cairn to load its bundle);
- a bare FastAPI app calling ``Booster.predict`` on a numpy row for each of
  the model's boosters (bench/serving_bare.py, in its own venv under
  bench/.envs/serving-bare/ with only fastapi, uvicorn, lightgbm, numpy).

Each is loaded by the same client (cairn's load generator, in this process)
with one real row per request, at each concurrency, after a warm-up; the
bare app's answers are first checked against cairn's. The table goes to
stdout and bench/results/serving.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATASET = ROOT.parent / "shared" / "datasets" / "wine_quality_red.csv"
WORK = HERE / ".work" / "serving"
BARE_ENV = HERE / ".envs" / "serving-bare"
RESULTS = HERE / "results" / "serving.md"
VENV_BIN = Path(sys.executable).parent


def _train() -> tuple[Path, str, list[str]]:
    """Train and register the model once; returns the bundle, model URI and features."""
    import pandas as pd

    import cairn

    project = WORK / "project"
    marker = project / "trained.json"
    if marker.exists():
        saved = json.loads(marker.read_text())
        return Path(saved["bundle"]), saved["uri"], saved["features"]
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    frame = pd.read_csv(DATASET, sep=";")
    frame.to_csv(project / "wine.csv", index=False)
    (project / "cairn.toml").write_text(
        "\n".join(
            [
                "[project]",
                'name = "wine"',
                "[data]",
                'sources = [{ path = "wine.csv" }]',
                "[problem]",
                'target = "quality"',
                'task = "regression"',
                "[train]",
                "time_budget = 60",
                'include = ["lightgbm"]',
                'ensemble = "none"',
                "max_trials = 8",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    result = cairn.run(project / "cairn.toml")
    features = result.model.schema.feature_names
    marker.write_text(
        json.dumps(
            {"bundle": str(result.bundle_path), "uri": result.model_uri, "features": features}
        )
    )
    return result.bundle_path, str(result.model_uri), features


def _export_boosters(bundle: Path) -> tuple[Path, list[str]]:
    """The model's LightGBM boosters as text files, and the columns they take."""
    from cairn.bundle import load_bundle
    from cairn.models.ensemble import BaggedModel

    model = load_bundle(bundle)
    pipelines = (
        model.pipeline.models if isinstance(model.pipeline, BaggedModel) else [model.pipeline]
    )
    folder = WORK / "boosters"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    columns: list[str] | None = None
    for k, pipeline in enumerate(pipelines):
        names = [str(n) for n in pipeline.named_steps["prep"].get_feature_names_out()]
        # no missing values in training: the boosters take raw numeric columns
        if not all(n.startswith("num__") for n in names) or columns not in (None, names):
            raise SystemExit(f"the model's features are not raw columns: {names}")
        columns = names
        pipeline.named_steps["model"].booster_.save_model(str(folder / f"booster_{k}.txt"))
    assert columns is not None
    return folder, [n.removeprefix("num__") for n in columns]


def _bare_env() -> Path:
    python = BARE_ENV / "bin" / "python"
    if not python.exists():
        print("creating", BARE_ENV, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(BARE_ENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "fastapi",
                "uvicorn[standard]",
                "lightgbm",
                "numpy",
            ],
            check=True,
        )
    return python


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {timeout:.0f}s")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(
    name: str, bundle: Path, uri: str, boosters: Path, features: list[str]
) -> tuple[Any, str, str]:
    port = _free_port()
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("CAIRN_API_KEY", None)
    base = f"http://127.0.0.1:{port}"
    if name.startswith("cairn"):
        command = [
            str(VENV_BIN / "cairn"),
            "serve",
            str(bundle),
            "--port",
            str(port),
            "--log",
            str(WORK / f"{name}.db"),
        ]
        if name == "cairn (native engine)":
            command += ["--engine", "native"]
        ready, endpoint = f"{base}/ready", f"{base}/predict"
    elif name == "mlflow models serve":
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{WORK / 'project' / '.cairn' / 'mlflow.db'}"
        command = [
            str(VENV_BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            uri,
            "--env-manager",
            "local",
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
        ]
        ready, endpoint = f"{base}/ping", f"{base}/invocations"
    else:
        env.update({"BOOSTERS": str(boosters), "FEATURES": ",".join(features)})
        command = [
            str(_bare_env()),
            "-m",
            "uvicorn",
            "serving_bare:app",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        ready, endpoint = f"{base}/health", f"{base}/predict"
    process = subprocess.Popen(
        command, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _wait(ready, process)
    return process, endpoint, ready


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(30)


def _check_bare(bundle: Path, endpoint: str, records: list[dict[str, Any]]) -> None:
    from cairn.serving.engine import load_served_model

    served = load_served_model(bundle)
    body = json.dumps({"records": records[:20]}).encode()
    request = urllib.request.Request(endpoint, body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        bare = json.loads(answer.read())["predictions"]
    ours = served.predict(records[:20]).labels
    worst = max(abs(a - b) for a, b in zip(bare, ours, strict=True))
    if worst > 1e-6:
        raise SystemExit(f"the bare app and cairn disagree by {worst}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument(
        "--servers",
        nargs="+",
        default=[
            "cairn",
            "cairn (native engine)",
            "mlflow models serve",
            "bare FastAPI + Booster.predict",
        ],
    )
    args = parser.parse_args()

    import pandas as pd

    from cairn.records import to_records
    from cairn.serving.loadtest import load_test, request_body

    WORK.mkdir(parents=True, exist_ok=True)
    bundle, uri, features = _train()
    boosters, features = _export_boosters(bundle)
    frame = pd.read_csv(DATASET, sep=";").drop(columns=["quality"])
    records = to_records(frame.sample(n=1000, random_state=0))
    rows: list[dict[str, Any]] = []
    for name in args.servers:
        print(f"starting {name}", flush=True)
        process, endpoint, _ = _start(name, bundle, uri, boosters, features)
        try:
            if name.startswith("bare"):
                _check_bare(bundle, endpoint, records)
            fmt = "dataframe_records" if endpoint.endswith("invocations") else "records"
            payloads = [request_body([r], fmt) for r in records]
            for concurrency in args.concurrency:
                result = load_test(
                    endpoint,
                    payloads,
                    concurrency=concurrency,
                    duration=args.duration,
                    warmup=args.warmup,
                    timeout=30,
                )
                print(f"  {result.summary()}", flush=True)
                rows.append(
                    {
                        "server": name,
                        "concurrency": concurrency,
                        "p50_ms": result.latency_ms["p50"],
                        "p99_ms": result.latency_ms["p99"],
                        "rps": result.throughput_rps,
                        "requests": result.requests,
                        "errors": result.errors,
                    }
                )
        finally:
            _stop(process)
    _write(rows, args, bundle)


def _write(rows: list[dict[str, Any]], args: argparse.Namespace, bundle: Path) -> None:
    meta = json.loads((bundle / "metadata.json").read_text())
    serving = meta.get("serving", {})
    lines = [
        "# Serving: one model, three servers",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU(s), "
        f"{platform.platform()}, Python {platform.python_version()}. Command: "
        f"`.venv/bin/python bench/serving.py --duration {args.duration:g} "
        f"--concurrency {' '.join(map(str, args.concurrency))}`.",
        "",
        f"Model: `cairn run` on the red wine data (regression, 11 numeric features): "
        f"{meta.get('model_label')}. cairn's engine: {serving.get('engine')} "
        f"(graph checked on {serving.get('rows')} rows, largest difference "
        f"{serving.get('max_abs_diff', float('nan')):.2g}).",
        "",
        f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        "(anything near or above the CPU count means other work competed for the cores).",
        "",
        "One real row per request, keep-alive connections, same client for every server "
        f"(cairn's load generator, {args.warmup:g} s warm-up then {args.duration:g} s measured). "
        "The server and the client share the machine's cores; the machine was shared with "
        "other work while this ran, so treat the figures as indicative.",
        "",
        "| server | concurrency | p50 ms | p99 ms | req/s | requests | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['server']} | {row['concurrency']} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} "
            f"| {row['rps']:.0f} | {row['requests']} | {row['errors']} |"
        )
    by = {(r["server"], r["concurrency"]): r for r in rows}
    lines.append("")
    for concurrency in args.concurrency:
        ours = by.get(("cairn", concurrency))
        mlflow = by.get(("mlflow models serve", concurrency))
        bare = by.get(("bare FastAPI + Booster.predict", concurrency))
        if ours and mlflow and mlflow["rps"]:
            lines.append(
                f"- concurrency {concurrency}: cairn serves {ours['rps'] / mlflow['rps']:.1f}× "
                f"mlflow's throughput"
                + (f" and {ours['rps'] / bare['rps']:.1f}× the bare app's" if bare else "")
                + f"; cairn p99 {ours['p99_ms']:.2f} ms."
            )
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(RESULTS)
    print(text)


if __name__ == "__main__":
    main()
