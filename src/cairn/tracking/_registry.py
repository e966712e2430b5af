"""The registry as maintenance reads and changes it: versions, aliases,
tags, the recorded decisions and the project's runs."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from cairn.exceptions import RegistryError
from cairn.tracking._client import (
    alias_of,
    open_store,
    project_experiment,
    registry_error,
    tracking_uri,
)
from cairn.tracking._runs import _metric_key
from cairn.tracking_store import (
    SqliteStore,
    display_uri,
    process_alive,
    process_tags,
    sqlite_file,
    store_lock,
)

_T = TypeVar("_T")


DECISION_FILE = "decision.json"


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model.

    Attributes:
        tags: version tags; cairn writes ``cairn.*`` tags with each decision
            (e.g. ``cairn.decision``, ``cairn.previous_champion``).
    """

    name: str
    version: str
    run_id: str | None
    created_at: datetime
    aliases: tuple[str, ...]
    tags: dict[str, str]

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def _client(uri: str) -> Any:
    return open_store(uri)


@contextlib.contextmanager
def _sqlite_view(uri: str) -> Iterator[SqliteStore | None]:
    """The read-only SQLite view of a local store (None for other stores,
    or when its tables are not the expected ones)."""
    try:
        store = SqliteStore.open(uri)
    except sqlite3.Error:
        store = None
    try:
        yield None if store is None or store.migration_leftovers else store
    finally:
        if store is not None:
            store.close()


def _sqlite_read(uri: str, read: Callable[[SqliteStore], list[_T]]) -> list[_T] | None:
    """``read`` answered by the local SQLite view of ``uri``; empty when the
    store file does not exist yet; None when MLflow must answer (another
    kind of store, or tables the view does not expect)."""
    database = sqlite_file(uri)
    if database is not None and not database.is_file():
        return []
    with _sqlite_view(uri) as view:
        if view is None:
            return None
        try:
            return read(view)
        except sqlite3.Error:
            return None


def _no_versions(name: str, uri: str) -> RegistryError:
    return RegistryError(
        f"no registered versions of model {name!r} in {display_uri(uri)}; "
        "run 'cairn run' to train and register one"
    )


def list_versions(name: str, *, tracking_uri: str) -> list[ModelVersion]:
    """Every registered version of model ``name``, oldest first. A local
    SQLite store is read directly (no MLflow import); others through MLflow.

    Raises:
        RegistryError: the model is not registered or the store is unreachable.
    """
    stored = _sqlite_read(tracking_uri, lambda view: view.versions(name))
    if stored is not None:
        if not stored:
            raise _no_versions(name, tracking_uri)
        return [
            ModelVersion(
                name=name,
                version=v.version,
                run_id=v.run_id,
                created_at=datetime.fromtimestamp(v.created_ms / 1000, tz=UTC),
                aliases=v.aliases,
                tags=v.tags,
            )
            for v in stored
        ]
    client = _client(tracking_uri)
    try:
        found = client.search_model_versions(f"name='{name}'")
        # Version search leaves aliases out; the registered model lists them.
        aliases: dict[str, list[str]] = {}
        if found:
            for alias, number in (client.get_registered_model(name).aliases or {}).items():
                aliases.setdefault(str(number), []).append(str(alias))
    except Exception as error:
        raise registry_error(f"list the versions of {name!r}", tracking_uri, error) from error
    versions = [
        ModelVersion(
            name=str(v.name),
            version=str(v.version),
            run_id=v.run_id,
            created_at=datetime.fromtimestamp(int(v.creation_timestamp) / 1000, tz=UTC),
            aliases=tuple(sorted(aliases.get(str(v.version), ()))),
            tags=dict(v.tags or {}),
        )
        for v in found
    ]
    if not versions:
        raise _no_versions(name, tracking_uri)
    return sorted(versions, key=lambda v: int(v.version))


def alias_version(name: str, alias: str, *, tracking_uri: str) -> str | None:
    """The version that ``models:/NAME@ALIAS`` points to, or None."""
    return alias_of(_client(tracking_uri), name, alias)


def set_alias(name: str, alias: str, version: str, *, tracking_uri: str) -> None:
    """Point ``models:/NAME@ALIAS`` at ``version``.

    Raises:
        RegistryError: unknown version or unreachable store.
    """
    client = _client(tracking_uri)
    try:
        with store_lock(tracking_uri):
            client.set_registered_model_alias(name, alias, str(version))
    except Exception as error:
        raise registry_error(
            f"point alias {alias!r} of {name!r} at version {version}", tracking_uri, error
        ) from error


def remove_alias(name: str, alias: str, *, tracking_uri: str) -> None:
    """Drop ``models:/NAME@ALIAS`` (nothing happens when it is not set).

    Raises:
        RegistryError: unreachable store.
    """
    client = _client(tracking_uri)
    if alias_of(client, name, alias) is None:
        return
    try:
        with store_lock(tracking_uri):
            client.delete_registered_model_alias(name, alias)
    except Exception as error:
        raise registry_error(f"remove alias {alias!r} of {name!r}", tracking_uri, error) from error


def tag_version(name: str, version: str, tags: Mapping[str, Any], *, tracking_uri: str) -> None:
    """Set tags on one model version (values are stored as text).

    Raises:
        RegistryError: unknown version or unreachable store.
    """
    client = _client(tracking_uri)
    try:
        with store_lock(tracking_uri):
            for key, value in tags.items():
                client.set_model_version_tag(name, str(version), key, str(value)[:5000])
    except Exception as error:
        raise registry_error(f"tag version {version} of {name!r}", tracking_uri, error) from error


def record_decision(
    *,
    project: str,
    project_dir: Path,
    configured_uri: str | None,
    decision: str,
    evidence: Mapping[str, Any],
    metrics: Mapping[str, float] | None = None,
    files: Sequence[Path] = (),
    artifacts: str | None = None,
) -> str:
    """Record a maintenance decision (promote, keep, rollback) as an MLflow run
    in the project's experiment, tagged ``cairn.kind = decision``, with the
    evidence as ``decision.json`` and any reports attached; returns its run id.

    Raises:
        RegistryError: the store cannot be written.
    """
    uri = tracking_uri(project_dir, configured_uri)
    client = _client(uri)
    tags = {
        "cairn.kind": "decision",
        "cairn.decision": decision,
        "mlflow.runName": f"{decision} {evidence.get('version', '')}".strip(),
        **process_tags(),
    }
    for key in ("version", "champion_version", "challenger_version", "from_version"):
        if evidence.get(key) is not None:
            tags[f"cairn.{key}"] = str(evidence[key])
    try:
        experiment_id = project_experiment(
            project, project_dir, configured_uri, uri, artifacts=artifacts
        )
        run = client.create_run(experiment_id, tags=tags)
        run_id = str(run.info.run_id)
        finite = {k: float(v) for k, v in (metrics or {}).items() if v is not None and v == v}
        for key, value in finite.items():
            # ranking metrics are named "ndcg@10"; MLflow refuses "@"
            client.log_metric(run_id, _metric_key(key), value)
        client.log_dict(run_id, json.loads(json.dumps(dict(evidence), default=str)), DECISION_FILE)
        for path in files:
            client.log_artifact(run_id, str(path), artifact_path="evidence")
        client.set_terminated(run_id, status="FINISHED")
        return run_id
    except Exception as error:
        raise registry_error("record the decision", uri, error) from error


def list_decisions(project: str, *, tracking_uri: str, limit: int = 50) -> list[dict[str, Any]]:
    """The latest maintenance decisions of a project, newest first, each with
    its run id, time and evidence. Runs that did not finish (a retrain killed
    while recording its decision) are left out.

    Raises:
        RegistryError: the store cannot be read.
    """
    client = _client(tracking_uri)
    try:
        experiment = client.get_experiment_by_name(project)
        if experiment is None:
            return []
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string="tags.`cairn.kind` = 'decision'",
            order_by=["attributes.start_time DESC"],
            max_results=limit,
        )
        out = []
        for run in runs:
            if run.info.status != "FINISHED":
                # still being written, or its writer died before the evidence:
                # not a decision (yet)
                continue
            out.append(
                {
                    "run_id": run.info.run_id,
                    "time": datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC),
                    "decision": run.data.tags.get("cairn.decision"),
                    "evidence": _load_evidence(client, run),
                }
            )
        return out
    except Exception as error:
        raise registry_error("read the decisions", tracking_uri, error) from error


def _load_evidence(client: Any, run: Any) -> dict[str, Any]:
    """decision.json of a decision run: read in place from a local artifact
    folder, else downloaded."""
    location = str(run.info.artifact_uri)
    if location.startswith("file://"):
        from urllib.parse import unquote, urlparse

        local = Path(unquote(urlparse(location).path)) / DECISION_FILE
        if local.is_file():
            return dict(json.loads(local.read_text(encoding="utf-8")))
    import mlflow

    return dict(mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/{DECISION_FILE}"))


# ---------------------------------------------------------------- run listing


@dataclass(frozen=True)
class TrackingRun:
    """One MLflow run of a project, as ``cairn runs`` shows it.

    Attributes:
        status: MLflow's (``FINISHED``, ``FAILED``, ``RUNNING``...), or
            ``INTERRUPTED`` for a ``RUNNING`` run whose process is gone.
    """

    run_id: str
    kind: str
    status: str
    started: datetime | None
    cairn_run: str | None
    note: str


def list_tracking_runs(project: str, *, tracking_uri: str, limit: int = 50) -> list[TrackingRun]:
    """The project's MLflow runs, newest first. A local SQLite store is read
    directly; others through MLflow.

    Raises:
        RegistryError: the store cannot be read.
    """
    rows = _sqlite_read(
        tracking_uri,
        lambda view: [(r.run_id, r.status, r.start_ms, r.tags) for r in view.runs(project)],
    )
    if rows is None:
        client = _client(tracking_uri)
        try:
            experiment = client.get_experiment_by_name(project)
            found = (
                client.search_runs(
                    [experiment.experiment_id],
                    order_by=["attributes.start_time DESC"],
                    max_results=limit,
                )
                if experiment is not None
                else []
            )
        except Exception as error:
            raise registry_error("list the runs", tracking_uri, error) from error
        rows = [(r.info.run_id, r.info.status, r.info.start_time, dict(r.data.tags)) for r in found]
    out = []
    for run_id, status, start_ms, tags in rows[:limit]:
        note = ""
        if status == "RUNNING":
            alive = process_alive(tags)
            if alive is False:
                status, note = (
                    "INTERRUPTED",
                    "its process is gone; the next 'cairn run' marks it FAILED",
                )
            elif alive is None:
                note = "recorded on another machine (or by an older cairn)"
        elif tags.get("cairn.interrupted") == "true":
            note = "interrupted: its process was killed before it finished"
        out.append(
            TrackingRun(
                run_id=run_id,
                kind=tags.get("cairn.kind")
                or ("decision" if "cairn.decision" in tags else "training"),
                status=status,
                started=datetime.fromtimestamp(start_ms / 1000, tz=UTC) if start_ms else None,
                cairn_run=tags.get("cairn.run_id"),
                note=note or tags.get("cairn.decision", ""),
            )
        )
    return out


def recent_decisions(project: str, *, tracking_uri: str, limit: int = 10) -> list[dict[str, Any]]:
    """The latest decisions, newest first, as ``time``, ``decision``,
    ``version`` and ``run_id`` (from run tags, without the evidence files:
    see :func:`list_decisions` for those).

    Raises:
        RegistryError: the store cannot be read.
    """
    runs = _sqlite_read(tracking_uri, lambda view: view.runs(project))
    if runs is not None:
        return [
            {
                "run_id": run.run_id,
                "time": datetime.fromtimestamp((run.start_ms or 0) / 1000, tz=UTC),
                "decision": run.tags.get("cairn.decision"),
                "version": run.tags.get("cairn.version", ""),
            }
            for run in runs
            if run.tags.get("cairn.kind") == "decision"
        ][:limit]
    return [
        {**item, "version": str(item["evidence"].get("version", ""))}
        for item in list_decisions(project, tracking_uri=tracking_uri, limit=limit)
    ]
