"""One subject's visits scored without pandas: the live trial's visit entry.

:func:`score_subject_visits` takes the visits as rows (dicts keyed by visits-table column, as
read from the database, with at most a new or corrected row as the user typed it), validates
them with the rules of the table validator (:func:`myotrial.tables.visits.prepare_visits`: the
same rules, in the same order, the same messages, the same problem locations: row, subject,
week, column and the value as written) and scores them with
:func:`~myotrial.scoring.engine.score_arrays` on numpy arrays built directly from the rows (a
few rows: the engine's uncompiled source, no numba). The result is the row-wise content of
:func:`~myotrial.scoring.score_visits` on the same rows given as a table, with ``None`` for
every missing value (``tests/test_scoring_subject.py`` proves it, field by field and problem by
problem).

Shared with the table validator rather than rewritten: the measure, MMT-8 maximum, enzyme and
ULN rules (:func:`~myotrial.tables.ranges.check_measure_ranges`), every rule text, the id and
week bounds. The column typing of the table the service used to build (numbers stay numbers,
any other value makes the column text) decides how a value is written in a problem, exactly as
before. Values the table validator parses with pandas' general number parser (text that is not
a plain decimal literal, a missing-value token or blank; objects that are not numbers or text)
and visit dates that are not dates are handed to that parser, one cell at a time: the rare
error path, never a well-formed visit.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from myotrial.errors import InputValidationError, Problem
from myotrial.rules import SLOTS, load_scales, load_tis_rules
from myotrial.scoring.engine import CATEGORY_LABELS, CLAUSE_LABELS, ScoringConfig, score_arrays
from myotrial.tables.ranges import (
    _SCALES,
    _WHERE,
    DEFAULT_MMT8_MAX,
    ENZYME_COLUMNS,
    MAX_SUBJECT_ID_LENGTH,
    MAX_VISIT_WEEK,
    MMT8_ALLOWED_MAX,
    ULN_COLUMNS,
    check_measure_ranges,
    mmt8_max_rule,
)
from myotrial.tables.values import (
    _BLANK_OR_TOKEN,
    _CONTROL,
    _DECIMAL_LITERAL,
    DATE_RULE,
    MISSING_TOKENS,
    NUMBER_RULE,
    TEXT_RULE,
)

__all__ = ["SCORED_FIELDS", "score_subject_visits"]

#: Columns the service's visits table always kept, even when empty in every visit (scoring
#: needs them); any other column empty in every row is left out, as the table was.
CORE_COLUMNS: tuple[str, ...] = ("subject_id", "visit_week", "pga", "ptga", "extramuscular",
                                 "mmt8", "haq", "ck", "ck_uln")
#: Fields added to each row (the :data:`myotrial.scoring.SCORED_COLUMNS` of ``score_visits``).
SCORED_FIELDS: tuple[str, ...] = (
    "tis", "tis_category", "tis_missing_reason", *(f"points_{s}" for s in SLOTS),
    "enzyme_used", "doi_met", "worsening", "worsening_clauses", "cd_confirmed")
_NUMERIC_COLUMNS: tuple[str, ...] = ("visit_week", *_SCALES.measures, "mmt8_max",
                                     *ENZYME_COLUMNS, *ULN_COLUMNS)
_LITERAL = re.compile(_DECIMAL_LITERAL)
_Add = Callable[[np.ndarray, str, str], None]


def _na(value: Any) -> bool:
    """Missing to pandas (``isna`` of one cell of an object column)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    if type(value).__module__.startswith("pandas"):  # pd.NA, pd.NaT
        import pandas as pd

        return bool(pd.isna(value))
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Column:
    """One column as the service's table held it: its kind (``float``, ``int`` or
    ``object``) and the text of cells as a problem shows them."""

    def __init__(self, name: str, cells: list[Any]) -> None:
        self.name = name
        self.cells = cells
        self.kind = "object"
        if name != "subject_id" and all(c is None or _is_number(c) for c in cells):
            whole = name == "visit_week" and all(isinstance(c, int) for c in cells)
            self.kind = "int" if whole else "float"

    def texts(self, idx: Sequence[int]) -> list[str]:
        """The cells at ``idx`` as written (``""`` when missing), as ``ProblemSet`` formats
        them: for a column of objects, equal values among these cells (``1 == 1.0 ==
        True``, as ``pandas.factorize`` sees them) take the text of the first."""
        cells = [self.cells[i] for i in idx]
        if self.kind == "int":
            return [str(int(c)) for c in cells]
        if self.kind == "float":
            return ["" if c is None or math.isnan(c) else str(float(c)) for c in cells]
        missing = [_na(c) for c in cells]
        if all(m or isinstance(c, str) for c, m in zip(cells, missing, strict=True)):
            return ["" if m else str(c) for c, m in zip(cells, missing, strict=True)]
        try:
            first: dict[Any, Any] = {}
            for c, m in zip(cells, missing, strict=True):
                if not m:
                    first.setdefault(c, c)
            return ["" if m else str(first[c]) for c, m in zip(cells, missing, strict=True)]
        except TypeError:  # unhashable cells: one at a time
            return ["" if m else str(c) for c, m in zip(cells, missing, strict=True)]


def _general_number(value: Any) -> tuple[float, bool]:
    """The table validator's general parser on one cell: (value, bad)."""
    import pandas as pd

    from myotrial.tables.values import number_values_range

    vals, bad, _, _ = number_values_range(pd.Series([value], dtype=object))
    return float(vals[0]), bool(bad is not None and bad[0])


def _number(value: Any) -> tuple[float, bool]:
    """One cell parsed as the table validator parses a number column: (value or NaN, bad)."""
    if value is None:
        return math.nan, False
    if _is_number(value):
        try:
            out = float(value)
        except OverflowError:
            return math.nan, True
        return (math.nan, True) if math.isinf(out) else (out, False)
    if isinstance(value, bool):
        return math.nan, True
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return math.nan, False
        if _LITERAL.match(text):
            out = float(text)
            return (out, False) if math.isfinite(out) else (math.nan, True)
        if text in MISSING_TOKENS:
            return math.nan, False
    if _na(value):
        return math.nan, False
    return _general_number(value)


def _bad_dates(cells: list[Any]) -> list[bool]:
    """``visit_date`` cells that are not ISO dates (dates and missing cells pass at once)."""
    if all(c is None or (isinstance(c, dt.date) and not isinstance(c, dt.datetime))
           for c in cells):
        return [False] * len(cells)
    import pandas as pd

    from myotrial.tables.values import date_column

    return [bool(b) for b in date_column(pd.Series(cells, dtype=object)).bad]


class _Collector:
    """Problems as the table validator's ``ProblemCollector`` orders and writes them."""

    def __init__(self, columns: Mapping[str, _Column]) -> None:
        self.columns = columns
        self.table_items: list[Problem] = []
        self.parts: list[tuple[np.ndarray, str, str]] = []

    def add(self, mask: np.ndarray, column: str, rule: str) -> None:
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        if rows.size:
            self.parts.append((rows, column, rule))

    def add_table(self, column: str | None, value: Any, rule: str) -> None:
        text = None if value is None else str(value)
        self.table_items.append(Problem("visits", None, None, None, column, text, rule))

    def raise_if_any(self) -> None:
        if not (self.table_items or self.parts):
            return
        cols = self.columns

        def texts(name: str, idx: list[int]) -> list[str | None]:
            col = cols.get(name)
            return [None] * len(idx) if col is None else list(col.texts(idx))

        every = [i for rows, _, _ in self.parts for i in rows.tolist()]
        subjects, weeks = texts("subject_id", every), texts("visit_week", every)
        located = []
        at = 0
        for seq, (rows, column, rule) in enumerate(self.parts):
            idx = rows.tolist()
            for i, value in zip(idx, texts(column, idx), strict=True):
                located.append((i, column, seq, rule, value, subjects[at], weeks[at]))
                at += 1
        located.sort(key=lambda p: (p[0], p[1], p[2]))
        items = [*self.table_items, *(
            Problem("visits", i + 1, subject, week, column, value, rule)
            for i, column, _, rule, value, subject, week in located)]
        raise InputValidationError(items, "visits")


def _subject_codes(col: _Column, problems: _Collector) -> tuple[np.ndarray, list[Any]]:
    """Codes by first appearance of the stripped id (-1: missing) and the ids as the table
    validator returns them; the id rules (required; text without control characters, at most
    64 characters)."""
    n = len(col.cells)
    codes = np.full(n, -1, dtype=np.int64)
    ids: list[Any] = []
    known: dict[str, int] = {}
    bad_text: list[bool] = []
    for i, raw in enumerate(col.cells):
        if _na(raw):
            ids.append(None)
            continue
        text = (raw if isinstance(raw, str) else _as_text(raw)).strip()
        if text in _BLANK_OR_TOKEN:
            ids.append(None)
            continue
        code = known.get(text)
        if code is None:
            code = known[text] = len(known)
            bad_text.append(bool(_CONTROL.search(text)) or len(text) > MAX_SUBJECT_ID_LENGTH)
        codes[i] = code
        ids.append(text)
    missing = codes < 0
    problems.add(missing, "subject_id", f"subject_id is required {_WHERE}")
    if any(bad_text):
        flags = np.array(bad_text, dtype=bool)
        problems.add(flags[np.maximum(codes, 0)] & ~missing, "subject_id",
                     f"subject_id {TEXT_RULE} and at most {MAX_SUBJECT_ID_LENGTH} characters "
                     f"{_WHERE}")
    return codes, ids


def _as_text(value: Any) -> str:
    """A non-text id as pandas writes it (``astype("string")``)."""
    import pandas as pd

    return str(pd.Series([value], dtype=object).astype("string").iloc[0])


def missing_reason(code: int, enzyme: int, slot_columns: Sequence[str],
                    enzymes: Sequence[str], partial: bool) -> str | None:
    """``tis_missing_reason`` of one visit: ``code`` is the engine's missing bit code (-1 at
    baseline), ``enzyme`` the index of the TIS enzyme in ``enzymes`` (-1: none). The one
    composition of this text: :func:`myotrial.scoring.score_visits` uses it too."""
    if code < 0:
        return "baseline visit"
    enz_name = enzymes[enzyme] if enzyme >= 0 else None
    k = len(slot_columns)

    def names(bits: int) -> list[str]:
        out = []
        for i, c in enumerate(slot_columns):
            if bits >> i & 1:
                if c != "enzyme":
                    out.append(c)
                elif enz_name is None:
                    out.append("enzyme (no enzyme with a value and ULN at baseline)")
                else:
                    out.append(f"enzyme ({enz_name}, most abnormal at baseline)")
        return out

    at_base, at_visit = names(code & ((1 << k) - 1)), names(code >> k)
    if not at_base and not at_visit:
        return None
    parts = []
    if at_base:
        parts.append("missing at baseline: " + ", ".join(at_base))
    if at_visit:
        parts.append("missing at this visit: " + ", ".join(at_visit))
    text = "; ".join(parts)
    return f"partial TIS, {text}" if partial else text


def _opt(value: float) -> float | None:
    return None if math.isnan(value) else value


def score_subject_visits(
    rows: Sequence[Mapping[str, Any]],
    *,
    options: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Validate and score a few visits (one subject's) without pandas.

    Parameters
    ----------
    rows : the visits, one mapping per visit keyed by visits-table column (``subject_id``,
        ``visit_week``, measures, ``visit_date``); values as read from the database (numbers,
        ``None``) or as the user typed them (text, numbers, anything).
    options : keyword options of :func:`myotrial.scoring.score_visits` (``population``,
        ``measure_set``, ``partial``, ``mmt8_max``, ``chq_phs_range``, ``earliest_week``,
        ``consecutive_visits``, ``max_week``), e.g.
        :meth:`myotrial.policy.ProtocolPolicy.scoring_options`.

    Returns
    -------
    list of dict
        One dict per row, in order: the validated input columns (``subject_id`` stripped,
        ``visit_week`` int, measures float, ``mmt8_max`` filled in; a column other than the
        core measures that is empty in every row is left out, as ``score_visits`` on the
        service's table left it) and :data:`SCORED_FIELDS` (``tis_category``,
        ``enzyme_used``, ``worsening_clauses`` and ``tis_missing_reason`` as text,
        ``doi_met``/``worsening`` True/False, ``cd_confirmed`` bool). ``None`` = missing.

    Raises
    ------
    InputValidationError
        Every problem, as ``score_visits`` on the rows as a table reports them (1-based row
        numbers of ``rows``).
    """
    opts = dict(options or {})
    max_week = opts.pop("max_week", None)
    mmt8_opt = opts.get("mmt8_max")
    partial = bool(opts.get("partial", False))
    population = opts.get("population", "adult")
    measure_set = opts.get("measure_set", "imacs")
    unknown = set(opts) - {"population", "measure_set", "partial", "mmt8_max",
                           "chq_phs_range", "earliest_week", "consecutive_visits"}
    if unknown:
        raise TypeError(f"unknown scoring options: {sorted(unknown)}")
    tis_rules = load_tis_rules()
    config = ScoringConfig(**opts)
    ms = tis_rules.measure_set_for(population, measure_set)
    scales = load_scales()

    n = len(rows)
    names: list[str] = []
    for row in rows:
        for key in row:
            if key not in names:
                names.append(key)
    columns: dict[str, _Column] = {}
    for name in names:
        cells = [row.get(name) for row in rows]
        if name not in CORE_COLUMNS and all(_na(c) for c in cells):
            continue  # empty in every visit: not in the table
        columns[name.strip().lower()] = _Column(name, cells)
    problems = _Collector(columns)
    for c in ("subject_id", "visit_week"):
        if c not in columns:
            problems.add_table(c, None, f"required column is missing {_WHERE}")
    if mmt8_opt is not None and not (_is_number(mmt8_opt) and float(mmt8_opt) in MMT8_ALLOWED_MAX):
        problems.add_table("mmt8_max", mmt8_opt, mmt8_max_rule("the MMT-8 maximum option"))
    if max_week is not None and not (
            _is_number(max_week) and math.isfinite(float(max_week))
            and float(max_week) == math.floor(float(max_week))
            and 0 <= float(max_week) <= MAX_VISIT_WEEK):
        problems.add_table("visit_week", max_week, "the last week option (max_week) must be a "
                           f"whole number from 0 to {MAX_VISIT_WEEK}")
    problems.raise_if_any()
    last_week = MAX_VISIT_WEEK if max_week is None else int(max_week)

    codes, ids = _subject_codes(columns["subject_id"], problems)
    numeric: dict[str, np.ndarray] = {}
    bad_cells: dict[str, np.ndarray | None] = {}
    for name in _NUMERIC_COLUMNS:
        col = columns.get(name)
        if col is None:
            continue
        parsed = [_number(c) for c in col.cells]
        values = np.array([p[0] for p in parsed], dtype=np.float64)
        bad = np.array([p[1] for p in parsed], dtype=bool)
        problems.add(bad, name, f"{name} {NUMBER_RULE} {_WHERE}")
        numeric[name] = values
        bad_cells[name] = bad if bad.any() else None

    week = numeric["visit_week"]
    week_bad = bad_cells["visit_week"]
    has_week = ~np.isnan(week)
    problems.add(~has_week if week_bad is None else ~has_week & ~week_bad, "visit_week",
                 f"visit_week is required {_WHERE}")
    with np.errstate(invalid="ignore"):
        wrong = has_week & ((week < 0) | (week > last_week) | (week != np.floor(week)))
    bound = (f"{last_week}" if max_week is None else f"{last_week} (the protocol's last week; "
             f"data-format.md allows 0 to {MAX_VISIT_WEEK})")
    problems.add(wrong, "visit_week",
                 f"visit_week must be a whole number from 0 (baseline) to {bound} {_WHERE}")
    ok_week = has_week & ~wrong

    default_max = float(mmt8_opt) if mmt8_opt is not None else DEFAULT_MMT8_MAX
    if "mmt8_max" in numeric:
        mx = numeric["mmt8_max"]
        numeric["mmt8_max"] = np.where(np.isnan(mx), default_max, mx)
    elif "mmt8" in numeric:
        numeric["mmt8_max"] = np.full(n, default_max)
    check_measure_ranges(numeric, problems.add, bad_cells)

    if "visit_date" in columns:
        problems.add(np.array(_bad_dates(columns["visit_date"].cells), dtype=bool),
                     "visit_date", f"visit_date {DATE_RULE} {_WHERE}")

    usable = ok_week & (codes >= 0)
    week_int = np.where(usable, week, 0).astype(np.int64)
    seen: dict[tuple[int, int], list[int]] = {}
    for i in np.flatnonzero(usable).tolist():
        seen.setdefault((int(codes[i]), int(week_int[i])), []).append(i)
    dup = np.zeros(n, dtype=bool)
    for group in seen.values():
        if len(group) > 1:
            dup[group] = True
    problems.add(dup, "visit_week",
                 f"duplicate subject_id + visit_week (each visit must appear once) {_WHERE}")
    has_base = {int(codes[i]) for i in np.flatnonzero(usable & (week == 0)).tolist()}
    lacking: dict[int, int] = {}
    for i in np.flatnonzero(usable).tolist():
        if int(codes[i]) not in has_base:
            lacking.setdefault(int(codes[i]), i)
    first = np.zeros(n, dtype=bool)
    first[list(lacking.values())] = True
    problems.add(first, "visit_week", f"subject has no baseline visit (visit_week 0) {_WHERE}")
    problems.raise_if_any()

    present = set(columns) | {"mmt8_max"} if "mmt8_max" in numeric else set(columns)
    needed = [c for c in ms.slots.values() if c != "enzyme"]
    missing_cols = [c for c in needed if c not in present]
    if "enzyme" in ms.slots.values() and not any(e in present for e in scales.enzymes):
        missing_cols.append("an enzyme column (" + ", ".join(scales.enzymes) + ")")
    if missing_cols and not partial:
        raise InputValidationError(
            [Problem("visits", None, None, None, c,  None,
                     f"column required by the {ms.label} measure set is missing "
                     "(use partial scoring to score without it)") for c in missing_cols],
            "visits")

    scored_inputs = {c: a for c, a in numeric.items()
                     if c in scales.measures or c == "mmt8_max" or c in scales.enzymes
                     or c in ULN_COLUMNS}
    res = score_arrays(codes, week, scored_inputs, config)
    return _rows_out(columns, numeric, ids, week_int, res, ms.slots, scales.enzymes, partial)


def _rows_out(columns: Mapping[str, _Column], numeric: Mapping[str, np.ndarray],
              ids: list[Any], weeks: np.ndarray, res: Mapping[str, np.ndarray],
              slots: Mapping[str, str], enzymes: Sequence[str], partial: bool
              ) -> list[dict[str, Any]]:
    """The rows of ``score_visits``' output, missing values as ``None``."""
    n = len(ids)
    order = list(columns)
    if "mmt8_max" in numeric and "mmt8_max" not in columns:
        order.append("mmt8_max")
    values: dict[str, list[Any]] = {}
    for name in order:
        if name == "subject_id":
            values[name] = ids
        elif name == "visit_week":
            values[name] = weeks.tolist()
        elif name in numeric:
            values[name] = [_opt(x) for x in numeric[name].tolist()]
        else:
            values[name] = columns[name].cells
    slot_cols = [slots[s] for s in SLOTS]
    has_enzyme = "enzyme" in slots.values()
    tis = res["tis"].tolist()
    cat = res["tis_category_code"].tolist()
    miss = res["tis_missing_code"].tolist()
    enz = res["enzyme_code"].tolist()
    shown = (np.asarray(res["tis_partial"]) | np.isnan(res["tis"])).tolist() if partial else None
    doi, worse = res["doi_met"].tolist(), res["worsening"].tolist()
    clause, cd = res["clause_code"].tolist(), res["cd_confirmed"].tolist()
    points = {s: res[f"points_{s}"].tolist() for s in SLOTS}
    out = []
    for i in range(n):
        row = {name: values[name][i] for name in order}
        row["tis"] = _opt(tis[i])
        row["tis_category"] = CATEGORY_LABELS[cat[i]] if cat[i] >= 0 else None
        row["tis_missing_reason"] = (None if shown is not None and not shown[i] else
                                     missing_reason(miss[i], enz[i], slot_cols, enzymes,
                                                     partial))
        for s in SLOTS:
            row[f"points_{s}"] = _opt(points[s][i])
        row["enzyme_used"] = enzymes[enz[i]] if has_enzyme and enz[i] >= 0 else None
        row["doi_met"] = None if doi[i] < 0 else doi[i] == 1
        row["worsening"] = None if worse[i] < 0 else worse[i] == 1
        row["worsening_clauses"] = CLAUSE_LABELS[clause[i]] if clause[i] else None
        row["cd_confirmed"] = bool(cd[i])
        out.append(row)
    return out
