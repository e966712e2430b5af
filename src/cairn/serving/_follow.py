"""Following a registry alias: the server polls ``models:/NAME@ALIAS`` and,
when the alias points at another version, loads that version in the
background, checks it (signature, file hashes, a warm-up prediction) and
swaps it in as the champion in one assignment. Requests already running
finish on the old model; no request waits for the load.

A version that fails to load or verify is reported once and skipped; the
server keeps the model it has until the alias moves again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cairn.exceptions import ServingError

__all__ = ["AliasFollower", "parse_alias_uri"]

_logger = logging.getLogger("cairn.serving")


def parse_alias_uri(reference: str) -> tuple[str, str]:
    """The model name and alias of ``models:/NAME@ALIAS``.

    Raises:
        ServingError: ``reference`` is a folder or a fixed version.
    """
    body = reference.removeprefix("models:/") if reference.startswith("models:/") else ""
    name, _, alias = body.partition("@")
    if not name or not alias or "/" in alias:
        raise ServingError(
            f"--follow-alias needs a registry alias such as models:/NAME@champion, not "
            f"{reference!r}: a folder or a fixed version never moves"
        )
    return name, alias


@dataclass
class Swap:
    """One champion change, as /health and the server's output report it."""

    from_version: str
    to_version: str
    at: float  # Unix time the new model took traffic


@dataclass
class AliasFollower:
    """Polls an alias every ``interval`` seconds and swaps the champion when it moves.

    Attributes:
        reference: ``models:/NAME@ALIAS``.
        tracking_uri: the MLflow store holding the registry.
        interval: seconds between polls.
        engine, trust: as for :func:`cairn.serving.load_served_model`.
        announce: called with each line worth showing the person running
            the server (a swap, a version refused); the log gets them too.
    """

    reference: str
    tracking_uri: str | None
    interval: float = 10.0
    engine: str = "auto"
    trust: bool = False
    announce: Callable[[str], None] | None = None
    swaps: list[Swap] = field(default_factory=list)
    last_error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _refused: set[str] = field(default_factory=set, repr=False)
    _unset_reported: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not (self.interval > 0 and math.isfinite(self.interval)):
            raise ServingError(
                f"--follow-alias-interval {self.interval} must be a number of seconds above 0"
            )
        self.name, self.alias = parse_alias_uri(self.reference)

    def start(self, service: Any) -> None:
        """Poll in a daemon thread until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(service,), name="cairn-follow-alias", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self, service: Any) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check(service)
            except Exception as error:  # a registry hiccup must not end the polling
                line = f"cannot read {self.reference}: {error}"
                if line != self.last_error:  # once per outage, not once per poll
                    self._report(line, failure=True)

    def check(self, service: Any) -> bool:
        """Swap the champion if the alias moved; True when it swapped."""
        from cairn.tracking import alias_version, globals_uri

        store = self.tracking_uri or globals_uri()
        target = alias_version(self.name, self.alias, tracking_uri=store)
        current = service.arms[0].model.version
        if target is None:
            line = (
                f"{self.reference}: the alias is no longer set; still serving version {current} "
                f"(set it again with 'cairn promote VERSION')"
            )
            if line != self.last_error:  # once, not once per poll
                self._report(line, failure=True)
                self._unset_reported = line
            return False
        if self.last_error is not None and self.last_error == self._unset_reported:
            self.last_error = None  # the alias is set again
        if target == current or target in self._refused:
            return False
        started = time.perf_counter()
        try:
            model = self._load(target)
            service.replace_champion(model)
        except Exception as error:
            self._refused.add(target)
            self._report(
                f"{self.reference} moved to version {target}, which was not loaded: {error}; "
                f"still serving version {current}",
                failure=True,
            )
            return False
        self.swaps.append(Swap(current, target, time.time()))
        self.last_error = None
        self._report(
            f"{self.reference}: now serving version {target} ({model.engine} engine) in place "
            f"of version {current}; loaded and checked in {time.perf_counter() - started:.1f}s"
        )
        return True

    def _load(self, version: str) -> Any:
        """Version ``version``, verified and warmed before it takes any traffic."""
        import warnings

        from cairn.serving.engine import load_served_model

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = load_served_model(
                f"models:/{self.name}/{version}",
                tracking_uri=self.tracking_uri,
                engine=self.engine,
                trust=self.trust,
            )
        model.warm()
        return model

    def _report(self, line: str, *, failure: bool = False) -> None:
        if failure:
            self.last_error = line
        if self.announce is not None:
            self.announce(line)
        elif failure:
            _logger.error(line)
        else:
            _logger.warning(line)

    def status(self) -> dict[str, Any]:
        """What /health says about the alias followed."""
        last = self.swaps[-1] if self.swaps else None
        return {
            "alias": self.reference,
            "interval_s": self.interval,
            "swaps": len(self.swaps),
            "last_swap": None
            if last is None
            else {"from": last.from_version, "to": last.to_version, "at": last.at},
            "last_error": self.last_error,
        }
