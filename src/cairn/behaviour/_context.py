"""What every check reads: the model, the rows, the thresholds, the
training ranges, and one way to ask the model for its output."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from cairn.behaviour._result import Category, CheckResult
from cairn.bundle import Model
from cairn.data.schema import ColumnSchema, Role
from cairn.exceptions import BundleError, CairnError
from cairn.spec import TestsSection
from cairn.tasks import Output, get_task

#: Rows perturbed by the invariance, direction and robustness checks.
PERTURB_ROWS = 500
#: Rows each edge case is tried on.
EDGE_ROWS = 5


@dataclass(frozen=True)
class Spread:
    """A numeric feature's training range and standard deviation."""

    minimum: float
    maximum: float
    std: float


@dataclass
class Context:
    """The model under test and what its checks share."""

    model: Model
    rows: pd.DataFrame  # the model's input columns only, index 0..n-1
    labels: pd.Series | None  # original labels (or values), aligned with rows
    settings: TestsSection
    spreads: dict[str, Spread]
    latency_ms: float | None = None
    url: str | None = None
    train_rows: pd.DataFrame | None = None
    seed: int = 0
    _samples: dict[int, pd.DataFrame] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.model.task

    @property
    def has_classes(self) -> bool:
        return get_task(self.model.schema.task or "regression").has_classes

    @property
    def is_clustering(self) -> bool:
        return get_task(self.model.schema.task or "regression").output == Output.LABELS

    @property
    def features(self) -> list[ColumnSchema]:
        return [c for c in self.model.schema.columns if c.is_feature]

    def features_with(self, *roles: Role) -> list[ColumnSchema]:
        return [c for c in self.features if c.role in roles]

    def sample(self, n: int) -> pd.DataFrame:
        """Up to ``n`` of the rows, the same ones each time it is asked."""
        if n not in self._samples:
            rows = self.rows
            if len(rows) > n:
                rows = rows.sample(n=n, random_state=self.seed)
            self._samples[n] = rows.reset_index(drop=True)
        return self._samples[n]

    def output(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's raw output (see :meth:`cairn.bundle.Model.raw_output`)."""
        with warnings.catch_warnings():
            # unseen categories and repaired values are what the checks try
            warnings.simplefilter("ignore")
            return self.model.raw_output(frame)

    def decisions(self, output: np.ndarray) -> np.ndarray:
        """What a person reads from an output: the class (an index), the
        cluster id, or the value."""
        if self.has_classes:
            return np.asarray(output).argmax(axis=1)
        if self.is_clustering:
            return np.asarray(output)[:, 0]
        return np.asarray(output, dtype=float)

    def score(self, output: np.ndarray) -> np.ndarray | None:
        """One number per row that a direction is judged on: the value of a
        regression, the positive class's probability of a binary classifier;
        None for anything else."""
        if self.has_classes:
            return np.asarray(output)[:, 1] if output.shape[1] == 2 else None
        if self.is_clustering:
            return None
        return np.asarray(output, dtype=float)


def numeric_spreads(
    model: Model, rows: pd.DataFrame, train_rows: pd.DataFrame | None
) -> dict[str, Spread]:
    """Each numeric feature's training range: from the bundle's reference
    profile when it has one, else from the training rows, else from the rows
    under test."""
    names = [c.name for c in model.schema.columns if c.is_feature and c.role == Role.NUMERIC]
    spreads: dict[str, Spread] = {}
    if model.path is not None:
        from cairn.monitoring.profiles import NumericProfile
        from cairn.monitoring.reference import load_reference

        try:
            reference = load_reference(model.path)
        except BundleError:
            reference = None
        if reference is not None:
            for profile in reference.features:
                if isinstance(profile, NumericProfile) and profile.name in names and profile.n:
                    spreads[profile.name] = Spread(
                        float(profile.minimum), float(profile.maximum), float(profile.std)
                    )
    source = train_rows if train_rows is not None else rows
    for name in names:
        if name in spreads or name not in source.columns:
            continue
        values = pd.to_numeric(source[name], errors="coerce").to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size:
            spreads[name] = Spread(float(values.min()), float(values.max()), float(values.std()))
    return spreads


def guarded(
    name: str, category: Category, check: Callable[[], CheckResult | list[CheckResult]]
) -> list[CheckResult]:
    """Run one check; a check that breaks becomes an "error" result naming
    what broke, so one bad check does not hide the others."""
    started = time.perf_counter()
    try:
        found = check()
    except CairnError as error:
        return [errored(name, category, str(error), started)]
    except Exception as error:  # the model under test may raise anything
        return [errored(name, category, f"{type(error).__name__}: {error}", started)]
    results = found if isinstance(found, list) else [found]
    if len(results) == 1 and not results[0].seconds:
        results = [_with_seconds(results[0], time.perf_counter() - started)]
    return results


def errored(name: str, category: Category, message: str, started: float) -> CheckResult:
    return CheckResult(
        name,
        category,
        "error",
        message.splitlines()[0] if message else "failed to run",
        seconds=time.perf_counter() - started,
    )


def skipped(name: str, category: Category, reason: str) -> CheckResult:
    return CheckResult(name, category, "skipped", reason)


def _with_seconds(result: CheckResult, seconds: float) -> CheckResult:
    return replace(result, seconds=seconds)


def examples(frame: pd.DataFrame, mask: np.ndarray, limit: int = 3) -> list[dict[str, Any]]:
    """A few violating rows, JSON-ready, for the reports."""
    from cairn.records import to_records

    return to_records(frame.loc[np.asarray(mask, dtype=bool)].head(limit))
