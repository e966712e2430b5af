"""``cairn init``: write a commented ``cairn.toml`` for a data file."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from cairn._io import atomic_write_text
from cairn.data.quality import check_and_clean
from cairn.data.schema import Role
from cairn.data.sources import read_table
from cairn.exceptions import SpecError
from cairn.spec import parse_spec
from cairn.tasks import get_task, task_names

_TEMPLATE = """\
# cairn project spec. Reference: README.md, section "The spec".

[project]
name = {name}

[data]
# One or more sources: path (CSV, TSV, Parquet, Excel, JSON/JSON lines),
# url = "https://...", or sql = "sqlite:///file.db" with table = or query = .
# Several sources are appended (combine = "append") or joined
# (combine = "join", join_on = ["key"]).
sources = [{{ path = {path} }}]
{id_line}
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


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _project_name(data: Path) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", data.stem).strip("-.") or "project"
    return cleaned if cleaned[0].isalnum() else f"p{cleaned}"


def write_spec(
    data: Path,
    *,
    target: str,
    task: str | None = None,
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
        raise SpecError(f"--task {task!r}: use {' or '.join(task_names())}")
    frame = read_table(data)
    cleaned = check_and_clean(frame, target=target, task=task, source=str(data))
    schema = cleaned.schema
    inferred_task = cleaned.task
    kind = get_task(inferred_task)
    n_classes = int(frame[target].nunique()) if kind.has_classes else None
    metric = kind.default_metric(n_classes)
    ids = schema.by_role(Role.ID)
    role_lines = [
        f"# {_toml_string(column.name)} = {_toml_string(str(column.role))}"
        f"{' ' * max(1, 28 - len(column.name) - len(str(column.role)))}# {column.reason}"
        for column in schema.columns
    ]
    roles_block = (
        "[data.roles]\n# Inferred roles; uncomment a line to override it.\n"
        + "\n".join(role_lines)
        + "\n"
    )
    relative = os.path.relpath(data.resolve(), output.resolve().parent)
    text = _TEMPLATE.format(
        name=_toml_string(name or _project_name(data)),
        path=_toml_string(Path(relative).as_posix()),
        id_line=(
            f"id_columns = {json.dumps(ids)}"
            if ids
            else "# id_columns = []             # columns never used as features"
        ),
        roles_block=roles_block,
        target=_toml_string(target),
        task=_toml_string(inferred_task),
        task_reason="given" if task else _task_reason(inferred_task, n_classes),
        metric=_toml_string(metric),
        metric_choices="one of: " + ", ".join(kind.metrics),
        objective_example=f'"{kind.example_objective(metric)}"',
        stratify="true" if kind.stratify else "false",
    )
    import tomllib

    # The written spec must load: validate before it reaches the disk.
    parse_spec(tomllib.loads(text), root=output.resolve().parent, source=str(output))
    atomic_write_text(output, text)
    return output


def _task_reason(task: str, n_classes: int | None) -> str:
    if get_task(task).has_classes:
        return f"{n_classes} classes"
    return "numeric target with many values"
