"""Behaviour tests of a trained model: edge cases, declared invariances and
directions, robustness to small changes, weak slices and fairness, and
train/serve skew, run as one suite by ``cairn test``."""

from __future__ import annotations

from cairn.behaviour._result import CheckResult, SuiteResult

__all__ = ["CheckResult", "SuiteResult"]
