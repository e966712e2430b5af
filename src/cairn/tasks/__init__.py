"""The tasks cairn solves, each one module answering what the stages ask.

``get_task(name)`` returns the registered :class:`Task`. Adding a task means
adding a module with a :class:`Task` subclass and registering it in
``_REGISTRY`` below (see the README's developer section).
"""

from __future__ import annotations

from cairn.tasks import classification as _classification
from cairn.tasks import clustering as _clustering
from cairn.tasks import recommendation as _recommendation
from cairn.tasks import regression as _regression
from cairn.tasks.base import OPERATIONAL_QUANTITIES, TRADEOFF_QUANTITIES, Output, Task

__all__ = [
    "OPERATIONAL_QUANTITIES",
    "TRADEOFF_QUANTITIES",
    "Output",
    "Task",
    "get_task",
    "greater_is_better",
    "is_known_metric",
    "is_known_quantity",
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
        _recommendation.Recommendation(),
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


def is_known_metric(name: str) -> bool:
    """Some registered task measures ``name`` (e.g. ``rmse``, ``ndcg@20``)."""
    return any(task.measures_metric(name) for task in _REGISTRY.values())


def is_known_quantity(name: str) -> bool:
    """Some registered task lets an objective bound ``name``."""
    return any(task.measures_quantity(name) for task in _REGISTRY.values())


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
    return not any(task.smaller_is_better(metric) for task in _REGISTRY.values())
