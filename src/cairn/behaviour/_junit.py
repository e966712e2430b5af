"""A suite's results as JUnit XML, the format every CI server shows: one
``<testsuite>`` per category of checks, one ``<testcase>`` per check, with a
``<failure>``, ``<error>`` or ``<skipped>`` element carrying the check's
message and what was measured against which threshold."""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

from cairn._io import atomic_write_bytes
from cairn.behaviour._result import Category, CheckResult, SuiteResult

__all__ = ["junit_xml", "write_junit"]

#: Category order of the reports, from the literal type.
CATEGORIES: tuple[str, ...] = get_args(Category)

# Characters XML 1.0 cannot hold at all; a message quoting a data value may carry them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: object) -> str:
    return _INVALID_XML.sub("\ufffd", str(value))


def _seconds(value: float) -> str:
    return f"{max(float(value), 0.0):.3f}"


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def _detail_text(check: CheckResult) -> str:
    """The element body: the message and the figures behind the verdict."""
    lines = [check.message]
    if check.measured is not None or check.threshold is not None:
        lines.append(f"measured: {_figure(check.measured)}; threshold: {_figure(check.threshold)}")
    if check.rows:
        lines.append(f"rows: {check.rows:,}")
    return "\n".join(lines)


def _testcase(parent: ET.Element, check: CheckResult) -> None:
    case = ET.SubElement(
        parent,
        "testcase",
        {
            "classname": f"cairn.behaviour.{check.category}",
            "name": _text(check.name),
            "time": _seconds(check.seconds),
        },
    )
    tag = {"failed": "failure", "error": "error", "skipped": "skipped"}.get(check.status)
    if tag is None:
        return
    element = ET.SubElement(case, tag, {"message": _text(check.message)})
    if tag != "skipped":
        element.set("type", check.status)
        element.text = _text(_detail_text(check))


def junit_xml(suite: SuiteResult, *, timestamp: datetime | None = None) -> bytes:
    """The suite as a JUnit XML document (UTF-8 bytes with the declaration)."""
    stamp = (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    checks = suite.checks
    root = ET.Element(
        "testsuites",
        {
            "name": _text(f"cairn test {suite.model}"),
            "tests": str(len(checks)),
            "failures": str(len(suite.by_status("failed"))),
            "errors": str(len(suite.by_status("error"))),
            "skipped": str(len(suite.by_status("skipped"))),
            "time": _seconds(suite.seconds),
        },
    )
    present = [c for c in CATEGORIES if any(check.category == c for check in checks)]
    present += sorted({check.category for check in checks} - set(present))
    host = socket.gethostname()
    for category in present:
        members = [check for check in checks if check.category == category]
        element = ET.SubElement(
            root,
            "testsuite",
            {
                "name": category,
                "tests": str(len(members)),
                "failures": str(sum(c.status == "failed" for c in members)),
                "errors": str(sum(c.status == "error" for c in members)),
                "skipped": str(sum(c.status == "skipped" for c in members)),
                "time": _seconds(sum(c.seconds for c in members)),
                "timestamp": stamp,
                "hostname": host,
            },
        )
        properties = ET.SubElement(element, "properties")
        for name, value in (("model", suite.model), ("task", suite.task), ("data", suite.data)):
            ET.SubElement(properties, "property", {"name": name, "value": _text(value)})
        for check in members:
            _testcase(element, check)
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def write_junit(suite: SuiteResult, path: str | Path) -> Path:
    """Write :func:`junit_xml` atomically to ``path``."""
    return atomic_write_bytes(path, junit_xml(suite))
