"""A bundle's verified ONNX graph, ready to score JSON records."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from cairn.bundle._common import GRAPH_FILE, SERVING_FILE, BundleWarning
from cairn.bundle._verify import VerifiedBundle
from cairn.data.schema import Schema
from cairn.exceptions import BundleError
from cairn.records import RecordAdapter


def onnx_session(graph: bytes) -> Any:
    """An ONNX Runtime session on the CPU, one thread: one request is one small batch."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    # one request is one small batch: threads cost more than they give
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


class GraphScorer:
    """A verified ONNX graph with the adapter that turns records into its inputs."""

    def __init__(self, graph: bytes, serving: dict[str, Any], schema: Schema) -> None:
        self.session = onnx_session(graph)
        self.adapter = RecordAdapter(schema, serving.get("inputs"))
        self.output_name = str(serving.get("output") or serving["inputs"]["output"])

    def output(self, records: Sequence[Any]) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """The graph's output (probabilities or values) for JSON records, and
        the adapter's notes (unseen categories, ignored columns).

        Raises:
            RecordsError: a record misses a model input or holds an unreadable value.
        """
        encoded = self.adapter.encode(records)
        output = np.asarray(self.session.run([self.output_name], encoded.feeds)[0])
        return output, encoded.warnings


def read_serving(bundle: VerifiedBundle) -> dict[str, Any]:
    """The bundle's serving.json (empty when it has none)."""
    if not bundle.has(SERVING_FILE):
        return {}
    try:
        serving = json.loads(bundle.read(SERVING_FILE))
    except ValueError as error:
        raise BundleError(f"{bundle.folder / SERVING_FILE}: unreadable ({error})") from None
    return serving if isinstance(serving, dict) else {}


def open_graph(
    bundle: VerifiedBundle, schema: Schema, serving: dict[str, Any] | None = None
) -> tuple[GraphScorer | None, str]:
    """The bundle's verified graph ready to score, or None and why not.

    A graph file that the bundle lists but lacks is warned about: the
    native pipeline answers instead, correctly but slower.
    """
    serving = read_serving(bundle) if serving is None else serving
    if serving.get("engine") != "onnx":
        return None, str(serving.get("reason", "")) or "the bundle has no ONNX graph"
    if GRAPH_FILE in bundle.missing:
        reason = f"{GRAPH_FILE} is missing from the bundle; the native model answers instead"
        warnings.warn(f"{bundle.folder}: {reason}", BundleWarning, stacklevel=2)
        return None, reason
    if not bundle.has(GRAPH_FILE):
        return None, "the bundle has no ONNX graph"
    graph = bundle.read(GRAPH_FILE)
    try:
        return GraphScorer(graph, serving, schema), ""
    except ImportError:
        return None, "onnxruntime is not installed (pip install onnxruntime)"
    except Exception as error:  # a graph this runtime cannot load: the pipeline answers
        return None, f"ONNX Runtime cannot load the graph: {error}"
