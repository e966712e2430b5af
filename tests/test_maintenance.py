"""Retrain, promote or keep, roll back: with a real registry, real data and
the commands a user runs.

One project is trained once (800 adult rows of people under 40) and registered;
the tests then run in order against its registry, as a user would: a batch
that changes nothing, a shifted batch that earns a promotion, a strict policy
that keeps the champion, and rollbacks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import cairn
from cairn.cli import app
from cairn.exceptions import DataError, RegistryError
from cairn.maintenance import retrain, rollback
from cairn.spec import ProjectSpec, load_spec
from cairn.tracking import CHAMPION, alias_version, list_decisions, list_versions, tracking_uri
from tests.conftest import load_dataset

pytestmark = pytest.mark.slow

FAST_TRAIN = {
    "time_budget": 10,
    "include": ["lightgbm"],
    "max_trials": 0,
    "ensemble": "none",
    "select_features": False,
}


class Project:
    def __init__(self, spec_path: Path, adult: pd.DataFrame) -> None:
        self.spec_path = spec_path
        self.spec = load_spec(spec_path)
        self.uri = tracking_uri(self.spec.project_dir)
        young = adult[adult.age < 40].sample(frac=1.0, random_state=0).reset_index(drop=True)
        self.young = young.iloc[800:2300].reset_index(drop=True)
        self.old = adult[adult.age >= 40].sample(3000, random_state=1).reset_index(drop=True)

    def champion(self) -> str | None:
        return alias_version("adult", CHAMPION, tracking_uri=self.uri)

    def variant(self, **maintenance: object) -> ProjectSpec:
        """The same spec with other [maintenance] settings."""
        changed = self.spec.model_copy(
            update={"maintenance": self.spec.maintenance.model_copy(update=maintenance)}
        )
        changed._root = self.spec.root
        return changed


@pytest.fixture(scope="module")
def project(registered_spec: Path) -> Project:
    return Project(registered_spec, load_dataset("adult"))


@pytest.fixture(scope="module")
def registered_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    adult = load_dataset("adult")
    young = adult[adult.age < 40].sample(frac=1.0, random_state=0).reset_index(drop=True)
    root = tmp_path_factory.mktemp("maintained")
    young.iloc[:800].to_csv(root / "train.csv", index=False)
    train = "\n".join(f"{k} = {json.dumps(v)}" for k, v in FAST_TRAIN.items())
    (root / "cairn.toml").write_text(
        f"""
[project]
name = "adult"

[data]
sources = [{{ path = "train.csv" }}]

[problem]
target = "class"
objectives = ["roc_auc >= 0.8"]

[split]
folds = 3

[train]
{train}

[monitoring]
bootstrap = 50

[maintenance]
holdout = 0.3
min_holdout_rows = 100
""",
        encoding="utf-8",
    )
    with pytest.MonkeyPatch.context() as patch:
        # Module fixtures run before the per-test isolation of the tracking store.
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = cairn.run(root / "cairn.toml")
    assert result.alias == CHAMPION
    assert alias_version("adult", CHAMPION, tracking_uri=tracking_uri(root)) == "1"
    return root / "cairn.toml"


def test_nothing_due_on_a_familiar_batch(project: Project) -> None:
    result = retrain(project.spec, project.young, only_if_due=True)
    assert result.decision == "skipped"
    assert not result.advice.due
    assert [v.version for v in list_versions("adult", tracking_uri=project.uri)] == ["1"]


def test_shifted_batch_earns_a_promotion(project: Project) -> None:
    messages: list[str] = []
    result = retrain(project.spec, project.old, only_if_due=True, progress=messages.append)
    assert result.advice.due and "drift" in result.advice.triggers
    assert result.decision == "promoted", result.summary()
    assert (result.champion_version, result.challenger_version) == ("1", "2")
    assert project.champion() == "2"
    comparison = result.comparison
    assert comparison is not None and comparison.metric == "roc_auc"
    assert comparison.n == 900  # the most recent 30% of the 3,000 new rows
    assert comparison.improvement > 0 and comparison.low is not None
    assert result.data["holdout_rows"] == 900 and result.data["new_rows"] == 2100
    assert all(o.met is not False for o in result.objectives)
    # The evidence is in the registry: tags on the version and a decision run.
    version = list_versions("adult", tracking_uri=project.uri)[-1]
    assert version.tags["cairn.decision"] == "promoted"
    assert version.tags["cairn.previous_champion"] == "1"
    assert set(version.aliases) == {"champion", "challenger"}
    decision = list_decisions("adult", tracking_uri=project.uri)[0]
    assert decision["run_id"] == result.decision_run_id
    evidence = decision["evidence"]
    assert evidence["decision"] == "promoted" and evidence["challenger_version"] == "2"
    assert evidence["comparison"]["champion"] == result.champion_metrics["roc_auc"]
    assert result.evidence_path is not None and result.evidence_path.exists()
    assert any("comparing champion and challenger" in m for m in messages)


def test_strict_policy_keeps_the_champion_and_says_why(project: Project) -> None:
    strict = project.variant(
        promotion_margin=0.5, data="sliding_window", window_rows=2000, holdout=0.25
    )
    strict = strict.model_copy(
        update={"problem": strict.problem.model_copy(update={"objectives": ["roc_auc >= 0.999"]})}
    )
    strict._root = project.spec.root
    result = retrain(strict, project.old)
    assert result.decision == "kept"
    assert project.champion() == "2"
    text = " ".join(result.reasons)
    assert "misses objective" in text and "roc_auc >= 0.999" in text
    assert "does not beat" in text and "margin 0.5" in text
    assert result.data["training_rows"] == 2000  # the sliding window
    version = list_versions("adult", tracking_uri=project.uri)[-1]
    assert version.version == "3" and version.tags["cairn.decision"] == "kept"
    # The losing challenger loses the alias; its version says why it lost.
    assert "challenger" not in version.aliases
    assert alias_version("adult", "challenger", tracking_uri=project.uri) is None
    assert "does not beat" in version.tags["cairn.decision_reason"]


def test_rollback_walks_back_the_promotions(project: Project) -> None:
    result = rollback(project.spec, reason="complaints from sales")
    assert (result.from_version, result.to_version) == ("2", "1")
    assert project.champion() == "1"
    rolled = list_versions("adult", tracking_uri=project.uri)[1]
    assert rolled.tags["cairn.rollback_reason"] == "complaints from sales"
    decision = list_decisions("adult", tracking_uri=project.uri)[0]
    assert decision["decision"] == "rollback" and decision["evidence"]["from_version"] == "2"
    with pytest.raises(RegistryError, match="first version"):
        rollback(project.spec)
    assert rollback(project.spec, to_version=3).to_version == "3"
    with pytest.raises(RegistryError, match="no version 9"):
        rollback(project.spec, to_version=9)
    with pytest.raises(RegistryError, match="already the champion"):
        rollback(project.spec, to_version="3")


def test_cli_versions_rollback_and_retrain(project: Project) -> None:
    runner = CliRunner()
    spec = str(project.spec_path)
    done = runner.invoke(app, ["rollback", spec, "--to", "1", "--reason", "back to 1"])
    assert done.exit_code == 0, done.output
    assert "champion rolled back: version 3 to 1 (back to 1)" in done.output
    done = runner.invoke(app, ["versions", spec])
    assert done.exit_code == 0, done.output
    assert "champion" in done.output and "promoted" in done.output and "rollback" in done.output
    data = project.spec.project_dir / "recent.csv"
    project.young.to_csv(data, index=False)
    done = runner.invoke(app, ["retrain", spec, "--data", str(data), "--if-due"])
    assert done.exit_code == 0, done.output
    assert "retraining not due" in done.output
    done = runner.invoke(app, ["retrain", spec, "--data", str(data.with_name("nope.csv"))])
    assert done.exit_code == 1 and "error:" in done.output


def test_cli_monitor_retrains_when_the_policy_says_so(project: Project) -> None:
    adult = load_dataset("adult")
    seniors = adult[adult.age >= 60].sample(600, random_state=2)
    batch = project.spec.project_dir / "seniors.csv"
    seniors.to_csv(batch, index=False)  # with labels: the target column is there
    before = len(list_versions("adult", tracking_uri=project.uri))
    done = CliRunner().invoke(
        app, ["monitor", str(batch), "--spec", str(project.spec_path), "--retrain"]
    )
    assert done.exit_code == 2, done.output  # the monitored champion was unhealthy
    assert "retraining due" in done.output.lower()
    assert "promoted version" in done.output or "kept version" in done.output
    assert len(list_versions("adult", tracking_uri=project.uri)) == before + 1
    assert list((project.spec.project_dir / ".cairn" / "monitoring").glob("*/report.html"))


def test_retrain_needs_labels_and_enough_rows(project: Project) -> None:
    with pytest.raises(DataError, match="no target column 'class'"):
        retrain(project.spec, project.old.drop(columns="class"))
    with pytest.raises(DataError, match="min_holdout_rows = 100"):
        retrain(project.spec, project.old.iloc[:200])


def test_retrain_needs_a_champion(tmp_path: Path, make_project: object) -> None:
    frame = load_dataset("adult", rows=300)
    spec = make_project(frame, name="fresh", problem={"target": "class"})  # type: ignore[operator]
    with pytest.raises(RegistryError, match="no champion"):
        retrain(spec, frame)
    with pytest.raises(RegistryError, match="no champion"):
        rollback(spec)


def test_retrain_judges_latency_on_the_served_figure_as_run_does(project: Project) -> None:
    """With ``latency_p99_ms < 20``, a challenger served in 3.9 ms over HTTP
    (its run's gate: met) passes, whatever its in-process pipeline takes."""
    from types import SimpleNamespace

    from cairn.evaluation.evaluate import Evaluation, ObjectiveResult
    from cairn.maintenance import _compare
    from cairn.monitoring.policy import RetrainAdvice

    problem = project.spec.problem.model_copy(
        update={"objectives": ["roc_auc >= 0.5", "latency_p99_ms < 20"]}
    )
    spec = project.spec.model_copy(update={"problem": problem})
    spec._root = project.spec.root
    champion = cairn.load_model("models:/adult@champion", tracking_uri=project.uri)
    gate_how = "HTTP load test, concurrency 1, 700 requests, 0 errors"

    def challenger(value: float | None, met: bool) -> SimpleNamespace:
        evaluation = Evaluation(
            task="classification",
            metric="roc_auc",
            metrics={},
            latency_ms={} if value is None else {"latency_p99_ms": value},
            objectives=[
                ObjectiveResult("latency_p99_ms < 20", "latency_p99_ms", value, met, gate_how)
            ],
            native_latency_ms={"native_latency_p99_ms": 26.55},
        )
        return SimpleNamespace(model=champion, evaluation=evaluation, tests=None)

    def latency_verdict(run: SimpleNamespace) -> tuple[Any, list[str]]:
        result = _compare(
            spec,
            champion,
            run,  # type: ignore[arg-type]
            project.old.head(300),
            champion_version="1",
            challenger_version="2",
            advice=RetrainAdvice(due=True),
            data={},
        )
        [latency] = [o for o in result.objectives if o.quantity == "latency_p99_ms"]
        return latency, result.reasons

    latency, reasons = latency_verdict(challenger(3.9, True))
    assert (latency.value, latency.met, latency.how) == (3.9, True, gate_how)
    assert not any("latency" in reason for reason in reasons)
    # a gate that could not measure fails closed, and says so
    latency, reasons = latency_verdict(challenger(None, False))
    assert latency.met is False
    assert any("latency_p99_ms < 20 (HTTP load test" in reason for reason in reasons)
