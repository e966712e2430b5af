"""The API on a real server (uvicorn on a loopback port): every route, every
bad-input case, property tests and a schemathesis run against its own
OpenAPI document."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.data.schema import Role
from cairn.serving.app import ServingConfig, create_app
from cairn.serving.engine import load_served_model
from cairn.serving.log import read_log, read_rejected
from cairn.serving.server import run_in_thread
from tests.serving.conftest import records_of

MAX_ROWS = 50
MAX_BODY = 64_000


@pytest.fixture(scope="module")
def server(churn: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    log = tmp_path_factory.mktemp("log") / "predictions.db"
    app = create_app(
        churn.bundle_path,
        config=ServingConfig(log_path=log, max_rows=MAX_ROWS, max_body_bytes=MAX_BODY),
    )
    with run_in_thread(app) as running:
        running.log = log
        running.app = app
        yield running


@pytest.fixture(scope="module")
def client(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def test_predict_answers_every_record_in_order(client: httpx.Client, churn: Any) -> None:
    records = records_of(churn, 7)
    answer = client.post("/predict", json={"records": records})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["predictions"]) == 7 and len(body["probabilities"]) == 7
    assert set(body["probabilities"][0]) == {"No", "Yes"}
    assert sum(body["probabilities"][0].values()) == pytest.approx(1.0)
    assert body["model"] == {"name": "churn", "version": churn.run_id, "arm": "champion"}
    assert answer.headers["x-request-id"] == body["request_id"]
    expected = churn.model.predict(__import__("pandas").DataFrame(records))
    assert body["predictions"] == list(expected)
    given_id = client.post(
        "/predict", json={"records": records[:1]}, headers={"X-Request-ID": "abc-1"}
    )
    assert given_id.json()["request_id"] == "abc-1"


def test_invocations_takes_mlflow_bodies(client: httpx.Client, churn: Any) -> None:
    records = records_of(churn, 4)
    ours = client.post("/predict", json={"records": records}).json()
    columns = list(records[0])
    split = {
        "dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in records]}
    }
    for body in (split, {"dataframe_records": records}):
        answer = client.post("/invocations", json=body)
        assert answer.status_code == 200, answer.text
        rows = answer.json()["predictions"]
        assert [r["prediction"] for r in rows] == ours["predictions"]
        assert rows[0]["proba_Yes"] == pytest.approx(ours["probabilities"][0]["Yes"])
    # what `mlflow models serve` takes besides: instances / inputs, as rows or as columns
    by_columns = {c: [r[c] for r in records] for c in columns}
    for body in (
        {"instances": records},
        {"inputs": records},
        {"inputs": by_columns},
        {"instances": by_columns, "params": {}},
    ):
        answer = client.post("/invocations", json=body)
        assert answer.status_code == 200, (list(body), answer.text)
        assert [r["prediction"] for r in answer.json()["predictions"]] == ours["predictions"]
    one = client.post("/invocations", json={"inputs": records[0]})
    assert [r["prediction"] for r in one.json()["predictions"]] == ours["predictions"][:1]
    # text/csv, as pandas writes it
    frame = pd.DataFrame(records)
    csv = frame.to_csv(index=False).encode()
    answer = client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert answer.status_code == 200, answer.text
    assert [r["prediction"] for r in answer.json()["predictions"]] == ours["predictions"]
    assert answer.json()["predictions"][0]["proba_Yes"] == pytest.approx(
        ours["probabilities"][0]["Yes"]
    )


def _mlflow_error(answer: httpx.Response, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error_code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return str(body["message"])


def test_invocations_errors_have_mlflow_shape(client: httpx.Client, churn: Any) -> None:
    def post(**kwargs: Any) -> httpx.Response:
        return client.post("/invocations", **kwargs)

    json_type = {"content-type": "application/json"}
    _mlflow_error(post(content=b"{not json", headers=json_type), 400, "INVALID_PARAMETER_VALUE")
    listed = _mlflow_error(post(json=[1, 2]), 400, "INVALID_PARAMETER_VALUE")
    assert "exactly one of the input fields" in listed
    records = records_of(churn, 2)
    both = post(json={"dataframe_records": records, "inputs": records})
    assert "dataframe_records" in _mlflow_error(both, 400, "BAD_REQUEST")
    # /predict's body is taken too (one client for both), but not beside another field
    assert post(json={"records": records}).status_code == 200
    _mlflow_error(post(json={"records": records, "inputs": records}), 400, "BAD_REQUEST")
    tensor = _mlflow_error(post(json={"instances": [[1, 2]]}), 400, "BAD_REQUEST")
    assert "tensor" in tensor
    ragged = post(json={"inputs": {"tenure": [1, 2], "Contract": ["One year"]}})
    assert "same length" in _mlflow_error(ragged, 400, "BAD_REQUEST")
    del records[1]["tenure"]
    missing = post(json={"dataframe_records": records})
    assert "records/1/tenure" in _mlflow_error(missing, 400, "INVALID_PARAMETER_VALUE")
    assert ["body", "records", 1, "tenure"] in [p["loc"] for p in missing.json()["detail"]]
    bad_csv = post(content=b'a,b\n"1,2\n', headers={"content-type": "text/csv"})
    _mlflow_error(bad_csv, 400, "BAD_REQUEST")
    long_row = post(
        content=b"tenure,Contract\n1,One year,3\n", headers={"content-type": "text/csv"}
    )
    assert "header" in _mlflow_error(long_row, 400, "BAD_REQUEST")
    _mlflow_error(post(content=b"x", headers={"content-type": "text/plain"}), 415, "BAD_REQUEST")
    wrong_method = client.get("/invocations")
    _mlflow_error(wrong_method, 405, "BAD_REQUEST")
    # /predict keeps its own shape
    assert "detail" in client.post("/predict", json=[1]).json()


def test_docs_are_served_without_network(client: httpx.Client) -> None:
    import re

    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert not re.search(r"https?://", page.text), "the docs page must not load from the web"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) >= 3
    for asset in assets:
        answer = client.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 1000, asset
    assert client.get("/docs/secret.txt").status_code == 404
    assert client.get("/openapi.json").json()["paths"]["/predict"]


def test_lenient_json_is_parsed_off_the_event_loop(
    client: httpx.Client, churn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    import cairn.serving._asgi as app_module

    original = app_module._parse_lenient
    loops: list[bool] = []

    def watched(body: bytes) -> Any:
        try:
            asyncio.get_running_loop()
            loops.append(True)
        except RuntimeError:  # no event loop here: a worker thread
            loops.append(False)
        return original(body)

    monkeypatch.setattr(app_module, "_parse_lenient", watched)
    record = records_of(churn, 1)[0]
    body = json.dumps({"records": [{**record, "tenure": float("nan")}]})
    answer = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 200
    assert loops == [False]

    # a parse that takes two seconds holds up no other request
    def slow(body: bytes) -> Any:
        time.sleep(2.0)
        return original(body)

    monkeypatch.setattr(app_module, "_parse_lenient", slow)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            client.post, "/predict", content=body, headers={"content-type": "application/json"}
        )
        time.sleep(0.2)  # the slow body is being parsed now
        started = time.perf_counter()
        assert client.post("/predict", json={"records": [record]}).status_code == 200
        waited = time.perf_counter() - started
        assert not pending.done() and waited < 1.5
        assert pending.result().status_code == 200


def test_health_ready_metadata(client: httpx.Client, churn: Any) -> None:
    assert client.get("/health").json() == {
        "status": "ok",
        "model": "churn",
        "version": churn.run_id,
    }
    assert client.get("/ready").json()["ready"] is True
    assert client.get("/ping").json() == {"ready": True}
    meta = client.get("/metadata").json()
    assert meta["name"] == "churn" and meta["version"] == churn.run_id
    assert meta["engine"]["name"] == "onnx"
    assert meta["metrics"]["roc_auc"] == pytest.approx(churn.evaluation.metrics["roc_auc"])
    assert meta["limits"] == {"max_body_bytes": MAX_BODY, "max_rows": MAX_ROWS}
    assert meta["arms"][0]["arm"] == "champion"
    assert any(c["name"] == "tenure" for c in meta["schema"]["columns"])


def _bad(client: httpx.Client, **kwargs: Any) -> httpx.Response:
    return client.post("/predict", **kwargs)


def test_missing_and_wrong_typed_columns_name_record_and_column(
    client: httpx.Client, churn: Any
) -> None:
    records = records_of(churn, 3)
    del records[1]["tenure"]
    records[2]["MonthlyCharges"] = "a lot"
    answer = _bad(client, json={"records": records})
    assert answer.status_code == 422
    locations = {tuple(p["loc"]) for p in answer.json()["detail"]}
    assert ("body", "records", 1, "tenure") in locations
    assert ("body", "records", 2, "MonthlyCharges") in locations
    nested = records_of(churn, 1)
    nested[0]["Contract"] = {"a": 1}
    answer = _bad(client, json={"records": nested})
    assert answer.status_code == 422 and answer.json()["detail"][0]["type"] == "type_error"
    for body in ({"rows": []}, {"records": "x"}, [1, 2], {"records": [1]}):
        assert _bad(client, json=body).status_code == 422


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/octet-stream",
        "application/python-pickle",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ],
)
def test_non_json_bodies_are_refused(client: httpx.Client, content_type: str) -> None:
    import pickle

    answer = _bad(
        client, content=pickle.dumps({"records": []}), headers={"content-type": content_type}
    )
    assert answer.status_code == 415


def test_size_and_row_limits(client: httpx.Client, churn: Any) -> None:
    big = json.dumps({"records": [{"x": "y" * 1000}] * 100}).encode()
    assert len(big) > MAX_BODY
    answer = _bad(client, content=big, headers={"content-type": "application/json"})
    assert answer.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        for _ in range(100):
            yield b" " * 1000

    chunked = _bad(client, content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    too_many = records_of(churn, 1) * (MAX_ROWS + 1)
    answer = _bad(client, json={"records": too_many})
    assert answer.status_code == 413 and str(MAX_ROWS) in answer.json()["detail"]


def test_json_edge_cases(client: httpx.Client, churn: Any) -> None:
    record = records_of(churn, 1)[0]
    nan_body = json.dumps({"records": [{**record, "tenure": float("nan")}]})  # Python writes NaN
    assert "NaN" in nan_body
    answer = _bad(client, content=nan_body, headers={"content-type": "application/json"})
    assert answer.status_code == 200
    inf_body = json.dumps({"records": [{**record, "tenure": float("inf")}]})
    answer = _bad(client, content=inf_body, headers={"content-type": "application/json"})
    assert answer.status_code == 422 and "finite" in answer.text
    nulls = {k: None for k in record}
    assert _bad(client, json={"records": [nulls]}).status_code == 200
    assert (
        _bad(client, content=b"{not json", headers={"content-type": "application/json"}).status_code
        == 400
    )
    assert (
        _bad(client, content=b"", headers={"content-type": "application/json"}).status_code == 400
    )
    assert client.get("/predict").status_code == 405
    empty = _bad(client, json={"records": []})
    assert empty.status_code == 200 and empty.json()["predictions"] == []


def test_unseen_categories_are_scored_and_flagged(client: httpx.Client, churn: Any) -> None:
    record = {**records_of(churn, 1)[0], "Contract": "Ten-year", "extra": 1}
    answer = _bad(client, json={"records": [record]})
    assert answer.status_code == 200
    warnings = answer.json()["warnings"]
    assert {"record": 0, "column": "Contract", "message": "category unseen in training"} in warnings
    assert any("extra" in w["message"] for w in warnings)


def test_metrics_per_model(client: httpx.Client, churn: Any) -> None:
    client.post("/predict", json={"records": records_of(churn, 2)})
    text = client.get("/metrics").text
    assert 'cairn_requests_total{route="predict",status="200"}' in text
    assert 'cairn_request_errors_total{route="predict",status="422"}' in text
    assert "cairn_request_duration_seconds_bucket" in text
    assert (
        f'cairn_predictions_total{{arm="champion",model="churn",version="{churn.run_id}"}}' in text
    )
    assert "cairn_model_duration_seconds_bucket" in text
    assert "cairn_prediction_value_bucket" in text
    assert 'cairn_predicted_class_total{arm="champion",class="No"' in text
    assert 'engine="onnx"' in text


def test_openapi_request_model_comes_from_the_schema(client: httpx.Client, churn: Any) -> None:
    document = client.get("/openapi.json").json()
    record = document["components"]["schemas"]["Record"]
    assert set(record["required"]) == set(churn.model.schema.feature_names)
    assert "customerID" not in record["required"]
    contract = record["properties"]["Contract"]
    assert set(contract["x-categories"]) == set(churn.model.schema["Contract"].categories)
    assert record["properties"]["tenure"]["type"] == ["number", "null"]
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["records"]["maxItems"] == MAX_ROWS
    assert "/invocations" in document["paths"]


def test_predict_answer_schema_names_labels_and_probabilities(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    answer = document["paths"]["/predict"]["post"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    assert answer["properties"]["predictions"]["items"] == {
        "description": "class label, one of ['No', 'Yes']"
    }
    assert answer["properties"]["probabilities"] == {
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": {"type": ["number", "null"]},
            "description": "probability per class label",
        },
    }
    assert list(answer["properties"]) == [
        "predictions", "model", "request_id", "arms", "warnings", "probabilities"
    ]  # fmt: skip
    assert answer["required"] == ["predictions", "model", "request_id", "probabilities"]


def test_requests_are_logged(client: httpx.Client, server: Any, churn: Any) -> None:
    answer = client.post(
        "/predict", json={"records": records_of(churn, 3)}, headers={"X-Request-ID": "logged-1"}
    )
    assert answer.status_code == 200
    client.post("/predict", json={"records": [{}]}, headers={"X-Request-ID": "rejected-1"})
    server.app.state.service.log.close()  # flush what is queued (the writer restarts below)
    server.app.state.service.log.start()
    frame = read_log(server.log)
    mine = frame[frame["request_id"] == "logged-1"]
    assert mine["row"].tolist() == [0, 1, 2]
    assert mine["prediction"].tolist() == answer.json()["predictions"]
    assert "rejected-1" in set(read_rejected(server.log)["request_id"])


# --- properties --------------------------------------------------------------


def _value_strategy(column: Any) -> st.SearchStrategy[Any]:
    missing = st.none()
    if column.role == Role.NUMERIC:
        if column.dtype == "int":
            return st.one_of(missing, st.integers(-(10**9), 10**9))
        return st.one_of(missing, st.floats(allow_nan=False, allow_infinity=False, width=32))
    if column.dtype == "bool":
        return st.one_of(missing, st.booleans())
    if column.dtype in ("int", "float"):
        return st.one_of(missing, st.sampled_from([0, 1]))
    known = list(column.categories or ["a"])
    return st.one_of(missing, st.sampled_from(known), st.text(max_size=12))


@pytest.fixture(scope="module")
def record_strategy(churn: Any) -> st.SearchStrategy[dict[str, Any]]:
    features = [c for c in churn.model.schema.columns if c.is_feature]
    return st.fixed_dictionaries({c.name: _value_strategy(c) for c in features})


def test_any_record_the_schema_accepts_is_scored_in_any_column_order(
    client: httpx.Client, record_strategy: st.SearchStrategy[dict[str, Any]]
) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(records=st.lists(record_strategy, min_size=1, max_size=8), seed=st.integers(0, 1000))
    def check(records: list[dict[str, Any]], seed: int) -> None:
        answer = client.post("/predict", json={"records": records})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["predictions"]) == len(records)
        assert len(body["probabilities"]) == len(records)
        shuffled = []
        for record in records:
            items = list(record.items())
            random.Random(seed).shuffle(items)
            shuffled.append(dict(items))
        again = client.post("/predict", json={"records": shuffled}).json()
        assert again["predictions"] == body["predictions"]
        assert again["probabilities"] == body["probabilities"]

    check()


def _fuzz(operation: Any, url: str, excluded: list[Any]) -> None:
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        case.call_and_validate(base_url=url, excluded_checks=excluded)

    check()


def test_schemathesis_finds_no_server_error(server: Any) -> None:
    import schemathesis
    from schemathesis.checks import positive_data_acceptance

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        # JSON Schema cannot say that a dataframe_split row has one value per
        # column, so a schema-valid split body may still (rightly) get 422 there.
        excluded = [positive_data_acceptance] if operation.path == "/invocations" else []
        _fuzz(operation, server.url, excluded)
        checked += 1
    assert checked >= 6  # predict, invocations, health, ready, metadata, metrics


# --- API keys ------------------------------------------------------------------


def test_api_key_is_required_and_compared(churn: Any, tmp_path: Path) -> None:
    key = "k" * 32
    log = tmp_path / "predictions.db"
    config = ServingConfig(api_key=key, log_path=log)
    app = create_app(load_served_model(churn.bundle_path), config=config)
    with run_in_thread(app) as running, httpx.Client(base_url=running.url) as c:
        record = {"records": records_of(churn, 1)}
        assert c.get("/health").status_code == 200
        assert c.get("/ready").status_code == 200
        assert c.get("/ping").status_code == 200  # probes carry no key
        assert c.post("/predict", json=record).status_code == 401
        assert c.get("/metadata").status_code == 401
        assert c.get("/openapi.json").status_code == 401
        wrong = c.post("/predict", json=record, headers={"Authorization": "Bearer " + "x" * 32})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert (
            c.post("/predict", json=record, headers={"Authorization": f"Bearer {key}"}).status_code
            == 200
        )
        assert c.post("/predict", json=record, headers={"X-API-Key": key}).status_code == 200
        assert c.get("/metrics", headers={"X-API-Key": key}).status_code == 200
        mlflow = c.post("/invocations", json={"dataframe_records": record["records"]})
        assert mlflow.status_code == 401 and mlflow.json()["error_code"] == "UNAUTHENTICATED"
    refused = read_rejected(log)  # the server has stopped: everything is written
    assert refused["status"].tolist() == [401, 401, 401]
    assert refused["route"].tolist() == ["predict", "predict", "invocations"]


# --- A/B and shadow --------------------------------------------------------------


def test_ab_split_ratio(churn: Any, tmp_path: Path) -> None:
    champion = load_served_model(churn.bundle_path)
    challenger = load_served_model(churn.bundle_path)
    app = create_app(
        champion,
        challenger=challenger,
        split=0.3,
        config=ServingConfig(log_path=tmp_path / "ab.db"),
    )
    record = {"records": records_of(churn, 1)}
    arms = {"champion": 0, "challenger": 0}
    with run_in_thread(app) as running, httpx.Client(base_url=running.url) as c:
        for _ in range(1500):
            arms[c.post("/predict", json=record).json()["model"]["arm"]] += 1
        text = c.get("/metrics").text
    share = arms["challenger"] / 1500
    assert abs(share - 0.3) < 0.05, arms  # 4+ standard deviations
    assert 'cairn_predictions_total{arm="challenger"' in text
    assert dict(read_log(tmp_path / "ab.db")["arm"].value_counts()) == arms


def test_ab_is_sticky_per_entity(churn: Any) -> None:
    champion = load_served_model(churn.bundle_path)
    challenger = load_served_model(churn.bundle_path)
    app = create_app(
        champion, challenger=challenger, split=0.5, config=ServingConfig(entity_key="customerID")
    )
    base = records_of(churn, 1)[0]
    with run_in_thread(app) as running, httpx.Client(base_url=running.url) as c:
        first = {}
        for k in range(300):
            batch = [{**base, "customerID": f"c-{k}"}, {**base, "customerID": f"c-{k + 1000}"}]
            body = c.post("/predict", json={"records": batch}).json()
            arms = body.get("arms") or [body["model"]["arm"]] * 2
            first[f"c-{k}"] = arms[0]
        again = c.post("/predict", json={"records": [{**base, "customerID": "c-7"}]}).json()
    assert again["model"]["arm"] == first["c-7"]
    share = sum(arm == "challenger" for arm in first.values()) / len(first)
    assert abs(share - 0.5) < 0.1


def test_shadow_is_scored_logged_and_never_returned(churn: Any, tmp_path: Path) -> None:
    log = tmp_path / "shadow.db"
    app = create_app(
        churn.bundle_path,
        shadow=load_served_model(churn.bundle_path, engine="native"),
        config=ServingConfig(log_path=log),
    )
    ids = []
    with run_in_thread(app) as running, httpx.Client(base_url=running.url) as c:
        for _ in range(20):
            body = c.post("/predict", json={"records": records_of(churn, 2)}).json()
            assert body["model"]["arm"] == "champion"
            ids.append(body["request_id"])
    frame = read_log(log)
    shadow = frame[frame["arm"] == "shadow"]
    champion = frame[frame["arm"] == "champion"]
    assert len(shadow) == len(champion) == 40
    assert set(shadow["request_id"]) == set(ids)
    merged = champion.merge(shadow, on=["request_id", "row"], suffixes=("", "_shadow"))
    assert (merged["prediction"] == merged["prediction_shadow"]).all()


def test_bad_split_and_entity_key_are_refused(churn: Any) -> None:
    from cairn.exceptions import ServingError

    served = load_served_model(churn.bundle_path)
    with pytest.raises(ServingError, match="share between 0 and 1"):
        create_app(served, challenger=served, split=1.5)
    with pytest.raises(ServingError, match="entity key"):
        create_app(served, config=ServingConfig(entity_key="nope"))


def test_a_stopped_server_has_written_its_log(churn: Any, tmp_path: Path) -> None:
    log = tmp_path / "stop.db"
    app = create_app(churn.bundle_path, config=ServingConfig(log_path=log))
    sent = 0
    with contextlib.ExitStack() as stack:
        running = stack.enter_context(run_in_thread(app))
        c = stack.enter_context(httpx.Client(base_url=running.url))
        for k in range(200):
            answer = c.post("/predict", json={"records": records_of(churn, 1 + k % 3)})
            assert answer.status_code == 200
            sent += 1 + k % 3
    assert len(read_log(log)) == sent
