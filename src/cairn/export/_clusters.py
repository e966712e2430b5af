"""The serving graph of a clustering pipeline.

The preparation (:mod:`cairn.models.clustering`) is a log scale on skewed
columns (``log1p`` after a clip at 0), the schema's column encoding, a
choice of columns and an optional PCA; each is a few plain operators. Every
algorithm then labels a row as "the nearest of a set of centres, then a
look-up": KMeans its cluster centres, Birch its subcluster centres (through
the subcluster labels), Agglomerative and HDBSCAN the training centroids;
GaussianMixture takes the component with the highest weighted log
density. The look-up maps the algorithm's own label to cairn's cluster id.

The output is the clustering's raw output (see
:func:`cairn.tasks.clustering.cluster_output`): the id, the distance to each
training centroid and the membership probabilities (NaN but for a mixture).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from cairn.export._common import UnsupportedError
from cairn.export._graph import Graph
from cairn.export._inputs import column_encoder

if TYPE_CHECKING:
    from cairn.export._builder import Builder

__all__ = ["cluster_graph", "log_scaled"]


def cluster_graph(builder: Builder, pipeline: Any) -> str:
    """The raw output (rows, 1 + 2k) of a fitted clustering pipeline."""
    from cairn.models.clustering import ClusterModel

    prep, model = pipeline.named_steps["prep"], pipeline.named_steps["model"]
    if not isinstance(model, ClusterModel):
        raise UnsupportedError(f"clustering step {type(model).__name__}")
    g = builder.g
    matrix = _prepared(builder, prep)
    distances = _distances(g, matrix, np.asarray(model.centroids_, dtype=np.float64))
    if model.algorithm == "gaussian_mixture":
        scores = _mixture_scores(g, model.estimator, matrix)
        best = g.op("ArgMax", [scores], axis=1, keepdims=0)
        ids = g.op("Gather", [g.const(model.component_ids().astype(np.int64)), best], axis=0)
        probabilities = _mixture_probabilities(g, model, scores)
    else:
        ids = _cluster_ids(g, model, matrix)
        probabilities = g.op("Mul", [distances, g.const(np.asarray(math.nan))])
    ids = g.to_double(g.op("Unsqueeze", [ids, g.const(np.asarray([1], dtype=np.int64))]))
    return g.concat([ids, distances, probabilities])


def _prepared(builder: Builder, prep: Any) -> str:
    """The matrix the clusters live in: log scale, encoding, kept columns, PCA."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline

    from cairn.models.clustering import KeepColumns, LogColumns

    if not isinstance(prep, Pipeline) or "encode" not in prep.named_steps:
        raise UnsupportedError(f"clustering preparation {type(prep).__name__}")
    encode = prep.named_steps["encode"]
    log = encode.named_steps.get("log")
    if not isinstance(log, LogColumns):
        raise UnsupportedError("clustering preparation without its log step")
    builder.log_columns = tuple(log.columns)
    try:
        tensor = builder.features(column_encoder(prep))
    finally:
        builder.log_columns = ()
    g = builder.g
    for name, step in prep.steps[1:]:
        if isinstance(step, KeepColumns):
            tensor = g.cols(tensor, [int(i) for i in step.columns])
        elif isinstance(step, PCA):
            if step.whiten:
                raise UnsupportedError("PCA with whitening")
            components = np.asarray(step.components_, dtype=np.float64).T
            # projected, then centred, in scikit-learn's order
            projected = g.op("MatMul", [tensor, g.const(components)])
            offset = np.asarray(step.mean_, dtype=np.float64)[None, :] @ components
            tensor = g.op("Sub", [projected, g.const(offset)])
        else:
            raise UnsupportedError(f"clustering preparation step {name!r}")
    return tensor


def log_scaled(g: Graph, tensor: str) -> str:
    """``log1p`` of values clipped at 0 from below; NaN stays NaN."""
    zero = g.const(np.asarray(0.0))
    clipped = g.op("Where", [g.op("Less", [tensor, zero]), zero, tensor])
    return g.op("Log", [g.op("Add", [clipped, g.const(np.asarray(1.0))])])


def _squared_gaps(g: Graph, matrix: str, centres: np.ndarray) -> str:
    """(rows, centres) squared Euclidean distances, as ``nearest`` and
    scikit-learn's argmin compute them: |x|² - 2 x·c + |c|²."""
    norms = g.op(
        "ReduceSum",
        [g.op("Mul", [matrix, matrix]), g.const(np.asarray([1], dtype=np.int64))],
        keepdims=1,
    )
    cross = g.op("MatMul", [matrix, g.const(-2.0 * centres.T)])
    return g.op("Add", [g.op("Add", [norms, cross]), g.const((centres**2).sum(axis=1)[None, :])])


def _nearest_then_lookup(g: Graph, matrix: str, centres: np.ndarray, table: np.ndarray) -> str:
    nearest = g.op("ArgMin", [_squared_gaps(g, matrix, centres)], axis=1, keepdims=0)
    return g.op("Gather", [g.const(np.asarray(table, dtype=np.int64)), nearest], axis=0)


def _cluster_ids(g: Graph, model: Any, matrix: str) -> str:
    """(rows,) int64 cluster ids, as :meth:`ClusterModel.predict` gives them
    (a mixture's come from its scores, see :func:`cluster_graph`)."""
    estimator = model.estimator
    if model.algorithm == "kmeans":
        centres = np.asarray(estimator.cluster_centers_, dtype=np.float64)
        return _nearest_then_lookup(g, matrix, centres, model.component_ids())
    if model.algorithm == "birch":
        centres = np.asarray(estimator.subcluster_centers_, dtype=np.float64)
        table = model.component_ids()[np.asarray(estimator.subcluster_labels_, dtype=int)]
        return _nearest_then_lookup(g, matrix, centres, table)
    if model.algorithm in ("agglomerative", "hdbscan"):
        centroids = np.asarray(model.centroids_, dtype=np.float64)
        return _nearest_then_lookup(g, matrix, centroids, np.asarray(model.ids))
    raise UnsupportedError(f"clustering algorithm {model.algorithm!r}")


def _distances(g: Graph, matrix: str, centroids: np.ndarray) -> str:
    """(rows, k) Euclidean distances to the training centroids, from the differences."""
    rows = g.op("Unsqueeze", [matrix, g.const(np.asarray([1], dtype=np.int64))])
    gaps = g.op("Sub", [rows, g.const(centroids[None, :, :])])
    squared = g.op(
        "ReduceSum",
        [g.op("Mul", [gaps, gaps]), g.const(np.asarray([2], dtype=np.int64))],
        keepdims=0,
    )
    return g.op("Sqrt", [squared])


def _mixture_scores(g: Graph, mixture: Any, matrix: str) -> str:
    """(rows, components) weighted log densities of a full-covariance mixture."""
    if mixture.covariance_type != "full":
        raise UnsupportedError(f"a mixture with {mixture.covariance_type!r} covariances")
    means = np.asarray(mixture.means_, dtype=np.float64)
    cholesky = np.asarray(mixture.precisions_cholesky_, dtype=np.float64)
    n_components, n_features = means.shape
    # every component's whitening side by side: (features, components * features)
    whiten = np.concatenate(list(cholesky), axis=1)
    shift = np.concatenate([mean @ chol for mean, chol in zip(means, cholesky, strict=True)])
    projected = g.op("Sub", [g.op("MatMul", [matrix, g.const(whiten)]), g.const(shift[None, :])])
    shaped = g.op(
        "Reshape",
        [projected, g.const(np.asarray([-1, n_components, n_features], dtype=np.int64))],
    )
    squares = g.op(
        "ReduceSum",
        [g.op("Mul", [shaped, shaped]), g.const(np.asarray([2], dtype=np.int64))],
        keepdims=0,
    )
    log_det = np.log(np.diagonal(cholesky, axis1=1, axis2=2)).sum(axis=1)
    constant = (
        -0.5 * n_features * np.log(2 * np.pi) + log_det + np.log(np.asarray(mixture.weights_))
    )
    return g.op("Add", [g.op("Mul", [squares, g.const(np.asarray(-0.5))]), g.const(constant)])


def _mixture_probabilities(g: Graph, model: Any, scores: str) -> str:
    """(rows, k) membership probabilities: each cluster's components'
    posteriors, in the order of the cluster ids."""
    posteriors = g.op("Softmax", [scores], axis=1)
    return g.op("MatMul", [posteriors, g.const(model.component_owner())])
