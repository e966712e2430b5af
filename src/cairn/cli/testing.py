"""``cairn test``: the behaviour tests of a trained model, for people and CI.

Only typer is imported here; the suite and its libraries load inside the
command.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from cairn.cli._common import console, user_errors

if TYPE_CHECKING:
    from cairn.behaviour import CheckResult

#: Exit status when the tests could not run (bad model, data or spec);
#: a suite that ran and failed exits with 1.
CANNOT_RUN = 2


def test_command(
    model: Annotated[
        str,
        typer.Argument(
            help="Bundle folder, models:/NAME@ALIAS, or the http(s):// address of 'cairn serve'."
        ),
    ],
    data: Annotated[
        Path | None,
        typer.Argument(help="Rows to test on, with the target (default: the run's test set)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Folder for junit.xml, behaviour.json and behaviour.html "
            "(default: the run folder, or ./cairn-test with DATA).",
        ),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write the JUnit XML here instead.")
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(help="Project spec with the \\[tests] settings (default: ./cairn.toml)."),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="A running server of MODEL to check against the bundle as well."),
    ] = None,
    trust: Annotated[
        bool,
        typer.Option("--trust", help="Load an unsigned bundle, or one signed with another key."),
    ] = False,
) -> None:
    """Run the behaviour tests of MODEL; write JUnit XML, JSON and HTML results.

    The suite: edge cases, declared invariances and directions, robustness,
    slices and fairness, train/serve skew. Prints one line per failing check
    and the summary. Exits with status 1 when a check fails and 2 when the
    tests cannot run (unknown model, unreadable data, a \\[tests] entry naming
    an unknown column).
    """
    with user_errors(CANNOT_RUN):
        from cairn.behaviour import run_tests

        with console.status(f"testing {model}", spinner="dots"):
            suite, paths = run_tests(
                model, data, spec=spec, output_dir=output, url=url, junit=junit, trust=trust
            )
    for check in suite.checks:
        if not check.ok:
            console.print(_failure_line(check), highlight=False, soft_wrap=True)
    tone = "green" if suite.passed else "red"
    console.print(f"[{tone}]{escape(suite.summary())}[/]", highlight=False, soft_wrap=True)
    for name, path in paths.items():
        console.print(f"{name}: {escape(str(path))}", highlight=False, soft_wrap=True)
    if not suite.passed:
        raise typer.Exit(1)


def _failure_line(check: CheckResult) -> str:
    figures = ""
    if check.measured is not None:
        figures = f" (measured {check.measured:.4g}"
        figures += f", threshold {check.threshold:.4g})" if check.threshold is not None else ")"
    word = "ERROR" if check.status == "error" else "FAILED"
    return f"[red]{word}[/] {escape(check.name)}: {escape(check.message)}{escape(figures)}"
