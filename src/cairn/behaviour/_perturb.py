"""Checks by perturbing real rows: declared invariances (the prediction
does not change when a column takes another row's value), declared
directions (the prediction moves with a column across its training range),
and robustness (small numeric noise and typo-like category changes flip
few predictions)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cairn.behaviour._context import PERTURB_ROWS, Context, examples, skipped
from cairn.behaviour._result import CheckResult
from cairn.data.schema import Role
from cairn.data.values import as_strings
from cairn.spec import DirectionTest, InvarianceTest

__all__ = ["category_typos", "direction", "invariance", "numeric_noise"]

#: Rows each direction is traced on, and the points of its grid.
DIRECTION_ROWS = 200
GRID = (0.02, 0.25, 0.5, 0.75, 0.98)
#: A regression's prediction "flips" under noise when it moves by more than
#: this share of the predictions' standard deviation.
REGRESSION_FLIP = 0.1
#: A step against a declared direction smaller than this share of the
#: scores' standard deviation is numerical noise, not a violation.
DIRECTION_FLOOR = 0.01
#: A share of flips on fewer rows is chance: one flip in five rows is 20 %.
ROBUSTNESS_MIN_ROWS = 30


def invariance(ctx: Context, test: InvarianceTest) -> CheckResult:
    name = f"invariance/{test.column}"
    schema = ctx.model.schema
    sample = ctx.sample(PERTURB_ROWS)
    if test.column not in schema or not schema[test.column].is_feature:
        role = schema[test.column].role if test.column in schema else "not an input"
        return CheckResult(
            name,
            "invariance",
            "passed",
            f"the model does not read {test.column!r} ({role}): invariant by construction",
            measured=0.0,
            threshold=test.tolerance,
            rows=len(sample),
        )
    rng = np.random.default_rng(ctx.seed)
    original = sample[test.column]
    donors = original.to_numpy(dtype=object)[rng.permutation(len(sample))]
    perturbed = sample.copy()
    perturbed[test.column] = pd.Series(donors, index=sample.index, dtype=object)
    changed = (
        as_strings(original).fillna("\0").to_numpy()
        != as_strings(perturbed[test.column]).fillna("\0").to_numpy()
    )
    if not changed.any():
        return skipped(name, "invariance", f"{test.column!r} holds one value in these rows")
    before, after = ctx.output(sample), ctx.output(perturbed)
    if ctx.has_classes or ctx.is_clustering:
        moved = ctx.decisions(before) != ctx.decisions(after)
        what, limit = "changed class", test.tolerance
    else:
        base = ctx.decisions(before)
        allowed = test.tolerance * np.abs(base) + 1e-9 * (1.0 + np.abs(base))
        moved = np.abs(ctx.decisions(after) - base) > allowed
        what, limit = f"moved by more than {test.tolerance:g} of their value", 0.0
    moved &= changed
    share = float(moved.sum() / changed.sum())
    failed = share > limit
    return CheckResult(
        name,
        "invariance",
        "failed" if failed else "passed",
        f"{int(moved.sum())} of {int(changed.sum())} predictions {what} when {test.column!r} "
        "took another row's value",
        measured=share,
        threshold=limit,
        rows=int(changed.sum()),
        details={"examples": examples(sample, moved)} if failed else {},
    )


def direction(ctx: Context, test: DirectionTest) -> CheckResult:
    name = f"direction/{test.column}"
    schema = ctx.model.schema
    if test.column not in schema or not schema[test.column].is_feature:
        return skipped(name, "direction", f"the model does not read {test.column!r}")
    sample = ctx.sample(DIRECTION_ROWS)
    probe = ctx.score(ctx.output(sample.head(1)))
    if probe is None:
        return skipped(
            name,
            "direction",
            f"a {ctx.task} model with {len(ctx.model.classes)} outputs has no single score "
            "to move; directions apply to regressions and binary classifiers",
        )
    spread = ctx.spreads.get(test.column)
    values = pd.to_numeric(sample[test.column], errors="coerce").to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if spread is not None:
        grid = spread.minimum + np.asarray(GRID) * (spread.maximum - spread.minimum)
    elif values.size:
        grid = np.quantile(values, GRID)
    else:
        return skipped(name, "direction", f"{test.column!r} has no numbers in these rows")
    if schema[test.column].dtype == "int":
        grid = np.round(grid)
    grid = np.unique(grid)
    if len(grid) < 2:
        return skipped(name, "direction", f"{test.column!r} takes one value in training")
    frames = []
    for point in grid:
        frame = sample.copy()
        frame[test.column] = int(point) if schema[test.column].dtype == "int" else float(point)
        frames.append(frame)
    scores = ctx.score(ctx.output(pd.concat(frames, ignore_index=True)))
    assert scores is not None
    traced = scores.reshape(len(grid), len(sample)).T  # rows × grid points
    steps = np.diff(traced, axis=1)
    against = -steps if test.direction == "increasing" else steps
    floor = DIRECTION_FLOOR * max(float(np.std(traced)), 1e-12)
    violating: np.ndarray = np.asarray((against > floor).any(axis=1))
    share = float(violating.mean())
    failed = share > test.tolerance
    return CheckResult(
        name,
        "direction",
        "failed" if failed else "passed",
        f"{int(violating.sum())} of {len(sample)} rows went against '{test.direction}' as "
        f"{test.column!r} moved from {grid[0]:g} to {grid[-1]:g}",
        measured=share,
        threshold=test.tolerance,
        rows=len(sample),
        details={
            "grid": [float(g) for g in grid],
            "mean_score": [float(v) for v in traced.mean(axis=0)],
            **({"examples": examples(sample, violating)} if failed else {}),
        },
    )


def _flipped(ctx: Context, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    if ctx.has_classes or ctx.is_clustering:
        return np.asarray(ctx.decisions(before) != ctx.decisions(after))
    base = ctx.decisions(before)
    step = REGRESSION_FLIP * max(float(np.std(base)), 1e-12)
    moved: np.ndarray = np.abs(ctx.decisions(after) - base) > step
    return moved


def numeric_noise(ctx: Context) -> CheckResult:
    """Every numeric feature jittered by ``robustness_noise`` of its standard deviation."""
    name = "robustness/numeric_noise"
    columns = [c for c in ctx.features_with(Role.NUMERIC) if c.name in ctx.spreads]
    if not columns:
        return skipped(name, "robustness", "the model reads no numeric feature")
    sample = ctx.sample(PERTURB_ROWS)
    rng = np.random.default_rng(ctx.seed + 1)
    noisy = sample.copy()
    noise = ctx.settings.robustness_noise
    for column in columns:
        values = pd.to_numeric(sample[column.name], errors="coerce").to_numpy(dtype=float)
        jittered = values + rng.normal(0.0, noise * ctx.spreads[column.name].std, len(values))
        if column.dtype == "int":
            jittered = np.round(jittered)
        noisy[column.name] = jittered
    flipped = _flipped(ctx, ctx.output(sample), ctx.output(noisy))
    return _robustness_result(
        ctx,
        name,
        flipped,
        sample,
        f"with {len(columns)} numeric feature(s) jittered by {noise:g} of their spread",
    )


def category_typos(ctx: Context) -> CheckResult:
    """In each row, one categorical value written in another case or with
    stray spaces, as people type them."""
    name = "robustness/category_typos"
    columns = [
        c
        for c in ctx.features_with(Role.CATEGORICAL)
        if any(any(ch.isalpha() for ch in v) for v in c.categories or ())
    ]
    if not columns:
        return skipped(name, "robustness", "the model reads no categorical feature with letters")
    sample = ctx.sample(PERTURB_ROWS)
    rng = np.random.default_rng(ctx.seed + 2)
    typed = sample.copy()
    chosen = rng.integers(0, len(columns), len(sample))
    style = rng.integers(0, 3, len(sample))
    for i, column in enumerate(columns):
        rows = np.flatnonzero(chosen == i)
        strings = as_strings(sample[column.name]).astype(object)
        values = typed[column.name].to_numpy(dtype=object, copy=True)
        for row in rows:
            text = strings.iloc[row]
            if isinstance(text, str) and text:
                values[row] = _typo(text, int(style[row]))
        typed[column.name] = pd.Series(values, index=sample.index, dtype=object)
    flipped = _flipped(ctx, ctx.output(sample), ctx.output(typed))
    return _robustness_result(
        ctx,
        name,
        flipped,
        sample,
        f"with one of {len(columns)} categorical feature(s) retyped in each row (case or spacing)",
    )


def _typo(text: str, style: int) -> str:
    if style == 0:
        return text.upper() if text != text.upper() else text.lower()
    if style == 1:
        return text.title() if text != text.title() else text.swapcase()
    return f" {text}  "


def _robustness_result(
    ctx: Context, name: str, flipped: np.ndarray, sample: pd.DataFrame, how: str
) -> CheckResult:
    if len(flipped) < ROBUSTNESS_MIN_ROWS:
        return skipped(
            name,
            "robustness",
            f"{len(flipped)} row(s) are too few to judge a share of flips "
            f"({ROBUSTNESS_MIN_ROWS} needed)",
        )
    share = float(flipped.mean())
    limit = ctx.settings.max_flip_share
    failed = share > limit
    return CheckResult(
        name,
        "robustness",
        "failed" if failed else "passed",
        f"{int(flipped.sum())} of {len(flipped)} predictions flipped {how}",
        measured=share,
        threshold=limit,
        rows=len(flipped),
        details={"examples": examples(sample, flipped)} if failed else {},
    )
