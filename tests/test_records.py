"""Reading JSON records: the same values as the library's own conform, and
clear problems with record and column."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.data.schema import ColumnSchema, Role, Schema, coerce_column
from cairn.data.values import as_strings, normalize_missing
from cairn.exceptions import SchemaMismatchError
from cairn.records import (
    DATE_PARTS,
    FIRST_CODE,
    MISSING,
    UNSEEN,
    UNSEEN_TRUE,
    RecordAdapter,
    RecordsError,
    canonical_string,
    restore_label,
    to_records,
)
from tests.conftest import load_dataset

NUMERIC = ColumnSchema("x", Role.NUMERIC, "float")
INTEGER = ColumnSchema("n", Role.NUMERIC, "int")
CATEGORY = ColumnSchema("c", Role.CATEGORICAL, "string", categories=("a", "b", "3"), n_unique=3)
FLAG = ColumnSchema("f", Role.BOOLEAN, "bool", categories=("True", "False"), n_unique=2)
SEX = ColumnSchema("s", Role.BOOLEAN, "string", categories=("male", "female"), n_unique=2)
WHEN = ColumnSchema("d", Role.DATETIME, "datetime")
IDENT = ColumnSchema("id", Role.ID, "int")
SCHEMA = Schema((NUMERIC, INTEGER, CATEGORY, FLAG, SEX, WHEN, IDENT), target="y", task="regression")
SPEC = {
    "num": ["x", "n"],
    "cat": ["c", "f", "s"],
    "dt": ["d"],
    "text": [],
    "codes": {
        "c": {"strings": ["3", "a", "b"]},
        "f": {"strings": ["False", "True"], "true_words": ["true", "yes"], "false_words": ["no"]},
        "s": {"strings": ["female", "male"], "true_words": ["yes"], "false_words": ["no"]},
    },
}


def record(**values: Any) -> dict[str, Any]:
    base = {"x": 1.5, "n": 2, "c": "a", "f": True, "s": "male", "d": "2024-03-01"}
    base.update(values)
    return base


def test_canonical_strings_follow_the_schema_convention() -> None:
    assert canonical_string(None) is None
    assert canonical_string("  a ") == "a"
    assert canonical_string("?") is None and canonical_string(" NA ") is None
    assert canonical_string(3) == "3" and canonical_string(3.0) == "3"
    assert canonical_string(2.5) == "2.5"
    assert canonical_string(True) == "True"
    assert canonical_string(float("nan")) is None
    for value in ({"a": 1}, [1, 2], np.int64(3)):
        with pytest.raises(TypeError):
            canonical_string(value)


def test_canonical_strings_of_records_match_the_training_categories() -> None:
    # What serving makes of a JSON record is what training made of the column.
    frame = load_dataset("adult", rows=2000)
    records = to_records(frame)
    for name in frame.columns:
        trained = as_strings(normalize_missing(frame[name]))
        served = [canonical_string(row[name]) for row in records]
        expected = [None if pd.isna(text) else text for text in trained]
        assert served == expected, name


def test_encodes_values_codes_and_dates() -> None:
    adapter = RecordAdapter(SCHEMA, SPEC)
    encoded = adapter.encode([record(), record(x=None, c="zzz", f="no", s=None, d=None)])
    num, cat, dt = encoded.feeds["num"], encoded.feeds["cat"], encoded.feeds["dt"]
    assert num[0].tolist() == [1.5, 2.0]
    assert math.isnan(num[1, 0])
    assert cat[0].tolist() == [FIRST_CODE + 1, FIRST_CODE + 1, FIRST_CODE + 1]
    assert cat[1].tolist() == [UNSEEN, FIRST_CODE + 0, MISSING]
    parts = dict(zip(DATE_PARTS, dt[0], strict=True))
    assert (parts["year"], parts["month"], parts["day"], parts["dayofweek"]) == (2024, 3, 1, 4)
    assert parts["epoch_days"] == pytest.approx(19783.0)
    assert np.isnan(dt[1]).all()
    assert encoded.unseen == [[], ["c"]]
    assert encoded.warnings == [
        {"record": 1, "column": "c", "message": "category unseen in training"}
    ]


def test_unseen_boolean_words_get_their_own_code() -> None:
    adapter = RecordAdapter(SCHEMA, SPEC)
    encoded = adapter.encode([record(s="Yes")])
    assert encoded.feeds["cat"][0, 2] == UNSEEN_TRUE


def test_problems_name_record_and_column() -> None:
    adapter = RecordAdapter(SCHEMA, SPEC)
    bad = [record(), {"x": 1.0}, record(x="abc"), record(f="maybe"), record(x=[1]), "row"]
    with pytest.raises(RecordsError) as caught:
        adapter.encode(bad)
    problems = {(p.record, p.column, p.kind) for p in caught.value.problems}
    assert (1, "n", "missing") in problems and (1, "d", "missing") in problems
    assert (2, "x", "value_error") in problems
    assert (3, "f", "value_error") in problems
    assert (4, "x", "type_error") in problems
    assert (5, None, "type") in problems
    assert not any(p.record == 0 for p in caught.value.problems)
    assert isinstance(caught.value, SchemaMismatchError)
    first = caught.value.problems[0].to_dict()
    assert first["loc"][:2] == ["body", "records"]


def test_infinity_is_refused_and_nan_is_missing() -> None:
    adapter = RecordAdapter(SCHEMA, SPEC)
    with pytest.raises(RecordsError, match="not a finite number"):
        adapter.encode([record(x=float("inf"))])
    encoded = adapter.encode([record(x=float("nan"), c=float("nan"))])
    assert math.isnan(encoded.feeds["num"][0, 0])
    assert encoded.feeds["cat"][0, 0] == MISSING


def test_extra_columns_are_ignored_with_a_warning_and_ids_are_optional() -> None:
    adapter = RecordAdapter(SCHEMA, SPEC)
    encoded = adapter.encode([{**record(), "unknown": 1, "id": 5}, record()])
    assert encoded.warnings[0]["message"] == "ignored extra column(s): unknown"


def test_validation_only_adapter_checks_every_feature() -> None:
    adapter = RecordAdapter(SCHEMA)
    assert adapter.encode([record()]).feeds == {}
    with pytest.raises(RecordsError):
        adapter.encode([record(n="seven")])


def test_numbers_as_text_and_odd_dates_take_the_library_path() -> None:
    adapter = RecordAdapter(SCHEMA, SPEC)
    encoded = adapter.encode([record(x=" 2.5e1 ", n="7", d="2024-03-01T10:30:00+02:00")])
    assert encoded.feeds["num"][0].tolist() == [25.0, 7.0]
    hour = encoded.feeds["dt"][0, DATE_PARTS.index("hour")]
    assert hour == 8.0  # converted to UTC


# --- the fast path reads values exactly as conform does ----------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from(["", " ", "?", "NA", "null", "nan", "a", " b ", "3", "3.0", "1e3", "-2"]),
    st.text(max_size=8),
)


def _conformed(value: Any, column: ColumnSchema) -> tuple[bool, Any]:
    values, bad = coerce_column(pd.Series([value], dtype=object), column)
    out = values.iloc[0]
    missing = out is None or out is pd.NA or (isinstance(out, float) and math.isnan(out))
    return bool(bad.iloc[0]), None if missing else out


@settings(max_examples=300, deadline=None)
@given(value=json_scalars)
def test_numbers_match_conform(value: Any) -> None:
    adapter = RecordAdapter(SCHEMA, SPEC)
    column = adapter.columns["x"]
    bad, expected = _conformed(value, NUMERIC)
    if bad:
        with pytest.raises((TypeError, ValueError)):
            column.number(value)
        return
    if expected is not None and math.isinf(float(expected)):
        with pytest.raises(ValueError):
            column.number(value)
        return
    got = column.number(value)
    if expected is None:
        assert math.isnan(got)
    else:
        assert got == float(expected)


@settings(max_examples=300, deadline=None)
@given(value=json_scalars)
def test_categories_match_conform(value: Any) -> None:
    adapter = RecordAdapter(SCHEMA, SPEC)
    _, expected = _conformed(value, CATEGORY)
    assert adapter.columns["c"].category(value) == expected


@settings(max_examples=200, deadline=None)
@given(value=json_scalars)
def test_boolean_words_match_conform(value: Any) -> None:
    adapter = RecordAdapter(SCHEMA, SPEC)
    bad, expected = _conformed(value, FLAG)
    column = adapter.columns["f"]
    if bad:
        with pytest.raises(ValueError):
            column.category(value)
        return
    got = column.category(value)
    assert got == (None if expected is None else str(bool(expected)))


def test_records_are_typed_as_the_model_reads_them() -> None:
    adapter = RecordAdapter(SCHEMA, SPEC)
    sent = record(x=2, n="12", c=3, f="yes", s="male", d="2024-03-01", id="7", extra=[1])
    assert adapter.typed(sent) == {
        "x": 2.0,
        "n": 12,
        "c": "3",
        "f": True,
        "s": "male",
        "d": "2024-03-01",
        "id": 7,
        "extra": [1],
    }
    typed = adapter.typed(record(x="?", n=3.0, f=0, id="not a number"))
    assert typed["x"] is None and typed["n"] == 3 and isinstance(typed["n"], int)
    assert typed["f"] is False and typed["id"] == "not a number"  # unreadable: as sent


def test_a_boolean_for_a_number_is_read_as_one_and_flagged() -> None:
    flags = ColumnSchema("senior", Role.BOOLEAN, "int", categories=("0", "1"), n_unique=2)
    schema = Schema((INTEGER, flags), target="y", task="regression")
    spec = {"num": ["n"], "cat": ["senior"], "codes": {"senior": {"strings": ["0", "1"]}}}
    encoded = RecordAdapter(schema, spec).encode(
        [{"n": True, "senior": 1}, {"n": 1, "senior": False}, {"n": 1, "senior": 1}]
    )
    assert encoded.feeds["num"][:, 0].tolist() == [1.0, 1.0, 1.0]
    assert encoded.feeds["cat"][:, 0].tolist() == [FIRST_CODE + 1, FIRST_CODE, FIRST_CODE + 1]
    flagged = [(w["record"], w["column"]) for w in encoded.warnings if "boolean" in w["message"]]
    assert flagged == [(0, "n"), (1, "senior")]
    assert not RecordAdapter(SCHEMA, SPEC).encode([record(f=True)]).warnings  # a real flag


def test_to_records_gives_plain_json_values_on_titanic() -> None:
    frame = load_dataset("titanic")
    records = to_records(frame)
    assert len(records) == len(frame)
    json.dumps(records, allow_nan=False)  # NaN would not be valid JSON
    missing_age = int(frame["Age"].isna().idxmax())
    assert records[missing_age]["Age"] is None
    assert type(records[0]["Pclass"]) is int and type(records[0]["Fare"]) is float
    assert records[0]["Name"] == frame.loc[0, "Name"]


def test_to_records_writes_times_as_iso_text() -> None:
    ratings = load_dataset("movielens_small_ratings", rows=50)
    frame = pd.DataFrame({"when": pd.to_datetime(ratings["timestamp"], unit="s")})
    frame.loc[3, "when"] = pd.NaT
    records = to_records(frame)
    first = pd.Timestamp(int(ratings.loc[0, "timestamp"]), unit="s")
    assert records[0]["when"] == first.isoformat()
    assert records[3]["when"] is None
    # a cell is one scalar: a duration is its text, as pandas prints it
    waits = pd.DataFrame({"wait": frame["when"].diff()})
    assert to_records(waits)[1]["wait"] == str(waits.loc[1, "wait"])


@pytest.mark.parametrize(
    ("dataset", "target", "dtype", "kind"),
    [("titanic", "Survived", "int", int), ("iris", None, "string", str)],
)
def test_restore_label_gives_the_targets_own_type(
    dataset: str, target: str | None, dtype: str, kind: type
) -> None:
    frame = load_dataset(dataset)
    column = frame[target] if target else frame.iloc[:, -1]
    labels = sorted({str(v) for v in column})
    restored = [restore_label(label, dtype) for label in labels]
    assert all(type(value) is kind for value in restored)
    assert set(restored) == set(column)


def test_restore_label_reads_booleans_and_floats_and_leaves_unknown_types() -> None:
    assert restore_label("True", "bool") is True and restore_label("False", "bool") is False
    assert restore_label("2.5", "float") == 2.5
    assert restore_label("3", None) == "3"
