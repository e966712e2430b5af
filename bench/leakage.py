"""The leakage check on every supervised shared dataset, as it is, and its cost.

    .venv/bin/python bench/leakage.py

For each dataset of ../shared/datasets/MANIFEST.csv with a target (the
recommendation ratings aside), the data checks run as ``cairn run`` runs
them; the table gives the error-level ``leakage_*`` findings (each one a
column excluded from the features), the strongest single feature with its
one-feature score, and the CPU seconds the one-feature models took. A last row
times the check on a 20-column, 50,000-row table (adult's columns resampled
plus five California housing columns). The table goes to stdout and
bench/results/leakage.md.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cairn.data._leakage import (
    LEAKAGE_SAMPLE,
    SUSPECT_AUC,
    SUSPECT_BALANCED_ACCURACY,
    SUSPECT_R2,
    SUSPECT_SPEARMAN,
    FeatureScore,
    after_search_findings,
    leakage_findings,
)
from cairn.data.findings import Finding
from cairn.data.quality import CleanResult, check_and_clean
from cairn.tasks import get_task

HERE = Path(__file__).resolve().parent
DATASETS = HERE.parent.parent / "shared" / "datasets"
RESULTS = HERE / "results"


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(
        DATASETS / f"{name}.csv",
        sep=None if name == "wine_quality_red" else ",",
        engine="python" if name == "wine_quality_red" else "c",
    )


def _strength(score: FeatureScore) -> float:
    if score.balanced_accuracy is not None:
        return score.balanced_accuracy
    return max(score.r2 or 0.0, abs(score.spearman or 0.0))


def _supervised() -> list[tuple[str, str]]:
    manifest = pd.read_csv(DATASETS / "MANIFEST.csv")
    rows = manifest[
        manifest["task"].isin(["binary", "multiclass", "regression", "multiclass/regression"])
    ]
    return [(str(r.name), str(r.target)) for r in rows.itertuples()]


def _one(name: str, target: str) -> dict[str, object]:
    from cairn.data import _leakage

    frame = _read(name)
    started = time.process_time()
    cleaned = check_and_clean(frame, target=target)
    total = time.process_time() - started
    # The check once more, alone, keeping every score to show the strongest.
    kept: list[FeatureScore] = []
    scorer = _leakage.one_feature_scores

    def keep(*args: object, **kwargs: object) -> list[FeatureScore]:
        scores = scorer(*args, **kwargs)  # type: ignore[arg-type]
        kept.extend(scores)
        return scores

    _leakage.one_feature_scores = keep
    try:
        started = time.process_time()
        leakage_findings(cleaned.frame, cleaned.schema, get_task(cleaned.task))
        seconds = time.process_time() - started
    finally:
        _leakage.one_feature_scores = scorer
    after, _ = _after_search(cleaned)
    errors = [
        f
        for f in cleaned.report.findings
        if f.check.startswith("leakage_") and f.severity == "error"
    ]
    best = max(kept, key=_strength) if kept else None
    return {
        "dataset": name,
        "rows": len(frame),
        "features": len(kept),
        "task": cleaned.task,
        "errors": len(errors),
        "flagged": ", ".join(str(f.column) for f in errors) or "-",
        "strongest": f"{best.column} ({best.describe()})" if best else "-",
        "after": ", ".join(f"{f.check} {f.column}" for f in after) or "-",
        "leakage_s": seconds,
        "checks_s": total,
    }


def _after_search(cleaned: CleanResult) -> tuple[list[Finding], float]:
    """The after-search checks with a LightGBM pipeline (cairn's preprocessing,
    default settings) on a random 80/20 split, as a stand-in for the search."""
    from cairn.models.catalog import LEARNERS
    from cairn.models.search import predict_output
    from cairn.models.search._pipeline import build_pipeline

    frame, schema = cleaned.frame, cleaned.schema
    target = str(schema.target)
    task = get_task(cleaned.task)
    if task.has_classes:
        y = pd.factorize(frame[target].astype(str), sort=True)[0].astype(np.int64)
    else:
        y = frame[target].to_numpy(dtype=float)
    X = frame.drop(columns=[target])
    test = np.random.default_rng(0).random(len(frame)) < 0.2
    pipeline = build_pipeline(
        LEARNERS["lightgbm"], schema, task=cleaned.task, n_rows=int((~test).sum()), seed=0
    )
    pipeline.fit(X[~test], y[~test])
    output = predict_output(pipeline, X[test], cleaned.task)
    started = time.process_time()
    findings = after_search_findings(X[~test], y[~test], X[test], y[test], output, schema, task)
    return findings, time.process_time() - started


def _wide_table(rows: int = 50_000) -> pd.DataFrame:
    adult = _read("adult").drop(columns=["class"])
    housing = _read("california_housing")
    rng = np.random.default_rng(0)
    left = adult.iloc[rng.integers(0, len(adult), rows)].reset_index(drop=True)
    right = housing.iloc[rng.integers(0, len(housing), rows)].reset_index(drop=True)
    frame = pd.concat(
        [
            left,
            right[["longitude", "latitude", "median_income", "housing_median_age", "total_rooms"]],
        ],
        axis=1,
    )
    frame["median_house_value"] = right["median_house_value"]
    return frame


def main() -> None:
    results = [_one(name, target) for name, target in _supervised()]
    wide = _wide_table()
    wide_seconds: dict[str, float] = {}
    wide_after: dict[str, float] = {}
    # The same table with a numeric target (house value) and a class target
    # (adult's sex, the house value then a feature).
    for target in ("median_house_value", "sex"):
        cleaned = check_and_clean(wide, target=target)
        started = time.process_time()
        leakage_findings(cleaned.frame, cleaned.schema, get_task(cleaned.task))
        wide_seconds[cleaned.task] = time.process_time() - started
        wide_after[cleaned.task] = _after_search(cleaned)[1]

    lines = [
        "# Leakage check on the shared datasets",
        "",
        "`python bench/leakage.py` — every supervised dataset of ../shared/datasets as it is, "
        "through the data checks of `cairn run` (task inferred).",
        f"Machine: {platform.machine()}, {platform.python_version()}; "
        f"sample of at most {LEAKAGE_SAMPLE:,} rows. Times are CPU seconds of this "
        "process (the machine is shared, so wall time says little).",
        "",
        f"Suspect thresholds: class target balanced accuracy >= {SUSPECT_BALANCED_ACCURACY} and "
        f"ROC-AUC >= {SUSPECT_AUC}; numeric target R² >= {SUSPECT_R2} or |rank correlation| >= "
        f"{SUSPECT_SPEARMAN} (3-fold, one-feature model).",
        "",
        "| dataset | rows | features | task | error-level leakage | flagged | strongest single "
        "feature | after-search warnings | leakage check CPU s | all checks CPU s |",
        "|---|---:|---:|---|---:|---|---|---|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['dataset']} | {r['rows']:,} | {r['features']} | {r['task']} | {r['errors']} | "
            f"{r['flagged']} | {r['strongest']} | {r['after']} | {r['leakage_s']:.2f} | "
            f"{r['checks_s']:.2f} |"
        )
    total = sum(int(str(r["errors"])) for r in results)
    lines += [
        "",
        f"Error-level leakage findings over {len(results)} datasets: **{total}**.",
        "",
        "After-search warnings: `leakage_close_to_model` and `leakage_test_separation` "
        "with a LightGBM pipeline (cairn's preprocessing, default settings) on a random "
        "80/20 split standing in for the search: "
        f"**{sum(r['after'] != '-' for r in results)}** dataset(s) with any.",
        "",
        "Cost on a 20-column, 50,000-row table (adult resampled + California housing "
        "columns): "
        + ", ".join(f"**{s:.2f} s** with a {task} target" for task, s in wide_seconds.items())
        + " for the leakage check (one-feature models on a 20,000-row sample); "
        + ", ".join(f"**{s:.2f} s** ({task})" for task, s in wide_after.items())
        + " for the after-search checks (10,000 test rows).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "leakage.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
