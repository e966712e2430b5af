"""The candidate model families: how each is built, where its search space
is, and a portfolio of known-good configurations tried before any
exploration (learned across many datasets: :mod:`cairn.models._portfolio`).

Each :class:`Learner` knows whether it needs scaled inputs, whether it takes
ordinal-coded categories (trees) or one-hot ones (linear, k-NN), up to how
many rows it is worth trying, and whether it early-stops on a validation set
(boosting). Hyperparameters are plain dicts, so a configuration can be
recorded, compared and rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cairn.exceptions import SpecError, TrainingError
from cairn.models._portfolio import PORTFOLIO
from cairn.tasks import Task

Params = dict[str, Any]
# (estimator kind, n_rows, seed, n_jobs, params) -> unfitted estimator; the
# kind is the task's ``estimator_kind`` ("classifier", "regressor", ...).
Factory = Callable[[str, int, int, int, Mapping[str, Any]], Any]
Space = Callable[[Any, str, int], Params]  # (optuna trial, estimator kind, n_rows) -> params

# Boosting families train up to this many rounds and stop early on the fold's
# validation rows; the refit uses the rounds found there.
MAX_BOOSTING_ROUNDS = 3000

_T = TypeVar("_T")


def _for_kind(family: str, by_kind: Mapping[str, _T], kind: str) -> _T:
    """The entry of ``by_kind`` for the estimator kind a task asks for."""
    if kind not in by_kind:
        raise TrainingError(
            f"model family {family!r} has no {kind} estimator; "
            f"it builds: {', '.join(by_kind)}; add {family!r} to exclude in [train]"
        )
    return by_kind[kind]


def _logistic(n_rows: int, seed: int, n_jobs: int, params: Mapping[str, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression

    penalty = params.get("penalty", "l2")
    return LogisticRegression(
        C=params.get("C", 1.0),
        l1_ratio=1.0 if penalty == "l1" else 0.0,
        solver="saga" if penalty == "l1" else "lbfgs",
        tol=1e-3 if penalty == "l1" else 1e-4,
        max_iter=1000 if penalty == "l1" else 2000,
        random_state=seed,
    )


def _ridge(n_rows: int, seed: int, n_jobs: int, params: Mapping[str, Any]) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(alpha=params.get("alpha", 1.0), random_state=seed)


def _logistic_space(trial: Any, n_rows: int) -> Params:
    return {
        "C": trial.suggest_float("C", 1e-3, 100.0, log=True),
        "penalty": trial.suggest_categorical("penalty", ["l2", "l1"]),
    }


def _ridge_space(trial: Any, n_rows: int) -> Params:
    return {"alpha": trial.suggest_float("alpha", 1e-3, 1000.0, log=True)}


_LINEAR = {"classifier": _logistic, "regressor": _ridge}
_LINEAR_SPACES = {"classifier": _logistic_space, "regressor": _ridge_space}


def _linear(kind: str, n_rows: int, seed: int, n_jobs: int, params: Mapping[str, Any]) -> Any:
    return _for_kind("linear", _LINEAR, kind)(n_rows, seed, n_jobs, params)


def _linear_space(trial: Any, kind: str, n_rows: int) -> Params:
    return _for_kind("linear", _LINEAR_SPACES, kind)(trial, n_rows)


# Forest defaults that differ by estimator kind: regression trees need larger
# leaves and more features per split than classification ones.
_FOREST_MIN_SAMPLES_LEAF = {"classifier": 1, "regressor": 2}
_RANDOM_FOREST_MAX_FEATURES: dict[str, Any] = {"classifier": "sqrt", "regressor": 0.5}
_EXTRA_TREES_MAX_FEATURES: dict[str, Any] = {"classifier": "sqrt", "regressor": 0.7}


def _forest_kwargs(kind: str, n_rows: int, params: Mapping[str, Any], default_mf: Any) -> Params:
    return {
        "n_estimators": params.get("n_estimators", 300 if n_rows < 20_000 else 150),
        "min_samples_leaf": params.get("min_samples_leaf", _FOREST_MIN_SAMPLES_LEAF[kind]),
        "max_features": params.get("max_features", default_mf),
        "max_depth": params.get("max_depth"),
    }


def _random_forest(
    kind: str, n_rows: int, seed: int, n_jobs: int, params: Mapping[str, Any]
) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    classes = {"classifier": RandomForestClassifier, "regressor": RandomForestRegressor}
    cls = _for_kind("random_forest", classes, kind)
    default_mf = _RANDOM_FOREST_MAX_FEATURES[kind]
    return cls(**_forest_kwargs(kind, n_rows, params, default_mf), n_jobs=n_jobs, random_state=seed)


def _extra_trees(kind: str, n_rows: int, seed: int, n_jobs: int, params: Mapping[str, Any]) -> Any:
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

    classes = {"classifier": ExtraTreesClassifier, "regressor": ExtraTreesRegressor}
    cls = _for_kind("extra_trees", classes, kind)
    default_mf = _EXTRA_TREES_MAX_FEATURES[kind]
    return cls(**_forest_kwargs(kind, n_rows, params, default_mf), n_jobs=n_jobs, random_state=seed)


def _forest_space(trial: Any, kind: str, n_rows: int) -> Params:
    return {
        "max_features": trial.suggest_float("max_features", 0.1, 1.0),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 20, log=True),
    }


def _lightgbm(kind: str, n_rows: int, seed: int, n_jobs: int, params: Mapping[str, Any]) -> Any:
    import lightgbm as lgb

    classes = {"classifier": lgb.LGBMClassifier, "regressor": lgb.LGBMRegressor}
    cls = _for_kind("lightgbm", classes, kind)
    small = n_rows <= 2_000
    return cls(
        n_estimators=params.get("n_estimators", 400),
        learning_rate=params.get("learning_rate", 0.05),
        num_leaves=params.get("num_leaves", 15 if small else 31),
        min_child_samples=params.get("min_child_samples", 5 if small else 20),
        subsample=params.get("subsample", 0.8),
        subsample_freq=1,
        colsample_bytree=params.get("colsample_bytree", 0.8),
        reg_lambda=params.get("reg_lambda", 1.0),
        reg_alpha=params.get("reg_alpha", 0.0),
        min_split_gain=params.get("min_split_gain", 0.0),
        random_state=seed,
        n_jobs=n_jobs,
        verbose=-1,
    )


def _lightgbm_space(trial: Any, kind: str, n_rows: int) -> Params:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 256, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 2, 100, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
    }


def _catboost(kind: str, n_rows: int, seed: int, n_jobs: int, params: Mapping[str, Any]) -> Any:
    import catboost as cb

    classes = {"classifier": cb.CatBoostClassifier, "regressor": cb.CatBoostRegressor}
    cls = _for_kind("catboost", classes, kind)
    kwargs: Params = {
        "iterations": params.get("n_estimators", 500 if n_rows < 20_000 else 300),
        "learning_rate": params.get("learning_rate", 0.08),
        "depth": params.get("depth", 6),
        "l2_leaf_reg": params.get("l2_leaf_reg", 3.0),
        "random_strength": params.get("random_strength", 1.0),
        "random_seed": seed,
        "thread_count": n_jobs,
        "verbose": 0,
        "allow_writing_files": False,
    }
    if params.get("cat_features"):
        kwargs["cat_features"] = list(params["cat_features"])
        # Combinations of up to this many categories get their own target
        # statistics; CatBoost's 4 costs ~8x the time of 1 on wide data.
        kwargs["max_ctr_complexity"] = params.get("max_ctr_complexity", 2)
    return cls(**kwargs)


def _catboost_space(trial: Any, kind: str, n_rows: int) -> Params:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.25, log=True),
        "depth": trial.suggest_int("depth", 3, 9),
        "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 0.5, 30.0, log=True),
        "random_strength": trial.suggest_float("random_strength", 0.1, 5.0, log=True),
        # Target statistics on categories (CatBoost's strength) or plain codes.
        "native_categories": trial.suggest_categorical("native_categories", [True, False]),
        "max_ctr_complexity": trial.suggest_int("max_ctr_complexity", 1, 4),
    }


def _knn(kind: str, n_rows: int, seed: int, n_jobs: int, params: Mapping[str, Any]) -> Any:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    classes = {"classifier": KNeighborsClassifier, "regressor": KNeighborsRegressor}
    cls = _for_kind("knn", classes, kind)
    return cls(
        n_neighbors=params.get("n_neighbors", 15),
        weights=params.get("weights", "distance"),
        n_jobs=n_jobs,
    )


def _knn_space(trial: Any, kind: str, n_rows: int) -> Params:
    return {
        "n_neighbors": trial.suggest_int("n_neighbors", 3, 60, log=True),
        "weights": trial.suggest_categorical("weights", ["uniform", "distance"]),
    }


@dataclass(frozen=True)
class Learner:
    """A candidate model family.

    Attributes:
        name: key used in the spec's ``train.include`` / ``train.exclude``.
        label: human name for the leaderboard.
        factory: builds an unfitted estimator from (estimator kind, n_rows,
            seed, n_jobs, params); the kind is the task's ``estimator_kind``.
        space: draws a configuration from an Optuna trial, for an estimator
            kind.
        portfolio: known-good configurations, tried first, in order; the
            first is the family's default.
        grid: values per parameter for grid search; it names every
            parameter of the space (a single value fixes one).
        needs_scaling: standardise numeric inputs first.
        ordinal_categories: encode categories as integer codes (trees) rather
            than one-hot columns.
        early_stopping: boosting; stops on the fold's validation rows.
        category_statistics: can learn target statistics of categorical
            columns itself (CatBoost); the search passes it the category codes
            as integers, under the ``native_categories`` parameter. The ONNX
            serving graph cannot express those statistics.
        exportable: the ONNX serving graph can express the fitted model.
        max_rows: above this many training rows the family is not tried.
        cost: rough relative cost for the value it brings; lower runs first
            (LightGBM leads: the strongest family per second on tabular data).
    """

    name: str
    label: str
    factory: Factory
    space: Space
    portfolio: tuple[Params, ...] = ({},)
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    needs_scaling: bool = False
    ordinal_categories: bool = False
    early_stopping: bool = False
    category_statistics: bool = False
    exportable: bool = True
    max_rows: int | None = None
    cost: int = 1

    def make(
        self,
        task: Task,
        *,
        n_rows: int,
        seed: int,
        n_jobs: int = 1,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """An unfitted estimator of the kind ``task`` asks for."""
        return self.factory(task.estimator_kind, n_rows, seed, n_jobs, params or {})

    def suggest(self, trial: Any, task: Task, n_rows: int) -> Params:
        """A configuration for ``task`` drawn from an Optuna trial."""
        return self.space(trial, task.estimator_kind, n_rows)


LEARNERS: dict[str, Learner] = {
    learner.name: learner
    for learner in (
        Learner(
            "linear",
            "Linear / logistic",
            _linear,
            _linear_space,
            portfolio=({}, *PORTFOLIO["linear"]),
            grid={"C": [0.01, 0.1, 1.0, 10.0], "penalty": ["l2"], "alpha": [0.1, 1.0, 10.0, 100.0]},
            needs_scaling=True,
            cost=2,
        ),
        Learner(
            "lightgbm",
            "LightGBM",
            _lightgbm,
            _lightgbm_space,
            portfolio=({}, *PORTFOLIO["lightgbm"]),
            grid={
                "learning_rate": [0.03, 0.1],
                "num_leaves": [8, 31, 128],
                "min_child_samples": [20],
                "subsample": [0.8],
                "colsample_bytree": [0.8],
                "reg_lambda": [1.0],
                "reg_alpha": [0.001],
            },
            ordinal_categories=True,
            early_stopping=True,
            cost=1,
        ),
        Learner(
            "knn",
            "k-nearest neighbours",
            _knn,
            _knn_space,
            portfolio=({}, *PORTFOLIO["knn"]),
            grid={"n_neighbors": [5, 15, 40], "weights": ["uniform", "distance"]},
            needs_scaling=True,
            max_rows=50_000,
            exportable=False,  # its ONNX conversion misses the agreement check
            cost=3,
        ),
        Learner(
            "extra_trees",
            "Extra trees",
            _extra_trees,
            _forest_space,
            portfolio=({}, *PORTFOLIO["extra_trees"]),
            grid={"max_features": [0.3, 0.6, 1.0], "min_samples_leaf": [1, 5]},
            ordinal_categories=True,
            cost=3,
        ),
        Learner(
            "random_forest",
            "Random forest",
            _random_forest,
            _forest_space,
            portfolio=({}, *PORTFOLIO["random_forest"]),
            grid={"max_features": [0.3, 0.6, 1.0], "min_samples_leaf": [1, 5]},
            ordinal_categories=True,
            cost=4,
        ),
        Learner(
            "catboost",
            "CatBoost",
            _catboost,
            _catboost_space,
            portfolio=({}, *PORTFOLIO["catboost"]),
            grid={
                "depth": [4, 6, 8],
                "learning_rate": [0.05, 0.1],
                "l2_leaf_reg": [3.0],
                "random_strength": [1.0],
                "native_categories": [True],
                "max_ctr_complexity": [2],
            },
            ordinal_categories=True,
            early_stopping=True,
            category_statistics=True,
            cost=5,
        ),
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
