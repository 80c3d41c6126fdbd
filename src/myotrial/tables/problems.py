"""One problem collector for every table validator (``docs/data-format.md``, "Bad input").

A :class:`ProblemCollector` gathers located problems — table, 1-based data row, subject, visit,
column, the value as written and the rule broken — and :meth:`ProblemCollector.raise_if_any`
raises them all at once as one :class:`~myotrial.errors.InputValidationError`. Row rules are added
vectorised (a boolean mask per rule), single values one at a time (forms, the database service).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from myotrial.errors import PROBLEM_COLUMNS, InputValidationError, Problem
from myotrial.tables.values import as_problem_text

__all__ = ["ProblemCollector", "prepare_table"]


def _fmt(values: pd.Series) -> np.ndarray:
    return np.asarray(
        values.map(lambda v: "" if as_problem_text(v) is None else str(v)).to_numpy(), dtype=object
    )


class ProblemCollector:
    """Accumulates located problems of one table; raises them together.

    Parameters
    ----------
    table : str
        Table name used in every problem (``visits``, ``infusions``, ...).
    raw : pandas.DataFrame, optional
        The table as given; rows of masked problems take their ``subject_id``, ``visit_week``
        and value text from it, exactly as the user wrote them.
    """

    def __init__(self, table: str, raw: pd.DataFrame | None = None) -> None:
        self.table = table
        self.raw = raw
        self.parts: list[pd.DataFrame] = []
        self.items: list[Problem] = []

    def __bool__(self) -> bool:
        return bool(self.parts or self.items)

    def _text(self, column: str | None, idx: np.ndarray) -> np.ndarray | None:
        if column is None or self.raw is None or column not in self.raw:
            return None
        return _fmt(self.raw[column].iloc[idx])

    def add(
        self,
        mask: np.ndarray | pd.Series,
        column: str | None,
        rule: str,
        values: pd.Series | None = None,
    ) -> None:
        """One problem per ``True`` row of ``mask`` (positional), with the cell of ``column``
        (or of ``values``) as the value."""
        m = np.asarray(mask, dtype=bool)
        if not m.any():
            return
        idx = np.flatnonzero(m)
        part = pd.DataFrame(
            {
                "table": self.table,
                "row": idx + 1,
                "subject_id": self._text("subject_id", idx),
                "visit_week": self._text("visit_week", idx),
                "column": column,
                "value": _fmt(values.iloc[idx]) if values is not None else self._text(column, idx),
                "rule": rule,
            }
        )
        self.parts.append(part)

    def add_table(self, column: str | None, rule: str) -> None:
        """A problem of the whole table (a missing or duplicated column): no row."""
        self.items.append(Problem(self.table, None, None, None, column, None, rule))

    def add_value(
        self,
        column: str | None,
        value: Any,
        rule: str,
        *,
        row: int | None = None,
        subject_id: Any = None,
        visit_week: Any = None,
    ) -> None:
        """One problem of a single value (``row`` 1-based when known)."""
        self.items.append(
            Problem(
                self.table,
                row,
                as_problem_text(subject_id),
                as_problem_text(visit_week),
                column,
                as_problem_text(value),
                rule,
            )
        )

    def frame(self) -> pd.DataFrame:
        """Every problem so far, sorted by row then column (table problems first)."""
        parts = [p.reindex(columns=list(PROBLEM_COLUMNS)) for p in self.parts]
        if self.items:
            parts.insert(
                0, pd.DataFrame([p.as_dict() for p in self.items], columns=list(PROBLEM_COLUMNS))
            )
        if not parts:
            return pd.DataFrame(columns=list(PROBLEM_COLUMNS))
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        frame = frame.sort_values(["row", "column"], kind="stable", na_position="first")
        return frame.reset_index(drop=True)

    def raise_if_any(self) -> None:
        """Raise :class:`~myotrial.errors.InputValidationError` with every problem, if any."""
        if self:
            raise InputValidationError(self.frame(), self.table)


def prepare_table(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """A shallow copy with column names stripped and lower-cased (data-format.md: "Column names
    are lower-case"); a column named twice (``pga,PGA``) is an error, never renamed.

    Raises
    ------
    TypeError
        ``frame`` is not a pandas DataFrame.
    InputValidationError
        A column appears more than once.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{table} must be a pandas DataFrame, got {type(frame).__name__}")
    raw = frame.copy(deep=False)  # copy-on-write: the input is never modified
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    if raw.columns.duplicated().any():
        col = ProblemCollector(table)
        for c in sorted(set(raw.columns[raw.columns.duplicated()])):
            col.add_table(c, "column appears more than once (data-format.md: one column per name)")
        col.raise_if_any()
    return raw
