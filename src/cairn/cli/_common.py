"""What every command shares: the consoles, one-line errors, finding the
project spec, its MLflow store and prediction log, and output-path checks.

Only typer and rich are imported here; a command imports what it needs inside
its body, so ``cairn --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from cairn.exceptions import CairnError

if TYPE_CHECKING:
    import pandas as pd

    from cairn.bundle import Model
    from cairn.spec import ProjectSpec

# Output that goes to a file or a pipe is not cut to a terminal's width.
_UNBOUNDED_WIDTH = 100_000

#: How an objective's verdict is shown.
OBJECTIVE_MARKS = {True: "[green]met[/]", False: "[red]NOT met[/]", None: "[yellow]n/a[/]"}


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
def user_errors(status: int = 1) -> Iterator[None]:
    """Turn a CairnError into one line on stderr and exit ``status``."""
    try:
        yield
    except CairnError as error:
        # Escaped: a message may quote "[data]" or other bracketed text.
        errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(status) from None
    except KeyboardInterrupt:
        errors.print("interrupted")
        raise typer.Exit(130) from None
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if missing not in TRAINING_LIBRARIES:
            raise
        # A serving-only install ('cairn[serve]') has no training stack.
        errors.print(
            f"[bold red]error:[/] this command needs {missing}, which a serving-only install "
            "lacks; install the training extra: pip install 'cairn\\[train]'",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(status) from None


# What `pip install 'cairn[train]'` adds to a serving-only install.
TRAINING_LIBRARIES = frozenset(
    {"sklearn", "scipy", "lightgbm", "catboost", "mlflow", "optuna", "plotly", "onnx",
     "skl2onnx", "sqlalchemy", "openpyxl", "joblib", "threadpoolctl"}
)  # fmt: skip


@contextlib.contextmanager
def progress_status(first: str) -> Iterator[Callable[[str], None]]:
    """A spinner showing the seconds elapsed and the latest step; each step is
    also logged. Yields the function that reports a step."""
    started = time.monotonic()
    with console.status(first, spinner="dots") as status:

        def progress(message: str) -> None:
            status.update(f"[{time.monotonic() - started:5.0f}s] {message}")
            console.log(message, highlight=False)

        yield progress


def print_warnings(caught: Iterable[warnings.WarningMessage]) -> None:
    """Show recorded warnings on stderr, one line each."""
    for warning in caught:
        errors.print(f"[yellow]warning:[/] {escape(str(warning.message))}", highlight=False)


def find_spec(spec: Path | None) -> ProjectSpec | None:
    """The spec named, or ./cairn.toml when present; None when neither."""
    from cairn.spec import load_spec

    if spec is not None:
        return load_spec(spec)
    default = Path("cairn.toml")
    return load_spec(default) if default.exists() else None


def tracking_store(spec: ProjectSpec | None) -> str:
    """The project's MLflow store, or the user-wide one without a project."""
    from cairn.tracking import globals_uri, tracking_uri

    if spec is None:
        return globals_uri()
    return tracking_uri(spec.project_dir, spec.tracking.uri)


def prediction_log_path(project: ProjectSpec | None, given: str | Path | None) -> Path | str:
    """The prediction log: the one given (a file or a postgresql:// URL), else
    the project's ``log_url`` or ``log_path``, else the default file."""
    from cairn.serving.log import as_log_target, default_log_path

    if given is not None:
        return as_log_target(given)
    if project is not None:
        settings = project.serving
        if settings.log_url is not None:
            target = as_log_target(settings.log_url)
            return project.resolve(target) if isinstance(target, Path) else target
        if settings.log_path is not None:
            return project.resolve(settings.log_path)
        return default_log_path(project.project_dir)
    return default_log_path()


def check_table_output(output: Path, *, source: Path) -> str:
    """Refuse an ``--output`` table that cannot be written, before any work:
    an unknown format, the input file itself, a missing folder. Returns the
    lower-cased suffix."""
    from cairn.exceptions import DataError

    suffix = output.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DataError(f"--output {output}: use a .csv or .parquet file name")
    if output.exists() and source.exists() and output.samefile(source):
        raise DataError(
            f"--output {output} is the input file; write the predictions to another file"
        )
    if not output.parent.is_dir():
        raise DataError(
            f"--output {output}: folder {output.parent} does not exist; create it first"
        )
    return suffix


def label_key(
    key: list[str] | None, spec: ProjectSpec | None, left: pd.DataFrame, right: pd.DataFrame
) -> list[str]:
    """The columns joining labels to rows: --key, [monitoring] key, the log's
    request id (and row), or the spec's id columns present in both."""
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


def read_prediction_log(
    project: ProjectSpec | None,
    log_path: str | Path | None,
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
    from cairn.serving.log import log_display, read_log

    path = prediction_log_path(project, log_path)
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
            f"{log_display(path)}: no logged predictions"
            + (f" of version {version}" if version else "")
            + f" from {window}"
            + (f"; versions in that window: {', '.join(versions)}" if versions else "")
            + ". Widen --since/--until, or pick the model with --model"
        )
    schema = model.schema if model is not None else None
    inputs, outputs = log_frames(frame, schema)
    return inputs, outputs, f"prediction log {log_display(path)} ({window}, {len(inputs):,} rows)"
