"""The vectorised scoring engine: whole-trial arrays in, per-visit scores out.

This is the hot path: numpy only, no per-row Python. ``score_visits`` (the table API) prepares
its inputs from a validated visits table; benchmarks call it directly.

Rules (each from ``myotrial/rules/*.toml``, with their citations):

* TIS points and categories: 2016 ACR/EULAR criteria (``tis_2016.toml``).
* Enzyme CSM: the enzyme with the highest value / ULN at baseline, ties broken in the order
  CK, aldolase, LDH, ALT, AST, used at every visit (PROJECT RULE); its change is relative and
  computed on ULN multiples, so a change of laboratory (ULN) between visits is accounted for
  (PROJECT RULE; identical to the raw relative change when the ULN is unchanged).
* IMACS 2004 DOI (``imacs_doi_2004.toml``) and ProDERM worsening clauses A/B/C and confirmation
  (``proderm_deterioration.toml``).

The per-visit arithmetic runs in one compiled pass (:mod:`myotrial.scoring._kernel`, numba);
every rule parameter is read here from the rules files and passed in.

Missing values use three-valued logic for DOI and worsening: *true* when the rule is met by the
measures present whatever the missing ones are, *false* when it cannot be met whatever they are,
*unknown* (NaN) otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from myotrial.rules import (
    SLOTS,
    DeteriorationRules,
    DOIRules,
    MeasureSet,
    TISRules,
    load_deterioration_rules,
    load_doi_rules,
    load_scales,
    load_tis_rules,
)
from myotrial.scoring._kernel import score_kernel

__all__ = ["CATEGORY_LABELS", "CLAUSE_LABELS", "ScoringConfig", "score_arrays"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Category codes 0..3 of ``tis_category_code``; -1 = no TIS.
CATEGORY_LABELS: tuple[str, ...] = ("none", "minimal", "moderate", "major")
#: ``worsening_clauses`` text for each bit code (A=1, B=2, C=4).
CLAUSE_LABELS: tuple[str, ...] = ("", "A", "B", "A;B", "C", "A;C", "B;C", "A;B;C")


@dataclass(frozen=True)
class ScoringConfig:
    """Options of a scoring run. ``None`` means "the default in the rules file".

    Parameters
    ----------
    population : ``"adult"`` or ``"juvenile"`` (category thresholds 20/40/60 or 30/45/70).
    measure_set : ``"imacs"`` or ``"printo"`` (juvenile only); see ``tis_2016.toml``.
    partial : score the measures present when some are missing (TIS flagged partial). Default
        False: a TIS needs all six measures at baseline and at the visit (PROJECT RULE).
    mmt8_max : MMT-8 maximum where the table has no ``mmt8_max`` value (default 150).
    chq_phs_range : scale range of the CHQ physical summary (required for the PRINTO set).
    earliest_week : earliest week of a confirming visit (default 8, ProDERM).
    consecutive_visits : number of consecutive worsening visits that confirm (default 2).
    """

    population: str = "adult"
    measure_set: str = "imacs"
    partial: bool = False
    mmt8_max: float | None = None
    chq_phs_range: float | None = None
    earliest_week: float | None = None
    consecutive_visits: int | None = None

    def resolved(self, tis: TISRules, det: DeteriorationRules) -> tuple[MeasureSet, float, int]:
        ms = tis.measure_set_for(self.population, self.measure_set)
        earliest = det.earliest_week if self.earliest_week is None else float(self.earliest_week)
        k = (
            det.consecutive_visits
            if self.consecutive_visits is None
            else int(self.consecutive_visits)
        )
        if k < 1:
            raise ValueError(f"consecutive_visits must be >= 1, got {k}")
        if earliest < 0:
            raise ValueError(f"earliest_week must be >= 0, got {earliest}")
        return ms, earliest, k


def score_arrays(
    subject_codes: IntArray,
    weeks: npt.NDArray[np.integer] | FloatArray,
    columns: Mapping[str, FloatArray],
    config: ScoringConfig = ScoringConfig(),
    *,
    details: bool = False,
) -> dict[str, npt.NDArray[np.generic]]:
    """Score every visit of a trial from column arrays (one compiled pass, see ``_kernel``).

    Parameters
    ----------
    subject_codes : int array, subject of each row as 0..S-1 (e.g. from ``pandas.factorize``).
    weeks : visit week of each row; 0 is the baseline; each subject has exactly one baseline.
    columns : float arrays (NaN = missing) keyed by visits-table column name
        (pga, ptga, mmt8, mmt8_max, haq, extramuscular, enzymes and ``*_uln``, juvenile columns).
    config : :class:`ScoringConfig`.
    details : also return ``improvement_<slot>`` (absolute % used for points) and
        ``relative_<slot>`` (relative %).

    Returns
    -------
    dict of arrays, one value per row: ``tis``, ``tis_category_code`` (-1..3),
    ``tis_missing_code`` (bit i: slot i missing at baseline; bit 6+i: at the visit; -1 at
    baseline), ``points_<slot>``, ``enzyme_code`` (index into the enzyme order, -1 none),
    ``doi_met``/``worsening`` (1/0/NaN), ``clause_code`` (bits A=1, B=2, C=4),
    ``cd_confirmed`` (bool), ``is_baseline`` (bool), ``tis_partial`` (bool).
    """
    tis_rules = load_tis_rules()
    det = load_deterioration_rules()
    doi: DOIRules = load_doi_rules()
    scales = load_scales()
    ms, earliest_week, k_consecutive = config.resolved(tis_rules, det)
    codes = np.require(subject_codes, np.int64, ["C", "W"])
    wk = np.require(weeks, np.float64, ["C", "W"])
    n = codes.size
    if wk.size != n:
        raise ValueError(f"subject_codes has {n} rows but weeks has {wk.size}")
    n_sub = int(codes.max()) + 1 if n else 0
    has_base = np.zeros(n_sub, dtype=bool)
    has_base[codes[wk == 0]] = True
    if not has_base.all():
        missing = np.flatnonzero(~has_base)[:5].tolist()
        raise ValueError(f"subjects without a baseline (week 0) row, codes {missing}")
    slot_index = {s: i for i, s in enumerate(SLOTS)}
    values = np.full((len(SLOTS), n), np.nan)
    higher, slot_range = np.zeros(6, dtype=bool), np.full(6, np.nan)
    row_range, row_range_slot, enzyme_slot = np.full(n, np.nan), -1, -1
    for i, slot in enumerate(SLOTS):
        name = ms.slots[slot]
        if name == "enzyme":
            enzyme_slot = i
            continue
        scale = scales.measures[name]
        if name in columns:
            values[i] = columns[name]
        higher[i] = scale.higher_is_better
        low = scale.min or 0.0
        if scale.max_column is not None:
            row_range_slot = i
            mx = columns.get(scale.max_column)
            default = config.mmt8_max if config.mmt8_max is not None else scale.default_max
            row_range = (
                np.asarray(mx, dtype=np.float64) - low
                if mx is not None
                else np.full(n, float(default or np.nan) - low)
            )
        elif scale.range_required_option is not None:
            if config.chq_phs_range is None or not config.chq_phs_range > 0:
                raise ValueError(
                    f"measure set {ms.name} uses {name}, whose scale range is not published: "
                    f"give it as {scale.range_required_option} (a positive number)"
                )
            slot_range[i] = float(config.chq_phs_range)
        else:
            slot_range[i] = float(scale.max or np.nan) - low
    edges = np.array([tis_rules.slots[s].edges for s in SLOTS], dtype=np.float64)
    points = np.array([tis_rules.slots[s].points for s in SLOTS], dtype=np.float64)
    th = tis_rules.categories[ms.population]
    order = (
        np.lexsort((wk, codes))
        if n > 1 and not _is_sorted(codes, wk)
        else np.arange(n, dtype=np.int64)
    )
    doi_no_worse = np.array([s in doi.no_worse_measures for s in SLOTS])
    b_slot = slot_index["extramuscular"] if ms.slots["extramuscular"] == "extramuscular" else -1
    (
        tis,
        category,
        missing_code,
        pts,
        imp,
        rel,
        partial_flag,
        enzyme_code,
        doi_met,
        worsening,
        clause_code,
        cd_confirmed,
    ) = score_kernel(
        codes,
        wk,
        order,
        n_sub,
        values,
        higher,
        slot_range,
        np.require(row_range, np.float64, ["C", "W"]),
        row_range_slot,
        enzyme_slot,
        *_enzyme_matrices(columns, scales.enzymes, n),
        edges,
        points,
        tis_rules.edge_tolerance,
        config.partial,
        np.array([th.minimal, th.moderate, th.major]),
        np.array([slot_index[s] for s in doi.measures], dtype=np.int64),
        doi.improved_pct,
        doi.min_improved,
        doi.worse_pct,
        doi.max_worse,
        doi_no_worse,
        slot_index["pga"],
        det.pga_worse_cm,
        slot_index["mmt8"],
        det.mmt8_worse_pct,
        b_slot,
        det.extramuscular_worse_cm,
        np.array([slot_index[s] for s in det.clause_c_measures], dtype=np.int64),
        det.clause_c_worse_pct,
        det.clause_c_min_worse,
        k_consecutive,
        earliest_week,
        details,
    )
    out: dict[str, npt.NDArray[np.generic]] = {
        "tis": tis,
        "tis_category_code": category,
        "tis_missing_code": missing_code,
        "tis_partial": partial_flag,
        "enzyme_code": enzyme_code,
        "doi_met": doi_met,
        "worsening": worsening,
        "clause_code": clause_code,
        "cd_confirmed": cd_confirmed,
        "is_baseline": wk == 0,
    }
    for i, s in enumerate(SLOTS):
        out[f"points_{s}"] = pts[i]
        if details:
            out[f"improvement_{s}"] = imp[i]
            out[f"relative_{s}"] = rel[i]
    return out


def _enzyme_matrices(
    columns: Mapping[str, FloatArray], enzymes: tuple[str, ...], n: int
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Values and ULNs of the enzymes present (rows in rules order) and their codes."""
    present = [j for j, e in enumerate(enzymes) if e in columns]
    vals = np.full((len(present), n), np.nan)
    ulns = np.full((len(present), n), np.nan)
    for row, j in enumerate(present):
        vals[row] = columns[enzymes[j]]
        if f"{enzymes[j]}_uln" in columns:
            ulns[row] = columns[f"{enzymes[j]}_uln"]
    return vals, ulns, np.asarray(present, dtype=np.int64)


def _is_sorted(codes: IntArray, weeks: FloatArray) -> bool:
    """True when rows are grouped by subject (codes non-decreasing) and weeks increase within."""
    dc = np.diff(codes)
    if (dc < 0).any():
        return False
    same = dc == 0
    return bool(np.all(np.diff(weeks)[same] > 0))
