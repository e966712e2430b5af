"""The model card of a segmentation: what it is for, what it was found in,
each segment in words with its share and stability, its quality indices,
its limitations and the software that made it. Markdown and HTML from the
same content (see :class:`cairn.evaluation.ModelCard`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cairn.reporting as rp
from cairn.evaluation._clustering_report import agreement, stability_verdict
from cairn.evaluation._privacy_section import privacy_section_blocks
from cairn.evaluation._segment_profile import SegmentProfile, describe_segment, profile_segments
from cairn.evaluation._segmentation import STABLE, UNSTABLE, Segmentation, stability_band
from cairn.evaluation.card import CardSection, ModelCard, versions_section

__all__ = ["clustering_card", "write_clustering_card"]

#: A segment under this share of the rows is named as a limitation.
SMALL_SEGMENT = 0.05
#: Agreement with a ground truth under this adjusted Rand is named as a limitation.
LOW_AGREEMENT = 0.3


def _fmt(value: Any) -> str:
    return "not measured" if value is None else rp.fmt_number(value)


def _details(seg: Segmentation) -> CardSection:
    rows = [
        {"": "task", "value": "clustering (segmentation, no target)"},
        {"": "algorithm", "value": seg.chosen["algorithm"]},
        {"": "segments", "value": str(seg.n_clusters)},
        {"": "chosen by", "value": f"{seg.metric} and bootstrap stability"},
        {"": "rule", "value": seg.rule or "—"},
        {"": "rows", "value": f"{len(seg.labels):,} {seg.noun}"},
    ]
    return CardSection("Model details", [("table", (["", "value"], rows))])


def _intended_use(seg: Segmentation) -> CardSection:
    blocks: list[tuple[str, Any]] = []
    if seg.description.strip():
        blocks.append(("p", seg.description.strip()))
    else:
        blocks.append(
            (
                "p",
                f"Groups {seg.noun} into {seg.n_clusters} segments of similar "
                f"{', '.join(map(str, seg.preparation.get('features', seg.frame.columns)))}. "
                "No description was given: state the intended use to show it here.",
            )
        )
    blocks.append(
        (
            "ul",
            [
                "Segments describe the rows they were found in; a new row is assigned to the "
                "segment whose centre (or model) is nearest, without checking that it resembles "
                "that segment.",
                "The segments are found, not true groups: use them to explore and to target, "
                "and check them with people who know the data.",
                "Decisions about individual people should not rest on a segment alone.",
            ],
        )
    )
    return CardSection("Intended use", blocks)


def _data(seg: Segmentation) -> CardSection:
    prep = seg.preparation
    items = [
        ("rows", f"{len(seg.labels):,}"),
        ("features used", ", ".join(map(str, prep.get("features", seg.frame.columns)))),
        ("log-scaled", ", ".join(map(str, prep.get("log_columns", []))) or "none"),
        ("PCA components", str(prep.get("pca_components") or "none")),
        ("dimensions clustered", str(prep.get("n_dimensions", seg.matrix.shape[1]))),
        ("ground truth (scored only)", seg.ground_truth_name or "none"),
    ]
    rows = [{"": k, "value": v} for k, v in items]
    rows += [{"": f"left out: {c}", "value": r} for c, r in (prep.get("dropped") or {}).items()]
    return CardSection("Data", [("table", (["", "value"], rows))])


def segment_lines(seg: Segmentation, profiles: list[SegmentProfile]) -> list[str]:
    """One line per segment: its words, share and stability."""
    stability = seg.cluster_stability()
    lines = []
    for profile in profiles:
        value = stability[profile.cluster]
        measured = "not measured" if value is None else f"{_fmt(value)} ({stability_band(value)})"
        lines.append(
            f"Segment {profile.cluster} ({profile.size:,} {seg.noun}): "
            f"{describe_segment(profile, noun=seg.noun)}; stability {measured}."
        )
    return lines


def _metrics(seg: Segmentation) -> CardSection:
    rows = [{"measure": name, "value": value} for name, value in seg.indices.items()]
    rows += [
        {"measure": f"{name} with {seg.ground_truth_name}", "value": value}
        for name, value in agreement(seg).items()
    ]
    rows.append({"measure": "stability (mean bootstrap Jaccard)", "value": _fmt(seg.stability)})
    rows.append({"measure": "weakest segment's stability", "value": _fmt(seg.weakest)})
    return CardSection(
        "Metrics",
        [
            ("table", (["measure", "value"], rows)),
            (
                "p",
                "Indices on every row of the matrix the clusters were found in. Stability: "
                "each segment's mean Jaccard similarity with its best match when the "
                f"clustering is refitted on bootstrap resamples; >= {STABLE} stable, "
                f"{UNSTABLE}–{STABLE} doubtful, < {UNSTABLE} unstable (Hennig).",
            ),
        ],
    )


def _limitations(seg: Segmentation, profiles: list[SegmentProfile]) -> CardSection:
    items: list[str] = []
    for cluster, value in enumerate(seg.cluster_stability()):
        band = stability_band(value)
        if band in ("doubtful", "unstable"):
            items.append(
                f"Segment {cluster} is {band} (stability {_fmt(value)}): it may not reappear "
                "in other data from the same source."
            )
    if seg.weakest is None:
        items.append("Stability was not measured: nothing says the segments would reappear.")
    for profile in profiles:
        if profile.share < SMALL_SEGMENT:
            items.append(
                f"Segment {profile.cluster} holds only {profile.share:.1%} of {seg.noun}: "
                "its profile rests on few rows."
            )
        if not profile.notable():
            items.append(
                f"Segment {profile.cluster} differs little from the other rows on any single "
                "feature: it is set apart only by a mix of small differences."
            )
    chosen = seg.chosen_row()
    if chosen is not None and "noise_share" in seg.leaderboard:
        noise = float(seg.leaderboard.iloc[chosen]["noise_share"] or 0.0)
        if noise > 0:
            items.append(
                f"{noise:.1%} of the rows the search fitted on were noise to "
                f"{seg.chosen['algorithm']} and were given the segment of the nearest centre."
            )
    for column, reason in (seg.preparation.get("dropped") or {}).items():
        items.append(f"Column {column!r} was left out ({reason}): segments ignore it.")
    gaps = seg.frame.isna().any(axis=1)
    if gaps.any():
        items.append(
            f"{int(gaps.sum()):,} {seg.noun} ({gaps.mean():.1%}) had missing feature values: "
            "they were placed in a segment by imputed values."
        )
    if seg.ground_truth is not None:
        groups = seg.ground_truth.nunique()
        if groups != seg.n_clusters:
            items.append(
                f"{seg.ground_truth_name} has {groups} groups and the segmentation "
                f"{seg.n_clusters} segments: some segments merge or split known groups."
            )
    adjusted_rand = agreement(seg).get("adjusted_rand")
    if adjusted_rand is not None and adjusted_rand < LOW_AGREEMENT:
        items.append(
            f"The segments match {seg.ground_truth_name} poorly (adjusted Rand "
            f"{adjusted_rand:.2f}): they are not a stand-in for it."
        )
    if not items:
        items.append("None found by cairn's checks; the segments still describe only these rows.")
    return CardSection("Limitations", [("ul", items)])


def _versions(seg: Segmentation) -> CardSection:
    from cairn.bundle import library_versions

    return versions_section(seg.versions or library_versions())


def clustering_card(seg: Segmentation) -> ModelCard:
    """Build the model card of a segmentation."""
    profiles = profile_segments(seg.frame, seg.labels)
    value = seg.indices.get(seg.metric)
    summary = (
        f"{seg.chosen['algorithm']} segmentation of {len(seg.labels):,} {seg.noun} into "
        f"{seg.n_clusters} segments; {seg.metric} {_fmt(value)}, stability "
        f"{_fmt(seg.stability)} ({stability_band(seg.weakest)} at its weakest segment)."
    )
    title, tone = stability_verdict(seg)
    sections = [
        _details(seg),
        _intended_use(seg),
        _data(seg),
        CardSection("Privacy", privacy_section_blocks(seg.schema_metadata, seg.findings)),
        CardSection("Segments", [("ul", segment_lines(seg, profiles))]),
        _metrics(seg),
        _limitations(seg, profiles),
        _versions(seg),
    ]
    return ModelCard(
        f"Model card: {seg.project}",
        summary,
        None,
        sections,
        banner=rp.banner(title, tone),
        meta={"algorithm": seg.chosen["algorithm"], "segments": seg.n_clusters},
    )


def write_clustering_card(seg: Segmentation, folder: str | Path) -> tuple[Path, Path]:
    """Write ``model_card.md`` and ``model_card.html`` into ``folder``; returns both."""
    card = clustering_card(seg)
    target = Path(folder)
    markdown = rp.write_report(target / "model_card.md", card.markdown())
    page = rp.write_report(target / "model_card.html", card.html())
    return markdown, page
