"""Edge cases generated from the schema: each input pushed to values a
person would worry about (its training extremes and beyond, zero, negatives
never seen, huge magnitudes, unseen or oddly written categories, missing
values, extreme dates, long text). The model passes a case when it answers
with finite outputs of the right shape, within the latency objective when
one is given."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from cairn.behaviour._context import EDGE_ROWS, Context, guarded
from cairn.behaviour._result import CheckResult
from cairn.data.schema import ColumnSchema, Role

__all__ = ["edge_cases", "recommender_edge_cases"]

HUGE = 1e15
LONG_TEXT_WORDS = 20_000
# Far outside any plausible record, still inside what pandas can hold.
EXTREME_DATES = ("1900-01-01", "2199-12-31")


def edge_cases(ctx: Context) -> list[CheckResult]:
    """One result per feature and case, then every optional feature missing
    and every feature missing."""
    base = ctx.sample(EDGE_ROWS)
    results: list[CheckResult] = []
    for column in ctx.features:
        cases: list[tuple[str, pd.DataFrame]] = []
        for case, value in _cases(column, ctx):
            frame = base.copy()
            frame[column.name] = pd.Series([value] * len(frame), dtype=object)
            cases.append((f"edge_case/{column.name}/{case}", frame))
        results += _column_cases(ctx, cases)
    optional = [c.name for c in ctx.features if c.nullable]
    if optional:
        frame = base.copy()
        for name in optional:
            frame[name] = pd.Series([None] * len(frame), dtype=object)
        name = "edge_case/(all)/optional_missing"
        results += guarded(name, "edge_case", partial(_answer, ctx, name, frame))
    every = base.copy()
    for column in ctx.features:
        every[column.name] = pd.Series([None] * len(every), dtype=object)
    results += guarded(
        "edge_case/(all)/all_missing",
        "edge_case",
        partial(_answer, ctx, "edge_case/(all)/all_missing", every),
    )
    return results


def _column_cases(ctx: Context, cases: list[tuple[str, pd.DataFrame]]) -> list[CheckResult]:
    """A column's cases asked in one batch; one by one when the batch fails
    (to say which case broke it) or is slower than the latency objective (a
    batch in time answers each of its rows in time)."""
    if not cases:
        return []
    started = time.perf_counter()
    try:
        output = ctx.output(pd.concat([frame for _, frame in cases], ignore_index=True))
    except Exception:  # the model under test may raise anything; each case says what
        output = None
    seconds = time.perf_counter() - started
    slow = ctx.latency_ms is not None and seconds * 1000 > ctx.latency_ms
    if output is None or slow or np.shape(output)[0] != sum(len(f) for _, f in cases):
        return [
            result
            for name, frame in cases
            for result in guarded(name, "edge_case", partial(_answer, ctx, name, frame))
        ]
    results = []
    start = 0
    for name, frame in cases:
        block = output[start : start + len(frame)]
        start += len(frame)
        problem = shape_problem(ctx, block, len(frame))
        results.append(
            CheckResult(
                name,
                "edge_case",
                "failed" if problem else "passed",
                problem or f"finite answer of the right shape for {len(frame)} row(s)",
                measured=seconds * 1000,
                threshold=ctx.latency_ms,
                rows=len(frame),
                seconds=seconds / len(cases),
            )
        )
    return results


def _cases(column: ColumnSchema, ctx: Context) -> Iterator[tuple[str, Any]]:
    if column.role == Role.NUMERIC:
        yield from _numeric_cases(column, ctx)
    elif column.role == Role.CATEGORICAL:
        yield "unseen", "__cairn_unseen_value__"
        yield "empty", ""
        known = [c for c in column.categories or () if any(ch.isalpha() for ch in c)]
        if known:
            first = known[0]
            changed = first.upper() if first != first.upper() else first.lower()
            yield "case", changed
            yield "spacing", f"  {first}  "
    elif column.role == Role.DATETIME:
        fmt = (ctx.model.schema.metadata.get("datetime_formats") or {}).get(column.name)
        for case, text in zip(("date_far_past", "date_far_future"), EXTREME_DATES, strict=True):
            yield case, pd.Timestamp(text).strftime(fmt) if fmt else text
    elif column.role == Role.TEXT:
        yield "long_text", " ".join(["lorem"] * LONG_TEXT_WORDS)
        yield "empty", ""
    if column.role != Role.TEXT or not column.nullable:
        yield "missing", None


def _numeric_cases(column: ColumnSchema, ctx: Context) -> Iterator[tuple[str, Any]]:
    spread = ctx.spreads.get(column.name)
    integral = column.dtype == "int"

    def number(value: float) -> float | int:
        return int(round(value)) if integral else float(value)

    if spread is not None:
        width = max(spread.maximum - spread.minimum, spread.std, 1.0)
        yield "min", number(spread.minimum)
        yield "max", number(spread.maximum)
        yield "below_min", number(spread.minimum - width)
        yield "above_max", number(spread.maximum + width)
        if spread.minimum >= 0:
            yield "negative", number(-max(width, 1.0))
    yield "zero", number(0.0)
    yield "huge", number(HUGE)


def _answer(ctx: Context, name: str, frame: pd.DataFrame) -> CheckResult:
    """Ask the model and judge its answer: finite, of the right shape, in time."""
    started = time.perf_counter()
    output = ctx.output(frame)
    seconds = time.perf_counter() - started
    if ctx.latency_ms is not None and seconds * 1000 > ctx.latency_ms:
        # one slow call on a busy machine is not the model's fault: the faster of two
        again = time.perf_counter()
        output = ctx.output(frame)
        seconds = min(seconds, time.perf_counter() - again)
    problem = shape_problem(ctx, output, len(frame))
    return _judged(
        ctx,
        name,
        problem,
        f"finite answer of the right shape for {len(frame)} row(s)",
        rows=len(frame),
        seconds=seconds,
    )


def _judged(
    ctx: Context, name: str, problem: str | None, fine: str, *, rows: int, seconds: float
) -> CheckResult:
    """An edge case's result: its problem, else too slow, else ``fine``."""
    latency = seconds * 1000
    if problem is None and ctx.latency_ms is not None and latency > ctx.latency_ms:
        problem = f"answered in {latency:.1f} ms, over the {ctx.latency_ms:g} ms objective"
    return CheckResult(
        name,
        "edge_case",
        "failed" if problem else "passed",
        problem or fine,
        measured=latency,
        threshold=ctx.latency_ms,
        rows=rows,
        seconds=seconds,
    )


def shape_problem(ctx: Context, output: np.ndarray, rows: int) -> str | None:
    """What is wrong with an output for ``rows`` rows, or None."""
    output = np.asarray(output, dtype=float)
    if ctx.has_classes:
        classes = len(ctx.model.schema.classes or ())
        if output.shape != (rows, classes):
            return f"output of shape {output.shape}, expected ({rows}, {classes})"
        if not np.isfinite(output).all():
            bad = int((~np.isfinite(output)).any(axis=1).sum())
            return f"{bad} row(s) of non-finite probabilities"
        if (output < -1e-6).any() or (output > 1 + 1e-6).any():
            return "probabilities outside [0, 1]"
        if not np.allclose(output.sum(axis=1), 1.0, atol=1e-4):
            return "probabilities that do not sum to 1"
        return None
    if ctx.is_clustering:
        k = len(ctx.model.classes)
        if output.ndim != 2 or output.shape != (rows, 1 + 2 * k):
            return f"output of shape {output.shape}, expected ({rows}, {1 + 2 * k})"
        # membership probabilities are NaN for clusterings that assign by distance
        assigned = output[:, : 1 + k]
        if not np.isfinite(assigned).all():
            return "non-finite cluster ids or distances"
        return None
    if output.shape != (rows,):
        return f"output of shape {output.shape}, expected ({rows},)"
    if not np.isfinite(output).all():
        return f"{int((~np.isfinite(output)).sum())} non-finite prediction(s)"
    return None


def recommender_edge_cases(ctx: Context) -> list[CheckResult]:
    """A recommender asked for a user it never saw, an empty user id and the
    longest list it can give: it must answer with finite scores."""
    results: list[CheckResult] = []
    recommender = ctx.model.pipeline
    n_items = int(getattr(recommender, "n_items", 0) or 0)
    cases: list[tuple[str, Any, int | None]] = [
        ("unseen_user", "__cairn_unseen_user__", None),
        ("empty_user", "", None),
        ("one_item", "__cairn_unseen_user__", 1),
    ]
    if n_items:
        cases.append(("whole_catalogue", "__cairn_unseen_user__", n_items))
    for case, user, k in cases:
        name = f"edge_case/user/{case}"
        results += guarded(name, "edge_case", partial(_listing, ctx, name, user, k))
    return results


def _listing(ctx: Context, name: str, user: Any, k: int | None) -> CheckResult:
    import warnings

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unknown-user fallback warns
        listing = ctx.model.recommend(user, k)
    seconds = time.perf_counter() - started
    scores = listing["score"].to_numpy(dtype=float)
    problem = None
    if not len(listing):
        problem = "an empty list"
    elif not np.isfinite(scores).all():
        problem = "non-finite scores"
    elif k is not None and len(listing) > k:
        problem = f"{len(listing)} items for k = {k}"
    return _judged(
        ctx, name, problem, f"{len(listing)} finite-scored items", rows=1, seconds=seconds
    )
