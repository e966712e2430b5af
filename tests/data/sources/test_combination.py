"""What combining sources reports, on telco churn split into planted sources:
repeated customers, an extra column, a renamed column, recoded values, a
lossy join and a column a join brings twice. Each suggested spec line, pasted
into the spec, fixes what it was suggested for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cairn.data.findings import QualityReport
from cairn.data.sources import Combination, collect, take_combination
from cairn.eda._combination_section import combination_sections
from cairn.exceptions import DataError, SpecError
from cairn.spec import ProjectSpec, load_spec

LATER = 4500  # the second source starts here: rows 4500..4999 are in both


@pytest.fixture
def telco(dataset) -> pd.DataFrame:
    return pd.read_csv(dataset("telco_churn.csv"))


def write_spec(root: Path, sources: list[tuple[str, list[str]]], **data: Any) -> ProjectSpec:
    """A cairn.toml with one [[data.sources]] table per (path, extra lines)."""
    lines = ["[project]", 'name = "combine"', "", "[problem]", 'target = "Churn"', "", "[data]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in data.items()]
    for path, extra in sources:
        lines += ["", "[[data.sources]]", f"path = {json.dumps(path)}", *extra]
    (root / "cairn.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_spec(root / "cairn.toml")


def planted_append(root: Path, telco: pd.DataFrame, **changes: Any) -> None:
    """a.csv: customers 0..4999; b.csv: customers 4500..7042 plus a Region column."""
    telco.iloc[:5000].to_csv(root / "a.csv", index=False)
    later = telco.iloc[LATER:].copy()
    later["Region"] = ["north", "south"] * (len(later) // 2) + ["north"] * (len(later) % 2)
    if changes.get("rename"):
        later = later.rename(columns={"MonthlyCharges": "monthly_charges"})
    if changes.get("recode"):
        later["SeniorCitizen"] = later["SeniorCitizen"].map({0: "No", 1: "Yes"})
    later.to_csv(root / "b.csv", index=False)


def findings(frame: pd.DataFrame, check: str) -> list[Any]:
    combination = take_combination(frame.copy())  # the frame keeps its record for the next call
    assert combination is not None
    return [f for f in combination.findings if f.check == check]


def test_repeated_customers_with_an_extra_column_are_one_row(tmp_path, telco):
    planted_append(tmp_path, telco)
    frame = collect(write_spec(tmp_path, [("a.csv", []), ("b.csv", [])]))
    assert len(frame) == len(telco)
    assert frame["customerID"].is_unique
    [twins] = findings(frame, "combine_duplicate_rows")
    assert twins.count == 500 and twins.applied
    # the copy from b.csv fills Region, so it is the one kept
    assert "500 dropped from 'a.csv'" in twins.action
    assert int(frame["Region"].notna().sum()) == len(telco) - LATER
    [partial] = findings(frame, "combine_partial_column")
    assert partial.column == "Region" and partial.count == LATER
    record = take_combination(frame)
    assert record is not None and record.duplicates_removed == 500
    assert [(s.label, s.rows) for s in record.sources] == [("a.csv", 5000), ("b.csv", 2543)]


def test_sources_sharing_only_an_id_are_not_merged_row_by_row(tmp_path, telco):
    telco.iloc[:1000].to_csv(tmp_path / "a.csv", index=False)
    regions = telco[["customerID"]].iloc[:1000].assign(Region="north")
    regions.to_csv(tmp_path / "b.csv", index=False)
    frame = collect(write_spec(tmp_path, [("a.csv", []), ("b.csv", [])]))
    assert len(frame) == 2000  # a join was meant; stacking keeps every row and says so
    assert not findings(frame, "combine_duplicate_rows")
    partial = {f.column: f.count for f in findings(frame, "combine_partial_column")}
    assert partial["Region"] == 1000 and partial["tenure"] == 1000


def test_same_customer_differing_elsewhere_is_reported_on_id_columns(tmp_path, telco):
    planted_append(tmp_path, telco)
    later = pd.read_csv(tmp_path / "b.csv")
    later.loc[:499, "MonthlyCharges"] += 5.0  # the repeated customers' newer bills
    later.to_csv(tmp_path / "b.csv", index=False)
    spec = write_spec(tmp_path, [("a.csv", []), ("b.csv", [])], id_columns=["customerID"])
    frame = collect(spec)
    assert len(frame) == len(telco) + 500
    assert not findings(frame, "combine_duplicate_rows")
    [entities] = findings(frame, "combine_duplicate_entities")
    assert entities.column == "customerID" and entities.count == 500
    assert "'a.csv', 'b.csv'" in entities.message


def test_renamed_column_gets_a_rename_line_that_fixes_it(tmp_path, telco):
    planted_append(tmp_path, telco, rename=True)
    frame = collect(write_spec(tmp_path, [("a.csv", []), ("b.csv", [])]))
    [candidate] = findings(frame, "combine_rename_candidate")
    line = 'rename = { monthly_charges = "MonthlyCharges" }'
    assert candidate.column == "monthly_charges"
    assert "'b.csv'" in candidate.action and line in candidate.action
    # the two half-empty columns are not also reported as partial columns
    assert [f.column for f in findings(frame, "combine_partial_column")] == ["Region"]

    fixed = collect(write_spec(tmp_path, [("a.csv", []), ("b.csv", [line])]))
    assert "monthly_charges" not in fixed.columns
    assert int(fixed["MonthlyCharges"].isna().sum()) == 0
    assert not findings(fixed, "combine_rename_candidate")
    assert len(fixed) == len(telco)  # the repeated rows match again


def test_recoded_values_get_a_values_line_that_fixes_them(tmp_path, telco):
    planted_append(tmp_path, telco, recode=True)
    frame = collect(write_spec(tmp_path, [("a.csv", []), ("b.csv", [])]))
    assert set(frame["SeniorCitizen"].dropna()) == {"0", "1", "No", "Yes"}
    [mismatch] = findings(frame, "combine_value_mismatch")
    line = 'values = { SeniorCitizen = { No = "0", Yes = "1" } }'
    assert mismatch.column == "SeniorCitizen" and line in mismatch.action

    fixed = collect(write_spec(tmp_path, [("a.csv", []), ("b.csv", [line])]))
    assert fixed["SeniorCitizen"].dtype.kind == "i"
    assert sorted(fixed["SeniorCitizen"].unique()) == [0, 1]
    assert not findings(fixed, "combine_value_mismatch")
    assert len(fixed) == len(telco)


def test_all_suggested_lines_of_a_source_fix_everything_at_once(tmp_path, telco):
    planted_append(tmp_path, telco, rename=True, recode=True)
    record = take_combination(collect(write_spec(tmp_path, [("a.csv", []), ("b.csv", [])])))
    assert record is not None
    lines = record.suggested_lines()["b.csv"]
    # the EDA section shows them ready to paste
    [section] = combination_sections(
        QualityReport(findings=record.findings, combination=record.to_dict())
    )
    assert section.title == "Combining sources"
    assert "[[data.sources]]" in section.body and "monthly_charges" in section.body
    fixed = collect(write_spec(tmp_path, [("a.csv", []), ("b.csv", lines)]))
    checks = {f.check for f in findings(fixed, "combine_rename_candidate")}
    checks |= {f.check for f in findings(fixed, "combine_value_mismatch")}
    assert not checks
    assert len(fixed) == len(telco)


def test_values_without_yes_no_meaning_pair_by_frequency(tmp_path, telco):
    telco.iloc[:5000].to_csv(tmp_path / "a.csv", index=False)
    later = telco.iloc[5000:].copy()
    codes = {"Fiber optic": "F", "DSL": "D", "No": "N"}
    later["InternetService"] = later["InternetService"].map(codes)
    later.to_csv(tmp_path / "b.csv", index=False)
    frame = collect(write_spec(tmp_path, [("a.csv", []), ("b.csv", [])]))
    [mismatch] = findings(frame, "combine_value_mismatch")
    assert "frequency" in mismatch.action
    record = take_combination(frame)
    assert record is not None
    mapping = record.suggestions["b.csv"]["values"]["InternetService"]
    assert mapping == {code: name for name, code in codes.items()}


def test_lossy_inner_join_says_what_it_dropped(tmp_path, telco):
    telco.drop(columns=["PaymentMethod", "Contract"]).to_csv(tmp_path / "left.csv", index=False)
    right = telco[["customerID", "PaymentMethod", "Contract"]].iloc[100:]
    right.to_csv(tmp_path / "right.csv", index=False)
    keys = {"combine": "join", "join_on": ["customerID"]}
    frame = collect(write_spec(tmp_path, [("left.csv", []), ("right.csv", [])], **keys))
    assert len(frame) == len(telco) - 100
    [lost] = findings(frame, "combine_join_rows_lost")
    assert lost.count == 100 and lost.severity == "warning"
    assert "100 of 7,043 rows of 'left.csv'" in lost.message
    assert f"e.g. {telco['customerID'].iloc[0]!r}" in lost.message
    assert 'join_how = "left"' in lost.action
    record = take_combination(frame)
    assert record is not None
    [join] = record.joins
    assert (join.cardinality, join.left_lost, join.right_lost) == ("1:1", 100, 0)

    kept = collect(
        write_spec(tmp_path, [("left.csv", []), ("right.csv", [])], join_how="left", **keys)
    )
    assert len(kept) == len(telco)
    assert not findings(kept, "combine_join_rows_lost")
    [unmatched] = findings(kept, "combine_join_unmatched")
    assert unmatched.count == 100


def test_join_repeating_rows_is_a_warning(tmp_path, telco):
    telco.iloc[:300].to_csv(tmp_path / "left.csv", index=False)
    payments = telco[["customerID"]].iloc[:300]
    pd.concat([payments.assign(amount=1.0), payments.assign(amount=2.0)]).to_csv(
        tmp_path / "payments.csv", index=False
    )
    keys = {"combine": "join", "join_on": ["customerID"]}
    frame = collect(write_spec(tmp_path, [("left.csv", []), ("payments.csv", [])], **keys))
    [join] = findings(frame, "combine_join")
    assert "1:n" in join.message and join.severity == "warning"
    assert len(frame) == 600


def test_join_duplicate_column_dropped_when_equal_reported_when_partial(tmp_path, telco):
    telco.to_csv(tmp_path / "left.csv", index=False)
    right = telco[["customerID", "tenure"]].copy()
    right.to_csv(tmp_path / "right_partial.csv", index=False)
    keys = {"combine": "join", "join_on": ["customerID"]}
    sources = [("left.csv", []), ("right_partial.csv", [])]
    frame = collect(write_spec(tmp_path, sources, **keys))
    assert "tenure_right_partial" not in frame.columns
    [copy] = findings(frame, "combine_join_duplicate_column")
    assert (copy.column, copy.severity, copy.applied) == ("tenure_right_partial", "info", True)

    right.loc[:299, "tenure"] += 1
    right.to_csv(tmp_path / "right_partial.csv", index=False)
    frame = collect(write_spec(tmp_path, sources, **keys))
    assert "tenure_right_partial" in frame.columns
    [copy] = findings(frame, "combine_join_duplicate_column")
    assert (copy.column, copy.severity, copy.count) == ("tenure_right_partial", "warning", 300)
    assert 'roles = { tenure_right_partial = "ignore" }' in copy.action


def test_unknown_columns_in_rename_or_values_name_source_key_and_columns(tmp_path, telco):
    planted_append(tmp_path, telco)
    spec = write_spec(tmp_path, [("a.csv", []), ("b.csv", ['rename = { Monthly = "M" }'])])
    with pytest.raises(DataError, match=r"source 'b.csv': rename names column 'Monthly'.*tenure"):
        collect(spec)
    spec = write_spec(
        tmp_path, [("a.csv", ['values = { Senior = { "0" = "No" } }']), ("b.csv", [])]
    )
    with pytest.raises(DataError, match=r"source 'a.csv': values names column 'Senior'.*gender"):
        collect(spec)


def test_a_decimal_comma_in_one_source_gets_a_decimal_line_that_fixes_it(tmp_path, telco):
    # b.csv written by a tool that quotes "29,85" in a comma-separated file.
    planted_append(tmp_path, telco)
    later = pd.read_csv(tmp_path / "b.csv")
    later["MonthlyCharges"] = [f"{v:.2f}".replace(".", ",") for v in later["MonthlyCharges"]]
    later.to_csv(tmp_path / "b.csv", index=False)
    frame = collect(write_spec(tmp_path, [("a.csv", []), ("b.csv", [])]))
    assert not pd.api.types.is_numeric_dtype(frame["MonthlyCharges"])
    [mismatch] = findings(frame, "combine_decimal_mismatch")
    assert mismatch.column == "MonthlyCharges" and mismatch.severity == "warning"
    assert "decimal comma in 'b.csv'" in mismatch.message and "point in 'a.csv'" in mismatch.message
    line = 'decimal = ","'
    assert "'b.csv'" in mismatch.action and line in mismatch.action

    fixed = collect(write_spec(tmp_path, [("a.csv", []), ("b.csv", [line])]))
    assert not findings(fixed, "combine_decimal_mismatch")
    expected = telco.set_index("customerID")["MonthlyCharges"]
    got = fixed.set_index("customerID")["MonthlyCharges"]
    pd.testing.assert_series_equal(got.astype(float), expected.loc[got.index], check_names=False)


def test_a_rename_to_an_empty_name_is_a_spec_error(tmp_path, telco):
    planted_append(tmp_path, telco, rename=True)
    with pytest.raises(SpecError, match=r"'rename' gives 'monthly_charges' an empty name"):
        write_spec(tmp_path, [("a.csv", []), ("b.csv", ['rename = { monthly_charges = " " }'])])


def test_one_source_records_rows_read_and_nothing_else(tmp_path, telco):
    telco.iloc[:500].to_csv(tmp_path / "a.csv", index=False)
    frame = collect(write_spec(tmp_path, [("a.csv", [])], id_columns=["customerID"]))
    record = take_combination(frame)
    assert record is not None and record.single
    assert record.findings == [] and record.summary() == "1 source, 500 rows read"
    assert combination_sections(QualityReport(combination=record.to_dict())) == []
    assert Combination.from_dict(record.to_dict()).to_dict() == record.to_dict()
