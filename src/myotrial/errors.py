"""Errors raised at myotrial's boundaries.

Validation never stops at the first problem: every bad value is collected and reported at once,
each located by subject, visit and column, with the value found and the rule it breaks
(``docs/data-format.md``, "Bad input").

An :class:`InputValidationError` may carry millions of problems (a whole file of bad rows): the
message shows the first :data:`SHOWN_PROBLEMS`; the full list is built only when asked for
(:attr:`InputValidationError.problems`, :meth:`~InputValidationError.problems_frame`) and can be
written as CSV (:meth:`~InputValidationError.write_problems`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pandas is imported where a problem table is built, not at start-up
    import pandas as pd

__all__ = [
    "PROBLEM_COLUMNS",
    "SHOWN_PROBLEMS",
    "InputValidationError",
    "MyotrialError",
    "Problem",
    "ProblemSource",
    "RulesError",
]

PROBLEM_COLUMNS = ("table", "row", "subject_id", "visit_week", "column", "value", "rule")
#: How many problems the message of an :class:`InputValidationError` lists.
SHOWN_PROBLEMS = 50


@dataclass(frozen=True)
class Problem:
    """One located problem in an input table.

    ``row`` is the 1-based data row number in the input (the CSV header is row 0), so a data
    manager can find the line; ``subject_id``/``visit_week`` are given where known.
    """

    table: str
    row: int | None
    subject_id: str | None
    visit_week: str | None
    column: str | None
    value: str | None
    rule: str

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PROBLEM_COLUMNS}


@runtime_checkable
class ProblemSource(Protocol):
    """Problems that are counted at once but built as a table only when asked for (see
    :class:`myotrial.tables.ProblemCollector`): ``count``, the first ``n`` in order
    (``head``) and all of them (``frame``), each a frame of :data:`PROBLEM_COLUMNS`."""

    @property
    def count(self) -> int: ...

    def head(self, n: int) -> pd.DataFrame: ...

    def frame(self) -> pd.DataFrame: ...


class _FrameSource:
    """A :class:`ProblemSource` over an already built frame."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame.reindex(columns=list(PROBLEM_COLUMNS)).reset_index(drop=True)

    @property
    def count(self) -> int:
        return len(self._frame)

    def head(self, n: int) -> pd.DataFrame:
        return self._frame.head(n)

    def frame(self) -> pd.DataFrame:
        return self._frame


def _as_source(problems: Iterable[Problem] | pd.DataFrame | ProblemSource) -> ProblemSource:
    import pandas as pd

    if isinstance(problems, pd.DataFrame):
        return _FrameSource(problems)
    if isinstance(problems, ProblemSource):
        return problems
    return _FrameSource(
        pd.DataFrame([p.as_dict() for p in problems], columns=list(PROBLEM_COLUMNS))
    )


class MyotrialError(Exception):
    """Base of the errors that describe a problem with what the user gave (input tables,
    files, options, configuration, permissions), as opposed to a bug in myotrial. The
    command line ends such an error with exit code 2 and its message; any other exception is
    reported as an internal error (exit 1)."""


class InputValidationError(MyotrialError, ValueError):
    """Input data broke one or more rules; every one of them is kept.

    Attributes
    ----------
    problems : pandas.DataFrame
        Columns ``table, row, subject_id, visit_week, column, value, rule``, one row per problem,
        ordered by row then column (problems of the whole table first). Built on first access.
    count : int
        How many problems there are (without building the table).
    table : str
        The table (or file) the problems are in.

    The message lists the first :data:`SHOWN_PROBLEMS` problems and says how many more there
    are; :meth:`write_problems` writes every one of them as CSV (``problems.csv``).
    """

    def __init__(
        self, problems: Iterable[Problem] | pd.DataFrame | ProblemSource, table: str = "input"
    ) -> None:
        self._source = _as_source(problems)
        self._frame: pd.DataFrame | None = None
        self.table = table
        self.count: int = int(self._source.count)
        head = self._source.head(SHOWN_PROBLEMS)
        shown = "\n".join(f"  - {_describe(rec)}" for rec in head.to_dict("records"))
        n = self.count
        more = f"\n  ... and {n - len(head)} more" if n > len(head) else ""
        super().__init__(f"{n} problem(s) in the {table} table:\n{shown}{more}")

    @property
    def problems(self) -> pd.DataFrame:
        """Every problem as a table (built once, on first access)."""
        if self._frame is None:
            frame = self._source.frame().reindex(columns=list(PROBLEM_COLUMNS))
            self._frame = frame.reset_index(drop=True)
        return self._frame

    @problems.setter
    def problems(self, frame: pd.DataFrame) -> None:
        self._frame = frame.reindex(columns=list(PROBLEM_COLUMNS)).reset_index(drop=True)
        self._source = _FrameSource(self._frame)
        self.count = len(self._frame)

    def problems_frame(self) -> pd.DataFrame:
        """Every problem as a table: the same frame as :attr:`problems`."""
        return self.problems

    def head(self, n: int = SHOWN_PROBLEMS) -> pd.DataFrame:
        """The first ``n`` problems in order (cheap, whatever :attr:`count` is)."""
        if self._frame is not None:
            return self._frame.head(n)
        return self._source.head(n).reindex(columns=list(PROBLEM_COLUMNS)).reset_index(drop=True)

    def write_problems(self, path: str | os.PathLike[str]) -> Path:
        """Write every problem as CSV (columns :data:`PROBLEM_COLUMNS`, UTF-8, header row, text
        values in double quotes, blank = no value) to ``path``, atomically (a temporary file in
        the same folder, then renamed; the file mode follows the umask); returns the path.

        Written by Arrow's CSV writer: a million problems take about half a second."""
        p = Path(path)
        # created with mode 0o666 so the user's umask applies (a shareable file, not private)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as fh:
                _write_csv(self.problems, fh)
            os.replace(tmp, p)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return p

    def __reduce__(self) -> tuple[Any, ...]:
        # picklable (e.g. raised in a worker process): rebuilt from the full table
        return (type(self), (self.problems, self.table))


def _write_csv(frame: pd.DataFrame, fh: Any) -> None:
    """``frame`` as CSV to the binary file ``fh`` (Arrow's writer; pandas for any column Arrow
    cannot type)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        fh.write(frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))
        return
    pa_csv.write_csv(table, fh)


def _missing(value: Any) -> bool:
    """None, NaN, pandas NA/NaT (without importing pandas)."""
    if value is None:
        return True
    if type(value).__name__ in ("NAType", "NaTType"):
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def _describe(rec: Mapping[Any, Any]) -> str:
    where = []
    if not _missing(rec.get("row")):
        where.append(f"row {int(rec['row'])}")
    if not _missing(rec.get("subject_id")):
        where.append(f"subject {rec['subject_id']}")
    if not _missing(rec.get("visit_week")):
        where.append(f"week {rec['visit_week']}")
    if not _missing(rec.get("column")):
        where.append(f"column {rec['column']}")
    value = rec.get("value")
    val = "" if value is None or (isinstance(value, float) and _missing(value)) else f" = {value!r}"
    if not where and not val:
        return str(rec["rule"])
    return f"{', '.join(where)}{val}: {rec['rule']}"


class RulesError(MyotrialError, ValueError):
    """A rules data file (scoring table, thresholds, protocol) is malformed or inconsistent."""
