"""The first steps: read the spec's sources (ingest), then clean them, infer
the schema, encode the target and split train / test (prepare)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from cairn.data.findings import Finding, QualityReport
from cairn.data.large import LARGE_ATTR
from cairn.data.pseudonym import project_key
from cairn.data.quality import CleanResult, check_and_clean
from cairn.data.schema import Schema
from cairn.data.sources import attach_combination, collect, take_combination
from cairn.data.split import Fold, split
from cairn.exceptions import DataError, SpecError
from cairn.spec import ProjectSpec
from cairn.tasks import get_task, task_names
from cairn.workflow._clock import Clock, Progress, quiet


@dataclass
class Prepared:
    """The cleaned rows with the target encoded, and, after :func:`prepare`,
    the training and held-out test rows with the CV folds."""

    cleaned: CleanResult
    y: np.ndarray
    schema: Schema
    metric: str
    X_train: pd.DataFrame | None = None
    y_train: np.ndarray | None = None
    X_test: pd.DataFrame | None = None
    y_test: np.ndarray | None = None
    folds: list[Fold] = field(default_factory=list)
    strategy: str = ""

    @property
    def task(self) -> str:
        return self.cleaned.task

    @property
    def frame(self) -> pd.DataFrame:
        return self.cleaned.frame

    @property
    def n_classes(self) -> int | None:
        return len(self.schema.classes or ()) or None

    def with_codes(self) -> tuple[pd.DataFrame, str]:
        """The cleaned frame plus a column of target codes, and that column's name."""
        label = _free_name("__y", self.frame.columns)
        return self.frame.assign(**{label: self.y}), label

    @property
    def train_rows(self) -> tuple[pd.DataFrame, np.ndarray]:
        assert self.X_train is not None and self.y_train is not None, "prepare() splits"
        return self.X_train, self.y_train

    @property
    def test_rows(self) -> tuple[pd.DataFrame, np.ndarray]:
        assert self.X_test is not None and self.y_test is not None, "prepare() splits"
        return self.X_test, self.y_test


def ingest(spec: ProjectSpec, say: Progress = quiet) -> pd.DataFrame:
    """The spec's sources read and combined into one raw table."""
    task = spec.problem.task
    if task is not None and task not in task_names():
        raise SpecError(
            f"problem.task = {task!r} is not supported yet; use one of: {', '.join(task_names())}"
        )
    say("reading data")
    return collect(spec)


def clean(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str | None = None,
    metric: str | None = None,
    folds: int = 5,
    roles: Mapping[str, str] | None = None,
    id_columns: Sequence[str] = (),
    time_column: str | None = None,
    source: str = "data",
    privacy: Mapping[str, str] | None = None,
    privacy_key: bytes | Callable[[], bytes] | None = None,
    allow_leakage: Sequence[str] = (),
) -> Prepared:
    """Quality checks and repairs, the schema, the target encoded and the metric."""
    cleaned = check_and_clean(
        frame,
        target=target,
        task=task,
        roles=roles,
        id_columns=id_columns,
        time_column=time_column,
        folds=folds,
        source=source,
        privacy=privacy,
        privacy_key=privacy_key,
        allow_leakage=allow_leakage,
    )
    _require_a_feature(cleaned, source)
    y, schema = _encode_target(cleaned.frame, cleaned.schema)
    n_classes = len(schema.classes or ()) or None
    return Prepared(cleaned, y, schema, metric or get_task(cleaned.task).default_metric(n_classes))


def _require_a_feature(cleaned: CleanResult, source: str) -> None:
    """Stop before any search when the checks left no column to learn from,
    saying what became of each one."""
    schema = cleaned.schema
    if schema.feature_names:
        return
    reasons = [f"{c.name!r} ({c.reason})" for c in schema.columns if c.name != schema.target]
    dropped = {
        f.column
        for f in cleaned.report.findings
        if f.check.startswith("privacy_") and f.column not in schema.names
    }
    reasons += [f"{name!r} (dropped as personal data)" for name in sorted(map(str, dropped))]
    raise DataError(
        f"{source}: no column is left to learn from: {', '.join(reasons) or 'only the target'}; "
        "to keep one, name it in [data] allow_leakage (leakage), privacy (personal data) "
        "or roles"
    )


def prepare(spec: ProjectSpec, raw: pd.DataFrame, *, say: Progress, clock: Clock) -> Prepared:
    """Clean the raw table and split it into training rows (with CV folds)
    and held-out test rows, as the spec says."""
    say("checking data quality")
    problem = spec.problem
    combination = take_combination(raw)
    large = raw.attrs.pop(LARGE_ATTR, None)
    prepared = clean(
        raw,
        target=problem.target,
        task=problem.task,
        metric=problem.metric,
        folds=spec.split.folds,
        roles=spec.data.roles,
        id_columns=spec.data.id_columns,
        time_column=spec.data.time_column,
        source=", ".join(source.label for source in spec.data.sources),
        privacy=spec.data.privacy,
        privacy_key=lambda: project_key(spec.project_dir),
        allow_leakage=spec.data.allow_leakage,
    )
    spec.check_task(prepared.task)
    # What combining the sources found joins the run's quality report (and
    # so quality.json, the EDA page and the card), ahead of the checks.
    attach_combination(prepared.cleaned.report, combination)
    if large:
        _attach_large(prepared.cleaned.report, large)
    clock.lap("quality")

    say("splitting train / test")
    frame, label = prepared.with_codes()
    parts = split(
        frame,
        target=label,
        task=prepared.task,
        test_size=spec.split.test_size,
        folds=spec.split.folds,
        validation_size=spec.split.validation_size,
        stratify=spec.split.stratify,
        group_column=spec.split.group_column,
        time_column=spec.data.time_column,
        time_ordered=spec.split.time_ordered,
        seed=spec.train.seed,
        repeats=spec.split.repeats,
        entity_columns=spec.data.id_columns,
    )
    prepared.cleaned.report.findings += parts.findings
    prepared.y_train = parts.train.pop(label).to_numpy()
    prepared.y_test = parts.test.pop(label).to_numpy()
    prepared.X_train = parts.train.drop(columns=[problem.target])
    prepared.X_test = parts.test.drop(columns=[problem.target])
    prepared.folds = list(parts.folds)
    prepared.strategy = parts.strategy
    clock.lap("split")
    return prepared


def _attach_large(report: QualityReport, large: list[dict[str, Any]]) -> None:
    """The all-row profile and sample policy of each large source, and the
    findings of the all-row checks, in the quality report."""
    report.large = {"sources": large}
    for record in large:
        for finding in record["profile"]["findings"]:
            report.findings.append(Finding(**finding))
        report.findings.append(
            Finding(
                "training_sample",
                "info",
                None,
                int(record["sample"]["rows_drawn"]),
                f"{record['source']}: {record['summary']}",
                "the quality checks above ran on the sample; the all_rows_* checks on every row",
                True,
            )
        )


def data_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 over the frame's column names and row hashes."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _encode_target(frame: pd.DataFrame, schema: Schema) -> tuple[np.ndarray, Schema]:
    """Integer codes for classification (order of ``schema.classes``), floats
    for regression; records the target's original type for decoding."""
    target = frame[str(schema.target)]
    if not get_task(schema.task).has_classes:
        return target.to_numpy(dtype=float), schema
    if pd.api.types.is_bool_dtype(target):
        target_dtype = "bool"
    elif pd.api.types.is_integer_dtype(target):
        target_dtype = "int"
    elif pd.api.types.is_float_dtype(target):
        target_dtype = "int" if bool((target.dropna() % 1 == 0).all()) else "float"
    else:
        target_dtype = "string"
    labels = target.map(lambda v: str(int(v)) if target_dtype == "int" else str(v))
    classes = tuple(sorted(labels.unique(), key=_class_sort_key))
    codes = pd.Categorical(labels, categories=list(classes)).codes.astype(int)
    metadata = {**schema.metadata, "target_dtype": target_dtype}
    return codes, replace(schema, classes=classes, metadata=metadata)


def _class_sort_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _free_name(name: str, taken: Any) -> str:
    """``name``, lengthened until no column of the data has it."""
    while name in set(taken):
        name += "_"
    return name
