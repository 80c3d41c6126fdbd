"""Shared CLI output: readable rich tables for people, JSON for machines, located errors."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from myotrial.errors import InputValidationError

__all__ = [
    "DATA_FORMAT_DOC",
    "EXIT_BAD_INPUT",
    "EXIT_BUG",
    "MAX_PROBLEMS_SHOWN",
    "OutputPlan",
    "check_outputs",
    "console",
    "dumps",
    "emit_success",
    "err_console",
    "exit_with_problems",
    "fail",
    "plain",
    "to_jsonable",
]

EXIT_BAD_INPUT = 2
#: Exit code of an internal error (a bug in myotrial, not the user's input).
EXIT_BUG = 1
#: Problems printed on screen; the full list goes to ``problems.csv`` (issue 11).
MAX_PROBLEMS_SHOWN = 50
#: Where the canonical tables and their columns are documented (in the repository).
DATA_FORMAT_DOC = "docs/data-format.md"
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
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or Infinity: missing and non-finite values are null
    return value


def dumps(value: Any) -> str:
    """Strict JSON (never ``NaN``/``Infinity``: those become ``null``)."""
    return json.dumps(to_jsonable(value), indent=2, allow_nan=False)


def plain(value: Any) -> Text:
    """User data as literal text for rich (``[red]`` in a subject id is printed as written,
    never interpreted as markup)."""
    return Text("" if value is None else str(value))


def fail(message: str, as_json: bool = False, *, wrote_nothing: bool = True) -> NoReturn:
    """Report one located error (escaped) or the JSON envelope, and exit 2."""
    if as_json:
        typer.echo(dumps({"ok": False, "outputs": {}, "problems": [{"message": message}]}))
    else:
        text = Text("error: ", style="bold red")
        text.append(message + (" — nothing was written" if wrote_nothing else ""))
        err_console.print(text)
    raise typer.Exit(code=EXIT_BAD_INPUT)


def emit_success(outputs: Mapping[str, Any], as_json: bool, **extra: Any) -> None:
    """The JSON envelope of a successful command: ``ok``, ``outputs`` (name -> path), an empty
    ``problems`` list, and the command's own fields."""
    if as_json:
        body = {"ok": True, "outputs": {k: str(v) for k, v in outputs.items()}, "problems": []}
        body.update(extra)
        typer.echo(dumps(body))


@dataclass(frozen=True)
class OutputPlan:
    """Output paths checked before any work starts (:func:`check_outputs`)."""

    paths: tuple[Path, ...]
    force: bool


def _nearest_existing(path: Path) -> Path:
    for parent in (path, *path.parents):
        if parent.exists():
            return parent
    return Path(".")


def check_outputs(
    outputs: Sequence[Path],
    *,
    inputs: Sequence[Path | None] = (),
    force: bool = False,
    as_json: bool = False,
    directories: Sequence[Path] = (),
) -> OutputPlan:
    """Check every output path before the work starts; exit 2 naming the path otherwise.

    A file output must not be an input, must not be a directory, must not exist unless
    ``force``, and must be creatable: its nearest existing ancestor must be a writable
    directory (a parent that is a file is refused). ``directories`` are output folders: they
    may exist (their files are checked one by one by the command) but must not be files.
    """
    resolved_inputs = {p.resolve() for p in inputs if p is not None}
    for out in outputs:
        where = out.resolve()
        if where in resolved_inputs:
            fail(f"{out}: is also an input; refusing to overwrite an input file", as_json)
        if out.is_dir():
            fail(f"{out}: is a directory; give a file name", as_json)
        if out.exists() and not force:
            fail(f"{out}: exists; pass --force to overwrite it", as_json)
        _check_creatable(out, as_json)
    for folder in directories:
        if folder.exists() and not folder.is_dir():
            fail(f"{folder}: is a file; give a folder for the outputs", as_json)
        _check_creatable(folder / "x", as_json)
    return OutputPlan(tuple(outputs) + tuple(directories), force)


def _check_creatable(out: Path, as_json: bool) -> None:
    anchor = _nearest_existing(out.parent)
    if not anchor.is_dir():
        fail(f"{out}: cannot be created: {anchor} is a file, not a folder", as_json)
    if not os.access(anchor, os.W_OK | os.X_OK):
        fail(f"{out}: cannot be created: no write permission in {anchor}", as_json)


def _problem_records(
    error: InputValidationError, limit: int | None
) -> tuple[list[dict[str, Any]], int]:
    frame = error.problems_frame() if hasattr(error, "problems_frame") else error.problems
    total = len(frame)
    if limit is not None:
        frame = frame.head(limit)
    records = [{str(k): to_jsonable(v) for k, v in rec.items()} for rec in frame.to_dict("records")]
    return records, total


def exit_with_problems(
    error: InputValidationError,
    as_json: bool = False,
    *,
    writes_output: bool = True,
    problems_csv: Path | None = None,
) -> NoReturn:
    """Print the problems of ``error`` and exit 2.

    On screen: the first :data:`MAX_PROBLEMS_SHOWN` (a table on stderr, user data printed
    literally). With ``problems_csv``, every problem is also written there (CSV). With
    ``as_json``: the envelope ``{"ok": false, "outputs": {}, "problems": [...]}`` with every
    problem (or the first ones and ``problems_csv`` when a file is written).
    """
    written: Path | None = None
    if problems_csv is not None:
        try:
            if hasattr(error, "write_problems"):
                error.write_problems(problems_csv)
            else:
                error.problems.to_csv(problems_csv, index=False)
            written = problems_csv
        except OSError as exc:
            err_console.print(Text(f"(could not write {problems_csv}: {exc.strerror})"))
    limit = MAX_PROBLEMS_SHOWN if (written is not None or not as_json) else None
    records, total = _problem_records(error, limit)
    if as_json:
        body: dict[str, Any] = {
            "ok": False,
            "outputs": {},
            "table": error.table,
            "n_problems": total,
            "problems": records,
        }
        if written is not None:
            body["problems_csv"] = str(written)
        typer.echo(dumps(body))
    else:
        table = Table(
            title=f"{total} problem(s) in the {error.table} table"
            + (" — nothing was written" if writes_output else ""),
            title_style="bold red",
        )
        cols = ("row", "subject_id", "visit_week", "column", "value", "rule")
        for col in cols:
            table.add_column(col, overflow="fold")
        for rec in records:
            table.add_row(*(plain(rec.get(c)) for c in cols))
        err_console.print(table)
        if total > len(records):
            more = f"... and {total - len(records)} more"
            where = f": every problem is in {written}" if written is not None else ""
            err_console.print(Text(more + where))
        err_console.print(Text(f"The tables and their columns: {DATA_FORMAT_DOC}", style="dim"))
    raise typer.Exit(code=EXIT_BAD_INPUT)
