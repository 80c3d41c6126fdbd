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
from myotrial.scoring.change import (
    compute_absolute_improvement,
    compute_band_points,
    compute_relative_improvement,
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

    def resolved(
        self, tis: TISRules, det: DeteriorationRules
    ) -> tuple[MeasureSet, float, int]:
        ms = tis.measure_set_for(self.population, self.measure_set)
        earliest = det.earliest_week if self.earliest_week is None else float(self.earliest_week)
        k = det.consecutive_visits if self.consecutive_visits is None else int(self.consecutive_visits)
        if k < 1:
            raise ValueError(f"consecutive_visits must be >= 1, got {k}")
        if earliest < 0:
            raise ValueError(f"earliest_week must be >= 0, got {earliest}")
        return ms, earliest, k


def _tri(definite: npt.NDArray[np.bool_], possible: npt.NDArray[np.bool_]) -> FloatArray:
    """Three-valued result as float: 1 true, 0 false, NaN unknown."""
    out = np.full(definite.shape, np.nan)
    out[definite] = 1.0
    out[~possible] = 0.0
    return out


def score_arrays(
    subject_codes: IntArray,
    weeks: npt.NDArray[np.integer] | FloatArray,
    columns: Mapping[str, FloatArray],
    config: ScoringConfig = ScoringConfig(),
) -> dict[str, npt.NDArray[np.generic]]:
    """Score every visit of a trial from column arrays.

    Parameters
    ----------
    subject_codes : int array, subject of each row as 0..S-1 (e.g. from ``pandas.factorize``).
    weeks : visit week of each row; 0 is the baseline; each subject has exactly one baseline.
    columns : float arrays (NaN = missing) keyed by visits-table column name
        (pga, ptga, mmt8, mmt8_max, haq, extramuscular, enzymes and ``*_uln``, juvenile columns).
    config : :class:`ScoringConfig`.

    Returns
    -------
    dict of arrays, one value per row: ``tis``, ``tis_category_code`` (-1..3),
    ``tis_missing_code``, ``points_<slot>`` and ``improvement_<slot>`` (absolute % used for
    points), ``relative_<slot>`` (relative %), ``enzyme_code`` (index into the enzyme order,
    -1 none), ``doi_met``/``worsening`` (1/0/NaN), ``clause_code`` (bits A=1, B=2, C=4),
    ``cd_confirmed`` (bool), ``is_baseline`` (bool), ``tis_partial`` (bool).
    """
    tis_rules = load_tis_rules()
    det = load_deterioration_rules()
    doi: DOIRules = load_doi_rules()
    scales = load_scales()
    ms, earliest_week, k_consecutive = config.resolved(tis_rules, det)
    tol = tis_rules.edge_tolerance
    codes = np.asarray(subject_codes, dtype=np.int64)
    wk = np.asarray(weeks, dtype=np.float64)
    n = codes.size
    if wk.size != n:
        raise ValueError(f"subject_codes has {n} rows but weeks has {wk.size}")
    n_sub = int(codes.max()) + 1 if n else 0
    is_base = wk == 0
    base_row = np.full(n_sub, -1, dtype=np.int64)
    base_row[codes[is_base]] = np.flatnonzero(is_base)
    if n and (base_row < 0).any():
        missing = np.flatnonzero(base_row < 0)[:5].tolist()
        raise ValueError(f"subjects without a baseline (week 0) row, codes {missing}")
    bi = base_row[codes]
    nan_col = np.full(n, np.nan)

    def col(name: str) -> FloatArray:
        arr = columns.get(name)
        return nan_col if arr is None else np.asarray(arr, dtype=np.float64)

    out: dict[str, npt.NDArray[np.generic]] = {}
    base_vals: dict[str, FloatArray] = {}
    follow_vals: dict[str, FloatArray] = {}
    rel: dict[str, FloatArray] = {}
    improvement: dict[str, FloatArray] = {}

    # ---- enzyme: most abnormal at baseline (value / ULN), ties in rules order ------------------
    enzyme_code = np.full(n, -1, dtype=np.int64)
    for slot in SLOTS:
        name = ms.slots[slot]
        if name == "enzyme":
            enzymes = scales.enzymes
            base_ratio = np.full((n_sub, len(enzymes)), -np.inf)
            for j, e in enumerate(enzymes):
                r = col(e)[base_row] / col(f"{e}_uln")[base_row]
                base_ratio[:, j] = np.where(np.isnan(r), -np.inf, r)
            chosen = np.argmax(base_ratio, axis=1)
            has_any = np.isfinite(base_ratio[np.arange(n_sub), chosen])
            chosen_sub = np.where(has_any, chosen, -1)
            enzyme_code = chosen_sub[codes]
            f_ratio = np.full(n, np.nan)
            for j, e in enumerate(enzymes):
                m = enzyme_code == j
                if m.any():
                    f_ratio[m] = col(e)[m] / col(f"{e}_uln")[m]
            b_ratio = f_ratio[bi]
            base_vals[slot], follow_vals[slot] = b_ratio, f_ratio
            rel[slot] = compute_relative_improvement(b_ratio, f_ratio, higher_is_better=False)
            improvement[slot] = rel[slot]
            continue
        scale = scales.measures[name]
        f = col(name)
        b = f[bi]
        base_vals[slot], follow_vals[slot] = b, f
        if scale.max_column is not None:
            mx = columns.get(scale.max_column)
            default = config.mmt8_max if config.mmt8_max is not None else scale.default_max
            rng: FloatArray | float = (
                np.asarray(mx, dtype=np.float64) if mx is not None else float(default or np.nan)
            ) - (scale.min or 0.0)
        elif scale.range_required_option is not None:
            if config.chq_phs_range is None or not config.chq_phs_range > 0:
                raise ValueError(
                    f"measure set {ms.name} uses {name}, whose scale range is not published: "
                    f"give it as {scale.range_required_option} (a positive number)"
                )
            rng = float(config.chq_phs_range)
        else:
            rng = float(scale.max) - float(scale.min or 0.0)  # type: ignore[arg-type]
        improvement[slot] = compute_absolute_improvement(
            b, f, rng, higher_is_better=scale.higher_is_better
        )
        rel[slot] = compute_relative_improvement(b, f, higher_is_better=scale.higher_is_better)

    # ---- TIS --------------------------------------------------------------------------------
    points = {s: compute_band_points(improvement[s], tis_rules.slots[s], tol) for s in SLOTS}
    missing_code = np.zeros(n, dtype=np.int64)
    for i, s in enumerate(SLOTS):
        missing_code |= np.isnan(base_vals[s]).astype(np.int64) << i
        missing_code |= np.isnan(follow_vals[s]).astype(np.int64) << (i + len(SLOTS))
    stack = np.vstack([points[s] for s in SLOTS])
    if config.partial:
        any_present = ~np.all(np.isnan(stack), axis=0)
        tis = np.where(any_present, np.nansum(stack, axis=0), np.nan)
        partial_flag = any_present & (missing_code != 0)
    else:
        tis = stack.sum(axis=0)
        partial_flag = np.zeros(n, dtype=bool)
    tis[is_base] = np.nan
    partial_flag[is_base] = False
    thresholds = tis_rules.categories[ms.population]
    category = (
        (tis >= thresholds.minimal - tol).astype(np.int64)
        + (tis >= thresholds.moderate - tol)
        + (tis >= thresholds.major - tol)
    )
    category[np.isnan(tis)] = -1

    # ---- IMACS DOI (three-valued) -----------------------------------------------------------
    imp_def = np.zeros(n, dtype=np.int64)
    worse_def = np.zeros(n, dtype=np.int64)
    unknown = np.zeros(n, dtype=np.int64)
    mmt_worse_def = np.zeros(n, dtype=bool)
    mmt_worse_pos = np.zeros(n, dtype=bool)
    for s in doi.measures:
        r = rel[s]
        known = ~np.isnan(r)
        imp_def += known & (r >= doi.improved_pct - tol)
        w = known & (r <= -doi.worse_pct + tol)
        worse_def += w
        unknown += ~known
        if s in doi.no_worse_measures:
            mmt_worse_def |= w
            mmt_worse_pos |= w | ~known
    doi_true = (imp_def >= doi.min_improved) & (worse_def + unknown <= doi.max_worse) & ~mmt_worse_pos
    doi_possible = (imp_def + unknown >= doi.min_improved) & (worse_def <= doi.max_worse) & ~mmt_worse_def
    doi_met = _tri(doi_true, doi_possible)
    doi_met[is_base] = np.nan

    # ---- ProDERM worsening clauses A/B/C (three-valued) -------------------------------------
    def cm_worse(slot: str, cm: float) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        d = follow_vals[slot] - base_vals[slot]
        known = ~np.isnan(d)
        hit = known & (d >= cm - tol)
        return hit, hit | ~known

    def pct_worse(slot: str, pct: float) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        r = rel[slot]
        known = ~np.isnan(r)
        hit = known & (r <= -pct + tol)
        return hit, hit | ~known

    a1, a1p = cm_worse("pga", det.pga_worse_cm)
    a2, a2p = pct_worse("mmt8", det.mmt8_worse_pct)
    a_def, a_pos = a1 & a2, a1p & a2p
    if ms.slots["extramuscular"] == "extramuscular":
        b_def, b_pos = cm_worse("extramuscular", det.extramuscular_worse_cm)
    else:  # clause B is defined on the MDAAT 10 cm VAS only
        b_def = b_pos = np.zeros(n, dtype=bool)
    c_def_n = np.zeros(n, dtype=np.int64)
    c_pos_n = np.zeros(n, dtype=np.int64)
    for s in det.clause_c_measures:
        hit, pos = pct_worse(s, det.clause_c_worse_pct)
        c_def_n += hit
        c_pos_n += pos
    c_def, c_pos = c_def_n >= det.clause_c_min_worse, c_pos_n >= det.clause_c_min_worse
    clause_code = a_def.astype(np.int64) | (b_def.astype(np.int64) << 1) | (c_def.astype(np.int64) << 2)
    clause_code[is_base] = 0
    worsening = _tri(a_def | b_def | c_def, a_pos | b_pos | c_pos)
    worsening[is_base] = 0.0

    # ---- confirmed deterioration: k consecutive worsening visits, confirming week >= earliest --
    order = np.lexsort((wk, codes)) if n > 1 and not _is_sorted(codes, wk) else np.arange(n)
    cs_codes, cs_weeks = codes[order], wk[order]
    cw = (worsening[order] == 1.0) & ~is_base[order]
    idx = np.arange(n)
    start = np.ones(n, dtype=bool)
    start[1:] = cs_codes[1:] != cs_codes[:-1]
    breaks = np.where(~cw, idx, -1)
    breaks = np.where(start & cw, idx - 1, breaks)
    run = idx - np.maximum.accumulate(breaks) if n else idx
    event = (run >= k_consecutive) & (cs_weeks >= earliest_week)
    cum = np.cumsum(event)
    start_idx = np.maximum.accumulate(np.where(start, idx, 0)) if n else idx
    confirmed_sorted = (cum - (cum[start_idx] - event[start_idx])) > 0
    cd_confirmed = np.empty(n, dtype=bool)
    cd_confirmed[order] = confirmed_sorted

    out["tis"] = tis
    out["tis_category_code"] = category
    out["tis_missing_code"] = np.where(is_base, -1, missing_code)
    out["tis_partial"] = partial_flag
    for s in SLOTS:
        pts = points[s].copy()
        pts[is_base] = np.nan
        out[f"points_{s}"] = pts
        out[f"improvement_{s}"] = improvement[s]
        out[f"relative_{s}"] = rel[s]
    out["enzyme_code"] = enzyme_code
    out["doi_met"] = doi_met
    out["worsening"] = worsening
    out["clause_code"] = clause_code
    out["cd_confirmed"] = cd_confirmed
    out["is_baseline"] = is_base
    return out


def _is_sorted(codes: IntArray, weeks: FloatArray) -> bool:
    """True when rows are grouped by subject (codes non-decreasing) and weeks increase within."""
    dc = np.diff(codes)
    if (dc < 0).any():
        return False
    same = dc == 0
    return bool(np.all(np.diff(weeks)[same] > 0))
