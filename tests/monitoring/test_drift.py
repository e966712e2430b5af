"""Drift on real data: statistics that agree with scipy, shifted splits
flagged on the right features, unshifted splits not flagged (false-alarm rate
measured over many random splits), and the per-column checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from cairn.data.schema import Schema, infer_schema
from cairn.exceptions import DataError
from cairn.monitoring import build_reference, correct_p_values, drift
from cairn.monitoring.drift import SEVERITY_CAP
from cairn.spec import MonitoringSection
from tests.conftest import load_dataset

ALPHA = MonitoringSection().significance


@pytest.fixture(scope="module")
def housing() -> tuple[pd.DataFrame, Schema]:
    frame = load_dataset("california_housing")
    schema = infer_schema(frame, target="median_house_value")
    return frame.drop(columns="median_house_value"), schema


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, Schema]:
    frame = load_dataset("adult")
    schema = infer_schema(frame, target="class")
    return frame.drop(columns="class"), schema


# ---------------------------------------------------------------- statistics


def test_wasserstein_and_ks_match_scipy(housing: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = housing
    west, east = frame[frame.longitude < -119.5], frame[frame.longitude >= -119.5]
    report = drift(east, build_reference(west, schema))
    for name in ("longitude", "latitude", "population", "median_income", "housing_median_age"):
        a = west[name].dropna().to_numpy()
        b = east[name].dropna().to_numpy()
        scores = report.feature(name).scores
        expected_w = stats.wasserstein_distance(a, b) / a.std()
        assert scores["wasserstein"] == pytest.approx(expected_w, rel=0.02), name
        expected_ks = stats.ks_2samp(a, b).statistic
        # Exact at the reference's cut points: never above scipy, at most one bin below.
        assert expected_ks - 1 / 64 <= scores["ks"] <= expected_ks + 1e-12, name


def test_jensen_shannon_matches_scipy_on_categories(adult: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = adult
    young, old = frame[frame.age < 40], frame[frame.age >= 40]
    result = drift(old, build_reference(young, schema)).feature("marital_status")
    ref = young["marital_status"].value_counts(normalize=True)
    cur = old["marital_status"].value_counts(normalize=True).reindex(ref.index, fill_value=0)
    expected = jensenshannon(ref.to_numpy(), cur.to_numpy(), base=2)
    assert result.scores["jensenshannon"] == pytest.approx(expected, rel=1e-6)
    table = pd.concat(
        [young["marital_status"].value_counts(), old["marital_status"].value_counts()], axis=1
    ).fillna(0)
    chi2 = stats.chi2_contingency(table.to_numpy().T, correction=False)
    assert result.scores["chi2"] == pytest.approx(chi2.statistic, rel=1e-6)


def test_p_value_corrections() -> None:
    p = [0.01, 0.04, 0.03, 0.5]
    np.testing.assert_allclose(correct_p_values(p, "bonferroni"), [0.04, 0.16, 0.12, 1.0])
    np.testing.assert_allclose(correct_p_values(p, "holm"), [0.04, 0.09, 0.09, 0.5])
    np.testing.assert_allclose(
        correct_p_values(p, "fdr_bh"), stats.false_discovery_control(p, method="bh")
    )
    np.testing.assert_allclose(correct_p_values(p, "none"), p)
    with pytest.raises(ValueError, match="unknown correction"):
        correct_p_values(p, "sidak")


# ------------------------------------------------------------- shifted splits


def test_housing_split_by_longitude_is_flagged_on_location(
    housing: tuple[pd.DataFrame, Schema],
) -> None:
    frame, schema = housing
    west, east = frame[frame.longitude < -119.5], frame[frame.longitude >= -119.5]
    reference = build_reference(west, schema)
    for batch in (east, east.sample(400, random_state=0)):  # distance and p-value regimes
        report = drift(batch, reference)
        assert report.features[0].name == "longitude"
        assert {"longitude", "latitude", "ocean_proximity"} <= set(report.drifted)
        kinds = {(f.kind, f.column) for f in report.findings}
        assert ("out_of_range", "longitude") in kinds
    # All rows: most features move with the region, so the dataset has drifted.
    assert drift(east, reference).dataset_drift


def test_adult_split_by_age_is_flagged_on_age(adult: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = adult
    young, old = frame[frame.age < 40], frame[frame.age >= 40]
    reference = build_reference(young, schema)
    for batch, test in ((old.sample(5000, random_state=0), "wasserstein"),
                        (old.sample(500, random_state=0), "ks")):  # fmt: skip
        report = drift(batch, reference)
        age = report.feature("age")
        assert age.test == test and age.drifted
        assert report.features[0].name == "age"
        # Marital status and relationship move with age; race barely does.
        assert {"marital_status", "relationship"} <= set(report.drifted)
        assert not report.feature("race").drifted


def test_unshifted_random_splits_rarely_alarm(
    housing: tuple[pd.DataFrame, Schema], adult: tuple[pd.DataFrame, Schema]
) -> None:
    """False-alarm rate over 60 random splits per dataset and batch size, in
    both regimes (p-value tests at 400 rows, distances at 4,000)."""
    splits = 60
    for frame, schema in (housing, adult):
        for size in (400, 4000):
            dataset_alarms = any_feature = flagged = tested = 0
            for seed in range(splits):
                order = np.random.default_rng(seed).permutation(len(frame))
                current = frame.iloc[order[:size]]
                report = drift(current, build_reference(frame.iloc[order[size:]], schema))
                dataset_alarms += report.dataset_drift
                any_feature += bool(report.drifted)
                flagged += len(report.drifted)
                tested += len(report.features)
            assert dataset_alarms / splits <= ALPHA
            assert flagged / tested <= ALPHA
            # With the FDR correction the chance that any feature is flagged under
            # no shift is about ALPHA; allow for the noise of 60 splits.
            assert any_feature / splits <= 2 * ALPHA


# ------------------------------------------------------------ column checks


def test_schema_changes_and_column_checks(adult: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = adult
    reference = build_reference(frame.iloc[:20000], schema)
    current = frame.iloc[20000:].copy()
    current = current.drop(columns=["education"])
    current["hours_per_week"] = "forty"  # retyped: text where numbers were
    current.loc[current.index[:2000], "occupation"] = np.nan  # missing-rate jump
    current.loc[current.index[:300], "workclass"] = "Gig-economy"  # a new category
    current["session"] = 1  # a column the model does not know
    report = drift(current, reference)
    by_kind = {(f.kind, f.column): f for f in report.findings}
    assert by_kind["missing_column", "education"].severity == "error"
    assert by_kind["retyped", "hours_per_week"].severity == "error"
    assert by_kind["missing_rate", "occupation"].severity == "warning"
    new = by_kind["new_categories", "workclass"]
    assert "Gig-economy" in new.message and new.severity == "warning"
    assert by_kind["new_column", "session"].severity == "info"
    assert {f.column for f in report.schema_changes} == {"education", "hours_per_week"}
    assert report.feature("hours_per_week").drifted


def test_expected_extra_columns_are_not_reported(adult: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = adult
    current = frame.iloc[:500].assign(request_id=range(500))
    report = drift(current, build_reference(frame, schema), expected_extra=["request_id"])
    assert not [f for f in report.findings if f.kind == "new_column"]


def test_settings_choose_the_tests(housing: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = housing
    reference = build_reference(frame.iloc[5000:], schema)
    batch = frame.iloc[:2000]
    report = drift(batch, reference, settings=MonitoringSection(stat_test_max_rows=5000))
    assert {f.test for f in report.features} == {"ks", "chi2"}
    assert all(f.p_adjusted is not None for f in report.features)
    report = drift(batch, reference)
    assert {f.test for f in report.features} == {"wasserstein", "jensenshannon"}
    psi = drift(batch, reference, settings=MonitoringSection(numeric_test="psi"))
    numeric = [f for f in psi.features if f.kind == "numeric"]
    assert {f.test for f in numeric} == {"psi"}
    assert all(f.statistic == f.scores["psi"] for f in numeric)


def test_drift_share_threshold_and_weights(housing: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = housing
    west, east = frame[frame.longitude < -119.5], frame[frame.longitude >= -119.5]
    weights = {name: 0.0 for name in schema.feature_names}
    weights["median_income"] = 1.0  # the only feature that matters does not drift much
    reference = build_reference(west, schema, importance=weights, importance_method="test")
    report = drift(east, reference)
    assert not report.feature("median_income").drifted
    assert report.drift_share == 0.0 and not report.dataset_drift
    assert report.drift_share_unweighted > 0.5
    unweighted = drift(east, reference, settings=MonitoringSection(weight_by_importance=False))
    assert unweighted.dataset_drift


def test_prediction_drift_is_tested_on_the_outputs(housing: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = housing
    frame = frame.sample(frac=1.0, random_state=0)  # the file is ordered by region
    outputs = pd.DataFrame({"prediction": frame["median_income"].to_numpy() * 2})
    reference = build_reference(frame.iloc[:10000], schema, outputs=outputs.iloc[:10000])
    same = drift(frame.iloc[10000:], reference, outputs=outputs.iloc[10000:])
    assert not same.prediction_drift
    shifted = drift(frame.iloc[10000:], reference, outputs=outputs.iloc[10000:] * 1.5)
    assert shifted.prediction_drift and shifted.outputs[0].drifted


def test_empty_batch_is_an_error(housing: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = housing
    with pytest.raises(DataError, match="no rows"):
        drift(frame.iloc[:0], build_reference(frame, schema))


def test_report_to_dict_is_json_ready(housing: tuple[pd.DataFrame, Schema]) -> None:
    import json

    frame, schema = housing
    report = drift(frame.iloc[:300], build_reference(frame.iloc[300:], schema))
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["n_current"] == 300
    assert {f["name"] for f in data["features"]} == set(schema.feature_names)
    assert "drift" in report.summary()


def test_one_heavily_drifted_important_feature_fails_the_dataset(
    housing: tuple[pd.DataFrame, Schema],
) -> None:
    """A feature with 28% of the importance moving 0.78 of a standard
    deviation (7.8 times the Wasserstein threshold) is dataset drift, though
    it is less than half of the importance; a mild move of it is not."""
    frame, schema = housing
    frame = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    reference_rows, current = frame.iloc[:10000], frame.iloc[10000:13000].copy()
    others = [name for name in schema.feature_names if name != "median_income"]
    weights = {name: 0.72 / len(others) for name in others}
    weights["median_income"] = 0.28
    reference = build_reference(reference_rows, schema, importance=weights, importance_method="t")
    std = reference_rows["median_income"].std(ddof=0)
    assert not drift(current, reference).dataset_drift  # an i.i.d. batch

    heavy = drift(current.assign(median_income=current["median_income"] + 0.78 * std), reference)
    income = heavy.feature("median_income")
    assert income.statistic == pytest.approx(0.78, abs=0.03)  # normed Wasserstein
    assert heavy.drifted == ["median_income"] and heavy.drift_share == pytest.approx(0.28)
    assert income.weight == pytest.approx(0.28 * SEVERITY_CAP)
    assert heavy.dataset_drift and heavy.drift_score >= MonitoringSection().drift_share
    assert "dataset drift" in heavy.summary()

    mild = drift(current.assign(median_income=current["median_income"] + 0.15 * std), reference)
    assert mild.drifted == ["median_income"]
    assert 0.28 <= mild.drift_score < 0.5 and not mild.dataset_drift
