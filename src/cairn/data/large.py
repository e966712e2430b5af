"""Tables larger than memory: when a file counts as large, its profile and
quality checks over all rows computed in DuckDB, and the training sample
drawn from it.

A Parquet or CSV file is *large* when its estimated in-memory size (as a
pandas frame) exceeds :data:`LARGE_FRACTION` of the memory available now, or
when the spec says ``[data] large = true``. A large file is never loaded
whole: DuckDB reads it with column pushdown (only the columns the run uses)
and row-group reading (Parquet), under a memory limit, spilling to a
temporary folder when a statistic needs more.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.data.findings import Finding
from cairn.exceptions import DataError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

__all__ = [
    "LARGE_FRACTION",
    "LargeProfile",
    "SamplePolicy",
    "available_memory",
    "estimated_memory",
    "is_large",
    "profile_large",
    "read_sample",
    "sample_policy",
]

# A file is large above this share of the available memory: pandas needs
# several copies of a frame while cleaning and training.
LARGE_FRACTION = 0.25
# DuckDB's own working memory while profiling or sampling (it spills beyond).
DUCKDB_MEMORY = "1GB"
# Bytes per value in a pandas frame: numbers 8, text as Python objects ~60.
_NUMBER_BYTES = 8
_TEXT_BYTES = 60
# A CSV's text grows about this much once parsed into pandas objects.
_CSV_GROWTH = 2.0
# Training sample: rows the search can use per second of budget, and bounds.
SAMPLE_ROWS_PER_SECOND = 5_000
SAMPLE_MIN_ROWS = 50_000
SAMPLE_MAX_ROWS = 2_000_000
# A class keeps at least this many rows (all of them when it has fewer).
SAMPLE_MIN_PER_CLASS = 1_000
# Top values are listed for columns with at most this many distinct values.
_TOP_VALUES_MAX_DISTINCT = 100_000
# A target with at most this many distinct values has each class counted.
_TARGET_CLASSES_MAX = 1_000
_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
_SUPPORTED = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def file_kind(path: Path) -> str | None:
    """``"parquet"`` or ``"csv"`` for a file DuckDB can read; ``None`` otherwise."""
    return _SUPPORTED.get(path.suffix.lower())


def available_memory() -> int:
    """Bytes of memory available now (``MemAvailable``; free pages elsewhere)."""
    try:
        with Path("/proc/meminfo").open(encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def estimated_memory(path: Path) -> int:
    """The bytes FILE would take as a pandas frame: for Parquet, rows times
    the width of each column's type (from the footer, nothing else read);
    for CSV, twice the file's size."""
    kind = file_kind(path)
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            meta = pq.read_metadata(path)
            schema = meta.schema.to_arrow_schema()
        except (pa.ArrowException, OSError) as error:
            raise DataError(f"{path}: is not a readable Parquet file ({error})") from None
        width = sum(
            _TEXT_BYTES
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
            else _NUMBER_BYTES
            for f in schema
        )
        return int(meta.num_rows) * width
    return int(path.stat().st_size * _CSV_GROWTH)


def is_large(path: Path, override: bool | None = None) -> bool:
    """Whether PATH is read as a large file (see the module's rule);
    ``override`` (the spec's ``[data] large``) decides when given."""
    if override is not None:
        return override and file_kind(path) is not None
    if file_kind(path) is None or not path.is_file():
        return False
    return estimated_memory(path) > LARGE_FRACTION * available_memory()


@contextmanager
def connect(threads: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection with a memory limit, spilling to a
    temporary folder."""
    try:
        import duckdb
    except ImportError:  # a serving-only install
        raise DataError(
            "reading a file larger than memory needs DuckDB, which this install lacks: "
            "pip install 'cairn[train]' (or pip install duckdb)"
        ) from None

    with tempfile.TemporaryDirectory(prefix="cairn-duckdb-") as spill:
        con = duckdb.connect(":memory:")
        try:
            con.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
            con.execute(f"SET temp_directory = '{_literal(spill)}'")
            con.execute("SET preserve_insertion_order = false")
            con.execute("SET enable_progress_bar = false")
            if threads:
                con.execute(f"SET threads = {int(threads)}")
            yield con
        finally:
            con.close()


def _literal(text: str) -> str:
    return text.replace("'", "''")


def quote(name: str) -> str:
    """NAME as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def relation(path: Path) -> str:
    """The SQL table expression reading PATH."""
    if file_kind(path) == "parquet":
        return f"read_parquet('{_literal(str(path))}')"
    return f"read_csv('{_literal(str(path))}', header = true, sample_size = 100000)"


def _columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[str, str]]:
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {relation(path)}").fetchall()
    except Exception as error:  # duckdb raises its own hierarchy
        raise DataError(f"{path}: cannot be read ({_first_line(error)})") from None
    return [(str(row[0]), str(row[1])) for row in rows]


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _is_number(sql_type: str) -> bool:
    base = sql_type.split("(")[0].upper()
    return base in {
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
        "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL",
    }  # fmt: skip


@dataclass
class ColumnProfile:
    """One column's statistics over all rows."""

    name: str
    type: str
    count: int
    missing: int
    distinct: int  # an estimate (HyperLogLog)
    minimum: Any = None
    maximum: Any = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    top: list[tuple[Any, int]] = field(default_factory=list)


@dataclass
class LargeProfile:
    """Statistics of every column over all rows of a large file, and the
    findings they support."""

    source: str
    rows: int
    duplicates: int  # rows equal to an earlier row (by a 64-bit hash of the row)
    columns: list[ColumnProfile]
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    def column(self, name: str) -> ColumnProfile:
        return next(c for c in self.columns if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["findings"] = [asdict(f) for f in self.findings]
        return record


def profile_large(
    path: Path,
    *,
    columns: Sequence[str] | None = None,
    target: str | None = None,
    threads: int | None = None,
) -> LargeProfile:
    """Counts, missing values, distinct estimates, minimum and maximum,
    mean and spread, quantiles, top values and duplicate rows of PATH's
    COLUMNS (all when ``None``) over all rows, in DuckDB.

    Raises:
        DataError: the file cannot be read, or a named column is absent.
    """
    import time

    started = time.monotonic()
    with connect(threads) as con:
        described = _columns(con, path)
        names = [name for name, _ in described]
        wanted = list(columns) if columns is not None else names
        for name in [*wanted, *([target] if target else [])]:
            if name not in names:
                raise DataError(f"{path}: has no column {name!r} (columns: {', '.join(names)})")
        types = dict(described)
        table = relation(path)
        selects = ["count(*)"]
        for name in wanted:
            q = quote(name)
            selects += [f"count({q})", f"approx_count_distinct({q})", f"min({q})", f"max({q})"]
            if _is_number(types[name]):
                listed = ", ".join(map(str, _QUANTILES))
                selects += [
                    f"avg({q}::DOUBLE)",
                    f"stddev_samp({q}::DOUBLE)",
                    f"approx_quantile({q}::DOUBLE, [{listed}])",
                ]
        row = _fetch_one(con, f"SELECT {', '.join(selects)} FROM {table}", path)
        n_rows = int(row[0])
        profiles: list[ColumnProfile] = []
        at = 1
        for name in wanted:
            count, distinct, low, high = row[at : at + 4]
            at += 4
            column = ColumnProfile(
                name, types[name], int(count), n_rows - int(count), int(distinct), low, high
            )
            if _is_number(types[name]):
                mean, std, quantiles = row[at : at + 3]
                at += 3
                column.mean = None if mean is None else float(mean)
                column.std = None if std is None else float(std)
                column.quantiles = {
                    f"{q:g}": float(v) for q, v in zip(_QUANTILES, quantiles or [], strict=False)
                }
            if name == target and column.distinct <= _TARGET_CLASSES_MAX:
                # Every class, as text (the sample compares it as text).
                column.top = _top_values(
                    con, table, name, path, limit=_TARGET_CLASSES_MAX, as_text=True
                )
            elif column.distinct <= _TOP_VALUES_MAX_DISTINCT:
                column.top = _top_values(con, table, name, path)
            profiles.append(column)
        hashed = ", ".join(quote(name) for name in wanted)
        distinct_rows = _fetch_one(
            con, f"SELECT count(DISTINCT hash({hashed})) FROM {table}", path
        )[0]
    result = LargeProfile(str(path), n_rows, n_rows - int(distinct_rows), profiles)
    result.seconds = round(time.monotonic() - started, 3)
    result.findings = _findings(result, target)
    return result


def _fetch_one(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> tuple[Any, ...]:
    try:
        row = con.execute(sql).fetchone()
    except Exception as error:  # duckdb raises its own hierarchy
        raise DataError(f"{path}: cannot be read ({_first_line(error)})") from None
    assert row is not None
    return tuple(row)


def _top_values(
    con: duckdb.DuckDBPyConnection,
    table: str,
    name: str,
    path: Path,
    *,
    limit: int = 5,
    as_text: bool = False,
) -> list[tuple[Any, int]]:
    q = quote(name)
    value = f"{q}::VARCHAR" if as_text else q
    sql = (
        f"SELECT {value} AS v, count(*) AS n FROM {table} WHERE {q} IS NOT NULL "
        f"GROUP BY v ORDER BY n DESC, v LIMIT {limit}"
    )
    try:
        rows = con.execute(sql).fetchall()
    except Exception as error:  # duckdb raises its own hierarchy
        raise DataError(f"{path}: cannot be read ({_first_line(error)})") from None
    return [(value, int(n)) for value, n in rows]


def _findings(profile: LargeProfile, target: str | None) -> list[Finding]:
    """What the all-row statistics show: duplicate rows, empty, mostly
    missing or constant columns, and rows without a target."""
    found: list[Finding] = []
    rows = profile.rows
    if profile.duplicates:
        found.append(
            Finding(
                "all_rows_duplicates",
                "warning",
                None,
                profile.duplicates,
                f"{profile.duplicates:,} of {rows:,} rows ({profile.duplicates / rows:.1%}) "
                "repeat an earlier row (all rows of the file)",
                "the training sample drops the duplicates it draws; remove them at the source "
                "if they are not real repeats",
                False,
            )
        )
    for column in profile.columns:
        if column.name == target:
            if column.missing:
                found.append(
                    Finding(
                        "all_rows_missing_target",
                        "warning",
                        column.name,
                        column.missing,
                        f"{column.missing:,} of {rows:,} rows have no target value "
                        "(all rows of the file)",
                        "left out of the training sample",
                        True,
                    )
                )
            continue
        if column.count == 0:
            found.append(
                Finding(
                    "all_rows_empty_column",
                    "warning",
                    column.name,
                    rows,
                    f"column {column.name!r} is empty in all {rows:,} rows",
                    "not read for training",
                    True,
                )
            )
        elif column.missing / rows > 0.5:
            found.append(
                Finding(
                    "all_rows_mostly_missing",
                    "info",
                    column.name,
                    column.missing,
                    f"column {column.name!r} is missing in {column.missing / rows:.0%} of "
                    f"{rows:,} rows",
                    "kept; the model sees the missing values",
                    False,
                )
            )
        elif len(column.top) == 1 and column.top[0][1] == column.count:
            found.append(
                Finding(
                    "all_rows_constant_column",
                    "info",
                    column.name,
                    rows,
                    f"column {column.name!r} holds one value ({column.top[0][0]!r}) in all "
                    f"{rows:,} rows",
                    "not read for training",
                    True,
                )
            )
    return found


@dataclass(frozen=True)
class SamplePolicy:
    """How the training rows were drawn from a large file.

    ``rows`` is the target size: ``time_budget`` seconds times
    :data:`SAMPLE_ROWS_PER_SECOND`, within :data:`SAMPLE_MIN_ROWS` ..
    :data:`SAMPLE_MAX_ROWS`, and at most what fits in a tenth of the
    available memory. For classification the draw is stratified on the
    target: each class keeps the same share of its rows, and at least
    :data:`SAMPLE_MIN_PER_CLASS` rows (all of them when it has fewer). Rows
    are kept by a seeded hash of their position (Parquet) or of their
    values (CSV), so a run with the same seed
    draws the same rows."""

    target: str
    rows_total: int
    rows: int
    rate: float
    stratified_on: str | None
    class_rates: dict[str, float]
    time_budget: float
    seed: int
    columns: list[str]
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        how = f", stratified on {self.stratified_on!r}" if self.stratified_on else ""
        return (
            f"trained on a sample of about {self.rows:,} of {self.rows_total:,} rows "
            f"({self.rate:.2%}{how}; {self.rule})"
        )


def sample_policy(
    profile: LargeProfile,
    *,
    target: str,
    classification: bool,
    time_budget: float,
    seed: int,
    columns: Sequence[str],
) -> SamplePolicy:
    """The training sample for PROFILE's file (see :class:`SamplePolicy`)."""
    usable = profile.rows - profile.column(target).missing
    by_budget = int(time_budget * SAMPLE_ROWS_PER_SECOND)
    by_memory = int(0.1 * available_memory() / max(1, len(columns) * _NUMBER_BYTES * 4))
    rows = min(usable, max(SAMPLE_MIN_ROWS, min(SAMPLE_MAX_ROWS, by_budget)), by_memory)
    rate = min(1.0, rows / max(1, usable))
    rule = (
        f"{SAMPLE_ROWS_PER_SECOND:,} rows per second of the {time_budget:g} s budget, "
        f"within {SAMPLE_MIN_ROWS:,}..{SAMPLE_MAX_ROWS:,} rows and a tenth of the free memory"
    )
    class_rates: dict[str, float] = {}
    if classification:
        counts = _class_counts(profile.column(target))
        if counts is not None:
            for label, n in counts.items():
                class_rates[label] = min(1.0, max(rate, SAMPLE_MIN_PER_CLASS / n))
            rule += f"; each class keeps at least {SAMPLE_MIN_PER_CLASS:,} rows"
    return SamplePolicy(
        target=target,
        rows_total=profile.rows,
        rows=rows,
        rate=rate,
        stratified_on=target if class_rates else None,
        class_rates=class_rates,
        time_budget=time_budget,
        seed=seed,
        columns=list(columns),
        rule=rule,
    )


def _class_counts(column: ColumnProfile) -> dict[str, int] | None:
    """Rows per class, when the top values list every class."""
    listed = sum(n for _, n in column.top)
    if not column.top or listed != column.count:
        return None
    return {str(value): n for value, n in column.top}


def read_sample(path: Path, policy: SamplePolicy, *, threads: int | None = None) -> pd.DataFrame:
    """The rows POLICY keeps from PATH, with only its columns read.

    Raises:
        DataError: the file cannot be read.
    """
    cols = ", ".join(quote(name) for name in policy.columns)
    source = relation(path)
    # A row's fate: a seeded 64-bit hash, as a fraction of 2^64, of its
    # position in a Parquet file, or of its values in a CSV (which has no
    # row numbers to read; identical rows are then kept or left together).
    if file_kind(path) == "parquet":
        source = f"read_parquet('{_literal(str(path))}', file_row_number = true)"
        draw = f"(hash(file_row_number, {int(policy.seed)}) / 18446744073709551616.0)"
    else:
        draw = f"(hash({cols}, {int(policy.seed)}) / 18446744073709551616.0)"
    target = quote(policy.stratified_on) if policy.stratified_on else None
    if target is not None:
        cases = " ".join(
            f"WHEN {target}::VARCHAR = '{_literal(label)}' THEN {rate!r}"
            for label, rate in policy.class_rates.items()
        )
        keep = f"{draw} < CASE {cases} ELSE {policy.rate!r} END"
    else:
        keep = f"{draw} < {policy.rate!r}"
    # Rows without a target would be dropped by the checks anyway.
    sql = f"SELECT {cols} FROM {source} WHERE {quote(policy.target)} IS NOT NULL AND {keep}"
    with connect(threads) as con:
        try:
            rows = con.sql(sql)
            # duckdb 2 names it to_arrow_table, duckdb 1 fetch_arrow_table
            fetch = getattr(rows, "to_arrow_table", None) or rows.fetch_arrow_table
            table = fetch()
        except Exception as error:  # duckdb raises its own hierarchy
            raise DataError(f"{path}: cannot be read ({_first_line(error)})") from None
    frame = table.to_pandas()
    if len(frame) == 0:
        raise DataError(f"{path}: the training sample drew no rows; set [data] large = false")
    return frame


# The frame attribute carrying a large file's record (profile and sample
# policy) from reading to the quality report.
LARGE_ATTR = "cairn_large"


def read_large(
    path: Path,
    *,
    target: str,
    task: str | None,
    time_budget: float,
    seed: int,
    roles: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The training sample of a large file, its all-row profile and sample
    policy recorded in ``frame.attrs[LARGE_ATTR]``.

    Columns whose role is ``ignore``, and columns empty or constant over
    all rows, are not read. Without a task, the target is taken as a class
    label when it is text or has at most 20 distinct values.

    Raises:
        DataError: the file cannot be read or has no column TARGET.
    """
    with connect() as con:
        names = [name for name, _ in _columns(con, path)]
    if target not in names:
        raise DataError(
            f"{path}: has no target column {target!r} (columns: {', '.join(names[:20])}); "
            "check problem.target"
        )
    ignored = {name for name, role in (roles or {}).items() if role == "ignore"}
    wanted = [name for name in names if name not in ignored or name == target]
    profile = profile_large(path, columns=wanted, target=target)
    unused = {
        f.column
        for f in profile.findings
        if f.check in ("all_rows_empty_column", "all_rows_constant_column")
    }
    columns = [name for name in wanted if name not in unused]
    goal = profile.column(target)
    if task is None:
        classification = not _is_number(goal.type) or goal.distinct <= 20
    else:
        classification = task == "classification"
    policy = sample_policy(
        profile,
        target=target,
        classification=classification,
        time_budget=time_budget,
        seed=seed,
        columns=columns,
    )
    frame = read_sample(path, policy)
    frame.attrs[LARGE_ATTR] = {
        "profile": profile.to_dict(),
        "sample": {**policy.to_dict(), "rows_drawn": len(frame)},
        "summary": policy.summary(),
    }
    return frame
