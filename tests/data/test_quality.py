"""Data quality checks and repairs (cairn.data.quality)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.data.quality import (
    CleanResult,
    Finding,
    QualityReport,
    check_and_clean,
    repair_types,
)
from cairn.data.schema import Role, conform
from cairn.exceptions import DataError

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def load(name: str, **kwargs: object) -> pd.DataFrame:
    path = DATASETS / f"{name}.csv"
    if not path.exists():
        pytest.skip(f"dataset {path} not available")
    return pd.read_csv(path, na_values=["?"], **kwargs)  # type: ignore[call-overload]


def checks(result: CleanResult) -> set[str]:
    return {finding.check for finding in result.report.findings}


def synthetic(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """A clean binary-classification table with a weak signal."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "z": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "y": np.where(x + rng.normal(scale=2.0, size=n) > 0, "yes", "no"),
        }
    )


# --------------------------------------------------------------------------- real data


def test_telco_churn() -> None:
    raw = load("telco_churn")
    result = check_and_clean(raw, target="Churn", source="telco_churn.csv")
    frame, schema = result.frame, result.schema
    assert result.task == "classification"
    assert schema.classes == ("No", "Yes")
    assert frame["TotalCharges"].dtype == np.float64
    assert int(frame["TotalCharges"].isna().sum()) == 11
    assert schema["customerID"].role == Role.ID
    assert "customerID" in frame.columns  # kept in the frame, dropped by role
    assert "customerID" not in schema.feature_names
    assert schema["SeniorCitizen"].role == Role.BOOLEAN
    assert "Churn" in frame.columns and "Churn" not in schema
    (sentinels,) = result.report.by_check("missing_sentinels")
    assert sentinels.column == "TotalCharges" and sentinels.count == 11 and sentinels.applied
    (numeric,) = result.report.by_check("numeric_text")
    assert numeric.column == "TotalCharges"
    (id_finding,) = result.report.by_check("id_column")
    assert id_finding.column == "customerID" and id_finding.applied
    assert result.report.rows_in == result.report.rows_out == 7043
    assert "leakage_suspect" not in checks(result)


def test_telco_scoring_data_conforms_like_training() -> None:
    raw = load("telco_churn")
    result = check_and_clean(raw, target="Churn")
    scored, notes = conform(raw.head(200), result.schema)
    assert notes == []
    features = result.schema.feature_names
    pd.testing.assert_frame_equal(scored[features], result.frame.head(200)[features])


def test_titanic() -> None:
    result = check_and_clean(load("titanic"), target="Survived")
    roles = {c.name: c.role for c in result.schema.columns}
    assert roles["PassengerId"] == Role.ID
    # passengers' names are personal data: out of the features unless kept
    assert "Name" not in roles and result.report.by_check("privacy_name")[0].column == "Name"
    kept = check_and_clean(load("titanic"), target="Survived", privacy={"Name": "keep"})
    assert kept.schema["Name"].role == Role.TEXT
    assert roles["Sex"] == Role.BOOLEAN
    assert roles["Age"] == Role.NUMERIC
    assert roles["Embarked"] == Role.CATEGORICAL
    assert result.task == "classification"
    missing = {f.column: f.count for f in result.report.by_check("missing_values")}
    assert missing["Age"] == 177 and missing["Embarked"] == 2
    high = {f.column for f in result.report.by_check("high_cardinality")}
    assert "Ticket" in high
    assert all(f.action == "target-encoded" for f in result.report.by_check("high_cardinality"))
    assert "class_imbalance" not in checks(result)


def test_ames_regression() -> None:
    result = check_and_clean(load("ames_house_prices"), target="SalePrice")
    assert result.task == "regression"
    assert result.schema.classes is None
    assert result.schema["Id"].role == Role.ID
    near = {f.column for f in result.report.by_check("near_constant")}
    assert {"Street", "Utilities"} <= near
    assert all(not f.applied for f in result.report.by_check("near_constant"))
    assert result.schema["Utilities"].is_feature  # suggested only, not dropped


def test_adult_no_imbalance_finding() -> None:
    result = check_and_clean(load("adult"), target="class")
    shares = result.frame["class"].value_counts(normalize=True)
    assert 0.22 < shares.min() < 0.26
    assert "class_imbalance" not in checks(result)
    (duplicates,) = result.report.by_check("duplicate_rows")
    assert duplicates.count == 24 and duplicates.applied
    assert result.report.rows_out == 32561 - 24


def test_bank_marketing() -> None:
    result = check_and_clean(load("bank_marketing_full"), target="deposit")
    share = result.frame["deposit"].value_counts(normalize=True)["yes"]
    assert 0.11 < share < 0.12
    # 11.7% is above the 10% imbalance threshold
    assert "class_imbalance" not in checks(result)
    # `duration` leaks in the business sense (known only after the call), but
    # alone it predicts the outcome far below what the leakage check needs.
    leaks = {f.column for f in result.report.by_check("leakage_suspect")}
    assert "duration" not in leaks


def test_car_evaluation_multiclass() -> None:
    result = check_and_clean(load("car_evaluation"), target="decision")
    assert result.task == "classification"
    assert result.schema.classes is not None and len(result.schema.classes) == 4
    (imbalance,) = result.report.by_check("class_imbalance")
    assert "'vgood'" in imbalance.message and imbalance.count == 65


def test_wine_quality_classification() -> None:
    result = check_and_clean(load("wine_quality_red", sep=";"), target="quality")
    assert result.task == "classification"
    assert result.schema.classes == ("3", "4", "5", "6", "7", "8")
    assert result.report.by_check("duplicate_rows")[0].count == 240


# --------------------------------------------------------------------------- repairs


def test_repair_types() -> None:
    n = 40
    numbers = [str(i * 1.5) for i in range(n)]
    numbers[3], numbers[5] = " ", "n/a"
    mostly = [str(i) for i in range(n)]
    mostly[7] = "oops"
    frame = pd.DataFrame(
        {
            "num": numbers,
            "mostly": mostly,
            "zip": [f"0{1000 + i}" for i in range(n)],
            "answer": (["Yes"] * 5 + ["yes "] * 2 + ["YES"] + ["No"] * 4) * 3 + ["No"] * 4,
            "label": ["  a", "b  "] * (n // 2),
            "ints": range(n),
        }
    )
    repaired, findings = repair_types(frame)
    assert repaired["num"].dtype == np.float64
    assert int(repaired["num"].isna().sum()) == 2
    assert repaired["mostly"].dtype == np.float64 and np.isnan(repaired["mostly"].iloc[7])
    assert repaired["zip"].iloc[0] == "01000"  # codes keep their leading zero
    assert set(repaired["answer"]) == {"Yes", "No"}
    assert set(repaired["label"]) == {"a", "b"}
    assert repaired["ints"].dtype == np.int64
    by = {(f.check, f.column): f for f in findings}
    assert by[("missing_sentinels", "num")].count == 2
    mostly_finding = by[("numeric_text", "mostly")]
    assert mostly_finding.severity == "warning" and "'oops'" in mostly_finding.message
    labels = by[("inconsistent_labels", "answer")]
    assert labels.count == 9 and labels.applied and "-> 'Yes'" in labels.message
    assert by[("whitespace", "label")].count == n
    assert frame["num"].iloc[3] == " "  # the input is not modified


def test_inconsistent_target_labels_harmonised() -> None:
    frame = synthetic()
    frame.loc[:9, "y"] = frame.loc[:9, "y"].str.upper() + " "
    result = check_and_clean(frame, target="y")
    assert result.schema.classes == ("no", "yes")
    assert result.report.by_check("inconsistent_labels")[0].column == "y"


def test_duplicates_dropped_with_count() -> None:
    frame = synthetic()
    doubled = pd.concat([frame, frame.iloc[:7]], ignore_index=True)
    result = check_and_clean(doubled, target="y")
    (finding,) = result.report.by_check("duplicate_rows")
    assert finding.count == 7 and finding.applied
    assert len(result.frame) == len(frame)
    assert list(result.frame.index) == list(range(len(frame)))
    assert result.report.rows_in == len(frame) + 7
    assert result.report.rows_out == len(frame)


def test_conflicting_labels() -> None:
    frame = synthetic()
    clash = frame.iloc[:3].copy()
    clash["y"] = np.where(clash["y"] == "yes", "no", "yes")
    result = check_and_clean(pd.concat([frame, clash], ignore_index=True), target="y")
    (finding,) = result.report.by_check("conflicting_labels")
    assert finding.count == 6 and finding.severity == "warning" and not finding.applied
    assert len(result.frame) == len(frame) + 3  # reported, not dropped


def test_missing_target_rows_dropped() -> None:
    frame = synthetic()
    frame.loc[[4, 8], "y"] = np.nan
    frame.loc[9, "y"] = "?"
    result = check_and_clean(frame, target="y")
    (finding,) = result.report.by_check("missing_target")
    assert finding.count == 3 and finding.applied
    assert len(result.frame) == len(frame) - 3


def test_leakage_flagged_classification() -> None:
    frame = synthetic()
    frame["outcome_code"] = frame["y"].map({"yes": "Y1", "no": "N0"})
    frame["score"] = np.where(frame["y"] == "yes", 10.0, 0.0) + np.arange(len(frame)) * 1e-3
    result = check_and_clean(frame, target="y")
    leaks = {f.column: f for f in result.report.by_check("leakage_suspect")}
    assert set(leaks) == {"outcome_code", "score"}
    finding = leaks["outcome_code"]
    assert "possible target leakage" in finding.message
    assert finding.severity == "error" and finding.applied
    assert 'allow_leakage = ["outcome_code"]' in finding.action
    assert not result.schema["outcome_code"].is_feature  # excluded from the features


def test_leakage_flagged_regression() -> None:
    rng = np.random.default_rng(5)
    n = 300
    y = rng.normal(100, 20, n)
    frame = pd.DataFrame({"a": rng.normal(size=n), "twice": 2 * y + 1, "y": y})
    result = check_and_clean(frame, target="y")
    assert result.task == "regression"
    leaks = [f.column for f in result.report.by_check("leakage_suspect")]
    assert leaks == ["twice"]


def test_constant_and_near_constant_columns() -> None:
    frame = synthetic(n=400)
    frame["site"] = "north"
    frame["flag"] = ["on"] * 399 + ["off"]
    result = check_and_clean(frame, target="y")
    (constant,) = result.report.by_check("constant_column")
    assert constant.column == "site" and constant.applied
    assert result.schema["site"].role == Role.CONSTANT
    assert "site" in result.frame.columns
    (near,) = result.report.by_check("near_constant")
    assert near.column == "flag" and not near.applied and near.severity == "warning"
    assert result.schema["flag"].is_feature


def test_class_imbalance_and_rare_class() -> None:
    rng = np.random.default_rng(6)
    n = 300
    labels = np.array(["a"] * 270 + ["b"] * 27 + ["c"] * 3)
    frame = pd.DataFrame({"x": rng.normal(size=n), "y": labels})
    result = check_and_clean(frame, target="y", folds=5)
    (imbalance,) = result.report.by_check("class_imbalance")
    assert "'c'" in imbalance.message and imbalance.count == 3
    (rare,) = result.report.by_check("rare_class")
    assert "'c' (3)" in rare.message and "folds" in rare.action


def test_missing_values_reported() -> None:
    frame = synthetic()
    frame.loc[:9, "z"] = np.nan
    result = check_and_clean(frame, target="y")
    (finding,) = result.report.by_check("missing_values")
    assert finding.column == "z" and finding.count == 10 and finding.severity == "info"


def test_user_roles_and_forced_numeric() -> None:
    frame = synthetic()
    frame["ref"] = [f"r{i}" for i in range(len(frame))]
    frame["amount"] = ["1.5"] * (len(frame) - 30) + ["n.a."] * 30
    result = check_and_clean(
        frame, target="y", roles={"amount": "numeric"}, id_columns=["ref"], source="x.csv"
    )
    assert result.schema["ref"].role == Role.ID
    assert result.schema["amount"].role == Role.NUMERIC
    assert result.frame["amount"].isna().sum() == 30
    (unreadable,) = result.report.by_check("unreadable_values")
    assert unreadable.column == "amount" and unreadable.count == 30


# --------------------------------------------------------------------------- report


def test_report_methods() -> None:
    frame = synthetic()
    frame.loc[:4, "z"] = np.nan
    result = check_and_clean(pd.concat([frame, frame.iloc[:2]], ignore_index=True), target="y")
    report = result.report
    assert isinstance(report, QualityReport)
    assert len(report) == len(report.findings) == 2
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["rows_in"] == 202 and data["rows_out"] == 200
    assert data["columns_in"] == 4 and data["columns_out"] == 4
    table = report.to_frame()
    assert list(table.columns) == [
        "check",
        "severity",
        "column",
        "count",
        "message",
        "action",
        "applied",
    ]
    assert len(table) == 2
    assert isinstance(report.by_check("duplicate_rows")[0], Finding)
    assert report.by_check("nothing") == []
    summary = report.summary()
    assert "\n" not in summary and "202 rows in" in summary and "1 warning" in summary
    assert QualityReport([]).to_frame().empty


# --------------------------------------------------------------------------- errors


def test_error_target_missing_with_suggestion() -> None:
    frame = synthetic().rename(columns={"y": "Churn"})
    with pytest.raises(DataError) as error:
        check_and_clean(frame, target="churn")
    message = str(error.value)
    assert "target column 'churn' not found in data; did you mean 'Churn'?" in message
    assert "Columns: x, z, colour, Churn" in message
    with pytest.raises(DataError, match=r"not found in telco\.csv"):
        check_and_clean(frame, target="label", source="telco.csv")


def test_error_empty_frame() -> None:
    with pytest.raises(DataError, match=r"sales\.csv has no rows"):
        check_and_clean(pd.DataFrame({"y": []}), target="y", source="sales.csv")
    with pytest.raises(DataError, match="data has no rows"):
        check_and_clean(pd.DataFrame(), target="y")
    with pytest.raises(DataError, match="has no columns"):
        check_and_clean(pd.DataFrame(index=range(3)), target="y")


def test_error_target_all_missing() -> None:
    frame = synthetic().assign(y=np.nan)
    with pytest.raises(DataError, match=r"target column 'y' in data has no values.*200 rows"):
        check_and_clean(frame, target="y")
    frame = synthetic().assign(y="?")
    with pytest.raises(DataError, match="has no values"):
        check_and_clean(frame, target="y")


def test_error_target_constant_regression() -> None:
    frame = synthetic().assign(y=5.0)
    with pytest.raises(DataError, match=r"target 'y' in data is constant.*nothing to learn"):
        check_and_clean(frame, target="y", task="regression")


def test_error_single_class() -> None:
    frame = synthetic().assign(y="yes")
    with pytest.raises(DataError, match=r"single class \('yes'\).*at least two classes"):
        check_and_clean(frame, target="y")


def test_class_with_one_example_is_kept_with_a_warning() -> None:
    frame = synthetic()
    frame.loc[0, "y"] = "maybe"
    result = check_and_clean(frame, target="y")
    finding = next(f for f in result.report.findings if f.check == "rare_class")
    assert "'maybe' (1)" in finding.message
    assert (result.frame["y"] == "maybe").sum() == 1


def test_error_fewer_rows_than_folds() -> None:
    frame = synthetic(n=9)
    frame["y"] = ["a", "b", "a", "b", "a", "b", "a", "b", "a"]
    with pytest.raises(DataError, match=r"only 9 usable row.*2 x folds = 10.*split.folds lower"):
        check_and_clean(frame, target="y", folds=5)
    assert check_and_clean(frame, target="y", folds=2).report.rows_out == 9


def test_error_regression_on_text_target() -> None:
    with pytest.raises(DataError, match=r"not numeric \(e.g. 'no'\).*task is regression"):
        check_and_clean(synthetic(), target="y", task="regression")


def test_error_unsupported_task() -> None:
    with pytest.raises(DataError, match="task 'forecasting' is not supported"):
        check_and_clean(synthetic(), target="y", task="forecasting")
    with pytest.raises(DataError, match="task 'recommendation' learns without a target"):
        check_and_clean(synthetic(), target="y", task="recommendation")
    with pytest.raises(DataError, match="task 'clustering' learns without a target"):
        check_and_clean(synthetic(), target="y", task="clustering")
