"""Names, limits and the result type shared by the export modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GRAPH_FILE = "model.onnx"
SERVING_FILE = "serving.json"
#: Agreement required between the graph and the native pipeline, per value:
#: ``|fast - native| <= ATOL + RTOL * |native|``.
RTOL = 1e-5
ATOL = 1e-5
SERVING_FORMAT = 1
OPSET = 21
ML_OPSET = 5
MAX_TREE_NODES = 3_000_000
MAX_TABLE_CELLS = 20_000_000
MAX_PROBES = 200
MAX_CHECK_ROWS = 2000
# Verification cost is per cell: wide tables get fewer probe rows (never under 20).
MAX_PROBE_CELLS = 100_000
MIN_PROBES = 20
# Larger graphs are served natively: they take seconds to load and gigabytes to run.
MAX_GRAPH_BYTES = 64 * 2**20
UNSEEN_TEXT = "\x00cairn-unseen"
# Words cairn's BooleanEncoder reads as true / false for values it has no mapping for.
BOOLEAN_TRUE = ("true", "t", "yes", "y", "1", "1.0", "on")
BOOLEAN_FALSE = ("false", "f", "no", "n", "0", "0.0", "off")


class UnsupportedError(Exception):
    """A part of the model has no faithful ONNX form."""


@dataclass
class ExportResult:
    """What :func:`export_serving` decided.

    Attributes:
        files: bundle files to store (``serving.json`` always, ``model.onnx``
            when the graph was verified).
        engine: "onnx" when the graph is stored, else "native".
        reason: why the native pipeline serves, when it does.
        verification: rows compared, largest differences, timings.
    """

    files: dict[str, bytes]
    engine: str
    reason: str = ""
    verification: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The verdict as stored in the bundle's metadata."""
        return {"engine": self.engine, "reason": self.reason, **self.verification}
