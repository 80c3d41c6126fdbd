"""Read models of the pages and the JSON API, built from :class:`~myotrial.db.TrialService`
results only (no SQL here).

The timeline and the dashboard come from the service's read queries
(:meth:`~myotrial.db.TrialService.subject_timeline`,
:meth:`~myotrial.db.TrialService.dashboard_tables`: blinded for every role but the unblinded
statistician, one snapshot each): a page view is not an export and writes nothing, the audit
trail included (docs/web.md).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from myotrial.db.roles import Actor, Role
from myotrial.db.service import TrialService

__all__ = ["CORE_MEASURES", "dashboard", "jsonable", "records", "role_label", "timeline"]

#: Core set measures shown on the timeline (visits-table names) and their labels.
CORE_MEASURES: tuple[tuple[str, str], ...] = (
    ("pga", "PGA"),
    ("ptga", "PtGA"),
    ("extramuscular", "Extramuscular"),
    ("mmt8", "MMT-8"),
    ("haq", "HAQ"),
    ("ck", "CK"),
)
#: Days ahead in which a scheduled visit counts as due.
DUE_AHEAD_DAYS = 14


def jsonable(value: Any) -> Any:
    """Plain JSON value (NaN/NaT/NA -> None; timestamps -> ISO text; numpy -> Python)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def records(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-ready dicts."""
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    return [{str(k): jsonable(v) for k, v in rec.items()} for rec in frame.to_dict("records")]


_VISIT_COLUMNS = ("visit_week", *(m for m, _ in CORE_MEASURES), "chaq", "ck_uln", "tis",
                  "tis_category",
                  "tis_missing_reason", "doi_met", "worsening", "worsening_clauses",
                  "cd_confirmed")


def timeline(service: TrialService, actor: Actor, subject_id: str) -> dict[str, Any]:
    """One subject: details, scored visits, infusions, adverse events and corrections, and
    the protocol population's TIS thresholds (``tis_thresholds``) for the plot.

    Blinded roles get no arm (the service's blinded read); the unblinded statistician also
    gets ``arm``, ``crossover_to`` and the infusions' ``product``.
    """
    data = service.subject_timeline(actor, subject_id)
    scored = data.visits
    visits = records(scored, _VISIT_COLUMNS) if not scored.empty else []
    if visits:
        dates = [jsonable(d) for d in scored["visit_date"].tolist()]
        for visit, day in zip(visits, dates, strict=True):
            visit["visit_date"] = day
            clauses = visit.get("worsening_clauses")
            visit["worsening_clauses"] = clauses.split(";") if isinstance(clauses, str) else []
    out: dict[str, Any] = {
        "subject": data.subject.as_dict(),
        "visits": visits,
        "infusions": [{str(k): jsonable(v) for k, v in r.items()} for r in data.infusions],
        "adverse_events": [{str(k): jsonable(v) for k, v in r.items()}
                           for r in data.adverse_events],
        "corrections": records(data.corrections, (
            "timestamp", "username", "table_name", "record_key", "field", "old_value",
            "new_value", "reason")),
    }
    out["tis_thresholds"] = list(service.policy.threshold_values)
    out["population"] = service.policy.population
    if data.unblinded is not None:
        out["unblinded"] = {k: jsonable(v) for k, v in data.unblinded.items()}
    return out


def dashboard(service: TrialService, actor: Actor, *, today: dt.date | None = None
              ) -> dict[str, Any]:
    """Enrolment by site, visits due, open deteriorations and adverse events, under the
    service's protocol (schedule, scoring, who switches on deterioration).

    Pooled for blinded roles, identical whatever the arms (a confirmed deterioration counts
    alike in every arm); the unblinded statistician also gets each count by arm (``by_arm``),
    with the deteriorations that switched treatment (``crossovers``). Site investigators see
    their own site only (the service filters).
    """
    day = today or dt.datetime.now(dt.UTC).date()
    policy = service.policy
    subjects, tables = service.dashboard_tables(actor)
    arms: dict[str, str] = {}
    if not actor.blinded:
        frame = tables["subjects"]
        arms = {str(s): str(a) for s, a in zip(frame["subject_id"], frame["arm"], strict=True)
                if isinstance(a, str)}
    arm_codes = sorted(set(arms.values()))

    enrolment: dict[str, dict[str, Any]] = {}
    for subj in subjects:
        row = enrolment.setdefault(subj.site_id, {"site_id": subj.site_id, "screened": 0,
                                                  "eligible": 0, "randomised": 0,
                                                  "deteriorations": 0})
        row["screened"] += 1
        row["eligible"] += subj.screening_status == "eligible"
        row["randomised"] += subj.randomised
        row["deteriorations"] += subj.deterioration is not None
        if arms:
            by_arm = row.setdefault("randomised_by_arm", dict.fromkeys(arm_codes, 0))
            if subj.subject_id in arms:
                by_arm[arms[subj.subject_id]] += 1

    visits = tables["visits"]
    scored = service.score_table(visits)
    recorded: dict[str, set[int]] = {}
    for sid, week in zip(visits["subject_id"], visits["visit_week"], strict=True):
        recorded.setdefault(str(sid), set()).add(int(week))
    due = []
    for subj in subjects:
        if not subj.randomised or subj.randomised_at is None or subj.discontinuation_reason:
            continue
        start = subj.randomised_at.date()
        for week in policy.assessment_weeks:
            if week in recorded.get(subj.subject_id, set()):
                continue
            when = start + dt.timedelta(weeks=week)
            if when <= day + dt.timedelta(days=DUE_AHEAD_DAYS):
                due.append({"subject_id": subj.subject_id, "site_id": subj.site_id,
                            "visit_week": week, "due_date": when.isoformat(),
                            "overdue": when < day})
            break  # the next scheduled visit only
    deteriorations = []
    for subj in subjects:
        if subj.deterioration is not None:
            deteriorations.append({
                "subject_id": subj.subject_id, "site_id": subj.site_id,
                "status": "confirmed", "visit_week": subj.deterioration.confirmed_week,
                "action": subj.deterioration.description})
    if not scored.empty:
        last = scored.sort_values("visit_week").groupby("subject_id").tail(1)
        crossed = {s.subject_id for s in subjects if s.deterioration is not None}
        site = {s.subject_id: s.site_id for s in subjects}
        for rec in last.to_dict("records"):
            if rec["worsening"] is True and not rec["cd_confirmed"] and \
                    rec["subject_id"] not in crossed:
                deteriorations.append({
                    "subject_id": rec["subject_id"], "site_id": site.get(rec["subject_id"]),
                    "status": "to confirm", "visit_week": int(rec["visit_week"]),
                    "action": "worsening: confirm at the next visit"})
    if arms:  # the unblinded side of the crossover workflow
        for row in deteriorations:
            arm = arms.get(str(row["subject_id"]))
            row["arm"] = arm
            row["crossover_to"] = (policy.switch_target(arm) if row["status"] == "confirmed"
                                   and arm is not None else None)
    events = tables["adverse_events"]
    safety = _safety_counts(events)
    highlighted = events.loc[events["thromboembolic"].fillna(False).astype(bool)
                             | events["serious"].fillna(False).astype(bool)]
    out: dict[str, Any] = {
        "view": "by arm" if arms else "pooled",
        "today": day.isoformat(),
        "enrolment": sorted(enrolment.values(), key=lambda r: r["site_id"]),
        "totals": {"screened": len(subjects),
                   "randomised": sum(s.randomised for s in subjects),
                   "deteriorations": sum(s.deterioration is not None for s in subjects)},
        "visits_due": sorted(due, key=lambda r: (r["due_date"], r["subject_id"])),
        "emergency_unblindings": [{"subject_id": s.subject_id, "site_id": s.site_id}
                                  for s in subjects if s.emergency_unblinded],
        "deteriorations": deteriorations,
        "adverse_events": safety,
        "highlighted_adverse_events": records(highlighted, (
            "subject_id", "term", "onset", "severity", "serious", "thromboembolic",
            "infusion_related", "infusion_cycle")),
    }
    if arms:
        out["by_arm"] = {
            code: {"randomised": sum(1 for a in arms.values() if a == code),
                   "deteriorations": sum(1 for s in subjects if s.deterioration is not None
                                         and arms.get(s.subject_id) == code),
                   "crossovers": sum(1 for s in subjects if s.deterioration is not None
                                     and arms.get(s.subject_id) == code
                                     and policy.switches_on_deterioration(code)),
                   "adverse_events": _safety_counts(events.loc[
                       events["subject_id"].map(arms) == code])}
            for code in arm_codes}
    return out


def _safety_counts(events: pd.DataFrame) -> dict[str, int]:
    def count(column: str) -> int:
        return int(events[column].fillna(False).astype(bool).sum())

    return {"events": len(events), "patients": int(events["subject_id"].nunique()),
            "serious": count("serious"), "thromboembolic": count("thromboembolic"),
            "infusion_related": count("infusion_related")}


def role_label(role: Role | str) -> str:
    """``site_investigator`` -> ``site investigator``."""
    return str(Role(role).value).replace("_", " ")
