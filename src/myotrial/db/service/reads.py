"""Reads and exports: subjects, the canonical tables, the audit trail and its verification."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from myotrial.db import audit as _audit
from myotrial.db import schema as s
from myotrial.db.exports import build_exports
from myotrial.db.results import DeteriorationEvent, SubjectView
from myotrial.db.roles import Actor, PermissionDenied, Role
from myotrial.db.service._unit import ServiceCore

__all__ = ["ReadOperations", "subject_view"]


def subject_view(conn: sa.Connection, sid: str) -> SubjectView:
    """One subject as any reader may see it (no arm)."""
    subj = conn.execute(sa.select(s.subjects).where(s.subjects.c.subject_id == sid)).one()
    alloc = conn.execute(sa.select(s.allocations).where(s.allocations.c.subject_id == sid)
                         ).first()
    scr = conn.execute(sa.select(s.screenings.c.status).where(
        s.screenings.c.subject_id == sid).order_by(s.screenings.c.screening_id.desc())
    ).first()
    event = conn.execute(sa.select(s.crossover_events).where(
        s.crossover_events.c.subject_id == sid)).first()
    unblinded = conn.execute(sa.select(s.emergency_unblindings.c.unblinding_id).where(
        s.emergency_unblindings.c.subject_id == sid).limit(1)).first() is not None
    return SubjectView(
        sid, subj.site_id, subj.age, subj.sex, subj.msa_group, bool(subj.randomised),
        None if scr is None else scr.status,
        None if alloc is None else alloc.stratum, None if alloc is None else alloc.kit_code,
        None if alloc is None else alloc.randomised_at,
        None if event is None else DeteriorationEvent(sid, event.confirmed_week,
                                                       event.description, event.recorded_at,
                                                       False),
        subj.completed_week_16, subj.entered_extension, subj.completed_week_40,
        subj.discontinuation_reason, subj.consent_date, unblinded)


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
            query = sa.select(s.subjects.c.subject_id).order_by(s.subjects.c.subject_id)
            if actor.role is Role.SITE_INVESTIGATOR:
                query = query.where(s.subjects.c.site_id == actor.site_id)
            ids = tx.conn.execute(query).scalars().all()
            return tuple(subject_view(tx.conn, sid) for sid in ids)

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
