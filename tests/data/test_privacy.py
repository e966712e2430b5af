"""Personal data found in real tables (telco_churn with planted columns), the
privacy decisions applied, and no false alarm on the shared datasets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.data.privacy import detect_personal_data, mask_value, protect
from cairn.data.pseudonym import Pseudonymiser, is_pseudonym, project_key, pseudonym
from cairn.data.quality import check_and_clean
from cairn.data.schema import Role
from cairn.exceptions import DataError
from tests.conftest import dataset_path, load_dataset
from tests.data.personal_data import PLANTED, with_personal_data

# The supervised shared datasets (MANIFEST.csv), with the personal data they
# really hold: passengers' and customers' names.
SUPERVISED = [
    "titanic", "adult", "ames_house_prices", "california_housing", "telco_churn",
    "bank_marketing_full", "german_credit", "wine_quality_red", "car_evaluation", "insurance",
    "iris", "diamonds", "concrete", "power_plant", "bank_churn", "hr_attrition", "banknote",
    "sonar", "glass", "letter", "mammography",
]  # fmt: skip
TRUE_PERSONAL = {("titanic", "Name", "name"), ("bank_churn", "Surname", "name")}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """600 telco_churn rows with the planted columns, written to CSV and read
    back (card numbers come back as integers, as from a real export)."""
    frame = with_personal_data(load_dataset("telco_churn", rows=600, seed=2))
    path = tmp_path_factory.mktemp("privacy") / "customers.csv"
    frame.to_csv(path, index=False)
    return pd.read_csv(path)


def test_each_planted_column_is_found_with_its_kind_and_share(planted: pd.DataFrame) -> None:
    found = {item.column: item for item in detect_personal_data(planted, skip=["Churn"])}
    assert {name: item.kind for name, item in found.items()} == PLANTED
    for item in found.values():
        assert item.share == 1.0 and item.checked == 600
    assert found["email"].examples[0].count("***") == 2
    # no raw value is shown anywhere in the examples
    shown = " ".join(e for item in found.values() for e in item.examples)
    assert not any(str(v) in shown for v in planted["email"].head(50))


def test_a_share_below_half_counts_only_under_a_telling_name(planted: pd.DataFrame) -> None:
    mixed = planted[["email"]].rename(columns={"email": "remarks"})
    mixed.loc[mixed.index[:400], "remarks"] = "unknown"
    assert detect_personal_data(mixed) == []  # a third: not enough for any column
    (item,) = detect_personal_data(mixed.rename(columns={"remarks": "Email"}))
    assert item.kind == "email" and item.share == pytest.approx(200 / 600)
    mixed.loc[mixed.index[:300], "remarks"] = planted["email"].head(300)
    (item,) = detect_personal_data(mixed)
    assert item.kind == "email" and item.share == pytest.approx(500 / 600)


def test_e_mails_as_mail_programs_export_them_are_found(planted: pd.DataFrame) -> None:
    # "Mary Smith <mary.smith1@example.com>", "<...>" and "mailto:..." are addresses too.
    names = planted["customer_name"].astype(str)
    frame = pd.DataFrame(
        {
            "contact": [f"{n} <{e}>" for n, e in zip(names, planted["email"], strict=True)],
            "link": "mailto:" + planted["email"],
            "bare": " <" + planted["email"] + "> ",
            "subject": "re: <draft> " + names,  # angle brackets, no address
        }
    )
    found = {item.column: item for item in detect_personal_data(frame)}
    assert {name: item.kind for name, item in found.items()} == {
        "contact": "email",
        "link": "email",
        "bare": "email",
    }
    assert all(item.share == 1.0 for item in found.values())


def test_version_numbers_are_not_ip_addresses(planted: pd.DataFrame) -> None:
    # "4.2.17.3" is a dotted quad too; addresses spread their parts over 0-255.
    rng = np.random.default_rng(0)
    parts = rng.integers(0, 30, size=(len(planted), 4))
    frame = planted[["last_login_from"]].assign(
        app_build=[".".join(map(str, quad)) for quad in parts]
    )
    found = {item.column: item.kind for item in detect_personal_data(frame)}
    assert found == {"last_login_from": "ip"}
    # under a name that says so, small parts are addresses all the same
    renamed = frame[["app_build"]].rename(columns={"app_build": "client_ip"})
    assert [item.kind for item in detect_personal_data(renamed)] == ["ip"]


def test_zip_plus_four_codes_are_not_phone_numbers(planted: pd.DataFrame) -> None:
    rng = np.random.default_rng(1)
    codes = [f"{a:05d}-{b:04d}" for a, b in rng.integers(1000, 9999, size=(len(planted), 2))]
    frame = planted[["contact"]].assign(postal=codes)
    assert {item.column: item.kind for item in detect_personal_data(frame)} == {"contact": "phone"}


def test_card_numbers_with_gaps_read_as_floats_are_found(planted: pd.DataFrame) -> None:
    gappy = planted[["card_number"]].astype("float64")
    gappy.loc[gappy.index[::7], "card_number"] = float("nan")
    (item,) = detect_personal_data(gappy)
    assert item.kind == "card" and item.share == 1.0


def test_cards_failing_the_luhn_check_are_not_cards(planted: pd.DataFrame) -> None:
    broken = planted[["card_number"]] + 1  # the check digit is wrong for most
    found = detect_personal_data(broken)
    assert found == [] or found[0].share < 0.2


def test_no_personal_data_is_reported_where_there_is_none() -> None:
    """The 21 supervised shared datasets as they are: the only findings are
    the real person names in titanic and bank_churn."""
    seen = set()
    for name in SUPERVISED:
        path = dataset_path(name)
        frame = pd.read_csv(path, sep=";" if name == "wine_quality_red" else ",")
        if len(frame) > 5000:
            frame = frame.sample(n=5000, random_state=0)
        seen |= {(name, item.column, item.kind) for item in detect_personal_data(frame)}
    assert seen == TRUE_PERSONAL


def test_default_drops_direct_identifiers_with_an_error_giving_the_toml(
    planted: pd.DataFrame,
) -> None:
    result = check_and_clean(planted, target="Churn")
    findings = {f.column: f for f in result.report.findings if f.check.startswith("privacy_")}
    assert set(findings) == set(PLANTED)
    direct = [name for name, kind in PLANTED.items() if kind != "birth_date"]
    for name in direct:
        finding = findings[name]
        assert finding.severity == "error" and finding.applied
        assert f'privacy = {{{name} = "hash"}}' in finding.action
        assert name not in result.frame.columns and name not in result.schema
    birth = findings["date_of_birth"]
    assert birth.severity == "warning" and "date_of_birth" in result.schema.feature_names
    recorded = result.schema.metadata["privacy"]["columns"]
    assert recorded["email"] == {"kind": "email", "action": "drop", "share": 1.0}
    assert result.privacy_key is not None


def test_hash_replaces_values_by_keyed_hashes_and_keep_leaves_them(planted: pd.DataFrame) -> None:
    key = b"k" * 32
    result = check_and_clean(
        planted,
        target="Churn",
        privacy={"email": "hash", "customer_name": "hash", "contact": "keep"},
        privacy_key=key,
    )
    frame = result.frame
    assert frame["email"].map(is_pseudonym).all()
    assert frame["email"].iloc[0] == pseudonym(planted["email"].iloc[0], key)
    # 90 distinct fake names: still a category, under its hashes
    name = result.schema["customer_name"]
    assert name.is_feature and name.n_unique == planted["customer_name"].nunique()
    assert all(is_pseudonym(c) for c in name.categories or ())
    assert frame["contact"].tolist() == planted["contact"].tolist()
    severities = {f.column: f.severity for f in result.report.findings if f.column in PLANTED}
    assert severities["email"] == severities["contact"] == "info"
    text = result.report.to_frame().to_string()
    assert planted["email"].iloc[0] not in text


def test_the_same_key_hashes_alike_whatever_the_case_and_spaces() -> None:
    key = b"s" * 32
    assert pseudonym(" John.Smith@Example.com", key) == pseudonym("john.smith@example.com", key)
    assert pseudonym("4111 1111 1111 1111", key) == pseudonym(4111111111111111, key)
    assert pseudonym(4111111111111111.0, key) == pseudonym(4111111111111111, key)
    assert pseudonym("a@b.co", key) != pseudonym("a@b.co", b"t" * 32)
    hashed = pseudonym("a@b.co", key)
    assert pseudonym(hashed, key) == hashed  # a logged value scores again unchanged
    assert pseudonym(None, key) is None
    record = Pseudonymiser(["email"], key).record({"email": "a@b.co", "tenure": 3})
    assert record == {"email": hashed, "tenure": 3}


def test_unknown_column_in_privacy_is_one_clear_error(planted: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"column named in privacy 'e_mail' not found") as caught:
        check_and_clean(planted, target="Churn", privacy={"e_mail": "hash"})
    assert "did you mean 'email'" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(DataError, match="is the target"):
        protect(planted, target="Churn", decisions={"Churn": "hash"})


def test_an_identifier_named_in_id_columns_is_hashed_not_dropped(planted: pd.DataFrame) -> None:
    result = check_and_clean(planted, target="Churn", id_columns=["email"])
    assert result.frame["email"].map(is_pseudonym).all()
    assert result.schema["email"].role == Role.ID
    (finding,) = result.report.by_check("privacy_email")
    assert finding.severity == "warning" and 'privacy = {email = "keep"}' in finding.action


def test_a_column_named_in_privacy_but_not_detected_is_still_protected(
    planted: pd.DataFrame,
) -> None:
    result = check_and_clean(planted, target="Churn", privacy={"customerID": "hash"})
    assert result.frame["customerID"].map(is_pseudonym).all()
    (finding,) = result.report.by_check("privacy_named")
    assert finding.column == "customerID" and finding.severity == "info"


def test_project_key_is_made_once_and_private(tmp_path: Path) -> None:
    first = project_key(tmp_path)
    again = project_key(tmp_path)
    path = tmp_path / ".cairn" / "privacy.key"
    assert first == again and len(first) == 32
    assert path.stat().st_mode & 0o777 == 0o600


def test_masking_gives_nothing_away() -> None:
    assert mask_value("john.doe@example.com") == "j***@e***.com"
    assert mask_value("4111111111111111") == "4***1"
    assert mask_value("Ann") == "***"


def test_cairn_run_names_an_unknown_privacy_column_in_one_line(
    planted: pd.DataFrame, tmp_path: Path
) -> None:
    planted.head(200).to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "cairn.toml").write_text(
        '[project]\nname = "x"\n[data]\nsources = [{ path = "data.csv" }]\n'
        'privacy = { e_mail = "hash" }\n[problem]\ntarget = "Churn"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "run", "--no-register"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "privacy 'e_mail' not found" in lines[0] and "did you mean 'email'" in lines[0]
