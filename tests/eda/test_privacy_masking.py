"""The EDA page of a table holding personal data (telco_churn rows with
planted e-mails, card numbers, names, ...): those columns are profiled as
text with every value masked, their length statistics still true."""

from __future__ import annotations

from pathlib import Path

from cairn.eda import profile, write_profile_report
from tests.conftest import load_dataset
from tests.data.personal_data import PLANTED, with_personal_data


def test_personal_values_are_masked_on_the_page(tmp_path: Path) -> None:
    frame = with_personal_data(load_dataset("telco_churn", rows=500, seed=4), seed=4)
    data = profile(frame, target="Churn")
    by_name = {column.name: column for column in data.columns}
    email = by_name["email"]
    assert email.reason == "holds e-mail addresses; dropped from the features (privacy)"
    assert all("@" in value and "*" in value for value, _ in email.top)
    names = by_name["customer_name"]
    shown = {value.split(" #")[0] for value, _ in names.top}
    raw = set(frame["customer_name"])
    assert not shown & raw
    # masking keeps a value's first letter, length and spaces: the page's
    # length and word statistics stay those of the real names
    for value in shown:
        assert any(
            len(r) == len(value) and r[0] == value[0] and r.count(" ") == value.count(" ")
            for r in raw
        ), value
    assert sum(count for _, count in names.top) + names.other_count == len(frame)
    html = write_profile_report(data, tmp_path / "eda.html").read_text(encoding="utf-8")
    for column in PLANTED:
        for value in frame[column].astype(str).head(100):
            assert value not in html, (column, value)
    assert "date_of_birth" in html  # still profiled, masked (a quasi-identifier, kept)


def test_a_table_without_personal_data_is_shown_as_it_is() -> None:
    frame = load_dataset("telco_churn", rows=300, seed=4)
    data = profile(frame, target="Churn")
    contract = next(c for c in data.columns if c.name == "Contract")
    assert {value for value, _ in contract.top} == set(frame["Contract"])
    assert not any("(privacy)" in c.reason for c in data.columns)
