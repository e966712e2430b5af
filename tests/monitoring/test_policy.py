"""Health verdict and retraining triggers, and the spec sections that
configure them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from cairn.data.schema import Schema, infer_schema
from cairn.exceptions import SpecError
from cairn.monitoring import build_reference, drift
from cairn.monitoring.performance import PerformanceReport, performance
from cairn.monitoring.policy import health_checks, is_healthy, retrain_advice
from cairn.spec import MaintenanceSection, MonitoringSection, Objective, parse_spec
from tests.conftest import load_dataset

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def housing() -> tuple[pd.DataFrame, Schema]:
    frame = load_dataset("california_housing").sample(frac=1.0, random_state=0)
    schema = infer_schema(frame, target="median_house_value")
    return frame.drop(columns="median_house_value").reset_index(drop=True), schema


def _perf(objective: str) -> PerformanceReport:
    rng = np.random.default_rng(0)
    y = rng.normal(100, 10, size=500)
    return performance(
        y, y + rng.normal(0, 5, size=500), task="regression", metric="rmse",
        objectives=[Objective.parse(objective)], test_metrics={"rmse": 5.0}, bootstrap=50,
    )  # fmt: skip


def test_stable_batch_is_healthy(housing: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = housing
    report = drift(frame.iloc[:3000], build_reference(frame.iloc[3000:], schema))
    checks = health_checks(report, _perf("rmse < 10"), MonitoringSection())
    assert {c.name for c in checks} == {
        "drift", "prediction_drift", "schema", "data_quality", "objectives", "degradation"
    }  # fmt: skip
    assert is_healthy(checks)
    by_name = {c.name: c for c in checks}
    assert by_name["prediction_drift"].ok is None  # no outputs given
    assert by_name["objectives"].ok is True


def test_drift_and_missed_objective_make_it_unhealthy(
    housing: tuple[pd.DataFrame, Schema],
) -> None:
    frame, schema = housing
    west = frame[frame.longitude < -119.5]
    east = frame[frame.longitude >= -119.5]
    report = drift(east, build_reference(west, schema))
    checks = health_checks(report, _perf("rmse < 3"), MonitoringSection())
    failed = {c.name for c in checks if c.ok is False}
    assert {"drift", "objectives", "data_quality"} <= failed
    assert not is_healthy(checks)
    # Only what unhealthy_on lists decides: here nothing that failed.
    lenient = MonitoringSection(unhealthy_on=["schema"])
    assert is_healthy(health_checks(report, _perf("rmse < 3"), lenient))


def test_missing_column_is_a_schema_failure(housing: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = housing
    report = drift(frame.iloc[:500].drop(columns="median_income"), build_reference(frame, schema))
    checks = {c.name: c for c in health_checks(report, None, MonitoringSection())}
    assert checks["schema"].ok is False and "median_income" in checks["schema"].message
    assert checks["objectives"].ok is None


def test_retrain_triggers(housing: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = housing
    shifted = drift(
        frame[frame.longitude >= -119.5], build_reference(frame[frame.longitude < -119.5], schema)
    )
    stable = drift(frame.iloc[:3000], build_reference(frame.iloc[3000:], schema))
    policy = MaintenanceSection()
    advice = retrain_advice(policy, drift=shifted, now=NOW)
    assert advice.due and advice.triggers == ["drift"]
    assert not retrain_advice(policy, drift=stable, now=NOW).due
    assert not retrain_advice(MaintenanceSection(retrain_on_drift=False), drift=shifted).due
    missed = retrain_advice(policy, performance=_perf("rmse < 3"), now=NOW)
    assert missed.triggers == ["objectives"] and "rmse < 3" in missed.reasons[0]
    aged = MaintenanceSection(max_age_days=30)
    assert retrain_advice(aged, champion_created=NOW - timedelta(days=31), now=NOW).triggers == [
        "age"
    ]
    assert not retrain_advice(aged, champion_created=NOW - timedelta(days=29), now=NOW).due
    weekly = MaintenanceSection(schedule="weekly")
    old = NOW - timedelta(days=60)
    assert retrain_advice(
        weekly, champion_created=old, last_retrain=NOW - timedelta(days=8), now=NOW
    ).triggers == ["schedule"]
    assert not retrain_advice(
        weekly, champion_created=old, last_retrain=NOW - timedelta(days=6), now=NOW
    ).due


def _spec(**sections: dict[str, object]) -> dict[str, object]:
    return {
        "project": {"name": "p"},
        "data": {"sources": [{"path": "d.csv"}]},
        "problem": {"target": "y"},
        **sections,
    }


def test_spec_sections_have_defaults_and_reject_unknown_keys() -> None:
    spec = parse_spec(_spec())
    assert spec.monitoring.significance == 0.05 and spec.monitoring.correction == "fdr_bh"
    assert spec.maintenance.data == "reference+new"
    spec = parse_spec(
        _spec(
            monitoring={"numeric_test": "psi", "window": "12h", "unhealthy_on": ["schema"]},
            maintenance={"schedule": "7d", "data": "sliding_window", "window_rows": 5000},
        )
    )
    assert spec.monitoring.numeric_test == "psi" and spec.maintenance.window_rows == 5000
    with pytest.raises(SpecError, match=r"unknown key 'monitoring.treshold'.*significance"):
        parse_spec(_spec(monitoring={"treshold": 0.1}))
    with pytest.raises(SpecError, match=r"maintenance\.schedule.*not a duration"):
        parse_spec(_spec(maintenance={"schedule": "fortnightly"}))
    with pytest.raises(SpecError, match="window_rows"):
        parse_spec(_spec(maintenance={"data": "sliding_window"}))
    with pytest.raises(SpecError, match=r"monitoring\.numeric_test"):
        parse_spec(_spec(monitoring={"numeric_test": "t-test"}))
    with pytest.raises(SpecError, match=r"monitoring\.window"):
        parse_spec(_spec(monitoring={"window": "a while"}))


def test_a_missed_objective_says_whether_its_interval_could_still_meet_it() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(100, 10, size=500)
    prediction = y + rng.normal(0, 5, size=500)
    rmse = float(np.sqrt(np.mean((prediction - y) ** 2)))
    near = performance(
        y, prediction, task="regression", metric="rmse", bootstrap=100,
        objectives=[Objective.parse(f"rmse < {rmse - 0.01:.4f}")],
    )  # fmt: skip
    far = performance(
        y, prediction, task="regression", metric="rmse", bootstrap=100,
        objectives=[Objective.parse("rmse < 3")],
    )  # fmt: skip
    messages = {
        name: {c.name: c.message for c in health_checks(None, perf, MonitoringSection())}
        for name, perf in (("near", near), ("far", far))
    }
    assert "could still be met" in messages["near"]["objectives"]
    assert "missed even at its best end" in messages["far"]["objectives"]
    assert "95% interval" in messages["far"]["objectives"]
