"""The loaded model: predictions checked against the training schema."""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn.bundle._common import SCHEMA_FILE, SchemaWarning
from cairn.bundle._graph import open_graph
from cairn.bundle._verify import verify_bundle
from cairn.data.schema import Schema, conform
from cairn.exceptions import BundleError
from cairn.records import restore_label, to_records
from cairn.tasks import Task, get_task


def schema_task(schema: Schema) -> Task:
    """The task a schema's model solves. A schema that names none is scored
    as one value per row, as regression."""
    return get_task(schema.task or "regression")


class Model:
    """A trained model that checks its input against the training schema.

    Attributes:
        pipeline: the fitted scikit-learn pipeline.
        schema: the input schema.
        metadata: what metadata.json holds (metrics, versions, ...).
        path: the bundle folder it was loaded from, if any.
        engine: "onnx" when predictions come from the bundle's verified ONNX
            graph (the one the server uses), else "native".
    """

    def __init__(
        self,
        pipeline: Any,
        schema: Schema,
        metadata: Mapping[str, Any] | None = None,
        path: Path | None = None,
        *,
        graph: Any = None,
    ) -> None:
        self.pipeline = pipeline
        self.schema = schema
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.path = path
        self._graph = graph

    @property
    def engine(self) -> str:
        return "native" if self._graph is None else "onnx"

    @property
    def task(self) -> str:
        return schema_task(self.schema).name

    @property
    def classes(self) -> list[Any]:
        """Class labels in their original type, in probability-column order."""
        target_dtype = str(self.schema.metadata.get("target_dtype", "string"))
        return [restore_label(label, target_dtype) for label in self.schema.classes or ()]

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Check and coerce a frame to the schema; repairable issues warn."""
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(frame)
        conformed, notes = conform(frame, self.schema)
        for note in notes:
            warnings.warn(note, SchemaWarning, stacklevel=3)
        return conformed

    def _output(self, frame: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
        """Probabilities (classification) or values, and the rows' index."""
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(frame)
        if self._graph is None or not len(frame):
            X = self.prepare(frame)
            if schema_task(self.schema).has_classes:
                return np.asarray(self.pipeline.predict_proba(X), dtype=float), X.index
            return np.asarray(self.pipeline.predict(X), dtype=float), X.index
        return self._graph_output(frame), frame.index

    def _graph_output(self, frame: pd.DataFrame) -> np.ndarray:
        # The graph's record adapter checks and coerces values itself (the
        # same code the server runs), so the frame is not conformed first.

        if any(name not in frame.columns for name in self._graph.adapter.required):
            self.prepare(frame.iloc[:0])  # the schema's own error, naming the columns
        output, notes = self._graph.output(to_records(frame))
        unseen: dict[str, int] = {}
        for note in notes:
            if note.get("column") is None:
                warnings.warn(str(note["message"]), SchemaWarning, stacklevel=4)
            else:
                unseen[str(note["column"])] = unseen.get(str(note["column"]), 0) + 1
        for column, count in unseen.items():
            warnings.warn(
                f"column {column!r}: {count} row(s) hold a category unseen in training",
                SchemaWarning,
                stacklevel=4,
            )
        output = np.asarray(output, dtype=float)
        if schema_task(self.schema).has_classes:
            return output.reshape(len(frame), -1)
        return output.reshape(-1)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Class labels (classification) or values (regression), one per row.

        Raises:
            SchemaMismatchError: a required column is missing or holds values
                that cannot be coerced to its type.
        """
        output, _ = self._output(frame)
        if schema_task(self.schema).has_classes:
            return np.asarray(self.classes, dtype=object)[output.argmax(axis=1)]
        return output

    def predict_proba(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Class probabilities, one column per class label.

        Raises:
            BundleError: the model is a regression model.
        """
        if not schema_task(self.schema).has_classes:
            raise BundleError("predict_proba is only available for classification models")
        output, index = self._output(frame)
        return pd.DataFrame(output, columns=self.classes, index=index)

    def __repr__(self) -> str:
        name = self.metadata.get("name", "?")
        family = self.metadata.get("model", "?")
        return f"Model(name={name!r}, model={family!r}, task={self.task!r}, engine={self.engine!r})"


def load_bundle(path: str | Path, *, trust: bool = False, engine: str = "auto") -> Model:
    """Load a bundle folder once its signature and every file's hash check out.

    Args:
        trust: accept an unsigned bundle or one signed with another key
            (hashes are still checked); only for bundles from a known source.
        engine: "auto" predicts with the bundle's verified ONNX graph when it
            has one and ONNX Runtime is installed, else with the pickled
            pipeline; "native" always uses the pipeline; "onnx" requires the graph.

    Raises:
        BundleError: missing files, an unsafe file name, a bad signature, a
            hash mismatch (modified or truncated file), or an unreadable schema.
    """
    import joblib

    if engine not in ("auto", "onnx", "native"):
        raise BundleError(f"engine {engine!r} is not one of auto, onnx, native")
    bundle = verify_bundle(path, trust=trust)
    try:
        schema = Schema.from_json(bundle.read(SCHEMA_FILE).decode("utf-8"))
    except BundleError:
        raise
    except (ValueError, KeyError) as error:
        raise BundleError(f"{bundle.folder / SCHEMA_FILE}: unreadable schema ({error})") from None
    # unpickle exactly the bytes that were hashed
    pipeline = joblib.load(io.BytesIO(bundle.read(bundle.model_file)))
    graph = None
    if engine != "native":
        graph, reason = open_graph(bundle, schema)
        if graph is None and engine == "onnx":
            raise BundleError(f"{bundle.folder}: cannot predict with ONNX: {reason}")
    return Model(pipeline, schema, bundle.metadata, path=bundle.folder, graph=graph)
