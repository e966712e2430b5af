"""Comparing arms on outcomes: the right test per case, and the rows needed."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cairn.exceptions import DataError
from cairn.serving.abtest import compare_arms, join_outcomes
from tests.conftest import load_dataset


def _log(n: int, accuracy: dict[str, float], seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A synthetic log where each arm is right with the given probability."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for i in range(n):
        truth = int(rng.integers(2))
        arm = "challenger" if rng.random() < 0.5 else "champion"
        for name in (arm, "shadow"):
            right = rng.random() < accuracy[name]
            rows.append(
                {
                    "request_id": f"r{i}",
                    "row": 0,
                    "arm": name,
                    "model": "m",
                    "version": name,
                    "prediction": truth if right else 1 - truth,
                    "proba_1": 0.5,
                    "customer": f"c{i}",
                }
            )
        labels.append({"request_id": f"r{i}", "row": 0, "label": truth})
    return pd.DataFrame(rows), pd.DataFrame(labels)


def test_a_clear_difference_is_significant() -> None:
    log, labels = _log(4000, {"champion": 0.7, "challenger": 0.8, "shadow": 0.6})
    report = compare_arms(join_outcomes(log, labels), metric="accuracy")
    assert report.metrics == ["accuracy"]
    arms = {a.arm: a.metrics["accuracy"] for a in report.arms}
    assert arms["champion"].value == pytest.approx(0.7, abs=0.03)
    assert arms["champion"].ci_low < arms["champion"].value < arms["champion"].ci_high
    tests = {c.arm: c for c in report.comparisons}
    assert tests["challenger"].test == "two-proportion z-test" and not tests["challenger"].paired
    assert tests["challenger"].significant and tests["challenger"].better is True
    assert tests["challenger"].difference == pytest.approx(0.1, abs=0.03)
    assert tests["shadow"].test == "McNemar exact" and tests["shadow"].paired
    assert tests["shadow"].significant and tests["shadow"].better is False
    assert 0 < tests["challenger"].rows_needed_per_arm < 2000


def test_no_difference_is_not_significant_and_says_how_many_rows_it_would_take() -> None:
    rows, labels = [], []
    for i in range(400):  # exactly 75 % right on the champion, 77 % on the challenger
        arm = "champion" if i < 200 else "challenger"
        k = i % 200
        right = k < (150 if arm == "champion" else 154)
        rows.append(
            {
                "request_id": f"r{i}",
                "row": 0,
                "arm": arm,
                "model": "m",
                "version": "1",
                "prediction": 1 if right else 0,
                "proba_1": 0.5,
            }
        )
        labels.append({"request_id": f"r{i}", "row": 0, "label": 1})
    report = compare_arms(
        join_outcomes(pd.DataFrame(rows), pd.DataFrame(labels)), metric="accuracy"
    )
    (challenger,) = report.comparisons
    assert challenger.difference == pytest.approx(0.02)
    assert not challenger.significant and challenger.better is None
    # detecting 2 points at 75 % takes thousands of rows per arm
    assert 5000 < challenger.rows_needed_per_arm < 8000


def test_regression_uses_errors() -> None:
    rng = np.random.default_rng(2)
    rows, labels = [], []
    for i in range(600):
        y = float(rng.normal(100, 10))
        arm = "champion" if i % 2 else "challenger"
        noise = 5.0 if arm == "champion" else 2.0
        rows.append(
            {
                "request_id": str(i),
                "row": 0,
                "arm": arm,
                "model": "m",
                "version": "1",
                "prediction": y + float(rng.normal(0, noise)),
            }
        )
        labels.append({"request_id": i, "row": 0, "y": y})
    joined = join_outcomes(pd.DataFrame(rows), pd.DataFrame(labels), label_column="y")
    report = compare_arms(joined)
    assert report.task == "regression" and report.metric == "rmse"  # the task's default
    assert report.metrics == ["rmse", "mae"]
    by_metric = {c.metric: c for c in report.comparisons}
    assert by_metric["mae"].test == "Welch t-test"
    assert by_metric["rmse"].test == "bootstrap, unpaired"
    for comparison in by_metric.values():  # smaller errors, in either metric
        assert comparison.significant and comparison.better is True
        assert comparison.ci_high < 0


def test_join_on_an_entity_column_and_errors() -> None:
    log, _ = _log(50, {"champion": 0.7, "challenger": 0.7, "shadow": 0.7})
    by_customer = pd.DataFrame({"customer": [f"c{i}" for i in range(50)], "label": [1] * 50})
    joined = join_outcomes(log, by_customer, on="customer")
    assert joined["label"].notna().all()
    with pytest.raises(DataError, match="no column 'nope'"):
        join_outcomes(log, by_customer, on="nope")
    with pytest.raises(DataError, match="label-column"):
        join_outcomes(log, by_customer.assign(other=1), on="customer")
    none = pd.DataFrame({"request_id": ["zzz"], "row": [0], "label": [1]})
    with pytest.raises(DataError, match="no logged prediction has a label"):
        compare_arms(join_outcomes(log, none))
    with pytest.raises(DataError, match="'0' are not classes"):
        compare_arms(join_outcomes(log, by_customer.assign(label=0), on="customer"))


# ------------------------------------------------- real data, the project's metric

NUMERIC = ["age", "education_num", "hours_per_week", "capital_gain", "capital_loss"]
RECORDS = 2116


@pytest.fixture(scope="module")
def shadowed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A prediction log of adult records: champion and challenger (the same
    strong model, version 2) split the records, and a weak shadow model scores
    every record. The spec's metric is ROC-AUC."""
    from sklearn.linear_model import LogisticRegression

    from cairn.serving.log import LogEntry, PredictionLog

    root = tmp_path_factory.mktemp("abtest")
    frame = load_dataset("adult").sample(3000 + RECORDS, random_state=0).reset_index(drop=True)
    train, live = frame.iloc[:3000], frame.iloc[3000:].reset_index(drop=True)
    strong = LogisticRegression(max_iter=1000).fit(train[NUMERIC], train["class"])
    weak = LogisticRegression().fit(train[["fnlwgt"]], train["class"])
    classes = [str(c) for c in strong.classes_]
    proba = {
        "strong": strong.predict_proba(live[NUMERIC]),
        "weak": weak.predict_proba(live[["fnlwgt"]]),
    }
    log = PredictionLog(root / "predictions.db").start()
    for i, record in enumerate(live.drop(columns="class").to_dict("records")):
        arm = "champion" if i % 2 == 0 else "challenger"
        for name, kind, version in (
            (arm, "strong", "1" if i % 2 == 0 else "2"),
            ("shadow", "weak", "3"),
        ):
            p = proba[kind][i : i + 1]
            log.write(
                LogEntry(
                    request_id=f"r{i}", ts=1.7e9 + i, model="adult", version=version, arm=name,
                    records=[record], labels=[classes[int(p.argmax())]], probabilities=p,
                    classes=classes, latency_ms=1.0,
                )
            )  # fmt: skip
    log.close()
    live[["class"]].assign(request_id=[f"r{i}" for i in range(len(live))], row=0).to_csv(
        root / "labels.csv", index=False
    )
    train.to_csv(root / "train.csv", index=False)
    (root / "cairn.toml").write_text(
        '[project]\nname = "adult"\n[data]\nsources = [{ path = "train.csv" }]\n'
        '[problem]\ntarget = "class"\nmetric = "roc_auc"\n',
        encoding="utf-8",
    )
    return {"root": root, "live": live, "proba": proba}


def test_report_is_in_the_project_metric_and_counts_records_once(
    shadowed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.metrics import roc_auc_score
    from typer.testing import CliRunner

    from cairn.cli import app

    root = shadowed["root"]
    monkeypatch.chdir(root)
    done = CliRunner().invoke(
        app,
        ["abtest", "report", "--log", "predictions.db", "--labels", "labels.csv",
         "--json", "ab.json"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    text = " ".join(done.output.split())
    # 2,116 records, each logged twice (its arm and the shadow): counted once.
    assert f"Arms on {RECORDS:,} labelled records ({2 * RECORDS:,} logged predictions" in text
    assert "roc_auc [95%" in text and "accuracy [95%" in text
    half = RECORDS // 2
    assert (
        "shadow vs champion, roc_auc: difference" in text
        and "DeLong, paired" in text
        and f"on the {half:,} labelled records both arms scored" in text
    )
    assert f"on {half:,} champion records and {half:,} challenger records" in text
    assert "n=" not in text
    body = json.loads((root / "ab.json").read_text())
    assert body["metric"] == "roc_auc" and body["labelled"] == RECORDS
    assert body["logged"] == 2 * RECORDS
    live, proba = shadowed["live"], shadowed["proba"]
    positive = (live["class"] == ">50K").to_numpy()
    arms = {a["arm"]: a for a in body["arms"]}
    assert arms["shadow"]["n"] == RECORDS and arms["champion"]["n"] == half
    assert arms["shadow"]["metrics"]["roc_auc"]["value"] == pytest.approx(
        roc_auc_score(positive, proba["weak"][:, 1])
    )
    even = np.arange(RECORDS) % 2 == 0
    assert arms["champion"]["metrics"]["roc_auc"]["value"] == pytest.approx(
        roc_auc_score(positive[even], proba["strong"][even, 1])
    )
    tests = {(c["arm"], c["metric"]): c for c in body["comparisons"]}
    assert (
        tests["shadow", "roc_auc"]["significant"] and tests["shadow", "roc_auc"]["better"] is False
    )
    # champion and challenger are the same model on random halves: no difference
    assert not tests["challenger", "roc_auc"]["significant"]
    assert tests["challenger", "accuracy"]["test"] == "two-proportion z-test"
    assert tests["shadow", "accuracy"]["test"] == "McNemar exact"


def test_delong_agrees_with_the_paired_bootstrap(shadowed: dict[str, Any]) -> None:
    from cairn.serving._abtest_metrics import bootstrap_gap
    from cairn.serving._abtest_stats import delong
    from cairn.tasks.bootstrap import metric_statistics

    live, proba = shadowed["live"], shadowed["proba"]
    y = (live["class"] == ">50K").to_numpy()
    strong, weak = proba["strong"], proba["weak"]
    for paired in (True, False):
        diff, se, p_value = delong(strong[:, 1], weak[:, 1], y, y, paired)
        low, high, boot_se, _ = bootstrap_gap(
            metric_statistics("classification", y, proba=strong)["roc_auc"],
            metric_statistics("classification", y, proba=weak)["roc_auc"],
            len(y), len(y), paired=paired, resamples=1000, alpha=0.05, seed=0,
        )  # fmt: skip
        assert se == pytest.approx(boot_se, rel=0.15)
        assert low < diff < high and p_value < 1e-6
    # Pairing removes the shared variation: the paired error is the smaller.
    assert (
        delong(strong[:, 1], weak[:, 1], y, y, True)[1]
        < delong(strong[:, 1], weak[:, 1], y, y, False)[1]
    )


def test_other_metrics_use_a_bootstrap_of_the_difference(shadowed: dict[str, Any]) -> None:
    from cairn.serving.log import read_log

    joined = join_outcomes(
        read_log(shadowed["root"] / "predictions.db"),
        pd.read_csv(shadowed["root"] / "labels.csv"),
    )
    report = compare_arms(joined, metric="log_loss", resamples=300)
    assert report.metrics == ["log_loss", "accuracy"]
    tests = {(c.arm, c.metric): c for c in report.comparisons}
    shadow = tests["shadow", "log_loss"]
    assert shadow.test == "bootstrap, paired" and shadow.paired
    assert shadow.ci_low < shadow.difference < shadow.ci_high
    assert shadow.significant and shadow.better is False  # higher log loss is worse
    assert tests["challenger", "log_loss"].test == "bootstrap, unpaired"


def test_verdict_and_interval_never_disagree(shadowed: dict[str, Any]) -> None:
    """At a significance level just above or just below a comparison's
    p-value, the verdict flips exactly when the interval stops or starts to
    cover zero (z-test, Welch's t-test and DeLong's test share one error)."""
    from cairn.serving.log import read_log

    joined = join_outcomes(
        read_log(shadowed["root"] / "predictions.db"),
        pd.read_csv(shadowed["root"] / "labels.csv"),
    )
    first = compare_arms(joined, metric="roc_auc")
    tests = {(c.arm, c.metric): c for c in first.comparisons}
    for key in (("challenger", "accuracy"), ("challenger", "roc_auc"), ("shadow", "roc_auc")):
        for factor in (0.98, 1.02):
            alpha = min(0.9, tests[key].p_value * factor)
            again = compare_arms(joined, metric="roc_auc", alpha=alpha)
            c = {(c.arm, c.metric): c for c in again.comparisons}[key]
            assert c.significant == (c.ci_low > 0 or c.ci_high < 0), (key, factor, c)
    # Regression: Welch's t-test on absolute errors, on the same records.
    live = shadowed["live"]
    values = live["hours_per_week"].to_numpy(dtype=float)
    rng = np.random.default_rng(4)
    rows = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(len(live))], "row": 0,
            "arm": np.where(np.arange(len(live)) % 2 == 0, "champion", "challenger"),
            "model": "m", "version": "1",
            "prediction": values + rng.normal(0, 8, len(live)) * (1 + np.arange(len(live)) % 2 / 9),
            "label": values,
        }
    )  # fmt: skip
    welch = compare_arms(rows, task="regression", metric="mae")
    (comparison,) = welch.comparisons
    for factor in (0.98, 1.02):
        again = compare_arms(
            rows, task="regression", metric="mae", alpha=min(0.9, comparison.p_value * factor)
        )
        (c,) = again.comparisons
        assert c.test == "Welch t-test"
        assert c.significant == (c.ci_low > 0 or c.ci_high < 0), (factor, c)
