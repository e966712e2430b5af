"""The reference profile: a compact summary of the training data and of the
model's outputs, stored in the bundle so that drift is computed without the
training data.

Each model input and output gets a column profile (see
:mod:`cairn.monitoring.profiles`). The profile also stores how much each
feature moves the model's output (``importance``: prediction sensitivity to
shuffling the feature, see :mod:`cairn.monitoring.sensitivity`), used to
weight the dataset-level drift verdict.

For a clustering model the profile also keeps the training rows' count per
cluster id and their silhouette in the model's prepared matrix
(``clusters``, a :class:`~cairn.monitoring.profiles.ClusterProfile`), the
baseline of the cluster-share and cluster-quality checks.

Profiles are JSON (``reference.json`` in the bundle), hashed like the model
file, so a modified profile is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn._io import atomic_write_text
from cairn.data.schema import Role, Schema, normalize_missing
from cairn.exceptions import BundleError
from cairn.monitoring.profiles import (
    DEFAULT_BINS,
    DEFAULT_MAX_CATEGORIES,
    CategoricalProfile,
    ClusterProfile,
    ColumnProfile,
    NumericProfile,
    UntestedProfile,
    cluster_profile,
    numeric_values,
    profile_from_dict,
)
from cairn.tasks import Output, get_task

__all__ = [
    "REFERENCE_FILE",
    "ReferenceProfile",
    "build_reference",
    "load_reference",
    "output_frame",
]

REFERENCE_FILE = "reference.json"
FORMAT = "cairn-reference"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ReferenceProfile:
    """What drift is measured against: the training features and the model's
    outputs, summarised.

    Attributes:
        features: one profile per model input column, in schema order.
        outputs: profiles of the model's outputs: ``prediction`` (label or
            value) and, for classification, ``proba_<class>``.
        importance: weight per feature (sums to 1) for the drift share.
        importance_method: how the weights were obtained.
        n_rows: training rows profiled.
        task: the model's task.
        clusters: a clustering's training cluster shares and silhouette.
    """

    features: tuple[ColumnProfile, ...]
    outputs: tuple[ColumnProfile, ...] = ()
    importance: dict[str, float] = field(default_factory=dict)
    importance_method: str = "equal weights"
    n_rows: int = 0
    task: str | None = None
    created_at: str = ""
    bins: int = DEFAULT_BINS
    clusters: ClusterProfile | None = None

    def feature(self, name: str) -> ColumnProfile:
        for profile in self.features:
            if profile.name == name:
                return profile
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [profile.name for profile in self.features]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "created_at": self.created_at,
            "task": self.task,
            "n_rows": self.n_rows,
            "bins": self.bins,
            "importance_method": self.importance_method,
            "importance": self.importance,
            "features": [p.to_dict() for p in self.features],
            "outputs": [p.to_dict() for p in self.outputs],
            "clusters": self.clusters.to_dict() if self.clusters else None,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        if data.get("format") != FORMAT:
            raise ValueError("not a cairn reference profile")
        if int(data.get("version", 0)) > FORMAT_VERSION:
            raise ValueError(
                f"reference profile version {data.get('version')} is newer than this cairn "
                f"reads ({FORMAT_VERSION}); upgrade cairn"
            )
        return cls(
            features=tuple(profile_from_dict(p) for p in data["features"]),
            outputs=tuple(profile_from_dict(p) for p in data.get("outputs", [])),
            importance={str(k): float(v) for k, v in data.get("importance", {}).items()},
            importance_method=str(data.get("importance_method", "equal weights")),
            n_rows=int(data.get("n_rows", 0)),
            task=data.get("task"),
            created_at=str(data.get("created_at", "")),
            bins=int(data.get("bins", DEFAULT_BINS)),
            clusters=ClusterProfile.from_dict(data["clusters"]) if data.get("clusters") else None,
        )

    @classmethod
    def from_json(cls, text: str) -> ReferenceProfile:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        """Write the profile as JSON, atomically."""
        return atomic_write_text(path, self.to_json())


def load_reference(bundle: str | Path) -> ReferenceProfile:
    """The reference profile of a bundle folder, after checking its sha256
    against the one recorded in the bundle's metadata; or a standalone
    profile file (JSON, e.g. one saved with :meth:`ReferenceProfile.save`).

    Raises:
        BundleError: the bundle has no profile (packaged by an older cairn),
            the file was modified, or it cannot be read.
    """
    from cairn.bundle import read_metadata, read_verified

    path = Path(bundle)
    if path.is_dir():
        metadata = read_metadata(path)
        if REFERENCE_FILE not in (metadata.get("files") or {}):
            raise BundleError(
                f"{path}: the bundle has no reference profile ({REFERENCE_FILE}); it was "
                "packaged by an older cairn. Re-run 'cairn run' to package it with one"
            )
        text = read_verified(path, REFERENCE_FILE, metadata).decode("utf-8")
        where = path / REFERENCE_FILE
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise BundleError(f"{path}: cannot read the reference profile ({error})") from None
        where = path
    try:
        return ReferenceProfile.from_json(text)
    except (ValueError, KeyError, TypeError) as error:
        raise BundleError(f"{where}: unreadable reference profile ({error})") from None


# ------------------------------------------------------------------- building


def _profile_column(
    name: str, series: pd.Series, role: Role, *, bins: int, max_categories: int
) -> ColumnProfile:
    if role == Role.NUMERIC:
        values, _ = numeric_values(series)
        return NumericProfile.build(name, values, bins=bins, role=str(role))
    if role in (Role.CATEGORICAL, Role.BOOLEAN):
        return CategoricalProfile.build(name, series, max_categories=max_categories, role=str(role))
    missing = int(normalize_missing(series).isna().sum())
    return UntestedProfile(name, len(series) - missing, missing, str(role))


def output_frame(
    outputs: np.ndarray, *, task: str | None, classes: Sequence[str] | None
) -> pd.DataFrame:
    """Model outputs as the columns profiles and the prediction log use:
    ``prediction`` (class label, value or cluster id) and ``proba_<class>``
    per class."""
    array = np.asarray(outputs, dtype=float)
    if _gives_labels(task):
        return pd.DataFrame({"prediction": array.reshape(-1).astype(np.int64)})
    if _has_classes(task) and classes is not None and array.ndim == 2:
        labels = np.asarray([str(c) for c in classes], dtype=object)
        frame = pd.DataFrame({"prediction": labels[array.argmax(axis=1)]})
        for index, label in enumerate(labels):
            frame[f"proba_{label}"] = array[:, index]
        frame["prediction"] = frame["prediction"].astype("str")
        return frame
    return pd.DataFrame({"prediction": array.reshape(-1)})


def _has_classes(task: str | None) -> bool:
    return task is not None and get_task(task).has_classes


def _gives_labels(task: str | None) -> bool:
    """The model answers one group id per row (a clustering)."""
    return task is not None and get_task(task).output == Output.LABELS


def _output_profiles(
    outputs: pd.DataFrame, task: str | None, *, bins: int
) -> tuple[ColumnProfile, ...]:
    """Profiles of the outputs the task says monitoring watches."""
    # Without a task (older bundles), every output there is is watched.
    watched = get_task(task).monitored_outputs if task else ("prediction", "probability")
    profiles: list[ColumnProfile] = []
    probabilities = [str(c) for c in outputs.columns if str(c).startswith("proba_")]
    for column in outputs.columns:
        name = str(column)
        kind = "probability" if name in probabilities else name
        if kind not in watched:
            continue
        if len(probabilities) == 2 and name == probabilities[0]:
            continue  # binary: one class's probability is the complement of the other's
        if name == "prediction" and (_has_classes(task) or _gives_labels(task)):
            profiles.append(CategoricalProfile.build(name, outputs[column], role="prediction"))
        else:
            values, _ = numeric_values(outputs[column])
            profiles.append(NumericProfile.build(name, values, bins=bins, role="prediction"))
    return tuple(profiles)


def build_reference(
    frame: pd.DataFrame,
    schema: Schema,
    *,
    outputs: pd.DataFrame | None = None,
    importance: Mapping[str, float] | None = None,
    importance_method: str = "",
    bins: int = DEFAULT_BINS,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    cluster_ids: np.ndarray | None = None,
    cluster_matrix: np.ndarray | None = None,
    known_clusters: Sequence[int] | None = None,
    seed: int = 0,
) -> ReferenceProfile:
    """Profile the training rows (and the model's outputs) for drift checks.

    Args:
        frame: the training features, as the model sees them.
        schema: the model's input schema; each feature is profiled by role.
        outputs: model outputs in the shape of :func:`output_frame`; for a
            clustering, made from ``cluster_ids`` when omitted.
        importance: weight per feature (normalised here); equal when omitted.
        bins: fine bins per numeric feature.
        max_categories: categories kept per categorical feature.
        cluster_ids: a clustering's id for each training row: the cluster
            shares monitoring compares with.
        cluster_matrix: the training rows in the clustering's prepared space
            (``pipeline[:-1].transform(frame)``), for the silhouette.
        known_clusters: every id the clustering can give (the ids in
            ``cluster_ids`` when omitted).
        seed: random state of the silhouette's sample.
    """
    features: list[ColumnProfile] = []
    for column in schema.columns:
        if not column.is_feature or column.name not in frame.columns:
            continue
        features.append(
            _profile_column(
                column.name,
                frame[column.name],
                column.role,
                bins=bins,
                max_categories=max_categories,
            )
        )
    tested = [p.name for p in features if p.kind != "untested"]
    weights = {name: float((importance or {}).get(name, 0.0)) for name in tested}
    total = sum(max(w, 0.0) for w in weights.values())
    if importance and total > 0:
        weights = {name: max(w, 0.0) / total for name, w in weights.items()}
        method = importance_method or "given"
    else:
        weights = {name: 1.0 / len(tested) for name in tested} if tested else {}
        method = "equal weights"
    clusters = None
    if cluster_ids is not None:
        clusters = cluster_profile(cluster_ids, cluster_matrix, seed=seed, known=known_clusters)
        if outputs is None:
            outputs = output_frame(np.asarray(cluster_ids), task=schema.task, classes=None)
    return ReferenceProfile(
        features=tuple(features),
        outputs=_output_profiles(outputs, schema.task, bins=bins) if outputs is not None else (),
        importance=weights,
        importance_method=method,
        n_rows=len(frame),
        task=schema.task,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        bins=bins,
        clusters=clusters,
    )
