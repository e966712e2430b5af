"""Fold fits as Ray tasks (``train.executor = "ray"`` or ``"ray://HOST:PORT"``).

The training rows go to Ray's object store once; each task gets their
reference, fits one configuration on one fold with ``cpus_per_trial`` CPUs
and sends back the fold's score, validation output and fitted pipeline. The
Optuna studies stay on the driver (ask and tell), so workers need no shared
study storage and open no database connections.

A task whose worker dies (the process killed, its node lost) is submitted
once more and said so; lost a second time, its configuration is recorded as
a failed candidate and the search goes on. Imported only for a Ray executor.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cairn._ray import Connection, connect
from cairn.data.schema import Schema
from cairn.data.split import Fold
from cairn.exceptions import CairnError, TrainingError
from cairn.models.catalog import Learner
from cairn.models.search._results import Config
from cairn.models.search._state import FoldFit, Progress, fit_fold

if TYPE_CHECKING:
    from cairn.models.search._state import SearchState

# A fold still running this long after the search's end (or its budget,
# when longer) is given up: a cluster that lost the resources it needs
# must not hang the run.
_GRACE_MIN_S = 120.0


class WorkerLostError(CairnError):
    """A Ray worker died twice while fitting the same fold."""


def fit_fold_on_ray(
    data: tuple[pd.DataFrame, np.ndarray],
    learner: Learner,
    schema: Schema,
    params: Mapping[str, Any],
    fold: Fold,
    options: dict[str, Any],
) -> FoldFit:
    """One fold fit in a Ray worker; ``data`` arrives from the object store."""
    from threadpoolctl import threadpool_limits

    X, y = data
    # Clocks: the driver's deadline comes as wall time, turned into this
    # host's monotonic clock.
    deadline = time.monotonic() + (options.pop("wall_deadline") - time.time())
    with threadpool_limits(limits=options["n_jobs"]):
        return fit_fold(X, y, learner, schema, params, fold, deadline=deadline, **options)


class RemoteFolds:
    """Submits fold fits to Ray and collects them."""

    def __init__(
        self,
        connection: Connection,
        X: pd.DataFrame,
        y: np.ndarray,
        *,
        cpus_per_trial: int,
        time_budget: float,
        progress: Progress,
    ) -> None:
        ray = connection.ray
        self.connection, self.progress = connection, progress
        cpus = connection.cpus
        if cpus_per_trial > cpus:
            raise CairnError(
                f"train.cpus_per_trial = {cpus_per_trial} is more than the {cpus} CPUs of "
                f"the Ray cluster ({connection.address}); lower it or add nodes"
            )
        self.cpus_per_trial = cpus_per_trial
        self.slots = cpus // cpus_per_trial
        self.grace = max(_GRACE_MIN_S, time_budget)
        self.retried = 0
        self.lost = 0
        # candidate name -> what happened to its folds on the way (a lost worker)
        self.notes: dict[str, str] = {}
        self._data = ray.put((X, y))  # once; every task gets the reference
        self._task = ray.remote(fit_fold_on_ray).options(
            num_cpus=cpus_per_trial,
            # Retried here, not by Ray, so that the run can say so.
            max_retries=0,
        )

    def close(self) -> None:
        self._data = None
        self.connection.close()

    def _submit(self, job: tuple[str, Learner, Config, Fold], state: SearchState) -> Any:
        _, learner, config, fold = job
        options = {
            "task": state.task.name,
            "metric": state.metric,
            "seed": state.seed,
            "n_classes": state.n_classes,
            "max_rounds": state.max_rounds,
            "n_jobs": self.cpus_per_trial,
            "wall_deadline": time.time() + state.left(),
        }
        schema = config.schema or state.schema
        return self._task.remote(self._data, learner, schema, dict(config.params), fold, options)

    def fit(
        self, jobs: Sequence[tuple[str, Learner, Config, Fold]], state: SearchState
    ) -> list[FoldFit | Exception]:
        """Each job's fold fit, or the error it ended with, in job order."""
        ray = self.connection.ray
        from ray.exceptions import GetTimeoutError, RayError, RayTaskError

        results: list[FoldFit | Exception | None] = [None] * len(jobs)
        pending = {self._submit(job, state): i for i, job in enumerate(jobs)}
        retried: set[int] = set()
        give_up = state.end + self.grace
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            if not ready:
                if time.monotonic() > give_up:
                    self._give_up(pending, results)
                    break
                continue
            ref = ready[0]
            i = pending.pop(ref)
            name, fold_no = jobs[i][0], _fold_number(state.folds, jobs[i][3])
            try:
                results[i] = ray.get(ref, timeout=60)
            except RayTaskError as error:  # the fit itself raised
                cause = getattr(error, "cause", None)
                results[i] = cause if isinstance(cause, Exception) else TrainingError(str(error))
            except (RayError, GetTimeoutError) as error:  # the worker or its node was lost
                lost = type(error).__name__
                what = f"a Ray worker was lost fitting {name} fold {fold_no} ({lost})"
                if i in retried:
                    self.lost += 1
                    self.progress(f"{what} again: {name} is recorded as failed")
                    results[i] = WorkerLostError(f"{what}, twice; the configuration was not scored")
                    continue
                retried.add(i)
                self.retried += 1
                self.notes[name] = f"{what}; the fold ran again"
                self.progress(f"{what}; running that fold again")
                pending[self._submit(jobs[i], state)] = i
        return [
            r if r is not None else TrainingError("the fold fit was not collected") for r in results
        ]

    def _give_up(self, pending: dict[Any, int], results: list[FoldFit | Exception | None]) -> None:
        ray = self.connection.ray
        for ref, i in pending.items():
            ray.cancel(ref, force=True)
            results[i] = TrainingError(
                f"the fold fit had not finished {self.grace:.0f} s after the search's end; "
                "the Ray cluster may lack the CPUs it asked for"
            )
        pending.clear()


def _fold_number(folds: Sequence[Fold], fold: Fold) -> int:
    return next((k + 1 for k, known in enumerate(folds) if known is fold), 0)


def start_remote(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    executor: str,
    cpus_per_trial: int,
    time_budget: float,
    progress: Progress,
) -> RemoteFolds:
    """Connect to Ray and put the training rows in its object store."""
    started = time.monotonic()
    connection = connect(executor)
    try:
        remote = RemoteFolds(
            connection,
            X,
            y,
            cpus_per_trial=cpus_per_trial,
            time_budget=time_budget,
            progress=progress,
        )
    except BaseException:
        connection.close()
        raise
    progress(
        f"fold fits run on Ray ({connection.address}, {remote.slots} at a time, "
        f"ready in {time.monotonic() - started:.1f} s)"
    )
    return remote
