"""The one metric dispatch: every task metric, from encoded labels and outputs.

Classification labels are integer codes ``0..k-1`` (the order of
``Schema.classes``); probabilities have one column per class. Binary metrics
(precision, recall, F1) treat code 1 as the positive class.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm

__all__ = [
    "CLUSTER_INDICES",
    "classification_metrics",
    "cluster_score",
    "clustering_metrics",
    "mape",
    "regression_metrics",
    "score",
]

# Indices of a clustering measured on the features alone, and those that
# compare the clusters with a ground truth.
CLUSTER_INDICES: tuple[str, ...] = ("silhouette", "calinski_harabasz", "davies_bouldin")
_AGREEMENT_INDICES: tuple[str, ...] = ("adjusted_rand", "normalized_mutual_info")
# Silhouette costs O(n²): above this many rows it is measured on a seeded sample.
SILHOUETTE_SAMPLE = 3000


def _clip_proba(proba: np.ndarray) -> np.ndarray:
    proba = np.clip(np.asarray(proba, dtype=float), 1e-15, 1.0)
    return proba / proba.sum(axis=1, keepdims=True)


def mape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute percentage error, ignoring rows whose true value is 0."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    mask = y_true != 0
    if not mask.any():
        return float("nan")
    return float(np.mean(np.abs((y_true[mask] - y_pred[mask]) / y_true[mask])))


def score(
    metric: str,
    y_true: np.ndarray,
    *,
    y_pred: np.ndarray | None = None,
    proba: np.ndarray | None = None,
) -> float:
    """One metric. Classification metrics that need labels derive them from
    ``proba`` (argmax) when ``y_pred`` is not given."""
    y_true = np.asarray(y_true)
    if metric in ("rmse", "mse", "mae", "r2", "mape"):
        assert y_pred is not None
        if metric == "rmse":
            return float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
        if metric == "mse":
            return float(skm.mean_squared_error(y_true, y_pred))
        if metric == "mae":
            return float(skm.mean_absolute_error(y_true, y_pred))
        if metric == "r2":
            return float(skm.r2_score(y_true, y_pred))
        return mape(y_true, y_pred)
    if proba is not None:
        proba = _clip_proba(proba)
        n_classes = proba.shape[1]
        if y_pred is None:
            y_pred = proba.argmax(axis=1)
        labels = np.arange(n_classes)
        if metric == "roc_auc":
            if len(np.unique(y_true)) < 2:
                return float("nan")
            if n_classes == 2:
                return float(skm.roc_auc_score(y_true, proba[:, 1]))
            present = np.unique(y_true)
            if len(present) < n_classes:
                # A rare class absent from these rows has no ROC curve: the
                # macro average runs over the classes present.
                subset = proba[:, present] / proba[:, present].sum(axis=1, keepdims=True)
                if len(present) == 2:
                    return float(skm.roc_auc_score(y_true == present[1], subset[:, 1]))
                return float(
                    skm.roc_auc_score(
                        y_true, subset, multi_class="ovr", average="macro", labels=present
                    )
                )
            return float(skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro"))
        if metric == "log_loss":
            return float(skm.log_loss(y_true, proba, labels=labels))
    assert y_pred is not None
    binary = len(np.unique(np.concatenate([y_true, y_pred]))) <= 2 and (
        proba is None or proba.shape[1] == 2
    )
    average = "binary" if binary else "macro"
    if metric == "accuracy":
        return float(skm.accuracy_score(y_true, y_pred))
    if metric == "balanced_accuracy":
        with warnings.catch_warnings():
            # Predicted classes absent from y_true (rare classes in a small
            # fold) are left out of the average; sklearn warns each time.
            warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
            return float(skm.balanced_accuracy_score(y_true, y_pred))
    if metric == "f1":
        return float(skm.f1_score(y_true, y_pred, average=average, zero_division=0))
    if metric == "f1_macro":
        return float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
    if metric == "f1_weighted":
        return float(skm.f1_score(y_true, y_pred, average="weighted", zero_division=0))
    if metric == "precision":
        return float(skm.precision_score(y_true, y_pred, average=average, zero_division=0))
    if metric == "recall":
        return float(skm.recall_score(y_true, y_pred, average=average, zero_division=0))
    raise ValueError(f"unknown metric {metric!r}")


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """The full classification set: accuracy, balanced accuracy, precision,
    recall, F1, ROC-AUC and log loss; macro and weighted variants when there
    are more than two classes."""
    y_true = np.asarray(y_true)
    proba = _clip_proba(proba)
    y_pred = proba.argmax(axis=1)
    out = {
        name: score(name, y_true, y_pred=y_pred, proba=proba)
        for name in ("accuracy", "balanced_accuracy", "roc_auc", "log_loss")
    }
    if proba.shape[1] == 2:
        for name in ("precision", "recall", "f1"):
            out[name] = score(name, y_true, y_pred=y_pred, proba=proba)
    else:
        for average in ("macro", "weighted"):
            out[f"precision_{average}"] = float(
                skm.precision_score(y_true, y_pred, average=average, zero_division=0)
            )
            out[f"recall_{average}"] = float(
                skm.recall_score(y_true, y_pred, average=average, zero_division=0)
            )
            out[f"f1_{average}"] = float(
                skm.f1_score(y_true, y_pred, average=average, zero_division=0)
            )
        out["f1"] = out["f1_macro"]
        out["precision"] = out["precision_macro"]
        out["recall"] = out["recall_macro"]
    return out


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MSE, RMSE, MAE, R² and MAPE."""
    return {
        name: score(name, y_true, y_pred=y_pred) for name in ("mse", "rmse", "mae", "r2", "mape")
    }


def cluster_score(
    metric: str,
    labels: np.ndarray,
    *,
    features: np.ndarray | None = None,
    y_true: np.ndarray | None = None,
    seed: int = 0,
) -> float:
    """One clustering index of ``labels`` (one cluster id per row).

    The internal indices (silhouette, Calinski-Harabasz, Davies-Bouldin) read
    the ``features`` the clusters were found in; silhouette is measured on a
    seeded sample of :data:`SILHOUETTE_SAMPLE` rows above that size. The
    agreement indices (adjusted Rand, normalized mutual information) compare
    with the ground truth ``y_true``. An internal index of fewer than two
    clusters (or as many clusters as rows) is undefined: NaN.
    """
    labels = np.asarray(labels).reshape(-1)
    if metric in _AGREEMENT_INDICES:
        if y_true is None:
            raise ValueError(f"{metric} compares with a ground truth; none was given")
        truth = np.asarray(y_true).reshape(-1)
        if metric == "adjusted_rand":
            return float(skm.adjusted_rand_score(truth, labels))
        return float(skm.normalized_mutual_info_score(truth, labels))
    if metric not in CLUSTER_INDICES:
        raise ValueError(f"unknown metric {metric!r}")
    if features is None:
        raise ValueError(f"{metric} is measured on the features; none were given")
    n_clusters = len(np.unique(labels))
    if n_clusters < 2 or n_clusters >= len(labels):
        return float("nan")
    if metric == "silhouette":
        sample = SILHOUETTE_SAMPLE if len(labels) > SILHOUETTE_SAMPLE else None
        return float(skm.silhouette_score(features, labels, sample_size=sample, random_state=seed))
    if metric == "calinski_harabasz":
        return float(skm.calinski_harabasz_score(features, labels))
    return float(skm.davies_bouldin_score(features, labels))


def clustering_metrics(
    labels: np.ndarray,
    *,
    features: np.ndarray | None = None,
    y_true: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Every internal index when ``features`` are given, and the agreement
    indices when a ground truth ``y_true`` is."""
    names = (*(CLUSTER_INDICES if features is not None else ()),) + (
        _AGREEMENT_INDICES if y_true is not None else ()
    )
    return {
        name: cluster_score(name, labels, features=features, y_true=y_true, seed=seed)
        for name in names
    }
