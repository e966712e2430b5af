"""The last steps: the bundle, serving graph, serving gate and run files
(package), the data profile (explore), the evaluation report and model card
(report), and the MLflow record and registry version (register)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from cairn._io import write_json
from cairn.behaviour import SuiteResult, gate_enabled, gate_summary, hold_reason, run_gate
from cairn.bundle import save_bundle
from cairn.data.pseudonym import KEY_FILE as PRIVACY_KEY_FILE
from cairn.evaluation.evaluate import Evaluation
from cairn.monitoring.reference import REFERENCE_FILE
from cairn.spec import ProjectSpec
from cairn.workflow import _outputs as outputs
from cairn.workflow._clock import Clock, Progress
from cairn.workflow._prepare import Prepared, data_fingerprint
from cairn.workflow._tradeoff import float32_check
from cairn.workflow._train import Tested, Trained

if TYPE_CHECKING:
    from cairn.tracking import TrackedRun


@dataclass
class Packaged:
    """The saved bundle, its metadata, the serving gate, the behaviour tests
    (with ``[tests] gate = true``) and the run's files."""

    bundle_path: Path
    metadata: dict[str, Any]
    reports: dict[str, Path]
    gate: Any = None
    tests: SuiteResult | None = None

    @property
    def promotable(self) -> bool:
        return self.hold_reason is None

    @property
    def hold_reason(self) -> str | None:
        """Why the version may not become champion, or None."""
        reasons = []
        if self.gate is not None and not self.gate.passed:
            reasons.append("the served model missed its latency objectives")
        if self.tests is not None:
            reasons.append(hold_reason(self.tests) or "")
        return "; ".join(r for r in reasons if r) or None


def package(
    spec: ProjectSpec,
    raw: pd.DataFrame,
    prepared: Prepared,
    trained: Trained,
    tested: Tested,
    *,
    run_id: str,
    run_dir: Path,
    say: Progress,
    clock: Clock,
    sensitivity_seconds: float | None = None,
) -> Packaged:
    """The bundle (model, schema, metadata, drift reference, verified serving
    graph), the serving gate when there is a latency objective, and the run's
    tables and JSON files. ``sensitivity_seconds`` bounds the drift
    reference's feature sensitivities."""
    say("packaging the model bundle")
    metadata = _bundle_metadata(spec, raw, prepared, trained, tested, run_id=run_id)
    X_train, _ = prepared.train_rows
    X_test, y_test = prepared.test_rows
    seed = spec.train.seed
    say("profiling the training data for drift checks")
    reference = outputs.reference_profile(
        trained.pipeline,
        prepared.schema,
        X_train,
        X_test,
        tested.output,
        seed=seed,
        seconds=sensitivity_seconds,
    )
    files = {REFERENCE_FILE: reference.to_json().encode("utf-8")}
    say("exporting the serving graph (ONNX) and checking it on the test set")
    from cairn.export import export_serving

    exported = trained.exported or export_serving(
        trained.pipeline, prepared.schema, X_test, seed=seed, float32_check=float32_check(spec)
    )
    metadata["serving"] = exported.summary()
    files.update(exported.files)
    if prepared.cleaned.privacy_key is not None:
        files[PRIVACY_KEY_FILE] = prepared.cleaned.privacy_key
    bundle_path = save_bundle(
        run_dir / "bundle",
        trained.pipeline,
        prepared.schema,
        metadata,
        files=files,
        model_file=trained.model_file,
    )
    trained.model_file = None  # moved into the bundle
    gate = None
    if spec.problem.has_latency_objective:
        say("load-testing the served model against the latency objectives")
        from cairn.serving.gate import apply_gate, latency_gate

        gate = latency_gate(
            bundle_path,
            spec.problem.parsed_objectives,
            X_test,
            duration=spec.serving.gate_duration,
            concurrency=spec.serving.gate_concurrency,
        )
        apply_gate(tested.evaluation, gate, bundle_path)
        clock.lap("serving_gate")
    board = trained.found.leaderboard
    reports = {
        "test_predictions": outputs.write_test_predictions(
            run_dir / "test_predictions.parquet",
            output=tested.output,
            schema=prepared.schema,
            X_test=X_test,
            y_test=y_test,
        ),
        "leaderboard": outputs.write_csv(run_dir / "leaderboard.csv", board),
        "leaderboard_json": write_json(
            run_dir / "leaderboard.json", board.to_dict(orient="records")
        ),
        "trials": outputs.write_csv(run_dir / "trials.csv", trained.found.trials),
        "quality": write_json(run_dir / "quality.json", prepared.cleaned.report.to_dict()),
        "evaluation": write_json(run_dir / "evaluation.json", tested.evaluation.to_dict()),
    }
    if trained.compression is not None:
        reports["compression"] = write_json(
            run_dir / "compression.json", trained.compression.summary()
        )
    combination = prepared.cleaned.report.combination
    if combination is not None:  # logged to MLflow with the other reports
        reports["combination"] = write_json(run_dir / "combination.json", combination)
    clock.lap("package")
    tests = None
    if gate_enabled(spec):
        # After test_predictions.parquet: the gate tests the rows 'cairn test' would.
        say("running the behaviour tests on the test set")
        X_train, _ = prepared.train_rows
        tests, written = run_gate(spec, run_dir, train_rows=X_train)
        metadata["behaviour_tests"] = gate_summary(tests)
        reports.update({f"behaviour_{name}": path for name, path in written.items()})
        clock.lap("behaviour_tests")
    return Packaged(bundle_path, metadata, reports, gate, tests)


def _bundle_metadata(
    spec: ProjectSpec,
    raw: pd.DataFrame,
    prepared: Prepared,
    trained: Trained,
    tested: Tested,
    *,
    run_id: str,
) -> dict[str, Any]:
    """What the bundle records about its run: data, split, search, test figures."""
    found, final, evaluation = trained.found, trained.final, tested.evaluation
    X_train, _ = prepared.train_rows
    X_test, y_test = prepared.test_rows
    metric = prepared.metric
    rows = {"raw": len(raw), "clean": len(prepared.frame), "train": len(X_train)}
    return {
        **outputs.run_identity(spec, raw, run_id=run_id),
        "task": prepared.task,
        "target": spec.problem.target,
        "metric": metric,
        "model": trained.model,
        "model_label": final.description,
        "ensemble": final.members,
        "search": {
            "trials": found.n_trials,
            "phases_s": found.phases,
            "tuner": spec.train.tuner,
            "dropped_features": found.dropped_features,
            "features_selected": found.selected_features is not None,
            "target_transform": found.target_transform,
            "temperature": found.temperature,
        },
        "classes": list(prepared.schema.classes or ()),
        "spec_sha256": spec.fingerprint(),
        "data_fingerprint": data_fingerprint(raw),
        "rows": {**rows, "test": len(X_test)},
        "split": prepared.strategy,
        "metrics": evaluation.metrics,
        "metric_intervals": outputs.test_metric_intervals(
            tested.output, y_test, prepared.task, seed=spec.train.seed
        ),
        "latency_ms": evaluation.latency_ms,
        "native_latency_ms": evaluation.native_latency_ms,
        "objectives": [o.__dict__ for o in evaluation.objectives],
        "objectives_met": evaluation.objectives_met,
        "cv": {"metric": metric, "mean": _cv_mean(found.leaderboard, trained.name, metric)},
        "tradeoff": _tradeoff_summary(trained, spec.cost.cpu_hour),
    }


def _cv_mean(board: pd.DataFrame, name: str, metric: str) -> float:
    """The final model's cross-validated metric (the leader's if it has no row)."""
    rows = board[board["model"] == name]
    return float((rows if len(rows) else board).iloc[0][f"cv_{metric}_mean"])


def _tradeoff_summary(trained: Trained, cpu_hour: float) -> dict[str, Any]:
    """The final model's measured serving figures and, when the objectives
    chose it on the front, what the choice traded."""
    summary: dict[str, Any] = {
        "model": trained.name,
        "cpu_hour": cpu_hour,
        "measured": trained.found.measured.get(trained.name, {}),
        "candidates_measured": len(trained.found.measured),
    }
    if trained.choice is not None:
        summary.update(trained.choice.to_dict())
    return summary


def explore(spec: ProjectSpec, raw: pd.DataFrame, prepared: Prepared, run_dir: Path) -> Path:
    """The data profile (EDA) of the raw table, written into the run folder."""
    from cairn.eda import profile, write_profile_report

    data = profile(
        raw,
        target=spec.problem.target,
        task=prepared.task,
        schema=prepared.cleaned.schema,
        quality=prepared.cleaned.report,
        source=", ".join(source.label for source in spec.data.sources),
    )
    return write_profile_report(data, run_dir / "eda.html")


def report(
    spec: ProjectSpec, trained: Trained, run_dir: Path, *, timings: dict[str, float], seconds: float
) -> dict[str, Path]:
    """The evaluation report and the model card, from the run folder."""
    from cairn.evaluation.card import write_model_card
    from cairn.evaluation.report import analyse_run, write_evaluation_report
    from cairn.evaluation.run_folder import load_run

    folder = load_run(run_dir)
    folder.timings = dict(timings)
    analysis = analyse_run(
        folder, model=trained.pipeline, seed=spec.train.seed, time_budget=seconds
    )
    card, card_html = write_model_card(analysis)
    return {
        "evaluation_report": write_evaluation_report(analysis),
        "model_card": card,
        "model_card_html": card_html,
    }


def register(
    spec: ProjectSpec,
    trained: Trained,
    packaged: Packaged,
    evaluation: Evaluation,
    *,
    run_id: str,
    bundle_path: Path,
    reports: dict[str, Path],
    seconds: float,
    say: Progress,
) -> TrackedRun:
    """Record the run in MLflow and register its bundle as a new version; it
    becomes champion unless the served model missed its latency objectives
    or failed its gated behaviour tests."""
    say("recording the run in MLflow and registering the model")
    from cairn.tracking import record_run

    best = trained.best.name
    metric = evaluation.metric
    metrics = outputs.run_metrics(trained.found.candidates, metric, evaluation)
    metrics.update(outputs.tradeoff_metrics(trained.found.measured, trained.name))
    if packaged.tests is not None:
        counts = packaged.metadata["behaviour_tests"]["counts"]
        metrics["tests_passed"] = float(counts["passed"])
        metrics["tests_failed"] = float(counts["failed"] + counts["error"])
        metrics["tests_skipped"] = float(counts["skipped"])
    return record_run(
        project=spec.project.name,
        project_dir=spec.project_dir,
        configured_uri=spec.tracking.uri,
        artifacts=spec.tracking.artifacts,
        params=outputs.run_params(spec, evaluation.task, metric, best, seconds),
        metrics=metrics,
        reports=list(reports.values()),
        bundle_dir=bundle_path,
        tags={"cairn.run_id": run_id, "cairn.model": best},
        promote=packaged.promotable,
        hold_reason=packaged.hold_reason,
        examples=reports["test_predictions"],
    )
