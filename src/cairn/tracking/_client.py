"""The tracking store: which one a project uses, and an MLflow client on it
whose tables exist; the registry errors every caller shares."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

from cairn.exceptions import RegistryError
from cairn.tracking_store import (
    damaged_store_error,
    display_uri,
    is_database_server,
    moved_artifacts,
    moved_error,
    sqlite_file,
    store_lock,
)

CHAMPION = "champion"
BUNDLE_ARTIFACT = "bundle"


_URI_ENV = "MLFLOW_TRACKING_URI"


def tracking_uri(project_dir: Path, configured: str | None = None) -> str:
    """The store to use: the spec's, else ``MLFLOW_TRACKING_URI``, else
    SQLite in ``<project>/.cairn/mlflow.db``. A ``postgresql://`` store is
    reached through psycopg 3 (``cairn[postgres]``)."""
    if configured:
        return database_uri(configured)
    if os.environ.get(_URI_ENV):
        return database_uri(os.environ[_URI_ENV])
    state = project_dir.resolve() / ".cairn"
    state.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{state / 'mlflow.db'}"


def database_uri(uri: str) -> str:
    """``postgresql://`` (or ``postgres://``) spelled with the psycopg 3 driver,
    which ``cairn[postgres]`` installs; SQLAlchemy's default would be psycopg2.
    Any other URI, or one naming its driver, is returned as given."""
    for scheme in ("postgresql://", "postgres://"):
        if uri.startswith(scheme):
            return "postgresql+psycopg://" + uri.removeprefix(scheme)
    return uri


#: Connections MLflow's SQLAlchemy engine keeps per process (and per store):
#: at most POOL_SIZE + MAX_OVERFLOW. SQLAlchemy's default (5 + 10) times two
#: engines (tracking and registry) is 30 per process; ten ``cairn run`` and
#: ``cairn serve`` processes would then exhaust PostgreSQL's default
#: ``max_connections`` of 100. cairn talks to the store from one thread at a
#: time, so 2 + 2 is plenty; the environment variables override these.
POOL_SIZE = 2
MAX_OVERFLOW = 2


def bound_connection_pool() -> None:
    """Set MLflow's pool size for database stores, unless the user did."""
    os.environ.setdefault("MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", str(POOL_SIZE))
    os.environ.setdefault("MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", str(MAX_OVERFLOW))


def globals_uri() -> str:
    """The store for registry look-ups made outside a project run."""
    return tracking_uri(Path.cwd())


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


def quiet_mlflow() -> None:
    """Silence MLflow's and alembic's INFO chatter; errors still surface."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    import mlflow  # noqa: F401  (configures its loggers on import; quiet them after)

    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.ERROR)


def warm_tracking() -> threading.Thread:
    """Import MLflow, and read its map of installed packages, in a daemon
    thread: a run that registers does it while the search trains (seconds
    that would otherwise come after it). Join the thread before tracking."""

    def warm() -> None:
        with contextlib.suppress(Exception):  # tracking will say what is wrong
            quiet_mlflow()
            import mlflow.pyfunc  # noqa: F401
            from mlflow.utils import requirements_utils

            # what checking the model's stated requirements reads (cached)
            requirements_utils._init_modules_to_packages_map()

    thread = threading.Thread(target=warm, name="cairn-warm-tracking", daemon=True)
    thread.start()
    return thread


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
    uri = database_uri(uri)
    database = sqlite_file(uri)
    opened = _opened.get(uri)
    if opened is not None and (database is None or database.is_file()):
        _use_store(uri)
        return opened
    quiet_mlflow()
    if database is None:
        bound_connection_pool()
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
        raise registry_error("open the store", uri, error) from error
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


def alias_of(client: Any, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:
        return None


def error_reason(error: BaseException) -> str:
    """An error's text as a clause: first line, no trailing full stop."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text.rstrip(". ")


def registry_error(action: str, uri: str, error: Exception) -> RegistryError:
    damaged = damaged_store_error(uri, error)
    if damaged is not None:
        return damaged
    return RegistryError(
        f"cannot {action} in the registry at {display_uri(uri)}: {error_reason(error)}; "
        "check tracking.uri in cairn.toml or MLFLOW_TRACKING_URI"
    )


def project_experiment(
    project: str,
    project_dir: Path,
    configured_uri: str | None,
    uri: str,
    *,
    artifacts: str | None = None,
) -> str:
    """The project's experiment, created on first use. Its artifacts go to
    ``artifacts`` (the spec's ``tracking.artifacts``) when given; beside the
    project for the default SQLite store and for a database server (where
    MLflow's default, ``./mlruns``, would depend on the folder a command
    runs in); elsewhere where the store decides."""
    import mlflow

    with store_lock(uri):
        experiment = mlflow.get_experiment_by_name(project)
        if experiment is not None:
            return str(experiment.experiment_id)
        artifact_location = artifacts
        if artifacts is not None and "://" not in artifacts:
            artifact_location = (project_dir / artifacts).resolve().as_uri()
        beside_project = (uri.startswith("sqlite:///") and not configured_uri) or (
            is_database_server(uri)
        )
        if artifact_location is None and beside_project:
            artifact_location = (project_dir.resolve() / ".cairn" / "artifacts").as_uri()
        return str(mlflow.create_experiment(project, artifact_location=artifact_location))
