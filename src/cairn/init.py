"""``cairn init``: write a commented ``cairn.toml`` for a data file."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from cairn._io import atomic_write_text
from cairn.data.quality import check_and_clean, clean_unlabelled
from cairn.data.schema import Role, Schema, missing_column_message
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
# executor = "ray"              # fold fits on Ray; or "ray://HOST:PORT"
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


_RECOMMENDATION_TEMPLATE = """\
[problem]
task = "recommendation"         # top-k items per user from the interactions
{user_line}
{item_line}
{feedback_lines}
metric = "ndcg@10"              # or precision@k, recall@k, map@k, hit_rate@k, mrr@k, ...
# Business objectives: checked on the test users, they gate deployment.
objectives = []                 # e.g. ["ndcg@10 >= 0.3", "latency_p99_ms < 20"]

[recommendation]
split = "auto"                  # each user's latest interactions when there is a time
#                               # column, else a random share of each user's
#                               # (or time_last_n, time_global, random)
test_size = 0.2                 # share of the interactions held out for the test
# last_n = 5                    # time_last_n: each user's last n (default: test_size share)
min_user_interactions = 2       # users with fewer are counted and left out of the test
exclude_seen = true             # never recommend what a user already interacted with
k = 10                          # list length of the report and the served default
# algorithms = ["popularity", "item_knn", "ease", "als", "bpr", "content"]
{items_line}
{text_line}

[train]
time_budget = 120               # seconds for the whole run
seed = 42
"""

# Column names (lower case, letters and digits only) that say what a column
# holds in an interactions table, most specific first.
_USER_NAMES = (
    "userid", "user", "customerid", "customer", "clientid", "client", "memberid", "member",
    "visitorid", "visitor", "accountid", "account", "buyerid", "buyer", "readerid", "reader",
    "viewerid", "viewer", "sessionid", "session",
)  # fmt: skip
_ITEM_NAMES = (
    "itemid", "item", "movieid", "movie", "productid", "product", "sku", "articleid", "article",
    "bookid", "book", "isbn", "asin", "songid", "song", "trackid", "track", "artistid", "artist",
    "videoid", "video", "contentid", "content", "postid", "post", "recipeid", "recipe",
)  # fmt: skip
_RATING_NAMES = ("rating", "ratings", "score", "stars", "star", "rate", "grade", "preference")
_WEIGHT_NAMES = (
    "weight", "clicks", "click", "count", "plays", "playcount", "quantity", "qty", "views",
    "purchases", "events", "frequency",
)  # fmt: skip
_TIME_NAMES = (
    "timestamp", "time", "datetime", "date", "ts", "eventtime", "eventdate", "createdat",
    "ratedat", "when",
)  # fmt: skip


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
    recommendation: dict[str, Any] | None = None,
) -> Path:
    """Infer task, metric and column roles from DATA and write a spec.

    Args:
        recommendation: with ``task="recommendation"``, the keyword arguments
            of :func:`write_recommendation_spec` (user, item, rating, items).

    Raises:
        SpecError: the output exists (without ``force``) or an option is invalid.
        DataError: the data cannot be read or has no usable target.
    """
    if output.exists() and not force:
        raise SpecError(f"{output} already exists; pass --force to overwrite it")
    if task is not None and task not in task_names():
        raise SpecError(f"--task {task!r}: use {', '.join(task_names())}")
    if task == "recommendation":
        if target is not None or ground_truth is not None:
            raise SpecError(
                "--task recommendation learns from interactions: name the columns with "
                "--user, --item and --rating instead of --target / --ground-truth"
            )
        return write_recommendation_spec(
            data, name=name, output=output, force=True, **(recommendation or {})
        )
    if recommendation:
        raise SpecError(
            f"--{next(iter(recommendation)).replace('_', '-')} describes interactions: pass "
            "it with --task recommendation"
        )
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


def _normalised(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _is_key(values: pd.Series) -> bool:
    """Whole numbers or text: what an id column holds."""
    if pd.api.types.is_integer_dtype(values) or pd.api.types.is_string_dtype(values):
        return True
    if pd.api.types.is_float_dtype(values):
        known = values.dropna()
        return bool(len(known)) and bool((known == known.round()).all())
    return pd.api.types.is_object_dtype(values)


def _is_time(values: pd.Series) -> bool:
    return bool(
        pd.api.types.is_datetime64_any_dtype(values)
        or pd.api.types.is_numeric_dtype(values)
        or (
            pd.api.types.is_object_dtype(values)
            and pd.to_datetime(values.dropna().head(50), errors="coerce", format="mixed")
            .notna()
            .all()
        )
    )


def _find_column(
    frame: pd.DataFrame, names: tuple[str, ...], fits: Any, taken: set[str]
) -> str | None:
    """The first column whose name is one of ``names`` (exactly, then as a
    word in a longer name) and whose values fit."""
    columns = [c for c in frame.columns if str(c) not in taken]
    for wanted in names:
        for column in columns:
            if _normalised(str(column)) == wanted and fits(frame[column]):
                return str(column)
    for wanted in names:
        for column in columns:
            words = re.split(r"[^a-z0-9]+|(?<=[a-z])(?=[A-Z])", str(column))
            if wanted in {_normalised(w) for w in words if w} and fits(frame[column]):
                return str(column)
    return None


def _given_column(frame: pd.DataFrame, column: str, option: str, where: str) -> str:
    if column in frame.columns:
        return column
    raise SpecError(missing_column_message(option, column, list(frame.columns), where))


def write_recommendation_spec(
    data: Path,
    *,
    user: str | None = None,
    item: str | None = None,
    rating: str | None = None,
    items: Path | None = None,
    name: str | None = None,
    output: Path = Path("cairn.toml"),
    force: bool = False,
) -> Path:
    """Write the spec of a recommendation project for the interactions in
    DATA: the user, item, rating (or event weight) and time columns found by
    name and type unless given, and ``items`` (an item table keyed by the
    item column: titles, genres) as a named side table.

    Raises:
        SpecError: the output exists (without ``force``), a column given is
            not in the data, or no user or item column can be found.
        DataError: a file cannot be read.
    """
    if output.exists() and not force:
        raise SpecError(f"{output} already exists; pass --force to overwrite it")
    frame = read_table(data)
    columns = _interaction_columns(frame, str(data), user=user, item=item, rating=rating)
    folder = output.resolve().parent
    main = f"{{ path = {_toml_string(_relative(data, folder))} }}"
    head = _HEAD.format(
        section="Recommendation",
        name=_toml_string(name or _project_name(data)),
        path=_toml_string(_relative(data, folder)),
        id_line="",
    )
    items_line = '# items = "items"              # a [[data.sources]] entry: the item table'
    text_line = '# item_text = ["title", "genres"]  # item columns the content model reads'
    if items is not None:
        texts = _item_text_columns(items, key=columns["item"], where=str(data))
        side = f'{{ path = {_toml_string(_relative(items, folder))}, name = "items" }}'
        head = head.replace(
            f"sources = [{main}]", f"sources = [\n    {main},\n    {side},  # item table\n]"
        )
        items_line = f'items = "items"                 # the item table, keyed by {columns["item"]}'
        if texts:
            text_line = f"item_text = {json.dumps(texts)}  # item columns the content model reads"
    time_line = (
        _setting("time_column", columns["time"], "interactions are split by time")
        if columns["time"]
        else '# time_column = "timestamp"    # enables time-aware splits'
    )
    text = head.rstrip("\n") + "\n" + time_line + "\n\n"
    text += _RECOMMENDATION_TEMPLATE.format(
        user_line=_setting("user", columns["user"], columns["user_note"]),
        item_line=_setting("item", columns["item"], columns["item_note"]),
        feedback_lines=_feedback_lines(frame, columns),
        items_line=items_line,
        text_line=text_line,
    )
    return _validated_write(text, output)


def _relative(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(path.resolve(), folder)).as_posix()


def _setting(key: str, value: str, note: str) -> str:
    """``key = "value"`` with a comment aligned as in the templates."""
    text = f"{key} = {_toml_string(value)}"
    return f"{text}{' ' * max(1, 32 - len(text))}# {note}"


def _interaction_columns(
    frame: pd.DataFrame, where: str, *, user: str | None, item: str | None, rating: str | None
) -> dict[str, str]:
    """The user, item, rating, weight and time columns ('' when none), and
    whether user and item were given or found."""
    found: dict[str, str] = {}
    taken: set[str] = set()
    for role, given, names, option in (
        ("user", user, _USER_NAMES, "--user"),
        ("item", item, _ITEM_NAMES, "--item"),
    ):
        if given is not None:
            found[role], found[f"{role}_note"] = _given_column(frame, given, option, where), "given"
        else:
            found[role] = _find_column(frame, names, _is_key, taken) or ""
            found[f"{role}_note"] = "found by name"
        if not found[role]:
            raise SpecError(
                f"{where}: no {role} column found among {', '.join(map(str, frame.columns))}; "
                f"name it with {option} COLUMN"
            )
        taken.add(found[role])
    numeric = pd.api.types.is_numeric_dtype
    if rating is not None:
        found["rating"] = _given_column(frame, rating, "--rating", where)
        if not numeric(frame[found["rating"]]):
            raise SpecError(f"{where}: --rating {rating!r} holds no numbers")
    else:
        found["rating"] = _find_column(frame, _RATING_NAMES, numeric, taken) or ""
    taken.add(found["rating"])
    found["weight"] = (
        "" if found["rating"] else _find_column(frame, _WEIGHT_NAMES, numeric, taken) or ""
    )
    taken.add(found["weight"])
    found["time"] = _find_column(frame, _TIME_NAMES, _is_time, taken) or ""
    return found


def _feedback_lines(frame: pd.DataFrame, columns: dict[str, str]) -> str:
    """The rating or weight lines of [problem], with the observed rating range."""
    rating, weight = columns["rating"], columns["weight"]
    if rating:
        values = pd.to_numeric(frame[rating], errors="coerce").dropna()
        scale = f"# rating_scale = [{float(values.min()):g}, {float(values.max()):g}]"
        return "\n".join(
            (
                _setting("rating", rating, "explicit ratings"),
                f"{scale:<32}# observed; ratings outside are refused",
                '# relevance_threshold = 4.0     # a hit: rating >= this; default "auto": the',
                "#                               # top 30 % of the scale (4 and up on 1..5)",
            )
        )
    if weight:
        return _setting("weight", weight, "event strength, found by name")
    return (
        '# rating = "rating"            # explicit ratings; none found: every row is an event\n'
        '# weight = "clicks"            # implicit event strength'
    )


def _item_text_columns(items: Path, *, key: str, where: str) -> list[str]:
    """The text columns of the item table, which must hold the item column."""
    table = read_table(items)
    if key not in table.columns:
        raise SpecError(
            f"{items}: the item table has no column {key!r} (the item column of {where}); "
            f"its columns: {', '.join(map(str, table.columns))}"
        )
    numeric = pd.api.types.is_numeric_dtype
    return [str(c) for c in table.columns if c != key and not numeric(table[c])]
