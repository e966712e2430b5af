"""The recommender search: every algorithm scored on the validation
interactions, tuned with Optuna under a time budget, then a blend of the best
scorers, all through the same artifact that serving uses.

Order of work, all inside ``time_budget`` seconds (the clock is read before
every trial; a trial starts only when its last duration still fits, so the
budget is overrun by at most one trial):

1. every algorithm once at its starting parameters (cheapest first);
2. Optuna (TPE) trials, taking the algorithms in turn from the best so far
   (the leader every other trial); an algorithm still far behind the best
   after three tuned trials (below 80 % of its score) gets no more;
3. EASE's weights pruned to the fewest per item (100, 200, 400, …, all)
   that keep its validation score within 1 % of the unpruned model's (this
   step runs even past the budget: a few sparse products);
4. a blend of the best two or three algorithms (each at its best
   parameters): each component's scores standardised per user, weights
   chosen on a grid over the simplex; kept only when it beats the best
   single model on validation.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np
import pandas as pd

from cairn.bundle import (
    Recommender,
    ScoringComponent,
    standardise_scores,
)
from cairn.exceptions import DataError, SpecError
from cairn.models.recommendation._algorithms import (
    ALGORITHMS,
    DEFAULT_PARAMS,
    ease_weights,
    fit_algorithm,
    prune_rows,
    sparse_component,
)
from cairn.models.recommendation._catalogue import (
    Catalogue,
    Evaluator,
    InteractionsLike,
    SplitLike,
)
from cairn.tasks.ranking import parse_metric

__all__ = ["RecommenderSearch", "Trial", "search_recommenders"]

# Starting order: cheap and strong first, so a short budget still sees them.
_ORDER = ("popularity", "ease", "item_knn", "als", "bpr", "content")
_TUNABLE = ("ease", "item_knn", "als", "bpr")
# Share of the budget kept for pruning, the blend and the final check.
_RESERVE = 0.2
# An algorithm below this share of the best score after this many tuned
# trials gets no more.
_FAR_BEHIND = 0.8
_MIN_TUNED = 3
# Pruned EASE may lose at most this share of its validation score.
_PRUNE_TOLERANCE = 0.01
_PRUNE_SIZES = (100, 200, 400, 800, 1600)
_BLEND_STEP = 0.1
# Where the search starts ALS and BPR: implicit's defaults (regularisation
# 0.01, confidence weight 1, 100 BPR epochs) are slow and far from tuned on
# explicit-feedback data; these are the usual settings for it.
_SEARCH_START: dict[str, dict[str, Any]] = {
    "als": {"factors": 64, "regularization": 0.1, "alpha": 10.0, "iterations": 15},
    "bpr": {"factors": 64, "learning_rate": 0.05, "regularization": 0.001, "iterations": 50},
}


@dataclass
class Trial:
    """One algorithm at one set of parameters, scored on validation."""

    model: str
    params: dict[str, Any]
    metrics: dict[str, float]
    train_s: float
    recommend_ms_per_user: float
    stage: str
    components: list[ScoringComponent] = field(default_factory=list, repr=False)
    info: dict[str, Any] = field(default_factory=dict)

    def row(self, metric_names: Sequence[str]) -> dict[str, Any]:
        return {
            "model": self.model,
            "params": json.dumps(self.params, sort_keys=True, default=float),
            **{name: self.metrics.get(name, float("nan")) for name in metric_names},
            "train_s": round(self.train_s, 3),
            "recommend_ms_per_user": round(self.recommend_ms_per_user, 4),
            "stage": self.stage,
        }


@dataclass
class RecommenderSearch:
    """What the search found.

    Attributes:
        leaderboard: one row per trial (model, params, every metric at k on
            validation, train_s, recommend_ms_per_user, stage), best first.
        chosen: the chosen model's name (``"blend"`` for a blend).
        params: its parameters; for a blend ``{"members": [{"model",
            "params", "weight"}, ...]}``.
        validation: the chosen model's validation metrics.
        metric: the metric it was chosen by.
        recommender: the chosen model fitted on the training interactions.
    """

    leaderboard: pd.DataFrame
    chosen: str
    params: dict[str, Any]
    validation: dict[str, float]
    metric: str
    recommender: Recommender
    seconds: float
    seed: int = 0
    item_text: pd.DataFrame | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def members(self) -> list[dict[str, Any]]:
        """The chosen model as blend members (one member for a single model)."""
        if self.chosen == "blend":
            return list(self.params["members"])
        return [{"model": self.chosen, "params": self.params, "weight": 1.0}]

    def fit(self, interactions: InteractionsLike) -> Recommender:
        """The chosen configuration (every member of a blend, with its
        weight) fitted again on ``interactions`` (e.g. training and
        validation together)."""
        data = Catalogue.build(interactions, self.item_text)
        components = []
        described = []
        for member in self.members:
            fitted = fit_algorithm(
                member["model"],
                data.matrix,
                member["params"],
                seed=self.seed,
                item_text=data.text,
            )
            for component in fitted.components:
                component.weight = float(member["weight"])
                components.append(component)
            described.append({**member, **fitted.info})
        return data.recommender(components, self._description(described))

    def _description(self, members: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "model": self.chosen,
            "metric": self.metric,
            "members": members,
            "validation": {k: v for k, v in self.validation.items() if _finite(v)},
        }


def search_recommenders(
    split: SplitLike,
    *,
    metric: str = "ndcg@10",
    time_budget: float = 60.0,
    seed: int = 0,
    algorithms: Sequence[str] | None = None,
    item_text: pd.DataFrame | None = None,
    exclude_seen: bool = True,
) -> RecommenderSearch:
    """Choose and fit a recommender on ``split.train``, judged on
    ``split.validation``.

    Args:
        split: training and validation interactions over the same id maps.
        metric: the ranking metric to maximise (``"ndcg@10"``, ``"map@20"``, …;
            see :mod:`cairn.tasks.ranking`).
        time_budget: seconds for the whole search.
        seed: random state of the samplers and of ALS/BPR.
        algorithms: which of ``popularity, item_knn, ease, als, bpr, content``
            to try (default: all that apply; ``content`` needs ``item_text``).
        item_text: the item table, indexed by item id, with the text columns
            the content model reads (joined by spaces, ``|`` read as a space).
        exclude_seen: leave items seen in training out of the lists.

    Raises:
        SpecError: an unknown metric or algorithm, or ``content`` asked for
            without an item table.
        DataError: no validation user can be scored.
    """
    started = time.perf_counter()
    deadline = started + time_budget
    parsed = parse_metric(metric)
    if parsed is None:
        raise SpecError(f"unknown recommendation metric {metric!r}; use e.g. 'ndcg@10' or 'map@20'")
    _, k = parsed
    chosen_algorithms = _algorithms(algorithms, item_text)
    data = Catalogue.build(split.train, item_text)
    relevant = split.validation.matrix(split.validation.relevant_mask())
    evaluator = Evaluator(data, relevant, k=k, exclude_seen=exclude_seen, seed=seed)
    search = _Search(
        data, evaluator, metric, seed, deadline, started + time_budget * (1 - _RESERVE)
    )
    search.run(chosen_algorithms)
    return search.result(item_text, time.perf_counter() - started)


def _algorithms(algorithms: Sequence[str] | None, item_text: pd.DataFrame | None) -> list[str]:
    if algorithms is None:
        wanted = [a for a in ALGORITHMS if a != "content" or item_text is not None]
    else:
        wanted = list(dict.fromkeys(algorithms))
    unknown = [a for a in wanted if a not in ALGORITHMS]
    if unknown:
        raise SpecError(
            f"unknown recommendation algorithms {', '.join(map(repr, unknown))} in "
            f"[recommendation] algorithms; known: {', '.join(ALGORITHMS)}"
        )
    if "content" in wanted and item_text is None:
        raise SpecError(
            "[recommendation] algorithms lists 'content', which needs an item table: "
            'name it with [recommendation] items = "<source name>"'
        )
    if not wanted:
        raise SpecError("[recommendation] algorithms is empty; list at least one")
    return sorted(wanted, key=_ORDER.index)


class _Search:
    def __init__(
        self,
        data: Catalogue,
        evaluator: Evaluator,
        metric: str,
        seed: int,
        deadline: float,
        tuning_deadline: float,
    ) -> None:
        self.data = data
        self.evaluator = evaluator
        self.metric = metric
        self.seed = seed
        self.deadline = deadline
        self.tuning_deadline = tuning_deadline
        self.trials: list[Trial] = []
        self.best: dict[str, Trial] = {}
        self.last_cost: dict[str, float] = {}
        self.notes: list[str] = []
        self.ease_unpruned: dict[str, Any] = {}

    # ---------------------------------------------------------------- trials

    def _fits(self, algorithm: str, until: float) -> bool:
        """Whether another trial of ``algorithm`` fits before ``until``
        (judged by its last trial's duration)."""
        return time.perf_counter() + self.last_cost.get(algorithm, 0.0) <= until

    def trial(self, algorithm: str, params: dict[str, Any], stage: str) -> Trial | None:
        started = time.perf_counter()
        try:
            if algorithm == "ease":
                trial = self._ease_trial(params, stage)
            else:
                fitted = fit_algorithm(
                    algorithm, self.data.matrix, params, seed=self.seed, item_text=self.data.text
                )
                recommender = self.data.recommender(fitted.components)
                metrics, ms = self.evaluator.evaluate(recommender.scores)
                trial = Trial(
                    algorithm,
                    params,
                    metrics,
                    fitted.seconds,
                    ms,
                    stage,
                    fitted.components,
                    fitted.info,
                )
        except (ValueError, np.linalg.LinAlgError, MemoryError) as error:
            self.notes.append(f"{algorithm} {params}: failed ({error})")
            self.last_cost[algorithm] = time.perf_counter() - started
            return None
        self.last_cost[algorithm] = time.perf_counter() - started
        self.trials.append(trial)
        if algorithm not in self.best or self._score(trial) > self._score(self.best[algorithm]):
            self.best[algorithm] = trial
        return trial

    def _ease_trial(self, params: dict[str, Any], stage: str) -> Trial:
        """EASE scored with its full weight matrix, through the artifact (so
        that it ranks exactly as the pruned one checked against it later)."""
        started = time.perf_counter()
        weights, kept = ease_weights(self.data.matrix, float(params["l2"]))
        seconds = time.perf_counter() - started
        component = sparse_component("ease", weights, kept, self.data.matrix.shape[1])
        metrics, ms = self.evaluator.evaluate_recommender(self.data.recommender([component]))
        info = {"ease_items": len(kept)}
        trial = Trial("ease", dict(params), metrics, seconds, ms, stage, [], info)
        if not self.ease_unpruned or self._score(trial) > self._score(self.ease_unpruned["trial"]):
            self.ease_unpruned = {"trial": trial, "weights": weights, "kept": kept}
        return trial

    def _score(self, trial: Trial) -> float:
        value = trial.metrics.get(self.metric, float("nan"))
        return value if _finite(value) else -math.inf

    # ------------------------------------------------------------------ run

    def run(self, algorithms: list[str]) -> None:
        for algorithm in algorithms:
            if time.perf_counter() >= self.deadline and self.trials:
                self.notes.append(f"{algorithm}: not tried, the time budget ran out")
                continue
            self.trial(algorithm, self._start_params(algorithm), "default")
        self._tune([a for a in algorithms if a in _TUNABLE and a in self.best])
        self._prune_ease()

    def _start_params(self, algorithm: str) -> dict[str, Any]:
        params = {**DEFAULT_PARAMS[algorithm], **_SEARCH_START.get(algorithm, {})}
        if algorithm == "ease":
            params.pop("top_m")
        return params

    def _tune(self, algorithms: list[str]) -> None:
        if not algorithms:
            return
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        studies = {}
        shape = self.data.matrix.shape
        for offset, algorithm in enumerate(algorithms):
            study = optuna.create_study(
                direction="maximize", sampler=optuna.samplers.TPESampler(seed=self.seed + offset)
            )
            space = _space(algorithm, shape)
            start = self.best[algorithm]
            known = _within(start.params, space)
            if known is not None and _finite(self._score(start)):
                study.add_trial(
                    optuna.trial.create_trial(
                        params=known, distributions=space, value=self._score(start)
                    )
                )
            studies[algorithm] = (study, space)
        active = list(algorithms)
        tuned = dict.fromkeys(algorithms, 0)
        turn = 0
        while active and time.perf_counter() < self.tuning_deadline:
            leader = max(self._score(t) for t in self.best.values())
            active = [
                a
                for a in active
                if tuned[a] < _MIN_TUNED or self._score(self.best[a]) >= _FAR_BEHIND * leader
            ]
            if not active:
                break
            ranked = sorted(active, key=lambda a: -self._score(self.best[a]))
            # The leader gets every other trial; the others take turns.
            schedule = [ranked[0]] if len(ranked) == 1 else []
            for other in ranked[1:]:
                schedule += [ranked[0], other]
            algorithm = schedule[turn % len(schedule)]
            turn += 1
            if not self._fits(algorithm, self.tuning_deadline):
                active.remove(algorithm)
                continue
            study, space = studies[algorithm]
            asked = study.ask(space)
            trial = self.trial(algorithm, dict(asked.params), "tuned")
            tuned[algorithm] += 1
            score = self._score(trial) if trial is not None else -math.inf
            study.tell(asked, score if _finite(score) else 0.0)

    def _prune_ease(self) -> None:
        """The fewest EASE weights per item that keep its score within
        tolerance of the unpruned model's (see the module docstring)."""
        if not self.ease_unpruned:
            return
        best: Trial = self.ease_unpruned["trial"]
        weights, kept = self.ease_unpruned["weights"], self.ease_unpruned["kept"]
        n_items = self.data.matrix.shape[1]
        target = (1 - _PRUNE_TOLERANCE) * self._score(best)
        chosen = None
        for top_m in [m for m in _PRUNE_SIZES if m < len(kept)] + [len(kept)]:
            started = time.perf_counter()
            pruned = prune_rows(weights, top_m)
            component = sparse_component("ease", pruned, kept, n_items)
            recommender = self.data.recommender([component])
            metrics, ms = self.evaluator.evaluate_recommender(recommender)
            chosen = Trial(
                "ease",
                {**best.params, "top_m": top_m},
                metrics,
                best.train_s + time.perf_counter() - started,
                ms,
                "pruned",
                [component],
                {**best.info, "unpruned_" + self.metric: self._score(best)},
            )
            if self._score(chosen) >= target:
                break
        assert chosen is not None
        loss = 1 - self._score(chosen) / self._score(best) if self._score(best) > 0 else 0.0
        chosen.info["pruning_loss"] = round(loss, 4)
        self.notes.append(
            f"EASE pruned to {chosen.params['top_m']} weights per item: {self.metric} "
            f"{self._score(chosen):.4f} against {self._score(best):.4f} unpruned ({loss:+.2%} lost)"
        )
        self.trials.append(chosen)
        self.best["ease"] = chosen
        self.ease_unpruned = {}

    # ---------------------------------------------------------------- blend

    def blend(self) -> tuple[list[Trial], list[float], dict[str, float]] | None:
        """The best blend of the two or three best algorithms, or None when no
        blend beats the best single model."""
        ranked = sorted(
            (t for t in self.best.values() if t.components and _finite(self._score(t))),
            key=lambda t: -self._score(t),
        )[:3]
        if len(ranked) < 2:
            return None
        users = self.evaluator.users
        recommender = self.data.recommender([c for t in ranked for c in t.components])
        # Standardised scores per member, computed once (float32 to halve memory).
        parts = []
        for trial in ranked:
            member = np.zeros((len(users), self.data.matrix.shape[1]), dtype=np.float32)
            for component in trial.components:
                member += standardise_scores(recommender.component_scores(component, users)).astype(
                    np.float32
                )
            parts.append(member)
        best_weights: tuple[float, ...] | None = None
        best_score = self._score(ranked[0])
        steps = round(1 / _BLEND_STEP)
        for grid in product(range(steps + 1), repeat=len(ranked)):
            if sum(grid) != steps or max(grid) == steps:
                continue
            if time.perf_counter() > self.deadline:
                self.notes.append("blend: the time budget ran out before every weight was tried")
                break
            weights = tuple(g / steps for g in grid)
            metrics, _ = self.evaluator.evaluate(_weighted(parts, weights, users))
            score = metrics.get(self.metric, -math.inf)
            if score > best_score:
                best_score, best_weights = score, weights
        if best_weights is None:
            return None
        members = [t for t, w in zip(ranked, best_weights, strict=True) if w > 0]
        kept_weights = [w for w in best_weights if w > 0]
        components = []
        for trial, weight in zip(members, kept_weights, strict=True):
            for component in trial.components:
                components.append(_reweighted(component, weight))
        metrics, _ = self.evaluator.evaluate_recommender(self.data.recommender(components))
        return members, kept_weights, metrics

    def result(self, item_text: pd.DataFrame | None, seconds: float) -> RecommenderSearch:
        if not self.trials:
            raise DataError("no recommender could be trained: " + "; ".join(self.notes))
        single = max(self.best.values(), key=self._score)
        blended = None
        if time.perf_counter() < self.deadline:
            started = time.perf_counter()
            blended = self.blend()
            blend_seconds = time.perf_counter() - started
        metric_names = _metric_names(self.trials)
        rows = [t.row(metric_names) for t in self.trials]
        if blended is not None:
            members, weights, metrics = blended
            params = {
                "members": [
                    {"model": t.model, "params": t.params, "weight": w}
                    for t, w in zip(members, weights, strict=True)
                ]
            }
            components = [
                _reweighted(c, w)
                for t, w in zip(members, weights, strict=True)
                for c in t.components
            ]
            recommender = self.data.recommender(components)
            _, ms = self.evaluator.evaluate_recommender(recommender)
            blend_trial = Trial(
                "blend",
                params,
                metrics,
                sum(t.train_s for t in members) + blend_seconds,
                ms,
                "blend",
            )
            rows.append(blend_trial.row(metric_names))
            if self._score(blend_trial) > self._score(single):
                chosen, chosen_params, validation = "blend", params, metrics
            else:
                blended = None
        if blended is None:
            chosen, chosen_params, validation = single.model, single.params, single.metrics
            recommender = self.data.recommender(single.components)
        board = pd.DataFrame(rows).sort_values(self.metric, ascending=False, kind="stable")
        out = RecommenderSearch(
            leaderboard=board.reset_index(drop=True),
            chosen=chosen,
            params=chosen_params,
            validation=validation,
            metric=self.metric,
            recommender=recommender,
            seconds=seconds,
            seed=self.seed,
            item_text=item_text,
            notes=self.notes,
        )
        recommender.description = out._description(
            [
                {**m, **(self.best[m["model"]].info if m["model"] in self.best else {})}
                for m in out.members
            ]
        )
        if self.evaluator.cold_users:
            self.notes.append(
                f"{self.evaluator.cold_users} validation users have no training interactions "
                "and were not scored"
            )
        return out


def _weighted(
    parts: list[np.ndarray], weights: Sequence[float], users: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """A scorer over the evaluator's users from precomputed member scores."""
    position = {int(u): i for i, u in enumerate(users)}

    def scores(chunk: np.ndarray) -> np.ndarray:
        rows = np.fromiter((position[int(u)] for u in chunk), dtype=np.int64, count=len(chunk))
        total = np.zeros((len(chunk), parts[0].shape[1]), dtype=np.float64)
        for part, weight in zip(parts, weights, strict=True):
            if weight:
                total += weight * part[rows]
        return total

    return scores


def _reweighted(component: ScoringComponent, weight: float) -> ScoringComponent:
    return ScoringComponent(
        component.kind,
        component.name,
        weight,
        component.user_factors,
        component.item_factors,
        component.indptr,
        component.indices,
        component.data,
    )


def _metric_names(trials: list[Trial]) -> list[str]:
    names: list[str] = []
    for trial in trials:
        names.extend(n for n in trial.metrics if n not in names and n != "users")
    return names


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


# ------------------------------------------------------------ search spaces


def _space(algorithm: str, shape: tuple[int, int]) -> dict[str, Any]:
    """Optuna distributions; ranges scale with the catalogue where it matters."""
    from optuna.distributions import FloatDistribution, IntDistribution

    n_users, n_items = shape
    if algorithm == "ease":
        return {"l2": FloatDistribution(1.0, 10_000.0, log=True)}
    if algorithm == "item_knn":
        return {
            "neighbours": IntDistribution(5, max(10, min(1000, n_items - 1)), log=True),
            "shrinkage": FloatDistribution(0.0, 500.0),
        }
    widest = max(8, min(256, n_items // 4, n_users))
    if algorithm == "als":
        return {
            "factors": IntDistribution(8, widest, log=True),
            "regularization": FloatDistribution(1e-3, 100.0, log=True),
            "alpha": FloatDistribution(0.1, 100.0, log=True),
            "iterations": IntDistribution(5, 30),
        }
    return {
        "factors": IntDistribution(8, widest, log=True),
        "learning_rate": FloatDistribution(1e-3, 0.2, log=True),
        "regularization": FloatDistribution(1e-5, 0.1, log=True),
        "iterations": IntDistribution(20, 300, log=True),
    }


def _within(params: dict[str, Any], space: dict[str, Any]) -> dict[str, Any] | None:
    """``params`` restricted to ``space``; None when one lies outside it."""
    out = {}
    for name, distribution in space.items():
        value = params.get(name)
        if value is None or not distribution.low <= value <= distribution.high:
            return None
        out[name] = value
    return out
