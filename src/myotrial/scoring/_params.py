"""The rule parameters the engine's row logic (:mod:`myotrial.scoring._rows`) reads, packed
once from the rules files for both callers: the table engine (:mod:`.engine`) and the
one-patient path (:mod:`.single`). Plain Python (no numpy), so ``myotrial tis`` stays light.

Order of ``rules`` (the positions ``_rows.score_chunk`` reads): category thresholds (minimal,
moderate, major; closed edges minus the edge tolerance), partial flag, IMACS DOI (improved %,
minimum improved, worse %, maximum worse), ProDERM clauses A (PGA cm, MMT-8 %), B
(extramuscular cm), C (worse %, minimum worse), consecutive visits, earliest week, the enzyme
slot, the MMT-8 maximum slot and its low end, and the slots of PGA, MMT-8 and extramuscular
(-1 when the measure set has no MDAAT VAS).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from myotrial.rules import SLOTS, DeteriorationRules, DOIRules, MeasureSet, TISRules

__all__ = ["name_outputs", "rule_parameters"]

T = TypeVar("T")

Rules = tuple[float, ...]
Weights = tuple[tuple[int, ...], ...]


def rule_parameters(
    tis_rules: TISRules,
    doi: DOIRules,
    det: DeteriorationRules,
    ms: MeasureSet,
    *,
    tol: float,
    partial: bool,
    k_consecutive: int,
    earliest_week: float,
    enzyme_slot: int,
    max_slot: int,
    max_low: float,
) -> tuple[Rules, Weights]:
    """``(rules, weights)``: the scalar rule parameters and the 0/1 membership of each slot in
    the DOI measures, the DOI no-worse measures and clause C's measures."""
    slot_index = {s: i for i, s in enumerate(SLOTS)}
    th = tis_rules.categories[ms.population]
    rules = (
        th.minimal - tol,
        th.moderate - tol,
        th.major - tol,
        1.0 if partial else 0.0,
        doi.improved_pct - tol,
        doi.min_improved,
        -doi.worse_pct + tol,
        doi.max_worse,
        det.pga_worse_cm - tol,
        -det.mmt8_worse_pct + tol,
        det.extramuscular_worse_cm - tol,
        -det.clause_c_worse_pct + tol,
        det.clause_c_min_worse,
        k_consecutive,
        earliest_week,
        enzyme_slot,
        max_slot,
        max_low,
        slot_index["pga"],
        slot_index["mmt8"],
        slot_index["extramuscular"] if ms.slots["extramuscular"] == "extramuscular" else -1,
    )
    weights = tuple(
        tuple(int(s in group) for s in SLOTS)
        for group in (doi.measures, doi.no_worse_measures, det.clause_c_measures)
    )
    return rules, weights


def name_outputs(
    tis: T,
    flags: Sequence[T],
    confirmed: T,
    points: Sequence[T],
    changes: Sequence[T],
    details: bool,
) -> dict[str, T]:
    """The row logic's output buffers by result name (the positions ``_rows.score_chunk``
    writes): TIS, the eight flag columns, confirmation, the six slots' points and, with
    ``details``, their absolute and relative improvements."""
    result: dict[str, T] = {
        "tis": tis,
        "tis_category_code": flags[0],
        "tis_missing_code": flags[5],
        "tis_partial": flags[6],
        "enzyme_code": flags[4],
        "doi_met": flags[1],
        "worsening": flags[2],
        "clause_code": flags[3],
        "cd_confirmed": confirmed,
        "is_baseline": flags[7],
    }
    for i, s in enumerate(SLOTS):
        result[f"points_{s}"] = points[i]
        if details:
            result[f"improvement_{s}"] = changes[i]
            result[f"relative_{s}"] = changes[6 + i]
    return result
