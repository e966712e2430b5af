"""The whole job for a clustering spec: ingest → clean (no target) → search
the segmentation on every row → measure it and check the objectives →
package (bundle, drift reference, serving graph, run files) → explore and
report → register.

A clustering has no held-out test set: the segmentation is found and
measured on every row (there is no label to predict on unseen rows), and
its trustworthiness comes from bootstrap stability instead.

A retrained clustering (given the model it replaces) keeps that model's
cluster ids: before packaging, its clusters are matched to the previous
model's by centroid (see :func:`cairn.models.clustering.align_clusters`), so
that "segment 3" means the same segment after a retraining.
"""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn._io import atomic_write_bytes, write_json
from cairn.bundle import Model, SchemaWarning, save_bundle
from cairn.data.pseudonym import KEY_FILE as PRIVACY_KEY_FILE
from cairn.data.pseudonym import project_key
from cairn.data.quality import CleanResult, clean_unlabelled
from cairn.data.schema import Schema
from cairn.data.sources import attach_combination, take_combination
from cairn.evaluation.evaluate import (
    NATIVE_PREFIX,
    Evaluation,
    check_objectives,
    measure_latency,
)
from cairn.evaluation.run_state import start_run_folder
from cairn.exceptions import CairnError, DataError
from cairn.models.clustering import (
    DEFAULT_K_RANGE,
    ClusteringResult,
    ClusterMatch,
    align_clusters,
    search_clusters,
    stability_by_cluster,
    to_segmentation,
)
from cairn.monitoring.reference import REFERENCE_FILE
from cairn.spec import ProjectSpec
from cairn.tasks import get_task
from cairn.tasks.metrics import CLUSTER_INDICES, clustering_metrics
from cairn.workflow import _outputs as outputs
from cairn.workflow._clock import Clock, Progress
from cairn.workflow._prepare import data_fingerprint, ingest
from cairn.workflow._result import RunResult

__all__ = ["Segmented", "cluster", "run_clustering"]

# The search gets the budget less a reserved share and an estimate of the
# stages after it (drift reference, serving graph and its check, reports),
# which grows with the table's cells (rows past 20,000 add little: those
# stages sample), at most half the budget; registration reserves its own.
_SEARCH_SHARE = 0.85
_MIN_SEARCH_SECONDS = 3.0
_POST_SEARCH_FIXED_S = 2.0
_POST_SEARCH_S_PER_CELL = 7.5e-5
_POST_SEARCH_MAX_ROWS = 20_000
_REGISTER_OVERHEAD_S = 5.0
# Assignments file of the run folder: the rows, their cluster and the ground truth.
ASSIGNMENTS_FILE = "assignments.parquet"


@dataclass
class Segmented:
    """The cleaned rows, the search's result and what was measured on it."""

    cleaned: CleanResult
    result: ClusteringResult
    evaluation: Evaluation
    ground_truth: pd.Series | None
    match: ClusterMatch | None = None
    # Each cluster's bootstrap stability, in the ids the search gave (0 = largest).
    cluster_stability: list[float] = field(default_factory=list)

    @cached_property
    def leaderboard(self) -> pd.DataFrame:
        """Every candidate, the chosen one first and marked, the rest by metric."""
        return _leaderboard(self.result)

    @property
    def features(self) -> pd.DataFrame:
        """The rows as the model sees them (the ground truth left out)."""
        truth = None if self.ground_truth is None else self.ground_truth.name
        names = [c.name for c in self.cleaned.schema.columns if c.name != truth]
        return self.cleaned.frame[names]


def cluster(spec: ProjectSpec, raw: pd.DataFrame, *, seconds: float, say: Progress) -> Segmented:
    """Clean the rows, search the segmentation, measure it against the
    spec's metric and objectives."""
    problem, settings = spec.problem, spec.clustering
    truth_column = problem.ground_truth
    source = ", ".join(item.label for item in spec.data.sources)
    say("checking data quality")
    combination = take_combination(raw)
    cleaned = clean_unlabelled(
        raw,
        task="clustering",
        roles=dict(spec.data.roles),
        id_columns=spec.data.id_columns,
        time_column=spec.data.time_column,
        exclude=[truth_column] if truth_column else [],
        source=source,
        privacy=spec.data.privacy,
        privacy_key=lambda: project_key(spec.project_dir),
    )
    attach_combination(cleaned.report, combination)
    features = cleaned.frame[[c.name for c in cleaned.schema.columns if c.name != truth_column]]
    metric = problem.metric or get_task("clustering").default_metric()
    rank_by = metric if metric in CLUSTER_INDICES else "silhouette"
    say(f"searching segmentations ({', '.join(settings.algorithms)})")
    truth = cleaned.frame[truth_column] if truth_column else None
    if truth is not None and truth.notna().sum() < 2:
        raise DataError(
            f"{source}: ground-truth column {truth_column!r} has {int(truth.notna().sum())} "
            "filled value(s); fill it or drop problem.ground_truth"
        )
    try:
        result = _search(spec, features, cleaned.schema, rank_by, seconds=seconds)
        evaluation = _measure(spec, result, features, truth, metric)
    except DataError as error:
        raise DataError(f"{source}: {error}") from None
    return Segmented(
        cleaned, result, evaluation, truth, cluster_stability=stability_by_cluster(result)
    )


def keep_ids(segmented: Segmented, previous: Model, *, say: Progress) -> ClusterMatch:
    """Renumber the new segmentation so that its clusters take the ids of the
    previous model's nearest ones; the training labels follow.

    Raises:
        DataError: the previous model cannot label the rows.
    """
    say("matching the cluster ids to the previous model's")
    features = segmented.features
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SchemaWarning)
            old_ids = np.asarray(previous.predict(features)).reshape(-1).astype(int)
    except CairnError as error:
        raise DataError(
            f"cannot keep the cluster ids of the previous model: it cannot label the new "
            f"rows ({error})"
        ) from None
    result = segmented.result
    # Every id the previous model has, also those no row falls in now.
    steps = getattr(previous.pipeline, "steps", None)
    reserved = [int(i) for i in getattr(steps[-1][1], "ids", [])] if steps else []
    match = align_clusters(result.pipeline, features, old_ids, reserved=reserved)
    result.labels = np.asarray([match.mapping[int(i)] for i in result.labels], dtype=int)
    segmented.match = match
    return match


def _search(
    spec: ProjectSpec, features: pd.DataFrame, schema: Schema, rank_by: str, *, seconds: float
) -> ClusteringResult:
    settings = spec.clustering
    return search_clusters(
        features,
        metric=rank_by,
        k_range=_k_range(settings.k_min, settings.k_max),
        algorithms=tuple(settings.algorithms),
        time_budget=_search_seconds(seconds, *features.shape),
        schema=schema,
        log_skewed=settings.log_skewed,
        pca=settings.pca,
        finer_within=settings.finer_within,
        seed=spec.train.seed,
    )


def _search_seconds(seconds: float, rows: int, columns: int) -> float:
    """Seconds for the search out of ``seconds`` left; see the constants."""
    cells = min(rows, _POST_SEARCH_MAX_ROWS) * max(1, columns)
    post = min(0.5 * seconds, _POST_SEARCH_FIXED_S + _POST_SEARCH_S_PER_CELL * cells)
    return max(_MIN_SEARCH_SECONDS, seconds * _SEARCH_SHARE - post)


def _k_range(k_min: int, k_max: int | None) -> tuple[int, int] | None:
    """The spec's range; without k_max the default (2..10, capped by the
    rows), or k_min..max(k_min, 10), which must fit the rows."""
    if k_max is None:
        return None if k_min == 2 else (k_min, max(k_min, DEFAULT_K_RANGE[1]))
    return k_min, k_max


def _measure(
    spec: ProjectSpec,
    result: ClusteringResult,
    features: pd.DataFrame,
    truth: pd.Series | None,
    metric: str,
) -> Evaluation:
    """Every index of the chosen segmentation on all rows, the agreement with
    the ground truth, the segmentation's own quantities, and the objectives."""
    metrics = dict(result.indices)
    if truth is not None:
        known = truth.notna().to_numpy()  # at least 2, checked before the search
        codes = pd.factorize(truth[known].astype(str))[0]
        metrics.update(clustering_metrics(result.labels[known], y_true=codes))
    sizes = np.bincount(result.labels, minlength=result.chosen.k)
    chosen = result.chosen
    quantities = {
        "n_clusters": float(chosen.k),
        "min_cluster_share": float(sizes.min() / sizes.sum()),
        "stability": float(chosen.stability) if chosen.stability is not None else float("nan"),
    }
    latency = measure_latency(result.pipeline.predict, features, max_seconds=1.0)
    measured = {**metrics, **quantities}
    return Evaluation(
        task="clustering",
        metric=metric,
        metrics=measured,
        latency_ms={},
        objectives=check_objectives(spec.problem.parsed_objectives, measured),
        n_test=len(features),
        native_latency_ms={f"{NATIVE_PREFIX}{k}": v for k, v in latency.items()},
    )


def _leaderboard(result: ClusteringResult) -> pd.DataFrame:
    """Every candidate, the chosen one first and marked, the rest by metric."""
    board = result.leaderboard_frame()
    chosen_at = next(i for i, c in enumerate(result.leaderboard) if c is result.chosen)
    board.insert(0, "chosen", [i == chosen_at for i in range(len(board))])
    board.insert(1, "model", board["algorithm"])
    order = [chosen_at, *(i for i in range(len(board)) if i != chosen_at)]
    return board.iloc[order].reset_index(drop=True)


def _metadata(
    spec: ProjectSpec, raw: pd.DataFrame, segmented: Segmented, *, run_id: str
) -> dict[str, Any]:
    result, evaluation = segmented.result, segmented.evaluation
    chosen, preparation = result.chosen, result.preparation
    # Ids follow size (0 = largest) unless they were matched to a previous model's.
    mapping = segmented.match.mapping if segmented.match else {}
    ids = sorted(mapping.get(i, i) for i in range(chosen.k))
    sizes = np.asarray([int((result.labels == i).sum()) for i in ids])
    stability = {mapping.get(i, i): s for i, s in enumerate(segmented.cluster_stability)}
    return {
        **outputs.run_identity(spec, raw, run_id=run_id),
        "task": "clustering",
        "target": None,
        "metric": evaluation.metric,
        "model": chosen.algorithm,
        "model_label": f"{chosen.algorithm}, {chosen.k} clusters",
        "n_clusters": chosen.k,
        "classes": [],
        "spec_sha256": spec.fingerprint(),
        "data_fingerprint": data_fingerprint(raw),
        "rows": {"raw": len(raw), "clean": len(segmented.cleaned.frame)},
        "metrics": evaluation.metrics,
        "native_latency_ms": evaluation.native_latency_ms,
        "objectives": [o.__dict__ for o in evaluation.objectives],
        "objectives_met": evaluation.objectives_met,
        "clustering": {
            "algorithm": chosen.algorithm,
            "k": chosen.k,
            "ranked_by": result.metric,
            "rule": result.rule,
            "stability": chosen.stability,
            "cluster_ids": ids,
            "cluster_stability": [stability[i] for i in ids if i in stability],
            "sizes": [int(n) for n in sizes],
            "shares": [float(n / sizes.sum()) for n in sizes],
            "indices": result.indices,
            "search_rows": result.search_rows,
            "search_seconds": round(result.seconds, 3),
            "ground_truth": spec.problem.ground_truth,
            "matched_to": segmented.match.to_dict() if segmented.match else None,
            "preparation": {
                "features": list(preparation.features),
                "dropped": dict(preparation.dropped),
                "log_columns": list(preparation.log_columns),
                "pca_components": preparation.pca_components,
                "n_dimensions": preparation.n_dimensions,
            },
        },
    }


def _package(
    spec: ProjectSpec,
    raw: pd.DataFrame,
    segmented: Segmented,
    *,
    run_id: str,
    run_dir: Path,
    say: Progress,
) -> tuple[Path, dict[str, Any], dict[str, Path]]:
    """The bundle (model, schema, metadata, drift reference, serving graph)
    and the run's tables."""
    say("packaging the model bundle")
    result, schema = segmented.result, segmented.cleaned.schema
    features = segmented.features
    metadata = _metadata(spec, raw, segmented, run_id=run_id)
    say("profiling the data for drift checks")
    reference = outputs.cluster_reference_profile(
        result.pipeline, schema, features, result.labels, seed=spec.train.seed
    )
    files = {REFERENCE_FILE: reference.to_json().encode("utf-8")}
    say("exporting the serving graph (ONNX) and checking it on the rows")
    from cairn.export import export_serving

    exported = export_serving(result.pipeline, schema, features, seed=spec.train.seed)
    metadata["serving"] = exported.summary()
    files.update(exported.files)
    if segmented.cleaned.privacy_key is not None:
        files[PRIVACY_KEY_FILE] = segmented.cleaned.privacy_key
    bundle_path = save_bundle(run_dir / "bundle", result.pipeline, schema, metadata, files=files)
    # Named like the supervised test predictions' columns, clear of feature names.
    assignments = features.reset_index(drop=True).assign(__cluster=result.labels)
    if segmented.ground_truth is not None:
        assignments["__ground_truth"] = segmented.ground_truth.reset_index(drop=True)
    reports = {
        "assignments": atomic_write_bytes(
            run_dir / ASSIGNMENTS_FILE, assignments.to_parquet(index=False)
        ),
        "leaderboard": outputs.write_csv(run_dir / "leaderboard.csv", segmented.leaderboard),
        "quality": write_json(run_dir / "quality.json", segmented.cleaned.report.to_dict()),
        "evaluation": write_json(run_dir / "evaluation.json", segmented.evaluation.to_dict()),
    }
    combination = segmented.cleaned.report.combination
    if combination is not None:  # logged to MLflow with the other reports
        reports["combination"] = write_json(run_dir / "combination.json", combination)
    return bundle_path, metadata, reports


def _explore(spec: ProjectSpec, raw: pd.DataFrame, segmented: Segmented, run_dir: Path) -> Path:
    from cairn.eda import profile, write_profile_report

    data = profile(
        raw,
        task="clustering",
        schema=segmented.cleaned.schema,
        quality=segmented.cleaned.report,
        source=", ".join(source.label for source in spec.data.sources),
    )
    return write_profile_report(data, run_dir / "eda.html")


def run_clustering(
    spec: ProjectSpec,
    *,
    seconds: float,
    registering: bool,
    say: Progress,
    clock: Clock,
    previous: Model | None = None,
) -> RunResult:
    """``cairn run`` for a clustering spec; see the module docstring.

    Args:
        previous: the model this one replaces, whose cluster ids it keeps.
    """
    raw = ingest(spec, say)
    clock.lap("ingest")
    reserve = _REGISTER_OVERHEAD_S if registering else 0.0
    segmented = cluster(spec, raw, seconds=seconds - clock.elapsed() - reserve, say=say)
    if previous is not None:
        keep_ids(segmented, previous, say=say)
    clock.lap("search")
    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    partial_dir = start_run_folder(spec.state_dir / "runs", run_id)
    bundle_in_partial, metadata, reports = _package(
        spec, raw, segmented, run_id=run_id, run_dir=partial_dir, say=say
    )
    clock.lap("package")
    say("writing reports: data profile, segmentation report, model card")
    reports["eda"] = _explore(spec, raw, segmented, partial_dir)
    reports.update(_reports(spec, segmented, partial_dir))
    clock.lap("reports")
    clock.total()
    run_dir, bundle_path, reports = outputs.finish_run(
        partial_dir, bundle_in_partial, reports, clock.timings
    )
    result = RunResult(
        run_id=run_id,
        spec=spec,
        leaderboard=segmented.leaderboard,
        evaluation=segmented.evaluation,
        quality=segmented.cleaned.report,
        bundle_path=bundle_path,
        model=Model(
            segmented.result.pipeline,
            segmented.cleaned.schema,
            metadata,
            path=bundle_path,
            privacy_key=segmented.cleaned.privacy_key,
        ),
        reports=reports,
        timings=clock.timings,
    )
    if registering:
        _register(spec, result, segmented, seconds=seconds, say=say)
        clock.lap("track")
        clock.total()
        write_json(run_dir / "timings.json", clock.timings)
    return result


def _reports(spec: ProjectSpec, segmented: Segmented, run_dir: Path) -> dict[str, Path]:
    """The segmentation report (``evaluation.html``) and the model card."""
    from cairn.evaluation import write_clustering_card, write_clustering_report

    seg = to_segmentation(
        segmented.result,
        segmented.cleaned.frame,
        ground_truth=spec.problem.ground_truth,
        project=spec.project.name,
        description=spec.project.description or "",
    )
    # The search's stabilities follow the ids to a previous model's, if matched.
    mapping = segmented.match.mapping if segmented.match else {}
    stability = {mapping.get(i, i): v for i, v in enumerate(segmented.cluster_stability)}
    top = int(segmented.result.labels.max()) + 1
    seg.chosen["cluster_stability"] = [stability.get(i, float("nan")) for i in range(top)]
    # the card's privacy section: what was found and done per column
    seg.schema_metadata = dict(segmented.cleaned.schema.metadata)
    seg.findings = segmented.cleaned.report.to_dict()["findings"]
    card, card_html = write_clustering_card(seg, run_dir)
    return {
        "evaluation_report": write_clustering_report(seg, run_dir / "evaluation.html"),
        "model_card": card,
        "model_card_html": card_html,
    }


def _register(
    spec: ProjectSpec, result: RunResult, segmented: Segmented, *, seconds: float, say: Progress
) -> None:
    say("recording the run in MLflow and registering the model")
    from cairn.tracking import record_run

    chosen = segmented.result.chosen
    metrics = {
        name: float(value)
        for name, value in result.evaluation.metrics.items()
        if value is not None and np.isfinite(value)
    }
    tracked = record_run(
        project=spec.project.name,
        project_dir=spec.project_dir,
        configured_uri=spec.tracking.uri,
        artifacts=spec.tracking.artifacts,
        params={
            "task": "clustering",
            "metric": result.evaluation.metric,
            "algorithm": chosen.algorithm,
            "n_clusters": chosen.k,
            "time_budget": seconds,
            "seed": spec.train.seed,
        },
        metrics=metrics,
        reports=list(result.reports.values()),
        bundle_dir=result.bundle_path,
        tags={"cairn.run_id": result.run_id, "cairn.model": chosen.algorithm},
    )
    result.model_uri = tracked.model_uri
    result.alias = tracked.alias
    result.registry_note = tracked.note
