"""The whole job for a spec, as a list of steps: ingest → prepare (quality,
schema, split) → train (search, final model) → evaluate → package (bundle,
serving graph, serving gate, run files) → explore and report (EDA, evaluation
report, model card) → register. This is the only package that chains stages;
:func:`fit` and :mod:`cairn.maintenance` reuse its steps."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cairn._io import write_json
from cairn.bundle import Model
from cairn.data.schema import text_names
from cairn.data.split import make_folds
from cairn.evaluation.run_state import start_run_folder
from cairn.models.catalog import choose_learners
from cairn.spec import ProjectSpec, load_spec
from cairn.tasks import get_task
from cairn.workflow import _outputs, _package
from cairn.workflow._clock import Clock, Progress, quiet
from cairn.workflow._package import Packaged, explore, package, register, report
from cairn.workflow._prepare import Prepared, clean, data_fingerprint, ingest, prepare
from cairn.workflow._result import RunResult
from cairn.workflow._tradeoff import choose_on_tradeoff, measure_tradeoff
from cairn.workflow._train import (
    Budget,
    Tested,
    Trained,
    evaluate,
    fit_model,
    plan_budget,
    train,
)

if TYPE_CHECKING:
    from cairn.models.search import SearchResult

# Share of the seconds left after evaluation for the drift reference's
# feature sensitivities; permutation importance and SHAP get the rest.
_SENSITIVITY_SHARE = 0.25
# Where the trade-off step keeps each candidate's bundle, inside the run folder.
_TRADEOFF_FOLDER = "tradeoff-candidates"

__all__ = [
    "Budget",
    "Clock",
    "Packaged",
    "Prepared",
    "Progress",
    "RunResult",
    "Tested",
    "Trained",
    "choose_on_tradeoff",
    "clean",
    "data_fingerprint",
    "evaluate",
    "explore",
    "fit",
    "fit_model",
    "ingest",
    "measure_tradeoff",
    "package",
    "plan_budget",
    "prepare",
    "register",
    "report",
    "run",
    "train",
]


def run(
    spec_or_path: ProjectSpec | str | Path = "cairn.toml",
    *,
    time_budget: float | None = None,
    progress: Progress | None = None,
    register: bool | None = None,
    previous: Model | None = None,
    started: float | None = None,
) -> RunResult:
    """Run the whole workflow for a spec.

    Args:
        spec_or_path: a loaded spec or the path of a ``cairn.toml``.
        time_budget: seconds; overrides ``train.time_budget``.
        progress: called with a short message as each stage starts.
        register: log to MLflow and register the model; defaults to the
            spec's ``tracking.register_model``.
        previous: for a clustering, the model it replaces: the new clusters
            take the ids of the previous model's nearest ones (unused for
            other tasks).
        started: the ``time.monotonic()`` the budget counts from (``cairn
            run`` passes its own start, so loading the libraries counts);
            now by default.

    Raises:
        SpecError, DataError, TrainingError, BundleError, RegistryError.
    """
    spec = spec_or_path if isinstance(spec_or_path, ProjectSpec) else load_spec(spec_or_path)
    seconds = float(time_budget if time_budget is not None else spec.train.time_budget)
    registering = register if register is not None else spec.tracking.register_model
    say = progress or quiet
    clock = Clock(started)
    if started is not None:
        clock.lap("start")  # loading the libraries and reading the spec
    if spec.problem.task == "recommendation":
        from cairn.workflow._recommendation import run_recommendation

        return run_recommendation(
            spec, seconds=seconds, registering=registering, say=say, clock=clock
        )
    if spec.problem.task is not None and not get_task(spec.problem.task).needs_target:
        from cairn.workflow._clustering import run_clustering

        return run_clustering(
            spec,
            seconds=seconds,
            registering=registering,
            say=say,
            clock=clock,
            previous=previous,
        )

    raw = ingest(spec, say)
    clock.lap("ingest")
    prepared = prepare(spec, raw, say=say, clock=clock)
    budget = plan_budget(spec, prepared, seconds=seconds, registering=registering, clock=clock)
    warming = None
    if registering:  # MLflow's import overlaps the search
        from cairn.tracking import warm_tracking

        warming = warm_tracking()
    trained = train(spec, prepared, budget, say=say, clock=clock)

    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    # Written as <run id>.partial and renamed when complete, so a killed
    # run never leaves a folder that looks finished.
    partial_dir = start_run_folder(spec.state_dir / "runs", run_id)
    try:
        trained = measure_tradeoff(
            spec,
            prepared,
            trained,
            seconds=budget.tradeoff,
            say=say,
            clock=clock,
            folder=partial_dir / _TRADEOFF_FOLDER,
            deadline=budget.tradeoff_deadline,
        )
        trained = choose_on_tradeoff(spec, prepared, trained, say=say)
        tested = evaluate(spec, prepared, trained, seconds=seconds, say=say, clock=clock)
        packaged = package(
            spec,
            raw,
            prepared,
            trained,
            tested,
            run_id=run_id,
            run_dir=partial_dir,
            say=say,
            clock=clock,
            sensitivity_seconds=budget.analysis_seconds(_SENSITIVITY_SHARE),
        )
        shutil.rmtree(partial_dir / _TRADEOFF_FOLDER, ignore_errors=True)
        say("writing reports: data profile, evaluation, model card")
        reports = dict(packaged.reports)
        reports["eda"] = explore(spec, raw, prepared, partial_dir)
        reports.update(
            report(
                spec,
                trained,
                partial_dir,
                timings=clock.timings,
                seconds=min(budget.explain_seconds, budget.analysis_seconds()),
            )
        )
        clock.lap("reports")
        clock.total()
        _, bundle_path, reports = _outputs.finish_run(
            partial_dir, packaged.bundle_path, reports, clock.timings
        )
    except Exception:
        # An error leaves no half-written run folder (a kill leaves it
        # '.partial': `cairn runs --clean` removes it).
        shutil.rmtree(partial_dir, ignore_errors=True)
        raise

    result = RunResult(
        run_id=run_id,
        spec=spec,
        leaderboard=trained.found.leaderboard,
        evaluation=tested.evaluation,
        quality=prepared.cleaned.report,
        bundle_path=bundle_path,
        model=Model(
            trained.pipeline,
            prepared.schema,
            {**packaged.metadata},
            path=bundle_path,
            privacy_key=prepared.cleaned.privacy_key,
        ),
        reports=reports,
        timings=clock.timings,
        tests=packaged.tests,
    )
    if registering:
        if warming is not None:
            warming.join()
        _record(spec, result, trained, packaged, seconds=seconds, say=say, clock=clock)
    return result


def _record(
    spec: ProjectSpec,
    result: RunResult,
    trained: Trained,
    packaged: Packaged,
    *,
    seconds: float,
    say: Progress,
    clock: Clock,
) -> None:
    """The register step for a finished run folder; its time joins ``timings.json``."""
    tracked = _package.register(
        spec,
        trained,
        packaged,
        result.evaluation,
        run_id=result.run_id,
        bundle_path=result.bundle_path,
        reports=result.reports,
        seconds=seconds,
        say=say,
    )
    result.model_uri = tracked.model_uri
    result.alias = tracked.alias
    result.registry_note = tracked.note
    clock.lap("track")
    clock.total()
    write_json(result.bundle_path.parent / "timings.json", clock.timings)


def fit(
    frame: pd.DataFrame,
    target: str,
    *,
    task: str | None = None,
    metric: str | None = None,
    time_budget: float = 60.0,
    folds: int = 5,
    seed: int = 42,
    n_jobs: int = -1,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    progress: Progress | None = None,
    allow_leakage: tuple[str, ...] = (),
) -> Model:
    """Search and train on every row of ``frame``, with no held-out test set.

    For notebooks and for comparisons where the caller keeps its own test
    data; ``run`` is the full workflow (split, evaluation, bundle, registry).
    The search is the same: cleaning, schema, CV folds, tuning, ensembles.
    ``allow_leakage`` names columns kept as features although the leakage
    check suspects them (``data.allow_leakage`` in a spec). Column names
    that are not text (``pd.DataFrame(array)`` names them 0, 1, ...) are
    read as text, here and when the model predicts.

    Raises:
        DataError, SpecError, TrainingError.
    """
    clock = Clock()
    frame, target = text_names(frame), str(target)
    prepared = clean(
        frame, target=target, task=task, metric=metric, folds=folds, allow_leakage=allow_leakage
    )
    coded, label = prepared.with_codes()
    fold_list = make_folds(
        coded,
        target=label,
        task=prepared.task,
        folds=folds,
        validation_size=None,
        stratify=True,
        group_column=None,
        time_ordered=False,
        seed=seed,
    )
    X = prepared.frame.drop(columns=[target])
    trained = fit_model(
        X,
        prepared.y,
        prepared=prepared,
        folds=fold_list,
        learners=choose_learners(n_rows=len(X), include=include, exclude=exclude),
        search_seconds=max(1.0, time_budget * 0.9 - clock.elapsed()),
        deadline=clock.started + time_budget,
        seed=seed,
        n_jobs=n_jobs,
        say=progress or quiet,
        clock=clock,
        refit_note=None,
    )
    found, chosen = trained.found, prepared.metric
    metadata = {
        "task": prepared.task,
        "target": target,
        "metric": chosen,
        "model": "ensemble" if found.ensemble else found.candidate(found.best).family,
        "model_label": trained.final.description,
        "cv": {"metric": chosen, "mean": _packaged_cv(found, chosen)},
        "search": {
            "trials": found.n_trials,
            "phases_s": found.phases,
            "target_transform": found.target_transform,
            "temperature": found.temperature,
        },
    }
    return Model(
        trained.pipeline, prepared.schema, metadata, privacy_key=prepared.cleaned.privacy_key
    )


def _packaged_cv(found: SearchResult, metric: str) -> float:
    """The cross-validated score of the model as packaged: calibrated when
    a temperature was kept, else the leaderboard's first row."""
    if found.calibrated_scores:
        return float(np.mean(found.calibrated_scores))
    return float(found.leaderboard.iloc[0][f"cv_{metric}_mean"])
