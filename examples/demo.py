"""Write the bundled demo project: a real dataset that ships with scikit-learn
(Wisconsin breast cancer, 569 tumours, 30 measurements) and its cairn.toml.

    python examples/demo.py demo/ && cairn run demo/cairn.toml
"""

from __future__ import annotations

import sys
from pathlib import Path

from sklearn.datasets import load_breast_cancer

SPEC = """\
[project]
name = "breast-cancer"
description = "Is a tumour malignant? Wisconsin diagnostic data shipped with scikit-learn."

[data]
sources = [{ path = "breast_cancer.csv" }]
id_columns = ["sample_id"]

[problem]
target = "diagnosis"
task = "classification"
metric = "roc_auc"
objectives = ["roc_auc >= 0.97", "recall >= 0.9", "latency_p99_ms < 100"]

[split]
test_size = 0.2
folds = 5

[train]
time_budget = 60
seed = 42
"""


def write_demo(folder: Path) -> Path:
    """Write the data and the spec into FOLDER; returns the spec's path."""
    folder.mkdir(parents=True, exist_ok=True)
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=lambda name: name.replace(" ", "_"))
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    frame.insert(0, "sample_id", [f"S{i:04d}" for i in range(len(frame))])
    frame.to_csv(folder / "breast_cancer.csv", index=False)
    spec = folder / "cairn.toml"
    spec.write_text(SPEC, encoding="utf-8")
    return spec


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "demo")
    print(f"wrote {write_demo(target)}")
