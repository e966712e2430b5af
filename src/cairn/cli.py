"""The ``cairn`` command line.

Heavy libraries (scikit-learn, LightGBM, MLflow) are imported inside the
commands, so ``cairn --help`` starts fast. A user mistake (any CairnError)
prints one line and exits with status 1, never a traceback.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cairn._version import __version__
from cairn.exceptions import CairnError

app = typer.Typer(
    name="cairn",
    help="From a tabular problem statement to a monitored model in production.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Output that goes to a file or a pipe is not cut to a terminal's width.
_UNBOUNDED_WIDTH = 100_000


class _PlainLogConsole(Console):
    """A console for output that is not a terminal: tables at their full
    width ("MonthlyCharges", not "MonthlyCha…") and log lines without the
    padding to the console's width."""

    def log(self, *objects: Any, **kwargs: Any) -> None:
        stamp = time.strftime("[%H:%M:%S]")
        self.print(stamp, *objects, highlight=kwargs.get("highlight"), soft_wrap=True)


def make_console(*, stderr: bool = False) -> Console:
    """The CLI's console: rich in a terminal, plain and full width otherwise."""
    terminal = Console(stderr=stderr, log_path=False)
    if terminal.is_terminal:
        return terminal
    return _PlainLogConsole(stderr=stderr, log_path=False, width=_UNBOUNDED_WIDTH, soft_wrap=True)


console = make_console()
errors = make_console(stderr=True)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn a CairnError into one line on stderr and exit status 1."""
    try:
        yield
    except CairnError as error:
        # Escaped: a message may quote "[data]" or other bracketed text.
        errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        errors.print("interrupted")
        raise typer.Exit(130) from None


def _version(value: bool) -> None:
    if value:
        console.print(f"cairn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """cairn: one spec from data to a monitored model."""


@app.command()
def init(
    data: Annotated[Path, typer.Argument(help="Data file (CSV, Parquet, Excel, JSON...).")],
    target: Annotated[str, typer.Option("--target", "-t", help="Column to predict.")],
    task: Annotated[
        str | None, typer.Option(help="classification or regression (inferred if omitted).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Project name (default: file stem).")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Spec to write.")] = Path(
        "cairn.toml"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing spec.")] = False,
) -> None:
    """Write a commented cairn.toml for DATA, with the task, metric and roles inferred."""
    with _user_errors():
        from cairn.init import write_spec

        written = write_spec(data, target=target, task=task, name=name, output=output, force=force)
        console.print(f"wrote {written}; edit it, then run [bold]cairn run[/]")


@app.command("run")
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
    with _user_errors():
        from cairn.workflow import run

        started = time.monotonic()
        with console.status("starting", spinner="dots") as status:

            def progress(message: str) -> None:
                elapsed = time.monotonic() - started
                status.update(f"[{elapsed:5.0f}s] {message}")
                console.log(message, highlight=False)

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
    metrics = Table(title=f"Test set ({result.evaluation.n_test} rows)")
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
    if result.evaluation.objectives:
        console.print("[bold]Objectives[/]")
        for objective in result.evaluation.objectives:
            mark = {True: "[green]met[/]", False: "[red]NOT met[/]", None: "[yellow]n/a[/]"}[
                objective.met
            ]
            console.print(f"  {objective.objective:<28} {_fmt(objective.value):>10}  {mark}")
    metadata = result.model.metadata
    lines = {"model": str(metadata.get("model_label", metadata.get("model", "?")))}
    search = metadata.get("search") or {}
    if search:
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in search.get("phases_s", {}).items())
        lines["search"] = f"{search.get('trials', 0)} tuning trials; {phases}"
        if search.get("target_transform"):
            lines["search"] += f"; target learned as {search['target_transform']}"
    lines.update({"findings": result.quality.summary(), "bundle": str(result.bundle_path)})
    lines.update({name: str(path) for name, path in result.reports.items()})
    if result.model_uri:
        alias = f" (alias @{result.alias})" if result.alias else ""
        lines["registry"] = f"{result.model_uri}{alias}"
        if getattr(result, "registry_note", None):
            lines["champion"] = str(result.registry_note)
    lines["time"] = f"{result.timings.get('total', 0):.1f}s"
    width = max(len(name) for name in lines) + 2
    for name, text in lines.items():
        console.print(f"{name + ':':<{width}}{text}", highlight=False, soft_wrap=True)


@app.command()
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
) -> None:
    """Score DATA with MODEL and write the predictions (with the input columns) to OUTPUT."""
    with _user_errors():
        import warnings

        from cairn.bundle import BundleWarning, SchemaWarning
        from cairn.data.sources import read_table
        from cairn.exceptions import DataError
        from cairn.tracking import load_model

        suffix = output.suffix.lower()
        if suffix not in (".csv", ".parquet", ".pq"):
            raise DataError(f"--output {output}: use a .csv or .parquet file name")
        if output.exists() and data.exists() and output.samefile(data):
            raise DataError(
                f"--output {output} is the input file; write the predictions to another file"
            )
        if not output.parent.is_dir():
            raise DataError(
                f"--output {output}: folder {output.parent} does not exist; create it first"
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BundleWarning)
            loaded = load_model(model, trust=trust, engine=engine)
        frame = read_table(data)
        with warnings.catch_warnings(record=True) as more:
            warnings.simplefilter("always", SchemaWarning)
            predictions = loaded.predict(frame)
            out = frame.copy()
            out["prediction"] = predictions
            if loaded.task == "classification":
                proba = loaded.predict_proba(frame)
                for label in proba.columns:
                    out[f"proba_{label}"] = proba[label].to_numpy()
        caught += more
        for warning in caught:
            errors.print(f"[yellow]warning:[/] {escape(str(warning.message))}", highlight=False)
        tmp = output.with_name(f".{output.name}.tmp")
        if suffix == ".csv":
            out.to_csv(tmp, index=False)
        else:
            out.to_parquet(tmp, index=False)
        tmp.replace(output)
        console.print(f"wrote {len(out)} predictions to {output}")


# monitor, retrain, rollback, versions (kept in their own module).
from cairn.cli_maintenance import app as _maintenance_app  # noqa: E402

app.add_typer(_maintenance_app)

# serve, loadtest, logs export, abtest report (kept in their own module).
from cairn.serving.commands import register as _register_serving  # noqa: E402

_register_serving(app)


@app.command()
def profile(
    data: Annotated[str, typer.Argument(help="Data file or http(s) URL (CSV, Parquet, ...).")],
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
) -> None:
    """Write an EDA report of DATA: statistics, distributions, missing values,
    correlations, target relationships and data-quality findings."""
    with _user_errors():
        from cairn.data.sources import read_table
        from cairn.eda.profile import profile as make_profile
        from cairn.eda.report import write_profile_report

        started = time.monotonic()
        with console.status("reading data", spinner="dots") as status:
            frame = read_table(data, separator=separator, sheet=sheet)
            status.update(f"profiling {len(frame):,} rows × {frame.shape[1]} columns")
            name = Path(data).name if "://" not in data else data.rsplit("/", 1)[-1]
            result = make_profile(frame, target=target, task=task, source=name)
            default = Path(f"{Path(name).stem or 'data'}_profile.html")
            written = write_profile_report(result, output or default)
        warnings = sum(a.severity == "warning" for a in result.alerts)
        console.print(
            f"wrote {written} ({result.n_rows:,} rows, {result.n_columns} columns, "
            f"{warnings} warning(s)) in {time.monotonic() - started:.1f}s",
            highlight=False,
        )


@app.command()
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
    with _user_errors():
        from cairn.evaluation.card import write_model_card
        from cairn.evaluation.report import analyse_run, write_evaluation_report
        from cairn.evaluation.run_folder import load_run

        with console.status("reading the run", spinner="dots") as status:
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


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
