"""ADSL treatment periods (pharmaverse admiral's period variables are the model).

For each randomised patient, the periods of :meth:`myotrial.policy.ProtocolPolicy.periods`:

=======  ==========================================  =========================================
period   when                                        treatment received (``TRTxxA``)
=======  ==========================================  =========================================
P01      randomisation to the switch, else to the    the randomised arm (``TRT01P`` = planned)
         end of the randomised period
P02      switchers only (``CROSSFL = Y``): the       the switch target (the extension arm)
         switch to the end of the randomised period
P03      patients who entered the extension          the extension arm
         (``EXTFL = Y``): extension to its end
=======  ==========================================  =========================================

Columns: ``TRT01P``, ``TRT01A``, ``TRT02A``, ``TRT03A``; ``APxxSWK``/``APxxEWK`` (protocol
weeks: the period boundaries of ``policy.periods``, blank for a period the patient never
entered); ``APxxSDT``/``APxxEDT`` (dates, blank when no date is known).

Date rules (PROJECT RULES; the protocol dates the switch at the confirming visit,
``proderm.toml`` [crossover], and the extension at the end of the randomised period, where the
first extension cycle is given):

* ``AP01SDT``: ``subjects.randomisation_date`` when recorded, else the week-0 visit date, else
  the first infusion;
* ``AP02SDT``: the date of the visit at ``CROSSWK`` (the confirming visit), else the first
  infusion of the extension arm's product (``infusions.product``);
* ``AP03SDT``: the date of the visit at the randomised period's end week, else the first
  infusion of a cycle after the randomised period's ``cycles_randomised`` cycles;
* for ``AP02SDT`` and ``AP03SDT`` when neither is known (e.g. a missed week-16 visit and no
  infusion data): the scheduled day of the period's start week, ``AP01SDT + 7 x APxxSWK`` days;
* ``APxxEDT``: the next period's start date (the day of the switch or of the extension belongs
  to the new period: its first dose is given then); for the patient's last period, the last
  date known in it (visit dates and infusion ends), never before its start.

Assigning a date-time to a period (:func:`myotrial.derive.safety.derive_arm_period`) uses the
start dates only: the period that started last at or before it.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from myotrial.policy import ProtocolPolicy

__all__ = ["PERIOD_COLUMNS", "derive_periods"]

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
