"""The serving graph: every model family and encoding cairn trains becomes one
ONNX graph that agrees with the native pipeline; what cannot be converted, or
does not agree, falls back to the native pipeline with a reason."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from cairn import export
from cairn.bundle import Model
from cairn.data.schema import Schema, infer_schema
from cairn.export import ATOL, RTOL, _verify, export_serving
from cairn.features.preprocess import build_preprocessor
from cairn.models.ensemble import BaggedModel, EnsembleModel, fit_stacker
from cairn.models.target import SmoothedClassifier, vote_count
from cairn.records import RecordAdapter, to_records
from tests.conftest import load_dataset


def _prepare(
    frame: pd.DataFrame, target: str, task: str
) -> tuple[pd.DataFrame, np.ndarray, Schema]:
    schema = infer_schema(frame, target=target, task=task)
    X = frame.drop(columns=[target])
    if task == "regression":
        return X, frame[target].to_numpy(dtype=float), schema
    integer = pd.api.types.is_integer_dtype(frame[target])
    labels = frame[target].map(lambda v: str(int(v)) if integer else str(v))
    classes = tuple(sorted(labels.unique()))
    codes = pd.Categorical(labels, categories=list(classes)).codes.astype(int)
    metadata = {**schema.metadata, "target_dtype": "int" if integer else "string"}
    return X, codes, Schema(schema.columns, target, task, classes, metadata)


def _pipeline(schema: Schema, model: Any, *, ordinal: bool, scale: bool = False) -> Pipeline:
    prep = build_preprocessor(schema, native_categorical=ordinal, scale=scale, seed=0)
    return Pipeline([("prep", prep), ("model", model)])


def _split(name: str, target: str, task: str, rows: int | None = None) -> tuple[Any, ...]:
    frame = load_dataset(name, rows=rows, seed=5)
    X, y, schema = _prepare(frame, target, task)
    cut = int(len(X) * 0.75)
    return X.iloc[:cut], y[:cut], X.iloc[cut:].reset_index(drop=True), schema


def _independent_check(result: Any, estimator: Any, schema: Schema, X_test: pd.DataFrame) -> None:
    """Score the stored graph ourselves and compare with the native pipeline."""
    import onnxruntime as ort

    spec = json.loads(result.files[export.SERVING_FILE])
    session = ort.InferenceSession(
        result.files[export.GRAPH_FILE], providers=["CPUExecutionProvider"]
    )
    records = to_records(X_test)
    fast = session.run(
        [spec["output"]], RecordAdapter(schema, spec["inputs"]).encode(records).feeds
    )
    model = Model(estimator, schema)
    frame = pd.DataFrame.from_records(records, columns=list(X_test.columns))
    native = (
        model.predict_proba(frame).to_numpy()
        if schema.task == "classification"
        else model.predict(frame)
    )
    got = np.asarray(fast[0]).reshape(native.shape)
    np.testing.assert_allclose(got, native, rtol=RTOL, atol=ATOL)
    if schema.task == "classification":
        assert (got.argmax(axis=1) == native.argmax(axis=1)).all()


def _assert_exported(estimator: Any, schema: Schema, X_test: pd.DataFrame) -> Any:
    result = export_serving(estimator, schema, X_test)
    assert result.engine == "onnx", result.reason
    report = result.verification
    assert report["rows"] > len(X_test)  # held-out rows plus probes
    assert report["values_outside_tolerance"] == 0
    assert report["label_mismatches"] == 0
    assert set(result.files) == {export.GRAPH_FILE, export.SERVING_FILE}
    _independent_check(result, estimator, schema, X_test)
    return result


@pytest.fixture(scope="module")
def titanic() -> tuple[Any, ...]:
    return _split("titanic", "Survived", "classification")


@pytest.fixture(scope="module")
def housing() -> tuple[Any, ...]:
    return _split("california_housing", "median_house_value", "regression", rows=1200)


@pytest.fixture(scope="module")
def iris() -> tuple[Any, ...]:
    return _split("iris", "species", "classification")


def test_lightgbm_on_text_boolean_categorical_and_numbers(titanic: tuple[Any, ...]) -> None:
    import lightgbm as lgb

    X, y, X_test, schema = titanic
    roles = {c.name: c.role for c in schema.columns}
    assert {"text", "boolean", "categorical", "numeric"} <= set(roles.values())
    pipe = _pipeline(
        schema, lgb.LGBMClassifier(n_estimators=60, verbose=-1, n_jobs=1), ordinal=True
    )
    result = _assert_exported(pipe.fit(X, y), schema, X_test)
    assert result.verification["max_abs_diff"] < 1e-9  # float64 thresholds: exact splits


def test_linear_with_onehot_target_and_frequency_encodings(titanic: tuple[Any, ...]) -> None:
    X, y, X_test, schema = titanic
    pipe = _pipeline(schema, LogisticRegression(max_iter=2000), ordinal=False, scale=True)
    pipe.fit(X, y)
    kinds = {name for name, _, _ in pipe.named_steps["prep"].transformers_}
    assert {"cat_onehot", "cat_target", "cat_freq"} <= kinds
    _assert_exported(pipe, schema, X_test)


def test_forests_and_catboost(titanic: tuple[Any, ...], housing: tuple[Any, ...]) -> None:
    import catboost as cb

    X, y, X_test, schema = titanic
    forest = _pipeline(
        schema, RandomForestClassifier(n_estimators=25, random_state=0), ordinal=True
    )
    _assert_exported(forest.fit(X, y), schema, X_test)
    boost = _pipeline(
        schema,
        cb.CatBoostClassifier(iterations=40, verbose=0, allow_writing_files=False, thread_count=1),
        ordinal=True,
    )
    _assert_exported(boost.fit(X, y), schema, X_test)
    X, y, X_test, schema = housing
    trees = _pipeline(schema, ExtraTreesRegressor(n_estimators=20, random_state=0), ordinal=True)
    _assert_exported(trees.fit(X, y), schema, X_test)
    regressor = _pipeline(
        schema,
        cb.CatBoostRegressor(iterations=40, verbose=0, allow_writing_files=False, thread_count=1),
        ordinal=True,
    )
    _assert_exported(regressor.fit(X, y), schema, X_test)


def test_multiclass(iris: tuple[Any, ...]) -> None:
    import lightgbm as lgb

    X, y, X_test, schema = iris
    for model in (
        lgb.LGBMClassifier(n_estimators=30, verbose=-1, min_child_samples=5, n_jobs=1),
        RandomForestClassifier(n_estimators=10, random_state=0),
        LogisticRegression(max_iter=2000),
    ):
        _assert_exported(
            _pipeline(schema, model, ordinal=True, scale=True).fit(X, y), schema, X_test
        )


def test_tempered_probabilities_export(iris: tuple[Any, ...], titanic: tuple[Any, ...]) -> None:
    import lightgbm as lgb

    for data, temperature in ((iris, 0.4), (titanic, 2.5)):
        X, y, X_test, schema = data
        member = _pipeline(
            schema, lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1), ordinal=True
        ).fit(X, y)
        single = EnsembleModel([member], [1.0], "classification", temperature=temperature)
        plain = member.predict_proba(X_test)
        scaled = single.predict_proba(X_test)
        assert (scaled.argmax(axis=1) == plain.argmax(axis=1)).all()
        # a temperature below 1 sharpens, above 1 softens
        sharper = scaled.max(axis=1) >= plain.max(axis=1) - 1e-12
        assert sharper.all() if temperature < 1 else not sharper.all()
        _assert_exported(single, schema, X_test)


def test_smoothed_vote_shares_export(iris: tuple[Any, ...], titanic: tuple[Any, ...]) -> None:
    for data, learner in (
        (iris, ExtraTreesClassifier(n_estimators=15, random_state=0)),
        (titanic, RandomForestClassifier(n_estimators=15, random_state=0)),
    ):
        X, y, X_test, schema = data
        member = _pipeline(schema, learner, ordinal=True, scale=True).fit(X, y)
        assert vote_count(member.named_steps["model"]) is not None
        member.steps[-1] = ("model", SmoothedClassifier.around(member.named_steps["model"], y))
        assert (member.predict_proba(X_test) > 0).all()
        _assert_exported(member, schema, X_test)


def test_bags_weighted_and_stacked_ensembles(
    housing: tuple[Any, ...], titanic: tuple[Any, ...]
) -> None:
    import lightgbm as lgb

    X, y, X_test, schema = housing
    folds = np.array_split(np.arange(len(X)), 3)
    bag = BaggedModel(
        [
            _pipeline(
                schema, lgb.LGBMRegressor(n_estimators=40, verbose=-1, n_jobs=1), ordinal=True
            ).fit(
                X.iloc[np.setdiff1d(np.arange(len(X)), fold)],
                y[np.setdiff1d(np.arange(len(X)), fold)],
            )
            for fold in folds
        ],
        "regression",
    )
    linear = _pipeline(schema, Ridge(alpha=1.0), ordinal=False, scale=True).fit(X, y)
    _assert_exported(EnsembleModel([bag, linear], [0.7, 0.3], "regression"), schema, X_test)

    X, y, X_test, schema = titanic
    members = [
        _pipeline(
            schema, lgb.LGBMClassifier(n_estimators=30, verbose=-1, n_jobs=1), ordinal=True
        ).fit(X, y),
        _pipeline(schema, LogisticRegression(max_iter=2000), ordinal=False, scale=True).fit(X, y),
    ]
    outputs = [m.predict_proba(X) for m in members]
    stacker = fit_stacker(outputs, y, "classification", seed=0)
    stacked = EnsembleModel(members, [0.5, 0.5], "classification", stacker=stacker)
    _assert_exported(stacked, schema, X_test)


def test_datetime_columns() -> None:
    rng = np.random.default_rng(0)
    n = 600
    stamps = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 900 * 24, n), unit="h")
    frame = pd.DataFrame(
        {
            "when": stamps.strftime("%Y-%m-%d %H:%M:%S"),
            "day": stamps.strftime("%d/%m/%Y"),
            "x": rng.normal(size=n),
        }
    )
    frame["y"] = frame["x"] + (stamps.hour.to_numpy() > 12) + stamps.month.to_numpy() / 6
    frame.loc[::17, "when"] = None
    X, y, schema = _prepare(frame, "y", "regression")
    assert schema["when"].role == "datetime" and schema["day"].role == "datetime"
    import lightgbm as lgb

    pipe = _pipeline(schema, lgb.LGBMRegressor(n_estimators=50, verbose=-1, n_jobs=1), ordinal=True)
    pipe.fit(X.iloc[:450], y[:450])
    _assert_exported(pipe, schema, X.iloc[450:].reset_index(drop=True))


def test_unconvertible_steps_fall_back_to_native(housing: tuple[Any, ...]) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import StandardScaler

    X, y, X_test, schema = housing
    numeric = [c.name for c in schema.columns if c.role == "numeric"]
    prep = ColumnTransformer([("raw", StandardScaler(), numeric)])
    pipe = Pipeline([("prep", prep), ("model", Ridge())]).fit(X.fillna(0), y)
    result = export_serving(pipe, schema, X_test.fillna(0))
    assert result.engine == "native"
    assert "StandardScaler" in result.reason
    assert set(result.files) == {export.SERVING_FILE}
    spec = json.loads(result.files[export.SERVING_FILE])
    assert spec["engine"] == "native" and spec["reason"] == result.reason
    assert spec["input_ranges"]  # still useful to the server without a graph


def test_a_graph_that_disagrees_is_not_used(
    titanic: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    import lightgbm as lgb

    X, y, X_test, schema = titanic
    pipe = _pipeline(
        schema, lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1), ordinal=True
    )
    pipe.fit(X, y)
    monkeypatch.setattr(_verify, "ATOL", -1.0)  # nothing can agree within a negative margin
    result = export_serving(pipe, schema, X_test)
    assert result.engine == "native"
    assert result.reason.startswith("verification failed")
    assert result.verification["values_outside_tolerance"] > 0


def _search_pipeline(family: str, data: tuple[Any, ...], **params: Any) -> Pipeline:
    """A pipeline as the search builds it (cairn's own learner settings)."""
    from cairn.models.catalog import LEARNERS
    from cairn.models.search import fit_pipeline

    X, y, _, schema = data
    pipe, _ = fit_pipeline(LEARNERS[family], schema, X, y, task=schema.task, seed=0, params=params)
    return pipe


def test_log_scale_regressor_exports(housing: tuple[Any, ...]) -> None:
    pipe = _search_pipeline("lightgbm", housing, log_target=True, n_estimators=60)
    _assert_exported(pipe, housing[3], housing[2])


def test_clipped_linear_model_exports_and_clips(housing: tuple[Any, ...]) -> None:
    X, y, X_test, schema = housing
    pipe = _pipeline(schema, Ridge(), ordinal=False, scale=True).fit(X, y)
    # Rows far outside the training range: the graph clips like the pipeline.
    extreme = X_test.head(20).assign(median_income=X["median_income"].max() * 50)
    _assert_exported(pipe, schema, extreme)
    capped = extreme.assign(median_income=X["median_income"].max())
    np.testing.assert_allclose(pipe.predict(extreme), pipe.predict(capped))


def test_catboost_with_native_categories_serves_natively(titanic: tuple[Any, ...]) -> None:
    pipe = _search_pipeline("catboost", titanic, n_estimators=30, native_categories=True)
    result = export_serving(pipe, titanic[3], titanic[2])
    assert result.engine == "native"
    assert "native categories" in result.reason
