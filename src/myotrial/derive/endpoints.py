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

import numpy as np
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
    return scored[scored["visit_week"] == week].set_index("subject_id")


def derive_adrs(scored: pd.DataFrame, adsl: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """One row per subject x binary endpoint, for every patient of the endpoint's population.

    Columns: USUBJID, ARMCD (original randomised arm), PARAMCD, PARAM, AVISITN, AVAL (1/0),
    AVALC (Y/N), TIS, CDWK, REASON.
    """
    parts = []
    ids = adsl.set_index("USUBJID")
    for ep in protocol.policy.binary_endpoints():
        parts.append(_responders(scored, ids, ep))
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def _responders(scored: pd.DataFrame, adsl: pd.DataFrame, ep: BinaryEndpoint) -> pd.DataFrame:
    pop = _population(adsl.reset_index(), ep.population).to_numpy()
    sub = adsl[pop]
    at = _visit(scored, ep.week).reindex(sub.index)
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


def derive_adeff(scored: pd.DataFrame, adsl: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """Long BDS-like table: one row per subject x visit x parameter with a value.

    AVAL, BASE (week 0), CHG = AVAL - BASE, PCHG = 100 x CHG / BASE (blank when BASE is 0),
    AVALC (TIS category of the protocol's population), ABLFL (baseline), APERIOD (ADSL period
    number: 1 randomised, 2 after the switch, 3 extension) and APERIODC (its code), TRTA (actual
    treatment at the visit) - both from ``policy.period_at_weeks`` / ``treatment_at_weeks`` with
    ADSL's ``CROSSWK`` (a visit at the switch week is after the switch; the randomised period's
    end week belongs to the randomised period) - WORSFL, CDFL (confirmed deterioration at or
    before this visit), ENZYME (the TIS enzyme).
    """
    params = {k: v for k, v in ADEFF_PARAMS.items() if v[0] in scored.columns}
    keys = ["subject_id", "visit_week"]
    base_cols = keys + [
        c
        for c in ("visit_date", "tis_category", "worsening", "cd_confirmed", "enzyme_used")
        if c in scored.columns
    ]
    long = scored[base_cols + [v[0] for v in params.values()]].melt(
        id_vars=base_cols, var_name="column", value_name="AVAL"
    )
    long = long[long["AVAL"].notna()]
    col_to_param = {v[0]: k for k, v in params.items()}
    long["PARAMCD"] = long["column"].map(col_to_param)
    long["PARAM"] = long["PARAMCD"].map({k: v[1] for k, v in params.items()})
    base = long[long["visit_week"] == 0].set_index(["subject_id", "PARAMCD"])["AVAL"]
    idx = pd.MultiIndex.from_arrays([long["subject_id"], long["PARAMCD"]])
    long["BASE"] = base.reindex(idx).to_numpy()
    long.loc[long["PARAMCD"] == "TIS", "BASE"] = np.nan  # TIS is already a change score
    long["CHG"] = long["AVAL"] - long["BASE"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pchg = 100.0 * long["CHG"] / long["BASE"]
    long["PCHG"] = pchg.where(long["BASE"] != 0)
    adsl_i = adsl.set_index("USUBJID")
    arm = long["subject_id"].map(adsl_i["ARMCD"])
    cross = long["subject_id"].map(adsl_i["CROSSWK"]).astype("float64").to_numpy()
    policy = protocol.policy
    weeks = long["visit_week"].astype("float64").to_numpy()
    code = policy.period_at_weeks(weeks, cross)
    long["APERIODC"] = code
    long["APERIOD"] = pd.Series(code).map(PERIOD_NUMBERS).to_numpy()
    long["TRTA"] = policy.treatment_at_weeks(arm.to_numpy(dtype=object), weeks, cross)
    long["ARMCD"] = arm
    long["ABLFL"] = np.where(long["visit_week"] == 0, "Y", "")
    out = pd.DataFrame(
        {
            "USUBJID": long["subject_id"].to_numpy(),
            "ARMCD": long["ARMCD"].to_numpy(),
            "TRTA": long["TRTA"].to_numpy(),
            "APERIOD": long["APERIOD"].to_numpy(),
            "APERIODC": long["APERIODC"].to_numpy(),
            "AVISITN": long["visit_week"].to_numpy(),
            "ADT": long["visit_date"].to_numpy() if "visit_date" in long else None,
            "PARAMCD": long["PARAMCD"].to_numpy(),
            "PARAM": long["PARAM"].to_numpy(),
            "AVAL": long["AVAL"].astype("float64").to_numpy(),
            "AVALC": np.where(  # type: ignore[call-overload]
                (long["PARAMCD"] == "TIS").to_numpy(),
                long["tis_category"].astype(object).to_numpy(),
                None,
            ),
            "BASE": long["BASE"].to_numpy(),
            "CHG": long["CHG"].to_numpy(),
            "PCHG": long["PCHG"].to_numpy(),
            "ABLFL": long["ABLFL"].to_numpy(),
            "WORSFL": np.where(long["worsening"].fillna(False).astype(bool), "Y", ""),
            "CDFL": np.where(long["cd_confirmed"].astype(bool), "Y", ""),
            "ENZYME": long["enzyme_used"].astype(object).to_numpy(),
        }
    )
    order = {p: i for i, p in enumerate(ADEFF_PARAMS)}
    out["_p"] = out["PARAMCD"].map(order)
    return (
        out.sort_values(["USUBJID", "_p", "AVISITN"], kind="stable")
        .drop(columns="_p")
        .reset_index(drop=True)
    )


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
    day = _days(scored)
    frame = scored.assign(_day=day.to_numpy())
    frame = frame[frame["visit_week"] > 0]
    cross = frame["subject_id"].map(rand["CROSSWK"])
    parts = []
    for ep in protocol.policy.time_to_event_endpoints():
        parts.append(_tte(frame, cross, rand, ep))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _tte(
    frame: pd.DataFrame, cross: pd.Series, rand: pd.DataFrame, ep: TimeToEventEndpoint
) -> pd.DataFrame:
    in_window = frame["visit_week"] <= ep.through_week
    before_switch = ~(frame["visit_week"] > cross).fillna(False)
    usable = frame[(in_window & before_switch).to_numpy()]
    if ep.event == "tis":
        hit = usable["tis"] >= float(ep.threshold or 0)
        desc = f"first visit with TIS >= {ep.threshold:g}"
    else:
        hit = usable["cd_confirmed"].astype(bool)
        desc = "confirmed clinical deterioration (confirming visit)"
    events = usable[hit.fillna(False).to_numpy()].groupby("subject_id")["_day"].min()
    last = usable.groupby("subject_id")["_day"].max()
    ids = rand.index
    event_day = events.reindex(ids)
    censor_day = last.reindex(ids).fillna(0.0)
    is_event = event_day.notna()
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
