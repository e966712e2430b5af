"""Packaging: build, verify and decide what the bundle stores for serving."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cairn._io import json_safe
from cairn.bundle import Model, schema_task
from cairn.data.schema import Schema
from cairn.export._builder import build_graph
from cairn.export._common import (
    GRAPH_FILE,
    MAX_CHECK_ROWS,
    MAX_GRAPH_BYTES,
    SERVING_FILE,
    SERVING_FORMAT,
    ExportResult,
    UnsupportedError,
)
from cairn.export._verify import native_output, probe_records, records_frame, serving_extras, verify
from cairn.records import (
    to_records,
)
from cairn.tasks import Output


def export_serving(
    estimator: Any,
    schema: Schema,
    X_check: pd.DataFrame,
    *,
    seed: int = 0,
    float32_check: bool = True,
) -> ExportResult:
    """Build, verify and package the serving graph for a fitted estimator.

    Never raises for a model it cannot convert: the result then says
    ``engine="native"`` and why.

    Args:
        estimator: the final fitted estimator (pipeline, bag or ensemble).
        schema: the training schema (task and classes included).
        X_check: held-out rows (features only) to verify the graph on.
        float32_check: also score the graph with float32 thresholds and
            record what that would change (for compression decisions).
    """
    started = time.monotonic()
    records = to_records(X_check.head(MAX_CHECK_ROWS))
    native = np.zeros(0)
    try:
        if records:
            native = native_output(estimator, schema, records_frame(records, schema))
    except Exception as error:  # nothing to compare with: serve natively, say why
        bare: dict[str, Any] = {"format_version": SERVING_FORMAT, "task": schema.task}
        return _native_result(bare, f"the native pipeline fails on held-out rows: {error}")
    spec = _serving_spec(schema, X_check, native, _output_classes(estimator, schema))
    try:
        _require_onnx_tools()
        graph, inputs = _convert(estimator, schema)
        report = _check(
            graph, inputs, estimator, schema, records, native, seed=seed, float32=float32_check
        )
        report["seconds"] = round(time.monotonic() - started, 2)
        report["graph_mb"] = round(len(graph) / 1e6, 3)
        _judge(records, report)
    except _ServeNativelyError as verdict:
        return _native_result(spec, verdict.reason, verdict.report)
    spec.update(
        {
            "engine": "onnx",
            "graph_file": GRAPH_FILE,
            "inputs": inputs,
            "output": inputs["output"],
            "verification": report,
        }
    )
    files = {GRAPH_FILE: graph, SERVING_FILE: _dump(spec)}
    return ExportResult(files, "onnx", "", report)


def _output_classes(estimator: Any, schema: Schema) -> list[str]:
    """Class labels, or a clustering's cluster ids, naming the output's columns."""
    if schema_task(schema).output == Output.LABELS:
        return [str(cluster) for cluster in Model(estimator, schema).classes]
    return list(schema.classes or ())


class _ServeNativelyError(Exception):
    """The graph is not stored: the native pipeline serves, for this reason."""

    def __init__(self, reason: str, report: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.report = report


def _serving_spec(
    schema: Schema, X_check: pd.DataFrame, native: np.ndarray, classes: list[str]
) -> dict[str, Any]:
    if schema_task(schema).output == Output.LABELS:
        watched = native[:, 0] if native.ndim == 2 else native  # the cluster ids
    else:
        watched = native[:, -1] if native.ndim == 2 else native
    extras = serving_extras(schema, X_check, watched)
    return {
        "format_version": SERVING_FORMAT,
        "task": schema.task,
        "classes": classes,
        "target_dtype": schema.metadata.get("target_dtype"),
        **extras,
    }


def _require_onnx_tools() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise _ServeNativelyError(f"ONNX tools not installed ({error.name})") from None


def _convert(estimator: Any, schema: Schema) -> tuple[bytes, dict[str, Any]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph, inputs = build_graph(estimator, schema)
    except UnsupportedError as error:
        raise _ServeNativelyError(f"not convertible: {error}") from None
    except Exception as error:
        raise _ServeNativelyError(f"conversion failed: {type(error).__name__}: {error}") from None
    if len(graph) > MAX_GRAPH_BYTES:
        raise _ServeNativelyError(
            f"the serving graph is {len(graph) / 2**20:.0f} MiB, over the "
            f"{MAX_GRAPH_BYTES / 2**20:.0f} MiB that cairn serves with ONNX"
        )
    return graph, inputs


def _check(
    graph: bytes,
    inputs: dict[str, Any],
    estimator: Any,
    schema: Schema,
    records: list[dict[str, Any]],
    native: np.ndarray,
    *,
    seed: int,
    float32: bool,
) -> dict[str, Any]:
    """The verification report on held-out rows and probe rows."""
    probes = probe_records(records, schema, seed)
    try:
        probe_native = native_output(estimator, schema, records_frame(probes, schema))
    except Exception:  # the native pipeline cannot score them: compare held-out rows only
        probes, probe_native = [], native[:0]
    try:
        checked = records + probes
        report: dict[str, Any] = (
            verify(
                graph,
                inputs,
                schema,
                checked,
                np.concatenate([native, probe_native]),
                float32=float32,
            )
            if checked
            else {"rows": 0}
        )
    except Exception as error:
        raise _ServeNativelyError(f"verification failed: {type(error).__name__}: {error}") from None
    report["probe_rows"] = len(probes)
    return report


def _judge(records: list[dict[str, Any]], report: dict[str, Any]) -> None:
    """Raise unless the graph agreed with the native pipeline on every row."""
    if not records:
        raise _ServeNativelyError("no held-out rows to verify the graph on", report)
    if report["values_outside_tolerance"] or report["label_mismatches"]:
        raise _ServeNativelyError(
            f"verification failed: {report['values_outside_tolerance']} value(s) differ by more "
            f"than {report['atol']:g} + {report['rtol']:g}·|value| "
            f"(largest {report['max_abs_diff']:.3g}), "
            f"{report['label_mismatches']} label(s) differ",
            report,
        )


def _native_result(
    spec: dict[str, Any], reason: str, report: dict[str, Any] | None = None
) -> ExportResult:
    spec = {**spec, "engine": "native", "reason": reason, "verification": report or {}}
    return ExportResult({SERVING_FILE: _dump(spec)}, "native", reason, report or {})


def _dump(spec: Mapping[str, Any]) -> bytes:
    # indent 1, as serving.json has always been written
    return json.dumps(json_safe(spec), indent=1, allow_nan=False).encode("utf-8")
