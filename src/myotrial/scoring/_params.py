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

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from myotrial.rules import (
    SLOTS,
    DeteriorationRules,
    DOIRules,
    MeasureSet,
    Scales,
    TISRules,
)

__all__ = ["SlotParameters", "band_parameters", "name_outputs", "rule_parameters",
           "slot_parameters"]

T = TypeVar("T")
C = TypeVar("C")

Rules = tuple[float, ...]
Weights = tuple[tuple[int, ...], ...]


def band_parameters(
    edges: tuple[float, ...], points: tuple[float, ...], tol: float
) -> tuple[float, ...]:
    """Four edges (+ tolerance) and band-0 points plus increments, as the row logic takes them.

    A band set with fewer than four inner edges is padded with edges at +inf (never passed).
    """
    if len(edges) > 4:
        raise ValueError(f"the scoring kernel supports at most 5 bands, got {len(edges) + 1}")
    pad = 4 - len(edges)
    e = [edge + tol for edge in edges] + [math.inf] * pad
    p = list(points) + [points[-1]] * pad
    return (*e, p[0], *(p[j + 1] - p[j] for j in range(4)))


@dataclass(frozen=True)
class SlotParameters(Generic[C]):
    """Per TIS slot: the parameters (sign, relative flag, 100 / range, band parameters) and the
    value column; the enzyme values and ULNs (five places); the per-row maximum column and its
    slot and low end (-1 / empty: none); the enzyme slot."""

    params: tuple[tuple[float, ...], ...]
    xs: tuple[C, ...]
    ev: tuple[C, ...]
    eu: tuple[C, ...]
    enzyme_slot: int
    max_slot: int
    max_col: C
    max_low: float


def slot_parameters(
    tis_rules: TISRules,
    scales: Scales,
    ms: MeasureSet,
    columns: Collection[str],
    column: Callable[[str], C],
    empty: C,
    *,
    mmt8_max: float | None,
    chq_phs_range: float | None,
) -> SlotParameters[C]:
    """The slot parameters and value columns of ``ms`` for the table engine (numpy arrays) and
    the one-patient path (lists) alike: ``columns`` names the columns given, ``column(name)``
    wraps one, ``empty`` stands for a column not given. Scale ranges from ``measures.toml``;
    ``mmt8_max`` where the table has no per-row maximum, ``chq_phs_range`` where the scale
    range is not published (PRINTO's CHQ-PhS)."""
    tol = tis_rules.edge_tolerance
    params: list[tuple[float, ...]] = []
    xs: list[C] = []
    enzyme_slot = max_slot = -1
    max_low = 0.0
    max_col = empty
    if len(scales.enzymes) > 5:
        raise ValueError("the scoring kernel supports at most five enzymes")
    ev, eu = [empty] * 5, [empty] * 5
    for k, slot in enumerate(SLOTS):
        name = ms.slots[slot]
        band = band_parameters(tis_rules.slots[slot].edges, tis_rules.slots[slot].points, tol)
        if name == "enzyme":
            enzyme_slot = k
            for j, e in enumerate(scales.enzymes):
                if e in columns and f"{e}_uln" in columns:
                    ev[j], eu[j] = column(e), column(f"{e}_uln")
            xs.append(empty)
            # relative change of value / ULN, lower is better
            params.append((-1.0, 1.0, 0.0, *band))
            continue
        scale = scales.measures[name]
        xs.append(column(name) if name in columns else empty)
        sign = 1.0 if scale.higher_is_better else -1.0
        low = scale.min or 0.0
        inv: float
        if scale.max_column is not None and scale.max_column in columns:  # per-row maximum
            if max_slot >= 0:
                raise ValueError("the scoring kernel supports one per-row scale maximum")
            max_slot, max_col, max_low = k, column(scale.max_column), low
            inv = 0.0  # the row logic computes 100 / (maximum - minimum) row by row
        elif scale.max_column is not None:
            default = mmt8_max if mmt8_max is not None else scale.default_max
            inv = 100.0 / (float(default or math.nan) - low)
        elif scale.range_required_option is not None:
            if chq_phs_range is None or not chq_phs_range > 0:
                raise ValueError(
                    f"measure set {ms.name} uses {scale.name}, whose scale range is not "
                    f"published: give it as {scale.range_required_option} (a positive number)"
                )
            inv = 100.0 / float(chq_phs_range)
        else:
            inv = 100.0 / (float(scale.max or math.nan) - low)
        params.append((sign, 0.0, inv, *band))
    return SlotParameters(tuple(params), tuple(xs), tuple(ev), tuple(eu), enzyme_slot,
                          max_slot, max_col, max_low)


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
