"""Phase 3, tuning: one Optuna study per family (TPE by default; random or
grid from the spec), seeded with the family's portfolio of known-good
configurations. Trials go to the leading families (half to the best, then
30 %, 20 %); a trial that is behind the median after some folds is pruned.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from cairn.data.schema import Schema
from cairn.models.catalog import Learner, Params
from cairn.models.search._results import CandidateResult, Config
from cairn.models.search._state import SearchState
from cairn.tasks import Task

Tuner = Literal["tpe", "random", "grid"]

_TUNING_SHARES = (0.5, 0.3, 0.2)


def run_tuning(
    state: SearchState,
    learners: Sequence[Learner],
    *,
    tuner: Tuner,
    max_trials: int | None,
    schema: Schema | None,
) -> None:
    """Tuning trials on the families that ran, until time or ``max_trials``
    runs out; ``schema`` is the selected feature set (None: all features)."""
    task = state.task
    direction: Literal["minimize", "maximize"] = "maximize" if state.sign > 0 else "minimize"
    studies: dict[str, Any] = {}
    exhausted: set[str] = set()
    trial_count = 0
    step = 0
    # Asked trials waiting to run: several side by side on Ray.
    asked: list[tuple[Any, Any, str, Config]] = []
    tuning_families = [lr for lr in learners if lr.name in state.cv_seconds]
    # Every family's known-good configurations come before any exploration
    # (they are the first trials its study asks for), best family first.
    portfolio_queue = (
        []
        if tuner == "grid"
        else [
            lr
            for lr in _by_family_score(state, tuning_families)
            for _ in range(_n_portfolio_trials(lr, task))
        ]
    )
    while tuning_families and (max_trials is None or trial_count < max_trials):
        order = [lr for lr in _by_family_score(state, tuning_families) if lr.name not in exhausted]
        order = order[: len(_TUNING_SHARES)]
        if not order:
            break
        if portfolio_queue:
            learner = portfolio_queue.pop(0)
            if learner.name in exhausted:
                continue
        else:
            learner = order[_pick_share(step, len(order))]
            step += 1
        expected = state.cv_seconds.get(learner.name, 0.0) * 1.5
        if state.left() <= max(expected, 0.5):
            if all(state.left() <= state.cv_seconds.get(lr.name, 0.0) * 1.5 for lr in order):
                break
            exhausted.add(learner.name)  # too slow for what is left; others may fit
            continue
        if learner.name not in studies:
            studies[learner.name] = _study_for(
                learner, tuner, task, state.seed + len(studies), direction, state.concurrent_trials
            )
        study = studies[learner.name]
        done = study.get_trials(deepcopy=False, states=_asked_states())
        if tuner == "grid" and len(done) >= _grid_size(learner, task):
            exhausted.add(learner.name)
            continue
        trial_count += 1
        asked.append(_ask(state, learner, study, tuner, schema))
        if len(asked) >= state.concurrent_trials:
            _run_trials(state, asked)
            asked = []
    if asked:
        _run_trials(state, asked)


def _ask(
    state: SearchState, learner: Learner, study: Any, tuner: Tuner, schema: Schema | None
) -> tuple[Any, Any, str, Config]:
    """Ask ``study`` for one configuration of ``learner``."""
    trial = study.ask()
    params = learner.suggest(trial, state.task, len(state.X))
    name = f"{learner.name}#{trial.number + 1}"
    state.progress(
        f"tuning {learner.label}: trial {trial.number + 1} ({max(0.0, state.left()):.0f}s left)"
    )
    return study, trial, name, Config(learner.name, params, tuner, schema)


def _run_trials(state: SearchState, asked: Sequence[tuple[Any, Any, str, Config]]) -> None:
    """Cross-validate the asked configurations (one at a time locally, side
    by side on Ray) and tell each study its result."""
    if len(asked) == 1:
        study, trial, name, config = asked[0]
        _tell(study, trial, state.evaluate(name, config, trial=trial))
        return
    results = state.evaluate_many([(name, config) for _, _, name, config in asked])
    for (study, trial, _, _), result in zip(asked, results, strict=True):
        _tell(study, trial, result)


def _tell(study: Any, trial: Any, result: CandidateResult) -> None:
    import optuna

    if result.status == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    elif result.status in ("ok", "partial") and np.isfinite(result.cv_mean):
        study.tell(trial, result.cv_mean)
    else:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)


def _by_family_score(state: SearchState, learners: Sequence[Learner]) -> list[Learner]:
    """``learners`` ordered by the best score each family has reached so far."""
    family_best: dict[str, float] = {}
    for c in state.ranked():
        family_best.setdefault(c.family, state.sign * c.cv_mean)
    return sorted(learners, key=lambda lr: family_best.get(lr.name, -np.inf), reverse=True)


def _n_portfolio_trials(learner: Learner, task: Task) -> int:
    """How many portfolio configurations the family's study has enqueued."""
    keys = _space_keys(learner, task)
    return sum(1 for config in learner.portfolio[1:] if any(k in keys for k in config))


def _pick_share(step: int, n: int) -> int:
    """Deterministic schedule giving leaders 50 %, 30 %, 20 % of the trials."""
    shares = np.asarray(_TUNING_SHARES[:n]) / sum(_TUNING_SHARES[:n])
    counts = np.floor(shares * (step + 1) + 1e-9) - np.floor(shares * step + 1e-9)
    return int(np.argmax(counts)) if counts.max() > 0 else int(np.argmax(shares))


def _study_for(
    learner: Learner,
    tuner: Tuner,
    task: Task,
    seed: int,
    direction: Literal["minimize", "maximize"],
    concurrent: int = 1,
) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler: Any
    if tuner == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    elif tuner == "grid":
        # Every grid point is enqueued; Optuna's GridSampler would call
        # Study.stop(), which the ask-and-tell interface does not allow.
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        # Trials asked side by side: each later one sees the pending ones
        # as scored badly (a "constant liar"), so they spread out.
        sampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=5, constant_liar=concurrent > 1
        )
    pruner = optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)
    study = optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)
    if tuner == "grid":
        for point in _grid_points(learner, task):
            study.enqueue_trial(point)
    else:
        keys = _space_keys(learner, task)
        for config in learner.portfolio[1:]:
            known = {k: v for k, v in config.items() if k in keys}
            if known:
                study.enqueue_trial(known, skip_if_exists=True)
    return study


def _space_keys(learner: Learner, task: Task) -> set[str]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    return set(learner.suggest(probe.ask(), task, 1000).keys())


def _asked_states() -> tuple[Any, ...]:
    """Trials asked for, run or running (enqueued ones wait, unasked)."""
    from optuna.trial import TrialState

    return (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)


def _grid_points(learner: Learner, task: Task) -> list[Params]:
    keys = sorted(_space_keys(learner, task) & set(learner.grid))
    values = [list(learner.grid[k]) for k in keys]
    return [dict(zip(keys, point, strict=True)) for point in itertools.product(*values)]


def _grid_size(learner: Learner, task: Task) -> int:
    return len(_grid_points(learner, task)) if learner.grid else 0
