"""Performance by segment: the test metric within each category of an
input column (or each quantile bin of a number), to find where the model is
weaker than overall."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cairn.data.schema import Role, Schema
from cairn.reporting import fmt_short
from cairn.tasks import get_task, greater_is_better

#: Segments with fewer test rows than this are not scored (too noisy).
MIN_ROWS = 30
MAX_LEVELS = 12


@dataclass
class Segment:
    """One group of test rows and the metric on it."""

    column: str
    label: str
    rows: int
    value: float
    gap: float  # worse than overall by this much (positive = worse)


@dataclass
class SegmentTable:
    """Metric per segment of one input column."""

    column: str
    metric: str
    overall: float
    segments: list[Segment]

    @property
    def worst(self) -> Segment | None:
        scored = [s for s in self.segments if np.isfinite(s.value)]
        return max(scored, key=lambda s: s.gap) if scored else None


def _segment_metric(task: str, metric: str) -> str:
    # Ranking metrics are undefined within one-class segments; use accuracy.
    if get_task(task).has_classes and metric in ("roc_auc", "log_loss"):
        return "accuracy"
    return metric


def segment_performance(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    task: str,
    metric: str,
    schema: Schema,
    proba: np.ndarray | None = None,
    y_pred: np.ndarray | None = None,
    columns: Sequence[str] | None = None,
    min_rows: int = MIN_ROWS,
) -> list[SegmentTable]:
    """The metric per category (categorical and boolean columns, most frequent
    levels) and per quintile (numeric columns) of each input column.

    Args:
        y: integer codes (classification, with ``proba``) or values
            (regression, with ``y_pred``).
        columns: which input columns; every feature by default.

    Returns:
        One table per column with at least two scored segments.
    """
    kind = get_task(task)
    measure = _segment_metric(task, metric)
    sign = 1.0 if greater_is_better(measure) else -1.0
    output = proba if kind.has_classes else y_pred
    assert output is not None, f"{task} needs {'proba' if kind.has_classes else 'y_pred'}"

    def value(mask: np.ndarray) -> float:
        return kind.score(measure, y[mask], output[mask])

    overall = value(np.ones(len(y), dtype=bool))
    tables = []
    for name in columns or schema.feature_names:
        if name not in X.columns or name not in schema:
            continue
        role = schema[name].role
        series = X[name]
        groups: list[tuple[str, np.ndarray]] = []
        if role in (Role.CATEGORICAL, Role.BOOLEAN):
            strings = series.astype("string")
            counts = strings.value_counts()
            for level in counts.index[:MAX_LEVELS]:
                mask = strings.eq(level).to_numpy(dtype=bool, na_value=False)
                groups.append((str(level), mask))
        elif role == Role.NUMERIC:
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            if finite.size < 2 * min_rows:
                continue
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, 6)))
            if len(edges) < 3:
                continue
            bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
            for i in range(len(edges) - 1):
                mask = np.isfinite(values) & (bins == i)
                groups.append((f"{fmt_short(edges[i])} – {fmt_short(edges[i + 1])}", mask))
        else:
            continue
        missing = series.isna().to_numpy()
        if missing.sum() >= min_rows:
            groups.append(("(missing)", missing))
        segments = []
        for label, mask in groups:
            rows = int(mask.sum())
            if rows < min_rows:
                continue
            result = value(mask)
            gap = sign * (overall - result) if np.isfinite(result) else float("nan")
            segments.append(Segment(name, label, rows, float(result), float(gap)))
        if len(segments) >= 2:
            tables.append(SegmentTable(name, measure, float(overall), segments))
    return tables
