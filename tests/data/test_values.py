"""Reading values (cairn.data.values): targets, category strings, sentinels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cairn.data.values import (
    as_strings,
    class_labels,
    infer_task,
    map_distinct,
    normalize_missing,
)
from cairn.exceptions import DataError
from tests.conftest import load_dataset


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, True], "classification"),
        ([0, 1, 1, 0], "classification"),
        ([1, 2, 2, 1], "classification"),  # german_credit default 1/2
        ([3, 4, 5, 6, 7, 8, 5, 6], "classification"),  # wine quality
        ([0.5, 1.5, 0.5], "classification"),  # two values
        ([float(v) for v in range(10)], "classification"),  # ten integer values
        (list(range(11)), "regression"),
        ([0.1, 0.2, 0.35, 0.4], "regression"),
        (["1.5", "2.25", "3.75", "4.5"], "regression"),  # numbers stored as text
    ],
)
def test_infer_task(values: list[object], expected: str) -> None:
    assert infer_task(pd.Series(values, name="y")) == expected


def test_infer_task_ignores_missing_and_rejects_empty() -> None:
    assert infer_task(pd.Series([1.0, np.nan, 2.0])) == "classification"
    with pytest.raises(DataError, match="no values"):
        infer_task(pd.Series([np.nan, np.nan], name="y"))


def test_class_labels_sorted_by_value() -> None:
    assert class_labels(pd.Series([10, 2, 1, 2])) == ("1", "2", "10")
    assert class_labels(pd.Series([1.0, 0.0, np.nan])) == ("0", "1")
    assert class_labels(pd.Series(["yes", "no", "yes"])) == ("no", "yes")


def test_as_strings_and_normalize_missing() -> None:
    assert as_strings(pd.Series([1.0, 2.5, np.nan])).tolist()[:2] == ["1", "2.5"]
    assert as_strings(pd.Series([True, False])).tolist() == ["True", "False"]
    cleaned = normalize_missing(pd.Series([" a ", "?", "", "  ", "NA", "null", "b"]))
    assert cleaned.iloc[0] == "a"
    assert cleaned.isna().tolist() == [False, True, True, True, True, True, False]


# --------------------------------------------------------------------------- real data


def test_map_distinct_converts_each_distinct_value_once_and_keeps_types_apart() -> None:
    calls: list[object] = []

    def convert(value: object) -> str:
        calls.append(value)
        return f"{type(value).__name__}:{value}"

    frame = load_dataset("titanic")
    # a real column, then values pandas would merge (1 == 1.0 == True) and an unhashable one
    mixed = pd.Series([*frame["Embarked"].tolist(), 1, 1.0, True, [1], None], dtype=object)
    out = map_distinct(mixed, convert, "missing")
    assert list(out[-5:]) == ["int:1", "float:1.0", "bool:True", "list:[1]", "missing"]
    assert list(out[: len(frame)]) == [
        "missing" if pd.isna(v) else f"str:{v}" for v in frame["Embarked"]
    ]
    assert len(calls) == frame["Embarked"].nunique() + 4  # once per distinct (type, value)
