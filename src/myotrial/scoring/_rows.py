"""The per-visit scoring arithmetic, written once in plain Python (``math`` only).

:mod:`myotrial.scoring._kernel` compiles these functions with numba (one fused pass over the
visits; blocks of whole subjects run on threads); :func:`myotrial.scoring.engine.score_arrays` runs
them uncompiled on numpy arrays for a handful of rows, and :mod:`myotrial.scoring.single` runs
them on plain Python lists for one patient (``myotrial tis`` and the web calculator: no numpy,
no numba). Every path executes the same source (``tests/test_scoring_engine_paths.py`` and
``tests/test_scoring_single_equivalence.py`` check they agree bit for bit). This module imports
no numpy: ``np`` in :func:`block_bounds` (compiled only) is supplied by ``_kernel``'s globals, and
the one division that can meet a zero (a relative change from a zero baseline) goes through
:func:`_div`, which the plain-Python path replaces by an IEEE division (``x / 0`` -> +/-inf).

The rules are *not* written here: every edge, point value, threshold and clause parameter is
passed in from the rules files by :mod:`myotrial.scoring.engine`. This module only holds the
arithmetic of ``response-criteria.md`` (percent change formulas, half-open bands with an edge
tolerance, three-valued DOI/worsening, consecutive-visit confirmation).

Parameter tuples (built by the engine; tuples of floats stay in registers when compiled):

* ``slots``: six tuples, one per TIS slot in ``SLOTS`` order, of twelve floats: sign (+1
  higher is better), relative-points flag (1: points from the relative change, the enzyme),
  100 / scale range, four band edges (+ tolerance; +inf pads), band-0 points and four
  increments.
* ``rules``: :data:`N_RULES` floats, indices ``R_*`` below.
* ``weights``: three tuples of six ints: DOI measures, DOI no-worse measures, clause C measures.

Missing values use three-valued logic for DOI and worsening: *true* when the rule is met by the
measures present whatever the missing ones are, *false* when it cannot be met whatever they
are, *unknown* otherwise. Comparisons with NaN are false, so missing values need no branch.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "N_RULES",
    "baseline_rows",
    "block_bounds",
    "choose_enzymes",
    "confirm_deterioration",
    "enzyme_choice",
    "score_chunk",
]

# indices into the ``rules`` tuple
R_CUT1, R_CUT2, R_CUT3 = 0, 1, 2  # category thresholds minus the tolerance
R_PARTIAL = 3  # 1.0: score the measures present (partial TIS)
R_IMPROVED_AT, R_MIN_IMPROVED, R_WORSE_AT, R_MAX_WORSE = 4, 5, 6, 7  # DOI
R_PGA_AT, R_MMT_AT, R_EXTRA_AT, R_C_AT, R_C_MIN = 8, 9, 10, 11, 12  # worsening clauses
R_K_CONSECUTIVE, R_EARLIEST_WEEK = 13, 14  # confirmation
R_ENZYME_SLOT, R_MAX_SLOT, R_MAX_LOW = 15, 16, 17  # enzyme slot; slot with a per-row maximum
R_PGA_SLOT, R_MMT_SLOT, R_EXTRA_SLOT = 18, 19, 20  # -1: clause B does not apply
N_RULES = 21

Arrays = Any  # a tuple of numpy arrays (typed by numba when compiled)


def _slot(x: Any, xb: Any, base: bool, inv: Any, p: tuple[float, ...]) -> tuple[Any, Any, Any]:
    """One TIS slot at one visit: (points, relative change, change used for points).

    Absolute change: ``sign * (follow_up - baseline) * 100 / range``; relative change:
    ``sign * (follow_up - baseline) * 100 / |baseline|`` (0 when unchanged, so a zero baseline
    gives 0 or +/-inf). Points: band-0 points plus an increment for each edge passed (edges are
    half-open upper bounds, already shifted by the tolerance); NaN change -> NaN points.
    """
    diff = p[0] * (x - xb)
    rel = _div(diff, abs(xb)) * 100.0  # branch-free: computed, then replaced when unchanged
    rel = 0.0 if diff == 0.0 else rel
    imp = rel if p[1] != 0.0 else diff * inv
    pts = p[7] + (imp > p[3]) * p[8] + (imp > p[4]) * p[9] + (imp > p[5]) * p[10]
    pts = pts + (imp > p[6]) * p[11]
    return (math.nan if (imp != imp) | base else pts), rel, imp


def _count(bits: int) -> int:
    """Number of bits set in a six-bit mask (0..63)."""
    bits = bits - ((bits >> 1) & 0x15)
    bits = (bits & 0x33) + ((bits >> 2) & 0x33)
    return (bits + (bits >> 4)) & 0x0F


def _div(a: Any, b: Any) -> Any:
    """``a / b`` (inlined when compiled; numpy scalars and compiled code give +/-inf or NaN for a
    zero ``b``; the plain-Python path of :mod:`myotrial.scoring.single` swaps in an IEEE twin)."""
    return a / b


def _pick(k: int, v0: Any, v1: Any, v2: Any, v3: Any, v4: Any, v5: Any) -> Any:
    """The ``k``-th of six values."""
    if k == 0:
        return v0
    if k == 1:
        return v1
    if k == 2:
        return v2
    if k == 3:
        return v3
    if k == 4:
        return v4
    return v5


def _ratio(k: int, i: int, v0: Any, u0: Any, v1: Any, u1: Any, v2: Any, u2: Any, v3: Any,
           u3: Any, v4: Any, u4: Any) -> Any:  # fmt: skip
    """Value / ULN of enzyme ``k`` at row ``i`` (NaN when ``k`` is -1)."""
    if k == 0:
        return v0[i] / u0[i]
    if k == 1:
        return v1[i] / u1[i]
    if k == 2:
        return v2[i] / u2[i]
    if k == 3:
        return v3[i] / u3[i]
    if k == 4:
        return v4[i] / u4[i]
    return math.nan


def enzyme_choice(b: int, ev: Arrays, eu: Arrays) -> int:
    """Most abnormal enzyme at the baseline row ``b``: the highest value / ULN, first in rules
    order on a tie (PROJECT RULE, response-criteria.md 1.3); -1 when none has both."""
    best = -math.inf
    chosen = -1
    for k in range(5):
        if ev[k].size and eu[k].size and ev[k][b] / eu[k][b] > best:  # NaN never wins
            best = ev[k][b] / eu[k][b]
            chosen = k
    return chosen


def score_chunk(
    lo: int,
    hi: int,
    general: bool,
    codes: Any,
    weeks: Any,
    base_row: Any,
    chosen: Any,
    xs: Arrays,
    ev: Arrays,
    eu: Arrays,
    max_col: Any,
    slots: Any,
    rules: Any,
    weights: Any,
    points: Arrays,
    scalars: Arrays,
    flags: Arrays,
    confirmed: Any,
) -> int:
    """Score rows ``lo:hi`` in one fused pass.

    Sorted mode (``general`` False): rows grouped by subject with weeks increasing, ``lo:hi``
    whole subjects; the baseline, enzyme and confirmation are found on the way. Returns 1 as
    soon as the rows are not in that order or a subject has no baseline (week 0) row (the
    caller then takes the general path, which checks baselines and overwrites everything),
    else 0.

    General mode: rows in any order; ``base_row`` and ``chosen`` give each subject code's
    baseline row and enzyme; confirmation is a separate pass (:func:`confirm_deterioration`).

    Outputs: ``points`` six float arrays; ``scalars`` thirteen float arrays: tis, then the six
    absolute and six relative changes (empty arrays when details are not kept); ``flags``:
    int8 category, DOI, worsening, clause bits, enzyme code; int16 missing code; bool partial
    flag and baseline flag (see :func:`myotrial.scoring.engine.score_arrays`). Every array is
    unpacked once here: array accesses inside the row loop then cost no reference counting.
    """
    xa0, xa1, xa2, xa3, xa4, xa5 = xs
    n0, n1, n2 = xa0.size > 0, xa1.size > 0, xa2.size > 0
    n3, n4, n5 = xa3.size > 0, xa4.size > 0, xa5.size > 0
    v0, v1, v2, v3, v4 = ev
    u0, u1, u2, u3, u4 = eu
    pt0, pt1, pt2, pt3, pt4, pt5 = points
    tis_out = scalars[0]
    keep = scalars[1].size > 0
    i0, i1, i2, i3, i4, i5 = scalars[1], scalars[2], scalars[3], scalars[4], scalars[5], scalars[6]
    r0o, r1o, r2o = scalars[7], scalars[8], scalars[9]
    r3o, r4o, r5o = scalars[10], scalars[11], scalars[12]
    cat_out, doi_out, worse_out, clause_out, enz_out, miss_out, part_out, base_out = flags
    s0, s1, s2, s3, s4, s5 = slots
    cut1, cut2, cut3 = rules[R_CUT1], rules[R_CUT2], rules[R_CUT3]
    partial = rules[R_PARTIAL] != 0.0
    improved_at, min_improved = rules[R_IMPROVED_AT], rules[R_MIN_IMPROVED]
    worse_at, max_worse = rules[R_WORSE_AT], rules[R_MAX_WORSE]
    pga_at, mmt_at, extra_at = rules[R_PGA_AT], rules[R_MMT_AT], rules[R_EXTRA_AT]
    c_at, c_min = rules[R_C_AT], rules[R_C_MIN]
    k_consecutive, earliest = rules[R_K_CONSECUTIVE], rules[R_EARLIEST_WEEK]
    es, ms, low = int(rules[R_ENZYME_SLOT]), int(rules[R_MAX_SLOT]), rules[R_MAX_LOW]
    ps, mm, xsl = int(rules[R_PGA_SLOT]), int(rules[R_MMT_SLOT]), int(rules[R_EXTRA_SLOT])
    has_b = xsl >= 0
    w, v, c = weights  # 0/1 per slot, as bit masks
    w_bits = w[0] | w[1] << 1 | w[2] << 2 | w[3] << 3 | w[4] << 4 | w[5] << 5
    v_bits = v[0] | v[1] << 1 | v[2] << 2 | v[3] << 3 | v[4] << 4 | v[5] << 5
    c_bits = c[0] | c[1] << 1 | c[2] << 2 | c[3] << 3 | c[4] << 4 | c[5] << 5
    if not general and lo > 0 and lo < hi and codes[lo - 1] >= codes[lo]:
        return 1
    i = lo
    while i < hi:
        if general:
            j = i + 1
            b = base_row[codes[i]]
            enz = chosen[codes[i]]
        else:
            cs = codes[i]
            b = -1
            j = i
            while j < hi and codes[j] == cs:
                if j > i and not weeks[j] > weeks[j - 1]:
                    return 1
                if weeks[j] == 0.0:
                    b = j
                j += 1
            if j < hi and codes[j] < cs:
                return 1
            if b < 0:  # no baseline, or rows out of order: the general path decides
                return 1
            enz = enzyme_choice(b, ev, eu)
        if es < 0:
            enz = -1
        # the subject's baseline values, slot by slot (the enzyme: value / ULN), read once
        y0 = xa0[b] if n0 else math.nan
        y1 = xa1[b] if n1 else math.nan
        y2 = xa2[b] if n2 else math.nan
        y3 = xa3[b] if n3 else math.nan
        y4 = xa4[b] if n4 else math.nan
        y5 = xa5[b] if n5 else math.nan
        if es >= 0:
            ye = _ratio(enz, b, v0, u0, v1, u1, v2, u2, v3, u3, v4, u4)
            if es == 0:
                y0 = ye
            elif es == 1:
                y1 = ye
            elif es == 2:
                y2 = ye
            elif es == 3:
                y3 = ye
            elif es == 4:
                y4 = ye
            else:
                y5 = ye
        at_base = (
            int(y0 != y0) | int(y1 != y1) << 1 | int(y2 != y2) << 2 | int(y3 != y3) << 3
            | int(y4 != y4) << 4 | int(y5 != y5) << 5
        )  # fmt: skip
        yp = _pick(ps, y0, y1, y2, y3, y4, y5)
        yx = _pick(xsl, y0, y1, y2, y3, y4, y5) if has_b else 0.0
        last_max = math.nan
        row_inv = 0.0
        run = 0
        done = False
        for r in range(i, j):
            base = weeks[r] == 0.0
            if base and not keep:
                # the baseline visit: no change to score, so every score is blank (exactly what
                # the computation below gives a baseline row; the changes are kept only with
                # details, which do compute it)
                pt0[r], pt1[r], pt2[r] = math.nan, math.nan, math.nan
                pt3[r], pt4[r], pt5[r] = math.nan, math.nan, math.nan
                tis_out[r] = math.nan
                cat_out[r] = -1
                miss_out[r] = -1
                part_out[r] = False
                base_out[r] = True
                enz_out[r] = enz
                doi_out[r] = -1
                worse_out[r] = 0
                clause_out[r] = 0
                if not general:
                    run = 0
                    done = done | ((run >= k_consecutive) & (weeks[r] >= earliest))
                    confirmed[r] = done
                continue
            # values at the visit, slot by slot
            x0 = xa0[r] if n0 else math.nan
            x1 = xa1[r] if n1 else math.nan
            x2 = xa2[r] if n2 else math.nan
            x3 = xa3[r] if n3 else math.nan
            x4 = xa4[r] if n4 else math.nan
            x5 = xa5[r] if n5 else math.nan
            if es >= 0:
                xe = _ratio(enz, r, v0, u0, v1, u1, v2, u2, v3, u3, v4, u4)
                if es == 0:
                    x0 = xe
                elif es == 1:
                    x1 = xe
                elif es == 2:
                    x2 = xe
                elif es == 3:
                    x3 = xe
                elif es == 4:
                    x4 = xe
                else:
                    x5 = xe
            if ms >= 0:  # 100 / (maximum - minimum), computed again only when the maximum changes
                mx = max_col[r]
                if mx != last_max:
                    row_inv = 100.0 / (mx - low)
                    last_max = mx
            q0, r0, a0 = _slot(x0, y0, base, row_inv if ms == 0 else s0[2], s0)
            q1, r1, a1 = _slot(x1, y1, base, row_inv if ms == 1 else s1[2], s1)
            q2, r2, a2 = _slot(x2, y2, base, row_inv if ms == 2 else s2[2], s2)
            q3, r3, a3 = _slot(x3, y3, base, row_inv if ms == 3 else s3[2], s3)
            q4, r4, a4 = _slot(x4, y4, base, row_inv if ms == 4 else s4[2], s4)
            q5, r5, a5 = _slot(x5, y5, base, row_inv if ms == 5 else s5[2], s5)
            pt0[r], pt1[r], pt2[r], pt3[r], pt4[r], pt5[r] = q0, q1, q2, q3, q4, q5
            if keep:
                i0[r], i1[r], i2[r], i3[r], i4[r], i5[r] = a0, a1, a2, a3, a4, a5
                r0o[r], r1o[r], r2o[r], r3o[r], r4o[r], r5o[r] = r0, r1, r2, r3, r4, r5

            # TIS (sum of six points), category, partial flag, missing code
            present = (
                int(q0 == q0) + int(q1 == q1) + int(q2 == q2) + int(q3 == q3) + int(q4 == q4)
                + int(q5 == q5)
            )  # fmt: skip
            total = (
                (q0 if q0 == q0 else 0.0)
                + (q1 if q1 == q1 else 0.0)
                + (q2 if q2 == q2 else 0.0)
                + (q3 if q3 == q3 else 0.0)
                + (q4 if q4 == q4 else 0.0)
                + (q5 if q5 == q5 else 0.0)
            )
            ok = (present == 6) | (partial & (present > 0))
            t = math.nan if base | (not ok) else total
            tis_out[r] = t
            cat_out[r] = -1 if t != t else int(t >= cut1) + int(t >= cut2) + int(t >= cut3)
            at_visit = (
                int(x0 != x0) | int(x1 != x1) << 1 | int(x2 != x2) << 2 | int(x3 != x3) << 3
                | int(x4 != x4) << 4 | int(x5 != x5) << 5
            )  # fmt: skip
            miss_out[r] = -1 if base else at_base | at_visit << 6
            part_out[r] = ok & (present < 6) & (not base)
            base_out[r] = base
            enz_out[r] = enz

            # IMACS 2004 DOI: 1 met, 0 not met, -1 unknown or baseline. Bit k of each mask is
            # slot k: missing change, improved, worse, worse for clause C
            miss = (
                int(r0 != r0) | int(r1 != r1) << 1 | int(r2 != r2) << 2 | int(r3 != r3) << 3
                | int(r4 != r4) << 4 | int(r5 != r5) << 5
            )  # fmt: skip
            up = (
                int(r0 >= improved_at) | int(r1 >= improved_at) << 1
                | int(r2 >= improved_at) << 2 | int(r3 >= improved_at) << 3
                | int(r4 >= improved_at) << 4 | int(r5 >= improved_at) << 5
            )  # fmt: skip
            down = (
                int(r0 <= worse_at) | int(r1 <= worse_at) << 1 | int(r2 <= worse_at) << 2
                | int(r3 <= worse_at) << 3 | int(r4 <= worse_at) << 4 | int(r5 <= worse_at) << 5
            )  # fmt: skip
            improved = _count(up & w_bits)
            worse = _count(down & w_bits)
            unknown = _count(miss & w_bits)
            nw_def = down & v_bits
            nw_pos = (down | miss) & v_bits
            met = (improved >= min_improved) & (worse + unknown <= max_worse) & (nw_pos == 0)
            possible = (improved + unknown >= min_improved) & (worse <= max_worse) & (nw_def == 0)
            doi = int(met) - int(possible & (not met))  # 1 / -1 / 0, without branches
            doi_out[r] = -1 if base else doi

            # ProDERM worsening (1 / 0 / -1 unknown; baseline 0), clause bits A=1, B=2, C=4
            d = _pick(ps, x0, x1, x2, x3, x4, x5) - yp
            rm = _pick(mm, r0, r1, r2, r3, r4, r5)
            a_def = (d >= pga_at) & (rm <= mmt_at)
            a_pos = ((d >= pga_at) | (d != d)) & ((rm <= mmt_at) | (rm != rm))
            e = _pick(xsl, x0, x1, x2, x3, x4, x5) - yx if has_b else 0.0
            b_def = has_b & (e >= extra_at)
            b_pos = b_def | (has_b & (e != e))
            hit = _count(
                (
                    int(r0 <= c_at) | int(r1 <= c_at) << 1 | int(r2 <= c_at) << 2
                    | int(r3 <= c_at) << 3 | int(r4 <= c_at) << 4 | int(r5 <= c_at) << 5
                )
                & c_bits
            )  # fmt: skip
            unknown_c = _count(miss & c_bits)
            c_def = hit >= c_min
            c_pos = hit + unknown_c >= c_min
            w_def = a_def | b_def | c_def
            w_pos = a_pos | b_pos | c_pos
            worsening = int(w_def) - int(w_pos & (not w_def))
            worsening = 0 if base else worsening
            worse_out[r] = worsening
            clause_out[r] = 0 if base else (int(a_def) | (int(b_def) << 1) | (int(c_def) << 2))

            if not general:  # confirmation, in subject/week order
                run = (run + 1) * int((not base) & (worsening == 1))
                done = done | ((run >= k_consecutive) & (weeks[r] >= earliest))
                confirmed[r] = done
        i = j
    return 0


def choose_enzymes(base_row: Any, ev: Arrays, eu: Arrays, chosen: Any) -> None:
    """The enzyme of each subject (``base_row``: its baseline row, -1 none)."""
    for s in range(base_row.size):
        chosen[s] = enzyme_choice(base_row[s], ev, eu) if base_row[s] >= 0 else -1


def block_bounds(codes: Any, n_blocks: int) -> Any:
    """Block starts for :func:`score_chunk`: about equal blocks, each start moved forward to the
    next change of subject (so no subject is split), then ``n``. Compiled only: ``np`` is the
    numpy module in ``_kernel``'s copy of this module's globals."""
    n = codes.size
    bounds = np.empty(n_blocks + 1, dtype=np.int64)  # type: ignore[name-defined]  # noqa: F821
    bounds[0] = 0
    for k in range(1, n_blocks):
        pos = max(k * n // n_blocks, bounds[k - 1])
        while 0 < pos < n and codes[pos] == codes[pos - 1]:
            pos += 1
        bounds[k] = pos
    bounds[n_blocks] = n
    return bounds


def baseline_rows(codes: Any, weeks: Any, rows: Any) -> None:
    """Fill ``rows`` (one per subject, preset to -1) with the row of each subject's baseline
    (week 0) visit (the last one if several)."""
    for i in range(codes.size):
        if weeks[i] == 0.0:
            rows[codes[i]] = i


def confirm_deterioration(
    codes: Any,
    weeks: Any,
    order: Any,
    worsening: Any,
    k_consecutive: int,
    earliest_week: float,
    confirmed: Any,
) -> None:
    """True from the visit confirming deterioration onwards: ``k_consecutive`` consecutive
    post-baseline worsening visits (unknown breaks the run), the last at or after
    ``earliest_week``. ``order`` lists the rows sorted by subject, then week."""
    current = -1
    run = 0
    done = False
    for j in range(codes.size):
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
