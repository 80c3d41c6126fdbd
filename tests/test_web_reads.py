"""Reads never write (issue 16): page views and API reads are not audit events; real exports
are. The subject page and the dashboard come from read queries that return exactly what the
blinded (or, for the unblinded statistician, unblinded) exports gave before. Both backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

import db_support
from myotrial.db import Actor, TrialService, schema
from myotrial.web.views import _VISIT_COLUMNS, jsonable, records, timeline
from web_support import BASELINE, WebTrial, make_web_trial

database_url = pytest.fixture(params=db_support.BACKENDS)(db_support.database_url)

WORSE = {**BASELINE, "pga": 7.0, "ptga": 7.0, "extramuscular": 6.0, "mmt8": 100.0}
READERS = ("inv1", "inv2", "monitor", "bstat", "ustat")
SUBJECTS = ("P001", "P002", "P003", "P004", "Q001")


@pytest.fixture
def trial(database_url: str, tmp_path: Path) -> WebTrial:
    """Both arms, deteriorations in both, infusions, adverse events (one infusion-related, one
    serious thromboembolic), a correction, a disposition, an emergency unblinding, a second
    site."""
    t = make_web_trial(tmp_path, url=database_url)
    svc, inv1, inv2 = t.service, t.actors["inv1"], t.actors["inv2"]
    for sid in ("P001", "P002", "P003", "P004"):
        t.enrol(sid)
    t.enrol("Q001", "inv2")
    for sid in ("P001", "P002"):
        svc.record_visit(inv1, sid, 4, WORSE)
        svc.record_visit(inv1, sid, 8, WORSE)
        svc.record_infusion(inv1, sid, cycle=1, start="2024-03-02T09:00",
                            end="2024-03-02T14:00", dose_g_per_kg=1.0, rate_ml_per_kg_min=0.05)
        svc.record_adverse_event(inv1, sid, term="headache", onset="2024-03-03T10:00",
                                 severity="mild")
    svc.record_adverse_event(inv1, "P003", term="deep vein thrombosis",
                             onset="2024-04-01T10:00", severity="severe", serious=True,
                             thromboembolic=True)
    svc.record_visit(inv2, "Q001", 4, {**BASELINE, "pga": 2.0})
    svc.correct_record(inv1, "visits", {"subject_id": "P003", "visit_week": 0}, "pga", 4.5,
                       "source document verification")
    svc.record_disposition(inv1, "P004", discontinuation_reason="withdrew consent")
    svc.emergency_unblind(inv1, "P002", "anaphylaxis: treating physician needs the product")
    return t


def _audit_state(trial: WebTrial) -> tuple[int, Any]:
    with trial.service.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(schema.audit_log)).scalar_one()
        head = conn.execute(sa.select(schema.audit_head.c.last_hash)).scalar_one()
    return int(n), head


def _reads(subject: str) -> list[str]:
    return ["/dashboard", "/subjects", f"/subjects/{subject}", f"/subjects/{subject}/plot.svg",
            "/api/subjects", f"/api/subjects/{subject}", "/api/dashboard", "/audit",
            "/api/audit", f"/api/audit?subject_id={subject}", "/exports"]


@pytest.mark.parametrize("username", READERS)
def test_a_page_view_and_an_api_read_add_no_audit_row(trial: WebTrial, username: str) -> None:
    user = trial.client(username)  # logging in is audited (security), before the count
    subject = "Q001" if username == "inv2" else "P001"
    before = _audit_state(trial)
    for _ in range(2):
        for path in _reads(subject):
            r = user.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
    if not username.startswith("inv"):  # site investigators may not verify
        assert user.get("/api/audit/verify").json()["ok"]
    assert _audit_state(trial) == before, "a read wrote to the audit trail"
    # a real export still is an audit event (one row, action export)
    r = user.get("/api/exports/visits?format=json")
    assert r.status_code == 200
    n, _ = _audit_state(trial)
    assert n == before[0] + 1
    last = trial.service.audit_trail(trial.actors["monitor"]).iloc[-1]
    assert (last["action"], last["username"]) == ("export", username)


def test_service_reads_write_nothing(trial: WebTrial) -> None:
    """The service's read operations themselves (not only through the web)."""
    svc = trial.service
    before = _audit_state(trial)
    for name in READERS:
        actor = trial.actors[name]
        svc.list_subjects(actor)
        svc.dashboard_tables(actor)
        for view in svc.list_subjects(actor):
            svc.subject_timeline(actor, view.subject_id)
            svc.get_subject(actor, view.subject_id)
            svc.score_subject(actor, view.subject_id)
    assert _audit_state(trial) == before


def _timeline_from_exports(service: TrialService, actor: Actor, subject_id: str
                           ) -> dict[str, Any]:
    """The subject page's data as built before issue 16, from the (audited) exports."""
    subject = service.get_subject(actor, subject_id)
    sid = subject.subject_id
    scored = service.score_subject(actor, sid)
    tables = service.export_tables(actor, blinded=actor.blinded)
    visits = records(scored, _VISIT_COLUMNS) if not scored.empty else []
    dates = tables["visits"].loc[tables["visits"]["subject_id"] == sid,
                                 ["visit_week", "visit_date"]]
    by_week = {int(w): jsonable(d) for w, d in zip(dates["visit_week"], dates["visit_date"],
                                                   strict=True)}
    for visit in visits:
        visit["visit_date"] = by_week.get(int(visit["visit_week"]))
        clauses = visit.get("worsening_clauses")
        visit["worsening_clauses"] = clauses.split(";") if isinstance(clauses, str) else []
    infusions = tables["infusions"]
    events = tables["adverse_events"]
    trail = service.audit_trail(actor, subject_id=sid)
    fixes = trail.loc[(trail["action"] == "update")
                      & ~trail["reason"].isin(["randomisation", "data entry", "re-screening"])]
    out: dict[str, Any] = {
        "subject": subject.as_dict(),
        "visits": visits,
        "infusions": records(infusions.loc[infusions["subject_id"] == sid]),
        "adverse_events": records(events.loc[events["subject_id"] == sid]),
        "corrections": records(fixes, ("timestamp", "username", "table_name", "record_key",
                                       "field", "old_value", "new_value", "reason")),
    }
    out["tis_thresholds"] = list(service.policy.threshold_values)
    out["population"] = service.policy.population
    if not actor.blinded:
        subj = tables["subjects"].loc[tables["subjects"]["subject_id"] == sid]
        out["unblinded"] = {"arm": jsonable(subj["arm"].iloc[0]),
                            "crossover_to": jsonable(subj["crossover_to"].iloc[0])}
    return out


def test_read_queries_return_what_the_exports_gave(trial: WebTrial) -> None:
    """Every subject, every reader: the subject page's data and the dashboard's tables from
    the read queries equal those built from the exports (blinded for blinded roles)."""
    svc = trial.service
    compared = 0
    for name in READERS:
        actor = trial.actors[name]
        for view in svc.list_subjects(actor):
            new = timeline(svc, actor, view.subject_id)
            old = _timeline_from_exports(svc, actor, view.subject_id)
            assert new == old, (name, view.subject_id)
            compared += 1
        subjects, tables = svc.dashboard_tables(actor)
        assert subjects == svc.list_subjects(actor)
        exported = svc.export_tables(actor, blinded=actor.blinded)
        assert set(tables) == set(exported)
        for key, frame in exported.items():
            pd.testing.assert_frame_equal(tables[key], frame, check_exact=True)
    assert compared == 4 + 1 + 3 * len(SUBJECTS)  # inv1: 4, inv2: 1, others: 5 each


def test_scores_are_memoised_on_the_visit_values(trial: WebTrial) -> None:
    """A repeated view does not score again; a changed visit is scored anew."""
    svc, inv1 = trial.service, trial.actors["inv1"]
    first = svc.subject_timeline(inv1, "P003").visits
    assert svc.subject_timeline(inv1, "P003").visits.equals(first)
    svc.record_visit(inv1, "P003", 4, {**BASELINE, "pga": 1.0})
    after = svc.subject_timeline(inv1, "P003").visits
    assert len(after) == len(first) + 1
    assert after["tis"].notna().iloc[-1]


def test_the_dashboard_from_its_narrow_reads_equals_the_one_from_the_tables(trial: WebTrial
                                                                           ) -> None:
    """The dashboard reads only what it shows (``reads.dashboard_reads``: arms for the
    unblinded statistician only, the visits' measures, the events, infusions only to flag
    events): for every reader it equals the dashboard built from the canonical tables
    (blinded for blinded roles), which the test above ties to the exports. Infusion-related,
    serious and thromboembolic events, deteriorations in both arms and a second site make
    every part of it non-empty for some reader."""
    import datetime as dt

    from myotrial.db.service.reads import DashboardData, dashboard_data
    from myotrial.web.views import dashboard_of

    svc = trial.service
    day = dt.date(2024, 6, 1)
    shown = 0
    for name in READERS:
        actor = trial.actors[name]
        data = dashboard_data(svc, actor)
        subjects, tables = svc.dashboard_tables(actor)
        frame = tables["subjects"]
        arms = {} if actor.blinded else {
            str(sid): str(arm) for sid, arm in zip(frame["subject_id"], frame["arm"],
                                                   strict=True) if isinstance(arm, str)}
        assert data.arms == arms, name
        assert (data.arms == {}) == actor.blinded
        from_tables = DashboardData(subjects, arms, tables["visits"],
                                    tables["adverse_events"], data.version)
        new = dashboard_of(svc, actor, data, day)
        assert new == dashboard_of(svc, actor, from_tables, day), name
        shown += len(new["highlighted_adverse_events"]) + len(new["deteriorations"])
        if name == "ustat":
            assert set(new["by_arm"]) == {"ivig", "placebo"}
    assert shown > 0
