"""The tasks cairn solves, each one module answering what the stages ask.

``get_task(name)`` returns the registered :class:`Task`. Adding a task means
adding a module with a :class:`Task` subclass and registering it in
``_REGISTRY`` below (see the README's developer section).
"""

from __future__ import annotations

from cairn.tasks import classification as _classification
from cairn.tasks import clustering as _clustering
from cairn.tasks import regression as _regression
from cairn.tasks.base import OPERATIONAL_QUANTITIES, Output, Task

__all__ = [
    "OPERATIONAL_QUANTITIES",
    "Output",
    "Task",
    "get_task",
    "greater_is_better",
    "known_metrics",
    "known_quantities",
    "task_names",
]

_REGISTRY: dict[str, Task] = {
    task.name: task
    for task in (
        _classification.Classification(),
        _regression.Regression(),
        _clustering.Clustering(),
    )
}


def known_metrics() -> tuple[str, ...]:
    """Every metric of every registered task, in registration order."""
    return tuple(dict.fromkeys(metric for task in _REGISTRY.values() for metric in task.metrics))


def known_quantities() -> tuple[str, ...]:
    """Everything an objective may bound, for any registered task."""
    return tuple(
        dict.fromkeys(quantity for task in _REGISTRY.values() for quantity in task.quantities())
    )


def task_names() -> tuple[str, ...]:
    """The tasks cairn can train, in registration order."""
    return tuple(_REGISTRY)


def get_task(name: str | None) -> Task:
    """The task registered under ``name``.

    Raises:
        KeyError: no task of that name is registered (the spec rejects such
            names before any stage asks).
    """
    if name is None or name not in _REGISTRY:
        raise KeyError(f"no task {name!r}; known: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def greater_is_better(metric: str) -> bool:
    """Direction of a metric or quantity, whichever task measures it."""
    return not any(metric in task.lower_is_better for task in _REGISTRY.values())
