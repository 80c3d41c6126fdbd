"""Compiled scoring kernel (numba): one pass over the visits, no Python per row.

The rules are *not* written here: every edge, point value, threshold and clause parameter is
passed in from the rules files by :mod:`myotrial.scoring.engine`. This module only holds the
arithmetic of ``response-criteria.md`` (percent change formulas, half-open bands with an edge
tolerance, three-valued DOI/worsening, consecutive-visit confirmation), compiled once and cached.
"""

from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np

__all__ = ["absolute_improvement", "band_points", "relative_improvement", "score_kernel"]

_JIT: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}
# Small helpers are inlined into the kernel: a call that passes arrays would otherwise pay
# reference-count updates on every row.
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
    """Percent of the baseline, positive = better; zero baseline -> 0, +inf or -inf."""
    if math.isnan(baseline) or math.isnan(follow_up):
        return math.nan
    diff = follow_up - baseline if higher_is_better else baseline - follow_up
    if baseline == 0.0:
        if diff > 0.0:
            return math.inf
        if diff < 0.0:
            return -math.inf
        return 0.0
    return diff / abs(baseline) * 100.0


@nb.njit(**_INLINE)
def band_points(
    improvement: float, edges: np.ndarray, points: np.ndarray, row: int, tol: float
) -> float:
    """Points of the half-open band ``(lower, upper]`` holding ``improvement`` (NaN -> NaN),
    with band edges ``edges[row, :]`` and points ``points[row, :]`` (no array views made)."""
    if math.isnan(improvement):
        return math.nan
    k = 0
    for j in range(edges.shape[1]):  # branch-free count of edges passed
        k += np.int64(improvement > edges[row, j] + tol)
    return float(points[row, k])


@nb.njit(**_INLINE)
def _tri(definite: bool, possible: bool) -> float:
    if definite:
        return 1.0
    if not possible:
        return 0.0
    return math.nan


@nb.njit(**_JIT)
def score_kernel(
    codes: np.ndarray,  # int64[n] subject code 0..S-1
    weeks: np.ndarray,  # float64[n]
    order: np.ndarray,  # int64[n] rows sorted by (subject, week)
    n_sub: int,
    values: np.ndarray,  # float64[6, n]: value of each slot (enzyme row unused)
    higher: np.ndarray,  # bool[6] higher is better
    slot_range: np.ndarray,  # float64[6] scale range (NaN for the enzyme slot)
    row_range: np.ndarray,  # float64[n] per-row range for the slot with row_range_slot
    row_range_slot: int,  # slot using row_range (MMT-8 max), -1 none
    enzyme_slot: int,  # slot scored by the most abnormal enzyme, -1 none
    enz_vals: np.ndarray,  # float64[E, n] enzymes present in the table
    enz_uln: np.ndarray,  # float64[E, n] their ULNs
    enz_code: np.ndarray,  # int64[E] code (rules order) of each enzyme row
    edges: np.ndarray,  # float64[6, 4]
    points: np.ndarray,  # float64[6, 5]
    tol: float,
    partial: bool,
    cat_cuts: np.ndarray,  # float64[3] minimal, moderate, major
    doi_slots: np.ndarray,  # int64[m]
    doi_improved: float,
    doi_min_improved: int,
    doi_worse: float,
    doi_max_worse: int,
    doi_no_worse: np.ndarray,  # bool[6]
    a_pga_slot: int,
    a_pga_cm: float,
    a_mmt_slot: int,
    a_mmt_pct: float,
    b_slot: int,
    b_cm: float,  # b_slot -1: clause B not applicable
    c_slots: np.ndarray,
    c_pct: float,
    c_min: int,
    k_consecutive: int,
    earliest_week: float,
    details: bool,
) -> tuple[np.ndarray, ...]:
    n = codes.size
    n_slots = 6
    n_edges = edges.shape[1]
    base_row = np.full(n_sub, -1, dtype=np.int64)
    for i in range(n):
        if weeks[i] == 0.0:
            base_row[codes[i]] = i
    n_enz = enz_vals.shape[0]
    chosen = np.full(n_sub, -1, dtype=np.int64)
    if enzyme_slot >= 0:
        for s in range(n_sub):
            r = base_row[s]
            if r < 0:
                continue
            best = -math.inf
            for j in range(n_enz):
                ratio = enz_vals[j, r] / enz_uln[j, r]
                if not math.isnan(ratio) and ratio > best:
                    best = ratio
                    chosen[s] = j

    tis = np.empty(n)
    category = np.empty(n, dtype=np.int64)
    missing = np.zeros(n, dtype=np.int64)
    pts_out = np.empty((n_slots, n))
    m = n if details else 0
    imp_out = np.empty((n_slots, m))
    rel_out = np.empty((n_slots, m))
    partial_out = np.zeros(n, dtype=np.bool_)
    enzyme_code = np.full(n, -1, dtype=np.int64)
    doi = np.empty(n)
    worsening = np.empty(n)
    clause = np.zeros(n, dtype=np.int64)
    bv = np.empty(n_slots)
    fv = np.empty(n_slots)
    rel = np.empty(n_slots)

    for i in range(n):
        b = base_row[codes[i]]
        is_base = weeks[i] == 0.0
        total = 0.0
        n_present = 0
        code = 0
        enz = chosen[codes[i]]
        enzyme_code[i] = -1 if enz < 0 else enz_code[enz]
        for k in range(n_slots):
            if k == enzyme_slot:
                if enz < 0:
                    bv[k] = math.nan
                    fv[k] = math.nan
                else:
                    bv[k] = enz_vals[enz, b] / enz_uln[enz, b]
                    fv[k] = enz_vals[enz, i] / enz_uln[enz, i]
                r = relative_improvement(bv[k], fv[k], False)
                imp = r
            else:
                bv[k] = values[k, b]
                fv[k] = values[k, i]
                rng = row_range[i] if k == row_range_slot else slot_range[k]
                imp = absolute_improvement(bv[k], fv[k], rng, higher[k])
                r = relative_improvement(bv[k], fv[k], higher[k])
            rel[k] = r
            if math.isnan(bv[k]):
                code |= 1 << k
            if math.isnan(fv[k]):
                code |= 1 << (k + n_slots)
            # Band lookup written out here rather than calling band_points(): passing arrays
            # to a helper costs reference-count updates on every row.
            if math.isnan(imp):
                p = math.nan
            else:
                band = 0
                for j in range(n_edges):
                    band += imp > edges[k, j] + tol
                p = points[k, band]
            pts_out[k, i] = math.nan if is_base else p
            if details:
                imp_out[k, i] = imp
                rel_out[k, i] = r
            if not math.isnan(p):
                total += p
                n_present += 1
        if is_base:
            tis[i] = math.nan
            missing[i] = -1
        else:
            missing[i] = code
            if n_present == n_slots:
                tis[i] = total
            elif partial and n_present > 0:
                tis[i] = total
                partial_out[i] = True
            else:
                tis[i] = math.nan
        t = tis[i]
        if math.isnan(t):
            category[i] = -1
        else:
            c = 0
            for cut in cat_cuts:
                if t >= cut - tol:
                    c += 1
            category[i] = c

        if is_base:
            doi[i] = math.nan
            worsening[i] = 0.0
            continue
        # IMACS DOI (three-valued over the missing measures)
        imp_def = 0
        worse_def = 0
        unknown = 0
        nw_def = False
        nw_pos = False
        for s in doi_slots:
            r = rel[s]
            if math.isnan(r):
                unknown += 1
                if doi_no_worse[s]:
                    nw_pos = True
                continue
            if r >= doi_improved - tol:
                imp_def += 1
            if r <= -doi_worse + tol:
                worse_def += 1
                if doi_no_worse[s]:
                    nw_def = True
                    nw_pos = True
        doi[i] = _tri(
            imp_def >= doi_min_improved and worse_def + unknown <= doi_max_worse and not nw_pos,
            imp_def + unknown >= doi_min_improved and worse_def <= doi_max_worse and not nw_def,
        )
        # ProDERM clauses A/B/C (three-valued)
        d = fv[a_pga_slot] - bv[a_pga_slot]
        a1 = (not math.isnan(d)) and d >= a_pga_cm - tol
        a1p = a1 or math.isnan(d)
        r = rel[a_mmt_slot]
        a2 = (not math.isnan(r)) and r <= -a_mmt_pct + tol
        a2p = a2 or math.isnan(r)
        a_def = a1 and a2
        a_pos = a1p and a2p
        b_def = False
        b_pos = False
        if b_slot >= 0:
            d = fv[b_slot] - bv[b_slot]
            b_def = (not math.isnan(d)) and d >= b_cm - tol
            b_pos = b_def or math.isnan(d)
        c_def_n = 0
        c_pos_n = 0
        for s in c_slots:
            r = rel[s]
            if math.isnan(r):
                c_pos_n += 1
            elif r <= -c_pct + tol:
                c_def_n += 1
                c_pos_n += 1
        c_def = c_def_n >= c_min
        c_pos = c_pos_n >= c_min
        clause[i] = (1 if a_def else 0) | (2 if b_def else 0) | (4 if c_def else 0)
        worsening[i] = _tri(a_def or b_def or c_def, a_pos or b_pos or c_pos)

    # Confirmation: k consecutive worsening visits, the confirming one at or after earliest_week.
    confirmed = np.zeros(n, dtype=np.bool_)
    current = -1
    run = 0
    done = False
    for j in range(n):
        i = order[j]
        if codes[i] != current:
            current = codes[i]
            run = 0
            done = False
        if weeks[i] != 0.0 and worsening[i] == 1.0:
            run += 1
        else:
            run = 0
        if run >= k_consecutive and weeks[i] >= earliest_week:
            done = True
        confirmed[i] = done
    return (
        tis,
        category,
        missing,
        pts_out,
        imp_out,
        rel_out,
        partial_out,
        enzyme_code,
        doi,
        worsening,
        clause,
        confirmed,
    )


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
    e2 = edges.reshape(1, -1)
    p2 = points.reshape(1, -1)
    for i in range(flat.size):
        out[i] = band_points(flat[i], e2, p2, 0, tol)
    return out.reshape(improvement.shape)
