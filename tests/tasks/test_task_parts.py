"""What each task names for the evaluation report and the model card."""

from __future__ import annotations

import pytest

from cairn.tasks import get_task, task_names


@pytest.mark.parametrize("name", task_names())
def test_report_sections_and_card_parts_are_distinct_names(name: str) -> None:
    task = get_task(name)
    assert task.report_sections, f"{name} draws no report section of its own"
    for names in (task.report_sections, task.card_parts):
        assert isinstance(names, tuple)
        assert len(set(names)) == len(names)


def test_only_tasks_with_classes_check_class_balance_on_the_card() -> None:
    for name in task_names():
        task = get_task(name)
        assert ("class_balance" in task.card_parts) == task.has_classes


def test_sections_and_units_per_task() -> None:
    assert get_task("classification").report_sections == ("confusion", "curves", "calibration")
    assert get_task("regression").report_sections == ("residuals",)
    assert get_task("classification").explanation_units == "log-odds"
    assert get_task("regression").explanation_units == "target units"
