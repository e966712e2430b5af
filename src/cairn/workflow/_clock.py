"""Progress messages and the stage clock shared by the workflow's steps."""

from __future__ import annotations

import time
from collections.abc import Callable

Progress = Callable[[str], None]


def quiet(message: str) -> None:
    """A progress callback that says nothing."""


class Clock:
    """Seconds per stage, in the order the stages ran (``timings.json``)."""

    def __init__(self, started: float | None = None) -> None:
        self.started = time.monotonic() if started is None else started
        self.timings: dict[str, float] = {}
        self._mark = self.started

    def lap(self, stage: str) -> None:
        now = time.monotonic()
        self.timings[stage] = round(now - self._mark, 3)
        self._mark = now

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def total(self) -> None:
        self.timings["total"] = round(self.elapsed(), 3)
