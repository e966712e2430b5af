"""Loading a bundle for serving: verified files only, the right engine, the
same answers as the library."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cairn.bundle import load_bundle, read_metadata
from cairn.exceptions import BundleError, ServingError
from cairn.serving.adapter import RecordsError
from cairn.serving.engine import load_served_model
from tests.serving.conftest import held_out, records_of


def test_onnx_engine_agrees_with_the_library(churn: Any) -> None:
    served = load_served_model(churn.bundle_path)
    assert served.engine == "onnx", served.engine_reason
    assert served.version == read_metadata(churn.bundle_path)["run_id"]
    frame = held_out(churn)
    prediction = served.predict(records_of(churn))
    native = load_bundle(churn.bundle_path)
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


def test_a_bundle_without_a_graph_serves_natively(churn: Any, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(churn.bundle_path, copy)
    (copy / "model.onnx").unlink()
    meta = json.loads((copy / "metadata.json").read_text())
    del meta["files"]["model.onnx"]
    (copy / "metadata.json").write_text(json.dumps(meta))
    served = load_served_model(copy)
    assert served.engine == "native"
    assert served.predict(records_of(churn, 3)).labels
    with pytest.raises(ServingError, match="cannot serve with ONNX"):
        load_served_model(copy, engine="onnx")
    with pytest.raises(ServingError, match="not one of"):
        load_served_model(copy, engine="fast")


def test_describe_says_which_engine_and_why(churn: Any) -> None:
    described = load_served_model(churn.bundle_path).describe()
    assert described["engine"]["name"] == "onnx"
    assert described["engine"]["verification"]["values_outside_tolerance"] == 0
    columns = {c["name"]: c for c in described["schema"]["columns"]}
    assert columns["customerID"]["required"] is False
    assert columns["Contract"]["categories"]
    assert described["classes"] == ["No", "Yes"]
