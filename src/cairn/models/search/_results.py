"""What the search records: configurations, their cross-validation results,
and the outcome with its leaderboard."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cairn.data.schema import Schema
from cairn.evaluation.tradeoff import FRONT_COSTS, TRADEOFF_COLUMNS, pareto_mask
from cairn.tasks import greater_is_better

# Models compressed after the search: listed after the search's candidates,
# so that the first row stays the final model.
COMPRESSED_ORIGINS = ("distilled", "fewer_trees", "shallower")
# Candidates shown on the leaderboard in their own row, not as their family's
# best: the feature-selection variant and the compressed models.
OWN_ROW_ORIGINS = ("selection", *COMPRESSED_ORIGINS)


@dataclass(frozen=True)
class Config:
    """One configuration of one family, on one feature set."""

    family: str
    params: Mapping[str, Any] = field(default_factory=dict)
    # default, portfolio, tpe, random, grid, selection; distilled, fewer_trees,
    # shallower (compressed after the search)
    origin: str = "default"
    schema: Schema | None = None  # None: the search's full schema


@dataclass
class CandidateResult:
    """How one configuration did in cross-validation."""

    name: str
    config: Config
    label: str = ""
    status: str = "ok"  # ok, partial, pruned, failed, skipped
    fold_scores: list[float] = field(default_factory=list)
    fit_time_s: float = 0.0
    predict_ms_per_row: float = float("nan")
    oof: np.ndarray | None = None
    rounds: list[int] = field(default_factory=list)
    fold_models: list[Any] | None = None
    n_features: int = 0
    error: str = ""

    @property
    def family(self) -> str:
        return self.config.family

    @property
    def cv_mean(self) -> float:
        return float(np.mean(self.fold_scores)) if self.fold_scores else float("nan")

    @property
    def cv_std(self) -> float:
        return float(np.std(self.fold_scores)) if len(self.fold_scores) > 1 else float("nan")

    @property
    def complete(self) -> bool:
        return self.status == "ok" and self.oof is not None and bool(np.isfinite(self.oof).all())


@dataclass
class SearchResult:
    """Outcome of the search.

    Attributes:
        candidates: every configuration tried, in order.
        best: name of the best single candidate.
        ensemble: candidate name → weight, when an ensemble beat the best
            single candidate on out-of-fold data (empty otherwise).
        ensemble_scores: per-fold scores of that ensemble.
        phases: seconds spent per phase.
        selected_features: the feature set tuning used, when selection won.
        target_transform: "log1p" when regression models learn a log-scale
            target (chosen because it scored better), else None.
        measured: leaderboard name → the serving figures measured for it
            after the search (engine, latency, throughput, size, cost); the
            leaderboard shows them with its ``pareto`` column.
        sample_rows: the search cross-validated on a random sample of this
            many training rows (large data under a time budget); None: on all.
        fit_rows: mean rows each fold model was fitted on.
        max_rounds: the boosting cap the search held every model to, so that
            the final model predicts a large test set in time; None: none.
        temperature: the final model's class probabilities are tempered by
            it (see :func:`cairn.models.ensemble.fit_temperature`); 1: not.
        calibrated_scores: per-fold scores of the final model with that
            temperature (empty when it is 1).
    """

    metric: str
    task: str
    candidates: list[CandidateResult]
    best: str
    elapsed_s: float
    ensemble: dict[str, float] = field(default_factory=dict)
    ensemble_method: str = "none"
    ensemble_scores: list[float] = field(default_factory=list)
    stacker: Any = None
    phases: dict[str, float] = field(default_factory=dict)
    selected_features: list[str] | None = None
    dropped_features: list[str] = field(default_factory=list)
    target_transform: str | None = None
    measured: dict[str, dict[str, Any]] = field(default_factory=dict)
    sample_rows: int | None = None
    fit_rows: float = 0.0
    max_rounds: int | None = None
    temperature: float = 1.0
    calibrated_scores: list[float] = field(default_factory=list)

    def candidate(self, name: str) -> CandidateResult:
        for candidate in self.candidates:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    @property
    def n_trials(self) -> int:
        return sum(1 for c in self.candidates if c.config.origin in ("tpe", "random", "grid"))

    def _row(self, c: CandidateResult) -> dict[str, Any]:
        # A failed candidate's scores on the folds it got through are not
        # comparable with complete ones: shown as missing, with the reason.
        scored = c.status != "failed"
        return {
            "model": c.name,
            "family": c.family,
            "label": c.label,
            "origin": c.config.origin,
            "status": c.status,
            f"cv_{self.metric}_mean": c.cv_mean if scored else float("nan"),
            f"cv_{self.metric}_std": c.cv_std if scored else float("nan"),
            "folds": len(c.fold_scores),
            "fit_time_s": round(c.fit_time_s, 3),
            "predict_ms_per_row": c.predict_ms_per_row,
            "features": c.n_features,
            "params": json.dumps(dict(c.config.params), sort_keys=True, default=str),
            "error": c.error,
        }

    def _sorted(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        board = pd.DataFrame(rows)
        key = f"cv_{self.metric}_mean"
        board["_ok"] = board["status"].isin(["ok", "partial", "selected"])
        board["_searched"] = ~board["origin"].isin(COMPRESSED_ORIGINS)
        board = board.sort_values(
            ["_ok", "_searched", key],
            ascending=[False, False, not greater_is_better(self.metric)],
            na_position="last",
        )
        return board.drop(columns=["_ok", "_searched"]).reset_index(drop=True)

    @property
    def trials(self) -> pd.DataFrame:
        """Every configuration tried, best first."""
        return self._sorted([self._row(c) for c in self.candidates])

    @property
    def leaderboard(self) -> pd.DataFrame:
        """The ensemble (if any), the best configuration of each family, the
        feature-selection variant and the compressed models, best first;
        skipped and failed last."""
        best_per_family: dict[str, CandidateResult] = {}
        sign = 1.0 if greater_is_better(self.metric) else -1.0
        for c in self.candidates:
            if c.config.origin in OWN_ROW_ORIGINS:
                continue
            held = best_per_family.get(c.family)
            usable = c.status in ("ok", "partial") and np.isfinite(c.cv_mean)
            held_usable = held is not None and held.status in ("ok", "partial")
            if held is None or (
                usable and (not held_usable or sign * c.cv_mean > sign * held.cv_mean)
            ):
                best_per_family[c.family] = c
        rows = [self._row(c) for c in best_per_family.values()]
        rows += [self._row(c) for c in self.candidates if c.config.origin in OWN_ROW_ORIGINS]
        if self.ensemble:
            members = ", ".join(f"{name} ×{weight:.2f}" for name, weight in self.ensemble.items())
            fit_time = sum(self.candidate(n).fit_time_s for n in self.ensemble)
            predict_time = sum(self.candidate(n).predict_ms_per_row for n in self.ensemble)
            rows.append(
                {
                    "model": "ensemble",
                    "family": "ensemble",
                    "label": f"{self.ensemble_method} ensemble",
                    "origin": self.ensemble_method,
                    "status": "ok",
                    f"cv_{self.metric}_mean": float(np.mean(self.ensemble_scores)),
                    f"cv_{self.metric}_std": float(np.std(self.ensemble_scores)),
                    "folds": len(self.ensemble_scores),
                    "fit_time_s": round(fit_time, 3),
                    "predict_ms_per_row": predict_time,
                    "features": max(self.candidate(n).n_features for n in self.ensemble),
                    "params": members,
                    "error": "",
                }
            )
        return self._with_tradeoff(self._sorted(rows))

    def _with_tradeoff(self, board: pd.DataFrame) -> pd.DataFrame:
        """The measured serving figures as columns, and ``pareto``: on the
        front of the CV metric against p99 latency and model size."""
        if not self.measured:
            return board
        figures = pd.DataFrame([self.measured.get(str(m), {}) for m in board["model"]])
        for column in TRADEOFF_COLUMNS[:-1]:
            board[column] = figures[column] if column in figures else float("nan")
        board["pareto"] = (
            pareto_mask(
                board[f"cv_{self.metric}_mean"].to_numpy(dtype=float),
                [board[c].to_numpy(dtype=float) for c in FRONT_COSTS],
                higher_is_better=greater_is_better(self.metric),
            )
            & board["status"].isin(["ok", "partial"]).to_numpy()
        )
        return board
