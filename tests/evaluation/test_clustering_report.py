"""The clustering report and card on real segmentations: mall customers (no
ground truth) and penguins (species as ground truth, scored only)."""

from __future__ import annotations

import dataclasses
import json
import re
import runpy
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

import cairn.reporting as rp
from cairn.evaluation import (
    Segmentation,
    clustering_card,
    describe_segment,
    load_segmentation,
    profile_segments,
    render_clustering_report,
    write_clustering_card,
    write_clustering_report,
)
from cairn.evaluation._clustering_report import agreement, contingency
from cairn.exceptions import BundleError, DataError
from cairn.models.clustering import search_clusters, to_segmentation
from cairn.tasks.metrics import cluster_score
from tests.conftest import dataset_path, load_dataset

FAST = {"time_budget": 5.0, "n_resamples": 8, "stability_rows": 400}


@pytest.fixture(scope="module")
def mall() -> Segmentation:
    frame = load_dataset("mall_customers")
    result = search_clusters(frame, k_range=(5, 6), **FAST)
    return to_segmentation(result, frame, project="mall", noun="customers")


@pytest.fixture(scope="module")
def penguins() -> Segmentation:
    frame = load_dataset("penguins")
    result = search_clusters(frame, exclude=["species"], k_range=(2, 6), **FAST)
    return to_segmentation(result, frame, ground_truth="species", noun="penguins")


def test_report_holds_every_section_and_plot_and_opens_offline(
    mall: Segmentation, tmp_path: Path
) -> None:
    path = write_clustering_report(mall, tmp_path / "clustering.html")
    page = path.read_text(encoding="utf-8")
    for anchor in ("summary", "segments", "k-selection", "fit", "profiles", "leaderboard"):
        assert f'id="{anchor}"' in page, anchor
    assert 'id="preparation"' in page and "CustomerID" in page and "id column" in page
    for title in (
        "silhouette against the number of clusters",
        "mean bootstrap Jaccard against the number of clusters",
        "Silhouette of each row, by segment",
        "Segments on the first two principal axes",
        "Annual Income (k$)",
    ):
        assert f'<p class="plot-title">{rp.escape(title)}</p>' in page, title
    # One box or bar chart per top feature, one effect chart per segment, and the rest.
    assert page.count('class="cairn-plot"') >= 5 + mall.n_clusters
    assert f'id="segment-{mall.n_clusters - 1}"' in page
    own = page.replace(rp.plotly_js(), "")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", own)
    assert "Agreement with the ground truth" not in page  # no ground truth given
    assert not re.search(r"&lt;/?[a-z]+[ &]", own)  # no markup shown as text
    first = mall.leaderboard["sizes"].iloc[0]
    assert ",\u00a0".join(str(n) for n in first) in page


def test_summary_shows_the_choice_and_stability_bands(mall: Segmentation) -> None:
    page = render_clustering_report(mall)
    assert mall.chosen["algorithm"] in page and rp.escape(mall.rule) in page
    assert rp.fmt_number(mall.indices["silhouette"]) in page
    bands = {"stable", "doubtful", "unstable"}
    shown = set(re.findall(r'<span class="badge \w+">(\w+)</span>', page))
    assert shown and shown <= bands
    weakest = mall.weakest
    assert weakest is not None
    headline = "Stable" if weakest >= 0.75 else "Doubtful" if weakest >= 0.6 else "Unstable"
    assert f"<strong>{headline}:" in page


def test_mall_segments_are_described_by_income_and_spending(mall: Segmentation) -> None:
    profiles = profile_segments(mall.frame, mall.labels)
    words = [describe_segment(p, noun="customers") for p in profiles]
    assert all(w.endswith("of customers") for w in words)
    assert any(
        re.search(r"\bhigh Annual Income", w) and re.search(r"\bhigh Spending Score", w)
        for w in words
    ), words
    assert any(
        re.search(r"\bhigh Annual Income", w) and re.search(r"\blow Spending Score", w)
        for w in words
    ), words
    shares = [float(w.rsplit("%", 1)[0].rsplit(" ", 1)[-1]) for w in words]
    assert abs(sum(shares) - 100) <= len(shares)  # each share rounded to a whole percent


def test_effect_sizes_match_the_data(penguins: Segmentation) -> None:
    frame, labels = penguins.frame, penguins.labels
    for profile in profile_segments(frame, labels):
        inside = labels == profile.cluster
        assert profile.size == inside.sum()
        sizes = [e.size for e in profile.effects]
        assert sizes == sorted(sizes, reverse=True)
        for effect in profile.effects:
            column = frame[effect.feature]
            if effect.kind == "numeric":
                a, b = column[inside].dropna(), column[~inside].dropna()
                pooled = np.sqrt(
                    ((len(a) - 1) * a.var() + (len(b) - 1) * b.var()) / (len(a) + len(b) - 2)
                )
                assert effect.effect == pytest.approx((a.mean() - b.mean()) / pooled)
                assert effect.in_segment == pytest.approx(a.mean())
            else:
                known = column.notna()
                p_in = (column[inside & known] == effect.category).mean()
                p_out = (column[~inside & known] == effect.category).mean()
                assert np.sign(effect.effect) == np.sign(p_in - p_out)
                assert effect.in_segment == pytest.approx(p_in)
    heavy = max(profile_segments(frame, labels), key=lambda p: p.effects[0].in_segment)
    mass = next(e for e in heavy.effects if e.feature == "body_mass_g")
    assert (mass.effect > 0) == (mass.in_segment > frame["body_mass_g"].mean())


def test_ground_truth_contingency_and_agreement(penguins: Segmentation, tmp_path: Path) -> None:
    table = contingency(penguins)
    assert int(table.to_numpy().sum()) == len(penguins.frame) == 344
    assert set(table.columns) == {"Adelie", "Chinstrap", "Gentoo"}
    truth = load_dataset("penguins")["species"]
    scores = agreement(penguins)
    assert scores["adjusted_rand"] == pytest.approx(adjusted_rand_score(truth, penguins.labels))
    assert scores["normalized_mutual_info"] == pytest.approx(
        normalized_mutual_info_score(truth, penguins.labels)
    )
    assert scores["adjusted_rand"] > 0.4  # the segments follow the species
    page = write_clustering_report(penguins, tmp_path / "p.html").read_text(encoding="utf-8")
    assert 'id="ground-truth"' in page and "Segments against species" in page
    assert "species" not in penguins.frame.columns  # scored only, never a feature
    card, _ = write_clustering_card(penguins, tmp_path)
    limits = card.read_text(encoding="utf-8").split("## Limitations")[1]
    gaps = int(load_dataset("penguins").drop(columns="species").isna().any(axis=1).sum())
    assert f"{gaps:,} penguins (" in limits and "imputed values" in limits
    if penguins.n_clusters != 3:
        assert f"species has 3 groups and the segmentation {penguins.n_clusters}" in limits


def test_card_names_each_segment_with_share_and_stability(
    mall: Segmentation, tmp_path: Path
) -> None:
    markdown, html = write_clustering_card(mall, tmp_path)
    text = markdown.read_text(encoding="utf-8")
    segments = text.split("## Segments")[1].split("##")[0]
    lines = [line for line in segments.splitlines() if line.startswith("- Segment ")]
    assert len(lines) == mall.n_clusters
    for cluster, (line, value) in enumerate(zip(lines, mall.cluster_stability(), strict=True)):
        assert line.startswith(f"- Segment {cluster} (")
        assert "% of customers" in line and f"stability {rp.fmt_number(value)}" in line
    assert "Column 'CustomerID' was left out (id column)" in text
    for heading in ("Model details", "Intended use", "Data", "Metrics", "Limitations", "Versions"):
        assert f"## {heading}" in text
    page = html.read_text(encoding="utf-8")
    assert "<script" not in page and "Segment 0 (" in page


def test_card_names_unstable_segments_as_limitations(mall: Segmentation, tmp_path: Path) -> None:
    stability = [0.9] * mall.n_clusters
    stability[1] = 0.41
    shaky = dataclasses.replace(mall, chosen={**mall.chosen, "cluster_stability": stability})
    markdown, _ = write_clustering_card(shaky, tmp_path)
    text = markdown.read_text(encoding="utf-8")
    assert "Segment 1 is unstable (stability 0.41)" in text
    assert "Unstable: segment(s) 1" in render_clustering_report(shaky)
    # A segment without a measured stability is said to be so, and the weakest is still found.
    stability[0] = float("nan")
    unmeasured = dataclasses.replace(mall, chosen={**mall.chosen, "cluster_stability": stability})
    assert unmeasured.cluster_stability()[0] is None and unmeasured.weakest == 0.41
    lines = clustering_card(unmeasured).markdown()
    assert "of customers; stability not measured." in lines.split("## Segments")[1]


def test_bad_input_says_what_and_how(mall: Segmentation) -> None:
    with pytest.raises(DataError, match=r"labels has 199 cluster ids but the frame has 200 rows"):
        dataclasses.replace(mall, labels=mall.labels[:-1])
    with pytest.raises(DataError, match=r"labels has 199 cluster ids .* one cluster id per row"):
        profile_segments(mall.frame, mall.labels[:-1])
    with pytest.raises(DataError, match=r"matrix has shape \(150, 4\) but the frame has 200"):
        dataclasses.replace(mall, matrix=mall.matrix[:150])
    with pytest.raises(DataError, match="cluster ids must be whole numbers >= 0"):
        dataclasses.replace(mall, labels=np.where(mall.labels == 0, -1, mall.labels))
    with pytest.raises(DataError, match="cluster_stability has 1 values but the labels hold"):
        dataclasses.replace(mall, chosen={**mall.chosen, "cluster_stability": [0.9]})
    with pytest.raises(DataError, match="ground_truth has 3 values"):
        dataclasses.replace(mall, ground_truth=pd.Series(["a", "b", "c"]))
    with pytest.raises(DataError, match="no ground truth"):
        contingency(mall)


def test_describe_segment_without_a_notable_feature(mall: Segmentation) -> None:
    # The segments against random ids: no feature sets a random group apart.
    rng = np.random.default_rng(0)
    random_ids = rng.integers(0, 2, len(mall.frame))
    profiles = profile_segments(mall.frame, random_ids)
    assert all(p.notable(0.5) == [] for p in profiles)
    assert describe_segment(profiles[0], noun="customers").startswith(
        "close to the average on every feature, "
    )


def test_a_two_valued_number_is_described_as_a_category() -> None:
    frame = load_dataset("wholesale_customers")
    labels = (frame["Grocery"] > frame["Grocery"].median()).astype(int).to_numpy()
    big_grocers = profile_segments(frame, labels)[1]
    channel = next(e for e in big_grocers.effects if e.feature == "Channel")
    # Both channels mirror each other (same |h|): the over-represented one is named.
    assert channel.kind == "categorical" and channel.effect > 0
    assert channel.words() == f"Channel mostly {channel.category}"
    region = next(e for e in big_grocers.effects if e.feature == "Region")
    assert region.kind == "numeric"  # three values: a number


def test_the_example_writes_both_reports_and_cards(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "examples" / "clustering_reports.py"
    example = runpy.run_path(str(script))
    written = example["main"](tmp_path, dataset_path("penguins").parent, time_budget=3.0)
    names = sorted(str(p.relative_to(tmp_path)) for p in written)
    assert names == [
        f"{d}/{f}"
        for d in ("mall_customers", "penguins")
        for f in ("clustering.html", "model_card.html", "model_card.md")
    ]
    assert "Segments against species" in (tmp_path / "penguins" / "clustering.html").read_text(
        encoding="utf-8"
    )


def test_a_clustering_run_writes_the_segmentation_report_and_card(
    clustering_run: Callable[[str], Path],
) -> None:
    run_dir = clustering_run("penguins")
    metadata = json.loads((run_dir / "bundle" / "metadata.json").read_text(encoding="utf-8"))
    record = metadata["clustering"]
    page = (run_dir / "evaluation.html").read_text(encoding="utf-8")
    assert "Segmentation: penguins" in page and 'id="ground-truth"' in page
    card = (run_dir / "model_card.md").read_text(encoding="utf-8")
    lines = [line for line in card.splitlines() if line.startswith("- Segment ")]
    assert len(lines) == metadata["n_clusters"] == len(record["cluster_stability"])
    # The card's per-segment stability is the metadata's, in the same (final) ids.
    for cluster, line in enumerate(lines):
        value = rp.fmt_number(record["cluster_stability"][cluster])
        assert line.startswith(f"- Segment {cluster} (") and f"stability {value} (" in line
    sizes = pd.read_parquet(run_dir / "assignments.parquet")["__cluster"].value_counts()
    assert [int(sizes[c]) for c in range(len(lines))] == record["sizes"]
    assert (run_dir / "model_card.html").exists()


def test_a_clustering_run_is_read_back_and_reported_again(
    clustering_run: Callable[[str], Path], tmp_path: Path
) -> None:
    run_dir = clustering_run("penguins")
    seg = load_segmentation(run_dir)
    metadata = json.loads((run_dir / "bundle" / "metadata.json").read_text(encoding="utf-8"))
    # The matrix rebuilt by the bundle's preparation is the one the indices were measured on.
    silhouette = cluster_score("silhouette", seg.labels, features=seg.matrix)
    assert silhouette == pytest.approx(metadata["clustering"]["indices"]["silhouette"], abs=1e-6)
    assert seg.ground_truth_name == "species" and seg.ground_truth is not None
    assert isinstance(seg.leaderboard["sizes"].iloc[0], list)
    # `cairn report` writes the same card the run wrote.
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "report", str(run_dir), "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rebuilt = (tmp_path / "model_card.md").read_text(encoding="utf-8")
    original = (run_dir / "model_card.md").read_text(encoding="utf-8")
    assert (
        rebuilt.split("## Segments")[1].split("## Metrics")[0]
        == original.split("## Segments")[1].split("## Metrics")[0]
    )
    assert "Segments against species" in (tmp_path / "evaluation.html").read_text(encoding="utf-8")


def test_reading_back_a_run_that_is_not_a_clustering_says_so(
    clustering_run: Callable[[str], Path], tmp_path: Path
) -> None:
    copy = shutil.copytree(clustering_run("mall_customers"), tmp_path / "run")
    metadata_path = copy / "bundle" / "metadata.json"
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    metadata_path.write_text(json.dumps({**metadata, "task": "regression"}), encoding="utf-8")
    with pytest.raises(BundleError, match="a regression run, not a clustering"):
        load_segmentation(copy)
    metadata_path.write_text(json.dumps(metadata), encoding="utf-8")
    (copy / "assignments.parquet").unlink()
    with pytest.raises(BundleError, match=r"assignments.parquet is missing; re-run 'cairn run'"):
        load_segmentation(copy)
