"""Reading [[data.sources]] entries and combining them (append, join)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.data.sources import collect, read_source
from cairn.exceptions import DataError
from cairn.spec import SourceSpec
from tests.conftest import dataset_path
from tests.data.sources.conftest import make_spec

# --------------------------------------------------------------------------- sources


def test_read_source_resolves_relative_paths_and_names_errors(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.csv").write_text("a,b\n1,2\n")
    assert read_source(SourceSpec(path=Path("data/t.csv")), root=tmp_path).shape == (1, 2)
    with pytest.raises(DataError, match=r"source 'train': .*t2\.csv: file not found"):
        read_source(SourceSpec(path=Path("data/t2.csv"), name="train"), root=tmp_path)


# --------------------------------------------------------------------------- collect


def test_append_overlapping_halves_removes_duplicates(tmp_path, titanic):
    titanic.iloc[:600].to_csv(tmp_path / "first.csv", index=False)
    titanic.iloc[400:].to_csv(tmp_path / "second.csv", index=False)
    spec = make_spec(tmp_path, [{"path": "first.csv"}, {"path": "second.csv"}])
    frame = collect(spec)
    pd.testing.assert_frame_equal(frame, titanic)
    info = frame.attrs["cairn_collect"]
    assert info["duplicates_removed"] == 200
    assert info["combine"] == "append"
    assert [(s["label"], s["rows"]) for s in info["sources"]] == [
        ("first.csv", 600),
        ("second.csv", 491),
    ]
    assert info["rows"] == 891


def test_append_keeps_duplicates_within_one_source(tmp_path):
    (tmp_path / "a.csv").write_text("x,y\n1,a\n1,a\n2,b\n")
    (tmp_path / "b.csv").write_text("x,y\n2,b\n3,c\n")
    frame = collect(make_spec(tmp_path, [{"path": "a.csv"}, {"path": "b.csv"}]))
    assert frame["x"].tolist() == [1, 1, 2, 3]
    assert frame.attrs["cairn_collect"]["duplicates_removed"] == 1


def test_append_aligns_columns_and_reconciles_dtypes(tmp_path):
    (tmp_path / "a.csv").write_text("id,amount,code,flag\n1,10,7,true\n2,20,8,false\n")
    (tmp_path / "b.csv").write_text("code,id,amount,extra\nx9,3,30.5,hello\n")
    spec = make_spec(tmp_path, [{"path": "a.csv", "name": "a"}, {"path": "b.csv"}])
    frame = collect(spec)
    assert list(frame.columns) == ["id", "amount", "code", "flag", "extra"]
    assert frame["id"].dtype == np.int64
    assert frame["amount"].dtype == np.float64  # int + float -> float
    assert frame["amount"].tolist() == [10.0, 20.0, 30.5]
    assert pd.api.types.is_string_dtype(frame["code"])  # int + text -> text
    assert frame["code"].tolist() == ["7", "8", "x9"]
    assert frame["flag"].tolist()[:2] == [True, False]
    assert pd.isna(frame["flag"][2])
    assert frame["extra"].isna().tolist() == [True, True, False]
    assert frame.attrs["cairn_collect"]["sources"][0]["label"] == "a"


def test_single_source_collect(tmp_path):
    (tmp_path / "a.csv").write_text("x\n1\n1\n")
    frame = collect(make_spec(tmp_path, [{"path": "a.csv"}]))
    assert len(frame) == 2
    assert frame.attrs["cairn_collect"]["duplicates_removed"] == 0


def test_join_on_key(tmp_path, titanic):
    titanic[["PassengerId", "Name", "Age"]].to_csv(tmp_path / "people.csv", index=False)
    tickets = titanic[["PassengerId", "Fare", "Age"]].iloc[::-1]
    tickets.to_parquet(tmp_path / "tickets.parquet", index=False)
    spec = make_spec(
        tmp_path,
        [{"path": "people.csv"}, {"path": "tickets.parquet"}],
        combine="join",
        join_on=["PassengerId"],
        join_how="left",
    )
    frame = collect(spec)
    # the second Age equals the first wherever both have one: the copy is dropped
    assert list(frame.columns) == ["PassengerId", "Name", "Age", "Fare"]
    assert len(frame) == 891
    assert frame["Fare"].tolist() == titanic["Fare"].tolist()
    info = frame.attrs["cairn_collect"]
    assert info["renamed"] == {"tickets.parquet": {"Age": "Age_tickets"}}
    assert info["combine"] == "join"
    copies = [f for f in info["findings"] if f["check"] == "combine_join_duplicate_column"]
    assert [(f["column"], f["applied"]) for f in copies] == [("Age_tickets", True)]


def test_join_reconciles_key_dtypes(tmp_path):
    (tmp_path / "a.csv").write_text("key,x\n1,a\n2,b\nz,c\n")
    (tmp_path / "b.csv").write_text("key,y\n1,10\n2,20\n")
    spec = make_spec(
        tmp_path, [{"path": "a.csv"}, {"path": "b.csv"}], combine="join", join_on=["key"]
    )
    frame = collect(spec)
    assert frame["key"].tolist() == ["1", "2"]
    assert frame["y"].tolist() == [10, 20]


def test_join_missing_key_names_source_and_column(tmp_path):
    (tmp_path / "a.csv").write_text("PassengerId,x\n1,a\n")
    (tmp_path / "b.csv").write_text("passenger_id,y\n1,10\n")
    spec = make_spec(
        tmp_path,
        [{"path": "a.csv"}, {"path": "b.csv", "name": "fares"}],
        combine="join",
        join_on=["PassengerId"],
    )
    with pytest.raises(
        DataError, match=r"source 'fares': has no join key column 'PassengerId'.*passenger_id"
    ):
        collect(spec)


def test_join_without_matches_is_an_error(tmp_path):
    (tmp_path / "a.csv").write_text("k,x\n1,a\n")
    (tmp_path / "b.csv").write_text("k,y\n2,b\n")
    spec = make_spec(
        tmp_path, [{"path": "a.csv"}, {"path": "b.csv"}], combine="join", join_on=["k"]
    )
    with pytest.raises(DataError, match=r"source 'b\.csv': joining on k \(inner\) left no rows"):
        collect(spec)


def test_wrong_separator_suggests_the_right_one(tmp_path: Path) -> None:
    path = dataset_path("wine_quality_red")  # ';'-separated
    spec = make_spec(tmp_path, [{"path": str(path), "separator": ","}])
    frame = collect(spec)
    from cairn.data.quality import check_and_clean

    with pytest.raises(DataError) as caught:
        check_and_clean(frame, target="quality", source=str(path))
    message = str(caught.value)
    assert "looks like ';'-separated: set separator = ';' in [data]" in message
