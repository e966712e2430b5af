"""A recommendation bundle served: /recommend and /similar-items answer lists
with scores and titles, unknown users get the fallback with a warning, bad
requests get 422 naming what is wrong, /predict points at /recommend, every
answer is logged, A/B keeps a user on one arm, and the load test draws the
model's users."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from cairn.exceptions import ServingError
from cairn.serving.app import ServingConfig, create_app
from cairn.serving.loadtest import body_format_for, load_test, recommendation_payloads
from cairn.serving.log import read_log
from cairn.serving.server import run_in_thread
from tests.serving import movielens_bundle as ml

CAIRN = [sys.executable, "-m", "cairn"]


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return ml.ratings(users="odd", limit=150)


@pytest.fixture(scope="module")
def bundle(ratings: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ml.save(tmp_path_factory.mktemp("rec") / "bundle", ratings)


@pytest.fixture(scope="module")
def served(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    log = tmp_path_factory.mktemp("reclog") / "predictions.db"
    with run_in_thread(create_app(bundle, config=ServingConfig(log_path=log))) as running:
        running.log = log
        yield running


def _client(served: Any) -> httpx.Client:
    return httpx.Client(base_url=served.url, timeout=30)


def test_recommend_answers_unseen_items_with_scores_and_titles(
    served: Any, ratings: pd.DataFrame
) -> None:
    user = int(ratings[ml.USER].iloc[0])
    seen = set(ratings.loc[ratings[ml.USER] == user, ml.ITEM])
    titles = dict(zip(ml.movies()[ml.ITEM], ml.movies()["title"], strict=True))
    with _client(served) as client:
        answer = client.post("/recommend", json={"user": user, "k": 7}).json()
        with_seen = client.post(
            "/recommend", json={"user": str(user), "k": 7, "exclude_seen": False}
        ).json()
    assert answer["user"] == user and answer["warnings"] == [] and answer["fallback"] is None
    items = [entry["item"] for entry in answer["items"]]
    assert len(items) == 7 and not set(items) & seen
    scores = [entry["score"] for entry in answer["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all(entry["title"] == titles[entry["item"]] for entry in answer["items"])
    assert answer["model"]["arm"] == "champion" and answer["request_id"]
    # the same user given as text; seen items may come back when asked
    assert set(entry["item"] for entry in with_seen["items"]) & seen


def test_an_unknown_user_gets_the_fallback_and_a_warning(
    served: Any, ratings: pd.DataFrame
) -> None:
    counts = ratings[ml.ITEM].value_counts()
    with _client(served) as client:
        answer = client.post("/recommend", json={"user": 10**9, "k": 5}).json()
    assert answer["fallback"] == "popularity"
    # the most rated items, most rated first (ties in either order)
    served_counts = [int(counts[entry["item"]]) for entry in answer["items"]]
    assert served_counts == counts.iloc[:5].tolist()
    (warning,) = answer["warnings"]
    assert warning["column"] == "user" and "1000000000 is unknown" in warning["message"]
    assert "popularity fallback" in warning["message"]


def test_exclude_leaves_items_out(served: Any, ratings: pd.DataFrame) -> None:
    user = int(ratings[ml.USER].iloc[0])
    with _client(served) as client:
        first = client.post("/recommend", json={"user": user, "k": 5}).json()
        dropped = [entry["item"] for entry in first["items"][:2]]
        second = client.post("/recommend", json={"user": user, "k": 5, "exclude": dropped}).json()
    assert not set(dropped) & {entry["item"] for entry in second["items"]}
    assert [e["item"] for e in second["items"]][:3] == [e["item"] for e in first["items"]][2:]


def test_similar_items_are_neighbours_with_titles(served: Any) -> None:
    with _client(served) as client:
        answer = client.post("/similar-items", json={"item": 318, "k": 5}).json()
    assert answer["item"] == 318 and answer["title"] == "Shawshank Redemption, The (1994)"
    items = [entry["item"] for entry in answer["items"]]
    assert len(items) == 5 and 318 not in items
    assert all(entry["title"] for entry in answer["items"])


@pytest.mark.parametrize(
    ("route", "body", "key", "words"),
    [
        ("/recommend", {"user": 1, "k": 0}, "k", "out of range"),
        ("/recommend", {"user": 1, "k": 5000}, "k", "out of range"),
        ("/recommend", {"user": 1, "k": "ten"}, "k", "whole number"),
        ("/recommend", {"k": 3}, "user", "missing"),
        ("/recommend", {"user": True}, "user", "must be an id"),
        ("/recommend", {"user": 1, "exclude_seen": "yes"}, "exclude_seen", "true or false"),
        ("/recommend", {"user": 1, "exclude": [318, 99999999, "x"]}, "exclude", "99999999, 'x'"),
        ("/similar-items", {"item": 99999999}, "item", "unknown item id(s) 99999999"),
        ("/similar-items", {"k": 3}, "item", "missing"),
    ],
)
def test_bad_requests_get_422_naming_the_key(
    served: Any, route: str, body: dict[str, Any], key: str, words: str
) -> None:
    with _client(served) as client:
        answer = client.post(route, json=body)
    assert answer.status_code == 422
    problems = answer.json()["detail"]
    assert any(p["loc"] == ["body", key] and words in p["msg"] for p in problems), problems


def test_predict_points_at_recommend_and_metadata_says_recommendation(served: Any) -> None:
    with _client(served) as client:
        predict = client.post("/predict", json={"records": [{"userId": 1}]})
        invocations = client.post("/invocations", json={"dataframe_records": [{"userId": 1}]})
        metadata = client.get("/metadata").json()
        document = client.get("/openapi.json").json()
    assert predict.status_code == 400 and "POST /recommend" in predict.json()["detail"]
    assert invocations.status_code == 400 and "/recommend" in invocations.json()["message"]
    assert metadata["task"] == "recommendation" and metadata["engine"]["name"] == "numpy"
    settings = metadata["recommendation"]
    assert settings["user"] == ml.USER and settings["item"] == ml.ITEM and settings["titles"]
    assert settings["n_users"] == 150 and len(settings["example_users"]) > 0
    assert {"/recommend", "/similar-items"} <= set(document["paths"])
    assert "/predict" not in document["paths"]
    answer = document["paths"]["/recommend"]["post"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    assert {"user", "items", "warnings", "model", "request_id"} <= set(answer["required"])
    assert "title" in answer["properties"]["items"]["items"]["properties"]


def test_every_answer_is_logged_with_user_items_scores_and_arm(
    bundle: Path, tmp_path: Path
) -> None:
    log = tmp_path / "predictions.db"
    app = create_app(bundle, config=ServingConfig(log_path=log))
    with run_in_thread(app) as running, httpx.Client(base_url=running.url, timeout=30) as client:
        answer = client.post("/recommend", json={"user": 1, "k": 4}).json()
        client.post("/recommend", json={"user": 10**9, "k": 3})
        client.post("/similar-items", json={"item": 318, "k": 2})
        client.post("/recommend", json={"user": 1, "k": 0})  # rejected, not logged
    logged = read_log(log)
    assert logged["route"].tolist() == ["recommend", "recommend", "similar-items"]
    first = logged.iloc[0]
    assert int(first["user"]) == 1 and first["k"] == 4 and first["arm"] == "champion"
    assert first["request_id"] == answer["request_id"]
    assert first["prediction"]["items"] == [entry["item"] for entry in answer["items"]]
    assert first["prediction"]["scores"] == [entry["score"] for entry in answer["items"]]
    assert logged.iloc[1]["prediction"]["fallback"] == "popularity"


def test_ab_keeps_each_user_on_one_arm_and_the_shadow_is_logged(
    bundle: Path, tmp_path: Path
) -> None:
    other = ml.save(tmp_path / "challenger", ml.ratings(users="odd", limit=120), name="movies")
    log = tmp_path / "predictions.db"
    app = create_app(
        bundle, challenger=other, split=0.5, shadow=other, config=ServingConfig(log_path=log)
    )
    users = list(range(1, 80, 2))
    with run_in_thread(app) as running, httpx.Client(base_url=running.url, timeout=30) as client:
        first = {u: _arm(client, u) for u in users}
        again = {u: _arm(client, u) for u in users}
    assert first == again
    assert set(first.values()) == {"champion", "challenger"}
    logged = read_log(log)
    assert (logged["arm"] == "shadow").sum() == 2 * len(users)
    served_arms = logged[logged["arm"] != "shadow"]
    assert served_arms.groupby("user")["arm"].nunique().max() == 1


def _arm(client: httpx.Client, user: int) -> str:
    return str(client.post("/recommend", json={"user": user}).json()["model"]["arm"])


def test_loadtest_draws_known_and_unknown_users(served: Any) -> None:
    assert body_format_for(f"{served.url}/recommend") == "recommend"
    assert body_format_for(f"{served.url}/similar-items") == "similar-items"
    bodies = [json.loads(b) for b in recommendation_payloads([1, 3, 5], count=400, k=7)]
    users = [b["user"] for b in bodies]
    unknown = [u for u in users if u not in (1, 3, 5)]
    assert all(b["k"] == 7 for b in bodies) and all(u > 5 for u in unknown)
    assert 20 < len(unknown) < 80  # about a tenth
    texts = recommendation_payloads(["a", "b"], count=100)
    assert any(json.loads(b)["user"].startswith("unknown-") for b in texts)
    result = load_test(
        f"{served.url}/recommend",
        recommendation_payloads([1, 3, 5, 7], count=50),
        duration=0.5,
        warmup=0.0,
        max_requests=50,
    )
    assert result.errors == 0 and result.requests == 50


def test_cairn_loadtest_on_recommend_reports_latency(served: Any, tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    before = len(read_log(served.log))
    ran = subprocess.run(
        [*CAIRN, "loadtest", f"{served.url}/recommend", "-d", "0.5", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    result = json.loads(out.read_text())
    assert result["errors"] == 0 and result["requests"] > 10
    assert "p99" in ran.stdout
    # the load test's traffic is logged as synthetic: out of the real rows
    assert len(read_log(served.log)) == before
    assert len(read_log(served.log, include_synthetic=True)) >= before + result["requests"]
    data = tmp_path / "ratings.csv"
    ml.ratings(users="odd", limit=20).to_csv(data, index=False)
    from_file = subprocess.run(
        [*CAIRN, "loadtest", f"{served.url}/recommend", "-d", "0.3", "--data", str(data), "--k=3"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert from_file.returncode == 0 and "errors 0 " in from_file.stdout, from_file.stdout


def test_serving_a_recommender_loads_no_training_library(bundle: Path) -> None:
    code = (
        "import sys\n"
        "from cairn.serving.engine import load_served_model\n"
        "from cairn.serving._recommend import RecommendRequest\n"
        f"model = load_served_model({str(bundle)!r})\n"
        "model.recommend(RecommendRequest(1, 10, True))\n"
        "loaded = [m for m in ('sklearn', 'scipy', 'implicit', 'lightgbm') if m in sys.modules]\n"
        "print(loaded)\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"


def test_a_scoring_model_has_no_recommendation_routes_and_arms_must_match(
    churn: Any, bundle: Path
) -> None:
    app = create_app(churn.bundle_path)
    with run_in_thread(app) as running, httpx.Client(base_url=running.url, timeout=30) as client:
        answer = client.post("/recommend", json={"user": 1})
        similar = client.post("/similar-items", json={"item": 1})
    assert answer.status_code == 404 and "POST /predict" in answer.json()["detail"]
    assert similar.status_code == 404
    with pytest.raises(ServingError, match="every arm must answer the same requests"):
        create_app(churn.bundle_path, challenger=bundle)


def test_similar_items_of_a_popularity_model_say_the_fallback_answered(
    ratings: pd.DataFrame, tmp_path: Path
) -> None:
    from cairn.bundle import Recommender, ScoringComponent, save_bundle
    from cairn.serving._recommend import SimilarRequest
    from cairn.serving.engine import load_served_model

    knn = ml.item_knn(ratings)
    popular = Recommender(
        knn.user_ids,
        knn.item_ids,
        np.zeros(knn.n_users + 1, dtype=np.int64),
        np.zeros(0, dtype=np.int32),
        knn.popularity,
        [ScoringComponent("popularity", "popularity", 1.0)],
    )
    schema = load_served_model(ml.save(tmp_path / "knn", ratings)).schema
    metadata = {"name": "popular", "task": "recommendation", "recommendation": {}}
    path = save_bundle(tmp_path / "popular", popular, schema, metadata, files=popular.to_files())
    answer, _ = load_served_model(path).similar(SimilarRequest(318, 3))
    assert len(answer["items"]) == 3 and "title" not in answer
    (warning,) = answer["warnings"]
    assert warning["column"] == "item" and "popularity fallback" in warning["message"]
