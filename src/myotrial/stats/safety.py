"""Safety summaries from the canonical ``adverse_events`` and ``infusions`` tables.

Tables and columns are those of ``reference/data-format.md``:

* ``adverse_events``: subject_id, term, body_system, onset, end, serious, severity, related,
  thromboembolic (one row per event);
* ``infusions``: subject_id, start, end, product, dose_g_per_kg, rate_ml_per_kg_min, cycle
  (one row per infusion day);
* ``subjects``: subject_id and the arm column (default ``arm``); optionally a column holding
  each subject's start of the second period (e.g. first extension infusion).

Rules (named arguments with documented defaults):

* **Infusion-related**: :func:`myotrial.derive.derive_infusion_related` (the one
  implementation; re-exported here for compatibility): onset during an infusion cycle or within
  the protocol's ``infusion_related_window_hours`` after its end (ProDERM: 72 h, written in the
  protocol file only; Aggarwal R et al. Arthritis Res Ther 2024;26:27,
  doi:10.1186/s13075-023-03232-2).
* **Arm and period**: the arm is taken from ``subjects`` (pass an as-treated column to
  summarise as treated). Without ``period_start`` there is one period, ``overall``. With it, an
  event (or infusion) is in ``extension`` when its onset (start) is at or after the subject's
  ``period_start``, else in ``randomised``; subjects with no ``period_start`` never entered the
  second period. Events with a missing onset are in period ``unknown``. Analysis and report
  build ``subjects`` from ADSL's periods with :func:`myotrial.derive.safety_subjects`
  (``period_start = "ole_start"``: the first of ``AP02SDT``/``AP03SDT``), so both count the
  same patients, events and infusions; :func:`myotrial.derive.derive_arm_period` gives each
  event its ADSL period and treatment received.
* Boolean columns accept true/false, yes/no, 1/0 (any case); a missing value means "not
  recorded" and the event is not counted in that category.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from myotrial.derive.safety import derive_arm_period, derive_infusion_related, parse_datetimes
from myotrial.errors import InputValidationError, Problem
from myotrial.protocol import Protocol
from myotrial.stats._validate import check_columns
from myotrial.tables import SEVERE_OR_WORSE, boolean_column

__all__ = [
    "AE_SUMMARY_COLUMNS",
    "AE_TERM_COLUMNS",
    "derive_arm_period",
    "derive_infusion_related",
    "summarise_adverse_events",
    "summarise_ae_terms",
]

#: Columns of :func:`summarise_adverse_events`.
AE_SUMMARY_COLUMNS = (
    "arm",
    "period",
    "category",
    "n_subjects",
    "n_with_event",
    "pct",
    "n_events",
    "n_infusions",
    "events_per_100_infusions",
)
#: Columns of :func:`summarise_ae_terms`.
AE_TERM_COLUMNS = (
    "arm",
    "period",
    "body_system",
    "term",
    "n_subjects",
    "n_with_event",
    "pct",
    "n_events",
)

_SEVERE = set(SEVERE_OR_WORSE)


def _booleans(frame: pd.DataFrame, table: str, column: str) -> pd.Series:
    """true/false text, bools or 0/1 -> pandas boolean (missing stays <NA>), with the shared
    parser :func:`myotrial.tables.boolean_column`; every bad value located."""
    parsed = boolean_column(frame[column])
    if parsed.bad.any():
        raise InputValidationError(
            [
                Problem(
                    table=table,
                    row=int(pos) + 1,
                    subject_id=str(frame["subject_id"].iloc[pos]),
                    visit_week=None,
                    column=column,
                    value=str(frame[column].iloc[pos]),
                    rule="true/false (or blank)",
                )
                for pos in np.flatnonzero(parsed.bad)
            ],
            table=table,
        )
    return pd.Series(parsed.values.to_numpy(), index=frame.index, dtype="boolean")


def _subject_frame(subjects: pd.DataFrame, arm: str, period_start: str | None) -> pd.DataFrame:
    cols = ["subject_id", arm] + ([period_start] if period_start else [])
    check_columns(subjects, "subjects", cols)
    ids = subjects["subject_id"].astype(str)
    dups = sorted(set(ids[ids.duplicated()]))
    if dups:
        raise ValueError(f"subjects has duplicate subject_id values: {dups[:10]}")
    if subjects[arm].isna().any():
        missing = ids[subjects[arm].isna().to_numpy()].tolist()
        raise ValueError(f"subjects column {arm!r} is missing for subject(s) {missing[:10]}")
    frame = pd.DataFrame(
        {"subject_id": ids.to_numpy(), "arm": subjects[arm].astype(str).to_numpy()}
    )
    if period_start:
        frame["period_start"] = parse_datetimes(
            subjects, "subjects", period_start, required=False
        ).to_numpy()
    return frame


def _assign(
    table: pd.DataFrame, table_name: str, when: pd.Series, subj: pd.DataFrame, has_period: bool
) -> pd.DataFrame:
    ids = table["subject_id"].astype(str)
    unknown = sorted(set(ids) - set(subj["subject_id"]))
    if unknown:
        raise ValueError(f"{table_name} has subject_id(s) not in subjects: {unknown[:10]}")
    merged = pd.DataFrame({"subject_id": ids.to_numpy(), "when": when.to_numpy()}).merge(
        subj, on="subject_id", how="left"
    )
    if not has_period:
        period = np.full(len(merged), "overall", dtype=object)
    else:
        after = merged["period_start"].notna() & (merged["when"] >= merged["period_start"])
        period = np.where(after, "extension", "randomised").astype(object)
        period[merged["when"].isna().to_numpy()] = "unknown"
    return pd.DataFrame({"arm": merged["arm"].to_numpy(), "period": period}, index=table.index)


def _split_periods(
    adverse_events: pd.DataFrame,
    subjects: pd.DataFrame,
    *,
    arm: str = "arm",
    period_start: str | None = None,
) -> pd.DataFrame:
    """A copy of ``adverse_events`` with ``arm`` and ``period`` (two-period split by the
    subject's ``period_start``; module docstring)."""
    check_columns(adverse_events, "adverse_events", ["subject_id", "onset"])
    subj = _subject_frame(subjects, arm, period_start)
    onset = parse_datetimes(adverse_events, "adverse_events", "onset", required=False)
    assigned = _assign(adverse_events, "adverse_events", onset, subj, period_start is not None)
    out = adverse_events.copy()
    out["arm"] = assigned["arm"].to_numpy()
    out["period"] = assigned["period"].to_numpy()
    return out


def _denominators(subj: pd.DataFrame, has_period: bool) -> dict[tuple[str, str], int]:
    den: dict[tuple[str, str], int] = {}
    for arm_value, grp in subj.groupby("arm"):
        a = str(arm_value)
        if not has_period:
            den[(a, "overall")] = len(grp)
        else:
            den[(a, "randomised")] = len(grp)
            den[(a, "extension")] = int(grp["period_start"].notna().sum())
            den[(a, "unknown")] = len(grp)
    return den


def _prepared(
    adverse_events: pd.DataFrame,
    subjects: pd.DataFrame,
    infusions: pd.DataFrame | None,
    arm: str,
    period_start: str | None,
    window_hours: float | None,
    protocol: Protocol | str,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    check_columns(
        adverse_events,
        "adverse_events",
        [
            "subject_id",
            "term",
            "body_system",
            "onset",
            "serious",
            "severity",
            "related",
            "thromboembolic",
        ],
    )
    subj = _subject_frame(subjects, arm, period_start)
    ae = _split_periods(adverse_events, subjects, arm=arm, period_start=period_start)
    if infusions is not None:
        ae = derive_infusion_related(ae, infusions, protocol, window_hours=window_hours)
    ae["subject_id"] = ae["subject_id"].astype(str)
    for col in ("serious", "related", "thromboembolic"):
        ae[col] = _booleans(adverse_events, "adverse_events", col).to_numpy()
    ae["severe_or_worse"] = ae["severity"].astype(str).str.strip().str.lower().isin(_SEVERE)
    inf = None
    if infusions is not None:
        start = parse_datetimes(infusions, "infusions", "start", required=True)
        inf = _assign(infusions, "infusions", start, subj, period_start is not None)
    return ae, subj, inf


def summarise_adverse_events(
    adverse_events: pd.DataFrame,
    subjects: pd.DataFrame,
    infusions: pd.DataFrame | None = None,
    *,
    arm: str = "arm",
    period_start: str | None = None,
    window_hours: float | None = None,
    protocol: Protocol | str = "proderm",
) -> pd.DataFrame:
    """Patients and events by arm, period and category; rates per 100 infusions.

    Categories: ``any`` (every event), ``serious``, ``related``, ``severe_or_worse``
    (severity severe, life-threatening or fatal), ``thromboembolic`` and, when ``infusions``
    is given, ``infusion_related`` (:func:`derive_infusion_related`).

    Parameters
    ----------
    adverse_events : pandas.DataFrame
        Canonical ``adverse_events`` table.
    subjects : pandas.DataFrame
        ``subject_id``, the ``arm`` column and optionally ``period_start``; every subject in
        it is in the denominator of its arm (also subjects without any event).
    infusions : pandas.DataFrame, optional
        Canonical ``infusions`` table: enables the ``infusion_related`` category and the
        infusion counts and rates.
    arm : str
        Arm column of ``subjects`` (default ``"arm"``).
    period_start : str, optional
        Column of ``subjects`` with the start of the second period (see module docstring).
    window_hours : float, optional
        Infusion-related window after a cycle's end; default: the protocol's
        ``infusion_related_window_hours``.
    protocol : Protocol or str
        The protocol whose infusion-related window applies (default ``proderm``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`AE_SUMMARY_COLUMNS`: ``n_subjects`` is the denominator (subjects in the
        arm; for ``extension``, those with a ``period_start``), ``n_with_event`` the subjects
        with at least one such event, ``pct`` = 100 * n_with_event / n_subjects, ``n_events``
        the events, ``n_infusions`` the infusion days in the arm and period and
        ``events_per_100_infusions`` = 100 * n_events / n_infusions (NaN without infusions).
        One row per arm x period x category, including zero counts; period ``unknown`` rows
        appear only when some onset is missing.
    """
    ae, subj, inf = _prepared(
        adverse_events, subjects, infusions, arm, period_start, window_hours, protocol
    )
    has_period = period_start is not None
    den = _denominators(subj, has_period)
    categories = ["any", "serious", "related", "severe_or_worse", "thromboembolic"]
    if infusions is not None:
        categories.append("infusion_related")
    periods = ["overall"] if not has_period else ["randomised", "extension"]
    if has_period and (ae["period"] == "unknown").any():
        periods.append("unknown")
    rows = []
    for arm_value in sorted(subj["arm"].unique()):
        for period in periods:
            sub = ae[(ae["arm"] == arm_value) & (ae["period"] == period)]
            n_inf = (
                int(((inf["arm"] == arm_value) & (inf["period"] == period)).sum())
                if inf is not None
                else 0
            )
            for cat in categories:
                mask = (
                    np.ones(len(sub), dtype=bool)
                    if cat == "any"
                    else sub[cat].fillna(False).to_numpy(dtype=bool)
                )
                events = sub[mask]
                n_subj = den[(str(arm_value), period)]
                n_with = int(events["subject_id"].nunique())
                rows.append(
                    {
                        "arm": arm_value,
                        "period": period,
                        "category": cat,
                        "n_subjects": n_subj,
                        "n_with_event": n_with,
                        "pct": 100.0 * n_with / n_subj if n_subj else np.nan,
                        "n_events": len(events),
                        "n_infusions": n_inf if inf is not None else np.nan,
                        "events_per_100_infusions": (
                            100.0 * len(events) / n_inf if inf is not None and n_inf else np.nan
                        ),
                    }
                )
    return pd.DataFrame(rows, columns=list(AE_SUMMARY_COLUMNS))


def summarise_ae_terms(
    adverse_events: pd.DataFrame,
    subjects: pd.DataFrame,
    infusions: pd.DataFrame | None = None,
    *,
    arm: str = "arm",
    period_start: str | None = None,
    infusion_related_only: bool = False,
    window_hours: float | None = None,
    protocol: Protocol | str = "proderm",
    categories: Sequence[str] = (),
) -> pd.DataFrame:
    """Patients and events by arm, period, body system and term.

    Parameters
    ----------
    adverse_events, subjects, infusions, arm, period_start, window_hours, protocol
        As in :func:`summarise_adverse_events`.
    infusion_related_only : bool
        Count only infusion-related events (needs ``infusions``), e.g. for "most frequent
        infusion-related reactions" (ProDERM: headache 46%, pyrexia 20%, nausea 17%).
    categories : sequence of str
        Further restrict to events flagged in all of these boolean columns (``serious``,
        ``related``, ``thromboembolic``, ``severe_or_worse``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`AE_TERM_COLUMNS`. For each arm x period, one row per body system with
        ``term`` = ``"(any)"`` (subjects with any event in that body system) followed by one
        row per term; sorted by body system, then decreasing ``n_with_event``. Only
        combinations with at least one event appear; denominators as in
        :func:`summarise_adverse_events`.
    """
    if infusion_related_only and infusions is None:
        raise ValueError("infusion_related_only=True needs the infusions table")
    allowed = {"serious", "related", "thromboembolic", "severe_or_worse"}
    bad = [c for c in categories if c not in allowed]
    if bad:
        raise ValueError(f"categories {bad} not valid; valid: {sorted(allowed)}")
    ae, subj, _ = _prepared(
        adverse_events, subjects, infusions, arm, period_start, window_hours, protocol
    )
    den = _denominators(subj, period_start is not None)
    mask = np.ones(len(ae), dtype=bool)
    if infusion_related_only:
        mask &= ae["infusion_related"].fillna(False).to_numpy(dtype=bool)
    for cat in categories:
        mask &= ae[cat].fillna(False).to_numpy(dtype=bool)
    ae = ae[mask]
    ae = ae.assign(
        body_system=ae["body_system"].fillna("(missing)").astype(str),
        term=ae["term"].fillna("(missing)").astype(str),
    )
    rows = []
    for (arm_value, period), grp in ae.groupby(["arm", "period"], sort=True):
        n_subj = den[(str(arm_value), str(period))]
        for body, bgrp in grp.groupby("body_system", sort=True):
            block = [
                {
                    "arm": arm_value,
                    "period": period,
                    "body_system": body,
                    "term": "(any)",
                    "n_subjects": n_subj,
                    "n_with_event": int(bgrp["subject_id"].nunique()),
                    "n_events": len(bgrp),
                }
            ]
            per_term = sorted(
                (
                    (int(tgrp["subject_id"].nunique()), str(term), len(tgrp))
                    for term, tgrp in bgrp.groupby("term", sort=True)
                ),
                key=lambda item: (-item[0], item[1]),
            )
            terms = [
                {
                    "arm": arm_value,
                    "period": period,
                    "body_system": body,
                    "term": term,
                    "n_subjects": n_subj,
                    "n_with_event": n_with,
                    "n_events": n_ev,
                }
                for n_with, term, n_ev in per_term
            ]
            rows.extend(block + terms)
    out = pd.DataFrame(rows, columns=[c for c in AE_TERM_COLUMNS if c != "pct"])
    out.insert(6, "pct", 100.0 * out["n_with_event"] / out["n_subjects"].replace(0, np.nan))
    return out.reindex(columns=list(AE_TERM_COLUMNS))
