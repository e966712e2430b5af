"""The reference profile: what it keeps of the training data, its JSON round
trip, the sensitivity weights, and the hash check when read from a bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor

from cairn.bundle import save_bundle
from cairn.data.schema import Role, infer_schema
from cairn.exceptions import BundleError
from cairn.monitoring import (
    REFERENCE_FILE,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    build_reference,
    load_reference,
    output_frame,
)
from cairn.monitoring.profiles import UntestedProfile, category_counts, numeric_values
from tests.conftest import load_dataset


@pytest.fixture(scope="module")
def housing() -> pd.DataFrame:
    return load_dataset("california_housing")


def test_numeric_profile_keeps_counts_range_and_missing(housing: pd.DataFrame) -> None:
    schema = infer_schema(housing, target="median_house_value")
    profile = build_reference(housing.drop(columns="median_house_value"), schema)
    bedrooms = profile.feature("total_bedrooms")
    assert isinstance(bedrooms, NumericProfile)
    values = housing["total_bedrooms"]
    assert bedrooms.n_missing == int(values.isna().sum()) == 207
    assert bedrooms.n == int(values.notna().sum())
    assert int(bedrooms.counts.sum()) == bedrooms.n
    # Out-of-range bins are empty in the reference; min and max are exact.
    assert bedrooms.counts[0] == 0 and bedrooms.counts[-1] == 0
    assert bedrooms.minimum == values.min() and bedrooms.maximum == values.max()
    assert bedrooms.sums.sum() == pytest.approx(values.sum())
    assert bedrooms.mean == pytest.approx(values.mean())
    # About DEFAULT_BINS equal-mass bins: no in-range bin holds much more than 1/128.
    assert bedrooms.counts[1:-1].max() / bedrooms.n < 3 / 128


def test_discrete_numbers_get_one_bin_per_value(housing: pd.DataFrame) -> None:
    values, unreadable = numeric_values(housing["housing_median_age"])
    assert unreadable == 0
    profile = NumericProfile.build("housing_median_age", values)
    distinct = np.unique(values)
    assert len(distinct) <= 129
    np.testing.assert_array_equal(profile.cuts[1:], distinct)
    counts = pd.Series(values).value_counts().sort_index().to_numpy()
    np.testing.assert_array_equal(profile.counts[1:-1], counts)


def test_categorical_profile_counts_labels_as_the_schema_writes_them() -> None:
    adult = load_dataset("adult")
    schema = infer_schema(adult, target="class")
    profile = build_reference(adult.drop(columns="class"), schema)
    workclass = profile.feature("workclass")
    assert isinstance(workclass, CategoricalProfile)
    expected = adult["workclass"].str.strip().value_counts()
    assert workclass.categories[0] == expected.index[0]
    assert dict(zip(workclass.categories, workclass.counts.tolist(), strict=True)) == {
        str(k): int(v) for k, v in expected.items()
    }
    assert workclass.n_missing == int(adult["workclass"].isna().sum())
    assert workclass.complete


def test_category_counts_normalise_only_distinct_values() -> None:
    series = pd.Series(["a", " a", "b", "?", None, "NA", 1.0], dtype=object)
    counts, missing = category_counts(series)
    assert counts == {"a": 2, "b": 1, "1": 1}
    assert missing == 3


def test_pooled_categories_make_the_profile_incomplete() -> None:
    series = pd.Series([f"c{i % 30}" for i in range(300)])
    profile = CategoricalProfile.build("c", series, max_categories=10)
    assert len(profile.categories) == 10
    assert profile.other == 200
    assert not profile.complete


def test_json_round_trip_is_exact(housing: pd.DataFrame, tmp_path: Path) -> None:
    schema = infer_schema(housing, target="median_house_value")
    frame = housing.drop(columns="median_house_value")
    outputs = output_frame(
        housing["median_house_value"].to_numpy(), task="regression", classes=None
    )
    profile = build_reference(frame, schema, outputs=outputs, importance={"longitude": 3.0})
    again = load_reference(profile.save(tmp_path / "reference.json"))
    assert again.names == profile.names
    assert again.importance == profile.importance
    assert again.importance["longitude"] == 1.0  # normalised
    for a, b in zip(profile.features, again.features, strict=True):
        assert type(a) is type(b)
        if isinstance(a, NumericProfile) and isinstance(b, NumericProfile):
            np.testing.assert_array_equal(a.cuts, b.cuts)
            np.testing.assert_array_equal(a.counts, b.counts)
    assert [o.name for o in again.outputs] == ["prediction"]


def test_dates_and_text_are_tracked_for_missing_values_only() -> None:
    frame = pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=40, freq="D").astype(str),
            "x": np.arange(40.0),
            "y": np.arange(40) % 2,
        }
    )
    schema = infer_schema(frame, target="y")
    assert schema["when"].role == Role.DATETIME
    profile = build_reference(frame.drop(columns="y"), schema)
    assert isinstance(profile.feature("when"), UntestedProfile)
    assert "when" not in profile.importance


def test_binary_outputs_keep_one_probability() -> None:
    proba = np.array([[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]])
    outputs = output_frame(proba, task="classification", classes=("no", "yes"))
    assert list(outputs.columns) == ["prediction", "proba_no", "proba_yes"]
    assert outputs["prediction"].tolist() == ["yes", "no", "yes"]
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["no", "yes", "no"]})
    schema = infer_schema(frame, target="y")
    profile = build_reference(frame.drop(columns="y"), schema, outputs=outputs)
    assert [o.name for o in profile.outputs] == ["prediction", "proba_yes"]


def _bundle(tmp_path: Path, profile: ReferenceProfile | None, schema: object) -> Path:
    files = {REFERENCE_FILE: profile.to_json().encode()} if profile is not None else None
    return save_bundle(
        tmp_path / "bundle", DummyRegressor(), schema, {"task": "regression"}, files=files
    )  # type: ignore[arg-type]


def test_bundle_profile_is_hash_checked(housing: pd.DataFrame, tmp_path: Path) -> None:
    schema = infer_schema(housing, target="median_house_value")
    profile = build_reference(housing.drop(columns="median_house_value"), schema)
    bundle = _bundle(tmp_path, profile, schema)
    assert load_reference(bundle).names == profile.names
    path = bundle / REFERENCE_FILE
    data = json.loads(path.read_text())
    data["n_rows"] += 1
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match="does not match the recorded"):
        load_reference(bundle)


def test_bundle_without_profile_says_how_to_get_one(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0]})
    bundle = _bundle(tmp_path, None, infer_schema(frame, target="y"))
    with pytest.raises(BundleError, match=r"no reference profile.*cairn run"):
        load_reference(bundle)


def test_unreadable_profile_file_is_a_bundle_error(tmp_path: Path) -> None:
    path = tmp_path / "reference.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(BundleError, match="unreadable reference profile"):
        load_reference(path)


def test_output_profiles_are_the_outputs_the_task_watches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cairn.tasks import get_task

    penguins = load_dataset("penguins").dropna(subset=["species"])
    schema = infer_schema(penguins, target="species")
    classes = list(schema.classes or ())
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(len(classes)), size=len(penguins))
    outputs = output_frame(proba, task="classification", classes=classes)
    frame = penguins.drop(columns="species")
    watched = {p.name for p in build_reference(frame, schema, outputs=outputs).outputs}
    assert watched == {"prediction", *(f"proba_{c}" for c in classes)}
    kind = type(get_task("classification"))
    monkeypatch.setattr(kind, "monitored_outputs", ("prediction",))
    only = {p.name for p in build_reference(frame, schema, outputs=outputs).outputs}
    assert only == {"prediction"}
