"""The canonical ``visits`` table: column contract and boundary validation.

Contract: ``docs/data-format.md`` (visits). Ranges come from ``myotrial/rules/measures.toml``.
Every problem is collected and raised at once as an :class:`~myotrial.errors.InputValidationError`
(row, subject, visit, column, value, rule); values are never clipped and rows never dropped.
Extra columns are kept unchanged.

Speed (``benchmarks/bench_validation.py``): subject ids are factorised once (each distinct id is
stripped and checked once, no per-row string work; ids grouped in runs are hashed once per run,
not at all when the runs are in increasing order) and the codes serve the duplicate and
baseline checks and the scoring engine (:func:`prepare_visits`); for large tables the ids are
parsed on a second thread beside the numeric columns, which that thread then shares; each
numeric column is checked with one NaN-ignoring min and max, and a per-row mask is computed only
for a column that fails; columns that need no conversion are passed through without a copy.
For large tables scored by ``score_visits`` (numba loaded), compiled passes
(:mod:`myotrial.tables._visits_kernel`) replace several numpy or Arrow passes each: a column's
range and NaN check, sorted ASCII ids read from the Arrow buffers, float weeks checked and
converted, grouped weeks and baselines; other inputs take the general path (same results).
"""

from __future__ import annotations

import math
import os
import sys
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from numbers import Real
from types import ModuleType
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from myotrial.tables.problems import ProblemCollector, prepare_table
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
    DATE_RULE,
    NUMBER_RULE,
    TEXT_RULE,
    Numbers,
    _finite,
    date_column,
    number_values_range,
)

__all__ = [
    "ENZYME_COLUMNS",
    "MAX_VISIT_WEEK",
    "MMT8_ALLOWED_MAX",
    "NUMERIC_VISIT_COLUMNS",
    "ULN_COLUMNS",
    "PreparedVisits",
    "VisitsIndex",
    "check_measure_ranges",
    "prepare_visits",
    "validate_visits",
]

T = TypeVar("T")

NUMERIC_VISIT_COLUMNS: tuple[str, ...] = (
    "visit_week",
    *_SCALES.measures,
    "mmt8_max",
    *ENZYME_COLUMNS,
    *ULN_COLUMNS,
)


@dataclass(frozen=True)
class VisitsIndex:
    """The row structure of a validated visits table, computed once by validation.

    Attributes
    ----------
    codes : int64 array, the subject of each row as ``0..n_subjects-1`` in order of first
        appearance (what ``pandas.factorize(subject_id)`` gives; the engine's
        ``subject_codes``).
    n_subjects : number of distinct subjects.
    weeks : float64 array, ``visit_week`` of each row (the engine's ``weeks``).
    grouped : rows are grouped by subject with weeks increasing (the engine's fast order).
    order : stable order of the rows by subject then week (``None`` when ``grouped``: the
        identity).
    baseline_row : int64 array, the row of each subject's week-0 visit (-1: none, possible only
        with ``require_baseline=False``).
    """

    codes: np.ndarray
    n_subjects: int
    weeks: np.ndarray
    grouped: bool
    order: np.ndarray | None
    baseline_row: np.ndarray


@dataclass(frozen=True)
class PreparedVisits:
    """A validated visits table and its :class:`VisitsIndex` (see :func:`prepare_visits`)."""

    table: pd.DataFrame
    index: VisitsIndex


def _whole_in(value: object, lo: float, hi: float) -> bool:
    return (
        isinstance(value, Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
        and float(value) == math.floor(float(value))
        and lo <= float(value) <= hi
    )


def _subject_index(
    series: pd.Series, compiled: bool, weeks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, pd.Series | None, np.ndarray | None]:
    """:func:`_subject_codes`, and with ``compiled`` for sorted ASCII ids and ``weeks`` (the raw
    ``visit_week`` values, or none) each subject's week-0 row (-1 none) when the weeks increase
    within every subject (``None`` otherwise, or when unknown): what
    :func:`~myotrial.tables._visits_kernel.grouped_baselines` gives, found in the same pass."""
    if compiled and isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow":
        fast = _sorted_text_codes(series, weeks)
        if fast is not None:
            return fast[0], fast[1], None, fast[2]
    return (*_subject_codes(series), None)


def _subject_codes(
    series: pd.Series, compiled: bool = False
) -> tuple[np.ndarray, np.ndarray, pd.Series | None]:
    """Factorise ``subject_id`` once: per-row codes (-1 = missing; 0.. in order of first
    appearance), a flag per code for ids breaking the text rules (control characters, longer
    than 64), and the output column (``None``: the input column is already the stripped text
    and is passed through unchanged).

    Each distinct id is stripped and checked once (Arrow string kernels, the same stripping as
    ``Series.str.strip``); rows grouped by subject are factorised by comparing neighbours.
    ``compiled``: Arrow text ids sorted in runs of plain ASCII text are read once by
    :func:`~myotrial.tables._visits_kernel.text_runs` (same result).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if compiled and isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow":
        fast = _sorted_text_codes(series, np.empty(0))
        if fast is not None:
            return fast[0], fast[1], None

    text_kind = isinstance(series.dtype, pd.StringDtype) or (
        series.dtype == object
        and pd.api.types.infer_dtype(series.to_numpy(), skipna=True) in ("string", "empty")
    )
    # anything else (numbers, mixed objects) is converted to text first, as the table says
    txt = series if text_kind else series.astype("string")
    n = len(txt)
    codes: np.ndarray
    if txt.dtype == object:
        values = txt.to_numpy()
        neq = _neighbours_differ(values) if n else None
        if neq is not None:  # the first id of each run, as Arrow text (None and NaN: null)
            heads = np.flatnonzero(np.concatenate(([True], neq)))
            first = pa.array(values[heads], type=pa.large_string(), from_pandas=True)
            head_codes, dictionary = _run_codes(first)
            codes = np.repeat(head_codes, np.diff(np.append(heads, n)))
        else:  # pandas NA among the ids (compares as NA): hash every row
            c, uniq = pd.factorize(values, use_na_sentinel=True)
            codes = np.asarray(c, dtype=np.int64)
            dictionary = pa.array(np.asarray(uniq, dtype=object), type=pa.large_string())
    elif isinstance(txt.dtype, pd.StringDtype) and txt.dtype.storage == "pyarrow":
        arr = pa.array(txt.array)
        if isinstance(arr, pa.ChunkedArray):  # e.g. after pandas.concat: one chunk to encode
            arr = arr.combine_chunks()
        codes, dictionary = _arrow_codes(arr)
    else:
        c, uniq = pd.factorize(txt.to_numpy(dtype=object), use_na_sentinel=True)
        codes = np.asarray(c, dtype=np.int64)
        dictionary = pa.array(np.asarray(uniq, dtype=object), type=pa.large_string())
    stripped = pc.utf8_trim_whitespace(dictionary)
    blank = _np_bool(pc.is_in(stripped, value_set=pa.array(list(_BLANK_OR_TOKEN))))
    too_long = np.asarray(pc.utf8_length(stripped).to_numpy(zero_copy_only=False))
    bad_text = too_long > MAX_SUBJECT_ID_LENGTH
    if _any_control_byte(dictionary):  # else no id can hold a control character
        bad_text |= _np_bool(pc.match_substring_regex(stripped, _CONTROL.pattern))
    changed = not text_kind or bool(blank.any())
    if not changed and len(dictionary):
        changed = not pc.all(pc.equal(stripped, dictionary)).as_py()
    if not changed:
        return codes, bad_text, None
    # ids equal once stripped are one subject; the order of first appearance is kept
    text = np.asarray(stripped.to_numpy(zero_copy_only=False), dtype=object)
    text[blank] = None
    merged, merged_uniq = pd.factorize(text, use_na_sentinel=True)
    merged = np.asarray(merged, dtype=np.int64)
    bad_merged = np.zeros(len(merged_uniq), dtype=bool)
    bad_merged[merged[merged >= 0]] = bad_text[merged >= 0]
    codes = np.append(merged, -1)[codes]  # code -1 (missing) -> the appended -1
    values_out = np.asarray([*np.asarray(merged_uniq, dtype=object).tolist(), None], object)[codes]
    dtype = series.dtype if isinstance(series.dtype, pd.StringDtype) else object
    return codes, bad_merged, pd.Series(values_out, index=series.index, dtype=dtype)


def _sorted_text_codes(
    series: pd.Series, weeks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Codes and too-long flags of Arrow text ids (no nulls) in sorted runs of plain ASCII
    text, which stripping leaves unchanged (Arrow's neighbour comparison, then
    :func:`~myotrial.tables._visits_kernel.text_runs`, one pass over the Arrow buffers), and
    with ``weeks`` (n values, else empty) each subject's week-0 row if the weeks increase
    within every subject; ``None`` when the general path must decide."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from myotrial.tables import _visits_kernel as kernel

    arr = pa.array(series.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    large = pa.types.is_large_string(arr.type)
    if arr.null_count or not (large or pa.types.is_string(arr.type)):
        return None
    n = len(arr)
    _, off_buf, data_buf = arr.buffers()
    if n == 0 or data_buf is None:
        return None
    width = 8 if large else 4
    offsets = np.frombuffer(off_buf, dtype=f"i{width}", count=n + 1, offset=arr.offset * width)
    differ = pc.not_equal(arr.slice(1), arr.slice(0, n - 1))  # SIMD; no nulls
    bits = differ.buffers()[1]
    codes = np.empty(n, dtype=np.int64)
    too_long = np.empty(n, dtype=bool)
    baseline = np.empty(n if weeks.size == n else 0, dtype=np.int64)  # pages touched: runs
    runs, in_order = kernel.text_runs(
        np.frombuffer(bits, dtype=np.uint8) if bits is not None else np.zeros(1, np.uint8),
        differ.offset,
        offsets,
        np.frombuffer(data_buf, dtype=np.uint8),
        MAX_SUBJECT_ID_LENGTH,
        _TOKEN_BYTES,
        _TOKEN_OFFSETS,
        weeks,
        codes,
        too_long,
        baseline,
    )
    if runs < 0:
        return None
    return codes, too_long[:runs].copy(), baseline[:runs].copy() if in_order else None


#: The missing tokens (blank or ``NA``/``.``) as bytes and offsets, for ``text_runs``.
_TOKEN_BYTES = np.frombuffer("".join(_BLANK_OR_TOKEN).encode(), dtype=np.uint8)
_TOKEN_OFFSETS = np.cumsum([0, *(len(t.encode()) for t in _BLANK_OR_TOKEN)]).astype(np.int64)

#: From this many rows, :func:`prepare_visits` factorises subject ids on a second thread.
_PARALLEL_ROWS = 65_536
_POOL: dict[int, ThreadPoolExecutor] = {}  # by process id: a forked child makes its own


def _in_background(fn: Callable[..., T], *args: object) -> Future[T] | None:
    """``fn(*args)`` on a worker thread when this process may use more than one core."""
    pid = os.getpid()
    if pid not in _POOL:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cores = os.cpu_count() or 1
        if cores < 2:
            return None
        _POOL.clear()  # a pool inherited through fork has no threads in this process
        _POOL[pid] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="myotrial-ids")
    return _POOL[pid].submit(fn, *args)


def _arrow_codes(arr: object) -> tuple[np.ndarray, object]:
    """Codes (-1 = missing; 0.. in order of first appearance) and distinct values of an Arrow
    text array, as ``pyarrow.compute.dictionary_encode`` gives them. Rows grouped by subject:
    only the first row of each run of equal neighbours is hashed, and nothing when the runs are
    in increasing id order (each run is then a new id)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    assert isinstance(arr, pa.Array)
    n = len(arr)
    heads: np.ndarray | None = None
    if n > 1:
        neq = pc.fill_null(pc.not_equal(arr.slice(1), arr.slice(0, n - 1)), True)
        starts = np.flatnonzero(np.concatenate(([True], _np_bool(neq))))
        if starts.size <= n // 2:  # runs of equal ids: hash one row per run
            heads = starts
    if heads is None:
        enc = pc.dictionary_encode(arr)
        codes = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), np.int64)
        return codes, enc.dictionary
    run_codes, dictionary = _run_codes(arr.take(pa.array(heads)))
    return np.repeat(run_codes, np.diff(np.append(heads, n))), dictionary


def _run_codes(first: Any) -> tuple[np.ndarray, Any]:
    """Codes (-1 = missing; 0.. in order of first appearance) and distinct values of the first
    ids of runs (an Arrow text array), as ``pyarrow.compute.dictionary_encode`` gives them:
    nothing is hashed when they are in increasing order (each run is then a new id)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    assert isinstance(first, pa.Array)
    m = len(first)
    if first.null_count == 0 and (
        m <= 1 or pc.all(pc.less(first.slice(0, m - 1), first.slice(1))).as_py()
    ):  # runs in increasing id order: every run is a new subject, nothing to hash
        return np.arange(m, dtype=np.int64), first
    enc = pc.dictionary_encode(first)
    run_codes = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), np.int64)
    return run_codes, enc.dictionary


def _any_control_byte(arr: object) -> bool:
    """Whether an Arrow text array may hold a control character (U+0000-U+001F, U+007F): in
    UTF-8 those code points are exactly the bytes 0x00-0x1F and 0x7F (every byte of a longer
    sequence is >= 0x80), so one pass over the bytes decides. True when unsure."""
    import pyarrow as pa

    assert isinstance(arr, pa.Array)
    large = pa.types.is_large_string(arr.type)
    if not (large or pa.types.is_string(arr.type)) or len(arr) == 0:
        return len(arr) > 0
    _, off_buf, data = arr.buffers()
    if data is None:
        return False
    width = np.int64 if large else np.int32
    offsets = np.frombuffer(
        off_buf, dtype=width, count=len(arr) + 1, offset=arr.offset * (8 if large else 4)
    )
    raw = np.frombuffer(data, dtype=np.uint8)[int(offsets[0]) : int(offsets[-1])]
    return bool(((raw < 0x20) | (raw == 0x7F)).any())


def _neighbours_differ(values: np.ndarray) -> np.ndarray | None:
    """``values[1:] != values[:-1]`` as booleans, or ``None`` when a comparison is not a plain
    boolean (pandas NA)."""
    try:
        with np.errstate(all="ignore"):
            neq = values[1:] != values[:-1]
    except (TypeError, ValueError):
        return None
    if not isinstance(neq, np.ndarray) or neq.dtype != bool:
        return None
    return neq


def _np_bool(arr: object) -> np.ndarray:
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)  # type: ignore[attr-defined]


def _duplicates_and_order(
    codes: np.ndarray, week_int: np.ndarray, usable: np.ndarray | None, span: int
) -> tuple[np.ndarray | None, bool, np.ndarray | None]:
    """Rows that repeat a (subject, week) pair among usable rows, whether the rows are grouped
    by subject with increasing weeks, and the stable order by (subject, week)."""
    n = codes.size
    if usable is None:
        rows = None
        key = codes * span + week_int
    else:
        rows = np.flatnonzero(usable)
        key = codes[rows] * span + week_int[rows]
    if key.size <= 1 or bool(np.all(key[1:] > key[:-1])):
        return None, rows is None, None
    if rows is None:
        rows = np.arange(n)
    order = np.argsort(key, kind="stable")
    ks = key[order]
    same = ks[1:] == ks[:-1]
    dup_mask: np.ndarray | None = None
    if same.any():
        dup_mask = np.zeros(n, dtype=bool)
        dup_mask[rows[order[1:][same]]] = True
        dup_mask[rows[order[:-1][same]]] = True
    full_order = rows[order] if usable is None or rows.size == n else None
    return dup_mask, False, full_order


def prepare_visits(
    visits: pd.DataFrame,
    *,
    mmt8_max: float | None = None,
    require_baseline: bool = True,
    required_measures: Sequence[str] = (),
    max_week: int | None = None,
) -> PreparedVisits:
    """Validate a visits table (see :func:`validate_visits`) and also return its row structure
    (:class:`VisitsIndex`: subject codes, weeks, order, baseline rows) for the scoring engine,
    so nothing is factorised or sorted twice.

    Raises
    ------
    InputValidationError
        With every problem found, located by row, subject, visit and column.
    """
    return prepare_visits_checked(
        visits,
        mmt8_max=mmt8_max,
        require_baseline=require_baseline,
        required_measures=required_measures,
        max_week=max_week,
    )


def prepare_visits_checked(
    visits: pd.DataFrame,
    *,
    mmt8_max: float | None = None,
    require_baseline: bool = True,
    required_measures: Sequence[str] = (),
    max_week: int | None = None,
    compiled: bool | None = None,
) -> PreparedVisits:
    """:func:`prepare_visits` with a choice of checks: ``compiled`` runs the compiled checks of
    :mod:`myotrial.tables._visits_kernel` (one pass each instead of several numpy or Arrow
    passes; same results, same problems); default: for tables of at least ``_PARALLEL_ROWS``
    rows once numba is loaded (``score_visits`` asks for them: it loads numba anyway)."""
    raw = prepare_table(visits, "visits")
    col = ProblemCollector("visits", raw)
    for c in ("subject_id", "visit_week", *required_measures):
        if c not in raw:
            col.add_table(c, f"required column is missing {_WHERE}")
    if mmt8_max is not None and not (
        isinstance(mmt8_max, Real)
        and not isinstance(mmt8_max, bool)
        and float(mmt8_max) in MMT8_ALLOWED_MAX
    ):
        col.add_value("mmt8_max", mmt8_max, f"{mmt8_max_rule('the MMT-8 maximum option')}")
    if max_week is not None and not _whole_in(max_week, 0, MAX_VISIT_WEEK):
        col.add_value(
            "visit_week",
            max_week,
            f"the last week option (max_week) must be a whole number from 0 to {MAX_VISIT_WEEK}",
        )
    if col:
        col.raise_if_any()
    last_week = MAX_VISIT_WEEK if max_week is None else int(max_week)
    n = len(raw)
    if compiled is None:
        compiled = n >= _PARALLEL_ROWS and "numba" in sys.modules
    kernel = _kernel() if compiled else None

    # subject ids (Arrow kernels) on a second core while this one parses the numeric columns
    # (both release the GIL; the second core then takes columns from the end of the list);
    # problems are added afterwards, in the same order as serially
    cols = dict(raw.items())  # each column looked up once
    ids = cols["subject_id"]
    names = [name for name in NUMERIC_VISIT_COLUMNS if name in raw]
    todo = deque(enumerate(names))
    numbers: list[tuple[Numbers, bool] | None] = [None] * len(names)

    def parse(pop: Callable[[], tuple[int, str]]) -> None:
        while True:
            try:
                k, name = pop()  # deque pops are atomic: each column is parsed once
            except IndexError:
                return
            numbers[k] = _number_values(cols[name], kernel)

    # the raw weeks, for the grouped-order check in the ids' pass (int64 or float64 only)
    raw_weeks = cols["visit_week"].to_numpy() if compiled else np.empty(0)
    if raw_weeks.dtype not in (np.int64, np.float64):
        raw_weeks = np.empty(0)

    def ids_then_columns() -> tuple[np.ndarray, np.ndarray, pd.Series | None, np.ndarray | None]:
        result = _subject_index(ids, compiled, raw_weeks)
        parse(todo.pop)
        return result

    pending = _in_background(ids_then_columns) if n >= _PARALLEL_ROWS else None
    parse(todo.popleft)
    codes, bad_id, subject_out, run_baselines = (
        pending.result() if pending is not None else _subject_index(ids, compiled, raw_weeks)
    )
    parsed = [(name, numbers[k]) for k, name in enumerate(names)]
    if run_baselines is not None:  # sorted plain ids, none missing: no pass over the codes
        no_subject, any_no_subject = np.zeros(n, dtype=bool), False
    else:
        no_subject = codes < 0
        any_no_subject = bool(no_subject.any())
    if any_no_subject:
        col.add(no_subject, "subject_id", f"subject_id is required {_WHERE}")
    n_subjects = len(bad_id)
    if bad_id.any():  # text rules, checked once per distinct id
        col.add(
            bad_id[np.maximum(codes, 0)] & ~no_subject,
            "subject_id",
            f"subject_id {TEXT_RULE} and at most {MAX_SUBJECT_ID_LENGTH} characters {_WHERE}",
        )

    numeric: dict[str, np.ndarray] = {}
    bad_cells: dict[str, np.ndarray | None] = {}
    ranges: dict[str, tuple[float, float]] = {}
    replace: dict[str, np.ndarray] = {}
    complete: set[str] = set()  # columns known to have no NaN
    for name, number in parsed:
        assert number is not None  # every column parsed
        (values, bad, lo, hi), no_nan = number
        if no_nan:
            complete.add(name)
        if bad is not None:
            col.add(bad, name, f"{name} {NUMBER_RULE} {_WHERE}")
        numeric[name] = values
        bad_cells[name] = bad
        ranges[name] = (lo, hi)
        if cols[name].dtype != np.float64 or bad is not None:
            replace[name] = values

    week = numeric["visit_week"]
    w_lo, w_hi = ranges["visit_week"]
    week_is_int = cols["visit_week"].dtype.kind in "iu"
    in_range = n > 0 and w_lo >= 0 and w_hi <= last_week
    week_int: np.ndarray | None = None
    if in_range and not week_is_int and kernel is not None:  # one pass: check and convert
        week_int = np.empty(n, dtype=np.int64)
        if not kernel.whole_numbers(week, week_int):
            week_int = None
        week_ok_fast = week_int is not None
    else:
        week_ok_fast = (
            in_range
            and (week_is_int or not np.isnan(week).any())
            and (week_is_int or bool(np.all(np.floor(week) == week)))
        )
    if week_ok_fast or n == 0:
        ok_week = None  # every row has a usable week
    else:
        week_bad = bad_cells["visit_week"]
        missing = np.isnan(week) if week_bad is None else np.isnan(week) & ~week_bad
        col.add(missing, "visit_week", f"visit_week is required {_WHERE}")
        has_week = ~np.isnan(week)
        with np.errstate(invalid="ignore"):
            bad_week = has_week & ((week < 0) | (week > last_week) | (week != np.floor(week)))
        ok_week = has_week & ~bad_week
        bound = (
            f"{last_week}"
            if max_week is None
            else f"{last_week} (the protocol's last week; data-format.md allows 0 to "
            f"{MAX_VISIT_WEEK})"
        )
        col.add(
            bad_week,
            "visit_week",
            f"visit_week must be a whole number from 0 (baseline) to {bound} {_WHERE}",
        )

    # mmt8_max: per row, else argument, else the rules default.
    default_max = float(mmt8_max) if mmt8_max is not None else DEFAULT_MMT8_MAX
    if "mmt8_max" in numeric:
        mx = numeric["mmt8_max"]
        if "mmt8_max" not in complete and np.isnan(mx).any():
            filled = np.where(np.isnan(mx), default_max, mx)
            numeric["mmt8_max"] = replace["mmt8_max"] = filled
            del ranges["mmt8_max"]
    elif "mmt8" in numeric:
        numeric["mmt8_max"] = replace["mmt8_max"] = np.full(n, default_max)

    check_measure_ranges(numeric, col.add, bad_cells, ranges, complete)

    if "visit_date" in raw:
        dates = date_column(cols["visit_date"])
        col.add(dates.bad, "visit_date", f"visit_date {DATE_RULE} {_WHERE}")

    # Duplicates and missing baselines (only where subject and week are usable).
    usable: np.ndarray | None
    baseline_row = np.full(n_subjects, -1, dtype=np.int64)
    if ok_week is None and not any_no_subject:
        usable = None
        if run_baselines is not None:  # found with the ids: grouped, weeks increasing
            baseline_row = run_baselines
            dup, grouped, order = None, True, None
        elif kernel is not None and kernel.grouped_baselines(codes, week, baseline_row):
            dup, grouped, order = None, True, None  # one pass: no duplicate, baselines found
        else:
            if week_int is None:
                week_int = _whole_weeks(cols["visit_week"], week, week_is_int)
            dup, grouped, order = _duplicates_and_order(codes, week_int, None, last_week + 1)
            baseline_row[:] = -1
            base_rows = np.flatnonzero(week == 0)
            baseline_row[codes[base_rows]] = base_rows
    else:
        usable = ~no_subject if ok_week is None else ok_week & ~no_subject
        dup, grouped, order = _duplicates_and_order(
            codes, np.where(usable, week, 0).astype(np.int64), usable, last_week + 1
        )
        base_rows = np.flatnonzero(usable & (week == 0))
        baseline_row[codes[base_rows]] = base_rows
    if dup is not None:
        col.add(
            dup,
            "visit_week",
            f"duplicate subject_id + visit_week (each visit must appear once) {_WHERE}",
        )
    if require_baseline and n_subjects and bool((baseline_row < 0).any()):
        lacking = (baseline_row < 0)[np.maximum(codes, 0)] & (codes >= 0)
        if usable is not None:
            lacking &= usable
        rows = np.flatnonzero(lacking)
        _, first = np.unique(codes[rows], return_index=True)
        col.add_rows(
            np.sort(rows[first]),
            "visit_week",
            f"subject has no baseline visit (visit_week 0) {_WHERE}",
        )

    col.raise_if_any()

    # The typed table: converted columns replaced, every other column passed through as is.
    if cols["visit_week"].dtype != np.int64:
        if week_int is None:
            week_int = _whole_weeks(cols["visit_week"], week, week_is_int)
        replace["visit_week"] = week_int
    else:
        replace.pop("visit_week", None)
    data: dict[str, object] = {}
    for c in raw.columns:
        if c == "subject_id" and subject_out is not None:
            data[c] = subject_out
        elif c in replace:
            data[c] = pd.Series(replace[c], index=raw.index, copy=False)
        else:
            data[c] = cols[c]
    if "mmt8_max" not in raw and "mmt8_max" in replace:
        data["mmt8_max"] = pd.Series(replace["mmt8_max"], index=raw.index, copy=False)
    table = pd.DataFrame(data, index=raw.index, copy=False)
    index = VisitsIndex(
        codes=codes,
        n_subjects=n_subjects,
        weeks=week,
        grouped=grouped,
        order=order,
        baseline_row=baseline_row,
    )
    return PreparedVisits(table, index)


def _kernel() -> ModuleType:
    from myotrial.tables import _visits_kernel

    return _visits_kernel


def _number_values(series: pd.Series, kernel: ModuleType | None) -> tuple[Numbers, bool]:
    """:func:`~myotrial.tables.values.number_values_range` (same result) and whether the
    values are known to have no NaN (no missing or bad cell; ``False``: unknown): a numpy
    number column (no missing value but NaN) is read without a missing-value pass, and with
    the compiled ``kernel`` its range and NaN check are one pass."""
    dtype = series.dtype
    if not (isinstance(dtype, np.dtype) and dtype.kind in "fiu"):
        return number_values_range(series), False
    if kernel is not None and dtype == np.int64:  # converted and ranged in one pass
        out = np.empty(len(series), dtype=np.float64)
        lo, hi = kernel.float_range(series.to_numpy(), out)
        return (out, None, lo, hi), True
    arr = series.to_numpy(dtype=np.float64)
    if kernel is None:
        return _finite(arr), False
    lo, hi, has_nan = kernel.nan_range(arr)
    if math.isinf(lo) or math.isinf(hi):
        return _finite(arr), False  # infinities are bad cells
    return (arr, None, lo, hi), not has_nan


def _whole_weeks(column: pd.Series, week: np.ndarray, is_int: bool) -> np.ndarray:
    """``visit_week`` as int64 (every week usable: whole and in range)."""
    return column.to_numpy(dtype=np.int64) if is_int else week.astype(np.int64)


def validate_visits(
    visits: pd.DataFrame,
    *,
    mmt8_max: float | None = None,
    require_baseline: bool = True,
    required_measures: Sequence[str] = (),
    max_week: int | None = None,
) -> pd.DataFrame:
    """Validate a visits table and return a typed copy (the input is never modified).

    Checks (data-format.md, visits): required ``subject_id`` (text without control characters,
    at most 64 characters) and integer ``visit_week`` from 0 to ``max_week`` (the protocol's last
    week when the caller knows it, else 1000); numeric measure columns parse as finite numbers
    and lie in their scale ranges (``measures.toml``); ``mmt8_max`` is 80 or 150 (per-row
    column, else the ``mmt8_max`` argument, else 150) and MMT-8 within ``0..mmt8_max``; enzymes
    >= 0 with a finite ULN > 0 given for every enzyme value; no duplicate ``subject_id`` +
    ``visit_week``; every subject has a baseline (week 0) row.

    Returns
    -------
    pandas.DataFrame
        Same rows and order, numeric columns as float64 (``visit_week`` int64), ``subject_id``
        as text (stripped), ``mmt8_max`` filled with the default where blank; other columns
        untouched (and not copied).

    Raises
    ------
    InputValidationError
        With every problem found, located by row, subject, visit and column.
    """
    return prepare_visits(
        visits,
        mmt8_max=mmt8_max,
        require_baseline=require_baseline,
        required_measures=required_measures,
        max_week=max_week,
    ).table
