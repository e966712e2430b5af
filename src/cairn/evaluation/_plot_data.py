"""Reducing test-set arrays to what a plot draws: statistics use every row,
plots a random sample of rows or evenly spaced curve points."""

from __future__ import annotations

import numpy as np

#: Points drawn in scatter plots (a random sample above this; statistics use all rows).
SCATTER_POINTS = 3_000
#: Rows drawn per feature in the SHAP beeswarm.
BEESWARM_ROWS = 400
CURVE_POINTS = 400


def thin_curve(x: np.ndarray, y: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """At most :data:`CURVE_POINTS` evenly spaced points of a curve."""
    if len(x) <= CURVE_POINTS:
        return (x, y, *others)
    index = np.unique(np.linspace(0, len(x) - 1, CURVE_POINTS).astype(int))
    return (x[index], y[index], *(o[index] for o in others))


def sample_rows(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of ``size`` rows drawn at random from ``n`` (all when fewer)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
