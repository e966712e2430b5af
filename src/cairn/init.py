"""``cairn init``: write a commented ``cairn.toml`` for a data file."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from cairn._io import atomic_write_text
from cairn.data.quality import check_and_clean, clean_unlabelled
from cairn.data.schema import Role, Schema
from cairn.data.sources import read_table
from cairn.exceptions import SpecError
from cairn.spec import parse_spec
from cairn.tasks import get_task, task_names

# The opening every spec shares: where the README explains it, the project
# and the data section.
_HEAD = """\
# cairn project spec. Reference: README.md, section "{section}".

[project]
name = {name}

[data]
# One or more sources: path (CSV, TSV, Parquet, Excel, JSON/JSON lines),
# url = "https://...", or sql = "sqlite:///file.db" with table = or query = .
# Several sources are appended (combine = "append") or joined
# (combine = "join", join_on = ["key"]).
sources = [{{ path = {path} }}]
{id_line}
"""

_TEMPLATE = """\
# time_column = "date"          # enables time-ordered splits
{roles_block}
[problem]
target = {target}
task = {task}                   # inferred: {task_reason}
metric = {metric}               # {metric_choices}
# Business objectives: checked on the test set, they gate deployment.
objectives = []                 # e.g. [{objective_example}, "latency_p99_ms < 100"]

[split]
test_size = 0.2                 # held-out test share
folds = 5                       # cross-validation folds on the rest
# repeats = 3                   # shuffled partitions; default 3 up to 1,000 rows, 2 up to 2,500
stratify = {stratify}
# group_column = "customer"     # keep each group on one side
# time_ordered = true           # needs data.time_column

[train]
time_budget = 300               # seconds for the whole search
# include = ["lightgbm", "catboost"]   # or exclude = ["knn"]
seed = 42
n_jobs = -1
"""


_CLUSTERING_TEMPLATE = """\
{roles_block}
[problem]
task = "clustering"             # segments found without a target
{ground_truth_line}
metric = "silhouette"           # one of: {metric_choices}
# Business objectives: checked on the segmentation, they gate deployment.
# e.g. ["silhouette >= 0.25", "min_cluster_share >= 0.05", "stability >= 0.75"]
objectives = []

[clustering]
k_min = 2                       # cluster counts searched
# k_max = 10                    # default 10, fewer when the rows cannot hold them
# algorithms = ["kmeans", "gaussian_mixture", "agglomerative", "birch", "hdbscan"]
log_skewed = true               # log scale for skewed amounts and counts
# pca = 0.9                     # keep this share of the variance first
# finer_within = 0.2            # prefer more clusters when stable and this close to the best

[train]
time_budget = 120               # seconds for the whole run
seed = 42
"""


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _project_name(data: Path) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", data.stem).strip("-.") or "project"
    return cleaned if cleaned[0].isalnum() else f"p{cleaned}"


def write_spec(
    data: Path,
    *,
    target: str | None = None,
    task: str | None = None,
    ground_truth: str | None = None,
    name: str | None = None,
    output: Path = Path("cairn.toml"),
    force: bool = False,
) -> Path:
    """Infer task, metric and column roles from DATA and write a spec.

    Raises:
        SpecError: the output exists (without ``force``) or an option is invalid.
        DataError: the data cannot be read or has no usable target.
    """
    if output.exists() and not force:
        raise SpecError(f"{output} already exists; pass --force to overwrite it")
    if task is not None and task not in task_names():
        raise SpecError(f"--task {task!r}: use {', '.join(task_names())}")
    if task is not None and not get_task(task).needs_target:
        return _write_unsupervised(data, target, task, ground_truth, name, output)
    if ground_truth is not None:
        raise SpecError("--ground-truth scores a clustering: pass it with --task clustering")
    if target is None:
        raise SpecError(
            "give the column to predict with --target COLUMN, or --task clustering "
            "to find segments without one"
        )
    frame = read_table(data)
    cleaned = check_and_clean(frame, target=target, task=task, source=str(data))
    schema = cleaned.schema
    inferred_task = cleaned.task
    kind = get_task(inferred_task)
    n_classes = int(frame[target].nunique()) if kind.has_classes else None
    metric = kind.default_metric(n_classes)
    relative = os.path.relpath(data.resolve(), output.resolve().parent)
    head = _HEAD.format(
        section="The spec",
        name=_toml_string(name or _project_name(data)),
        path=_toml_string(Path(relative).as_posix()),
        id_line=_id_line(schema.by_role(Role.ID)),
    )
    text = head + _TEMPLATE.format(
        roles_block=_role_lines(schema),
        target=_toml_string(target),
        task=_toml_string(inferred_task),
        task_reason="given" if task else _task_reason(inferred_task, n_classes),
        metric=_toml_string(metric),
        metric_choices="one of: " + ", ".join(kind.metrics),
        objective_example=f'"{kind.example_objective(metric)}"',
        stratify="true" if kind.stratify else "false",
    )
    return _validated_write(text, output)


def _validated_write(text: str, output: Path) -> Path:
    import tomllib

    # The written spec must load: validate before it reaches the disk.
    parse_spec(tomllib.loads(text), root=output.resolve().parent, source=str(output))
    atomic_write_text(output, text)
    return output


def _role_lines(schema: Schema) -> str:
    lines = [
        f"# {_toml_string(column.name)} = {_toml_string(str(column.role))}"
        f"{' ' * max(1, 28 - len(column.name) - len(str(column.role)))}# {column.reason}"
        for column in schema.columns
    ]
    return (
        "[data.roles]\n# Inferred roles; uncomment a line to override it.\n"
        + "\n".join(lines)
        + "\n"
    )


def _id_line(ids: list[str]) -> str:
    if ids:
        return f"id_columns = {json.dumps(ids)}"
    return "# id_columns = []             # columns never used as features"


def _write_unsupervised(
    data: Path,
    target: str | None,
    task: str,
    ground_truth: str | None,
    name: str | None,
    output: Path,
) -> Path:
    """The spec of a task without a target: roles inferred (identifiers
    excluded), the ground truth kept out of the features when given."""
    if target is not None:
        raise SpecError(
            f"--task {task} learns without a target; drop --target {target!r} "
            f"(a column of known groups is passed as --ground-truth {target!r})"
        )
    frame = read_table(data)
    cleaned = clean_unlabelled(
        frame, task=task, exclude=[ground_truth] if ground_truth else [], source=str(data)
    )
    kind = get_task(task)
    relative = os.path.relpath(data.resolve(), output.resolve().parent)
    truth_line = (
        f"ground_truth = {_toml_string(ground_truth)}  # known groups: scored, never a feature"
        if ground_truth
        else '# ground_truth = "column"      # known groups: scored, never a feature'
    )
    head = _HEAD.format(
        section="Clustering",
        name=_toml_string(name or _project_name(data)),
        path=_toml_string(Path(relative).as_posix()),
        id_line=_id_line(cleaned.schema.by_role(Role.ID)),
    )
    text = head + _CLUSTERING_TEMPLATE.format(
        roles_block=_role_lines(cleaned.schema),
        ground_truth_line=truth_line,
        metric_choices=", ".join(kind.metrics),
    )
    return _validated_write(text, output)


def _task_reason(task: str, n_classes: int | None) -> str:
    if get_task(task).has_classes:
        return f"{n_classes} classes"
    return "numeric target with many values"
