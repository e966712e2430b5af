"""MLflow runs and the model registry.

Each ``cairn run`` is an MLflow run in the experiment named after the
project. By default the store is SQLite in the project's ``.cairn/`` folder
(artifacts beside it); the spec's ``tracking.uri`` or ``MLFLOW_TRACKING_URI``
point it elsewhere. The model is logged as an MLflow pyfunc model wrapping the
cairn bundle, so ``mlflow models serve -m models:/NAME@champion`` works, and is
registered as a new version of the model named after the project; the first
version gets the ``champion`` alias.

MLflow is imported only inside these functions, so the CLI starts fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from cairn.exceptions import RegistryError
from cairn.tracking_store import (
    SqliteStore,
    damaged_store_error,
    moved_artifacts,
    moved_error,
    process_alive,
    process_tags,
    sqlite_file,
    store_lock,
)

if TYPE_CHECKING:
    from cairn.bundle import Model

CHAMPION = "champion"
_T = TypeVar("_T")
BUNDLE_ARTIFACT = "bundle"
_URI_ENV = "MLFLOW_TRACKING_URI"


def tracking_uri(project_dir: Path, configured: str | None = None) -> str:
    """The store to use: the spec's, else ``MLFLOW_TRACKING_URI``, else
    SQLite in ``<project>/.cairn/mlflow.db``."""
    if configured:
        return configured
    if os.environ.get(_URI_ENV):
        return os.environ[_URI_ENV]
    state = project_dir.resolve() / ".cairn"
    state.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{state / 'mlflow.db'}"


def _use_store(uri: str) -> None:
    """Point MLflow at ``uri`` for this process. MLflow also copies the URI
    into MLFLOW_TRACKING_URI, where :func:`tracking_uri` would take it for the
    user's choice and send the next project's runs to this store; the
    environment is put back as it was."""
    import mlflow

    saved = {name: os.environ.get(name) for name in (_URI_ENV, "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _quiet_mlflow() -> None:
    """Silence MLflow's and alembic's INFO chatter; errors still surface."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    import mlflow  # noqa: F401  (configures its loggers on import; quiet them after)

    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.ERROR)


@dataclass(frozen=True)
class TrackedRun:
    """Where a run was recorded.

    Attributes:
        note: why the new version did not become champion (None when it did,
            or when nothing was registered).
    """

    run_id: str
    experiment: str
    tracking_uri: str
    model_uri: str | None
    version: str | None
    alias: str | None
    note: str | None = None


# Stores already opened (and checked) by this process.
_opened: dict[str, Any] = {}


def open_store(uri: str) -> Any:
    """An MlflowClient on ``uri`` whose tables exist.

    MLflow creates a new store's tables on first use; two processes doing it
    at once leave SQLite half migrated, so it happens under the store lock.

    Raises:
        RegistryError: the store is damaged, belongs to a moved project, or
            cannot be reached.
    """
    database = sqlite_file(uri)
    opened = _opened.get(uri)
    if opened is not None and (database is None or database.is_file()):
        _use_store(uri)
        return opened
    _quiet_mlflow()
    from mlflow.tracking import MlflowClient

    try:
        with store_lock(uri):
            if database is not None and not database.exists():
                _create_sqlite_store(database)
            _use_store(uri)
            client = MlflowClient(uri)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
    except RegistryError:
        raise
    except Exception as error:
        raise _registry_error("open the store", uri, error) from error
    # After MLflow's own checks: a damaged store is the first thing to say.
    moved = moved_artifacts(uri)
    if moved is not None:
        raise moved_error(uri, *moved)
    _opened[uri] = client
    return client


def _create_sqlite_store(database: Path) -> None:
    """Create a new SQLite store's tables under a temporary name and rename
    it into place, so a process killed while setting it up leaves no
    half-built store behind."""
    from mlflow.tracking import MlflowClient

    # Left by set-ups that were killed; the caller holds the lock, so none runs now.
    for stale in database.parent.glob(f".{database.name}.*.new"):
        stale.unlink(missing_ok=True)
    staging = database.with_name(f".{database.name}.{os.getpid()}.new")
    try:
        MlflowClient(f"sqlite:///{staging}").search_experiments(max_results=1)
        staging.replace(database)
    finally:
        staging.unlink(missing_ok=True)


def record_run(
    *,
    project: str,
    project_dir: Path,
    configured_uri: str | None,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    reports: Sequence[Path],
    bundle_dir: Path,
    register: bool = True,
    tags: Mapping[str, str] | None = None,
    promote: bool = True,
    hold_reason: str | None = None,
    examples: Path | None = None,
) -> TrackedRun:
    """Log a finished run with its bundle, and register the model.

    Registration and the champion decision happen under the store lock, so
    of two runs finishing together exactly one finds the ``champion`` alias
    free (the first version of a model is champion; later ones wait for
    ``cairn promote`` or a ``cairn retrain`` comparison). Runs left
    ``RUNNING`` by a killed process are marked ``FAILED`` first.

    Args:
        reports: files attached under ``reports/`` (leaderboard, quality...).
        promote: let the version take the ``champion`` alias when it is free;
            False when a deployment gate (the served latency) failed.
        hold_reason: why ``promote`` is False, in words.
        examples: the held-out predictions (``test_predictions.parquet``):
            their first rows are the input example, and with the outputs they
            give the model's signature.

    Raises:
        RegistryError: the store cannot be reached or written.
    """
    _quiet_mlflow()
    import mlflow

    uri = tracking_uri(project_dir, configured_uri)
    client = open_store(uri)
    signature, example = _signature(examples, bundle_dir)
    try:
        with store_lock(uri):
            experiment_id = _experiment_id(project, project_dir, configured_uri, uri)
            fail_interrupted_runs(client, experiment_id)
            run_tags = {**dict(tags or {}), **process_tags(), "cairn.kind": "training"}
            with mlflow.start_run(experiment_id=experiment_id, tags=run_tags) as run:
                mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
                finite = {
                    _metric_key(k): float(v) for k, v in metrics.items() if v is not None and v == v
                }
                mlflow.log_metrics(finite)
                for path in reports:
                    mlflow.log_artifact(str(path), artifact_path="reports")
                # MLflow prints registration chatter on stderr; the CLI reports it itself.
                with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                    warnings.simplefilter("ignore", UserWarning)
                    info = mlflow.pyfunc.log_model(
                        name="model",
                        python_model=str(Path(__file__).with_name("mlflow_model.py")),
                        artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
                        registered_model_name=project if register else None,
                        signature=signature,
                        input_example=example,
                    )
                run_id = run.info.run_id
                version = alias = note = None
                model_uri = info.model_uri
                if register:
                    version, alias, note = _place_version(
                        client, project, run_id, promote=promote, hold_reason=hold_reason
                    )
                    model_uri = f"models:/{project}/{version}" if version else None
    except RegistryError:
        raise
    except Exception as error:
        raise _registry_error("record the run", uri, error) from error
    return TrackedRun(run_id, project, uri, model_uri, version, alias, note)


def _place_version(
    client: Any, project: str, run_id: str, *, promote: bool, hold_reason: str | None
) -> tuple[str | None, str | None, str | None]:
    """The version registered for ``run_id``, the alias it took and, when
    it did not become champion, why; the reason is tagged on the version."""
    mine = client.search_model_versions(f"name='{project}' and run_id='{run_id}'")
    if not mine:
        return None, None, None
    version = str(mine[0].version)
    champion = _alias_of(client, project, CHAMPION)
    alias = note = None
    if champion is None and promote:
        client.set_registered_model_alias(project, CHAMPION, version)
        alias = CHAMPION
        decision, reason = "champion", "the model had no champion: this version became it"
    elif champion is None:
        decision = "held"
        reason = note = (
            f"not made champion: {hold_reason or 'a deployment gate failed'}; "
            f"make it champion anyway with 'cairn promote {version}'"
        )
    else:
        decision = "registered"
        reason = note = (
            f"not made champion: version {champion} is the champion and a new run does not "
            f"replace it; compare them with 'cairn retrain', or 'cairn promote {version}'"
        )
    client.set_model_version_tag(project, version, "cairn.decision", decision)
    client.set_model_version_tag(project, version, "cairn.decision_reason", reason)
    return version, alias, note


def _alias_of(client: Any, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:
        return None


def _signature(examples: Path | None, bundle_dir: Path) -> tuple[Any, Any]:
    """The model's signature and input example, from the held-out rows and
    the outputs the model gave them (as the pyfunc returns them).

    Column types come from the columns' dtypes as pandas reads the source
    (whole numbers with gaps are read as floats): MLflow's own inference
    gives up on a whole frame (one untyped input) as soon as one column
    puzzles it. The model's features are required; other columns (ids,
    dropped columns) are optional.
    """
    if examples is None or not examples.exists():
        return None, None
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    frame = pd.read_parquet(examples).head(5)
    inputs = frame[[c for c in frame.columns if not str(c).startswith("__")]].copy()
    outputs = pd.DataFrame({"prediction": frame["__prediction"]})
    for column in frame.columns:
        if str(column).startswith("__proba_"):
            outputs[f"proba_{str(column).removeprefix('__proba_')}"] = frame[column]

    def kind(values: pd.Series) -> str:
        if pd.api.types.is_bool_dtype(values):
            return "boolean"
        if pd.api.types.is_integer_dtype(values):
            return "long"
        if pd.api.types.is_numeric_dtype(values):
            return "double"
        if pd.api.types.is_datetime64_any_dtype(values):
            return "datetime"
        return "string"

    specs = {str(c): kind(inputs[c]) for c in inputs.columns}
    for column, spec in specs.items():
        if spec == "string":
            text = [None if pd.isna(v) else str(v) for v in inputs[column]]
            inputs[column] = pd.Series(text, index=inputs.index, dtype=object)
    from cairn.bundle import SCHEMA_FILE
    from cairn.data.schema import Schema as InputSchema

    saved = json.loads((bundle_dir / SCHEMA_FILE).read_text(encoding="utf-8"))
    features = set(InputSchema.from_dict(saved).feature_names)
    signature = ModelSignature(
        inputs=Schema(
            [ColSpec(spec, name, required=name in features) for name, spec in specs.items()]
        ),
        outputs=Schema([ColSpec(kind(outputs[c]), str(c)) for c in outputs.columns]),
    )
    return signature, inputs


def fail_interrupted_runs(client: Any, experiment_id: str) -> list[str]:
    """Mark ``FAILED`` the runs left ``RUNNING`` by a process that is gone
    (killed, or its machine restarted), and their half-logged models; returns
    their run ids. Runs of live processes, or recorded on another host, are
    left alone."""
    from mlflow.entities import LoggedModelStatus

    failed = []
    for run in client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=500
    ):
        if process_alive(dict(run.data.tags)) is not False:
            continue
        run_id = run.info.run_id
        client.set_tag(run_id, "cairn.interrupted", "true")
        client.set_terminated(run_id, status="FAILED")
        failed.append(run_id)
    if failed:
        for model in client.search_logged_models(experiment_ids=[experiment_id]):
            if model.source_run_id in failed and model.status == LoggedModelStatus.PENDING:
                client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
    return failed


def _metric_key(name: str) -> str:
    """A metric name MLflow accepts (candidate names such as 'lightgbm#1' or
    'lightgbm+selected' hold characters it refuses)."""
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", name)


def _experiment_id(project: str, project_dir: Path, configured_uri: str | None, uri: str) -> str:
    """The project's experiment, created on first use (artifacts beside the
    default SQLite store)."""
    import mlflow

    with store_lock(uri):
        experiment = mlflow.get_experiment_by_name(project)
        if experiment is not None:
            return str(experiment.experiment_id)
        artifact_location = None
        if uri.startswith("sqlite:///") and not configured_uri:
            artifact_location = (project_dir.resolve() / ".cairn" / "artifacts").as_uri()
        return str(mlflow.create_experiment(project, artifact_location=artifact_location))


def download_bundle(uri: str, *, tracking_uri: str | None = None) -> Path:
    """Fetch the bundle behind ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.

    A version's artifacts never change, so each is fetched once into a cache
    (``.cairn/model-cache/NAME/VERSION`` beside a project store, else the
    user's cache folder), written under a temporary name and renamed when
    complete; nothing is left in the temporary folder.

    Raises:
        RegistryError: unknown model, version or alias, or an unreachable store.
    """
    store = tracking_uri or globals_uri()
    client = open_store(store)
    import mlflow

    try:
        name, version = _resolve_version(client, uri)
        cached = _cache_dir(store) / _safe_name(name) / version
        if not cached.is_dir():
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=".download-", dir=cached.parent))
            try:
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{name}/{version}", dst_path=str(partial)
                )
                try:
                    partial.rename(cached)
                except OSError:  # another process cached it first
                    if not cached.is_dir():
                        raise
            finally:
                shutil.rmtree(partial, ignore_errors=True)
    except Exception as error:
        raise RegistryError(
            f"cannot resolve {uri} in the registry at {store}: {_reason(error)}. "
            "Check the name and alias (e.g. models:/NAME@champion) and the tracking store"
        ) from None
    bundle = cached / "artifacts" / BUNDLE_ARTIFACT
    if not bundle.is_dir():
        candidates = list(cached.rglob("metadata.json"))
        if not candidates:
            raise RegistryError(f"{uri} is not a cairn model (no bundle in its artifacts)")
        bundle = candidates[0].parent
    return bundle


def _resolve_version(client: Any, uri: str) -> tuple[str, str]:
    body = uri.removeprefix("models:/")
    if "@" in body:
        name, alias = body.split("@", 1)
        return name, str(client.get_model_version_by_alias(name, alias).version)
    name, _, number = body.partition("/")
    return name, str(client.get_model_version(name, number).version)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "_"


def _cache_dir(store: str) -> Path:
    database = sqlite_file(store)
    if database is not None and database.resolve().parent.name == ".cairn":
        return database.resolve().parent / "model-cache"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cairn" / "models" / hashlib.sha256(store.encode()).hexdigest()[:16]


def globals_uri() -> str:
    """The store for registry look-ups made outside a project run."""
    return tracking_uri(Path.cwd())


def describe_version(uri: str, *, tracking_uri: str | None = None) -> dict[str, Any]:
    """Name, version and aliases of a registry URI, as a dict."""
    client = open_store(tracking_uri or globals_uri())
    name, number = _resolve_version(client, uri)
    version = client.get_model_version(name, number)
    return json.loads(
        json.dumps(
            {"name": version.name, "version": version.version, "aliases": version.aliases},
            default=str,
        )
    )


# ---------------------------------------------------------------- maintenance

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


def _reason(error: BaseException) -> str:
    """An error's text as a clause: first line, no trailing full stop."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text.rstrip(". ")


def _registry_error(action: str, uri: str, error: Exception) -> RegistryError:
    damaged = damaged_store_error(uri, error)
    if damaged is not None:
        return damaged
    return RegistryError(
        f"cannot {action} in the registry at {uri}: {_reason(error)}; "
        "check tracking.uri in cairn.toml or MLFLOW_TRACKING_URI"
    )


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
        f"no registered versions of model {name!r} in {uri}; "
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
        raise _registry_error(f"list the versions of {name!r}", tracking_uri, error) from error
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
    return _alias_of(_client(tracking_uri), name, alias)


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
        raise _registry_error(
            f"point alias {alias!r} of {name!r} at version {version}", tracking_uri, error
        ) from error


def remove_alias(name: str, alias: str, *, tracking_uri: str) -> None:
    """Drop ``models:/NAME@ALIAS`` (nothing happens when it is not set).

    Raises:
        RegistryError: unreachable store.
    """
    client = _client(tracking_uri)
    if _alias_of(client, name, alias) is None:
        return
    try:
        with store_lock(tracking_uri):
            client.delete_registered_model_alias(name, alias)
    except Exception as error:
        raise _registry_error(f"remove alias {alias!r} of {name!r}", tracking_uri, error) from error


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
        raise _registry_error(f"tag version {version} of {name!r}", tracking_uri, error) from error


def record_decision(
    *,
    project: str,
    project_dir: Path,
    configured_uri: str | None,
    decision: str,
    evidence: Mapping[str, Any],
    metrics: Mapping[str, float] | None = None,
    files: Sequence[Path] = (),
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
        experiment_id = _experiment_id(project, project_dir, configured_uri, uri)
        run = client.create_run(experiment_id, tags=tags)
        run_id = str(run.info.run_id)
        finite = {k: float(v) for k, v in (metrics or {}).items() if v is not None and v == v}
        for key, value in finite.items():
            client.log_metric(run_id, key, value)
        client.log_dict(run_id, json.loads(json.dumps(dict(evidence), default=str)), DECISION_FILE)
        for path in files:
            client.log_artifact(run_id, str(path), artifact_path="evidence")
        client.set_terminated(run_id, status="FINISHED")
        return run_id
    except Exception as error:
        raise _registry_error("record the decision", uri, error) from error


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
        raise _registry_error("read the decisions", tracking_uri, error) from error


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
            raise _registry_error("list the runs", tracking_uri, error) from error
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


def load_model(
    path_or_uri: str | Path,
    *,
    tracking_uri: str | None = None,
    trust: bool = False,
    engine: str = "auto",
) -> Model:
    """Load a model from a bundle folder or a registry URI.

    Args:
        path_or_uri: a bundle folder, or ``models:/NAME@ALIAS`` /
            ``models:/NAME/VERSION`` resolved in the MLflow registry.
        tracking_uri: the MLflow store for registry URIs; defaults to
            ``MLFLOW_TRACKING_URI`` or the project store in ``./.cairn``.
        trust: load an unsigned bundle, or one signed with another key.
        engine: "auto" (the verified ONNX graph the server uses, when there
            is one), "native" (the scikit-learn pipeline) or "onnx".

    Raises:
        BundleError: the bundle is missing or fails verification.
        RegistryError: the registry URI cannot be resolved.
    """
    from cairn.bundle import load_bundle

    text = str(path_or_uri)
    if text.startswith("models:/"):
        text = str(download_bundle(text, tracking_uri=tracking_uri))
    return load_bundle(Path(text), trust=trust, engine=engine)
