"""What a run leaves in ``<project>/.cairn/runs/<run id>/``, read back.

A run folder holds the model bundle (``bundle/``), ``leaderboard.csv``,
``evaluation.json``, ``quality.json``, ``timings.json`` and the held-out rows
with their true and predicted values (``test_predictions.parquet``), which is
enough to rebuild the evaluation report and the model card without the
original data.

A run writes its folder under a temporary name and renames it when complete
(see :mod:`cairn.evaluation.run_state`); ``.partial`` folders are skipped here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn.data.schema import Schema
from cairn.evaluation.run_state import PARTIAL_SUFFIX
from cairn.exceptions import BundleError
from cairn.tasks import get_task

TARGET = "__target"
PREDICTION = "__prediction"
PROBA_PREFIX = "__proba_"


@dataclass
class RunFolder:
    """The files of one run.

    Attributes:
        path: the run folder.
        metadata: the bundle's metadata.json.
        schema: the bundle's input schema.
        leaderboard: every candidate, best first (empty if absent).
        evaluation: evaluation.json (metrics, latency, objectives).
        quality: quality.json, or None.
        timings: seconds per stage.
        predictions: the held-out rows with ``__target``, ``__prediction``
            and, for classification, ``__proba_<label>`` columns.
    """

    path: Path
    metadata: dict[str, Any]
    schema: Schema
    leaderboard: pd.DataFrame
    evaluation: dict[str, Any]
    predictions: pd.DataFrame
    quality: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def bundle_path(self) -> Path:
        return self.path / "bundle"

    @property
    def run_id(self) -> str:
        return str(self.metadata.get("run_id") or self.path.name)

    @property
    def task(self) -> str:
        return str(self.metadata.get("task") or self.evaluation.get("task") or "regression")

    @property
    def metric(self) -> str:
        return str(self.metadata.get("metric") or self.evaluation.get("metric"))

    @property
    def classes(self) -> list[str]:
        """Class labels as strings, in probability-column order."""
        return [str(c) for c in self.metadata.get("classes") or self.schema.classes or ()]

    @property
    def features(self) -> pd.DataFrame:
        """The held-out rows' input columns (as the model received them).

        Every column but the target, prediction and probability columns: a
        feature may itself be named like ``__fare``."""
        reserved = {TARGET, PREDICTION, *(f"{PROBA_PREFIX}{label}" for label in self.classes)}
        return self.predictions[[c for c in self.predictions.columns if c not in reserved]]

    @property
    def y_true(self) -> np.ndarray:
        """True values: class labels as strings, or floats."""
        values = self.predictions[TARGET]
        if get_task(self.task).has_classes:
            return values.astype(str).to_numpy(dtype=object)
        return values.to_numpy(dtype=float)

    @property
    def y_pred(self) -> np.ndarray:
        values = self.predictions[PREDICTION]
        if get_task(self.task).has_classes:
            return values.astype(str).to_numpy(dtype=object)
        return values.to_numpy(dtype=float)

    @property
    def y_codes(self) -> np.ndarray:
        """True classes as integer codes in probability-column order."""
        index = {label: code for code, label in enumerate(self.classes)}
        return np.array([index.get(str(v), -1) for v in self.y_true], dtype=int)

    @property
    def proba(self) -> np.ndarray:
        """Predicted probabilities, one column per class (classification)."""
        columns = [f"{PROBA_PREFIX}{label}" for label in self.classes]
        missing = [c for c in columns if c not in self.predictions.columns]
        if missing:
            raise BundleError(
                f"{self.path / 'test_predictions.parquet'}: probability column(s) "
                f"{', '.join(missing)} are missing; re-run 'cairn run' to rebuild the run folder"
            )
        return self.predictions[columns].to_numpy(dtype=float)


def find_run(run: str | Path, *, project_dir: str | Path | None = None) -> Path:
    """The folder of a run given as a path (run folder or its bundle) or a run
    id (or unique prefix, or ``latest``) under ``<project>/.cairn/runs/``.

    Raises:
        BundleError: nothing matches, or a prefix matches several runs.
    """
    candidate = Path(run).expanduser()
    if candidate.is_dir():
        if (candidate / "bundle").is_dir():
            return candidate
        if (candidate / "metadata.json").is_file() and candidate.name == "bundle":
            return candidate.parent
        if (candidate / "runs").is_dir() or (candidate / ".cairn" / "runs").is_dir():
            project_dir = candidate.parent if candidate.name == ".cairn" else candidate
            run = "latest"
        else:
            raise BundleError(
                f"{candidate}: not a run folder (no bundle/ inside); pass a folder under "
                ".cairn/runs/ or a run id"
            )
    root = Path(project_dir or Path.cwd()).expanduser()
    runs_dir = root / ".cairn" / "runs"
    if not runs_dir.is_dir():
        raise BundleError(
            f"no runs under {runs_dir}: run 'cairn run' first, or pass the run folder's path"
        )
    runs = sorted(
        p
        for p in runs_dir.iterdir()
        if p.is_dir() and (p / "bundle").is_dir() and not p.name.endswith(PARTIAL_SUFFIX)
    )
    if not runs:
        raise BundleError(f"no finished runs under {runs_dir}; run 'cairn run' first")
    text = str(run)
    if text == "latest":
        return runs[-1]
    matches = [p for p in runs if p.name.startswith(text)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        shown = ", ".join(p.name for p in runs[-5:])
        raise BundleError(
            f"no run {text!r} under {runs_dir}; recent runs: {shown} (or use 'latest')"
        )
    raise BundleError(
        f"{text!r} matches {len(matches)} runs under {runs_dir} "
        f"({', '.join(p.name for p in matches[:5])}); give more of the run id"
    )


def _read_json(path: Path, *, required: bool) -> Any:
    if not path.exists():
        if required:
            raise BundleError(f"{path} is missing; the run did not finish, re-run 'cairn run'")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"{path}: unreadable JSON ({error})") from None


def load_run(run: str | Path, *, project_dir: str | Path | None = None) -> RunFolder:
    """Read a run folder (see :func:`find_run` for how ``run`` is resolved).

    Raises:
        BundleError: the folder or one of its required files is missing or
            unreadable.
    """
    folder = find_run(run, project_dir=project_dir)
    bundle = folder / "bundle"
    metadata = _read_json(bundle / "metadata.json", required=True)
    schema_data = _read_json(bundle / "schema.json", required=True)
    try:
        schema = Schema.from_dict(schema_data)
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{bundle / 'schema.json'}: unreadable schema ({error})") from None
    evaluation = _read_json(folder / "evaluation.json", required=False) or {
        "task": metadata.get("task"),
        "metric": metadata.get("metric"),
        "metrics": metadata.get("metrics", {}),
        "latency_ms": metadata.get("latency_ms", {}),
        "objectives": metadata.get("objectives", []),
    }
    predictions_path = folder / "test_predictions.parquet"
    if not predictions_path.exists():
        raise BundleError(
            f"{predictions_path} is missing: this run folder predates held-out predictions; "
            "re-run 'cairn run' to make reports for it"
        )
    try:
        predictions = pd.read_parquet(predictions_path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise BundleError(f"{predictions_path}: unreadable ({error})") from None
    if TARGET not in predictions.columns or PREDICTION not in predictions.columns:
        raise BundleError(
            f"{predictions_path}: columns {TARGET} and {PREDICTION} are missing; re-run 'cairn run'"
        )
    leaderboard_path = folder / "leaderboard.csv"
    leaderboard = pd.read_csv(leaderboard_path) if leaderboard_path.exists() else pd.DataFrame()
    timings = _read_json(folder / "timings.json", required=False) or {}
    return RunFolder(
        path=folder,
        metadata=metadata,
        schema=schema,
        leaderboard=leaderboard,
        evaluation=evaluation,
        predictions=predictions,
        quality=_read_json(folder / "quality.json", required=False),
        timings={str(k): float(v) for k, v in timings.items() if isinstance(v, int | float)},
    )
