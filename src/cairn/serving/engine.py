"""A model bundle made ready to answer requests.

:func:`load_served_model` resolves a bundle folder or a registry URI, checks
the bundle's signature and every file's hash exactly as
:func:`cairn.bundle.load_bundle` does (without unpickling anything when the
graph serves), and picks the engine:

``onnx``    the bundle holds a graph verified at packaging time
            (:mod:`cairn.export`) and ONNX Runtime is installed: records
            go from JSON straight to arrays and through one graph call;
``native``  otherwise: the pickled scikit-learn pipeline, through pandas
            (also, with a warning, when the bundle's graph file is missing).

Both engines read records with the same
:class:`~cairn.records.RecordAdapter`, so bad input gets the same
answer whichever engine serves.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cairn.bundle import (
    SCHEMA_FILE,
    GraphScorer,
    load_bundle,
    open_graph,
    output_classes,
    privacy_key,
    read_serving,
    schema_task,
    verify_bundle,
)
from cairn.data.pseudonym import Pseudonymiser
from cairn.data.schema import Role, Schema
from cairn.data.values import integral
from cairn.exceptions import BundleError, DataError, ServingError
from cairn.records import RecordAdapter, restore_label
from cairn.serving._recommend import (
    ServedRecommender,
    is_recommendation,
    load_served_recommender,
)

__all__ = [
    "Engine",
    "GraphScorer",
    "Prediction",
    "ServedModel",
    "ServedRecommender",
    "load_served_model",
    "open_graph",
    "resolve_model",
]

Engine = str  # "auto", "onnx" or "native"


@dataclass
class Prediction:
    """The model's answer for a batch of records.

    Attributes:
        labels: class labels (in their original type) or values, one per record.
        probabilities: (records, classes) for classification, else None.
        warnings: notes per record and column (unseen categories, extra columns).
        details: the task's other per-record parts of the answer (a
            clustering's distances and membership probabilities), by name.
    """

    labels: list[Any]
    probabilities: np.ndarray | None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, list[Any]] = field(default_factory=dict)


class ServedModel:
    """One model, loaded and checked, with the engine that serves it.

    Attributes:
        name: the registered model's name (the project name).
        version: registry version, or the run id for a bundle folder.
        engine: "onnx" or "native".
        engine_reason: why the native pipeline serves, when it does.
        schema: the input schema.
        task: the task's name; ``kind``: the task itself.
        metadata: the bundle's metadata.json.
        serving: the bundle's serving.json (empty for older bundles).
        privacy: hashes the personal-data columns training hashed or
            dropped, in every record before it is read or logged.
    """

    def __init__(
        self,
        *,
        path: Path,
        metadata: dict[str, Any],
        schema: Schema,
        serving: dict[str, Any],
        session: Any = None,
        native: Any = None,
        engine_reason: str = "",
        version: str | None = None,
        source: str | None = None,
        privacy_key: bytes | None = None,
    ) -> None:
        try:
            self.privacy = Pseudonymiser.from_metadata(schema.metadata, privacy_key, str(path))
        except DataError as error:
            raise BundleError(str(error)) from None
        self.path = path
        self.metadata = metadata
        self.schema = schema
        self.serving = serving
        self.name = str(metadata.get("name", path.name))
        self.version = str(version or metadata.get("run_id", "local"))
        self.source = source or str(path)
        self.kind = schema_task(schema)
        self.task = self.kind.name
        target_dtype = schema.metadata.get("target_dtype")
        # class labels, or a clustering's cluster ids
        self.class_strings = output_classes(schema, metadata, serving)
        self.classes: list[Any] = (
            [restore_label(c, target_dtype) for c in self.class_strings]
            if self.kind.has_classes
            else [int(c) for c in self.class_strings]
        )
        self._session = session
        self._native = native
        self._native_frame: _NativeFrame | None = None
        self.engine = "onnx" if session is not None else "native"
        self.engine_reason = engine_reason
        spec = serving.get("inputs") if session is not None else None
        self.adapter = RecordAdapter(schema, spec)
        self._output = str(serving.get("output") or (spec or {}).get("output", ""))
        self.features = schema.feature_names

    @property
    def blocking(self) -> bool:
        """True when a prediction takes long enough to move off the event loop."""
        return self._session is None

    def predict(self, records: Sequence[Any]) -> Prediction:
        """Score JSON records (dicts).

        Raises:
            RecordsError: a record misses a model input or holds an unreadable value.
        """
        if self.privacy:
            records = self.privacy.records(records)
        encoded = self.adapter.encode(records)
        width = self.kind.output_width(len(self.classes))
        if not records:
            output = np.zeros((0, width))
        elif self._session is not None:
            output = np.asarray(self._session.run([self._output], encoded.feeds)[0])
        else:
            output = self._native_output(records)
        output = output.reshape(len(records), width)
        labels, probabilities = self.kind.predictions(output, self.classes)
        details = self.kind.answer_details(output, self.classes)
        return Prediction(labels, probabilities, encoded.warnings, details)

    def _native_output(self, records: Sequence[Any]) -> np.ndarray:
        if self._native_frame is None:
            dropped = frozenset(self.privacy.dropped)
            self._native_frame = _NativeFrame(self.schema, self.adapter, dropped)
        frame = self._native_frame.build(records)
        with warnings.catch_warnings():
            # the adapter already reported what the pipeline's steps might warn about
            warnings.simplefilter("ignore")
            return np.asarray(self._native.conformed_output(frame), dtype=np.float64)

    def log_record(self, record: Any) -> Any:
        """A record as the prediction log stores it: personal-data values
        hashed (unless training kept them), the rest as the model read it."""
        protected = self.privacy.record(record)
        try:
            return self.adapter.typed(protected)
        except Exception:  # the record was scored, so log it as sent (hashed)
            return protected

    def example_record(self) -> dict[str, Any]:
        """A plausible record built from the schema (for warm-up and docs)."""
        ranges = self.serving.get("input_ranges") or {}
        record: dict[str, Any] = {}
        for column in self.schema.columns:
            if not column.is_feature:
                continue
            if column.role == Role.NUMERIC:
                low, high = ranges.get(column.name, (0.0, 1.0))
                value = (float(low) + float(high)) / 2
                record[column.name] = round(value) if column.dtype == "int" else value
            elif column.role == Role.DATETIME:
                record[column.name] = "2024-01-15T12:00:00"
            elif column.dtype == "bool":
                record[column.name] = True
            elif column.categories:
                record[column.name] = column.categories[0]
            elif column.role == Role.TEXT:
                record[column.name] = "some text"
            else:
                record[column.name] = None
        return record

    def warm(self, rounds: int = 20) -> None:
        """Run a few predictions so the first request pays no lazy start-up."""
        record = self.example_record()
        for _ in range(rounds if self._session is not None else 2):
            self.predict([record])

    def describe(self) -> dict[str, Any]:
        """What /metadata says about this model."""
        meta = self.metadata
        columns = []
        for column in self.schema.columns:
            entry: dict[str, Any] = {
                "name": column.name,
                "role": str(column.role),
                "dtype": column.dtype,
                "required": column.is_feature,
                "nullable": True,
            }
            if column.categories is not None:
                entry["categories"] = list(column.categories)
            if column.name in (self.serving.get("input_ranges") or {}):
                entry["range_p1_p99"] = self.serving["input_ranges"][column.name]
            columns.append(entry)
        verification = self.serving.get("verification") or {}
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "task": self.task,
            "target": self.schema.target,
            "classes": self.classes if self.kind.has_classes else None,
            "clusters": None if self.kind.has_classes else self.classes or None,
            "model": meta.get("model"),
            "model_label": meta.get("model_label"),
            "run_id": meta.get("run_id"),
            "created_at": meta.get("created_at"),
            "engine": {
                "name": self.engine,
                "reason": self.engine_reason,
                "verification": verification,
            },
            "metrics": meta.get("metrics", {}),
            "objectives": meta.get("objectives", []),
            "objectives_met": meta.get("objectives_met"),
            "schema": {"columns": columns},
        }


class _NativeFrame:
    """Checked JSON records straight to the frame the pipeline was trained on.

    The record adapter has already read every value (and refused the
    unreadable ones), so each column is built once from the values it read,
    in the type :func:`cairn.data.schema.conform` gives that column: no
    per-record frame, no second pass of conversion, sentinel and
    unseen-category checks. Datetime columns, the rare case, still go through
    the schema's own parser.
    """

    def __init__(
        self, schema: Schema, adapter: RecordAdapter, dropped: frozenset[str] = frozenset()
    ) -> None:
        self.schema = schema
        self.columns = adapter.columns
        # personal-data columns training dropped: never passed on, as the library drops them
        self.dropped = dropped
        formats = schema.metadata.get("datetime_formats") or {}
        self.date_formats = {name: formats.get(name) for name in schema.names}

    def build(self, records: Sequence[Any]) -> Any:
        import pandas as pd

        n = len(records)
        data: dict[str, Any] = {}
        for column in self.schema.columns:
            name = column.name
            if column.is_feature:
                data[name] = self._feature(column, [record[name] for record in records])
            elif name not in self.dropped and any(name in record for record in records):
                data[name] = pd.Series([record.get(name) for record in records], dtype=object)
            else:
                data[name] = np.full(n, np.nan)
        return pd.DataFrame(data)

    def _feature(self, column: Any, raw: list[Any]) -> Any:
        import pandas as pd

        read = self.columns[column.name]
        dtype = column.dtype
        if dtype in ("float", "int"):
            values = np.fromiter((read.number(v) for v in raw), dtype=np.float64, count=len(raw))
            if dtype == "int" and not np.isnan(values).any() and integral(pd.Series(values)):
                return values.astype(np.int64)
            return values
        if dtype == "bool":
            texts = [read.category(v) for v in raw]
            if None in texts:
                return pd.array([None if t is None else t == "True" for t in texts], "boolean")
            return np.array([t == "True" for t in texts], dtype=bool)
        if dtype == "datetime":
            from cairn.data.schema import coerce_column

            series = pd.Series(raw, dtype=object)
            return coerce_column(series, column, date_format=self.date_formats[column.name])[0]
        texts = [read.category(v) for v in raw]
        return pd.Series([np.nan if t is None else t for t in texts], dtype="str")


def resolve_model(
    reference: str | Path, tracking_uri: str | None = None
) -> tuple[Path, str | None, str]:
    """The bundle folder behind a folder or registry URI (fetched when it is
    one), its registry version (None for a folder) and the reference as text.

    Raises:
        RegistryError: the registry URI cannot be resolved.
    """
    text = str(reference)
    if text.startswith("models:/"):
        from cairn.tracking import describe_version, download_bundle

        folder = download_bundle(text, tracking_uri=tracking_uri)
        try:
            version = str(describe_version(text, tracking_uri=tracking_uri)["version"])
        except Exception:  # the version is a label; the bundle itself was resolved
            version = None
        return folder, version, text
    return Path(text), None, text


def load_served_model(
    reference: str | Path,
    *,
    tracking_uri: str | None = None,
    engine: Engine = "auto",
    trust: bool = False,
) -> ServedModel | ServedRecommender:
    """Load a bundle folder or ``models:/NAME@ALIAS`` for serving: a
    recommendation bundle gives a :class:`ServedRecommender`.

    Args:
        reference: bundle folder or registry URI.
        tracking_uri: MLflow store for registry URIs.
        engine: "auto" (ONNX when verified and installed, else native),
            "onnx" (fail if unavailable) or "native".
        trust: serve an unsigned bundle, or one signed with another key.

    Raises:
        BundleError: missing files, a bad signature or a hash mismatch.
        RegistryError: the registry URI cannot be resolved.
        ServingError: ``engine="onnx"`` but the bundle has no usable graph.
    """
    if engine not in ("auto", "onnx", "native"):
        raise ServingError(f"engine {engine!r} is not one of auto, onnx, native")
    folder, version, source = resolve_model(reference, tracking_uri)
    # the whole bundle, model file included, is checked before serving either engine
    bundle = verify_bundle(folder, trust=trust)
    try:
        schema = Schema.from_json(bundle.read(SCHEMA_FILE).decode("utf-8"))
    except (ValueError, KeyError) as error:
        raise BundleError(f"{bundle.folder / SCHEMA_FILE}: unreadable schema ({error})") from None
    if is_recommendation(bundle.metadata, schema):
        return load_served_recommender(
            bundle, schema, engine=engine, version=version, source=source
        )
    serving = read_serving(bundle)
    scorer: GraphScorer | None = None
    if engine == "native":
        reason = "native engine requested"
    else:
        scorer, reason = open_graph(bundle, schema, serving)
    if scorer is None and engine == "onnx":
        raise ServingError(f"{bundle.folder}: cannot serve with ONNX: {reason}")
    native = None
    if scorer is None:
        native = load_bundle(bundle.folder, trust=trust, engine="native")
    return ServedModel(
        path=bundle.folder,
        metadata=bundle.metadata,
        schema=schema,
        serving=serving,
        session=scorer.session if scorer is not None else None,
        native=native,
        engine_reason=reason if scorer is None else "",
        version=version,
        source=source,
        privacy_key=privacy_key(bundle),
    )
