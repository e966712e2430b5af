"""Loading a bundle for serving: verified files only, the right engine, the
same answers as the library."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cairn.bundle import BundleWarning, load_bundle, read_metadata
from cairn.exceptions import BundleError, SchemaMismatchError, ServingError
from cairn.records import RecordsError
from cairn.serving.app import create_app
from cairn.serving.engine import load_served_model
from cairn.tracking import load_model
from tests.serving.conftest import held_out, records_of


def test_onnx_engine_agrees_with_the_library(churn: Any) -> None:
    served = load_served_model(churn.bundle_path)
    assert served.engine == "onnx", served.engine_reason
    assert served.version == read_metadata(churn.bundle_path)["run_id"]
    frame = held_out(churn)
    prediction = served.predict(records_of(churn))
    native = load_bundle(churn.bundle_path, engine="native")
    expected = native.predict_proba(frame).to_numpy()
    assert prediction.probabilities is not None
    np.testing.assert_allclose(prediction.probabilities, expected, rtol=1e-5, atol=1e-5)
    assert prediction.labels == list(native.predict(frame))
    assert set(prediction.labels) <= {"Yes", "No"}


def test_native_engine_on_request_and_for_regression(housing: Any) -> None:
    records = records_of(housing, 40)
    fast = load_served_model(housing.bundle_path)
    slow = load_served_model(housing.bundle_path, engine="native")
    assert (fast.engine, slow.engine) == ("onnx", "native")
    assert slow.engine_reason == "native engine requested"
    np.testing.assert_allclose(
        fast.predict(records).labels, slow.predict(records).labels, rtol=1e-5
    )
    assert fast.predict(records).probabilities is None
    with pytest.raises(RecordsError):
        slow.predict([{"longitude": "far"}])


def test_a_tampered_graph_is_refused(churn: Any, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(churn.bundle_path, copy)
    with (copy / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="does not match"):
        load_served_model(copy)


def test_a_missing_graph_falls_back_to_the_native_model(churn: Any, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(churn.bundle_path, copy)
    (copy / "model.onnx").unlink()
    with pytest.warns(BundleWarning, match="model.onnx is missing"):
        served = load_served_model(copy)
    assert served.engine == "native" and "missing" in served.engine_reason
    frame = held_out(churn).head(20)
    expected = load_bundle(churn.bundle_path, engine="native").predict_proba(frame).to_numpy()
    prediction = served.predict(records_of(churn, 20))
    assert prediction.probabilities is not None
    np.testing.assert_allclose(prediction.probabilities, expected, rtol=1e-9)
    with pytest.raises(ServingError, match="cannot serve with ONNX"), pytest.warns(BundleWarning):
        load_served_model(copy, engine="onnx")
    with pytest.raises(ServingError, match="not one of"):
        load_served_model(copy, engine="fast")
    with pytest.warns(BundleWarning, match="model.onnx is missing"):
        assert load_model(copy).engine == "native"


def test_serving_checks_the_model_file_even_when_the_graph_serves(
    churn: Any, tmp_path: Path
) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(churn.bundle_path, copy)
    with (copy / "model.joblib").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match=r"model\.joblib: sha256 .* does not match"):
        load_served_model(copy)
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "serve", str(copy), "--port", "0", "--no-log"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "model.joblib" in done.stderr and "does not match" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_regression_model_answers_values_without_probabilities(housing: Any) -> None:
    served = load_served_model(housing.bundle_path)
    answer = served.predict(records_of(housing, 3))
    assert answer.probabilities is None and all(isinstance(v, float) for v in answer.labels)
    assert served.predict([]).probabilities is None
    assert served.describe()["task"] == "regression" and served.describe()["classes"] is None
    document = create_app(served).openapi()
    schema = document["paths"]["/predict"]["post"]["responses"]["200"]["content"]
    answer_schema = schema["application/json"]["schema"]
    assert answer_schema["properties"]["predictions"]["items"] == {"type": ["number", "null"]}
    assert "probabilities" not in answer_schema["properties"]
    assert answer_schema["required"] == ["predictions", "model", "request_id"]


def test_load_model_predicts_with_the_served_graph(churn: Any, housing: Any) -> None:
    frame = held_out(churn)
    fast = load_model(churn.bundle_path)
    slow = load_model(churn.bundle_path, engine="native")
    assert (fast.engine, slow.engine) == ("onnx", "native")
    np.testing.assert_allclose(
        fast.predict_proba(frame).to_numpy(), slow.predict_proba(frame).to_numpy(), atol=1e-5
    )
    assert list(fast.predict(frame)) == list(slow.predict(frame))
    assert list(fast.predict_proba(frame).index) == list(frame.index)
    served = load_served_model(churn.bundle_path).predict(records_of(churn))
    np.testing.assert_array_equal(fast.predict_proba(frame).to_numpy(), served.probabilities)
    houses = held_out(housing)
    np.testing.assert_allclose(
        load_model(housing.bundle_path).predict(houses),
        load_model(housing.bundle_path, engine="native").predict(houses),
        rtol=1e-5,
    )
    with pytest.raises(SchemaMismatchError, match="Contract"):
        fast.predict(frame.drop(columns=["Contract"]))


def test_describe_says_which_engine_and_why(churn: Any) -> None:
    described = load_served_model(churn.bundle_path).describe()
    assert described["engine"]["name"] == "onnx"
    assert described["engine"]["verification"]["values_outside_tolerance"] == 0
    columns = {c["name"]: c for c in described["schema"]["columns"]}
    assert columns["customerID"]["required"] is False
    assert columns["Contract"]["categories"]
    assert described["classes"] == ["No", "Yes"]


@pytest.mark.parametrize("name", ["churn", "housing"])
def test_lean_native_path_answers_as_the_conformed_frame(
    name: str, trained: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records go straight to the pipeline's frame, with no per-request
    conform, and give exactly what the library's conform-then-predict gives,
    messy values included."""
    import warnings

    import pandas as pd

    import cairn.bundle._model as bundle_model

    result = trained(name)
    served = load_served_model(result.bundle_path, engine="native")
    library = load_bundle(result.bundle_path, engine="native")
    records = records_of(result, 40)
    schema = served.schema
    numeric = [c.name for c in schema.columns if c.is_feature and c.dtype in ("int", "float")]
    text = [c.name for c in schema.columns if c.is_feature and c.dtype == "string"]
    records[0][numeric[0]] = None
    records[1][numeric[0]] = str(records[1][numeric[0]])  # a number sent as text
    if text:
        records[2][text[0]] = "?"  # a missing-value sentinel
        records[3][text[0]] = "a category never seen"
        records[4][text[0]] = f"  {records[4][text[0]]} "  # padded text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unseen category, reported by both paths
        expected = library.raw_output(pd.DataFrame.from_records(records))

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the lean path conformed a frame")

    monkeypatch.setattr(bundle_model, "conform", refuse)
    prediction = served.predict(records)
    output = served._native_output(records)
    assert np.array_equal(output.reshape(expected.shape), expected)
    assert len(prediction.labels) == 40
