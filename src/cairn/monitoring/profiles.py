"""Column profiles: what the reference keeps of one training column.

For every numeric feature the profile keeps a fine histogram whose cut points
are the training quantiles (or every distinct value when there are few), with
the count *and the sum* of the values in each bin, plus min, max, mean,
standard deviation and the missing count. That is enough to compute, against
a new batch binned on the same cut points:

* the Kolmogorov–Smirnov statistic, exactly at every cut point;
* the Wasserstein-1 distance, exactly up to sign changes of the CDF
  difference inside one bin (the per-bin sums give each bin's exact integral);
* PSI, chi-square and Jensen–Shannon on coarse, equal-mass groups of bins;
* the share of values outside the training range.

Categorical and boolean features keep their category counts (the most
frequent ``max_categories``, the rest pooled) and the missing count; datetime
and text features keep their missing count only.

A clustering model's assignment is kept as a :class:`ClusterProfile`: rows
per cluster id and the silhouette of the training rows in the model's
prepared matrix (see :mod:`cairn.monitoring.clusters`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cairn._io import json_safe
from cairn.data.schema import as_strings, normalize_missing

__all__ = [
    "COARSE_GROUPS",
    "DEFAULT_BINS",
    "DEFAULT_MAX_CATEGORIES",
    "SILHOUETTE_SAMPLE",
    "CategoricalProfile",
    "ClusterProfile",
    "ColumnProfile",
    "NumericProfile",
    "UntestedProfile",
    "as_cluster_ids",
    "category_counts",
    "cluster_profile",
    "numeric_values",
    "profile_from_dict",
    "row_silhouettes",
]

#: Fine bins per numeric feature (quantiles of the training values).
DEFAULT_BINS = 128
#: Coarse, equal-mass groups of fine bins used by PSI, chi-square and JS.
COARSE_GROUPS = 10
#: Categories kept per categorical feature; the rest are pooled.
DEFAULT_MAX_CATEGORIES = 1000

Kind = Literal["numeric", "categorical", "untested"]


# ----------------------------------------------------------------- extraction


def numeric_values(series: pd.Series) -> tuple[np.ndarray, int]:
    """A column as float64 (NaN for missing) and how many present values
    could not be read as numbers.

    Numbers and booleans are taken as they are; text is read as numbers after
    missing-value sentinels ("?", "NA", blanks) are blanked.
    """
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)
    ):
        return series.to_numpy(dtype="float64", na_value=np.nan), 0
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return np.full(len(series), np.nan), int(series.notna().sum())
    cleaned = normalize_missing(series)
    present = cleaned.notna().to_numpy()
    numbers = pd.to_numeric(cleaned.astype(object), errors="coerce")
    values = np.asarray(numbers, dtype="float64")
    unreadable = int((present & np.isnan(values)).sum())
    return values, unreadable


def category_counts(series: pd.Series) -> tuple[dict[str, int], int]:
    """Counts per category label (as cairn writes categories: stripped text,
    integral numbers without ".0", booleans as "True"/"False") and the
    missing count.

    Only the distinct raw values are normalised, so a million rows with a few
    hundred categories cost one hash pass.
    """
    raw = series.value_counts(dropna=False, sort=False)
    if raw.empty:
        return {}, 0
    labels = as_strings(
        normalize_missing(pd.Series(raw.index.to_numpy(dtype=object), dtype=object))
    )
    counts: dict[str, int] = {}
    missing = 0
    for label, count in zip(labels.to_numpy(dtype=object), raw.to_numpy(), strict=True):
        if label is None or (isinstance(label, float) and np.isnan(label)) or label is pd.NA:
            missing += int(count)
        else:
            counts[str(label)] = counts.get(str(label), 0) + int(count)
    return counts, missing


# ------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class NumericProfile:
    """Binned summary of one numeric column.

    Bins are ``(-inf, cuts[0]], (cuts[0], cuts[1]], ..., (cuts[-1], inf)``.
    ``cuts[0]`` lies just below the training minimum and ``cuts[-1]`` is the
    maximum, so the first and last bins hold the values outside the training
    range (empty in the reference).

    Attributes:
        name: column name.
        n: non-missing values.
        n_missing: missing values.
        cuts: ascending cut points.
        counts: values per bin (``len(cuts) + 1``).
        sums: sum of the values per bin.
        groups: for each bin, its coarse equal-mass group (PSI, chi-square, JS).
    """

    name: str
    n: int
    n_missing: int
    cuts: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    groups: np.ndarray
    minimum: float
    maximum: float
    mean: float
    std: float
    role: str = "numeric"
    kind: Kind = field(default="numeric", init=False)

    @property
    def missing_rate(self) -> float:
        total = self.n + self.n_missing
        return self.n_missing / total if total else 0.0

    @property
    def n_groups(self) -> int:
        return int(self.groups.max()) + 1 if len(self.groups) else 0

    def bin_values(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Counts and sums of ``values`` per bin, and the missing count."""
        # Sorting (vectorised in numpy) and then locating the few cut points is
        # several times faster than locating every value among the cuts.
        ordered = np.sort(values)  # NaN sorts last
        if len(ordered) and np.isinf(ordered[[0, -1]]).any():
            ordered = np.sort(np.where(np.isinf(values), np.nan, values))  # infinities: missing
        n_present = len(ordered) - int(np.isnan(ordered).sum())
        ordered = ordered[:n_present]
        # Values at or below each cut point: the cumulative count per bin edge.
        ends = np.concatenate([[0], np.searchsorted(ordered, self.cuts, side="right"), [n_present]])
        totals = np.concatenate([[0.0], np.cumsum(ordered)])
        counts = np.diff(ends)
        sums = np.diff(totals[ends])
        return counts, sums, len(values) - n_present

    @classmethod
    def build(
        cls, name: str, values: np.ndarray, *, bins: int = DEFAULT_BINS, role: str = "numeric"
    ) -> NumericProfile:
        finite = values[~np.isnan(values)]
        n_missing = len(values) - len(finite)
        if len(finite) == 0:
            empty = np.zeros(0)
            return cls(
                name, 0, n_missing, empty, np.zeros(1, dtype=np.int64), np.zeros(1),
                np.zeros(1, dtype=np.int64), np.nan, np.nan, np.nan, np.nan, role,
            )  # fmt: skip
        distinct = np.unique(finite)
        if len(distinct) <= bins + 1:
            points = distinct
        else:
            points = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)))
        lowest = float(points[0])
        cuts = np.concatenate([[np.nextafter(lowest, -np.inf)], points])
        profile = cls(
            name=name,
            n=len(finite),
            n_missing=n_missing,
            cuts=cuts,
            counts=np.zeros(len(cuts) + 1, dtype=np.int64),
            sums=np.zeros(len(cuts) + 1),
            groups=np.zeros(len(cuts) + 1, dtype=np.int64),
            minimum=lowest,
            maximum=float(points[-1]),
            mean=float(finite.mean()),
            std=float(finite.std()),
            role=role,
        )
        counts, sums, _ = profile.bin_values(finite)
        groups = _equal_mass_groups(counts, COARSE_GROUPS)
        return cls(
            name, profile.n, n_missing, cuts, counts.astype(np.int64), sums, groups,
            profile.minimum, profile.maximum, profile.mean, profile.std, role,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "role": self.role,
            "n": self.n,
            "n_missing": self.n_missing,
            "min": _finite_or_none(self.minimum),
            "max": _finite_or_none(self.maximum),
            "mean": _finite_or_none(self.mean),
            "std": _finite_or_none(self.std),
            "cuts": self.cuts.tolist(),
            "counts": self.counts.tolist(),
            "sums": self.sums.tolist(),
            "groups": self.groups.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericProfile:
        return cls(
            name=str(data["name"]),
            n=int(data["n"]),
            n_missing=int(data["n_missing"]),
            cuts=np.asarray(data["cuts"], dtype=float),
            counts=np.asarray(data["counts"], dtype=np.int64),
            sums=np.asarray(data["sums"], dtype=float),
            groups=np.asarray(data["groups"], dtype=np.int64),
            minimum=_float(data.get("min")),
            maximum=_float(data.get("max")),
            mean=_float(data.get("mean")),
            std=_float(data.get("std")),
            role=str(data.get("role", "numeric")),
        )


@dataclass(frozen=True)
class CategoricalProfile:
    """Category counts of one categorical or boolean column.

    Attributes:
        categories: labels, most frequent first.
        counts: rows per label.
        other: rows whose label was pooled (beyond ``max_categories``).
        n_missing: missing values.
    """

    name: str
    categories: tuple[str, ...]
    counts: np.ndarray
    other: int
    n_missing: int
    role: str = "categorical"
    kind: Kind = field(default="categorical", init=False)

    @property
    def n(self) -> int:
        return int(self.counts.sum()) + self.other

    @property
    def complete(self) -> bool:
        """Every training label is listed, so an unlisted label is new."""
        return self.other == 0

    @property
    def missing_rate(self) -> float:
        total = self.n + self.n_missing
        return self.n_missing / total if total else 0.0

    @classmethod
    def build(
        cls,
        name: str,
        series: pd.Series,
        *,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
        role: str = "categorical",
    ) -> CategoricalProfile:
        counts, missing = category_counts(series)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        kept = ranked[:max_categories]
        other = sum(count for _, count in ranked[max_categories:])
        return cls(
            name=name,
            categories=tuple(label for label, _ in kept),
            counts=np.asarray([count for _, count in kept], dtype=np.int64),
            other=int(other),
            n_missing=missing,
            role=role,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "role": self.role,
            "categories": list(self.categories),
            "counts": self.counts.tolist(),
            "other": self.other,
            "n_missing": self.n_missing,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalProfile:
        return cls(
            name=str(data["name"]),
            categories=tuple(str(c) for c in data["categories"]),
            counts=np.asarray(data["counts"], dtype=np.int64),
            other=int(data.get("other", 0)),
            n_missing=int(data["n_missing"]),
            role=str(data.get("role", "categorical")),
        )


@dataclass(frozen=True)
class UntestedProfile:
    """A datetime or text column: only presence and missing rate are tracked
    (dates are expected to move; free text has no stable distribution)."""

    name: str
    n: int
    n_missing: int
    role: str
    kind: Kind = field(default="untested", init=False)

    @property
    def missing_rate(self) -> float:
        total = self.n + self.n_missing
        return self.n_missing / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "role": self.role,
            "n": self.n,
            "n_missing": self.n_missing,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UntestedProfile:
        return cls(str(data["name"]), int(data["n"]), int(data["n_missing"]), str(data["role"]))


ColumnProfile = NumericProfile | CategoricalProfile | UntestedProfile


def profile_from_dict(data: Mapping[str, Any]) -> ColumnProfile:
    kind = data.get("kind")
    if kind == "numeric":
        return NumericProfile.from_dict(data)
    if kind == "categorical":
        return CategoricalProfile.from_dict(data)
    if kind == "untested":
        return UntestedProfile.from_dict(data)
    raise ValueError(f"unknown profile kind {kind!r} for column {data.get('name')!r}")


# ---------------------------------------------------------------- clusterings


#: Rows the silhouette is measured on (it costs the square of the rows).
SILHOUETTE_SAMPLE = 2000


def as_cluster_ids(ids: Any) -> np.ndarray:
    """Cluster ids as integers, missing ones left out."""
    values = np.asarray(ids, dtype=float).reshape(-1)
    return values[np.isfinite(values)].astype(int)


def row_silhouettes(matrix: np.ndarray, ids: np.ndarray, *, seed: int = 0) -> np.ndarray | None:
    """The silhouette of each row of a seeded sample of at most
    :data:`SILHOUETTE_SAMPLE` rows, or None when it is undefined (fewer than
    two clusters among the rows, or as many clusters as rows)."""
    from sklearn.metrics import silhouette_samples

    matrix = np.asarray(matrix, dtype=float)
    ids = np.asarray(ids).reshape(-1).astype(int)
    if len(ids) > SILHOUETTE_SAMPLE:
        rows = np.random.default_rng(seed).choice(len(ids), SILHOUETTE_SAMPLE, replace=False)
        matrix, ids = matrix[rows], ids[rows]
    n_clusters = len(np.unique(ids))
    if n_clusters < 2 or n_clusters >= len(ids):
        return None
    return np.asarray(silhouette_samples(matrix, ids), dtype=float)


@dataclass(frozen=True)
class ClusterProfile:
    """What the reference keeps of a clustering's training assignment.

    Attributes:
        ids: the cluster ids, ascending.
        counts: training rows per id.
        silhouette: mean silhouette of the training rows (None: not measured).
        silhouette_std: spread of the per-row silhouette values.
        silhouette_rows: rows the silhouette was measured on.
    """

    ids: tuple[int, ...]
    counts: tuple[int, ...]
    silhouette: float | None = None
    silhouette_std: float | None = None
    silhouette_rows: int = 0

    @property
    def n(self) -> int:
        return int(sum(self.counts))

    @property
    def shares(self) -> dict[int, float]:
        total = max(self.n, 1)
        return {i: c / total for i, c in zip(self.ids, self.counts, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterProfile:
        silhouette = data.get("silhouette")
        spread = data.get("silhouette_std")
        return cls(
            ids=tuple(int(i) for i in data["ids"]),
            counts=tuple(int(c) for c in data["counts"]),
            silhouette=None if silhouette is None else float(silhouette),
            silhouette_std=None if spread is None else float(spread),
            silhouette_rows=int(data.get("silhouette_rows", 0)),
        )


def cluster_profile(
    ids: Any, matrix: np.ndarray | None = None, *, seed: int = 0, known: Any = None
) -> ClusterProfile:
    """The reference's cluster part from the training rows' ids and, for the
    silhouette, their prepared matrix (the pipeline's steps before the
    clustering model).

    Args:
        ids: each training row's cluster id.
        matrix: the rows in the space the clusters were found in.
        seed: random state of the silhouette's sample.
        known: every id the model can give (an id no training row got
            still counts, with 0 rows); the ids seen when omitted.
    """
    values = as_cluster_ids(ids)
    every = sorted(
        {
            *np.unique(values).tolist(),
            *(as_cluster_ids(known).tolist() if known is not None else []),
        }
    )
    counts = np.bincount(np.searchsorted(every, values), minlength=len(every))
    silhouettes = None if matrix is None else row_silhouettes(matrix, values, seed=seed)
    return ClusterProfile(
        ids=tuple(int(i) for i in every),
        counts=tuple(int(c) for c in counts),
        silhouette=None if silhouettes is None else float(silhouettes.mean()),
        silhouette_std=None if silhouettes is None else float(silhouettes.std(ddof=1)),
        silhouette_rows=0 if silhouettes is None else len(silhouettes),
    )


# ------------------------------------------------------------------ internals


def _equal_mass_groups(counts: np.ndarray, n_groups: int) -> np.ndarray:
    """Assign consecutive bins to about ``n_groups`` groups of equal reference
    mass; the out-of-range bins join the first and last groups."""
    total = counts.sum()
    if total == 0:
        return np.zeros(len(counts), dtype=np.int64)
    before = np.concatenate([[0], np.cumsum(counts)[:-1]]) / total
    groups = np.minimum((before * n_groups).astype(np.int64), n_groups - 1)
    # Renumber 0..k-1 so that skipped group numbers (one heavy bin) leave no gaps.
    _, dense = np.unique(groups, return_inverse=True)
    dense = dense.astype(np.int64)
    dense[-1] = dense[-2] if len(dense) > 1 else dense[-1]
    return dense


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)
