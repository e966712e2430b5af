"""Phase 4, ensemble: greedy ensemble selection (Caruana et al. 2004) over
the candidates' out-of-fold predictions, or a linear stacker; then, for
classes, the temperature that calibrates the final model's probabilities
(see :func:`cairn.models.ensemble.fit_temperature`)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from cairn.models.ensemble import (
    fit_stacker,
    fit_temperature,
    greedy_selection,
    row_log_losses,
    stack_features,
    tempered,
)
from cairn.models.search._pipeline import predict_output
from cairn.models.search._results import CandidateResult, SearchResult
from cairn.models.search._state import SearchState

EnsembleMethod = Literal["greedy", "stacking", "none"]

_MAX_MEMBERS = 3
# Candidates the ensemble chooses from, and the stacker's share of them.
_POOL_SIZE = 10
_STACK_MEMBERS = 5
# A temperature is kept when it lowers the out-of-fold log loss by this
# share at least: one parameter fitted on every row can hardly overfit, but
# a gain this small is within what a refit on all rows changes anyway.
_MIN_TEMPERATURE_GAIN = 0.01
# ... and by this many standard errors of the rows' gains.
_GAIN_STANDARD_ERRORS = 2.0


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


def run_calibration(state: SearchState, outcome: SearchResult) -> None:
    """Record in ``outcome`` the temperature that calibrates the final
    model's class probabilities, when it lowers their out-of-fold log loss
    clearly (by 1 % and by twice the standard error of the rows' gains) and
    leaves the search's metric no worse."""
    if not state.task.has_classes:
        return
    oof = final_oof(outcome)
    # a partial leader (cut short by the budget) has no output on some folds
    if oof is None or not np.isfinite(oof).all():
        return
    temperature = round(fit_temperature(oof, state.y), 4)
    calibrated = tempered(oof, temperature)
    plain_losses, losses = row_log_losses(oof, state.y), row_log_losses(calibrated, state.y)
    before, after = float(plain_losses.mean()), float(losses.mean())
    gains = plain_losses - losses
    # on small data the gain, fitted and measured on the same rows, is
    # mostly noise: it must stand out from its own standard error
    noise = _GAIN_STANDARD_ERRORS * gains.std(ddof=1) / np.sqrt(len(gains))
    if after > before * (1 - _MIN_TEMPERATURE_GAIN) or gains.mean() <= noise:
        return
    scores, plain = state.fold_scores(calibrated), state.fold_scores(oof)
    if state.sign * np.mean(scores) < state.sign * np.mean(plain):
        return
    outcome.temperature = temperature
    outcome.calibrated_scores = scores
    state.progress(
        f"probabilities calibrated by temperature {temperature:.3g} "
        f"(out-of-fold log loss {before:.4g} -> {after:.4g})"
    )


def final_oof(found: SearchResult, *, calibrated: bool = False) -> np.ndarray | None:
    """The final model's out-of-fold output, its members combined as the
    final model combines them (None when a member has none);
    ``calibrated``: with the outcome's temperature applied."""
    members = found.ensemble or {found.best: 1.0}
    oofs = [found.candidate(name).oof for name in members]
    if any(oof is None for oof in oofs):
        return None
    arrays = [np.asarray(oof, dtype=float) for oof in oofs if oof is not None]
    if found.ensemble_method == "stacking" and found.stacker is not None:
        finite = np.isfinite(stack_features(arrays)).all(axis=1)
        output = np.full_like(arrays[0], np.nan)
        if finite.any():
            output[finite] = predict_output(
                found.stacker, stack_features([a[finite] for a in arrays]), found.task
            )
    else:
        weights = list(members.values())
        output = np.asarray(np.sum([w * a for w, a in zip(weights, arrays, strict=True)], axis=0))
    return calibrated_output(found, output) if calibrated else output


def calibrated_output(found: SearchResult, output: np.ndarray) -> np.ndarray:
    """``output`` (class probabilities of the final model's members,
    combined) with the outcome's temperature applied where rows are finite."""
    if found.temperature == 1.0:
        return output
    result = output.copy()
    rows = np.isfinite(output).all(axis=1)
    result[rows] = tempered(output[rows], found.temperature)
    return result


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
