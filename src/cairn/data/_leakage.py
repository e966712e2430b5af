"""Target leakage: single features that alone nearly determine the target.

Each candidate feature is scored on held-out rows (half the sample fits, the
other half is scored): for a class target, the accuracy of predicting the
label from the feature's value (or quantile bin, or nearest value); for a
numeric target, the rank correlation or the held-out R² of per-value means.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cairn.data.findings import Finding
from cairn.data.schema import ColumnSchema, Role, Schema
from cairn.data.values import as_strings, is_numeric_dtype
from cairn.tasks import Task

# Thresholds, named so that reports and tests can refer to them.
LEAKAGE_ACCURACY = 0.99  # one feature alone predicts the class this well ...
LEAKAGE_MAX_BASELINE = 0.95  # ... while the majority class is below this
LEAKAGE_SPEARMAN = 0.99  # |rank correlation| with a regression target
LEAKAGE_SAMPLE = 20_000
LEAKAGE_BINS = 20


def leakage_findings(frame: pd.DataFrame, schema: Schema, task: Task) -> list[Finding]:
    """Single features that alone nearly determine the target (held-out check)."""
    target = schema.target
    assert target is not None
    candidates = [
        c for c in schema.columns if c.role in (Role.NUMERIC, Role.CATEGORICAL, Role.BOOLEAN)
    ]
    if not candidates or len(frame) < 20:
        return []
    sample = frame
    if len(frame) > LEAKAGE_SAMPLE:
        sample = frame.sample(n=LEAKAGE_SAMPLE, random_state=0)
    order = np.random.default_rng(0).permutation(len(sample))
    halves = order[: len(order) // 2], order[len(order) // 2 :]
    if task.has_classes:
        return _class_leakage(sample, target, candidates, halves, rows=len(frame))
    return _numeric_leakage(sample, target, candidates, halves, rows=len(frame))


def _leakage_finding(column: str, rows: int, seen: str) -> Finding:
    return Finding(
        "target_leakage",
        "warning",
        column,
        rows,
        f"possible target leakage: column {column!r} alone {seen}",
        f"kept; check that {column!r} is known at prediction time, or set its role to 'ignore'",
        False,
    )


def _class_leakage(
    sample: pd.DataFrame,
    target: str,
    candidates: list[ColumnSchema],
    halves: tuple[np.ndarray, np.ndarray],
    *,
    rows: int,
) -> list[Finding]:
    labels = as_strings(sample[target]).astype(str)
    baseline = float(labels.value_counts(normalize=True).iloc[0])
    if baseline >= LEAKAGE_MAX_BASELINE:
        return []
    y_codes, _ = pd.factorize(labels)
    findings: list[Finding] = []
    for column in candidates:
        accuracy = _held_out_accuracy(sample[column.name], column.role, y_codes, halves)
        if accuracy >= LEAKAGE_ACCURACY:
            seen = (
                f"predicts {target!r} with {accuracy:.1%} accuracy on held-out rows "
                f"(majority class: {baseline:.1%})"
            )
            findings.append(_leakage_finding(column.name, rows, seen))
    return findings


def _held_out_accuracy(
    values: pd.Series, role: Role, y_codes: np.ndarray, halves: tuple[np.ndarray, np.ndarray]
) -> float:
    """How well one feature alone predicts the label codes of the held-out half."""
    fit_rows, eval_rows = halves
    y_fit, y_eval = y_codes[fit_rows], y_codes[eval_rows]
    n_labels = int(y_codes.max()) + 1
    majority = int(np.bincount(y_fit, minlength=n_labels).argmax())
    # Each key (value or bin) predicts its most frequent label among the fit
    # rows; unseen keys predict the majority class.
    key, _ = pd.factorize(_leakage_key(values, role))
    n_keys = int(key.max()) + 1
    table = np.bincount(key[fit_rows] * n_labels + y_fit, minlength=n_keys * n_labels).reshape(
        n_keys, n_labels
    )
    best = np.where(table.sum(axis=1) > 0, table.argmax(axis=1), majority)
    predicted = best[key[eval_rows]]
    accuracy = float(np.mean(predicted == y_eval))
    if role == Role.NUMERIC and is_numeric_dtype(values):
        # Bins blur a sharp threshold; the nearest training value does not.
        x = values.to_numpy(dtype=float)
        nearest = _nearest_labels(x[fit_rows], y_fit, x[eval_rows])
        nearest = np.where(np.isnan(x[eval_rows]), predicted, nearest)
        accuracy = max(accuracy, float(np.mean(nearest == y_eval)))
    return accuracy


def _numeric_leakage(
    sample: pd.DataFrame,
    target: str,
    candidates: list[ColumnSchema],
    halves: tuple[np.ndarray, np.ndarray],
    *,
    rows: int,
) -> list[Finding]:
    y = pd.to_numeric(sample[target], errors="coerce").astype("float64")
    findings: list[Finding] = []
    for column in candidates:
        scored = _numeric_score(sample[column.name], column.role, y, halves)
        if scored is not None and scored[0] >= LEAKAGE_SPEARMAN:
            seen = f"tracks {target!r} ({scored[1]})"
            findings.append(_leakage_finding(column.name, rows, seen))
    return findings


def _numeric_score(
    values: pd.Series, role: Role, y: pd.Series, halves: tuple[np.ndarray, np.ndarray]
) -> tuple[float, str] | None:
    """(score, how it was measured) of one feature against a numeric target;
    None when it cannot be measured."""
    if is_numeric_dtype(values):
        numbers = values.astype("float64")
        both = numbers.notna() & y.notna()
        if both.sum() < 10:
            return None
        rx, ry = numbers[both].rank().to_numpy(), y.rank()[both].to_numpy()
        if np.std(rx) == 0 or np.std(ry) == 0:
            return None
        score = abs(float(np.corrcoef(rx, ry)[0, 1]))
        return score, f"|Spearman correlation| {score:.3f}"
    fit_rows, eval_rows = halves
    groups = _leakage_key(values, role)
    fit = pd.DataFrame({"key": groups.iloc[fit_rows].to_numpy(), "y": y.iloc[fit_rows].to_numpy()})
    means = fit.dropna().groupby("key")["y"].mean()
    truth = y.iloc[eval_rows].to_numpy()
    guess = groups.iloc[eval_rows].map(means).fillna(fit["y"].mean()).to_numpy(dtype=float)
    ok = ~np.isnan(truth)
    total = float(np.sum((truth[ok] - truth[ok].mean()) ** 2))
    if total == 0.0:
        return None
    score = 1.0 - float(np.sum((truth[ok] - guess[ok]) ** 2)) / total
    return score, f"held-out R² {score:.3f}"


def _leakage_key(series: pd.Series, role: Role) -> pd.Series:
    """A grouping key for one feature: its values, or quantile bins of numbers."""
    if role == Role.NUMERIC and is_numeric_dtype(series):
        ranks = series.rank(pct=True, method="average").to_numpy(dtype=float)
        bins = np.clip(np.floor(ranks * LEAKAGE_BINS), 0, LEAKAGE_BINS - 1)
        # Missing values form a key of their own.
        return pd.Series(np.where(np.isnan(bins), -1, bins).astype(np.int64), index=series.index)
    return as_strings(series).fillna("<missing>").astype(str)


def _nearest_labels(x_fit: np.ndarray, y_fit: np.ndarray, x_eval: np.ndarray) -> np.ndarray:
    """For each of ``x_eval``, the label of the nearest value in ``x_fit``
    (1-nearest-neighbour on one feature); missing values are skipped."""
    known = ~np.isnan(x_fit)
    if not known.any():
        return np.full(len(x_eval), None, dtype=object)
    order = np.argsort(x_fit[known], kind="stable")
    xs, ys = x_fit[known][order], y_fit[known][order]
    position = np.searchsorted(xs, np.nan_to_num(x_eval))
    left = np.clip(position - 1, 0, len(xs) - 1)
    right = np.clip(position, 0, len(xs) - 1)
    with np.errstate(invalid="ignore"):
        use_left = np.abs(x_eval - xs[left]) <= np.abs(xs[right] - x_eval)
    return np.asarray(ys[np.where(use_left, left, right)], dtype=object)
