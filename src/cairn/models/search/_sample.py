"""Large data under a time budget: the search cross-validates on a random
sample of the training rows when all of them would leave it time for only a
few configurations, and the final model is refitted on as many rows as its
time allows (see :mod:`cairn.models.search._finalize`).

The policy: the search wants room for :data:`_CVS_WANTED` cross-validations
of a default-sized model. One costs about folds × rows × columns (× classes
beyond two) × :data:`_FIT_SECONDS_PER_CELL`; above the rows that allows, and
never below :data:`MIN_SEARCH_ROWS`, the search runs on a sample. Every
class keeps its share of the sample and at least a few rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cairn.data.split import Fold

# One 400-tree LightGBM fit per cell (row x column), two threads: 1.3-1.4 us
# measured on 100k-300k rows x 18 columns (bench/scale.py's data).
_FIT_SECONDS_PER_CELL = 1.4e-6
_CVS_WANTED = 6
MIN_SEARCH_ROWS = 20_000
# Share of the search's seconds moved to the final refit when the search ran
# on a sample: more rows in the final model pay more than more trials.
REFIT_SHARE = 0.3
# One tree of a 31-leaf LightGBM predicting one row, one thread: 125 ns
# measured on regression (1,931 trees, 50,000 rows, 12.1 s), 164 ns on 26
# classes (two 22,000-tree fold models, 4,000 rows, 29 s); the larger is used.
# And the fewest rounds a boosting model is held to when its predictions
# after the search must be fast.
PREDICT_SECONDS_PER_TREE_ROW = 1.6e-7
_MIN_ROUNDS = 200
# Rows of each class kept in a sample however rare the class.
_MIN_CLASS_ROWS = 20


def search_rows(n_rows: int, n_columns: int, n_classes: int, seconds: float, n_folds: int) -> int:
    """How many training rows the search cross-validates on: all of them, or
    the most that leave it :data:`_CVS_WANTED` default-sized CVs."""
    class_factor = n_classes if n_classes > 2 else 1
    per_row = max(1, n_folds) * max(1, n_columns) * class_factor * _FIT_SECONDS_PER_CELL
    affordable = int(seconds / _CVS_WANTED / per_row)
    return min(n_rows, max(MIN_SEARCH_ROWS, affordable))


def sample_positions(y: np.ndarray, rows: int, seed: int, *, classes: bool) -> np.ndarray:
    """Sorted positions of a random sample of about ``rows`` of ``y``'s rows;
    with ``classes``, each class keeps its share and at least
    ``min(its count, 20)`` rows."""
    rng = np.random.default_rng(seed)
    n = len(y)
    if rows >= n:
        return np.arange(n)
    if not classes:
        return np.sort(rng.choice(n, size=rows, replace=False))
    share = rows / n
    chosen = []
    for value in np.unique(y):
        members = np.flatnonzero(y == value)
        take = min(len(members), max(_MIN_CLASS_ROWS, round(share * len(members))))
        chosen.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(chosen))


def subset_folds(folds: Sequence[Fold], keep: np.ndarray, n_rows: int) -> list[Fold]:
    """``folds`` restricted to the rows at positions ``keep``, renumbered as
    positions in the sample (the partition's groups and order are kept)."""
    position = np.full(n_rows, -1)
    position[keep] = np.arange(len(keep))
    subset = []
    for fit_idx, val_idx in folds:
        fit, val = position[fit_idx], position[val_idx]
        subset.append((fit[fit >= 0], val[val >= 0]))
    return subset


def refit_rows(seconds: float, fit_seconds: float, fit_rows: int, n_rows: int) -> int:
    """Rows a refit can take in ``seconds``, from a fit of ``fit_rows`` rows
    that took ``fit_seconds`` (cost grows linearly with rows)."""
    if fit_seconds <= 0 or fit_rows <= 0:
        return n_rows
    return max(0, min(n_rows, int(seconds / fit_seconds * fit_rows)))


def trees_per_round(n_classes: int | None) -> int:
    """Trees one LightGBM boosting round adds: one per class beyond two."""
    return n_classes if n_classes and n_classes > 2 else 1


def rounds_for_predictions(
    rows_per_worker: float, seconds: float, most: int, n_classes: int | None = None
) -> int:
    """Boosting rounds at most, so that predicting ``rows_per_worker`` rows
    takes at most half of ``seconds``; ``most`` when that allows more, never
    under :data:`_MIN_ROUNDS`."""
    if rows_per_worker <= 0:
        return most
    per_round = rows_per_worker * trees_per_round(n_classes) * PREDICT_SECONDS_PER_TREE_ROW
    return max(_MIN_ROUNDS, min(most, int(0.5 * seconds / per_round)))
