"""Personal data in the training table: which columns hold it, and what cairn
does with each as ``[data] privacy`` says.

:func:`detect_personal_data` checks a sample of each column's values for
e-mail addresses, phone numbers, payment card numbers (Luhn check), IBANs
(checksum), IP addresses, national identity numbers (US SSN, UK NINO and the
numbers python-stdnum validates), dates of birth and person names, and gives
the share of values that match. :func:`protect` then applies the decisions:
a direct identifier not named in ``privacy`` is dropped from the features
(an error-level finding that gives the TOML line to hash or keep it);
``"hash"`` replaces it by a keyed hash (:mod:`cairn.data.pseudonym`) that
still works as a category; ``"keep"`` leaves it as it is. A date of birth is
a quasi-identifier: kept unless the spec says otherwise, with a warning.

Examples in messages are masked (``j***@e***.com``): reports never show
the values themselves.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from cairn.data.findings import Finding, Severity
from cairn.data.pseudonym import Pseudonymiser, new_key
from cairn.data.schema import missing_column_message
from cairn.data.values import as_strings
from cairn.exceptions import DataError

__all__ = [
    "KINDS",
    "PersonalData",
    "Protected",
    "detect_personal_data",
    "mask_value",
    "protect",
]

#: What each kind of personal data is called in messages.
KINDS: dict[str, str] = {
    "email": "e-mail addresses",
    "phone": "phone numbers",
    "card": "payment card numbers",
    "iban": "bank account numbers (IBAN)",
    "ip": "IP addresses",
    "national_id": "national identity numbers",
    "birth_date": "dates of birth",
    "name": "person names",
    "named": "personal data (named in privacy)",
}
# Quasi-identifiers: kept unless the spec says otherwise.
_INDIRECT = frozenset({"birth_date"})
SAMPLE = 2000  # values checked per column
MIN_SHARE = 0.5  # share of checked values that must match ...
HINTED_SHARE = 0.3  # ... or this share when the column's name says what it holds
_ORDER = ("email", "card", "iban", "ip", "national_id", "phone", "birth_date", "name")

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")
# An address as mail programs export it: "Jane Doe <jane@example.com>",
# "<jane@example.com>", "mailto:jane@example.com".
_EMAIL_WRAPPED = re.compile(r"^(?:[^<>@]*<(?P<inner>[^<>]+)>|mailto:(?P<link>\S+))$", re.IGNORECASE)
_ZIP_PLUS_FOUR = re.compile(r"^\d{5}-\d{4}$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-/]+$")
_SSN = re.compile(r"^\d{3}-\d{2}-\d{4}$")
# UK National Insurance number: two letters (not D, F, I, Q, U, V; the second
# not O), six digits, a suffix A-D.
_NINO = re.compile(r"^(?!BG|GB|NK|KN|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")


# The smallest card number (13 digits): shorter whole numbers in a column
# not named as a phone or id column are skipped without being read as text.
CARD_FLOOR = 1e12


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NAME_CHARS = re.compile(r"^[^\W\d_][^\d@#$%^&*=+<>{}\[\]|\\/:;~!?]*$")
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "master", "rev", "sir", "madam"})
# Common given names (English-speaking and European), to tell a column of
# person names from one of product or place names.
_GIVEN_NAMES = _word_set(
    """
    james john robert michael william david richard joseph thomas charles christopher daniel
    matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy
    ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin
    scott brandon benjamin samuel gregory alexander frank patrick raymond jack dennis jerry
    tyler aaron jose adam nathan henry douglas zachary peter kyle noah ethan jeremy walter
    christian keith roger terry austin sean gerald carl harold dylan arthur lawrence jordan
    jesse bryan billy bruce gabriel joe logan alan juan albert willie elijah wayne randy
    vincent mason roy ralph bobby russell bradley philip eugene louis harry oliver leo
    mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty
    sandra margaret ashley kimberly emily donna michelle carol amanda melissa deborah stephanie
    dorothy rebecca sharon laura cynthia amy kathleen angela shirley brenda emma anna pamela
    nicole samantha katherine christine helen debra rachel carolyn janet maria catherine
    heather diane olivia julie joyce victoria ruth virginia lauren kelly christina joan
    evelyn judith andrea hannah megan cheryl jacqueline martha madison teresa gloria sara
    janice ann kathryn abigail sophia frances jean alice judy isabella julia grace amber
    denise danielle marilyn beverly charlotte natalie theresa diana brittany doris kayla
    alexis lori marie ellen florence edith annie ada lucy rose clara bertha elsie ida
    hans peter klaus jurgen anna ursula pierre jean marie sophie luca marco giulia
    francesco alessandro pablo carlos miguel lucia carmen antonio manuel ana ivan olga
    """
)
# Column-name words that say "a person's name".
_NAME_WORDS = frozenset({"name", "surname", "forename", "firstname", "lastname", "fullname"})
_PERSON_WORDS = _word_set(
    """first last given family full middle maiden customer client patient employee user
    person passenger contact member owner holder cardholder account student applicant guest
    buyer seller driver recipient sender beneficiary payee payer insured policyholder
    subscriber caller borrower tenant resident respondent participant"""
)
_HINTS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"e_?mail|mail_?addr"),
    "phone": re.compile(r"phone|mobile|cell|tel(ephone)?$|^tel_|fax|msisdn"),
    "card": re.compile(r"card|pan$|^cc_|credit"),
    "iban": re.compile(r"iban|account_?n(o|um)"),
    "ip": re.compile(r"(^|_)ip(_|$|v4|v6|addr)|ip_?address"),
    "national_id": re.compile(
        r"ssn|social_?sec|nino|national_?(id|ins)|passport|tax_?id|tin$|nir$|bsn|cpr$|"
        r"pesel|cpf|aadhaar|personnummer|dni$|nie$|codice_?fiscale|hetu|fodselsnummer"
    ),
    "birth_date": re.compile(r"birth|(^|_)dob(_|$)|(^|_)born(_|$)|bday"),
}


@dataclass(frozen=True)
class PersonalData:
    """A column found to hold personal data.

    Attributes:
        column: the column.
        kind: a key of :data:`KINDS`.
        matched: checked values that look like ``kind``.
        checked: non-missing values checked (a sample of at most :data:`SAMPLE`).
        examples: a few matching values, masked.
    """

    column: str
    kind: str
    matched: int
    checked: int
    examples: tuple[str, ...] = ()

    @property
    def share(self) -> float:
        return self.matched / self.checked if self.checked else 0.0

    @property
    def direct(self) -> bool:
        """A direct identifier (dropped by default), not a quasi-identifier."""
        return self.kind not in _INDIRECT

    @property
    def label(self) -> str:
        return KINDS[self.kind]


@dataclass
class Protected:
    """The table after the privacy decisions, with what was done.

    Attributes:
        frame: dropped columns removed, hashed columns replaced.
        findings: one per personal-data column.
        columns: ``{column: {"kind", "action", "share"}}`` for the schema's
            metadata (what the bundle, the server and the card read).
        key: the hashing key, when a column is protected (dropped or hashed).
    """

    frame: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: bytes | None = None


# ---------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------


def mask_value(value: Any) -> str:
    """A value shown without giving it away: ``j***@e***.com``, ``4***1``."""
    text = str(value).strip()
    if "@" in text:
        local, _, domain = text.partition("@")
        head, dot, tld = domain.rpartition(".")
        masked_domain = f"{head[:1]}***{dot}{tld}" if dot else f"{domain[:1]}***"
        return f"{local[:1]}***@{masked_domain}"
    if len(text) < 6:
        return "***"
    return f"{text[0]}***{text[-1]}"


def _masked_examples(values: pd.Series, limit: int = 3) -> tuple[str, ...]:
    return tuple(mask_value(v) for v in list(dict.fromkeys(values.tolist()))[:limit])


# ---------------------------------------------------------------------------
# Value tests
# ---------------------------------------------------------------------------


def _email(text: str) -> bool:
    text = text.strip()
    wrapped = _EMAIL_WRAPPED.match(text)
    if wrapped is not None:
        text = (wrapped.group("inner") or wrapped.group("link")).strip()
    return _EMAIL.match(text) is not None


def _luhn_card(text: str) -> bool:
    from stdnum import luhn

    digits = text.replace(" ", "").replace("-", "")
    if not (13 <= len(digits) <= 19) or not digits.isdigit() or digits[0] not in "23456":
        return False
    return len(set(digits)) > 2 and bool(luhn.is_valid(digits))


def _iban(text: str) -> bool:
    from stdnum import iban

    compact = text.replace(" ", "")
    if not (15 <= len(compact) <= 34) or not compact[:2].isalpha():
        return False
    return bool(iban.is_valid(compact))


def _ip(text: str) -> bool:
    if text.count(".") != 3 and ":" not in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _version_numbers(hits: list[str]) -> bool:
    """Dotted quads whose parts all stay under 100 ("3.5.7.1"): version or
    build numbers rather than addresses, which spread over 0-255."""
    quads = [text.split(".") for text in hits if text.count(".") == 3]
    return len(quads) == len(hits) and all(int(part) < 100 for quad in quads for part in quad)


def _phone(text: str, hinted: bool) -> bool:
    if not _PHONE_CHARS.match(text):
        return False
    digits = sum(ch.isdigit() for ch in text)
    if not ((7 if hinted else 9) <= digits <= 15):
        return False
    if hinted or text.startswith("+") or "(" in text:
        return True
    if _ZIP_PLUS_FOUR.match(text):
        return False  # a US postal code, 12345-6789
    # written as phone numbers are: digit groups split by spaces, dashes or
    # dots (one dot alone is a decimal point)
    separators = sum(ch in " -/" for ch in text) + (text.count(".") if text.count(".") > 1 else 0)
    return separators >= 1


# python-stdnum modules for identity numbers with a distinctive written form
# (letters or separators), checked on any text column ...
_FORMATTED_IDS = ("es.dni", "es.nie", "it.codicefiscale", "fi.hetu", "se.personnummer", "br.cpf")
# ... and those written as plain digits, checked only when the column's
# name says it holds identity numbers (plain digits are too often other codes).
_DIGIT_IDS = ("us.ssn", "fr.nir", "nl.bsn", "pl.pesel", "no.fodselsnummer", "dk.cpr", "be.nn")


@functools.cache
def _validators(names: tuple[str, ...]) -> list[Callable[[str], bool]]:
    import importlib

    return [importlib.import_module(f"stdnum.{name}").is_valid for name in names]


def _national_id(text: str, hinted: bool) -> bool:
    if not hinted and _ZIP_PLUS_FOUR.match(text):
        return False
    if _SSN.match(text):
        from stdnum.us import ssn

        return bool(ssn.is_valid(text))
    compact = text.replace(" ", "").upper()
    if _NINO.match(compact):
        return True
    plain = text.isdigit()
    # every number checked below has at least 6 digits
    if not 8 <= len(compact) <= 20 or sum(ch.isdigit() for ch in compact) < 6:
        return False
    if plain and not hinted:
        return False
    checks = _validators(_DIGIT_IDS if plain else _FORMATTED_IDS + _DIGIT_IDS)
    if not plain and not hinted and not any(ch.isalpha() or ch in "-+." for ch in text):
        return False
    return any(check(text) for check in checks)


def _name_tokens(text: str) -> list[str]:
    return [token.strip(".,'\"()").lower() for token in text.split()]


def _name_shaped(text: str) -> bool:
    return (
        2 <= len(text) <= 60
        and bool(_NAME_CHARS.match(text))
        and 1 <= len(text.split()) <= 6
        and text[0].isupper()
    )


# ---------------------------------------------------------------------------
# Column tests
# ---------------------------------------------------------------------------


def _name_words(column: str) -> list[str]:
    """``CustomerName``, ``customer-name``, ``Customer Name`` → customer, name."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", column)
    return [word for word in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if word]


def _name_hint(column: str) -> str | None:
    """ "surname", "given", "full" or "person" when the column's name says it
    holds a person's name, else None."""
    words = _name_words(column)
    if not words:
        return None
    last = words[-1]
    if last in ("surname", "lastname") or words[-2:] in (["last", "name"], ["family", "name"]):
        return "surname"
    if last in ("forename", "firstname") or words[-2:] in (["first", "name"], ["given", "name"]):
        return "given"
    if last not in _NAME_WORDS:
        return None
    if len(words) == 1 or last == "fullname" or words[-2:] == ["full", "name"]:
        return "full"
    return "person" if all(word in _PERSON_WORDS for word in words[:-1]) else None


def _hinted(column: str) -> set[str]:
    key = "_".join(_name_words(column))
    kinds = {kind for kind, pattern in _HINTS.items() if pattern.search(key)}
    if _name_hint(column):
        kinds.add("name")
    return kinds


def _sample(series: pd.Series) -> pd.Series:
    """The column's non-missing values, or a fixed random :data:`SAMPLE` of
    them (drawn by position: cheap on a column of millions of rows)."""
    present = np.flatnonzero(series.notna().to_numpy())
    if len(present) > SAMPLE:
        chosen = np.random.default_rng(0).choice(len(present), size=SAMPLE, replace=False)
        present = present[np.sort(chosen)]
    return series.iloc[present]


def _value_test(kind: str, hinted: bool, hint: str | None) -> Callable[[str], bool]:
    tests: dict[str, Callable[[str], bool]] = {
        "email": _email,
        "card": _luhn_card,
        "iban": _iban,
        "ip": _ip,
        "national_id": lambda text: _national_id(text, hinted),
        "phone": lambda text: _phone(text, hinted),
        "name": lambda text: _person_name(text, hint),
    }
    return tests[kind]


def _person_name(text: str, hint: str | None) -> bool:
    """Whether a value looks like a person's name, given what the column's
    name says: any name-shaped value in a surname or "customer_name" column;
    in a "name" or "first_name" column, and in a column whose name says
    nothing, only with a common given name or a title ("Mr.") in it."""
    if not _name_shaped(text):
        return False
    if hint in ("surname", "person"):
        return True
    words = _name_tokens(text)
    if hint is None and not 2 <= len(words) <= 4:
        return False
    return any(word in _GIVEN_NAMES or word in _TITLES for word in words)


def _birth_dates(values: pd.Series) -> pd.Series:
    """Which values read as a plausible date of birth (1900 to today)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        dates = values
    else:
        texts = as_strings(values)
        dated = texts.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", regex=True)
        if not bool(dated.mean() > 0.5):
            return pd.Series(False, index=values.index)
        dates = pd.to_datetime(texts, errors="coerce", format="mixed")
    today = pd.Timestamp(date.today())
    return dates.notna() & (dates >= pd.Timestamp("1900-01-01")) & (dates <= today)


def _candidates(values: pd.Series, hints: set[str], counts: dict[str, int]) -> tuple[str, ...]:
    """The kinds worth testing on a column, from its type and a glance at its values."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return ("birth_date",) if "birth_date" in hints else ()
    if pd.api.types.is_float_dtype(values.dtype):
        # whole numbers with gaps are read as floats: long ones may be cards
        if not bool((values % 1 == 0).all()) or float(values.abs().max()) >= 2**53:
            return ()
        return ("card", *(k for k in ("phone", "national_id") if k in hints))
    if pd.api.types.is_integer_dtype(values.dtype):
        return ("card", *(k for k in ("phone", "national_id") if k in hints))
    kinds = []
    digits = any(any(ch.isdigit() for ch in text) for text in counts)
    for kind in _ORDER:
        if kind == "email" and not any("@" in text for text in counts):
            continue
        if kind in ("card", "iban", "ip", "national_id", "phone", "birth_date") and not digits:
            continue
        if kind == "birth_date" and kind not in hints:
            continue
        if kind == "name" and len(counts) < max(10, 0.05 * sum(counts.values())):
            continue  # a few repeated labels, not people
        kinds.append(kind)
    return tuple(kinds)


def _column_finding(name: str, series: pd.Series) -> PersonalData | None:
    if pd.api.types.is_bool_dtype(series.dtype):
        return None
    values = _sample(series)
    if values.empty:
        return None
    hints = _hinted(name)
    if pd.api.types.is_numeric_dtype(values.dtype) and not hints & {"phone", "national_id"}:
        numbers = values.to_numpy(dtype=float)
        if not bool(np.all(numbers % 1 == 0)) or float(np.abs(numbers).max()) < CARD_FLOOR:
            return None  # not whole, or too short for a card number: nothing to test
    whole = pd.api.types.is_float_dtype(values.dtype) and bool((values % 1 == 0).all())
    # 16-digit whole numbers read as floats written out in full, not as 4.1e+15
    texts = values.astype("int64").astype("str") if whole else as_strings(values)
    # each distinct value tested once, weighted by how often it occurs
    counts = {str(text): int(n) for text, n in texts.value_counts().items()}
    best: PersonalData | None = None
    for kind in _candidates(values, hints, counts):
        hinted = kind in hints
        if kind == "birth_date":
            matched = _birth_dates(values)
            count = int(matched.sum())
            examples = _masked_examples(texts[matched])
        else:
            test = _value_test(kind, hinted, _name_hint(name))
            hits = [text for text in counts if test(text)]
            if kind == "ip" and not hinted and _version_numbers(hits):
                continue
            count = sum(counts[text] for text in hits)
            examples = tuple(mask_value(text) for text in hits[:3])
        needed = HINTED_SHARE if hinted else MIN_SHARE
        if count and count >= needed * len(values) and (best is None or count > best.matched):
            best = PersonalData(name, kind, count, len(values), examples)
    return best


def detect_personal_data(frame: pd.DataFrame, *, skip: Sequence[str] = ()) -> list[PersonalData]:
    """The columns of ``frame`` (but ``skip``) that hold personal data, one
    entry each, with the share of checked values that match."""
    found = []
    for label in frame.columns:
        name = str(label)
        if name in skip:
            continue
        column = _column_finding(name, frame[label])
        if column is not None:
            found.append(column)
    return found


# ---------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_\-]+", name) else json.dumps(name)


def _line(name: str, action: str) -> str:
    return f"privacy = {{{_toml_key(name)} = {json.dumps(action)}}}"


def _finding(item: PersonalData, action: str, chosen: bool) -> Finding:
    name = item.column
    seen = (
        f"column {name!r} holds {item.label}: {item.share:.0%} of {item.checked} checked values "
        f"match" + (f", e.g. {', '.join(item.examples)}" if item.examples else "")
    )
    if item.kind == "named":
        seen = f"column {name!r} is named in privacy as personal data"
    severity: Severity = "info"
    if action == "drop":
        if chosen:
            what = "dropped from the features, as privacy says"
        else:
            severity = "error"
            what = (
                f"dropped from the features; to use it as a hashed category write "
                f"{_line(name, 'hash')} in [data], or {_line(name, 'keep')} to keep it as it is"
            )
    elif action == "hash" and not chosen:
        severity = "warning"
        what = (
            "replaced by a keyed hash (HMAC-SHA256 with the project's secret), as it is named "
            "in id_columns: it still tells rows apart, never in clear; write "
            f"{_line(name, 'drop')} or {_line(name, 'keep')} in [data] to decide otherwise"
        )
    elif action == "hash":
        what = (
            "replaced by a keyed hash (HMAC-SHA256 with the project's secret): usable as a "
            "category, never stored or logged in clear; served requests are hashed the same way"
        )
    elif chosen:
        what = "kept unchanged, as privacy says (the prediction log stores it in clear)"
    else:
        severity = "warning"
        what = (
            f"kept: a quasi-identifier; to drop it write {_line(name, 'drop')} in [data] "
            "(or derive an age band from it before training)"
        )
    return Finding(
        f"privacy_{item.kind}", severity, name, item.matched, seen, what, action != "keep"
    )


def _check_named(frame: pd.DataFrame, decisions: Mapping[str, str], target: str | None) -> None:
    for name in decisions:
        if name not in frame.columns:
            raise DataError(
                missing_column_message("column named in privacy", name, list(frame.columns), "data")
            )
        if name == target:
            raise DataError(
                f"privacy: column {name!r} is the target; a target cannot be dropped or hashed, "
                "remove it from privacy"
            )


def protect(
    frame: pd.DataFrame,
    *,
    target: str | None,
    decisions: Mapping[str, str] | None = None,
    key: bytes | Callable[[], bytes] | None = None,
    skip: Sequence[str] = (),
    id_columns: Sequence[str] = (),
) -> Protected:
    """Find personal data in ``frame`` and apply the privacy decisions.

    Args:
        decisions: ``[data] privacy``, column → "drop" | "hash" | "keep".
        key: the hashing key, or a function giving it (called only when a
            column is protected); None: a fresh random key.
        skip: columns not checked (a clustering's ground truth).
        id_columns: the spec's identifier columns: never features, so a
            direct identifier among them is hashed by default (rows stay
            told apart for the split and later joins) rather than dropped.

    Raises:
        DataError: a column named in ``decisions`` is not in the table, or is
            the target.
    """
    decisions = dict(decisions or {})
    _check_named(frame, decisions, target)
    found = {item.column: item for item in detect_personal_data(frame, skip=(target or "", *skip))}
    for name in decisions:
        if name not in found:
            found[name] = PersonalData(name, "named", int(frame[name].notna().sum()), len(frame))
    result = Protected(frame)
    for name in [str(c) for c in frame.columns if str(c) in found]:
        item = found[name]
        default = ("hash" if name in id_columns else "drop") if item.direct else "keep"
        action = decisions.get(name) or default
        result.findings.append(_finding(item, action, name in decisions))
        result.columns[name] = {"kind": item.kind, "action": action, "share": round(item.share, 4)}
    protected = [name for name, entry in result.columns.items() if entry["action"] != "keep"]
    if not protected:
        return result
    result.key = key() if callable(key) else (key or new_key())
    dropped = [name for name in protected if result.columns[name]["action"] == "drop"]
    hashed = [name for name in protected if result.columns[name]["action"] == "hash"]
    result.frame = Pseudonymiser(hashed, result.key).frame(frame.drop(columns=dropped))
    return result
