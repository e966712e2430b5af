"""Scoring a file larger than memory: the file cut into partitions (Parquet
row groups, or batches of a CSV), each scored by a worker, the output
streamed to one Parquet file in the input's order.

Workers come from an executor named by ``--executor``: ``local`` runs them
as local processes (one model loaded per process); ``ray`` or
``ray://HOST:PORT`` as Ray actors (one model loaded per actor), which read
their Parquet row groups from the file's path themselves (a path every node
must see). An executor is a class with ``map(function, partitions)``
yielding results in order, so another engine plugs in by registering one in
:data:`EXECUTORS`.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cairn.exceptions import CairnError, DataError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from cairn.bundle import Model

__all__ = [
    "EXECUTORS",
    "PARTITION_ROWS",
    "BatchResult",
    "Executor",
    "LocalExecutor",
    "Partition",
    "RayExecutor",
    "partitions",
    "score_file",
    "score_frame",
]

# Rows scored at once by a worker: bounds each worker's memory.
PARTITION_ROWS = 250_000


def score_frame(model: Model, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Any]]:
    """FRAME with the prediction (and each class's probability) added, and the
    schema warnings scoring raised; for a clustering, the cluster id, the
    distance to each cluster's centroid and (gaussian_mixture) each
    cluster's membership probability."""
    from cairn.bundle import SchemaWarning
    from cairn.tasks import Output, get_task
    from cairn.tasks.clustering import split_cluster_output

    task = get_task(model.task)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SchemaWarning)
        out = frame.copy()
        if task.output == Output.LABELS:
            # one pass of the model gives the ids, distances and memberships
            ids, distances, memberships = split_cluster_output(model.raw_output(frame))
            out["cluster"] = ids
            for k, cluster in enumerate(model.classes):
                out[f"distance_{cluster}"] = distances[:, k]
            if memberships is not None:
                for k, cluster in enumerate(model.classes):
                    out[f"proba_{cluster}"] = memberships[:, k]
            return out, caught
        out["prediction"] = model.predict(frame)
        if task.has_classes:
            proba = model.predict_proba(frame)
            for label in proba.columns:
                out[f"proba_{label}"] = proba[label].to_numpy()
    return out, caught


@dataclass(frozen=True)
class Partition:
    """Rows of PATH to score together: Parquet row groups, or for a CSV the
    rows themselves (already read)."""

    index: int
    path: str
    row_groups: tuple[int, ...] = ()
    rows: pa.Table | None = None


@dataclass(frozen=True)
class BatchResult:
    """A scored partition: the input columns with the outputs, and the
    distinct warning messages scoring raised."""

    index: int
    table: pa.Table
    warnings: tuple[str, ...]


class Executor(Protocol):
    """Runs a function over partitions, yielding results in input order."""

    workers: int

    def map(
        self, function: Callable[[Partition], BatchResult], items: Iterable[Partition]
    ) -> Iterator[BatchResult]: ...


# The model each worker process loaded once (see _load_worker_model).
_WORKER_MODEL: Any = None


def _load_worker_model(model: str, trust: bool, engine: str, one_thread: bool = False) -> None:
    global _WORKER_MODEL
    from cairn.bundle import BundleWarning
    from cairn.tracking import load_model

    if one_thread:  # several processes share the cores: one thread each
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BundleWarning)  # shown once, by the caller
        _WORKER_MODEL = load_model(model, trust=trust, engine=engine)


def _score_in_worker(partition: Partition) -> BatchResult:
    return score_partition(_WORKER_MODEL, partition)


class LocalExecutor:
    """Partitions scored by WORKERS local processes (in this process when
    WORKERS is 1), at most two partitions per worker in flight."""

    def __init__(self, workers: int, *, model: str, trust: bool, engine: str) -> None:
        self.workers = max(1, workers)
        self._model = (model, trust, engine)

    def map(
        self, function: Callable[[Partition], BatchResult], items: Iterable[Partition]
    ) -> Iterator[BatchResult]:
        if self.workers == 1:
            _load_worker_model(*self._model)
            yield from (function(item) for item in items)
            return
        import multiprocessing
        from concurrent.futures import Future, ProcessPoolExecutor

        # spawn: a forked copy of a process holding model sessions and
        # their thread pools can hang.
        pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load_worker_model,
            initargs=(*self._model, True),
        )
        pending: deque[Future[BatchResult]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= 2 * self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


class _RayScorer:
    """A Ray actor holding one loaded model."""

    def __init__(self, model: str, trust: bool, engine: str) -> None:
        # Kept and raised by score: an actor whose start fails reaches the
        # caller as a dead actor, without the reason.
        self.error: Exception | None = None
        try:
            _load_worker_model(model, trust, engine, True)
        except Exception as error:
            self.error = error

    def score(
        self, function: Callable[[Partition], BatchResult], partition: Partition
    ) -> BatchResult:
        if self.error is not None:
            raise self.error
        return function(partition)


class RayExecutor:
    """Partitions scored by WORKERS Ray actors of one CPU each (at most the
    cluster's CPUs), at most two partitions per actor in flight, results in
    input order. ADDRESS: ``ray`` (RAY_ADDRESS's cluster, else a Ray started
    here) or ``ray://HOST:PORT``."""

    def __init__(
        self, workers: int, *, model: str, trust: bool, engine: str, address: str = "ray"
    ) -> None:
        from cairn._ray import check_executor

        self.address = check_executor(address, "--executor")
        self.workers = max(1, workers)
        if "://" not in model:  # workers may start in another folder
            model = str(Path(model).resolve())
        self._model = (model, trust, engine)

    def map(
        self, function: Callable[[Partition], BatchResult], items: Iterable[Partition]
    ) -> Iterator[BatchResult]:
        from cairn._ray import connect

        connection = connect(self.address)
        ray = connection.ray
        self.workers = min(self.workers, connection.cpus)
        scorer = ray.remote(num_cpus=1, max_restarts=0)(_RayScorer)
        actors = [scorer.remote(*self._model) for _ in range(self.workers)]
        pending: deque[Any] = deque()
        try:
            for number, item in enumerate(items):
                actor = actors[number % len(actors)]
                pending.append(actor.score.remote(function, item))
                if len(pending) >= 2 * self.workers:
                    yield _ray_result(ray, pending.popleft())
            while pending:
                yield _ray_result(ray, pending.popleft())
        finally:
            for ref in pending:
                ray.cancel(ref, force=False)
            for actor in actors:
                ray.kill(actor)
            connection.close()


def _ray_result(ray: Any, ref: Any) -> BatchResult:
    """The partition's result; a scoring error raised as itself."""
    from ray.exceptions import RayError, RayTaskError

    try:
        result: BatchResult = ray.get(ref)
    except RayTaskError as error:
        cause = getattr(error, "cause", None)
        raise cause if isinstance(cause, Exception) else CairnError(str(error)) from None
    except RayError as error:
        raise CairnError(
            f"--executor ray: a worker was lost while scoring ({type(error).__name__}); "
            "run the command again"
        ) from None
    return result


# name -> factory(workers, *, model, trust, engine) -> Executor
EXECUTORS: dict[str, Callable[..., Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def make_executor(name: str, workers: int, *, model: str, trust: bool, engine: str) -> Executor:
    """The executor called NAME (``ray://HOST:PORT``: Ray on that cluster).

    Raises:
        CairnError: NAME is not a known executor, or Ray is not installed.
    """
    if name.startswith("ray://"):
        return RayExecutor(workers, model=model, trust=trust, engine=engine, address=name)
    if name not in EXECUTORS:
        raise CairnError(
            f"--executor {name!r} is not available; use one of: {', '.join(sorted(EXECUTORS))}"
        )
    return EXECUTORS[name](workers, model=model, trust=trust, engine=engine)


def partitions(path: Path, rows: int = PARTITION_ROWS) -> Iterator[Partition]:
    """PATH cut into partitions of about ROWS rows: consecutive Parquet row
    groups, or CSV batches read by DuckDB with one schema for the file.

    Raises:
        DataError: the file cannot be read as Parquet or CSV.
    """
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            meta = pq.read_metadata(path)
        except (pa.ArrowException, OSError) as error:
            raise DataError(f"{path}: is not a readable Parquet file ({error})") from None
        group: list[int] = []
        held = 0
        index = 0
        for i in range(meta.num_row_groups):
            group.append(i)
            held += meta.row_group(i).num_rows
            if held >= rows:
                yield Partition(index, str(path), tuple(group))
                index, group, held = index + 1, [], 0
        if group:
            yield Partition(index, str(path), tuple(group))
        return
    if suffix == ".csv":
        yield from _csv_partitions(path, rows)
        return
    raise DataError(
        f"{path}: partitioned scoring reads Parquet (.parquet, .pq) or CSV (.csv) files; "
        "convert it, or score it without --workers"
    )


def _csv_partitions(path: Path, rows: int) -> Iterator[Partition]:
    import pyarrow as pa

    from cairn.data.large import connect, relation

    with connect() as con:
        try:
            relation_rows = con.sql(f"SELECT * FROM {relation(path)}")
            # duckdb 2 names it to_arrow_reader, duckdb 1 fetch_record_batch
            reader_of = getattr(relation_rows, "to_arrow_reader", None)
            reader = reader_of(rows) if reader_of else relation_rows.fetch_record_batch(rows)
        except Exception as error:  # duckdb raises its own hierarchy
            raise DataError(f"{path}: cannot be read as CSV ({error})") from None
        for index, batch in enumerate(reader):
            yield Partition(index, str(path), rows=pa.Table.from_batches([batch]))


def score_partition(model: Model, partition: Partition) -> BatchResult:
    """One partition scored: its Arrow columns as read, the outputs appended."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if partition.rows is not None:
        table = partition.rows
    else:
        table = pq.ParquetFile(partition.path).read_row_groups(list(partition.row_groups))
    # The pandas index a file may carry is not scored nor written (as the
    # in-memory path writes no index).
    index_columns = [n for n in table.column_names if re.fullmatch(r"__index_level_\d+__", n)]
    table = table.drop_columns(index_columns).replace_schema_metadata(None)
    frame = table.to_pandas()
    frame.columns = [str(c).replace("\ufeff", "").strip() for c in frame.columns]
    out, caught = score_frame(model, frame)
    for name in out.columns[len(frame.columns) :]:
        table = table.append_column(str(name), pa.array(out[name].to_numpy(), from_pandas=True))
    messages = tuple(dict.fromkeys(str(w.message) for w in caught))
    return BatchResult(partition.index, table, messages)


def score_file(
    model: str,
    data: Path,
    output: Path,
    *,
    workers: int = 1,
    executor: str = "local",
    trust: bool = False,
    engine: str = "auto",
    partition_rows: int = PARTITION_ROWS,
) -> tuple[int, list[str]]:
    """Score DATA with MODEL partition by partition and stream the input
    columns with the outputs to OUTPUT (Parquet), written atomically.

    Returns:
        The rows written and the distinct warnings scoring raised.

    Raises:
        DataError: DATA cannot be read, or a partition's outputs do not
            match the first partition's columns.
        CairnError: the executor is unknown.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    runner = make_executor(executor, workers, model=model, trust=trust, engine=engine)
    data = data.resolve()  # partitions name the file to workers that may run elsewhere
    temporary = output.with_name(f".{output.name}.{os.getpid()}.part")
    written = 0
    messages: dict[str, None] = {}
    writer: pq.ParquetWriter | None = None
    try:
        for result in runner.map(_score_in_worker, partitions(data, partition_rows)):
            table = result.table
            if writer is None:
                writer = pq.ParquetWriter(temporary, table.schema)
            elif table.schema != writer.schema:
                try:
                    table = table.cast(writer.schema)
                except (pa.ArrowException, ValueError) as error:
                    raise DataError(
                        f"{data}: partition {result.index} scored to other column types than "
                        f"the first ({error}); give the file one type per column"
                    ) from None
            writer.write_table(table)
            written += table.num_rows
            messages.update(dict.fromkeys(result.warnings))
        if writer is None:
            raise DataError(f"{data}: holds no rows to score")
        writer.close()
        writer = None
        temporary.replace(output)
    finally:
        if writer is not None:
            writer.close()
        temporary.unlink(missing_ok=True)
    return written, list(messages)
