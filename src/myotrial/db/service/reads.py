"""Reads and exports: subjects, the canonical tables, the audit trail and its verification."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from myotrial.db import audit as _audit
from myotrial.db import schema as s
from myotrial.db.exports import build_exports
from myotrial.db.results import DeteriorationEvent, SubjectView
from myotrial.db.roles import Actor, PermissionDenied, Role
from myotrial.db.service._unit import ServiceCore
from myotrial.db.service.visits import score_subject_visits, visits_frame

__all__ = ["ENTRY_REASONS", "ReadOperations", "SubjectTimeline", "subject_view",
           "subject_views"]


def subject_view(conn: sa.Connection, sid: str) -> SubjectView:
    """One subject as any reader may see it (no arm)."""
    return subject_views(conn, s.subjects.c.subject_id == sid)[0]


def subject_views(conn: sa.Connection, where: Any = None) -> tuple[SubjectView, ...]:
    """The subjects matching ``where`` (None: all), ordered by id, as any reader may see them
    (no arm): five queries whatever the number of subjects."""
    su = s.subjects
    cond = [] if where is None else [where]
    subjects = conn.execute(sa.select(su).where(*cond).order_by(su.c.subject_id)).all()
    if not subjects:
        return ()

    def by_subject(table: sa.Table, *columns: Any, order: Any = None) -> dict[str, Any]:
        query = sa.select(table.c.subject_id, *columns).join(
            su, su.c.subject_id == table.c.subject_id).where(*cond)
        if order is not None:
            query = query.order_by(order)
        return {r[0]: r for r in conn.execute(query)}  # the last row of a subject wins

    allocs = by_subject(s.allocations, s.allocations.c.stratum, s.allocations.c.kit_code,
                        s.allocations.c.randomised_at)
    screening = by_subject(s.screenings, s.screenings.c.status,
                           order=s.screenings.c.screening_id)
    xo = s.crossover_events
    events = by_subject(xo, xo.c.confirmed_week, xo.c.description, xo.c.recorded_at)
    unblinded = by_subject(s.emergency_unblindings, s.emergency_unblindings.c.unblinding_id)
    out = []
    for subj in subjects:
        sid = subj.subject_id
        alloc, scr, event = allocs.get(sid), screening.get(sid), events.get(sid)
        out.append(SubjectView(
            sid, subj.site_id, subj.age, subj.sex, subj.msa_group, bool(subj.randomised),
            None if scr is None else scr.status,
            None if alloc is None else alloc.stratum, None if alloc is None else alloc.kit_code,
            None if alloc is None else alloc.randomised_at,
            None if event is None else DeteriorationEvent(sid, event.confirmed_week,
                                                           event.description,
                                                           event.recorded_at, False),
            subj.completed_week_16, subj.entered_extension, subj.completed_week_40,
            subj.discontinuation_reason, subj.consent_date, sid in unblinded))
    return tuple(out)


#: Audit reasons of data entry, not corrections (the subject page lists corrections only).
ENTRY_REASONS = ("randomisation", "data entry", "re-screening")


@dataclass(frozen=True)
class SubjectTimeline:
    """What the subject page shows, read in one snapshot (nothing written): the subject, its
    visits scored under the protocol (with ``visit_date``), its infusions and adverse events
    (the rows of the blinded export, or of the unblinded one for the unblinded statistician),
    its corrections (audit rows) and, unblinded only, ``arm`` and ``crossover_to``."""

    subject: SubjectView
    visits: pd.DataFrame
    infusions: pd.DataFrame
    adverse_events: pd.DataFrame
    corrections: pd.DataFrame
    unblinded: dict[str, Any] | None


class ReadOperations(ServiceCore):
    """Subjects, exports and the audit trail (blinded unless the role is unblinded)."""

    def get_subject(self, actor: Actor, subject_id: str) -> SubjectView:
        """One subject (no arm)."""
        with self._transaction(actor, "get_subject", write=False) as tx:
            subj = tx.subject(subject_id)
            return subject_view(tx.conn, subj["subject_id"])

    def list_subjects(self, actor: Actor) -> tuple[SubjectView, ...]:
        """Subjects visible to the actor (site investigators: own site)."""
        with self._transaction(actor, "list_subjects", write=False) as tx:
            return subject_views(tx.conn, self._site_filter(actor))

    @staticmethod
    def _site_filter(actor: Actor) -> Any:
        return (s.subjects.c.site_id == actor.site_id
                if actor.role is Role.SITE_INVESTIGATOR else None)

    def subject_timeline(self, actor: Actor, subject_id: str) -> SubjectTimeline:
        """One subject's page (:class:`SubjectTimeline`) from read queries in one snapshot:
        not an export and not an audit event. Blinded for every role but the unblinded
        statistician; site investigators reach their own site's subjects only."""
        with self._transaction(actor, "subject_timeline", write=False) as tx:
            sid = tx.subject(subject_id)["subject_id"]
            view = subject_view(tx.conn, sid)
            frame = visits_frame(tx.conn, sid)
            site = actor.site_id if actor.role is Role.SITE_INVESTIGATOR else None
            tables = build_exports(tx.conn, self.policy, blinded=actor.blinded, site_id=site,
                                   subject_id=sid, with_visits=False)
            au = s.audit_log
            query = sa.select(au).where(au.c.subject_id == sid, au.c.action == "update",
                                        sa.or_(au.c.reason.is_(None),
                                               au.c.reason.not_in(ENTRY_REASONS))
                                        ).order_by(au.c.id)
            if site is not None:
                query = query.where(au.c.site_id == site)
            fixes = tx.conn.execute(query).all()
            unblinded = None
            if not actor.blinded:
                subj = tables["subjects"]
                unblinded = {"arm": subj["arm"].iloc[0],
                             "crossover_to": subj["crossover_to"].iloc[0]}
        scored = score_subject_visits(self, frame)
        if not scored.empty:
            scored = scored.assign(visit_date=frame["visit_date"].to_numpy())
        return SubjectTimeline(
            view, scored, tables["infusions"], tables["adverse_events"],
            pd.DataFrame([tuple(r) for r in fixes], columns=[c.name for c in au.c]), unblinded)

    def dashboard_tables(self, actor: Actor) -> tuple[tuple[SubjectView, ...],
                                                      dict[str, pd.DataFrame]]:
        """The subjects and the canonical tables behind the dashboard, read in one snapshot
        (not an export, not an audit event): blinded for every role but the unblinded
        statistician; site investigators get their own site only."""
        with self._transaction(actor, "dashboard_tables", write=False) as tx:
            subjects = subject_views(tx.conn, self._site_filter(actor))
            site = actor.site_id if actor.role is Role.SITE_INVESTIGATOR else None
            tables = build_exports(tx.conn, self.policy, blinded=actor.blinded, site_id=site)
        return subjects, tables

    def export_tables(self, actor: Actor, *, blinded: bool = True) -> dict[str, pd.DataFrame]:
        """The canonical tables (data-format.md): ``visits``, ``subjects``, ``infusions``,
        ``adverse_events`` (:func:`myotrial.db.exports.build_exports` under the protocol).

        Blinded (the default, and always for blinded roles): no ``arm`` and no
        ``crossover_week`` in subjects, no ``product`` in infusions; ``deterioration_week``
        for every arm alike. ``blinded=False`` is honoured only for the unblinded
        statistician. Site investigators get their own site's subjects only. Exports are
        audited (who, when, which view, row counts).
        """
        with self._transaction(actor, "export_tables", write=True) as tx:
            if not blinded and actor.blinded:
                raise PermissionDenied(f"user {actor.username!r} (role {actor.role.value}) may "
                                       "not export unblinded data")
            site = actor.site_id if actor.role is Role.SITE_INVESTIGATOR else None
            tables = build_exports(tx.conn, self.policy, blinded=blinded, site_id=site)
            tx.audit("export", new={"blinded": blinded, "site_id": site,
                                    "rows": {k: len(f) for k, f in tables.items()}},
                     site_id=site)
        return tables

    def audit_trail(self, actor: Actor, *, subject_id: str | None = None) -> pd.DataFrame:
        """Audit rows (site investigators: their site's). Audit rows never hold an arm."""
        with self._transaction(actor, "audit_trail", write=False) as tx:
            query = sa.select(s.audit_log).order_by(s.audit_log.c.id)
            if subject_id is not None:
                tx.subject(subject_id)
                query = query.where(s.audit_log.c.subject_id == subject_id)
            if actor.role is Role.SITE_INVESTIGATOR:
                query = query.where(s.audit_log.c.site_id == actor.site_id)
            rows = tx.conn.execute(query).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=[c.name for c in s.audit_log.c])

    def verify_audit(self, actor: Actor, *, expected_head: str | None = None
                     ) -> _audit.AuditReport:
        """Verify the audit chain and the data against it (:func:`verify_audit_chain`)."""
        with self._transaction(actor, "verify_audit", write=False) as tx:
            return _audit.verify_audit_chain(tx.conn, expected_head=expected_head,
                                             list_key=self._list_key)
