"""What sets each segment apart: its size, and the features whose values in
the segment differ most from the other rows, with effect sizes on one scale.

Numbers are compared by Cohen's d (the difference of the segment's mean and
the other rows' mean, in pooled standard deviations); categories by Cohen's h
(the difference of the arcsine-transformed shares of one category in the
segment and in the other rows; a number with two values counts as a
category). Both read the same way: 0.2 small, 0.5 medium, 0.8 large, so
numeric and categorical features rank together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cairn.exceptions import DataError

__all__ = [
    "NOTABLE_EFFECT",
    "FeatureEffect",
    "SegmentProfile",
    "describe_segment",
    "profile_segments",
]

#: An effect at least this large (|d| or |h|) is named in a segment's description.
NOTABLE_EFFECT = 0.5
#: From this size on the description says "very high" / "very low".
STRONG_EFFECT = 1.5


@dataclass(frozen=True)
class FeatureEffect:
    """How one feature differs between a segment and the other rows.

    Attributes:
        feature: the column.
        kind: "numeric" or "categorical".
        effect: Cohen's d (numeric) or Cohen's h of ``category`` (categorical);
            positive when the segment has more of it than the other rows.
        in_segment: the segment's mean (numeric) or share of ``category``.
        overall: the mean or share over every row.
        category: the category compared (categorical features only).
    """

    feature: str
    kind: str
    effect: float
    in_segment: float
    overall: float
    category: str | None = None

    @property
    def size(self) -> float:
        """The magnitude used to rank features."""
        return abs(self.effect)

    def words(self) -> str:
        """The effect in a few words, e.g. "high Age" or "Genre mostly Female"."""
        if self.kind == "numeric":
            level = "high" if self.effect > 0 else "low"
            very = "very " if self.size >= STRONG_EFFECT else ""
            return f"{very}{level} {self.feature}"
        if self.effect > 0:
            how = "mostly" if self.in_segment >= 0.5 else "more often"
        else:
            how = "rarely" if self.in_segment <= 0.1 else "less often"
        return f"{self.feature} {how} {self.category}"


@dataclass
class SegmentProfile:
    """One segment: its size and its features ranked by effect size.

    Attributes:
        cluster: the segment's id.
        size: rows in the segment.
        share: the segment's share of all rows.
        effects: one per profiled feature, largest effect first.
    """

    cluster: int
    size: int
    share: float
    effects: list[FeatureEffect] = field(default_factory=list)

    def notable(self, threshold: float = NOTABLE_EFFECT) -> list[FeatureEffect]:
        """The effects at least ``threshold`` in size, largest first."""
        return [effect for effect in self.effects if effect.size >= threshold]


def _cohens_d(inside: np.ndarray, outside: np.ndarray, everything: np.ndarray) -> float:
    """Standardized mean difference; the overall spread stands in when both
    groups are constant (e.g. a segment of identical values)."""
    n1, n2 = len(inside), len(outside)
    if n1 == 0 or n2 == 0:
        return 0.0
    difference = float(inside.mean() - outside.mean())
    if difference == 0:
        return 0.0
    variance = (
        (n1 - 1) * (inside.var(ddof=1) if n1 > 1 else 0.0)
        + (n2 - 1) * (outside.var(ddof=1) if n2 > 1 else 0.0)
    ) / max(n1 + n2 - 2, 1)
    spread = math.sqrt(variance) if variance > 0 else float(everything.std())
    return difference / spread if spread > 0 else 0.0


def _cohens_h(p_inside: float, p_outside: float) -> float:
    return 2 * math.asin(math.sqrt(p_inside)) - 2 * math.asin(math.sqrt(p_outside))


def _numeric_effect(name: str, values: pd.Series, member: np.ndarray) -> FeatureEffect | None:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(numbers)
    if not known.any():
        return None
    inside, outside = numbers[member & known], numbers[~member & known]
    if len(inside) == 0:
        return None
    return FeatureEffect(
        feature=name,
        kind="numeric",
        effect=_cohens_d(inside, outside, numbers[known]),
        in_segment=float(inside.mean()),
        overall=float(numbers[known].mean()),
    )


def _categorical_effect(name: str, values: pd.Series, member: np.ndarray) -> FeatureEffect | None:
    text = values.astype("string")
    known = text.notna().to_numpy()
    if not known.any() or not (member & known).any():
        return None
    inside = text[member & known].value_counts(normalize=True)
    outside = text[~member & known].value_counts(normalize=True)
    overall = text[known].value_counts(normalize=True)
    best: FeatureEffect | None = None
    for category in overall.index:
        p_in = float(inside.get(category, 0.0))
        h = _cohens_h(p_in, float(outside.get(category, 0.0))) if len(outside) else 0.0
        candidate = FeatureEffect(name, "categorical", h, p_in, float(overall[category]), category)
        # On a tie (two categories mirror each other) the over-represented one speaks.
        if best is None or _rank(candidate) > _rank(best):
            best = candidate
    return best


def _rank(effect: FeatureEffect) -> tuple[float, bool]:
    # Rounded so that mirrored categories of a flag tie exactly.
    return round(effect.size, 9), effect.effect > 0


def is_numeric(values: pd.Series) -> bool:
    """Numbers with more than two values: a two-valued number is a flag (as
    the schema's boolean role has it), described by its shares."""
    return (
        pd.api.types.is_numeric_dtype(values)
        and not pd.api.types.is_bool_dtype(values)
        and values.nunique() > 2
    )


def profile_segments(
    frame: pd.DataFrame, labels: Sequence[int] | np.ndarray
) -> list[SegmentProfile]:
    """Profile every segment of ``frame`` (one cluster id per row in ``labels``).

    Args:
        frame: the rows' features in their original units.
        labels: the cluster id of each row, in the frame's order (ids >= 0).

    Returns:
        One profile per cluster id, in id order; each ranks the features
        (date and time columns are skipped) by effect size.

    Raises:
        DataError: the labels do not match the rows, or an id is negative.
    """
    ids = np.asarray(labels).reshape(-1)
    if len(ids) != len(frame):
        raise DataError(
            f"labels has {len(ids):,} cluster ids but the frame has {len(frame):,} rows: "
            "give one cluster id per row of the frame, in the same order"
        )
    if len(ids) == 0:
        raise DataError("there are no rows to profile: the frame is empty")
    if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0:
        raise DataError(
            "cluster ids must be whole numbers >= 0 (assign noise rows to a cluster first); "
            f"got values such as {ids[:3].tolist()}"
        )
    columns = [
        c
        for c in frame.columns
        if not pd.api.types.is_datetime64_any_dtype(frame[c])
        and not pd.api.types.is_timedelta64_dtype(frame[c])
    ]
    profiles = []
    counts = np.bincount(ids)
    for cluster in range(len(counts)):
        member = ids == cluster
        effects = []
        for column in columns:
            values = frame[column].reset_index(drop=True)
            if is_numeric(values):
                effect = _numeric_effect(str(column), values, member)
            else:
                effect = _categorical_effect(str(column), values, member)
            if effect is not None:
                effects.append(effect)
        effects.sort(key=lambda e: e.size, reverse=True)
        profiles.append(
            SegmentProfile(int(cluster), int(counts[cluster]), counts[cluster] / len(ids), effects)
        )
    return profiles


def describe_segment(
    profile: SegmentProfile,
    *,
    noun: str = "rows",
    threshold: float = NOTABLE_EFFECT,
    max_features: int = 3,
) -> str:
    """The segment in words, e.g. "high Annual Income, low Spending Score,
    12% of customers".

    Args:
        profile: see :func:`profile_segments`.
        noun: what a row is ("customers").
        threshold: the smallest effect size named.
        max_features: name at most this many features.
    """
    named = [effect.words() for effect in profile.notable(threshold)[:max_features]]
    if not named:
        named = ["close to the average on every feature"]
    return ", ".join([*named, f"{profile.share:.0%} of {noun}"])
