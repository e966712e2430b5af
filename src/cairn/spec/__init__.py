"""The project spec: ``cairn.toml`` parsed into pydantic models.

Unknown keys are rejected, and every validation problem is reported as a
:class:`~cairn.exceptions.SpecError` naming the file, the key and the allowed
values. Relative paths in ``[[data.sources]]`` are resolved against the
folder holding the spec, so a project can be run from anywhere.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from cairn._ray import EXECUTOR_PATTERN
from cairn.exceptions import SpecError
from cairn.spec._data import ColumnRole as ColumnRole
from cairn.spec._data import DataSection as DataSection
from cairn.spec._data import PrivacyAction as PrivacyAction
from cairn.spec._data import Section
from cairn.spec._data import SourceSpec as SourceSpec
from cairn.spec._operations import CostSection as CostSection
from cairn.spec._operations import DriftCheck as DriftCheck
from cairn.spec._operations import MaintenanceSection as MaintenanceSection
from cairn.spec._operations import MonitoringSection as MonitoringSection
from cairn.spec._operations import ServingSection as ServingSection
from cairn.spec._operations import TrackingSection as TrackingSection
from cairn.spec._operations import duration_seconds as duration_seconds
from cairn.spec._tests import DirectionTest as DirectionTest
from cairn.spec._tests import InvarianceTest as InvarianceTest
from cairn.spec._tests import TestsSection as TestsSection
from cairn.tasks import (
    get_task,
    is_known_metric,
    is_known_quantity,
    known_metrics,
    known_quantities,
    task_names,
)

__all__ = [
    "ClusterAlgorithm",
    "ClusteringSection",
    "ColumnRole",
    "CostSection",
    "DataSection",
    "DirectionTest",
    "DriftCheck",
    "InvarianceTest",
    "MaintenanceSection",
    "ModelName",
    "MonitoringSection",
    "Objective",
    "PrivacyAction",
    "ProblemSection",
    "ProjectSection",
    "ProjectSpec",
    "RecommendationSection",
    "RecommenderAlgorithm",
    "ServingSection",
    "SourceSpec",
    "SplitSection",
    "Task",
    "TestsSection",
    "TrackingSection",
    "TrainSection",
    "check_fits_task",
    "duration_seconds",
    "load_spec",
    "parse_spec",
]

# Task names a spec may give; those without a registered module (see
# cairn.tasks.task_names) are accepted here and refused before training.
Task = Literal["classification", "regression", "clustering", "recommendation"]


_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_OBJECTIVE_RE = re.compile(r"^\s*([a-z0-9_]+(?:@\d+)?)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


class Objective(BaseModel):
    """One business objective, e.g. ``rmse < 25000``."""

    model_config = ConfigDict(frozen=True)

    quantity: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Objective:
        match = _OBJECTIVE_RE.match(text)
        try:
            threshold = float(match.group(3)) if match is not None else None
        except ValueError:
            threshold = None
        if match is None or threshold is None:
            raise ValueError(
                f"objective {text!r} is not of the form 'QUANTITY OP NUMBER' "
                "with OP one of <, <=, >, >= (e.g. 'rmse < 25000')"
            )
        quantity, op, _ = match.groups()
        if not is_known_quantity(quantity):
            raise ValueError(
                f"objective {text!r} names unknown quantity {quantity!r}; "
                f"allowed: {', '.join(known_quantities())} (ranking metrics at any list "
                "length 1..100, e.g. ndcg@20)"
            )
        return cls(quantity=quantity, op=op, threshold=threshold)

    def met_by(self, value: float) -> bool:
        return _OPERATORS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.quantity} {self.op} {self.threshold:g}"


def _misfits(problem: ProblemSection, task: str) -> list[str]:
    """The metric and objective quantities of ``problem`` that ``task`` has not."""
    quantities = [objective.quantity for objective in problem.parsed_objectives]
    return get_task(task).misfits(problem.metric, quantities)


def check_fits_task(problem: ProblemSection, task: str) -> None:
    """Raise ValueError when the metric or an objective does not belong to ``task``.

    An objective on a quantity the task never measures could never be
    checked, so it would silently count as met.
    """
    kind = get_task(task)
    if problem.metric and not kind.measures_metric(problem.metric):
        raise ValueError(
            f"metric {problem.metric!r} is not a {task} metric; allowed: {', '.join(kind.metrics)}"
        )
    for objective in problem.parsed_objectives:
        if not kind.measures_quantity(objective.quantity):
            raise ValueError(
                f"objective '{objective}' names {objective.quantity!r}, which a {task} "
                f"model is not measured on; allowed: {', '.join(kind.quantities())}"
            )


# Clustering quantities that compare the clusters with a ground truth.
_GROUND_TRUTH_SCORES = ("adjusted_rand", "normalized_mutual_info")


def _needs_ground_truth(problem: ProblemSection) -> list[str]:
    named = [problem.metric, *(o.quantity for o in problem.parsed_objectives)]
    return sorted({q for q in named if q in _GROUND_TRUTH_SCORES})


_Section = Section


class ProjectSection(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    description: str = ""


class ProblemSection(_Section):
    # '' when the task learns without a target (the task says whether it needs one)
    target: str
    task: Task | None = None
    metric: str | None = None
    objectives: list[str] = Field(default_factory=list)
    positive_class: str | None = None
    # Clustering: a column that holds known groups, used only to score the
    # segmentation (adjusted Rand, NMI), never as a feature.
    ground_truth: str | None = None
    # Recommendation: who interacted with what, and how strongly.
    user: str | None = None
    item: str | None = None
    rating: str | None = None  # explicit ratings
    weight: str | None = None  # implicit event strength (clicks, plays); none: one event a row
    # Explicit ratings that count as relevant: a number, "auto" (the top 30 %
    # of the rating scale, e.g. 4 and up on 1..5) or "all".
    relevance_threshold: float | Literal["auto", "all"] = "auto"
    rating_scale: tuple[float, float] | None = None

    @field_validator("objectives")
    @classmethod
    def _parse_objectives(cls, value: list[str]) -> list[str]:
        parsed = [Objective.parse(text) for text in value]
        for objective in parsed:
            # latency, size and cost are never negative: such a bound fails every model
            below = objective.threshold < 0 or (objective.threshold == 0 and objective.op == "<")
            if objective.quantity.startswith(("latency_", "model_size", "cost_")) and (
                objective.op in ("<", "<=") and below
            ):
                raise ValueError(
                    f"objective '{objective}' cannot be met: {objective.quantity} is never "
                    "below 0; give a positive bound"
                )
        for upper in parsed:
            for lower in parsed:
                if (
                    upper.quantity == lower.quantity
                    and upper.op in ("<", "<=")
                    and lower.op in (">", ">=")
                    and (
                        lower.threshold > upper.threshold
                        or (
                            lower.threshold == upper.threshold
                            and (upper.op, lower.op) != ("<=", ">=")
                        )
                    )
                ):
                    raise ValueError(
                        f"objectives '{upper}' and '{lower}' contradict each other: no value "
                        "meets both; drop or loosen one"
                    )
        return value

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        if value is not None and not is_known_metric(value):
            allowed = known_metrics()
            raise ValueError(
                f"unknown metric {value!r}; allowed: {', '.join(allowed)} (ranking metrics "
                "at any list length 1..100, e.g. ndcg@20)"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _target_if_the_task_needs_one(cls, data: Any) -> Any:
        # Without a registered task the target is required (it is the column
        # the task is inferred from), and pydantic says so when it is missing.
        if isinstance(data, dict) and "target" not in data:
            name = data.get("task")
            if isinstance(name, str) and name in task_names() and not get_task(name).needs_target:
                return {**data, "target": ""}
        return data

    @model_validator(mode="after")
    def _recommendation_fields(self) -> ProblemSection:
        fields = get_task(self.task).spec_fields if self.task in task_names() else ("target",)
        given = {
            "user": self.user is not None,
            "item": self.item is not None,
            "rating": self.rating is not None,
            "weight": self.weight is not None,
            "relevance_threshold": self.relevance_threshold != "auto",
            "rating_scale": self.rating_scale is not None,
        }
        stray = [name for name, set_ in given.items() if set_ and name not in fields]
        if stray:
            raise ValueError(
                f"{', '.join('problem.' + n for n in stray)}: only a recommendation reads "
                'these; set problem.task = "recommendation" or remove them'
            )
        if not {"user", "item"} <= set(fields):
            return self
        missing = [name for name in ("user", "item") if getattr(self, name) is None]
        if missing:
            raise ValueError(
                f"a recommendation needs {' and '.join('problem.' + n for n in missing)}: "
                "the column(s) naming who interacted and with what"
            )
        named = [c for c in (self.user, self.item, self.rating, self.weight) if c is not None]
        if len(set(named)) < len(named):
            raise ValueError(
                "problem.user, item, rating and weight must name different columns "
                f"(got {', '.join(named)})"
            )
        if self.rating is not None and self.weight is not None:
            raise ValueError(
                "give problem.rating (explicit ratings) or problem.weight (implicit event "
                "strength), not both"
            )
        if self.rating is None and given["relevance_threshold"]:
            raise ValueError(
                "problem.relevance_threshold applies to explicit ratings: name the rating "
                "column as problem.rating"
            )
        if self.rating is None and given["rating_scale"]:
            raise ValueError("problem.rating_scale needs problem.rating, the rating column")
        if self.rating_scale is not None and not self.rating_scale[0] < self.rating_scale[1]:
            raise ValueError(
                f"problem.rating_scale = {list(self.rating_scale)} must be [lowest, highest] "
                "with lowest < highest"
            )
        return self

    @model_validator(mode="after")
    def _metric_fits_task(self) -> ProblemSection:
        if self.ground_truth is not None:
            fields = get_task(self.task).spec_fields if self.task in task_names() else ()
            if "ground_truth" not in fields:
                raise ValueError(
                    "problem.ground_truth scores a clustering; set problem.task = "
                    '"clustering", or name the column as problem.target to learn it'
                )
        elif (needs := _needs_ground_truth(self)) and self.task == "clustering":
            raise ValueError(
                f"{', '.join(needs)} compare the clusters with known groups: "
                "name that column as problem.ground_truth, or use silhouette, "
                "calinski_harabasz or davies_bouldin"
            )
        if self.task in task_names():
            check_fits_task(self, self.task)
            return self
        # Task inferred from the data later: the metric and the objectives
        # must at least agree on one task (checked again once it is known).
        fits = [task for task in task_names() if not _misfits(self, task)]
        if not fits:
            named = [q for q in (self.metric, *(o.quantity for o in self.parsed_objectives)) if q]
            raise ValueError(
                f"metric and objectives mix quantities of different tasks ({', '.join(named)}); "
                "set problem.task and use quantities of that task"
            )
        return self

    @property
    def parsed_objectives(self) -> list[Objective]:
        return [Objective.parse(text) for text in self.objectives]

    @property
    def has_latency_objective(self) -> bool:
        """A latency objective asks for fast serving (the ONNX graph, no bags)."""
        return any(o.quantity.startswith("latency_") for o in self.parsed_objectives)

    @property
    def has_serving_objective(self) -> bool:
        """An objective bounds what serving costs: latency, model size or cost."""
        prefixes = ("latency_", "model_size", "cost_", "throughput")
        return any(o.quantity.startswith(prefixes) for o in self.parsed_objectives)


class SplitSection(_Section):
    test_size: float = Field(default=0.2, gt=0.0, lt=0.9)
    folds: int = Field(default=5, ge=2, le=20)
    # None: automatic, 3 shuffled partitions up to 1,000 training rows, 2 up
    # to 2,500, else 1 (small data scores noisily on a single partition).
    repeats: int | None = Field(default=None, ge=1, le=10)
    validation_size: float | None = Field(default=None, gt=0.0, lt=0.9)
    stratify: bool = True
    group_column: str | None = None
    time_ordered: bool = False


ModelName = Literal["linear", "random_forest", "extra_trees", "lightgbm", "catboost", "knn"]


class TrainSection(_Section):
    time_budget: float = Field(default=300.0, gt=0.0, description="seconds")
    include: list[ModelName] = Field(default_factory=list)
    exclude: list[ModelName] = Field(default_factory=list)
    seed: int = 42
    n_jobs: int = Field(default=-1, ge=-1)
    # Where the search's fold fits run: local threads, or Ray tasks ("ray":
    # RAY_ADDRESS's cluster or a Ray started here; "ray://HOST:PORT": that
    # cluster), each with cpus_per_trial CPUs.
    executor: str = "local"
    cpus_per_trial: int = Field(default=1, ge=1)
    tuner: Literal["tpe", "random", "grid"] = "tpe"
    max_trials: int | None = Field(default=None, ge=0, description="cap, for reproducible runs")
    ensemble: Literal["greedy", "stacking", "none"] = "greedy"
    select_features: bool = True
    pca: bool = False
    # "auto": bag the fold models instead of refitting when data is small
    # (<= 500 training rows) and no latency objective is set.
    bagging: Literal["auto", "always", "never"] = "auto"
    # A distilled LightGBM student and pruned LightGBM variants after the
    # search, as extra candidates; "auto": when an objective bounds latency,
    # size or cost and the time budget is 60 s or more.
    compress: Literal["auto", "always", "never"] = "auto"
    # A student is kept when its CV metric is within this share of the final model's.
    distil_tolerance: float = Field(default=0.01, ge=0.0, lt=1.0)

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, value: str) -> str:
        if not re.fullmatch(EXECUTOR_PATTERN, value):
            raise ValueError(f"{value!r} is not an executor; use local, ray or ray://HOST:PORT")
        return value

    @model_validator(mode="after")
    def _not_everything_excluded(self) -> TrainSection:
        both = set(self.include) & set(self.exclude)
        if both:
            raise ValueError(f"models both included and excluded: {', '.join(sorted(both))}")
        return self


ClusterAlgorithm = Literal["kmeans", "gaussian_mixture", "agglomerative", "birch", "hdbscan"]
_CLUSTER_ALGORITHMS: tuple[ClusterAlgorithm, ...] = get_args(ClusterAlgorithm)


class ClusteringSection(_Section):
    """How a clustering is searched (``problem.task = "clustering"``); the
    time budget and seed are ``train.time_budget`` and ``train.seed``."""

    k_min: int = Field(default=2, ge=2)
    # None: up to 10, fewer when the rows cannot hold that many.
    k_max: int | None = Field(default=None, ge=2, le=100)
    algorithms: list[ClusterAlgorithm] = Field(default_factory=lambda: list(_CLUSTER_ALGORITHMS))
    # Put skewed non-negative columns (amounts, counts) on a log scale.
    log_skewed: bool = True
    # Keep this share of the variance with a PCA before clustering.
    pca: float | None = Field(default=None, gt=0.0, le=1.0)
    # Prefer the most clusters among stable solutions whose metric is within
    # this share of the best stable one's (0: the best stable one).
    finer_within: float = Field(default=0.0, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _range_and_algorithms(self) -> ClusteringSection:
        if self.k_max is not None and self.k_min > self.k_max:
            raise ValueError(f"k_min = {self.k_min} is above k_max = {self.k_max}")
        if not self.algorithms:
            raise ValueError("algorithms is empty; name at least one")
        return self


RecommenderAlgorithm = Literal["popularity", "item_knn", "ease", "als", "bpr", "content"]
_RECOMMENDER_ALGORITHMS: tuple[RecommenderAlgorithm, ...] = get_args(RecommenderAlgorithm)


class RecommendationSection(_Section):
    """How a recommender is split, searched and served (``problem.task =
    "recommendation"``); the time budget and seed are ``train.time_budget``
    and ``train.seed``."""

    # "auto": each user's latest interactions when there is a time column
    # (time_last_n), a random share of each user's otherwise (random);
    # "time_global": everything after one cut-off time is the test part.
    split: Literal["auto", "time_global", "time_last_n", "random"] = "auto"
    test_size: float = Field(default=0.2, gt=0.0, lt=0.9)
    # time_last_n: this many of each user's latest interactions; None: the
    # test_size share of each user's (at least one).
    last_n: int | None = Field(default=None, ge=1)
    # Users with fewer interactions stay in training only (counted).
    min_user_interactions: int = Field(default=2, ge=1)
    exclude_seen: bool = True
    k: int = Field(default=10, ge=1, le=100)
    algorithms: list[RecommenderAlgorithm] = Field(
        default_factory=lambda: list(_RECOMMENDER_ALGORITHMS)
    )
    # Names of [[data.sources]] entries that are side tables, joined on
    # problem.item / problem.user rather than appended to the interactions.
    items: str | None = None
    users: str | None = None
    # Columns of the item table the content model reads (default: its text columns).
    item_text: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something_to_search(self) -> RecommendationSection:
        if not self.algorithms:
            raise ValueError("algorithms is empty; name at least one")
        return self


class ProjectSpec(_Section):
    """The whole ``cairn.toml``."""

    project: ProjectSection
    data: DataSection
    problem: ProblemSection
    split: SplitSection = Field(default_factory=SplitSection)
    train: TrainSection = Field(default_factory=TrainSection)
    clustering: ClusteringSection = Field(default_factory=ClusteringSection)
    recommendation: RecommendationSection = Field(default_factory=RecommendationSection)
    tracking: TrackingSection = Field(default_factory=TrackingSection)
    cost: CostSection = Field(default_factory=CostSection)
    monitoring: MonitoringSection = Field(default_factory=MonitoringSection)
    maintenance: MaintenanceSection = Field(default_factory=MaintenanceSection)
    serving: ServingSection = Field(default_factory=ServingSection)
    tests: TestsSection = Field(default_factory=TestsSection)
    # Folder against which relative paths resolve; set by load_spec.
    _root: Path = PrivateAttr(default_factory=Path.cwd)
    _source: str = PrivateAttr(default="spec")

    @property
    def root(self) -> Path:
        return self._root

    def check_task(self, task: str) -> None:
        """Check the metric and objectives against the task inferred from the data.

        Raises:
            SpecError: one of them is not measured for ``task``.
        """
        try:
            check_fits_task(self.problem, task)
        except ValueError as error:
            raise SpecError(
                f"{self._source}: invalid value for 'problem': {error} "
                f"(the task was inferred as {task}; set problem.task to override)"
            ) from None

    @model_validator(mode="after")
    def _time_order_needs_time_column(self) -> ProjectSpec:
        if self.split.time_ordered and not self.data.time_column:
            raise ValueError("split.time_ordered = true needs data.time_column")
        return self

    @model_validator(mode="after")
    def _side_tables_are_sources(self) -> ProjectSpec:
        settings = self.recommendation
        names = [source.name for source in self.data.sources if source.name]
        for key in ("items", "users"):
            wanted = getattr(settings, key)
            if wanted is not None and wanted not in names:
                raise ValueError(
                    f"recommendation.{key} = {wanted!r} names no [[data.sources]] entry; "
                    f"give that source name = {wanted!r} (named sources: "
                    f"{', '.join(names) or 'none'})"
                )
        side = {settings.items, settings.users} - {None}
        if side and len(self.data.sources) <= len(side):
            raise ValueError(
                "every source is a side table (recommendation.items / users); add the "
                "interactions table as another [[data.sources]] entry"
            )
        if settings.split == "time_global" and not self.data.time_column:
            raise ValueError("recommendation.split = 'time_global' needs data.time_column")
        if settings.split == "time_last_n" and not self.data.time_column:
            raise ValueError("recommendation.split = 'time_last_n' needs data.time_column")
        return self

    def resolve(self, path: Path) -> Path:
        """A source path made absolute against the spec's folder."""
        return path if path.is_absolute() else (self.root / path)

    @property
    def project_dir(self) -> Path:
        return self.root

    @property
    def state_dir(self) -> Path:
        """Where cairn keeps runs, bundles and the tracking store."""
        return self.root / ".cairn"

    def fingerprint(self) -> str:
        """A stable hash of the spec's content (not of the data)."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The field names of the section at ``loc`` (list indices skipped)."""
    model: Any = ProjectSpec
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        annotation = field.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
        else:
            return []
    return list(model.model_fields)


def _format_validation_error(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(first["loc"][:-1])
        hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
        return f"{source}: unknown key '{key}'{hint}; remove it or check its spelling"
    if kind == "missing":
        return f"{source}: required key '{key}' is missing"
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(error.errors()) - 1} more problem(s))" if len(error.errors()) > 1 else ""
    return f"{source}: invalid value for '{key}': {message}{more}"


def parse_spec(
    data: dict[str, Any], *, root: Path | None = None, source: str = "spec"
) -> ProjectSpec:
    """Validate a spec given as a mapping (the parsed TOML)."""
    try:
        spec = ProjectSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(_format_validation_error(error, source)) from None
    if root is not None:
        spec._root = root
    spec._source = source
    return spec


def load_spec(path: str | Path = "cairn.toml") -> ProjectSpec:
    """Read and validate a ``cairn.toml``.

    Raises:
        SpecError: the file is missing, is not valid TOML, or breaks the schema.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "cairn.toml"
    if not path.exists():
        raise SpecError(f"{path}: spec not found; write one with 'cairn init DATA --target COLUMN'")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not UTF-8 text; save the spec as UTF-8") from None
    return parse_spec(data, root=path.resolve().parent, source=str(path))
