"""Clustering without choosing k by hand: cairn against the usual recipes.

Usage::

    .venv/bin/python bench/clustering.py            # every dataset, then 200k x 20
    .venv/bin/python bench/clustering.py --synthetic-rows 50000

Three methods side by side, on each dataset of ../shared/datasets that has a
clustering role (penguins, wheat_seeds, wholesale_customers, iris with their
ground truth; mall_customers without one) and on a synthetic 200k x 20 frame
(8 Gaussian blobs) for time:

- ``cairn``: ``search_clusters`` with its defaults (every algorithm, k in
  2..10, 60 s budget; choice: the most clusters among the stable solutions
  whose silhouette is within 20 % of the best stable one's, then the best
  silhouette at that count);
- ``kmeans k=4``: KMeans with PyCaret's default number of clusters;
- ``kmeans k by silhouette``: KMeans for k in 2..10, keeping the k with the
  best silhouette (the usual hand-written recipe).

The baselines get the hand-written preprocessing (median imputation, one-hot
categoricals, standard scaling; PyCaret does not scale by default, so they
are, if anything, stronger than PyCaret out of the box). Ground truth and id
columns never reach any method. Scored: adjusted Rand index and normalized
mutual information against the ground truth, the k found, bootstrap
stability (Hennig's clusterboot, 20 resamples of 1,000 rows, the same code
for every method; not timed) and wall time.

Writes ``bench/results/clustering.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_blobs
from sklearn.impute import SimpleImputer
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from cairn.models.clustering import clusterboot, search_clusters

ROOT = Path(__file__).resolve().parent
DATASETS = ROOT.parent.parent / "shared" / "datasets"
if not DATASETS.exists():
    DATASETS = Path("/work/shared/datasets")
RESULTS = ROOT / "results" / "clustering.md"

# name: (ground truth column or None, id columns)
CASES: dict[str, tuple[str | None, list[str]]] = {
    "penguins": ("species", []),
    "wheat_seeds": ("variety", []),
    "wholesale_customers": ("Channel", []),
    "iris": ("species", []),
    "mall_customers": (None, ["CustomerID"]),
}
STABILITY_ROWS = 1000
NOTES = [
    "## Reading the table",
    "",
    "- How cairn chooses by default: the best silhouette among the solutions whose every",
    "  cluster has bootstrap stability >= 0.75. A finer-solution rule (the most clusters among",
    "  stable solutions whose silhouette is within 20 % of the best stable one's; opt-in as",
    "  `[clustering] finer_within = 0.2`) won on a separate validation collection",
    "  (`python bench/clustering_choice.py`, results/clustering_choice.md: 14 of 18 k",
    "  recovered against 9, mean ARI 0.782 against 0.698), but its gains there come from the",
    "  synthetic sets; on this table's real sets, held out while it was chosen, it found the",
    "  true k on 1 of 4 as well and its mean ARI fell to 0.487 (penguins' one-hot island and",
    "  sex columns form small stable cells, split into 10). The default stays the best stable",
    "  index.",
    "- The synthetic frame (8 well-separated blobs) only measures time: every method that",
    "  tries k = 8 finds it. cairn's time is bounded by its budget (60 s, of which half for",
    "  fitting candidates on a 3,000-row sample), not by the rows.",
    "- Stability is the mean over clusters of each cluster's bootstrap Jaccard; `weakest` the",
    "  least stable cluster's. cairn claims a stable solution when every cluster is >= 0.75.",
    "",
]
SEED = 0


def scaled_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The hand-written preprocessing of the baselines."""
    numeric = frame.select_dtypes("number").columns.tolist()
    other = [c for c in frame.columns if c not in numeric]
    encode = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                other,
            ),
        ]
    )
    return np.asarray(make_pipeline(encode, StandardScaler()).fit_transform(frame), dtype=float)


def kmeans(k: int, n_rows: int) -> KMeans | MiniBatchKMeans:
    if n_rows > 20_000:
        return MiniBatchKMeans(n_clusters=k, n_init=3, batch_size=4096, random_state=SEED)
    return KMeans(n_clusters=k, n_init=4, random_state=SEED)


def kmeans_by_silhouette(matrix: np.ndarray) -> np.ndarray:
    best: tuple[float, np.ndarray] | None = None
    for k in range(2, 11):
        labels = kmeans(k, len(matrix)).fit_predict(matrix)
        sample = 3000 if len(matrix) > 3000 else None
        value = silhouette_score(matrix, labels, sample_size=sample, random_state=SEED)
        if best is None or value > best[0]:
            best = (value, labels)
    assert best is not None
    return best[1]


def stability(matrix: np.ndarray, labels: np.ndarray, refit: Callable[..., np.ndarray]) -> float:
    rng = np.random.default_rng(SEED)
    rows = rng.permutation(len(matrix))[:STABILITY_ROWS]
    _, sample_labels = np.unique(labels[rows], return_inverse=True)
    return float(clusterboot(refit, matrix[rows], sample_labels, seed=SEED).mean())


def score(truth: pd.Series | None, labels: np.ndarray) -> tuple[float, float]:
    if truth is None:
        return float("nan"), float("nan")
    y = truth.astype(str).to_numpy()
    return adjusted_rand_score(y, labels), normalized_mutual_info_score(y, labels)


def run_case(name: str, frame: pd.DataFrame, truth: pd.Series | None) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    true_k = str(truth.nunique()) if truth is not None else None
    base = {"dataset": name, "shape": f"{len(frame)}x{frame.shape[1]}", "true_k": true_k}

    start = time.perf_counter()
    result = search_clusters(frame, seed=SEED)
    seconds = time.perf_counter() - start
    ari, nmi = score(truth, result.labels)
    at_true_k = [c for c in result.leaderboard if true_k is not None and c.k == int(true_k)]
    rows.append(
        {
            **base,
            "method": f"cairn ({result.chosen.algorithm})",
            "k": result.chosen.k,
            "ARI": ari,
            "NMI": nmi,
            "stability": result.chosen.stability,
            "claims_stable": "yes" if result.stable else "no",
            "weakest": result.chosen.weakest,
            "seconds": seconds,
            "silhouette": result.chosen.indices["silhouette"],
            "rule": result.rule,
            # The leaderboard is best first: its first solution with the true k.
            "true_k_solution": (
                f"{at_true_k[0].algorithm}, silhouette {at_true_k[0].indices['silhouette']:.3f}"
                if at_true_k
                else "none fitted"
            ),
        }
    )

    start = time.perf_counter()
    matrix = scaled_matrix(frame)
    four = kmeans(4, len(matrix)).fit_predict(matrix)
    seconds = time.perf_counter() - start
    ari, nmi = score(truth, four)
    refit4 = lambda m: kmeans(4, len(m)).fit_predict(m)  # noqa: E731
    rows.append(
        {
            **base,
            "method": "kmeans k=4",
            "k": 4,
            "ARI": ari,
            "NMI": nmi,
            "stability": stability(matrix, four, refit4),
            "seconds": seconds,
        }
    )

    start = time.perf_counter()
    matrix = scaled_matrix(frame)
    by_silhouette = kmeans_by_silhouette(matrix)
    seconds = time.perf_counter() - start
    k = int(by_silhouette.max()) + 1
    ari, nmi = score(truth, by_silhouette)
    refit_k = lambda m: kmeans(k, len(m)).fit_predict(m)  # noqa: E731
    rows.append(
        {
            **base,
            "method": "kmeans k by silhouette",
            "k": k,
            "ARI": ari,
            "NMI": nmi,
            "stability": stability(matrix, by_silhouette, refit_k),
            "seconds": seconds,
        }
    )
    return rows


def synthetic(n_rows: int) -> tuple[pd.DataFrame, pd.Series]:
    features, groups = make_blobs(
        n_samples=n_rows, n_features=20, centers=8, cluster_std=2.0, random_state=SEED
    )
    frame = pd.DataFrame(features, columns=[f"x{i}" for i in range(20)])
    return frame, pd.Series(groups)


def fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if np.isnan(value) else f"{value:.3f}"
    return str(value)


def summary(table: pd.DataFrame, synthetic_name: str) -> list[str]:
    labelled = table[table["true_k"].notna() & (table["dataset"] != synthetic_name)].copy()
    labelled["true_k"] = labelled["true_k"].astype(int)
    lines = ["## Targets", ""]
    means = labelled.groupby("method_kind")["ARI"].mean()
    for kind, value in means.items():
        lines.append(f"- mean ARI over the four labelled datasets, {kind}: {value:.3f}")
    cairn = labelled[labelled["method_kind"] == "cairn"]
    beats = all(means["cairn"] > means[k] for k in means.index if k != "cairn")
    lines.append(f"- cairn's mean ARI beats both baselines: {'yes' if beats else 'NO'}")
    hits = int((cairn["k"] == cairn["true_k"]).sum())
    lines.append(
        f"- true number of groups recovered: {hits} of {len(cairn)} "
        f"(target >= 3): {'met' if hits >= 3 else 'MISSED'}"
    )
    for _, row in cairn[cairn["k"] != cairn["true_k"]].iterrows():
        lines.append(
            f"  - {row['dataset']}: chose k={row['k']} (silhouette {row['silhouette']:.3f}); "
            f"the best solution with the true k={row['true_k']}: {row['true_k_solution']}"
        )
    every = table[table["method_kind"] == "cairn"]
    claimed = every[every["claims_stable"] == "yes"]
    honest = bool(((claimed["stability"] >= 0.75) & (claimed["weakest"] >= 0.75)).all())
    lines.append(
        f"- cairn claims a stable solution on {len(claimed)} of {len(every)} datasets; "
        f"each claimed one has stability (and its weakest cluster) >= 0.75: "
        f"{'yes' if honest else 'NO'}"
    )
    for _, row in every.iterrows():
        lines.append(f"  - {row['dataset']}: {row['rule']}")
    big = every[every["dataset"] == synthetic_name]
    if len(big):
        seconds = float(big["seconds"].iloc[0])
        verdict = "met" if seconds < 60 else "MISSED"
        lines.append(f"- {synthetic_name}: cairn in {seconds:.1f} s (target < 60 s): {verdict}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic-rows", type=int, default=200_000)
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    for name, (truth_column, ids) in CASES.items():
        data = pd.read_csv(DATASETS / f"{name}.csv")
        truth = data[truth_column] if truth_column else None
        frame = data.drop(columns=[c for c in [truth_column, *ids] if c])
        rows += run_case(name, frame, truth)
        print(pd.DataFrame(rows[-3:]).to_string(), flush=True)
    synthetic_name = f"synthetic {args.synthetic_rows // 1000}k x 20 (8 blobs)"
    frame, truth = synthetic(args.synthetic_rows)
    rows += run_case(synthetic_name, frame, truth)
    print(pd.DataFrame(rows[-3:]).to_string(), flush=True)
    table = pd.DataFrame(rows)
    table["method_kind"] = table["method"].str.replace(r" \(.*\)$", "", regex=True)
    columns = [
        "dataset",
        "shape",
        "true_k",
        "method",
        "k",
        "ARI",
        "NMI",
        "stability",
        "weakest",
        "claims_stable",
        "seconds",
    ]
    lines = [
        "# Clustering: cairn's automatic choice against KMeans baselines",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; command: `python bench/clustering.py`.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(fmt(row[c]) for c in columns) + " |")
    lines += ["", *summary(table, synthetic_name), "", *NOTES]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
