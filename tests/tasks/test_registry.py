"""Tests for the task registry: defaults per task, and a new task plugging
into the spec's validation without any change to the spec."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import cairn.tasks
from cairn.data.quality import check_and_clean
from cairn.data.split import split
from cairn.eda import profile
from cairn.exceptions import SpecError
from cairn.spec import load_spec
from cairn.tasks import Output, Task, get_task, known_metrics, task_names
from cairn.tasks.classification import Classification
from cairn.tasks.regression import Regression
from tests.conftest import load_dataset

SPEC = '[project]\nname = "demo"\n[data]\nsources = [{ path = "data/train.csv" }]\n'


@pytest.mark.parametrize(
    ("task", "n_classes", "expected"),
    [
        ("regression", None, "rmse"),
        ("regression", 5, "rmse"),
        ("classification", 2, "roc_auc"),
        ("classification", None, "roc_auc"),
        ("classification", 3, "log_loss"),
        ("classification", 10, "log_loss"),
    ],
)
def test_default_metric(task: str, n_classes: int | None, expected: str) -> None:
    assert get_task(task).default_metric(n_classes) == expected


class _Ranking(Task):
    """A task that learns without a target, scored by its own metric."""

    name: ClassVar[str] = "recommendation"
    needs_target: ClassVar[bool] = False
    spec_fields: ClassVar[tuple[str, ...]] = ()
    output: ClassVar[str] = Output.VALUES
    metrics: ClassVar[tuple[str, ...]] = ("ndcg_at_10",)
    lower_is_better: ClassVar[frozenset[str]] = frozenset()
    estimator_kind: ClassVar[str] = "clusterer"
    report_sections: ClassVar[tuple[str, ...]] = ()
    monitored_outputs: ClassVar[tuple[str, ...]] = ("prediction",)
    explanation_units: ClassVar[str] = "item"

    def score(self, metric: str, y_true: np.ndarray, output: np.ndarray) -> float:
        return 0.0

    def all_metrics(self, y_true: np.ndarray, output: np.ndarray) -> dict[str, float]:
        return {}

    def output_width(self, n_classes: int) -> int:
        return 1

    def predictions(
        self, output: np.ndarray, classes: Sequence[Any]
    ) -> tuple[list[Any], np.ndarray | None]:
        return [int(v) for v in np.asarray(output).reshape(-1)], None

    def prediction_schema(self, classes: Sequence[Any]) -> dict[str, Any]:
        return {"type": "integer"}


@pytest.fixture
def ranking(monkeypatch: pytest.MonkeyPatch) -> Task:
    task = _Ranking()
    monkeypatch.setitem(cairn.tasks._REGISTRY, task.name, task)
    return task


def _load(folder: Path, problem: str) -> Any:
    path = folder / "cairn.toml"
    path.write_text(SPEC + "[problem]\n" + problem, encoding="utf-8")
    return load_spec(path)


def test_a_new_task_plugs_into_the_spec(ranking: Task, tmp_path: Path) -> None:
    assert "recommendation" in task_names()
    assert "ndcg_at_10" in known_metrics()
    spec = _load(tmp_path, 'task = "recommendation"\nmetric = "ndcg_at_10"\n')
    # The task needs no target, so the spec does not ask for one.
    assert spec.problem.task == "recommendation" and spec.problem.target == ""
    assert spec.problem.metric == "ndcg_at_10"
    spec.check_task("recommendation")


def test_a_new_tasks_metric_is_checked_against_its_own_list(ranking: Task, tmp_path: Path) -> None:
    with pytest.raises(
        SpecError, match="'rmse' is not a recommendation metric; allowed: ndcg_at_10"
    ):
        _load(tmp_path, 'task = "recommendation"\nmetric = "rmse"\n')
    with pytest.raises(SpecError, match="names 'roc_auc', which a recommendation model"):
        _load(tmp_path, 'task = "recommendation"\nobjectives = ["roc_auc > 0.8"]\n')


def test_unregistered_tasks_still_need_a_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without a module, a task is only a name: the target stays required and a
    # metric of another task is not refused by that name.
    monkeypatch.delitem(cairn.tasks._REGISTRY, "recommendation")
    with pytest.raises(SpecError, match=r"required key 'problem\.target' is missing"):
        _load(tmp_path, 'task = "recommendation"\n')
    with pytest.raises(SpecError, match="unknown metric 'ndcg_at_10'"):
        _load(tmp_path, 'target = "y"\nmetric = "ndcg_at_10"\n')


def test_supervised_tasks_need_a_target(tmp_path: Path) -> None:
    for name in ("classification", "regression"):
        assert get_task(name).needs_target
        with pytest.raises(SpecError, match=r"required key 'problem\.target' is missing"):
            _load(tmp_path, f'task = "{name}"\n')


class _Grades(Classification):
    """Classes under another name: the data stages must follow the task's
    answers (classes, stratification), not its name."""

    name: ClassVar[str] = "grades"


class _Amounts(Regression):
    name: ClassVar[str] = "amounts"


@pytest.fixture
def renamed(monkeypatch: pytest.MonkeyPatch) -> None:
    for task in (_Grades(), _Amounts()):
        monkeypatch.setitem(cairn.tasks._REGISTRY, task.name, task)


def test_data_stages_ask_the_task_not_its_name(renamed: None) -> None:
    wine = load_dataset("wine_quality_red")
    as_classes = check_and_clean(wine, target="quality", task="grades", folds=3)
    assert as_classes.schema.classes == ("3", "4", "5", "6", "7", "8")
    assert any(f.check == "class_imbalance" for f in as_classes.report.findings)
    as_values = check_and_clean(wine, target="quality", task="amounts", folds=3)
    assert as_values.schema.classes is None
    assert not any(f.check == "class_imbalance" for f in as_values.report.findings)

    titanic = load_dataset("titanic")
    assert split(titanic, target="Survived", task="grades").strategy.startswith("stratified")
    assert split(titanic, target="Survived", task="amounts").strategy.startswith("random")

    grades = profile(wine, target="quality", task="grades").target
    amounts = profile(wine, target="quality", task="amounts").target
    assert grades is not None and grades.classes is not None
    assert amounts is not None and amounts.classes is None
