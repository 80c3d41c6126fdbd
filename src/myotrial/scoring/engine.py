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

The per-visit arithmetic runs in compiled, branch-free passes (:mod:`myotrial.scoring._kernel`,
numba); every rule parameter is read here from the rules files and passed in.

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
    MeasureScale,
    MeasureSet,
    TISRules,
    load_deterioration_rules,
    load_doi_rules,
    load_scales,
    load_tis_rules,
)
from myotrial.scoring._kernel import (
    baseline_rows,
    combine_clauses,
    combine_doi,
    combine_tis,
    confirm_deterioration,
    enzyme_ratio,
    is_sorted_by_subject_week,
    slot_scores,
)

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
    """Score every visit of a trial from column arrays (compiled, see ``_kernel``).

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
    ``doi_met``/``worsening`` (int8: 1 true, 0 false, -1 unknown), ``clause_code``
    (bits A=1, B=2, C=4),
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
    tol = tis_rules.edge_tolerance
    base_row = np.full(n_sub, -1, dtype=np.int64)
    bi = np.empty(n, dtype=np.int64)
    baseline_rows(codes, wk, base_row, bi)
    n_slots = len(SLOTS)
    points = np.empty((n_slots, n))
    relative = np.empty((n_slots, n))
    missing_flags = np.empty((n_slots, n), dtype=np.int8)
    improvement = np.empty((n_slots, n if details else 0))
    enzyme_code = np.full(n, -1, dtype=np.int64)
    deltas: dict[str, FloatArray] = {}
    for i, slot in enumerate(SLOTS):
        name = ms.slots[slot]
        rule = tis_rules.slots[slot]
        if name == "enzyme":
            if len(scales.enzymes) > 5:
                raise ValueError("the scoring kernel supports at most five enzymes")
            empty = np.empty(0)
            pairs: list[FloatArray] = []
            for e in (*scales.enzymes, *[""] * (5 - len(scales.enzymes))):
                present = e in columns and f"{e}_uln" in columns
                pairs += (
                    [_column(columns, e, n), _column(columns, f"{e}_uln", n)]
                    if present
                    else [empty, empty]
                )
            x = np.empty(n)
            enzyme_ratio(codes, base_row, *pairs, enzyme_code, x)
            sign, inv_range = -1.0, np.empty(0)  # relative change of value / ULN, lower better
        else:
            scale = scales.measures[name]
            x = _column(columns, name, n)
            sign = 1.0 if scale.higher_is_better else -1.0
            inv_range = _inverse_range(scale, columns, config, ms.name, n)
        # raw cm changes of PGA and extramuscular: deterioration clauses A and B
        deltas[slot] = np.empty(n if slot in ("pga", "extramuscular") else 0)
        slot_scores(
            wk,
            bi,
            x,
            sign,
            inv_range,
            *_band_parameters(rule.edges, rule.points, tol),
            points[i],
            relative[i],
            missing_flags[i],
            deltas[slot],
            improvement[i],
        )
    th = tis_rules.categories[ms.population]
    tis, category = np.empty(n), np.empty(n, dtype=np.int8)
    partial_flag, missing = np.empty(n, dtype=np.bool_), np.empty(n, dtype=np.int64)
    combine_tis(
        wk,
        points,
        missing_flags,
        config.partial,
        th.minimal - tol,
        th.moderate - tol,
        th.major - tol,
        tis,
        category,
        partial_flag,
        missing,
    )
    doi_met = np.empty(n, dtype=np.int8)
    combine_doi(
        wk,
        relative,
        np.array([int(s in doi.measures) for s in SLOTS], dtype=np.int64),
        np.array([int(s in doi.no_worse_measures) for s in SLOTS], dtype=np.int64),
        doi.improved_pct - tol,
        doi.min_improved,
        -doi.worse_pct + tol,
        doi.max_worse,
        doi_met,
    )
    worsening, clause_code = np.empty(n, dtype=np.int8), np.empty(n, dtype=np.int8)
    combine_clauses(
        wk,
        relative,
        deltas["pga"],
        deltas["extramuscular"] if ms.slots["extramuscular"] == "extramuscular" else np.empty(0),
        det.pga_worse_cm - tol,
        slot_index["mmt8"],
        -det.mmt8_worse_pct + tol,
        det.extramuscular_worse_cm - tol,
        np.array([int(s in det.clause_c_measures) for s in SLOTS], dtype=np.int64),
        -det.clause_c_worse_pct + tol,
        det.clause_c_min_worse,
        worsening,
        clause_code,
    )
    order = (
        np.arange(n, dtype=np.int64)
        if is_sorted_by_subject_week(codes, wk)
        else np.lexsort((wk, codes))
    )
    cd_confirmed = np.empty(n, dtype=np.bool_)
    confirm_deterioration(codes, wk, order, worsening, k_consecutive, earliest_week, cd_confirmed)
    out: dict[str, npt.NDArray[np.generic]] = {
        "tis": tis,
        "tis_category_code": category,
        "tis_missing_code": missing,
        "tis_partial": partial_flag,
        "enzyme_code": enzyme_code,
        "doi_met": doi_met,
        "worsening": worsening,
        "clause_code": clause_code,
        "cd_confirmed": cd_confirmed,
        "is_baseline": wk == 0,
    }
    for i, s in enumerate(SLOTS):
        out[f"points_{s}"] = points[i]
        if details:
            out[f"improvement_{s}"] = improvement[i]
            out[f"relative_{s}"] = relative[i]
    return out


def _band_parameters(
    edges: tuple[float, ...], points: tuple[float, ...], tol: float
) -> tuple[float, ...]:
    """Four edges (+ tolerance) and band-0 points plus increments, as the kernel takes them.

    A band set with fewer than four inner edges is padded with edges at +inf (never passed).
    """
    if len(edges) > 4:
        raise ValueError(f"the scoring kernel supports at most 5 bands, got {len(edges) + 1}")
    pad = 4 - len(edges)
    e = [edge + tol for edge in edges] + [np.inf] * pad
    p = list(points) + [points[-1]] * pad
    return (*e, p[0], *(p[j + 1] - p[j] for j in range(4)))


def _inverse_range(
    scale: MeasureScale,
    columns: Mapping[str, FloatArray],
    config: ScoringConfig,
    measure_set: str,
    n: int,
) -> FloatArray:
    """100 / scale range: one value, or one per row when the maximum is a column (MMT-8)."""
    low = scale.min or 0.0
    if scale.max_column is not None:
        mx = columns.get(scale.max_column)
        if mx is not None:
            return np.asarray(100.0 / (np.asarray(mx, dtype=np.float64) - low))
        default = config.mmt8_max if config.mmt8_max is not None else scale.default_max
        return np.array([100.0 / (float(default or np.nan) - low)])
    if scale.range_required_option is not None:
        if config.chq_phs_range is None or not config.chq_phs_range > 0:
            raise ValueError(
                f"measure set {measure_set} uses {scale.name}, whose scale range is not "
                f"published: give it as {scale.range_required_option} (a positive number)"
            )
        return np.array([100.0 / float(config.chq_phs_range)])
    return np.array([100.0 / (float(scale.max or np.nan) - low)])


def _column(columns: Mapping[str, FloatArray], name: str, n: int) -> FloatArray:
    arr = columns.get(name)
    if arr is None:
        return np.full(n, np.nan)
    # numba types read-only arrays differently: require writeable, C-contiguous float64
    return np.require(arr, np.float64, ["C", "W"])
