"""Numbers written for people: currency symbols and codes, thousands
separators, decimal commas, percentages, parenthesised and trailing-minus
negatives ("$1,234.50", "1.234,56 €", "45.2%", "(1,234.50)").

A column's format is decided once from all its distinct values
(:func:`read_formatted`): every reading of the decimal and thousands
separators that fits every value is tried, and a column is converted only
when those readings agree on every number, or when the source's own
``decimal`` / ``thousands`` settings pick one. The chosen
:class:`NumberFormat` is stored in the model's schema so that scoring reads
"$1,234.50" as training did (:func:`parse_with`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Ambiguous", "NumberFormat", "looks_numeric", "parse_with", "read_formatted"]

_CURRENCY_SYMBOLS = "$€£¥₹₩₽₺₪₫₴₦฿"
_CURRENCY_CODES = (
    "USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|CNY|RMB|INR|SEK|NOK|DKK|PLN|CZK|HUF|BRL|MXN|ZAR|"
    "SGD|HKD|KRW|RUB|TRY|ILS"
)
# A currency mark before or after the number: "$", "US$", "R$", "EUR", "€".
_CURRENCY = rf"(?:[A-Z]{{0,2}}[{_CURRENCY_SYMBOLS}]|(?:{_CURRENCY_CODES})\b)"
_VALUE = re.compile(
    rf"""^
    (?P<lead>[+-])?\s*
    (?P<open>\()?\s*
    (?P<sign>[+-])?\s*
    (?P<pre>{_CURRENCY})?\s*
    (?P<sign2>[+-])?\s*
    (?P<core>\d[\d.,' _]*\d|\d|[.,]\d+)
    \s*(?P<pct>%)?
    \s*(?P<post>{_CURRENCY})?\s*
    (?P<close>\))?
    (?P<trail>-)?
    $""",
    re.VERBOSE,
)
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "’": "'", "\u2212": "-"})
_DECIMALS = (".", ",")
_DOT_DECIMAL_CURRENCIES = frozenset(
    {"$", "US$", "USD", "£", "GBP", "¥", "JPY", "CNY", "RMB", "₹", "INR", "CA$", "CAD", "A$", "AUD"}
)
_THOUSANDS: tuple[str | None, ...] = (None, ",", ".", " ", "'", "_")
# One currency written as a symbol in some rows and as its code in others
# ("€ 12" and "EUR 12") is one currency, not a mix.
_SAME_CURRENCY = {
    "€": "EUR",
    "£": "GBP",
    "$": "USD",
    "US$": "USD",
    "CA$": "CAD",
    "A$": "AUD",
    "R$": "BRL",
    "₹": "INR",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "₪": "ILS",
}


def _currency(mark: str | None) -> str | None:
    return None if mark is None else _SAME_CURRENCY.get(mark, mark)


@dataclass(frozen=True)
class NumberFormat:
    """How one column writes its numbers."""

    decimal: str = "."
    thousands: str | None = None
    percent: bool = False
    currency: str | None = None  # the mark seen ("$", "EUR"), None when there is none
    parentheses: bool = False  # "(12)" is -12

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumberFormat:
        return cls(
            decimal=str(data.get("decimal", ".")),
            thousands=data.get("thousands"),
            percent=bool(data.get("percent", False)),
            currency=data.get("currency"),
            parentheses=bool(data.get("parentheses", False)),
        )

    def describe(self) -> str:
        parts = []
        if self.currency:
            parts.append(f"currency {self.currency!r} removed")
        if self.thousands:
            shown = {" ": "space", "'": "apostrophe", "_": "underscore"}.get(
                self.thousands, repr(self.thousands)
            )
            parts.append(f"thousands separator {shown}")
        if self.decimal != ".":
            parts.append(f"decimal {self.decimal!r}")
        if self.percent:
            parts.append("percentages divided by 100 (45.2% is 0.452)")
        if self.parentheses:
            parts.append("(x) read as -x")
        return ", ".join(parts) or "plain numbers"


@dataclass(frozen=True)
class Ambiguous:
    """Values that are numbers under several readings giving different numbers."""

    example: str
    readings: tuple[tuple[str, float], ...]  # (decimal, the example's value)


@dataclass(frozen=True)
class _Parts:
    negative: bool
    core: str
    percent: bool
    currency: str | None
    parentheses: bool


def _split(text: str) -> _Parts | None:
    match = _VALUE.match(text.translate(_SPACES).strip())
    if match is None:
        return None
    signs = [match.group(k) for k in ("lead", "sign", "sign2") if match.group(k)]
    trail = match.group("trail")
    opened, closed = bool(match.group("open")), bool(match.group("close"))
    if opened != closed or len(signs) + bool(trail) > 1:
        return None
    pre, post = match.group("pre"), match.group("post")
    if pre and post:
        return None
    negative = opened or "-" in signs or bool(trail)
    if opened and signs:
        return None
    return _Parts(negative, match.group("core"), bool(match.group("pct")), pre or post, opened)


def _zero(parts: _Parts) -> bool:
    return not parts.percent and set(parts.core) <= set("0.,")


def looks_numeric(text: str) -> bool:
    """Whether ``text`` has the shape of a (formatted) number."""
    return _split(text) is not None


def _core_value(core: str, decimal: str, thousands: str | None) -> float | None:
    """The core digits read with one decimal and thousands separator, or None
    when they do not fit that reading (groups of three after the first)."""
    head, sep, tail = core.partition(decimal)
    if sep and (not tail.isdigit() or decimal in tail):
        return None
    if not head:
        return float(f"0.{tail}") if sep else None
    if thousands is not None and thousands in head:
        groups = head.split(thousands)
        first = groups[0]
        if not (1 <= len(first) <= 3 and first.isdigit()) or first.startswith("0"):
            return None
        if any(len(group) != 3 or not group.isdigit() for group in groups[1:]):
            return None
        head = "".join(groups)
    elif not head.isdigit():
        return None
    return float(f"{head}.{tail}" if sep else head)


def _unseparated_long(core: str, decimal: str, thousands: str | None) -> bool:
    """A whole part of four or more digits written without the thousands
    separator that other values of the column use."""
    if thousands is None:
        return False
    head = core.partition(decimal)[0]
    return len(head) >= 4 and head.isdigit()


def _value(parts: _Parts, decimal: str, thousands: str | None) -> float | None:
    number = _core_value(parts.core, decimal, thousands)
    if number is None:
        return None
    if parts.negative:
        number = -number
    return number / 100.0 if parts.percent else number


def parse_with(texts: list[str], fmt: NumberFormat) -> np.ndarray:
    """``texts`` read with a column's known format; NaN where one does not fit.

    The decimal separator is the column's; a thousands separator, a currency
    mark the column had (or none) and a missing "%" are accepted, so that a
    value typed differently from the training file still reads the same.
    """
    out = np.full(len(texts), np.nan)
    separators = [fmt.thousands, *(s for s in _THOUSANDS if s not in (fmt.thousands, fmt.decimal))]
    for position, text in enumerate(texts):
        parts = _split(text)
        if parts is None or _currency(parts.currency) not in (None, _currency(fmt.currency)):
            continue
        if parts.percent and not fmt.percent:
            continue
        for sep in separators:
            number = _value(parts, fmt.decimal, sep)
            if number is not None:
                out[position] = number
                break
    return out


def read_formatted(
    texts: list[str], *, decimal: str | None = None, thousands: str | None = None
) -> tuple[np.ndarray, NumberFormat] | Ambiguous | None:
    """Distinct texts read as formatted numbers, with the format found.

    Returns None when some value is not a number in any reading (or the
    column mixes currencies, or percentages with plain numbers); an
    :class:`Ambiguous` when several readings fit every value but give
    different numbers and neither ``decimal`` nor ``thousands`` decides.
    """
    if not texts:
        return None
    if decimal is None and thousands in (",", "."):
        decimal = "." if thousands == "," else ","
    parts_list: list[_Parts] = []
    for text in texts:
        parts = _split(text)
        if parts is None:
            return None  # stops at the first value that is no number (a text column)
        parts_list.append(parts)
    currencies = {_currency(parts.currency) for parts in parts_list if parts.currency}
    # A plain zero among percentages ("0" next to "45.2%") is zero either way.
    percents = {parts.percent for parts in parts_list if not _zero(parts)} or {False}
    if len(currencies) > 1 or len(percents) > 1:
        return None
    readings: list[tuple[int, str, str | None, np.ndarray]] = []
    for dec in _DECIMALS if decimal is None else (decimal,):
        for sep in _THOUSANDS:
            if sep == dec or (thousands is not None and sep not in (None, thousands)):
                continue
            values = [_value(parts, dec, sep) for parts in parts_list]
            if any(v is None for v in values):
                continue
            strays = sum(_unseparated_long(p.core, dec, sep) for p in parts_list)
            readings.append((strays, dec, sep, np.array(values, dtype=float)))
    if not readings:
        return None
    # Readings that differ only by a separator no value uses give the same
    # numbers; a value such as "1,234" read both ways does not.
    fewest = min(strays for strays, *_ in readings)
    best = [r for r in readings if r[0] == fewest]
    first = best[0][3]
    if currencies & _DOT_DECIMAL_CURRENCIES:
        # "$1,234" is written by people who write a decimal point.
        dotted = [r for r in best if r[1] == "."]
        best = dotted or best
        first = best[0][3]
    if any(not np.array_equal(r[3], first) for r in best[1:]):
        differing = next(i for i in range(len(first)) if any(r[3][i] != first[i] for r in best[1:]))
        shown = tuple(dict.fromkeys((r[1], float(r[3][differing])) for r in best))
        return Ambiguous(texts[differing], shown)
    used_thousands = next(
        (sep for _, _, sep, _ in best if sep is not None and _uses(parts_list, sep)), None
    )
    used_decimal = next(
        (dec for _, dec, _, _ in best if any(dec in p.core for p in parts_list)), best[0][1]
    )
    fmt = NumberFormat(
        decimal=used_decimal,
        thousands=used_thousands,
        percent=percents == {True},
        currency=next((p.currency for p in parts_list if p.currency), None),
        parentheses=any(p.parentheses for p in parts_list),
    )
    return first, fmt


def _uses(parts_list: list[_Parts], separator: str) -> bool:
    return any(separator in p.core for p in parts_list)
