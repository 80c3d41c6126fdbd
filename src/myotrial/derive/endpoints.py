"""Endpoint derivations from scored visits and ADSL: responders (ADRS-like), the long
efficacy table (ADEFF, BDS-like) and time-to-event rows (ADTTE-like).

Rules (``protocols/proderm.toml``; proderm.md Endpoints):

* thresholds: the endpoints of ``policy.binary_endpoints()`` / ``time_to_event_endpoints()``
  (adult category cut-offs in the protocol file read as the population's categories: a
  juvenile protocol uses 30/45/70: endpoints name a category resolved on load);
* binary responder: TIS >= threshold at the endpoint week, and no confirmed deterioration up to
  ``no_deterioration_through_week`` when the endpoint says so; every patient of the population
  is in the denominator; no TIS at that week (dropout, missing measure, no visit) makes a
  non-responder (non-responder imputation), with the reason written out;
* populations: ``randomised`` (by randomised arm) or ``entered_extension`` (by ORIGINAL arm);
* time to event: first post-baseline visit up to ``through_week`` with TIS >= threshold (or
  confirmed deterioration); censored at the last assessment in the window, or at a crossover
  (PROJECT RULE: after switching, responses are no longer those of the randomised arm).
  Time in days from the baseline visit date when both dates exist, else weeks x 7.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from myotrial.derive.safety import PERIOD_NUMBERS
from myotrial.protocol import BinaryEndpoint, Protocol, TimeToEventEndpoint

__all__ = ["ADEFF_PARAMS", "derive_adeff", "derive_adrs", "derive_adtte"]

#: BDS parameters: PARAMCD -> (visits column, label)
ADEFF_PARAMS: dict[str, tuple[str, str]] = {
    "TIS": ("tis", "Total Improvement Score (2016 ACR/EULAR)"),
    "PGA": ("pga", "Physician global activity (VAS, cm)"),
    "PTGA": ("ptga", "Patient global activity (VAS, cm)"),
    "EXTRAMUS": ("extramuscular", "Extramuscular activity (MDAAT VAS, cm)"),
    "MMT8": ("mmt8", "Manual muscle testing, MMT-8"),
    "HAQ": ("haq", "HAQ disability index"),
    "CK": ("ck", "Creatine kinase (U/L)"),
    "ALDOLASE": ("aldolase", "Aldolase (U/L)"),
    "LDH": ("ldh", "Lactate dehydrogenase (U/L)"),
    "ALT": ("alt", "Alanine aminotransferase (U/L)"),
    "AST": ("ast", "Aspartate aminotransferase (U/L)"),
    "CDASIA": ("cdasi_activity", "CDASI activity"),
    "CDASID": ("cdasi_damage", "CDASI damage"),
    "CHAQ": ("chaq", "CHAQ"),
    "CMAS": ("cmas", "CMAS"),
    "DAS": ("das", "Disease Activity Score (JDM)"),
}


def _population(adsl: pd.DataFrame, population: str) -> pd.Series:
    rand = adsl["RANDFL"] == "Y"
    if population == "entered_extension":
        return rand & (adsl["EXTFL"] == "Y")
    return rand


def _visit(scored: pd.DataFrame, week: int) -> pd.DataFrame:
    """The visits at ``week`` indexed by subject: the columns the responder rule reads."""
    cols = [c for c in ("visit_week", "tis", "tis_missing_reason") if c in scored.columns]
    sel = np.flatnonzero(scored["visit_week"].to_numpy() == week)
    at = scored[cols].iloc[sel]
    at.index = pd.Index(scored["subject_id"].iloc[sel], name="subject_id")
    return at


def derive_adrs(scored: pd.DataFrame, adsl: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """One row per subject x binary endpoint, for every patient of the endpoint's population.

    Columns: USUBJID, ARMCD (original randomised arm), PARAMCD, PARAM, AVISITN, AVAL (1/0),
    AVALC (Y/N), TIS, CDWK, REASON.
    """
    parts = []
    ids = adsl.set_index("USUBJID")
    visits: dict[int, pd.DataFrame] = {}
    for ep in protocol.policy.binary_endpoints():
        if ep.week not in visits:
            visits[ep.week] = _visit(scored, ep.week)
        parts.append(_responders(visits[ep.week], ids, ep))
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def _responders(visit: pd.DataFrame, adsl: pd.DataFrame, ep: BinaryEndpoint) -> pd.DataFrame:
    """``visit``: the visits at the endpoint's week (:func:`_visit`)."""
    pop = _population(adsl.reset_index(), ep.population).to_numpy()
    sub = adsl[pop]
    at = visit.reindex(sub.index)
    tis = at["tis"].astype("float64") if "tis" in at else pd.Series(np.nan, index=sub.index)
    has_visit = (
        at["visit_week"].notna() if "visit_week" in at else pd.Series(False, index=sub.index)
    )
    cd = pd.Series(False, index=sub.index)
    if ep.no_deterioration_through_week is not None:
        cd = (sub["CDWK"] <= ep.no_deterioration_through_week).fillna(False)
    meets = (tis >= ep.threshold).fillna(False)
    responder = meets & ~cd
    missing_reason = (
        at["tis_missing_reason"].astype("string").fillna("TIS missing")
        if "tis_missing_reason" in at
        else pd.Series("TIS missing", index=sub.index)
    )
    cd_txt = sub["CDWK"].round().astype("Int64").astype("string")
    tis_txt = tis.map(lambda v: f"{v:g}", na_action="ignore").astype("string")
    op = np.where(meets, ">=", "<")
    reason = np.select(
        [cd.to_numpy(), ~has_visit.to_numpy(dtype=bool), tis.isna().to_numpy()],
        [
            ("confirmed deterioration at week " + cd_txt + ": non-responder").astype(object),
            (
                f"no week-{ep.week} visit ("
                + sub["STATUS_REASON"].astype("string")
                + "): non-responder imputation"
            ).astype(object),
            (f"no TIS at week {ep.week} (" + missing_reason + "): non-responder imputation").astype(
                object
            ),
        ],
        default=("TIS " + tis_txt + " " + op + f" {ep.threshold:g} at week {ep.week}").astype(
            object
        ),
    )
    return pd.DataFrame(
        {
            "USUBJID": sub.index.to_numpy(),
            "ARMCD": sub["ARMCD"].to_numpy(),
            "PARAMCD": ep.name,
            "PARAM": ep.label,
            "POPULATION": ep.population,
            "AVISITN": ep.week,
            "AVAL": responder.astype(int).to_numpy(),
            "AVALC": np.where(responder, "Y", "N"),
            "TIS": tis.to_numpy(),
            "CDWK": sub["CDWK"].to_numpy(),
            "REASON": reason,
        }
    )


def _categorical(codes: npt.NDArray[np.intp], labels: Sequence[object]) -> pd.Categorical:
    """``labels[codes]`` (code -1: missing) as a Categorical whose categories are the labels
    used, sorted as text sorts (so sorting and comparing the column behave as for strings)."""
    lab = pd.Index(list(labels), dtype=object)
    used = np.zeros(len(lab) + 1, dtype=bool)
    used[codes] = True
    used = used[:-1] & ~np.asarray(lab.isna())
    idx = np.flatnonzero(used)
    text = np.array([str(v) for v in lab[idx]], dtype=object)
    keep, inverse = np.unique(text, return_inverse=True)
    remap = np.full(len(lab) + 1, -1, dtype=np.int32)
    remap[idx] = inverse
    return pd.Categorical.from_codes(remap[codes], categories=pd.Index(keep, dtype=object))


def _factor(values: npt.ArrayLike) -> tuple[npt.NDArray[np.intp], list[object]]:
    """Integer codes (-1 = missing) and the labels of ``values``."""
    codes, uniques = pd.factorize(pd.Series(values, copy=False), use_na_sentinel=True)
    return np.asarray(codes, dtype=np.intp), list(uniques)


def _output_order(
    subj: npt.NDArray[np.intp], weeks: npt.NDArray[np.float64], present: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(row, parameter) of every present value, ordered by subject code, parameter, week and
    row (the order of a stable sort on those keys of the melted table)."""
    n, n_par = present.shape
    rows = np.lexsort((np.arange(n), weeks, subj))  # rows by subject, week, position
    s_sorted = subj[rows]
    n_subj = int(s_sorted[-1]) + 1 if n else 0
    start = np.searchsorted(s_sorted, np.arange(n_subj))
    within = np.arange(n) - start[s_sorted]
    k = int(within.max()) + 1 if n else 0
    if n_subj * k <= 4 * n + 1024:  # dense grid subject x parameter x visit, no sort
        grid = np.full((n_subj, k), -1, dtype=np.intp)
        grid[s_sorted, within] = rows
        cube = np.where(grid[:, None, :] >= 0, present[grid, :].transpose(0, 2, 1), False)
        s_idx, p_idx, v_idx = np.nonzero(cube)
        return grid[s_idx, v_idx], p_idx.astype(np.intp)
    pos = np.empty(n, dtype=np.int64)
    pos[rows] = np.arange(n)
    r_idx, p_idx = np.nonzero(present)
    key = (subj[r_idx].astype(np.int64) * n_par + p_idx) * max(n, 1) + pos[r_idx]
    order = np.argsort(key, kind="stable")
    return r_idx[order].astype(np.intp), p_idx[order].astype(np.intp)


def derive_adeff(scored: pd.DataFrame, adsl: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """Long BDS-like table: one row per subject x visit x parameter with a value.

    AVAL, BASE (week 0), CHG = AVAL - BASE, PCHG = 100 x CHG / BASE (blank when BASE is 0),
    AVALC (TIS category of the protocol's population), ABLFL (baseline), APERIOD (ADSL period
    number: 1 randomised, 2 after the switch, 3 extension) and APERIODC (its code), TRTA (actual
    treatment at the visit) - both from ``policy.period_at_weeks`` / ``treatment_at_weeks`` with
    ADSL's ``CROSSWK`` (a visit at the switch week is after the switch; the randomised period's
    end week belongs to the randomised period) - WORSFL, CDFL (confirmed deterioration at or
    before this visit), ENZYME (the TIS enzyme). Rows ordered by USUBJID, parameter (the order
    of :data:`ADEFF_PARAMS`) and AVISITN.

    Built from the (visits x parameters) value matrix without melting: subject ids are
    factorised once (codes in text order), the baseline is each subject's week-0 row, and the
    repeated text columns (USUBJID, ARMCD, TRTA, APERIODC, PARAMCD, PARAM, AVALC, ABLFL, WORSFL,
    CDFL, ENZYME) are pandas Categoricals (values as before; categories sorted as text).
    """
    params = [(k, v) for k, v in ADEFF_PARAMS.items() if v[0] in scored.columns]
    n = len(scored)
    values = np.empty((n, len(params)), dtype=np.float64)
    for j, (_, (col, _)) in enumerate(params):
        values[:, j] = scored[col].to_numpy(dtype=np.float64, na_value=np.nan)
    present = ~np.isnan(values)
    subj, ids = pd.factorize(scored["subject_id"], sort=True)
    subj = np.asarray(subj, dtype=np.intp)
    week_raw = scored["visit_week"].to_numpy()
    weeks = week_raw.astype(np.float64)
    r, p = _output_order(subj, weeks, present)

    # per subject (ids in text order): ADSL arm and switch week, the week-0 row
    adsl_i = adsl.set_index("USUBJID")
    id_index = pd.Index(ids)
    arm_s = adsl_i["ARMCD"].reindex(id_index).to_numpy(dtype=object)
    cross_s = adsl_i["CROSSWK"].reindex(id_index).astype("float64").to_numpy()
    base_row = np.full(len(ids) + 1, -1, dtype=np.intp)
    at0 = np.flatnonzero(week_raw == 0)
    base_row[subj[at0[::-1]]] = at0[::-1]  # first week-0 row of each subject

    # per visit row: period, treatment, flags
    policy = protocol.policy
    cross_r = cross_s[subj]
    period_r = policy.period_at_weeks(weeks, cross_r)
    trta_r = policy.treatment_at_weeks(arm_s[subj], weeks, cross_r)
    per_code, per_labels = _factor(period_r)
    trt_code, trt_labels = _factor(trta_r)
    arm_code_s, arm_labels = _factor(arm_s)
    worse_r = scored["worsening"].fillna(False).astype(bool).to_numpy()
    cd_r = scored["cd_confirmed"].astype(bool).to_numpy()
    flag_labels = ["", "Y"]

    aval = values[r, p]
    b = base_row[subj[r]]
    base = np.where(b >= 0, values[b, p], np.nan)
    tis_col = next((j for j, (k, _) in enumerate(params) if k == "TIS"), -1)
    base[p == tis_col] = np.nan  # TIS is already a change score
    chg = aval - base
    with np.errstate(divide="ignore", invalid="ignore"):
        pchg = 100.0 * chg / base
    pchg[base == 0] = np.nan
    cat_tis = pd.Categorical(scored["tis_category"])
    enz = pd.Categorical(scored["enzyme_used"])
    tis_codes = np.where(p == tis_col, np.asarray(cat_tis.codes)[r], -1).astype(np.intp)
    per_numbers = np.array([PERIOD_NUMBERS[str(c)] for c in per_labels] + [0], dtype=np.int64)
    out = pd.DataFrame(
        {
            "USUBJID": _categorical(subj[r], list(ids)),
            "ARMCD": _categorical(arm_code_s[subj[r]], arm_labels),
            "TRTA": _categorical(trt_code[r], trt_labels),
            "APERIOD": per_numbers[per_code[r]],
            "APERIODC": _categorical(per_code[r], per_labels),
            "AVISITN": week_raw[r],
            "ADT": scored["visit_date"].array.take(r) if "visit_date" in scored else None,
            "PARAMCD": _categorical(p, [k for k, _ in params]),
            "PARAM": _categorical(p, [v[1] for _, v in params]),
            "AVAL": aval,
            "AVALC": _categorical(tis_codes, list(cat_tis.categories)),
            "BASE": base,
            "CHG": chg,
            "PCHG": pchg,
            "ABLFL": _categorical((weeks[r] == 0).astype(np.intp), flag_labels),
            "WORSFL": _categorical(worse_r[r].astype(np.intp), flag_labels),
            "CDFL": _categorical(cd_r[r].astype(np.intp), flag_labels),
            "ENZYME": _categorical(np.asarray(enz.codes, dtype=np.intp)[r], list(enz.categories)),
        },
        copy=False,
    )
    return out


def _days(scored: pd.DataFrame) -> pd.Series:
    """Study day of each visit: date difference from the baseline visit, else weeks x 7."""
    weeks_days = scored["visit_week"].astype("float64") * 7.0
    if "visit_date" not in scored:
        return weeks_days
    dates = pd.to_datetime(scored["visit_date"], errors="coerce")
    base = dates.where(scored["visit_week"] == 0).groupby(scored["subject_id"]).transform("first")
    days = (dates - base).dt.days.astype("float64")
    return days.where(days.notna(), weeks_days)


def derive_adtte(scored: pd.DataFrame, adsl: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """One row per randomised subject x time-to-event endpoint.

    Columns: USUBJID, ARMCD, PARAMCD, PARAM, AVAL (days), AVALU, CNSR (0 event, 1 censored),
    EVNTDESC / CNSDTDSC.
    """
    rand = adsl[adsl["RANDFL"] == "Y"].set_index("USUBJID")
    day = _days(scored).to_numpy(dtype=np.float64)
    codes, uniques = pd.factorize(scored["subject_id"])
    where = np.asarray(rand.index.get_indexer(pd.Index(uniques)), dtype=np.intp)
    pos = where[np.asarray(codes, dtype=np.intp)] if len(codes) else np.zeros(0, np.intp)
    week = scored["visit_week"].to_numpy(dtype=np.float64)
    cross_s = rand["CROSSWK"].to_numpy(dtype=np.float64)
    # visits of subjects not randomised (pos -1) get no crossover week; with no randomised
    # subject at all there is nothing to take from
    cross = np.full(len(pos), np.nan)
    if len(cross_s):
        cross = np.where(pos >= 0, cross_s[np.where(pos >= 0, pos, 0)], np.nan)
    rows = _TteRows(pos, week, day, cross, len(rand))
    parts = []
    for ep in protocol.policy.time_to_event_endpoints():
        parts.append(_tte(scored, rows, rand, ep))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


class _TteRows:
    """Visit rows with their randomised subject's position (-1: not randomised), week, study
    day and switch week (NaN: no switch)."""

    def __init__(
        self,
        pos: npt.NDArray[np.intp],
        week: npt.NDArray[np.float64],
        day: npt.NDArray[np.float64],
        cross: npt.NDArray[np.float64],
        n: int,
    ) -> None:
        self.pos, self.week, self.day, self.cross, self.n = pos, week, day, cross, n


def _tte(
    scored: pd.DataFrame, rows: _TteRows, rand: pd.DataFrame, ep: TimeToEventEndpoint
) -> pd.DataFrame:
    with np.errstate(invalid="ignore"):
        usable = (
            (rows.pos >= 0)
            & (rows.week > 0)
            & (rows.week <= ep.through_week)
            & ~(rows.week > rows.cross)
        )
    if ep.event == "tis":
        tis = scored["tis"].to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            hit = tis >= float(ep.threshold or 0)
        desc = f"first visit with TIS >= {ep.threshold:g}"
    else:
        hit = scored["cd_confirmed"].astype(bool).to_numpy()
        desc = "confirmed clinical deterioration (confirming visit)"
    event = usable & hit
    event_day = np.full(rows.n, np.nan)
    np.fmin.at(event_day, rows.pos[event], rows.day[event])
    censor_day = np.full(rows.n, np.nan)
    np.fmax.at(censor_day, rows.pos[usable], rows.day[usable])
    censor_day = np.where(np.isnan(censor_day), 0.0, censor_day)
    is_event = ~np.isnan(event_day)  # an event at a NaN day is none (groupby.min skips NaN)
    ids = rand.index
    crossed = rand["CROSSWK"].notna() & (rand["CROSSWK"] <= ep.through_week)
    cens_desc = np.where(
        crossed,
        "censored at the last assessment before the crossover",
        f"censored at the last assessment up to week {ep.through_week}",
    )
    return pd.DataFrame(
        {
            "USUBJID": ids.to_numpy(),
            "ARMCD": rand["ARMCD"].to_numpy(),
            "PARAMCD": ep.name,
            "PARAM": ep.label,
            "AVAL": np.where(is_event, event_day, censor_day),
            "AVALU": "DAYS",
            "CNSR": np.where(is_event, 0, 1),
            "EVNTDESC": np.where(is_event, desc, cens_desc),
        }
    )
