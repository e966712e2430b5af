"""The ONNX graph under construction: nodes, initializers, operator sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cairn.export._common import ML_OPSET, OPSET, UnsupportedError


class Graph:
    """Nodes and initializers of the graph under construction."""

    def __init__(self) -> None:
        from onnx import helper

        self.helper = helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.opsets: dict[str, int] = {"": OPSET, "ai.onnx.ml": ML_OPSET}
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: Any, hint: str = "c") -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str = "", **attrs: Any) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def cols(self, tensor: str, indices: Sequence[int]) -> str:
        return self.op("Gather", [tensor, self.const(np.asarray(indices, dtype=np.int64))], axis=1)

    def concat(self, tensors: Sequence[str]) -> str:
        if len(tensors) == 1:
            return tensors[0]
        return self.op("Concat", tensors, axis=1)

    def to_double(self, tensor: str) -> str:
        return self.op("Cast", [tensor], to=11)  # DOUBLE

    def embed(self, model: Any, feed: str, output: str) -> str:
        """Add a converted model's graph, fed by ``feed``; returns its ``output``."""
        from onnx import compose

        prefix = self.name("m") + "_"
        prefixed = compose.add_prefix(model, prefix)
        graph = prefixed.graph
        (source,) = [i.name for i in graph.input]
        self.nodes.append(self.helper.make_node("Identity", [feed], [source]))
        self.nodes.extend(graph.node)
        self.initializers.extend(graph.initializer)
        for opset in model.opset_import:
            domain = opset.domain or ""
            if domain not in ("", "ai.onnx.ml"):
                raise UnsupportedError(f"converted model uses the operator domain {domain!r}")
            self.opsets[domain] = max(self.opsets.get(domain, 0), opset.version)
        return prefix + output
