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
import io
import json
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cairn.exceptions import RegistryError

CHAMPION = "champion"
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
    """Where a run was recorded."""

    run_id: str
    experiment: str
    tracking_uri: str
    model_uri: str | None
    version: str | None
    alias: str | None


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
) -> TrackedRun:
    """Log a finished run with its bundle, and register the model.

    Args:
        reports: files attached under ``reports/`` (leaderboard, quality...).
        promote: let the version take the ``champion`` alias when it is free;
            False when a deployment gate (the served latency) failed.

    Raises:
        RegistryError: the store cannot be reached or written.
    """
    _quiet_mlflow()
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(project_dir, configured_uri)
    try:
        _use_store(uri)
        experiment_id = _experiment_id(project, project_dir, configured_uri, uri)
        with mlflow.start_run(experiment_id=experiment_id, tags=dict(tags or {})) as run:
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
                )
            run_id = run.info.run_id
        version = alias = model_uri = None
        if register:
            client = MlflowClient(uri)
            versions = client.search_model_versions(f"name='{project}'")
            mine = [v for v in versions if v.run_id == run_id]
            if mine:
                version = str(mine[0].version)
                model_uri = f"models:/{project}/{version}"
                if promote and (len(versions) == 1 or not _has_alias(client, project, CHAMPION)):
                    client.set_registered_model_alias(project, CHAMPION, version)
                    alias = CHAMPION
        else:
            model_uri = info.model_uri
    except RegistryError:
        raise
    except Exception as error:
        raise RegistryError(
            f"cannot record the run in the tracking store {uri}: {error}; "
            "check tracking.uri in cairn.toml or MLFLOW_TRACKING_URI"
        ) from error
    return TrackedRun(run_id, project, uri, model_uri, version, alias)


def _metric_key(name: str) -> str:
    """A metric name MLflow accepts (candidate names such as 'lightgbm#1' or
    'lightgbm+selected' hold characters it refuses)."""
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", name)


def _experiment_id(project: str, project_dir: Path, configured_uri: str | None, uri: str) -> str:
    """The project's experiment, created on first use (artifacts beside the
    default SQLite store)."""
    import mlflow

    experiment = mlflow.get_experiment_by_name(project)
    if experiment is not None:
        return str(experiment.experiment_id)
    artifact_location = None
    if uri.startswith("sqlite:///") and not configured_uri:
        artifact_location = (project_dir.resolve() / ".cairn" / "artifacts").as_uri()
    return str(mlflow.create_experiment(project, artifact_location=artifact_location))


def _has_alias(client: Any, name: str, alias: str) -> bool:
    try:
        client.get_model_version_by_alias(name, alias)
    except Exception:
        return False
    return True


def download_bundle(uri: str, *, tracking_uri: str | None = None) -> Path:
    """Fetch the bundle behind ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.

    Raises:
        RegistryError: unknown model, version or alias, or an unreachable store.
    """
    _quiet_mlflow()
    import mlflow

    store = tracking_uri or globals_uri()
    try:
        _use_store(store)
        target = Path(tempfile.mkdtemp(prefix="cairn-model-"))
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(target))
    except Exception as error:
        raise RegistryError(
            f"cannot resolve {uri} in the registry at {store}: {error}. "
            "Check the name and alias (e.g. models:/NAME@champion) and the tracking store"
        ) from None
    bundle = Path(local) / "artifacts" / BUNDLE_ARTIFACT
    if not bundle.is_dir():
        candidates = list(Path(local).rglob("metadata.json"))
        if not candidates:
            raise RegistryError(f"{uri} is not a cairn model (no bundle in its artifacts)")
        bundle = candidates[0].parent
    return bundle


def globals_uri() -> str:
    """The store for registry look-ups made outside a project run."""
    return tracking_uri(Path.cwd())


def describe_version(uri: str, *, tracking_uri: str | None = None) -> dict[str, Any]:
    """Name, version and aliases of a registry URI, as a dict."""
    _quiet_mlflow()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri or globals_uri())
    body = uri.removeprefix("models:/")
    if "@" in body:
        name, alias = body.split("@", 1)
        version = client.get_model_version_by_alias(name, alias)
    else:
        name, number = body.split("/", 1)
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
    _quiet_mlflow()
    from mlflow.tracking import MlflowClient

    _use_store(uri)
    return MlflowClient(uri)


def _registry_error(action: str, uri: str, error: Exception) -> RegistryError:
    return RegistryError(
        f"cannot {action} in the registry at {uri}: {error}; "
        "check tracking.uri in cairn.toml or MLFLOW_TRACKING_URI"
    )


def list_versions(name: str, *, tracking_uri: str) -> list[ModelVersion]:
    """Every registered version of model ``name``, oldest first.

    Raises:
        RegistryError: the model is not registered or the store is unreachable.
    """
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
        raise RegistryError(
            f"no registered versions of model {name!r} in {tracking_uri}; "
            "run 'cairn run' to train and register one"
        )
    return sorted(versions, key=lambda v: int(v.version))


def alias_version(name: str, alias: str, *, tracking_uri: str) -> str | None:
    """The version that ``models:/NAME@ALIAS`` points to, or None."""
    client = _client(tracking_uri)
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:
        return None


def set_alias(name: str, alias: str, version: str, *, tracking_uri: str) -> None:
    """Point ``models:/NAME@ALIAS`` at ``version``.

    Raises:
        RegistryError: unknown version or unreachable store.
    """
    try:
        _client(tracking_uri).set_registered_model_alias(name, alias, str(version))
    except Exception as error:
        raise _registry_error(
            f"point alias {alias!r} of {name!r} at version {version}", tracking_uri, error
        ) from error


def tag_version(name: str, version: str, tags: Mapping[str, Any], *, tracking_uri: str) -> None:
    """Set tags on one model version (values are stored as text).

    Raises:
        RegistryError: unknown version or unreachable store.
    """
    client = _client(tracking_uri)
    try:
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
    _quiet_mlflow()
    import mlflow

    uri = tracking_uri(project_dir, configured_uri)
    tags = {
        "cairn.kind": "decision",
        "cairn.decision": decision,
        "mlflow.runName": f"{decision} {evidence.get('version', '')}".strip(),
    }
    for key in ("version", "champion_version", "challenger_version", "from_version"):
        if evidence.get(key) is not None:
            tags[f"cairn.{key}"] = str(evidence[key])
    try:
        _use_store(uri)
        experiment_id = _experiment_id(project, project_dir, configured_uri, uri)
        with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
            finite = {k: float(v) for k, v in (metrics or {}).items() if v is not None and v == v}
            if finite:
                mlflow.log_metrics(finite)
            mlflow.log_dict(json.loads(json.dumps(dict(evidence), default=str)), DECISION_FILE)
            for path in files:
                mlflow.log_artifact(str(path), artifact_path="evidence")
            return str(run.info.run_id)
    except Exception as error:
        raise _registry_error("record the decision", uri, error) from error


def list_decisions(project: str, *, tracking_uri: str, limit: int = 50) -> list[dict[str, Any]]:
    """The latest maintenance decisions of a project, newest first, each with
    its run id, time and evidence. Runs that did not finish (a retrain killed
    while recording its decision) are left out.

    Raises:
        RegistryError: the store cannot be read.
    """
    _quiet_mlflow()
    import mlflow

    client = _client(tracking_uri)
    try:
        experiment = mlflow.get_experiment_by_name(project)
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
            evidence = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/{DECISION_FILE}")
            out.append(
                {
                    "run_id": run.info.run_id,
                    "time": datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC),
                    "decision": run.data.tags.get("cairn.decision"),
                    "evidence": evidence,
                }
            )
        return out
    except Exception as error:
        raise _registry_error("read the decisions", tracking_uri, error) from error
