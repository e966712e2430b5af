"""The ``cairn`` command: the Typer app and its commands, in the order
``cairn --help`` lists them.

The command modules import only typer, rich and :mod:`cairn.cli._common`;
each command imports its heavy libraries (scikit-learn, LightGBM, MLflow)
when it runs, so ``cairn --help`` starts fast. A user mistake (any CairnError)
prints one line and exits with status 1, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape

from cairn._version import __version__
from cairn.cli import maintenance, project, serving, testing, traffic
from cairn.cli._common import console, errors

app = typer.Typer(
    name="cairn",
    help="From a tabular problem statement to a monitored model in production.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


app.command()(project.init)
app.command("run")(project.run_command)
app.command()(project.predict)
app.command("test")(testing.test_command)
app.command("serve")(serving.serve_command)
app.command("loadtest")(traffic.loadtest_command)
app.command("build")(serving.build_command)
app.command()(project.profile)
app.command()(project.report)
app.command()(maintenance.monitor)
app.command("retrain")(maintenance.retrain_command)
app.command()(maintenance.promote)
app.command()(maintenance.rollback)
app.command()(maintenance.versions)
app.command()(project.runs)
app.command()(project.relocate)
app.add_typer(traffic.logs_app, name="logs")
app.add_typer(traffic.abtest_app, name="abtest")


def main() -> None:
    """Console-script entry point. A usage mistake (unknown option or
    command, a bad option value) is one line on stderr and status 2, as
    every other error is one line."""
    usage_errors = _click_errors("UsageError")
    try:
        code = app(standalone_mode=False)
    except usage_errors as caught:
        error: Any = caught  # click's UsageError, from whichever click defined it
        if type(error).__name__ == "NoArgsIsHelpError":  # bare 'cairn': the help
            error.show()
            sys.exit(error.exit_code)
        context = getattr(error, "ctx", None)
        where = context.command_path if context is not None else "cairn"
        errors.print(
            f"[bold red]error:[/] {escape(error.format_message())} (see '{escape(where)} --help')",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(error.exit_code)
    except _click_errors("Abort"):
        errors.print("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _click_errors(name: str) -> type[Exception]:
    """Click's exception class ``name`` as the running Typer raises it: its
    vendored copy (typer._click), or click itself for older Typer releases.
    Only that module is loaded: every command pays for this lookup."""
    try:
        module = importlib.import_module("typer._click.exceptions")
    except ImportError:
        module = importlib.import_module("click.exceptions")
    found: type[Exception] = getattr(module, name)
    return found
