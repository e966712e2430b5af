"""Connecting to Ray, for the work that can run on it: the search's fold
fits (``train.executor``) and partitioned scoring (``cairn predict
--executor ray``).

Ray is optional (``pip install 'cairn[ray]'``) and imported only here, when
an executor other than ``local`` is asked for.

``"ray"`` joins the cluster named by ``RAY_ADDRESS`` when it is set, else
starts a Ray on this machine with one CPU per core; ``"ray://HOST:PORT"``
joins that cluster through the Ray client.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from typing import Any

from cairn.exceptions import CairnError

EXECUTOR_PATTERN = r"^(local|ray|ray://[^\s/:]+:\d+)$"

# Seconds Ray takes to be ready, measured on a 2-core machine: starting a
# local Ray 8 to 20 s, joining a running cluster about 1 s.
START_SECONDS = 10.0
JOIN_SECONDS = 1.0
# A search uses Ray only when its budget is this many times Ray's start-up:
# below that, start-up and per-task shipping cost more than the workers win.
BUDGET_OVER_STARTUP = 10.0

INSTALL_HINT = "install it with: pip install 'cairn[ray]'"


def check_executor(executor: str, where: str = "executor") -> str:
    """EXECUTOR when it is one of local, ray, ray://HOST:PORT.

    Raises:
        CairnError: it is not, or Ray is not installed for a Ray executor.
    """
    if not re.fullmatch(EXECUTOR_PATTERN, executor):
        raise CairnError(
            f"{where} = {executor!r} is not an executor; use local, ray or ray://HOST:PORT"
        )
    if executor != "local" and importlib.util.find_spec("ray") is None:
        raise CairnError(f"{where} = {executor!r} needs Ray, not installed; {INSTALL_HINT}")
    return executor


def joins_cluster(executor: str) -> bool:
    """Whether EXECUTOR joins a running cluster rather than starting Ray."""
    return executor.startswith("ray://") or bool(os.environ.get("RAY_ADDRESS"))


def startup_seconds(executor: str) -> float:
    """The estimated seconds before Ray can run work."""
    return JOIN_SECONDS if joins_cluster(executor) else START_SECONDS


def stays_local(executor: str, time_budget: float) -> str:
    """Why a search of TIME_BUDGET seconds stays local under EXECUTOR ('' when
    it runs on Ray): Ray is used when the budget is at least
    BUDGET_OVER_STARTUP times its start-up (100 s when starting a local Ray,
    10 s when joining a cluster)."""
    if executor == "local":
        return ""
    startup = startup_seconds(executor)
    needed = BUDGET_OVER_STARTUP * startup
    if time_budget >= needed:
        return ""
    how = "joining a Ray cluster" if joins_cluster(executor) else "starting Ray"
    return (
        f"the search runs locally: its {time_budget:.3g} s budget is under {needed:g} s, "
        f"{BUDGET_OVER_STARTUP:g} times the ~{startup:g} s {how} takes"
    )


@dataclass
class Connection:
    """A connection to Ray; ``owned`` when this process made it (and ends it)."""

    ray: Any
    owned: bool
    address: str

    @property
    def cpus(self) -> int:
        """CPUs of the cluster's nodes that are alive."""
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def close(self) -> None:
        if self.owned and self.ray.is_initialized():
            self.ray.shutdown()


def connect(executor: str) -> Connection:
    """Connect to Ray as EXECUTOR says; a connection this process already has
    is reused and left open.

    Raises:
        CairnError: Ray is not installed, or the cluster cannot be reached.
    """
    check_executor(executor)
    import ray

    if ray.is_initialized():
        return Connection(ray, owned=False, address="the running Ray")
    address = executor if executor.startswith("ray://") else os.environ.get("RAY_ADDRESS")
    options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    try:
        if address:
            _reachable(address)
            ray.init(address=address, **options)
        else:
            address = "a local Ray"
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **options)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as error:
        raise CairnError(
            f"executor {executor!r}: cannot connect to Ray at {address} ({error}); start a "
            "cluster with `ray start --head` and set RAY_ADDRESS (a cluster with token "
            "authentication also needs RAY_AUTH_MODE=token and its token in "
            "~/.ray/auth_token or RAY_AUTH_TOKEN), or use executor = 'local'"
        ) from None
    return Connection(ray, owned=True, address=address)


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Raise ConnectionError when ADDRESS (``[ray://]HOST:PORT``) takes no
    connection: ray.init would retry an absent cluster for minutes."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and the like: Ray resolves them itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise ConnectionError(f"nothing answers at {host}:{port}: {error}") from None
