"""A clustering bundle served like the supervised ones: /predict answers each
record with its cluster id, the distance to every centroid and, for a
mixture, the membership probabilities; the OpenAPI document says so."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from cairn.serving.app import ServingConfig, create_app
from cairn.serving.engine import load_served_model
from cairn.serving.log import read_log
from cairn.serving.server import run_in_thread


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return list(json.loads(frame.to_json(orient="records")))


def _answer_schema(client: httpx.Client) -> dict[str, Any]:
    document = client.get("/openapi.json").json()
    schema: dict[str, Any] = document["paths"]["/predict"]["post"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    return schema


def test_predict_answers_ids_and_distances(
    clustering_bundle: Callable[..., Any], tmp_path: Path
) -> None:
    made = clustering_bundle("kmeans")
    frame = made.frame.head(8)
    log = tmp_path / "predictions.db"
    app = create_app(made.path, config=ServingConfig(log_path=log))
    with run_in_thread(app) as running, httpx.Client(base_url=running.url, timeout=30) as client:
        answer = client.post("/predict", json={"records": _records(frame)}).json()
        assert answer["predictions"] == made.result.labels[:8].tolist()
        assert [sorted(row) for row in answer["distances"]] == [["0", "1", "2"]] * 8
        nearest = [min(row, key=row.get) for row in answer["distances"]]
        assert nearest == [str(i) for i in answer["predictions"]]
        assert answer["probabilities"] == [None] * 8
        schema = _answer_schema(client)
        assert schema["properties"]["predictions"]["items"]["enum"] == [0, 1, 2]
        assert {"distances", "probabilities"} <= set(schema["required"])
        assert set(schema["properties"]["distances"]["items"]["properties"]) == {"0", "1", "2"}
        metadata = client.get("/metadata").json()
        assert metadata["task"] == "clustering" and metadata["clusters"] == [0, 1, 2]
        assert metadata["engine"]["name"] == "onnx"
    logged = read_log(log)
    assert logged["prediction"].astype(int).tolist() == answer["predictions"]


def test_a_mixture_answers_membership_probabilities(
    clustering_bundle: Callable[..., Any],
) -> None:
    made = clustering_bundle("gaussian_mixture")
    app = create_app(made.path)
    with run_in_thread(app) as running, httpx.Client(base_url=running.url, timeout=30) as client:
        answer = client.post("/predict", json={"records": _records(made.frame.head(5))}).json()
    for cluster, members in zip(answer["predictions"], answer["probabilities"], strict=True):
        assert abs(sum(members.values()) - 1.0) < 1e-9
        assert max(members, key=members.get) == str(cluster)


def test_ab_split_merges_each_arms_details(clustering_bundle: Callable[..., Any]) -> None:
    """Records split between a KMeans champion and a mixture challenger keep
    their own arm's distances and probabilities."""
    champion, challenger = clustering_bundle("kmeans"), clustering_bundle("gaussian_mixture")
    frame = champion.frame.dropna().head(30)
    config = ServingConfig(entity_key="body_mass_g")
    app = create_app(champion.path, challenger=challenger.path, split=0.5, config=config)
    with run_in_thread(app) as running, httpx.Client(base_url=running.url, timeout=30) as client:
        answer = client.post("/predict", json={"records": _records(frame)}).json()
    arms = answer["arms"]
    assert {"champion", "challenger"} == set(arms)
    for arm, members, distances in zip(
        arms, answer["probabilities"], answer["distances"], strict=True
    ):
        assert (members is None) == (arm == "champion")
        assert len(distances) == 3


def test_the_onnx_engine_serves_without_scikit_learn(
    clustering_bundle: Callable[..., Any],
) -> None:
    """Serving a KMeans bundle through its graph loads no training library
    (what a ``cairn[serve]`` install relies on)."""
    made = clustering_bundle("kmeans")
    records = _records(made.frame.head(4))
    script = (
        "import json, sys\n"
        "from cairn.serving.engine import load_served_model\n"
        f"served = load_served_model({str(made.path)!r}, engine='onnx')\n"
        f"prediction = served.predict(json.loads({json.dumps(records)!r}))\n"
        "print(json.dumps([prediction.labels, 'sklearn' in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    labels, sklearn_loaded = json.loads(done.stdout)
    assert labels == made.result.labels[:4].tolist() and not sklearn_loaded


def test_a_clustering_run_is_served(clustering_run: Callable[[str], Path]) -> None:
    """The bundle of a ``cairn run`` on a clustering spec answers /predict with
    the cluster ids the run assigned."""
    run_dir = clustering_run("mall_customers")
    assignments = pd.read_parquet(run_dir / "assignments.parquet").head(20)
    served = load_served_model(run_dir / "bundle")
    assert served.task == "clustering" and served.engine == "onnx", served.engine_reason
    features = assignments.drop(columns=["__cluster"])
    app = create_app(served)
    with run_in_thread(app) as running, httpx.Client(base_url=running.url, timeout=30) as client:
        answer = client.post("/predict", json={"records": _records(features)}).json()
    assert answer["predictions"] == assignments["__cluster"].tolist()
    k = json.loads((run_dir / "bundle" / "metadata.json").read_text())["n_clusters"]
    assert all(len(row) == k for row in answer["distances"])
    assert np.isfinite([v for row in answer["distances"] for v in row.values()]).all()
