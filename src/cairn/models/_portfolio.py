"""Configurations tried first by each family's tuning, in order, after its
default: chosen greedily across many datasets by bench/portfolio.py
(bench/results/portfolio.md). Generated; edit by running that script."""

from typing import Any

PORTFOLIO: dict[str, tuple[dict[str, Any], ...]] = {
    "catboost": (
        {
            "depth": 8,
            "l2_leaf_reg": 5.0,
            "learning_rate": 0.05,
            "max_ctr_complexity": 4,
            "native_categories": True,
        },
        {"depth": 4, "learning_rate": 0.08, "native_categories": False},
        {
            "depth": 5,
            "l2_leaf_reg": 1.07,
            "learning_rate": 0.101,
            "max_ctr_complexity": 4,
            "native_categories": False,
            "random_strength": 3.62,
        },
        {
            "depth": 4,
            "l2_leaf_reg": 4.5,
            "learning_rate": 0.073,
            "max_ctr_complexity": 3,
            "native_categories": False,
            "random_strength": 0.315,
        },
    ),
    "extra_trees": ({"max_features": 1.0, "min_samples_leaf": 1},),
    "knn": ({"n_neighbors": 5, "weights": "uniform"},),
    "lightgbm": (
        {
            "colsample_bytree": 0.6,
            "learning_rate": 0.03,
            "min_child_samples": 5,
            "num_leaves": 128,
            "reg_lambda": 1.0,
        },
        {
            "colsample_bytree": 0.9,
            "learning_rate": 0.05,
            "min_child_samples": 30,
            "num_leaves": 8,
            "reg_lambda": 5.0,
        },
        {
            "colsample_bytree": 0.521,
            "learning_rate": 0.0164,
            "min_child_samples": 2,
            "num_leaves": 53,
            "reg_alpha": 1.09,
            "reg_lambda": 0.00509,
            "subsample": 0.558,
        },
        {
            "colsample_bytree": 0.736,
            "learning_rate": 0.0125,
            "min_child_samples": 37,
            "num_leaves": 4,
            "reg_alpha": 0.0473,
            "reg_lambda": 2.06,
            "subsample": 0.726,
        },
        {
            "colsample_bytree": 0.594,
            "learning_rate": 0.0172,
            "min_child_samples": 11,
            "num_leaves": 4,
            "reg_alpha": 0.00112,
            "reg_lambda": 0.149,
            "subsample": 0.862,
        },
    ),
    "linear": (
        {"C": 10.0, "alpha": 0.1, "penalty": "l2"},
        {"C": 0.1, "alpha": 10.0, "penalty": "l2"},
        {"C": 100.0, "alpha": 0.01, "penalty": "l2"},
        {"C": 20.7, "alpha": 3.84, "penalty": "l2"},
    ),
    "random_forest": ({"max_features": 0.3, "min_samples_leaf": 3},),
}
