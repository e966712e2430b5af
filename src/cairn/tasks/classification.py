"""Classification: a categorical target; the model answers class probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from cairn.tasks.base import OPERATIONAL_QUANTITIES, TRADEOFF_QUANTITIES, Output, Task

__all__ = ["Classification"]


class Classification(Task):
    name: ClassVar[str] = "classification"
    output: ClassVar[str] = Output.PROBABILITIES
    spec_fields: ClassVar[tuple[str, ...]] = ("target", "positive_class")
    metrics: ClassVar[tuple[str, ...]] = (
        "roc_auc",
        "accuracy",
        "balanced_accuracy",
        "f1",
        "f1_macro",
        "f1_weighted",
        "precision",
        "recall",
        "log_loss",
    )
    lower_is_better: ClassVar[frozenset[str]] = frozenset(
        {"log_loss", *OPERATIONAL_QUANTITIES, *TRADEOFF_QUANTITIES}
    )
    stratify: ClassVar[bool] = True
    estimator_kind: ClassVar[str] = "classifier"
    report_sections: ClassVar[tuple[str, ...]] = ("confusion", "curves", "calibration")
    card_parts: ClassVar[tuple[str, ...]] = ("class_balance",)
    monitored_outputs: ClassVar[tuple[str, ...]] = ("prediction", "probability")
    explanation_units: ClassVar[str] = "log-odds"

    def quantities(self) -> tuple[str, ...]:
        return (*super().quantities(), *TRADEOFF_QUANTITIES)

    def default_metric(self, n_classes: int | None = None) -> str:
        """ROC-AUC for two classes, log loss for more (as in the AutoML Benchmark)."""
        if n_classes is not None and n_classes > 2:
            return "log_loss"
        return "roc_auc"

    def example_objective(self, metric: str) -> str:
        return "roc_auc >= 0.85"

    def score(self, metric: str, y_true: np.ndarray, output: np.ndarray) -> float:
        from cairn.tasks.metrics import score

        return score(metric, y_true, proba=output)

    def all_metrics(self, y_true: np.ndarray, output: np.ndarray) -> dict[str, float]:
        from cairn.tasks.metrics import classification_metrics

        return classification_metrics(y_true, output)

    def output_width(self, n_classes: int) -> int:
        return n_classes

    def predictions(
        self, output: np.ndarray, classes: Sequence[Any]
    ) -> tuple[list[Any], np.ndarray | None]:
        if not len(output):
            return [], np.zeros((0, len(classes)))
        proba = np.asarray(output).reshape(len(output), -1)
        return [classes[int(code)] for code in proba.argmax(axis=1)], proba

    def prediction_schema(self, classes: Sequence[Any]) -> dict[str, Any]:
        return {"description": f"class label, one of {list(classes)}"}

    def answer_schema(self, classes: Sequence[Any]) -> dict[str, dict[str, Any]]:
        return {
            "probabilities": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": {"type": ["number", "null"]},
                    "description": "probability per class label",
                },
            }
        }
