"""Associations between columns: Pearson and Spearman between numbers,
Cramér's V between categories, the correlation ratio between the two, and
the strongest pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cairn.data.repair import Factorized
from cairn.eda import _stats
from cairn.eda._types import (
    MAX_LEVELS,
    MAX_PAIRWISE_COLUMNS,
    MIN_SUPPORT,
    ColumnProfile,
    Correlations,
    TargetProfile,
)


def categorical_codes(
    columns: list[ColumnProfile], facts: dict[str, Factorized], limit: int
) -> dict[str, tuple[np.ndarray, int]]:
    out = {}
    for column in columns:
        if column.kind == "categorical" and column.n_unique >= 2:
            fact = facts[column.name]
            codes, levels = _stats.capped_codes(fact.codes, fact.counts, limit)
            # intp once here: bincount would convert on every call otherwise.
            out[column.name] = (codes.astype(np.intp, copy=False), levels)
    return out


def choose_pairwise_columns(
    columns: list[ColumnProfile], target: str | None, target_profile: TargetProfile | None
) -> set[str]:
    """The columns the pairwise views (correlation matrices, strongly
    associated pairs) cover: every column of a table up to
    ``MAX_PAIRWISE_COLUMNS`` columns; in a wider one, the target and the
    columns most associated with it, or the first ones when there is no
    target. Pairwise work grows with the square of the columns, so it is
    capped to keep the profile linear in the width of the table."""
    names = [c.name for c in columns]
    if len(names) <= MAX_PAIRWISE_COLUMNS:
        return set(names)
    if target_profile is None or target is None:
        return set(names[:MAX_PAIRWISE_COLUMNS])
    ranked = [relation.feature for relation in target_profile.relations]  # strongest first
    return {target, *ranked[: MAX_PAIRWISE_COLUMNS - 1]}


def measure_correlations(
    columns: list[ColumnProfile],
    facts: dict[str, Factorized],
    numbers: dict[str, np.ndarray],
    target: str | None,
) -> Correlations:
    """Every association between the ``columns``, each over the rows where
    both columns have a value; pairs sharing fewer than ``MIN_SUPPORT`` rows
    are left blank (NaN) and out of the ranking."""
    numeric = [
        c.name
        for c in columns
        if c.kind in ("numeric", "datetime") and c.name in numbers and c.n_unique >= 2
    ]
    categorical = categorical_codes(columns, facts, MAX_LEVELS)
    out = Correlations()
    pairs: list[tuple[str, str, str, float, int]] = []
    too_few = 0
    matrix = _stats.stack_columns([numbers[name] for name in numeric]) if numeric else None
    numeric_support = None
    if len(numeric) >= 2:
        assert matrix is not None
        pearson, numeric_support = _stats.pearson_with_support(matrix)
        ranked = _stats.stack_columns(
            [
                _stats.ranks_from_codes(facts[name].codes, facts[name].uniques, facts[name].counts)
                if facts[name].uniques.dtype.kind in "biuf"
                else _stats.ranks(numbers[name])
                for name in numeric
            ]
        )
        # Ranks are missing exactly where the numbers are: same support.
        spearman = _stats.pairwise_pearson(ranked)
        thin = numeric_support < MIN_SUPPORT
        np.fill_diagonal(thin, False)
        pearson[thin] = spearman[thin] = np.nan
        too_few += int(thin.sum()) // 2
        out.pearson = pd.DataFrame(pearson, index=numeric, columns=numeric)
        out.spearman = pd.DataFrame(spearman, index=numeric, columns=numeric)
        for i, a in enumerate(numeric):
            for j in range(i + 1, len(numeric)):
                if np.isfinite(spearman[i, j]):
                    pairs.append(
                        (
                            a,
                            numeric[j],
                            "Spearman ρ",
                            abs(float(spearman[i, j])),
                            int(numeric_support[i, j]),
                        )
                    )
    cat_names = list(categorical)
    if len(cat_names) >= 2:
        v = np.eye(len(cat_names))
        for i, a in enumerate(cat_names):
            for j in range(i + 1, len(cat_names)):
                ca, la = categorical[a]
                cb, lb = categorical[cat_names[j]]
                value, support = _stats.cramers_v_with_support(ca, la, cb, lb)
                if support < MIN_SUPPORT:
                    value = float("nan")
                    too_few += 1
                v[i, j] = v[j, i] = value
                if np.isfinite(value):
                    pairs.append((a, cat_names[j], "Cramér's V", value, support))
        out.cramers_v = pd.DataFrame(v, index=cat_names, columns=cat_names)
    names = [c.name for c in columns if c.name in numeric or c.name in categorical]
    etas: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if numeric and categorical:
        assert matrix is not None
        by_category, supports = _stats.eta_with_support(matrix, list(categorical.values()))
        etas = {name: (by_category[i], supports[i]) for i, name in enumerate(categorical)}
    if len(names) >= 2:
        mixed = np.eye(len(names))
        for i, a in enumerate(names):
            for j in range(i + 1, len(names)):
                b = names[j]
                if a in numeric and b in numeric:
                    assert out.spearman is not None
                    value = abs(float(out.spearman.to_numpy()[numeric.index(a), numeric.index(b)]))
                elif a in categorical and b in categorical:
                    assert out.cramers_v is not None
                    value = float(out.cramers_v.to_numpy()[cat_names.index(a), cat_names.index(b)])
                else:
                    num, cat = (a, b) if a in numeric else (b, a)
                    eta, support_row = etas[cat]
                    value = float(eta[numeric.index(num)])
                    support = int(support_row[numeric.index(num)])
                    if support < MIN_SUPPORT:
                        value = float("nan")
                        too_few += 1
                    if np.isfinite(value):
                        pairs.append((num, cat, "correlation ratio η", value, support))
                mixed[i, j] = mixed[j, i] = value
        out.mixed = pd.DataFrame(mixed, index=names, columns=names)
    pairs.sort(key=lambda p: -p[3])
    out.top_pairs = pairs[:30]
    out.too_few_rows = too_few
    return out
