"""A finished ``cairn run`` logged as an MLflow run: parameters, metrics,
reports and the bundle as a pyfunc model, registered as a new version."""

from __future__ import annotations

import contextlib
import io
import json
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.exceptions import RegistryError
from cairn.tracking._client import (
    BUNDLE_ARTIFACT,
    CHAMPION,
    alias_of,
    open_store,
    project_experiment,
    quiet_mlflow,
    registry_error,
    tracking_uri,
)
from cairn.tracking_store import (
    process_alive,
    process_tags,
    store_lock,
)

# The pyfunc wrapper logged with each bundle (cairn/mlflow_model.py).
_PYFUNC_MODEL = Path(__file__).resolve().parent.parent / "mlflow_model.py"
# What loading a bundle in the pyfunc imports. Stating them spares MLflow's
# inference, which imports the model in a subprocess (15 s, under the lock).
_PYFUNC_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "joblib",
    "cloudpickle",
    "lightgbm",
    "catboost",
    "onnxruntime",
    "pyarrow",
)


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


def record_run(
    *,
    project: str,
    project_dir: Path,
    configured_uri: str | None,
    artifacts: str | None = None,
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
        artifacts: where a new experiment keeps its artifacts (the spec's
            ``tracking.artifacts``); default beside the project.
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
    quiet_mlflow()
    import mlflow

    uri = tracking_uri(project_dir, configured_uri)
    client = open_store(uri)
    signature, example = _signature(examples, bundle_dir)
    try:
        with store_lock(uri):
            experiment_id = project_experiment(
                project, project_dir, configured_uri, uri, artifacts=artifacts
            )
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
                        python_model=str(_PYFUNC_MODEL),
                        artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
                        registered_model_name=project if register else None,
                        signature=signature,
                        input_example=example,
                        pip_requirements=pyfunc_requirements(),
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
        raise registry_error("record the run", uri, error) from error
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
    champion = alias_of(client, project, CHAMPION)
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


def pyfunc_requirements() -> list[str]:
    """The installed versions of what the pyfunc model needs, pinned."""
    from importlib import metadata

    pinned = []
    for package in _PYFUNC_PACKAGES:
        try:
            pinned.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return pinned
