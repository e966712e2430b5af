"""A PCA projection after the column encoding, for scale-sensitive learners."""

from __future__ import annotations

from typing import Any

from sklearn.pipeline import Pipeline


def with_pca(preprocessor: Any, variance: float, *, seed: int) -> Pipeline:
    """``preprocessor`` followed by a PCA keeping ``variance`` (a share, e.g.
    0.95) of the variance of its output."""
    from sklearn.decomposition import PCA

    projection = PCA(n_components=float(variance), random_state=seed)
    return Pipeline([("columns", preprocessor), ("pca", projection)])
