"""Comparing A/B and shadow arms on outcomes joined to the prediction log.

Labels (the true outcomes, known later) are joined to the logged predictions
on the request id and row, or on an input column such as a customer id.
Then, per arm, the share of correct predictions (classification) or the
mean absolute error (regression) with a 95 % interval, and for each arm
against the champion:

=================  ==============================  ===============================
comparison         classification                   regression
=================  ==============================  ===============================
challenger (A/B:   two-proportion z-test            Welch's t-test on absolute
different rows)                                     errors
shadow (paired:    McNemar's exact test on the      paired t-test on the difference
same rows)         rows where the arms disagree     of absolute errors
=================  ==============================  ===============================

Each comparison states the rows per arm needed to detect the observed
difference at the chosen significance level and power, so "not significant
yet" comes with "how many more rows".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cairn.exceptions import DataError

__all__ = ["ABTestReport", "ArmResult", "Comparison", "compare_arms"]

_META = ("request_id", "row", "ts", "model", "version", "arm", "latency_ms", "prediction")


@dataclass
class ArmResult:
    """One arm's outcome on the labelled rows."""

    arm: str
    model: str
    version: str
    n: int
    metric: str
    value: float
    ci_low: float
    ci_high: float


@dataclass
class Comparison:
    """One arm against the champion."""

    arm: str
    baseline: str
    test: str
    paired: bool
    n: int
    difference: float  # arm minus baseline, in the metric's unit
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    better: bool | None  # None when not significant
    rows_needed_per_arm: float  # to detect the observed difference


@dataclass
class ABTestReport:
    """Arms and their comparisons with the champion."""

    task: str
    metric: str
    alpha: float
    power: float
    labelled: int
    unlabelled: int
    arms: list[ArmResult] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _z(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))


def _label_key(value: Any) -> str:
    """Labels and predictions compared as canonical strings (1 == 1.0 == "1")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value).strip()


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (centre - half, centre + half)


def _mean_ci(values: np.ndarray, alpha: float) -> tuple[float, float]:
    from scipy.stats import t

    n = len(values)
    if n < 2:
        return (math.nan, math.nan)
    half = float(t.ppf(1 - alpha / 2, n - 1)) * float(values.std(ddof=1)) / math.sqrt(n)
    mean = float(values.mean())
    return (mean - half, mean + half)


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


def _two_proportions(
    a: np.ndarray, b: np.ndarray, alpha: float, power: float
) -> tuple[float, float, float, float, float]:
    """Difference b - a of success rates, its CI, p-value and rows per arm needed."""
    from scipy.stats import norm

    n1, n2 = len(a), len(b)
    p1, p2 = float(a.mean()), float(b.mean())
    diff = p2 - p1
    pooled = (a.sum() + b.sum()) / (n1 + n2)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = float(2 * norm.sf(abs(diff) / se0)) if se0 > 0 else (1.0 if diff == 0 else 0.0)
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    z = _z(1 - alpha / 2)
    needed = math.inf
    if diff != 0:
        mean = (p1 + p2) / 2
        needed = (
            z * math.sqrt(2 * mean * (1 - mean))
            + _z(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
        ) ** 2 / diff**2
    return diff, diff - z * se, diff + z * se, p_value, needed


def _mcnemar(
    a: np.ndarray, b: np.ndarray, alpha: float, power: float
) -> tuple[float, float, float, float, float]:
    """Paired success indicators: exact McNemar test on the discordant pairs."""
    from scipy.stats import binomtest

    n = len(a)
    only_a = int((a & ~b).sum())
    only_b = int((b & ~a).sum())
    diff = (only_b - only_a) / n
    discordant = only_a + only_b
    p_value = float(binomtest(only_b, discordant, 0.5).pvalue) if discordant else 1.0
    share = discordant / n
    z = _z(1 - alpha / 2)
    se = math.sqrt(max(share - diff * diff, 0.0) / n)
    needed = math.inf
    if diff != 0:
        needed = (z * math.sqrt(share) + _z(power) * math.sqrt(max(share - diff**2, 0.0))) ** 2 / (
            diff**2
        )
    return diff, diff - z * se, diff + z * se, p_value, needed


def _welch(
    a: np.ndarray, b: np.ndarray, alpha: float, power: float, paired: bool
) -> tuple[float, float, float, float, float]:
    from scipy.stats import t, ttest_ind, ttest_rel

    z = _z(1 - alpha / 2)
    if paired:
        d = b - a
        diff = float(d.mean())
        sd = float(d.std(ddof=1)) if len(d) > 1 else math.nan
        p_value = float(ttest_rel(b, a).pvalue) if len(d) > 1 and sd > 0 else 1.0
        half = (
            float(t.ppf(1 - alpha / 2, len(d) - 1)) * sd / math.sqrt(len(d))
            if len(d) > 1
            else math.nan
        )
        needed = (z + _z(power)) ** 2 * sd**2 / diff**2 if diff else math.inf
        return diff, diff - half, diff + half, p_value, needed
    diff = float(b.mean() - a.mean())
    va, vb = float(a.var(ddof=1)), float(b.var(ddof=1))
    p_value = float(ttest_ind(b, a, equal_var=False).pvalue) if va + vb > 0 else 1.0
    se = math.sqrt(va / len(a) + vb / len(b))
    needed = (z + _z(power)) ** 2 * (va + vb) / diff**2 if diff else math.inf
    return diff, diff - z * se, diff + z * se, p_value, needed


def compare_arms(
    joined: pd.DataFrame,
    *,
    task: str | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> ABTestReport:
    """Compare the arms of a log joined to outcomes (see :func:`join_outcomes`).

    Args:
        joined: log rows with a ``label`` column (missing where unknown).
        task: "classification" or "regression"; inferred from the log when omitted
            (probability columns mean classification).

    Raises:
        DataError: no labelled rows, or no champion rows to compare with.
    """
    if "label" not in joined.columns:
        raise DataError("join labels to the log first (a 'label' column is needed)")
    if task is None:
        task = (
            "classification"
            if any(str(c).startswith("proba_") for c in joined.columns)
            else "regression"
        )
    labelled = joined[joined["label"].notna()]
    unlabelled = len(joined) - len(labelled)
    if labelled.empty:
        raise DataError(
            "no logged prediction has a label; check the join key (request_id, row or an "
            "entity column) and the labels file"
        )
    z = _z(1 - alpha / 2)
    if task == "classification":
        metric = "accuracy"
        score = np.asarray(
            [
                _label_key(p) == _label_key(y)
                for p, y in zip(labelled["prediction"], labelled["label"], strict=True)
            ],
            dtype=bool,
        )
    else:
        metric = "mae"
        score = np.abs(
            pd.to_numeric(labelled["prediction"], errors="coerce").to_numpy(dtype=float)
            - pd.to_numeric(labelled["label"], errors="coerce").to_numpy(dtype=float)
        )
    frame = labelled.assign(__score=score)
    report = ABTestReport(task, metric, alpha, power, len(labelled), unlabelled)
    for arm, rows in frame.groupby("arm", sort=False):
        values = rows["__score"].to_numpy()
        if task == "classification":
            low, high = _wilson(int(values.sum()), len(values), z)
            value = float(values.mean())
        else:
            low, high = _mean_ci(values.astype(float), alpha)
            value = float(np.nanmean(values))
        report.arms.append(
            ArmResult(
                str(arm),
                str(rows["model"].iloc[0]),
                str(rows["version"].iloc[0]),
                len(values),
                metric,
                value,
                low,
                high,
            )
        )
    if "champion" not in set(frame["arm"]):
        raise DataError("no labelled champion rows to compare the other arms with")
    champion = frame[frame["arm"] == "champion"]
    for arm in [a.arm for a in report.arms if a.arm != "champion"]:
        rows = frame[frame["arm"] == arm]
        paired = arm == "shadow"
        if paired:
            both = champion.merge(rows, on=["request_id", "row"], suffixes=("_a", "_b"))
            a, b = both["__score_a"].to_numpy(), both["__score_b"].to_numpy()
        else:
            a, b = champion["__score"].to_numpy(), rows["__score"].to_numpy()
        if len(a) < 2 or len(b) < 2:
            continue
        if task == "classification":
            test = "McNemar exact" if paired else "two-proportion z-test"
            stats = (_mcnemar if paired else _two_proportions)(
                a.astype(bool), b.astype(bool), alpha, power
            )
            higher_is_better = True
        else:
            test = "paired t-test" if paired else "Welch t-test"
            stats = _welch(a.astype(float), b.astype(float), alpha, power, paired)
            higher_is_better = False
        diff, low, high, p_value, needed = stats
        significant = p_value < alpha
        better = None
        if significant:
            better = diff > 0 if higher_is_better else diff < 0
        report.comparisons.append(
            Comparison(
                arm=arm,
                baseline="champion",
                test=test,
                paired=paired,
                n=int(min(len(a), len(b))),
                difference=diff,
                ci_low=low,
                ci_high=high,
                p_value=p_value,
                significant=significant,
                better=better,
                rows_needed_per_arm=math.ceil(needed) if math.isfinite(needed) else math.inf,
            )
        )
    return report
