"""Targets cairn refuses before the search, and infinite values it treats as
missing (cairn.data.quality)."""

from __future__ import annotations

import numpy as np
import pytest

from cairn.data.quality import check_and_clean
from cairn.exceptions import DataError
from tests.conftest import load_dataset


def test_too_many_classes_for_the_rows_is_refused() -> None:
    # 26 letters on 200 rows: under 8 rows per class.
    frame = load_dataset("letter", rows=200)
    with pytest.raises(DataError) as raised:
        check_and_clean(frame, target="letter", task="classification")
    message = str(raised.value)
    assert "26 classes for 200 rows" in message
    assert "at least 10 per class" in message
    assert "merge rare classes" in message
    assert "\n" not in message
    # Fewer folds need fewer rows per class.
    assert check_and_clean(frame, target="letter", task="classification", folds=3)


def test_target_of_mostly_one_row_classes_is_refused() -> None:
    frame = load_dataset("movielens_small_movies", rows=2000)
    with pytest.raises(DataError, match=r"rows are in classes with a single row.*merge rare"):
        check_and_clean(frame, target="title", task="classification")


def test_infinite_values_become_missing_with_a_finding() -> None:
    frame = load_dataset("wine_quality_red")
    frame.loc[[3, 10, 50], "alcohol"] = np.inf
    frame.loc[7, "sulphates"] = -np.inf
    frame["quality"] = frame["quality"].astype(float)
    frame.loc[12, "quality"] = np.inf
    result = check_and_clean(frame, target="quality", task="regression")
    found = {f.column: f for f in result.report.findings if f.check == "infinite_values"}
    assert found["alcohol"].count == 3 and "'alcohol'" in found["alcohol"].message
    assert found["sulphates"].count == 1
    assert "rows dropped" in found["quality"].action
    assert not np.isinf(result.frame.select_dtypes("number").to_numpy()).any()
    assert result.frame["alcohol"].isna().sum() == 3
    assert len(result.frame) < len(frame)


def test_fit_trains_through_infinite_values() -> None:
    import cairn

    frame = load_dataset("sonar")
    frame.loc[[0, 5, 9], "f1"] = np.inf
    frame.loc[4, "f2"] = -np.inf
    model = cairn.fit(frame, "label", time_budget=8, include=("linear", "lightgbm"))
    proba = model.predict_proba(frame.drop(columns=["label"]).iloc[20:30])
    assert proba.shape == (10, 2)


def test_fit_and_predict_with_column_names_that_are_not_text() -> None:
    """``pd.DataFrame(array)`` names columns 0, 1, ...: they train and predict."""
    import cairn

    frame = load_dataset("iris")
    target_position = list(frame.columns).index("species")
    frame.columns = list(range(len(frame.columns)))
    model = cairn.fit(frame, target_position, time_budget=5, include=("linear",))  # type: ignore[arg-type]
    new = frame.drop(columns=[target_position]).head(6)
    assert len(model.predict(new)) == 6
    assert model.predict_proba(new).shape == (6, 3)


def test_column_name_that_is_not_text_is_refused_where_nothing_converts_it() -> None:
    from cairn.data.quality import clean_unlabelled

    frame = load_dataset("iris").drop(columns=["species"])
    frame.columns = [0, 1, "petal_length", "petal_width"]
    with pytest.raises(DataError, match=r"column 1 is named 0, a int; column names must be text"):
        clean_unlabelled(frame, task="clustering")


def test_regression_target_whose_squares_overflow_is_refused() -> None:
    import cairn

    frame = load_dataset("concrete")
    frame["strength"] = frame["strength"] * 1e200
    with pytest.raises(DataError, match=r"target 'strength' in data reaches .*e\+20\d.*rescale"):
        cairn.fit(frame, "strength", time_budget=5, include=("linear",))
