"""Regression: a numeric target; the model answers one value per row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from cairn.tasks.base import OPERATIONAL_QUANTITIES, TRADEOFF_QUANTITIES, Output, Task

__all__ = ["Regression"]


class Regression(Task):
    name: ClassVar[str] = "regression"
    output: ClassVar[str] = Output.VALUES
    metrics: ClassVar[tuple[str, ...]] = ("rmse", "mae", "mse", "r2", "mape")
    lower_is_better: ClassVar[frozenset[str]] = frozenset(
        {"rmse", "mae", "mse", "mape", *OPERATIONAL_QUANTITIES, *TRADEOFF_QUANTITIES}
    )
    estimator_kind: ClassVar[str] = "regressor"
    transform_target: ClassVar[bool] = True
    report_sections: ClassVar[tuple[str, ...]] = ("residuals",)
    monitored_outputs: ClassVar[tuple[str, ...]] = ("prediction",)
    explanation_units: ClassVar[str] = "target units"

    def quantities(self) -> tuple[str, ...]:
        return (*super().quantities(), *TRADEOFF_QUANTITIES)

    def score(self, metric: str, y_true: np.ndarray, output: np.ndarray) -> float:
        from cairn.tasks.metrics import score

        return score(metric, y_true, y_pred=np.asarray(output).reshape(-1))

    def all_metrics(self, y_true: np.ndarray, output: np.ndarray) -> dict[str, float]:
        from cairn.tasks.metrics import regression_metrics

        return regression_metrics(y_true, np.asarray(output).reshape(-1))

    def output_width(self, n_classes: int) -> int:
        return 1

    def predictions(
        self, output: np.ndarray, classes: Sequence[Any]
    ) -> tuple[list[Any], np.ndarray | None]:
        return [float(value) for value in np.asarray(output).reshape(-1)], None

    def prediction_schema(self, classes: Sequence[Any]) -> dict[str, Any]:
        return {"type": ["number", "null"]}
