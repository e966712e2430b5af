"""Finding and reading run folders; clear errors when they are not there."""

from __future__ import annotations

import shutil
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
