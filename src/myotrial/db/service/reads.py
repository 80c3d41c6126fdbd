"""Reads and exports: subjects, the canonical tables, the audit trail and its verification."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from myotrial.db import audit as _audit
from myotrial.db import schema as s
from myotrial.db.engine import OneRowRead
from myotrial.db.exports import build_exports, flag_infusion_related, frame_of
from myotrial.db.results import DeteriorationEvent, SubjectView
from myotrial.db.roles import Actor, PermissionDenied, Role, authorise
from myotrial.db.service._unit import ServiceCore
from myotrial.db.service.visits import score_visit_rows, scored_frame, visit_rows

if TYPE_CHECKING:
    from myotrial.policy import ProtocolPolicy

__all__ = ["ENTRY_REASONS", "DashboardData", "ReadOperations", "SubjectTimeline",
           "dashboard_data", "dashboard_reads", "data_version", "head_columns", "head_version",
           "list_subjects_versioned", "read_version", "subject_view", "subject_views"]


def head_columns() -> tuple[sa.Label[Any], sa.Label[Any]]:
    """The audit head's ``last_id`` and ``last_hash`` as scalar subqueries (labelled
    ``head_id``, ``head_hash``), to read the data version in another statement's snapshot."""
    head = s.audit_head
    return (sa.select(head.c.last_id).where(head.c.id == 1).scalar_subquery().label("head_id"),
            sa.select(head.c.last_hash).where(head.c.id == 1).scalar_subquery()
            .label("head_hash"))


def head_version(last_id: int | None, last_hash: str | None) -> str:
    """The data version of an audit head (``last_id:last_hash``; ``0:`` before any row)."""
    return "0:" if last_id is None else f"{last_id}:{last_hash}"


_VERSION_QUERY = sa.select(*head_columns())


def data_version(conn: sa.Connection) -> str:
    """The audit head (``last_id:last_hash``) as of the caller's snapshot: it moves with every
    committed change of the trial's data, because every service write appends its audit rows
    and moves the head in the write's own transaction (:meth:`UnitOfWork.insert` and
    ``update`` audit each row; docs/web.md, "Speed"). Read views may be cached under it."""
    row = conn.execute(_VERSION_QUERY).one()
    return head_version(row.head_id, row.head_hash)


def subject_view(conn: sa.Connection, sid: str) -> SubjectView:
    """One subject as any reader may see it (no arm)."""
    return subject_views(conn, s.subjects.c.subject_id == sid)[0]


def subject_views(conn: sa.Connection, where: Any = None) -> tuple[SubjectView, ...]:
    """The subjects matching ``where`` (None: all), ordered by id, as any reader may see them
    (no arm): one query whatever the number of subjects."""
    su, al, xo = s.subjects, s.allocations, s.crossover_events
    sc, eu = s.screenings, s.emergency_unblindings
    latest_screening = (sa.select(sc.c.status).where(sc.c.subject_id == su.c.subject_id)
                        .order_by(sc.c.screening_id.desc()).limit(1).scalar_subquery())
    unblinded = sa.exists().where(eu.c.subject_id == su.c.subject_id)
    query = (sa.select(su, al.c.stratum, al.c.kit_code, al.c.randomised_at,
                       latest_screening.label("screening_status"),
                       xo.c.subject_id.label("event_subject"), xo.c.confirmed_week,
                       xo.c.description, xo.c.recorded_at, unblinded.label("unblinded"))
             .select_from(su.outerjoin(al, al.c.subject_id == su.c.subject_id)
                          .outerjoin(xo, xo.c.subject_id == su.c.subject_id))
             .order_by(su.c.subject_id))
    if where is not None:
        query = query.where(where)
    out = []
    for r in conn.execute(query):
        sid = r.subject_id
        out.append(SubjectView(
            sid, r.site_id, r.age, r.sex, r.msa_group, bool(r.randomised), r.screening_status,
            r.stratum, r.kit_code, r.randomised_at,
            None if r.event_subject is None else DeteriorationEvent(
                sid, r.confirmed_week, r.description, r.recorded_at, False),
            r.completed_week_16, r.entered_extension, r.completed_week_40,
            r.discontinuation_reason, r.consent_date, bool(r.unblinded)))
    return tuple(out)


#: Columns of the blinded export's infusions table, in its order.
_INFUSION_COLUMNS = ("subject_id", "start", "end", "dose_g_per_kg", "rate_ml_per_kg_min",
                     "cycle", "kit_code", "infusion_id")
#: Audit reasons of data entry, not corrections (the subject page lists corrections only).
ENTRY_REASONS = ("randomisation", "data entry", "re-screening")


@dataclass(frozen=True)
class SubjectTimeline:
    """What the subject page shows, read in one snapshot (nothing written): the subject, its
    visits scored under the protocol (``visit_rows``: one dict per visit, with
    ``visit_date``), its infusions and adverse events (the rows of the blinded export, or of
    the unblinded one for the unblinded statistician), its corrections (``correction_rows``:
    audit rows as dicts) and, unblinded only, ``arm`` and ``crossover_to``; ``version``: the
    :func:`data_version` of the snapshot. The infusions and adverse events are the export's
    rows as dicts (blinded without adverse events: read directly, nothing to derive)."""

    subject: SubjectView
    visit_rows: tuple[dict[str, Any], ...]
    infusions: tuple[dict[str, Any], ...]
    adverse_events: tuple[dict[str, Any], ...]
    correction_rows: tuple[dict[str, Any], ...]
    unblinded: dict[str, Any] | None
    version: str = ""

    @property
    def visits(self) -> pd.DataFrame:
        """The scored visits as a table."""
        return scored_frame(list(self.visit_rows))

    @property
    def corrections(self) -> pd.DataFrame:
        """The corrections (audit rows) as a table."""
        return pd.DataFrame([tuple(r.values()) for r in self.correction_rows],
                            columns=[c.name for c in s.audit_log.c])


@dataclass(frozen=True)
class DashboardData:
    """What the dashboard shows, read in one snapshot by narrow read queries (not the
    exports: :func:`dashboard_reads`), and the snapshot's :func:`data_version`."""

    subjects: tuple[SubjectView, ...]
    #: Each randomised subject's arm: the unblinded statistician only (empty otherwise).
    arms: dict[str, str]
    #: ``subject_id``, ``visit_week`` and the measures of every visit (scored by the reader).
    visits: pd.DataFrame
    #: The adverse events with ``infusion_related`` and ``infusion_cycle`` (the protocol's
    #: window, :func:`myotrial.derive.safety.derive_infusion_related`).
    adverse_events: pd.DataFrame
    version: str


class ReadOperations(ServiceCore):
    """Subjects, exports and the audit trail (blinded unless the role is unblinded)."""

    def get_subject(self, actor: Actor, subject_id: str) -> SubjectView:
        """One subject (no arm)."""
        with self._transaction(actor, "get_subject", write=False) as tx:
            subj = tx.subject(subject_id)
            return subject_view(tx.conn, subj["subject_id"])

    def list_subjects(self, actor: Actor) -> tuple[SubjectView, ...]:
        """Subjects visible to the actor (site investigators: own site)."""
        return list_subjects_versioned(self, actor)[0]

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
            visits = visit_rows(tx.conn, sid)
            site = actor.site_id if actor.role is Role.SITE_INVESTIGATOR else None
            inf = s.infusions
            rows = tx.conn.execute(sa.select(*(inf.c[c] for c in _INFUSION_COLUMNS))
                                   .where(inf.c.subject_id == sid).order_by(inf.c.start)).all()
            has_events = tx.conn.execute(sa.select(s.adverse_events.c.ae_id).where(
                s.adverse_events.c.subject_id == sid).limit(1)).first() is not None
            if actor.blinded and not has_events:
                # the blinded export's infusion rows, read as they are; no events to flag
                infusions = [dict(zip(_INFUSION_COLUMNS, r, strict=True)) for r in rows]
                events: list[dict[str, Any]] = []
            else:  # the export's derivations (infusion-related flags; unblinded products)
                tables = build_exports(tx.conn, self.policy, blinded=actor.blinded,
                                       site_id=site, subject_id=sid, with_visits=False)
                infusions = [{str(k): v for k, v in r.items()}
                             for r in tables["infusions"].to_dict("records")]
                events = [{str(k): v for k, v in r.items()}
                          for r in tables["adverse_events"].to_dict("records")]
            au = s.audit_log
            query = sa.select(au).where(au.c.subject_id == sid, au.c.action == "update",
                                        sa.or_(au.c.reason.is_(None),
                                               au.c.reason.not_in(ENTRY_REASONS))
                                        ).order_by(au.c.id)
            if site is not None:
                query = query.where(au.c.site_id == site)
            fixes = tx.conn.execute(query).all()
            version = data_version(tx.conn)
            unblinded = None
            if not actor.blinded:
                subj = tables["subjects"]
                unblinded = {"arm": subj["arm"].iloc[0],
                             "crossover_to": subj["crossover_to"].iloc[0]}
        scored_rows = score_visit_rows(self, visits)
        for out, row in zip(scored_rows, visits, strict=True):
            out["visit_date"] = row["visit_date"]
        names = [c.name for c in au.c]
        return SubjectTimeline(
            view, tuple(scored_rows), tuple(infusions), tuple(events),
            tuple(dict(zip(names, r, strict=True)) for r in fixes), unblinded, version)

    def dashboard_tables(self, actor: Actor) -> tuple[tuple[SubjectView, ...],
                                                      dict[str, pd.DataFrame]]:
        """The subjects and the canonical tables, read in one snapshot (not an export, not
        an audit event): blinded for every role but the unblinded statistician; site
        investigators get their own site only. (The web dashboard reads less:
        :func:`dashboard_data`.)"""
        with self._transaction(actor, "dashboard_tables", write=False) as tx:
            subjects = subject_views(tx.conn, self._site_filter(actor))
            site = actor.site_id if actor.role is Role.SITE_INVESTIGATOR else None
            return subjects, build_exports(tx.conn, self.policy, blinded=actor.blinded,
                                           site_id=site)

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


# ---------------------------------------------------------------------------------------------
# the read operations with the data version (web/readcache.py keys its views on it)


#: An actor's user row (active, role, site) with the data version, in one statement.
_ACTOR_VERSION_READ = OneRowRead(
    sa.select(s.users.c.active, s.users.c.role, s.users.c.site_id, *head_columns())
    .where(s.users.c.username == sa.bindparam("username", type_=sa.String)))


def read_version(service: ReadOperations, actor: Actor, operation: str, *,
                 known: str | None = None) -> str:
    """The :func:`data_version` as ``actor`` doing the read ``operation``, under that
    operation's rule (not an operation of its own, so not a :class:`TrialService` method):
    the role gate and the actor check of every operation (exists, active, same role and
    site: as ``ServiceCore._check_actor``), with the version, in ONE statement (PostgreSQL:
    no BEGIN/COMMIT round trips; one statement sees one snapshot). Nothing written.

    ``known``: a version read in the same statement that checked this actor's user row
    (:attr:`SessionRecord.data_version`, read with the session the actor comes from); then
    only the role gate runs here, and no statement at all."""
    if not isinstance(actor, Actor):
        raise PermissionDenied(f"{operation}: an Actor is required, got {type(actor)}")
    authorise(actor, operation)
    if known is not None:
        return known
    row = _ACTOR_VERSION_READ.first(service.engine, username=actor.username)
    if (row is None or not row.active or row.role != actor.role.value
            or row.site_id != actor.site_id):
        raise PermissionDenied(
            f"user {actor.username!r} is not an active {actor.role.value}"
            + (f" of site {actor.site_id}" if actor.site_id else "")
            + " in this database")
    return head_version(row.head_id, row.head_hash)


def list_subjects_versioned(service: ReadOperations, actor: Actor
                            ) -> tuple[tuple[SubjectView, ...], str]:
    """The ``list_subjects`` operation (its rule) with the snapshot's :func:`data_version`."""
    with service._transaction(actor, "list_subjects", write=False) as tx:
        return subject_views(tx.conn, service._site_filter(actor)), data_version(tx.conn)


def dashboard_data(service: ReadOperations, actor: Actor) -> DashboardData:
    """The ``dashboard_tables`` operation (its rule), by the narrow reads of
    :func:`dashboard_reads`, with the snapshot's :func:`data_version`."""
    with service._transaction(actor, "dashboard_tables", write=False) as tx:
        subjects = subject_views(tx.conn, service._site_filter(actor))
        site = actor.site_id if actor.role is Role.SITE_INVESTIGATOR else None
        arms, visits, events = dashboard_reads(tx.conn, service.policy,
                                               blinded=actor.blinded, site_id=site)
        version = data_version(tx.conn)
    return DashboardData(subjects, arms, visits, events, version)


def dashboard_reads(conn: sa.Connection, policy: ProtocolPolicy, *, blinded: bool,
                    site_id: str | None = None
                    ) -> tuple[dict[str, str], pd.DataFrame, pd.DataFrame]:
    """The dashboard's reads, each one narrow query (``site_id``: that site's subjects only):
    the arms (``blinded``: none read), the visits' measures, the adverse events it lists or
    counts; infusions (their times and cycles) only when there are events, to flag the
    infusion-related ones under the protocol's window. Column types are those of
    :func:`myotrial.db.exports.build_exports`, so the dashboard is the one built from the
    canonical tables (``tests/test_web_reads.py`` compares them)."""
    su, ae, inf, vi = s.subjects, s.adverse_events, s.infusions, s.visits
    cond: list[Any] = [] if site_id is None else [su.c.site_id == site_id]
    arms: dict[str, str] = {}
    if not blinded:
        al, sl = s.allocations, s.randomisation_slots
        arms = {str(sid): str(arm) for sid, arm in conn.execute(
            sa.select(al.c.subject_id, sl.c.arm)
            .select_from(al.join(sl, sl.c.slot_id == al.c.slot_id)
                         .join(su, su.c.subject_id == al.c.subject_id))
            .where(*cond)) if arm is not None}
    vcols = ["subject_id", "visit_week", *s.MEASURE_COLUMNS]
    visits = frame_of(conn, sa.select(*(vi.c[c] for c in vcols))
                      .select_from(vi.join(su, su.c.subject_id == vi.c.subject_id))
                      .where(*cond).order_by(vi.c.subject_id, vi.c.visit_week), vcols)
    visits["visit_week"] = visits["visit_week"].astype("int64")
    for c in s.MEASURE_COLUMNS:
        visits[c] = pd.to_numeric(visits[c], errors="coerce").astype("float64")
    acols = ["subject_id", "term", "onset", "serious", "severity", "thromboembolic"]
    events = frame_of(conn, sa.select(*(ae.c[c] for c in acols))
                      .select_from(ae.join(su, su.c.subject_id == ae.c.subject_id))
                      .where(*cond).order_by(ae.c.subject_id, ae.c.onset), acols)
    events["onset"] = pd.to_datetime(events["onset"])
    for col in ("serious", "thromboembolic"):
        events[col] = events[col].astype("boolean")
    icols = ["subject_id", "start", "end", "cycle"]
    infusions = frame_of(conn, sa.select(*(inf.c[c] for c in icols))
                         .select_from(inf.join(su, su.c.subject_id == inf.c.subject_id))
                         .where(*cond, *([] if len(events) else [sa.false()]))
                         .order_by(inf.c.subject_id, inf.c.start), icols)
    infusions["start"] = pd.to_datetime(infusions["start"])
    infusions["end"] = pd.to_datetime(infusions["end"])
    infusions["cycle"] = infusions["cycle"].astype("int64")
    return arms, visits, flag_infusion_related(events, infusions, policy)
