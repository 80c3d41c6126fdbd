"""ADSL-like subject table: one row per subject, with arm, flags, deterioration, crossover,
treatment periods, disposition and an explicit status and reason for every randomised patient.

Rules (``myotrial/protocols/proderm.toml``, proderm.md; every protocol answer is read from
:class:`myotrial.policy.ProtocolPolicy`):

* confirmed deterioration (``CDFL``/``CDWK``) in the randomised period: the recorded
  ``subjects.deterioration_week`` (the live trial records it for every arm) when not blank,
  else the first visit with ``cd_confirmed``; counted when at or before the end of the
  randomised period (clauses and confirmation: scoring rules);
* switch (``CROSSFL``/``CROSSWK``), a separate variable: only a patient of an arm that switches
  on deterioration (``policy.switches_on_deterioration``; ProDERM: placebo -> IVIG, never IVIG)
  switches, at the confirming visit (PROJECT RULE for the date) or at a recorded
  ``subjects.crossover_week``. A recorded ``crossover_week`` of an arm that does not switch, of a
  patient not randomised, or outside ``[earliest_week, randomised_end_week]``
  (``policy.may_switch_at``) is a located validation problem, never a switch;
* treatment arm with CD: no extension (``treatment_on_deterioration = "no_extension"``);
* a switcher who deteriorates again (two consecutive worsening visits after the switch, against
  the original baseline; PROJECT RULE) discontinues (``after_switch_deterioration``);
* disposition from the subjects table when recorded, else derived from the visits: completed
  week W = has a visit at week W; entered the extension = has a visit after the randomised
  period (or, when recorded, the ``entered_extension`` flag);
* periods ``TRT01P``, ``TRTxxA``, ``APxxSWK/EWK``, ``APxxSDT/EDT``: :mod:`myotrial.derive.periods`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from myotrial.derive._keys import distinct_rows, subject_positions
from myotrial.derive.periods import PERIOD_COLUMNS, derive_periods
from myotrial.errors import InputValidationError, Problem
from myotrial.protocol import Protocol

__all__ = ["ADSL_COLUMNS", "derive_adsl"]

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


class _Rows:
    """The scored visits' subject ids factorised once: ``pos`` is each row's position in the
    subjects table (-1: not in it); per-subject reductions are numpy scatters on it."""

    def __init__(self, scored: pd.DataFrame, ids: pd.Index) -> None:
        self.pos = subject_positions(scored, ids)
        self.n = len(ids)
        self.ids = ids
        self.week_dtype = scored["visit_week"].dtype
        self.week = scored["visit_week"].to_numpy(dtype=np.float64)

    def min_week(self, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        """First ``visit_week`` per subject where ``mask`` holds (NaN if never)."""
        out = np.full(self.n, np.inf)
        sel = mask & (self.pos >= 0) & ~np.isnan(self.week)
        np.minimum.at(out, self.pos[sel], self.week[sel])
        out[np.isinf(out)] = np.nan
        return out

    def max_week(self, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        """Last ``visit_week`` per subject where ``mask`` holds (NaN if never)."""
        out = np.full(self.n, -np.inf)
        sel = mask & (self.pos >= 0) & ~np.isnan(self.week)
        np.maximum.at(out, self.pos[sel], self.week[sel])
        out[np.isinf(out)] = np.nan
        return out

    def count(self) -> npt.NDArray[np.int64]:
        return np.bincount(self.pos[self.pos >= 0], minlength=self.n).astype(np.int64)

    def has_week(self, week: int) -> npt.NDArray[np.bool_]:
        out = np.zeros(self.n, dtype=bool)
        out[self.pos[(self.week == week) & (self.pos >= 0)]] = True
        return out


def _second_deterioration(
    rows: _Rows, worsening: pd.Series, switch_week: npt.NDArray[np.float64], k: int
) -> pd.Series:
    """First week at which ``k`` consecutive worsening visits after the switch week occur
    (per subject of ``rows.ids``; NaN if never)."""
    sw = np.full(len(rows.pos), np.nan)
    known = rows.pos >= 0
    sw[known] = switch_week[rows.pos[known]]
    post = np.flatnonzero(rows.week > sw)  # NaN switch week: never
    out = np.full(rows.n, np.nan)
    if len(post):
        order = post[np.lexsort((post, rows.week[post], rows.pos[post]))]
        subj = rows.pos[order]
        worse = (worsening == True).fillna(False).to_numpy(dtype=bool)[order]  # noqa: E712
        idx = np.arange(len(order))
        new_run = ~worse | np.r_[True, subj[1:] != subj[:-1]]
        # run length of consecutive worsening visits, restarting at a subject's first row
        start = np.maximum.accumulate(np.where(new_run, idx, 0))
        run = np.where(worse, idx - start + (worse[start] if len(start) else 0), 0)
        hit = run >= k
        np.fmin.at(out, subj[hit], rows.week[order][hit])
    series = pd.Series(out, index=rows.ids)
    if len(post) and not series.isna().any() and pd.api.types.is_integer_dtype(rows.week_dtype):
        series = series.astype(rows.week_dtype)
    return series


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
    for pos in np.flatnonzero(recorded.notna().to_numpy()).tolist():
        sid, week = recorded.index[pos], recorded.iloc[pos]
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
    rows = _Rows(scored, ids)
    n_visits = pd.Series(rows.count(), index=ids)
    last_week = pd.Series(rows.max_week(rows.week > 0), index=ids)
    in_rand = rows.week <= rand_end
    problems: list[Problem] = []
    cd_rows = scored["cd_confirmed"].to_numpy(dtype=bool) & in_rand
    derived_cd = pd.Series(rows.min_week(cd_rows), index=ids)
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
    cd2_week = _second_deterioration(
        rows, scored["worsening"], cross_week.to_numpy(dtype=np.float64), policy.consecutive_visits
    )

    def recorded_flag(column: str, derived: pd.Series) -> pd.Series:
        if column not in subjects:
            return derived
        rec = pd.Series(subjects[column].to_numpy(), index=ids, dtype="boolean")
        return rec.fillna(derived).astype(bool)

    def has_week(week: int) -> pd.Series:
        """Subject has a visit at ``week``."""
        return pd.Series(rows.has_week(week), index=ids)

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
    inputs = (randomised, n_visits, arm, has_cd, switch, cd_week, cd2_week, comp16, ext,
              comp40, blocked, last_week, reason)
    # the status sentence is built once per distinct combination of its inputs
    first, inverse = distinct_rows({str(i): s for i, s in enumerate(inputs)})
    status_u, text_u = _status(protocol, *(s.iloc[first] for s in inputs))
    status = np.asarray(status_u)[inverse]
    text = pd.Series(text_u.to_numpy()[inverse], index=ids)

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
