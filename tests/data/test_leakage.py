"""The leakage check: planted near-copies of the target on real data are
excluded (or kept when the spec allows them), honest strong predictors are
not, and the after-search checks compare columns with the final model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.data._leakage import CLOSE_MARGIN, after_search_findings
from cairn.data.quality import check_and_clean
from cairn.data.schema import Role
from cairn.exceptions import DataError
from cairn.tasks import get_task
from tests.conftest import MakeProject, load_dataset


def flipped_copy(labels: pd.Series, share: float, seed: int) -> pd.Series:
    """The labels with ``share`` of them changed to another class at random."""
    rng = np.random.default_rng(seed)
    classes = np.array(sorted(labels.unique()))
    values = labels.to_numpy().copy()
    for position in np.flatnonzero(rng.random(len(values)) < share):
        others = classes[classes != values[position]]
        values[position] = rng.choice(others)
    return pd.Series(values, index=labels.index)


def telco_with_copy(rows: int = 3000) -> pd.DataFrame:
    frame = load_dataset("telco_churn", rows=rows, seed=3)
    frame["churn_flag"] = flipped_copy(frame["Churn"], 0.02, seed=4)
    return frame


def test_binary_copy_with_two_percent_flipped_is_excluded() -> None:
    result = check_and_clean(telco_with_copy(), target="Churn", id_columns=["customerID"])
    (finding,) = result.report.by_check("leakage_suspect")
    assert finding.column == "churn_flag"
    assert finding.severity == "error" and finding.applied
    assert "balanced accuracy 0.9" in finding.message
    assert 'allow_leakage = ["churn_flag"] under [data]' in finding.action
    assert result.schema["churn_flag"].role == Role.IGNORE
    assert "churn_flag" not in result.schema.feature_names
    assert result.report.columns_out == 22 - 2  # the id and the copy out, target counted


def test_allow_leakage_keeps_the_column_with_a_warning() -> None:
    result = check_and_clean(
        telco_with_copy(), target="Churn", id_columns=["customerID"], allow_leakage=["churn_flag"]
    )
    (finding,) = result.report.by_check("leakage_suspect")
    assert finding.severity == "warning" and not finding.applied
    assert "allow_leakage" in finding.action
    assert "churn_flag" in result.schema.feature_names


def test_allow_leakage_naming_an_absent_column_is_refused() -> None:
    frame = load_dataset("telco_churn", rows=500)
    with pytest.raises(DataError, match=r"data.allow_leakage: column 'churn_flg'.*Columns:"):
        check_and_clean(frame, target="Churn", allow_leakage=["churn_flg"])


def test_multiclass_copy_is_excluded() -> None:
    frame = load_dataset("letter", rows=5000, seed=2)
    frame["letter_read"] = flipped_copy(frame["letter"], 0.02, seed=5)
    result = check_and_clean(frame, target="letter")
    leaks = {f.column: f for f in result.report.by_check("leakage_suspect")}
    assert set(leaks) == {"letter_read"}
    assert leaks["letter_read"].severity == "error"
    assert not result.schema["letter_read"].is_feature


def test_regression_copy_with_ten_percent_noise_is_excluded() -> None:
    frame = load_dataset("california_housing", rows=6000, seed=1)
    rng = np.random.default_rng(7)
    target = frame["median_house_value"]
    frame["appraisal"] = target * (1 + rng.normal(0, 0.1, len(frame)))
    result = check_and_clean(frame, target="median_house_value")
    (finding,) = result.report.by_check("leakage_suspect")
    assert finding.column == "appraisal" and finding.severity == "error"
    assert "rank correlation" in finding.message
    assert not result.schema["appraisal"].is_feature


@pytest.mark.parametrize(
    ("name", "target", "strongest"),
    [("iris", "species", "petal_width"), ("power_plant", "PE", "AT")],
)
def test_strong_honest_predictors_are_not_suspects(name: str, target: str, strongest: str) -> None:
    # petal_width alone gets about 95% balanced accuracy on iris, AT alone an
    # R² of about 0.9 on the power plant: strong, but not copies.
    result = check_and_clean(load_dataset(name), target=target)
    assert not [f for f in result.report.findings if f.check.startswith("leakage_")]
    assert strongest in result.schema.feature_names


def test_date_after_the_time_column_is_reported() -> None:
    frame = load_dataset("telco_churn", rows=1000, seed=2)
    start = pd.Timestamp("2024-01-01") - pd.to_timedelta(frame["tenure"] * 30, unit="D")
    frame["signup_date"] = start.dt.strftime("%Y-%m-%d")
    # Filled in when the customer left or renewed: after the signup for 90% of rows.
    later = np.random.default_rng(0).random(len(frame)) < 0.9
    closed = start + pd.to_timedelta(np.where(later, 400, -5), unit="D")
    frame["closed_date"] = closed.dt.strftime("%Y-%m-%d")
    result = check_and_clean(frame, target="Churn", time_column="signup_date")
    (finding,) = result.report.by_check("leakage_future_time")
    assert finding.column == "closed_date" and finding.severity == "warning"
    assert finding.count == int(later.sum())
    assert f"in {int(later.sum())} of 1000 rows" in finding.message


def _telco_split(frame: pd.DataFrame, test: np.ndarray) -> tuple[pd.DataFrame, ...]:
    cleaned = check_and_clean(frame, target="Churn", allow_leakage=["churn_flag"])
    codes = (cleaned.frame["Churn"] == "Yes").to_numpy().astype(np.int64)
    X = cleaned.frame.drop(columns=["Churn"])
    return cleaned, X[~test], codes[~test], X[test], codes[test]  # type: ignore[return-value]


def test_model_no_better_than_one_column_is_reported() -> None:
    frame = telco_with_copy(rows=2000)
    test = np.random.default_rng(0).random(len(frame)) < 0.25
    cleaned, X_train, y_train, X_test, y_test = _telco_split(frame, test)
    # A final model that merely repeats the copy: strong, and no better than it.
    copy_says_yes = (X_test["churn_flag"] == "Yes").to_numpy()
    output = np.c_[np.where(copy_says_yes, 0.1, 0.9), np.where(copy_says_yes, 0.9, 0.1)]
    findings = after_search_findings(
        X_train, y_train, X_test, y_test, output, cleaned.schema, get_task("classification")
    )
    close = [f for f in findings if f.check == "leakage_close_to_model"]
    assert [f.column for f in close] == ["churn_flag"]
    assert close[0].severity == "warning" and close[0].count == int(test.sum())
    assert f"margin {CLOSE_MARGIN}" in close[0].message
    assert not [f for f in findings if f.check == "leakage_test_separation"]


def test_feature_separating_test_from_training_is_reported() -> None:
    frame = load_dataset("telco_churn", rows=2000, seed=5)
    frame["churn_flag"] = frame["Churn"]  # allowed below; irrelevant here
    test = (frame["tenure"] >= 60).to_numpy()
    cleaned, X_train, y_train, X_test, y_test = _telco_split(frame, test)
    weak = np.full((len(X_test), 2), 0.5)
    findings = after_search_findings(
        X_train, y_train, X_test, y_test, weak, cleaned.schema, get_task("classification")
    )
    separating = {f.column: f for f in findings if f.check == "leakage_test_separation"}
    assert "tenure" in separating
    assert separating["tenure"].count == int(test.sum())
    # The split's own column is what the split made differ: not reported.
    excused = after_search_findings(
        X_train,
        y_train,
        X_test,
        y_test,
        weak,
        cleaned.schema,
        get_task("classification"),
        exclude=["tenure"],
    )
    assert "tenure" not in {f.column for f in excused}


def test_run_excludes_the_copy_and_says_so(tmp_path: Path, make_project: MakeProject) -> None:
    from tests.test_cli import cairn_cli

    spec = make_project(
        telco_with_copy(rows=2000),
        problem={"target": "Churn"},
        data={"id_columns": ["customerID"]},
        train={"time_budget": 6, "include": ["lightgbm"]},
    )
    done = cairn_cli("run", str(spec), "--no-register", cwd=spec.parent)
    assert done.returncode == 0, done.stderr
    assert "error [leakage_suspect]" in done.stdout and "churn_flag" in done.stdout
    assert 'allow_leakage = ["churn_flag"]' in done.stdout
    run = next((spec.parent / ".cairn" / "runs").glob("*/evaluation.json")).parent
    auc = json.loads((run / "evaluation.json").read_text())["metrics"]["roc_auc"]
    assert auc < 0.9  # telco's honest level, not the copy's 0.98
    card = (run / "model_card.md").read_text()
    assert "churn_flag" in card and "possible target leakage" in card


def test_allowed_copy_is_compared_with_the_final_model(make_project: MakeProject) -> None:
    import cairn

    spec = make_project(
        telco_with_copy(rows=2000),
        problem={"target": "Churn"},
        data={"id_columns": ["customerID"], "allow_leakage": ["churn_flag"]},
        train={"time_budget": 5, "include": ["lightgbm"]},
    )
    result = cairn.run(spec, register=False)
    kept = result.quality.by_check("leakage_suspect")
    assert [(f.column, f.severity) for f in kept] == [("churn_flag", "warning")]
    close = result.quality.by_check("leakage_close_to_model")
    assert "churn_flag" in {f.column for f in close}
    run = result.bundle_path.parent
    quality = json.loads((run / "quality.json").read_text())
    assert "leakage_close_to_model" in {f["check"] for f in quality["findings"]}
    card = (run / "model_card.md").read_text()
    assert "the model is about as good as column 'churn_flag' alone" in card
    page = Path(result.reports["eda"]).read_text()
    # The EDA page's quality table names checks with spaces.
    assert "leakage close to model" in page and "leakage suspect" in page


def test_a_run_left_with_no_feature_stops_before_the_search(make_project: MakeProject) -> None:
    from tests.test_cli import cairn_cli

    # Only a flipped copy of the target and the customers' e-mails besides it.
    telco = telco_with_copy(rows=600)
    frame = pd.DataFrame(
        {
            "contact": telco["customerID"].str.lower() + "@example.com",
            "churn_flag": telco["churn_flag"],
            "Churn": telco["Churn"],
        }
    )
    spec = make_project(frame, problem={"target": "Churn"}, train={"time_budget": 30})
    done = cairn_cli("run", str(spec), "--no-register", cwd=spec.parent)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "no column is left to learn from" in line
    assert "'churn_flag' (suspected target leakage)" in line
    assert "'contact' (dropped as personal data)" in line
    assert "cross-validating" not in done.stdout + done.stderr


def test_a_copy_among_many_columns_is_found_by_the_screen() -> None:
    """Wide tables are screened by in-sample lookups before the cross-validated
    one-feature models; a near-copy still reaches the models and is flagged."""
    from cairn.data._leakage import SCREEN_ABOVE
    from tests.conftest import wide_frame

    frame = wide_frame("adult", "class", columns=SCREEN_ABOVE + 50, rows=2_000)
    rng = np.random.default_rng(1)
    copy = frame["class"].copy()
    flip = rng.random(len(copy)) < 0.01
    copy[flip] = np.where(
        copy[flip] == copy.iloc[0], copy[copy != copy.iloc[0]].iloc[0], copy.iloc[0]
    )
    frame["class_copy"] = copy
    cleaned = check_and_clean(frame, target="class")
    suspects = [f for f in cleaned.report.findings if f.check == "leakage_suspect"]
    assert [f.column for f in suspects] == ["class_copy"]
    assert cleaned.schema["class_copy"].role == "ignore"


def test_after_the_search_a_wide_table_is_screened_and_still_finds_both_signs() -> None:
    """More columns than SCREEN_ABOVE: the one-feature models after the search
    run only on screened columns, and the planted copy and the column the split
    was cut on are still reported, no noise column is."""
    from cairn.data._leakage import SCREEN_ABOVE

    frame = telco_with_copy(rows=2000)
    rng = np.random.default_rng(3)
    noise = pd.DataFrame(
        rng.normal(size=(len(frame), SCREEN_ABOVE + 20)),
        columns=[f"noise_{i}" for i in range(SCREEN_ABOVE + 20)],
        index=frame.index,
    )
    frame = pd.concat([frame, noise], axis=1)
    test = (frame["tenure"] >= 60).to_numpy()
    cleaned, X_train, y_train, X_test, y_test = _telco_split(frame, test)
    copy_says_yes = (X_test["churn_flag"] == "Yes").to_numpy()
    output = np.c_[np.where(copy_says_yes, 0.1, 0.9), np.where(copy_says_yes, 0.9, 0.1)]
    findings = after_search_findings(
        X_train, y_train, X_test, y_test, output, cleaned.schema, get_task("classification")
    )
    close = {f.column for f in findings if f.check == "leakage_close_to_model"}
    separating = {f.column for f in findings if f.check == "leakage_test_separation"}
    assert close == {"churn_flag"}
    assert "tenure" in separating
    assert not {c for c in close | separating if c.startswith("noise_")}
