"""Personal data end to end: ``cairn run`` on telco_churn rows with planted
customer names (hashed, a feature), e-mails (kept) and card numbers (dropped
by default); the bundle, ``Model.predict`` and the server hash incoming
values as training did, and the prediction log never holds a protected
value in clear."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from cairn.bundle import Model, load_bundle
from cairn.data.pseudonym import KEY_FILE, is_pseudonym
from cairn.exceptions import BundleError
from cairn.records import to_records
from cairn.serving.app import ServingConfig, create_app
from cairn.serving.log import read_log, read_rejected
from tests.conftest import load_dataset
from tests.data.personal_data import with_personal_data

PLANTED = ["email", "customer_name", "card_number"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, pd.DataFrame]:
    import cairn

    root = tmp_path_factory.mktemp("privacy-run")
    frame = with_personal_data(load_dataset("telco_churn", rows=700, seed=5), seed=5)
    frame = frame[["customerID", "tenure", "Contract", "MonthlyCharges", "Churn", *PLANTED]]
    frame.to_csv(root / "data.csv", index=False)
    (root / "cairn.toml").write_text(
        "\n".join(
            [
                "[project]",
                'name = "private"',
                "[data]",
                'sources = [{ path = "data.csv" }]',
                'privacy = { customer_name = "hash", email = "keep" }',
                "[problem]",
                'target = "Churn"',
                "[train]",
                "time_budget = 8",
                'include = ["lightgbm"]',
                "max_trials = 2",
                'ensemble = "none"',
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return cairn.run(root / "cairn.toml", register=False), frame


def test_the_run_applies_each_decision_and_records_it(run: tuple[Any, pd.DataFrame]) -> None:
    result, _ = run
    findings = {f.column: f for f in result.quality.findings if f.check.startswith("privacy_")}
    assert findings["customer_name"].severity == "info"
    assert "keyed hash" in findings["customer_name"].action
    assert findings["email"].severity == "info" and "kept unchanged" in findings["email"].action
    assert findings["card_number"].severity == "error"
    assert 'privacy = {card_number = "hash"}' in findings["card_number"].action
    schema = result.model.schema
    assert schema.metadata["privacy"]["columns"]["customer_name"]["action"] == "hash"
    assert "card_number" not in schema and "customer_name" in schema.feature_names
    assert all(is_pseudonym(c) for c in schema["customer_name"].categories or ())
    project_key = (result.spec.project_dir / ".cairn" / KEY_FILE).read_bytes()
    assert (result.bundle_path / KEY_FILE).read_bytes() == project_key
    held_out = pd.read_parquet(result.reports["test_predictions"])
    assert held_out["customer_name"].map(is_pseudonym).all()  # no run file holds them in clear
    assert "card_number" not in held_out.columns


def test_predict_hashes_raw_values_as_training_did(run: tuple[Any, pd.DataFrame]) -> None:
    result, frame = run
    raw = frame.drop(columns=["Churn"]).head(40)
    loaded = load_bundle(result.bundle_path)
    expected = result.model.predict_proba(raw)
    np.testing.assert_allclose(loaded.predict_proba(raw).to_numpy(), expected.to_numpy())
    native = load_bundle(result.bundle_path, engine="native")
    np.testing.assert_allclose(native.predict_proba(raw).to_numpy(), expected.to_numpy(), atol=1e-6)
    # the pipeline itself only knows the hashes: given them, it answers alike
    hashed = result.model.privacy.frame(raw, drop=True)
    assert hashed["customer_name"].map(is_pseudonym).all()
    np.testing.assert_allclose(
        result.model.pipeline.predict_proba(result.model.prepare(hashed)), expected.to_numpy()
    )
    # a model without the key scores hashed rows and refuses raw ones
    keyless = Model(result.model.pipeline, result.model.schema)
    np.testing.assert_allclose(keyless.predict_proba(hashed).to_numpy(), expected.to_numpy())
    with pytest.raises(BundleError, match=r"holds personal data .* no privacy\.key"):
        keyless.predict(raw)


def test_the_native_server_hashes_once_and_answers_as_the_library(
    run: tuple[Any, pd.DataFrame],
) -> None:
    """Raw names and card numbers sent to the natively served model: the
    records are hashed once and the dropped column never reaches the pipeline."""
    from cairn.serving.engine import load_served_model

    result, frame = run
    raw = frame.drop(columns=["Churn"]).head(40)
    served = load_served_model(result.bundle_path, engine="native")
    prediction = served.predict(to_records(raw))
    expected = result.model.predict_proba(raw)
    assert prediction.probabilities is not None
    np.testing.assert_allclose(prediction.probabilities, expected.to_numpy(), atol=1e-12)


def test_the_log_stores_hashes_never_the_values(
    run: tuple[Any, pd.DataFrame], serve_app: Any, tmp_path: Path
) -> None:
    result, frame = run
    log = tmp_path / "predictions.db"
    app = create_app(result.bundle_path, config=ServingConfig(log_path=log))
    server = serve_app(app)
    served = app.state.service.arms[0].model
    assert served.engine == "onnx", served.engine_reason  # records hashed before the graph
    records = to_records(frame.drop(columns=["Churn"]).head(5))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        answer = client.post("/predict", json={"records": records})
        assert answer.status_code == 200, answer.text
        unseen = [w for w in answer.json().get("warnings", []) if "unseen" in w["message"]]
        assert unseen == []  # names were hashed before they were read
        refused = client.post(
            "/predict", json={"records": [{"customer_name": records[0]["customer_name"]}]}
        )
        assert refused.status_code == 422
    app.state.service.log.close()
    logged = read_log(log)
    assert len(logged) == 5
    assert logged["card_number"].map(is_pseudonym).all()  # dropped, yet sent: hashed too
    assert logged["email"].tolist() == [r["email"] for r in records]  # kept, as privacy says
    expected = result.model.privacy.frame(frame.head(5))["customer_name"].tolist()
    assert logged["customer_name"].tolist() == expected
    assert read_rejected(log)["body"].isna().all()
    stored = log.read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("predictions.db-*") if p.is_file()
    )
    for record in records:
        assert record["customer_name"].encode() not in stored
        assert str(record["card_number"]).encode() not in stored


def test_the_card_and_the_eda_page_show_no_value_in_clear(run: tuple[Any, pd.DataFrame]) -> None:
    result, frame = run
    folder = result.bundle_path.parent
    card = (folder / "model_card.md").read_text(encoding="utf-8")
    section = card.split("\n## Privacy\n", 1)[1].split("\n## ", 1)[0]
    assert "| customer_name | person names | 100% | replaced by a keyed hash" in section
    assert "| card_number | payment card numbers | 100% | dropped from the features (the" in section
    assert "| email | e-mail addresses | 100% | kept as it is, as the spec says" in section
    eda = result.reports["eda"].read_text(encoding="utf-8")
    assert "holds payment card numbers; dropped from the features (privacy)" in eda
    for column in ("email", "customer_name", "card_number"):
        for value in frame[column].astype(str).head(100):
            assert value not in eda and value not in card, (column, value)


def test_monitoring_compares_the_batch_hashed_as_in_training(
    run: tuple[Any, pd.DataFrame],
) -> None:
    from cairn.monitoring import check

    result, frame = run
    model = load_bundle(result.bundle_path)
    report = check(frame.drop(columns=["Churn"]).head(300), model)
    drifted = {f.column for f in report.drift.findings if f.severity != "info"}
    assert "customer_name" not in drifted  # raw names would all be unseen categories
    assert "card_number" not in {f.column for f in report.drift.findings}
