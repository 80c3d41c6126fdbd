"""Read models of the pages and the JSON API, built from :class:`~myotrial.db.TrialService`
results only (no SQL here).

The timeline and the dashboard come from the service's read queries
(:meth:`~myotrial.db.TrialService.subject_timeline`;
:func:`~myotrial.db.service.reads.dashboard_data`, the narrow reads of the
``dashboard_tables`` operation: blinded for every role but the unblinded statistician, one
snapshot each): a page view is not an export and writes nothing, the audit trail included
(docs/web.md). The pages and the API take them through ``timeline_view``, ``subjects_view``
and ``dashboard_view``: kept per worker under the reader's role and site and the data
version (:mod:`myotrial.web.readcache`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import pandas as pd

from myotrial.db.roles import Actor, Role
from myotrial.db.service import TrialService
from myotrial.db.service.reads import (
    DashboardData,
    SubjectTimeline,
    dashboard_data,
    list_subjects_versioned,
    read_version,
)
from myotrial.web.readcache import ReadCache, View, json_bytes, scope

__all__ = ["CORE_MEASURES", "dashboard", "dashboard_key", "dashboard_view", "json_body",
           "jsonable", "records", "role_label", "subjects_key", "subjects_view", "timeline",
           "timeline_key", "timeline_view"]

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
_CORRECTION_COLUMNS = ("timestamp", "username", "table_name", "record_key", "field",
                       "old_value", "new_value", "reason")


def timeline(service: TrialService, actor: Actor, subject_id: str) -> dict[str, Any]:
    """One subject: details, scored visits, infusions, adverse events and corrections, and
    the protocol population's TIS thresholds (``tis_thresholds``) for the plot.

    Blinded roles get no arm (the service's blinded read); the unblinded statistician also
    gets ``arm``, ``crossover_to`` and the infusions' ``product``.
    """
    return timeline_of(service, service.subject_timeline(actor, subject_id))


def timeline_of(service: TrialService, data: SubjectTimeline) -> dict[str, Any]:
    """:func:`timeline` of a read :class:`SubjectTimeline` (plain values, no pandas)."""
    visits = []
    for row in data.visit_rows:
        visit = {k: jsonable(row[k]) for k in _VISIT_COLUMNS if k in row}
        visit["visit_date"] = jsonable(row.get("visit_date"))
        clauses = visit.get("worsening_clauses")
        visit["worsening_clauses"] = clauses.split(";") if isinstance(clauses, str) else []
        visits.append(visit)
    out: dict[str, Any] = {
        "subject": data.subject.as_dict(),
        "visits": visits,
        "infusions": [{str(k): jsonable(v) for k, v in r.items()} for r in data.infusions],
        "adverse_events": [{str(k): jsonable(v) for k, v in r.items()}
                           for r in data.adverse_events],
        "corrections": [{k: jsonable(r[k]) for k in _CORRECTION_COLUMNS}
                        for r in data.correction_rows],
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
    return dashboard_of(service, actor, dashboard_data(service, actor), day)


def dashboard_of(service: TrialService, actor: Actor, data: DashboardData, day: dt.date
                 ) -> dict[str, Any]:
    """:func:`dashboard` of the tables read (``data``) on ``day``."""
    policy = service.policy
    subjects = data.subjects
    arms = {} if actor.blinded else data.arms
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

    visits = data.visits
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
    events = data.adverse_events
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


# ---------------------------------------------------------------------------------------------
# cached views (web/readcache.py): the data version is read first; a view is built only when
# none was kept for this reader's role and site at that version, then kept under the version
# of the snapshot it was built from


def timeline_key(actor: Actor, subject_id: str) -> Callable[[str], Hashable]:
    """The cache key of :func:`timeline_view`, given the data version."""
    role, site = scope(actor)
    return lambda version: ("timeline", role, site, subject_id, version)


def subjects_key(actor: Actor) -> Callable[[str], Hashable]:
    """The cache key of :func:`subjects_view`, given the data version."""
    role, site = scope(actor)
    return lambda version: ("subjects", role, site, version)


def dashboard_key(actor: Actor, day: dt.date) -> Callable[[str], Hashable]:
    """The cache key of :func:`dashboard_view` on ``day``, given the data version."""
    role, site = scope(actor)
    return lambda version: ("dashboard", role, site, day, version)


def timeline_view(cache: ReadCache, service: TrialService, actor: Actor, subject_id: str,
                  *, version: str | None = None) -> View:
    """:func:`timeline` of ``subject_id`` as ``actor`` sees it, from ``cache`` when kept.
    ``version``: the data version read with ``actor``'s user row (``read_version(known=)``)."""
    key = timeline_key(actor, subject_id)

    def build() -> tuple[Hashable, Any]:
        data = service.subject_timeline(actor, subject_id)
        return key(data.version), timeline_of(service, data)

    version = read_version(service, actor, "subject_timeline", known=version)
    return cache.lookup(key(version), build)


def subjects_view(cache: ReadCache, service: TrialService, actor: Actor, *,
                  version: str | None = None) -> View:
    """The subjects visible to ``actor`` (``SubjectView.as_dict()`` each), from ``cache``
    when kept (``version``: as :func:`timeline_view`)."""
    key = subjects_key(actor)

    def build() -> tuple[Hashable, Any]:
        subjects, version = list_subjects_versioned(service, actor)
        return key(version), [s.as_dict() for s in subjects]

    version = read_version(service, actor, "list_subjects", known=version)
    return cache.lookup(key(version), build)


def dashboard_view(cache: ReadCache, service: TrialService, actor: Actor, *,
                   today: dt.date | None = None, version: str | None = None) -> View:
    """:func:`dashboard` as ``actor`` sees it on ``today`` (default: the UTC date), from
    ``cache`` when kept (``version``: as :func:`timeline_view`)."""
    day = today or dt.datetime.now(dt.UTC).date()
    key = dashboard_key(actor, day)

    def build() -> tuple[Hashable, Any]:
        data = dashboard_data(service, actor)
        return key(data.version), dashboard_of(service, actor, data, day)

    version = read_version(service, actor, "dashboard_tables", known=version)
    return cache.lookup(key(version), build)


def json_body(view: View) -> bytes:
    """The JSON response body of a cached view (made once per view)."""
    body: bytes = view.render("json", lambda data: json_bytes(jsonable(data)))
    return body
