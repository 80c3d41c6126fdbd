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
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from pandas.api.extensions import ExtensionArray

from myotrial.derive._keys import distinct_rows, subject_positions
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


def _at_week(
    scored: pd.DataFrame, pos: npt.NDArray[np.intp], n: int, week: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.object_]]:
    """Per subject position: has a visit at ``week``, its TIS (NaN: none) and its missing-TIS
    reason ("TIS missing" when the row gives none)."""
    sel = np.flatnonzero((scored["visit_week"].to_numpy() == week) & (pos >= 0))
    has = np.zeros(n, dtype=bool)
    has[pos[sel]] = True
    tis = np.full(n, np.nan)
    if "tis" in scored:
        tis[pos[sel]] = scored["tis"].to_numpy(dtype=np.float64, na_value=np.nan)[sel]
    why = np.full(n, "TIS missing", dtype=object)
    if "tis_missing_reason" in scored:
        given = scored["tis_missing_reason"].iloc[sel].astype("string")
        why[pos[sel]] = given.fillna("TIS missing").to_numpy(dtype=object)
    return has, tis, why


def derive_adrs(scored: pd.DataFrame, adsl: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """One row per subject x binary endpoint, for every patient of the endpoint's population.

    Columns: USUBJID, ARMCD (original randomised arm), PARAMCD, PARAM, AVISITN, AVAL (1/0),
    AVALC (Y/N), TIS, CDWK, REASON; rows by endpoint (the protocol's order), then ADSL's order.
    Each REASON sentence is built once per distinct input
    (:func:`myotrial.derive._keys.distinct_rows`).
    """
    endpoints = protocol.policy.binary_endpoints()
    if not endpoints:
        return pd.DataFrame()
    ids = pd.Index(adsl["USUBJID"])
    pos = subject_positions(scored, ids)
    weeks: dict[int, tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64],
                           npt.NDArray[np.object_]]] = {}
    parts = []
    for ep in endpoints:
        if ep.week not in weeks:
            weeks[ep.week] = _at_week(scored, pos, len(ids), ep.week)
        parts.append(_responders(weeks[ep.week], adsl, ep))
    rows = np.concatenate([part.rows for part in parts])
    which = np.repeat(np.arange(len(parts), dtype=np.intp), [len(p.rows) for p in parts])
    arm_codes, arm_labels = _factor(adsl["ARMCD"].to_numpy(dtype=object))
    reasons = [part.reason_labels for part in parts]
    offsets = np.cumsum([0] + [len(r) for r in reasons[:-1]])
    reason_codes = np.concatenate(
        [part.reason_codes + off for part, off in zip(parts, offsets, strict=True)]
    )
    reason_labels = [label for part in reasons for label in part]
    responder = np.concatenate([part.responder for part in parts])
    return pd.DataFrame(
        {
            "USUBJID": _text(rows, list(ids)),
            "ARMCD": _text(arm_codes[rows], arm_labels),
            "PARAMCD": _text(which, [ep.name for ep in endpoints]),
            "PARAM": _text(which, [ep.label for ep in endpoints]),
            "POPULATION": _text(which, [ep.population for ep in endpoints]),
            "AVISITN": np.array([ep.week for ep in endpoints], dtype=np.int64)[which],
            "AVAL": responder.astype(np.int64),
            "AVALC": _text(responder.astype(np.intp), ["N", "Y"]),
            "TIS": np.concatenate([part.tis for part in parts]),
            "CDWK": np.concatenate([part.cdwk for part in parts]),
            "REASON": _text(reason_codes, reason_labels),
        }
    )


def _text(
    codes: npt.NDArray[np.intp], labels: Sequence[object]
) -> ExtensionArray:
    """``labels[codes]`` (code -1 or a missing label: missing) as pandas' default text column
    (Arrow-backed ``str``), taken in Arrow rather than converted string by string."""
    index = pd.Index(list(labels), dtype=object)
    text = [None if miss else str(v) for v, miss in zip(index, index.isna(), strict=True)]
    idx = pa.array(np.asarray(codes, dtype=np.int64), mask=np.asarray(codes) < 0)
    taken = pa.array(text, type=pa.large_string()).take(idx)
    return cast(ExtensionArray, pd.array(taken, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


@dataclass(frozen=True)
class _Responders:
    """One endpoint's rows: ADSL positions, responder flags, TIS, CDWK, and the REASON of each
    row as codes into its distinct sentences."""

    rows: npt.NDArray[np.intp]
    responder: npt.NDArray[np.bool_]
    tis: npt.NDArray[np.float64]
    cdwk: npt.NDArray[np.float64]
    reason_codes: npt.NDArray[np.intp]
    reason_labels: list[object]


def _responders(
    at_week: tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.object_]],
    adsl: pd.DataFrame,
    ep: BinaryEndpoint,
) -> _Responders:
    """``at_week``: the visits at the endpoint's week per ADSL row (:func:`_at_week`)."""
    pop = _population(adsl, ep.population).to_numpy(dtype=bool)
    rows = np.flatnonzero(pop)
    has_visit = at_week[0][rows]
    tis = at_week[1][rows]
    missing_reason = at_week[2][rows]
    cdwk = adsl["CDWK"].to_numpy(dtype=np.float64, na_value=np.nan)[rows]
    status_reason = adsl["STATUS_REASON"].to_numpy(dtype=object)[rows]
    with np.errstate(invalid="ignore"):
        cd = (
            cdwk <= ep.no_deterioration_through_week
            if ep.no_deterioration_through_week is not None
            else np.zeros(len(rows), dtype=bool)
        )
        meets = tis >= ep.threshold
    responder = meets & ~cd

    def reasons(i: npt.NDArray[np.intp]) -> npt.NDArray[np.object_]:
        """The reason of rows ``i`` (vectorised; evaluated once per distinct input)."""
        cd_txt = pd.Series(cdwk[i]).round().astype("Int64").astype("string")
        t = pd.Series(tis[i])
        tis_txt = t.map(lambda v: f"{v:g}", na_action="ignore").astype("string")
        op = np.where(meets[i], ">=", "<")
        return np.select(
            [cd[i], ~has_visit[i], np.isnan(tis[i])],
            [
                ("confirmed deterioration at week " + cd_txt + ": non-responder").astype(object),
                (
                    f"no week-{ep.week} visit ("
                    + pd.Series(status_reason[i], dtype=object).astype("string")
                    + "): non-responder imputation"
                ).astype(object),
                (
                    f"no TIS at week {ep.week} ("
                    + pd.Series(missing_reason[i], dtype=object).astype("string")
                    + "): non-responder imputation"
                ).astype(object),
            ],
            default=("TIS " + tis_txt + " " + op + f" {ep.threshold:g} at week {ep.week}")
            .astype(object),
        )

    first, inverse = distinct_rows(
        {"cd": cd, "visit": has_visit, "tis": tis, "cdwk": cdwk, "status": status_reason,
         "missing": missing_reason}
    )
    return _Responders(rows, responder, tis, cdwk, inverse, list(reasons(first)))


def _categorical(
    codes: npt.NDArray[Any],
    labels: Sequence[object],
    take: npt.NDArray[Any] | None = None,
    used_domain: npt.NDArray[np.bool_] | None = None,
) -> pd.Categorical:
    """``labels[codes[take]]`` (code -1: missing) as a Categorical whose categories are the
    labels used, sorted as text sorts (so sorting and comparing the column behave as for
    strings). ``codes`` may live on a small domain (rows, subjects, parameters) that ``take``
    indexes; ``used_domain`` marks the domain elements ``take`` reaches (all when omitted), so
    the labels used are found without a pass over the long table."""
    lab = pd.Index(list(labels), dtype=object)
    used = np.zeros(len(lab) + 1, dtype=bool)
    used[codes if used_domain is None else codes[used_domain]] = True
    used = used[:-1] & ~np.asarray(lab.isna())
    idx = np.flatnonzero(used)
    text = np.array([str(v) for v in lab[idx]], dtype=object)
    keep, inverse = np.unique(text, return_inverse=True)
    small = np.int8 if len(keep) < 127 else np.int16 if len(keep) < 32767 else np.int32
    remap = np.full(len(lab) + 1, -1, dtype=small)
    remap[idx] = inverse
    mapped = remap[codes]
    out = mapped if take is None else mapped.take(take)
    return pd.Categorical.from_codes(out, categories=pd.Index(keep, dtype=object), validate=False)


def _factor(values: npt.ArrayLike) -> tuple[npt.NDArray[np.intp], list[object]]:
    """Integer codes (-1 = missing) and the labels of ``values``."""
    arr = np.asarray(values)  # object text stays object (no inference to Arrow strings)
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.intp), list(uniques)


class _LongOrder:
    """The long table's order: (row, parameter) of every present value, ordered by subject
    code, parameter, week and row (the order of a stable sort on those keys of the melted table).

    Counting sort: rows sorted once by (subject, week, row); the output position of (row,
    parameter j) is the start of the subject's block, plus the subject's present values of the
    parameters before j, plus the row's rank among the subject's present values of j.
    ``rows`` holds each output row's visit row, ``param`` its parameter, and ``parts[j]`` the
    output positions and visit rows of parameter j (to fill value columns without temporaries
    of the long table's length)."""

    def __init__(
        self,
        subj: npt.NDArray[np.intp],
        weeks: npt.NDArray[np.float64],
        present: npt.NDArray[np.bool_],
        n_subj: int,
    ) -> None:
        n, n_par = present.shape
        order = np.lexsort((np.arange(n), weeks, subj))  # rows by subject, week, position
        s_sorted = subj[order]
        pres = present[order]
        counts = np.empty((n_subj, n_par), dtype=np.int64)
        for j in range(n_par):
            counts[:, j] = np.bincount(s_sorted[pres[:, j]], minlength=n_subj)
        flat = counts.ravel()
        offset = (np.cumsum(flat) - flat).reshape(n_subj, n_par)
        self.size = int(flat.sum())
        self.rows = np.empty(self.size, dtype=np.intp)
        self.param = np.empty(self.size, dtype=np.int8 if n_par < 127 else np.intp)
        self.parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]] = []
        for j in range(n_par):
            at = np.flatnonzero(pres[:, j])
            s_j = s_sorted[at]
            first = np.cumsum(counts[:, j]) - counts[:, j]  # a subject's first entry in ``at``
            pos = offset[s_j, j] + (np.arange(len(at)) - first[s_j])
            rows_j = order[at]
            self.rows[pos] = rows_j
            self.param[pos] = j
            self.parts.append((pos, rows_j))


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

    Built from the (visits x parameters) value matrix without melting (:class:`_LongOrder`):
    subject ids are factorised once (codes in text order), the baseline is each subject's
    week-0 row, and the repeated text columns (USUBJID, ARMCD, TRTA, APERIODC, PARAMCD, PARAM,
    AVALC, ABLFL, WORSFL, CDFL, ENZYME) are pandas Categoricals (values as before; categories
    sorted as text) whose codes are taken from the visit, subject or parameter they belong to.
    """
    params = [(k, v) for k, v in ADEFF_PARAMS.items() if v[0] in scored.columns]
    n = len(scored)
    values = np.empty((n + 1, len(params)), dtype=np.float64)  # row n: no baseline (NaN)
    values[n] = np.nan
    for j, (_, (col, _)) in enumerate(params):
        values[:n, j] = scored[col].to_numpy(dtype=np.float64, na_value=np.nan)
    present = ~np.isnan(values[:n])
    subj, ids = pd.factorize(scored["subject_id"], sort=True)
    subj = np.asarray(subj, dtype=np.intp)
    week_raw = scored["visit_week"].to_numpy()
    weeks = week_raw.astype(np.float64)
    long = _LongOrder(subj, weeks, present, len(ids))
    r = long.rows
    row_used = np.asarray(present.any(axis=1), dtype=bool)  # visit rows the long table reaches

    # per subject (ids in text order): ADSL arm and switch week, the week-0 row
    adsl_i = adsl.set_index("USUBJID")
    id_index = pd.Index(ids)
    arm_s = adsl_i["ARMCD"].reindex(id_index).to_numpy(dtype=object)
    cross_s = adsl_i["CROSSWK"].reindex(id_index).astype("float64").to_numpy()
    base_row = np.full(len(ids), n, dtype=np.intp)
    at0 = np.flatnonzero(week_raw == 0)
    base_row[subj[at0[::-1]]] = at0[::-1]  # first week-0 row of each subject (n: none)
    base_of_row = base_row[subj]

    # per visit row: period, treatment, flags
    policy = protocol.policy
    cross_r = cross_s[subj]
    period_r = policy.period_at_weeks(weeks, cross_r)
    trta_r = policy.treatment_at_weeks(arm_s[subj], weeks, cross_r)
    per_code, per_labels = _factor(period_r)
    trt_code, trt_labels = _factor(trta_r)
    arm_code_s, arm_labels = _factor(arm_s)
    worse_r = scored["worsening"].fillna(False).astype(bool).to_numpy().astype(np.intp)
    cd_r = scored["cd_confirmed"].astype(bool).to_numpy().astype(np.intp)
    base_r = (weeks == 0).astype(np.intp)
    flag_labels = ["", "Y"]
    cat_tis = pd.Categorical(scored["tis_category"])
    enz = pd.Categorical(scored["enzyme_used"])
    tis_col = next((j for j, (k, _) in enumerate(params) if k == "TIS"), -1)
    tis_used = present[:, tis_col] if tis_col >= 0 else np.zeros(n, dtype=bool)
    avalc = _categorical(np.asarray(cat_tis.codes, dtype=np.intp), list(cat_tis.categories),
                         None, tis_used)
    avalc_codes = np.full(long.size, -1, dtype=avalc.codes.dtype)  # TIS rows only

    aval = np.empty(long.size)
    base = np.empty(long.size)
    for j, (pos, rows_j) in enumerate(long.parts):
        aval[pos] = values[rows_j, j]
        if j == tis_col:  # TIS is already a change score: no baseline
            base[pos] = np.nan
            avalc_codes[pos] = avalc.codes[rows_j]
        else:
            base[pos] = values[base_of_row[rows_j], j]
    chg = aval - base
    pchg = np.multiply(chg, 100.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(pchg, base, out=pchg)
    pchg[base == 0] = np.nan
    per_numbers = np.array([PERIOD_NUMBERS[str(c)] for c in per_labels] + [0], dtype=np.int64)
    params_used = np.asarray(present.any(axis=0), dtype=bool)
    param_codes = np.arange(len(params), dtype=np.intp)
    out = pd.DataFrame(
        {
            "USUBJID": _categorical(subj, list(ids), r, row_used),
            "ARMCD": _categorical(arm_code_s[subj], arm_labels, r, row_used),
            "TRTA": _categorical(trt_code, trt_labels, r, row_used),
            "APERIOD": per_numbers[per_code].take(r),
            "APERIODC": _categorical(per_code, per_labels, r, row_used),
            "AVISITN": week_raw.take(r),
            "ADT": scored["visit_date"].array.take(r) if "visit_date" in scored else None,
            "PARAMCD": _categorical(param_codes, [k for k, _ in params], long.param,
                                    params_used),
            "PARAM": _categorical(param_codes, [v[1] for _, v in params], long.param,
                                  params_used),
            "AVAL": aval,
            "AVALC": pd.Categorical.from_codes(avalc_codes, dtype=avalc.dtype, validate=False),
            "BASE": base,
            "CHG": chg,
            "PCHG": pchg,
            "ABLFL": _categorical(base_r, flag_labels, r, row_used),
            "WORSFL": _categorical(worse_r, flag_labels, r, row_used),
            "CDFL": _categorical(cd_r, flag_labels, r, row_used),
            "ENZYME": _categorical(np.asarray(enz.codes, dtype=np.intp), list(enz.categories),
                                   r, row_used),
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
    pos = subject_positions(scored, rand.index)
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


@dataclass(frozen=True)
class _TteRows:
    """Visit rows with their randomised subject's position (-1: not randomised), week, study
    day and switch week (NaN: no switch)."""

    pos: npt.NDArray[np.intp]
    week: npt.NDArray[np.float64]
    day: npt.NDArray[np.float64]
    cross: npt.NDArray[np.float64]
    n: int


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
