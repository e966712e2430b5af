"""The clustering report: the chosen segmentation, how the number of clusters
was chosen, how well rows sit in their segments, what sets each segment
apart, and (with a ground truth) how the segments match known groups, as
one self-contained HTML page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import cairn.reporting as rp
from cairn.evaluation._clustering_plots import (
    colour,
    distribution,
    k_selection,
    projection,
    silhouettes,
)
from cairn.evaluation._segment_profile import (
    NOTABLE_EFFECT,
    SegmentProfile,
    describe_segment,
    profile_segments,
)
from cairn.evaluation._segmentation import STABLE, UNSTABLE, Segmentation, stability_band
from cairn.exceptions import DataError
from cairn.tasks import get_task

__all__ = [
    "agreement",
    "contingency",
    "render_clustering_report",
    "write_clustering_report",
]

#: Features named per segment in the profile tables.
PROFILE_FEATURES = 8
#: Features whose distribution per segment is drawn.
DISTRIBUTION_FEATURES = 6

_BAND_TONE = {"stable": "good", "doubtful": "warn", "unstable": "bad", "not measured": "muted"}


def _fmt(value: Any) -> str:
    return "—" if value is None else rp.fmt_number(value)


def stability_verdict(seg: Segmentation) -> tuple[str, str]:
    """A headline on the weakest cluster's stability and its tone."""
    weakest = seg.weakest
    band = stability_band(weakest)
    if band == "not measured":
        return "Stability was not measured", "muted"
    if band == "stable":
        return f"Stable: every segment keeps its rows under resampling (>= {STABLE})", "good"
    unsure = [i for i, v in enumerate(seg.cluster_stability()) if v is not None and v < STABLE]
    names = ", ".join(str(i) for i in unsure)
    if band == "doubtful":
        return f"Doubtful: segment(s) {names} between {UNSTABLE} and {STABLE}", "warn"
    return (
        f"Unstable: segment(s) {names} below {STABLE}; the weakest dissolves (< {UNSTABLE})",
        "bad",
    )


def agreement(seg: Segmentation) -> dict[str, float]:
    """Adjusted Rand and normalized mutual information with the ground truth."""
    if seg.ground_truth is None:
        return {}
    from cairn.tasks.metrics import cluster_score

    known = seg.ground_truth.notna().to_numpy()
    truth = seg.ground_truth[known].astype(str).to_numpy()
    return {
        name: cluster_score(name, seg.labels[known], y_true=truth)
        for name in ("adjusted_rand", "normalized_mutual_info")
    }


def _summary(seg: Segmentation) -> rp.Section:
    value = seg.indices.get(seg.metric)
    stability = seg.stability
    tiles: list[tuple[str, Any] | tuple[str, Any, str]] = [
        ("algorithm", seg.chosen["algorithm"]),
        ("segments", seg.n_clusters, f"{len(seg.labels):,} {seg.noun}"),
        (seg.metric, _fmt(value), "on every row"),
        ("stability", _fmt(stability), "mean bootstrap Jaccard over the segments"),
        ("weakest segment", _fmt(seg.weakest), stability_band(seg.weakest)),
    ]
    indices = [{"index": name, "value": v} for name, v in seg.indices.items()]
    indices += [
        {"index": f"{name} (with {seg.ground_truth_name})", "value": v}
        for name, v in agreement(seg).items()
    ]
    body = rp.tiles(tiles)
    if seg.rule:
        body += rp.note(f"Choice: {seg.rule}.", "info")
    body += rp.table(
        indices,
        caption="Silhouette: -1 to 1, higher is better; Calinski-Harabasz: higher is better; "
        "Davies-Bouldin: lower is better. Stability bands (Hennig): "
        f">= {STABLE} stable, {UNSTABLE}–{STABLE} doubtful, < {UNSTABLE} unstable.",
    )
    return rp.Section(
        "Summary", body, id="summary", lead="The chosen segmentation and its quality indices."
    )


def _segments(seg: Segmentation, profiles: list[SegmentProfile]) -> rp.Section:
    stability = seg.cluster_stability()
    rows = []
    for profile in profiles:
        band = stability_band(stability[profile.cluster])
        rows.append(
            {
                "segment": profile.cluster,
                seg.noun: profile.size,
                "share": rp.fmt_percent(profile.share),
                "stability": _fmt(stability[profile.cluster]),
                "band": rp.Raw(rp.badge(band, _BAND_TONE[band])),
                "description": describe_segment(profile, noun=seg.noun),
            }
        )
    sizes = rp.bar(
        [f"segment {p.cluster}" for p in profiles],
        [p.size for p in profiles],
        horizontal=True,
        color=[colour(p.cluster) for p in profiles],
        text=[rp.fmt_percent(p.share) for p in profiles],
        title="Rows per segment",
        x_title=seg.noun,
    )
    return rp.Section(
        "Segments",
        rp.row(rp.table(rows), str(sizes), widths=(2, 1)),
        id="segments",
        lead="Each segment in words: the features that set it apart most "
        f"(effect size >= {NOTABLE_EFFECT}), and its size and stability.",
    )


def _choice(seg: Segmentation) -> rp.Section:
    figures = k_selection(seg)
    body = rp.grid(*figures, min_width=420) if figures else rp.note("No leaderboard recorded.")
    return rp.Section(
        "Choosing the number of clusters",
        body,
        id="k-selection",
        lead=f"{seg.metric} and bootstrap stability of every candidate against k; the dotted "
        "line marks the chosen k.",
    )


def _fit(seg: Segmentation) -> rp.Section:
    plot, means, counts = silhouettes(seg)
    rows = [
        {"segment": c, "rows in sample": int(counts[c]), "mean silhouette": means[c]}
        for c in range(seg.n_clusters)
    ]
    return rp.Section(
        "How well rows fit their segment",
        rp.row(plot, rp.table(rows), widths=(2, 1)) + rp.grid(projection(seg), min_width=420),
        id="fit",
        lead="Silhouettes per segment and the segments on a 2-D projection of the matrix the "
        "clusters were found in.",
    )


def _profile_section(
    seg: Segmentation, profile: SegmentProfile, stability: float | None
) -> rp.Section:
    top = profile.effects[:PROFILE_FEATURES]
    rows = [
        {
            "feature": e.feature + (f" = {e.category}" if e.category is not None else ""),
            "in segment": e.in_segment if e.kind == "numeric" else rp.fmt_percent(e.in_segment),
            "all rows": e.overall if e.kind == "numeric" else rp.fmt_percent(e.overall),
            "effect": round(e.effect, 3),
            "reads": e.words() if e.size >= NOTABLE_EFFECT else "—",
        }
        for e in top
    ]
    effects = rp.bar(
        [r["feature"] for r in rows],
        [e.effect for e in top],
        horizontal=True,
        color=[rp.PALETTE[0] if e.effect > 0 else rp.PALETTE[1] for e in top],
        title="Effect size against the other rows",
        x_title="effect size (d or h)",
        hover="%{y}: %{x:.2f}",
        caption=f"Right: more than in the other rows. |effect| >= {NOTABLE_EFFECT} is named "
        "in the description; 0.8 is large.",
    )
    band = stability_band(stability)
    body = rp.tiles(
        [
            (seg.noun, profile.size, rp.fmt_percent(profile.share)),
            ("stability", _fmt(stability), band),
        ]
    ) + rp.row(
        rp.table(
            rows,
            caption="Effect: Cohen's d for a number (difference of means in standard "
            "deviations), Cohen's h for a category's share.",
        ),
        str(effects),
        widths=(3, 2),
    )
    return rp.Section(
        f"Segment {profile.cluster}",
        body,
        lead=describe_segment(profile, noun=seg.noun),
        badge=rp.badge(band, _BAND_TONE[band]),
    )


def _profiles(seg: Segmentation, profiles: list[SegmentProfile]) -> rp.Section:
    stability = seg.cluster_stability()
    strongest: dict[str, float] = {}
    for profile in profiles:
        for effect in profile.effects:
            strongest[effect.feature] = max(strongest.get(effect.feature, 0.0), effect.size)
    ranked = sorted(strongest, key=lambda f: strongest[f], reverse=True)[:DISTRIBUTION_FEATURES]
    plots = [distribution(seg, feature) for feature in ranked]
    children = [_profile_section(seg, p, stability[p.cluster]) for p in profiles]
    return rp.Section(
        "Segment profiles",
        rp.grid(*plots, min_width=420) if plots else "",
        id="profiles",
        lead="The features that differ most between segments, in their original units, per "
        "segment against all rows; then each segment against the other rows.",
        children=children,
    )


def _sizes_cell(sizes: Any) -> Any:
    """Cluster sizes on one line, however many clusters."""
    if not isinstance(sizes, list | tuple | np.ndarray):
        return sizes
    return ",\u00a0".join(str(int(v)) for v in sizes)  # no-break spaces keep one line


def _leaderboard(seg: Segmentation) -> rp.Section:
    board = seg.leaderboard.drop(columns=["chosen"], errors="ignore")
    if board.empty:
        return rp.Section("Leaderboard", rp.note("No leaderboard recorded."), id="leaderboard")
    if "sizes" in board:
        board["sizes"] = board["sizes"].map(_sizes_cell)
    chosen = seg.chosen_row()
    board.insert(0, "chosen", ["✓" if i == chosen else "" for i in range(len(board))])
    return rp.Section(
        "Leaderboard",
        rp.table(board, max_rows=60),
        id="leaderboard",
        lead=f"Every candidate, best {seg.metric} first; stability is measured only for those "
        "the choice visited. Sizes are counted on the rows the search fitted on.",
    )


def _preparation(seg: Segmentation) -> rp.Section:
    prep = seg.preparation
    pca = prep.get("pca_components")
    items = [
        ("features used", ", ".join(map(str, prep.get("features", []))) or "—"),
        ("log-scaled before scaling", ", ".join(map(str, prep.get("log_columns", []))) or "none"),
        ("PCA", f"{pca} components kept" if pca else "none"),
        ("dimensions clustered", prep.get("n_dimensions", seg.matrix.shape[1])),
    ]
    dropped = prep.get("dropped") or {}
    body = rp.key_values(items)
    if dropped:
        body += rp.table(
            [{"column": c, "reason": r} for c, r in dropped.items()], caption="Columns left out."
        )
    return rp.Section(
        "Preparation",
        body,
        id="preparation",
        lead="What was done to the columns before clustering: numbers scaled, categories "
        "one-hot encoded, missing values imputed.",
    )


def contingency(seg: Segmentation) -> pd.DataFrame:
    """Rows per segment (index) and ground-truth group (columns); missing
    groups are counted as "(missing)"."""
    if seg.ground_truth is None:
        raise DataError("this segmentation has no ground truth to compare with")
    truth = seg.ground_truth.astype("string").fillna("(missing)")
    return pd.crosstab(pd.Series(seg.labels, name="segment"), truth.rename("truth"))


def _ground_truth(seg: Segmentation) -> rp.Section | None:
    if seg.ground_truth is None:
        return None
    table = contingency(seg)
    scores = agreement(seg)
    heat = rp.heatmap(
        table.to_numpy(dtype=float),
        [str(c) for c in table.columns],
        [f"segment {i}" for i in table.index],
        title=f"Segments against {seg.ground_truth_name}",
        x_title=seg.ground_truth_name,
        text_format=",.0f",
        hover="%{y}, %{x}: %{z:,} rows<extra></extra>",
    )
    shown = table.reset_index()
    shown.columns = [str(c) for c in shown.columns]
    body = rp.tiles([(name, _fmt(value)) for name, value in scores.items()]) + rp.row(
        rp.table(shown), str(heat), widths=(1, 1)
    )
    return rp.Section(
        "Agreement with the ground truth",
        body,
        id="ground-truth",
        lead=f"{seg.ground_truth_name} was not used to find the segments, only to score them: "
        "adjusted Rand (0 = chance, 1 = identical) and normalized mutual information (0 to 1).",
    )


#: The report's task sections, by the names the clustering task lists in its
#: ``report_sections``, between the summary and the leaderboard.
SEGMENTATION_SECTIONS: dict[
    str, Callable[[Segmentation, list[SegmentProfile]], rp.Section | None]
] = {
    "segments": _segments,
    "k_selection": lambda seg, _: _choice(seg),
    "fit": lambda seg, _: _fit(seg),
    "profiles": _profiles,
    "ground_truth": lambda seg, _: _ground_truth(seg),
}


def render_clustering_report(seg: Segmentation) -> str:
    """The clustering report as an HTML page (string)."""
    profiles = profile_segments(seg.frame, seg.labels)
    title, tone = stability_verdict(seg)
    drawn = [
        SEGMENTATION_SECTIONS[name](seg, profiles)
        for name in get_task("clustering").report_sections
    ]
    sections = [
        _summary(seg),
        *(section for section in drawn if section is not None),
        _leaderboard(seg),
        _preparation(seg),
    ]
    return rp.render_page(
        f"Segmentation: {seg.project}",
        sections,
        subtitle=f"{seg.n_clusters} segments of {len(seg.labels):,} {seg.noun} by "
        f"{seg.chosen['algorithm']}, chosen by {seg.metric} and bootstrap stability",
        banner=rp.banner(title, tone),
        meta={
            "algorithm": seg.chosen["algorithm"],
            "segments": seg.n_clusters,
            seg.noun: f"{len(seg.labels):,}",
            "metric": seg.metric,
        },
    )


def write_clustering_report(seg: Segmentation, path: str | Path) -> Path:
    """Write the clustering report to ``path`` (atomically) and return it."""
    return rp.write_report(path, render_clustering_report(seg))
