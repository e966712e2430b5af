"""The behaviour suite on real models: clean runs of titanic, ames and
adult pass, and each planted problem is caught by the check meant for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cairn.behaviour import CheckResult, SuiteResult
from cairn.behaviour.suite import run_suite
from cairn.exceptions import SpecError
from cairn.spec import TestsSection
from tests.behaviour.conftest import Trained
from tests.conftest import load_dataset

Run = Callable[[str], Trained]


def _suite(run: Trained, model: Any = None, **settings: Any) -> SuiteResult:
    options = {
        k: settings.pop(k) for k in ("labels", "url", "train_rows", "latency_ms") if k in settings
    }
    return run_suite(
        model if model is not None else run.model(),
        run.rows,
        labels=options.pop("labels", run.labels),
        settings=TestsSection.model_validate(settings),
        model_name=str(run.bundle),
        data_name="held-out rows",
        **options,
    )


def _check(result: SuiteResult, name: str) -> CheckResult:
    found = [c for c in result.checks if c.name == name]
    assert found, f"no check {name}; have {[c.name for c in result.checks]}"
    return found[0]


def _failures(result: SuiteResult) -> list[str]:
    return [f"{c.name}: {c.message}" for c in result.checks if not c.ok]


def _training_rows(run: Trained, key: str) -> pd.DataFrame:
    return run.data[~run.data[key].isin(run.rows[key])]


def _with_graph_changed(
    run: Trained, monkeypatch: pytest.MonkeyPatch, change: Callable[[list[Any], Any], Any]
) -> Any:
    """The run's model whose ONNX graph answers ``change(records, output)``."""
    model = run.model()
    assert model.engine == "onnx"
    graph = model._graph
    original = graph.output

    def changed(records: Any) -> Any:
        output, notes = original(records)
        return change(records, np.asarray(output, dtype=float).copy()), notes

    monkeypatch.setattr(graph, "output", changed)
    return model


# ----------------------------------------------------------------- clean runs


def test_clean_titanic_passes_every_check(behaviour_run: Run) -> None:
    run = behaviour_run("titanic")
    result = _suite(
        run,
        train_rows=_training_rows(run, "PassengerId"),
        invariance=[{"column": "PassengerId"}],
    )
    assert result.passed, _failures(result)
    categories = {c.category for c in result.by_status("passed")}
    assert categories == {"edge_case", "invariance", "robustness", "slice", "skew"}
    assert _check(result, "skew/native_vs_onnx").status == "passed"
    assert _check(result, "skew/train_test_overlap").status == "passed"
    assert _check(result, "skew/calibration").measured is not None
    assert result.seconds < 30


def test_clean_ames_passes_with_declared_directions(behaviour_run: Run) -> None:
    run = behaviour_run("ames")
    result = _suite(
        run,
        invariance=[{"column": "Id"}],
        direction=[
            {"column": "GrLivArea", "direction": "increasing"},
            {"column": "OverallQual", "direction": "increasing"},
        ],
    )
    assert result.passed, _failures(result)
    assert result.task == "regression"
    slices = [c for c in result.checks if c.category == "slice"]
    assert len(slices) > 20 and all(c.status == "passed" for c in slices)
    assert _check(result, "skew/calibration").status == "skipped"


def test_an_error_as_large_in_dollars_everywhere_makes_no_weak_slice(
    behaviour_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every prediction 60,000 off: cheap houses (no garage, no central air)
    # are missed by more of their price, but by no more dollars than others.
    run = behaviour_run("ames")
    model = run.model()
    answer = model.raw_output

    def off_by_the_same_amount(frame: pd.DataFrame) -> Any:
        output = np.asarray(answer(frame), dtype=float)
        signs = np.where(np.arange(len(output)) % 2 == 0, 1.0, -1.0)
        return output + 60_000.0 * signs.reshape((-1,) + (1,) * (output.ndim - 1))

    monkeypatch.setattr(model, "raw_output", off_by_the_same_amount)
    slices = [c for c in _suite(run, model=model).checks if c.category == "slice"]
    assert len(slices) > 20
    assert all(c.status == "passed" for c in slices), [c.message for c in slices if not c.ok]


def test_a_segment_missed_by_more_dollars_is_still_a_weak_slice(
    behaviour_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = behaviour_run("ames")
    model = run.model()
    answer = model.raw_output

    def wrong_on_detached_garages(frame: pd.DataFrame) -> Any:
        output = np.asarray(answer(frame), dtype=float)
        detached = frame["GarageType"].astype(str).eq("Detchd").to_numpy()
        return output + 80_000.0 * detached.reshape((-1,) + (1,) * (output.ndim - 1))

    monkeypatch.setattr(model, "raw_output", wrong_on_detached_garages)
    garage = _check(_suite(run, model=model), "slice/GarageType")
    assert garage.status == "failed", garage.message
    assert "Detchd (" in garage.message


def test_clean_adult_passes(behaviour_run: Run) -> None:
    run = behaviour_run("adult")
    result = _suite(run)
    assert result.passed, _failures(result)
    edge = [c for c in result.checks if c.category == "edge_case"]
    # every feature tried at least at its extremes or unseen values, then missing
    assert len(edge) > 5 * 14


# ------------------------------------------------------------ planted problems


def test_a_model_reading_an_id_breaks_its_invariance(behaviour_run: Run) -> None:
    run = behaviour_run("titanic_id_leak")
    result = _suite(run, invariance=[{"column": "customer_id"}, {"column": "PassengerId"}])
    leak = _check(result, "invariance/customer_id")
    assert leak.status == "failed", leak.message
    assert leak.measured is not None and leak.measured > 0.1
    assert leak.details["examples"]
    # the true id column is not read: invariant by construction
    assert _check(result, "invariance/PassengerId").status == "passed"


def test_an_area_in_the_wrong_unit_breaks_the_direction(behaviour_run: Run) -> None:
    planted = _suite(
        behaviour_run("ames_area_in_wrong_unit"),
        direction=[{"column": "GrLivArea", "direction": "increasing"}],
    )
    check = _check(planted, "direction/GrLivArea")
    assert check.status == "failed", check.message
    assert check.measured is not None and check.measured > 0.05


def test_a_segment_the_model_learned_wrong_is_a_weak_slice(behaviour_run: Run) -> None:
    run = behaviour_run("titanic_women_mislabelled")
    truth = load_dataset("titanic").set_index("PassengerId")["Survived"]
    labels = truth.loc[run.rows["PassengerId"]].to_numpy()
    result = _suite(run, labels=labels)
    sex = _check(result, "slice/Sex")
    assert sex.status == "failed", sex.message
    weak = [s["slice"] for s in sex.details["segments"] if s["weak"]]
    assert weak == ["female"]
    # the same model judged on the labels it learned has no weak slice
    assert _check(_suite(run), "slice/Sex").status == "passed"


def test_an_onnx_graph_that_disagrees_is_skew(
    behaviour_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = behaviour_run("titanic")

    def shifted(records: list[Any], output: Any) -> Any:
        output[:, 0] = np.clip(output[:, 0] + 0.2, 0, 1)
        output[:, 1] = 1 - output[:, 0]
        return output

    model = _with_graph_changed(run, monkeypatch, shifted)
    result = _suite(run, model=model)
    skew = _check(result, "skew/native_vs_onnx")
    assert skew.status == "failed", skew.message
    assert skew.measured is not None and skew.measured > 0.1
    assert _check(result, "skew/single_vs_batch").status == "passed"


def test_test_rows_found_in_training_are_leakage(behaviour_run: Run) -> None:
    run = behaviour_run("titanic")
    result = _suite(run, train_rows=run.data)
    overlap = _check(result, "skew/train_test_overlap")
    assert overlap.status == "failed"
    assert overlap.measured == pytest.approx(1.0)


def test_passengers_alike_in_every_feature_are_not_leakage(behaviour_run: Run) -> None:
    # The gate compares with the cleaned training rows: names dropped as
    # personal data, ids kept. Siblings on one ticket share every feature.
    run = behaviour_run("titanic")
    train_rows = _training_rows(run, "PassengerId").drop(columns=["Name", "Survived"])
    features = [c for c in run.rows.columns if c != "PassengerId"]
    alike = (
        run.rows[features]
        .astype(str)
        .merge(train_rows[features].astype(str).drop_duplicates(), how="inner")
    )
    assert len(alike) > 0, "the held-out rows should have look-alikes in training"
    overlap = _check(_suite(run, train_rows=train_rows), "skew/train_test_overlap")
    assert overlap.status == "passed", overlap.message
    assert overlap.measured == 0.0


def test_a_handful_of_rows_is_not_judged_by_shares(behaviour_run: Run) -> None:
    # One flip or one unlucky bin in five rows says nothing about the model.
    run = behaviour_run("titanic")
    few = run_suite(
        run.model(),
        run.rows.head(5),
        labels=run.labels.head(5),
        settings=TestsSection(),
        model_name=str(run.bundle),
        data_name="five rows",
    )
    for name in ("robustness/numeric_noise", "robustness/category_typos"):
        assert _check(few, name).status == "skipped", _check(few, name).message
    calibration = _check(few, "skew/calibration")
    assert calibration.status == "passed", calibration.message
    assert calibration.threshold is not None and calibration.threshold > 0.1
    assert few.passed, _failures(few)


def test_each_slice_check_reports_its_time(behaviour_run: Run) -> None:
    # JUnit's time= and the report's seconds come from here
    result = _suite(behaviour_run("titanic"))
    slices = [c for c in result.checks if c.category == "slice"]
    assert slices and all(c.seconds > 0 for c in slices), [(c.name, c.seconds) for c in slices]


def test_an_empty_target_column_is_no_labels(behaviour_run: Run) -> None:
    run = behaviour_run("titanic")
    empty = pd.Series(np.nan, index=run.labels.index, dtype=object)
    result = _suite(run, labels=empty, sensitive=["Sex"])
    assert result.passed, _failures(result)
    assert _check(result, "slice/(all)").status == "skipped"
    assert _check(result, "skew/calibration").status == "skipped"


def test_a_number_with_few_values_is_grouped_by_value(behaviour_run: Run) -> None:
    # Pclass 1, 2, 3: groups "1", "2", "3", not the ranges "1 – 2" and "2 – 3"
    result = _suite(behaviour_run("titanic"), sensitive=["Pclass"])
    parity = _check(result, "fairness/Pclass/demographic_parity")
    assert set(parity.details["rates"]) <= {"1", "2", "3"}, parity.details["rates"]
    assert len(parity.details["rates"]) >= 2
    segments = _check(result, "slice/Pclass").details["segments"]
    assert {s["slice"] for s in segments} <= {"1", "2", "3"}


def test_fairness_across_a_sensitive_column(behaviour_run: Run) -> None:
    run = behaviour_run("titanic")
    result = _suite(run, sensitive=["Sex"])
    parity = _check(result, "fairness/Sex/demographic_parity")
    # women were far likelier to survive, and the model says so
    assert parity.status == "failed"
    assert parity.measured is not None and parity.measured > 0.3
    assert set(parity.details["rates"]) == {"female", "male"}
    loose = _suite(run, sensitive=["Sex"], fairness_max_gap=1.0)
    assert _check(loose, "fairness/Sex/equal_opportunity").status == "passed"


def test_served_model_gives_the_bundles_verdict(behaviour_run: Run) -> None:
    from cairn.serving.app import create_app
    from cairn.serving.server import run_in_thread

    run = behaviour_run("titanic")
    with run_in_thread(create_app(run.bundle)) as server:
        result = _suite(run, url=server.url)
    http = _check(result, "skew/http_vs_bundle")
    assert http.status == "passed", http.message
    assert http.rows == len(run.rows)
    assert result.passed, _failures(result)


# --------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"invariance": [{"column": "customer_ref"}]}, "tests.invariance: column 'customer_ref'"),
        (
            {"direction": [{"column": "Embarked", "direction": "increasing"}]},
            "tests.direction: column 'Embarked' is categorical; a direction needs a numeric",
        ),
        ({"sensitive": ["ethnicity"]}, "tests.sensitive: column 'ethnicity' is not in the data"),
    ],
)
def test_declared_tests_the_data_cannot_hold_are_one_line_errors(
    behaviour_run: Run, settings: dict[str, Any], expected: str
) -> None:
    with pytest.raises(SpecError, match=expected) as error:
        _suite(behaviour_run("titanic"), **settings)
    assert "\n" not in str(error.value)


# ------------------------------------------------------------ edge cases


def test_a_model_answering_nan_on_huge_values_fails_that_edge_case(
    behaviour_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = behaviour_run("titanic")

    def overflowing(records: list[Any], output: Any) -> Any:
        output[np.array([(r.get("Fare") or 0) > 1e12 for r in records])] = np.nan
        return output

    model = _with_graph_changed(run, monkeypatch, overflowing)
    result = _suite(run, model=model)
    failed = [c.name for c in result.checks if c.category == "edge_case" and not c.ok]
    assert failed == ["edge_case/Fare/huge"]
    assert "non-finite" in _check(result, "edge_case/Fare/huge").message


def test_edge_cases_answer_within_the_latency_objective(behaviour_run: Run) -> None:
    run = behaviour_run("titanic")
    result = _suite(run, latency_ms=0.000001)
    slow = _check(result, "edge_case/Age/max")
    assert slow.status == "failed" and "over the 1e-06 ms objective" in slow.message
    relaxed = _suite(run, latency_ms=10_000)
    assert all(c.ok for c in relaxed.checks if c.category == "edge_case")


def test_a_clustering_runs_what_applies(clustering_bundle: Callable[..., Any]) -> None:
    import cairn

    made = clustering_bundle("kmeans")
    model = cairn.load_model(made.path)
    result = run_suite(
        model,
        made.frame,
        labels=None,
        settings=TestsSection(direction=[{"column": "bill_length_mm", "direction": "increasing"}]),
        model_name=str(made.path),
        data_name="penguins",
    )
    assert result.task == "clustering"
    assert result.passed, _failures(result)
    assert [c.name for c in result.checks if c.category == "edge_case" and c.status == "passed"]
    assert _check(result, "direction/bill_length_mm").status == "skipped"
    assert _check(result, "slice/(all)").status == "skipped"
    assert _check(result, "robustness/numeric_noise").status == "passed"


def test_noise_that_flips_predictions_fails_robustness(behaviour_run: Run) -> None:
    run = behaviour_run("titanic")
    default = _suite(run)
    assert _check(default, "robustness/numeric_noise").status == "passed"
    shaken = _suite(run, robustness_noise=1.0, max_flip_share=0.02)
    noise = _check(shaken, "robustness/numeric_noise")
    assert noise.status == "failed", noise.message
    assert noise.measured is not None and noise.measured > 0.02


def test_overconfident_probabilities_fail_calibration(
    behaviour_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = behaviour_run("titanic")

    def overconfident(records: list[Any], output: Any) -> Any:
        return np.clip((output > 0.5).astype(float), 0.001, 0.999)

    model = _with_graph_changed(run, monkeypatch, overconfident)
    calibration = _check(_suite(run, model=model), "skew/calibration")
    assert calibration.status == "failed", calibration.message
    assert calibration.measured is not None and calibration.measured > 0.1


def test_a_recommender_gets_its_edge_cases_and_the_rest_skipped(recommendation_run: Any) -> None:
    import cairn

    model = cairn.load_model(recommendation_run.bundle_path)
    ratings = pd.DataFrame({"userId": [1], "movieId": [1], "rating": [4.0]})
    result = run_suite(
        model,
        ratings,
        labels=None,
        settings=TestsSection(),
        model_name="movielens",
        data_name="ratings",
        latency_ms=5_000,
    )
    assert result.task == "recommendation"
    assert result.passed, _failures(result)
    edge = {c.name: c for c in result.checks if c.category == "edge_case"}
    assert {"edge_case/user/unseen_user", "edge_case/user/whole_catalogue"} <= set(edge)
    assert all(c.status == "passed" for c in edge.values())
    assert {c.status for c in result.checks if c.category != "edge_case"} == {"skipped"}


def test_dates_are_tried_far_in_the_past_and_future() -> None:
    import cairn

    frame = load_dataset("titanic").drop(columns=["PassengerId"])
    days = np.random.default_rng(0).integers(0, 90, len(frame))
    booked = pd.Timestamp("1912-01-01") + pd.to_timedelta(days, unit="D")
    frame["booked"] = booked.strftime("%d/%m/%Y")  # as the file would hold them
    model = cairn.fit(frame, target="Survived", time_budget=5, include=("lightgbm",))
    assert model.engine == "native" and model.schema["booked"].role == "datetime"
    result = run_suite(
        model,
        # training rows: without their labels, which the model has seen
        frame.sample(n=200, random_state=0).drop(columns=["Survived"]),
        labels=None,
        settings=TestsSection(),
        model_name="in memory",
        data_name="titanic",
    )
    assert result.passed, _failures(result)
    for case in ("date_far_past", "date_far_future", "missing"):
        assert _check(result, f"edge_case/booked/{case}").status == "passed"
    assert "no ONNX graph" in _check(result, "skew/native_vs_onnx").message
