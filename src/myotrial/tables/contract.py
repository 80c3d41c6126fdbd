"""Column contracts: each canonical table's columns declared once, checked by one engine.

A :class:`Column` names a column of ``docs/data-format.md`` with its type, unit, range and whether
the column and its values are required. :func:`check_columns` parses every declared column that
is present with the one set of parsers (:mod:`myotrial.tables.values`) and records every broken
rule in a :class:`~myotrial.tables.problems.ProblemCollector`; each rule's words cite the
data dictionary. The same declarations feed the data-dictionary test, so a column the validators
read cannot be missing from ``docs/data-format.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from myotrial.tables import values as v
from myotrial.tables.problems import ProblemCollector
from myotrial.tables.ranges import cite

__all__ = ["Column", "check_columns", "check_required_columns", "check_subject_ids", "cite"]

Kind = Literal["text", "number", "integer", "boolean", "date", "datetime", "code"]




@dataclass(frozen=True)
class Column:
    """One column of a canonical table (``docs/data-format.md``).

    ``required_column``: the column must be present; ``required_value``: no row may leave it
    missing. ``min``/``max`` are closed bounds (``min_exclusive`` makes the lower one open).
    """

    name: str
    kind: Kind
    meaning: str = ""
    unit: str = ""
    required_column: bool = False
    required_value: bool = False
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    vocabulary: tuple[str, ...] = ()
    max_length: int = 200

    def rule(self) -> str:
        """The value rule in words (without the citation)."""
        if self.kind in ("number", "integer"):
            what = "a whole number" if self.kind == "integer" else "a finite number"
            if self.min is not None or self.max is not None:
                bounds = v._range_words(self.min, self.max, self.min_exclusive)
                return f"must be {what} {bounds.removeprefix('must be ')}"
            return f"must be {what}"
        if self.kind == "code":
            return f"must be one of {', '.join(self.vocabulary)}"
        return {
            "boolean": v.BOOL_RULE,
            "date": v.DATE_RULE,
            "datetime": v.DATETIME_RULE,
            "text": v.TEXT_RULE,
        }[self.kind]


def check_required_columns(
    raw: pd.DataFrame, columns: Iterable[Column], col: ProblemCollector
) -> bool:
    """Record every required column that is absent; True when all are present."""
    ok = True
    for c in columns:
        if c.required_column and c.name not in raw:
            col.add_table(c.name, f"required column is missing {cite(col.table)}")
            ok = False
    return ok


def _parse(series: pd.Series, c: Column) -> v.ParsedColumn:
    if c.kind == "number":
        return v.number_column(series)
    if c.kind == "integer":
        return v.integer_column(series)
    if c.kind == "boolean":
        return v.boolean_column(series)
    if c.kind == "date":
        return v.date_column(series)
    if c.kind == "datetime":
        return v.datetime_column(series)
    if c.kind == "code":
        return v.code_column(series, c.vocabulary)
    return v.text_column(series, max_length=c.max_length)


def check_columns(
    raw: pd.DataFrame, columns: Sequence[Column], col: ProblemCollector
) -> dict[str, pd.Series]:
    """Parse every declared column present in ``raw``; record type, range and required-value
    problems. Returns the typed columns (bad values as missing)."""
    out: dict[str, pd.Series] = {}
    where = cite(col.table)
    for c in columns:
        if c.name not in raw:
            continue
        parsed = _parse(raw[c.name], c)
        bad = parsed.bad
        if c.kind == "text" and bad.any():
            rule = f"{c.rule()} and at most {c.max_length} characters"
            col.add(bad, c.name, f"{c.name} {rule} {where}")
        elif bad.any():
            col.add(bad, c.name, f"{c.name} {c.rule()} {where}")
        values = parsed.values
        if c.kind in ("number", "integer") and (c.min is not None or c.max is not None):
            arr = values.to_numpy(dtype="float64")
            with np.errstate(invalid="ignore"):
                out_of_range = np.zeros(len(arr), dtype=bool)
                if c.min is not None:
                    out_of_range |= (arr <= c.min) if c.min_exclusive else (arr < c.min)
                if c.max is not None:
                    out_of_range |= arr > c.max
            out_of_range &= ~np.isnan(arr)
            if out_of_range.any():
                col.add(out_of_range, c.name, f"{c.name} {c.rule()} {where}")
                values = values.where(~out_of_range)
        if c.required_value:
            col.add(parsed.missing, c.name, f"{c.name} is required in every row {where}")
        out[c.name] = values
    return out


def check_subject_ids(
    raw: pd.DataFrame,
    col: ProblemCollector,
    subject_ids: Iterable[str] | None,
    *,
    unique: bool = False,
) -> pd.Series:
    """``subject_id`` as stripped text: required in every row; unique when ``unique``; one of
    ``subject_ids`` when given. Returns the ids (object dtype, missing as None)."""
    where = cite(col.table)
    parsed = v.text_column(raw["subject_id"], max_length=64)
    col.add(parsed.missing, "subject_id", f"subject_id is required in every row {where}")
    col.add(parsed.bad, "subject_id", f"subject_id {v.TEXT_RULE} and at most 64 characters {where}")
    sid = parsed.values
    present = sid.notna().to_numpy()
    if unique:
        dup = sid.duplicated(keep=False).to_numpy() & present
        col.add(
            dup, "subject_id", f"subject_id appears more than once (one row per subject) {where}"
        )
    if subject_ids is not None:
        known = pd.Index([str(s) for s in subject_ids])
        unknown = present & ~sid.isin(known).to_numpy()
        col.add(unknown, "subject_id", f"subject is not in the trial's subjects table {where}")
    return sid
