"""A finished clustering run folder read back as a :class:`Segmentation`, so
that ``cairn report`` can rebuild its report and card from the folder alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn.evaluation._segmentation import Segmentation
from cairn.evaluation.run_folder import find_run
from cairn.exceptions import BundleError

__all__ = ["is_clustering_run", "load_segmentation"]

_CLUSTER = "__cluster"
_TRUTH = "__ground_truth"


def _metadata(folder: Path) -> dict[str, Any]:
    path = folder / "bundle" / "metadata.json"
    if not path.exists():
        raise BundleError(f"{path} is missing; the run did not finish, re-run 'cairn run'")
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        raise BundleError(f"{path}: unreadable ({error}); re-run 'cairn run'") from None


def is_clustering_run(run: str | Path, *, project_dir: str | Path | None = None) -> bool:
    """Whether the run folder holds a clustering model."""
    folder = find_run(run, project_dir=project_dir)
    return _metadata(folder).get("task") == "clustering"


def load_segmentation(run: str | Path, *, project_dir: str | Path | None = None) -> Segmentation:
    """The segmentation of a clustering run folder: its rows and cluster ids
    (``assignments.parquet``), the prepared matrix (the bundle's own
    preparation of those rows), the leaderboard and the choice record.

    Raises:
        BundleError: the folder is not a finished clustering run, or one of
            its files is missing or unreadable.
    """
    from cairn.bundle import load_bundle

    folder = find_run(run, project_dir=project_dir)
    metadata = _metadata(folder)
    record = metadata.get("clustering")
    if metadata.get("task") != "clustering" or not isinstance(record, dict):
        raise BundleError(f"{folder} is not a clustering run")
    paths = {name: folder / name for name in ("assignments.parquet", "leaderboard.csv")}
    for path in paths.values():
        if not path.exists():
            raise BundleError(f"{path} is missing; the run did not finish, re-run 'cairn run'")
    try:
        rows = pd.read_parquet(paths["assignments.parquet"])
        board = pd.read_csv(paths["leaderboard.csv"])
    except Exception as error:  # pyarrow and pandas raise several types for a damaged file
        raise BundleError(f"{folder}: unreadable run table ({error}); re-run 'cairn run'") from None
    # The run's table marks the chosen row first; the report finds it itself.
    board = board.drop(columns=["chosen", "model"], errors="ignore")
    if "sizes" in board:
        board["sizes"] = [
            json.loads(text) if isinstance(text, str) else text for text in board["sizes"]
        ]
    model = load_bundle(folder / "bundle", engine="native")
    features = rows.drop(columns=[c for c in (_CLUSTER, _TRUTH) if c in rows.columns])
    prepare = model.pipeline[:-1]
    matrix = np.asarray(prepare.transform(model.prepare(features)), dtype=float)
    truth_name = record.get("ground_truth") or ""
    return Segmentation(
        frame=features[[c for c in record["preparation"]["features"] if c in features.columns]],
        labels=rows[_CLUSTER].to_numpy(dtype=int),
        matrix=matrix,
        leaderboard=board,
        metric=str(record.get("ranked_by", "silhouette")),
        chosen={
            "algorithm": record["algorithm"],
            "k": record["k"],
            "stability": record.get("stability"),
            "cluster_stability": record.get("cluster_stability") or [],
            "sizes": record.get("sizes") or [],
        },
        rule=str(record.get("rule", "")),
        preparation=dict(record.get("preparation") or {}),
        indices=dict(record.get("indices") or {}),
        ground_truth=rows[_TRUTH] if _TRUTH in rows.columns else None,
        ground_truth_name=truth_name,
        project=str(metadata.get("name", "segmentation")),
        description=str(metadata.get("description") or ""),
    )
