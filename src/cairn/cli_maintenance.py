"""The monitoring and maintenance commands: ``cairn monitor``, ``cairn
retrain``, ``cairn promote``, ``cairn rollback``, ``cairn versions``,
``cairn runs`` and ``cairn relocate``.

They are merged into the main ``cairn`` command (see :mod:`cairn.cli`).
Everything heavy is imported inside the commands, so ``cairn --help`` stays
fast.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from cairn.bundle import Model
    from cairn.monitoring.monitor import MonitorReport
    from cairn.spec import ProjectSpec

app = typer.Typer()

#: Exit status when the policy says the model is unhealthy.
UNHEALTHY_EXIT = 2
_LOG_COLUMNS = ("request_id", "row", "ts", "model", "version", "arm", "latency_ms")


def _console() -> Any:
    from cairn.cli import console

    return console


def _user_errors() -> Any:
    from cairn.cli import _user_errors as handler

    return handler()


def _find_spec(spec: Path | None) -> ProjectSpec | None:
    """The spec named, or ./cairn.toml when present; None when neither."""
    from cairn.spec import load_spec

    if spec is not None:
        return load_spec(spec)
    default = Path("cairn.toml")
    return load_spec(default) if default.exists() else None


def _store(spec: ProjectSpec | None) -> str:
    from cairn.tracking import globals_uri, tracking_uri

    if spec is None:
        return globals_uri()
    return tracking_uri(spec.project_dir, spec.tracking.uri)


def _load(model: str | None, spec: ProjectSpec | None) -> tuple[Model, dict[str, Any]]:
    """The model to monitor and what to call it: ``--model``, else the
    project's champion."""
    from cairn.bundle import load_model
    from cairn.exceptions import SpecError
    from cairn.tracking import describe_version

    if model is None:
        if spec is None:
            raise SpecError(
                "no model to monitor: pass --model (a bundle folder or models:/NAME@ALIAS), "
                "or run from a project folder with a cairn.toml (or pass --spec)"
            )
        model = f"models:/{spec.project.name}@champion"
    info: dict[str, Any] = {"uri": model}
    if model.startswith("models:/"):
        store = _store(spec)
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


def _key(
    key: list[str] | None, spec: ProjectSpec | None, left: pd.DataFrame, right: pd.DataFrame
) -> list[str]:
    from cairn.exceptions import DataError

    if key:
        return key
    if spec is not None and spec.monitoring.key:
        return list(spec.monitoring.key)
    if "request_id" in left.columns and "request_id" in right.columns:
        # A request may score several records: their position tells them apart.
        both_rows = "row" in left.columns and "row" in right.columns
        return ["request_id", "row"] if both_rows else ["request_id"]
    shared = [c for c in right.columns if c in left.columns]
    ids = [c for c in (spec.data.id_columns if spec else []) if c in shared]
    if ids:
        return ids
    raise DataError(
        "cannot tell how to join the labels to the predictions: pass --key COLUMN (or set "
        "[monitoring] key); columns in both: " + (", ".join(map(str, shared[:20])) or "none")
    )


def _print_report(report: MonitorReport, *, top: int = 12) -> None:
    console = _console()
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


@app.command()
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
        Path | None, typer.Option(help="Prediction log file (default: the project's).")
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
) -> None:
    """Check drift (and performance, with labels) of the model on CURRENT.

    Exit status: 0 healthy, 2 unhealthy (per [monitoring] unhealthy_on), 1 on errors.
    """
    with _user_errors():
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
        )
        _print_report(report)
        console = _console()
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
    log_path: Path | None,
    since: str | None,
    until: str | None,
) -> tuple[MonitorReport, pd.DataFrame | None, ProjectSpec | None]:
    import pandas as pd

    from cairn.data.sources import read_table
    from cairn.exceptions import DataError
    from cairn.maintenance import last_retrain_time
    from cairn.monitoring.labels import join_labels
    from cairn.monitoring.monitor import check

    project = _find_spec(spec_path)
    loaded, info = _load(model, project)
    target = loaded.schema.target or (project.problem.target if project else None)
    outputs = timestamps = latency = None
    extra: list[str] = []
    if log:
        if current is not None:
            raise DataError("give either CURRENT or --log, not both")
        frame, outputs, source = _read_log(project, log_path, since, until, info, loaded)
        timestamps, latency = frame.get("ts"), frame.get("latency_ms")
        extra = list(_LOG_COLUMNS)
    elif current is None:
        raise DataError("give the current data (a file or a database URL), or --log")
    else:
        frame = _read(current, query=query, table=table, spec=project)
        if query is None and table is None:
            local = Path(current)
            source = str(local.resolve()) if local.exists() else current
        else:
            source = f"{current} ({query or table})"
        time_column = project.data.time_column if project else None
        if time_column and time_column in frame.columns:
            timestamps = frame[time_column]
    label_values = None
    join = None
    if labels is not None:
        if target is None:
            raise DataError("the model has no target, so labels cannot be matched")
        truth = read_table(labels)
        # Every row counts for drift; the labelled ones for performance.
        frame, join = join_labels(
            frame, truth, key=_key(key, project, frame, truth), target=target, how="left"
        )
        label_values = frame.pop("__label")
        extra += list(join.key)
    elif target is not None and target in frame.columns:
        label_values = frame[target]
    labelled = None
    if label_values is not None and target is not None:
        labelled = frame.assign(**{target: label_values.to_numpy()})
        labelled = labelled[labelled[target].notna()]
    last = None
    if project is not None and project.maintenance.schedule is not None:
        last = last_retrain_time(project)
    report = check(
        frame,
        loaded,
        settings=project.monitoring if project else None,
        maintenance=project.maintenance if project else None,
        objectives=project.problem.parsed_objectives if project else None,
        outputs=outputs,
        labels=None if label_values is None else pd.Series(label_values).reset_index(drop=True),
        timestamps=timestamps,
        latency_ms=latency,
        join=join,
        source=source,
        model_info=info,
        expected_extra=extra,
        last_retrain=last,
    )
    return report, labelled, project


def _read_log(
    project: ProjectSpec | None,
    log_path: Path | None,
    since: str | None,
    until: str | None,
    info: dict[str, Any],
    model: Model | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
    """Rows of the prediction log in a time window: the inputs (with
    ``request_id``, ``row``, ``ts`` and ``latency_ms``), the outputs served,
    and a description. With ``model``, only rows that model version served."""
    from cairn.exceptions import DataError
    from cairn.monitoring.monitor import log_frames
    from cairn.serving.log import default_log_path, read_log

    if log_path is not None:
        path = log_path
    elif project is not None:
        configured = getattr(getattr(project, "serving", None), "log_path", None)
        path = project.resolve(configured) if configured else default_log_path(project.project_dir)
    else:
        path = default_log_path()
    version = None
    if model is not None:
        version = info.get("version") or model.metadata.get("run_id")
    frame = read_log(path, since=since, until=until, version=version)
    frame = frame[frame["arm"] != "shadow"] if "arm" in frame.columns else frame
    window = f"{since or 'start'} to {until or 'now'}"
    if frame.empty:
        everything = read_log(path, since=since, until=until)
        versions = sorted(set(map(str, everything.get("version", []))))
        raise DataError(
            f"{path}: no logged predictions"
            + (f" of version {version}" if version else "")
            + f" from {window}"
            + (f"; versions in that window: {', '.join(versions)}" if versions else "")
            + ". Widen --since/--until, or pick the model with --model"
        )
    schema = model.schema if model is not None else None
    inputs, outputs = log_frames(frame, schema)
    return inputs, outputs, f"prediction log {path} ({window}, {len(inputs):,} rows)"


def _retrain_now(project: ProjectSpec | None, labelled: pd.DataFrame | None) -> None:
    console = _console()
    if project is None:
        console.print("[yellow]retraining needs the project spec (--spec)[/]")
        return
    if labelled is None or project.problem.target not in labelled.columns:
        console.print("[yellow]retraining is due, but the current rows carry no labels[/]")
        return
    from cairn.maintenance import retrain as retrain_model

    result = retrain_model(project, labelled, progress=lambda m: console.log(m, highlight=False))
    _print_retrain(result)


def _print_retrain(result: Any) -> None:
    console = _console()
    if result.comparison is not None:
        comparison = result.comparison
        table = Table(title=f"Champion vs challenger on {comparison.n} recent rows")
        table.add_column("metric")
        table.add_column(f"champion v{result.champion_version}", justify="right")
        table.add_column(f"challenger v{result.challenger_version}", justify="right")
        for name, value in result.challenger_metrics.items():
            old = result.champion_metrics.get(name)
            table.add_row(name, "-" if old is None else f"{old:.4g}", f"{value:.4g}")
        console.print(table)
        for objective in result.objectives:
            mark = {True: "[green]met[/]", False: "[red]NOT met[/]", None: "[yellow]n/a[/]"}
            console.print(f"  {objective.objective:<28} {mark[objective.met]}")
    colour = {"promoted": "green", "kept": "yellow", "skipped": "dim"}[result.decision]
    console.print(f"[bold {colour}]{result.summary()}[/]", highlight=False)
    if result.evidence_path is not None:
        console.print(f"evidence:   {result.evidence_path}", highlight=False)


@app.command("retrain")
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
    log_path: Annotated[Path | None, typer.Option(help="Prediction log file.")] = None,
    since: Annotated[str | None, typer.Option(help="Log window start.")] = None,
    until: Annotated[str | None, typer.Option(help="Log window end.")] = None,
    if_due: Annotated[
        bool, typer.Option("--if-due", help="Only retrain when a [maintenance] trigger fires.")
    ] = False,
    time_budget: Annotated[
        float | None, typer.Option("--time-budget", help="Seconds for training.")
    ] = None,
) -> None:
    """Train a challenger with the same spec and promote it only if it wins."""
    with _user_errors():
        import time

        from cairn.data.sources import read_table
        from cairn.exceptions import DataError
        from cairn.maintenance import retrain
        from cairn.monitoring.labels import join_labels
        from cairn.spec import load_spec

        project = load_spec(spec)
        target = project.problem.target
        if log:
            frame, _, _ = _read_log(project, log_path, since, until, {})
        elif data is not None:
            frame = read_table(data)
        else:
            raise DataError("give the recent rows: --data FILE, or --log with --labels")
        if labels is not None:
            truth = read_table(labels)
            joined, stats = join_labels(
                frame, truth, key=_key(key, project, frame, truth), target=target
            )
            frame = joined.drop(columns=[c for c in (target,) if c in joined.columns])
            frame = frame.rename(columns={"__label": target})
            _console().print(
                f"labels joined on {', '.join(stats.key)}: {stats.matched:,} matched",
                highlight=False,
            )
        console = _console()
        started = time.monotonic()
        with console.status("retraining", spinner="dots") as status:

            def progress(message: str) -> None:
                status.update(f"[{time.monotonic() - started:5.0f}s] {message}")
                console.log(message, highlight=False)

            result = retrain(
                project, frame, only_if_due=if_due, time_budget=time_budget, progress=progress
            )
        _print_retrain(result)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="The version to make champion.")],
    spec: Annotated[Path, typer.Argument(help="The project spec.")] = Path("cairn.toml"),
    reason: Annotated[str, typer.Option(help="Why, recorded with the decision.")] = (
        "manual promotion"
    ),
) -> None:
    """Make VERSION the champion (the alias 'cairn serve' and monitoring use)."""
    with _user_errors():
        from cairn.registry import promote as make_champion

        result = make_champion(spec, version, reason=reason)
        _console().print(f"[bold]{result.summary()}[/]", highlight=False)
        _console().print(f"recorded as MLflow run {result.decision_run_id}", highlight=False)


@app.command()
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
    with _user_errors():
        from cairn.registry import rollback as roll_back

        result = roll_back(spec, to_version=to, reason=reason)
        _console().print(f"[bold]{result.summary()}[/]", highlight=False)
        _console().print(f"recorded as MLflow run {result.decision_run_id}", highlight=False)


@app.command()
def versions(
    spec: Annotated[Path, typer.Argument(help="The project spec.")] = Path("cairn.toml"),
    decisions: Annotated[int, typer.Option(help="How many recent decisions to show.")] = 10,
) -> None:
    """List the registered versions, their aliases and the latest decisions."""
    with _user_errors():
        from cairn.spec import load_spec
        from cairn.tracking import list_versions, recent_decisions

        project = load_spec(spec)
        store = _store(project)
        console = _console()
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


@app.command()
def runs(
    spec: Annotated[Path, typer.Argument(help="The project spec.")] = Path("cairn.toml"),
    limit: Annotated[int, typer.Option(help="How many MLflow runs to show.")] = 20,
    clean: Annotated[
        bool, typer.Option("--clean", help="Delete the folders of interrupted runs.")
    ] = False,
) -> None:
    """List the run folders and the MLflow runs, showing interrupted ones as such."""
    with _user_errors():
        from cairn.evaluation.run_state import list_run_folders, remove_interrupted
        from cairn.spec import load_spec
        from cairn.tracking import list_tracking_runs

        project = load_spec(spec)
        console = _console()
        if clean:
            for path in remove_interrupted(project.project_dir):
                console.print(f"removed {path}", highlight=False)
        colours = {"complete": "green", "in progress": "cyan"}
        folders = Table(title=f"Run folders in {project.state_dir / 'runs'}")
        for column in ("run", "state", "size MB", "missing"):
            folders.add_column(column)
        for folder in list_run_folders(project.project_dir):
            colour = colours.get(folder.state, "red")
            folders.add_row(
                folder.run_id,
                f"[{colour}]{folder.state}[/]",
                f"{folder.size_mb:.1f}",
                ", ".join(folder.missing),
            )
        console.print(folders)
        tracked = list_tracking_runs(
            project.project.name, tracking_uri=_store(project), limit=limit
        )
        table = Table(title="MLflow runs, newest first")
        for column in ("MLflow run", "kind", "status", "started", "cairn run", "note"):
            table.add_column(column)
        for run in tracked:
            colour = {"FINISHED": "green", "RUNNING": "cyan"}.get(run.status, "red")
            table.add_row(
                run.run_id,
                run.kind,
                f"[{colour}]{run.status}[/]",
                run.started.strftime("%Y-%m-%d %H:%M:%S") if run.started else "",
                run.cairn_run or "",
                run.note,
            )
        console.print(table)


@app.command()
def relocate(
    spec: Annotated[Path, typer.Argument(help="The project spec.")] = Path("cairn.toml"),
) -> None:
    """Point a copied or moved project's MLflow store at this folder's artifacts."""
    with _user_errors():
        from cairn.spec import load_spec
        from cairn.tracking_store import relocate as repoint

        project = load_spec(spec)
        moved = repoint(_store(project))
        if moved is None:
            _console().print("the store already points at this project's artifacts")
        else:
            _console().print(f"artifact locations moved from {moved[0]} to {moved[1]}")
