"""Recommendation from the spec on movielens_small: cairn init, cairn run and
cairn report from the CLI and the Python API, the bundle's Model, the
report's figures, and bad input stopped with one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import cairn
from cairn.bundle import SchemaWarning
from cairn.cli import app
from cairn.exceptions import CairnError
from tests.conftest import dataset_path, movielens, write_movielens_project

CLI = [sys.executable, "-m", "cairn"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _in_process(*args: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """A quick command run in this process: its exit code and output."""
    monkeypatch.chdir(cwd)
    done = CliRunner().invoke(app, list(args))
    return done.exit_code, done.output


def test_init_run_and_report_from_the_cli_with_the_movies_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ratings, movies = movielens(users=120, seed=5)
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    movies.to_csv(tmp_path / "movies.csv", index=False)
    code, output = _in_process(
        "init",
        "ratings.csv",
        "--task",
        "recommendation",
        "--items",
        "movies.csv",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
    )
    assert code == 0, output
    spec = (tmp_path / "cairn.toml").read_text()
    for line in (
        'task = "recommendation"',
        'user = "userId"',
        'item = "movieId"',
        'rating = "rating"',
        'time_column = "timestamp"',
        'items = "items"',
        'item_text = ["title", "genres"]',
        '{ path = "movies.csv", name = "items" }',
    ):
        assert line in spec, line
    done = _cli("run", "--time-budget", "6", "--no-register", cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output
    assert "chosen because" in output and "margin over popularity" in output
    run_dir = next((tmp_path / ".cairn" / "runs").iterdir())
    for name in (
        "leaderboard.csv",
        "evaluation.json",
        "quality.json",
        "recommendation.json",
        "evaluation.html",
        "model_card.md",
        "model_card.html",
        "timings.json",
        "bundle/items.parquet",
    ):
        assert (run_dir / name).is_file(), name
    metadata = json.loads((run_dir / "bundle" / "metadata.json").read_text())
    assert metadata["task"] == "recommendation" and metadata["recommendation"]["items_table"]
    (run_dir / "evaluation.html").unlink()
    code, output = _in_process("report", "latest", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 0, output
    assert "Recommendation: " in (run_dir / "evaluation.html").read_text()


def test_the_run_measures_the_test_users_with_intervals(recommendation_run: Any) -> None:
    result = recommendation_run
    evaluation = result.evaluation
    metrics = evaluation.metrics
    assert evaluation.task == "recommendation" and evaluation.metric == "ndcg@10"
    for name in ("ndcg", "precision", "recall", "map", "hit_rate", "mrr", "coverage"):
        assert f"{name}@10" in metrics
    assert 0 < metrics["users"] <= 200
    intervals = result.model.metadata["metric_intervals"]
    low, high = intervals["ndcg@10"]
    assert low <= metrics["ndcg@10"] <= high and low < high
    # The margin over the baseline every result must beat, on the same users.
    baseline = result.model.metadata["recommendation"]["baseline"]
    assert baseline["model"] == "popularity"
    assert baseline["low"] <= baseline["margin"] <= baseline["high"]
    assert np.isclose(baseline["value"] + baseline["margin"], metrics["ndcg@10"])
    board = result.leaderboard
    assert board.iloc[0]["chosen"] and board["chosen"].sum() == 1
    popular = board.loc[board["model"] == "popularity", "ndcg@10"].max()
    assert board.iloc[0]["ndcg@10"] >= popular
    verdict = {o.quantity: o for o in evaluation.objectives}
    assert verdict["latency_p99_ms"].value == evaluation.latency_ms["latency_p99_ms"]
    assert verdict["ndcg@10"].met is True
    # The duplicated pairs the fixture added were aggregated, and said so.
    assert any("duplicate" in f.check for f in result.quality.findings)


def test_the_report_draws_curves_segments_and_examples_with_titles(
    recommendation_run: Any,
) -> None:
    results = json.loads(result_file(recommendation_run).read_text())
    assert len(results["curves"]["ndcg"]) == 50
    # Precision falls and recall rises with the list length.
    recall = results["curves"]["recall"]
    assert recall[-1] >= recall[0]
    assert [s["segment"] for s in results["segments"]] == ["cold", "light", "heavy"]
    assert sum(s["users"] for s in results["segments"]) == results["metrics"]["users"]
    assert len(results["examples"]) == 5
    titled = [item for e in results["examples"] for item in e["recommended"] if item["title"]]
    assert titled, "no title joined from the movies table"
    assert {"coverage@10", "popularity_bias@10"} <= set(results["leaderboard"][0])
    page = recommendation_run.reports["evaluation_report"].read_text()
    for heading in (
        "Metrics by list length",
        "Accuracy, coverage and popularity bias",
        "Results by user activity",
        "Example users",
    ):
        assert heading in page
    card = recommendation_run.reports["model_card"].read_text()
    assert "## Results by user activity" in card and "## Limitations" in card


def result_file(result: Any) -> Path:
    return Path(result.reports["recommendation"])


def test_the_bundle_recommends_with_titles_and_falls_back_for_an_unknown_user(
    recommendation_run: Any,
) -> None:
    model = cairn.load_model(recommendation_run.bundle_path)
    user = int(recommendation_run.model.pipeline.user_ids[0])
    top = model.recommend(user, k=10)
    assert list(top.columns) == ["item", "score", "title"] and len(top) == 10
    assert top["score"].is_monotonic_decreasing and top.attrs["fallback"] is None
    assert top["title"].notna().all()
    seen = set(model.pipeline.seen(user))
    assert not seen & set(top["item"])
    with_seen = model.recommend(user, k=10, exclude_seen=False)
    assert len(with_seen) == 10
    with pytest.warns(SchemaWarning, match="unknown to the model"):
        cold = model.recommend(10**9, k=5)
    assert cold.attrs["fallback"] and len(cold) == 5
    similar = model.similar_items(int(top["item"].iloc[0]), k=5)
    assert len(similar) == 5 and "title" in similar
    with pytest.raises(CairnError, match="unknown to the model"):
        model.similar_items(-12345)
    with pytest.raises(CairnError, match="recommend"):
        model.predict(pd.DataFrame({"userId": [user], "movieId": [1]}))


# ------------------------------------------------------------------ bad input


def _project(tmp_path: Path, ratings: pd.DataFrame, extra: str = "") -> Path:
    _, movies = movielens(users=1)
    return write_movielens_project(tmp_path / "p", ratings, movies, budget=5, extra=extra)


def _one_line_error(spec: Path) -> str:
    done = _cli("run", str(spec), "--no-register", cwd=spec.parent)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode != 0
    assert "Traceback" not in output
    return output


def test_a_spec_naming_a_missing_user_column_says_which_and_lists_close_names(
    tmp_path: Path,
) -> None:
    ratings, _ = movielens(users=20)
    spec = _project(tmp_path, ratings.rename(columns={"userId": "user_id"}))
    output = _one_line_error(spec)
    assert "problem.user 'userId' not found" in output and "user_id" in output


def test_ratings_outside_the_declared_scale_are_refused(tmp_path: Path) -> None:
    ratings, _ = movielens(users=20)
    ratings.loc[3, "rating"] = 7.0
    spec = _project(tmp_path, ratings, extra="rating_scale = [0.5, 5]")
    with pytest.raises(CairnError, match="rating"):
        cairn.run(spec, register=False)


def test_a_single_user_is_refused(tmp_path: Path) -> None:
    ratings, _ = movielens(users=1)
    spec = _project(tmp_path, ratings)
    with pytest.raises(CairnError, match="user"):
        cairn.run(spec, register=False)


def test_test_users_that_never_appear_in_training_stop_the_run(tmp_path: Path) -> None:
    # Two groups of users: the first rated before the second started, so a
    # global time cut puts every test interaction on users unseen in training.
    ratings, _ = movielens(users=40, seed=2)
    users = ratings["userId"].drop_duplicates().to_numpy()
    late = ratings["userId"].isin(users[len(users) // 2 :])
    ratings.loc[late, "timestamp"] += int(ratings["timestamp"].max() - ratings["timestamp"].min())
    ratings.loc[late, "timestamp"] += 10**6
    spec = _project(tmp_path, ratings)
    text = spec.read_text().replace(
        "[recommendation]\n", '[recommendation]\nsplit = "time_global"\n'
    )
    spec.write_text(text)
    with pytest.raises(CairnError, match="training"):
        cairn.run(spec, register=False)


def test_init_names_the_close_columns_when_the_user_option_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = _in_process(
        "init",
        str(dataset_path("movielens_small_ratings")),
        "--task",
        "recommendation",
        "--user",
        "userid",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
    )
    assert code != 0 and "Traceback" not in output
    assert "'userid' not found" in output and "userId" in output


def test_init_finds_implicit_events_without_a_rating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ratings, _ = movielens(users=30)
    events = ratings.rename(columns={"userId": "customer_id", "movieId": "product_id"})
    events = events.drop(columns=["rating"]).assign(clicks=np.arange(len(events)) % 4 + 1)
    events.to_csv(tmp_path / "events.csv", index=False)
    code, output = _in_process(
        "init", "events.csv", "--task", "recommendation", cwd=tmp_path, monkeypatch=monkeypatch
    )
    assert code == 0, output
    spec = (tmp_path / "cairn.toml").read_text()
    assert 'user = "customer_id"' in spec and 'item = "product_id"' in spec
    assert 'weight = "clicks"' in spec and "\nrating =" not in spec


def test_warnings_are_not_raised_for_a_known_user(recommendation_run: Any) -> None:
    model = recommendation_run.model
    user = model.pipeline.user_ids[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(model.recommend(user)) == model.metadata["recommendation"]["k"]


def test_an_item_table_without_the_item_column_is_named(tmp_path: Path) -> None:
    ratings, movies = movielens(users=20)
    spec = write_movielens_project(
        tmp_path / "p", ratings, movies.rename(columns={"movieId": "movie_id"}), budget=5
    )
    with pytest.raises(CairnError, match="'movieId' not found in the item table 'items'") as err:
        cairn.run(spec, register=False)
    assert "movie_id" in str(err.value)


def test_cairn_predict_writes_each_users_list(
    recommendation_run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = [int(u) for u in recommendation_run.model.pipeline.user_ids[:2]]
    users = tmp_path / "users.csv"
    pd.DataFrame({"userId": [*known, known[0], 10**9]}).to_csv(users, index=False)
    out = tmp_path / "lists.csv"
    bundle = str(recommendation_run.bundle_path)
    code, output = _in_process(
        "predict",
        bundle,
        str(users),
        "-o",
        str(out),
        "--k",
        "4",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
    )
    assert code == 0, output
    assert "1 of 3 users unknown to the model got the popularity fallback" in output
    lists = pd.read_csv(out)
    assert list(lists.columns) == ["userId", "rank", "item", "score", "title", "fallback"]
    assert len(lists) == 12 and lists["rank"].tolist()[:4] == [1, 2, 3, 4]
    assert set(lists.loc[lists.userId == 10**9, "fallback"]) == {"popularity"}
    assert lists.loc[lists.userId == known[0], "fallback"].isna().all()
    first = recommendation_run.model.recommend(known[0], 4)
    assert lists.loc[lists.userId == known[0], "item"].tolist() == first["item"].tolist()
    items = tmp_path / "items.csv"
    pd.DataFrame({"movieId": [1]}).to_csv(items, index=False)
    code, output = _in_process(
        "predict", bundle, str(items), "-o", str(out), cwd=tmp_path, monkeypatch=monkeypatch
    )
    assert code == 1 and "user column 'userId' not found" in output
    assert "Traceback" not in output


def test_events_without_an_item_table_search_without_the_content_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ratings, _ = movielens(users=40, seed=5)
    odd = np.array(["Zoë ", "李雷", "o'brien", "a,b", '"q"', "  "])
    events = pd.DataFrame(
        {
            "customer": [f"{odd[u % len(odd)]}{u}" for u in ratings["userId"]],
            "sku": "SKU-" + ratings["movieId"].astype(str),
            "plays": (ratings["rating"] * 2).astype(int),
            "timestamp": ratings["timestamp"],
        }
    )
    events.to_csv(tmp_path / "events.csv", index=False)
    code, output = _in_process(
        "init", "events.csv", "--task", "recommendation", cwd=tmp_path, monkeypatch=monkeypatch
    )
    assert code == 0, output
    spec = (tmp_path / "cairn.toml").read_text()
    (tmp_path / "cairn.toml").write_text(re.sub(r"time_budget = \d+", "time_budget = 6", spec))
    result = cairn.run(tmp_path / "cairn.toml", register=False)
    assert "content" not in set(result.leaderboard["model"])
    model = cairn.load_model(result.bundle_path)
    user = next(u for u in model.pipeline.user_ids if str(u).startswith("李雷"))
    assert model.recommend(f" {user} ", k=3).attrs["fallback"] is None
