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
from cairn.data.pseudonym import KEY_FILE as PRIVACY_KEY_FILE
from cairn.data.pseudonym import Pseudonymiser
from cairn.data.schema import Schema, conform
from cairn.exceptions import BundleError, DataError
from cairn.records import restore_label, to_records
from cairn.tasks import Output, Task, get_task
from cairn.tasks.clustering import cluster_output, split_cluster_output

#: The item side table a recommendation bundle stores when it was given one.
ITEMS_FILE = "items.parquet"
_RECOMMENDATION = "recommendation"


def schema_task(schema: Schema) -> Task:
    """The task a schema's model solves. A schema that names none is scored
    as one value per row, as regression."""
    return get_task(schema.task or "regression")


def output_classes(
    schema: Schema, metadata: Mapping[str, Any], serving: Mapping[str, Any] | None = None
) -> list[str]:
    """What names the columns of a model's output, as strings: the class
    labels of a classifier, the cluster ids 0..k-1 of a clustering (from the
    schema, serving.json or the metadata's ``n_clusters``), none for a
    regression.

    Raises:
        BundleError: a clustering bundle that records its number of clusters nowhere.
    """
    if schema.classes:
        return list(schema.classes)
    if schema_task(schema).output != Output.LABELS:
        return []
    recorded = (serving or {}).get("classes")
    if recorded:
        return [str(c) for c in recorded]
    k = metadata.get("n_clusters") or (metadata.get("clustering") or {}).get("k")
    if not k:
        raise BundleError(
            "the clustering bundle records no number of clusters (n_clusters in "
            "metadata.json); save it again with cairn.bundle.save_bundle"
        )
    return [str(cluster) for cluster in range(int(k))]


class Model:
    """A trained model that checks its input against the training schema.

    Attributes:
        pipeline: the fitted scikit-learn pipeline.
        schema: the input schema.
        metadata: what metadata.json holds (metrics, versions, ...).
        path: the bundle folder it was loaded from, if any.
        engine: "onnx" when predictions come from the bundle's verified ONNX
            graph (the one the server uses), else "native".

    Columns holding personal data that training hashed or dropped (the
    schema's ``privacy`` metadata) are hashed with ``privacy_key`` before
    anything else reads a frame, as training hashed them.
    """

    def __init__(
        self,
        pipeline: Any,
        schema: Schema,
        metadata: Mapping[str, Any] | None = None,
        path: Path | None = None,
        *,
        graph: Any = None,
        items: pd.DataFrame | None = None,
        privacy_key: bytes | None = None,
    ) -> None:
        # without the key, only data already hashed can be scored
        self.privacy = Pseudonymiser.from_metadata(
            schema.metadata, privacy_key, str(path or "the model"), require_key=False
        )
        self.pipeline = pipeline
        self.schema = schema
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.path = path
        self._graph = graph
        self.items = items
        self._titles: dict[str, str] | None = None

    @property
    def engine(self) -> str:
        return "native" if self._graph is None else "onnx"

    @property
    def task(self) -> str:
        return schema_task(self.schema).name

    @property
    def classes(self) -> list[Any]:
        """Class labels in their original type, in probability-column order;
        for a clustering, the cluster ids (ints) in distance-column order."""
        if schema_task(self.schema).output == Output.LABELS:
            return [int(c) for c in self._cluster_ids()]
        target_dtype = str(self.schema.metadata.get("target_dtype", "string"))
        return [restore_label(label, target_dtype) for label in self.schema.classes or ()]

    def _cluster_ids(self) -> list[str]:
        # the fitted clustering's ids (0..k-1, or a retrained model's kept ids)
        ids = getattr(getattr(self.pipeline, "_final_estimator", None), "ids", None)
        if ids is not None:
            return [str(int(cluster)) for cluster in ids]
        return output_classes(self.schema, self.metadata)

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Check and coerce a frame to the schema; repairable issues warn."""
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(frame)
        conformed, notes = conform(self._protected(frame), self.schema)
        for note in notes:
            warnings.warn(note, SchemaWarning, stacklevel=3)
        return conformed

    def _protected(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with personal-data columns hashed as training hashed them."""
        try:
            return self.privacy.frame(frame, drop=True)
        except DataError as error:
            raise BundleError(str(error)) from None

    def raw_output(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's output as its task defines it, from either engine:
        class probabilities (rows, classes), values (rows,), or for a
        clustering (rows, 1 + 2k): the id, the distance to each centroid and
        the membership probabilities (NaN but for a mixture)."""
        return self._output(frame)[0]

    def _output(self, frame: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
        """The raw output (see :meth:`raw_output`) and the rows' index."""
        if self.is_recommender:
            raise BundleError(
                "a recommendation model ranks items for a user: call recommend(user, k) or "
                "similar_items(item, k), not predict"
            )
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(frame)
        frame = self._protected(frame)
        if self._graph is None or not len(frame):
            X = self.prepare(frame)
            return self.conformed_output(X), X.index
        return self._graph_output(frame), frame.index

    def conformed_output(self, X: pd.DataFrame) -> np.ndarray:
        """The pipeline's raw output (see :meth:`raw_output`) for a frame
        already in the trained form, as :meth:`prepare` gives it: nothing is
        checked, converted or hashed again."""
        task = schema_task(self.schema)
        if task.has_classes:
            return np.asarray(self.pipeline.predict_proba(X), dtype=float)
        if task.output == Output.LABELS:
            return self._cluster_output(X)
        return np.asarray(self.pipeline.predict(X), dtype=float)

    def _cluster_output(self, X: pd.DataFrame) -> np.ndarray:
        if not len(X):
            return np.zeros((0, 1 + 2 * len(self._cluster_ids())))
        # the pipeline's preparation once, then the clustering's three answers
        matrix = self.pipeline[:-1].transform(X)
        model = self.pipeline[-1]
        probabilities = model.predict_proba(matrix) if hasattr(model, "predict_proba") else None
        return cluster_output(model.predict(matrix), model.transform(matrix), probabilities)

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
        task = schema_task(self.schema)
        if task.has_classes or task.output == Output.LABELS:
            return output.reshape(len(frame), -1)
        return output.reshape(-1)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Class labels (classification), values (regression) or cluster ids
        (clustering, ints), one per row.

        Raises:
            SchemaMismatchError: a required column is missing or holds values
                that cannot be coerced to its type.
        """
        output, _ = self._output(frame)
        task = schema_task(self.schema)
        if task.has_classes:
            return np.asarray(self.classes, dtype=object)[output.argmax(axis=1)]
        if task.output == Output.LABELS:
            return split_cluster_output(output)[0]
        return output

    def predict_proba(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Class probabilities, one column per class label; for a
        gaussian_mixture clustering, each cluster's membership probability,
        one column per cluster id.

        Raises:
            BundleError: the model is a regression model, or a clustering
                that assigns by distance (see :meth:`cluster_distances`).
        """
        task = schema_task(self.schema)
        if task.output == Output.LABELS:
            if not self.has_memberships:
                algorithm = getattr(self.pipeline[-1], "algorithm", None) or self.metadata.get(
                    "model", "this"
                )
                raise BundleError(
                    f"predict_proba is not available for a {algorithm} clustering: it assigns "
                    "each row to a cluster by distance and has no membership probabilities "
                    "(only gaussian_mixture has); use cluster_distances(frame) for the "
                    "distance to each cluster's centroid"
                )
            output, index = self._output(frame)
            _, _, probabilities = split_cluster_output(output)
            if probabilities is None:  # a mixture scored on no rows
                probabilities = np.zeros((len(output), len(self.classes)))
            return pd.DataFrame(probabilities, columns=self.classes, index=index)
        if not task.has_classes:
            raise BundleError("predict_proba is only available for classification models")
        output, index = self._output(frame)
        return pd.DataFrame(output, columns=self.classes, index=index)

    @property
    def has_memberships(self) -> bool:
        """A clustering that gives membership probabilities (gaussian_mixture)."""
        if schema_task(self.schema).output != Output.LABELS:
            return False
        return hasattr(getattr(self.pipeline, "_final_estimator", None), "predict_proba")

    def cluster_distances(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Each row's Euclidean distance to each cluster's centroid (in the
        prepared, scaled feature space), one column per cluster id.

        Raises:
            BundleError: the model is not a clustering.
        """
        if schema_task(self.schema).output != Output.LABELS:
            raise BundleError(
                f"cluster_distances is only available for clustering models, not {self.task}"
            )
        output, index = self._output(frame)
        _, distances, _ = split_cluster_output(output)
        return pd.DataFrame(distances, columns=self.classes, index=index)

    # ------------------------------------------------------------ recommendation

    @property
    def is_recommender(self) -> bool:
        return self.schema.task == _RECOMMENDATION

    def _recommender(self, what: str) -> Any:
        if not self.is_recommender:
            raise BundleError(
                f"{what} is only available for recommendation models, not {self.task}"
            )
        return self.pipeline

    def _settings(self) -> dict[str, Any]:
        return dict(self.metadata.get("recommendation") or {})

    def _titles_by_item(self) -> dict[str, str]:
        """Each item's title (as text, keyed by the id as text) from the item table."""
        if self._titles is None:
            self._titles = {}
            key = self._settings().get("item")
            if self.items is not None and key in self.items.columns:
                title = next(
                    (c for c in self.items.columns if str(c).lower() in ("title", "name")), None
                )
                if title is not None:
                    self._titles = dict(
                        zip(
                            self.items[key].astype(str),
                            self.items[title].astype(str),
                            strict=True,
                        )
                    )
        return self._titles

    def _listing(self, found: Any) -> pd.DataFrame:
        frame = pd.DataFrame(
            {"item": list(found.items), "score": np.asarray(found.scores, dtype=float)}
        )
        titles = self._titles_by_item()
        if titles:
            frame["title"] = [titles.get(str(item)) for item in frame["item"]]
        frame.attrs["fallback"] = found.fallback
        return frame

    def recommend(
        self, user: Any, k: int | None = None, *, exclude_seen: bool | None = None
    ) -> pd.DataFrame:
        """The ``k`` best items for ``user``, best first: columns item, score
        and, when the bundle holds an item table, title.

        A user the model has not seen gets the fallback (the most popular
        items) with a :class:`SchemaWarning` saying so;
        ``frame.attrs["fallback"]`` names it (None for a known user).

        Args:
            k: list length; default the spec's ``recommendation.k``.
            exclude_seen: leave out items the user interacted with; default
                the spec's ``recommendation.exclude_seen``.

        Raises:
            BundleError: not a recommendation model.
        """
        recommender = self._recommender("recommend")
        settings = self._settings()
        k = int(k if k is not None else settings.get("k", 10))
        if k < 1:
            raise BundleError(f"k must be at least 1 (got {k})")
        seen = bool(settings.get("exclude_seen", True) if exclude_seen is None else exclude_seen)
        found = recommender.recommend(user, k, exclude_seen=seen)
        if found.fallback:
            warnings.warn(
                f"user {user!r} is unknown to the model: {found.fallback} recommendations instead",
                SchemaWarning,
                stacklevel=2,
            )
        return self._listing(found)

    def similar_items(self, item: Any, k: int | None = None) -> pd.DataFrame:
        """The ``k`` items most like ``item``: columns item, score and title
        when known.

        Raises:
            BundleError: not a recommendation model, or ``item`` is unknown to it.
        """
        recommender = self._recommender("similar_items")
        k = int(k if k is not None else self._settings().get("k", 10))
        try:
            found = recommender.similar_items(item, k)
        except KeyError:
            raise BundleError(
                f"item {item!r} is unknown to the model (it knows {recommender.n_items:,} items)"
            ) from None
        return self._listing(found)

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
    if schema.task == _RECOMMENDATION:
        return _load_recommender(bundle, schema)
    # unpickle exactly the bytes that were hashed
    pipeline = joblib.load(io.BytesIO(bundle.read(bundle.model_file)))
    graph = None
    if engine != "native":
        graph, reason = open_graph(bundle, schema)
        if graph is None and engine == "onnx":
            raise BundleError(f"{bundle.folder}: cannot predict with ONNX: {reason}")
    return Model(
        pipeline,
        schema,
        bundle.metadata,
        path=bundle.folder,
        graph=graph,
        privacy_key=privacy_key(bundle),
    )


def privacy_key(bundle: Any) -> bytes | None:
    """The key a bundle hashes personal-data columns with (None when it has none)."""
    return bundle.read(PRIVACY_KEY_FILE) if bundle.has(PRIVACY_KEY_FILE) else None


def _load_recommender(bundle: Any, schema: Schema) -> Model:
    """A recommendation bundle: the recommender read from its own numpy files
    (nothing unpickled) and the item table when it holds one."""
    from cairn.bundle._recommender import Recommender

    try:
        recommender = Recommender.from_files(bundle.read)
    except BundleError:
        raise
    except (ValueError, KeyError, OSError) as error:
        raise BundleError(f"{bundle.folder}: unreadable recommender ({error})") from None
    items = None
    if bundle.has(ITEMS_FILE):
        try:
            items = pd.read_parquet(io.BytesIO(bundle.read(ITEMS_FILE)))
        except BundleError:
            raise
        except Exception as error:  # pyarrow raises several types for a damaged file
            raise BundleError(f"{bundle.folder / ITEMS_FILE}: unreadable ({error})") from None
    return Model(recommender, schema, bundle.metadata, path=bundle.folder, items=items)
