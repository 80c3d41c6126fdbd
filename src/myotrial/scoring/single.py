"""One patient's TIS, measure by measure (the IMACS calculator), on the same engine.

Used by ``myotrial tis`` and the web calculator: both build a two-visit table (baseline and
follow-up) and score it with :func:`myotrial.scoring.score_visits`, so a patient scored here
gets exactly the numbers the trial engine gives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from myotrial.rules import SLOTS, load_scales, load_tis_rules
from myotrial.scoring.visits import score_visits

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
        A value out of range or not a number (located by column).
    ValueError
        Unknown population / measure set, or the CHQ-PhS range missing for PRINTO.
    """
    unknown = sorted((set(baseline) | set(follow_up)) - set(PATIENT_MEASURES))
    if unknown:
        raise ValueError(
            f"unknown measure(s): {', '.join(unknown)}; valid: {', '.join(PATIENT_MEASURES)}"
        )
    rows: list[dict[str, Any]] = [
        {"subject_id": "patient", "visit_week": week, "mmt8_max": mmt8_max} for week in (0, 1)
    ]
    for name in PATIENT_MEASURES:
        rows[0][name] = baseline.get(name)
        rows[1][name] = follow_up.get(name)
    for enzyme, uln in (ulns or {}).items():
        if uln is not None:
            rows[0][f"{enzyme}_uln"] = rows[1][f"{enzyme}_uln"] = uln
    frame = pd.DataFrame(rows).dropna(axis=1, how="all")
    scored = score_visits(
        frame,
        population=population,
        measure_set=measure_set,
        chq_phs_range=chq_phs_range,
        partial=True,
        details=True,
    )
    return _breakdown(scored, population, measure_set)


def _breakdown(scored: pd.DataFrame, population: str, measure_set: str) -> dict[str, Any]:
    rules = load_tis_rules()
    ms = rules.measure_set_for(population, measure_set)
    base, row = scored.iloc[0], scored.iloc[1]
    measures = []
    for slot in SLOTS:
        column = ms.slots[slot]
        enzyme = None if pd.isna(row["enzyme_used"]) else str(row["enzyme_used"])
        src = enzyme if column == "enzyme" else column
        present = src if src is not None and src in scored else None
        measures.append(
            {
                "slot": slot,
                "measure": src if src is not None else "enzyme (none given)",
                "label": rules.slots[slot].label,
                "baseline": None if present is None else _num(base[present]),
                "follow_up": None if present is None else _num(row[present]),
                "percent_improvement": _num(row[f"pchg_{slot}"]),
                "change_basis": "relative to baseline (x ULN)"
                if column == "enzyme"
                else "percent of scale range",
                "points": _num(row[f"points_{slot}"]),
                "max_points": rules.slots[slot].max_points,
            }
        )
    missing = [m["measure"] for m in measures if m["points"] is None]
    complete = not missing
    return {
        "population": population,
        "measure_set": measure_set,
        "tis": _num(row["tis"]) if complete else None,
        "tis_partial": None if complete else _num(row["tis"]),
        "category": str(row["tis_category"]) if complete else None,
        "missing_measures": missing,
        "measures": measures,
        "doi_met": None if pd.isna(row["doi_met"]) else bool(row["doi_met"]),
        "worsening": None if pd.isna(row["worsening"]) else bool(row["worsening"]),
        "worsening_clauses": ""
        if pd.isna(row["worsening_clauses"])
        else str(row["worsening_clauses"]),
        "citation": rules.citation,
    }


def _num(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    f = float(value)
    return None if math.isnan(f) else f
