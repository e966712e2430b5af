"""Reading local files: CSV/TSV (encoding and separator sniffing), Parquet, Excel, JSON."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cairn.data.sources import _delimited, read_table
from cairn.exceptions import DataError
from tests.conftest import load_dataset


def has_carriage_return(frame: pd.DataFrame) -> bool:
    text_columns = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    in_values = any(
        frame[c].astype("str").str.contains("\r", regex=False).any() for c in text_columns
    )
    return in_values or any("\r" in str(c) for c in frame.columns)


# --------------------------------------------------------------------------- real datasets


def test_wine_semicolon_separator_is_sniffed(dataset):
    frame = read_table(dataset("wine_quality_red.csv"))
    assert frame.shape == (1599, 12)
    assert frame.columns[0] == "fixed acidity"
    assert frame["quality"].dtype == np.int64
    assert frame["alcohol"].dtype == np.float64


@pytest.mark.parametrize(
    ("name", "shape", "last"),
    [
        ("car_evaluation.csv", (1728, 7), "decision"),
        ("bank_marketing_full.csv", (45211, 17), "deposit"),
    ],
)
def test_crlf_files_leave_no_carriage_returns(dataset, name, shape, last):
    frame = read_table(dataset(name))
    assert frame.shape == shape
    assert frame.columns[-1] == last
    assert not has_carriage_return(frame)
    assert set(frame[last].unique()) <= {"unacc", "acc", "good", "vgood", "yes", "no"}


def test_telco_shape(dataset):
    frame = read_table(dataset("telco_churn.csv"))
    assert frame.shape == (7043, 21)
    assert "customerID" in frame.columns


def test_titanic_values_as_read(titanic):
    assert titanic.shape == (891, 12)
    assert titanic["Age"].isna().sum() == 177
    assert titanic["Name"][0] == "Braund, Mr. Owen Harris"
    assert pd.api.types.is_string_dtype(titanic["Sex"])


# --------------------------------------------------------------------------- delimited text


def test_utf8_bom_is_removed_from_first_column(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfid,name\r\n1,Zo\xc3\xab\r\n2,Ana\r\n")
    frame = read_table(path)
    assert list(frame.columns) == ["id", "name"]
    assert frame["name"].tolist() == ["Zoë", "Ana"]
    # an explicit 'utf-8' still drops the BOM
    assert read_table(path, encoding="utf-8").columns[0] == "id"


def test_latin1_file_with_accents(tmp_path):
    path = tmp_path / "latin.csv"
    text = "nom;ville\nJosé;São Paulo\nFrançois;Montréal\nZoë;Köln\n"
    path.write_bytes(text.encode("latin-1"))
    frame = read_table(path)
    assert frame["nom"].tolist() == ["José", "François", "Zoë"]
    assert frame["ville"].tolist() == ["São Paulo", "Montréal", "Köln"]


def test_cp1251_file_is_detected(tmp_path):
    path = tmp_path / "cyrillic.csv"
    rows = "Иван,Москва\nПётр,Санкт-Петербург\nАнна,Новосибирск\n" * 5
    path.write_bytes(("имя,город\n" + rows).encode("cp1251"))
    frame = read_table(path)
    assert list(frame.columns) == ["имя", "город"]
    assert frame["город"][0] == "Москва"


def test_explicit_encoding_and_unknown_encoding(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("a,b\nÀ,1\n".encode("latin-1"))
    assert read_table(path, encoding="latin-1")["a"][0] == "À"
    with pytest.raises(DataError, match="unknown encoding 'klingon'"):
        read_table(path, encoding="klingon")


def test_tsv_and_txt_with_tabs(tmp_path):
    (tmp_path / "a.tsv").write_text("x\ty\n1\thello, world\n2\tb\n")
    (tmp_path / "b.txt").write_text("x\ty\n1\thello, world\n2\tb\n")
    for name in ("a.tsv", "b.txt"):
        frame = read_table(tmp_path / name)
        assert list(frame.columns) == ["x", "y"]
        assert frame["y"][0] == "hello, world"


def test_pipe_separator_sniffed_and_explicit_separator(tmp_path):
    path = tmp_path / "pipe.csv"
    path.write_text("a|b|c\n1|2|3\n4|5|6\n")
    assert read_table(path).shape == (2, 3)
    assert read_table(path, separator="|").shape == (2, 3)
    tabbed = tmp_path / "tabbed.csv"
    tabbed.write_text("a\tb\n1\t2\n")
    assert read_table(tabbed, separator="\\t").shape == (1, 2)


def test_single_column_file(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("value\n1\n2\n3\n")
    assert read_table(path)["value"].tolist() == [1, 2, 3]


def test_missing_value_strings_and_stripped_names(tmp_path):
    path = tmp_path / "na.csv"
    path.write_text(" a , b ,c\n1,?,x\nNA,2,\n3,4,?\n")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b", "c"]
    # "NA" may be a category ("no alley"): the reader leaves it to the type repair.
    assert frame["a"].tolist() == ["1", "NA", "3"]
    assert frame["b"].isna().tolist() == [True, False, False]
    assert frame["c"].isna().tolist() == [False, True, True]
    assert frame["b"].dtype == np.float64


def test_gzip_csv(tmp_path, titanic):
    path = tmp_path / "titanic.csv.gz"
    titanic.to_csv(path, index=False, compression="gzip")
    pd.testing.assert_frame_equal(read_table(path), titanic)
    # gzip content behind a plain .csv name is recognised by its magic bytes
    disguised = tmp_path / "disguised.csv"
    disguised.write_bytes(path.read_bytes())
    assert read_table(disguised).shape == titanic.shape


def test_pyarrow_engine_for_large_files_matches_c_engine(tmp_path, monkeypatch, titanic):
    path = tmp_path / "dated.csv"
    dated = titanic.assign(when=pd.date_range("2020-01-01", periods=len(titanic)).astype("str"))
    dated.to_csv(path, index=False)
    expected = read_table(path)
    monkeypatch.setattr(_delimited, "_PYARROW_MIN_BYTES", 0)
    seen: list[str] = []
    original = _delimited._read_csv_pyarrow

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append("pyarrow")
        return original(*args, **kwargs)

    monkeypatch.setattr(_delimited, "_read_csv_pyarrow", spy)
    frame = read_table(path)
    assert seen == ["pyarrow"]
    assert frame["when"][0] == "2020-01-01"  # dates stay as their text
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)


def test_ragged_csv_is_a_data_error(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n3,4,5,6\n")
    with pytest.raises(DataError, match=r"ragged\.csv.*comma-separated.*separator"):
        read_table(path)


# --------------------------------------------------------------------------- other formats


def test_parquet_round_trip(tmp_path, titanic):
    path = tmp_path / "titanic.parquet"
    titanic.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(read_table(path), titanic)
    other = tmp_path / "titanic.pq"
    titanic.to_parquet(other, index=False)
    assert read_table(other).shape == titanic.shape


def test_excel_round_trip_and_sheets(tmp_path, titanic):
    path = tmp_path / "titanic.xlsx"
    small = titanic.head(50)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        small.to_excel(writer, sheet_name="people", index=False)
        small[["PassengerId", "Fare"]].to_excel(writer, sheet_name="fares", index=False)
    frame = read_table(path)
    pd.testing.assert_frame_equal(frame, small, check_dtype=False)
    assert list(read_table(path, sheet="fares").columns) == ["PassengerId", "Fare"]
    assert read_table(path, sheet=1).shape == (50, 2)
    with pytest.raises(DataError, match=r"has no sheet 'nope'; sheets: 'people', 'fares'"):
        read_table(path, sheet="nope")
    with pytest.raises(DataError, match="has no sheet 5"):
        read_table(path, sheet=5)


def test_json_array_of_records(tmp_path):
    path = tmp_path / "records.json"
    records = [{"a": 1, "b": "x"}, {"a": 2, "b": "y", "c": True}]
    path.write_text(json.dumps(records, indent=2))
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b", "c"]
    assert frame["a"].tolist() == [1, 2]
    assert frame["c"].isna().tolist() == [True, False]


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.ndjson", "rows.json"])
def test_json_lines(tmp_path, name):
    path = tmp_path / name
    path.write_text('{"a": 1, "b": "x"}\n\n{"a": 2, "b": "y"}\n')
    frame = read_table(path)
    assert frame.shape == (2, 2)
    assert frame["b"].tolist() == ["x", "y"]


def test_json_nested_and_column_oriented(tmp_path):
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps([{"id": 1, "geo": {"lat": 1.5, "lon": 2.5}}]))
    assert list(read_table(nested).columns) == ["id", "geo.lat", "geo.lon"]
    columns = tmp_path / "columns.json"
    columns.write_text(json.dumps({"x": [1, 2, 3], "y": ["a", "b", "c"]}))
    assert read_table(columns).shape == (3, 2)
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": [{"x": 1}, {"x": 2}]}, indent=1))
    assert read_table(wrapped)["x"].tolist() == [1, 2]


def test_gzip_json_lines(tmp_path):
    path = tmp_path / "rows.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write('{"a": 1}\n{"a": 2}\n')
    assert read_table(path)["a"].tolist() == [1, 2]


def test_format_overrides_extension(tmp_path):
    path = tmp_path / "data.dat"
    path.write_text("a;b\n1;2\n")
    assert read_table(path, format="csv").shape == (1, 2)
    with pytest.raises(DataError, match=r"unknown format 'xml'.*csv, tsv, parquet"):
        read_table(path, format="xml")


# --------------------------------------------------------------------------- file errors


def test_missing_file_suggests_close_names(tmp_path):
    (tmp_path / "titanic.csv").write_text("a\n1\n")
    with pytest.raises(
        DataError, match=r"titanc\.csv: file not found; did you mean 'titanic\.csv'"
    ):
        read_table(tmp_path / "titanc.csv")


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r"file not found.*folder .* does not exist"):
        read_table(tmp_path / "nowhere" / "data.csv")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(DataError, match="is a folder, not a file"):
        read_table(tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("zero.csv", b"", r"zero\.csv: is empty \(0 bytes\)"),
        ("blank.csv", b"\n\n  \n", r"blank\.csv: is empty"),
        ("header.csv", b"a,b,c\n", r"header\.csv: is empty \(it has 3 column\(s\) but no rows\)"),
        ("none.json", b"[]", r"none\.json: is empty"),
        ("none.jsonl", b"\n", r"none\.jsonl: is empty"),
    ],
)
def test_empty_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_table(path)


def test_binary_file_named_csv(tmp_path):
    path = tmp_path / "image.csv"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(DataError, match=r"image\.csv: cannot be read as delimited text.*binary"):
        read_table(path)


def test_parquet_file_named_csv(tmp_path, titanic):
    path = tmp_path / "really_parquet.csv"
    titanic.to_parquet(path)
    with pytest.raises(DataError, match=r"looks like a Parquet file.*format = 'parquet'"):
        read_table(path)


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"broken\.parquet: is not a readable Parquet file"):
        read_table(path)


def test_corrupt_excel(tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(DataError, match=r"broken\.xlsx: is not a readable Excel workbook"):
        read_table(path)


def test_invalid_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[{"a": 1},\n {"a": }]')
    with pytest.raises(DataError, match=r"bad\.json: is not valid JSON .* line 2"):
        read_table(path)
    lines = tmp_path / "bad.jsonl"
    lines.write_text('{"a": 1}\n{"a": oops}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl: line 2 is not valid JSON"):
        read_table(lines)
    scalars = tmp_path / "scalars.json"
    scalars.write_text("[1, 2, 3]")
    with pytest.raises(DataError, match="item 0 of the JSON array is a int"):
        read_table(scalars)


def test_unknown_extension_lists_formats(tmp_path):
    path = tmp_path / "data.dat"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert "data.dat" in message
    assert "'.dat'" in message
    assert ".csv" in message and ".parquet" in message and ".jsonl" in message
    assert "Set `format`" in message


# ---------------------------------------------------------------------------
# Silent changes refused: mixed encodings, repeated header names, separator
# ---------------------------------------------------------------------------


def _titanic_lines(rows: int = 80) -> list[str]:
    return load_dataset("titanic").head(rows).to_csv(index=False).splitlines()


def test_mostly_utf8_file_with_cp1252_lines_names_them(tmp_path: Path) -> None:
    lines = _titanic_lines()
    body = []
    for number, line in enumerate(lines, start=1):
        line = line.replace("Braund", "Zoë Müller").replace("Allen", "Zoë Müller")
        line = line.replace("Heikkinen", "Björk").replace("Futrelle", "Åsa")
        body.append(line.encode("cp1252" if number in (4, 6) else "utf-8"))
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"\n".join(body) + b"\n")
    with pytest.raises(DataError) as caught:
        read_table(path)
    message = str(caught.value)
    assert "mixes encodings" in message and "line(s) 4, 6 are not" in message
    assert str(path) in message and "encoding" in message
    # Told the encoding, the file is read as asked (cp1252 throughout).
    assert len(read_table(path, encoding="cp1252")) == len(lines) - 1


def test_cp1252_file_is_still_read_as_cp1252(tmp_path: Path) -> None:
    text = "\n".join(_titanic_lines()).replace("Braund", "Zoë Müller") + "\n"
    path = tmp_path / "western.csv"
    path.write_bytes(text.encode("cp1252"))
    frame = read_table(path)
    assert frame["Name"].str.contains("Zoë Müller").any()


def test_repeated_header_name_is_an_error(tmp_path: Path) -> None:
    lines = _titanic_lines()
    lines[0] = lines[0].replace("Fare", "Age")
    path = tmp_path / "twice.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(
        DataError, match=r"names a column more than once \('Age' in columns 6, 10\)"
    ):
        read_table(path)
