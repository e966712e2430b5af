"""The trade-off step between the search and the evaluation: every
leaderboard candidate (and the ensemble) built as it would be packaged,
exported, served and timed; then the spec's objectives on latency, size and
cost choose on the Pareto front.

Each candidate is refitted on all training rows, exported and verified
exactly as :mod:`cairn.export` packages a model (ONNX when its graph
converts and verifies, else the native pipeline), saved as a bundle in the
run folder (the packaged model's ``model.joblib`` then moves into the run's
bundle rather than being written again) and loaded by
:func:`cairn.serving.load_served_model`, the engine ``cairn serve`` would
run. :func:`cairn.serving.measure_served` then times one record per call (up
to 300 calls, stopping after 0.4 s once 20 are in) and one batch of 1,000
records. The packaged model is measured first, always; the others, best-
first, get a share of the run's time budget
(:func:`~cairn.workflow._train.tradeoff_seconds`), and a candidate whose
refit would overrun it is skipped. Candidates left over have no figures and
are not on the front.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn.bundle import MODEL_FILE
from cairn.evaluation.tradeoff import FrontChoice, choose_on_front
from cairn.models.search import REFIT_FACTOR, FinalModel, SearchResult, finalize
from cairn.spec import Objective, ProjectSpec
from cairn.workflow._clock import Clock, Progress
from cairn.workflow._prepare import Prepared
from cairn.workflow._train import CHOOSING_QUANTITIES, Trained

# Seconds of single-record calls per candidate, and rows in the batch call.
_TIMING_SECONDS = 0.4
_BATCH_ROWS = 1000


def packaged_name(found: SearchResult) -> str:
    """The leaderboard name of the model the search would package."""
    return "ensemble" if found.ensemble else found.best


def measure_tradeoff(
    spec: ProjectSpec,
    prepared: Prepared,
    trained: Trained,
    *,
    seconds: float,
    say: Progress,
    clock: Clock,
    folder: Path,
    deadline: float = float("inf"),
) -> Trained:
    """Measure the leaderboard's candidates on their serving engines.

    Returns ``trained`` with the figures in ``found.measured`` and each
    measured model (with its verified graph and the bundle it was served
    from, under ``folder``) in ``built``, for :func:`choose_on_tradeoff`.
    """
    say("measuring latency, size and cost of every candidate on its serving engine")
    found = trained.found
    X_train, y_train = prepared.train_rows
    X_test, _ = prepared.test_rows
    # The packaged model's export is work packaging would do anyway: the
    # share of the budget starts after it, for the other candidates.
    stop = float("inf")
    # Export, check and timing cost about the same for every candidate of a
    # table: the longest so far stands for the next one's.
    measuring_s = 0.0
    for name in _measuring_order(found):
        final = trained.final if name == packaged_name(found) else None
        if final is None:
            # its share, and never past the time the run keeps for what follows
            stop = min(stop, time.monotonic() + seconds, deadline)
            if not _refit_fits(found, name, stop - measuring_s):
                continue
            final = finalize(
                _as_single(found, name),
                X_train,
                y_train,
                schema=prepared.schema,
                seed=spec.train.seed,
                n_jobs=spec.train.n_jobs,
            )
        started = time.monotonic()
        try:
            figures, exported, bundle = _measure(
                final,
                found,
                prepared,
                X_test,
                folder / name,
                seed=spec.train.seed,
                float32_check=float32_check(spec),
            )
        except Exception as error:  # measuring never fails the run
            # the candidate stays unmeasured, off the front
            say(f"{name} could not be measured on its serving engine: {error}")
            continue
        finally:
            measuring_s = max(measuring_s, time.monotonic() - started)
        # mean ms per prediction x 1,000 predictions = that many CPU seconds
        figures["cost_per_1k"] = _cost(spec, figures.pop("_mean_ms"))
        figures["cost_per_training"] = _cost(spec, figures["train_s"])
        found.measured[name] = figures
        trained.built[name] = (final, exported, bundle / MODEL_FILE)
    if packaged_name(found) in trained.built:
        _, trained.exported, trained.model_file = trained.built[packaged_name(found)]
    clock.lap("tradeoff")
    return trained


def choose_on_tradeoff(
    spec: ProjectSpec, prepared: Prepared, trained: Trained, *, say: Progress
) -> Trained:
    """Let the spec's objectives on latency, size and cost choose the packaged
    model among the measured candidates: the best by the metric that meets
    them, which lies on the front. When none meets them the search's best
    stays, and the objectives' verdict says so."""
    bounds = choosing_objectives(spec.problem.parsed_objectives)
    found = trained.found
    built, trained.built = trained.built, {}
    if not bounds or not found.measured:
        return trained
    choice: FrontChoice = choose_on_front(found.leaderboard, bounds, prepared.metric)
    trained.choice = choice
    if choice.chosen is None:
        say("no measured candidate meets " + ", ".join(choice.objectives))
        return trained
    if choice.chosen != packaged_name(found):
        say(f"packaging {choice.chosen}: {choice.traded}")
        trained.final, trained.exported, trained.model_file = built[choice.chosen]
        trained.chosen = choice.chosen
    return trained


def _measuring_order(found: SearchResult) -> list[str]:
    """The packaged model first, then the leaderboard's other scored rows, best first."""
    board = found.leaderboard
    scored = board[
        board["status"].isin(["ok", "partial"])
        & np.isfinite(board[f"cv_{found.metric}_mean"].astype(float))
    ]
    first = packaged_name(found)
    return [first] + [str(m) for m in scored["model"] if str(m) != first]


def _refit_fits(found: SearchResult, name: str, stop: float) -> bool:
    """A candidate's refit is expected to end before the measurement's stop."""
    return time.monotonic() + found.candidate(name).fit_time_s * REFIT_FACTOR <= stop


def _as_single(found: SearchResult, name: str) -> SearchResult:
    """The search outcome as if ``name`` alone had won."""
    return dataclasses.replace(
        found,
        best=name,
        ensemble={},
        ensemble_method="none",
        ensemble_scores=[],
        measured={},
        # the temperature was fitted to the winner's output, not to this one's
        temperature=1.0,
        calibrated_scores=[],
    )


def _training_seconds(final: FinalModel, found: SearchResult) -> float:
    """Seconds to train the model as packaged: its refits, plus the fold
    fits of members kept as bags of fold models (a bag's refit time is nil)."""
    from cairn.models.ensemble import BaggedModel, EnsembleModel

    estimator = final.estimator
    members = estimator.members if isinstance(estimator, EnsembleModel) else [estimator]
    names = list(final.members) if len(final.members) == len(members) else []
    seconds = final.refit_seconds
    for member, name in zip(members, names, strict=False):
        if isinstance(member, BaggedModel):
            seconds += found.candidate(name).fit_time_s * len(member.models)
    return seconds


def _measure(
    final: FinalModel,
    found: SearchResult,
    prepared: Prepared,
    X_test: pd.DataFrame,
    folder: Path,
    *,
    seed: int,
    float32_check: bool,
) -> tuple[dict[str, Any], Any, Path]:
    """One model's serving figures: exported and verified, saved as a bundle,
    loaded on the engine it would serve with, and timed; the verified graph
    and the bundle's folder."""
    from cairn.bundle import GRAPH_FILE, save_bundle
    from cairn.data.pseudonym import KEY_FILE as PRIVACY_KEY_FILE
    from cairn.export import export_serving
    from cairn.records import to_records
    from cairn.serving import load_served_model, measure_served

    schema = prepared.schema
    exported = export_serving(
        final.estimator, schema, X_test, seed=seed, float32_check=float32_check
    )
    metadata = {
        "name": "tradeoff",
        "task": prepared.task,
        "metric": prepared.metric,
        "classes": list(schema.classes or ()),
        "serving": exported.summary(),
    }
    files = dict(exported.files)
    if prepared.cleaned.privacy_key is not None:  # served only with the key training used
        files[PRIVACY_KEY_FILE] = prepared.cleaned.privacy_key
    bundle = save_bundle(folder, final.estimator, schema, metadata, files=files)
    before = _resident_mb()
    served = load_served_model(bundle, engine="auto")
    memory = max(0.0, _resident_mb() - before)
    timing = measure_served(
        served,
        to_records(X_test.head(300)),
        max_seconds=_TIMING_SECONDS,
        batch_rows=_BATCH_ROWS,
    )
    engine_file = GRAPH_FILE if served.engine == "onnx" else MODEL_FILE
    figures = {
        "engine": served.engine,
        "latency_p50_ms": timing.latency_ms["p50"],
        "latency_p99_ms": timing.latency_ms["p99"],
        "throughput_rows_s": timing.throughput_rows_s,
        "model_size_mb": (bundle / engine_file).stat().st_size / 1e6,
        "memory_mb": memory,
        "train_s": _training_seconds(final, found),
        "_mean_ms": timing.latency_ms["mean"],
    }
    return figures, exported, bundle


def float32_check(spec: ProjectSpec) -> bool:
    """Whether the export check also scores float32 trees: what that would
    change informs compression, so only runs that may compress pay for it."""
    return spec.problem.has_serving_objective or spec.train.compress == "always"


def _cost(spec: ProjectSpec, cpu_seconds: float) -> float:
    """The price of ``cpu_seconds`` of one core at the spec's ``[cost] cpu_hour``."""
    return spec.cost.cpu_hour * cpu_seconds / 3600.0


def _resident_mb() -> float:
    """This process's resident memory (Linux), NaN where it cannot be read."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def choosing_objectives(objectives: Sequence[Objective]) -> list[Objective]:
    """The objectives that choose among measured candidates."""
    return [o for o in objectives if o.quantity in CHOOSING_QUANTITIES]
