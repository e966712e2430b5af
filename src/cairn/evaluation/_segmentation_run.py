"""A clustering run folder read back as a :class:`Segmentation`, so that its
report and card can be rebuilt (``cairn report``) from what the run wrote:
the bundle's metadata and pipeline, ``assignments.parquet`` and
``leaderboard.csv``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn.evaluation._segmentation import Segmentation
from cairn.evaluation.run_folder import find_run
from cairn.exceptions import BundleError

__all__ = ["ASSIGNMENTS_FILE", "CLUSTER_COLUMN", "TRUTH_COLUMN", "load_segmentation", "run_task"]

ASSIGNMENTS_FILE = "assignments.parquet"
CLUSTER_COLUMN = "__cluster"
TRUTH_COLUMN = "__ground_truth"
# Columns of the run's leaderboard.csv that repeat others.
_BOOK_KEEPING = ("chosen", "model")


def run_task(run: str | Path, *, project_dir: str | Path | None = None) -> str:
    """The task of a run folder's model ("clustering", "classification", ...)."""
    from cairn.bundle import read_metadata

    folder = find_run(run, project_dir=project_dir)
    return str(read_metadata(folder / "bundle").get("task") or "")


def _sizes(value: Any) -> Any:
    """Cluster sizes as a list again after the CSV round trip."""
    if isinstance(value, str) and value.startswith("["):
        try:
            return [int(v) for v in json.loads(value)]
        except (ValueError, TypeError):
            return value
    return value


def _leaderboard(folder: Path) -> pd.DataFrame:
    path = folder / "leaderboard.csv"
    if not path.exists():
        return pd.DataFrame()
    board = pd.read_csv(path)
    board = board.drop(columns=[c for c in _BOOK_KEEPING if c in board and "algorithm" in board])
    if "sizes" in board:
        board["sizes"] = board["sizes"].map(_sizes)
    return board


def load_segmentation(run: str | Path, *, project_dir: str | Path | None = None) -> Segmentation:
    """Read a clustering run folder (see :func:`find_run` for ``run``).

    The clustering matrix is rebuilt by the bundle's own preparation step
    from the assigned rows, so the bundle is loaded (and its signature
    checked).

    Raises:
        BundleError: not a clustering run, or a file it needs is missing or
            unreadable.
    """
    from cairn.bundle import load_bundle, read_metadata

    folder = find_run(run, project_dir=project_dir)
    metadata = read_metadata(folder / "bundle")
    if metadata.get("task") != "clustering":
        raise BundleError(
            f"{folder}: a {metadata.get('task') or 'supervised'} run, not a clustering; its "
            "reports come from analyse_run and write_evaluation_report"
        )
    record = metadata.get("clustering") or {}
    missing = [key for key in ("algorithm", "k", "preparation") if key not in record]
    if missing:
        raise BundleError(
            f"{folder / 'bundle' / 'metadata.json'}: clustering record lacks "
            f"{', '.join(missing)}; re-run 'cairn run' to rebuild the run folder"
        )
    path = folder / ASSIGNMENTS_FILE
    if not path.exists():
        raise BundleError(f"{path} is missing; re-run 'cairn run' to rebuild the run folder")
    try:
        assignments = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise BundleError(f"{path}: unreadable ({error})") from None
    if CLUSTER_COLUMN not in assignments:
        raise BundleError(f"{path}: column {CLUSTER_COLUMN} is missing; re-run 'cairn run'")
    rows = assignments.drop(columns=[c for c in (CLUSTER_COLUMN, TRUTH_COLUMN) if c in assignments])
    model = load_bundle(folder / "bundle", engine="native")
    pipeline = model.pipeline
    matrix = np.asarray(pipeline.named_steps["prep"].transform(rows), dtype=float)
    preparation = dict(record["preparation"])
    truth_name = record.get("ground_truth") or ""
    return Segmentation(
        frame=rows[list(preparation.get("features") or rows.columns)],
        labels=assignments[CLUSTER_COLUMN].to_numpy(dtype=int),
        matrix=matrix,
        leaderboard=_leaderboard(folder),
        metric=str(record.get("ranked_by") or metadata.get("metric") or "silhouette"),
        chosen={
            key: record.get(key)
            for key in ("algorithm", "k", "stability", "cluster_stability", "sizes")
        },
        rule=str(record.get("rule") or ""),
        preparation=preparation,
        indices={str(k): float(v) for k, v in (record.get("indices") or {}).items()},
        ground_truth=assignments.get(TRUTH_COLUMN),
        ground_truth_name=truth_name,
        project=str(metadata.get("name") or folder.name),
        description=str(metadata.get("description") or ""),
        versions={str(k): str(v) for k, v in (metadata.get("versions") or {}).items()},
        schema_metadata=dict(model.schema.metadata),
        findings=_quality_findings(folder),
    )


def _quality_findings(folder: Path) -> list[dict[str, Any]]:
    """The run's quality.json findings (none when the file is absent or unreadable)."""
    try:
        data = json.loads((folder / "quality.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return list(data.get("findings") or [])
