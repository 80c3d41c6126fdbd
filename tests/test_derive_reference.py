"""A frozen copy of the derivations as they were before the numpy rewrite (commit c31f1d9:
``derive/periods.py``, ``derive/adsl.py``, ``derive/endpoints.py``), kept verbatim as the reference
that ``test_derive_equivalence.py`` compares the current implementation with. Not a test module
(no tests); do not edit except to follow an intended change of a derived value."""

# ruff: noqa
# fmt: off
from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from myotrial.derive.safety import PERIOD_NUMBERS
from myotrial.errors import InputValidationError, Problem
from myotrial.policy import ProtocolPolicy
from myotrial.protocol import BinaryEndpoint, Protocol, TimeToEventEndpoint

# ---- periods.py

#: ADSL period columns, in order.
PERIOD_COLUMNS = (
    "TRT01P",
    "TRT01A",
    "TRT02A",
    "TRT03A",
    "AP01SWK",
    "AP01EWK",
    "AP02SWK",
    "AP02EWK",
    "AP03SWK",
    "AP03EWK",
    "AP01SDT",
    "AP01EDT",
    "AP02SDT",
    "AP02EDT",
    "AP03SDT",
    "AP03EDT",
)


def _dates(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
    out = pd.Series(parsed.to_numpy(dtype="datetime64[ns]"), index=values.index)
    normal: pd.Series = out.dt.normalize()
    return normal


def derive_periods(
    *,
    ids: pd.Index,
    arm: pd.Series,
    randomised: pd.Series,
    switch_week: pd.Series,
    entered_extension: pd.Series,
    scored: pd.DataFrame,
    subjects: pd.DataFrame,
    policy: ProtocolPolicy,
    infusions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The period columns (:data:`PERIOD_COLUMNS`) of every subject, indexed by ``ids``.

    ``switch_week`` is ``CROSSWK`` (NaN: no switch), ``entered_extension`` ``EXTFL``; both
    already follow the protocol (a switch only for an arm that switches). Rules: module
    docstring. Non-randomised subjects get blank periods.
    """
    n = len(ids)
    out = pd.DataFrame(index=ids)
    swk = {k: np.full(n, np.nan) for k in (1, 2, 3)}
    ewk = {k: np.full(n, np.nan) for k in (1, 2, 3)}
    trt = {k: np.full(n, None, dtype=object) for k in (1, 2, 3)}
    number = {"randomised": 1, "after_switch": 2, "extension": 3}
    keys = pd.DataFrame(
        {
            "arm": arm.to_numpy(dtype=object),
            "sw": switch_week.to_numpy(dtype=float),
            "ext": entered_extension.to_numpy(dtype=bool),
            "rand": randomised.to_numpy(dtype=bool),
        }
    )
    for key, rows in keys[keys["rand"]].groupby(["arm", "sw", "ext"], dropna=False):
        a, sw, ext = cast("tuple[str, float, bool]", key)
        pos = rows.index.to_numpy()
        for p in policy.periods(str(a), switch_week=float(sw), entered_extension=bool(ext)):
            k = number[p.code]
            swk[k][pos] = p.start_week
            ewk[k][pos] = p.end_week
            trt[k][pos] = p.treatment
    for k in (1, 2, 3):
        out[f"AP{k:02d}SWK"] = swk[k]
        out[f"AP{k:02d}EWK"] = ewk[k]
    has = {k: out[f"AP{k:02d}SWK"].notna() for k in (1, 2, 3)}

    # dates known from visits and infusions
    visit_date = pd.Series(pd.NaT, index=ids, dtype="datetime64[ns]")
    by_week: pd.Series = pd.Series(dtype="datetime64[ns]")
    last_visit: dict[int, pd.Series] = {}
    if "visit_date" in scored.columns:
        v = pd.DataFrame(
            {
                "subject_id": scored["subject_id"].astype(str).to_numpy(),
                "week": scored["visit_week"].astype(float).to_numpy(),
                "date": _dates(scored["visit_date"]).to_numpy(),
            }
        ).dropna(subset=["date"])
        by_week = v.set_index(["subject_id", "week"])["date"]
        by_week = by_week[~by_week.index.duplicated()]
        for k in (1, 2, 3):
            lo = out[f"AP{k:02d}SWK"].reindex(v["subject_id"]).to_numpy()
            hi = out[f"AP{k:02d}EWK"].reindex(v["subject_id"]).to_numpy()
            inside = (v["week"].to_numpy() >= lo) & (v["week"].to_numpy() <= hi)
            last_visit[k] = v[inside].groupby("subject_id")["date"].max().reindex(ids)
    else:
        for k in (1, 2, 3):
            last_visit[k] = visit_date.copy()

    def at_week(weeks: pd.Series) -> pd.Series:
        if by_week.empty:
            return visit_date.copy()
        idx = pd.MultiIndex.from_arrays([ids.astype(str), weeks.to_numpy(dtype=float)])
        return pd.Series(by_week.reindex(idx).to_numpy(), index=ids)

    first_inf = pd.Series(pd.NaT, index=ids, dtype="datetime64[ns]")
    first_ext_product = first_inf.copy()
    first_ext_cycle = first_inf.copy()
    last_inf = first_inf.copy()
    if infusions is not None and len(infusions):
        inf = pd.DataFrame(
            {
                "subject_id": infusions["subject_id"].astype(str).str.strip().to_numpy(),
                "start": _dates(infusions["start"]).to_numpy(),
                "end": _dates(infusions["end"]).to_numpy()
                if "end" in infusions.columns
                else _dates(infusions["start"]).to_numpy(),
                "cycle": pd.to_numeric(
                    pd.Series(infusions["cycle"] if "cycle" in infusions.columns else np.nan),
                    errors="coerce",
                ).to_numpy(),
                "product": infusions["product"].astype(str).str.strip().str.lower().to_numpy()
                if "product" in infusions.columns
                else "",
            }
        )
        first_inf = inf.groupby("subject_id")["start"].min().reindex(ids.astype(str))
        first_inf.index = ids
        last_inf = inf.groupby("subject_id")["end"].max().reindex(ids.astype(str))
        last_inf.index = ids
        ext_prod = inf[inf["product"] == policy.extension_arm.lower()]
        first_ext_product = ext_prod.groupby("subject_id")["start"].min().reindex(ids.astype(str))
        first_ext_product.index = ids
        late = inf[inf["cycle"] > policy.dosing.cycles_randomised]
        first_ext_cycle = late.groupby("subject_id")["start"].min().reindex(ids.astype(str))
        first_ext_cycle.index = ids

    start: dict[int, pd.Series] = {}
    rand_date = (
        _dates(pd.Series(subjects["randomisation_date"].to_numpy(), index=ids))
        if "randomisation_date" in subjects.columns
        else visit_date.copy()
    )
    s1 = rand_date.where(rand_date.notna(), at_week(out["AP01SWK"].fillna(0.0)))
    start[1] = s1.where(s1.notna(), first_inf)
    s2 = at_week(out["AP02SWK"])
    start[2] = s2.where(s2.notna(), first_ext_product)
    s3 = at_week(out["AP03SWK"])
    start[3] = s3.where(s3.notna(), first_ext_cycle)
    for k in (2, 3):  # last resort: the scheduled day of the period's start week
        target = start[1] + pd.to_timedelta(out[f"AP{k:02d}SWK"] * 7.0, unit="D")
        start[k] = start[k].where(start[k].notna(), target)
    for k in (1, 2, 3):
        start[k] = start[k].where(has[k])
    last_period = pd.Series(np.where(has[3], 3, np.where(has[2], 2, 1)), index=ids)
    end: dict[int, pd.Series] = {}
    for k in (1, 2, 3):
        following = pd.Series(pd.NaT, index=ids, dtype="datetime64[ns]")
        for j in range(3, k, -1):  # the first later period entered, with a known start
            following = start[j].where(start[j].notna(), following)
        own = last_visit[k]
        with_inf = pd.concat([own, last_inf], axis=1).max(axis=1)
        own = with_inf.where(last_period == k, own)
        own = own.where(own.isna() | start[k].isna() | (own >= start[k]), start[k])
        end[k] = following.where(following.notna(), own).where(has[k])
    for k in (1, 2, 3):
        out[f"AP{k:02d}SDT"] = start[k].to_numpy()
        out[f"AP{k:02d}EDT"] = end[k].to_numpy()
    planned = arm.to_numpy(dtype=object).copy()
    planned[~randomised.to_numpy(dtype=bool)] = None
    out["TRT01P"] = planned
    for k in (1, 2, 3):
        out[f"TRT{k:02d}A"] = trt[k]
    return out.reindex(columns=list(PERIOD_COLUMNS))

# ---- adsl.py

ADSL_COLUMNS = (
    "STUDYID",
    "USUBJID",
    "SITEID",
    "ARM",
    "ARMCD",
    "TRTSEQ",
    "RANDFL",
    "ITTFL",
    "AGE",
    "SEX",
    "MSAGRP",
    "NVISITS",
    "LASTWK",
    "CDFL",
    "CDWK",
    "CROSSFL",
    "CROSSWK",
    "CD2FL",
    "CD2WK",
    *PERIOD_COLUMNS,
    "COMP16FL",
    "EXTFL",
    "COMP40FL",
    "DCSREAS",
    "EUNBLFL",
    "STATUS",
    "STATUS_REASON",
)


def _yn(flag: pd.Series | np.ndarray) -> np.ndarray:
    return np.where(np.asarray(flag, dtype=bool), "Y", "N")


def _first_week(scored: pd.DataFrame, mask: pd.Series, subjects: pd.Index) -> pd.Series:
    """First ``visit_week`` per subject where ``mask`` holds (NaN if never)."""
    weeks = scored.loc[mask.to_numpy(), ["subject_id", "visit_week"]]
    return weeks.groupby("subject_id")["visit_week"].min().reindex(subjects).astype("float64")


def _second_deterioration(scored: pd.DataFrame, switch_week: pd.Series, k: int) -> pd.Series:
    """First week at which ``k`` consecutive worsening visits after the switch week occur."""
    sw = scored["subject_id"].map(switch_week)
    post = scored[(scored["visit_week"] > sw).fillna(False).to_numpy()].sort_values(
        ["subject_id", "visit_week"], kind="stable"
    )
    if post.empty:
        return pd.Series(np.nan, index=switch_week.index)
    worse = (post["worsening"] == True).fillna(False).astype(int)  # noqa: E712 - nullable boolean
    breaks = (worse == 0).groupby(post["subject_id"]).cumsum()
    run = worse.groupby([post["subject_id"], breaks]).cumsum()
    hit = post.loc[(run >= k).to_numpy(), ["subject_id", "visit_week"]]
    return hit.groupby("subject_id")["visit_week"].min().reindex(switch_week.index)


def _week_text(weeks: pd.Series) -> pd.Series:
    """``week N`` (or ``an unknown week``) for each value, vectorised."""
    whole = weeks.round().astype("Int64").astype("string")
    return ("week " + whole).fillna("an unknown week").astype(object)


def _status(
    protocol: Protocol,
    randomised: pd.Series,
    n_visits: pd.Series,
    arm: pd.Series,
    has_cd: pd.Series,
    switch: pd.Series,
    cd_week: pd.Series,
    cd2_week: pd.Series,
    comp16: pd.Series,
    ext: pd.Series,
    comp40: pd.Series,
    blocked: pd.Series,
    last_week: pd.Series,
    reason: pd.Series,
) -> tuple[np.ndarray, pd.Series]:
    """STATUS code and the readable STATUS_REASON of every subject (vectorised)."""
    ext_arm = protocol.extension_arm
    why = (": " + reason.astype("string")).fillna("").astype(object)
    arm_txt = arm.astype("string").fillna("").astype(object)
    cd_txt = _week_text(cd_week)
    last_txt = _week_text(last_week)
    deterioration = np.where(
        has_cd & switch,
        "confirmed deterioration at " + cd_txt + ": switched " + arm_txt + " -> " + ext_arm,
        np.where(has_cd, "confirmed deterioration at " + cd_txt + " on " + arm_txt, ""),
    )
    again = np.where(
        cd2_week.notna(), "deteriorated again after the switch at " + _week_text(cd2_week), ""
    )
    note = np.where(blocked, " (confirmed deterioration on the treatment arm)", "")
    conditions = [~randomised, n_visits == 0, comp40, ext, comp16]
    codes = [
        "not_randomised",
        "no_assessments",
        "completed_extension",
        "discontinued_extension",
        "completed_randomised_no_extension",
    ]
    status = np.select(conditions, codes, default="discontinued_randomised")
    outcome = np.select(
        conditions[2:],
        [
            pd.Series(f"completed week {protocol.final_week}", index=arm.index),
            "entered the extension, discontinued (last assessment " + last_txt + ")" + why,
            f"completed week {protocol.primary_week}, did not enter the extension" + note + why,
        ],
        default="discontinued before week "
        + str(protocol.primary_week)
        + " (last assessment "
        + last_txt
        + ")"
        + why,
    )
    joined = np.asarray(deterioration, dtype=object)
    for part in (np.asarray(again, dtype=object), np.asarray(outcome, dtype=object)):
        joined = np.where(joined == "", part, np.where(part == "", joined, joined + "; " + part))
    text = pd.Series(
        np.select(
            [~randomised, n_visits == 0],
            [
                "not randomised",
                "randomised to " + arm_txt + " but no assessment was recorded" + why,
            ],
            default=joined,
        ),
        index=arm.index,
    )
    return status, text


def _recorded_weeks(
    subjects: pd.DataFrame, column: str, ids: pd.Index, problems: list[Problem]
) -> pd.Series:
    """A recorded week column of ``subjects`` as floats (NaN = blank); non-numbers and
    negative weeks are located problems."""
    if column not in subjects.columns:
        return pd.Series(np.nan, index=ids, dtype="float64")
    raw = pd.Series(subjects[column].to_numpy(), index=ids)
    text = raw.astype("string").str.strip()
    blank = (text.isna() | (text == "")).to_numpy()
    num = pd.to_numeric(text.where(~blank), errors="coerce").astype("float64")
    bad = ~blank & (num.isna() | (num < 0)).to_numpy()
    for pos in np.flatnonzero(bad).tolist():
        problems.append(
            Problem(
                "subjects",
                pos + 1,
                str(ids[pos]),
                None,
                column,
                str(raw.iloc[pos]),
                f"{column} must be a week number >= 0 (or blank)",
            )
        )
    return num.where(~pd.Series(bad, index=ids))


def _crossover_problems(
    recorded: pd.Series,
    arm: pd.Series,
    randomised: pd.Series,
    protocol: Protocol,
    problems: list[Problem],
) -> None:
    """A recorded crossover week is a switch only where the protocol allows one."""
    policy = protocol.policy
    for pos, (sid, week) in enumerate(recorded.items()):
        if pd.isna(week):
            continue
        a = arm.iloc[pos]
        if not bool(randomised.iloc[pos]) or a not in policy.arm_codes:
            rule = "a patient who was not randomised cannot cross over; leave it blank"
        elif not policy.switches_on_deterioration(str(a)):
            rule = (
                f"arm {a} does not switch on deterioration (protocol {protocol.name}: "
                f"{policy.on_deterioration(str(a))}); a crossover week is allowed only for "
                f"{', '.join(policy.switching_arms) or 'no arm'}; leave it blank"
            )
        elif not policy.may_switch_at(float(week)):
            rule = (
                f"a switch must be at or after week {policy.earliest_week:g} and at or before "
                f"week {policy.randomised_end_week} (protocol {protocol.name})"
            )
        else:
            continue
        problems.append(
            Problem("subjects", pos + 1, str(sid), None, "crossover_week", f"{week:g}", rule)
        )


def derive_adsl(
    scored: pd.DataFrame,
    subjects: pd.DataFrame,
    protocol: Protocol,
    *,
    infusions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per subject of ``subjects`` (validated), in the subjects table's order.

    ``scored`` is the output of :func:`myotrial.scoring.score_visits` for the trial's visits;
    ``infusions`` (optional, canonical table) dates periods whose first visit has no date.
    Randomised subjects never disappear: each gets ``STATUS`` and a readable ``STATUS_REASON``.

    Raises
    ------
    InputValidationError
        A recorded ``crossover_week`` the protocol does not allow, or a recorded
        ``deterioration_week``/``crossover_week`` that is not a week number; every problem
        located (subject, column, value, rule).
    """
    policy = protocol.policy
    ids = pd.Index(subjects["subject_id"], name="subject_id")
    rand_end = policy.randomised_end_week
    arm = pd.Series(subjects["arm"].to_numpy(), index=ids, dtype=object)
    randomised = pd.Series(subjects["randomised"].to_numpy(dtype=bool), index=ids)
    post = scored[scored["visit_week"] > 0]
    n_visits = scored.groupby("subject_id").size().reindex(ids).fillna(0).astype(int)
    last_week = post.groupby("subject_id")["visit_week"].max().reindex(ids).astype("float64")
    in_rand = scored["visit_week"] <= rand_end
    problems: list[Problem] = []
    derived_cd = _first_week(scored, scored["cd_confirmed"] & in_rand, ids)
    recorded_cd = _recorded_weeks(subjects, "deterioration_week", ids, problems)
    recorded_cd = recorded_cd.where(recorded_cd <= rand_end)
    cd_week = recorded_cd.where(recorded_cd.notna(), derived_cd)
    switching = arm.map({a: policy.switches_on_deterioration(a) for a in policy.arm_codes})
    switching = switching.fillna(False).astype(bool)
    is_treatment = arm == policy.treatment_arm
    has_cd = cd_week.notna() & randomised
    cross_week = cd_week.where(has_cd & switching)
    recorded_cross = _recorded_weeks(subjects, "crossover_week", ids, problems)
    _crossover_problems(recorded_cross, arm, randomised, protocol, problems)
    if problems:
        raise InputValidationError(problems, "subjects")
    cross_week = recorded_cross.where(recorded_cross.notna(), cross_week)
    switch = cross_week.notna() & randomised & switching
    cross_week = cross_week.where(switch)
    cd2_week = _second_deterioration(scored, cross_week.dropna(), policy.consecutive_visits)
    cd2_week = cd2_week.reindex(ids)

    def recorded_flag(column: str, derived: pd.Series) -> pd.Series:
        if column not in subjects:
            return derived
        rec = pd.Series(subjects[column].to_numpy(), index=ids, dtype="boolean")
        return rec.fillna(derived).astype(bool)

    def has_week(week: int) -> pd.Series:
        """Subject has a visit at ``week``."""
        at = scored.loc[scored["visit_week"] == week, "subject_id"].unique()
        return pd.Series(ids.isin(at), index=ids)

    comp16 = recorded_flag("completed_week_16", has_week(policy.primary_week) & randomised)
    derived_ext = (last_week > rand_end).fillna(False) & randomised
    blocked = has_cd & is_treatment & (policy.on_deterioration(policy.treatment_arm) != "continue")
    ext = recorded_flag("entered_extension", derived_ext & ~blocked) & randomised
    comp40 = recorded_flag("completed_week_40", has_week(policy.final_week) & ext)
    periods = derive_periods(
        ids=ids,
        arm=arm,
        randomised=randomised,
        switch_week=cross_week,
        entered_extension=ext,
        scored=scored,
        subjects=subjects,
        policy=policy,
        infusions=infusions,
    )
    reason = (
        pd.Series(subjects["discontinuation_reason"].to_numpy(), index=ids, dtype=object)
        if "discontinuation_reason" in subjects
        else pd.Series(None, index=ids, dtype=object)
    )
    reason = reason.where(reason.notna() & (reason.astype(str).str.strip() != ""), None)

    t_label, c_label = protocol.treatment.label, protocol.control.label
    ext_arm = protocol.extension_arm
    status, text = _status(
        protocol,
        randomised,
        n_visits,
        arm,
        has_cd,
        switch,
        cd_week,
        cd2_week,
        comp16,
        ext,
        comp40,
        blocked,
        last_week,
        reason,
    )

    trtseq = np.where(
        switch,
        arm.astype(str) + "->" + ext_arm,
        np.where(
            ext & (arm != ext_arm), arm.astype(str) + "->" + ext_arm + " (OLE)", arm.astype(str)
        ),
    )
    adsl = pd.DataFrame(
        {
            "STUDYID": protocol.name,
            "USUBJID": ids.to_numpy(),
            "SITEID": subjects["site_id"].to_numpy() if "site_id" in subjects else None,
            "ARM": np.where(
                arm == protocol.treatment.code,
                t_label,
                np.where(arm == protocol.control.code, c_label, ""),
            ),
            "ARMCD": arm.to_numpy(),
            "TRTSEQ": np.where(randomised, trtseq, ""),
            "RANDFL": _yn(randomised),
            "ITTFL": _yn(randomised),
            "AGE": subjects["age"].to_numpy() if "age" in subjects else np.nan,
            "SEX": subjects["sex"].to_numpy() if "sex" in subjects else None,
            "MSAGRP": subjects["msa_group"].to_numpy() if "msa_group" in subjects else "unknown",
            "NVISITS": n_visits.to_numpy(),
            "LASTWK": last_week.to_numpy(),
            "CDFL": _yn(has_cd),
            "CDWK": cd_week.where(randomised).to_numpy(),
            "CROSSFL": _yn(switch),
            "CROSSWK": cross_week.to_numpy(),
            "CD2FL": _yn(cd2_week.notna()),
            "CD2WK": cd2_week.to_numpy(),
            **{c: periods[c].to_numpy() for c in PERIOD_COLUMNS},
            "COMP16FL": _yn(comp16),
            "EXTFL": _yn(ext),
            "COMP40FL": _yn(comp40),
            "DCSREAS": reason.to_numpy(),
            # emergency unblinding recorded by the live trial (db export), else N
            "EUNBLFL": _yn(
                recorded_flag("emergency_unblinded", pd.Series(False, index=ids))
            ),
            "STATUS": status,
            "STATUS_REASON": text.to_numpy(),
        }
    )
    extra: list[str] = [
        c
        for c in subjects.columns
        if c
        not in {
            "subject_id",
            "site_id",
            "arm",
            "randomised",
            "age",
            "sex",
            "msa_group",
            "discontinuation_reason",
            "completed_week_16",
            "entered_extension",
            "completed_week_40",
            "crossover_week",
            "deterioration_week",
        }
    ]
    for c in extra:  # strata and other columns pass through
        adsl[c] = subjects[c].to_numpy()
    return adsl

# ---- endpoints.py

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
