"""Shared CLI output: readable rich tables for people, JSON for machines, located errors."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from myotrial.errors import InputValidationError, MyotrialError

__all__ = [
    "DATA_FORMAT_DOC",
    "EXIT_BAD_INPUT",
    "EXIT_BUG",
    "MAX_PROBLEMS_SHOWN",
    "PROJECT_ERRORS",
    "CliInputError",
    "OutputPlan",
    "check_outputs",
    "console",
    "dumps",
    "emit_success",
    "err_console",
    "exit_with_problems",
    "fail",
    "handle_exception",
    "is_project_error",
    "plain",
    "progress",
    "set_file_mode",
    "to_jsonable",
    "write_output_table",
    "write_output_tables",
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
            fail(f"{out}: would overwrite the input; choose another file", as_json)
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
    # count and the first ``limit`` problems without building the whole table (a million
    # problems are counted, not formatted)
    total = int(error.count)
    frame = error.problems if limit is None else error.head(limit)
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


# -- errors that reach the top: the project's own (exit 2) or a bug (exit 1) --------------------


class CliInputError(MyotrialError, ValueError):
    """A bad option, or a bad combination of options, given on the command line (exit 2)."""


#: The project's own error types, by dotted name (checked along the exception's MRO, so the
#: handler imports none of their modules: ``myotrial tis`` stays light). Every other exception
#: that reaches the top is a bug (exit 1), including a plain ``ValueError``.
#: ``tests/test_cli_errors.py`` checks this list against the classes under ``src/myotrial``.
PROJECT_ERRORS: tuple[str, ...] = (
    "myotrial.errors.MyotrialError",  # the common base (and its subclasses); then the others
    "myotrial.db.roles.PermissionDenied",
    "myotrial.db._values.ValueRuleError",
    "myotrial.db.protocol_store.ProtocolMismatchError",
    "myotrial.db.protocol_store.DatabaseNotReadyError",
)
#: Errors on a path the user gave: exit 2 naming the path.
_PATH_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def is_project_error(exc: BaseException) -> bool:
    """True when ``exc`` is (a subclass of) one of :data:`PROJECT_ERRORS`."""
    return any(f"{c.__module__}.{c.__qualname__}" in PROJECT_ERRORS for c in type(exc).__mro__)


def _version() -> str:
    from myotrial import __version__

    return __version__


def _path_message(exc: OSError) -> str:
    if exc.filename is None:
        return str(exc)
    where = str(exc.filename)
    if getattr(exc, "filename2", None) is not None:
        where += f" -> {exc.filename2}"
    return f"{where}: {exc.strerror or exc}"


def handle_exception(exc: Exception, as_json: bool, argv: Sequence[str] = ()) -> NoReturn:
    """The top-level handler (:meth:`myotrial.cli._app.LazyGroup.invoke`): the project's own
    errors exit 2 with their message (printed literally, never as rich markup); errors on a
    user's path exit 2 naming the path; anything else is a bug: exit 1 with "internal error in
    myotrial <version>: <Type>: <message> — please report it" and the traceback in a file in
    the temporary folder, whose path is printed."""
    if isinstance(exc, BrokenPipeError):  # the reader went away (``myotrial ... | head``)
        with contextlib.suppress(OSError):  # nothing more can be written to that pipe
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(code=0)
    if isinstance(exc, InputValidationError):  # raised by validation, before any write
        exit_with_problems(exc, as_json)
    if is_project_error(exc):
        fail(str(exc), as_json, wrote_nothing=False)
    if isinstance(exc, _PATH_ERRORS) or (isinstance(exc, OSError) and exc.filename is not None):
        fail(_path_message(exc), as_json, wrote_nothing=False)
    message = (
        f"internal error in myotrial {_version()}: {type(exc).__name__}: {exc} — please report it"
    )
    where: str | None = None
    try:
        fd, where = tempfile.mkstemp(prefix="myotrial-error-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"myotrial {_version()}, python {sys.version.split()[0]}\n")
            fh.write(f"arguments: {list(argv)!r}\n\n")
            traceback.print_exception(exc, file=fh)
    except OSError:
        where = None
    if as_json:
        body: dict[str, Any] = {"message": message, "internal_error": True}
        if where is not None:
            body["traceback"] = where
        typer.echo(dumps({"ok": False, "outputs": {}, "problems": [body]}))
    err_console.print(Text(message, style="bold red"))
    if where is not None:
        err_console.print(
            Text(f"The traceback is in {where} (attach it to the report)."), soft_wrap=True
        )
    else:
        err_console.print(Text("".join(traceback.format_exception(exc))))
    raise typer.Exit(code=EXIT_BUG)


# -- writing outputs ------------------------------------------------------------------------------


def set_file_mode(paths: Sequence[Path], *, private: bool) -> None:
    """Give written files their documented mode: 600 for unblinded (``private``) material,
    else the user's umask (``0o666 & ~umask``: a shareable output). Atomic writes through a
    temporary file otherwise leave every output at 600."""
    if private:
        mode = 0o600
    else:
        mask = os.umask(0)
        os.umask(mask)
        mode = 0o666 & ~mask
    for path in paths:
        if path.is_file():
            os.chmod(path, mode)


def _arrow_bad_column(frame: Any) -> str | None:
    import pyarrow as pa

    for name in frame.columns:
        try:
            pa.Array.from_pandas(frame[name])
        except (pa.ArrowException, TypeError, ValueError):
            return str(name)
    return None


def _parquet_error(path: Path, frame: Any, exc: BaseException, as_json: bool) -> NoReturn:
    column = _arrow_bad_column(frame)
    what = f"column {column!r} mixes values of different types" if column else "a column"
    fail(
        f"{path}: cannot be written as Parquet: {what} ({_first_line(exc)}); write a .csv "
        "file instead, or make the column one type",
        as_json,
    )


def write_output_table(
    frame: Any, path: Path, *, as_json: bool = False, private: bool = False
) -> Path:
    """Write ``frame`` (:func:`myotrial.tables.write_table`) at its documented file mode; a
    Parquet file Arrow cannot type (a column mixing numbers and text, ...) is a located error
    naming the column, never a raw pyarrow error."""
    from myotrial.tables import write_table

    try:
        written = write_table(frame, path)
    except Exception as exc:
        import pyarrow as pa

        if not isinstance(exc, pa.ArrowException):
            raise
        _parquet_error(path, frame, exc, as_json)
    set_file_mode([written], private=private)
    return written


def write_output_tables(
    frames: Mapping[Path, Any],
    *,
    as_json: bool = False,
    private: bool = False,
    steps: Steps | None = None,
) -> dict[Path, Path]:
    """Write several tables, all or none for a Parquet typing problem: every Parquet frame is
    converted to Arrow (and refused, located) before the first file is written."""
    parquet = [p for p in frames if p.suffix.lower() in (".parquet", ".pq")]
    if parquet:
        import pyarrow as pa

        for path in parquet:
            try:
                pa.Table.from_pandas(frames[path], preserve_index=False)
            except (pa.ArrowException, TypeError, ValueError) as exc:
                _parquet_error(path, frames[path], exc, as_json)
    written = {}
    for path, frame in frames.items():
        if steps is not None:
            steps.step(f"writing {path.name}")
        written[path] = write_output_table(frame, path, as_json=as_json, private=private)
    return written


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# -- progress -------------------------------------------------------------------------------------


class Steps:
    """A progress bar of named steps on stderr, shown only when stderr is a terminal and the
    output is not JSON (else every call does nothing)."""

    def __init__(self, progress_bar: Any, task: Any) -> None:
        self._bar = progress_bar
        self._task = task
        self._started = False

    def step(self, description: str) -> None:
        """Finish the current step and start ``description``."""
        if self._bar is None:
            return
        if self._started:
            self._bar.advance(self._task)
        self._started = True
        self._bar.update(self._task, description=description)
        self._bar.refresh()


@contextlib.contextmanager
def progress(total: int, *, as_json: bool, enabled: bool = True) -> Iterator[Steps]:
    """``with progress(n_steps, as_json=...) as steps: steps.step("reading visits")``."""
    out = err_console  # looked up at call time (tests replace it)
    if as_json or not enabled or not out.is_terminal:
        yield Steps(None, None)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=total)
        steps = Steps(bar, task)
        yield steps
        if steps._started:
            bar.advance(task)
