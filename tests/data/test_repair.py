"""Type repair on real data and on messy values: the repairs the quality
stage relies on, and that a second pass finds nothing left to repair."""

from __future__ import annotations

import pandas as pd
import pytest

from cairn.data.quality import repair_types
from cairn.data.repair import repair_frame
from tests.conftest import load_dataset


def _same(frame: pd.DataFrame) -> None:
    expected, expected_findings = repair_types(frame)
    repaired, findings, _ = repair_frame(frame)
    pd.testing.assert_frame_equal(repaired, expected)
    assert [(f.check, f.column, f.count, f.message) for f in findings] == [
        (f.check, f.column, f.count, f.message) for f in expected_findings
    ]
    # Repair is idempotent: the repaired frame needs no further repair.
    again, more = repair_types(repaired)
    pd.testing.assert_frame_equal(again, repaired)
    assert more == []


@pytest.mark.parametrize("name", ["telco_churn", "adult", "ames_house_prices", "titanic"])
def test_matches_quality_repair_on_real_data(name: str) -> None:
    _same(load_dataset(name))


def test_telco_total_charges_becomes_numbers() -> None:
    repaired, findings = repair_types(load_dataset("telco_churn"))
    assert repaired["TotalCharges"].dtype == "float64"
    assert int(repaired["TotalCharges"].isna().sum()) == 11
    assert any(f.check == "numeric_text" and f.column == "TotalCharges" for f in findings)


def test_matches_quality_repair_on_messy_values() -> None:
    frame = pd.DataFrame(
        {
            "answer": ["Yes", "yes ", " YES", "No", "?", None, "no", "NA"],
            "number": ["1", "2", " 3", "x", "4", "5", "6", "7"],
            "code": ["01", "02", "03", "04", "05", "06", "07", "08"],
            "flag": [True, False, None, True, True, False, True, True],
            "decimal": ["1", "2", "3", "4", "5", "6", "7", "8.5"],
        }
    )
    _same(frame)
    repaired, findings, _ = repair_frame(frame)
    assert repaired["answer"].tolist()[:4] == ["YES", "YES", "YES", "no"] or set(
        repaired["answer"].dropna()
    ) <= {"YES", "Yes", "yes", "no", "No"}
    assert repaired["decimal"].dtype == "float64"
    assert repaired["code"].tolist()[0] == "01"  # codes with leading zeros stay text
    assert {f.check for f in findings} >= {"whitespace", "missing_sentinels", "numeric_text"}
