"""Exploratory statistics of a table: one pass of vectorised numpy/pandas
per column, on every row.

:func:`profile` returns a :class:`Profile`: the overview (rows, columns,
memory, duplicate rows, missing cells, inferred roles), a
:class:`ColumnProfile` per column (statistics, histogram, top values,
outliers by IQR and z-score, alerts), missingness, correlations (Pearson and
Spearman between numbers, Cramér's V between categories, a mixed matrix of
all three kinds of association), the target's relationship with every
feature, and the data-quality findings with the actions taken.

Statistics never use a sample. Column roles and the data-quality checks of
:func:`cairn.data.quality.check_and_clean` go value by value, so on tables
larger than ``quality_rows`` they run on a random sample of that many rows;
the profile records this (:attr:`Profile.quality_rows`) and the report says
so. Type repairs (text stripped, sentinels to missing, numbers stored as
text) are applied to every row.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cairn.data.quality import (
    Finding,
    QualityReport,
    check_and_clean,
)
from cairn.data.repair import Factorized, factorize, repair_frame
from cairn.data.schema import (
    Role,
    Schema,
    infer_role,
    infer_schema,
    infer_task,
    missing_column_message,
)
from cairn.eda._associations import choose_pairwise_columns, measure_correlations
from cairn.eda._columns import (
    column_alerts,
    count_duplicate_rows,
    describe,
    kind_for,
    measure_missingness,
    pile_up_alerts,
    role_over_all_rows,
    top_values,
)
from cairn.eda._privacy import describe_personal, masked, personal_columns
from cairn.eda._target import relate_to_target
from cairn.eda._types import (
    _REPAIR_CHECKS,
    ASSOCIATION_ROWS,
    HIGH_CORRELATION,
    QUALITY_ROWS,
    STRONG_TARGET_ASSOCIATION,
    Alert,
    ColumnProfile,
    Correlations,
    Missingness,
    Profile,
    TargetProfile,
)
from cairn.exceptions import DataError
from cairn.tasks import get_task, task_names


def _roles_and_quality(
    repaired: pd.DataFrame,
    original: pd.DataFrame,
    repairs: list[Finding],
    *,
    given: tuple[Schema | None, QualityReport | None],
    target: str | None,
    task: str | None,
    roles: Mapping[str, str] | None,
    id_columns: Sequence[str],
    time_column: str | None,
    source: str,
    quality_rows: int,
    seed: int,
) -> tuple[Schema, QualityReport, str | None, int]:
    """Column roles and data-quality findings, with the task and the number of
    rows the checks ran on; a run's own schema and report when ``given``."""
    n = len(original)
    if given[0] is not None and given[1] is not None:
        return given[0], given[1], task or given[0].task, n
    part_repaired = _quality_sample(repaired, target, quality_rows, seed)
    rows = len(part_repaired)
    findings: list[Finding] = []
    schema: Schema | None = None
    if target is not None:
        try:
            # The sample is already repaired (the repair is idempotent), which
            # spares check_and_clean its own value-by-value pass.
            cleaned = check_and_clean(
                part_repaired,
                target=target,
                task=task,
                roles=roles,
                id_columns=id_columns,
                time_column=time_column,
                source=source,
            )
            schema, task = cleaned.schema, cleaned.task
            findings = [f for f in cleaned.report.findings if f.check not in _REPAIR_CHECKS]
        except DataError as error:
            # The profile is still worth having: show why training would stop.
            findings = [
                Finding(
                    "training_blocked", "error", target, 0, str(error), "fix before training", False
                )
            ]
    if schema is None:
        features = part_repaired.drop(columns=[target]) if target is not None else part_repaired
        schema = infer_schema(features, roles=roles, id_columns=id_columns, time_column=time_column)
        if target is not None:
            values = part_repaired[target]
            try:
                task = task or infer_task(values)
            except DataError:
                task = None
            schema = replace(schema, target=target, task=task)
    report = QualityReport(
        findings=repairs + findings,
        rows_in=n,
        rows_out=n,
        columns_in=len(original.columns),
        columns_out=len(schema.feature_names) + (1 if target is not None else 0),
    )
    return schema, report, task, rows


def _quality_sample(
    repaired: pd.DataFrame, target: str | None, quality_rows: int, seed: int
) -> pd.DataFrame:
    """The rows the value-by-value checks read: all of them up to
    ``quality_rows``, else a seeded random sample of that size plus up to 20
    rows of each class."""
    n = len(repaired)
    if n <= quality_rows:
        return repaired
    rng = np.random.default_rng(seed)
    index = rng.choice(n, size=quality_rows, replace=False)
    if target is not None:
        # Keep a few rows of every class, so a rare class is not mistaken
        # for a missing or single-row one.
        codes = pd.factorize(repaired[target], use_na_sentinel=True)[0]
        counts = np.bincount(codes[codes >= 0])
        if 0 < len(counts) <= 200:
            order = np.argsort(codes, kind="stable")[int((codes < 0).sum()) :]
            groups = np.split(order, np.cumsum(counts)[:-1])
            extra = [rng.choice(g, size=min(len(g), 20), replace=False) for g in groups]
            index = np.unique(np.concatenate([index, *extra]))
    return repaired.iloc[np.sort(index)].reset_index(drop=True)


# The matrix products here are tall and thin: one BLAS thread does them at


# full speed, and spares the start-up and spinning of a thread pool.
@threadpool_limits.wrap(limits=1, user_api="blas")
def profile(
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    task: str | None = None,
    roles: Mapping[str, str] | None = None,
    id_columns: Sequence[str] = (),
    time_column: str | None = None,
    schema: Schema | None = None,
    quality: QualityReport | None = None,
    source: str = "data",
    quality_rows: int = QUALITY_ROWS,
    seed: int = 0,
) -> Profile:
    """Profile a table.

    Args:
        frame: the data, as read (type repairs are applied here).
        target: the column to relate every feature to, if any.
        task: "classification" or "regression"; inferred from the target
            when omitted.
        roles, id_columns, time_column: as in the spec's ``[data]`` section.
        schema, quality: the schema and quality report already computed by a
            run (then neither is recomputed).
        source: the data's name, used in messages and titles.
        quality_rows: above this many rows, roles and quality checks use a
            random sample of this size; statistics always use every row.
        seed: seed of that sample.

    Raises:
        DataError: the table has no rows or columns, a column name repeats,
            or the target is not a column.
    """
    watch = _Stopwatch()
    frame = _checked(frame, target, source)
    n_rows, n_columns = frame.shape
    memory = int(frame.memory_usage(deep=True, index=False).sum())
    watch.lap("memory")

    repaired, repairs, cache = repair_frame(frame)
    watch.lap("type repair")
    schema, quality, task, quality_n = _roles_and_quality(
        repaired,
        frame,
        repairs,
        given=(schema, quality),
        target=target,
        task=task,
        roles=roles,
        id_columns=id_columns,
        time_column=time_column,
        source=source,
        quality_rows=quality_rows,
        seed=seed,
    )
    watch.lap("roles and quality checks")

    forced = {*(roles or {}), *id_columns, *([time_column] if time_column else [])}
    columns, facts, numbers, schema = _profile_columns(
        frame, repaired, cache, schema, quality, target, task, forced, sampled=quality_n < n_rows
    )
    watch.lap("column statistics")

    duplicate_rows, missingness, target_profile, correlations = _across_columns(
        frame, columns, facts, numbers, target, task, watch, seed=seed
    )

    alerts = _table_alerts(columns, correlations, duplicate_rows, n_rows, target_profile)
    if quality_n == n_rows:
        alerts = _not_repeating_findings(alerts, columns, quality)
    return Profile(
        source=source,
        n_rows=n_rows,
        n_columns=n_columns,
        memory_bytes=memory,
        duplicate_rows=duplicate_rows,
        missing_cells=int(sum(c.missing for c in columns)),
        columns=columns,
        schema=schema,
        quality=quality,
        quality_rows=quality_n,
        correlations=correlations,
        missingness=missingness,
        task=task,
        target=target_profile,
        alerts=alerts,
        timings=watch.timings,
        association_rows=ASSOCIATION_ROWS if n_rows > ASSOCIATION_ROWS else 0,
    )


def _pairwise(
    columns: list[ColumnProfile],
    facts: dict[str, Factorized],
    numbers: dict[str, np.ndarray],
    target: str | None,
    target_profile: TargetProfile | None,
) -> Correlations:
    """Associations between the columns the pairwise views cover."""
    covered = choose_pairwise_columns(columns, target, target_profile)
    correlations = measure_correlations(
        [c for c in columns if c.name in covered], facts, numbers, target
    )
    correlations.columns_left_out = len(columns) - len(covered)
    return correlations


def _across_columns(
    frame: pd.DataFrame,
    columns: list[ColumnProfile],
    facts: dict[str, Factorized],
    numbers: dict[str, np.ndarray],
    target: str | None,
    task: str | None,
    watch: _Stopwatch,
    *,
    seed: int = 0,
) -> tuple[int, Missingness, TargetProfile | None, Correlations]:
    """Duplicate rows, missingness, the target's relationships and the
    associations between columns, each step timed; on a table of more than
    :data:`ASSOCIATION_ROWS` rows, the last two on a random sample of that many."""
    duplicate_rows = count_duplicate_rows(frame)
    watch.lap("duplicates")
    missingness = measure_missingness(columns, facts, len(frame))
    watch.lap("missingness")
    if len(frame) > ASSOCIATION_ROWS:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(frame), ASSOCIATION_ROWS, replace=False))
        facts = {name: _sampled(fact, rows) for name, fact in facts.items()}
        numbers = {name: values[rows] for name, values in numbers.items()}
    target_profile = None
    if target is not None and task in task_names():
        target_profile = relate_to_target(target, task, columns, facts, numbers)
    watch.lap("target relationships")
    correlations = _pairwise(columns, facts, numbers, target, target_profile)
    watch.lap("correlations")
    return duplicate_rows, missingness, target_profile, correlations


def _sampled(fact: Factorized, rows: np.ndarray) -> Factorized:
    """``fact`` on the rows at ``rows``, recoded to the values they hold."""
    codes = fact.codes[rows]
    present = codes >= 0
    kept, recoded = np.unique(codes[present], return_inverse=True)
    new_codes = np.full(len(codes), -1, dtype=fact.codes.dtype)
    new_codes[present] = recoded
    counts = np.bincount(recoded, minlength=len(kept)).astype(np.int64)
    return Factorized(codes=new_codes, uniques=fact.uniques[kept], counts=counts)


class _Stopwatch:
    """Seconds spent per named step, each measured from the end of the last."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._clock = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._clock, 4)
        self._clock = now


def _checked(frame: pd.DataFrame, target: str | None, source: str) -> pd.DataFrame:
    """The table with text column names, or a DataError saying what to fix."""
    if frame.shape[1] == 0:
        raise DataError(f"{source} has no columns; check the file, its separator and its header")
    if len(frame) == 0:
        raise DataError(f"{source} has no rows; check the file, its separator and its header")
    repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if repeated:
        raise DataError(
            f"{source}: column name(s) repeated: {', '.join(repr(c) for c in repeated)}; "
            "give each column a unique name"
        )
    frame = (
        frame.rename(columns=str) if not all(isinstance(c, str) for c in frame.columns) else frame
    )
    if target is not None and target not in frame.columns:
        raise DataError(
            missing_column_message("target column", target, list(frame.columns), source)
        )
    return frame


def _profile_columns(
    frame: pd.DataFrame,
    repaired: pd.DataFrame,
    cache: Mapping[str, Factorized],
    schema: Schema,
    quality: QualityReport,
    target: str | None,
    task: str | None,
    forced: set[str],
    *,
    sampled: bool,
) -> tuple[list[ColumnProfile], dict[str, Factorized], dict[str, np.ndarray], Schema]:
    """A :class:`ColumnProfile` per column, with the factorized values and the
    numbers (dates as nanoseconds) the pairwise and target views reuse. Roles
    inferred on a sample are corrected where all rows disagree (``schema`` is
    returned with those corrections)."""
    n_rows = len(frame)
    by_column: dict[str, list[Finding]] = {}
    for finding in quality.findings:
        if finding.column is not None:
            by_column.setdefault(finding.column, []).append(finding)
    formats = schema.metadata.get("datetime_formats") or {}
    # A target of a task answering one value per row is profiled as a number.
    numeric_target = task in task_names() and not get_task(task).has_classes
    personal = personal_columns(schema)

    columns: list[ColumnProfile] = []
    facts: dict[str, Factorized] = {}
    numbers: dict[str, np.ndarray] = {}
    for name in frame.columns:
        series = repaired[name]
        masked_fact = None
        if name in personal:
            series, masked_fact = masked(series)
        if name == target:
            role, reason = "target", f"{task or 'prediction'} target"
            kind = "numeric" if numeric_target else "categorical"
        elif name in schema:
            spec = schema[name]
            role, reason = str(spec.role), spec.reason
            kind = kind_for(spec.role, series)
        else:
            role, reason, kind = "unknown", "", kind_for("", series)
            if name in personal:
                # Dropped as personal data: still described as what it holds.
                kind = kind_for(infer_role(name, series), series)
        if name in personal:
            reason = describe_personal(personal[name])
        fact = masked_fact or cache.get(name) or factorize(series)
        facts[name] = fact
        missing = int((fact.codes < 0).sum())
        count = n_rows - missing
        if sampled and role not in ("target", "unknown") and name not in forced:
            corrected = role_over_all_rows(Role(role), series, len(fact.uniques), count)
            if corrected is not None:
                role, reason = str(corrected[0]), corrected[1]
                kind = kind_for(corrected[0], series)
                schema = schema.with_role(name, corrected[0], reason)
        top, other = top_values(fact)
        column = ColumnProfile(
            name=name,
            role=role,
            reason=reason,
            dtype=str(series.dtype),
            kind=kind if count else "empty",
            count=count,
            missing=missing,
            n_unique=len(fact.uniques),
            memory_bytes=int(frame[name].memory_usage(deep=True, index=False)),
            top=top,
            other_count=other,
            findings=by_column.get(name, []),
        )
        if count:
            describe(column, series, fact, formats.get(name), numbers)
        column.alerts = column_alerts(column, n_rows)
        column.alerts += pile_up_alerts(column, fact, is_target=name == target)
        columns.append(column)
    return columns, facts, numbers, schema


#: Alerts that state what a quality check of that name states.
_SAME_AS_CHECK = {
    "missing": "missing_values",
    "near_constant": "near_constant",
    "constant": "constant_column",
    "high_cardinality": "high_cardinality",
    "infinite": "infinite_values",
    "duplicates": "duplicate_rows",
}


def _not_repeating_findings(
    alerts: list[Alert], columns: list[ColumnProfile], quality: QualityReport
) -> list[Alert]:
    """The alerts without those a quality finding on the same column already
    states, so that the page lists (and counts) each fact once. Only when the
    checks saw every row: a finding from a sample has other counts, and the
    alert is then the exact figure."""
    stated = {(f.check, f.column) for f in quality.findings}

    def repeats(alert: Alert) -> bool:
        return (_SAME_AS_CHECK.get(alert.kind), alert.column) in stated

    for column in columns:
        column.alerts = [a for a in column.alerts if not repeats(a)]
    return [a for a in alerts if not repeats(a)]


def _table_alerts(
    columns: list[ColumnProfile],
    correlations: Correlations,
    duplicate_rows: int,
    n_rows: int,
    target: TargetProfile | None,
) -> list[Alert]:
    """Every column's alerts, then repeated rows, strongly associated pairs
    (also added to the first column of the pair) and features strongly
    associated with the target (also added to the feature)."""
    alerts = [alert for column in columns for alert in column.alerts]
    by_name = {column.name: column for column in columns}
    if duplicate_rows:
        alerts.append(
            Alert(
                "duplicates",
                "warning",
                None,
                f"{duplicate_rows:,} row(s) ({duplicate_rows / n_rows:.1%}) repeat an earlier "
                f"row (all {n_rows:,} rows compared)",
            )
        )
    target_name = target.name if target is not None else None
    for a, b, measure, value, support in correlations.top_pairs:
        # Pairs with the target are the target alerts below.
        if value >= HIGH_CORRELATION and target_name not in (a, b):
            message = (
                f"{a!r} and {b!r} are strongly associated ({measure} {value:.2f} over "
                f"{support:,} rows)"
            )
            alert = Alert("high_correlation", "info", a, message)
            alerts.append(alert)
            by_name[a].alerts.append(alert)
    for relation in target.relations if target is not None else []:
        value = relation.association  # NaN (not ranked) below the minimum support
        if not value >= STRONG_TARGET_ASSOCIATION:
            continue
        measured = f"{relation.measure} {value:.2f} over {relation.support:,} rows"
        if value >= HIGH_CORRELATION:
            alert = Alert(
                "target_association",
                "warning",
                relation.feature,
                f"very strong association with the target {target_name!r} ({measured}): "
                "check that its value is known when a prediction is made",
            )
        else:
            alert = Alert(
                "target_association",
                "info",
                relation.feature,
                f"strong association with the target {target_name!r} ({measured})",
            )
        alerts.append(alert)
        by_name[relation.feature].alerts.append(alert)
    return alerts
