"""A real Ray cluster on loopback for the tests: a head node and one worker
node, each a set of processes with one CPU, shut down however the tests end."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class RayCluster:
    address: str
    cluster: Any
    worker: Any

    def worker_pids(self, title: str) -> list[int]:
        """Processes of the worker node running a task named TITLE (Ray
        titles a busy worker process ``ray::<function>``)."""
        import psutil

        raylet = self.worker.all_processes["raylet"][0].process.pid
        found = []
        for child in psutil.Process(raylet).children(recursive=True):
            try:
                if title in " ".join(child.cmdline()):
                    found.append(child.pid)
            except psutil.Error:
                continue
        return found


@dataclass
class Killer:
    """Kills, once, the first worker-node process seen running TITLE."""

    ray: RayCluster
    title: str
    killed: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set() and not self.killed:
            for pid in self.ray.worker_pids(self.title):
                os.kill(pid, signal.SIGKILL)
                self.killed.append(pid)
                break
            time.sleep(0.02)

    @contextmanager
    def watching(self) -> Iterator[Killer]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=5)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """Head + one worker node on loopback, one CPU each; the driver is not
    connected (each user connects and disconnects)."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=node)
    try:
        worker = cluster.add_node(**node)
        cluster.wait_for_nodes(timeout=60)
        yield RayCluster(cluster.address, cluster, worker)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
