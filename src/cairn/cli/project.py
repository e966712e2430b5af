"""The project commands: ``cairn init``, ``run``, ``predict``, ``profile``,
``report``, ``runs`` and ``relocate``.

Heavy libraries (scikit-learn, LightGBM, MLflow) are imported inside the
commands, so ``cairn --help`` starts fast.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from cairn.cli._common import (
    OBJECTIVE_MARKS,
    check_table_output,
    console,
    print_warnings,
    progress_status,
    tracking_store,
    user_errors,
)

if TYPE_CHECKING:
    import pandas as pd

    from cairn.bundle import Model


def init(
    data: Annotated[Path, typer.Argument(help="Data file (CSV, Parquet, Excel, JSON...).")],
    target: Annotated[str | None, typer.Option("--target", "-t", help="Column to predict.")] = None,
    task: Annotated[
        str | None,
        typer.Option(
            help="classification, regression (inferred from the target if omitted), "
            "clustering (no target) or recommendation (user-item interactions)."
        ),
    ] = None,
    ground_truth: Annotated[
        str | None,
        typer.Option(help="Clustering: a column of known groups, scored but never a feature."),
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="Recommendation: the user column (found by name if omitted).")
    ] = None,
    item: Annotated[
        str | None, typer.Option(help="Recommendation: the item column (found by name if omitted).")
    ] = None,
    rating: Annotated[
        str | None, typer.Option(help="Recommendation: the rating column (explicit feedback).")
    ] = None,
    items: Annotated[
        Path | None,
        typer.Option(
            help="Recommendation: an item table (titles, genres) keyed by the item column."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Project name (default: file stem).")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Spec to write.")] = Path(
        "cairn.toml"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing spec.")] = False,
) -> None:
    """Write a commented cairn.toml for DATA, with the task, metric and roles inferred."""
    with user_errors():
        from cairn.init import write_spec

        written = write_spec(
            data,
            target=target,
            task=task,
            ground_truth=ground_truth,
            name=name,
            output=output,
            force=force,
            recommendation={
                key: value
                for key, value in (
                    ("user", user),
                    ("item", item),
                    ("rating", rating),
                    ("items", items),
                )
                if value is not None
            },
        )
        console.print(f"wrote {written}; edit it, then run [bold]cairn run[/]")


def run_command(
    spec: Annotated[Path, typer.Argument(help="The project spec.")] = Path("cairn.toml"),
    time_budget: Annotated[
        float | None, typer.Option("--time-budget", help="Seconds; overrides train.time_budget.")
    ] = None,
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Do not log to MLflow or register.")
    ] = False,
    strict: Annotated[
        bool, typer.Option(help="Exit with status 2 when an objective is not met.")
    ] = False,
) -> None:
    """Ingest, check, train, evaluate, package and register the model for SPEC."""
    with user_errors():
        from cairn.workflow import run

        with progress_status("starting") as progress:
            result = run(
                spec,
                time_budget=time_budget,
                progress=progress,
                register=False if no_register else None,
            )
        _print_result(result)
        if strict and not result.evaluation.objectives_met:
            raise typer.Exit(2)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.4g}"
    return str(value)


def _print_result(result: Any) -> None:
    """The leaderboard, the test-set figures, the objectives and where things went."""
    _print_leaderboard(result)
    _print_tradeoff(result)
    _print_test_metrics(result)
    if result.evaluation.objectives:
        console.print("[bold]Objectives[/]")
        for objective in result.evaluation.objectives:
            mark = OBJECTIVE_MARKS[objective.met]
            console.print(f"  {objective.objective:<28} {_fmt(objective.value):>10}  {mark}")
    _print_outcome(result)


def _print_leaderboard(result: Any) -> None:
    if result.evaluation.task == "clustering":
        _print_segmentations(result)
        return
    if result.evaluation.task == "recommendation":
        _print_recommenders(result)
        return
    board = result.leaderboard
    metric = result.evaluation.metric
    table = Table(title=f"Leaderboard: cross-validated {metric}, best first")
    table.add_column("model")
    table.add_column("status")
    table.add_column("CV mean", justify="right")
    table.add_column("CV std", justify="right")
    table.add_column("fit s/fold", justify="right")
    table.add_column("predict ms/row", justify="right")
    table.add_column("reason")  # why a row is partial, pruned, skipped or failed
    for _, row in board.iterrows():
        table.add_row(
            str(row["model"]),
            str(row["status"]),
            _fmt(row[f"cv_{metric}_mean"]),
            _fmt(row[f"cv_{metric}_std"]),
            _fmt(row["fit_time_s"]),
            _fmt(row["predict_ms_per_row"]),
            str(row.get("error") or ""),
        )
    console.print(table)


def _print_tradeoff(result: Any) -> None:
    """Each measured candidate's serving figures, the front, and what the
    objectives chose on it."""
    board = result.leaderboard
    if "latency_p99_ms" not in board.columns:
        return
    measured = board[board["latency_p99_ms"].notna()]
    table = Table(title="Trade-off: each candidate on its serving engine (* on the front)")
    for name in ("model", "engine", "p50 ms", "p99 ms", "rows/s", "size MB", "cost/1k"):
        table.add_column(name, justify="left" if name in ("model", "engine") else "right")
    for _, row in measured.iterrows():
        table.add_row(
            f"{row['model']}{' *' if row['pareto'] else ''}",
            str(row["engine"]),
            *(
                _fmt(row[c])
                for c in (
                    "latency_p50_ms",
                    "latency_p99_ms",
                    "throughput_rows_s",
                    "model_size_mb",
                    "cost_per_1k",
                )
            ),
        )
    console.print(table)
    chosen = (result.model.metadata.get("tradeoff") or {}) if result.model else {}
    if chosen.get("traded"):
        console.print(f"Packaged {chosen['chosen']} (front choice): {chosen['traded']}")
    elif chosen.get("objectives") and chosen.get("chosen") is None:
        console.print("No measured candidate meets " + ", ".join(chosen["objectives"]))


def _print_segmentations(result: Any) -> None:
    """The clustering leaderboard: the chosen solution first, then by metric."""
    board = result.leaderboard
    rank_by = result.model.metadata.get("clustering", {}).get("ranked_by", "silhouette")
    table = Table(title=f"Segmentations: chosen first, then by {rank_by}")
    for name in ("", "algorithm", "k", rank_by, "stability", "weakest", "sizes", "fit s"):
        table.add_column(name, justify="left" if name in ("", "algorithm", "sizes") else "right")
    for _, row in board.head(15).iterrows():
        sizes = list(row["sizes"])
        shown = ", ".join(str(n) for n in sizes[:8]) + (", ..." if len(sizes) > 8 else "")
        table.add_row(
            "chosen" if row["chosen"] else "",
            str(row["algorithm"]),
            str(row["k"]),
            _fmt(row.get(rank_by)),
            _fmt(row["stability"]) if row["stability"] is not None else "-",
            _fmt(row["weakest_cluster"]) if row["weakest_cluster"] is not None else "-",
            shown,
            _fmt(row["fit_seconds"]),
        )
    console.print(table)
    if len(board) > 15:
        console.print(f"({len(board) - 15} more in leaderboard.csv)")


def _print_recommenders(result: Any) -> None:
    """The recommendation leaderboard: the chosen model first, validation figures."""
    board = result.leaderboard
    metric = result.evaluation.metric
    k = int(result.model.metadata.get("recommendation", {}).get("k", 10))
    wanted = ["model", metric, f"precision@{k}", f"recall@{k}", f"coverage@{k}"]
    wanted += ["train_s", "recommend_ms_per_user"]
    columns = [c for c in dict.fromkeys(wanted) if c in board]
    table = Table(title=f"Recommenders on the validation users: chosen first, then by {metric}")
    table.add_column("")
    for name in columns:
        table.add_column(name, justify="left" if name == "model" else "right")
    for _, row in board.head(15).iterrows():
        table.add_row("chosen" if row.get("chosen") else "", *(_fmt(row[name]) for name in columns))
    console.print(table)


def _print_test_metrics(result: Any) -> None:
    if result.evaluation.task == "recommendation":
        _print_recommendation_metrics(result)
        return
    clustering = result.evaluation.task == "clustering"
    rows = f"{result.evaluation.n_test} rows"
    title = f"The segmentation on all {rows}" if clustering else f"Test set ({rows})"
    metrics = Table(title=title)
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for key, value in result.evaluation.metrics.items():
        metrics.add_row(key, _fmt(value))
    # served latency (serving gate, over HTTP): the figure objectives are judged on
    for key, value in result.evaluation.latency_ms.items():
        metrics.add_row(f"{key} (served)", _fmt(value))
    if not result.evaluation.latency_ms:
        metrics.add_row("latency (served)", "not measured: no latency objective")
    for key, value in result.evaluation.native_latency_ms.items():
        metrics.add_row(f"{key} (in-process pipeline)", _fmt(value))
    console.print(metrics)


def _print_recommendation_metrics(result: Any) -> None:
    """The test users' figures with their intervals, the baseline margin and
    the recommend time."""
    evaluation = result.evaluation
    metadata = result.model.metadata
    intervals = metadata.get("metric_intervals") or {}
    table = Table(title=f"Test users ({evaluation.n_test:,} with a relevant item)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95 % interval", justify="right")
    for key, value in evaluation.metrics.items():
        if key == "users":
            continue
        bounds = intervals.get(key)
        shown = f"{_fmt(bounds[0])} – {_fmt(bounds[1])}" if bounds else ""
        table.add_row(key, _fmt(value), shown)
    baseline = (metadata.get("recommendation") or {}).get("baseline") or {}
    if baseline:
        table.add_row(
            f"margin over {baseline.get('model')}",
            _fmt(baseline.get("margin")),
            f"{_fmt(baseline.get('low'))} – {_fmt(baseline.get('high'))}",
        )
    for key, value in evaluation.latency_ms.items():
        table.add_row(f"{key} (recommend, in process)", _fmt(value), "")
    console.print(table)


def _print_outcome(result: Any) -> None:
    """The model chosen, the search, the findings and the files and registry entry made."""
    metadata = result.model.metadata
    lines = {"model": str(metadata.get("model_label", metadata.get("model", "?")))}
    search = metadata.get("search") or {}
    if metadata.get("clustering"):
        lines["chosen because"] = str(metadata["clustering"].get("rule", ""))
    if metadata.get("recommendation"):
        lines["chosen because"] = str(metadata["recommendation"].get("rule", ""))
        lines["tested model learned from"] = str(metadata["recommendation"].get("tested_fit", ""))
        lines["bundle learned from"] = str(metadata["recommendation"].get("final_fit", ""))
    if search:
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in search.get("phases_s", {}).items())
        lines["search"] = f"{search.get('trials', 0)} tuning trials; {phases}"
        if search.get("target_transform"):
            lines["search"] += f"; target learned as {search['target_transform']}"
    combined = _combination_lines(result.quality)
    if combined:
        lines["combining"] = combined[0]
    lines.update({"findings": result.quality.summary(), "bundle": str(result.bundle_path)})
    lines.update({name: str(path) for name, path in result.reports.items()})
    if result.tests is not None:
        lines["behaviour tests"] = result.tests.summary()
    if result.model_uri:
        alias = f" (alias @{result.alias})" if result.alias else ""
        lines["registry"] = f"{result.model_uri}{alias}"
        if getattr(result, "registry_note", None):
            lines["champion"] = str(result.registry_note)
    lines["time"] = f"{result.timings.get('total', 0):.1f}s"
    width = max(len(name) for name in lines) + 2
    for name, text in lines.items():
        # values are plain text: "[tests]" in a gate's reason is not markup
        console.print(f"{name + ':':<{width}}{text}", highlight=False, soft_wrap=True, markup=False)
    for text in combined[1:]:
        console.print(f"  {text}", highlight=False, soft_wrap=True, markup=False)
    # Errors are what a person must look at; the rest is in the reports.
    for finding in result.quality.by_severity("error"):
        if finding.check.startswith("combine_"):
            continue  # printed with the combination above
        console.print(
            f"error [{finding.check}] {finding.message}; {finding.action}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )


def _combination_lines(quality: Any) -> list[str]:
    """What combining several sources did, and its warnings; none for one source."""
    from cairn.data.sources import Combination

    record = getattr(quality, "combination", None)
    combination = Combination.from_dict(record) if record else None
    if combination is None or combination.single:
        return []
    notes = [
        f
        for f in quality.findings
        if f.check.startswith("combine_") and f.severity in ("warning", "error")
    ]
    head = combination.summary()
    head += f"; {len(notes)} warning(s)" + (" (see below and combination.json)" if notes else "")
    return [head] + [f"{f.severity}: {f.message} — {f.action}" for f in notes]


def predict(
    model: Annotated[str, typer.Argument(help="Bundle folder or models:/NAME@ALIAS.")],
    data: Annotated[Path, typer.Argument(help="Data file to score.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV or Parquet to write.")],
    engine: Annotated[
        str, typer.Option(help="auto (the verified ONNX graph, as served), onnx or native.")
    ] = "auto",
    trust: Annotated[
        bool,
        typer.Option(
            "--trust",
            help="Load an unsigned bundle, or one signed with another key.",
        ),
    ] = False,
    k: Annotated[
        int | None,
        typer.Option(
            "--k", min=1, max=1000, help="Recommendation: items per user (default: the spec's k)."
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Score Parquet/CSV in partitions on this many processes, streaming to Parquet.",
        ),
    ] = 1,
    executor: Annotated[
        str, typer.Option(help="Where partitions run: local (local processes).")
    ] = "local",
) -> None:
    """Score DATA with MODEL and write the predictions (with the input columns) to OUTPUT.

    A Parquet or CSV file larger than memory (or any with --workers above 1)
    is scored in partitions and streamed to a Parquet OUTPUT.

    For a recommendation model, DATA lists users (in the spec's user column)
    and OUTPUT gets one row per recommended item: user, rank, item, score,
    title when the bundle has an item table, and the fallback used for users
    the model has not seen."""
    with user_errors():
        import warnings

        from cairn.bundle import BundleWarning
        from cairn.cli._common import errors
        from cairn.data.large import is_large
        from cairn.data.sources import read_table
        from cairn.exceptions import CairnError
        from cairn.serving.batch import score_file, score_frame
        from cairn.tracking import load_model

        suffix = check_table_output(output, source=data)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BundleWarning)
            loaded = load_model(model, trust=trust, engine=engine)
        if loaded.task != "recommendation" and (workers > 1 or is_large(data)):
            if suffix != ".parquet":
                raise CairnError(
                    f"--output {output}: scoring in partitions streams Parquet; "
                    "name a .parquet file"
                )
            rows, messages = score_file(
                model, data, output, workers=workers, executor=executor, trust=trust, engine=engine
            )
            print_warnings(caught)
            for message in messages:
                errors.print(f"warning: {message}", highlight=False, markup=False)
            console.print(f"wrote {rows} predictions to {output} ({workers} worker(s))")
            return
        frame = read_table(data)
        if loaded.task == "recommendation":
            out, note = _recommend_all(loaded, frame, k=k, source=str(data))
            print_warnings(caught)
            _write_table(out, output, suffix)
            console.print(f"wrote {len(out)} recommendations to {output}{note}")
            return
        out, more = score_frame(loaded, frame)
        print_warnings([*caught, *more])
        _write_table(out, output, suffix)
        console.print(f"wrote {len(out)} predictions to {output}")


def _recommend_all(
    model: Model, frame: pd.DataFrame, *, k: int | None, source: str
) -> tuple[pd.DataFrame, str]:
    """Every distinct user of FRAME's user column with its list, one row per
    item; and a note on the users the model did not know."""
    import warnings

    import pandas as pd

    from cairn.bundle import SchemaWarning
    from cairn.data.schema import missing_column_message
    from cairn.exceptions import DataError

    column = str((model.metadata.get("recommendation") or {}).get("user") or "user")
    if column not in frame.columns:
        raise DataError(
            missing_column_message("user column", column, list(frame.columns), source)
            + " (the users to recommend for)"
        )
    users = frame[column].dropna().drop_duplicates()
    parts: list[pd.DataFrame] = []
    unknown = 0
    for user in users:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SchemaWarning)
            listing = model.recommend(user, k)
        unknown += bool(listing.attrs.get("fallback"))
        listing.insert(0, "rank", range(1, len(listing) + 1))
        listing.insert(0, column, user)
        listing["fallback"] = listing.attrs.get("fallback") or ""
        parts.append(listing)
    if not parts:
        raise DataError(f"{source}: column {column!r} holds no user to recommend for")
    note = (
        f" ({unknown} of {len(users)} users unknown to the model got the popularity fallback)"
        if unknown
        else ""
    )
    return pd.concat(parts, ignore_index=True), note


def _write_table(frame: pd.DataFrame, output: Path, suffix: str) -> None:
    from cairn._io import atomic_write_bytes, atomic_write_text

    if suffix == ".csv":
        atomic_write_text(output, frame.to_csv(index=False))
    else:
        atomic_write_bytes(output, frame.to_parquet(index=False))


def profile(
    data: Annotated[
        str,
        typer.Argument(
            help="Data file or http(s) URL (CSV, Parquet, ...), or a cairn.toml: its sources "
            "combined as a run combines them."
        ),
    ],
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="Relate every column to this one.")
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="classification or regression (inferred if omitted).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="HTML file (default: DATA_profile.html).")
    ] = None,
    separator: Annotated[str | None, typer.Option(help="Field separator (sniffed).")] = None,
    sheet: Annotated[str | None, typer.Option(help="Excel sheet (default: the first).")] = None,
    large: Annotated[
        bool | None,
        typer.Option(
            "--large/--in-memory",
            help="Profile every row in DuckDB (default: when the file is larger than memory).",
        ),
    ] = None,
) -> None:
    """Write an EDA report of DATA: statistics, distributions, missing values,
    correlations, target relationships and data-quality findings."""
    with user_errors():
        from cairn.data.large import is_large, profile_large
        from cairn.data.sources import read_table
        from cairn.eda import profile as make_profile
        from cairn.eda import write_profile_report
        from cairn.eda.large import write_large_profile_report

        started = time.monotonic()
        with console.status("reading data", spinner="dots") as status:
            if data.endswith(".toml"):
                result, name = _profile_spec(Path(data), target=target, task=task, status=status)
            elif "://" not in data and is_large(Path(data), large):
                status.update("profiling every row in DuckDB (larger than memory)")
                every_row = profile_large(Path(data), target=target)
                written = write_large_profile_report(
                    every_row, output or Path(f"{Path(data).stem}_profile.html")
                )
                console.print(
                    f"wrote {written} ({every_row.rows:,} rows, {len(every_row.columns)} "
                    f"columns, {len(every_row.findings)} finding(s); every row read in DuckDB) "
                    f"in {time.monotonic() - started:.1f}s",
                    highlight=False,
                )
                return
            else:
                frame = read_table(data, separator=separator, sheet=sheet)
                status.update(f"profiling {len(frame):,} rows × {frame.shape[1]} columns")
                name = Path(data).name if "://" not in data else data.rsplit("/", 1)[-1]
                result = make_profile(frame, target=target, task=task, source=name)
            default = Path(f"{Path(name).stem or 'data'}_profile.html")
            written = write_profile_report(result, output or default)
        counts = result.issue_counts()  # the figures the page's banner shows
        console.print(
            f"wrote {written} ({result.n_rows:,} rows, {result.n_columns} columns, "
            f"{counts['error']} error(s), {counts['warning']} warning(s)) "
            f"in {time.monotonic() - started:.1f}s",
            highlight=False,
        )


def _profile_spec(spec_path: Path, *, target: str | None, task: str | None, status: Any) -> Any:
    """The profile of a spec's sources, combined as ``cairn run`` combines
    them, with what combining found; and the project's name."""
    from cairn.data.sources import attach_combination, collect, take_combination
    from cairn.eda import profile as make_profile
    from cairn.spec import load_spec

    spec = load_spec(spec_path)
    frame = collect(spec)
    combination = take_combination(frame)
    status.update(f"profiling {len(frame):,} rows × {frame.shape[1]} columns")
    target = target or spec.problem.target
    if target not in frame.columns:  # a clustering's spec may name no target column
        target = None
    supervised = spec.problem.task in (None, "classification", "regression")
    result = make_profile(
        frame,
        target=target,
        task=task or (spec.problem.task if supervised and target else None),
        roles=spec.data.roles,
        id_columns=spec.data.id_columns,
        time_column=spec.data.time_column,
        source=", ".join(source.label for source in spec.data.sources),
    )
    attach_combination(result.quality, combination)
    return result, spec.project.name


def report(
    run: Annotated[
        str, typer.Argument(help="Run folder, run id (or prefix) or 'latest'.")
    ] = "latest",
    project: Annotated[
        Path, typer.Option(help="Project folder holding .cairn/runs/ (for run ids).")
    ] = Path(),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder to write to (default: the run).")
    ] = None,
    importance: Annotated[
        bool, typer.Option(help="Permutation importance and SHAP (loads the model).")
    ] = True,
) -> None:
    """Rebuild the evaluation report and the model card of a finished run."""
    with user_errors():
        from cairn.evaluation import run_task
        from cairn.evaluation.card import write_model_card
        from cairn.evaluation.report import analyse_run, write_evaluation_report
        from cairn.evaluation.run_folder import find_run, load_run

        with console.status("reading the run", spinner="dots") as status:
            task = run_task(run, project_dir=project)
            if task == "clustering":
                evaluation, card, card_html = _clustering_reports(
                    find_run(run, project_dir=project), output
                )
            elif task == "recommendation":
                evaluation, card, card_html = _recommendation_reports(
                    find_run(run, project_dir=project), output
                )
            else:
                folder = load_run(run, project_dir=project)
                status.update("computing intervals and importance")
                analysis = analyse_run(folder, importance=importance)
                target = output or folder.path
                evaluation = write_evaluation_report(analysis, target / "evaluation.html")
                card, card_html = write_model_card(analysis, target)
        for label, path in (
            ("evaluation", evaluation),
            ("model card", card),
            ("model card", card_html),
        ):
            console.print(f"{label + ':':<12}{path}", highlight=False, soft_wrap=True)


def _clustering_reports(folder: Path, output: Path | None) -> tuple[Path, Path, Path]:
    """The segmentation report and card of a clustering run folder."""
    from cairn.evaluation import load_segmentation, write_clustering_card, write_clustering_report

    seg = load_segmentation(folder)
    target = output or folder
    card, card_html = write_clustering_card(seg, target)
    return write_clustering_report(seg, target / "evaluation.html"), card, card_html


def _recommendation_reports(folder: Path, output: Path | None) -> tuple[Path, Path, Path]:
    """The recommendation report and card of a recommendation run folder."""
    from cairn.evaluation import (
        load_recommendation,
        write_recommendation_card,
        write_recommendation_report,
    )

    results = load_recommendation(folder)
    target = output or folder
    card, card_html = write_recommendation_card(results, target)
    return write_recommendation_report(results, target / "evaluation.html"), card, card_html


def runs(
    spec: Annotated[Path, typer.Argument(help="The project spec.")] = Path("cairn.toml"),
    limit: Annotated[int, typer.Option(help="How many MLflow runs to show.")] = 20,
    clean: Annotated[
        bool, typer.Option("--clean", help="Delete the folders of interrupted runs.")
    ] = False,
) -> None:
    """List the run folders and the MLflow runs, showing interrupted ones as such."""
    with user_errors():
        from cairn.evaluation.run_state import list_run_folders, remove_interrupted
        from cairn.spec import load_spec
        from cairn.tracking import list_tracking_runs

        project = load_spec(spec)
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
            project.project.name, tracking_uri=tracking_store(project), limit=limit
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


def relocate(
    spec: Annotated[Path, typer.Argument(help="The project spec.")] = Path("cairn.toml"),
) -> None:
    """Point a copied or moved project's MLflow store at this folder's artifacts."""
    with user_errors():
        from cairn.spec import load_spec
        from cairn.tracking_store import relocate as repoint

        project = load_spec(spec)
        moved = repoint(tracking_store(project))
        if moved is None:
            console.print("the store already points at this project's artifacts")
        else:
            console.print(f"artifact locations moved from {moved[0]} to {moved[1]}")
