"""The model card's privacy section: which columns were found to hold
personal data, what share of their values matched, and what cairn did with
each (dropped, hashed, kept), from the schema's record and the run's
quality findings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cairn.data.privacy import KINDS
from cairn.data.pseudonym import KEY_FILE, privacy_columns

_LOOKED_FOR = (
    "e-mail addresses, phone numbers, payment card numbers (Luhn check), IBANs (checksum), "
    "IP addresses, national identity numbers, dates of birth and person names"
)


def _done(action: str, default: bool) -> str:
    if action == "drop":
        how = "the default for a direct identifier" if default else "as the spec says"
        return f"dropped from the features ({how})"
    if action == "hash" and default:
        return "replaced by a keyed hash (the default for an identifier named in id_columns)"
    if action == "hash":
        return (
            "replaced by a keyed hash (HMAC-SHA256): a category for the model; served "
            "requests are hashed the same way and the prediction log holds only the hash"
        )
    if default:
        return "kept (a quasi-identifier); the prediction log stores it in clear"
    return "kept as it is, as the spec says; the prediction log stores it in clear"


def privacy_section_blocks(
    metadata: Mapping[str, Any], findings: Sequence[Mapping[str, Any]]
) -> list[tuple[str, Any]]:
    """The section's blocks: what was looked for, then a row per column found."""
    recorded = privacy_columns(metadata)
    intro = f"cairn looked for personal data in every input column: {_LOOKED_FOR}."
    if not recorded:
        return [("p", intro + " No column was found to hold any.")]
    # a decision that raised an error or a warning is cairn's default, not the spec's
    defaulted = {
        str(f.get("column"))
        for f in findings
        if str(f.get("check", "")).startswith("privacy_") and f.get("severity") != "info"
    }
    rows = [
        {
            "column": name,
            "holds": KINDS.get(entry.get("kind", ""), str(entry.get("kind"))),
            "share matching": (
                f"{float(entry['share']):.0%}" if entry.get("kind") != "named" else "named"
            ),
            "what was done": _done(str(entry.get("action")), name in defaulted),
        }
        for name, entry in recorded.items()
    ]
    blocks: list[tuple[str, Any]] = [
        ("p", intro),
        ("table", (["column", "holds", "share matching", "what was done"], rows)),
    ]
    if any(entry.get("action") != "keep" for entry in recorded.values()):
        blocks.append(
            (
                "p",
                f"The hashing key is stored in the bundle ({KEY_FILE}) and in the project "
                "(.cairn/privacy.key): whoever holds it can test guesses against the hashes, "
                "so keep both as confidential as the data itself. Decide per column with "
                '[data] privacy = {column = "drop" | "hash" | "keep"}.',
            )
        )
    return blocks
