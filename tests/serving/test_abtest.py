"""Comparing arms on outcomes: the right test per case, and the rows needed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cairn.exceptions import DataError
from cairn.serving.abtest import compare_arms, join_outcomes


def _log(n: int, accuracy: dict[str, float], seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A synthetic log where each arm is right with the given probability."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for i in range(n):
        truth = int(rng.integers(2))
        arm = "challenger" if rng.random() < 0.5 else "champion"
        for name in (arm, "shadow"):
            right = rng.random() < accuracy[name]
            rows.append(
                {
                    "request_id": f"r{i}",
                    "row": 0,
                    "arm": name,
                    "model": "m",
                    "version": name,
                    "prediction": truth if right else 1 - truth,
                    "proba_1": 0.5,
                    "customer": f"c{i}",
                }
            )
        labels.append({"request_id": f"r{i}", "row": 0, "label": truth})
    return pd.DataFrame(rows), pd.DataFrame(labels)


def test_a_clear_difference_is_significant() -> None:
    log, labels = _log(4000, {"champion": 0.7, "challenger": 0.8, "shadow": 0.6})
    report = compare_arms(join_outcomes(log, labels))
    arms = {a.arm: a for a in report.arms}
    assert arms["champion"].value == pytest.approx(0.7, abs=0.03)
    assert arms["champion"].ci_low < arms["champion"].value < arms["champion"].ci_high
    tests = {c.arm: c for c in report.comparisons}
    assert tests["challenger"].test == "two-proportion z-test" and not tests["challenger"].paired
    assert tests["challenger"].significant and tests["challenger"].better is True
    assert tests["challenger"].difference == pytest.approx(0.1, abs=0.03)
    assert tests["shadow"].test == "McNemar exact" and tests["shadow"].paired
    assert tests["shadow"].significant and tests["shadow"].better is False
    assert 0 < tests["challenger"].rows_needed_per_arm < 2000


def test_no_difference_is_not_significant_and_says_how_many_rows_it_would_take() -> None:
    rows, labels = [], []
    for i in range(400):  # exactly 75 % right on the champion, 77 % on the challenger
        arm = "champion" if i < 200 else "challenger"
        k = i % 200
        right = k < (150 if arm == "champion" else 154)
        rows.append(
            {
                "request_id": f"r{i}",
                "row": 0,
                "arm": arm,
                "model": "m",
                "version": "1",
                "prediction": 1 if right else 0,
                "proba_1": 0.5,
            }
        )
        labels.append({"request_id": f"r{i}", "row": 0, "label": 1})
    report = compare_arms(join_outcomes(pd.DataFrame(rows), pd.DataFrame(labels)))
    (challenger,) = report.comparisons
    assert challenger.difference == pytest.approx(0.02)
    assert not challenger.significant and challenger.better is None
    # detecting 2 points at 75 % takes thousands of rows per arm
    assert 5000 < challenger.rows_needed_per_arm < 8000


def test_regression_uses_errors() -> None:
    rng = np.random.default_rng(2)
    rows, labels = [], []
    for i in range(600):
        y = float(rng.normal(100, 10))
        arm = "champion" if i % 2 else "challenger"
        noise = 5.0 if arm == "champion" else 2.0
        rows.append(
            {
                "request_id": str(i),
                "row": 0,
                "arm": arm,
                "model": "m",
                "version": "1",
                "prediction": y + float(rng.normal(0, noise)),
            }
        )
        labels.append({"request_id": i, "row": 0, "y": y})
    joined = join_outcomes(pd.DataFrame(rows), pd.DataFrame(labels), label_column="y")
    report = compare_arms(joined)
    assert report.task == "regression" and report.metric == "mae"
    (comparison,) = report.comparisons
    assert comparison.test == "Welch t-test"
    assert comparison.significant and comparison.better is True  # smaller errors


def test_join_on_an_entity_column_and_errors() -> None:
    log, _ = _log(50, {"champion": 0.7, "challenger": 0.7, "shadow": 0.7})
    by_customer = pd.DataFrame({"customer": [f"c{i}" for i in range(50)], "label": [1] * 50})
    joined = join_outcomes(log, by_customer, on="customer")
    assert joined["label"].notna().all()
    with pytest.raises(DataError, match="no column 'nope'"):
        join_outcomes(log, by_customer, on="nope")
    with pytest.raises(DataError, match="label-column"):
        join_outcomes(log, by_customer.assign(other=1), on="customer")
    none = pd.DataFrame({"request_id": ["zzz"], "row": [0], "label": [1]})
    with pytest.raises(DataError, match="no logged prediction has a label"):
        compare_arms(join_outcomes(log, none))
