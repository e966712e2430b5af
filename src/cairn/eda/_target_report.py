"""The target's part of the EDA report: its distribution, its association
with every feature, and how the target moves with each feature."""

from __future__ import annotations

import math

import numpy as np

import cairn.reporting as rp
from cairn.eda._types import MIN_SUPPORT, ColumnProfile, Profile, TargetProfile, TargetRelation
from cairn.tasks import get_task

#: Target-relationship plots drawn (strongest associations first); the rest
#: are listed in a table.
TARGET_PLOTS = 24


def target_section(profile: Profile) -> rp.Section:
    """The target's distribution, its association with every feature, and one
    plot per feature (the strongest ``TARGET_PLOTS``)."""
    target = profile.target
    assert target is not None
    parts = [_target_distribution(target, profile[target.name]), _association_ranking(target)]
    parts = [part for part in parts if part]
    plots = [
        f'<div id="target-{rp.slug(relation.feature)}">'
        + _relation_plot(target.name, target.task, relation, target.classes or [])
        + "</div>"
        for relation in target.relations[:TARGET_PLOTS]
    ]
    children = []
    if plots:
        children.append(
            rp.Section(
                "By feature",
                rp.grid(*plots, min_width=460),
                id="target-by-feature",
                nav=False,
            )
        )
    rest = target.relations[TARGET_PLOTS:]
    body = rp.grid(*parts, min_width=420)
    if rest:
        body += rp.note(
            f"Plots below show the {TARGET_PLOTS} features most associated with the target; "
            f"the other {len(rest)}: "
            + ", ".join(
                f"{r.feature} ({r.association:.2f})"
                if math.isfinite(r.association)
                else f"{r.feature} (fewer than {MIN_SUPPORT} rows with a value)"
                for r in rest
            ),
            "muted",
        )
    what = (
        "how each class is spread over each feature's values"
        if get_task(target.task).has_classes
        else "how the target's distribution moves with each feature"
    )
    return rp.Section(
        f"Target: {target.name}",
        body,
        id="target",
        lead=f"{target.task.capitalize()} target; the plots show {what}, strongest "
        "association first. "
        + (
            f"On a random sample of {profile.association_rows:,} of the {profile.n_rows:,} rows."
            if profile.association_rows
            else "All rows."
        ),
        children=children,
    )


def _relation_plot(
    target: str, task: str, relation: TargetRelation, classes: list[tuple[str, int]]
) -> str:
    caption = (
        f"{relation.measure} = {relation.association:.3f} over {relation.support:,} rows"
        if math.isfinite(relation.association)
        else f"{relation.support:,} rows with a value: fewer than {MIN_SUPPORT}, not measured"
    )
    if get_task(task).has_classes and relation.class_counts is not None:
        table = np.asarray(relation.class_counts, dtype=float)
        names = [c for c, _ in classes][: table.shape[0]]
        if relation.feature_kind == "categorical":
            totals = table.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                shares = np.where(totals > 0, table / np.maximum(totals, 1), 0.0)
            fig = rp.stacked_bars(
                relation.labels,
                {name: shares[i] for i, name in enumerate(names)},
                horizontal=True,
                percent=True,
                title=f"{relation.feature}: share of each class of {target}",
                caption=caption
                + "; rows per category: "
                + ", ".join(
                    f"{lab} {int(t):,}"
                    for lab, t in list(zip(relation.labels, totals, strict=True))[:8]
                )
                + (" …" if len(relation.labels) > 8 else ""),
            )
            return str(fig)
        edges = np.asarray(relation.edges or [], dtype=float)
        centres = (edges[:-1] + edges[1:]) / 2 if len(edges) > 1 else np.arange(table.shape[1])
        per_class = table.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            density = np.where(per_class > 0, table / np.maximum(per_class, 1), 0.0)
        fig = rp.lines(
            {name: (centres, density[i]) for i, name in enumerate(names)},
            title=f"{relation.feature}: distribution within each class of {target}",
            x_title=relation.feature,
            y_title="share of the class's rows",
            markers=True,
            caption=caption + "; the outer bins include values beyond the 1st and 99th "
            "percentiles.",
            height=300,
        )
        fig.layout["yaxis"] = {**fig.layout["yaxis"], "tickformat": ".0%"}
        return str(fig)
    groups = relation.groups
    if groups is None:
        return ""
    fig = rp.boxes(
        groups.labels,
        {
            "q1": groups.q1,
            "median": groups.median,
            "q3": groups.q3,
            "lowerfence": groups.low,
            "upperfence": groups.high,
            "mean": groups.mean,
        },
        horizontal=relation.feature_kind == "categorical",
        title=f"{target} by {relation.feature}"
        + (" (deciles)" if relation.feature_kind == "numeric" else ""),
        x_title=relation.feature if relation.feature_kind == "numeric" else target,
        y_title=target if relation.feature_kind == "numeric" else "",
        caption=caption + "; boxes span the quartiles, whiskers the 5th to 95th percentiles, "
        "the dashed line is the mean.",
    )
    return str(fig)


def _target_distribution(target: TargetProfile, column: ColumnProfile) -> str:
    """Class counts, or the histogram of a numeric target."""
    if get_task(target.task).has_classes and target.classes:
        labels = [c for c, _ in target.classes]
        counts = [n for _, n in target.classes]
        total = max(sum(counts), 1)
        return str(
            rp.bar(
                labels,
                counts,
                title=f"Classes of {target.name}",
                y_title="rows",
                text=[rp.fmt_percent(c / total) for c in counts],
                color=[rp.PALETTE[i % len(rp.PALETTE)] for i in range(len(labels))],
            )
        )
    if column.numeric is not None:
        hist = column.numeric.histogram
        return str(
            rp.histogram(
                hist.edges,
                hist.counts,
                title=f"Distribution of {target.name}",
                x_title=target.name,
                markers={"mean": column.numeric.mean, "median": column.numeric.median},
            )
        )
    return ""


def _association_ranking(target: TargetProfile) -> str:
    """Every feature's strength of association with the target, strongest first."""
    relations = [r for r in target.relations if math.isfinite(r.association)]
    if not relations:
        return ""
    ranking = relations[:40]
    unranked = len(target.relations) - len(relations)
    return str(
        rp.bar(
            [r.feature for r in ranking],
            [r.association for r in ranking],
            horizontal=True,
            title="Association with the target",
            x_title="strength (0 – 1)",
            text=[f"{r.association:.2f} · {r.support:,} rows" for r in ranking],
            hover="%{y}: %{x:.3f}",
            caption="Cramér's V for categories, correlation ratio η or |Spearman ρ| for numbers, "
            "each over the rows where the feature and the target have a value (shown)"
            + (
                f"; {unranked} feature(s) with fewer than {MIN_SUPPORT} such rows are not ranked."
                if unranked
                else "."
            ),
        )
    )
