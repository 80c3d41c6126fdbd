"""One problem collector for every table validator (``docs/data-format.md``, "Bad input").

A :class:`ProblemCollector` gathers located problems — table, 1-based data row, subject, visit,
column, the value as written and the rule broken — and :meth:`ProblemCollector.raise_if_any`
raises them all at once as one :class:`~myotrial.errors.InputValidationError`. Row rules are added
vectorised (a boolean mask or row positions per rule), single values one at a time (forms, the
database service).

Problems are stored as row positions per rule, not one object per bad cell: a file whose million
rows are all invalid is counted at once, the first problems are formatted for the message, and the
full table (the value of each cell as written) is built only when it is asked for
(:meth:`ProblemSet.frame`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from myotrial.errors import PROBLEM_COLUMNS, InputValidationError, Problem
from myotrial.tables.values import as_problem_text

__all__ = ["ProblemCollector", "ProblemSet", "cell_text", "prepare_table"]


def _fmt_slow(values: pd.Series) -> np.ndarray:
    return np.asarray(
        values.map(lambda v: "" if as_problem_text(v) is None else str(v)).to_numpy(), dtype=object
    )


def cell_text(series: pd.Series, idx: np.ndarray) -> np.ndarray:
    """The cells of ``series`` at positions ``idx`` as the user wrote them (object array of
    text, ``""`` where the cell is missing), vectorised: each distinct value is formatted once.
    """
    sub = series.iloc[idx]
    if len(sub) == 0:
        return np.empty(0, dtype=object)
    if isinstance(sub.dtype, pd.StringDtype) or sub.dtype == object:
        arr = np.asarray(sub.to_numpy(dtype=object), dtype=object)
        kind = pd.api.types.infer_dtype(arr, skipna=True)
        if kind in ("string", "empty"):
            missing = pd.isna(arr)
            if missing.any():
                arr = arr.copy()
                arr[missing] = ""
            return np.asarray(arr, dtype=object)
    try:
        codes, uniques = pd.factorize(sub, use_na_sentinel=True)
    except TypeError:  # unhashable cells: one at a time
        return _fmt_slow(sub)
    texts = _fmt_slow(pd.Series(np.asarray(uniques, dtype=object), dtype=object))
    out = np.append(texts, "").astype(object)  # code -1 (missing) -> ""
    return np.asarray(out[codes], dtype=object)


@dataclass(frozen=True)
class _Part:
    """Problems of one rule: sorted row positions, the column, the rule, and where the values
    come from (``values``, else the ``column`` of the raw table)."""

    idx: np.ndarray
    column: str | None
    rule: str
    values: pd.Series | None


class ProblemSet:
    """A snapshot of a collector's problems (a :class:`~myotrial.errors.ProblemSource`):
    counted at once, formatted lazily."""

    def __init__(
        self, table: str, raw: pd.DataFrame | None, parts: list[_Part], items: list[Problem]
    ) -> None:
        self.table = table
        self.raw = raw
        self.parts = tuple(parts)
        self.items = tuple(items)

    @property
    def count(self) -> int:
        return len(self.items) + sum(len(p.idx) for p in self.parts)

    def head(self, n: int) -> pd.DataFrame:
        """The first ``n`` problems in order (each part is sorted by row: only its first ``n``
        can be among them)."""
        parts = [_Part(p.idx[:n], p.column, p.rule, p.values) for p in self.parts]
        return self._build(parts, list(self.items)).head(n).reset_index(drop=True)

    def frame(self) -> pd.DataFrame:
        """Every problem, sorted by row then column (table problems first)."""
        return self._build(list(self.parts), list(self.items))

    def _text(self, column: str | None, idx: np.ndarray) -> np.ndarray:
        if column is None or self.raw is None or column not in self.raw:
            return np.full(len(idx), None, dtype=object)
        return cell_text(self.raw[column], idx)

    def _build(self, parts: list[_Part], items: list[Problem]) -> pd.DataFrame:
        n_items = len(items)
        sizes = [len(p.idx) for p in parts]
        total = n_items + sum(sizes)
        cols = list(PROBLEM_COLUMNS)
        if total == 0:
            return pd.DataFrame(columns=cols)
        idx = np.concatenate([p.idx for p in parts]) if parts else np.empty(0, np.int64)
        idx = idx.astype(np.int64, copy=False)
        item_rows = [p.row for p in items]
        has_none_row = any(r is None for r in item_rows)
        # sort keys: row (table problems first), column name (None first), insertion order
        row_key = np.concatenate(
            [np.array([-1 if r is None else int(r) for r in item_rows], np.int64), idx + 1]
        )
        names = [p.column for p in items] + [p.column for p in parts]
        ordered = sorted({c for c in names if c is not None})
        rank: dict[str | None, int] = {c: i + 1 for i, c in enumerate(ordered)}
        rank[None] = 0
        col_key = np.concatenate(
            [
                np.array([rank[c] for c in names[:n_items]], np.int64),
                np.repeat(np.array([rank[p.column] for p in parts], np.int64), sizes),
            ]
        )
        columns = np.concatenate(
            [
                np.array(names[:n_items], dtype=object),
                np.repeat(np.array([p.column for p in parts], dtype=object), sizes),
            ]
        )
        rules = np.concatenate(
            [
                np.array([p.rule for p in items], dtype=object),
                np.repeat(np.array([p.rule for p in parts], dtype=object), sizes),
            ]
        )
        values = np.concatenate(
            [
                np.array([p.value for p in items], dtype=object),
                *(
                    cell_text(p.values, p.idx)
                    if p.values is not None
                    else self._text(p.column, p.idx)
                    for p in parts
                ),
            ]
        )
        subjects = np.concatenate(
            [np.array([p.subject_id for p in items], dtype=object), self._text("subject_id", idx)]
        )
        weeks = np.concatenate(
            [np.array([p.visit_week for p in items], dtype=object), self._text("visit_week", idx)]
        )
        tables = np.concatenate(
            [
                np.array([p.table for p in items], dtype=object),
                np.full(len(idx), self.table, object),
            ]
        )
        in_order = bool(np.all(row_key[1:] > row_key[:-1])) if total > 1 else True
        order = None if in_order else np.lexsort((np.arange(total), col_key, row_key))
        if has_none_row:
            rows: Any = np.array([*item_rows, *(idx + 1).tolist()], dtype=object)
        else:
            rows = row_key
        data = {
            "table": tables,
            "row": rows,
            "subject_id": subjects,
            "visit_week": weeks,
            "column": columns,
            "value": values,
            "rule": rules,
        }
        if order is not None:
            data = {k: v[order] for k, v in data.items()}
        # object columns as built (no per-cell conversion to another string type)
        return pd.DataFrame(
            {k: pd.Series(v, dtype=v.dtype, copy=False) for k, v in data.items()},
            columns=cols,
            copy=False,
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
        self._parts: list[_Part] = []
        self.items: list[Problem] = []

    def __bool__(self) -> bool:
        return bool(self._parts or self.items)

    @property
    def count(self) -> int:
        """How many problems so far."""
        return len(self.items) + sum(len(p.idx) for p in self._parts)

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
        self.add_rows(np.flatnonzero(m), column, rule, values)

    def add_rows(
        self,
        rows: np.ndarray,
        column: str | None,
        rule: str,
        values: pd.Series | None = None,
    ) -> None:
        """One problem per row position in ``rows`` (0-based, increasing)."""
        idx = np.asarray(rows, dtype=np.int64)
        if idx.size:
            self._parts.append(_Part(idx, column, rule, values))

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

    def snapshot(self) -> ProblemSet:
        """The problems so far (later additions do not change it)."""
        return ProblemSet(self.table, self.raw, list(self._parts), list(self.items))

    def frame(self) -> pd.DataFrame:
        """Every problem so far, sorted by row then column (table problems first)."""
        return self.snapshot().frame()

    def raise_if_any(self) -> None:
        """Raise :class:`~myotrial.errors.InputValidationError` with every problem, if any."""
        if self:
            raise InputValidationError(self.snapshot(), self.table)


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
