"""What a behaviour-test suite returns: one :class:`CheckResult` per check,
gathered in a :class:`SuiteResult` that the JUnit, JSON and HTML writers read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Category", "CheckResult", "Status", "SuiteResult"]

# The families of checks, in the order reports show them.
Category = Literal[
    "edge_case", "invariance", "direction", "robustness", "slice", "fairness", "skew"
]
Status = Literal["passed", "failed", "error", "skipped"]


@dataclass(frozen=True)
class CheckResult:
    """One check of the suite.

    Attributes:
        name: unique within the suite, e.g. "edge_case/tenure/max".
        category: the family the check belongs to.
        status: "passed", "failed" (the model misbehaved), "error" (the check
            itself could not run, e.g. the model raised) or "skipped" (with
            the reason in ``message``).
        message: one line for people: what was tried and what happened.
        measured: the figure compared with the threshold (a share of flipped
            predictions, a metric gap, a latency), or None.
        threshold: the limit ``measured`` is held to, or None.
        rows: rows the check used.
        seconds: wall time of the check.
        details: small JSON-able extras (examples of violating rows, per-slice
            figures, intervals) for the HTML and JSON reports.
    """

    name: str
    category: Category
    status: Status
    message: str
    measured: float | None = None
    threshold: float | None = None
    rows: int = 0
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "skipped")


@dataclass
class SuiteResult:
    """Every check run against one model, with what was tested."""

    model: str  # bundle path or models:/NAME@ALIAS or URL, as given
    task: str
    data: str  # where the rows came from, for people
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(check.ok for check in self.checks)

    def by_status(self, status: Status) -> list[CheckResult]:
        return [check for check in self.checks if check.status == status]

    def summary(self) -> str:
        statuses: tuple[Status, ...] = ("passed", "failed", "error", "skipped")
        counts = {s: len(self.by_status(s)) for s in statuses}
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"{verdict}: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['error']} error(s), {counts['skipped']} skipped in {self.seconds:.1f} s"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "task": self.task,
            "data": self.data,
            "passed": self.passed,
            "seconds": self.seconds,
            "summary": self.summary(),
            "checks": [asdict(check) for check in self.checks],
        }
