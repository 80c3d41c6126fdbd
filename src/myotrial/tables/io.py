"""Reading and writing the canonical tables (CSV or Parquet, chosen by file extension).

CSV is read with every column as text (blank = missing), so validation can report a bad value
exactly as the user typed it; nothing is converted or dropped before validation. CSV means
comma-separated UTF-8 (docs/data-format.md, "Conventions"): a file whose header is separated by
semicolons or tabs is refused with an error naming the delimiter found (never guessed: a guessed
delimiter would turn decimal commas into columns). A file that cannot be read (empty, not UTF-8,
malformed, a directory, not Parquet) raises one :class:`~myotrial.errors.InputValidationError`
naming the file, never a pandas traceback.
Writes are atomic: the file appears complete or not at all (temporary file + ``os.replace``).
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import NoReturn

import pandas as pd

from myotrial.tables.problems import ProblemCollector

__all__ = [
    "FOREIGN_DELIMITERS",
    "SUPPORTED_SUFFIXES",
    "check_table_path",
    "read_table",
    "write_table",
]

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")
#: Delimiters recognised (and refused) in a CSV header, with their names for the message.
FOREIGN_DELIMITERS = {";": "semicolons (;)", "\t": "tabs"}


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    return suffix


def check_table_path(path: str | os.PathLike[str]) -> Path:
    """Raise ``ValueError`` now if ``path`` has an unsupported extension (before any work)."""
    p = Path(path)
    _suffix(p)
    return p


def read_table(path: str | os.PathLike[str], *, require_rows: bool = False) -> pd.DataFrame:
    """Read a CSV (all columns as text, blank = missing) or Parquet file.

    ``require_rows``: a file with a header but no data rows is an error (for commands that
    cannot do anything useful with an empty table).

    Raises
    ------
    InputValidationError
        The file cannot be read as a table (the table is named by the file): empty, a
        directory, not UTF-8, ``;`` or tab delimited, malformed CSV, not Parquet, a header
        naming a column twice, or (``require_rows``) no data rows.
    ValueError
        Unsupported extension.
    FileNotFoundError
        No such file.
    """
    p = Path(path)
    suffix = _suffix(p)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.is_dir():
        _fail(p, "is a directory, not a file")
    if suffix == ".csv":
        _check_csv_header(p)
        try:
            frame = pd.read_csv(
                p, dtype=object, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
            )
        except UnicodeDecodeError as exc:
            _fail(p, _codec_rule(exc))
        except pd.errors.EmptyDataError:
            _fail(p, "is empty: no header row (docs/data-format.md)")
        except (pd.errors.ParserError, csv.Error, ValueError) as exc:
            _fail(p, f"is not a readable CSV table: {_first_line(exc)}")
    else:
        try:
            frame = pd.read_parquet(p)
        except (OSError, ValueError, TypeError) as exc:
            _fail(p, f"is not a readable Parquet file: {_first_line(exc)}")
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if require_rows and len(frame) == 0:
        _fail(p, "has a header but no data rows")
    return frame


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _codec_rule(exc: UnicodeDecodeError) -> str:
    bad = exc.object[exc.start : exc.start + 1]
    return (
        f"is not UTF-8 text (byte 0x{bytes(bad).hex()} at byte {exc.start}); save it as UTF-8 "
        "CSV (docs/data-format.md, Conventions)"
    )


def _fail(path: Path, rule: str) -> NoReturn:
    col = ProblemCollector(path.name)
    col.add_table(None, f"{path}: {rule}")
    col.raise_if_any()
    raise AssertionError("unreachable")  # pragma: no cover


def _check_csv_header(path: Path) -> None:
    """Refuse what pandas would silently misread: a header naming a column twice (``pga,pga``
    or ``pga,PGA`` would become ``pga.1``) and a header separated by ``;`` or tabs (read as one
    column, so every column would be reported "missing")."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
    except UnicodeDecodeError as exc:
        _fail(path, _codec_rule(exc))
    try:
        header = next(csv.reader([first]), []) if first else []
    except csv.Error:
        return  # pandas reports these (as a located error, see read_table)
    if "," not in first:
        for delim, name in FOREIGN_DELIMITERS.items():
            if delim in first:
                _fail(
                    path,
                    f"the header is separated by {name}, not commas: myotrial reads "
                    "comma-separated CSV only; save the file as comma-separated CSV "
                    "(docs/data-format.md, Conventions)",
                )
    names = [c.strip().lower() for c in header]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        col = ProblemCollector(path.name)
        for name in dups:
            col.add_table(name, "column appears more than once in the header (docs/data-format.md)")
        col.raise_if_any()


def write_table(
    frame: pd.DataFrame, path: str | os.PathLike[str], *, private: bool = False
) -> Path:
    """Write ``frame`` atomically to CSV or Parquet (by extension); returns the path.

    File mode: a shareable table follows the user's umask (``0o666 & ~umask``, as any new
    file); ``private=True`` (unblinded material: allocations, unblinded exports) is 600, owner
    only, from the moment the temporary file exists."""
    p = Path(path)
    suffix = _suffix(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    if not private:  # mkstemp creates 600; a shareable output gets the umask's mode
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
    try:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False, lineterminator="\n")
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p
