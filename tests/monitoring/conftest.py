"""A small model trained once for the monitoring tests: LightGBM on adult
rows of people under 40, so that older people form a shifted batch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import cairn
from cairn.bundle import Model
from tests.conftest import load_dataset

FAST_TRAIN = {
    "time_budget": 10,
    "include": ["lightgbm"],
    "max_trials": 0,
    "ensemble": "none",
    "select_features": False,
}


@dataclass
class Trained:
    model: Model
    bundle: Path
    young: pd.DataFrame  # rows like the training rows, not trained on
    old: pd.DataFrame  # a shifted population


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    adult = load_dataset("adult")
    young = adult[adult.age < 40].sample(frac=1.0, random_state=0).reset_index(drop=True)
    old = adult[adult.age >= 40].sample(2000, random_state=0).reset_index(drop=True)
    root = tmp_path_factory.mktemp("monitored")
    young.iloc[:3000].to_csv(root / "train.csv", index=False)
    (root / "cairn.toml").write_text(
        "\n".join(
            [
                "[project]",
                'name = "adult-young"',
                "[data]",
                'sources = [{ path = "train.csv" }]',
                "[problem]",
                'target = "class"',
                'objectives = ["roc_auc >= 0.8"]',
                "[split]",
                "folds = 3",
                "[train]",
                *[f"{k} = {_toml(v)}" for k, v in FAST_TRAIN.items()],
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    result = cairn.run(root / "cairn.toml", register=False)
    return Trained(
        model=cairn.load_model(result.bundle_path),
        bundle=result.bundle_path,
        young=young.iloc[3000:5000].reset_index(drop=True),
        old=old,
    )


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)
