"""Tests for cairn.features.preprocess: the schema-driven preprocessor.

Schemas are built by hand here (schema inference is tested elsewhere). Real
datasets are read from ../shared/datasets and the tests that need them skip
when that folder is absent.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import cairn.features
from cairn.data.schema import ColumnSchema, Role, Schema
from cairn.exceptions import DataError
from cairn.features import DatetimeFeatures, build_preprocessor
from cairn.features.preprocess import (
    MISSING_CATEGORY,
    BooleanEncoder,
    CategoryCodes,
    FrequencyEncoder,
    RangeClipper,
    to_category_strings,
    to_float_frame,
)
from tests.conftest import load_dataset

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def read_dataset(name: str, **kwargs: Any) -> pd.DataFrame:
    path = DATASETS / name
    if not path.exists():
        pytest.skip(f"dataset {name} not found in {DATASETS} (shared datasets folder absent)")
    return pd.read_csv(path, **kwargs)


def make_schema(
    frame: pd.DataFrame,
    roles: dict[str, Role],
    *,
    target: str | None = None,
    task: str | None = None,
) -> Schema:
    """A Schema with one ColumnSchema per entry of ``roles``, stats taken from ``frame``."""
    columns = []
    for name, role in roles.items():
        values = frame[name]
        counts = values.dropna().astype(str).value_counts()
        if role == Role.NUMERIC:
            dtype = "float"
        elif role == Role.DATETIME:
            dtype = "datetime"
        elif role == Role.BOOLEAN:
            dtype = "bool"
        else:
            dtype = "string"
        columns.append(
            ColumnSchema(
                name=name,
                role=role,
                dtype=dtype,
                nullable=bool(values.isna().any()),
                categories=(
                    tuple(str(v) for v in counts.index)
                    if role in (Role.CATEGORICAL, Role.BOOLEAN)
                    else None
                ),
                n_unique=int(values.nunique()),
                missing_rate=float(values.isna().mean()),
                reason="set by the test",
            )
        )
    classes = None
    if task == "classification" and target is not None:
        classes = tuple(sorted(str(v) for v in frame[target].unique()))
    return Schema(columns=tuple(columns), target=target, task=task, classes=classes)


# --------------------------------------------------------------------------
# titanic: every role but datetime
# --------------------------------------------------------------------------

TITANIC_ROLES = {
    "PassengerId": Role.ID,
    "Pclass": Role.NUMERIC,
    "Name": Role.TEXT,
    "Sex": Role.BOOLEAN,
    "Age": Role.NUMERIC,
    "SibSp": Role.NUMERIC,
    "Parch": Role.NUMERIC,
    "Ticket": Role.IGNORE,
    "Fare": Role.NUMERIC,
    "Cabin": Role.IGNORE,
    "Embarked": Role.CATEGORICAL,
}


@pytest.fixture(scope="module")
def titanic() -> tuple[pd.DataFrame, pd.Series, Schema]:
    frame = read_dataset("titanic.csv")
    schema = make_schema(frame, TITANIC_ROLES, target="Survived", task="classification")
    return frame.drop(columns="Survived"), frame["Survived"], schema


@pytest.fixture(scope="module")
def titanic_model(titanic: tuple[pd.DataFrame, pd.Series, Schema]) -> Pipeline:
    X, y, schema = titanic
    model = Pipeline(
        [
            ("prep", build_preprocessor(schema)),
            ("model", LogisticRegression(max_iter=2000)),
        ]
    )
    return model.fit(X, y)


def test_package_exports() -> None:
    import cairn.features.preprocess as preprocess

    names = set(cairn.features.__all__)
    assert {"build_preprocessor", "useless_features", "with_pca"} <= names
    # Fitted pipelines pickle these by their preprocess path: it keeps them.
    assert set(preprocess.__all__) <= names
    assert all(getattr(cairn.features, name) is not None for name in names)


def test_titanic_cross_validated_accuracy(titanic: tuple[pd.DataFrame, pd.Series, Schema]) -> None:
    X, y, schema = titanic
    model = Pipeline(
        [
            ("prep", build_preprocessor(schema, scale=True)),
            ("model", LogisticRegression(max_iter=2000)),
        ]
    )
    scores = cross_val_score(model, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0))
    assert scores.mean() >= 0.75


def test_titanic_output_is_dense_float_without_nan(titanic_model: Pipeline) -> None:
    frame = read_dataset("titanic.csv").drop(columns="Survived")
    out = titanic_model.named_steps["prep"].transform(frame)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64
    assert out.shape[0] == len(frame)
    assert not np.isnan(out).any()


def test_titanic_feature_names(titanic_model: Pipeline) -> None:
    prep = titanic_model.named_steps["prep"]
    names = list(prep.get_feature_names_out())
    frame = read_dataset("titanic.csv").drop(columns="Survived")
    assert len(names) == prep.transform(frame).shape[1]
    for expected in (
        "num__Pclass",
        "num__Age",
        "num__Fare",
        "num__missingindicator_Age",
        "bool__Sex",
        "cat_onehot__Embarked_S",
        "cat_onehot__Embarked_C",
        "text_Name__mr",
        "text_Name__miss",
    ):
        assert expected in names
    for dropped in ("PassengerId", "Ticket", "Cabin"):
        assert not any(dropped in name for name in names)
    text_columns = [name for name in names if name.startswith("text_Name__")]
    assert 0 < len(text_columns) <= 200


def test_titanic_sex_is_encoded_as_0_1(titanic_model: Pipeline) -> None:
    prep = titanic_model.named_steps["prep"]
    frame = read_dataset("titanic.csv").drop(columns="Survived")
    names = list(prep.get_feature_names_out())
    sex = prep.transform(frame)[:, names.index("bool__Sex")]
    # sorted categories: female < male, so male = 1
    np.testing.assert_array_equal(sex, (frame["Sex"] == "male").to_numpy(dtype=float))


def test_titanic_predict_on_awkward_rows(
    titanic: tuple[pd.DataFrame, pd.Series, Schema], titanic_model: Pipeline
) -> None:
    X, _, _ = titanic
    awkward = X.head(4).copy().astype(object)
    awkward.loc[awkward.index[0], "Embarked"] = "Atlantis"  # unseen category
    awkward.loc[awkward.index[1], "Sex"] = "unknown"  # unseen boolean value
    awkward.loc[awkward.index[2], :] = pd.NA  # every value missing
    awkward.loc[awkward.index[3], "Age"] = "not a number"  # bad numeric
    awkward["extra"] = "ignored"  # column unknown to the schema
    awkward = awkward[list(reversed(awkward.columns))]  # another column order

    proba = titanic_model.predict_proba(awkward)
    assert proba.shape == (4, 2)
    assert np.isfinite(proba).all()
    out = titanic_model.named_steps["prep"].transform(awkward)
    assert np.isfinite(out).all()


def test_titanic_all_nan_row_float_columns(titanic_model: Pipeline) -> None:
    frame = read_dataset("titanic.csv").drop(columns="Survived").head(3)
    empty = pd.DataFrame({c: [np.nan] * 3 for c in frame.columns})
    assert np.isfinite(titanic_model.predict_proba(empty)).all()


def test_column_order_and_extra_columns_do_not_change_output(titanic_model: Pipeline) -> None:
    prep = titanic_model.named_steps["prep"]
    frame = read_dataset("titanic.csv").drop(columns="Survived")
    shuffled = frame[list(reversed(frame.columns))].assign(extra=1.0, other="x")
    np.testing.assert_array_equal(prep.transform(frame), prep.transform(shuffled))


def test_missing_feature_column_is_an_error(titanic_model: Pipeline) -> None:
    frame = read_dataset("titanic.csv").drop(columns=["Survived", "Age"])
    with pytest.raises(ValueError, match="columns are missing"):
        titanic_model.predict(frame)


def test_dropped_columns_are_not_needed(titanic_model: Pipeline) -> None:
    frame = read_dataset("titanic.csv").drop(columns=["Survived", "PassengerId", "Ticket", "Cabin"])
    assert titanic_model.predict(frame).shape == (len(frame),)


def test_str_and_object_dtypes_give_the_same_output(titanic_model: Pipeline) -> None:
    prep = titanic_model.named_steps["prep"]
    frame = read_dataset("titanic.csv").drop(columns="Survived")
    assert frame["Name"].dtype == "str"
    as_object = frame.astype({c: object for c in frame.columns if frame[c].dtype == "str"})
    assert as_object["Name"].dtype == object
    np.testing.assert_array_equal(prep.transform(frame), prep.transform(as_object))


def test_pickle_round_trip(titanic_model: Pipeline) -> None:
    frame = read_dataset("titanic.csv").drop(columns="Survived")
    loaded = pickle.loads(pickle.dumps(titanic_model))
    np.testing.assert_array_equal(
        titanic_model.named_steps["prep"].transform(frame),
        loaded.named_steps["prep"].transform(frame),
    )
    np.testing.assert_array_equal(titanic_model.predict_proba(frame), loaded.predict_proba(frame))


def test_pickle_loads_in_another_process(titanic_model: Pipeline, tmp_path: Path) -> None:
    frame = read_dataset("titanic.csv").drop(columns="Survived").head(50)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(titanic_model))
    frame.to_pickle(tmp_path / "frame.pkl")
    script = (
        "import pickle, sys, numpy as np, pandas as pd\n"
        "from pathlib import Path\n"
        "d = Path(sys.argv[1])\n"
        "model = pickle.loads((d / 'model.pkl').read_bytes())\n"
        "out = model.named_steps['prep'].transform(pd.read_pickle(d / 'frame.pkl'))\n"
        "np.save(d / 'out.npy', out)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=120)
    expected = titanic_model.named_steps["prep"].transform(frame)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)


def test_scale_gives_zero_mean_numeric_columns(
    titanic: tuple[pd.DataFrame, pd.Series, Schema],
) -> None:
    X, y, schema = titanic
    prep = build_preprocessor(schema, scale=True)
    out = prep.fit_transform(X, y)
    names = list(prep.get_feature_names_out())
    numeric = [i for i, name in enumerate(names) if name.startswith("num__")]
    assert len(numeric) == 6  # 5 numeric columns + Age's missing indicator
    np.testing.assert_allclose(out[:, numeric].mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(out[:, numeric].std(axis=0), 1.0, atol=1e-9)
    unscaled = build_preprocessor(schema).fit_transform(X, y)
    age = names.index("num__Age")
    assert unscaled[:, age].mean() > 20


def test_sparse_text_output(titanic: tuple[pd.DataFrame, pd.Series, Schema]) -> None:
    X, y, schema = titanic
    prep = build_preprocessor(schema, sparse_text=True)
    out = prep.fit_transform(X, y)
    assert sp.issparse(out)
    dense = build_preprocessor(schema).fit_transform(X, y)
    np.testing.assert_allclose(out.toarray(), dense)


def test_native_categorical_gives_ordinal_codes(
    titanic: tuple[pd.DataFrame, pd.Series, Schema],
) -> None:
    X, y, schema = titanic
    prep = build_preprocessor(schema, native_categorical=True)
    out = prep.fit_transform(X, y)
    names = list(prep.get_feature_names_out())
    assert "cat_ordinal__Embarked" in names
    assert not any(name.startswith("cat_onehot__") for name in names)
    codes = out[:, names.index("cat_ordinal__Embarked")]
    # S, C, Q and the missing marker: four integer codes
    assert set(np.unique(codes)) == {0.0, 1.0, 2.0, 3.0}
    unseen = X.head(2).assign(Embarked=["Atlantis", None])
    new_codes = prep.transform(unseen)[:, names.index("cat_ordinal__Embarked")]
    assert new_codes[0] == -1.0
    encoder = prep.named_transformers_["cat_ordinal"].named_steps["ordinal"]
    missing_code = list(encoder.categories_[0]).index(MISSING_CATEGORY)
    assert new_codes[1] == missing_code


# --------------------------------------------------------------------------
# car evaluation: all categorical, one-hot
# --------------------------------------------------------------------------


def test_car_evaluation_onehot() -> None:
    frame = read_dataset("car_evaluation.csv")
    features = [c for c in frame.columns if c != "decision"]
    schema = make_schema(
        frame,
        dict.fromkeys(features, Role.CATEGORICAL),
        target="decision",
        task="classification",
    )
    X, y = frame[features], frame["decision"]
    model = Pipeline(
        [
            ("prep", build_preprocessor(schema)),
            ("model", LogisticRegression(max_iter=2000)),
        ]
    )
    scores = cross_val_score(model, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0))
    assert scores.mean() >= 0.85

    prep = build_preprocessor(schema)
    out = prep.fit_transform(X, y)
    names = list(prep.get_feature_names_out())
    expected_width = sum(int(frame[c].nunique()) for c in features)
    assert out.shape == (len(frame), expected_width)
    assert set(np.unique(out)) == {0.0, 1.0}
    np.testing.assert_array_equal(out.sum(axis=1), len(features))
    assert "cat_onehot__safety_high" in names
    assert all(name.startswith("cat_onehot__") for name in names)

    unseen = X.head(1).assign(safety="extreme")
    row = prep.transform(unseen)
    safety = [i for i, name in enumerate(names) if name.startswith("cat_onehot__safety_")]
    np.testing.assert_array_equal(row[0, safety], 0.0)


# --------------------------------------------------------------------------
# high-cardinality categoricals: target + frequency encoding
# --------------------------------------------------------------------------


def _high_cardinality_frame(n_rows: int = 3000, n_levels: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    levels = np.array([f"city_{i:03d}" for i in range(n_levels)])
    effect = dict(zip(levels, rng.normal(0.0, 2.0, n_levels), strict=True))
    city = rng.choice(levels, size=n_rows)
    noise = rng.normal(0.0, 0.5, n_rows)
    frame = pd.DataFrame(
        {
            "city": city,
            "x": rng.normal(size=n_rows),
        }
    )
    signal = np.array([effect[c] for c in city])
    frame["amount"] = signal + 0.5 * frame["x"] + noise
    frame["band"] = pd.cut(signal, [-np.inf, -1.0, 1.0, np.inf], labels=["low", "mid", "high"])
    frame["band"] = frame["band"].astype(str)
    frame.loc[frame.index[:30], "city"] = None
    return frame


def test_high_cardinality_regression_uses_target_encoding() -> None:
    frame = _high_cardinality_frame()
    roles = {"city": Role.CATEGORICAL, "x": Role.NUMERIC}
    schema = make_schema(frame, roles, target="amount", task="regression")
    assert schema["city"].n_unique > 20
    X, y = frame[["city", "x"]], frame["amount"]

    model = Pipeline([("prep", build_preprocessor(schema, seed=1)), ("model", Ridge())])
    scores = cross_val_score(model, X, y, cv=KFold(5, shuffle=True, random_state=0), scoring="r2")
    assert scores.mean() >= 0.6

    prep = build_preprocessor(schema)
    out = prep.fit_transform(X, y)
    names = list(prep.get_feature_names_out())
    assert names == ["num__x", "cat_target__city", "cat_freq__city_freq"]
    assert out.shape == (len(frame), 3)

    new = pd.DataFrame({"city": ["nowhere", None, "city_001"], "x": [0.0, np.nan, 1.0]})
    encoded = prep.transform(new)
    assert np.isfinite(encoded).all()
    encoder = prep.named_transformers_["cat_target"].named_steps["target"]
    assert encoded[0, 1] == pytest.approx(encoder.target_mean_)  # unseen → overall mean
    assert encoded[0, 2] == 0.0  # unseen → frequency 0
    assert encoded[1, 2] == pytest.approx(30 / len(frame))  # missing is its own category


def test_high_cardinality_multiclass_target_encoding() -> None:
    frame = _high_cardinality_frame()
    roles = {"city": Role.CATEGORICAL, "x": Role.NUMERIC}
    schema = make_schema(frame, roles, target="band", task="classification")
    X, y = frame[["city", "x"]], frame["band"]

    prep = build_preprocessor(schema)
    out = prep.fit_transform(X, y)
    names = list(prep.get_feature_names_out())
    target_names = [name for name in names if name.startswith("cat_target__")]
    assert sorted(target_names) == [
        "cat_target__city_high",
        "cat_target__city_low",
        "cat_target__city_mid",
    ]
    assert out.shape == (len(frame), 5)

    model = Pipeline(
        [("prep", build_preprocessor(schema)), ("model", LogisticRegression(max_iter=2000))]
    )
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    scores = cross_val_score(model, X, y, cv=cv)
    baseline = y.value_counts(normalize=True).max()
    assert scores.mean() >= baseline + 0.2


def test_onehot_threshold_is_configurable() -> None:
    frame = _high_cardinality_frame()
    schema = make_schema(frame, {"city": Role.CATEGORICAL}, target="amount", task="regression")
    prep = build_preprocessor(schema, onehot_max_categories=500)
    prep.fit(frame[["city"]], frame["amount"])
    assert list(prep.named_transformers_) == ["cat_onehot"]


def test_high_cardinality_native_categorical_needs_no_target() -> None:
    frame = _high_cardinality_frame()
    schema = make_schema(frame, {"city": Role.CATEGORICAL, "x": Role.NUMERIC})
    prep = build_preprocessor(schema, native_categorical=True)
    out = prep.fit_transform(frame[["city", "x"]])
    codes = out[:, list(prep.get_feature_names_out()).index("cat_ordinal__city")]
    assert codes.min() == 0
    assert codes.max() == frame["city"].nunique()  # 150 cities + the missing marker
    np.testing.assert_array_equal(codes, codes.round())


# --------------------------------------------------------------------------
# datetime
# --------------------------------------------------------------------------


def test_datetime_column_in_preprocessor() -> None:
    rng = np.random.default_rng(0)
    n_rows = 200
    stamps = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, n_rows), "D")
    when = stamps.strftime("%Y-%m-%d %H:%M").to_numpy(dtype=object)
    when[0] = "2022-03-04 15:30"
    when[1] = "not a date"
    when[2] = None
    frame = pd.DataFrame(
        {
            "when": when,
            "day": stamps.strftime("%Y-%m-%d"),
            "value": rng.normal(size=n_rows),
        }
    )
    frame["when"] = frame["when"].astype("str")
    roles = {"when": Role.DATETIME, "day": Role.DATETIME, "value": Role.NUMERIC}
    schema = make_schema(frame, roles)
    prep = build_preprocessor(schema)
    out = prep.fit_transform(frame)
    names = list(prep.get_feature_names_out())
    assert names[1:] == [
        "dt__when_year",
        "dt__when_month",
        "dt__when_day",
        "dt__when_dayofweek",
        "dt__when_hour",
        "dt__when_dayofyear",
        "dt__when_epoch_days",
        "dt__day_year",
        "dt__day_month",
        "dt__day_day",
        "dt__day_dayofweek",
        "dt__day_dayofyear",
        "dt__day_epoch_days",
    ]
    assert not np.isnan(out).any()
    first = dict(zip(names, out[0], strict=True))
    assert first["dt__when_year"] == 2022
    assert first["dt__when_month"] == 3
    assert first["dt__when_day"] == 4
    assert first["dt__when_dayofweek"] == 4  # a Friday
    assert first["dt__when_hour"] == 15
    assert first["dt__when_dayofyear"] == 63
    expected_days = (pd.Timestamp("2022-03-04 15:30") - pd.Timestamp("1970-01-01")).total_seconds()
    assert first["dt__when_epoch_days"] == pytest.approx(expected_days / 86400)
    # unparseable and missing values are imputed with the training median
    medians = np.nanmedian(DatetimeFeatures().fit_transform(frame[["when"]]), axis=0)
    np.testing.assert_allclose(out[1, 1:8], medians)
    np.testing.assert_allclose(out[2, 1:8], medians)

    later = pd.DataFrame({"value": [1.0], "day": [pd.NA], "when": ["garbage"]})
    assert np.isfinite(prep.transform(later)).all()


def test_datetime_features_parsing() -> None:
    frame = pd.DataFrame(
        {
            "iso": ["2020-01-01", "2020-02-29", None, "junk"],
            "tz": [
                "2020-01-01T12:00:00+02:00",
                "2020-01-01T10:00:00Z",
                "2020-01-01 10:00",
                pd.NA,
            ],
            "typed": pd.to_datetime(["2020-01-01", None, "2021-06-15", "2021-06-15"]),
            "aware": pd.to_datetime(["2020-01-01 00:00"] * 4).tz_localize("Europe/Paris"),
        }
    )
    transformer = DatetimeFeatures()
    assert transformer.fit(frame) is transformer
    out = transformer.transform(frame)
    names = list(transformer.get_feature_names_out())
    assert out.shape == (4, len(names))
    assert "iso_hour" not in names
    assert "typed_hour" not in names
    assert "tz_hour" in names
    assert "aware_hour" in names  # midnight in Paris is 23:00 UTC
    table = pd.DataFrame(out, columns=names)
    assert table["iso_dayofyear"].tolist()[:2] == [1.0, 60.0]
    assert table["iso_year"].isna().tolist() == [False, False, True, True]
    # time zones are converted to UTC; naive values are taken as UTC
    assert table["tz_hour"].tolist()[:3] == [10.0, 10.0, 10.0]
    assert np.isnan(table["tz_hour"].iloc[3])
    assert table["typed_year"].tolist()[2] == 2021
    assert table["aware_hour"].tolist() == [23.0] * 4
    assert table["aware_day"].tolist() == [31.0] * 4


def test_datetime_features_parses_mixed_formats() -> None:
    frame = pd.DataFrame({"d": ["2020-01-31", "31 March 2021", "2020/05/06", "nope"]})
    out = DatetimeFeatures().fit_transform(frame)
    years = out[:, 0]
    assert years[:3].tolist() == [2020.0, 2021.0, 2020.0]
    assert np.isnan(years[3])


def test_datetime_features_include_hour_parameter() -> None:
    frame = pd.DataFrame({"d": ["2020-01-01", "2020-01-02"]})
    names = DatetimeFeatures(include_hour=True).fit(frame).get_feature_names_out()
    assert "d_hour" in names
    names = DatetimeFeatures(include_hour=False).fit(frame).get_feature_names_out()
    assert "d_hour" not in names


def test_datetime_features_estimator_contract() -> None:
    transformer = DatetimeFeatures(include_hour=True)
    assert transformer.get_params() == {"include_hour": True}
    cloned = clone(transformer)
    assert cloned is not transformer
    assert cloned.get_params() == transformer.get_params()
    assert not hasattr(cloned, "has_time_")
    frame = pd.DataFrame({"d": ["2020-01-01"]})
    with pytest.raises(NotFittedError):
        cloned.transform(frame)
    with pytest.raises(NotFittedError):
        cloned.get_feature_names_out()
    assert cloned.fit(frame) is cloned
    assert hasattr(cloned, "has_time_")
    assert list(cloned.feature_names_in_) == ["d"]
    with pytest.raises(ValueError, match="feature names should match"):
        cloned.transform(pd.DataFrame({"d": ["2020-01-01"], "e": ["2020-01-01"]}))


# scikit-learn's generic estimator checks (numeric arrays, object arrays, NaN,
# pickling, cloning, fit idempotence, feature-name handling ...) all apply:
# date-time parsing accepts any 2-D input.
@parametrize_with_checks([DatetimeFeatures(), BooleanEncoder(), FrequencyEncoder(), RangeClipper()])
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


# --------------------------------------------------------------------------
# boolean, numeric and text details
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([True, False, None, True], [1.0, 0.0, np.nan, 1.0]),
        (["yes", "no", "YES", pd.NA], [1.0, 0.0, 1.0, np.nan]),
        (["true", "false", "False", None], [1.0, 0.0, 0.0, np.nan]),
        ([1, 0, 0, 1], [1.0, 0.0, 0.0, 1.0]),
        ([1.0, 0.0, np.nan, 1.0], [1.0, 0.0, np.nan, 1.0]),
        (["1", "0", "0", "1"], [1.0, 0.0, 0.0, 1.0]),
        (["male", "female", "male", None], [1.0, 0.0, 1.0, np.nan]),
        (["B", "A", "A", "B"], [1.0, 0.0, 0.0, 1.0]),
    ],
)
def test_boolean_encoder(values: list[Any], expected: list[float]) -> None:
    frame = pd.DataFrame({"b": pd.Series(values, dtype=object)})
    out = BooleanEncoder().fit_transform(frame)
    np.testing.assert_array_equal(out[:, 0], expected)


def test_boolean_encoder_uses_schema_categories_and_unknowns_are_nan() -> None:
    encoder = BooleanEncoder(categories=[("Y", "N")])
    encoder.fit(pd.DataFrame({"b": ["Y", "Y"]}))  # "N" only known from the schema
    out = encoder.transform(pd.DataFrame({"b": ["N", "Y", "maybe", None]}))
    np.testing.assert_array_equal(out[:, 0], [0.0, 1.0, np.nan, np.nan])
    # a column whose two values are not boolean words: sorted second value is 1
    encoder = BooleanEncoder(categories=[("red", "blue")]).fit(pd.DataFrame({"b": ["red"]}))
    out = encoder.transform(pd.DataFrame({"b": ["blue", "red", "green"]}))
    np.testing.assert_array_equal(out[:, 0], [0.0, 1.0, np.nan])


def test_boolean_column_imputed_with_indicator() -> None:
    frame = pd.DataFrame({"flag": ["yes", "no", None, "yes", "maybe"], "x": [1.0, 2, 3, 4, 5]})
    schema = make_schema(frame, {"flag": Role.BOOLEAN, "x": Role.NUMERIC})
    prep = build_preprocessor(schema)
    out = prep.fit_transform(frame)
    names = list(prep.get_feature_names_out())
    assert names == ["num__x", "bool__flag", "bool__missingindicator_flag"]
    np.testing.assert_array_equal(out[:, 1], [1.0, 0.0, 1.0, 1.0, 1.0])  # "maybe" → NaN → mode
    np.testing.assert_array_equal(out[:, 2], [0.0, 0.0, 1.0, 0.0, 1.0])


def test_numeric_columns_with_nullable_and_text_values() -> None:
    frame = pd.DataFrame(
        {
            "i": pd.array([1, None, 3, 4], dtype="Int64"),
            "f": pd.array([1.5, 2.5, None, 4.5], dtype="Float64"),
            "s": pd.Series(["1", " ", "3.5", None], dtype="str"),
            "b": [True, False, True, False],
        }
    )
    roles = dict.fromkeys(frame.columns, Role.NUMERIC)
    prep = build_preprocessor(make_schema(frame, roles))
    out = prep.fit_transform(frame)
    names = list(prep.get_feature_names_out())
    table = pd.DataFrame(out, columns=names)
    assert table["num__i"].tolist() == [1.0, 3.0, 3.0, 4.0]
    assert table["num__f"].tolist() == [1.5, 2.5, 2.5, 4.5]
    assert table["num__s"].tolist() == [1.0, 2.25, 3.5, 2.25]
    assert table["num__b"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert table["num__missingindicator_s"].tolist() == [0.0, 1.0, 0.0, 1.0]


def test_to_float_frame_and_category_strings() -> None:
    frame = pd.DataFrame({"a": pd.Series([1, "2", pd.NA, "x"], dtype=object)})
    np.testing.assert_array_equal(to_float_frame(frame)["a"], [1.0, 2.0, np.nan, np.nan])
    mixed = pd.DataFrame({"a": pd.Series([1, 1.0, "1", None, np.nan, pd.NA, True], dtype=object)})
    assert to_category_strings(mixed)[:, 0].tolist() == [
        "1",
        "1",
        "1",
        MISSING_CATEGORY,
        MISSING_CATEGORY,
        MISSING_CATEGORY,
        "True",
    ]


def test_category_strings_of_a_few_rows_match_those_of_the_whole_table() -> None:
    """A request's few rows are cast cell by cell, a table column by column:
    both give every value the same string."""
    frame = load_dataset("titanic")
    frame["Mixed"] = pd.Series([1, 1.0, "1", None, True, pd.NA, 2.5] * 200, dtype=object)[
        : len(frame)
    ].to_numpy()
    frame["Nullable"] = frame["Age"].round().astype("Int64")
    frame["When"] = pd.to_datetime("2020-01-01") + pd.to_timedelta(frame["Fare"], unit="D")
    whole = to_category_strings(frame)
    for start in range(0, len(frame), 7):
        np.testing.assert_array_equal(
            to_category_strings(frame.iloc[start : start + 7]), whole[start : start + 7]
        )


def test_mixed_type_categorical_column() -> None:
    frame = pd.DataFrame(
        {"code": pd.Series([1, "1", 2.0, "b", None, "b", 2, "a"] * 5, dtype=object)}
    )
    frame["y"] = np.arange(len(frame)) % 2
    schema = make_schema(frame, {"code": Role.CATEGORICAL}, target="y", task="classification")
    prep = build_preprocessor(schema)
    prep.fit(frame[["code"]], frame["y"])
    names = list(prep.get_feature_names_out())
    assert names == [
        "cat_onehot__code_1",
        "cat_onehot__code_2",
        "cat_onehot__code___missing__",
        "cat_onehot__code_a",
        "cat_onehot__code_b",
    ]


def test_text_column_without_vocabulary() -> None:
    frame = pd.DataFrame({"note": [None, "", None, "unique"], "x": [1.0, 2.0, 3.0, 4.0]})
    schema = make_schema(frame, {"note": Role.TEXT, "x": Role.NUMERIC})
    prep = build_preprocessor(schema)
    out = prep.fit_transform(frame)
    assert out.shape == (4, 1)
    assert list(prep.get_feature_names_out()) == ["num__x"]
    assert prep.transform(frame.assign(note="something new")).shape == (4, 1)


def test_text_transformer_names_are_unique_and_valid() -> None:
    frame = pd.DataFrame(
        {
            "a b": ["red apple", "green apple", "red pear", None],
            "a__b": ["one two", "one three", "two three", "one"],
        }
    )
    schema = make_schema(frame, {"a b": Role.TEXT, "a__b": Role.TEXT})
    prep = build_preprocessor(schema)
    prep.fit(frame)
    assert list(prep.named_transformers_) == ["text_a_b", "text_a_b_2"]
    names = list(prep.get_feature_names_out())
    assert "text_a_b__apple" in names
    assert "text_a_b_2__one" in names


def test_schema_without_features_is_rejected() -> None:
    frame = pd.DataFrame({"id": [1, 2, 3]})
    with pytest.raises(DataError, match="no feature column"):
        build_preprocessor(make_schema(frame, {"id": Role.ID}))
    with pytest.raises(DataError, match="onehot_max_categories"):
        build_preprocessor(make_schema(frame, {"id": Role.NUMERIC}), onehot_max_categories=0)


def test_boolean_encoder_with_pandas_dtypes() -> None:
    frame = pd.DataFrame(
        {
            "nullable": pd.array([True, None, False, True], dtype="boolean"),
            "category": pd.Series([" yes", "no ", None, "yes"], dtype="category"),
        }
    )
    out = BooleanEncoder().fit_transform(frame)
    np.testing.assert_array_equal(out[:, 0], [1.0, np.nan, 0.0, 1.0])
    np.testing.assert_array_equal(out[:, 1], [1.0, 0.0, np.nan, 1.0])


def test_categories_are_stripped_and_category_dtype_works() -> None:
    frame = pd.DataFrame({"c": pd.Series(["a", "b ", " a", None] * 5, dtype="category")})
    frame["y"] = np.arange(len(frame)) % 2
    schema = make_schema(frame, {"c": Role.CATEGORICAL}, target="y", task="classification")
    prep = build_preprocessor(schema)
    prep.fit(frame[["c"]], frame["y"])
    assert list(prep.get_feature_names_out()) == [
        "cat_onehot__c___missing__",
        "cat_onehot__c_a",
        "cat_onehot__c_b",
    ]
    row = prep.transform(pd.DataFrame({"c": ["b"]}))
    np.testing.assert_array_equal(row, [[0.0, 0.0, 1.0]])


def test_no_deprecation_or_future_warnings() -> None:
    """The project filters these out in pytest, so check our own calls here."""
    frame = _high_cardinality_frame(n_rows=600, n_levels=40)
    frame["when"] = pd.date_range("2020-01-01", periods=len(frame), freq="7h").astype(str)
    frame["flag"] = np.where(frame["x"] > 0, "yes", "no")
    frame["note"] = np.where(frame["x"] > 0, "big value", "small value")
    roles = {
        "city": Role.CATEGORICAL,
        "band": Role.CATEGORICAL,
        "x": Role.NUMERIC,
        "when": Role.DATETIME,
        "flag": Role.BOOLEAN,
        "note": Role.TEXT,
    }
    for task, target in (("regression", "amount"), ("classification", "band")):
        features = {k: v for k, v in roles.items() if k != target}
        schema = make_schema(frame, features, target=target, task=task)
        X, y = frame[list(features)], frame[target]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for native in (False, True):
                prep = build_preprocessor(schema, scale=True, native_categorical=native)
                prep.fit_transform(X, y)
                prep.transform(X)
                prep.get_feature_names_out()


# --------------------------------------------------------------------------
# range clipping and category codes
# --------------------------------------------------------------------------


def test_range_clipper_keeps_values_inside_the_training_range() -> None:
    housing = read_dataset("california_housing.csv").head(500)
    columns = ["median_income", "housing_median_age"]
    clipper = RangeClipper().fit(housing[columns])
    far = pd.DataFrame({"median_income": [1e6, -1e6, np.nan], "housing_median_age": [5.0] * 3})
    out = clipper.transform(far)
    assert out[0, 0] == housing["median_income"].max()
    assert out[1, 0] == housing["median_income"].min()
    assert np.isnan(out[2, 0])  # missing values are the imputer's business
    assert (out[:, 1] == 5.0).all()
    inside = clipper.transform(housing[columns])
    np.testing.assert_array_equal(inside, housing[columns].to_numpy(dtype=float))


def test_scaled_numbers_are_clipped_before_scaling(
    titanic: tuple[pd.DataFrame, pd.Series, Schema],
) -> None:
    X, y, schema = titanic
    prep = build_preprocessor(schema, scale=True).fit(X, y)
    steps = dict(prep.named_transformers_["num"].steps)
    assert isinstance(steps["clip"], RangeClipper)
    extreme = X.head(3).assign(Fare=1e9)
    names = list(prep.get_feature_names_out())
    fare = prep.transform(extreme)[:, names.index("num__Fare")]
    assert fare.max() == pytest.approx(prep.transform(X)[:, names.index("num__Fare")].max())


def test_category_codes_give_integer_category_columns(
    titanic: tuple[pd.DataFrame, pd.Series, Schema],
) -> None:
    X, y, schema = titanic
    categorical = [n for n in schema.feature_names if schema[n].role == Role.CATEGORICAL]
    assert categorical
    columns = [f"cat_ordinal__{name}" for name in categorical]
    codes = CategoryCodes(build_preprocessor(schema, native_categorical=True), columns)
    frame = codes.fit_transform(X, y)
    assert list(frame.columns) == list(codes.get_feature_names_out())
    for name in columns:
        assert frame[name].dtype == np.int64
        assert frame[name].min() >= -1
    unseen = X.head(5).assign(**{categorical[0]: "never seen in training"})
    assert (codes.transform(unseen)[columns[0]] == -1).all()


@pytest.mark.parametrize(
    ("target", "task", "target_type", "folds"),
    [
        ("band", "classification", "auto", StratifiedKFold),
        ("amount", "regression", "continuous", KFold),
        ("amount", None, "auto", KFold),
    ],
)
def test_target_encoder_follows_the_task(
    target: str, task: str | None, target_type: str, folds: type
) -> None:
    # Classes keep their shares in every fold of the cross-fitting; a
    # numeric target is encoded as continuous.
    frame = _high_cardinality_frame()
    schema = make_schema(frame, {"city": Role.CATEGORICAL}, target=target, task=task)
    encoder = build_preprocessor(schema, seed=3).transformers[0][1].named_steps["target"]
    assert encoder.target_type == target_type
    if tuple(int(part) for part in sklearn.__version__.split(".")[:2]) >= (1, 9):
        assert type(encoder.cv) is folds
        assert encoder.cv.random_state == 3
