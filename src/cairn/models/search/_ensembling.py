"""Phase 4, ensemble: greedy ensemble selection (Caruana et al. 2004) over
the candidates' out-of-fold predictions, or a linear stacker."""

from __future__ import annotations

from typing import Literal

import numpy as np

from cairn.models.ensemble import fit_stacker, greedy_selection, stack_features
from cairn.models.search._pipeline import predict_output
from cairn.models.search._results import CandidateResult, SearchResult
from cairn.models.search._state import SearchState

EnsembleMethod = Literal["greedy", "stacking", "none"]

_MAX_MEMBERS = 3
# Candidates the ensemble chooses from, and the stacker's share of them.
_POOL_SIZE = 10
_STACK_MEMBERS = 5


def run_ensemble(state: SearchState, outcome: SearchResult, method: EnsembleMethod) -> None:
    """Record in ``outcome`` an ensemble that beats its best member, if any."""
    complete = [c for c in state.ranked(complete_only=True) if c.fold_models is not None]
    pool = state.ensemble_pool(complete, _POOL_SIZE)
    if len(pool) < 2:
        return
    if method == "stacking":
        _stack(state, outcome, pool)
    else:
        _greedy(state, outcome, pool)


def _greedy(state: SearchState, outcome: SearchResult, pool: list[CandidateResult]) -> None:
    oofs = [c.oof for c in pool if c.oof is not None]

    def combined_score(output: np.ndarray) -> float:
        return state.score(state.y, output)

    weights = greedy_selection(
        oofs,
        combined_score,
        greater_is_better=state.sign > 0,
        max_rounds=40,
        max_members=_MAX_MEMBERS,
    )
    chosen = {c.name: float(w) for c, w in zip(pool, weights, strict=True) if w > 0}
    # Every member is paid for again after the search (refit, export, reports,
    # serving), hence the cap on distinct members above.
    if len(chosen) < 2:
        return
    by_name = {c.name: c for c in pool}
    output = np.sum(
        [w * np.asarray(by_name[name].oof, dtype=float) for name, w in chosen.items()], axis=0
    )
    if state.sign * combined_score(np.asarray(output)) < state.sign * combined_score(
        np.asarray(pool[0].oof)
    ):
        return
    scores = state.fold_scores(np.asarray(output))
    outcome.ensemble = chosen
    outcome.ensemble_method = "greedy"
    outcome.ensemble_scores = scores


def _stack(state: SearchState, outcome: SearchResult, pool: list[CandidateResult]) -> None:
    members = pool[:_STACK_MEMBERS]
    member_oofs = [c.oof for c in members if c.oof is not None]
    stacked_oof = np.zeros_like(member_oofs[0])
    for fit_idx, val_idx in state.folds:
        stacker = fit_stacker(
            [o[fit_idx] for o in member_oofs], state.y[fit_idx], state.task.name, state.seed
        )
        features = stack_features([o[val_idx] for o in member_oofs])
        stacked_oof[val_idx] = predict_output(stacker, features, state.task.name)
    scores = state.fold_scores(stacked_oof)
    if state.sign * np.mean(scores) > state.sign * pool[0].cv_mean:
        outcome.ensemble = {c.name: 1.0 / len(members) for c in members}
        outcome.ensemble_method = "stacking"
        outcome.ensemble_scores = scores
        outcome.stacker = fit_stacker(member_oofs, state.y, state.task.name, state.seed)
