"""Performance once labels arrive: ground truth joined to predictions, task
metrics over time windows with bootstrap confidence intervals, checked
against the objectives and against the test-set figures of the model.

Labels join predictions by request id or by an entity key (see
:mod:`cairn.monitoring.labels`). A metric misses an objective when its value
on all labelled rows misses it.

A metric is *degraded* when it is significantly worse than on the held-out
test set at training time. Both figures are estimates: the production one
from the labelled rows, the test one from the test rows. The interval of
their difference combines the two bootstrap intervals (half-widths added in
quadrature, each side on its own), and the metric is degraded only when that
whole interval lies on the worse side of zero. With several metrics compared
at once the intervals are widened (Bonferroni), so that an unchanged model
is called degraded on any of them with a chance of at most one minus the
confidence. The test-set interval is stored in the bundle; for older
bundles it is estimated from the production interval scaled by the square
root of the ratio of rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cairn.exceptions import DataError
from cairn.monitoring.labels import JoinStats
from cairn.spec import Objective, duration_seconds
from cairn.tasks import get_task, greater_is_better

__all__ = [
    "Estimate",
    "Gap",
    "ObjectiveCheck",
    "PerformanceReport",
    "WindowPerformance",
    "performance",
]

_AUTO_WINDOWS = ("1h", "6h", "1d", "7d", "30d")
_MAX_WINDOWS = 12
_FULL_BOOTSTRAP_ROWS = 100_000
_LATENCY_QUANTILES = {"latency_p50_ms": 50, "latency_p95_ms": 95, "latency_p99_ms": 99}


@dataclass(frozen=True)
class Estimate:
    """A metric value with its bootstrap confidence interval."""

    value: float
    low: float | None = None
    high: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"value": _finite(self.value), "low": _finite(self.low), "high": _finite(self.high)}


@dataclass(frozen=True)
class Gap:
    """A production metric against the same metric on the test set.

    Attributes:
        metric: the metric's name.
        production: its value and interval on the labelled production rows.
        test: its value and interval on the held-out test set.
        difference: production minus test, with the interval that combines
            both intervals.
        degraded: the whole interval of the difference is on the worse side.
        basis: where the test-set interval came from.
    """

    metric: str
    production: Estimate
    test: Estimate
    difference: Estimate
    degraded: bool
    basis: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "production": self.production.to_dict(),
            "test": self.test.to_dict(),
            "difference": self.difference.to_dict(),
            "degraded": self.degraded,
            "basis": self.basis,
        }


@dataclass
class WindowPerformance:
    """Metrics of the labelled rows in one time window."""

    start: str
    end: str
    n: int
    metrics: dict[str, Estimate] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class ObjectiveCheck:
    """One objective of the spec, checked on production data.

    ``met`` is None when the quantity could not be measured here (e.g. model
    size, or latency without a prediction log). ``significant`` is True when
    the whole confidence interval lies on the failing side.
    """

    objective: str
    quantity: str
    value: float | None
    low: float | None
    high: float | None
    met: bool | None
    significant: bool = False
    how: str = ""


@dataclass
class PerformanceReport:
    """Task metrics on labelled production rows.

    Attributes:
        overall: every task metric on all labelled rows (CI on the main
            metric and the objectives' metrics).
        windows: the main metrics per time window, oldest first.
        objectives: the spec's objectives checked on these rows.
        test_metrics: the model's figures on its held-out test set.
        gaps: each metric against its test-set figure, with the interval
            of the difference.
        degraded: metrics significantly worse than on the test set.
    """

    task: str
    metric: str
    n: int
    overall: dict[str, Estimate]
    windows: list[WindowPerformance]
    objectives: list[ObjectiveCheck]
    test_metrics: dict[str, float]
    degraded: list[str]
    window: str
    confidence: float
    join: JoinStats | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    gaps: dict[str, Gap] = field(default_factory=dict)

    @property
    def objectives_met(self) -> bool:
        return all(check.met is not False for check in self.objectives)

    @property
    def failed_objectives(self) -> list[ObjectiveCheck]:
        return [check for check in self.objectives if check.met is False]

    @property
    def score(self) -> float:
        return self.overall[self.metric].value

    def summary(self) -> str:
        main = self.overall.get(self.metric)
        text = f"{self.metric} {main.value:.4g}" if main else "no metric"
        if main and main.low is not None and main.high is not None:
            text += f" [{main.low:.4g}, {main.high:.4g}]"
        gap = self.gaps.get(self.metric)
        test = self.test_metrics.get(self.metric)
        if gap is not None and gap.test.low is not None and gap.test.high is not None:
            text += f" (test set {gap.test.value:.4g} [{gap.test.low:.4g}, {gap.test.high:.4g}])"
        elif test is not None:
            text += f" (test set {test:.4g})"
        text += f" on {self.n} labelled rows"
        failed = self.failed_objectives
        if failed:
            text += "; objectives missed: " + ", ".join(c.objective for c in failed)
        if self.degraded:
            text += "; degraded: " + ", ".join(self.degraded)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "metric": self.metric,
            "n": self.n,
            "window": self.window,
            "confidence": self.confidence,
            "overall": {k: v.to_dict() for k, v in self.overall.items()},
            "windows": [
                {
                    "start": w.start,
                    "end": w.end,
                    "n": w.n,
                    "note": w.note,
                    "metrics": {k: v.to_dict() for k, v in w.metrics.items()},
                }
                for w in self.windows
            ],
            "objectives": [asdict(c) for c in self.objectives],
            "objectives_met": self.objectives_met,
            "test_metrics": self.test_metrics,
            "degraded": self.degraded,
            "gaps": {k: v.to_dict() for k, v in self.gaps.items()},
            "latency_ms": self.latency_ms,
            "join": (
                {
                    **asdict(self.join),
                    "unmatched_predictions": self.join.unmatched_predictions,
                    "unmatched_labels": self.join.unmatched_labels,
                }
                if self.join
                else None
            ),
        }


# ------------------------------------------------------------------ metrics


def _all_metrics(task: str, y: np.ndarray, output: np.ndarray) -> dict[str, float]:
    return get_task(task).all_metrics(y, output)


def _one_metric(metric: str, task: str, y: np.ndarray, output: np.ndarray) -> float:
    return get_task(task).score(metric, y, output)


def _bootstrap(
    metrics: Sequence[str],
    task: str,
    y: np.ndarray,
    output: np.ndarray,
    *,
    rounds: int,
    confidence: float,
    rng: np.random.Generator,
) -> dict[str, tuple[float, float] | None]:
    """Percentile bootstrap intervals, resampling rows."""
    from cairn.tasks.bootstrap import bootstrap_intervals

    if rounds == 0 or len(y) < 2:
        return {m: None for m in metrics}
    found = bootstrap_intervals(
        task,
        y,
        proba=output if get_task(task).has_classes else None,
        y_pred=None if get_task(task).has_classes else output,
        metrics=list(metrics),
        resamples=rounds,
        level=confidence,
        seed=int(rng.integers(2**31)),
    )
    out: dict[str, tuple[float, float] | None] = {}
    for metric in metrics:
        interval = found.get(metric)
        finite = interval is not None and np.isfinite([interval.low, interval.high]).all()
        out[metric] = (interval.low, interval.high) if interval is not None and finite else None
    return out


def _window_length(timestamps: pd.Series, window: str) -> str:
    if window != "auto":
        return window
    span = (timestamps.max() - timestamps.min()).total_seconds()
    for candidate in _AUTO_WINDOWS:
        if span / duration_seconds(candidate) <= _MAX_WINDOWS:
            return candidate
    return _AUTO_WINDOWS[-1]


def performance(
    y_true: np.ndarray,
    output: np.ndarray,
    *,
    task: str,
    metric: str,
    timestamps: pd.Series | None = None,
    objectives: Sequence[Objective] = (),
    test_metrics: Mapping[str, float] | None = None,
    test_intervals: Mapping[str, Sequence[float]] | None = None,
    test_rows: int | None = None,
    window: str = "auto",
    confidence: float = 0.95,
    bootstrap: int = 200,
    min_window_rows: int = 30,
    latency_ms: np.ndarray | None = None,
    join: JoinStats | None = None,
    seed: int = 0,
) -> PerformanceReport:
    """Task metrics on labelled production rows, overall and per window.

    Args:
        y_true: true values; integer class codes for classification (rows
            coded -1, i.e. without a label, are ignored).
        output: class probabilities (one column per class) or predicted values.
        task: "classification" or "regression".
        metric: the spec's main metric.
        timestamps: when each row was scored; one window when omitted.
        objectives: the spec's objectives (task metrics and latency).
        test_metrics: the model's test-set figures, for the degradation check.
        test_intervals: their bootstrap intervals (``[low, high]`` per metric).
        test_rows: the size of the test set, to estimate an interval that
            ``test_intervals`` lacks.
        window: "auto" or a duration such as "1d".
        bootstrap: resamples for the confidence intervals (0: none).
        latency_ms: per-request latency from the prediction log.

    Raises:
        DataError: there is no labelled row.
    """
    y = np.asarray(y_true)
    output = np.asarray(output, dtype=float)
    labelled = (y >= 0) if get_task(task).has_classes else np.isfinite(y.astype(float))
    if not labelled.any():
        raise DataError("no labelled rows to measure performance on")
    y, output = y[labelled], output[labelled]
    rng = np.random.default_rng(seed)
    overall, focus = _overall(task, y, output, metric, objectives, bootstrap, confidence, rng)
    windows: list[WindowPerformance] = []
    length = "all rows"
    if timestamps is not None:
        times = pd.to_datetime(pd.Series(timestamps).reset_index(drop=True)[labelled], utc=True)
        length = _window_length(times, window)
        windows = _windows(
            times, y, output, task, focus, length, min_window_rows, bootstrap, confidence, rng
        )
    latency = _latency_quantiles(latency_ms)
    checks = _check_objectives(objectives, overall, latency)
    tests = {k: float(v) for k, v in (test_metrics or {}).items() if v is not None}
    gaps = _gaps(overall, tests, test_intervals or {}, test_rows, len(y), confidence)
    return PerformanceReport(
        task=task,
        metric=metric,
        n=len(y),
        overall=overall,
        windows=windows,
        objectives=checks,
        test_metrics=tests,
        degraded=[name for name, gap in gaps.items() if gap.degraded],
        window=length,
        confidence=confidence,
        join=join,
        latency_ms=latency,
        gaps=gaps,
    )


def _overall(
    task: str,
    y: np.ndarray,
    output: np.ndarray,
    metric: str,
    objectives: Sequence[Objective],
    bootstrap: int,
    confidence: float,
    rng: np.random.Generator,
) -> tuple[dict[str, Estimate], list[str]]:
    """Every metric on all labelled rows, and the metrics the checks focus on."""
    objective_metrics = [o.quantity for o in objectives if o.quantity not in _LATENCY_QUANTILES]
    overall_values = _all_metrics(task, y, output)
    focus = [metric, *[m for m in objective_metrics if m != metric and m in overall_values]]
    # Every metric gets an interval while that stays cheap; the main ones always do.
    judged = list(overall_values) if len(y) <= _FULL_BOOTSTRAP_ROWS else focus
    intervals = _bootstrap(
        judged, task, y, output, rounds=bootstrap, confidence=confidence, rng=rng
    )
    overall = {
        name: Estimate(value, *(intervals.get(name) or (None, None)))
        for name, value in overall_values.items()
    }
    return overall, focus


def _latency_quantiles(latency_ms: np.ndarray | None) -> dict[str, float]:
    if latency_ms is None or not len(latency_ms):
        return {}
    lat = np.asarray(latency_ms, dtype=float)
    lat = lat[np.isfinite(lat)]
    if not len(lat):
        return {}
    return {k: float(np.percentile(lat, q)) for k, q in _LATENCY_QUANTILES.items()}


def _gaps(
    overall: Mapping[str, Estimate],
    tests: Mapping[str, float],
    test_intervals: Mapping[str, Sequence[float]],
    test_rows: int | None,
    rows: int,
    confidence: float,
) -> dict[str, Gap]:
    """Production against test figures, for every metric with an interval."""
    # Every metric compared at once: widen each interval (Bonferroni) so that
    # the chance of calling any of them degraded by luck stays 1 - confidence.
    compared = [n for n in tests if (e := overall.get(n)) is not None and e.low is not None]
    widen = _bonferroni_widening(confidence, len(compared))
    gaps = {}
    for name in compared:
        gap = _gap(
            name,
            overall[name],
            tests[name],
            test_intervals.get(name),
            test_rows,
            rows,
            widen=widen,
            together=len(compared),
        )
        if gap is not None:
            gaps[name] = gap
    return gaps


def _gap(
    name: str,
    production: Estimate | None,
    test_value: float,
    test_interval: Sequence[float] | None,
    test_rows: int | None,
    rows: int,
    *,
    widen: float = 1.0,
    together: int = 1,
) -> Gap | None:
    """Production against test set, judged on the interval of the difference."""
    if production is None or production.low is None or production.high is None:
        return None
    if not (np.isfinite(production.value) and np.isfinite(test_value)):
        return None
    below = production.value - production.low
    above = production.high - production.value
    if test_interval is not None and len(test_interval) == 2 and np.isfinite(test_interval).all():
        test_low, test_high = float(test_interval[0]), float(test_interval[1])
        basis = "bootstrap intervals of both figures"
    elif test_rows:
        # The spread of a metric shrinks with the square root of the rows.
        scale = float(np.sqrt(rows / test_rows))
        test_low, test_high = test_value - below * scale, test_value + above * scale
        basis = f"production interval and a test-set interval estimated from its {test_rows} rows"
    else:
        test_low = test_high = test_value
        basis = "production interval only (the test set's size is unknown)"
    if together > 1:
        basis += f", widened for {together} metrics compared at once"
    gap = production.value - test_value
    low = gap - widen * float(np.hypot(below, test_high - test_value))
    high = gap + widen * float(np.hypot(above, test_value - test_low))
    worse = high < 0 if greater_is_better(name) else low > 0
    test = Estimate(test_value, test_low, test_high)
    return Gap(name, production, test, Estimate(gap, low, high), bool(worse), basis)


def _bonferroni_widening(confidence: float, comparisons: int) -> float:
    """How much wider an interval must be to hold for ``comparisons`` at once."""
    from scipy.stats import norm

    if comparisons <= 1:
        return 1.0
    tail = (1 - confidence) / 2
    return float(norm.ppf(1 - tail / comparisons) / norm.ppf(1 - tail))


def _windows(
    times: pd.Series,
    y: np.ndarray,
    output: np.ndarray,
    task: str,
    focus: Sequence[str],
    length: str,
    min_rows: int,
    bootstrap: int,
    confidence: float,
    rng: np.random.Generator,
) -> list[WindowPerformance]:
    step = pd.Timedelta(seconds=duration_seconds(length))
    origin = times.min().floor("D") if step >= pd.Timedelta(days=1) else times.min().floor("h")
    index = ((times - origin) // step).to_numpy(dtype=np.int64)
    out: list[WindowPerformance] = []
    for number in np.unique(index):
        rows = np.flatnonzero(index == number)
        start = origin + step * int(number)
        window = WindowPerformance(
            start=start.isoformat(), end=(start + step).isoformat(), n=len(rows)
        )
        if len(rows) < min_rows:
            window.note = f"fewer than {min_rows} labelled rows"
        else:
            yw, ow = y[rows], output[rows]
            intervals = _bootstrap(
                focus, task, yw, ow, rounds=bootstrap, confidence=confidence, rng=rng
            )
            for name in focus:
                value = _one_metric(name, task, yw, ow)
                window.metrics[name] = Estimate(value, *(intervals.get(name) or (None, None)))
        out.append(window)
    return out


def _check_objectives(
    objectives: Sequence[Objective],
    overall: Mapping[str, Estimate],
    latency: Mapping[str, float],
) -> list[ObjectiveCheck]:
    checks = []
    for objective in objectives:
        quantity = objective.quantity
        estimate = overall.get(quantity)
        if estimate is None and quantity in latency:
            estimate = Estimate(latency[quantity])
            how = "served requests (prediction log)"
        else:
            how = "labelled production rows"
        if estimate is None or not np.isfinite(estimate.value):
            checks.append(
                ObjectiveCheck(
                    str(objective), quantity, None, None, None, None, False, "not measured"
                )
            )
            continue
        met = objective.met_by(estimate.value)
        significant = False
        if not met and estimate.low is not None and estimate.high is not None:
            # Failing even at the friendliest end of the interval.
            best = estimate.high if greater_is_better(quantity) else estimate.low
            significant = not objective.met_by(best)
        checks.append(
            ObjectiveCheck(
                str(objective),
                quantity,
                estimate.value,
                estimate.low,
                estimate.high,
                met,
                significant,
                how,
            )
        )
    return checks


def _finite(value: float | None) -> float | None:
    # A scalar conversion for the report's figures (a plain float or None),
    # not a JSON sanitiser: cairn._io.json_safe would keep numpy floats.
    if value is None or not np.isfinite(value):
        return None
    return float(value)
