"""The ``cairn`` command line: :data:`app` (Typer) and :func:`main`, the
console-script entry point. Importing it loads typer and rich only."""

from cairn.cli.app import app, main

__all__ = ["app", "main"]
