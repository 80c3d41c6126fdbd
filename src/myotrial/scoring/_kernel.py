"""Compiled scoring passes (numba): small tight loops over the visits, no Python per row.

The rules are *not* written here: every edge, point value, threshold and clause parameter is
passed in from the rules files by :mod:`myotrial.scoring.engine`. This module only holds the
arithmetic of ``response-criteria.md`` (percent change formulas, half-open bands with an edge
tolerance, three-valued DOI/worsening, consecutive-visit confirmation), compiled once and cached.

Passes: baseline rows and enzyme choice per subject; one branch-free pass per TIS slot (points
and relative change; LLVM vectorises it); three short passes combining the six slots (TIS and
category; IMACS DOI; worsening clauses); confirmation in subject/week order. Rule parameters
are passed as scalars where possible so they stay in registers. Outputs are allocated by the
caller with numpy (huge pages: far cheaper first touch than allocation inside compiled code).
"""

from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np

__all__ = [
    "absolute_improvement",
    "band_points",
    "baseline_rows",
    "combine_clauses",
    "combine_doi",
    "combine_tis",
    "confirm_deterioration",
    "enzyme_ratio",
    "is_sorted_by_subject_week",
    "relative_improvement",
    "slot_scores",
]

_JIT: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}
_INLINE: dict[str, Any] = {**_JIT, "inline": "always"}


@nb.njit(**_INLINE)
def absolute_improvement(
    baseline: float, follow_up: float, scale_range: float, higher_is_better: bool
) -> float:
    """Percent of the scale range, positive = better (NaN if either value is missing)."""
    diff = follow_up - baseline if higher_is_better else baseline - follow_up
    return diff / scale_range * 100.0


@nb.njit(**_INLINE)
def relative_improvement(baseline: float, follow_up: float, higher_is_better: bool) -> float:
    """Percent of the baseline, positive = better; zero baseline -> 0 if unchanged, +inf if
    better, -inf if worse (division by zero under the numpy error model); NaN if missing."""
    diff = follow_up - baseline if higher_is_better else baseline - follow_up
    return 0.0 if diff == 0.0 else diff / abs(baseline) * 100.0


@nb.njit(**_INLINE)
def band_points(improvement: float, edges: np.ndarray, points: np.ndarray, tol: float) -> float:
    """Points of the half-open band ``(lower, upper]`` holding ``improvement`` (NaN -> NaN)."""
    if math.isnan(improvement):
        return math.nan
    band = 0
    for j in range(edges.size):
        band += improvement > edges[j] + tol
    return float(points[band])


@nb.njit(**_JIT)
def baseline_rows(
    codes: np.ndarray, weeks: np.ndarray, rows: np.ndarray, per_row: np.ndarray
) -> None:
    """Fill ``rows`` (one per subject, preset to -1) with the row of each subject's baseline
    (week 0) visit, and ``per_row`` with the baseline row of every row's subject.

    Outputs are allocated by the caller (numpy allocates large arrays on huge pages, which is
    several times cheaper on first touch than allocating inside compiled code)."""
    for i in range(codes.size):
        if weeks[i] == 0.0:
            rows[codes[i]] = i
    for i in range(codes.size):
        per_row[i] = rows[codes[i]]


@nb.njit(**_JIT)
def enzyme_ratio(
    codes: np.ndarray,
    base_row: np.ndarray,
    v0: np.ndarray,
    u0: np.ndarray,
    v1: np.ndarray,
    u1: np.ndarray,
    v2: np.ndarray,
    u2: np.ndarray,
    v3: np.ndarray,
    u3: np.ndarray,
    v4: np.ndarray,
    u4: np.ndarray,
    code: np.ndarray,
    out: np.ndarray,
) -> None:
    """Most abnormal enzyme per subject and its value / ULN at every visit.

    The enzyme with the highest value / ULN at the subject's baseline (first in rules order on
    a tie) is used at every visit (PROJECT RULE, response-criteria.md 1.3). Enzymes not in the
    table are empty arrays. Fills ``code`` (enzyme per row, -1 none) and ``out`` (the ratio,
    NaN when none). The five-way selection is written out (a helper taking the arrays would cost
    reference counting on every call).
    """
    n_sub = base_row.size
    chosen = np.full(n_sub, -1, dtype=np.int64)
    for s in range(n_sub):
        b = base_row[s]
        best = -math.inf
        if v0.size and v0[b] / u0[b] > best:  # NaN never wins
            best = v0[b] / u0[b]
            chosen[s] = 0
        if v1.size and v1[b] / u1[b] > best:
            best = v1[b] / u1[b]
            chosen[s] = 1
        if v2.size and v2[b] / u2[b] > best:
            best = v2[b] / u2[b]
            chosen[s] = 2
        if v3.size and v3[b] / u3[b] > best:
            best = v3[b] / u3[b]
            chosen[s] = 3
        if v4.size and v4[b] / u4[b] > best:
            chosen[s] = 4
    for i in range(codes.size):
        j = chosen[codes[i]]
        code[i] = j
        if j == 0:
            out[i] = v0[i] / u0[i]
        elif j == 1:
            out[i] = v1[i] / u1[i]
        elif j == 2:
            out[i] = v2[i] / u2[i]
        elif j == 3:
            out[i] = v3[i] / u3[i]
        elif j == 4:
            out[i] = v4[i] / u4[i]
        else:
            out[i] = math.nan


@nb.njit(**_JIT)
def slot_scores(
    weeks: np.ndarray,  # float64[n]; baseline rows (week 0) get NaN points
    base_index: np.ndarray,  # int64[n] row of each row's baseline visit
    values: np.ndarray,  # float64[n]
    sign: float,  # +1 higher is better, -1 lower is better
    inv_range: np.ndarray,  # float64[n] or [1]: 100 / scale range; empty: relative change
    e0: float,
    e1: float,
    e2: float,
    e3: float,  # band edges + tolerance
    p0: float,
    d0: float,
    d1: float,
    d2: float,
    d3: float,  # points of band 0, increments
    points_out: np.ndarray,
    relative_out: np.ndarray,
    missing_out: np.ndarray,  # int8[n]: 1 missing at baseline, 2 missing at the visit
    delta_out: np.ndarray,  # float64[n] follow-up minus baseline, or empty when not needed
    improvement_out: np.ndarray,  # float64[n], or empty when details are not requested
) -> None:
    """One TIS slot over every visit: points and relative change (branch-free, vectorised).

    Absolute change: ``sign * (follow_up - baseline) * 100 / range``; relative change:
    ``sign * (follow_up - baseline) * 100 / |baseline|`` (0 when unchanged, so a zero baseline
    gives 0 or +/-inf). Points: band 0 points plus an increment for each edge passed (edges are
    half-open upper bounds, already shifted by the tolerance); NaN change -> NaN points.
    Comparisons with NaN are false, so missing values need no branch.
    """
    n = values.size
    relative_points = inv_range.size == 0
    per_row = inv_range.size == n
    keep = improvement_out.size == n
    keep_delta = delta_out.size == n
    for i in range(n):
        bv = values[base_index[i]]
        diff = sign * (values[i] - bv)
        rel = 0.0 if diff == 0.0 else diff / abs(bv) * 100.0
        imp = rel if relative_points else diff * (inv_range[i] if per_row else inv_range[0])
        p = p0 + (imp > e0) * d0 + (imp > e1) * d1 + (imp > e2) * d2 + (imp > e3) * d3
        points_out[i] = math.nan if (math.isnan(imp) or weeks[i] == 0.0) else p
        relative_out[i] = rel
        missing_out[i] = np.int8(math.isnan(bv)) | (np.int8(math.isnan(values[i])) << 1)
        if keep:
            improvement_out[i] = imp
        if keep_delta:
            delta_out[i] = values[i] - bv


@nb.njit(**_JIT)
def combine_tis(
    weeks: np.ndarray,
    points: np.ndarray,  # float64[6, n]
    missing_flags: np.ndarray,  # int8[6, n] per slot: 1 missing at baseline, 2 at the visit
    partial: bool,
    cut1: float,
    cut2: float,
    cut3: float,  # category thresholds minus the tolerance
    tis: np.ndarray,
    category: np.ndarray,
    partial_flag: np.ndarray,
    missing: np.ndarray,
) -> None:
    """TIS (sum of six points), category code (-1 none, 0..3), partial flag and missing code
    (bit k: slot k missing at baseline, bit 6 + k: at the visit; -1 at baseline)."""
    for i in range(weeks.size):
        base = weeks[i] == 0.0
        q0, q1, q2 = points[0, i], points[1, i], points[2, i]
        q3, q4, q5 = points[3, i], points[4, i], points[5, i]
        present = (q0 == q0) + (q1 == q1) + (q2 == q2) + (q3 == q3) + (q4 == q4) + (q5 == q5)
        total = (
            (q0 if q0 == q0 else 0.0)
            + (q1 if q1 == q1 else 0.0)
            + (q2 if q2 == q2 else 0.0)
            + (q3 if q3 == q3 else 0.0)
            + (q4 if q4 == q4 else 0.0)
            + (q5 if q5 == q5 else 0.0)
        )
        ok = (present == 6) | (partial & (present > 0))
        t = math.nan if (base or not ok) else total
        tis[i] = t
        partial_flag[i] = ok & (present < 6) & (not base)
        category[i] = -1 if t != t else (t >= cut1) + (t >= cut2) + (t >= cut3)
        f0, f1, f2 = (
            np.int64(missing_flags[0, i]),
            np.int64(missing_flags[1, i]),
            np.int64(missing_flags[2, i]),
        )
        f3, f4, f5 = (
            np.int64(missing_flags[3, i]),
            np.int64(missing_flags[4, i]),
            np.int64(missing_flags[5, i]),
        )
        at_base = (
            (f0 & 1) | (f1 & 1) << 1 | (f2 & 1) << 2 | (f3 & 1) << 3 | (f4 & 1) << 4 | (f5 & 1) << 5
        )
        at_visit = (
            f0 >> 1
            | (f1 >> 1) << 1
            | (f2 >> 1) << 2
            | (f3 >> 1) << 3
            | (f4 >> 1) << 4
            | (f5 >> 1) << 5
        )
        missing[i] = -1 if base else at_base | at_visit << 6


@nb.njit(**_JIT)
def combine_doi(
    weeks: np.ndarray,
    relative: np.ndarray,  # float64[6, n]
    doi_w: np.ndarray,  # int64[6] 1 if the slot counts for the DOI
    doi_nw: np.ndarray,  # int64[6] 1 if the slot may not be worse (MMT)
    improved_at: float,
    min_improved: int,
    worse_at: float,
    max_worse: int,
    out: np.ndarray,
) -> None:
    """IMACS 2004 DOI per visit: 1 met, 0 not met, -1 unknown (missing measures could decide
    it) or baseline. Thresholds arrive shifted by the tolerance (worse_at is negative)."""
    n = weeks.size
    w0, w1, w2, w3, w4, w5 = doi_w[0], doi_w[1], doi_w[2], doi_w[3], doi_w[4], doi_w[5]
    v0, v1, v2, v3, v4, v5 = doi_nw[0], doi_nw[1], doi_nw[2], doi_nw[3], doi_nw[4], doi_nw[5]
    for i in range(n):
        r0, r1, r2 = relative[0, i], relative[1, i], relative[2, i]
        r3, r4, r5 = relative[3, i], relative[4, i], relative[5, i]
        u0, u1, u2 = np.int64(r0 != r0), np.int64(r1 != r1), np.int64(r2 != r2)
        u3, u4, u5 = np.int64(r3 != r3), np.int64(r4 != r4), np.int64(r5 != r5)
        improved = (
            w0 * (r0 >= improved_at)
            + w1 * (r1 >= improved_at)
            + w2 * (r2 >= improved_at)
            + w3 * (r3 >= improved_at)
            + w4 * (r4 >= improved_at)
            + w5 * (r5 >= improved_at)
        )
        x0, x1, x2 = np.int64(r0 <= worse_at), np.int64(r1 <= worse_at), np.int64(r2 <= worse_at)
        x3, x4, x5 = np.int64(r3 <= worse_at), np.int64(r4 <= worse_at), np.int64(r5 <= worse_at)
        worse = w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3 + w4 * x4 + w5 * x5
        unknown = w0 * u0 + w1 * u1 + w2 * u2 + w3 * u3 + w4 * u4 + w5 * u5
        nw_def = v0 * x0 + v1 * x1 + v2 * x2 + v3 * x3 + v4 * x4 + v5 * x5
        nw_pos = nw_def + v0 * u0 + v1 * u1 + v2 * u2 + v3 * u3 + v4 * u4 + v5 * u5
        met = (improved >= min_improved) & (worse + unknown <= max_worse) & (nw_pos == 0)
        possible = (improved + unknown >= min_improved) & (worse <= max_worse) & (nw_def == 0)
        out[i] = -1 if weeks[i] == 0.0 else (1 if met else (-1 if possible else 0))


@nb.njit(**_JIT)
def combine_clauses(
    weeks: np.ndarray,
    relative: np.ndarray,  # float64[6, n]
    pga_delta: np.ndarray,  # float64[n] follow-up minus baseline, cm
    extra_delta: np.ndarray,  # float64[n], or empty when clause B does not apply
    pga_at: float,
    mmt_slot: int,
    mmt_at: float,
    extra_at: float,
    c_w: np.ndarray,  # int64[6] 1 if the slot counts for clause C
    c_at: float,
    c_min: int,
    worsening: np.ndarray,
    clause: np.ndarray,
) -> None:
    """ProDERM worsening per visit (1 / 0 / -1 unknown; baseline 0) and clause bits
    (A=1, B=2, C=4). Thresholds arrive shifted by the tolerance (percentages negative)."""
    n = weeks.size
    has_b = extra_delta.size == n
    c0, c1, c2, c3, c4, c5 = c_w[0], c_w[1], c_w[2], c_w[3], c_w[4], c_w[5]
    for i in range(n):
        r0, r1, r2 = relative[0, i], relative[1, i], relative[2, i]
        r3, r4, r5 = relative[3, i], relative[4, i], relative[5, i]
        d = pga_delta[i]
        rm = relative[mmt_slot, i]
        a_def = (d >= pga_at) & (rm <= mmt_at)
        a_pos = ((d >= pga_at) | (d != d)) & ((rm <= mmt_at) | (rm != rm))
        e = extra_delta[i] if has_b else 0.0
        b_def = has_b & (e >= extra_at)
        b_pos = b_def | (has_b & (e != e))
        hit = (
            c0 * (r0 <= c_at)
            + c1 * (r1 <= c_at)
            + c2 * (r2 <= c_at)
            + c3 * (r3 <= c_at)
            + c4 * (r4 <= c_at)
            + c5 * (r5 <= c_at)
        )
        unknown = (
            c0 * (r0 != r0)
            + c1 * (r1 != r1)
            + c2 * (r2 != r2)
            + c3 * (r3 != r3)
            + c4 * (r4 != r4)
            + c5 * (r5 != r5)
        )
        c_def = hit >= c_min
        c_pos = hit + unknown >= c_min
        base = weeks[i] == 0.0
        w_def = a_def | b_def | c_def
        w_pos = a_pos | b_pos | c_pos
        worsening[i] = 0 if base else (1 if w_def else (-1 if w_pos else 0))
        clause[i] = 0 if base else (np.int8(a_def) | (np.int8(b_def) << 1) | (np.int8(c_def) << 2))


@nb.njit(**_JIT)
def is_sorted_by_subject_week(codes: np.ndarray, weeks: np.ndarray) -> bool:
    """True when rows are grouped by subject (codes non-decreasing) with weeks increasing."""
    for i in range(1, codes.size):
        if codes[i] < codes[i - 1] or (codes[i] == codes[i - 1] and weeks[i] <= weeks[i - 1]):
            return False
    return True


@nb.njit(**_JIT)
def confirm_deterioration(
    codes: np.ndarray,
    weeks: np.ndarray,
    order: np.ndarray,
    worsening: np.ndarray,
    k_consecutive: int,
    earliest_week: float,
    confirmed: np.ndarray,
) -> None:
    """True from the visit confirming deterioration onwards: ``k_consecutive`` consecutive
    post-baseline worsening visits (unknown breaks the run), the last at or after
    ``earliest_week``. ``order`` lists the rows sorted by subject, then week."""
    n = codes.size
    current = -1
    run = 0
    done = False
    for j in range(n):
        i = order[j]
        if codes[i] != current:
            current = codes[i]
            run = 0
            done = False
        if weeks[i] != 0.0 and worsening[i] == 1:
            run += 1
        else:
            run = 0
        if run >= k_consecutive and weeks[i] >= earliest_week:
            done = True
        confirmed[i] = done


@nb.vectorize(["float64(float64, float64, float64, boolean)"], cache=True)
def absolute_improvement_ufunc(
    baseline: float, follow_up: float, scale_range: float, higher_is_better: bool
) -> float:
    return absolute_improvement(baseline, follow_up, scale_range, higher_is_better)


@nb.vectorize(["float64(float64, float64, boolean)"], cache=True)
def relative_improvement_ufunc(baseline: float, follow_up: float, higher_is_better: bool) -> float:
    return relative_improvement(baseline, follow_up, higher_is_better)


@nb.njit(**_JIT)
def band_points_array(
    improvement: np.ndarray, edges: np.ndarray, points: np.ndarray, tol: float
) -> np.ndarray:
    out = np.empty(improvement.size)
    flat = improvement.ravel()
    for i in range(flat.size):
        out[i] = band_points(flat[i], edges, points, tol)
    return out.reshape(improvement.shape)
