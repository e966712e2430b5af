"""Finding and reading run folders; clear errors when they are not there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cairn.evaluation.run_folder import find_run, load_run
from cairn.exceptions import BundleError


def test_run_found_by_path_id_prefix_and_latest(finished_run: Callable[[str], Path]) -> None:
    folder = finished_run("car_evaluation")
    project = folder.parents[2]
    assert find_run(folder) == folder
    assert find_run(folder / "bundle") == folder
    assert find_run(folder.name, project_dir=project) == folder
    assert find_run(folder.name[:10], project_dir=project) == folder
    assert find_run("latest", project_dir=project) == folder
    assert find_run(project) == folder
    run = load_run(folder)
    assert run.task == "classification" and run.classes == ["acc", "good", "unacc", "vgood"]
    assert run.proba.shape == (len(run.predictions), 4)
    np.testing.assert_allclose(run.proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(run.y_codes) <= {0, 1, 2, 3}


def test_missing_runs_are_clear_errors(finished_run: Callable[[str], Path], tmp_path: Path) -> None:
    folder = finished_run("car_evaluation")
    with pytest.raises(BundleError, match="no runs under"):
        find_run("latest", project_dir=tmp_path)
    with pytest.raises(BundleError, match=r"no run 'zzz'.*latest"):
        find_run("zzz", project_dir=folder.parents[2])
    with pytest.raises(BundleError, match="not a run folder"):
        find_run(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "test_predictions.parquet").unlink()
    with pytest.raises(BundleError, match=r"test_predictions\.parquet is missing"):
        load_run(copy)


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_folder_appears_under_its_id_only_when_complete(
    finished_run: Callable[[str], Path], tmp_path: Path
) -> None:
    from cairn.evaluation.run_state import (
        finish_run_folder,
        list_run_folders,
        remove_interrupted,
        start_run_folder,
    )

    done = finished_run("car_evaluation")
    runs = tmp_path / ".cairn" / "runs"
    partial = start_run_folder(runs, "20990101-000000-aaaaaa")
    assert partial.name == "20990101-000000-aaaaaa.partial"
    shutil.copytree(done / "bundle", partial / "bundle")
    # Bundle and reports but no timings: still partial, never picked as 'latest'.
    shutil.copy(done / "evaluation.json", partial / "evaluation.json")
    with pytest.raises(BundleError, match=r"timings\.json missing"):
        finish_run_folder(partial)
    with pytest.raises(BundleError, match="no finished runs"):
        find_run("latest", project_dir=tmp_path)
    [state] = list_run_folders(tmp_path)
    assert state.state == "in progress"  # this very process owns it
    shutil.copy(done / "timings.json", partial / "timings.json")
    final = finish_run_folder(partial)
    assert final == runs / "20990101-000000-aaaaaa" and not partial.exists()
    assert not (final / "owner.json").exists()
    assert find_run("latest", project_dir=tmp_path) == final

    # A folder whose process is gone is 'interrupted'; --clean removes it.
    killed = start_run_folder(runs, "20990101-000001-bbbbbb")
    (killed / "bundle").mkdir()
    owner = (killed / "owner.json").read_text(encoding="utf-8")
    (killed / "owner.json").write_text(
        owner.replace(f'"cairn.pid": "{os.getpid()}"', f'"cairn.pid": "{_dead_pid()}"'),
        encoding="utf-8",
    )
    # An older cairn wrote straight under the run id and was stopped.
    legacy = runs / "20990101-000002-cccccc"
    shutil.copytree(done / "bundle", legacy / "bundle")
    states = {s.run_id: s for s in list_run_folders(tmp_path)}
    assert states["20990101-000000-aaaaaa"].state == "complete"
    assert states["20990101-000001-bbbbbb"].state == "interrupted"
    assert states["20990101-000002-cccccc"].state == "incomplete"
    assert "timings.json" in states["20990101-000002-cccccc"].missing
    assert remove_interrupted(tmp_path) == [killed]
    assert not killed.exists() and legacy.exists() and final.exists()
