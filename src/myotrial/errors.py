"""Errors raised at myotrial's boundaries.

Validation never stops at the first problem: every bad value is collected and reported at once,
each located by subject, visit and column, with the value found and the rule it breaks
(style guide item 9; ``reference/data-format.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["PROBLEM_COLUMNS", "InputValidationError", "Problem", "RulesError"]

PROBLEM_COLUMNS = ("table", "row", "subject_id", "visit_week", "column", "value", "rule")


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


class InputValidationError(ValueError):
    """Input data broke one or more rules; ``problems`` lists every one of them.

    Attributes
    ----------
    problems : pandas.DataFrame
        Columns ``table, row, subject_id, visit_week, column, value, rule``, one row per problem.
    """

    def __init__(self, problems: Iterable[Problem] | pd.DataFrame, table: str = "input") -> None:
        if isinstance(problems, pd.DataFrame):
            frame = problems.reindex(columns=list(PROBLEM_COLUMNS))
        else:
            frame = pd.DataFrame([p.as_dict() for p in problems], columns=list(PROBLEM_COLUMNS))
        self.problems: pd.DataFrame = frame.reset_index(drop=True)
        self.table = table
        n = len(self.problems)
        shown = "\n".join(
            f"  - {_describe(rec)}" for rec in self.problems.head(20).to_dict("records")
        )
        more = f"\n  ... and {n - 20} more" if n > 20 else ""
        super().__init__(f"{n} problem(s) in the {table} table:\n{shown}{more}")


def _describe(rec: Mapping[Any, Any]) -> str:
    where = []
    if rec.get("row") is not None and not pd.isna(rec.get("row")):
        where.append(f"row {int(rec['row'])}")
    if rec.get("subject_id") is not None and not pd.isna(rec.get("subject_id")):
        where.append(f"subject {rec['subject_id']}")
    if rec.get("visit_week") is not None and not pd.isna(rec.get("visit_week")):
        where.append(f"week {rec['visit_week']}")
    if rec.get("column") is not None and not pd.isna(rec.get("column")):
        where.append(f"column {rec['column']}")
    value = rec.get("value")
    val = "" if value is None or (isinstance(value, float) and pd.isna(value)) else f" = {value!r}"
    return f"{', '.join(where)}{val}: {rec['rule']}"


class RulesError(ValueError):
    """A rules data file (scoring table, thresholds, protocol) is malformed or inconsistent."""
