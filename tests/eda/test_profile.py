"""Profile statistics checked against pandas/scipy on real datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from cairn.data.quality import check_and_clean, repair_types
from cairn.eda import MAX_PAIRWISE_COLUMNS, QUALITY_ROWS, Profile, profile
from cairn.exceptions import DataError
from tests.conftest import load_dataset, profiled, wide_frame


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, Profile]:
    frame = load_dataset("adult")
    return frame, profile(frame, target="class", source="adult")


def test_overview_counts_are_exact(adult: tuple[pd.DataFrame, Profile]) -> None:
    frame, result = adult
    assert (result.n_rows, result.n_columns) == frame.shape
    assert result.duplicate_rows == int(frame.duplicated().sum())
    assert result.missing_cells == int(frame.isna().sum().sum())
    assert result.memory_bytes == int(frame.memory_usage(deep=True, index=False).sum())
    # Checks ran on a sample: QUALITY_ROWS random rows plus up to 20 of each class.
    assert result.sampled_quality and QUALITY_ROWS <= result.quality_rows <= QUALITY_ROWS + 40
    assert result.task == "classification"


def test_numeric_statistics_match_pandas(adult: tuple[pd.DataFrame, Profile]) -> None:
    frame, result = adult
    for name in ("age", "fnlwgt", "capital_gain", "hours_per_week"):
        column = result[name]
        values = frame[name].astype(float)
        stats = column.numeric
        assert stats is not None and column.kind == "numeric"
        assert stats.mean == pytest.approx(values.mean())
        assert stats.std == pytest.approx(values.std())
        assert stats.median == pytest.approx(values.median())
        assert stats.quantiles["25%"] == pytest.approx(values.quantile(0.25))
        assert stats.skew == pytest.approx(sps.skew(values), rel=1e-6)
        assert stats.kurtosis == pytest.approx(sps.kurtosis(values), rel=1e-6)
        assert column.n_unique == values.nunique()
        assert sum(stats.histogram.counts) == values.notna().sum()
        q1, q3 = values.quantile(0.25), values.quantile(0.75)
        fence = 1.5 * (q3 - q1)
        assert stats.outliers_iqr == int(((values < q1 - fence) | (values > q3 + fence)).sum())
        z = (values - values.mean()).abs() > 3 * values.std()
        assert stats.outliers_z == int(z.sum())


def test_categorical_top_values_and_missing(adult: tuple[pd.DataFrame, Profile]) -> None:
    frame, result = adult
    column = result["occupation"]
    counts = frame["occupation"].value_counts()
    assert column.kind == "categorical" and column.role == "categorical"
    assert column.missing == int(frame["occupation"].isna().sum())
    assert column.top[0] == (counts.index[0], int(counts.iloc[0]))
    assert [c for _, c in column.top] == counts.head(10).tolist()
    assert column.other_count == int(counts.iloc[10:].sum())
    assert any(a.kind == "missing" for a in column.alerts)


def test_correlations_match_references(adult: tuple[pd.DataFrame, Profile]) -> None:
    frame, result = adult
    corr = result.correlations
    numeric = ["age", "fnlwgt", "education_num", "hours_per_week"]
    assert corr.pearson is not None and corr.spearman is not None
    expected_p = frame[numeric].corr(method="pearson")
    expected_s = frame[numeric].corr(method="spearman")
    for a in numeric:
        for b in numeric:
            assert corr.pearson.loc[a, b] == pytest.approx(expected_p.loc[a, b], abs=1e-9)
            assert corr.spearman.loc[a, b] == pytest.approx(expected_s.loc[a, b], abs=1e-9)
    # Cramér's V (bias-corrected) against scipy's contingency test.
    table = pd.crosstab(frame["relationship"], frame["sex"]).to_numpy()
    chi2 = sps.chi2_contingency(table, correction=False)[0]
    n = table.sum()
    r, k = table.shape
    phi2 = max(0.0, chi2 / n - (r - 1) * (k - 1) / (n - 1))
    rc, kc = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    expected_v = np.sqrt(phi2 / min(rc - 1, kc - 1))
    assert corr.cramers_v is not None
    assert corr.cramers_v.loc["relationship", "sex"] == pytest.approx(expected_v, rel=1e-9)
    # Correlation ratio: education_num is a function of education, so η = 1.
    assert corr.mixed is not None
    assert corr.mixed.loc["education_num", "education"] == pytest.approx(1.0)
    grouped = frame.groupby("sex")["age"]
    between = (grouped.count() * (grouped.mean() - frame["age"].mean()) ** 2).sum()
    total = ((frame["age"] - frame["age"].mean()) ** 2).sum()
    assert corr.mixed.loc["age", "sex"] == pytest.approx(np.sqrt(between / total))


def test_target_relations_cover_every_row(adult: tuple[pd.DataFrame, Profile]) -> None:
    frame, result = adult
    target = result.target
    assert target is not None and target.task == "classification"
    assert dict(target.classes or []) == frame["class"].value_counts().to_dict()
    assert target.relations[0].association >= target.relations[-1].association
    for relation in target.relations:
        assert relation.class_counts is not None
        present = frame[relation.feature].notna().sum()
        assert int(np.sum(relation.class_counts)) == present
    relationship = next(r for r in target.relations if r.feature == "relationship")
    assert relationship.association == pytest.approx(
        result.correlations.mixed.loc["relationship", "class"]  # type: ignore[union-attr]
    )


def test_regression_target_groups_are_quantiles() -> None:
    frame = load_dataset("ames_house_prices")
    result = profiled("ames_house_prices", "SalePrice")
    assert result.task == "regression"
    assert result.target is not None
    quality = next(r for r in result.target.relations if r.feature == "OverallQual")
    assert quality.groups is not None
    assert sum(quality.groups.count) == frame["OverallQual"].notna().sum()
    first = frame.loc[frame["OverallQual"] == frame["OverallQual"].min(), "SalePrice"]
    assert quality.groups.mean[0] == pytest.approx(first.mean())
    assert result.target.relations[0].feature in {"OverallQual", "GrLivArea"}
    assert result["Id"].role == "id"
    assert result.missingness.nullity is not None
    assert result.missingness.rows_with_missing == int(frame.isna().any(axis=1).sum())


def test_telco_repairs_numbers_stored_as_text() -> None:
    frame = load_dataset("telco_churn")
    result = profile(frame, target="Churn", id_columns=["customerID"])
    charges = result["TotalCharges"]
    assert charges.kind == "numeric" and charges.missing == 11
    assert any(f.check == "numeric_text" for f in result.quality.findings)
    repaired, _ = repair_types(frame)
    assert charges.numeric is not None
    assert charges.numeric.mean == pytest.approx(repaired["TotalCharges"].mean())


def test_large_tables_sample_only_the_quality_checks() -> None:
    frame = load_dataset("adult")
    result = profile(frame, target="class", quality_rows=2000, seed=3)
    assert result.sampled_quality and 2000 <= result.quality_rows <= 2040
    # Statistics still cover every row.
    assert result["age"].count == len(frame)
    assert result["age"].numeric is not None
    assert result["age"].numeric.mean == pytest.approx(frame["age"].mean())
    # The repairs are counted on all rows, the other checks on the sample.
    full = check_and_clean(frame, target="class")
    assert {f.check for f in result.quality.findings} >= {
        f.check for f in full.report.findings if f.check in ("class_imbalance",)
    }


def test_profile_without_target_and_given_schema() -> None:
    frame = load_dataset("car_evaluation")
    plain = profile(frame)
    assert plain.target is None and plain.task is None
    assert all(c.kind == "categorical" for c in plain.columns)
    cleaned = check_and_clean(frame, target="decision")
    given = profile(frame, target="decision", schema=cleaned.schema, quality=cleaned.report)
    assert given.quality is cleaned.report
    assert given.target is not None and len(given.target.classes or []) == 4
    assert given.to_dict()["n_rows"] == len(frame)


def test_user_mistakes_are_clear() -> None:
    frame = load_dataset("iris")
    with pytest.raises(DataError, match=r"target column 'specis' not found.*species"):
        profile(frame, target="specis")
    with pytest.raises(DataError, match="no rows"):
        profile(frame.iloc[:0])
    doubled = pd.concat([frame, frame["species"]], axis=1)
    with pytest.raises(DataError, match="repeated"):
        profile(doubled)


def test_single_class_target_is_reported_not_raised() -> None:
    frame = load_dataset("iris")
    frame = frame[frame["species"] == frame["species"].iloc[0]]
    result = profile(frame, target="species")
    assert result.quality.by_severity("error")
    assert "single class" in result.quality.by_severity("error")[0].message


def test_datetime_and_text_columns() -> None:
    frame = load_dataset("movielens_small_movies")
    frame = frame.assign(
        added=pd.date_range("2020-01-01", periods=len(frame), freq="h").astype(str)
    )
    result = profile(frame, roles={"title": "text"})
    added = result["added"]
    assert added.kind == "datetime" and added.datetime is not None
    assert added.datetime["min"].startswith("2020-01-01")
    assert sum(added.datetime["counts"]) == len(frame)
    title = result["title"]
    assert title.kind == "text" and title.lengths is not None and title.words is not None
    lengths = frame["title"].str.strip().str.len()  # text is stripped first
    assert title.lengths["mean"] == pytest.approx(lengths.mean())
    assert title.lengths["max"] == lengths.max()


def test_correlations_with_missing_values_are_pairwise_complete() -> None:
    frame = load_dataset("ames_house_prices")
    result = profiled("ames_house_prices", "SalePrice")
    columns = ["LotFrontage", "MasVnrArea", "GarageYrBlt", "SalePrice"]
    assert frame[columns[:3]].isna().any().all()
    corr = result.correlations
    assert corr.pearson is not None and corr.spearman is not None and corr.mixed is not None
    pearson = frame[columns].corr(method="pearson")
    spearman = frame[columns].corr(method="spearman")
    for a in columns:
        for b in columns:
            assert corr.pearson.loc[a, b] == pytest.approx(pearson.loc[a, b], abs=1e-9)
            # Ranks are taken once per column, not per pair, so they differ
            # slightly from pandas' pairwise re-ranking when values are missing.
            assert corr.spearman.loc[a, b] == pytest.approx(spearman.loc[a, b], abs=0.02)
    # η with a category that has missing values (GarageType) and a number that too.
    pair = frame[["LotFrontage", "GarageType"]].dropna()
    grouped = pair.groupby("GarageType")["LotFrontage"]
    mean = pair["LotFrontage"].mean()
    between = (grouped.count() * (grouped.mean() - mean) ** 2).sum()
    total = ((pair["LotFrontage"] - mean) ** 2).sum()
    assert corr.mixed.loc["LotFrontage", "GarageType"] == pytest.approx(np.sqrt(between / total))


def test_wide_table_caps_the_pairwise_views() -> None:
    frame = wide_frame("adult", "class", columns=MAX_PAIRWISE_COLUMNS + 70, rows=400)
    result = profile(frame, target="class")
    corr = result.correlations
    assert corr.mixed is not None
    assert len(corr.mixed) == MAX_PAIRWISE_COLUMNS
    assert corr.columns_left_out == frame.shape[1] - MAX_PAIRWISE_COLUMNS
    assert result.target is not None
    strongest = [r.feature for r in result.target.relations[: MAX_PAIRWISE_COLUMNS - 1]]
    assert set(corr.mixed.index) == {"class", *strongest}
    # Every column still gets its own statistics and target relation.
    assert len(result.columns) == frame.shape[1]
    assert len(result.target.relations) == frame.shape[1] - 1


def test_none_category_and_missing_kept_as_a_category() -> None:
    from cairn.data.sources import read_table
    from tests.conftest import dataset_path

    frame = read_table(dataset_path("ames_house_prices"))
    result = profile(frame, target="SalePrice", id_columns=["Id"])
    veneer = result["MasVnrType"]
    assert veneer.top[0] == ("None", 864) and veneer.missing == 8
    kept = [f for f in result.quality.findings if f.check == "missing_kept_category"]
    assert {f.column for f in kept} >= {"MasVnrType", "Alley"}
    assert len([f for f in kept if f.column == "MasVnrType"]) == 1
    # The page states the fact once: by the check that saw every row.
    (stated,) = [f for f in veneer.findings if f.check == "missing_values"]
    assert stated.action == "missing kept as its own category"
    assert not [a for a in veneer.alerts if a.kind == "missing"]
    assert not any(a.kind == "missing" for a in result["Alley"].alerts)


def test_relationships_of_a_very_long_table_use_a_sample_and_say_so() -> None:
    from cairn.eda import ASSOCIATION_ROWS
    from cairn.eda.report import render_profile

    base = load_dataset("adult")
    frame = pd.concat([base] * 7, ignore_index=True)  # 227,927 rows
    assert len(frame) > ASSOCIATION_ROWS
    result = profile(frame, target="class", seed=1)
    assert result.association_rows == ASSOCIATION_ROWS
    # Column statistics still cover every row.
    assert result["age"].count == len(frame)
    target = result.target
    assert target is not None and target.relations
    for relation in target.relations:
        assert relation.class_counts is not None
        assert int(np.sum(relation.class_counts)) <= ASSOCIATION_ROWS
    # The sample keeps the relationships of the whole table.
    whole = profile(base, target="class")
    assert whole.association_rows == 0
    strongest = {r.feature: r.association for r in whole.target.relations}  # type: ignore[union-attr]
    for relation in target.relations[:5]:
        assert relation.association == pytest.approx(strongest[relation.feature], abs=0.02)
    page = render_profile(result)
    assert f"random sample of {ASSOCIATION_ROWS:,} of the {len(frame):,} rows" in page
