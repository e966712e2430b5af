"""One AutoML fit, run inside the tool's own virtual environment.

    python automl_worker.py --tool flaml --train train.csv --test test.csv \
        --target y --task binary --budget 60 --seed 0 --out OUTDIR

Writes OUTDIR/predictions.csv (``proba::<label>`` columns for classification,
``prediction`` for regression) and OUTDIR/meta.json (fit and predict seconds,
the tool's version, an error if any). Uses only the standard library, pandas
and the tool, so it runs in every peer's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd


def fit_predict(
    args: argparse.Namespace, train: pd.DataFrame, test: pd.DataFrame
) -> tuple[pd.DataFrame, str]:
    X_test = test.drop(columns=[args.target])
    classification = args.task != "regression"
    metric = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}[args.task]
    if args.tool == "cairn":
        import cairn

        model = cairn.fit(
            train,
            args.target,
            task="classification" if classification else "regression",
            metric=metric,
            time_budget=args.budget,
            seed=args.seed,
            n_jobs=2,
        )
        if classification:
            proba = model.predict_proba(X_test)
            return proba.rename(columns=lambda c: f"proba::{c}"), cairn.__version__
        return pd.DataFrame({"prediction": model.predict(X_test)}), cairn.__version__
    if args.tool == "flaml":
        import flaml
        from flaml import AutoML

        automl = AutoML()
        flaml_metric = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "rmse"}[metric]
        automl.fit(
            train.drop(columns=[args.target]),
            train[args.target],
            task="classification" if classification else "regression",
            metric=flaml_metric,
            time_budget=args.budget,
            seed=args.seed,
            n_jobs=2,
            verbose=0,
        )
        if classification:
            proba = automl.predict_proba(X_test)
            labels = list(automl.classes_)
            return pd.DataFrame(proba, columns=[f"proba::{c}" for c in labels]), flaml.__version__
        return pd.DataFrame({"prediction": automl.predict(X_test)}), flaml.__version__
    if args.tool in ("ag_medium", "ag_best"):
        import autogluon.tabular
        from autogluon.tabular import TabularPredictor

        preset = "medium_quality" if args.tool == "ag_medium" else "best_quality"
        ag_metric = {
            "roc_auc": "roc_auc",
            "log_loss": "log_loss",
            "rmse": "root_mean_squared_error",
        }[metric]
        with tempfile.TemporaryDirectory() as path:
            predictor = TabularPredictor(
                label=args.target,
                eval_metric=ag_metric,
                path=path,
                verbosity=0,
                problem_type=args.task,
            ).fit(train, time_limit=args.budget, presets=preset, num_cpus=2, num_gpus=0)
            if classification:
                proba = predictor.predict_proba(X_test)
                proba.columns = [f"proba::{c}" for c in proba.columns]
                return proba.reset_index(drop=True), autogluon.tabular.__version__
            prediction = predictor.predict(X_test).to_numpy()
            return pd.DataFrame({"prediction": prediction}), autogluon.tabular.__version__
    if args.tool == "h2o":
        import h2o
        from h2o.automl import H2OAutoML

        h2o.init(nthreads=2, max_mem_size="6G", verbose=False)
        h2o.no_progress()
        train_h2o = h2o.H2OFrame(train)
        test_h2o = h2o.H2OFrame(
            X_test, column_types={c: train_h2o.types[c] for c in X_test.columns}
        )
        levels: list[str] = []
        if classification:
            train_h2o[args.target] = train_h2o[args.target].asfactor()
            levels = list(train_h2o[args.target].levels()[0])
        sort_metric = {"roc_auc": "AUC", "log_loss": "logloss", "rmse": "RMSE"}[metric]
        automl = H2OAutoML(
            max_runtime_secs=int(args.budget),
            seed=args.seed,
            sort_metric=sort_metric,
            verbosity=None,
        )
        automl.train(y=args.target, training_frame=train_h2o)
        predicted = automl.leader.predict(test_h2o).as_data_frame(use_multi_thread=False)
        version = h2o.__version__
        h2o.cluster().shutdown()
        if classification:
            # Probability columns follow the factor's levels (named p0, p1 for
            # numeric levels), so name them by level.
            proba = predicted.drop(columns=["predict"])
            proba.columns = [f"proba::{level}" for level in levels]
            return proba, version
        return pd.DataFrame({"prediction": predicted["predict"].to_numpy()}), version
    raise SystemExit(f"unknown tool {args.tool}")


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--tool", "--train", "--test", "--target", "--task", "--out"):
        parser.add_argument(name, required=True)
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train = pd.read_csv(args.train)
    test = pd.read_csv(args.test)
    meta: dict[str, Any] = {"tool": args.tool, "python": sys.version.split()[0], "pid": os.getpid()}
    started = time.perf_counter()
    try:
        predictions, version = fit_predict(args, train, test)
        meta["version"] = version
        predictions.to_csv(out / "predictions.csv", index=False)
    except Exception as error:  # recorded in the table, not fatal to the benchmark
        meta["error"] = f"{type(error).__name__}: {error}"[:500]
        meta["traceback"] = traceback.format_exc()[-3000:]
    meta["seconds"] = time.perf_counter() - started
    (out / "meta.json").write_text(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
