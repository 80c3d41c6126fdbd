"""Reading and writing the canonical tables (CSV or Parquet, chosen by file extension).

CSV is read with every column as text (blank = missing), so validation can report a bad value
exactly as the user typed it; nothing is converted or dropped before validation.
Writes are atomic: the file appears complete or not at all (temporary file + ``os.replace``).
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import pandas as pd

from myotrial.tables.problems import ProblemCollector

__all__ = ["SUPPORTED_SUFFIXES", "check_table_path", "read_table", "write_table"]

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")


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


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV (all columns as text, blank = missing) or Parquet file.

    Raises :class:`~myotrial.errors.InputValidationError` when a CSV header names a column twice.
    """
    p = Path(path)
    suffix = _suffix(p)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if suffix == ".csv":
        _check_csv_header(p)
        frame = pd.read_csv(
            p, dtype=object, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
        )
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        return frame
    frame = pd.read_parquet(p)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def _check_csv_header(path: Path) -> None:
    """A header naming a column twice (``pga,pga`` or ``pga,PGA``) is an error: pandas would
    silently rename the second one ``pga.1``."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), [])
    except (UnicodeDecodeError, csv.Error):
        return  # pandas reports these with its own message
    names = [c.strip().lower() for c in header]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        col = ProblemCollector(path.name)
        for name in dups:
            col.add_table(name, "column appears more than once in the header (docs/data-format.md)")
        col.raise_if_any()


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` atomically to CSV or Parquet (by extension); returns the path."""
    p = Path(path)
    suffix = _suffix(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    tmp = Path(tmp_name)
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
