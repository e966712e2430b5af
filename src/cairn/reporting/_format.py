"""Text formatting shared by pages and plots: HTML escaping, ids, and numbers,
shares, sizes and durations written for people."""

from __future__ import annotations

import html
import math
import re
from typing import Any


def escape(value: Any) -> str:
    """HTML-escape any value's text (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def slug(text: str) -> str:
    """A stable, readable HTML id from free text."""
    cleaned = re.sub(r"[^0-9a-zA-Z]+", "-", str(text)).strip("-").lower()
    return cleaned or "section"


def fmt_number(value: Any, digits: int = 4) -> str:
    """A number for people: integers with thousands separators, floats with
    ``digits`` significant digits, missing as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "—"
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if number == int(number) and abs(number) < 1e15:
        return f"{int(number):,}"
    magnitude = abs(number)
    if magnitude >= 1e15 or magnitude < 1e-3:
        return f"{number:.{max(digits - 1, 1)}e}"
    if magnitude >= 10 ** (digits - 1):
        return f"{number:,.0f}" if magnitude >= 10**digits else f"{number:,.1f}"
    return f"{number:.{digits}g}"


def fmt_short(value: Any) -> str:
    """A number in at most about four characters for axis labels and bins:
    ``35.3k``, ``1.2M``, ``0.042``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return fmt_number(number)
    magnitude = abs(number)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e4, "k")):
        if magnitude >= limit:
            scale = 1e3 if suffix == "k" else limit
            return f"{number / scale:.3g}{suffix}"
    if magnitude >= 100 or number == int(number):
        return f"{number:.0f}"
    return f"{number:.3g}"


def fmt_percent(value: Any, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(number):
        return "—"
    if 0 < number * 100 < 10 ** (-digits):
        return f"<{10 ** (-digits):.{digits}f}%"
    return f"{number * 100:.{digits}f}%"


def fmt_bytes(value: float) -> str:
    """Bytes in binary units."""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def fmt_duration(seconds: float) -> str:
    """Seconds as ``850 ms``, ``12.3 s``, ``4 min 05 s`` or ``1 h 02 min``."""
    seconds = float(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
