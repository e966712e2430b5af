"""Run folders being written, and which ones are complete.

A run writes its folder as ``<run id>.partial`` (with ``owner.json`` naming
the process) and renames it to ``<run id>`` when every file is in place, so
a folder under its plain run id is always complete; :func:`list_run_folders`
tells an interrupted ``.partial`` folder from one still being written.
Only the standard library is used, so ``cairn runs`` starts fast.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from cairn.exceptions import BundleError

PARTIAL_SUFFIX = ".partial"
OWNER_FILE = "owner.json"
# The files of a complete run folder.
REQUIRED_FILES = ("bundle/metadata.json", "evaluation.json", "timings.json")


def start_run_folder(runs_dir: Path, run_id: str) -> Path:
    """Create ``<runs_dir>/<run id>.partial`` with ``owner.json`` naming
    this process; the run writes its files there."""
    from cairn.tracking_store import process_tags

    partial = runs_dir / f"{run_id}{PARTIAL_SUFFIX}"
    partial.mkdir(parents=True, exist_ok=False)
    (partial / OWNER_FILE).write_text(json.dumps(process_tags()), encoding="utf-8")
    return partial


def finish_run_folder(partial: Path) -> Path:
    """Rename a complete ``.partial`` folder to its run id; returns the new path.

    Raises:
        BundleError: a required file is missing (the folder stays partial).
    """
    missing = [name for name in REQUIRED_FILES if not (partial / name).exists()]
    if missing:
        raise BundleError(f"{partial}: {', '.join(missing)} missing; the run folder is incomplete")
    (partial / OWNER_FILE).unlink(missing_ok=True)
    final = partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX))
    partial.rename(final)
    return final


@dataclass(frozen=True)
class RunFolderState:
    """One folder under ``.cairn/runs/`` and whether it is complete.

    Attributes:
        state: ``complete``, ``in progress`` (its process still runs),
            ``interrupted`` (its process is gone) or ``incomplete`` (files
            missing, e.g. written by an older cairn that was stopped).
        missing: required files that are not there.
    """

    run_id: str
    path: Path
    state: str
    missing: tuple[str, ...] = ()
    size_mb: float = 0.0


def list_run_folders(project_dir: str | Path) -> list[RunFolderState]:
    """Every folder under ``<project>/.cairn/runs/``, oldest first."""
    from cairn.tracking_store import process_alive

    runs_dir = Path(project_dir) / ".cairn" / "runs"
    if not runs_dir.is_dir():
        return []
    out = []
    for path in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        missing = tuple(name for name in REQUIRED_FILES if not (path / name).exists())
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
        if path.name.endswith(PARTIAL_SUFFIX):
            try:
                owner = json.loads((path / OWNER_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                owner = {}
            state = "in progress" if process_alive(owner) else "interrupted"
        else:
            state = "incomplete" if missing else "complete"
        name = path.name.removesuffix(PARTIAL_SUFFIX)
        out.append(RunFolderState(name, path, state, missing, round(size, 2)))
    return out


def remove_interrupted(project_dir: str | Path) -> list[Path]:
    """Delete the ``.partial`` folders of runs whose process is gone;
    returns what was removed."""
    removed = []
    for folder in list_run_folders(project_dir):
        if folder.state == "interrupted" and folder.path.name.endswith(PARTIAL_SUFFIX):
            shutil.rmtree(folder.path, ignore_errors=True)
            removed.append(folder.path)
    return removed
