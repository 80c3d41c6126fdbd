"""A readable per-visit reference scorer, written independently of the vectorised engine.

It restates the rules one visit at a time in plain Python, reading the same rules files, and
optionally in exact rational arithmetic (``fractions.Fraction`` of the decimal text), so band
edges are decided without any floating-point tolerance. Tests use it as an oracle for the
engine; ``benchmarks/bench_scoring.py`` uses it (float mode) as the per-row baseline. Not for
production use: it is deliberately slow and simple.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from myotrial.rules import (
    SLOTS,
    load_deterioration_rules,
    load_doi_rules,
    load_scales,
    load_tis_rules,
)

__all__ = ["reference_confirmed_deterioration", "reference_score_visit"]

Number = Fraction | float


def _round9(x: Number) -> Number:
    return round(float(x), 9)


def _identity(x: Number) -> Number:
    return x


def _num(value: Any, exact: bool) -> Number | None:
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    if exact:
        return Fraction(str(value))
    return float(value)


def reference_score_visit(
    baseline: Mapping[str, Any],
    visit: Mapping[str, Any],
    *,
    population: str = "adult",
    mmt8_max: float = 150.0,
    exact: bool = True,
) -> dict[str, Any]:
    """Score one follow-up visit against its baseline (adult/juvenile IMACS measure sets).

    Returns a dict with ``tis`` (None when a measure is missing), ``category``, ``points``
    (per slot), ``enzyme``, ``doi_met`` (None when undecidable), ``clauses`` (set of met clause
    letters) and ``worsening`` (None when undecidable).
    """
    tis_rules = load_tis_rules()
    scales = load_scales()
    doi = load_doi_rules()
    det = load_deterioration_rules()
    ms = tis_rules.measure_set_for(population, "imacs")

    def get(row: Mapping[str, Any], key: str) -> Number | None:
        return _num(row.get(key), exact)

    # Most abnormal enzyme at baseline (first in rules order on a tie).
    enzyme = None
    best: Number | None = None
    for e in scales.enzymes:
        v, u = get(baseline, e), get(baseline, f"{e}_uln")
        if v is not None and u is not None:
            ratio = v / u
            if best is None or ratio > best:
                best, enzyme = ratio, e

    base: dict[str, Number | None] = {}
    foll: dict[str, Number | None] = {}
    rng: dict[str, Number | None] = {}
    higher: dict[str, bool] = {}
    for slot in SLOTS:
        name = ms.slots[slot]
        if name == "enzyme":
            if enzyme is None:
                base[slot] = foll[slot] = None
            else:
                bv, bu = get(baseline, enzyme), get(baseline, f"{enzyme}_uln")
                fv, fu = get(visit, enzyme), get(visit, f"{enzyme}_uln")
                base[slot] = None if bv is None or bu is None else bv / bu
                foll[slot] = None if fv is None or fu is None else fv / fu
            rng[slot], higher[slot] = None, False
            continue
        scale = scales.measures[name]
        base[slot], foll[slot] = get(baseline, name), get(visit, name)
        higher[slot] = scale.higher_is_better
        if scale.max_column:
            mx = get(visit, scale.max_column)
            rng[slot] = mx if mx is not None else _num(mmt8_max, exact)
        else:
            rng[slot] = _num(scale.max, exact)

    def relative(slot: str) -> Number | None:
        b, f = base[slot], foll[slot]
        if b is None or f is None:
            return None
        diff: Any = (f - b) if higher[slot] else (b - f)
        if b == 0:
            return 0 if diff == 0 else (float("inf") if diff > 0 else float("-inf"))
        return diff / abs(b) * 100  # type: ignore[no-any-return]

    def improvement(slot: str) -> Number | None:
        if rng[slot] is None:  # enzyme: relative change
            return relative(slot)
        b, f = base[slot], foll[slot]
        if b is None or f is None:
            return None
        diff = (f - b) if higher[slot] else (b - f)
        return diff / rng[slot] * 100  # type: ignore[operator]

    rounder: Callable[[Number], Number] = _identity if exact else _round9
    points: dict[str, float | None] = {}
    for slot in SLOTS:
        imp = improvement(slot)
        if imp is None:
            points[slot] = None
            continue
        rule = tis_rules.slots[slot]
        value = rounder(imp)
        for band, pts in zip(rule.bands, rule.points, strict=True):
            if value <= band.upper:
                points[slot] = pts
                break
    tis = (
        None
        if any(p is None for p in points.values())
        else sum(p for p in points.values() if p is not None)
    )
    category = None
    if tis is not None:
        th = tis_rules.categories[ms.population]
        category = "none"
        for label, cut in (("minimal", th.minimal), ("moderate", th.moderate), ("major", th.major)):
            if tis >= cut:
                category = label

    # IMACS DOI: decide over every completion of the missing measures.
    rels = {s: relative(s) for s in doi.measures}
    improved = sum(1 for r in rels.values() if r is not None and rounder(r) >= doi.improved_pct)
    worse = sum(1 for r in rels.values() if r is not None and rounder(r) <= -doi.worse_pct)
    unknown = sum(1 for r in rels.values() if r is None)
    mmt = rels["mmt8"]
    mmt_worse = mmt is not None and rounder(mmt) <= -doi.worse_pct
    doi_met: bool | None
    if (
        improved >= doi.min_improved
        and worse + unknown <= doi.max_worse
        and mmt is not None
        and not mmt_worse
    ):
        doi_met = True
    elif improved + unknown < doi.min_improved or worse > doi.max_worse or mmt_worse:
        doi_met = False
    else:
        doi_met = None

    # ProDERM clauses.
    def cm_worse(slot: str, cm: float) -> bool | None:
        b, f = base[slot], foll[slot]
        return None if b is None or f is None else rounder(f - b) >= cm

    def pct_worse(slot: str, pct: float) -> bool | None:
        r = relative(slot)
        return None if r is None else rounder(r) <= -pct

    def both(x: bool | None, y: bool | None) -> bool | None:
        if x is False or y is False:
            return False
        return True if x and y else None

    a = both(cm_worse("pga", det.pga_worse_cm), pct_worse("mmt8", det.mmt8_worse_pct))
    b = cm_worse("extramuscular", det.extramuscular_worse_cm)
    c_vals = [pct_worse(s, det.clause_c_worse_pct) for s in det.clause_c_measures]
    c_true = sum(1 for v in c_vals if v)
    c_unknown = sum(1 for v in c_vals if v is None)
    c: bool | None = (
        True
        if c_true >= det.clause_c_min_worse
        else (False if c_true + c_unknown < det.clause_c_min_worse else None)
    )
    clauses = {letter for letter, v in (("A", a), ("B", b), ("C", c)) if v}
    worsening: bool | None = (
        True if clauses else (False if all(v is False for v in (a, b, c)) else None)
    )
    return {
        "tis": None if tis is None else float(tis),
        "category": category,
        "points": points,
        "enzyme": enzyme,
        "doi_met": doi_met,
        "clauses": clauses,
        "worsening": worsening,
    }


def reference_confirmed_deterioration(
    weeks: Sequence[int],
    worsening: Sequence[bool | None],
    *,
    earliest_week: float = 8,
    consecutive_visits: int = 2,
) -> list[bool]:
    """Per visit (week order, baseline first): is deterioration confirmed at or before it?"""
    confirmed, run, out = False, 0, []
    for week, worse in zip(weeks, worsening, strict=True):
        run = run + 1 if (worse is True and week != 0) else 0
        if run >= consecutive_visits and week >= earliest_week:
            confirmed = True
        out.append(confirmed)
    return out
