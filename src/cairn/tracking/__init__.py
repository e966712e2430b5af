"""MLflow runs and the model registry.

Each ``cairn run`` is an MLflow run in the experiment named after the
project. By default the store is SQLite in the project's ``.cairn/`` folder
(artifacts beside it); the spec's ``tracking.uri`` or ``MLFLOW_TRACKING_URI``
point it elsewhere, e.g. at a PostgreSQL database shared by several hosts
(``postgresql://``, through psycopg 3, with MLflow's connection pool bounded:
see :data:`~cairn.tracking._client.POOL_SIZE`). The model is logged as an
MLflow pyfunc model wrapping the cairn bundle, so ``mlflow models serve -m
models:/NAME@champion`` works, and is registered as a new version of the model
named after the project; the first version gets the ``champion`` alias.

MLflow is imported only inside these functions, so the CLI starts fast.
"""

from cairn.tracking._bundles import describe_version, download_bundle, load_model
from cairn.tracking._client import (
    BUNDLE_ARTIFACT,
    CHAMPION,
    globals_uri,
    open_store,
    tracking_uri,
    warm_tracking,
)
from cairn.tracking._registry import (
    DECISION_FILE,
    ModelVersion,
    TrackingRun,
    alias_version,
    list_decisions,
    list_tracking_runs,
    list_versions,
    recent_decisions,
    record_decision,
    remove_alias,
    set_alias,
    tag_version,
)
from cairn.tracking._runs import TrackedRun, fail_interrupted_runs, record_run

__all__ = [
    "BUNDLE_ARTIFACT",
    "CHAMPION",
    "DECISION_FILE",
    "ModelVersion",
    "TrackedRun",
    "TrackingRun",
    "alias_version",
    "describe_version",
    "download_bundle",
    "fail_interrupted_runs",
    "globals_uri",
    "list_decisions",
    "list_tracking_runs",
    "list_versions",
    "load_model",
    "open_store",
    "recent_decisions",
    "record_decision",
    "record_run",
    "remove_alias",
    "set_alias",
    "tag_version",
    "tracking_uri",
    "warm_tracking",
]
