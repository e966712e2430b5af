"""Compression and tree engines, measured on three shared datasets.

    nice .venv/bin/python bench/compression.py                 # both parts
    nice .venv/bin/python bench/compression.py --part engines   # one part

Part ``students``: on a binary (adult, 4,000 rows), a multiclass
(car_evaluation) and a regression (california_housing, 4,000 rows) dataset,
80 % for training with 5 folds and 20 % held out: cairn's search over
LightGBM, linear and k-NN (portfolio defaults, no tuning, so that the figures
do not depend on the machine's load), the final model made of bags of fold
models (``train.bagging = "always"``: the slow-to-serve winner a student
replaces), then :func:`cairn.models.compress.compress`. For the final model
(the teacher), the distilled LightGBM student and the pruned LightGBM
variants: cross-validated metric, held-out metric, agreement with the teacher
on the held-out rows, and single-row latency on the ONNX path (the verified
serving graph, records in, as ``cairn serve`` runs it) and natively.

Part ``engines``: one LightGBM pipeline per dataset (adult, car_evaluation,
california_housing; early-stopped on a fifth of the training rows), exported
to cairn's ONNX graph. Per batch of 1, 100 and 10,000 rows: ONNX Runtime (the whole graph,
preprocessing included, one thread as the server runs it) against lleaves
(LightGBM compiled with LLVM, one thread) and LightGBM's own predict on the
preprocessed matrix; both engines are first checked against LightGBM.
lleaves is not a cairn dependency; this part needs
``pip install "lleaves>=1.3,<2" "llvmlite>=0.42,<0.45"`` (lleaves 1.3.0
calls ``llvmlite.binding.PassManagerBuilder``, gone from llvmlite 0.45 on,
and does not pin it).

Each part caches its figures per dataset as JSON under
bench/.work/compression/ (delete them to measure again); the tables go to
bench/results/compression.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATASETS = ROOT.parent / "shared" / "datasets"
WORK = HERE / ".work" / "compression"
RESULTS = HERE / "results" / "compression.md"

# dataset -> (target, rows kept, id columns)
ENGINE_DATA = {
    "adult": ("class", None, []),
    "car_evaluation": ("decision", None, []),
    "california_housing": ("median_house_value", None, []),
}
STUDENT_DATA = {
    "adult": ("class", 4000, []),
    "car_evaluation": ("decision", None, []),
    "california_housing": ("median_house_value", 4000, []),
}
FAMILIES = ("lightgbm", "linear", "knn")
BATCHES = (1, 100, 10_000)


def _load(name: str, rows: int | None) -> pd.DataFrame:
    frame = pd.read_csv(DATASETS / f"{name}.csv")
    if rows is not None and len(frame) > rows:
        frame = frame.sample(n=rows, random_state=0).reset_index(drop=True)
    return frame


def _median_ms(call: Any, repeats: int, budget_s: float = 6.0) -> float:
    """Median milliseconds of ``call()`` over up to ``repeats`` calls (after one warm-up)."""
    call()
    timings: list[float] = []
    deadline = time.perf_counter() + budget_s
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
        if time.perf_counter() > deadline and len(timings) >= 3:
            break
    return float(np.median(timings) * 1000)


# -- engines ------------------------------------------------------------------


def _engine_figures(name: str) -> dict[str, Any]:
    try:
        import lleaves
    except ImportError:
        raise SystemExit(
            'the engines part needs lleaves: pip install "lleaves>=1.3,<2" "llvmlite>=0.42,<0.45"'
        ) from None

    from cairn.bundle import onnx_session
    from cairn.export import GRAPH_FILE, SERVING_FILE, export_serving
    from cairn.models.catalog import LEARNERS
    from cairn.models.search import fit_pipeline
    from cairn.records import RecordAdapter, to_records
    from cairn.workflow import clean

    target, rows, ids = ENGINE_DATA[name]
    prepared = clean(_load(name, rows), target=target, id_columns=ids)
    X = prepared.frame.drop(columns=[target])
    y = prepared.y
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    cut = int(0.8 * len(X))
    fit_idx, test_idx = order[:cut], order[cut:]
    # early stopping watches a fifth of the training rows, fitted on the rest
    val, fit_idx = fit_idx[: len(fit_idx) // 5], fit_idx[len(fit_idx) // 5 :]
    pipeline, rounds = fit_pipeline(
        LEARNERS["lightgbm"],
        prepared.schema,
        X.iloc[fit_idx],
        y[fit_idx],
        task=prepared.task,
        seed=0,
        X_val=X.iloc[val],
        y_val=y[val],
        n_classes=len(prepared.schema.classes or ()) or None,
    )
    X_test = X.iloc[test_idx].reset_index(drop=True)
    exported = export_serving(pipeline, prepared.schema, X_test)
    assert exported.engine == "onnx", exported.reason
    spec = json.loads(exported.files[SERVING_FILE])
    session = onnx_session(exported.files[GRAPH_FILE])
    adapter = RecordAdapter(prepared.schema, spec["inputs"])
    output = spec["output"]
    prep, model = pipeline.named_steps["prep"], pipeline.named_steps["model"]
    booster = model.booster_
    folder = WORK / "boosters"
    folder.mkdir(parents=True, exist_ok=True)
    model_file = folder / f"{name}.txt"
    booster.save_model(str(model_file))
    started = time.perf_counter()
    compiled = lleaves.Model(model_file=str(model_file))
    compiled.compile(cache=str(folder / f"{name}.o"))
    compile_s = time.perf_counter() - started

    big = X_test.sample(n=10_000, replace=len(X_test) < 10_000, random_state=1)
    records = to_records(big)
    frame = big.reset_index(drop=True)
    matrix = np.asarray(prep.transform(frame), dtype=np.float64)
    native = np.asarray(booster.predict(matrix))
    fast = np.asarray(compiled.predict(matrix, n_jobs=1)).reshape(native.shape)
    feeds_all = adapter.encode(records).feeds
    onnx_out = np.asarray(session.run([output], feeds_all)[0])
    if native.ndim == 1 and onnx_out.ndim == 2 and onnx_out.shape[1] == 2:
        onnx_cmp = onnx_out[:, 1]
    else:
        onnx_cmp = onnx_out.reshape(native.shape)
    figures: dict[str, Any] = {
        "dataset": name,
        "task": prepared.task,
        "rows": len(X),
        "trees": int(booster.num_trees()),
        "rounds": rounds,
        "lleaves_compile_s": round(compile_s, 2),
        "lleaves_max_abs_diff": float(np.max(np.abs(fast - native))),
        "onnx_max_abs_diff": float(np.max(np.abs(onnx_cmp - native))),
        "batches": {},
    }
    if native.ndim == 2:
        figures["lleaves_label_flips"] = int((fast.argmax(1) != native.argmax(1)).sum())
        figures["onnx_label_flips"] = int((onnx_cmp.argmax(1) != native.argmax(1)).sum())
    for batch in BATCHES:
        part_records = records[:batch]
        part_frame = frame.iloc[:batch]
        part_matrix = matrix[:batch]
        feeds = adapter.encode(part_records).feeds
        repeats = 300 if batch == 1 else 50 if batch == 100 else 5

        def lleaves_from_records(
            part_records: list[dict[str, Any]] = part_records,
        ) -> None:
            part = pd.DataFrame.from_records(part_records, columns=list(frame.columns))
            compiled.predict(np.asarray(prep.transform(part), dtype=np.float64), n_jobs=1)

        figures["batches"][str(batch)] = {
            "onnx_records_ms": _median_ms(
                lambda r=part_records: session.run([output], adapter.encode(r).feeds), repeats
            ),
            "onnx_graph_ms": _median_ms(lambda f=feeds: session.run([output], f), repeats),
            "lleaves_trees_ms": _median_ms(
                lambda m=part_matrix: compiled.predict(m, n_jobs=1), repeats
            ),
            "lleaves_records_ms": _median_ms(lleaves_from_records, repeats),
            "lightgbm_trees_ms": _median_ms(
                lambda m=part_matrix: booster.predict(m, num_threads=1), repeats
            ),
            "native_pipeline_ms": _median_ms(
                lambda f=part_frame: (
                    pipeline.predict_proba(f)
                    if hasattr(pipeline, "predict_proba")
                    else pipeline.predict(f)
                ),
                repeats,
            ),
        }
        print(name, batch, figures["batches"][str(batch)], flush=True)
    return figures


# -- students -------------------------------------------------------------------


def _student_figures(name: str) -> dict[str, Any]:
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    from cairn.export import GRAPH_FILE, SERVING_FILE, export_serving
    from cairn.models.catalog import LEARNERS
    from cairn.models.compress import compress
    from cairn.models.search import finalize, predict_output, search
    from cairn.tasks import get_task
    from cairn.workflow import clean

    target, rows, ids = STUDENT_DATA[name]
    raw = _load(name, rows)
    prepared = clean(raw, target=target, id_columns=ids)
    X_all, y_all = prepared.frame.drop(columns=[target]), prepared.y
    task = get_task(prepared.task)
    metric = prepared.metric
    stratify = y_all if task.has_classes else None
    X, X_test, y, y_test = train_test_split(
        X_all, y_all, test_size=0.2, random_state=0, stratify=stratify
    )
    splitter = (
        StratifiedKFold(5, shuffle=True, random_state=0)
        if task.has_classes
        else KFold(5, shuffle=True, random_state=0)
    )
    folds = list(splitter.split(X, y))
    started = time.monotonic()
    found = search(
        X,
        y,
        schema=prepared.schema,
        folds=folds,
        task=prepared.task,
        metric=metric,
        learners=[LEARNERS[family] for family in FAMILIES],
        time_budget=3600,
        seed=0,
        n_jobs=1,
        max_trials=0,
        select_features=False,
    )
    # Members are the bags of their fold models (train.bagging = "always"):
    # the slow-to-serve winner a student replaces.
    final = finalize(found, X, y, schema=prepared.schema, seed=0, n_jobs=1, bag_max_rows=2**62)
    search_s = time.monotonic() - started
    compression = compress(
        found,
        final,
        X,
        y,
        schema=prepared.schema,
        folds=folds,
        X_check=X_test,
        seed=0,
        deadline=time.monotonic() + 3600,
    )
    teacher_output = predict_output(final.estimator, X_test, prepared.task)

    def serving_ms(estimator: Any) -> dict[str, Any]:
        from cairn.bundle import onnx_session
        from cairn.records import RecordAdapter, to_records

        rows = [X_test.iloc[[i]] for i in range(min(200, len(X_test)))]
        index = iter(range(10**9))

        def native_one() -> None:
            predict_output(estimator, rows[next(index) % len(rows)], prepared.task)

        native_ms = _median_ms(native_one, 100)
        exported = export_serving(estimator, prepared.schema, X_test)
        if exported.engine != "onnx":
            return {"engine": "native", "reason": exported.reason, "native_ms_per_row": native_ms}
        spec_json = json.loads(exported.files[SERVING_FILE])
        session = onnx_session(exported.files[GRAPH_FILE])
        adapter = RecordAdapter(prepared.schema, spec_json["inputs"])
        records = to_records(X_test.head(200))
        index = iter(range(10**9))

        def one() -> None:
            record = records[next(index) % len(records)]
            session.run([spec_json["output"]], adapter.encode([record]).feeds)

        return {
            "engine": "onnx",
            "native_ms_per_row": native_ms,
            "ms_per_row": _median_ms(one, 300),
            "graph_mb": round(len(exported.files[GRAPH_FILE]) / 1e6, 3),
            "float32_flips": exported.verification.get("float32", {}).get("label_flips"),
            "float32_max_abs_diff": exported.verification.get("float32", {}).get("max_abs_diff"),
        }

    teacher = {
        "model": final.description,
        "cv": compression.teacher_cv,
        "test": float(task.score(metric, y_test, teacher_output)),
        **serving_ms(final.estimator),
    }
    variants = []
    for variant in compression.variants:
        if variant.estimator is None:  # skipped for time, or failed: the reason is recorded
            variants.append({**variant.summary(), "test": None})
            continue
        output = predict_output(variant.estimator, X_test, prepared.task)
        variants.append(
            {
                **variant.summary(),
                "test": float(task.score(metric, y_test, output)),
                **serving_ms(variant.estimator),
            }
        )
    return {
        "dataset": name,
        "task": prepared.task,
        "metric": metric,
        "rows": len(raw),
        "search_s": round(search_s, 1),
        "teacher": teacher,
        "variants": variants,
        "skipped": compression.skipped,
        "compression_s": round(compression.seconds, 1),
    }


# -- report -------------------------------------------------------------------


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _write(engines: list[dict[str, Any]], students: list[dict[str, Any]]) -> None:
    lines = [
        "# Compression: distilled students, pruned variants, tree engines",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other work (figures are noisy), "
        f"Python {platform.python_version()}. Command: `nice python bench/compression.py`.",
        "",
    ]
    if students:
        lines += [
            "## Students and pruned variants against the ensemble",
            "",
            "Teacher: the final model, its members bags of fold models "
            '(`train.bagging = "always"`). '
            "`cv`: cross-validated metric on the search's "
            "folds; `test`: held-out metric; `agree`: share of held-out rows with the "
            "teacher's class (classification) or R² against the teacher's predictions "
            "(regression); latency: one record per call, median: on the ONNX path "
            "(records in, verified graph) and natively (a one-row DataFrame through "
            "the fitted pipeline); `–`: no verified graph.",
            "",
        ]
        for entry in students:
            teacher = entry["teacher"]
            lines += [
                f"### {entry['dataset']} ({entry['task']}, {entry['metric']}, "
                f"{entry['rows']} rows, search {entry['search_s']:g} s, "
                f"compression {entry['compression_s']:g} s)",
                "",
                "| model | kept | cv | test | agree | trees | ms/row ONNX | ms/row native "
                "| graph MB | float32 flips |",
                "|---|---|---|---|---|---|---|---|---|---|",
                f"| teacher: {teacher['model']} | – | {_fmt(teacher['cv'])} | "
                f"{_fmt(teacher['test'])} | 1 | – | {_fmt(teacher.get('ms_per_row'), 3)} | "
                f"{_fmt(teacher.get('native_ms_per_row'), 3)} | "
                f"{_fmt(teacher.get('graph_mb'), 3)} | {_fmt(teacher.get('float32_flips'))} |",
            ]
            for v in entry["variants"]:
                lines.append(
                    f"| {v['name']} ({v['kind']}) | {'yes' if v['kept'] else 'no'} | "
                    f"{_fmt(v['cv_mean'])} | {_fmt(v['test'])} | {_fmt(v['agreement'], 3)} | "
                    f"{v['trees']} | {_fmt(v.get('ms_per_row'), 3)} | "
                    f"{_fmt(v.get('native_ms_per_row'), 3)} | "
                    f"{_fmt(v.get('graph_mb'), 3)} | {_fmt(v.get('float32_flips'))} |"
                )
            if entry["skipped"]:
                lines.append(f"\nSkipped: {entry['skipped']}")
            for v in entry["variants"]:
                if v["reason"]:
                    lines.append(f"\n{v['name']}: {v['reason']}")
            if teacher.get("reason"):
                lines.append(f"\nTeacher served natively: {teacher['reason']}")
            lines.append("")
    if engines:
        lines += [
            "## ONNX Runtime against a compiled tree engine (lleaves) for LightGBM",
            "",
            "Median milliseconds per batch, one thread. `ONNX records`: the serving path "
            "(JSON records → graph inputs → the whole graph, preprocessing included); "
            "`ONNX graph`: the graph alone on ready inputs; `lleaves trees`: the compiled "
            "trees alone on the preprocessed matrix; `lleaves records`: records → "
            "DataFrame → cairn's fitted preprocessing → compiled trees (what serving "
            "with lleaves would take); `LightGBM trees`: `Booster.predict` on the "
            "preprocessed matrix.",
            "",
            "| dataset | trees | batch | ONNX records | ONNX graph | lleaves trees | "
            "lleaves records | LightGBM trees | native pipeline |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for entry in engines:
            for batch, t in entry["batches"].items():
                lines.append(
                    f"| {entry['dataset']} | {entry['trees']} | {batch} | "
                    f"{t['onnx_records_ms']:.3f} | {t['onnx_graph_ms']:.3f} | "
                    f"{t['lleaves_trees_ms']:.3f} | {t['lleaves_records_ms']:.3f} | "
                    f"{t['lightgbm_trees_ms']:.3f} | {t['native_pipeline_ms']:.3f} |"
                )
        lines += [
            "",
            "| dataset | lleaves compile s | lleaves max abs diff | ONNX max abs diff "
            "| lleaves class flips | ONNX class flips |",
            "|---|---|---|---|---|---|",
        ]
        for entry in engines:
            lines.append(
                f"| {entry['dataset']} | {entry['lleaves_compile_s']} | "
                f"{entry['lleaves_max_abs_diff']:.3g} | {entry['onnx_max_abs_diff']:.3g} | "
                f"{_fmt(entry.get('lleaves_label_flips'))} | "
                f"{_fmt(entry.get('onnx_label_flips'))} |"
            )
        lines += ["", *_engine_verdict(engines), ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {RESULTS}")


def _engine_verdict(engines: list[dict[str, Any]]) -> list[str]:
    """Where the compiled engine would pay, from the figures."""
    trees_only, end_to_end = [], []
    for entry in engines:
        for batch, t in entry["batches"].items():
            trees_only.append(t["onnx_graph_ms"] / t["lleaves_trees_ms"])
            if t["lleaves_records_ms"] < t["onnx_records_ms"]:
                end_to_end.append(
                    f"{entry['dataset']} at {batch} rows "
                    f"({t['onnx_records_ms'] / t['lleaves_records_ms']:.1f}×)"
                )
    compile_s = [e["lleaves_compile_s"] for e in engines]
    return [
        "**Verdict.** Both engines agree with LightGBM (largest differences above). "
        f"The compiled trees alone are {min(trees_only):.1f}–{max(trees_only):.1f}× "
        "faster than the whole ONNX graph, but lleaves takes only the trees: the "
        "preprocessing stays in Python (DataFrame and scikit-learn), which costs far "
        "more than the graph on small batches. From records, lleaves is faster only "
        f"for: {', '.join(end_to_end) or 'no batch size measured'}; it needs "
        f"{min(compile_s):.0f}–{max(compile_s):.0f} s to compile each model, and "
        "lleaves 1.3.0 fails with the current llvmlite (it needs `llvmlite<0.45`, "
        "which it does not declare). cairn keeps ONNX Runtime for serving.",
    ]


def _cached(part: str, compute: Any, names: list[str], fresh: bool) -> list[dict[str, Any]]:
    """The part's figures per dataset: those cached under bench/.work/compression/
    (delete a file to measure it again), the others measured now when ``fresh``."""
    figures = []
    for name in names:
        path = WORK / f"{part}-{name}.json"
        if fresh and not path.exists():
            WORK.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(compute(name), indent=1, default=float))
        if path.exists():
            figures.append(json.loads(path.read_text()))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["engines", "students", "all"], default="all")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    engines = _cached(
        "engines", _engine_figures, list(ENGINE_DATA), fresh=args.part in ("engines", "all")
    )
    students = _cached(
        "students",
        _student_figures,
        list(STUDENT_DATA),
        fresh=args.part in ("students", "all"),
    )
    _write(engines, students)


if __name__ == "__main__":
    main()
