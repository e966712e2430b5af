"""Comparing A/B and shadow arms on outcomes joined to the prediction log.

Labels (the true outcomes, known later) are joined to the logged predictions
on the request id and row, or on an input column such as a customer id.
Each labelled record counts once: a record that a shadow model also scored
appears twice in the log (once per arm) but is one record.

Per arm, the project's metric (the spec's ``metric``: ROC-AUC, log loss,
RMSE, ...) with a bootstrap interval, and the share of correct predictions
(classification) or the mean absolute error (regression) beside it. For
each arm against the champion, on each of these metrics:

=====================  =================================  ===============================
metric                 challenger (A/B: different rows)   shadow (paired: same records)
=====================  =================================  ===============================
ROC-AUC (binary)       DeLong's test, unpaired            DeLong's test, paired
accuracy               two-proportion z-test              McNemar's exact test on the
                                                          records where the arms disagree
mean absolute error    Welch's t-test on absolute errors  paired t-test
any other metric       bootstrap of the difference,       bootstrap of the difference,
                       each arm resampled on its own      both arms on the same resamples
=====================  =================================  ===============================

Each comparison states the records per arm needed to detect the observed
difference at the chosen significance level and power, so "not significant
yet" comes with "how many more records".

Clusterings name their clusters arbitrarily, so their arms are compared by
how well each recovers the joined labels (a ground truth): the adjusted
Rand index and the normalized mutual information, each with a bootstrap
interval and a bootstrap of the difference. The internal indices
(silhouette, ...) need the rows' features, which the log does not keep.
A shadow arm also gets its agreement with the champion: the adjusted Rand
index between their cluster ids on every record both scored (1: the same
segmentation, whatever the ids).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cairn.data.values import category_string
from cairn.exceptions import DataError
from cairn.serving._abtest_metrics import (
    AGREEMENT_INDICES,
    arm_intervals,
    arm_statistics,
    bootstrap_gap,
    metric_value,
)
from cairn.serving._abtest_stats import (
    delong,
    mcnemar,
    mean_ci,
    rows_needed,
    two_proportions,
    welch,
    wilson,
    z_two_sided,
)
from cairn.tasks import Output, Task, get_task, task_names

__all__ = [
    "ABTestReport",
    "ArmResult",
    "Comparison",
    "MetricValue",
    "compare_arms",
    "join_outcomes",
]

#: per output, the metric scored record by record, which gets a closed-form
#: test: whether the predicted label is right, or the absolute error
_RECORD_METRIC = {Output.PROBABILITIES: "accuracy", Output.VALUES: "mae"}


@dataclass(frozen=True)
class MetricValue:
    """A metric on one arm's labelled records, with its interval."""

    value: float
    ci_low: float
    ci_high: float


@dataclass
class ArmResult:
    """One arm's outcome on its labelled records."""

    arm: str
    model: str
    version: str
    n: int  # labelled records this arm scored
    metrics: dict[str, MetricValue] = field(default_factory=dict)


@dataclass
class Comparison:
    """One arm against the champion on one metric."""

    arm: str
    baseline: str
    metric: str
    test: str
    paired: bool
    n: int  # paired: records both arms scored; unpaired: the smaller arm's records
    n_baseline: int
    n_arm: int
    difference: float  # arm minus baseline, in the metric's unit
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    better: bool | None  # None when not significant
    rows_needed_per_arm: float  # records per arm to detect the observed difference

    def describe_sample(self) -> str:
        if self.paired:
            return f"on the {self.n:,} labelled records both arms scored"
        return (
            f"on {self.n_baseline:,} {self.baseline} records and {self.n_arm:,} {self.arm} records"
        )


@dataclass
class ABTestReport:
    """Arms and their comparisons with the champion.

    Attributes:
        metric: the project's metric; ``metrics`` lists it first, then
            accuracy (classification) or mae (regression).
        labelled: labelled records (each counted once, whatever the arms).
        unlabelled: logged records without a label.
        logged: labelled log rows (a shadowed record is one row per arm).
    """

    task: str
    metric: str
    alpha: float
    power: float
    labelled: int
    unlabelled: int
    logged: int = 0
    metrics: list[str] = field(default_factory=list)
    arms: list[ArmResult] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    #: clusterings: each shadow arm's adjusted Rand index with the
    #: champion's cluster ids, on every record both scored
    agreement: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _label_key(value: Any) -> str:
    """Labels and predictions compared as the canonical category strings
    training uses (1 == 1.0 == "1"); "" for a missing value."""
    key = category_string(value)
    return key if isinstance(key, str) else ""


def join_outcomes(
    log: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    on: Sequence[str] | str | None = None,
    label_column: str | None = None,
) -> pd.DataFrame:
    """The log rows with a ``label`` column, from ``labels`` joined on ``on``.

    ``on`` defaults to ``request_id`` (plus ``row`` when ``labels`` has it).

    Raises:
        DataError: a key or the label column is missing.
    """
    keys = [on] if isinstance(on, str) else list(on or [])
    if not keys:
        keys = ["request_id", "row"] if "row" in labels.columns else ["request_id"]
    for key in keys:
        if key not in labels.columns:
            raise DataError(
                f"labels have no column {key!r} to join on; columns: "
                f"{', '.join(map(str, labels.columns))}"
            )
        if key not in log.columns:
            raise DataError(f"the prediction log has no column {key!r} to join on")
    if label_column is None:
        rest = [c for c in labels.columns if c not in keys]
        if len(rest) != 1:
            raise DataError(
                "cannot tell which labels column holds the outcome; name it with --label-column "
                f"(columns: {', '.join(map(str, rest))})"
            )
        label_column = str(rest[0])
    if label_column not in labels.columns:
        raise DataError(f"labels have no column {label_column!r}")
    truth = labels[[*keys, label_column]].rename(columns={label_column: "__label"})
    truth = truth.drop_duplicates(subset=keys, keep="last")
    left = log.copy()
    for key in keys:  # join ids as text, so 7 and "7" meet
        left[key] = left[key].map(_label_key)
        truth[key] = truth[key].map(_label_key)
    return left.merge(truth, on=keys, how="left").rename(columns={"__label": "label"})


def _record_keys(frame: pd.DataFrame) -> pd.Series:
    """One key per scored record (a shadowed record has a row per arm)."""
    if "request_id" in frame.columns:
        row = frame["row"].map(_label_key) if "row" in frame.columns else ""
        return frame["request_id"].map(_label_key) + "\x1f" + row
    return pd.Series(frame.index.astype(str), index=frame.index)


def _class_codes(labels: pd.Series, classes: Sequence[str]) -> np.ndarray:
    index = {_label_key(c): i for i, c in enumerate(classes)}
    codes = labels.map(lambda v: index.get(_label_key(v), -1)).to_numpy(dtype=int)
    if (codes < 0).any():
        unknown = sorted({_label_key(v) for v, c in zip(labels, codes, strict=True) if c < 0})
        raise DataError(
            f"labels {', '.join(map(repr, unknown[:5]))} are not classes the logged "
            f"probabilities name ({', '.join(classes)}); check the labels file"
        )
    return codes


@dataclass
class _Arm:
    """One arm's labelled records as the statistics need them."""

    name: str
    rows: pd.DataFrame
    y: np.ndarray  # class codes or values
    output: np.ndarray  # probabilities or predicted values
    score: np.ndarray  # correct (bool) or absolute error


def _collect_arms(
    labelled: pd.DataFrame, task: Task, proba_columns: Sequence[str], needs_proba: bool
) -> dict[str, _Arm]:
    """Each arm's labelled records: true values, outputs and per-record score."""
    classes = [str(c)[len("proba_") :] for c in proba_columns]
    arms: dict[str, _Arm] = {}
    output: np.ndarray
    # a clustering's labels as codes shared by every arm
    label_codes = {
        key: code for code, key in enumerate(sorted(set(labelled["label"].map(_label_key))))
    }
    for name, rows in labelled.groupby("arm", sort=False):
        if task.output == Output.LABELS:
            output = pd.to_numeric(rows["prediction"], errors="coerce").to_numpy(dtype=float)
            keep = np.isfinite(output)
            rows, output = rows[keep], output[keep].astype(int)
            y = rows["label"].map(lambda v: label_codes[_label_key(v)]).to_numpy(dtype=int)
            score = np.zeros(len(rows))
        elif task.has_classes:
            # The metric and accuracy are measured on the same records.
            rows = rows[rows[list(proba_columns)].notna().all(axis=1)] if needs_proba else rows
            y = _class_codes(rows["label"], classes) if needs_proba else np.zeros(len(rows))
            output = rows[list(proba_columns)].to_numpy(dtype=float)
            score = np.asarray(
                [
                    _label_key(p) == _label_key(t)
                    for p, t in zip(rows["prediction"], rows["label"], strict=True)
                ],
                dtype=bool,
            )
        else:
            y = pd.to_numeric(rows["label"], errors="coerce").to_numpy(dtype=float)
            output = pd.to_numeric(rows["prediction"], errors="coerce").to_numpy(dtype=float)
            keep = np.isfinite(y) & np.isfinite(output)
            rows, y, output = rows[keep], y[keep], output[keep]
            score = np.abs(output - y)
        if not rows.empty:
            arms[str(name)] = _Arm(str(name), rows, y, output, score)
    return arms


def _arm_result(
    arm: _Arm, metrics: Sequence[str], task: Task, *, alpha: float, resamples: int, seed: int
) -> ArmResult:
    """The arm's metrics with their intervals: Wilson (accuracy), t (mean
    absolute error) or percentile bootstrap (any other metric)."""
    values: dict[str, MetricValue] = {}
    if task.has_classes:
        low, high = wilson(int(arm.score.sum()), len(arm.score), z_two_sided(alpha))
        values[_RECORD_METRIC[task.output]] = MetricValue(float(arm.score.mean()), low, high)
    elif task.output in _RECORD_METRIC:
        low, high = mean_ci(arm.score.astype(float), alpha)
        values[_RECORD_METRIC[task.output]] = MetricValue(float(arm.score.mean()), low, high)
    rest = [name for name in metrics if name not in values]
    if rest and len(arm.y) >= 2:
        found = arm_intervals(
            task, arm.y, arm.output, rest, resamples=resamples, level=1 - alpha, seed=seed
        )
        for name in rest:
            if name not in found:
                raise DataError(f"metric {name!r} is not one cairn computes for {task.name}")
            values[name] = MetricValue(found[name].value, found[name].low, found[name].high)
    return ArmResult(
        arm.name,
        str(arm.rows["model"].iloc[0]),
        str(arm.rows["version"].iloc[0]),
        len(arm.rows),
        {name: values[name] for name in metrics if name in values},
    )


def compare_arms(
    joined: pd.DataFrame,
    *,
    task: str | None = None,
    metric: str | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    resamples: int = 1000,
    seed: int = 0,
) -> ABTestReport:
    """Compare the arms of a log joined to outcomes (see :func:`join_outcomes`).

    Args:
        joined: log rows with a ``label`` column (missing where unknown).
        task: "classification", "regression" or "clustering"; inferred from the
            log when omitted (probability columns mean classification, else
            regression).
        metric: the project's metric; the task's default when omitted (for a
            clustering: adjusted_rand, or normalized_mutual_info).
        resamples: bootstrap resamples for intervals and for metrics
            without a closed-form test.

    Raises:
        DataError: no labelled rows, no champion rows to compare with, or a
            label that is not one of the logged classes.
    """
    if "label" not in joined.columns:
        raise DataError("join labels to the log first (a 'label' column is needed)")
    proba_columns = [c for c in joined.columns if str(c).startswith("proba_")]
    kind = get_task(task if task is not None else _task_of_log(proba_columns))
    if kind.output == Output.LABELS:
        metric = _agreement_index(metric)
    metric = metric or kind.default_metric(len(proba_columns))
    report, labelled = _empty_report(joined, kind, metric, alpha, power)
    needs_proba = kind.has_classes and metric != "accuracy"
    if needs_proba and not proba_columns:
        raise DataError(
            f"the log holds no class probabilities, so {metric} cannot be computed; "
            "compare on accuracy instead (--metric accuracy)"
        )
    arms = _collect_arms(labelled, kind, proba_columns, needs_proba)
    if "champion" not in arms:
        raise DataError("no labelled champion rows to compare the other arms with")
    for arm in arms.values():
        report.arms.append(
            _arm_result(arm, report.metrics, kind, alpha=alpha, resamples=resamples, seed=seed)
        )
    champion = arms["champion"]
    for arm in [a for a in arms.values() if a.name != "champion"]:
        report.comparisons.extend(
            _comparisons(champion, arm, report, resamples=resamples, seed=seed)
        )
    if kind.output == Output.LABELS:
        report.agreement = _shadow_agreement(joined, kind)
    return report


def _agreement_index(metric: str | None) -> str:
    """The index two clusterings are compared by (adjusted Rand unless named)."""
    if metric is None:
        return AGREEMENT_INDICES[0]
    if metric not in AGREEMENT_INDICES:
        raise DataError(
            f"clusterings are compared on their agreement with the joined labels "
            f"({', '.join(AGREEMENT_INDICES)}); {metric!r} needs the rows' features, which "
            "the prediction log does not keep"
        )
    return metric


def _shadow_agreement(joined: pd.DataFrame, task: Task) -> dict[str, float]:
    """Each shadow arm's adjusted Rand index with the champion's cluster ids
    on every record both scored, labelled or not."""
    ids = pd.to_numeric(joined["prediction"], errors="coerce")
    frame = pd.DataFrame({"key": _record_keys(joined), "arm": joined["arm"], "id": ids}).dropna()
    champion = frame[frame["arm"] == "champion"].drop_duplicates("key")
    agreement: dict[str, float] = {}
    for name in sorted(set(frame["arm"]) - {"champion", "challenger"}):
        shadow = frame[frame["arm"] == name].drop_duplicates("key")
        both = champion.merge(shadow, on="key", suffixes=("_a", "_b"))
        if len(both) >= 2:
            agreement[str(name)] = metric_value(
                "adjusted_rand",
                task,
                both["id_a"].to_numpy(dtype=int),
                both["id_b"].to_numpy(dtype=int),
            )
    return agreement


def _task_of_log(proba_columns: Sequence[str]) -> str:
    """The task whose model output the log holds: probability columns, or
    one predicted value per record."""
    output = Output.PROBABILITIES if proba_columns else Output.VALUES
    return next(name for name in task_names() if get_task(name).output == output)


def _empty_report(
    joined: pd.DataFrame, task: Task, metric: str, alpha: float, power: float
) -> tuple[ABTestReport, pd.DataFrame]:
    """The report's counts and metrics, before any arm; and the labelled rows."""
    keys = _record_keys(joined)
    has_label = joined["label"].notna()
    labelled = joined[has_label]
    if labelled.empty:
        raise DataError(
            "no logged prediction has a label; check the join key (request_id, row or an "
            "entity column) and the labels file"
        )
    if task.output == Output.LABELS:
        second = next(index for index in AGREEMENT_INDICES if index != metric)
    else:
        second = _RECORD_METRIC[task.output]
    report = ABTestReport(
        task.name,
        metric,
        alpha,
        power,
        labelled=int(keys[has_label].nunique()),
        unlabelled=int(keys[~has_label].nunique()),
        logged=len(labelled),
        metrics=list(dict.fromkeys([metric, second])),
    )
    return report, labelled


def _comparisons(
    champion: _Arm, arm: _Arm, report: ABTestReport, *, resamples: int, seed: int
) -> list[Comparison]:
    """``arm`` against the champion on each of the report's metrics."""
    alpha, power, task = report.alpha, report.power, get_task(report.task)
    paired = arm.name == "shadow"
    out = []
    for name in report.metrics:
        found_comparison = _compare(
            champion, arm, name, task=task, paired=paired, alpha=alpha, power=power,
            resamples=resamples, seed=seed,
        )  # fmt: skip
        if found_comparison is None:
            continue
        test, n_a, n_b, diff, low, high, p_value, needed = found_comparison
        significant = p_value < alpha
        better = None
        if significant:
            better = diff > 0 if task.greater_is_better(name) else diff < 0
        out.append(
            Comparison(
                arm=arm.name,
                baseline="champion",
                metric=name,
                test=test,
                paired=paired,
                n=int(min(n_a, n_b)),
                n_baseline=int(n_a),
                n_arm=int(n_b),
                difference=diff,
                ci_low=low,
                ci_high=high,
                p_value=p_value,
                significant=significant,
                better=better,
                rows_needed_per_arm=math.ceil(needed) if math.isfinite(needed) else math.inf,
            )
        )
    return out


def _compare(
    champion: _Arm,
    arm: _Arm,
    metric: str,
    *,
    task: Task,
    paired: bool,
    alpha: float,
    power: float,
    resamples: int,
    seed: int,
) -> tuple[str, int, int, float, float, float, float, float] | None:
    """The test suited to the metric and the design; None when an arm has
    fewer than two records."""
    a, b = champion, arm
    if paired:
        both = pd.DataFrame({"key": _record_keys(a.rows).to_numpy(), "i": np.arange(len(a.rows))})
        other = pd.DataFrame({"key": _record_keys(b.rows).to_numpy(), "j": np.arange(len(b.rows))})
        matched = both.merge(other, on="key")
        ia, ib = matched["i"].to_numpy(), matched["j"].to_numpy()
        a = _Arm(a.name, a.rows.iloc[ia], a.y[ia], a.output[ia], a.score[ia])
        b = _Arm(b.name, b.rows.iloc[ib], b.y[ib], b.output[ib], b.score[ib])
    n_a, n_b = len(a.y), len(b.y)
    if n_a < 2 or n_b < 2:
        return None
    z = z_two_sided(alpha)
    if metric == _RECORD_METRIC.get(task.output) and task.has_classes:
        test = "McNemar exact" if paired else "two-proportion z-test"
        method = mcnemar if paired else two_proportions
        diff, low, high, p_value, needed = method(
            a.score.astype(bool), b.score.astype(bool), alpha, power
        )
        return test, n_a, n_b, diff, low, high, p_value, needed
    if metric == _RECORD_METRIC.get(task.output):
        test = "paired t-test" if paired else "Welch t-test"
        diff, low, high, p_value, needed = welch(
            a.score.astype(float), b.score.astype(float), alpha, power, paired
        )
        return test, n_a, n_b, diff, low, high, p_value, needed
    binary = task.has_classes and a.output.shape[1] == 2
    if metric == "roc_auc" and binary:
        positive_a, positive_b = a.y == 1, b.y == 1
        if positive_a.all() or not positive_a.any() or positive_b.all() or not positive_b.any():
            return None  # ROC-AUC needs both classes in each arm
        diff, se, p_value = delong(a.output[:, 1], b.output[:, 1], positive_a, positive_b, paired)
        test = "DeLong, paired" if paired else "DeLong, unpaired"
        return (
            test,
            n_a,
            n_b,
            diff,
            diff - z * se,
            diff + z * se,
            p_value,
            rows_needed(se, min(n_a, n_b), diff, alpha, power),
        )
    stats_a = arm_statistics(task, a.y, a.output)
    stats_b = arm_statistics(task, b.y, b.output)
    if metric not in stats_a:
        return None
    low, high, se, p_value = bootstrap_gap(
        stats_a[metric], stats_b[metric], n_a, n_b, paired=paired, resamples=resamples,
        alpha=alpha, seed=seed,
    )  # fmt: skip
    diff = metric_value(metric, task, b.y, b.output) - metric_value(metric, task, a.y, a.output)
    test = "bootstrap, paired" if paired else "bootstrap, unpaired"
    return (
        test,
        n_a,
        n_b,
        diff,
        low,
        high,
        p_value,
        rows_needed(se, min(n_a, n_b), diff, alpha, power),
    )
