"""Schema inference and conformance (cairn.data.schema)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.data.schema import (
    ColumnSchema,
    Role,
    Schema,
    conform,
    infer_schema,
    sniff_date_format,
)
from cairn.exceptions import DataError, SchemaMismatchError

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def load(name: str, **kwargs: object) -> pd.DataFrame:
    path = DATASETS / f"{name}.csv"
    if not path.exists():
        pytest.skip(f"dataset {path} not available")
    return pd.read_csv(path, na_values=["?"], **kwargs)  # type: ignore[call-overload]


def roles_of(schema: Schema) -> dict[str, Role]:
    return {column.name: column.role for column in schema.columns}


def test_titanic_roles() -> None:
    schema = infer_schema(load("titanic"), target="Survived")
    roles = roles_of(schema)
    assert roles["PassengerId"] == Role.ID
    assert roles["Name"] == Role.TEXT
    assert roles["Sex"] == Role.BOOLEAN
    assert roles["Age"] == Role.NUMERIC
    assert roles["Embarked"] == Role.CATEGORICAL
    assert roles["Ticket"] == Role.CATEGORICAL
    assert "Survived" not in schema
    assert schema.task == "classification"
    assert schema.classes == ("0", "1")
    age = schema["Age"]
    assert age.dtype == "float" and age.nullable and 0.19 < age.missing_rate < 0.21
    assert schema["Sex"].categories == ("male", "female")  # most frequent first
    assert schema["Embarked"].categories == ("S", "C", "Q")
    assert all(column.reason for column in schema.columns)
    assert "PassengerId" not in schema.feature_names


def test_telco_roles_on_raw_data() -> None:
    schema = infer_schema(load("telco_churn"), target="Churn")
    roles = roles_of(schema)
    assert roles["customerID"] == Role.ID
    assert roles["SeniorCitizen"] == Role.BOOLEAN
    assert schema["SeniorCitizen"].dtype == "int"
    assert roles["TotalCharges"] == Role.NUMERIC  # ' ' read as missing
    assert schema["TotalCharges"].dtype == "float"
    assert roles["Contract"] == Role.CATEGORICAL
    assert schema.task == "classification"
    assert schema.classes == ("No", "Yes")


def test_ames_regression_with_id() -> None:
    schema = infer_schema(load("ames_house_prices"), target="SalePrice")
    assert schema.task == "regression"
    assert schema.classes is None
    assert schema["Id"].role == Role.ID
    assert schema["Neighborhood"].role == Role.CATEGORICAL


def test_car_evaluation_multiclass() -> None:
    schema = infer_schema(load("car_evaluation"), target="decision")
    assert schema.task == "classification"
    assert schema.classes == ("acc", "good", "unacc", "vgood")
    # "2", "3", "4", "5more": not numbers, so categorical
    assert schema["number_of_doors"].role == Role.CATEGORICAL


def test_wine_quality_is_classification() -> None:
    schema = infer_schema(load("wine_quality_red", sep=";"), target="quality")
    assert schema.task == "classification"
    assert schema.classes == ("3", "4", "5", "6", "7", "8")
    assert set(roles_of(schema).values()) == {Role.NUMERIC}


def test_german_credit_labels_one_two() -> None:
    schema = infer_schema(load("german_credit"), target="default")
    assert schema.task == "classification"
    assert schema.classes == ("1", "2")


# --------------------------------------------------------------------------- synthetic


def test_constant_columns_and_id_like_numbers() -> None:
    rng = np.random.default_rng(0)
    n = 50
    frame = pd.DataFrame(
        {
            "row": np.arange(n),
            "customer_id": rng.permutation(np.arange(1000, 1000 + n)),
            "score": rng.integers(0, 1000, n),
            "same": 7,
            "empty": np.nan,
            "y": rng.normal(size=n),
        }
    )
    schema = infer_schema(frame, target="y")
    roles = roles_of(schema)
    assert roles["row"] == Role.ID
    assert roles["customer_id"] == Role.ID
    assert roles["score"] == Role.NUMERIC
    assert roles["same"] == Role.CONSTANT
    assert roles["empty"] == Role.CONSTANT
    assert "all values missing" in schema["empty"].reason
    assert schema.feature_names == ["score"]


def test_text_id_and_categorical_strings() -> None:
    n = 60
    frame = pd.DataFrame(
        {
            "code": [f"{i:04d}-ABC" for i in range(n)],
            "comment": [f"the parcel number {i} arrived late" for i in range(n)],
            "colour": ["red", "green", "blue"] * (n // 3),
            "zip": [f"0{2100 + i % 7}" for i in range(n)],
            "answer": ["Yes", "No"] * (n // 2),
        }
    )
    schema = infer_schema(frame)
    roles = roles_of(schema)
    assert roles == {
        "code": Role.ID,
        "comment": Role.TEXT,
        "colour": Role.CATEGORICAL,
        "zip": Role.CATEGORICAL,  # leading zeros: a code, not a number
        "answer": Role.BOOLEAN,
    }
    assert schema.target is None and schema.task is None
    assert schema["zip"].dtype == "string"


def test_user_roles_win() -> None:
    rng = np.random.default_rng(1)
    n = 40
    frame = pd.DataFrame(
        {
            "ref": [f"R{i}" for i in range(n)],
            "zone": rng.integers(1, 30, n),
            "note": ["a"] * n,
            "day": pd.date_range("2023-01-01", periods=n).strftime("%Y-%m-%d"),
            "y": rng.integers(0, 2, n),
        }
    )
    schema = infer_schema(
        frame,
        target="y",
        roles={"zone": "categorical", "note": "ignore"},
        id_columns=["ref"],
        time_column="day",
    )
    assert schema["zone"].role == Role.CATEGORICAL
    assert schema["zone"].dtype == "string"
    assert schema["zone"].categories is not None
    assert "roles" in schema["zone"].reason
    assert schema["note"].role == Role.IGNORE
    assert schema["ref"].role == Role.ID and "id_columns" in schema["ref"].reason
    assert schema["day"].role == Role.DATETIME and schema["day"].dtype == "datetime"
    assert "day" in schema.names


def test_named_columns_must_exist() -> None:
    frame = pd.DataFrame({"Age": [1, 2], "y": [0, 1]})
    with pytest.raises(DataError, match=r"'age'.*did you mean 'Age'"):
        infer_schema(frame, target="y", roles={"age": "numeric"})
    with pytest.raises(DataError, match="unknown role 'number'"):
        infer_schema(frame, target="y", roles={"Age": "number"})
    with pytest.raises(DataError, match="target column 'Y' not found"):
        infer_schema(frame, target="Y")
    with pytest.raises(DataError, match="is the target"):
        infer_schema(frame, target="y", id_columns=["y"])


def test_dates_stored_as_text() -> None:
    days = pd.date_range("2021-01-01", periods=40, freq="3D")
    frame = pd.DataFrame(
        {
            "eu": days.strftime("%d/%m/%Y"),
            "iso": days.strftime("%Y-%m-%d %H:%M:%S"),
            "real": days,
            "word": ["alpha", "beta"] * 20,
        }
    )
    schema = infer_schema(frame)
    assert schema["eu"].role == Role.DATETIME
    assert schema["iso"].role == Role.DATETIME
    assert schema["real"].role == Role.DATETIME
    assert schema["word"].role == Role.BOOLEAN
    assert schema.metadata["datetime_formats"] == {"eu": "%d/%m/%Y", "iso": "ISO8601"}
    assert sniff_date_format(pd.Series(["Gd", "TA", "Ex"])) is None
    assert sniff_date_format(pd.Series(["03/15/2020", "12/01/2020"])) == "%m/%d/%Y"


def test_categories_capped_and_ordered() -> None:
    values = [f"v{i}" for i in range(1500)] * 2 + ["v7"] * 5 + ["v3"] * 3
    schema = infer_schema(pd.DataFrame({"c": values, "other": ["a b c d"] * len(values)}))
    column = schema["c"]
    assert column.role == Role.CATEGORICAL
    assert column.categories is not None
    assert len(column.categories) == 1000
    assert column.categories[:2] == ("v7", "v3")
    assert column.n_unique == 1500


def test_json_round_trip() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=30),
            "c": rng.choice(["a", "b", "c"], 30),
            "d": pd.date_range("2020-01-01", periods=30).strftime("%d.%m.%Y"),
            "y": rng.choice(["no", "yes"], 30),
        }
    )
    schema = infer_schema(frame, target="y")
    assert Schema.from_json(schema.to_json()) == schema


def test_json_round_trip_real_data() -> None:
    schema = infer_schema(load("titanic"), target="Survived")
    again = Schema.from_json(schema.to_json())
    assert again == schema
    assert isinstance(again["Sex"], ColumnSchema)


# --------------------------------------------------------------------------- conform


@pytest.fixture
def trained() -> tuple[pd.DataFrame, Schema]:
    rng = np.random.default_rng(3)
    n = 60
    frame = pd.DataFrame(
        {
            "key": [f"K{i:03d}" for i in range(n)],
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50_000, 10_000, n).round(2),
            "city": rng.choice(["Paris", "Lyon", "Nice"], n),
            "member": rng.choice([True, False], n),
            "joined": pd.date_range("2022-01-01", periods=n).strftime("%Y-%m-%d"),
            "churn": rng.choice(["no", "yes"], n),
        }
    )
    return frame, infer_schema(frame, target="churn", id_columns=["key"])


def test_conform_passes_training_like_data(trained: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = trained
    out, notes = conform(frame, schema)
    assert notes == []
    assert list(out.columns) == schema.names
    assert "churn" not in out.columns  # target dropped silently
    assert out["age"].dtype == np.int64
    assert out["income"].dtype == np.float64
    assert out["member"].dtype == bool
    assert pd.api.types.is_datetime64_any_dtype(out["joined"])


def test_conform_missing_column(trained: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = trained
    with pytest.raises(SchemaMismatchError) as error:
        conform(frame.drop(columns=["income", "city"]).rename(columns={"age": "Age"}), schema)
    message = str(error.value)
    assert "'age'" in message and "'income'" in message and "'city'" in message
    assert "found 'Age'" in message
    assert "Expected columns: age, income, city, member, joined" in message


def test_conform_absent_id_column_is_filled(trained: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = trained
    out, _ = conform(frame.drop(columns=["key"]), schema)
    assert out["key"].isna().all()


def test_conform_extra_columns_and_order(trained: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = trained
    shuffled = frame.assign(extra=1, more="x")[
        ["city", "extra", "joined", "income", "member", "more", "age", "key"]
    ]
    out, notes = conform(shuffled, schema)
    assert list(out.columns) == schema.names
    assert notes == ["ignored extra column(s): extra, more"]
    pd.testing.assert_series_equal(out["income"], frame["income"])


def test_conform_coerces_text(trained: tuple[pd.DataFrame, Schema]) -> None:
    _, schema = trained
    raw = pd.DataFrame(
        {
            "age": ["42", " 7 ", "?"],
            "income": ["1000.5", "", "2e3"],
            "city": [" Paris", "Lyon", None],
            "member": ["yes", "FALSE", "1"],
            "joined": ["2023-05-01", "2023-05-02", " "],
            "key": ["a", "b", "c"],
        },
        index=[10, 11, 12],
    )
    out, notes = conform(raw, schema)
    assert notes == []
    assert out["age"].tolist()[:2] == [42.0, 7.0] and np.isnan(out["age"].iloc[2])
    assert out["income"].iloc[0] == 1000.5 and np.isnan(out["income"].iloc[1])
    assert out["income"].iloc[2] == 2000.0
    assert out["city"].tolist()[:2] == ["Paris", "Lyon"] and pd.isna(out["city"].iloc[2])
    assert out["member"].tolist() == [True, False, True]
    assert out["joined"].iloc[0] == pd.Timestamp("2023-05-01") and pd.isna(out["joined"].iloc[2])
    assert list(out.index) == [10, 11, 12]


def test_conform_bad_number_names_column_row_and_value(
    trained: tuple[pd.DataFrame, Schema],
) -> None:
    frame, schema = trained
    bad = frame.head(5).astype({"income": object})
    bad.loc[3, "income"] = "12k"
    with pytest.raises(SchemaMismatchError, match=r"column 'income': value '12k' in row 3"):
        conform(bad, schema)
    bad_bool = frame.head(3).astype({"member": object})
    bad_bool.loc[1, "member"] = "maybe"
    with pytest.raises(SchemaMismatchError, match=r"'member'.*'maybe'.*row 1"):
        conform(bad_bool, schema)


def test_conform_unseen_categories(trained: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = trained
    new = frame.head(4).copy()
    new["city"] = ["Paris", "Rome", "Rome", "Oslo"]
    out, notes = conform(new, schema)
    assert notes == ["column 'city': 2 unseen categories in 3 row(s), e.g. 'Rome'"]
    assert out["city"].tolist() == ["Paris", "Rome", "Rome", "Oslo"]


def test_conform_repeated_column_name(trained: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = trained
    doubled = pd.concat([frame, frame[["age"]]], axis=1)
    with pytest.raises(SchemaMismatchError, match=r"repeated.*'age'"):
        conform(doubled, schema)


def test_conform_numeric_categories_written_like_training() -> None:
    frame = pd.DataFrame({"zone": [1, 2, 3, 1, 2, 3] * 5, "y": [0, 1] * 15})
    schema = infer_schema(frame, target="y", roles={"zone": "categorical"})
    assert schema["zone"].categories == ("1", "2", "3")
    out, notes = conform(pd.DataFrame({"zone": [1.0, "2", 3]}), schema)
    assert out["zone"].tolist() == ["1", "2", "3"]
    assert notes == []


def test_conform_reads_infinite_values_as_missing_like_training() -> None:
    from tests.conftest import load_dataset

    wine = load_dataset("wine_quality_red")
    schema = infer_schema(wine, target="quality")
    scoring = wine.drop(columns="quality").head(5).astype({"alcohol": float})
    scoring.loc[scoring.index[1], "alcohol"] = np.inf
    scoring.loc[scoring.index[3], "alcohol"] = -np.inf
    out, notes = conform(scoring, schema)
    assert out["alcohol"].isna().tolist() == [False, True, False, True, False]
    assert notes == ["column 'alcohol': 2 infinite value(s) read as missing, as in training"]
