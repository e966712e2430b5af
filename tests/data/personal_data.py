"""Personal-data columns planted in a real table for the privacy tests: every
value generated here (fake people, Luhn-valid card numbers, IBANs with their
check digits), the rows themselves from ../shared/datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd
from stdnum import iban, luhn

GIVEN = ["James", "Mary", "Robert", "Linda", "Michael", "Sarah", "David", "Emma", "Thomas", "Anna"]
FAMILY = ["Smith", "Jones", "Garcia", "Brown", "Miller", "Davis", "Wilson", "Moore", "Clark"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net"]


def _card(rng: np.random.Generator) -> str:
    body = "4" + "".join(str(d) for d in rng.integers(0, 10, size=14))
    return body + luhn.calc_check_digit(body)


def _iban(rng: np.random.Generator) -> str:
    account = "WEST" + "".join(str(d) for d in rng.integers(0, 10, size=14))
    return "GB" + iban.calc_check_digits("GB00" + account) + account


def _ssn(rng: np.random.Generator) -> str:
    return f"{rng.integers(1, 665):03d}-{rng.integers(1, 100):02d}-{rng.integers(1, 10000):04d}"


def with_personal_data(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """``frame`` with columns of e-mails, card numbers, phones, IBANs, IPs,
    US SSNs, dates of birth and customer names, one value per row."""
    rng = np.random.default_rng(seed)
    n = len(frame)
    given = rng.choice(GIVEN, size=n)
    family = rng.choice(FAMILY, size=n)
    out = frame.copy()
    out["email"] = [
        f"{g.lower()}.{f.lower()}{i}@{rng.choice(DOMAINS)}"
        for i, (g, f) in enumerate(zip(given, family, strict=True))
    ]
    out["card_number"] = [_card(rng) for _ in range(n)]
    out["contact"] = [
        f"+1 ({rng.integers(201, 990)}) {rng.integers(200, 999)}-{rng.integers(1000, 9999)}"
        for _ in range(n)
    ]
    out["account"] = [_iban(rng) for _ in range(n)]
    out["last_login_from"] = [".".join(map(str, rng.integers(1, 255, size=4))) for _ in range(n)]
    out["ssn"] = [_ssn(rng) for _ in range(n)]
    births = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 20000, size=n), "D")
    out["date_of_birth"] = births.strftime("%Y-%m-%d")
    out["customer_name"] = [f"{g} {f}" for g, f in zip(given, family, strict=True)]
    return out


#: column -> the kind cairn must report for it
PLANTED = {
    "email": "email",
    "card_number": "card",
    "contact": "phone",
    "account": "iban",
    "last_login_from": "ip",
    "ssn": "national_id",
    "date_of_birth": "birth_date",
    "customer_name": "name",
}
