"""Tests for cairn.spec: loading, validation messages, objectives, fingerprint."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.exceptions import SpecError
from cairn.spec import (
    Objective,
    ProjectSpec,
    load_spec,
    parse_spec,
)
from cairn.tasks import get_task, known_metrics

PROJECT = '[project]\nname = "demo"\n'
DATA = '[data]\nsources = [{ path = "data/train.csv" }]\n'
PROBLEM = '[problem]\ntarget = "y"\n'


def write(folder: Path, text: str, name: str = "cairn.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(folder: Path, text: str) -> ProjectSpec:
    return load_spec(write(folder, text))


def spec_error(folder: Path, text: str) -> str:
    path = write(folder, text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert str(path) in message, message
    return message


# ---------------------------------------------------------------------------
# Valid specs
# ---------------------------------------------------------------------------


def test_valid_spec_with_defaults(tmp_path: Path) -> None:
    spec = load_text(tmp_path, PROJECT + DATA + PROBLEM)

    assert spec.project.name == "demo"
    assert spec.problem.target == "y"
    assert spec.problem.task is None
    assert spec.problem.metric is None
    assert spec.root == tmp_path.resolve()
    assert spec.state_dir == tmp_path.resolve() / ".cairn"
    # Defaults for split and train.
    assert spec.split.test_size == 0.2
    assert spec.split.folds == 5
    assert spec.split.repeats is None  # automatic: more on small data
    assert spec.split.validation_size is None
    assert spec.split.stratify is True
    assert spec.split.group_column is None
    assert spec.split.time_ordered is False
    assert spec.train.time_budget == 300.0
    assert spec.train.include == []
    assert spec.train.exclude == []
    assert spec.train.seed == 42
    assert spec.data.combine == "append"


def test_sources_resolve_against_spec_folder(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    absolute = (tmp_path / "abs.csv").resolve()
    text = (
        PROJECT
        + '[data]\nsources = [{ path = "data/train.csv" }, '
        + f'{{ path = "{absolute.as_posix()}" }}]\n'
        + PROBLEM
    )
    spec = load_spec(write(folder, text))

    relative, given_absolute = (source.path for source in spec.data.sources)
    assert relative is not None and given_absolute is not None
    assert spec.resolve(relative) == folder.resolve() / "data" / "train.csv"
    assert spec.resolve(given_absolute) == absolute


def test_full_spec_values_are_kept(tmp_path: Path) -> None:
    text = (
        PROJECT
        + DATA
        + 'time_column = "when"\nid_columns = ["id"]\nroles = { zip = "categorical" }\n'
        + '[problem]\ntarget = "y"\ntask = "regression"\nmetric = "mae"\n'
        + 'objectives = ["mae < 10", "latency_p95_ms <= 50"]\n'
        + "[split]\ntest_size = 0.25\nfolds = 3\ntime_ordered = true\n"
        + '[train]\ntime_budget = 12.5\ninclude = ["linear", "lightgbm"]\nseed = 7\n'
    )
    spec = load_text(tmp_path, text)

    assert spec.problem.task == "regression"
    assert spec.problem.metric == "mae"
    assert spec.problem.parsed_objectives == [
        Objective(quantity="mae", op="<", threshold=10.0),
        Objective(quantity="latency_p95_ms", op="<=", threshold=50.0),
    ]
    assert spec.split.folds == 3
    assert spec.split.time_ordered is True
    assert spec.data.time_column == "when"
    assert spec.data.roles == {"zip": "categorical"}
    assert spec.train.time_budget == 12.5
    assert spec.train.include == ["linear", "lightgbm"]
    assert spec.train.seed == 7


def test_directory_path_reads_cairn_toml(tmp_path: Path) -> None:
    write(tmp_path, PROJECT + DATA + PROBLEM)
    spec = load_spec(tmp_path)
    assert spec.project.name == "demo"
    assert spec.root == tmp_path.resolve()


def test_sql_and_url_sources_are_accepted(tmp_path: Path) -> None:
    text = (
        PROJECT
        + "[data]\nsources = [\n"
        + '  { sql = "sqlite:///x.db", table = "t" },\n'
        + '  { sql = "sqlite:///x.db", query = "select 1" },\n'
        + '  { url = "https://example.com/a.csv" },\n]\n'
        + PROBLEM
    )
    spec = load_text(tmp_path, text)
    assert [source.label for source in spec.data.sources] == [
        "sqlite:///x.db (t)",
        "sqlite:///x.db (query)",
        "https://example.com/a.csv",
    ]


# ---------------------------------------------------------------------------
# Errors: each names the file and the key
# ---------------------------------------------------------------------------


def test_unknown_top_level_key(tmp_path: Path) -> None:
    message = spec_error(tmp_path, PROJECT + DATA + PROBLEM + "[trian]\nseed = 1\n")
    assert "unknown key 'trian'" in message


def test_unknown_nested_key(tmp_path: Path) -> None:
    message = spec_error(tmp_path, PROJECT + DATA + PROBLEM + "[train]\ntime_budgt = 5\n")
    assert "'train.time_budgt'" in message
    assert "unknown key" in message


def test_unknown_key_in_a_source(tmp_path: Path) -> None:
    text = PROJECT + '[data]\nsources = [{ path = "a.csv", sepparator = ";" }]\n' + PROBLEM
    message = spec_error(tmp_path, text)
    assert "'data.sources.0.sepparator'" in message


def test_missing_required_key(tmp_path: Path) -> None:
    message = spec_error(tmp_path, PROJECT + DATA + '[problem]\ntask = "regression"\n')
    assert "'problem.target'" in message
    assert "missing" in message


def test_missing_section(tmp_path: Path) -> None:
    message = spec_error(tmp_path, PROJECT + PROBLEM)
    assert "'data'" in message
    assert "missing" in message


def test_wrong_task_lists_allowed_values(tmp_path: Path) -> None:
    text = PROJECT + DATA + '[problem]\ntarget = "y"\ntask = "classify"\n'
    message = spec_error(tmp_path, text)
    assert "'problem.task'" in message
    assert "classification" in message
    assert "regression" in message


def test_unknown_metric_lists_allowed(tmp_path: Path) -> None:
    text = PROJECT + DATA + '[problem]\ntarget = "y"\nmetric = "auc"\n'
    message = spec_error(tmp_path, text)
    assert "'problem.metric'" in message
    assert "'auc'" in message
    for metric in known_metrics():
        assert metric in message


@pytest.mark.parametrize(
    ("task", "metric", "allowed"),
    [
        ("regression", "roc_auc", get_task("regression").metrics),
        ("classification", "rmse", get_task("classification").metrics),
    ],
)
def test_metric_must_fit_task(tmp_path: Path, task: str, metric: str, allowed) -> None:
    text = PROJECT + DATA + f'[problem]\ntarget = "y"\ntask = "{task}"\nmetric = "{metric}"\n'
    message = spec_error(tmp_path, text)
    assert "'problem'" in message
    assert f"not a {task} metric" in message
    assert ", ".join(allowed) in message


def test_metric_of_either_task_accepted_without_task(tmp_path: Path) -> None:
    spec = load_text(tmp_path, PROJECT + DATA + '[problem]\ntarget = "y"\nmetric = "rmse"\n')
    assert spec.problem.metric == "rmse"


def test_bad_objective_syntax(tmp_path: Path) -> None:
    text = PROJECT + DATA + '[problem]\ntarget = "y"\nobjectives = ["rmse is small"]\n'
    message = spec_error(tmp_path, text)
    assert "'problem.objectives'" in message
    assert "QUANTITY OP NUMBER" in message


def test_unknown_objective_quantity(tmp_path: Path) -> None:
    text = PROJECT + DATA + '[problem]\ntarget = "y"\nobjectives = ["speed > 3"]\n'
    message = spec_error(tmp_path, text)
    assert "'problem.objectives'" in message
    assert "unknown quantity 'speed'" in message
    assert "latency_p95_ms" in message


def test_source_with_path_and_url(tmp_path: Path) -> None:
    text = (
        PROJECT
        + '[data]\nsources = [{ path = "a.csv", url = "https://example.com/a.csv" }]\n'
        + PROBLEM
    )
    message = spec_error(tmp_path, text)
    assert "'data.sources.0'" in message
    assert "exactly one of 'path', 'url' or 'sql'" in message
    assert "path, url" in message


def test_source_with_no_location(tmp_path: Path) -> None:
    message = spec_error(tmp_path, PROJECT + '[data]\nsources = [{ name = "x" }]\n' + PROBLEM)
    assert "'data.sources.0'" in message
    assert "got none" in message


def test_empty_sources(tmp_path: Path) -> None:
    message = spec_error(tmp_path, PROJECT + "[data]\nsources = []\n" + PROBLEM)
    assert "'data.sources'" in message


@pytest.mark.parametrize(
    "source",
    [
        '{ sql = "sqlite:///x.db" }',
        '{ sql = "sqlite:///x.db", table = "t", query = "select 1" }',
    ],
)
def test_sql_needs_exactly_one_of_table_or_query(tmp_path: Path, source: str) -> None:
    message = spec_error(tmp_path, PROJECT + f"[data]\nsources = [{source}]\n" + PROBLEM)
    assert "'data.sources.0'" in message
    assert "'table' or 'query'" in message


def test_url_must_be_http(tmp_path: Path) -> None:
    text = PROJECT + '[data]\nsources = [{ url = "ftp://example.com/a.csv" }]\n' + PROBLEM
    message = spec_error(tmp_path, text)
    assert "'data.sources.0'" in message
    assert "http://" in message


def test_join_needs_join_on(tmp_path: Path) -> None:
    text = PROJECT + DATA + 'combine = "join"\n' + PROBLEM
    message = spec_error(tmp_path, text)
    assert "'data'" in message
    assert "join_on" in message


def test_time_ordered_needs_time_column(tmp_path: Path) -> None:
    message = spec_error(tmp_path, PROJECT + DATA + PROBLEM + "[split]\ntime_ordered = true\n")
    assert "split.time_ordered" in message
    assert "data.time_column" in message


def test_include_and_exclude_overlap(tmp_path: Path) -> None:
    text = PROJECT + DATA + PROBLEM + '[train]\ninclude = ["linear", "knn"]\nexclude = ["knn"]\n'
    message = spec_error(tmp_path, text)
    assert "'train'" in message
    assert "knn" in message
    assert "linear" not in message.split("excluded:")[-1]


def test_unknown_model_name(tmp_path: Path) -> None:
    text = PROJECT + DATA + PROBLEM + '[train]\ninclude = ["xgboost"]\n'
    message = spec_error(tmp_path, text)
    assert "'train.include.0'" in message
    assert "lightgbm" in message


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("[split]\ntest_size = 1.5\n", "split.test_size"),
        ("[split]\nfolds = 1\n", "split.folds"),
        ("[split]\nrepeats = 0\n", "split.repeats"),
        ("[train]\ntime_budget = 0\n", "train.time_budget"),
        ('[train]\ntime_budget = "fast"\n', "train.time_budget"),
    ],
)
def test_out_of_range_values(tmp_path: Path, section: str, key: str) -> None:
    message = spec_error(tmp_path, PROJECT + DATA + PROBLEM + section)
    assert f"invalid value for '{key}'" in message


def test_bad_project_name(tmp_path: Path) -> None:
    message = spec_error(tmp_path, '[project]\nname = "my project!"\n' + DATA + PROBLEM)
    assert "'project.name'" in message


def test_invalid_toml(tmp_path: Path) -> None:
    message = spec_error(tmp_path, PROJECT + "[data\nsources = \n")
    assert "not valid TOML" in message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "cairn.toml"
    path.write_bytes(b'[project]\nname = "caf\xe9"\n')
    with pytest.raises(SpecError, match="UTF-8") as caught:
        load_spec(path)
    assert str(path) in str(caught.value)


def test_missing_file_suggests_init(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert str(path) in message
    assert "cairn init" in message


def test_directory_without_spec(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "cairn.toml") in message
    assert "cairn init" in message


def test_spec_error_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        load_spec(tmp_path / "missing.toml")


# ---------------------------------------------------------------------------
# Objectives
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op", "cases"),
    [
        ("rmse < 25000", "<", {24999.0: True, 25000.0: False, 25001.0: False}),
        ("rmse <= 25000", "<=", {24999.0: True, 25000.0: True, 25001.0: False}),
        ("roc_auc > 0.8", ">", {0.81: True, 0.8: False, 0.79: False}),
        ("roc_auc >= 0.8", ">=", {0.81: True, 0.8: True, 0.79: False}),
    ],
)
def test_objective_operators(text: str, op: str, cases: dict[float, bool]) -> None:
    objective = Objective.parse(text)
    assert objective.op == op
    for value, expected in cases.items():
        assert objective.met_by(value) is expected, (text, value)


def test_objective_parse_fields_and_str() -> None:
    objective = Objective.parse("  latency_p99_ms<=1.5e2 ")
    assert objective == Objective(quantity="latency_p99_ms", op="<=", threshold=150.0)
    assert str(objective) == "latency_p99_ms <= 150"
    assert Objective.parse("r2 > -0.5").threshold == -0.5


@pytest.mark.parametrize(
    "text", ["rmse = 3", "rmse", "< 3", "rmse < abc", "rmse << 3", "rmse < 1.2.3", "rmse < e"]
)
def test_objective_bad_syntax(text: str) -> None:
    with pytest.raises(ValueError, match="QUANTITY OP NUMBER"):
        Objective.parse(text)


def test_objective_unknown_quantity() -> None:
    with pytest.raises(ValueError, match="unknown quantity 'speed'"):
        Objective.parse("speed < 3")


# ---------------------------------------------------------------------------
# Fingerprint
# ---------------------------------------------------------------------------


def test_fingerprint_stable_and_sensitive(tmp_path: Path) -> None:
    text = PROJECT + DATA + PROBLEM + "[train]\nseed = 1\n"
    first = load_spec(write(tmp_path, text, "a.toml")).fingerprint()
    second = load_spec(write(tmp_path, text, "a.toml")).fingerprint()
    assert first == second
    assert len(first) == 64

    # The same content in another folder has the same fingerprint (root is excluded).
    other = tmp_path / "other"
    other.mkdir()
    assert load_spec(write(other, text, "a.toml")).fingerprint() == first

    changed = load_spec(write(tmp_path, text.replace("seed = 1", "seed = 2"), "b.toml"))
    assert changed.fingerprint() != first
    retargeted = load_spec(write(tmp_path, text.replace('"y"', '"z"'), "c.toml"))
    assert retargeted.fingerprint() != first


# ---------------------------------------------------------------------------
# Objectives and metric must belong to the task
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "objective", "allowed"),
    [
        ("classification", "rmse < 3", get_task("classification").metrics),
        ("regression", "roc_auc > 0.8", get_task("regression").metrics),
    ],
)
def test_objective_of_other_task_rejected(
    tmp_path: Path, task: str, objective: str, allowed: tuple[str, ...]
) -> None:
    text = (
        PROJECT + DATA + f'[problem]\ntarget = "y"\ntask = "{task}"\nobjectives = ["{objective}"]\n'
    )
    message = spec_error(tmp_path, text)
    assert "\n" not in message
    assert f"a {task} model is not measured on" in message
    assert ", ".join(allowed) in message
    assert "latency_p99_ms" in message


def test_objectives_of_two_tasks_rejected_without_task(tmp_path: Path) -> None:
    text = PROJECT + DATA + '[problem]\ntarget = "y"\nobjectives = ["rmse < 3", "f1 > 0.5"]\n'
    message = spec_error(tmp_path, text)
    assert "mix quantities of different tasks (rmse, f1)" in message


def test_metric_and_objective_of_two_tasks_rejected(tmp_path: Path) -> None:
    text = (
        PROJECT + DATA + '[problem]\ntarget = "y"\nmetric = "roc_auc"\nobjectives = ["mae < 3"]\n'
    )
    assert "roc_auc, mae" in spec_error(tmp_path, text)


def test_check_task_after_inference(tmp_path: Path) -> None:
    text = PROJECT + DATA + '[problem]\ntarget = "y"\nobjectives = ["rmse < 3"]\n'
    spec = load_text(tmp_path, text)
    spec.check_task("regression")
    with pytest.raises(SpecError, match="inferred as classification") as caught:
        spec.check_task("classification")
    assert "cairn.toml" in str(caught.value)
    assert "'rmse < 3'" in str(caught.value)
    metric_only = load_text(tmp_path, PROJECT + DATA + '[problem]\ntarget = "y"\nmetric = "mae"\n')
    with pytest.raises(SpecError, match="'mae' is not a classification metric"):
        metric_only.check_task("classification")


def _recommendation_spec(problem: dict[str, object], **sections: object) -> dict[str, object]:
    return {
        "project": {"name": "films"},
        "data": {"sources": [{"path": "ratings.csv"}, {"path": "movies.csv", "name": "movies"}]},
        "problem": {"task": "recommendation", "user": "userId", "item": "movieId", **problem},
        **sections,
    }


def test_recommendation_spec_with_metrics_at_any_k() -> None:
    spec = parse_spec(
        _recommendation_spec(
            {"rating": "rating", "metric": "recall@20", "objectives": ["ndcg@10 >= 0.3"]},
            recommendation={"items": "movies", "k": 20},
        )
    )
    assert spec.problem.metric == "recall@20" and spec.recommendation.items == "movies"
    assert spec.problem.parsed_objectives[0].quantity == "ndcg@10"


@pytest.mark.parametrize(
    ("problem", "sections", "message"),
    [
        ({"item": None}, {}, "needs problem.item"),
        ({"rating": "rating", "weight": "plays"}, {}, "not both"),
        ({"rating": "userId"}, {}, "different columns"),
        ({"relevance_threshold": 4}, {}, "explicit ratings"),
        ({"rating": "r", "rating_scale": [5, 1]}, {}, "lowest < highest"),
        ({"metric": "ndcg@500"}, {}, "unknown metric"),
        ({"metric": "rmse"}, {}, "not a recommendation metric"),
        ({}, {"recommendation": {"items": "films"}}, "names no"),
        ({}, {"recommendation": {"split": "time_global"}}, "needs data.time_column"),
    ],
)
def test_recommendation_spec_errors(
    problem: dict[str, object], sections: dict[str, object], message: str
) -> None:
    data = _recommendation_spec({}, **sections)
    merged = {**data["problem"], **problem}  # type: ignore[dict-item]
    data["problem"] = {k: v for k, v in merged.items() if v is not None}
    with pytest.raises(SpecError, match=message):
        parse_spec(data)


def test_recommendation_fields_refused_for_other_tasks() -> None:
    data = {
        "project": {"name": "p"},
        "data": {"sources": [{"path": "d.csv"}]},
        "problem": {"target": "y", "user": "u"},
    }
    with pytest.raises(SpecError, match=r"problem.user: only a recommendation"):
        parse_spec(data)


def test_tests_section_defaults_and_declared_tests() -> None:
    base = {
        "project": {"name": "p"},
        "data": {"sources": [{"path": "d.csv"}]},
        "problem": {"target": "y"},
    }
    spec = parse_spec(base)
    assert spec.tests.gate is False and spec.tests.max_flip_share == 0.1
    spec = parse_spec(
        {
            **base,
            "tests": {
                "gate": True,
                "invariance": [{"column": "customer_id"}],
                "direction": [{"column": "area", "direction": "increasing", "tolerance": 0.1}],
                "sensitive": ["sex"],
            },
        }
    )
    assert spec.tests.invariance[0].tolerance == 0.0
    assert spec.tests.direction[0].direction == "increasing"
    with pytest.raises(SpecError, match=r"tests\.direction\.0\.direction"):
        parse_spec({**base, "tests": {"direction": [{"column": "a", "direction": "up"}]}})
    with pytest.raises(SpecError, match=r"unknown key 'tests\.invariance\.0\.tolerence'"):
        parse_spec({**base, "tests": {"invariance": [{"column": "a", "tolerence": 1}]}})
