"""Tests for cairn.data.split on the shared real datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.data.split import SplitResult, auto_repeats, split
from cairn.exceptions import DataError

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def _read(name: str) -> pd.DataFrame:
    path = DATASETS / name
    if not path.is_file():
        pytest.skip(f"dataset {name} not found in {DATASETS}")
    return pd.read_csv(path)


@pytest.fixture(scope="module")
def titanic() -> pd.DataFrame:
    return _read("titanic.csv")


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    """3,000 MovieLens ratings with a real datetime column."""
    frame = _read("movielens_small_ratings.csv").sample(n=3000, random_state=0)
    frame["when"] = pd.to_datetime(frame["timestamp"], unit="s")
    return frame.reset_index(drop=True)


def assert_folds_partition(result: SplitResult, *, holdout: bool = False) -> None:
    """Fit and validate never overlap and cover the training part; in CV each
    training row is validated once per repeat of the partition."""
    n = len(result.train)
    counts = np.zeros(n, dtype=int)
    for fit_idx, val_idx in result.folds:
        assert len(np.intersect1d(fit_idx, val_idx)) == 0
        assert len(fit_idx) + len(val_idx) == n
        assert set(fit_idx) | set(val_idx) == set(range(n))
        counts[val_idx] += 1
    if not holdout:
        assert counts.min() >= 1 and (counts == counts[0]).all()


def assert_groups_apart(result: SplitResult, column: str) -> None:
    assert not set(result.train[column]) & set(result.test[column])
    for fit_idx, val_idx in result.folds:
        fit_groups = set(result.train[column].iloc[fit_idx])
        val_groups = set(result.train[column].iloc[val_idx])
        assert not fit_groups & val_groups


# ---------------------------------------------------------------------------
# Stratified (titanic)
# ---------------------------------------------------------------------------


def test_stratified_split_keeps_class_ratio(titanic: pd.DataFrame) -> None:
    result = split(titanic, target="Survived", task="classification", test_size=0.2, seed=0)

    overall = titanic["Survived"].mean()
    assert abs(result.train["Survived"].mean() - overall) < 0.02
    assert abs(result.test["Survived"].mean() - overall) < 0.02
    assert len(result.train) + len(result.test) == len(titanic)
    assert len(result.test) / len(titanic) == pytest.approx(0.2, abs=0.01)
    # Rows are kept whole: no passenger is in both parts, none is lost.
    ids_train, ids_test = set(result.train["PassengerId"]), set(result.test["PassengerId"])
    assert not ids_train & ids_test
    assert ids_train | ids_test == set(titanic["PassengerId"])
    # Positional indices.
    assert list(result.train.index) == list(range(len(result.train)))
    assert result.strategy.startswith("stratified")
    assert "5-fold" in result.strategy


def test_stratified_folds_partition_train(titanic: pd.DataFrame) -> None:
    result = split(titanic, target="Survived", task="classification", folds=5, seed=0, repeats=1)
    assert len(result.folds) == 5
    assert_folds_partition(result)
    overall = result.train["Survived"].mean()
    for _, val_idx in result.folds:
        assert abs(result.train["Survived"].iloc[val_idx].mean() - overall) < 0.03


def test_small_data_repeats_the_partition(titanic: pd.DataFrame) -> None:
    result = split(titanic, target="Survived", task="classification", folds=5, seed=0)
    assert auto_repeats(len(result.train)) == 3
    assert len(result.folds) == 15
    assert result.strategy.endswith("5-fold CV repeated 3 times")
    for repeat in range(3):
        validated = np.concatenate([val for _, val in result.folds[5 * repeat : 5 * repeat + 5]])
        assert sorted(validated) == list(range(len(result.train)))
    # Each repeat shuffles differently.
    assert not np.array_equal(result.folds[0][1], result.folds[5][1])


def test_repeats_shrink_as_data_grows() -> None:
    assert [auto_repeats(n) for n in (100, 1_000, 1_001, 2_500, 2_501, 10**6)] == [3, 3, 2, 2, 1, 1]


@pytest.mark.parametrize("test_size", [0.1, 0.3])
def test_test_size_is_respected(titanic: pd.DataFrame, test_size: float) -> None:
    result = split(titanic, target="Survived", task="classification", test_size=test_size)
    assert len(result.test) / len(titanic) == pytest.approx(test_size, abs=0.01)


def test_unstratified_split_is_random(titanic: pd.DataFrame) -> None:
    result = split(
        titanic, target="Survived", task="classification", stratify=False, folds=4, repeats=1
    )
    assert result.strategy.startswith("random")
    assert len(result.folds) == 4
    assert_folds_partition(result)


def test_regression_split_uses_kfold(titanic: pd.DataFrame) -> None:
    frame = titanic.dropna(subset=["Age"])
    result = split(frame, target="Age", task="regression", folds=3, seed=0, repeats=1)
    assert result.strategy.startswith("random")
    assert len(result.folds) == 3
    assert_folds_partition(result)


# ---------------------------------------------------------------------------
# Grouped
# ---------------------------------------------------------------------------


def test_grouped_split_by_class_and_port(titanic: pd.DataFrame) -> None:
    frame = titanic.assign(
        group=titanic["Pclass"].astype(str) + "_" + titanic["Embarked"].fillna("unknown")
    )
    result = split(
        frame, target="Survived", task="classification", group_column="group", folds=3, seed=3
    )
    assert result.strategy.startswith("grouped by group")
    assert len(result.folds) == 3
    assert_groups_apart(result, "group")
    assert_folds_partition(result)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_grouped_split_by_ticket(titanic: pd.DataFrame, task: str) -> None:
    # Passengers sharing a ticket travelled together: a natural group.
    target = "Survived" if task == "classification" else "Fare"
    result = split(titanic, target=target, task=task, group_column="Ticket", folds=5, seed=0)
    assert_groups_apart(result, "Ticket")
    assert_folds_partition(result)
    assert len(result.test) / len(titanic) == pytest.approx(0.2, abs=0.05)


def test_grouped_validation_fold_keeps_groups_apart(titanic: pd.DataFrame) -> None:
    result = split(
        titanic,
        target="Survived",
        task="classification",
        group_column="Ticket",
        validation_size=0.25,
        seed=0,
    )
    assert len(result.folds) == 1
    assert_groups_apart(result, "Ticket")
    assert_folds_partition(result, holdout=True)


def test_too_few_groups_for_folds(titanic: pd.DataFrame) -> None:
    frame = titanic.assign(group=titanic["PassengerId"] % 4)
    with pytest.raises(DataError, match=r"'group' has \d groups.*split.folds = 5"):
        split(frame, target="Survived", task="classification", group_column="group", folds=5)


def test_missing_group_column(titanic: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="'family'"):
        split(titanic, target="Survived", task="classification", group_column="family")


def test_group_column_with_missing_values(titanic: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"'Embarked' has 2 missing values"):
        split(titanic, target="Survived", task="classification", group_column="Embarked")


# ---------------------------------------------------------------------------
# Time-ordered
# ---------------------------------------------------------------------------


def test_time_ordered_split(ratings: pd.DataFrame) -> None:
    result = split(
        ratings,
        target="rating",
        task="regression",
        time_column="when",
        time_ordered=True,
        test_size=0.2,
        folds=4,
    )
    assert result.strategy.startswith("time-ordered")
    assert result.test["when"].min() >= result.train["when"].max()
    assert len(result.test) == round(0.2 * len(ratings))
    assert result.train["when"].is_monotonic_increasing

    assert len(result.folds) == 4
    previous_fit = 0
    validated: list[int] = []
    for fit_idx, val_idx in result.folds:
        # Forward chaining: fit on a growing prefix, validate on what follows it.
        assert list(fit_idx) == list(range(len(fit_idx)))
        assert val_idx.min() == fit_idx.max() + 1
        assert len(fit_idx) > previous_fit
        previous_fit = len(fit_idx)
        times = result.train["when"]
        assert times.iloc[val_idx].min() >= times.iloc[fit_idx].max()
        validated.extend(val_idx)
    assert len(validated) == len(set(validated))


def test_time_ordered_with_text_dates(ratings: pd.DataFrame) -> None:
    frame = ratings.assign(when=ratings["when"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    result = split(frame, target="rating", task="regression", time_column="when", time_ordered=True)
    assert pd.to_datetime(result.test["when"]).min() >= pd.to_datetime(result.train["when"]).max()


def test_time_ordered_validation_fold(ratings: pd.DataFrame) -> None:
    result = split(
        ratings,
        target="rating",
        task="regression",
        time_column="when",
        time_ordered=True,
        validation_size=0.25,
    )
    assert len(result.folds) == 1
    fit_idx, val_idx = result.folds[0]
    assert list(fit_idx) == list(range(len(fit_idx)))
    assert list(val_idx) == list(range(len(fit_idx), len(result.train)))
    assert len(val_idx) == round(0.25 * len(result.train))
    assert "holdout validation" in result.strategy


def test_time_ordered_needs_time_column(ratings: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="'stamp'"):
        split(ratings, target="rating", task="regression", time_column="stamp", time_ordered=True)


# ---------------------------------------------------------------------------
# Validation fold, size checks, seeds
# ---------------------------------------------------------------------------


def test_validation_size_gives_one_fold(titanic: pd.DataFrame) -> None:
    result = split(titanic, target="Survived", task="classification", validation_size=0.25, seed=0)
    assert len(result.folds) == 1
    assert_folds_partition(result, holdout=True)
    _, val_idx = result.folds[0]
    assert len(val_idx) / len(result.train) == pytest.approx(0.25, abs=0.01)
    overall = result.train["Survived"].mean()
    assert abs(result.train["Survived"].iloc[val_idx].mean() - overall) < 0.02
    assert result.strategy.endswith("holdout validation")


def test_too_few_rows(titanic: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"only 8 usable rows.*5 folds"):
        split(titanic.head(8), target="Survived", task="classification", folds=5)


def test_enough_rows_for_small_data(titanic: pd.DataFrame) -> None:
    result = split(titanic.head(40), target="Survived", task="classification", folds=3)
    assert len(result.folds) == 3 * 3  # three repeats on tiny data
    assert_folds_partition(result)


def test_same_seed_same_split(titanic: pd.DataFrame) -> None:
    first = split(titanic, target="Survived", task="classification", seed=11)
    second = split(titanic, target="Survived", task="classification", seed=11)
    pd.testing.assert_frame_equal(first.train, second.train)
    pd.testing.assert_frame_equal(first.test, second.test)
    for (fit_a, val_a), (fit_b, val_b) in zip(first.folds, second.folds, strict=True):
        np.testing.assert_array_equal(fit_a, fit_b)
        np.testing.assert_array_equal(val_a, val_b)


def test_different_seed_different_split(titanic: pd.DataFrame) -> None:
    first = split(titanic, target="Survived", task="classification", seed=11)
    second = split(titanic, target="Survived", task="classification", seed=12)
    assert set(first.test["PassengerId"]) != set(second.test["PassengerId"])
    # Same training rows, different folds too.
    same_train = split(titanic, target="Survived", task="classification", seed=12)
    assert not np.array_equal(first.folds[0][1], same_train.folds[0][1])


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    path = DATASETS / "wine_quality_red.csv"
    if not path.is_file():
        pytest.skip(f"dataset wine_quality_red.csv not found in {DATASETS}")
    return pd.read_csv(path, sep=";")


def _thinned(wine: pd.DataFrame, label: int, keep: int) -> pd.DataFrame:
    rows = wine.index[wine["quality"] == label]
    return wine.drop(index=rows[keep:]).reset_index(drop=True)


def test_one_row_class_stays_in_training(wine: pd.DataFrame) -> None:
    frame = _thinned(wine, 8, keep=1)
    result = split(frame, target="quality", task="classification", folds=5, repeats=1)
    assert (result.train["quality"] == 8).sum() == 1
    assert result.strategy.startswith("stratified")
    # The other classes keep their shares on both sides.
    share = frame["quality"].value_counts(normalize=True)
    test_share = result.test["quality"].value_counts(normalize=True)
    assert abs(test_share[5] - share[5]) < 0.02


def test_class_rarer_than_folds_is_spread_over_folds(wine: pd.DataFrame) -> None:
    frame = _thinned(wine, 8, keep=3)
    result = split(frame, target="quality", task="classification", folds=5, repeats=1)
    y = result.train["quality"].to_numpy()
    rare_folds = [i for i, (_, val) in enumerate(result.folds) if (y[val] == 8).any()]
    # Each rare row is validated in its own fold, so most folds train on it.
    assert len(rare_folds) == (y == 8).sum()
    for _, val in result.folds:  # the others stay stratified
        assert abs((y[val] == 5).mean() - (y == 5).mean()) < 0.03


# --------------------------------------------------------------------------- entities


@pytest.fixture(scope="module")
def customers_twice() -> pd.DataFrame:
    """1,500 telco customers, 300 of them on a second row with a newer bill."""
    frame = _read("telco_churn.csv").sample(n=1500, random_state=0).reset_index(drop=True)
    again = frame.iloc[:300].assign(MonthlyCharges=lambda f: f["MonthlyCharges"] + 5.0)
    again["tenure"] = again["tenure"] + 1
    return pd.concat([frame, again], ignore_index=True)


def _sides(result: SplitResult) -> tuple[set[str], list[tuple[set[str], set[str]]]]:
    train_ids = result.train["customerID"].to_numpy()
    both = set(train_ids) & set(result.test["customerID"])
    folds = [(set(train_ids[fit]), set(train_ids[val])) for fit, val in result.folds]
    return both, folds


def test_repeated_entities_stay_on_one_side_of_split_and_folds(customers_twice):
    plain = split(customers_twice, target="Churn", task="classification", seed=0)
    assert _sides(plain)[0], "an ungrouped split puts some repeated customers on both sides"

    result = split(
        customers_twice,
        target="Churn",
        task="classification",
        seed=0,
        entity_columns=["customerID"],
    )
    both, folds = _sides(result)
    assert not both
    assert all(not (fit & val) for fit, val in folds)
    assert result.strategy.startswith("grouped by customerID")
    assert list(result.train.columns) == list(customers_twice.columns)
    assert len(result.train) + len(result.test) == len(customers_twice)
    [note] = result.findings
    assert (note.check, note.column, note.count) == ("combine_entity_split", "customerID", 300)


def test_entity_on_both_sides_is_reported(customers_twice):
    # grouping by another column cannot keep a customer whose tenure changed on one side
    result = split(
        customers_twice,
        target="Churn",
        task="classification",
        seed=0,
        group_column="tenure",
        entity_columns=["customerID"],
    )
    both, _ = _sides(result)
    assert both
    leaks = [f for f in result.findings if f.check == "combine_entity_leak"]
    assert leaks[0].severity == "error"
    assert leaks[0].count == len(both)
    assert "training and the test set" in leaks[0].message


def test_unique_entities_split_as_before(customers_twice):
    once = customers_twice.drop_duplicates("customerID").reset_index(drop=True)
    grouped = split(once, target="Churn", task="classification", entity_columns=["customerID"])
    plain = split(once, target="Churn", task="classification")
    assert grouped.strategy == plain.strategy and not grouped.findings
    pd.testing.assert_frame_equal(grouped.test, plain.test)


def test_time_ordered_split_reports_entities_seen_before(customers_twice):
    # the second rows come last in time: their customers' first rows are in training
    dated = customers_twice.assign(
        when=pd.date_range("2024-01-01", periods=len(customers_twice), freq="h")
    )
    result = split(
        dated,
        target="Churn",
        task="classification",
        time_column="when",
        time_ordered=True,
        entity_columns=["customerID"],
    )
    both, _ = _sides(result)
    assert result.strategy.startswith("time-ordered")
    [leak] = [f for f in result.findings if "test set" in f.message]
    assert leak.check == "combine_entity_leak" and leak.severity == "warning"
    assert leak.count == len(both) > 0
