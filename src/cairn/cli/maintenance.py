"""The monitoring and maintenance commands: ``cairn monitor``, ``retrain``,
``promote``, ``rollback`` and ``versions``.

Everything heavy is imported inside the commands, so ``cairn --help`` stays
fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cairn.cli._common import (
    OBJECTIVE_MARKS,
    console,
    find_spec,
    label_key,
    prediction_log_path,
    progress_status,
    read_prediction_log,
    tracking_store,
    user_errors,
)

if TYPE_CHECKING:
    import pandas as pd

    from cairn.bundle import Model
    from cairn.monitoring.monitor import MonitorReport
    from cairn.monitoring.performance import JoinStats
    from cairn.spec import ProjectSpec

#: Exit status when the policy says the model is unhealthy.
UNHEALTHY_EXIT = 2
_LOG_COLUMNS = ("request_id", "row", "ts", "model", "version", "arm", "latency_ms")


def _load(model: str | None, spec: ProjectSpec | None) -> tuple[Model, dict[str, Any]]:
    """The model to monitor and what to call it: ``--model``, else the
    project's champion."""
    from cairn.exceptions import SpecError
    from cairn.tracking import describe_version, load_model

    if model is None:
        if spec is None:
            raise SpecError(
                "no model to monitor: pass --model (a bundle folder or models:/NAME@ALIAS), "
                "or run from a project folder with a cairn.toml (or pass --spec)"
            )
        model = f"models:/{spec.project.name}@champion"
    info: dict[str, Any] = {"uri": model}
    if model.startswith("models:/"):
        store = tracking_store(spec)
        loaded = load_model(model, tracking_uri=store)
        described = describe_version(model, tracking_uri=store)
        info.update(
            {
                "name": described["name"],
                "version": str(described["version"]),
                "alias": ", ".join(described.get("aliases") or []) or None,
                # The registry copy was downloaded to a temporary folder that
                # does not outlive the command: name the run's own bundle.
                "path": _persisted_bundle(loaded, spec),
            }
        )
        return loaded, info
    loaded = load_model(model)
    info["path"] = str(loaded.path.resolve()) if loaded.path else None
    return loaded, info


def _persisted_bundle(model: Model, spec: ProjectSpec | None) -> str | None:
    """The bundle in the project's run folder that a registry model was
    downloaded from, when it is there."""
    run_id = model.metadata.get("run_id")
    if spec is None or not run_id:
        return None
    bundle = spec.state_dir / "runs" / str(run_id) / "bundle"
    return str(bundle.resolve()) if (bundle / "metadata.json").is_file() else None


def _read(current: str, *, query: str | None, table: str | None, spec: ProjectSpec | None) -> Any:
    """A file, a URL, or a SQL table/query (CURRENT a SQLAlchemy URL)."""
    from cairn.data.sources import read_source, read_table
    from cairn.exceptions import DataError
    from cairn.spec import SourceSpec

    root = spec.root if spec is not None else Path.cwd()
    if "://" in current and not current.startswith(("http://", "https://")):
        if (query is None) == (table is None):
            raise DataError(
                f"{current}: a database needs exactly one of --query or --table "
                "(e.g. --query 'SELECT * FROM orders WHERE day = current_date')"
            )
        return read_source(SourceSpec(sql=current, query=query, table=table), root=root)
    if query is not None or table is not None:
        raise DataError("--query and --table go with a database URL as CURRENT (sqlite:///...)")
    return read_table(current)


def _print_report(report: MonitorReport, *, top: int = 12) -> None:
    checks = Table(title="Health checks")
    checks.add_column("check")
    checks.add_column("status")
    checks.add_column("finding", overflow="fold")
    colours = {"pass": "green", "fail": "bold red", "warn": "yellow", "not checked": "dim"}
    for check in report.checks:
        checks.add_row(check.name, f"[{colours[check.status]}]{check.status}[/]", check.message)
    console.print(checks)
    drift = report.drift
    if drift is not None and drift.features:
        table = Table(title=f"Drift ({drift.n_current:,} rows vs {drift.n_reference:,})")
        columns = (
            "feature",
            "test",
            "value",
            "threshold",
            "p adj.",
            "importance",
            "weight",
            "drift",
        )
        for name in columns:
            table.add_column(name, justify="left" if name in ("feature", "test") else "right")
        for item in drift.features[:top]:
            table.add_row(
                item.name,
                item.test,
                f"{item.statistic:.4g}",
                f"{item.threshold:.4g}",
                "-" if item.p_adjusted is None else f"{item.p_adjusted:.2g}",
                f"{item.importance:.1%}",
                f"{item.weight:.2f}",
                "[red]yes[/]" if item.drifted else "no",
            )
        console.print(table)
        if len(drift.features) > top:
            console.print(f"[dim]… and {len(drift.features) - top} more features in the report[/]")
    if report.clusters is not None:
        console.print(f"[bold]Clusters:[/] {report.clusters.summary()}", highlight=False)
    if report.recommendations is not None:
        _print_recommendations(report.recommendations)
    if report.performance is not None:
        console.print(f"[bold]Performance[/] {report.performance.summary()}", highlight=False)
    if report.retrain is not None:
        advice = report.retrain
        text = "due: " + "; ".join(advice.reasons) if advice.due else "not due"
        console.print(f"[bold]Retraining[/] {text}", highlight=False)
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    colour = {"unhealthy": "red", "healthy, with warnings": "yellow"}.get(report.verdict, "green")
    console.print(f"[bold {colour}]{report.summary()}[/]", highlight=False)


def _print_recommendations(report: Any) -> None:
    table = Table(title=f"Served lists judged by later interactions (k = {report.k})")
    names = ("arm", "lists", "judged", "hit rate", "precision", "popular: hit", "popular: prec.")
    for name in names:
        table.add_column(name, justify="left" if name == "arm" else "right")

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    for arm in report.arms:
        table.add_row(
            arm.arm,
            f"{arm.lists:,}",
            f"{arm.active_lists:,}",
            cell(arm.hit_rate),
            cell(arm.precision),
            cell(arm.popularity_hit_rate),
            cell(arm.popularity_precision),
        )
    if report.arms:
        console.print(table)
    coverage = "-" if report.coverage is None else f"{report.coverage:.1%}"
    console.print(
        f"[bold]Coverage[/] {coverage} of {report.catalogue:,} items served", highlight=False
    )
    console.print(f"[bold]Drift[/] {report.drift_message()}", highlight=False, soft_wrap=True)


def monitor(
    current: Annotated[
        str | None,
        typer.Argument(
            help="Current data: a file, or a database URL with --query/--table. Omit with --log."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Bundle folder or models:/NAME@ALIAS (default: the champion)."),
    ] = None,
    spec: Annotated[
        Path | None, typer.Option(help="Project spec (default: ./cairn.toml when present).")
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="Ground truth: the key column(s) and the target.")
    ] = None,
    key: Annotated[
        list[str] | None, typer.Option(help="Column joining labels to rows (repeatable).")
    ] = None,
    query: Annotated[str | None, typer.Option(help="SQL query when CURRENT is a database.")] = None,
    table: Annotated[str | None, typer.Option(help="Table when CURRENT is a database.")] = None,
    log: Annotated[
        bool, typer.Option("--log", help="Use the prediction log (with --since/--until).")
    ] = False,
    log_path: Annotated[
        str | None,
        typer.Option(help="Prediction log: a file or postgresql:// URL (default: the project's)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Log window start (ISO time, or e.g. 24h, 7d ago).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Log window end (ISO time).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="HTML report.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="JSON result.")] = None,
    retrain: Annotated[
        bool,
        typer.Option(help="Retrain now when the policy says so (needs labelled rows)."),
    ] = False,
    horizon: Annotated[
        str | None,
        typer.Option(
            help="Recommendations: count interactions this long after serving (e.g. 7d); "
            "default any time later."
        ),
    ] = None,
) -> None:
    """Check drift (and performance, with labels) of the model on CURRENT.

    For a recommendation model CURRENT holds the interactions that came later
    (user, item, time): the lists served (the prediction log, --since/--until)
    are judged by them, and the drift of items and users is measured.

    Exit status: 0 healthy, 2 unhealthy (per [monitoring] unhealthy_on), 1 on errors.
    """
    with user_errors():
        report, labelled, project = _monitor(
            current=current,
            model=model,
            spec_path=spec,
            labels=labels,
            key=key,
            query=query,
            table=table,
            log=log,
            log_path=log_path,
            since=since,
            until=until,
            horizon=horizon,
        )
        _print_report(report)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        if output is None and json_path is None and project is not None:
            folder = project.state_dir / "monitoring" / stamp
            output, json_path = folder / "report.html", folder / "result.json"
        if output is not None:
            console.print(f"report:     {report.write_html(output)}", highlight=False)
        if json_path is not None:
            console.print(f"result:     {report.write_json(json_path)}", highlight=False)
        if retrain and report.retrain is not None and report.retrain.due:
            _retrain_now(project, labelled)
        if not report.healthy:
            raise typer.Exit(UNHEALTHY_EXIT)


@dataclass
class _Rows:
    """The rows to check and what came with them."""

    frame: pd.DataFrame
    source: str
    outputs: pd.DataFrame | None = None
    timestamps: pd.Series | None = None
    latency: pd.Series | None = None
    #: Columns besides the model's inputs that the rows may carry.
    extra: list[str] = field(default_factory=list)


def _monitor(
    *,
    current: str | None,
    model: str | None,
    spec_path: Path | None,
    labels: Path | None,
    key: list[str] | None,
    query: str | None,
    table: str | None,
    log: bool,
    log_path: str | None,
    since: str | None,
    until: str | None,
    horizon: str | None = None,
) -> tuple[MonitorReport, pd.DataFrame | None, ProjectSpec | None]:
    """Check the model on the current rows: load the model, read the rows,
    attach the labels, run the checks. Returns the report, the labelled rows
    (for retraining) and the project spec."""
    project = find_spec(spec_path)
    loaded, info = _load(model, project)
    if loaded.is_recommender:
        if current is None:
            from cairn.exceptions import DataError

            raise DataError(
                "a recommendation model is judged by the interactions that came later: give "
                "them as CURRENT (a file with the user, item and time columns); the lists it "
                "served are read from the prediction log"
            )
        rows = _current_rows(current, query=query, table=table, project=project)
        report = _check_recommendations(
            rows, loaded, info, project, log_path, since, until, horizon
        )
        return report, rows.frame, project
    target = loaded.schema.target or (project.problem.target if project else None)
    if log:
        rows = _logged_rows(current, project, log_path, since, until, info, loaded)
    else:
        rows = _current_rows(current, query=query, table=table, project=project)
    label_values, join = _label_values(rows, labels, key, target, project)
    labelled = None
    if label_values is not None and target is not None:
        labelled = rows.frame.assign(**{target: label_values.to_numpy()})
        labelled = labelled[labelled[target].notna()]
    report = _check(rows, loaded, info, label_values, join, project)
    return report, labelled, project


def _logged_rows(
    current: str | None,
    project: ProjectSpec | None,
    log_path: str | None,
    since: str | None,
    until: str | None,
    info: dict[str, Any],
    model: Model,
) -> _Rows:
    from cairn.exceptions import DataError

    if current is not None:
        raise DataError("give either CURRENT or --log, not both")
    frame, outputs, source = read_prediction_log(project, log_path, since, until, info, model)
    return _Rows(
        frame,
        source,
        outputs=outputs,
        timestamps=frame.get("ts"),
        latency=frame.get("latency_ms"),
        extra=list(_LOG_COLUMNS),
    )


def _current_rows(
    current: str | None, *, query: str | None, table: str | None, project: ProjectSpec | None
) -> _Rows:
    from cairn.exceptions import DataError

    if current is None:
        raise DataError("give the current data (a file or a database URL), or --log")
    frame = _read(current, query=query, table=table, spec=project)
    if query is None and table is None:
        local = Path(current)
        source = str(local.resolve()) if local.exists() else current
    else:
        source = f"{current} ({query or table})"
    rows = _Rows(frame, source)
    time_column = project.data.time_column if project else None
    if time_column and time_column in frame.columns:
        rows.timestamps = frame[time_column]
    return rows


def _label_values(
    rows: _Rows,
    labels: Path | None,
    key: list[str] | None,
    target: str | None,
    project: ProjectSpec | None,
) -> tuple[pd.Series | None, JoinStats | None]:
    """The true values of the rows (joined from LABELS, or the target column
    they carry), if any, and how the join went. LABELS are joined in place."""
    from cairn.data.sources import read_table
    from cairn.exceptions import DataError
    from cairn.monitoring.labels import join_labels

    if labels is not None:
        if target is None:
            raise DataError("the model has no target, so labels cannot be matched")
        truth = read_table(labels)
        # Every row counts for drift; the labelled ones for performance.
        rows.frame, join = join_labels(
            rows.frame,
            truth,
            key=label_key(key, project, rows.frame, truth),
            target=target,
            how="left",
        )
        rows.extra += list(join.key)
        return rows.frame.pop("__label"), join
    if target is not None and target in rows.frame.columns:
        return rows.frame[target], None
    return None, None


def _check(
    rows: _Rows,
    model: Model,
    info: dict[str, Any],
    label_values: pd.Series | None,
    join: JoinStats | None,
    project: ProjectSpec | None,
) -> MonitorReport:
    import pandas as pd

    from cairn.maintenance import last_retrain_time
    from cairn.monitoring.monitor import check

    last = None
    if project is not None and project.maintenance.schedule is not None:
        last = last_retrain_time(project)
    return check(
        rows.frame,
        model,
        settings=project.monitoring if project else None,
        maintenance=project.maintenance if project else None,
        objectives=project.problem.parsed_objectives if project else None,
        outputs=rows.outputs,
        labels=None if label_values is None else pd.Series(label_values).reset_index(drop=True),
        timestamps=rows.timestamps,
        latency_ms=rows.latency,
        join=join,
        source=rows.source,
        model_info=info,
        expected_extra=rows.extra,
        last_retrain=last,
    )


def _check_recommendations(
    rows: _Rows,
    model: Model,
    info: dict[str, Any],
    project: ProjectSpec | None,
    log_path: str | None,
    since: str | None,
    until: str | None,
    horizon: str | None,
) -> MonitorReport:
    """A recommender judged by the later interactions in ``rows``: the lists
    it served (the prediction log, when it has any) and the drift."""
    from cairn.exceptions import DataError
    from cairn.maintenance import last_retrain_time
    from cairn.monitoring.monitor import check_recommendations
    from cairn.monitoring.recommendations import served_lists
    from cairn.serving.log import read_log
    from cairn.spec import duration_seconds

    settings = model.metadata.get("recommendation") or {}
    user, item = str(settings.get("user")), str(settings.get("item"))
    time_column = settings.get("time") or (project.data.time_column if project else None)
    if time_column not in rows.frame.columns:
        time_column = None
    path = prediction_log_path(project, log_path)
    served, why = None, ""
    try:
        served = served_lists(read_log(path, since=since, until=until))
    except DataError as error:
        why = str(error)
    last = None
    if project is not None and project.maintenance.schedule is not None:
        last = last_retrain_time(project)
    report = check_recommendations(
        rows.frame,
        model.pipeline,
        model.metadata,
        served=served,
        user=user,
        item=item,
        time=time_column,
        settings=project.monitoring if project else None,
        maintenance=project.maintenance if project else None,
        horizon=duration_seconds(horizon) if horizon else None,
        source=f"{rows.source}; served lists: {path}",
        model_info=info,
        last_retrain=last,
    )
    if why:
        report.notes.append(f"served lists not judged: {why}")
    return report


def _retrain_now(project: ProjectSpec | None, labelled: pd.DataFrame | None) -> None:
    if project is None:
        console.print("[yellow]retraining needs the project spec (--spec)[/]")
        return
    if labelled is not None and project.problem.task == "recommendation":
        from cairn.maintenance import retrain as retrain_model

        result = retrain_model(project, labelled, progress=lambda m: console.log(m))
        _print_retrain(result)
        return
    if labelled is None or project.problem.target not in labelled.columns:
        console.print("[yellow]retraining is due, but the current rows carry no labels[/]")
        return
    from cairn.maintenance import retrain as retrain_model

    result = retrain_model(project, labelled, progress=lambda m: console.log(m, highlight=False))
    _print_retrain(result)


def _print_retrain(result: Any) -> None:
    if result.comparison is not None:
        comparison = result.comparison
        # a recommender is compared on users (each with both models' lists)
        unit = "users" if "compared_users" in result.data else "rows"
        table = Table(title=f"Champion vs challenger on {comparison.n} recent {unit}")
        table.add_column("metric")
        table.add_column(f"champion v{result.champion_version}", justify="right")
        table.add_column(f"challenger v{result.challenger_version}", justify="right")
        for name, value in result.challenger_metrics.items():
            old = result.champion_metrics.get(name)
            table.add_row(name, "-" if old is None else f"{old:.4g}", f"{value:.4g}")
        console.print(table)
        for objective in result.objectives:
            console.print(f"  {objective.objective:<28} {OBJECTIVE_MARKS[objective.met]}")
    if result.clusters is not None:
        shares = Table(title="Rows per cluster id (ids matched to the champion's)")
        for name in ("cluster", "champion", "challenger"):
            shares.add_column(name, justify="right")
        for row in result.clusters["shares"]:
            old = row["champion_share"]
            shares.add_row(
                str(row["cluster"]),
                "-" if old is None else f"{old:.1%}",
                f"{row['challenger_share']:.1%}",
            )
        console.print(shares)
    colour = {"promoted": "green", "kept": "yellow", "skipped": "dim"}[result.decision]
    # the reasons are plain text: "[tests]" in a gate's reason is not markup
    console.print(f"[bold {colour}]{escape(result.summary())}[/]", highlight=False)
    if result.evidence_path is not None:
        console.print(f"evidence:   {result.evidence_path}", highlight=False)


def retrain_command(
    spec: Annotated[Path, typer.Argument(help="The project spec.")] = Path("cairn.toml"),
    data: Annotated[
        Path | None,
        typer.Option(help="Recent rows: inputs plus the target (or join --labels to them)."),
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="Ground truth to join to --data or --log by key.")
    ] = None,
    key: Annotated[
        list[str] | None, typer.Option(help="Column joining labels to rows (repeatable).")
    ] = None,
    log: Annotated[
        bool, typer.Option("--log", help="Take the recent rows from the prediction log.")
    ] = False,
    log_path: Annotated[
        str | None, typer.Option(help="Prediction log: a file or postgresql:// URL.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Log window start.")] = None,
    until: Annotated[str | None, typer.Option(help="Log window end.")] = None,
    if_due: Annotated[
        bool, typer.Option("--if-due", help="Only retrain when a \\[maintenance] trigger fires.")
    ] = False,
    time_budget: Annotated[
        float | None, typer.Option("--time-budget", help="Seconds for training.")
    ] = None,
) -> None:
    """Train a challenger with the same spec and promote it only if it wins."""
    with user_errors():
        from cairn.data.sources import read_table
        from cairn.exceptions import DataError
        from cairn.maintenance import retrain
        from cairn.monitoring.labels import join_labels
        from cairn.spec import load_spec

        project = load_spec(spec)
        target = project.problem.target
        if log:
            frame, _, _ = read_prediction_log(project, log_path, since, until, {})
        elif data is not None:
            frame = read_table(data)
        else:
            raise DataError("give the recent rows: --data FILE, or --log with --labels")
        if labels is not None:
            truth = read_table(labels)
            joined, stats = join_labels(
                frame, truth, key=label_key(key, project, frame, truth), target=target
            )
            frame = joined.drop(columns=[c for c in (target,) if c in joined.columns])
            frame = frame.rename(columns={"__label": target})
            console.print(
                f"labels joined on {', '.join(stats.key)}: {stats.matched:,} matched",
                highlight=False,
            )
        with progress_status("retraining") as progress:
            result = retrain(
                project, frame, only_if_due=if_due, time_budget=time_budget, progress=progress
            )
        _print_retrain(result)


def promote(
    version: Annotated[str, typer.Argument(help="The version to make champion.")],
    spec: Annotated[Path, typer.Argument(help="The project spec.")] = Path("cairn.toml"),
    reason: Annotated[str, typer.Option(help="Why, recorded with the decision.")] = (
        "manual promotion"
    ),
) -> None:
    """Make VERSION the champion (the alias 'cairn serve' and monitoring use)."""
    with user_errors():
        from cairn.registry import promote as make_champion

        result = make_champion(spec, version, reason=reason)
        console.print(f"[bold]{result.summary()}[/]", highlight=False)
        console.print(f"recorded as MLflow run {result.decision_run_id}", highlight=False)


def rollback(
    spec: Annotated[Path, typer.Argument(help="The project spec.")] = Path("cairn.toml"),
    to: Annotated[
        str | None, typer.Option("--to", help="Version to make champion (default: previous).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, recorded with the decision.")] = (
        "manual rollback"
    ),
) -> None:
    """Move the champion alias back to the previous champion (or --to VERSION)."""
    with user_errors():
        from cairn.registry import rollback as roll_back

        result = roll_back(spec, to_version=to, reason=reason)
        console.print(f"[bold]{result.summary()}[/]", highlight=False)
        console.print(f"recorded as MLflow run {result.decision_run_id}", highlight=False)


def versions(
    spec: Annotated[Path, typer.Argument(help="The project spec.")] = Path("cairn.toml"),
    decisions: Annotated[int, typer.Option(help="How many recent decisions to show.")] = 10,
) -> None:
    """List the registered versions, their aliases and the latest decisions."""
    with user_errors():
        from cairn.spec import load_spec
        from cairn.tracking import list_versions, recent_decisions

        project = load_spec(spec)
        store = tracking_store(project)
        table = Table(title=f"Versions of {project.project.name}")
        for column in ("version", "aliases", "created", "decision", "note"):
            table.add_column(column)
        for version in list_versions(project.project.name, tracking_uri=store):
            note = version.tags.get("cairn.decision_reason") or version.tags.get(
                "cairn.rollback_reason", ""
            )
            table.add_row(
                version.version,
                ", ".join(version.aliases),
                version.created_at.strftime("%Y-%m-%d %H:%M"),
                version.tags.get("cairn.decision", ""),
                note,
            )
        console.print(table)
        recent = recent_decisions(project.project.name, tracking_uri=store, limit=decisions)
        if recent:
            log = Table(title="Decisions, newest first")
            for column in ("time", "decision", "version", "run"):
                log.add_column(column)
            for item in recent:
                log.add_row(
                    item["time"].strftime("%Y-%m-%d %H:%M:%S"),
                    str(item["decision"]),
                    str(item["version"]),
                    item["run_id"],
                )
            console.print(log)
