"""Phase 1, defaults: every family with its default configuration, cheapest
first (the first family always runs, however small the budget), with a
log-scale target and PCA variants where they apply."""

from __future__ import annotations

from collections.abc import Sequence

from cairn.exceptions import TrainingError
from cairn.models.catalog import Learner
from cairn.models.search._results import CandidateResult, Config
from cairn.models.search._state import SearchState
from cairn.models.target import log_target_worth_trying


def run_defaults(state: SearchState, learners: Sequence[Learner]) -> None:
    """Cross-validate each family's default configuration while time allows."""
    for learner in learners:
        if state.ranked() and state.left() <= _expected_seconds(state, learner, learners):
            state.candidates.append(
                CandidateResult(
                    name=learner.name,
                    config=Config(learner.name),
                    label=learner.label,
                    status="skipped",
                    error="not enough of the time budget left to start it",
                )
            )
            continue
        state.progress(f"cross-validating {learner.label} ({max(0.0, state.left()):.0f}s left)")
        first = state.evaluate(learner.name, Config(learner.name))
        if (
            first is state.candidates[0]
            and state.task.transform_target
            and log_target_worth_trying(state.y)
        ):
            _try_log_target(state, learner, first)


def run_pca_variants(state: SearchState, learners: Sequence[Learner]) -> None:
    """The scale-sensitive families on a PCA projection keeping 95 % of the
    variance, as their own candidates."""
    for learner in learners:
        if learner.needs_scaling and learner.name in state.cv_seconds and state.left() > 0:
            state.progress(f"cross-validating {learner.label} on a PCA projection")
            state.evaluate(f"{learner.name}+pca", Config(learner.name, {"pca": 0.95}, "pca"))


def require_a_candidate(state: SearchState) -> None:
    """Raise when no configuration could be trained at all."""
    if not state.ranked():
        reasons = "; ".join(f"{c.name}: {c.error}" for c in state.candidates)
        raise TrainingError(f"no candidate model could be trained ({reasons})")


def _try_log_target(state: SearchState, learner: Learner, plain: CandidateResult) -> None:
    """Score ``learner`` on a log-scale target; keep the log scale for every
    later configuration when it wins on the original scale."""
    state.progress(f"cross-validating {learner.label} on a log-scale target")
    logged = state.evaluate(
        f"{learner.name}+log", Config(learner.name, {"log_target": True}, "log_target")
    )
    if (
        logged.status == "ok"
        and plain.status == "ok"
        and state.sign * logged.cv_mean > state.sign * plain.cv_mean
    ):
        state.shared_params["log_target"] = True


def _expected_seconds(state: SearchState, learner: Learner, learners: Sequence[Learner]) -> float:
    """A rough guess of one default CV of ``learner``: the slowest family
    measured so far, scaled by relative cost. Zero before any measurement."""
    if not state.cv_seconds:
        return 0.0
    costs = {lr.name: lr.cost for lr in learners}
    slowest = max(state.cv_seconds, key=lambda name: state.cv_seconds[name])
    scale = learner.cost / max(1, costs.get(slowest, 1))
    return 0.5 * state.cv_seconds[slowest] * scale
