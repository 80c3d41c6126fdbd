"""The Typer application object shared by every command module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="myotrial",
    help="Run and analyse dermatomyositis trials of the ProDERM design.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
