"""Cluster ids kept across retrainings: a retrained clustering's clusters are
matched to the previous model's, so that a segment keeps its id.

Clusters are matched one to one by the Hungarian algorithm on the distances
between centroids, both measured in the same prepared space (the new
model's: the old clusters' centroids there are the means of the rows the old
model put in each). When the new model has more clusters, the unmatched ones
get fresh ids after the old ones; when it has fewer, some old ids go unused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from cairn.exceptions import DataError
from cairn.models.clustering._model import ClusterModel

__all__ = ["ClusterMatch", "align_clusters", "match_clusters"]


def match_clusters(
    old_centroids: np.ndarray,
    new_centroids: np.ndarray,
    *,
    old_ids: Sequence[int] | None = None,
    new_ids: Sequence[int] | None = None,
    reserved: Sequence[int] = (),
) -> dict[int, int]:
    """The old id each new cluster takes: nearest centroids matched one to one.

    Args:
        old_centroids: one row per old cluster, in the same space as
            ``new_centroids``.
        new_centroids: one row per new cluster.
        old_ids: the old clusters' ids (row order); 0..k-1 when omitted.
        new_ids: the new clusters' current ids (row order); 0..k-1 when omitted.
        reserved: further ids the old model has (e.g. clusters no row fell
            in), never given to an unmatched new cluster.

    Returns:
        ``{new id: id it takes}``: matched clusters take their old cluster's
        id, unmatched ones (the new model has more clusters) fresh ids after
        the largest old id, in their current id order.

    Raises:
        DataError: the centroids have different widths, or ids do not fit them.
    """
    old = np.atleast_2d(np.asarray(old_centroids, dtype=float))
    new = np.atleast_2d(np.asarray(new_centroids, dtype=float))
    if old.shape[1] != new.shape[1]:
        raise DataError(
            f"cannot match clusters: the old centroids have {old.shape[1]} dimensions, the new "
            f"{new.shape[1]}; both must be measured in the same prepared space"
        )
    old_list = list(range(len(old))) if old_ids is None else [int(i) for i in old_ids]
    new_list = list(range(len(new))) if new_ids is None else [int(i) for i in new_ids]
    if len(old_list) != len(old) or len(new_list) != len(new):
        raise DataError("cannot match clusters: one id per centroid row is needed")
    distances = np.sqrt(((new[:, None, :] - old[None, :, :]) ** 2).sum(axis=2))
    rows, columns = linear_sum_assignment(distances)
    mapping = {new_list[r]: old_list[c] for r, c in zip(rows, columns, strict=True)}
    fresh = max([*old_list, *reserved], default=-1) + 1
    for new_id in sorted(set(new_list) - set(mapping)):
        mapping[new_id] = fresh
        fresh += 1
    return mapping


@dataclass(frozen=True)
class ClusterMatch:
    """How a retrained clustering's ids were matched to the previous model's.

    Attributes:
        mapping: ``{id the new model gave: id it has now}``.
        shares: per cluster id after matching, its share of the rows under
            the old model and under the new one (0 where a model has no
            such cluster).
        agreement: share of the rows both models put in the same cluster.
        new_ids: ids the old model did not have.
        dropped_ids: old ids the new model no longer has.
    """

    mapping: dict[int, int]
    shares: list[dict[str, float | int]]
    agreement: float
    new_ids: list[int]
    dropped_ids: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mapping": {str(k): v for k, v in self.mapping.items()},
            "shares": self.shares,
            "agreement": self.agreement,
            "new_ids": self.new_ids,
            "dropped_ids": self.dropped_ids,
        }


def align_clusters(
    pipeline: Any, frame: pd.DataFrame, old_ids: np.ndarray, *, reserved: Sequence[int] = ()
) -> ClusterMatch:
    """Renumber a fitted clustering pipeline (prep + :class:`ClusterModel`)
    in place so that its clusters take the ids of the previous model's.

    Args:
        pipeline: the new pipeline; its last step is relabelled.
        frame: rows both models have labelled (e.g. the new training rows).
        old_ids: the previous model's cluster id of each row of ``frame``.
        reserved: every id the previous model has, so that a new cluster
            never takes the id of one of its clusters that no row fell in.

    Raises:
        DataError: ``old_ids`` does not have one id per row, or the pipeline
            does not end in a :class:`ClusterModel`.
    """
    model = pipeline[-1]
    if not isinstance(model, ClusterModel):
        raise DataError(
            f"only a clustering can have its ids matched; this pipeline ends in "
            f"{type(model).__name__}"
        )
    old_ids = np.asarray(old_ids).reshape(-1).astype(int)
    if len(old_ids) != len(frame):
        raise DataError(
            f"matching clusters needs the old model's id of each of the {len(frame)} rows, "
            f"got {len(old_ids)}"
        )
    matrix = np.asarray(pipeline[:-1].transform(frame), dtype=float)
    known = np.unique(old_ids)
    old_centroids = np.vstack([matrix[old_ids == i].mean(axis=0) for i in known])
    before = model.predict(matrix)
    mapping = match_clusters(
        old_centroids,
        model.centroids_,
        old_ids=known.tolist(),
        new_ids=model.ids.tolist(),
        reserved=reserved,
    )
    model.relabel(mapping)
    after = np.asarray([mapping[int(i)] for i in before], dtype=int)
    every = sorted(set(known.tolist()) | set(mapping.values()))
    n = max(len(frame), 1)
    shares: list[dict[str, float | int]] = [
        {
            "cluster": cluster,
            "old_share": float((old_ids == cluster).sum() / n),
            "new_share": float((after == cluster).sum() / n),
        }
        for cluster in every
    ]
    return ClusterMatch(
        mapping=mapping,
        shares=shares,
        agreement=float((after == old_ids).mean()) if len(frame) else 0.0,
        new_ids=sorted(set(mapping.values()) - set(known.tolist())),
        dropped_ids=sorted(set(known.tolist()) - set(mapping.values())),
    )
