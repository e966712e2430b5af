"""``cairn run`` and ``cairn profile`` on a project whose two sources overlap,
name one column differently and write another's values differently: what
combining found is printed, written (quality.json, combination.json, the EDA
page, the model card) and nothing crashes. (That combination.json reaches
MLflow with the other reports: tests/integration/test_registry.py.)"""

from __future__ import annotations

import json

import pandas as pd

from tests.test_cli import cairn_cli

SPEC = """\
[project]
name = "combined"

[data]
id_columns = ["customerID"]

[[data.sources]]
path = "first.csv"

[[data.sources]]
path = "second.csv"

[problem]
target = "Churn"

[train]
time_budget = 4
include = ["linear"]
"""


def test_run_and_profile_report_the_combination(tmp_path, dataset):
    telco = pd.read_csv(dataset("telco_churn.csv")).sample(n=1500, random_state=0)
    telco.iloc[:1000].to_csv(tmp_path / "first.csv", index=False)
    second = telco.iloc[800:].rename(columns={"MonthlyCharges": "monthly_charges"})
    second["SeniorCitizen"] = second["SeniorCitizen"].map({0: "No", 1: "Yes"})
    second.to_csv(tmp_path / "second.csv", index=False)
    (tmp_path / "cairn.toml").write_text(SPEC, encoding="utf-8")

    done = cairn_cli("run", "cairn.toml", "--no-register", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "combining:" in done.stdout and "2 sources appended into 1,700 rows" in done.stdout
    assert 'rename = { monthly_charges = "MonthlyCharges" }' in done.stdout
    assert 'values = { SeniorCitizen = { No = "0", Yes = "1" } }' in done.stdout

    [run] = (tmp_path / ".cairn" / "runs").iterdir()
    combination = json.loads((run / "combination.json").read_text())
    checks = {f["check"] for f in combination["findings"]}
    assert {"combine_rename_candidate", "combine_value_mismatch"} <= checks
    assert combination["suggested_lines"]["second.csv"] == [
        'rename = { monthly_charges = "MonthlyCharges" }',
        'values = { SeniorCitizen = { No = "0", Yes = "1" } }',
    ]
    quality = json.loads((run / "quality.json").read_text())
    quality_checks = [f["check"] for f in quality["findings"]]
    assert "combine_duplicate_entities" in quality_checks
    assert "combine_entity_split" in quality_checks  # 200 customers in both sources
    assert json.loads((run / "bundle" / "metadata.json").read_text())["split"].startswith(
        "grouped by customerID"
    )
    assert "Combining sources" in (run / "eda.html").read_text()
    assert "## Combining sources" in (run / "model_card.md").read_text()

    profiled = cairn_cli("profile", "cairn.toml", "-o", "profile.html", cwd=tmp_path)
    assert profiled.returncode == 0, profiled.stderr
    page = (tmp_path / "profile.html").read_text()
    assert "Combining sources" in page and "monthly_charges" in page
