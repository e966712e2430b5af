"""How much each feature moves the model's output: the weights of the
reference profile's importance, measured without labels by shuffling one
feature at a time."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "SENSITIVITY_CHUNK_CELLS",
    "SENSITIVITY_MAX_CELLS",
    "SENSITIVITY_MAX_SCORED_ROWS",
    "SENSITIVITY_MIN_ROWS",
    "feature_sensitivity",
]

# Shuffled rows scored in all by feature_sensitivity, at least this many rows
# per measured feature, and about this many cells per predict call: the cost
# stays linear in the number of columns and the memory bounded.
SENSITIVITY_MAX_SCORED_ROWS = 40_000
SENSITIVITY_MAX_CELLS = 4_000_000
SENSITIVITY_MIN_ROWS = 20
SENSITIVITY_CHUNK_CELLS = 2_000_000


def feature_sensitivity(
    predict: Callable[[pd.DataFrame], np.ndarray],
    frame: pd.DataFrame,
    features: Sequence[str],
    *,
    rows: int = 200,
    seed: int = 0,
    max_scored_rows: int | None = None,
    time_budget: float | None = None,
) -> dict[str, float]:
    """How much the model's output moves when one feature is shuffled.

    A sample of ``rows`` rows is copied once per feature with that feature's
    values permuted, and the copies are scored in chunks of bounded size. The
    weight of a feature is the mean absolute change of the output
    (probabilities for classification, values scaled by their spread for
    regression). Needs no labels, so it describes the packaged model as it is.

    The work is capped so that it grows linearly with the number of columns:
    at most ``max_scored_rows`` shuffled rows are scored in all (by default
    ``SENSITIVITY_MAX_SCORED_ROWS``, fewer when rows x columns would pass
    ``SENSITIVITY_MAX_CELLS``). A wide table
    gets fewer rows per feature (down to ``SENSITIVITY_MIN_ROWS``); beyond
    that a seeded random subset of features is measured and every other
    feature gets the median weight of the measured ones. ``time_budget``
    (seconds) lowers that cap to what fits, judged from the timed scoring of
    the unshuffled sample.

    Returns:
        Non-negative weight per feature, summing to 1 (equal weights when the
        output never moves).
    """
    if not features:
        return {}
    rng = np.random.default_rng(seed)
    if max_scored_rows is None:
        by_cells = SENSITIVITY_MAX_CELLS // max(1, frame.shape[1])
        max_scored_rows = min(SENSITIVITY_MAX_SCORED_ROWS, by_cells)
    per_feature = max(SENSITIVITY_MIN_ROWS, max_scored_rows // len(features))
    n = min(rows, len(frame), per_feature)
    sample = frame.sample(n=n, random_state=seed).reset_index(drop=True)
    started = time.perf_counter()
    base = np.asarray(predict(sample), dtype=float).reshape(n, -1)
    if time_budget is not None:
        per_row = max(1e-7, (time.perf_counter() - started) / n)
        by_time = int(time_budget / per_row)
        max_scored_rows = max(SENSITIVITY_MIN_ROWS, min(max_scored_rows, by_time))
        # the sample is random: its first rows are a smaller random sample
        n = min(n, max(SENSITIVITY_MIN_ROWS, max_scored_rows // len(features)))
        sample, base = sample.iloc[:n], base[:n]
    measured = list(features)
    if len(measured) * n > max_scored_rows:
        keep = rng.choice(len(measured), size=max(1, max_scored_rows // n), replace=False)
        measured = [measured[i] for i in sorted(keep)]
    scale = 1.0 if base.shape[1] > 1 else float(np.std(base)) or 1.0
    # Features per predict call, so one call holds about SENSITIVITY_CHUNK_CELLS cells.
    per_call = max(1, SENSITIVITY_CHUNK_CELLS // max(1, n * sample.shape[1]))
    changes: dict[str, float] = {}
    position = {name: index for index, name in enumerate(sample.columns)}
    for start in range(0, len(measured), per_call):
        chunk = measured[start : start + per_call]
        # One copy of the sample per feature, stacked; then each feature's
        # values shuffled within its own copy.
        block = sample.iloc[np.tile(np.arange(n), len(chunk))].reset_index(drop=True)
        for copy, name in enumerate(chunk):
            shuffled = sample[name].to_numpy()[rng.permutation(n)]
            block.iloc[copy * n : (copy + 1) * n, position[name]] = shuffled
        moved = np.asarray(predict(block), dtype=float)
        change = np.abs(moved.reshape(len(chunk), n, -1) - base[None]).sum(axis=2).mean(axis=1)
        changes.update(zip(chunk, change / scale, strict=True))
    if len(measured) < len(features):
        typical = float(np.median(list(changes.values())))
        changes = {name: changes.get(name, typical) for name in features}
    total = float(sum(changes.values()))
    if not np.isfinite(total) or total <= 0:
        return {name: 1.0 / len(features) for name in features}
    return {name: float(changes[name] / total) for name in features}
