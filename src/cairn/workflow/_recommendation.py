"""The whole job for a recommendation spec: read the interactions and the
side tables apart → build the interactions (checks, duplicates aggregated)
→ split them by user (by time when there is a time column) → search the
candidates on train / validation under the budget → refit the chosen one on
train + validation and score it on the test users (intervals over users,
metric@k curves, activity segments, example users, the popularity
baseline) → refit on every interaction for the bundle when time allows →
bundle, run folder, reports → register.

The user's budget covers the whole run: the search gets what is left after
reading and splitting, less a reserve for the refits, the evaluation and
the files that follow (see :func:`_search_seconds`).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from cairn._io import json_safe, write_json
from cairn.bundle import ITEMS_FILE, Model, library_versions, save_bundle
from cairn.data.findings import Finding, QualityReport
from cairn.data.schema import ColumnSchema, Role, Schema, missing_column_message
from cairn.data.sources import apply_source_options, read_source
from cairn.evaluation import (
    RecommendationResults,
)
from cairn.evaluation.evaluate import Evaluation, check_objectives
from cairn.evaluation.run_state import start_run_folder
from cairn.exceptions import DataError, SpecError
from cairn.models.recommendation import (
    Interactions,
    InteractionSplit,
    build_interactions,
    split_interactions,
)
from cairn.spec import ProjectSpec
from cairn.tasks import get_task
from cairn.workflow import _outputs as outputs
from cairn.workflow._clock import Clock, Progress
from cairn.workflow._recommendation_measure import (
    RECOMMEND_HOW,
    RESAMPLES,
    measure,
    recommend_latency,
)
from cairn.workflow._result import RunResult

__all__ = ["run_recommendation"]

#: Share of the budget the search may take at most; the rest pays for the
#: refits, the evaluation, the bundle and the reports.
_SEARCH_SHARE = 0.5
#: A refit on more interactions takes this much longer than the trial did,
#: and what follows it (scoring, bundle, reports) about this many seconds.
_REFIT_GROWTH = 1.2
_POST_REFIT_S = 2.0
_MIN_SEARCH_SECONDS = 2.0
_REGISTER_OVERHEAD_S = 5.0


@dataclass
class Sources:
    """The interactions (every source that is not a side table, appended)
    and the side tables by their source name."""

    interactions: pd.DataFrame
    labels: list[str]
    sides: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return ", ".join(self.labels)


def read_sources(spec: ProjectSpec, say: Progress) -> Sources:
    """The interaction sources appended, and the item / user side tables kept apart.

    Raises:
        SpecError: ``recommendation.items`` or ``users`` names no source, or
            every source is a side table.
    """
    say("reading data")
    settings = spec.recommendation
    side_names = {name for name in (settings.items, settings.users) if name}
    named = {source.name for source in spec.data.sources if source.name}
    for role, name in (("items", settings.items), ("users", settings.users)):
        if name and name not in named:
            raise SpecError(
                f"recommendation.{role} = {name!r} names no source; give the side table's "
                f"[[data.sources]] entry name = {name!r} (named sources: "
                f"{', '.join(sorted(named)) or 'none'})"
            )
    frames: list[pd.DataFrame] = []
    labels: list[str] = []
    sides: dict[str, pd.DataFrame] = {}
    for source in spec.data.sources:
        frame = apply_source_options(read_source(source, root=spec.root), source, source.label)
        if source.name in side_names:
            sides[str(source.name)] = frame
        else:
            frames.append(frame)
            labels.append(source.label)
    if not frames:
        raise SpecError(
            "every source is a side table: add the interactions (user, item, ...) as a "
            "source without the name of recommendation.items / users"
        )
    interactions = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return Sources(interactions, labels, sides)


def _keys(spec: ProjectSpec) -> tuple[str, str]:
    """The user and item columns (the spec requires both for this task)."""
    user, item = spec.problem.user, spec.problem.item
    if not user or not item:
        raise SpecError("a recommendation needs problem.user and problem.item, the id columns")
    return user, item


def _check_columns(spec: ProjectSpec, sources: Sources) -> None:
    """Every column the spec names is in the interactions, and the item
    table holds the item column."""
    problem = spec.problem
    _, item = _keys(spec)
    frame = sources.interactions
    for key in ("user", "item", "rating", "weight"):
        column = getattr(problem, key, None)
        if column and column not in frame.columns:
            raise DataError(
                missing_column_message(f"problem.{key}", column, list(frame.columns), sources.label)
            )
    time_column = spec.data.time_column
    if time_column and time_column not in frame.columns:
        raise DataError(
            missing_column_message(
                "data.time_column", time_column, list(frame.columns), sources.label
            )
        )
    items = spec.recommendation.items
    if items and item not in sources.sides[items].columns:
        raise DataError(
            missing_column_message(
                "problem.item",
                item,
                list(sources.sides[items].columns),
                f"the item table {items!r} (recommendation.items), which is keyed by it",
            )
        )


def _item_table(
    spec: ProjectSpec, sources: Sources, inter: Interactions
) -> tuple[pd.DataFrame | None, list[str]]:
    """The item side table (the key, the title and the text columns, one
    row per item id, the first when repeated, keyed like the interactions)
    and the text columns the content model reads."""
    name = spec.recommendation.items
    if not name:
        return None, []
    table = sources.sides[name]
    key = _keys(spec)[1]
    texts = list(spec.recommendation.item_text or [])
    missing = [c for c in texts if c not in table.columns]
    if missing:
        raise DataError(
            missing_column_message(
                "recommendation.item_text column", missing[0], list(table.columns), name
            )
        )
    if not texts:
        texts = [
            str(c)
            for c in table.columns
            if c != key and not pd.api.types.is_numeric_dtype(table[c])
        ]
    title = next((c for c in table.columns if str(c).lower() in ("title", "name")), None)
    keep = list(dict.fromkeys([key, *([title] if title else []), *texts]))
    table = table[keep].drop_duplicates(subset=[key]).copy()
    # The item ids as the interactions hold them, so titles match by value.
    known = pd.Series(inter.item_ids)
    as_text = dict(zip(known.astype(str), known, strict=True))
    table[key] = [as_text.get(str(v), v) for v in table[key]]
    return table.reset_index(drop=True), texts


def _search_seconds(seconds: float, spent: float) -> float:
    return max(_MIN_SEARCH_SECONDS, (seconds - spent) * _SEARCH_SHARE)


def _schema(spec: ProjectSpec, inter: Interactions) -> Schema:
    user, item = _keys(spec)
    columns = tuple(
        ColumnSchema(
            name=name,
            role=Role.ID,
            dtype="int" if np.issubdtype(np.asarray(ids).dtype, np.integer) else "string",
            nullable=False,
            n_unique=len(ids),
            reason=f"the {role}",
        )
        for name, role, ids in (
            (user, "user", inter.user_ids),
            (item, "item", inter.item_ids),
        )
    )
    return Schema(columns=columns, target=None, task="recommendation")


def _quality(
    findings: list[Finding],
    raw: pd.DataFrame,
    inter: Interactions,
    split: InteractionSplit,
    *,
    columns_used: int,
) -> QualityReport:
    report = QualityReport(
        findings=list(findings),
        rows_in=len(raw),
        rows_out=len(inter.users),
        columns_in=len(raw.columns),
        columns_out=columns_used,
        has_target=False,
    )
    counts = split.counts
    cold = int(counts.get("cold_test_users", 0) or 0)
    if cold:
        report.findings.append(
            Finding(
                "cold_test_users",
                "info",
                None,
                cold,
                f"{cold} test user(s) have no interaction before the test period",
                "they get the popularity fallback and are scored as cold users",
                True,
            )
        )
    return report


def _leaderboard(search: Any) -> pd.DataFrame:
    """Every trial of the search, the chosen one first and marked, the rest
    best first."""
    board = search.leaderboard.copy()
    same_model = (board["model"] == search.chosen).to_numpy()
    params = json.dumps(search.params, sort_keys=True, default=float)
    exact = same_model & (board["params"] == params).to_numpy()
    marked = exact if exact.any() else same_model
    chosen = np.zeros(len(board), dtype=bool)
    if marked.any():
        chosen[int(np.flatnonzero(marked)[0])] = True
    board.insert(0, "chosen", chosen)
    order = np.argsort(~chosen, kind="stable")
    return board.iloc[order].reset_index(drop=True)


def _train_seconds(board: pd.DataFrame) -> float:
    """The chosen trial's training time (a blend's: its members' together)."""
    value = board.iloc[0].get("train_s") if len(board) else None
    return float(value) if value is not None and np.isfinite(value) else 0.0


def _rule(search: Any, board: pd.DataFrame, metric: str) -> str:
    """Why the chosen model was chosen, in words."""
    value = search.validation.get(metric)
    shown = f" ({float(value):.4g})" if value is not None and np.isfinite(value) else ""
    models = sorted(set(board["model"]) - {"blend"})
    rule = (
        f"the best {metric} on the validation users{shown} of {len(board)} trials of "
        f"{', '.join(models)}"
    )
    if search.chosen == "blend":
        members = ", ".join(
            f"{m['model']} ({float(m['weight']):.2f})" for m in search.params["members"]
        )
        rule += f": a blend of {members}, better than any of them alone"
    return rule


def run_recommendation(
    spec: ProjectSpec, *, seconds: float, registering: bool, say: Progress, clock: Clock
) -> RunResult:
    """``cairn run`` for a recommendation spec; see the module docstring."""
    problem, settings = spec.problem, spec.recommendation
    metric = problem.metric or get_task("recommendation").default_metric()
    sources = read_sources(spec, say)
    _check_columns(spec, sources)
    clock.lap("ingest")
    say("checking the interactions")
    user, item = _keys(spec)
    inter, findings = build_interactions(
        sources.interactions,
        user=user,
        item=item,
        rating=problem.rating,
        weight=problem.weight,
        time=spec.data.time_column,
        relevance_threshold=problem.relevance_threshold,
        rating_scale=problem.rating_scale,
        source=sources.label,
    )
    items, texts = _item_table(spec, sources, inter)
    split = split_interactions(
        inter,
        strategy=settings.split,
        test_size=settings.test_size,
        last_n=settings.last_n,
        min_user_interactions=settings.min_user_interactions,
        seed=spec.train.seed,
    )
    if not len(split.test.users):
        raise DataError(
            f"{sources.label}: the split left no test interactions "
            f"({json_safe(split.counts)}); give more interactions per user or lower "
            "recommendation.min_user_interactions"
        )
    named = (problem.user, problem.item, problem.rating, problem.weight, spec.data.time_column)
    quality = _quality(
        findings,
        sources.interactions,
        inter,
        split,
        columns_used=len({c for c in named if c}),
    )
    clock.lap("prepare")
    reserve = _REGISTER_OVERHEAD_S if registering else 0.0
    budget = _search_seconds(seconds - reserve, clock.elapsed())
    # Left at its default, the list holds the content model only with an item table.
    algorithms = [
        name
        for name in settings.algorithms
        if name != "content" or items is not None or "algorithms" in settings.model_fields_set
    ]
    say(f"searching recommenders ({', '.join(algorithms)}, {budget:.0f}s)")
    from cairn.models.recommendation import search_recommenders

    search = search_recommenders(
        cast(Any, split),  # the search's split protocol declares mutable attributes
        metric=metric,
        time_budget=budget,
        seed=spec.train.seed,
        algorithms=tuple(algorithms),
        item_text=None if items is None else items.set_index(item)[texts],
        exclude_seen=settings.exclude_seen,
    )
    board = _leaderboard(search)
    clock.lap("search")
    left = seconds - reserve - clock.elapsed()
    # A refit costs about what the chosen trial took on the training part,
    # a little more on more data; without the time for it, the model the
    # search fitted on training alone is the one tested.
    estimate = _REFIT_GROWTH * _train_seconds(board) + _POST_REFIT_S
    if left > estimate:
        say(f"refitting {search.chosen} on training and validation, scoring the test users")
        known = split.train_and_validation
        tested, tested_fit = search.fit(known), "training and validation interactions"
    else:
        say(f"scoring {search.chosen} (fitted on training) on the test users")
        known = split.train
        tested, tested_fit = search.recommender, "training interactions only (no time to refit)"
    fitted_at = clock.elapsed()
    measured = measure(spec, tested, known, split.test, metric=metric, items=items)
    clock.lap("evaluate")
    final, final_fit = tested, "the tested model's (no time to refit on every interaction)"
    refit_seconds = max(fitted_at - (seconds - reserve - left), _train_seconds(board))
    if seconds - reserve - clock.elapsed() > _REFIT_GROWTH * refit_seconds + _POST_REFIT_S:
        say(f"refitting {search.chosen} on every interaction for the bundle")
        final, final_fit = search.fit(inter), "every interaction"
    clock.lap("refit")
    latency = recommend_latency(
        final, settings.k, exclude_seen=settings.exclude_seen, seed=spec.train.seed
    )
    measured_all = {**measured.metrics, **latency}
    objectives = [
        dataclasses.replace(o, how=RECOMMEND_HOW) if o.quantity.startswith("latency") else o
        for o in check_objectives(problem.parsed_objectives, measured_all)
    ]
    evaluation = Evaluation(
        task="recommendation",
        metric=metric,
        metrics=measured.metrics,
        latency_ms=latency,
        objectives=objectives,
        n_test=int(measured.metrics.get("users", 0)),
    )
    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    partial_dir = start_run_folder(spec.state_dir / "runs", run_id)
    say("packaging the model bundle")
    results = RecommendationResults(
        project=spec.project.name,
        description=spec.project.description or "",
        metric=metric,
        k=settings.k,
        chosen=str(search.chosen),
        rule=_rule(search, board, metric),
        metrics=measured.metrics,
        intervals=measured.intervals,
        resamples=RESAMPLES,
        baseline=measured.baseline,
        curves=measured.curves,
        leaderboard=json_safe(board.drop(columns=["chosen"]).to_dict(orient="records")),
        segments=json_safe(measured.segments),
        examples=measured.examples,
        findings=[dataclasses.asdict(f) for f in quality.findings],
        data=_data_summary(spec, inter, items),
        split=json_safe({"strategy": split.strategy, **split.counts}),
        objectives=[dataclasses.asdict(o) for o in objectives],
        latency_ms=latency,
        components=json_safe(getattr(final, "description", {}) or {}),
        final_fit=final_fit,
        tested_fit=tested_fit,
        versions=library_versions(),
    )
    schema = _schema(spec, inter)
    metadata = _metadata(spec, sources, inter, split, results, evaluation, run_id=run_id)
    files = dict(final.to_files())
    if items is not None:
        files[ITEMS_FILE] = items.to_parquet(index=False)
    bundle_in_partial = save_bundle(partial_dir / "bundle", final, schema, metadata, files=files)
    reports = {
        "leaderboard": outputs.write_csv(partial_dir / "leaderboard.csv", board),
        "quality": write_json(partial_dir / "quality.json", quality.to_dict()),
        "evaluation": write_json(partial_dir / "evaluation.json", evaluation.to_dict()),
        "recommendation": write_json(partial_dir / RecommendationResults.FILE, results.to_dict()),
    }
    clock.lap("package")
    say("writing reports: recommendation report, model card")
    reports.update(_reports(results, partial_dir))
    clock.lap("reports")
    clock.total()
    run_dir, bundle_path, reports = outputs.finish_run(
        partial_dir, bundle_in_partial, reports, clock.timings
    )
    result = RunResult(
        run_id=run_id,
        spec=spec,
        leaderboard=board,
        evaluation=evaluation,
        quality=quality,
        bundle_path=bundle_path,
        model=Model(final, schema, metadata, path=bundle_path, items=items),
        reports=reports,
        timings=clock.timings,
    )
    if registering:
        _register(spec, result, seconds=seconds, say=say)
        clock.lap("track")
        clock.total()
        write_json(run_dir / "timings.json", clock.timings)
    return result


def _data_summary(
    spec: ProjectSpec, inter: Interactions, items: pd.DataFrame | None
) -> dict[str, Any]:
    problem = spec.problem
    n_users, n_items = len(inter.user_ids), len(inter.item_ids)
    feedback = (
        f"explicit ratings ({problem.rating})"
        if inter.explicit
        else f"implicit events{f' weighted by {problem.weight}' if problem.weight else ''}"
    )
    threshold = inter.relevance_threshold
    return {
        "users": n_users,
        "items": n_items,
        "interactions": len(inter.users),
        "density": round(len(inter.users) / max(1, n_users * n_items), 6),
        "feedback": feedback,
        "relevant": (
            f"rating >= {threshold:g}"
            if inter.explicit and threshold is not None
            else ("rating >= the user's mean" if inter.explicit else "every interaction")
        ),
        "time column": spec.data.time_column or "none",
        "item table": (
            f"{spec.recommendation.items} ({len(items):,} items)" if items is not None else "none"
        ),
    }


def _metadata(
    spec: ProjectSpec,
    sources: Sources,
    inter: Interactions,
    split: InteractionSplit,
    results: RecommendationResults,
    evaluation: Evaluation,
    *,
    run_id: str,
) -> dict[str, Any]:
    from cairn.workflow._prepare import data_fingerprint

    problem, settings = spec.problem, spec.recommendation
    raw = sources.interactions
    return {
        **outputs.run_identity(spec, raw, run_id=run_id),
        "task": "recommendation",
        "target": None,
        "metric": results.metric,
        "model": results.chosen,
        "model_label": results.chosen,
        "classes": [],
        "spec_sha256": spec.fingerprint(),
        "data_fingerprint": data_fingerprint(raw),
        "rows": {"raw": len(raw), "clean": len(inter.users)},
        "metrics": results.metrics,
        "metric_intervals": results.intervals,
        "latency_ms": results.latency_ms,
        "objectives": [o.__dict__ for o in evaluation.objectives],
        "objectives_met": evaluation.objectives_met,
        "recommendation": {
            "user": problem.user,
            "item": problem.item,
            "rating": problem.rating,
            "weight": problem.weight,
            "time": spec.data.time_column,
            "relevance_threshold": inter.relevance_threshold,
            "k": settings.k,
            "exclude_seen": settings.exclude_seen,
            "components": results.components,
            "items_table": settings.items is not None and bool(results.data.get("item table")),
            "n_users": len(inter.user_ids),
            "n_items": len(inter.item_ids),
            "split": results.split,
            "baseline": results.baseline,
            "rule": results.rule,
            "final_fit": results.final_fit,
            "tested_fit": results.tested_fit,
        },
    }


def _reports(results: RecommendationResults, run_dir: Path) -> dict[str, Path]:
    """The recommendation report (``evaluation.html``) and the model card."""
    from cairn.evaluation import write_recommendation_card, write_recommendation_report

    card, card_html = write_recommendation_card(results, run_dir)
    return {
        "evaluation_report": write_recommendation_report(results, run_dir / "evaluation.html"),
        "model_card": card,
        "model_card_html": card_html,
    }


def _register(spec: ProjectSpec, result: RunResult, *, seconds: float, say: Progress) -> None:
    say("recording the run in MLflow and registering the model")
    from cairn.tracking import record_run

    evaluation = result.evaluation
    metrics = {
        name: float(value)
        for name, value in {**evaluation.metrics, **evaluation.latency_ms}.items()
        if value is not None and np.isfinite(value)
    }
    model = str(result.model.metadata.get("model"))
    tracked = record_run(
        project=spec.project.name,
        project_dir=spec.project_dir,
        configured_uri=spec.tracking.uri,
        artifacts=spec.tracking.artifacts,
        params={
            "task": "recommendation",
            "metric": evaluation.metric,
            "model": model,
            "k": spec.recommendation.k,
            "split": spec.recommendation.split,
            "time_budget": seconds,
            "seed": spec.train.seed,
        },
        metrics=metrics,
        reports=list(result.reports.values()),
        bundle_dir=result.bundle_path,
        tags={"cairn.run_id": result.run_id, "cairn.model": model},
    )
    result.model_uri = tracked.model_uri
    result.alias = tracked.alias
    result.registry_note = tracked.note
