"""Performance on labelled production rows: joining labels, metrics per time
window with bootstrap intervals, objectives and degradation against the
test set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression

from cairn.exceptions import DataError
from cairn.monitoring.labels import encode_labels, join_labels
from cairn.monitoring.performance import performance
from cairn.spec import Objective
from tests.conftest import load_dataset

NUMERIC = ["age", "education_num", "hours_per_week", "capital_gain"]


@pytest.fixture(scope="module")
def scored() -> pd.DataFrame:
    """Adult rows scored by a logistic regression trained on other rows, with
    a time stamp spread over ten days."""
    frame = load_dataset("adult").sample(12000, random_state=0).reset_index(drop=True)
    train, live = frame.iloc[:6000], frame.iloc[6000:].reset_index(drop=True)
    model = LogisticRegression(max_iter=500).fit(train[NUMERIC], train["class"] == ">50K")
    proba = model.predict_proba(live[NUMERIC])
    live = live.assign(
        request_id=[f"req-{i}" for i in range(len(live))],
        ts=pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(len(live)) * 144, "s"),
        **{"proba_<=50K": proba[:, 0], "proba_>50K": proba[:, 1]},
    )
    return live


def test_join_by_request_id(scored: pd.DataFrame) -> None:
    labels = scored[["request_id", "class"]].sample(frac=0.5, random_state=1)
    joined, stats = join_labels(
        scored.drop(columns="class"), labels, key=["request_id"], target="class"
    )
    assert stats.matched == len(labels) == len(joined)
    assert stats.unmatched_predictions == len(scored) - len(labels)
    assert (
        joined["__label"].to_numpy()
        == scored.set_index("request_id").loc[joined["request_id"], "class"].to_numpy()
    ).all()
    left, _ = join_labels(
        scored.drop(columns="class"), labels, key=["request_id"], target="class", how="left"
    )
    assert len(left) == len(scored) and left["__label"].notna().sum() == len(labels)
    assert (left["request_id"] == scored["request_id"]).all()  # order kept


def test_join_accepts_a_label_column_of_any_name(scored: pd.DataFrame) -> None:
    labels = scored[["request_id", "class"]].rename(columns={"class": "outcome"})
    joined, _ = join_labels(
        scored.drop(columns="class"), labels, key=["request_id"], target="class"
    )
    assert len(joined) == len(scored)


def test_join_errors_name_the_problem(scored: pd.DataFrame) -> None:
    predictions = scored.drop(columns="class")
    labels = scored[["request_id", "class"]]
    with pytest.raises(DataError, match="no column 'customer'"):
        join_labels(predictions, labels, key=["customer"], target="class")
    repeated = pd.concat([labels.iloc[:3], labels.iloc[:1]])
    with pytest.raises(DataError, match="repeat the key request_id = req-0"):
        join_labels(predictions, repeated, key=["request_id"], target="class")
    other = labels.assign(request_id="x" + labels["request_id"])
    with pytest.raises(DataError, match="no label matched"):
        join_labels(predictions, other, key=["request_id"], target="class")
    with pytest.raises(DataError, match="target column 'class'"):
        join_labels(predictions, labels.assign(extra=1).rename(columns={"class": "y"}),
                    key=["request_id"], target="class")  # fmt: skip


def test_unknown_class_label_is_an_error() -> None:
    with pytest.raises(DataError, match="'maybe'"):
        encode_labels(pd.Series(["yes", "maybe", None]), ["no", "yes"])
    np.testing.assert_array_equal(encode_labels(pd.Series(["yes", None]), ["no", "yes"]), [1, -1])


def test_windows_intervals_and_objectives(scored: pd.DataFrame) -> None:
    y = encode_labels(scored["class"], ["<=50K", ">50K"])
    proba = scored[["proba_<=50K", "proba_>50K"]].to_numpy()
    report = performance(
        y,
        proba,
        task="classification",
        metric="roc_auc",
        timestamps=scored["ts"],
        objectives=[Objective.parse("roc_auc >= 0.95"), Objective.parse("accuracy >= 0.5")],
        test_metrics={"roc_auc": 0.99, "accuracy": 0.5},
        bootstrap=100,
    )
    expected = skm.roc_auc_score(y, proba[:, 1])
    main = report.overall["roc_auc"]
    assert main.value == pytest.approx(expected)
    assert main.low is not None and main.high is not None
    assert main.low < expected < main.high and main.high - main.low < 0.05
    # Ten days of rows: daily windows, each with its own interval.
    assert report.window == "1d" and len(report.windows) == 10
    assert sum(w.n for w in report.windows) == len(y)
    assert all(w.metrics["roc_auc"].low is not None for w in report.windows)
    checks = {c.quantity: c for c in report.objectives}
    assert checks["roc_auc"].met is False and checks["roc_auc"].significant
    assert checks["accuracy"].met is True
    assert not report.objectives_met
    assert report.degraded == ["roc_auc"]  # far below the (made-up) test-set 0.99
    assert "roc_auc" in report.summary()


def test_regression_with_fixed_window_and_latency() -> None:
    frame = load_dataset("california_housing").dropna().sample(6000, random_state=0)
    features = ["median_income", "housing_median_age", "total_rooms"]
    model = LinearRegression().fit(
        frame[features].iloc[:3000], frame["median_house_value"].iloc[:3000]
    )
    live = frame.iloc[3000:]
    prediction = model.predict(live[features])
    times = pd.Series(pd.date_range("2026-03-01", periods=len(live), freq="min", tz="UTC"))
    latency = np.random.default_rng(0).gamma(2.0, 5.0, size=len(live))
    report = performance(
        live["median_house_value"].to_numpy(),
        prediction,
        task="regression",
        metric="rmse",
        timestamps=times,
        window="12h",
        objectives=[Objective.parse("rmse < 1000"), Objective.parse("latency_p99_ms < 100")],
        latency_ms=latency,
        bootstrap=50,
    )
    assert report.overall["rmse"].value == pytest.approx(
        np.sqrt(skm.mean_squared_error(live["median_house_value"], prediction))
    )
    assert len(report.windows) == 5  # 3000 minutes in 12-hour windows
    assert report.latency_ms["latency_p99_ms"] == pytest.approx(np.percentile(latency, 99))
    checks = {c.quantity: c for c in report.objectives}
    assert checks["rmse"].met is False
    assert checks["latency_p99_ms"].met is True and "log" in checks["latency_p99_ms"].how


def test_small_windows_are_reported_without_metrics(scored: pd.DataFrame) -> None:
    y = encode_labels(scored["class"], ["<=50K", ">50K"])[:200]
    proba = scored[["proba_<=50K", "proba_>50K"]].to_numpy()[:200]
    report = performance(
        y, proba, task="classification", metric="roc_auc", timestamps=scored["ts"][:200],
        window="1h", min_window_rows=30, bootstrap=0,
    )  # fmt: skip
    assert any(w.note and not w.metrics for w in report.windows)
    assert report.overall["roc_auc"].low is None  # no bootstrap asked


def test_no_labelled_rows_is_an_error() -> None:
    with pytest.raises(DataError, match="no labelled rows"):
        performance(
            np.array([-1, -1]), np.full((2, 2), 0.5), task="classification", metric="roc_auc"
        )


def _intervals(y: np.ndarray, proba: np.ndarray) -> dict[str, list[float]]:
    from cairn.tasks.bootstrap import bootstrap_intervals

    found = bootstrap_intervals("classification", y, proba=proba, resamples=200)
    return {name: [i.low, i.high] for name, i in found.items()}


def test_an_iid_sample_is_not_degraded(scored: pd.DataFrame) -> None:
    """Test set (600 rows) and production (2,000 rows) drawn from the same
    rows, twenty times: once both figures' intervals are weighed, widened for
    the seven metrics compared at once, at most one draw in twenty calls any
    metric degraded (the family-wise rate is at most 5 %)."""
    y = encode_labels(scored["class"], ["<=50K", ">50K"])
    proba = scored[["proba_<=50K", "proba_>50K"]].to_numpy()
    flagged = []
    for draw in range(20):
        rows = np.random.default_rng(100 + draw).permutation(len(y))
        test, live = rows[:600], rows[600:2600]
        reference = performance(
            y[test], proba[test], task="classification", metric="roc_auc", bootstrap=0
        )
        report = performance(
            y[live], proba[live], task="classification", metric="roc_auc", bootstrap=200,
            test_metrics={k: v.value for k, v in reference.overall.items()},
            test_intervals=_intervals(y[test], proba[test]), seed=draw,
        )  # fmt: skip
        assert len(report.gaps) == 7
        assert all(g.basis.startswith("bootstrap intervals of both") for g in report.gaps.values())
        if report.degraded:
            flagged.append((draw, report.degraded))
    assert len(flagged) <= 1, flagged


def test_the_test_figures_interval_counts(scored: pd.DataFrame) -> None:
    """Precision 0.689 ± 0.065 on the test set against a production figure
    just below it: within the test figure's own interval, so in line; the
    same figure without its interval would be called degraded."""
    y = encode_labels(scored["class"], ["<=50K", ">50K"])[:2000]
    proba = scored[["proba_<=50K", "proba_>50K"]].to_numpy()[:2000]
    first = performance(y, proba, task="classification", metric="roc_auc", bootstrap=200)
    precision = first.overall["precision"]
    assert precision.high is not None
    test = precision.high + 0.01  # just outside the production interval
    kwargs = {"task": "classification", "metric": "roc_auc", "bootstrap": 200}
    judged = performance(
        y, proba, test_metrics={"precision": test},
        test_intervals={"precision": [test - 0.065, test + 0.065]}, **kwargs,
    )  # fmt: skip
    gap = judged.gaps["precision"]
    assert gap.difference.value == pytest.approx(precision.value - test)
    assert gap.difference.low < gap.difference.value < gap.difference.high  # type: ignore[operator]
    assert gap.difference.high > 0 and not gap.degraded and judged.degraded == []
    alone = performance(y, proba, test_metrics={"precision": test}, **kwargs)
    assert alone.degraded == ["precision"]
    assert alone.gaps["precision"].basis.startswith("production interval only")
    # An older bundle: the test interval is estimated from the test set's size.
    sized = performance(y, proba, test_metrics={"precision": test}, test_rows=600, **kwargs)
    assert "600 rows" in sized.gaps["precision"].basis and sized.degraded == []


def test_a_real_degradation_is_still_caught(scored: pd.DataFrame) -> None:
    """A fifth of the labels flipped: worse than the test figures, even with
    their intervals."""
    y = encode_labels(scored["class"], ["<=50K", ">50K"])
    proba = scored[["proba_<=50K", "proba_>50K"]].to_numpy()
    test, live = slice(0, 600), slice(600, 2600)
    flipped = y[live].copy()
    noisy = np.random.default_rng(3).random(len(flipped)) < 0.2
    flipped[noisy] = 1 - flipped[noisy]
    reference = performance(y[test], proba[test], task="classification", metric="roc_auc",
                            bootstrap=0)  # fmt: skip
    report = performance(
        flipped, proba[live], task="classification", metric="roc_auc", bootstrap=200,
        test_metrics={k: v.value for k, v in reference.overall.items()},
        test_intervals=_intervals(y[test], proba[test]),
    )  # fmt: skip
    assert {"roc_auc", "accuracy"} <= set(report.degraded)
    assert report.gaps["roc_auc"].difference.high < 0  # type: ignore[operator]
