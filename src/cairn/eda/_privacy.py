"""Personal-data columns on the EDA page: profiled as text, their values
shown masked (``j***@e***.com``) in the most frequent values, examples and
target views, never as they are."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cairn.data.privacy import KINDS
from cairn.data.pseudonym import privacy_columns
from cairn.data.repair import Factorized, factorize
from cairn.data.schema import Schema
from cairn.data.values import as_strings

_DONE = {"drop": "dropped from the features", "hash": "hashed", "keep": "kept as it is"}


def personal_columns(schema: Schema) -> dict[str, dict[str, Any]]:
    """``{column: {"kind", "action", ...}}`` for the columns found to hold personal data."""
    return privacy_columns(schema.metadata)


def describe_personal(entry: dict[str, Any]) -> str:
    kind = KINDS.get(str(entry.get("kind")), "personal data")
    return f"holds {kind}; {_DONE.get(str(entry.get('action')), 'kept')} (privacy)"


def mask_keeping_shape(value: Any) -> str:
    """``value`` masked but for its first and last characters (and an
    e-mail's first domain letter and top-level domain), its length and
    spaces kept so that the page's length and word statistics stay true."""
    text = str(value)
    if "@" in text:
        local, _, domain = text.partition("@")
        head, dot, tld = domain.rpartition(".")
        if not dot:
            head, tld = domain, ""
        hidden_local = "*" * max(len(local) - 1, 0)
        hidden_head = "*" * max(len(head) - 1, 0)
        return f"{local[:1]}{hidden_local}@{head[:1]}{hidden_head}{dot}{tld}"
    last = len(text) - 1
    return "".join(
        ch if ch.isspace() or i == 0 or (i == last and last >= 5) else "*"
        for i, ch in enumerate(text)
    )


def masked(series: pd.Series) -> tuple[pd.Series, Factorized]:
    """The column as text and its factorization with every distinct value
    masked; values that mask alike are numbered apart so counts stay per value."""
    text = as_strings(series)
    fact = factorize(text)
    labels: list[str] = []
    seen: dict[str, int] = {}
    for value in fact.uniques:
        label = mask_keeping_shape(value)
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    uniques = np.asarray(labels, dtype=object)
    return text, Factorized(fact.codes, uniques, fact.counts)
