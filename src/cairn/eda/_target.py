"""The target's relationship with every feature: class counts per band or
level of a feature (classification), the target's spread per group
(regression), ranked by strength of association."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

from cairn.data.repair import Factorized
from cairn.eda import _stats
from cairn.eda._associations import categorical_codes
from cairn.eda._columns import display
from cairn.eda._stats import GroupStats
from cairn.eda._types import (
    MAX_CLASSES_SHOWN,
    MIN_SUPPORT,
    TARGET_PLOT_LEVELS,
    ColumnProfile,
    TargetProfile,
    TargetRelation,
)
from cairn.reporting import fmt_short
from cairn.tasks import get_task


def relate_to_target(
    target: str,
    task: str,
    columns: list[ColumnProfile],
    facts: dict[str, Factorized],
    numbers: dict[str, np.ndarray],
) -> TargetProfile:
    """The target's relationship with every feature that varies, strongest first."""
    features = [
        c
        for c in columns
        if c.name != target
        and c.count
        and c.n_unique >= 2
        and (c.kind == "categorical" or (c.kind in ("numeric", "datetime") and c.name in numbers))
    ]
    categorical = categorical_codes(features, facts, TARGET_PLOT_LEVELS)
    if get_task(task).has_classes:
        class_labels, relations = _relate_to_classes(
            facts[target], features, categorical, facts, numbers
        )
        _rank(relations)
        return TargetProfile(target, task, class_labels, relations)
    found = numbers.get(target)
    if found is None:
        return TargetProfile(target, task)
    relations = _relate_to_values(found, features, categorical, facts, numbers)
    _rank(relations)
    return TargetProfile(target, task, None, relations)


def _rank(relations: list[TargetRelation]) -> None:
    """Strongest association first; one measured on fewer than
    ``MIN_SUPPORT`` rows is not ranked (NaN, last)."""
    for relation in relations:
        if relation.support < MIN_SUPPORT:
            relation.association = float("nan")
    relations.sort(key=lambda r: -(r.association if math.isfinite(r.association) else -1))


def _relate_to_classes(
    target_fact: Factorized,
    features: list[ColumnProfile],
    categorical: dict[str, tuple[np.ndarray, int]],
    facts: dict[str, Factorized],
    numbers: dict[str, np.ndarray],
) -> tuple[list[tuple[str, int]], list[TargetRelation]]:
    """Class labels with their counts (the rarest merged beyond
    ``MAX_CLASSES_SHOWN``) and class counts per level or band of each feature."""
    order = np.lexsort((np.arange(len(target_fact.counts)), -target_fact.counts))
    classes = [(display(target_fact.uniques[i]), int(target_fact.counts[i])) for i in order]
    rank_of = np.empty(len(order), dtype=np.int32)
    rank_of[order] = np.arange(len(order), dtype=np.int32)
    y = np.where(target_fact.codes >= 0, rank_of[np.maximum(target_fact.codes, 0)], -1)
    k = len(order)
    if k > MAX_CLASSES_SHOWN:
        y = np.where(y >= MAX_CLASSES_SHOWN - 1, MAX_CLASSES_SHOWN - 1, y)
        k = MAX_CLASSES_SHOWN
    y_codes = y.astype(np.int32)
    measured = [c.name for c in features if c.name not in categorical]
    etas: dict[str, tuple[float, int]] = {}
    if measured:
        eta, support = _stats.eta_with_support(
            np.column_stack([numbers[n] for n in measured]), [(y_codes, k)]
        )
        etas = {name: (float(eta[0, i]), int(support[0, i])) for i, name in enumerate(measured)}
    relations = [
        _classes_by_level(column.name, categorical[column.name], facts[column.name], y_codes, k)
        if column.name in categorical
        else _classes_by_band(column, numbers[column.name], etas[column.name], y_codes, k)
        for column in features
    ]
    if len(order) > MAX_CLASSES_SHOWN:
        shown = classes[: MAX_CLASSES_SHOWN - 1]
        rest = sum(c for _, c in classes[MAX_CLASSES_SHOWN - 1 :])
        return [*shown, ("other classes", rest)], relations
    return classes, relations


def _classes_by_level(
    name: str, capped: tuple[np.ndarray, int], fact: Factorized, y_codes: np.ndarray, k: int
) -> TargetRelation:
    codes, levels = capped
    mask = (codes >= 0) & (y_codes >= 0)
    table = np.bincount(
        y_codes[mask].astype(np.int64) * levels + codes[mask], minlength=k * levels
    ).reshape(k, levels)
    labels = _level_labels(fact, levels)
    association, support = _stats.cramers_v_with_support(codes, levels, y_codes, k)
    return TargetRelation(
        name, "categorical", "Cramér's V", association, labels, table.tolist(), support=support
    )


def _classes_by_band(
    column: ColumnProfile,
    values: np.ndarray,
    measured: tuple[float, int],
    y_codes: np.ndarray,
    k: int,
) -> TargetRelation:
    association, support = measured
    edges = _relation_edges(column, values)
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    mask = np.isfinite(values) & (y_codes >= 0)
    n_bins = len(edges) - 1
    table = np.bincount(
        y_codes[mask].astype(np.int64) * n_bins + bins[mask], minlength=k * n_bins
    ).reshape(k, n_bins)
    labels = [f"{fmt_short(lo)} – {fmt_short(hi)}" for lo, hi in pairwise(edges)]
    return TargetRelation(
        column.name,
        "numeric",
        "correlation ratio η",
        association,
        labels,
        table.tolist(),
        edges=list(map(float, edges)),
        support=support,
    )


def _relate_to_values(
    y: np.ndarray,
    features: list[ColumnProfile],
    categorical: dict[str, tuple[np.ndarray, int]],
    facts: dict[str, Factorized],
    numbers: dict[str, np.ndarray],
) -> list[TargetRelation]:
    """The numeric target's spread within each level or band of each feature."""
    finite = np.isfinite(y)
    order = np.argsort(np.where(finite, y, np.inf), kind="stable")[: int(finite.sum())]
    y_sorted = y[order]
    y_ranks = _stats.ranks(y)
    relations = []
    for column in features:
        name = column.name
        if name in categorical:
            codes, levels = categorical[name]
            labels = _level_labels(facts[name], levels)
            groups = codes[order]
            n_groups = levels
            association, support = _stats.correlation_ratio_with_support(y, codes, levels)
            measure, kind, edges_out = "correlation ratio η", "categorical", None
        else:
            banded = _value_bands(column, numbers[name], y_ranks)
            if banded is None:
                continue
            bins, labels, association, edges_out, support = banded
            groups = bins[order]
            n_groups = len(edges_out) - 1
            measure, kind = "|Spearman ρ|", "numeric"
        group_stats = _group_stats(y_sorted, groups, n_groups, labels)
        relations.append(
            TargetRelation(
                name,
                kind,
                measure,
                association,
                group_stats.labels,
                groups=group_stats,
                edges=edges_out,
                support=support,
            )
        )
    return relations


def _value_bands(
    column: ColumnProfile, values: np.ndarray, y_ranks: np.ndarray
) -> tuple[np.ndarray, list[str], float, list[float], int] | None:
    """Each row's band of a numeric feature (-1 when missing), the bands'
    labels, |Spearman ρ| with the target, the band edges and the rows with
    both values; None when the feature has a single band."""
    hist = column.numeric.histogram if column.numeric is not None else None
    if hist is not None and hist.discrete and column.n_unique <= TARGET_PLOT_LEVELS:
        # Few whole numbers (ratings, counts): one group per value.
        qs = np.asarray(hist.edges, dtype=float)
        labels = [fmt_short(lo + 0.5) for lo in qs[:-1]]
    else:
        qs = np.unique(np.nanquantile(values, np.linspace(0, 1, 11)))
        labels = [f"{fmt_short(lo)} – {fmt_short(hi)}" for lo, hi in pairwise(qs)]
    if len(qs) < 2:
        return None
    bins = np.clip(np.searchsorted(qs, values, side="right") - 1, 0, len(qs) - 2)
    bins = np.where(np.isfinite(values), bins, -1).astype(np.int16)
    ranked = np.column_stack([_stats.ranks(values), y_ranks])
    rho, support = _stats.pearson_with_support(ranked)
    return bins, labels, abs(float(rho[0, 1])), [float(e) for e in qs], int(support[0, 1])


def _group_stats(
    y_sorted: np.ndarray, groups: np.ndarray, n_groups: int, labels: list[str]
) -> GroupStats:
    """Quartiles and whiskers of the target per group, empty groups left out."""
    stats = _stats.group_quantiles(y_sorted, groups, n_groups)
    keep = stats["count"] > 0
    return GroupStats(
        labels=[label for label, k in zip(labels, keep, strict=True) if k],
        count=stats["count"][keep].astype(int).tolist(),
        mean=stats["mean"][keep].tolist(),
        q1=stats["q1"][keep].tolist(),
        median=stats["median"][keep].tolist(),
        q3=stats["q3"][keep].tolist(),
        low=stats["low"][keep].tolist(),
        high=stats["high"][keep].tolist(),
    )


def _level_labels(fact: Factorized, levels: int) -> list[str]:
    if levels >= len(fact.counts):
        return [display(v) for v in fact.uniques]
    keep = np.argsort(-fact.counts, kind="stable")[: levels - 1]
    return [display(fact.uniques[i]) for i in keep] + ["(other)"]


def _relation_edges(column: ColumnProfile, values: np.ndarray) -> np.ndarray:
    stats = column.numeric
    if stats is not None and stats.histogram.discrete and len(stats.histogram.counts) <= 30:
        return np.asarray(stats.histogram.edges, dtype=float)
    finite = values[np.isfinite(values)]
    lo, hi = float(finite.min()), float(finite.max())
    if stats is not None:
        # Clip the long tails so that the bulk of the distribution is readable.
        lo = max(lo, stats.quantiles["1%"])
        hi = min(hi, stats.quantiles["99%"])
    if hi <= lo:
        hi = lo + 1.0
    if stats is not None and stats.integral:
        # Whole-number bins, so that no bin holds one more value than its neighbours.
        width = max(1.0, math.ceil((hi - lo + 1) / 20))
        return np.arange(lo - 0.5, hi + width, width)
    return np.linspace(lo, hi, 21)
