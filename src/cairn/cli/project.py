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
    check_table_output,
    console,
    print_warnings,
    progress_status,
    tracking_store,
    user_errors,
)
from cairn.cli._run_output import print_result

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
    executor: Annotated[
        str | None,
        typer.Option(
            help="Where the search's fold fits run: local, ray or ray://HOST:PORT; "
            "overrides train.executor."
        ),
    ] = None,
) -> None:
    """Ingest, check, train, evaluate, package and register the model for SPEC."""
    started = time.monotonic()  # the budget counts loading the libraries too
    with user_errors():
        from cairn._ray import check_executor
        from cairn.spec import ProjectSpec, load_spec
        from cairn.workflow import run

        project: ProjectSpec | Path = spec
        if executor is not None:
            chosen = check_executor(executor, "--executor")
            project = load_spec(spec)
            project.train.executor = chosen
        with progress_status("starting") as progress:
            result = run(
                project,
                time_budget=time_budget,
                progress=progress,
                register=False if no_register else None,
                started=started,
            )
        print_result(result)
        if strict and not result.evaluation.objectives_met:
            raise typer.Exit(2)


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
        str,
        typer.Option(
            help="Where partitions run: local (processes), ray or ray://HOST:PORT (Ray actors)."
        ),
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
        partitioned = workers > 1 or executor != "local" or is_large(data)
        if loaded.task != "recommendation" and partitioned:
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
