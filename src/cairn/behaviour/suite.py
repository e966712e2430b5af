"""The behaviour-test suite: every check generated from the model's schema
and the spec's ``[tests]`` section, run against one model on one set of rows.

Checks, by category (names as in the results):

- ``edge_case/COLUMN/CASE``: the model answers finite outputs of the right
  shape (within ``latency_ms`` when given) for extreme, unseen, oddly
  written and missing values (see :mod:`cairn.behaviour._edge`).
- ``invariance/COLUMN``, ``direction/COLUMN``: the declared ones.
- ``robustness/numeric_noise``, ``robustness/category_typos``.
- ``slice/COLUMN``, ``fairness/COLUMN/...``: on labelled rows.
- ``skew/...``: native vs ONNX vs HTTP, single row vs batch, rows shared
  with training, calibration.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from functools import partial

import numpy as np
import pandas as pd

from cairn.behaviour import _edge, _perturb, _skew, _slices
from cairn.behaviour._context import Context, guarded, numeric_spreads, skipped
from cairn.behaviour._result import Category, CheckResult, SuiteResult
from cairn.bundle import Model
from cairn.data.schema import Role
from cairn.exceptions import DataError, SpecError
from cairn.spec import TestsSection

__all__ = ["run_suite"]

#: Labelled rows the slice, fairness and calibration checks use at most.
MAX_ROWS = 10_000


def run_suite(
    model: Model,
    rows: pd.DataFrame,
    *,
    labels: np.ndarray | pd.Series | None,
    settings: TestsSection,
    model_name: str,
    data_name: str,
    latency_ms: float | None = None,
    url: str | None = None,
    train_rows: pd.DataFrame | None = None,
    seed: int = 0,
) -> SuiteResult:
    """Run every check that applies to ``model`` on ``rows``.

    Args:
        rows: the rows to test on (a run's test set, typically); a target
            column among them is taken as the labels when ``labels`` is None.
        labels: the true label (or value) of each row; without them the
            slice, fairness and calibration checks are skipped.
        settings: the spec's ``[tests]`` section.
        model_name, data_name: what the results say was tested.
        latency_ms: the latency objective each edge case must answer within.
        url: a running ``cairn serve`` whose answers are compared with the model's.
        train_rows: the training rows, for the train/test overlap check
            (and training ranges when the bundle has no reference profile).

    Raises:
        SpecError: a declared test names a column the data does not have,
            or a direction names a column that is not numeric.
        DataError: no rows, or labels that do not match the rows.
    """
    started = time.perf_counter()
    ctx = _context(model, rows, labels, settings, latency_ms, url, train_rows, seed)
    _check_declared(ctx, settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checks = _run_checks(ctx, settings)
    return SuiteResult(
        model=model_name,
        task=model.task,
        data=data_name,
        checks=checks,
        seconds=time.perf_counter() - started,
    )


def _context(
    model: Model,
    rows: pd.DataFrame,
    labels: np.ndarray | pd.Series | None,
    settings: TestsSection,
    latency_ms: float | None,
    url: str | None,
    train_rows: pd.DataFrame | None,
    seed: int,
) -> Context:
    # a frame of rows but no columns is checked for its columns below
    if not isinstance(rows, pd.DataFrame) or len(rows) == 0:
        raise DataError("no rows to test the model on; give a data file with at least one row")
    rows = rows.reset_index(drop=True)
    target = model.schema.target
    if labels is None and target and target in rows.columns:
        labels = rows[target]
    if target and target in rows.columns:
        rows = rows.drop(columns=[target])
    series = None
    if labels is not None:
        series = pd.Series(
            np.asarray(labels, dtype=object)
            if not isinstance(labels, pd.Series)
            else labels.to_numpy(dtype=object)
        )
        if len(series) != len(rows):
            raise DataError(f"{len(series)} labels for {len(rows)} rows; give one label per row")
    if len(rows) > MAX_ROWS:
        keep = rows.sample(n=MAX_ROWS, random_state=seed).index
        rows = rows.loc[keep].reset_index(drop=True)
        series = series.loc[keep].reset_index(drop=True) if series is not None else None
    return Context(
        model=model,
        rows=rows,
        labels=series,
        settings=settings,
        spreads={} if model.is_recommender else numeric_spreads(model, rows, train_rows),
        latency_ms=latency_ms,
        url=url,
        train_rows=train_rows,
        seed=seed,
    )


def _columns_hint(columns: Sequence[object] | pd.Index) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(names[:20])
    return f"{shown}, ... ({len(names)} in all)" if len(names) > 20 else shown


def _check_declared(ctx: Context, settings: TestsSection) -> None:
    """One-line errors for declared tests the data or the model cannot hold."""
    schema, data = ctx.model.schema, ctx.rows.columns
    for test in settings.invariance:
        if test.column not in data and test.column not in schema:
            raise SpecError(
                f"tests.invariance: column {test.column!r} is not in the data; "
                f"columns: {_columns_hint(data)}"
            )
    for direction in settings.direction:
        if direction.column not in data and direction.column not in schema:
            raise SpecError(
                f"tests.direction: column {direction.column!r} is not in the data; "
                f"columns: {_columns_hint(data)}"
            )
        role = schema[direction.column].role if direction.column in schema else None
        numeric = (
            role == Role.NUMERIC
            if role is not None
            else pd.api.types.is_numeric_dtype(ctx.rows[direction.column])
        )
        if not numeric:
            raise SpecError(
                f"tests.direction: column {direction.column!r} is {role or 'not numeric'}; "
                "a direction needs a numeric column (declare an invariance for other columns)"
            )
    for column in settings.sensitive:
        if column not in data:
            raise SpecError(
                f"tests.sensitive: column {column!r} is not in the data; "
                f"columns: {_columns_hint(data)}"
            )


def _run_checks(ctx: Context, settings: TestsSection) -> list[CheckResult]:
    if ctx.model.is_recommender:
        others: tuple[Category, ...] = (
            "invariance",
            "direction",
            "robustness",
            "slice",
            "fairness",
            "skew",
        )
        return _edge.recommender_edge_cases(ctx) + [
            skipped(
                f"{category}/(all)",
                category,
                "a recommender ranks items for users: only its edge cases apply",
            )
            for category in others
        ]
    checks = _edge.edge_cases(ctx)
    for invariance in settings.invariance:
        name = f"invariance/{invariance.column}"
        checks += guarded(name, "invariance", partial(_perturb.invariance, ctx, invariance))
    for direction in settings.direction:
        name = f"direction/{direction.column}"
        checks += guarded(name, "direction", partial(_perturb.direction, ctx, direction))
    checks += guarded(
        "robustness/numeric_noise", "robustness", partial(_perturb.numeric_noise, ctx)
    )
    checks += guarded(
        "robustness/category_typos", "robustness", partial(_perturb.category_typos, ctx)
    )
    labelled = None
    if ctx.labels is not None and not ctx.is_clustering:
        labelled = _slices.label_rows(ctx, ctx.output(ctx.rows))
    if ctx.is_clustering:
        checks.append(skipped("slice/(all)", "slice", "a clustering has no labels to score slices"))
    elif labelled is None:
        checks.append(
            skipped("slice/(all)", "slice", "no labels: give the target column, with values")
        )
    else:
        checks += guarded("slice/(all)", "slice", partial(_slices.slices, ctx, labelled))
    for column in settings.sensitive:
        checks += guarded(
            f"fairness/{column}", "fairness", partial(_slices.fairness, ctx, labelled, column)
        )
    checks += guarded("skew/native_vs_onnx", "skew", partial(_skew.native_vs_onnx, ctx))
    checks += guarded("skew/http_vs_bundle", "skew", partial(_skew.http_vs_bundle, ctx))
    checks += guarded("skew/single_vs_batch", "skew", partial(_skew.single_vs_batch, ctx))
    checks += guarded("skew/train_test_overlap", "skew", partial(_skew.overlap, ctx))
    checks += guarded(
        "skew/calibration",
        "skew",
        partial(
            _skew.calibration,
            ctx,
            labelled.y if labelled is not None else None,
            labelled.output if labelled is not None else None,
        ),
    )
    return checks
