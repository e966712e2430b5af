"""Clustering reports and model cards for two public datasets.

    python examples/clustering_reports.py OUT_FOLDER [DATASETS_FOLDER]

Segments the mall customers (no ground truth) and the penguins (species as
ground truth, scored only) with a short search, then writes
``OUT_FOLDER/<name>/clustering.html`` and ``model_card.md`` / ``.html``.
DATASETS_FOLDER holds ``mall_customers.csv`` and ``penguins.csv``
(default: ../shared/datasets next to the project).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from cairn.evaluation import write_clustering_card, write_clustering_report
from cairn.models.clustering import search_clusters, to_segmentation

SETS = {
    # name: (ground truth column, what a row is)
    "mall_customers": (None, "customers"),
    "penguins": ("species", "penguins"),
}


def main(out: Path, datasets: Path, *, time_budget: float = 10.0) -> list[Path]:
    written = []
    for name, (truth, noun) in SETS.items():
        frame = pd.read_csv(datasets / f"{name}.csv")
        result = search_clusters(frame, exclude=[truth] if truth else [], time_budget=time_budget)
        seg = to_segmentation(result, frame, ground_truth=truth, project=name, noun=noun)
        folder = out / name
        written.append(write_clustering_report(seg, folder / "clustering.html"))
        written.extend(write_clustering_card(seg, folder))
    return written


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    default = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    for path in main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else default):
        print(path)
