"""Behaviour tests of a trained model: edge cases, declared invariances and
directions, robustness to small changes, weak slices and fairness, and
train/serve skew, run as one suite by ``cairn test``.

::

    result = cairn.test("models:/churn@champion")   # SuiteResult
    result.passed, result.summary()

The results are written as JUnit XML (``junit.xml``), JSON
(``behaviour.json``) and an offline HTML report (``behaviour.html``).
"""

from __future__ import annotations

from cairn.behaviour._junit import junit_xml, write_junit
from cairn.behaviour._report import render_report, write_report
from cairn.behaviour._result import CheckResult, SuiteResult
from cairn.behaviour._run import (
    gate_enabled,
    gate_summary,
    hold_reason,
    run_gate,
    run_tests,
    test_model,
    write_outputs,
)

#: ``cairn.test``: the public name of :func:`test_model`.
test = test_model

__all__ = [
    "CheckResult",
    "SuiteResult",
    "gate_enabled",
    "gate_summary",
    "hold_reason",
    "junit_xml",
    "render_report",
    "run_gate",
    "run_tests",
    "test",
    "test_model",
    "write_junit",
    "write_outputs",
    "write_report",
]
