"""The candidate model families and how each is built.

Each :class:`Learner` knows whether it needs scaled inputs, whether it takes
ordinal-coded categories (trees) or one-hot ones (linear, k-NN), and up to how
many rows it is worth trying. Defaults are sensible, known-good settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cairn.exceptions import SpecError

Factory = Callable[[str, int, int, int], Any]


def _linear(task: str, n_rows: int, seed: int, n_jobs: int) -> Any:
    from sklearn.linear_model import LogisticRegression, Ridge

    if task == "classification":
        return LogisticRegression(max_iter=2000, C=1.0, random_state=seed)
    return Ridge(alpha=1.0, random_state=seed)


def _random_forest(task: str, n_rows: int, seed: int, n_jobs: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
    return cls(
        n_estimators=300 if n_rows < 20_000 else 150,
        min_samples_leaf=1 if task == "classification" else 2,
        max_features="sqrt" if task == "classification" else 0.5,
        n_jobs=n_jobs,
        random_state=seed,
    )


def _extra_trees(task: str, n_rows: int, seed: int, n_jobs: int) -> Any:
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

    cls = ExtraTreesClassifier if task == "classification" else ExtraTreesRegressor
    return cls(
        n_estimators=300 if n_rows < 20_000 else 150,
        min_samples_leaf=1 if task == "classification" else 2,
        max_features="sqrt" if task == "classification" else 0.7,
        n_jobs=n_jobs,
        random_state=seed,
    )


def _lightgbm(task: str, n_rows: int, seed: int, n_jobs: int) -> Any:
    import lightgbm as lgb

    params: dict[str, Any] = {
        "n_estimators": 400,
        "learning_rate": 0.05,
        "num_leaves": 31 if n_rows > 2_000 else 15,
        "min_child_samples": 20 if n_rows > 2_000 else 5,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "random_state": seed,
        "n_jobs": n_jobs,
        "verbose": -1,
    }
    if task == "classification":
        return lgb.LGBMClassifier(**params)
    return lgb.LGBMRegressor(**params)


def _catboost(task: str, n_rows: int, seed: int, n_jobs: int) -> Any:
    import catboost as cb

    params: dict[str, Any] = {
        "iterations": 500 if n_rows < 20_000 else 300,
        "learning_rate": 0.08,
        "depth": 6,
        "random_seed": seed,
        "thread_count": n_jobs,
        "verbose": 0,
        "allow_writing_files": False,
    }
    if task == "classification":
        return cb.CatBoostClassifier(**params)
    return cb.CatBoostRegressor(**params)


def _knn(task: str, n_rows: int, seed: int, n_jobs: int) -> Any:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    cls = KNeighborsClassifier if task == "classification" else KNeighborsRegressor
    return cls(n_neighbors=15, weights="distance", n_jobs=n_jobs)


@dataclass(frozen=True)
class Learner:
    """A candidate model family.

    Attributes:
        name: key used in the spec's ``train.include`` / ``train.exclude``.
        label: human name for the leaderboard.
        factory: builds an unfitted estimator from (task, n_rows, seed, n_jobs).
        needs_scaling: standardise numeric inputs first.
        ordinal_categories: encode categories as integer codes (trees) rather
            than one-hot columns.
        max_rows: above this many training rows the family is not tried.
        cost: rough relative training cost; cheaper families run first.
    """

    name: str
    label: str
    factory: Factory
    needs_scaling: bool = False
    ordinal_categories: bool = False
    max_rows: int | None = None
    cost: int = 1

    def make(self, task: str, *, n_rows: int, seed: int, n_jobs: int = 1) -> Any:
        return self.factory(task, n_rows, seed, n_jobs)


LEARNERS: dict[str, Learner] = {
    learner.name: learner
    for learner in (
        Learner("linear", "Linear / logistic", _linear, needs_scaling=True, cost=1),
        Learner("lightgbm", "LightGBM", _lightgbm, ordinal_categories=True, cost=2),
        Learner("knn", "k-nearest neighbours", _knn, needs_scaling=True, max_rows=50_000, cost=2),
        Learner("extra_trees", "Extra trees", _extra_trees, ordinal_categories=True, cost=3),
        Learner("random_forest", "Random forest", _random_forest, ordinal_categories=True, cost=4),
        Learner("catboost", "CatBoost", _catboost, ordinal_categories=True, cost=5),
    )
}


def choose_learners(
    *, n_rows: int, include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> list[Learner]:
    """The families to try for this data, cheapest first.

    Raises:
        SpecError: ``include`` names an unknown family, or nothing is left.
    """
    for name in (*include, *exclude):
        if name not in LEARNERS:
            raise SpecError(
                f"train: unknown model {name!r}; allowed: {', '.join(sorted(LEARNERS))}"
            )
    names = list(include) if include else list(LEARNERS)
    chosen = [
        LEARNERS[name]
        for name in names
        if name not in exclude
        and (include or LEARNERS[name].max_rows is None or n_rows <= (LEARNERS[name].max_rows or 0))
    ]
    if not chosen:
        raise SpecError("train: include/exclude leave no model to try; allow at least one")
    return sorted(chosen, key=lambda learner: learner.cost)
