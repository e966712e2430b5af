"""Data that cannot be clustered gets a one-line error naming the problem."""

from __future__ import annotations

import pandas as pd
import pytest

from cairn.exceptions import CairnError, DataError, SpecError
from cairn.models.clustering import prepare, search_clusters
from tests.conftest import load_dataset


def _message(error: pytest.ExceptionInfo[CairnError]) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


def test_no_usable_feature_column() -> None:
    frame = load_dataset("mall_customers")[["CustomerID"]]
    with pytest.raises(DataError) as error:
        search_clusters(frame, time_budget=5)
    assert "no usable feature column" in _message(error) and "CustomerID" in _message(error)


def test_a_single_row() -> None:
    with pytest.raises(DataError) as error:
        search_clusters(load_dataset("iris").head(1), exclude=["species"], time_budget=5)
    assert "at least 3 rows" in _message(error) and "got 1" in _message(error)


def test_every_value_identical() -> None:
    row = load_dataset("wheat_seeds").drop(columns="variety").head(1)
    frame = pd.concat([row] * 20, ignore_index=True)
    with pytest.raises(DataError) as error:
        search_clusters(frame, time_budget=5)
    assert "single value" in _message(error)


def test_identical_after_encoding() -> None:
    """Categories too rare to get a one-hot column of their own all land in
    the one "infrequent" column: the encoded rows do not differ."""
    islands = load_dataset("penguins")[["island"]]
    frame = islands.groupby("island").head(2).reset_index(drop=True)
    assert frame["island"].nunique() == 3 and len(frame) == 6
    with pytest.raises(DataError) as error:
        search_clusters(frame, time_budget=5)
    assert "every feature value is identical" in _message(error)


def test_a_k_range_larger_than_the_rows() -> None:
    frame = load_dataset("iris").sample(8, random_state=0)
    with pytest.raises(DataError) as error:
        search_clusters(frame, exclude=["species"], k_range=(2, 10), time_budget=5)
    assert "k range 2..10" in _message(error) and "8 rows" in _message(error)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"k_range": (1, 4)}, "2 <= k_min"),
        ({"k_range": (5, 3)}, "k_min <= k_max"),
        ({"metric": "adjusted_rand"}, "internal index"),
        ({"algorithms": ["spectral"]}, "spectral"),
        ({"pca": 1.5}, "pca"),
    ],
)
def test_bad_options(options: dict[str, object], needle: str) -> None:
    with pytest.raises(SpecError) as error:
        search_clusters(load_dataset("iris"), exclude=["species"], time_budget=5, **options)  # type: ignore[arg-type]
    assert needle in _message(error)


def test_an_excluded_column_that_is_not_there() -> None:
    with pytest.raises(DataError) as error:
        search_clusters(load_dataset("iris"), exclude=["Species"], time_budget=5)
    assert "'Species' not found" in _message(error) and "did you mean 'species'" in _message(error)


def test_dates_are_left_out_unless_their_role_is_set() -> None:
    from cairn.data.schema import infer_schema

    frame = load_dataset("mall_customers").assign(
        joined=pd.date_range("2020-01-01", periods=200, freq="D").astype(str)
    )
    _, _, record = prepare(frame)
    assert "joined" not in record.features and "a date" in record.dropped["joined"]
    schema = infer_schema(frame, roles={"joined": "datetime"})
    _, _, record = prepare(frame, schema=schema)
    assert "joined" in record.features
