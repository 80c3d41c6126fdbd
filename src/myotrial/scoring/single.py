"""One patient's TIS, measure by measure (the IMACS calculator), on the same engine.

Used by ``myotrial tis`` and the web calculator. The same range checks and the same compiled
engine as the table API, on two rows (baseline and follow-up) without a DataFrame, so a patient
scored here gets exactly the numbers the trial engine gives (a test checks both paths agree).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from myotrial.errors import InputValidationError, Problem
from myotrial.rules import SLOTS, load_scales, load_tis_rules
from myotrial.scoring.engine import CATEGORY_LABELS, CLAUSE_LABELS, ScoringConfig, score_arrays
from myotrial.tables.ranges import check_measure_ranges

__all__ = ["PATIENT_MEASURES", "score_patient"]

#: Measures a single-patient calculation accepts (baseline and follow-up values).
PATIENT_MEASURES: tuple[str, ...] = (
    "pga",
    "ptga",
    "extramuscular",
    "mmt8",
    "haq",
    "chaq",
    "cmas",
    "das",
    "chq_phs",
    *load_scales().enzymes,
)


def score_patient(
    baseline: Mapping[str, float | None],
    follow_up: Mapping[str, float | None],
    *,
    ulns: Mapping[str, float | None] | None = None,
    population: str = "adult",
    measure_set: str = "imacs",
    mmt8_max: float = 150.0,
    chq_phs_range: float | None = None,
) -> dict[str, Any]:
    """Score one follow-up against its baseline and break the TIS down by measure.

    Same rules and engine as :func:`myotrial.scoring.score_visits` (the range checks of
    :func:`myotrial.tables.visits.check_measure_ranges`, then :func:`score_arrays`), without
    building a DataFrame, so one call takes well under a millisecond (the web calculator).

    Parameters
    ----------
    baseline, follow_up : values by visits-table column name (``pga``, ``mmt8``, ``ck``, ...);
        ``None`` or absent = not measured.
    ulns : upper limits of normal by enzyme (``{"ck": 200}``), the same at both visits.

    Returns
    -------
    dict with ``tis`` (None unless all six measures are given), ``tis_partial`` (points of the
    measures given), ``category``, ``missing_measures``, per-measure ``measures`` (baseline,
    follow-up, percent improvement, points, max points), ``doi_met``, ``worsening``,
    ``worsening_clauses`` and the rules ``citation``.

    Raises
    ------
    InputValidationError
        A value out of range or not a finite number (located by visit and column).
    ValueError
        Unknown measure, population or measure set, or the CHQ-PhS range missing for PRINTO.
    """
    unknown = sorted((set(baseline) | set(follow_up)) - set(PATIENT_MEASURES))
    if unknown:
        raise ValueError(
            f"unknown measure(s): {', '.join(unknown)}; valid: {', '.join(PATIENT_MEASURES)}"
        )
    numeric: dict[str, np.ndarray] = {}
    problems: list[Problem] = []
    for name in PATIENT_MEASURES:
        b, f = baseline.get(name), follow_up.get(name)
        if b is None and f is None:
            continue
        numeric[name] = _pair(name, b, f, problems)
    for enzyme, uln in (ulns or {}).items():
        if uln is not None:
            numeric[f"{enzyme}_uln"] = _pair(f"{enzyme}_uln", uln, uln, problems)
    numeric["mmt8_max"] = _pair("mmt8_max", mmt8_max, mmt8_max, problems)
    if not problems:

        def add(mask: np.ndarray, column: str, rule: str) -> None:
            for i in np.flatnonzero(mask).tolist():
                value = numeric[column][i] if column in numeric else None
                problems.append(_problem(i, column, value, rule))

        if not float(mmt8_max) > 0:
            problems.append(_problem(0, "mmt8_max", mmt8_max, "mmt8_max must be > 0"))
        check_measure_ranges(numeric, add)
    if problems:
        raise InputValidationError(problems, "visits")
    config = ScoringConfig(
        population=population,
        measure_set=measure_set,
        partial=True,
        mmt8_max=mmt8_max,
        chq_phs_range=chq_phs_range,
    )
    res = score_arrays(
        np.zeros(2, dtype=np.int64), np.array([0.0, 1.0]), numeric, config, details=True
    )
    return _breakdown(res, numeric, population, measure_set)


def _pair(column: str, b: Any, f: Any, problems: list[Problem]) -> np.ndarray:
    out = np.full(2, np.nan)
    for i, value in enumerate((b, f)):
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            problems.append(_problem(i, column, value, "must be a number (blank = missing)"))
            continue
        if not math.isfinite(number):
            problems.append(_problem(i, column, value, "must be a number (blank = missing)"))
            continue
        out[i] = number
    return out


def _problem(i: int, column: str, value: Any, rule: str) -> Problem:
    shown = None if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
    return Problem("visits", i + 1, "patient", ("baseline", "follow_up")[i], column, shown, rule)


def _breakdown(
    res: Mapping[str, np.ndarray],
    numeric: Mapping[str, np.ndarray],
    population: str,
    measure_set: str,
) -> dict[str, Any]:
    rules = load_tis_rules()
    ms = rules.measure_set_for(population, measure_set)
    enzymes = load_scales().enzymes
    code = int(res["enzyme_code"][1])
    enzyme = enzymes[code] if code >= 0 else None
    measures = []
    for slot in SLOTS:
        column = ms.slots[slot]
        src = enzyme if column == "enzyme" else column
        values = numeric.get(src) if src is not None else None
        measures.append(
            {
                "slot": slot,
                "measure": src if src is not None else "enzyme (none given)",
                "label": rules.slots[slot].label,
                "baseline": None if values is None else _num(values[0]),
                "follow_up": None if values is None else _num(values[1]),
                "percent_improvement": _num(res[f"improvement_{slot}"][1]),
                "change_basis": "relative to baseline (x ULN)"
                if column == "enzyme"
                else "percent of scale range",
                "points": _num(res[f"points_{slot}"][1]),
                "max_points": rules.slots[slot].max_points,
            }
        )
    missing = [m["measure"] for m in measures if m["points"] is None]
    complete = not missing
    tis = _num(res["tis"][1])
    category = int(res["tis_category_code"][1])
    doi = int(res["doi_met"][1])
    worse = int(res["worsening"][1])
    return {
        "population": population,
        "measure_set": measure_set,
        "tis": tis if complete else None,
        "tis_partial": None if complete else tis,
        "category": CATEGORY_LABELS[category] if complete and category >= 0 else None,
        "missing_measures": missing,
        "measures": measures,
        "doi_met": None if doi < 0 else doi == 1,
        "worsening": None if worse < 0 else worse == 1,
        "worsening_clauses": CLAUSE_LABELS[int(res["clause_code"][1])],
        "citation": rules.citation,
    }


def _num(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return None if math.isnan(f) else f
