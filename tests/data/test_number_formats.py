"""Numbers written for people ("$1,234.50", "45.2%", "(12.50)", "3,14") read as
numbers, decided per column, with a finding, and read the same way when a
trained model scores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.data._numbers import Ambiguous, NumberFormat, parse_with, read_formatted
from cairn.data.quality import check_and_clean
from cairn.data.repair import repair_frame
from cairn.data.schema import Role, conform
from cairn.data.sources import read_table

ROWS = 800


def _money(value: float) -> str:
    """$1,234.50 for positive amounts, ($1,234.50) for negative ones."""
    text = f"${abs(value):,.2f}"
    return f"({text})" if value < 0 else text


@pytest.fixture
def telco(dataset: Callable[[str], Path]) -> pd.DataFrame:
    frame = read_table(dataset("telco_churn.csv"))
    return frame.sample(n=ROWS, random_state=3).reset_index(drop=True)


@pytest.fixture
def formatted(telco: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """telco with its charges as a spreadsheet would print them, next to the
    same rows as plain numbers."""
    plain = telco.copy()
    plain["TotalCharges"] = pd.to_numeric(plain["TotalCharges"], errors="coerce")
    # A credit on some accounts: a negative amount, printed in parentheses.
    plain.loc[plain.index % 7 == 0, "TotalCharges"] *= -1
    plain["MonthlyShare"] = (plain["MonthlyCharges"] / 200).round(3)
    shown = plain.copy()
    shown["TotalCharges"] = ["" if np.isnan(v) else _money(float(v)) for v in plain["TotalCharges"]]
    shown["MonthlyCharges"] = [f"{v:,.2f} €" for v in plain["MonthlyCharges"]]
    shown["MonthlyShare"] = [f"{v * 100:.1f}%" for v in plain["MonthlyShare"]]
    return shown, plain


def test_formatted_columns_become_numbers_with_a_finding(
    formatted: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    shown, plain = formatted
    repaired, findings, _ = repair_frame(shown)
    for column in ("TotalCharges", "MonthlyCharges", "MonthlyShare"):
        np.testing.assert_allclose(
            repaired[column].to_numpy(dtype=float), plain[column].to_numpy(dtype=float)
        )
    by_column = {f.column: f for f in findings if f.check == "format_numbers"}
    total = by_column["TotalCharges"]
    assert total.count == int(plain["TotalCharges"].notna().sum())
    assert "currency '$'" in total.message and "(x) read as -x" in total.message
    assert "-> " in total.message and total.message.count("->") == 3
    share = by_column["MonthlyShare"]
    assert "percentages divided by 100" in share.message
    assert "€" in by_column["MonthlyCharges"].message
    formats = repaired.attrs["cairn_number_formats"]
    assert formats["TotalCharges"]["currency"] == "$"
    assert formats["TotalCharges"]["parentheses"] is True
    assert formats["MonthlyShare"]["percent"] is True


def test_formatted_columns_are_not_ids_or_categories(
    formatted: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    shown, _ = formatted
    cleaned = check_and_clean(shown, target="Churn", id_columns=["customerID"])
    for column in ("TotalCharges", "MonthlyCharges", "MonthlyShare"):
        assert cleaned.schema[column].role == Role.NUMERIC, cleaned.schema[column]
    assert "number_formats" in cleaned.schema.metadata


def test_one_currency_as_symbol_and_code_is_read_as_numbers(telco: pd.DataFrame) -> None:
    # A European export writing the euro three ways: "€ 1.234,50", "1.234,50 €", "EUR 1.234,50".
    plain = pd.to_numeric(telco["TotalCharges"], errors="coerce").fillna(0) * 10
    euro = [f"{v:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".") for v in plain]
    marks = ("€ {}", "{} €", "EUR {}")
    frame = telco[["customerID", "Churn"]].copy()
    frame["TotalCharges"] = [marks[i % 3].format(text) for i, text in enumerate(euro)]
    cleaned = check_and_clean(frame, target="Churn", id_columns=["customerID"])
    assert cleaned.schema["TotalCharges"].role == Role.NUMERIC
    np.testing.assert_allclose(cleaned.frame["TotalCharges"].to_numpy(dtype=float), plain)
    # Scoring accepts either spelling of the column's currency, and no other.
    fmt = NumberFormat.from_dict(cleaned.schema.metadata["number_formats"]["TotalCharges"])
    np.testing.assert_allclose(
        parse_with(["EUR 1.234,50", "€1.234,50", "$1.234,50"], fmt), [1234.5, 1234.5, np.nan]
    )


def test_percentages_with_plain_zeros_are_read_as_numbers(telco: pd.DataFrame) -> None:
    # A spreadsheet prints 0 % as "0" and every other share as "12.3%".
    share = (telco["MonthlyCharges"] / 200).round(3).where(telco["tenure"] % 5 != 0, 0.0)
    frame = telco[["customerID", "Churn"]].assign(
        share=["0" if v == 0 else f"{v * 100:.1f}%" for v in share]
    )
    assert (frame["share"] == "0").sum() > 50
    repaired, findings, _ = repair_frame(frame)
    np.testing.assert_allclose(repaired["share"].to_numpy(dtype=float), share.to_numpy())
    (finding,) = [f for f in findings if f.check == "format_numbers"]
    assert finding.column == "share" and "percentages divided by 100" in finding.message


@pytest.mark.parametrize(
    ("texts", "decimal", "expected"),
    [
        (["1,234", "12,345,678", "5"], None, [1234, 12345678, 5]),  # thousands, not decimals
        (["3,14", "2,5", "10"], None, [3.14, 2.5, 10]),  # a decimal comma
        (["1.234,56", "2,5", "1.000.000"], None, [1234.56, 2.5, 1_000_000]),
        (["1 234,5 €", "12 €"], None, [1234.5, 12]),
        (["1'234.50", "-12"], None, [1234.5, -12]),
        (["(1,234.50)", "+3.25", "4-"], None, [-1234.5, 3.25, -4]),
        (["USD 12", "USD 1,250.75"], None, [12, 1250.75]),
        (["1,234", "5,678"], ",", [1.234, 5.678]),  # the source says so
        (["$1,234", "$5"], None, [1234, 5]),  # a dollar amount uses a decimal point
    ],
)
def test_one_reading_per_column(
    texts: list[str], decimal: str | None, expected: list[float]
) -> None:
    found = read_formatted(texts, decimal=decimal)
    assert isinstance(found, tuple), found
    np.testing.assert_allclose(found[0], expected)


@pytest.mark.parametrize(
    "texts",
    [
        ["192.168.1.1", "10.0.0.1"],  # addresses
        ["2024-01-05", "2024-02-01"],  # dates
        ["12%", "0.5"],  # percentages mixed with plain numbers
        ["$12", "€12"],  # two currencies
        ["A12", "B7"],
    ],
)
def test_not_numbers(texts: list[str]) -> None:
    assert read_formatted(texts) is None


def test_an_ambiguous_column_stays_text_and_says_which_option_to_set(
    telco: pd.DataFrame,
) -> None:
    # tenure in minutes-like hundreds: "1,200" is 1200 or 1.2
    frame = telco[["tenure"]].copy()
    frame["tenure"] = [f"{v * 100:,}" if v * 100 >= 1000 else "" for v in telco["tenure"]]
    frame = frame[frame["tenure"] != ""]
    assert isinstance(read_formatted(frame["tenure"].unique().tolist()), Ambiguous)
    repaired, findings, _ = repair_frame(frame)
    assert repaired["tenure"].dtype.kind not in "if"
    (finding,) = [f for f in findings if f.check == "format_ambiguous"]
    assert finding.column == "tenure" and not finding.applied
    assert 'decimal = "."' in finding.action and 'decimal = ","' in finding.action
    # The source's thousands option settles it.
    settled, findings, _ = repair_frame(frame, {"thousands": ","})
    np.testing.assert_allclose(
        settled["tenure"].to_numpy(dtype=float),
        telco.loc[frame.index, "tenure"].to_numpy(dtype=float) * 100,
    )
    assert [f.check for f in findings] == ["format_numbers"]


def test_a_trained_model_reads_formatted_values_as_in_training(
    formatted: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from cairn.bundle import load_bundle, save_bundle
    from cairn.features.preprocess import build_preprocessor
    from cairn.records import RecordAdapter

    shown, plain = formatted
    cleaned = check_and_clean(shown, target="Churn", id_columns=["customerID"])
    schema = cleaned.schema
    labels = np.searchsorted(list(schema.classes or ()), cleaned.frame["Churn"].astype(str))
    pipeline = make_pipeline(build_preprocessor(schema, scale=True), LogisticRegression())
    pipeline.fit(cleaned.frame.drop(columns=["Churn"]), labels)
    bundle = load_bundle(save_bundle(tmp_path / "bundle", pipeline, schema, {"name": "t"}))

    features = shown.drop(columns=["Churn"]).head(50)
    numbers = plain.drop(columns=["Churn"]).head(50)
    as_text = bundle.predict_proba(features).to_numpy()
    as_numbers = bundle.predict_proba(numbers).to_numpy()
    np.testing.assert_allclose(as_text, as_numbers)

    conformed, _ = conform(features, schema)
    assert conformed.loc[0, "TotalCharges"] == pytest.approx(plain.loc[0, "TotalCharges"])
    # A served record holding "$1,234.50" gives the same number.
    adapter = RecordAdapter(schema)
    record = {"TotalCharges": "($1,234.50)", "MonthlyShare": "45.2%"}
    typed = adapter.typed({**numbers.iloc[0].to_dict(), **record})
    assert typed["TotalCharges"] == pytest.approx(-1234.5)
    assert typed["MonthlyShare"] == pytest.approx(0.452)
