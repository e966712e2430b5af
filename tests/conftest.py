"""Shared fixtures: where the real datasets are, a project folder maker, and
a PostgreSQL server."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from tests.postgres import PostgresCluster, running_cluster
from tests.ray_cluster import ray_cluster as ray_cluster

if TYPE_CHECKING:
    from cairn.eda import Profile

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"

# Bundles made by the tests are signed with this key, never with the user's
# own ~/.cairn/bundle.key; set before any fixture, and inherited by the
# servers and commands the tests start.
os.environ["CAIRN_BUNDLE_KEY"] = "cairn-test-suite-bundle-signing-key"


def dataset_path(name: str) -> Path:
    """Path of a shared dataset; skips the test when the folder is absent."""
    path = DATASETS / f"{name}.csv"
    if not path.exists():
        pytest.skip(f"dataset {name} not found in {DATASETS} (../shared/datasets)")
    return path


def load_dataset(name: str, *, rows: int | None = None, seed: int = 0) -> pd.DataFrame:
    frame = pd.read_csv(
        dataset_path(name),
        sep=None if name == "wine_quality_red" else ",",
        engine="python" if name == "wine_quality_red" else "c",
    )
    if rows is not None and len(frame) > rows:
        frame = frame.sample(n=rows, random_state=seed).reset_index(drop=True)
    return frame


@functools.cache
def profiled(
    name: str, target: str | None = None, *, rows: int | None = None, source: str = "data"
) -> Profile:
    """``cairn.eda.profile`` of a shared dataset (``rows`` drawn as
    :func:`load_dataset` draws them), made once per session: the tests only
    read it, and the wider tables take seconds to profile."""
    from cairn.eda import profile

    return profile(load_dataset(name, rows=rows), target=target, source=source)


def _toml_value(value: object) -> str:
    return json.dumps(value)


MakeProject = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Write a project folder with a data file and a cairn.toml; returns the spec path.

    Keyword sections (problem, split, train, data extras) are written as TOML tables.
    """

    def make(
        frame: pd.DataFrame | None = None,
        *,
        source: Path | None = None,
        name: str = "test-project",
        problem: dict[str, object],
        split: dict[str, object] | None = None,
        train: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        tracking: dict[str, object] | None = None,
        folder: Path | None = None,
    ) -> Path:
        root = folder or tmp_path / "project"
        root.mkdir(parents=True, exist_ok=True)
        if frame is not None:
            source = root / "data.csv"
            frame.to_csv(source, index=False)
        assert source is not None
        lines = ["[project]", f"name = {_toml_value(name)}", "", "[data]"]
        lines.append(f"sources = [{{ path = {_toml_value(str(source))} }}]")
        for key, value in (data or {}).items():
            lines.append(f"{key} = {_toml_value(value)}")
        for section, values in (
            ("problem", problem),
            ("split", split),
            ("train", train),
            ("tracking", tracking),
        ):
            if values:
                lines += ["", f"[{section}]"]
                lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        spec = root / "cairn.toml"
        spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return spec

    return make


# Short real runs shared by the report tests (evaluation report, model card,
# browser checks): dataset -> (rows kept, [problem] keys, [data] keys, families).
_REPORT_RUNS: dict[str, tuple[int | None, dict[str, object], dict[str, object], list[str]]] = {
    "telco_churn": (
        2500,
        {"target": "Churn"},
        {"id_columns": ["customerID"]},
        ["lightgbm", "linear"],
    ),
    "car_evaluation": (None, {"target": "decision"}, {}, ["lightgbm", "linear"]),
    "ames_house_prices": (
        None,
        {"target": "SalePrice", "objectives": ["mape < 0.05"]},
        {"id_columns": ["Id"]},
        ["lightgbm"],
    ),
}


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Run folder of a short ``cairn.run`` (12 s budget, no registry) on a
    shared dataset, made once per session:
    ``telco_churn`` (binary), ``car_evaluation`` (multiclass),
    ``ames_house_prices`` (regression, LightGBM only, with an objective it
    misses)."""
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            import cairn

            rows, problem, data, families = _REPORT_RUNS[name]
            root = tmp_path_factory.mktemp(f"run-{name}")
            load_dataset(name, rows=rows, seed=1).to_csv(root / "data.csv", index=False)
            lines = ["[project]", f'name = "{name.replace("_", "-")}"', "", "[data]"]
            lines.append('sources = [{ path = "data.csv" }]')
            lines += [f"{k} = {_toml_value(v)}" for k, v in data.items()]
            lines += ["", "[problem]"] + [f"{k} = {_toml_value(v)}" for k, v in problem.items()]
            lines += ["", "[train]", "time_budget = 12", f"include = {_toml_value(families)}"]
            (root / "cairn.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
            result = cairn.run(root / "cairn.toml", register=False)
            made[name] = result.bundle_path.parent
        return made[name]

    return get


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL server on a loopback port for the whole session (skips
    the test when the server binaries or psycopg are missing); each test
    takes its own database with ``postgres_cluster.new_database()``."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def _isolated_tracking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never write to a tracking store outside their temporary folders."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def wide_frame(name: str, target: str, *, columns: int, rows: int, seed: int = 0) -> pd.DataFrame:
    """A wide table made from a real dataset: its feature columns repeated,
    each copy with noise (numbers) or a tenth of its values reshuffled
    (categories), until there are ``columns`` features; the target is kept."""
    source = load_dataset(name, rows=rows, seed=seed)
    y = source.pop(target)
    rng = np.random.default_rng(seed)
    out: dict[str, pd.Series] = {}
    copy = 0
    while len(out) < columns:
        for column in source.columns:
            if len(out) == columns:
                break
            values = source[column]
            if pd.api.types.is_numeric_dtype(values):
                spread = float(values.std()) or 1.0
                values = values + rng.normal(0.0, 0.1 * spread, len(values))
            else:
                shuffled = values.sample(frac=1.0, random_state=copy).to_numpy()
                values = values.where(rng.random(len(values)) > 0.1, shuffled)
            out[f"{column}_{copy}"] = values
        copy += 1
    return pd.DataFrame(out).assign(**{target: y})


# Short real clustering runs shared by the clustering tests (report, card,
# serving, monitoring): dataset -> ([problem] keys, [data] keys).
_CLUSTERING_RUNS: dict[str, tuple[dict[str, object], dict[str, object]]] = {
    "mall_customers": ({"task": "clustering"}, {"id_columns": ["CustomerID"]}),
    "penguins": ({"task": "clustering", "ground_truth": "species"}, {}),
}


@pytest.fixture(scope="session")
def clustering_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Run folder of a short clustering ``cairn.run`` (10 s budget, no
    registry) on ``mall_customers`` (no ground truth) or ``penguins``
    (ground truth ``species``), made once per session."""
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            import cairn

            problem, data = _CLUSTERING_RUNS[name]
            root = tmp_path_factory.mktemp(f"clustering-{name}")
            lines = ["[project]", f'name = "{name.replace("_", "-")}"', "", "[data]"]
            lines.append(f"sources = [{{ path = {_toml_value(str(dataset_path(name)))} }}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in data.items()]
            lines += ["", "[problem]"] + [f"{k} = {_toml_value(v)}" for k, v in problem.items()]
            lines += ["", "[train]", "time_budget = 10"]
            (root / "cairn.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
            result = cairn.run(root / "cairn.toml", register=False)
            made[name] = result.bundle_path.parent
        return made[name]

    return get


@dataclass
class ClusteringBundle:
    """A clustering bundle made by :func:`clustering_bundle`: its folder, the
    search result, the rows it was found in, and each row's training label
    (the algorithm's own, numbered as the bundle numbers clusters)."""

    path: Path
    result: Any
    frame: pd.DataFrame
    training_labels: np.ndarray


# dataset -> (ground truth or id column left out, cluster count asked for)
_CLUSTERING_SETS = {"penguins": ("species", 3), "wheat_seeds": ("variety", 3)}


@pytest.fixture(scope="session")
def clustering_bundle(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., ClusteringBundle]:
    """``clustering_bundle(algorithm, dataset="penguins")`` → a signed bundle
    of ``search_clusters`` (one algorithm, k = 3; HDBSCAN finds its own)
    with its verified serving graph, made once per session."""
    made: dict[tuple[str, str], ClusteringBundle] = {}

    def get(algorithm: str, dataset: str = "penguins") -> ClusteringBundle:
        if (algorithm, dataset) not in made:
            from cairn.bundle import save_bundle
            from cairn.data.schema import infer_schema
            from cairn.export import export_serving
            from cairn.models.clustering import search_clusters

            left_out, k = _CLUSTERING_SETS[dataset]
            frame = load_dataset(dataset).drop(columns=[left_out])
            schema = infer_schema(frame, task="clustering")
            result = search_clusters(
                frame,
                schema=schema,
                algorithms=[algorithm],
                k_range=(2, 8) if algorithm == "hdbscan" else (k, k),
                time_budget=2,
                n_resamples=5,
                stability_rows=200,
            )
            exported = export_serving(result.pipeline, schema, frame)
            metadata = {
                "task": "clustering",
                "model": algorithm,
                "n_clusters": result.chosen.k,
                "serving": exported.summary(),
            }
            folder = tmp_path_factory.mktemp(f"clusters-{algorithm}-{dataset}") / "bundle"
            path = save_bundle(folder, result.pipeline, schema, metadata, files=exported.files)
            # the algorithm's own labels (every row was searched), renumbered
            # by size as the bundle numbers its clusters
            own = result.chosen.labels
            order = np.argsort(-np.bincount(own), kind="stable")
            renumber = np.empty(len(order), dtype=int)
            renumber[order] = np.arange(len(order))
            made[(algorithm, dataset)] = ClusteringBundle(path, result, frame, renumber[own])
        return made[(algorithm, dataset)]

    return get


def movielens(users: int | None = None, *, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """movielens_small's ratings (all, or every rating of ``users`` users
    drawn at random) and its movies table (movieId, title, genres)."""
    ratings = _movielens_ratings()
    if users is not None:
        ids = ratings["userId"].drop_duplicates().sample(n=users, random_state=seed)
        ratings = ratings[ratings["userId"].isin(ids)].reset_index(drop=True)
    return ratings.copy(), load_dataset("movielens_small_movies")


@functools.cache
def _movielens_ratings() -> pd.DataFrame:
    return load_dataset("movielens_small_ratings")


def write_movielens_project(
    root: Path,
    ratings: pd.DataFrame,
    movies: pd.DataFrame,
    *,
    budget: float,
    extra: str = "",
    settings: str = "",
) -> Path:
    """A recommendation project on ratings.csv with movies.csv as the item
    table; ``extra`` is appended to the [problem] section, ``settings`` to
    the [recommendation] one. Returns the spec."""
    root.mkdir(parents=True, exist_ok=True)
    ratings.to_csv(root / "ratings.csv", index=False)
    movies.to_csv(root / "movies.csv", index=False)
    spec = root / "cairn.toml"
    spec.write_text(
        '[project]\nname = "movielens"\n\n[data]\n'
        'sources = [{ path = "ratings.csv" }, { path = "movies.csv", name = "items" }]\n'
        'time_column = "timestamp"\n\n[problem]\ntask = "recommendation"\n'
        f'user = "userId"\nitem = "movieId"\nrating = "rating"\n{extra}\n'
        '[recommendation]\nitems = "items"\nitem_text = ["title", "genres"]\n'
        f"{settings}\n\n"
        f"[train]\ntime_budget = {budget}\n",
        encoding="utf-8",
    )
    return spec


@pytest.fixture(scope="session")
def recommendation_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``RunResult`` of a short recommendation ``cairn.run`` (20 s budget,
    popularity, item-kNN and EASE, no registry) on 200 movielens_small users
    with the movies table and five
    user-movie pairs rated twice (re-rated a day later), made once per session."""
    import cairn

    ratings, movies = movielens(users=200, seed=3)
    again = ratings.sample(n=5, random_state=3).assign(
        rating=lambda frame: (frame["rating"] % 5) + 0.5,
        timestamp=lambda frame: frame["timestamp"] + 86_400,
    )
    ratings = pd.concat([ratings, again], ignore_index=True)
    root = tmp_path_factory.mktemp("recommendation-movielens")
    spec = write_movielens_project(
        root,
        ratings,
        movies,
        budget=12,
        extra='objectives = ["ndcg@10 >= 0.01", "latency_p99_ms < 50"]',
    )
    return cairn.run(spec, register=False)
