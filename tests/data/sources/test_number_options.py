"""Reading options for numbers and missing values: a decimal comma sniffed in
';'-separated exports, the source's ``decimal``/``thousands``/``missing``, and
the words "None"/"NA" left for the type repair to decide."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.data.quality import check_and_clean
from cairn.data.repair import repair_frame
from cairn.data.schema import Role, conform
from cairn.data.sources import collect, read_table
from cairn.data.sources._delimited import _read_csv_pyarrow
from cairn.data.sources._detect import sniff_decimal
from cairn.records import RecordAdapter
from tests.data.sources.conftest import make_spec


def _european(frame: pd.DataFrame, path: Path, *, thousands: bool = False) -> Path:
    """``frame`` written as a European spreadsheet exports it: ';' between
    fields, a decimal comma, and optionally '.' between thousands."""
    shown = frame.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            if thousands:
                texts = [f"{v:,.2f}" for v in shown[column]]
                shown[column] = [
                    t.replace(",", "_").replace(".", ",").replace("_", ".") for t in texts
                ]
            else:
                shown[column] = [repr(float(v)).replace(".", ",") for v in shown[column]]
    shown.to_csv(path, sep=";", index=False)
    return path


def test_a_decimal_comma_export_reads_as_numbers(
    dataset: Callable[[str], Path], tmp_path: Path
) -> None:
    wine = read_table(dataset("wine_quality_red.csv"))
    path = _european(wine, tmp_path / "wine.csv")
    assert "7,4" in path.read_text()
    frame = read_table(path)
    assert frame.attrs["cairn_read"]["decimal"] == ","
    for column in wine.columns:
        assert pd.api.types.is_numeric_dtype(frame[column]), column
        np.testing.assert_allclose(frame[column].to_numpy(float), wine[column].to_numpy(float))
    _, findings, _ = repair_frame(frame)
    (sniffed,) = [f for f in findings if f.check == "format_decimal_comma"]
    assert sniffed.count == 11 and "'fixed acidity'" in sniffed.message
    assert 'decimal = "."' in sniffed.action


def test_a_decimal_comma_column_is_scored_from_the_same_text(
    dataset: Callable[[str], Path], tmp_path: Path
) -> None:
    # The model trained on the export reads a record typed as in the export ("7,4").
    wine = read_table(dataset("wine_quality_red.csv")).head(400)
    frame = read_table(_european(wine, tmp_path / "wine.csv"))
    schema = check_and_clean(frame, target="quality").schema
    assert schema.metadata["number_formats"]["alcohol"]["decimal"] == ","
    rows = wine.drop(columns=["quality"]).head(3).astype(object)
    rows["alcohol"] = ["9,4", "12,8", 10.5]
    rows["density"] = ["0,9978", 1, "0,99"]
    conformed, _ = conform(rows, schema)
    np.testing.assert_allclose(conformed["alcohol"].to_numpy(float), [9.4, 12.8, 10.5])
    np.testing.assert_allclose(conformed["density"].to_numpy(float), [0.9978, 1, 0.99])
    assert RecordAdapter(schema).typed({"alcohol": "9,4"})["alcohol"] == pytest.approx(9.4)


def test_thousands_dots_in_a_decimal_comma_export(
    dataset: Callable[[str], Path], tmp_path: Path
) -> None:
    housing = read_table(dataset("california_housing.csv")).head(600)
    path = _european(housing, tmp_path / "housing.csv", thousands=True)
    assert "452.600,00" in path.read_text()
    repaired, findings, _ = repair_frame(read_table(path))
    np.testing.assert_allclose(
        repaired["median_house_value"].to_numpy(float),
        housing["median_house_value"].to_numpy(float),
    )
    (finding,) = [
        f for f in findings if f.check == "format_numbers" and f.column == "median_house_value"
    ]
    assert "thousands separator '.'" in finding.message and "decimal ','" in finding.message


@pytest.mark.parametrize(
    ("text", "separator", "expected"),
    [
        ("a;b\n1,5;2\n3,25;4\n", ";", ","),
        ("a;b\n1.5;2\n3,25;4\n", ";", None),  # a decimal point too: not sure
        ("a;b\n1.234;2\n3;4\n", ";", None),  # thousands or decimals: not sure
        ("a,b\n1,5\n", ",", None),  # only ';'-separated files
    ],
)
def test_sniff_decimal(text: str, separator: str, expected: str | None) -> None:
    assert sniff_decimal(text, separator) == expected


def test_source_options_decide_an_ambiguous_column(
    dataset: Callable[[str], Path], tmp_path: Path
) -> None:
    telco = read_table(dataset("telco_churn.csv")).head(400)
    telco["TotalCharges"] = pd.to_numeric(telco["TotalCharges"], errors="coerce")
    telco = telco[telco["TotalCharges"] >= 1000].copy()
    amounts = [round(v) for v in telco["TotalCharges"]]
    # "1,234" everywhere: thousands (1234) or decimals (1.234)?
    telco["TotalCharges"] = [f"{v:,}" for v in amounts]
    telco.to_csv(tmp_path / "telco.csv", index=False)
    guessed = check_and_clean(read_table(tmp_path / "telco.csv"), target="Churn")
    assert guessed.schema["TotalCharges"].role != Role.NUMERIC
    (finding,) = guessed.report.by_check("format_ambiguous")
    assert finding.column == "TotalCharges" and 'decimal = "."' in finding.action

    spec = make_spec(tmp_path, [{"path": "telco.csv", "thousands": ","}])
    cleaned = check_and_clean(collect(spec), target="Churn")
    assert cleaned.schema["TotalCharges"].role == Role.NUMERIC
    np.testing.assert_allclose(cleaned.frame["TotalCharges"].to_numpy(float), amounts)

    # "1.234" in a ';' file: pandas alone reads 1.234; the source says 1234.
    telco["TotalCharges"] = [f"{v:,}".replace(",", ".") for v in amounts]
    telco["MonthlyCharges"] = [str(v).replace(".", ",") for v in telco["MonthlyCharges"]]
    telco.to_csv(tmp_path / "telco_eu.csv", sep=";", index=False)
    spec = make_spec(tmp_path, [{"path": "telco_eu.csv", "decimal": ",", "thousands": "."}])
    cleaned = check_and_clean(collect(spec), target="Churn")
    np.testing.assert_allclose(cleaned.frame["TotalCharges"].to_numpy(float), amounts)
    assert cleaned.schema["MonthlyCharges"].role == Role.NUMERIC


def test_none_stays_a_category_where_it_is_one(dataset: Callable[[str], Path]) -> None:
    ames = read_table(dataset("ames_house_prices.csv"))
    assert (ames["MasVnrType"] == "None").sum() == 864
    cleaned = check_and_clean(ames, target="SalePrice", id_columns=["Id"])
    schema = cleaned.schema
    assert schema["MasVnrType"].categories[0] == "None"
    assert (cleaned.frame["MasVnrType"] == "None").sum() == 864
    assert int(cleaned.frame["MasVnrType"].isna().sum()) == 8  # its 8 "NA" are missing
    assert schema["LotFrontage"].role == Role.NUMERIC  # "NA" among numbers is missing
    kept = {f.column: f for f in cleaned.report.by_check("missing_kept_category")}
    assert {"MasVnrType", "Alley", "PoolQC"} <= set(kept)
    assert "'None' (864 row(s), 59%)" in kept["MasVnrType"].message
    assert 'missing = ["' in kept["MasVnrType"].action
    assert "Electrical" not in kept  # one "NA" in 1,460 rows is a missing value
    # Scoring keeps "None" as the category it was in training.
    rows = ames.drop(columns=["SalePrice"]).head(3).assign(MasVnrType=["None", "NA", "Stone"])
    conformed, _ = conform(rows, schema)
    assert conformed["MasVnrType"].tolist()[0] == "None"
    assert pd.isna(conformed["MasVnrType"].tolist()[1])
    adapter = RecordAdapter(schema)
    assert adapter.typed({"MasVnrType": "None"})["MasVnrType"] == "None"


def test_a_source_s_own_missing_list_replaces_the_default(
    dataset: Callable[[str], Path], tmp_path: Path
) -> None:
    ames = pd.read_csv(dataset("ames_house_prices.csv"), keep_default_na=False, dtype=str)
    ames.head(300).to_csv(tmp_path / "ames.csv", index=False)
    spec = make_spec(tmp_path, [{"path": "ames.csv", "missing": ["NA"]}])
    frame = collect(spec)
    cleaned = check_and_clean(frame, target="SalePrice", id_columns=["Id"])
    # "NA" is missing wherever it is, "None" never is.
    assert "NA" not in set(cleaned.frame["Alley"].dropna())
    assert (cleaned.frame["MasVnrType"] == "None").sum() == (
        ames.head(300)["MasVnrType"] == "None"
    ).sum()
    assert not cleaned.report.by_check("missing_kept_category")


def test_pyarrow_reader_takes_the_same_options(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("a;b;c\n1,5;None;?\n2,25;x;3\n")
    from cairn.data.values import reader_na_values

    frame = _read_csv_pyarrow(path, ";", None, ",", reader_na_values(None))
    assert frame is not None
    assert frame["a"].tolist() == [1.5, 2.25]
    assert frame["b"].tolist() == ["None", "x"]
    assert frame["c"].isna().tolist() == [True, False]


def test_a_database_source_takes_the_same_options(
    dataset: Callable[[str], Path], tmp_path: Path
) -> None:
    import sqlite3

    telco = read_table(dataset("telco_churn.csv")).head(200)
    telco["MonthlyCharges"] = [f"{v:.2f}".replace(".", ",") for v in telco["MonthlyCharges"]]
    telco.loc[:9, "Contract"] = "-"
    with sqlite3.connect(tmp_path / "shop.db") as connection:
        telco.to_sql("customers", connection, index=False)
    spec = make_spec(
        tmp_path,
        [{"sql": "sqlite:///shop.db", "table": "customers", "decimal": ",", "missing": ["-"]}],
    )
    cleaned = check_and_clean(collect(spec), target="Churn")
    assert cleaned.schema["MonthlyCharges"].role == Role.NUMERIC
    assert int(cleaned.frame["Contract"].isna().sum()) == 10
    (dashes,) = [f for f in cleaned.report.by_check("missing_sentinels") if f.column == "Contract"]
    assert dashes.count == 10 and "'-'" in dashes.message


def test_none_is_a_class_of_a_target_where_it_is_one(dataset: Callable[[str], Path]) -> None:
    ames = read_table(dataset("ames_house_prices.csv"))
    frame = ames.drop(columns=["SalePrice"]).rename(columns={"MasVnrType": "veneer"})
    cleaned = check_and_clean(frame, target="veneer", id_columns=["Id"])
    assert cleaned.task == "classification"
    assert cleaned.schema.classes == ("BrkCmn", "BrkFace", "None", "Stone")
    assert len(cleaned.frame) == len(ames) - 8  # the 8 "NA" rows have no target


@pytest.fixture
def dashed_charges(dataset: Callable[[str], Path], tmp_path: Path) -> tuple[Path, pd.Series]:
    """telco's TotalCharges as an accounting export prints them: "$1,889.50",
    with "$ -" on every fourth row."""
    telco = read_table(dataset("telco_churn.csv")).head(800)
    charges = pd.to_numeric(telco["TotalCharges"], errors="coerce").fillna(0.0)
    dashed = charges.index % 4 == 0
    shown = [f"${v:,.2f}" for v in charges]
    telco["TotalCharges"] = ["$ -" if d else t for t, d in zip(shown, dashed, strict=True)]
    path = tmp_path / "charges.csv"
    telco.to_csv(path, index=False)
    return path, charges.where(~dashed, 0.0)


def test_numbers_held_up_by_a_dash_say_how_to_read_them(
    dashed_charges: tuple[Path, pd.Series],
) -> None:
    path, _ = dashed_charges
    _, findings, _ = repair_frame(read_table(path))
    (stray,) = [f for f in findings if f.check == "format_stray_values"]
    assert stray.column == "TotalCharges" and stray.count == 200 and stray.severity == "warning"
    assert "'$ -'" in stray.message
    assert '"$ -"]' in stray.action
    assert 'values = { TotalCharges = { "$ -" = "0" } }' in stray.action


def test_a_recoded_dash_leaves_the_currency_column_to_the_type_repair(
    dashed_charges: tuple[Path, pd.Series], tmp_path: Path
) -> None:
    # The action the finding suggests: the column is then numbers, with its format kept for scoring.
    path, expected = dashed_charges
    spec = make_spec(tmp_path, [{"path": path.name, "values": {"TotalCharges": {"$ -": "0"}}}])
    cleaned = check_and_clean(collect(spec), target="Churn", id_columns=["customerID"])
    assert cleaned.schema["TotalCharges"].role == Role.NUMERIC
    np.testing.assert_allclose(cleaned.frame["TotalCharges"].to_numpy(float), expected)
    assert cleaned.schema.metadata["number_formats"]["TotalCharges"]["currency"] == "$"
    assert [f.check for f in cleaned.report.findings if f.column == "TotalCharges"] == [
        "format_numbers"
    ]
