"""What every stage asks of a task, in one small interface.

A task (classification, regression, ...) answers the questions the stages
would otherwise answer by branching on its name: which spec fields it needs,
which metrics it allows and in which direction they improve, how the data is
split, which model families compete, how a model's output is scored, what a
prediction looks like over the API, and which outputs monitoring watches.

Tasks are light: this module and the task modules import numpy only, so that
serving can ask a task without loading training libraries.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

__all__ = ["OPERATIONAL_QUANTITIES", "TRADEOFF_QUANTITIES", "Output", "Task"]

# Objectives may also name operational quantities measured outside the metrics.
OPERATIONAL_QUANTITIES: tuple[str, ...] = (
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "model_size_mb",
)
# Measured for every candidate of a supervised search (the trade-off table),
# so only the tasks that run one accept objectives on them.
TRADEOFF_QUANTITIES: tuple[str, ...] = ("cost_per_1k",)


class Output:
    """What a model's raw output holds, for the scoring and serving code.

    ``PROBABILITIES``: one column per class; ``VALUES``: one number per row;
    ``LABELS``: one group id (an integer) per row; ``RANKED``: one list of
    item indices per user, best first.
    """

    PROBABILITIES = "probabilities"
    VALUES = "values"
    LABELS = "labels"
    RANKED = "ranked"


class Task(ABC):
    """One kind of problem. Subclasses are registered in :mod:`cairn.tasks`."""

    name: ClassVar[str]
    #: the spec must name a target column
    needs_target: ClassVar[bool] = True
    #: the ``[problem]`` fields this task reads, beside task, metric, objectives
    spec_fields: ClassVar[tuple[str, ...]] = ("target",)
    #: what the model's raw output is (see :class:`Output`)
    output: ClassVar[str]
    #: metrics a spec may name; the first is the default unless
    #: :meth:`default_metric` says otherwise
    metrics: ClassVar[tuple[str, ...]]
    #: metrics (and operational quantities) for which smaller is better
    lower_is_better: ClassVar[frozenset[str]]
    #: the split keeps each target class's share in every part
    stratify: ClassVar[bool] = False
    #: the kind of estimator the catalog builds for each family
    estimator_kind: ClassVar[str]
    #: the target is a number the search may also fit on a log scale (and
    #: predict back on the original one)
    transform_target: ClassVar[bool] = False
    #: the evaluation report's task sections (by section id), in page order;
    #: each name is drawn by the section registered under it in
    #: :mod:`cairn.evaluation.report`
    report_sections: ClassVar[tuple[str, ...]]
    #: the model card's task parts (limitation checks), in order; each name
    #: is registered in :mod:`cairn.evaluation.card`
    card_parts: ClassVar[tuple[str, ...]] = ()
    #: the model outputs drift monitoring watches, beside the inputs
    monitored_outputs: ClassVar[tuple[str, ...]]
    #: the unit of explanations (SHAP values) for this task's output
    explanation_units: ClassVar[str]

    # ------------------------------------------------------------------ spec

    @property
    def has_classes(self) -> bool:
        """The model answers with per-class probabilities."""
        return self.output == Output.PROBABILITIES

    def quantities(self) -> tuple[str, ...]:
        """What an objective may name: the task's metrics and the operational
        quantities."""
        return (*self.metrics, *OPERATIONAL_QUANTITIES)

    def measures_metric(self, name: str) -> bool:
        """A spec may name ``name`` as this task's metric."""
        return name in self.metrics

    def measures_quantity(self, name: str) -> bool:
        """An objective may bound ``name`` for this task."""
        return name in self.quantities()

    def misfits(self, metric: str | None, quantities: Sequence[str]) -> list[str]:
        """The metric and objective quantities this task does not measure."""
        named = [metric] if metric and not self.measures_metric(metric) else []
        return named + [q for q in quantities if not self.measures_quantity(q)]

    def default_metric(self, n_classes: int | None = None) -> str:
        """The metric used when the spec names none."""
        return self.metrics[0]

    def greater_is_better(self, metric: str) -> bool:
        return metric not in self.lower_is_better

    def smaller_is_better(self, name: str) -> bool:
        """``name`` is a metric or quantity of this task that improves downwards."""
        return self.measures_quantity(name) and not self.greater_is_better(name)

    def example_objective(self, metric: str) -> str:
        """An objective on ``metric`` that ``cairn init`` writes as an example."""
        if self.greater_is_better(metric):
            return f"{metric} >= 0.8"
        return f"{metric} < 1000"

    # --------------------------------------------------------------- scoring

    @abstractmethod
    def score(self, metric: str, y_true: np.ndarray, output: np.ndarray) -> float:
        """One metric of a model's raw output against the encoded truth."""

    @abstractmethod
    def all_metrics(self, y_true: np.ndarray, output: np.ndarray) -> dict[str, float]:
        """Every metric of this task that the evaluation report shows."""

    @abstractmethod
    def output_width(self, n_classes: int) -> int:
        """Columns of the raw output (1 for a single value per row)."""

    # ----------------------------------------------------------- prediction

    @abstractmethod
    def predictions(
        self, output: np.ndarray, classes: Sequence[Any]
    ) -> tuple[list[Any], np.ndarray | None]:
        """The API's answer from a raw output: one prediction per row and, for
        tasks with classes, the per-class probabilities (else None)."""

    @abstractmethod
    def prediction_schema(self, classes: Sequence[Any]) -> dict[str, Any]:
        """The OpenAPI (JSON Schema) of one item of ``predictions``."""

    def answer_details(self, output: np.ndarray, classes: Sequence[Any]) -> dict[str, list[Any]]:
        """Per-record parts of a /predict answer beside ``predictions`` and
        ``probabilities``, one list per property of :meth:`answer_schema`
        (none by default)."""
        return {}

    def answer_schema(self, classes: Sequence[Any]) -> dict[str, dict[str, Any]]:
        """Extra properties of a /predict answer beside ``predictions``, each
        required, with its JSON Schema."""
        return {}

    def __repr__(self) -> str:
        return f"<task {self.name}>"
