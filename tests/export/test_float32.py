"""The float32 check of the export verification: what float32 tree
thresholds would change, recorded beside the float64 graph's agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cairn.data.schema import infer_schema
from cairn.export import export_serving
from cairn.models.catalog import LEARNERS
from cairn.models.search import fit_pipeline
from tests.conftest import load_dataset


def test_float32_thresholds_would_flip_classes_the_float64_graph_keeps() -> None:
    # Values closer together than float32 can tell apart (1 + k·1e-9): the
    # split between them exists only in float64.
    rng = np.random.default_rng(0)
    k = rng.permutation(4000)
    frame = pd.DataFrame(
        {
            "x": 1.0 + k * 1e-9,
            "z": rng.normal(size=4000),
            "label": np.where(k > 2000, "yes", "no"),
        }
    )
    schema = infer_schema(frame, target="label", task="classification")
    X, y = frame.drop(columns=["label"]), (frame["label"] == "yes").to_numpy().astype(int)
    model, _ = fit_pipeline(
        LEARNERS["lightgbm"],
        schema,
        X.iloc[:3000],
        y[:3000],
        task="classification",
        seed=0,
        params={"n_estimators": 20},
        n_classes=2,
    )
    report = export_serving(model, schema, X.iloc[3000:]).verification
    assert report["label_mismatches"] == 0 and report["values_outside_tolerance"] == 0
    float32 = report["float32"]
    assert float32["rows"] == report["rows"]
    assert float32["label_flips"] > 0 and float32["max_abs_diff"] > 0.1


def test_float32_check_on_real_regression_data() -> None:
    frame = load_dataset("california_housing", rows=1500, seed=4)
    target = "median_house_value"
    schema = infer_schema(frame, target=target, task="regression")
    X, y = frame.drop(columns=[target]), frame[target].to_numpy(dtype=float)
    model, _ = fit_pipeline(
        LEARNERS["lightgbm"],
        schema,
        X.iloc[:1200],
        y[:1200],
        task="regression",
        seed=0,
        params={"n_estimators": 50},
    )
    report = export_serving(model, schema, X.iloc[1200:]).verification
    float32 = report["float32"]
    assert float32["rows"] == report["rows"] > 0
    assert "label_flips" not in float32
    # Census values with two decimals fall on the same side of every split
    # in float32: the check finds nothing to flip here.
    assert float32["values_outside_tolerance"] == 0 and float32["max_abs_diff"] < 1e-6
    assert report["values_outside_tolerance"] == 0
