"""Shared CLI output: readable rich tables for people, JSON for machines, located errors."""

from __future__ import annotations

import json
import math
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from myotrial.errors import InputValidationError

__all__ = ["EXIT_BAD_INPUT", "console", "err_console", "exit_with_problems", "to_jsonable"]

EXIT_BAD_INPUT = 2
console = Console()
err_console = Console(stderr=True)


def to_jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars and missing values to plain JSON values (NaN -> null)."""
    if value is None:
        return None
    pd = sys.modules.get("pandas")  # no pandas value can exist unless pandas was imported
    if pd is not None and (value is pd.NA or value is pd.NaT):
        return None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def exit_with_problems(
    error: InputValidationError, as_json: bool = False, *, writes_output: bool = True
) -> NoReturn:
    """Print every problem of ``error`` (table on stderr, or JSON on stdout) and exit 2."""
    records = [
        {k: to_jsonable(v) for k, v in rec.items()} for rec in error.problems.to_dict("records")
    ]
    if as_json:
        typer.echo(json.dumps({"ok": False, "table": error.table, "problems": records}, indent=2))
    else:
        table = Table(
            title=f"{len(records)} problem(s) in the {error.table} table"
            + (" — nothing was written" if writes_output else ""),
            title_style="bold red",
        )
        cols = ("row", "subject_id", "visit_week", "column", "value", "rule")
        for col in cols:
            table.add_column(col, overflow="fold")
        for rec in records:
            table.add_row(*("" if rec[c] is None else str(rec[c]) for c in cols))
        err_console.print(table)
    raise typer.Exit(code=EXIT_BAD_INPUT)
