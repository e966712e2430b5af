"""A segmentation as the clustering report and card read it: plain data, so
that the report needs no clustering code (see
``cairn.models.clustering.to_segmentation`` for building one from a search)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cairn.exceptions import DataError
from cairn.tasks.clustering import STABLE, UNSTABLE

__all__ = ["Segmentation", "stability_band"]


def stability_band(value: float | None) -> str:
    """ "stable" (>= 0.75), "doubtful" (0.6 to 0.75), "unstable" (< 0.6), or
    "not measured"."""
    if value is None or not np.isfinite(value):
        return "not measured"
    if value >= STABLE:
        return "stable"
    return "doubtful" if value >= UNSTABLE else "unstable"


@dataclass
class Segmentation:
    """A fitted segmentation and the record of how it was chosen.

    Attributes:
        frame: the rows' input features, in their original units.
        labels: the cluster id (0..k-1) of each row of ``frame``.
        matrix: the prepared numeric matrix the clusters were found in, one
            row per row of ``frame``.
        leaderboard: every candidate (the columns of
            ``ClusteringResult.leaderboard_frame()``), best metric first.
        metric: the internal index the choice ranked by.
        chosen: ``algorithm``, ``k``, ``stability`` (mean bootstrap Jaccard),
            ``cluster_stability`` (one per cluster id, in id order) and
            ``sizes``.
        rule: in words, why the chosen candidate won.
        preparation: ``features``, ``dropped`` (column -> reason),
            ``log_columns``, ``pca_components``, ``n_dimensions``.
        indices: the chosen clustering's internal indices on every row.
        ground_truth: known groups of the rows, scored only (optional).
        ground_truth_name: the ground truth's column name.
        project: the name shown in titles.
        noun: what one row is ("customers"), used in descriptions.
        description: the intended use, shown in the card.
        versions: software versions for the card (the installed ones when
            empty).
    """

    frame: pd.DataFrame
    labels: np.ndarray
    matrix: np.ndarray
    leaderboard: pd.DataFrame
    metric: str
    chosen: dict[str, Any]
    rule: str = ""
    preparation: dict[str, Any] = field(default_factory=dict)
    indices: dict[str, float] = field(default_factory=dict)
    ground_truth: pd.Series | None = None
    ground_truth_name: str = ""
    project: str = "segmentation"
    noun: str = "rows"
    description: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    # the schema's metadata (its privacy record) and the quality findings
    schema_metadata: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels).reshape(-1)
        self.matrix = np.asarray(self.matrix, dtype=float)
        n = len(self.frame)
        if len(self.labels) != n:
            raise DataError(
                f"labels has {len(self.labels):,} cluster ids but the frame has {n:,} rows: "
                "give one cluster id per row of the frame, in the same order"
            )
        if n < 2:
            raise DataError(f"a segmentation needs at least 2 rows, got {n}")
        if not np.issubdtype(self.labels.dtype, np.integer) or self.labels.min() < 0:
            raise DataError(
                "cluster ids must be whole numbers >= 0 (assign noise rows to a cluster "
                f"first); got values such as {self.labels[:3].tolist()}"
            )
        if self.matrix.ndim != 2 or len(self.matrix) != n:
            raise DataError(
                f"matrix has shape {self.matrix.shape} but the frame has {n:,} rows: give the "
                "prepared matrix the clusters were found in, one row per row of the frame"
            )
        if not np.isfinite(self.matrix).all():
            raise DataError(
                "matrix holds missing or infinite values: give the prepared matrix the "
                "clusters were found in (imputed and scaled), not the raw features"
            )
        missing = [key for key in ("algorithm", "k") if key not in self.chosen]
        if missing:
            raise DataError(
                f"chosen lacks {', '.join(missing)}: give the chosen candidate's record"
            )
        per_cluster = self.chosen.get("cluster_stability") or []
        if per_cluster and len(per_cluster) != self.n_clusters:
            raise DataError(
                f"chosen.cluster_stability has {len(per_cluster)} values but the labels hold "
                f"{self.n_clusters} clusters: give one stability per cluster id, in id order"
            )
        if self.ground_truth is not None:
            if len(self.ground_truth) != n:
                raise DataError(
                    f"ground_truth has {len(self.ground_truth):,} values but the frame has "
                    f"{n:,} rows: give one known group per row, in the same order"
                )
            self.ground_truth = pd.Series(
                np.asarray(self.ground_truth),
                name=self.ground_truth_name or self.ground_truth.name or "ground truth",
            )
            self.ground_truth_name = str(self.ground_truth.name)

    @property
    def n_clusters(self) -> int:
        return int(self.labels.max()) + 1

    @property
    def sizes(self) -> np.ndarray:
        """Rows per cluster id."""
        return np.bincount(self.labels, minlength=self.n_clusters)

    def cluster_stability(self) -> list[float | None]:
        """Each cluster's bootstrap stability (None where not measured, e.g.
        a cluster the resamples never held)."""
        values = list(self.chosen.get("cluster_stability") or [])
        if not values:
            return [None] * self.n_clusters
        return [None if v is None or not np.isfinite(v) else float(v) for v in values]

    @property
    def stability(self) -> float | None:
        value = self.chosen.get("stability")
        return None if value is None else float(value)

    @property
    def weakest(self) -> float | None:
        known = [v for v in self.cluster_stability() if v is not None]
        return min(known) if known else None

    def chosen_row(self) -> int | None:
        """The chosen candidate's position in the leaderboard."""
        board = self.leaderboard
        if board.empty or "algorithm" not in board or "k" not in board:
            return None
        match = (board["algorithm"] == self.chosen["algorithm"]) & (
            board["k"] == int(self.chosen["k"])
        )
        stability = self.stability
        if stability is not None and "stability" in board:
            close = (board["stability"] - stability).abs() < 5e-3
            if (match & close).any():
                match &= close
        positions = np.flatnonzero(match.to_numpy())
        return int(positions[0]) if len(positions) else None
