"""The plots of the clustering report: the index and stability against the
cluster count, silhouettes per cluster, a 2-D projection, and each top
feature's distribution per segment against all rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import cairn.reporting as rp
from cairn.evaluation._plot_data import SCATTER_POINTS, sample_rows
from cairn.evaluation._segment_profile import is_numeric
from cairn.evaluation._segmentation import STABLE, UNSTABLE, Segmentation
from cairn.tasks.clustering import Clustering

#: Rows the principal axes are computed from on large data.
PROJECTION_FIT_ROWS = 20_000


def colour(cluster: int) -> str:
    return rp.PALETTE[cluster % len(rp.PALETTE)]


def _best_per_k(board: pd.DataFrame, column: str, higher: bool) -> pd.DataFrame:
    """Per algorithm and k, the best value of ``column`` (HDBSCAN can reach one
    k with several settings)."""
    known = board.dropna(subset=[column])
    if known.empty:
        return known
    grouped = known.groupby(["algorithm", "k"], sort=True)[column]
    best = grouped.max() if higher else grouped.min()
    return best.reset_index()


def k_selection(seg: Segmentation) -> list[str]:
    """The ranking index and the stability against k, one line per algorithm."""
    board = seg.leaderboard
    if board.empty or seg.metric not in board:
        return []
    chosen_k = {"chosen k": float(seg.chosen["k"])}
    higher_is_better = Clustering().greater_is_better(seg.metric)
    figures = []
    for column, higher, label, caption in (
        (
            seg.metric,
            higher_is_better,
            seg.metric,
            "The best value each algorithm reached at each cluster count "
            + ("(higher is better)." if higher_is_better else "(lower is better)."),
        ),
        (
            "stability",
            True,
            "mean bootstrap Jaccard",
            f"Measured only for the candidates the choice visited; >= {STABLE} stable, "
            f"< {UNSTABLE} unstable.",
        ),
    ):
        if column not in board:
            continue
        best = _best_per_k(board, column, higher)
        if best.empty:
            continue
        series = {
            str(name): (group["k"].to_numpy(dtype=float), group[column].to_numpy(dtype=float))
            for name, group in best.groupby("algorithm", sort=True)
        }
        fig = rp.lines(
            series,
            title=f"{label} against the number of clusters",
            x_title="clusters (k)",
            y_title=label,
            markers=True,
            vlines=chosen_k,
            caption=caption,
        )
        fig.layout["xaxis"]["dtick"] = 1
        if column == "stability":
            fig.layout["shapes"] = [
                *fig.layout.get("shapes", []),
                *(_band_line(value) for value in (UNSTABLE, STABLE)),
            ]
        figures.append(str(fig))
    return figures


def _band_line(value: float) -> dict[str, Any]:
    return {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "y0": value,
        "y1": value,
        "line": {"color": rp.MUTED, "dash": "dash", "width": 1},
    }


def silhouettes(seg: Segmentation) -> tuple[str, np.ndarray, np.ndarray]:
    """The silhouette of sampled rows, sorted within each cluster; returns the
    plot and each cluster's mean silhouette (over the sample) and sample size."""
    from sklearn.metrics import silhouette_samples

    rows = sample_rows(len(seg.labels), SCATTER_POINTS, seed=3)
    labels = seg.labels[rows]
    k = seg.n_clusters
    means = np.full(k, np.nan)
    counts = np.bincount(labels, minlength=k)
    if len(np.unique(labels)) < 2:
        return rp.note("The silhouette needs at least two clusters in the sample."), means, counts
    values = silhouette_samples(seg.matrix[rows], labels)
    traces, position, ticks = [], 0, []
    for cluster in range(k):
        mine = np.sort(values[labels == cluster])[::-1]
        if len(mine) == 0:
            continue
        means[cluster] = float(mine.mean())
        ys = np.arange(position, position + len(mine))
        ticks.append((position + len(mine) / 2, f"segment {cluster}"))
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": f"segment {cluster}",
                "x": mine,
                "y": ys,
                "width": 1.0,
                "marker": {"color": colour(cluster), "line": {"width": 0}},
                "hovertemplate": f"segment {cluster}: %{{x:.3f}}<extra></extra>",
            }
        )
        position += len(mine) + max(2, len(rows) // 60)
    overall = float(values.mean())
    layout = {
        "bargap": 0,
        "yaxis": {
            "autorange": "reversed",
            "tickvals": [t[0] for t in ticks],
            "ticktext": [t[1] for t in ticks],
            "showgrid": False,
        },
        "xaxis": {"title": {"text": "silhouette"}, "range": [min(-0.1, float(values.min())), 1]},
        "shapes": [rp.vertical_line(overall, color=rp.BAD, width=1.5)],
    }
    drawn = (
        f"{len(rows):,} of {len(seg.labels):,} rows drawn at random; "
        if len(rows) < len(seg.labels)
        else ""
    )
    fig = rp.Figure(
        traces,
        layout,
        title="Silhouette of each row, by segment",
        caption=f"{drawn}the dashed line is the mean ({overall:.3f}). Near 1: well inside its "
        "segment; near 0: between two; below 0: closer to another segment.",
        height=min(900, max(320, 60 * k + 200)),
    )
    return str(fig), means, counts


def projection(seg: Segmentation) -> str:
    """The rows on the first two principal axes of the clustering matrix."""
    matrix = seg.matrix
    if matrix.shape[1] < 2:
        return rp.note("The clustering matrix has one dimension: there is no 2-D projection.")
    fit_rows = sample_rows(len(matrix), PROJECTION_FIT_ROWS, seed=4)
    centre = matrix[fit_rows].mean(axis=0)
    _, singular, axes = np.linalg.svd(matrix[fit_rows] - centre, full_matrices=False)
    explained = singular**2 / max(float((singular**2).sum()), 1e-300)
    shown = sample_rows(len(matrix), SCATTER_POINTS, seed=5)
    points = (matrix[shown] - centre) @ axes[:2].T
    labels = seg.labels[shown]
    opacity = 0.7 if len(shown) < 1000 else 0.45
    traces: list[dict[str, Any]] = []
    for cluster in range(seg.n_clusters):
        mine = labels == cluster
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"segment {cluster}",
                "x": points[mine, 0],
                "y": points[mine, 1],
                "marker": {"color": colour(cluster), "size": 5, "opacity": opacity},
                "hovertemplate": f"segment {cluster}<extra></extra>",
            }
        )
    centroids = np.vstack(
        [
            matrix[seg.labels == c].mean(axis=0)
            for c in range(seg.n_clusters)
            if (seg.labels == c).any()
        ]
    )
    centres = (centroids - centre) @ axes[:2].T
    traces.append(
        {
            "type": "scatter",
            "mode": "markers+text",
            "name": "centres",
            "x": centres[:, 0],
            "y": centres[:, 1],
            "text": [str(c) for c in range(len(centres))],
            "textposition": "top center",
            "marker": {"symbol": "x", "size": 11, "color": "#1f2430"},
            "hovertemplate": "centre of segment %{text}<extra></extra>",
        }
    )
    drawn = (
        f"{len(shown):,} of {len(matrix):,} rows drawn at random; "
        if len(shown) < len(matrix)
        else ""
    )
    return str(
        rp.Figure(
            traces,
            {
                "showlegend": True,
                "xaxis": {
                    "title": {"text": f"first principal axis ({explained[0]:.0%} of variance)"}
                },
                "yaxis": {"title": {"text": f"second principal axis ({explained[1]:.0%})"}},
            },
            title="Segments on the first two principal axes",
            caption=f"{drawn}principal axes of the matrix the clusters were found in "
            f"({matrix.shape[1]} dimensions, {explained[:2].sum():.0%} of its variance shown); "
            "crosses mark each segment's centre.",
            height=440,
        )
    )


def distribution(seg: Segmentation, feature: str) -> str:
    """One feature's distribution in each segment and over all rows."""
    values = seg.frame[feature].reset_index(drop=True)
    names = ["all rows", *(f"segment {c}" for c in range(seg.n_clusters))]
    groups = [np.ones(len(values), dtype=bool), *(seg.labels == c for c in range(seg.n_clusters))]
    if is_numeric(values):
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        stats: dict[str, list[float]] = {
            key: [] for key in ("q1", "median", "q3", "lowerfence", "upperfence", "mean")
        }
        for mask in groups:
            known = numbers[mask & np.isfinite(numbers)]
            if len(known) == 0:
                known = np.array([np.nan])
            q1, median, q3 = np.nanquantile(known, [0.25, 0.5, 0.75])
            stats["q1"].append(q1)
            stats["median"].append(median)
            stats["q3"].append(q3)
            stats["lowerfence"].append(np.nanmin(known))
            stats["upperfence"].append(np.nanmax(known))
            stats["mean"].append(np.nanmean(known))
        fig = rp.boxes(
            names,
            {key: np.asarray(v) for key, v in stats.items()},
            horizontal=True,
            title=feature,
            x_title=feature,
            caption="Boxes: quartiles; whiskers: smallest and largest value; dashed: mean.",
        )
        return str(fig)
    text = values.astype("string").fillna("(missing)")
    top = text.value_counts().index[:8].tolist()
    shares: dict[str, list[float]] = {str(cat): [] for cat in top}
    other: list[float] = []
    for mask in groups:
        counts = text[mask].value_counts(normalize=True)
        for cat in top:
            shares[str(cat)].append(float(counts.get(cat, 0.0)))
        other.append(float(1 - sum(counts.get(cat, 0.0) for cat in top)))
    if max(other) > 1e-9:
        shares["other"] = other
    return str(
        rp.stacked_bars(
            names,
            shares,
            horizontal=True,
            percent=True,
            title=feature,
            caption="Share of each category in each segment.",
        )
    )
