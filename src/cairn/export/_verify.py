"""Verification: the graph and the record adapter against the native pipeline,
on held-out rows and probe rows bent into the cases a server meets."""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cairn.bundle import Model, onnx_session, schema_task
from cairn.data.schema import Role, Schema
from cairn.export._common import ATOL, MAX_PROBE_CELLS, MAX_PROBES, MIN_PROBES, RTOL
from cairn.records import (
    RecordAdapter,
)
from cairn.tasks import Output


def probe_records(records: list[dict[str, Any]], schema: Schema, seed: int) -> list[dict]:
    """Held-out rows bent into the cases a server meets: missing values, unseen
    categories, boolean words, numbers at the edges."""
    if not records:
        return []
    rng = np.random.default_rng(seed)
    features = [c for c in schema.columns if c.is_feature]
    probes: list[dict[str, Any]] = [{c.name: None for c in features}]
    width = max(1, len(features))
    for _ in range(max(MIN_PROBES, min(MAX_PROBES, MAX_PROBE_CELLS // width)) - 1):
        row = dict(records[int(rng.integers(len(records)))])
        for column in features:
            draw = rng.random()
            if draw < 0.15:
                row[column.name] = None
            elif draw < 0.3 and column.role in (Role.CATEGORICAL, Role.BOOLEAN, Role.TEXT):
                if column.role == Role.BOOLEAN and column.dtype == "bool":
                    row[column.name] = str(rng.choice(["YES", "no", "T", "0", "true"]))
                elif column.role == Role.BOOLEAN and column.dtype in ("int", "float"):
                    row[column.name] = [0, 1, 2, 1.0][int(rng.integers(4))]
                elif column.role == Role.BOOLEAN:
                    row[column.name] = str(rng.choice(["Yes", "off", "unseen-value", " "]))
                else:
                    row[column.name] = f"unseen-{int(rng.integers(1000))}"
            elif draw < 0.35 and column.role == Role.NUMERIC and row[column.name] is not None:
                row[column.name] = float(row[column.name]) * float(rng.choice([-10.0, 10.0]))
        probes.append(row)
    return probes


def native_output(estimator: Any, schema: Schema, frame: pd.DataFrame) -> np.ndarray:

    model = Model(estimator, schema)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(model.raw_output(frame), dtype=np.float64)


def records_frame(records: list[dict[str, Any]], schema: Schema) -> pd.DataFrame:
    names = [n for n in schema.names if any(n in r for r in records[:1])]
    return pd.DataFrame.from_records(records, columns=names)


def verify(
    graph: bytes,
    spec: Mapping[str, Any],
    schema: Schema,
    records: list[dict],
    native: np.ndarray,
    *,
    float32: bool = True,
) -> dict[str, Any]:
    session = onnx_session(graph)
    adapter = RecordAdapter(schema, spec)
    feeds = adapter.encode(records).feeds
    fast = np.asarray(session.run([spec["output"]], feeds)[0])
    fast = fast.reshape(native.shape)
    # NaN where the native output has NaN (a clustering's absent probabilities) agrees
    both_nan = np.isnan(fast) & np.isnan(native)
    diff = np.where(both_nan, 0.0, np.abs(fast - native))
    allowed = ATOL + RTOL * np.abs(native)
    bad = ~(diff <= allowed) & ~both_nan
    report: dict[str, Any] = {
        "rows": len(records),
        "max_abs_diff": float(np.nanmax(diff)) if diff.size and not np.isnan(diff).all() else 0.0,
        "values_outside_tolerance": int(bad.sum()),
        "rtol": RTOL,
        "atol": ATOL,
    }
    task = schema_task(schema)
    if task.has_classes and native.size:
        report["label_mismatches"] = int((fast.argmax(axis=1) != native.argmax(axis=1)).sum())
    elif task.output == Output.LABELS and native.size:
        # cluster ids must agree exactly; distances and probabilities within tolerance
        report["label_mismatches"] = int((fast[:, 0] != native[:, 0]).sum())
        report["values_outside_tolerance"] = int(bad[:, 1:].sum())
    else:
        report["label_mismatches"] = 0
    difference = (
        float32_difference(graph, spec, feeds, native, has_classes=task.has_classes)
        if float32
        else None
    )
    if difference is not None:
        report["float32"] = difference
    # one record per call, as a server sees them
    timings = []
    for record in records[:50]:
        started = time.perf_counter()
        session.run([spec["output"]], adapter.encode([record]).feeds)
        timings.append(time.perf_counter() - started)
    report["onnx_ms_per_row_p50"] = round(float(np.median(timings)) * 1000, 4) if timings else None
    return report


def serving_extras(schema: Schema, frame: pd.DataFrame, native: np.ndarray) -> dict[str, Any]:
    """Ranges for generating example payloads and bucket edges for prediction histograms."""
    ranges: dict[str, list[float]] = {}
    for column in schema.columns:
        if column.is_feature and column.role == Role.NUMERIC and column.name in frame:
            values = pd.to_numeric(frame[column.name], errors="coerce").dropna()
            if len(values):
                low, high = np.percentile(values.to_numpy(dtype=float), [1, 99])
                ranges[column.name] = [float(low), float(high)]
    if schema_task(schema).has_classes:
        buckets = [round(x, 2) for x in np.linspace(0.05, 1.0, 20)]
    elif native.size:
        edges = np.unique(np.percentile(native, np.linspace(2, 98, 17)))
        buckets = [float(f"{edge:.6g}") for edge in edges]
    else:
        buckets = []
    return {"input_ranges": ranges, "prediction_buckets": buckets}


def float32_difference(
    graph: bytes,
    spec: Mapping[str, Any],
    feeds: Mapping[str, Any],
    native: np.ndarray,
    *,
    has_classes: bool,
) -> dict[str, Any] | None:
    """What float32 trees would change: the graph with every tree threshold
    and tree input rounded to float32 (as the stock converters and most
    compiled tree engines store them), against the native pipeline.

    cairn's graph keeps float64 thresholds; this records the class flips
    and the largest difference the float32 form would have caused on the
    same rows. None when the graph has no trees.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(graph)
    nodes = list(model.graph.node)
    if not any(node.op_type == "TreeEnsemble" for node in nodes):
        return None
    rebuilt = []
    for index, node in enumerate(nodes):
        if node.op_type == "TreeEnsemble":
            for attribute in node.attribute:
                if attribute.name == "nodes_splits":
                    splits = numpy_helper.to_array(attribute.t)
                    rounded = splits.astype(np.float32).astype(splits.dtype)
                    attribute.t.CopyFrom(numpy_helper.from_array(rounded, attribute.t.name))
            single, double = f"float32_{index}", f"float32_{index}_as_double"
            rebuilt.append(
                helper.make_node("Cast", [node.input[0]], [single], to=TensorProto.FLOAT)
            )
            rebuilt.append(helper.make_node("Cast", [single], [double], to=TensorProto.DOUBLE))
            node.input[0] = double
        rebuilt.append(node)
    del model.graph.node[:]
    model.graph.node.extend(rebuilt)
    session = onnx_session(model.SerializeToString())
    rounded_output = np.asarray(session.run([spec["output"]], dict(feeds))[0])
    rounded_output = rounded_output.reshape(native.shape)
    diff = np.abs(rounded_output - native)
    finite = diff[np.isfinite(diff)]
    result: dict[str, Any] = {
        "rows": int(native.shape[0]) if native.ndim else 0,
        "max_abs_diff": float(finite.max()) if finite.size else 0.0,
        "values_outside_tolerance": int(
            (finite > ATOL + RTOL * np.abs(native[np.isfinite(diff)])).sum()
        ),
    }
    if has_classes and native.size:
        result["label_flips"] = int((rounded_output.argmax(axis=1) != native.argmax(axis=1)).sum())
    return result
