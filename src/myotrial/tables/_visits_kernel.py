"""Compiled checks of large visits tables (numba), imported only when they are used.

:func:`myotrial.tables.visits.prepare_visits` runs them for tables of at least ``_PARALLEL_ROWS``
rows when the caller scores the table (``score_visits`` loads numba anyway) or numba is already
loaded; each one replaces several numpy or Arrow passes by one pass and gives exactly what those
passes give, or reports that the general path must decide (``tests/test_visits_fast_paths.py``
checks both paths agree on random tables):

* :func:`nan_range`: a column's NaN-ignoring min and max, and whether it has a NaN, in one
  pass (four accumulators);
* :func:`text_runs`: subject ids (an Arrow text array without nulls) grouped in runs of equal
  neighbours, the runs in increasing byte order, each id plain ASCII text: codes, the length
  rule and the missing tokens, read once from the Arrow buffers, and with the raw weeks the
  grouped order and the baselines in the same pass;
* :func:`float_range`: an integer column converted to float64 and its range in one pass;
* :func:`whole_numbers`: a float week column whole and never missing, converted to int64 in
  the same pass;
* :func:`grouped_baselines`: rows grouped by subject with weeks increasing (so no duplicate
  subject + week), and each subject's baseline row, in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba as nb
import numpy as np

__all__ = ["float_range", "grouped_baselines", "nan_range", "text_runs", "whole_numbers"]

F = TypeVar("F", bound=Callable[..., Any])


def _jit(fn: F) -> F:
    """``fn`` compiled (cached on disk, releasing the GIL), with its Python signature."""
    return cast(F, nb.njit(cache=True, nogil=True)(fn))


@_jit
def nan_range(a: Any) -> tuple[float, float, bool]:
    """NaN-ignoring ``(min, max)`` of a float array, ``(nan, nan)`` when no value is given
    (what ``numpy.fmin.reduce`` and ``numpy.fmax.reduce`` give), and whether any value is NaN.
    ``v < lo`` is false for NaN, so missing values need no branch."""
    n = a.size
    lo0 = lo1 = lo2 = lo3 = math.inf
    hi0 = hi1 = hi2 = hi3 = -math.inf
    nan0 = nan1 = nan2 = nan3 = False
    m = n - n % 4
    for i in range(0, m, 4):
        v0, v1, v2, v3 = a[i], a[i + 1], a[i + 2], a[i + 3]
        lo0 = v0 if v0 < lo0 else lo0
        hi0 = v0 if v0 > hi0 else hi0
        lo1 = v1 if v1 < lo1 else lo1
        hi1 = v1 if v1 > hi1 else hi1
        lo2 = v2 if v2 < lo2 else lo2
        hi2 = v2 if v2 > hi2 else hi2
        lo3 = v3 if v3 < lo3 else lo3
        hi3 = v3 if v3 > hi3 else hi3
        nan0 |= v0 != v0
        nan1 |= v1 != v1
        nan2 |= v2 != v2
        nan3 |= v3 != v3
    lo = min(min(lo0, lo1), min(lo2, lo3))
    hi = max(max(hi0, hi1), max(hi2, hi3))
    nan = nan0 | nan1 | nan2 | nan3
    for i in range(m, n):
        v = a[i]
        lo = v if v < lo else lo
        hi = v if v > hi else hi
        nan |= v != v
    seen = False  # every value +inf (lo stays +inf) or -inf is a value; all-NaN is not
    if lo == math.inf or hi == -math.inf:
        for i in range(n):
            if a[i] == a[i]:
                seen = True
                break
    else:
        seen = True
    if not seen:
        return math.nan, math.nan, nan
    return lo, hi, nan


@_jit
def float_range(values: Any, out: Any) -> tuple[float, float]:
    """``out[:] = values`` as float64 (what ``values.astype(numpy.float64)`` gives: the same
    rounding of the integer) and the ``(min, max)`` of ``out``, ``(nan, nan)`` when empty."""
    lo, hi = math.inf, -math.inf
    for i in range(values.size):
        v = float(values[i])
        out[i] = v
        lo = v if v < lo else lo
        hi = v if v > hi else hi
    if values.size == 0:
        return math.nan, math.nan
    return lo, hi


@_jit
def _compare(data: Any, a0: int, a1: int, b0: int, b1: int) -> int:
    """Byte-wise comparison of ``data[a0:a1]`` and ``data[b0:b1]``: -1, 0 or 1 (a prefix is
    smaller: Arrow's order of binary and UTF-8 text)."""
    la, lb = a1 - a0, b1 - b0
    for k in range(min(la, lb)):
        x, y = data[a0 + k], data[b0 + k]
        if x != y:
            return -1 if x < y else 1
    return -1 if la < lb else (1 if la > lb else 0)


@_jit
def text_runs(
    differ: Any,
    differ_offset: int,
    offsets: Any,
    data: Any,
    max_length: int,
    tokens: Any,
    token_offsets: Any,
    weeks: Any,
    codes: Any,
    too_long: Any,
    baseline: Any,
) -> tuple[int, bool]:
    """Codes of subject ids grouped in runs, read from an Arrow text array's buffers, and (with
    ``weeks``) whether the weeks increase within each run, with each run's week-0 row.

    ``differ`` is the bitmap of ``id[i + 1] != id[i]`` (bit ``differ_offset + i``; Arrow's
    ``not_equal`` of the shifted array: a new run starts at row ``i + 1``); ``offsets``
    (n + 1 values) and ``data`` (bytes) are the array's buffers (no nulls). Row ``i`` gets
    ``codes[i]`` = the number of runs before its own: the order of first appearance when the
    runs are in increasing byte order. ``too_long[k]``: run ``k``'s id has more than
    ``max_length`` characters. ``weeks`` (n values, or none): ``baseline[k]`` = the last row of
    run ``k`` with week 0 (-1 none), and the second result says whether the weeks strictly
    increase within every run (then the rows are grouped by subject with weeks increasing: what
    :func:`grouped_baselines` finds, read here without a second pass over the codes).

    Returns the number of runs, or -1 when the general path must decide: a run smaller than the
    one before (ids not sorted, or coming back), or an id that stripping or the text rules could
    change or reject (empty, a byte outside 0x20-0x7E, a space first or last, equal to one of
    ``tokens``: the missing tokens, ``token_offsets`` delimiting them). For plain ASCII ids the
    characters are the bytes, so the length is the byte count and stripping changes nothing.
    """
    n = offsets.size - 1
    track = weeks.size == n
    in_order = track
    runs = 0
    prev0 = prev1 = 0
    for i in range(n):
        if i > 0:
            j = differ_offset + i - 1
            if not (differ[j >> 3] >> (j & 7)) & 1:
                codes[i] = runs - 1
                if track:
                    in_order &= weeks[i] > weeks[i - 1]
                    if weeks[i] == 0:
                        baseline[runs - 1] = i
                continue
        s0, s1 = offsets[i], offsets[i + 1]
        if i > 0 and _compare(data, s0, s1, prev0, prev1) <= 0:
            return -1, False
        length = s1 - s0
        if length == 0 or data[s0] == 0x20 or data[s1 - 1] == 0x20:
            return -1, False
        for k in range(s0, s1):
            if data[k] < 0x20 or data[k] > 0x7E:
                return -1, False
        for t in range(token_offsets.size - 1):
            t0, t1 = token_offsets[t], token_offsets[t + 1]
            if t1 - t0 == length:
                same = True
                for k in range(length):
                    if tokens[t0 + k] != data[s0 + k]:
                        same = False
                        break
                if same:
                    return -1, False
        too_long[runs] = length > max_length
        if track:
            baseline[runs] = i if weeks[i] == 0 else -1
        codes[i] = runs
        runs += 1
        prev0, prev1 = s0, s1
    return runs, in_order


@_jit
def grouped_baselines(codes: Any, weeks: Any, baseline_row: Any) -> bool:
    """Whether the (subject code, week) pairs strictly increase row by row (rows grouped by
    subject with weeks increasing, hence no duplicate visit); if so ``baseline_row[c]`` is set
    to subject ``c``'s week-0 row (partly written otherwise: the caller starts again). Codes
    >= 0 and weeks whole."""
    for i in range(codes.size):
        c = codes[i]
        if i > 0 and (c < codes[i - 1] or (c == codes[i - 1] and weeks[i] <= weeks[i - 1])):
            return False
        if weeks[i] == 0:
            baseline_row[c] = i
    return True


@_jit
def whole_numbers(values: Any, out: Any) -> bool:
    """Whether every value is a whole number (none missing); if so ``out`` holds them as
    integers (``values.astype(int64)``; the caller has checked their range)."""
    for i in range(values.size):
        v = values[i]
        if v != v or np.floor(v) != v:  # missing, or a fraction
            return False
        out[i] = int(v)
    return True
