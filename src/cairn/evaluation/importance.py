"""Which inputs the model relies on.

* :func:`permutation_importance` — model-agnostic: how much the test score
  (the project's metric) drops when one input column is shuffled.
* :func:`tree_shap` — exact tree SHAP values computed natively by LightGBM
  (``pred_contrib=True``) or CatBoost (``ShapValues``) on the pipeline's
  transformed features, summed back to the input columns they came from.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cairn.tasks import get_task, greater_is_better

#: Test rows used for permutation importance (a random subset above this).
PERMUTATION_ROWS = 2_000
#: Rows whose SHAP values are computed (a random subset above this).
SHAP_ROWS = 2_000
#: Fewest rows explained when a time budget cuts the sample, and the rows
#: timed to judge the cost per row.
SHAP_MIN_ROWS = 50
SHAP_PROBE_ROWS = 20
#: Cells (rows x input columns) of shuffled copies scored in all, and per
#: model call: the cost stays linear in the number of columns, the memory bounded.
PERMUTATION_MAX_CELLS = 4_000_000
PERMUTATION_BATCH_CELLS = 2_000_000
#: Fewest rows a shuffle is scored on; rows kept before shuffles or columns
#: are given up; rows timed to judge the cost per row.
PERMUTATION_MIN_ROWS = 50
PERMUTATION_COMFORT_ROWS = 200
PERMUTATION_PROBE_ROWS = 100


@dataclass
class Importance:
    """Permutation importance per input column, largest first.

    Attributes:
        metric: the score used; ``mean`` is the drop in that score (positive:
            the model needs the column).
        rows: test rows used.
        repeats: shuffles per column.
    """

    metric: str
    features: list[str]
    mean: list[float]
    std: list[float]
    rows: int
    repeats: int
    baseline: float
    not_measured: int = 0


def _score(task: str, metric: str, model_output: np.ndarray, y: np.ndarray) -> float:
    return get_task(task).score(metric, y, model_output)


def _predict(model: Any, X: pd.DataFrame, task: str) -> np.ndarray:
    predict = model.predict_proba if get_task(task).has_classes else model.predict
    return np.asarray(predict(X), dtype=float)


def permutation_importance(
    model: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    task: str,
    metric: str,
    features: Sequence[str] | None = None,
    repeats: int = 3,
    max_rows: int = PERMUTATION_ROWS,
    seed: int = 0,
    batch_rows: int = 200_000,
    time_budget: float | None = 6.0,
    max_cells: int = PERMUTATION_MAX_CELLS,
) -> Importance:
    """Drop in the test score when each input column is shuffled.

    The shuffled copies of the test rows are scored in large batches (one
    model call per batch rather than per shuffle), which matters for
    pipelines and ensembles whose per-call overhead dwarfs the per-row cost.

    Args:
        model: a fitted estimator taking the input frame (``predict_proba``
            for classification, ``predict`` for regression).
        X, y: held-out rows and their true values (integer codes for
            classification).
        features: columns to shuffle (all of ``X`` by default).
        repeats: shuffles per column.
        max_rows: above this many rows a random subset is used.
        time_budget: seconds; the cost per row is timed on a probe of
            ``PERMUTATION_PROBE_ROWS`` rows, and the work is cut to fit (see
            ``max_cells`` for the order).
        max_cells: cap on rows x columns scored in all. When the cap or the
            time budget binds: fewer rows per shuffle down to
            ``PERMUTATION_COMFORT_ROWS``, then one shuffle per column, then
            fewer rows down to ``PERMUTATION_MIN_ROWS``, then a seeded random
            subset of the columns (``Importance.not_measured`` says how many
            were left out).
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    if len(X) > max_rows:
        index = np.sort(rng.choice(len(X), size=max_rows, replace=False))
        X, y = X.iloc[index], y[index]
    X = X.reset_index(drop=True)
    names = [f for f in (features or list(X.columns)) if f in X.columns]
    sign = 1.0 if greater_is_better(metric) else -1.0
    # Rows scored in all (the baseline and one copy per shuffle): the cell
    # cap keeps memory and cost linear in the width; the time budget, judged
    # from a timed probe, keeps a slow model (many classes, a bag) in time.
    affordable = max_cells // max(1, X.shape[1])
    if time_budget is not None:
        affordable = min(affordable, int(time_budget / _seconds_per_row(model, X, task)))
    rows, repeats, measured = _work_plan(len(X), len(names), repeats, affordable)
    if rows < len(X):
        index = np.sort(rng.choice(len(X), size=rows, replace=False))
        X, y = X.iloc[index].reset_index(drop=True), y[index]
    n = len(X)
    baseline = _score(task, metric, _predict(model, X, task), y)
    measured_all = len(names)
    if measured < len(names):
        chosen = rng.choice(len(names), size=measured, replace=False)
        names = [names[i] for i in sorted(chosen)]
    jobs = [(name, r) for name in names for r in range(repeats)]
    permuted = _score_shuffles(
        model, X, y, jobs, rng, task=task, metric=metric, batch_rows=batch_rows
    )
    return _ranked(
        names,
        [sign * (baseline - p) if np.isfinite(p) else 0.0 for p in permuted],
        jobs,
        metric=metric,
        rows=n,
        repeats=repeats,
        baseline=baseline,
        not_measured=measured_all - len(names),
    )


def _ranked(
    names: list[str],
    job_drops: list[float],
    jobs: list[tuple[str, int]],
    *,
    metric: str,
    rows: int,
    repeats: int,
    baseline: float,
    not_measured: int,
) -> Importance:
    """Mean and spread of each column's score drop, largest mean first."""
    drops: dict[str, list[float]] = {name: [] for name in names}
    for (name, _), drop in zip(jobs, job_drops, strict=True):
        drops[name].append(drop)
    means = [float(np.mean(drops[name])) for name in names]
    stds = [float(np.std(drops[name])) for name in names]
    order = np.argsort(-np.asarray(means), kind="stable")
    return Importance(
        metric=metric,
        features=[names[i] for i in order],
        mean=[means[i] for i in order],
        std=[stds[i] for i in order],
        rows=rows,
        repeats=repeats,
        baseline=float(baseline),
        not_measured=not_measured,
    )


def _work_plan(rows: int, features: int, repeats: int, affordable: int) -> tuple[int, int, int]:
    """Rows, shuffles per column and columns measured so that the rows scored
    (a baseline plus one copy per shuffle) stay within ``affordable``: fewer
    rows down to :data:`PERMUTATION_COMFORT_ROWS`, then one shuffle per
    column, then fewer rows down to :data:`PERMUTATION_MIN_ROWS`, then a
    subset of the columns."""
    for shuffles in (repeats, 1):
        fitting = affordable // (1 + features * shuffles)
        if fitting >= min(rows, PERMUTATION_COMFORT_ROWS):
            return min(rows, fitting), shuffles, features
    kept = min(rows, max(PERMUTATION_MIN_ROWS, affordable // (1 + features)))
    return kept, 1, max(1, min(features, affordable // kept - 1))


def _seconds_per_row(model: Any, X: pd.DataFrame, task: str) -> float:
    """The model's scoring time per row, timed on a small probe (an upper
    bound: a call's fixed cost is spread over few rows)."""
    probe = X.iloc[:PERMUTATION_PROBE_ROWS]
    started = time.perf_counter()
    _predict(model, probe, task)
    return max(1e-7, (time.perf_counter() - started) / max(1, len(probe)))


def _score_shuffles(
    model: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    jobs: list[tuple[str, int]],
    rng: np.random.Generator,
    *,
    task: str,
    metric: str,
    batch_rows: int,
) -> list[float]:
    """The score with each job's column shuffled, in job order; shuffled copies
    are stacked and predicted in batches."""
    n, width = len(X), max(1, X.shape[1])
    permutations = {job: rng.permutation(n) for job in jobs}
    position_of = {name: index for index, name in enumerate(X.columns)}
    per_batch = max(1, min(batch_rows // max(n, 1), PERMUTATION_BATCH_CELLS // (n * width or 1)))
    scores: list[float] = []
    for start in range(0, len(jobs), per_batch):
        batch = jobs[start : start + per_batch]
        # One stacked copy of the rows per job, each shuffling its own column.
        block = X.iloc[np.tile(np.arange(n), len(batch))].reset_index(drop=True)
        for copy, (name, r) in enumerate(batch):
            shuffled = X[name].to_numpy()[permutations[(name, r)]]
            block.iloc[copy * n : (copy + 1) * n, position_of[name]] = shuffled
        output = _predict(model, block, task)
        for position in range(len(batch)):
            part = output[position * n : (position + 1) * n]
            scores.append(_score(task, metric, part, y))
    return scores


@dataclass
class ShapSummary:
    """Tree SHAP values summed per input column.

    Attributes:
        source: which model they explain (e.g. "LightGBM", or the ensemble
            member's name).
        features: input columns, by mean |SHAP| (largest first).
        mean_abs: mean |SHAP| per column over ``rows`` rows.
        values: SHAP values (rows × features) for the beeswarm plot.
        colour: each row's value of the column (rank-scaled 0..1, NaN when
            not numeric), for colouring the plot.
        units: the task's ``explanation_units`` ("log-odds", "target units").
        class_label: the class explained (binary: the positive class;
            multiclass: SHAP summed as |values| over classes).
    """

    source: str
    features: list[str]
    mean_abs: list[float]
    values: np.ndarray
    colour: np.ndarray
    rows: int
    units: str
    class_label: str | None = None
    notes: list[str] = field(default_factory=list)


def _tree_kind(estimator: Any) -> str | None:
    module = type(estimator).__module__
    if module.startswith("lightgbm"):
        return "lightgbm"
    if module.startswith("catboost"):
        return "catboost"
    return None


def _explainable(model: Any) -> list[tuple[str, float, list[Any]]]:
    """(name, weight, pipelines) of the tree models inside ``model``; a bag
    contributes all its fold pipelines (their SHAP values are averaged)."""
    steps = getattr(model, "named_steps", None)
    if steps is not None:
        final = list(steps.values())[-1]
        if "prep" in steps and _tree_kind(final):
            return [(_tree_kind(final) or "", 1.0, [model])]
        return []
    if hasattr(model, "models") and not hasattr(model, "members"):  # a bag of fold models
        inner = [m for m in model.models if _explainable(m)]
        if inner and len(inner) == len(model.models):
            kind = _tree_kind(list(inner[0].named_steps.values())[-1]) or ""
            return [(kind, 1.0, inner)]
        return []
    members = getattr(model, "members", None)
    if members is not None and getattr(model, "stacker", None) is None:
        found = []
        names = list(getattr(model, "names", [])) or [f"member {i}" for i in range(len(members))]
        for member, weight, name in zip(members, model.weights, names, strict=False):
            for _, _, pipelines in _explainable(member):
                found.append((str(name), float(weight), pipelines))
        return found
    return []


def _raw_feature(name: str, inputs: Sequence[str]) -> str | None:
    rest = name.split("__", 1)[1] if "__" in name else name
    rest = re.sub(r"^missingindicator_", "", rest)
    if rest in inputs:
        return rest
    candidates = [f for f in inputs if rest.startswith(f + "_") or rest.startswith(f + "__")]
    return max(candidates, key=len) if candidates else None


def _contributions(pipeline: Any, X: pd.DataFrame) -> tuple[np.ndarray, list[str], np.ndarray]:
    """SHAP values (rows × transformed features [× classes]), the transformed
    names and the transformed matrix."""
    prep = pipeline.named_steps["prep"]
    estimator = list(pipeline.named_steps.values())[-1]
    transformed = prep.transform(X)
    if hasattr(transformed, "toarray"):
        transformed = transformed.toarray()
    matrix = np.asarray(transformed, dtype=float)
    names = [str(n) for n in prep.get_feature_names_out()]
    k = matrix.shape[1]
    if _tree_kind(estimator) == "lightgbm":
        frame = pd.DataFrame(matrix, columns=getattr(estimator, "feature_name_", None) or None)
        raw = np.asarray(estimator.predict(frame, pred_contrib=True), dtype=float)
        if raw.shape[1] == k + 1:
            return raw[:, :k], names, matrix
        n_classes = raw.shape[1] // (k + 1)
        return raw.reshape(len(matrix), n_classes, k + 1)[:, :, :k], names, matrix
    from catboost import Pool

    if isinstance(transformed, pd.DataFrame):  # integer category codes for target statistics
        pool = Pool(transformed, cat_features=estimator.get_cat_feature_indices())
    else:
        pool = Pool(matrix)
    raw = np.asarray(estimator.get_feature_importance(pool, type="ShapValues"))
    if raw.ndim == 3:  # rows × classes × (features + 1)
        return raw[:, :, :k], names, matrix
    return raw[:, :k], names, matrix


def tree_shap(
    model: Any,
    X: pd.DataFrame,
    *,
    task: str,
    classes: Sequence[str] = (),
    max_rows: int = SHAP_ROWS,
    seed: int = 0,
    time_budget: float | None = None,
) -> ShapSummary | None:
    """SHAP summary for LightGBM / CatBoost models (or the largest such member
    of an ensemble); None when the model holds no such tree model.

    ``time_budget`` (seconds): the cost per row is timed on a small probe and
    the rows explained are cut so that all of them fit (never fewer than
    ``SHAP_MIN_ROWS``); the summary's notes say so."""
    found = _explainable(model)
    if not found:
        return None
    name, weight, pipelines = max(found, key=lambda item: item[1])
    notes = []
    if len(found) > 1 or weight < 1.0:
        notes.append(
            f"The model is an ensemble; SHAP values shown are those of its member {name} "
            f"(weight {weight:.2f}), the largest tree-model member."
        )
    available = len(X)
    if time_budget is not None and len(X) > SHAP_MIN_ROWS:
        # Multiclass boosters cost rows x classes x trees: time a probe, keep what fits.
        probe = X.iloc[:SHAP_PROBE_ROWS]
        started = time.perf_counter()
        _contributions(pipelines[0], probe)
        per_row = (time.perf_counter() - started) * len(pipelines) / len(probe)
        max_rows = max(SHAP_MIN_ROWS, min(max_rows, int(time_budget / max(per_row, 1e-9))))
    if len(X) > max_rows:
        index = np.sort(np.random.default_rng(seed).choice(len(X), size=max_rows, replace=False))
        X = X.iloc[index]
        notes.append(
            f"SHAP values are computed on a random sample of {max_rows:,} of the "
            f"{available:,} test rows."
        )
    X = X.reset_index(drop=True)
    per_input, colours = _per_input_contributions(pipelines, X, classes)
    features = sorted(per_input, key=lambda f: -float(np.mean(np.abs(per_input[f]))))
    kind = get_task(task)
    multiclass = kind.has_classes and len(classes) > 2
    return ShapSummary(
        source=name,
        features=features,
        mean_abs=[float(np.mean(np.abs(per_input[f]))) for f in features],
        values=np.column_stack([per_input[f] for f in features]),
        colour=np.column_stack([colours.get(f, np.full(len(X), np.nan)) for f in features]),
        rows=len(X),
        units=kind.explanation_units,
        class_label=(classes[1] if len(classes) == 2 else None),
        notes=notes
        + (
            ["Multiclass: each value is the sum of |SHAP| over the classes (size, not sign)."]
            if multiclass
            else []
        ),
    )


def _per_input_contributions(
    pipelines: list[Any], X: pd.DataFrame, classes: Sequence[str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """SHAP values per raw input (the transformed columns of an input summed,
    averaged over the pipelines) and each input's value as a percentile rank
    for colouring."""
    inputs = [str(c) for c in X.columns]
    per_input: dict[str, np.ndarray] = {}
    colours: dict[str, np.ndarray] = {}
    total = None
    for pipeline in pipelines:
        values, names, matrix = _contributions(pipeline, X)
        if values.ndim == 3:  # multiclass: explain the sum of |contributions| over classes
            values = np.abs(values).sum(axis=1) if len(classes) != 2 else values[:, 1, :]
        summed: dict[str, np.ndarray] = {}
        for j, transformed_name in enumerate(names):
            raw = _raw_feature(transformed_name, inputs) or transformed_name
            summed[raw] = summed.get(raw, 0.0) + values[:, j]
            if (
                raw not in colours
                and _raw_feature(transformed_name, inputs) == raw
                and (transformed_name.split("__", 1)[-1] == raw)
            ):
                column = matrix[:, j]
                colours[raw] = pd.Series(column).rank(pct=True).to_numpy()
        for key, value in summed.items():
            per_input[key] = per_input.get(key, 0.0) + value / len(pipelines)
        total = len(pipelines)
    assert total is not None
    return per_input, colours
