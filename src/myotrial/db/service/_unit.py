"""The shared unit of work of the service: one transaction per operation, audited writes.

:class:`ServiceCore` holds what every aggregate of :class:`~myotrial.db.TrialService` needs:
the engine, the protocol (its :class:`~myotrial.policy.ProtocolPolicy`), the clock, and
:meth:`ServiceCore._transaction`, which yields a :class:`UnitOfWork` (connection, actor, time,
audited insert/update, subject lookup with the site check).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import sqlalchemy as sa
from argon2 import PasswordHasher

from myotrial.db import _values as v
from myotrial.db import audit as _audit
from myotrial.db import schema as s
from myotrial.db._values import Problems, fail
from myotrial.db.engine import lock_for_subject_write, lock_for_write
from myotrial.db.protocol_store import open_protocol
from myotrial.db.roles import Actor, PermissionDenied, Role, authorise
from myotrial.policy import ProtocolPolicy
from myotrial.protocol import Protocol

__all__ = ["TABLES", "VISIT_COLUMNS", "ServiceCore", "SubjectContext", "UnitOfWork", "json_safe",
           "parse_record", "parser_of"]

TABLES: Mapping[str, sa.Table] = {t.name: t for t in s.metadata.sorted_tables}
#: The columns of a subject's stored visits as the write path reads them.
VISIT_COLUMNS: tuple[str, ...] = ("subject_id", "visit_week", "visit_date", *s.MEASURE_COLUMNS)


class _Lookup:
    """"Not given: look it up" (a default distinct from None)."""


LOOKUP: Final = _Lookup()


@dataclass(frozen=True)
class SubjectContext:
    """What a subject writer reads of its subject, with the actor check, in ONE statement
    after its locks (:meth:`ServiceCore._transaction` with ``subject=``): the subject row
    (None: no such subject), its randomisation date, its deterioration event and, when asked
    for, its stored visits by week (:data:`VISIT_COLUMNS`)."""

    subject: dict[str, Any] | None
    randomised_on: dt.date | None
    event: dict[str, Any] | None
    visits: list[dict[str, Any]] | None


@functools.cache
def _insert_returning(table: sa.Table) -> sa.Insert:
    """``INSERT ... RETURNING`` every column (built once per table; both backends)."""
    return sa.insert(table).returning(*table.c)


@functools.cache
def _user_query() -> sa.Select[Any]:
    u = s.users
    return sa.select(u.c.active, u.c.role, u.c.site_id).where(
        u.c.username == sa.bindparam("username"))


@functools.cache
def _context_query(with_visits: bool) -> sa.Select[Any]:
    """The actor's user row LEFT JOIN the subject, its allocation's date, its deterioration
    event (and its visits, one row each, by week): one row when the subject has no visits,
    none when the user does not exist. Built once; executed with ``username`` and ``sid``."""
    u, sub, al, ce, vi = s.users, s.subjects, s.allocations, s.crossover_events, s.visits
    cols: list[Any] = [u.c.active.label("u_active"), u.c.role.label("u_role"),
                       u.c.site_id.label("u_site_id"),
                       *(c.label(f"s_{c.name}") for c in sub.c),
                       al.c.randomised_at.label("a_randomised_at"),
                       *(c.label(f"e_{c.name}") for c in ce.c)]
    joined = (u.outerjoin(sub, sub.c.subject_id == sa.bindparam("sid", type_=sub.c.subject_id.type))
              .outerjoin(al, al.c.subject_id == sub.c.subject_id)
              .outerjoin(ce, ce.c.subject_id == sub.c.subject_id))
    if with_visits:
        cols += [vi.c[c].label(f"v_{c}") for c in VISIT_COLUMNS]
        joined = joined.outerjoin(vi, vi.c.subject_id == sub.c.subject_id)
    query = sa.select(*cols).select_from(joined).where(u.c.username == sa.bindparam("username"))
    return query.order_by(vi.c.visit_week) if with_visits else query


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _naive_utc(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


def parser_of(column: sa.Column[Any]) -> Callable[[Any], Any]:
    """The value parser of a column's type (located problems name the rule broken)."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return v.as_bool
    if isinstance(kind, sa.Integer):
        return v.as_int
    if isinstance(kind, sa.Float):
        return v.as_float
    if isinstance(kind, sa.DateTime):
        return v.as_datetime
    if isinstance(kind, sa.Date):
        return v.as_date
    length = getattr(kind, "length", None) or 10_000
    return lambda value: v.as_text(value, max_length=length)


def json_safe(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def parse_record(p: Problems, table: sa.Table, raw: Mapping[str, Any],
                 check: Callable[[Problems, dict[str, Any]], None] | None = None
                 ) -> dict[str, Any]:
    """Parse each value by its column's type; run the table check; raise every problem."""
    rec = {name: p.parse(name, value, parser_of(table.c[name])) for name, value in raw.items()}
    for name in raw:
        if not table.c[name].nullable and rec[name] is None and not any(
                i.column == name for i in p.items):
            p.add(name, None, f"{name} is required")
    if check is not None and not p.items:
        check(p, rec)
    p.raise_if_any()
    return rec


def _require_user(actor: Actor, user: tuple[Any, Any, Any] | None) -> None:
    """``user`` (active, role, site) must be the actor's, active: else PermissionDenied."""
    if (user is None or not user[0] or user[1] != actor.role.value
            or user[2] != actor.site_id):
        raise PermissionDenied(
            f"user {actor.username!r} is not an active {actor.role.value}"
            + (f" of site {actor.site_id}" if actor.site_id else "")
            + " in this database")


class UnitOfWork:
    """One operation's transaction: connection, actor, time, and audited writes."""

    def __init__(self, conn: sa.Connection, actor: Actor, operation: str,
                 now: dt.datetime, *, deferred: bool = False) -> None:
        self.conn = conn
        self.actor = actor
        self.operation = operation
        self.now = now  # aware UTC
        self.stamp = _naive_utc(now)
        #: deferred: audit rows are kept until :meth:`flush` (the end of the transaction), so
        #: the audit head is locked only from there to the commit
        self.deferred = deferred
        self.pending: list[dict[str, Any]] = []
        #: chain the audit rows at COMMIT (PostgreSQL subject writers: the deferred trigger
        #: of migration r0004), not in :meth:`flush`
        self.at_commit = False
        #: the subject read with the actor check (subject writers; None: not read)
        self.context: SubjectContext | None = None
        self._context_sid: str | None = None

    def flush(self) -> None:
        """Chain the audit rows kept so far onto the trail (in order)."""
        pending, self.pending = self.pending, []
        if self.at_commit:
            _audit.append_audit_rows(self.conn, pending, at_commit=True)
        else:
            _audit.append_audit_rows(self.conn, pending)

    # -- audit ------------------------------------------------------------------------------

    def audit(self, action: str, *, table: str | None = None, key: str | None = None,
              field: str | None = None, old: Any = None, new: Any = None,
              reason: str | None = None, site_id: str | None = None,
              subject_id: str | None = None) -> None:
        self.pending.append(_audit.audit_entry(
            username=self.actor.username, role=self.actor.role.value, action=action,
            when=self.now, site_id=site_id, subject_id=subject_id, table_name=table,
            record_key=key, field=field, old_value=old, new_value=new, reason=reason))
        if not self.deferred:
            self.flush()

    def insert(self, table: sa.Table, values: Mapping[str, Any], *, site_id: str | None,
               subject_id: str | None, extra: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
        """Insert a row, read it back as stored, audit it; return the stored row.

        PostgreSQL reads it back in the same statement (``INSERT ... RETURNING``); SQLite
        by a ``SELECT`` (its ``RETURNING`` gives values before the column's type affinity,
        e.g. ``1`` for ``1.0`` stored in a REAL column)."""
        unknown = values.keys() - table.c.keys()
        if unknown:
            raise sa.exc.ArgumentError(f"{table.name}: no column(s) {sorted(unknown)}")
        if self.conn.dialect.name == "postgresql":
            row = dict(self.conn.execute(_insert_returning(table), dict(values)).one()._mapping)
        else:
            result = self.conn.execute(sa.insert(table), dict(values))
            pk = dict(zip([c.name for c in table.primary_key.columns],
                          result.inserted_primary_key or (), strict=True))
            cond = sa.and_(*(table.c[k] == val for k, val in pk.items()))
            row = dict(self.conn.execute(sa.select(table).where(cond)).one()._mapping)
        self.audit("insert", table=table.name, key=_audit.record_key(table.name, row),
                   new={**_audit.record_values(table.name, row), **(extra or {})},
                   site_id=site_id, subject_id=subject_id)
        return row

    def update(self, table: sa.Table, row: Mapping[str, Any], field: str, new: Any, *,
               reason: str, site_id: str | None, subject_id: str | None) -> None:
        """Change one field of one row and audit old value, new value and reason."""
        key = _audit.record_key(table.name, row)
        cond = sa.and_(*(table.c[k] == row[k] for k in _audit.AUDITED_TABLES[table.name].key))
        change = sa.update(table).where(cond).values({field: new})
        if self.conn.dialect.name == "postgresql":  # SQLite: see insert
            stored = self.conn.execute(change.returning(table.c[field])).scalar_one()
        else:
            self.conn.execute(change)
            stored = self.conn.execute(sa.select(table.c[field]).where(cond)).scalar_one()
        self.audit("update", table=table.name, key=key, field=field,
                   old=_audit.jsonable(row[field]), new=_audit.jsonable(stored), reason=reason,
                   site_id=site_id, subject_id=subject_id)

    # -- lookups ----------------------------------------------------------------------------

    def subject(self, subject_id: Any) -> dict[str, Any]:
        """The subject row. A subject of another site is, for a site investigator, exactly an
        unknown subject (same error, same words): "not yours" and "not found" cannot be told
        apart, so subject ids of other sites cannot be probed."""
        sid = subject_id.strip() if isinstance(subject_id, str) else subject_id
        row: Mapping[str, Any] | None = None
        if self.context is not None and sid == self._context_sid:
            row = self.context.subject  # read with the actor check, after the locks
        elif isinstance(sid, str) and len(sid) <= 64:
            found = self.conn.execute(sa.select(s.subjects)
                                      .where(s.subjects.c.subject_id == sid)).first()
            row = None if found is None else dict(found._mapping)
        if row is not None and self.actor.role is Role.SITE_INVESTIGATOR and \
                row["site_id"] != self.actor.site_id:
            row = None
        if row is None:
            shown = sid if isinstance(sid, str) and len(sid) <= 64 else str(sid)[:64]
            raise fail("subjects", f"no subject {shown!r} in the trial database",
                       subject_id=None if sid is None else shown, column="subject_id",
                       value=shown)
        subject = dict(row)
        authorise(self.actor, self.operation, site_id=subject["site_id"])
        return subject

    def subject_context(self, subject: Mapping[str, Any]) -> SubjectContext:
        """The context of ``subject`` (from :meth:`subject`): as read with the actor check
        when this is a subject writer's own subject, else read now."""
        sid = subject["subject_id"]
        if self.context is not None and sid == self._context_sid:
            return self.context
        randomised = self.conn.execute(sa.select(s.allocations.c.randomised_at).where(
            s.allocations.c.subject_id == sid)).scalar_one_or_none()
        event = self.conn.execute(sa.select(s.crossover_events).where(
            s.crossover_events.c.subject_id == sid)).first()
        t = s.visits
        visits = self.conn.execute(sa.select(*(t.c[c] for c in VISIT_COLUMNS))
                                   .where(t.c.subject_id == sid).order_by(t.c.visit_week)).all()
        return SubjectContext(
            dict(subject), None if randomised is None else randomised.date(),
            None if event is None else dict(event._mapping),
            [dict(zip(VISIT_COLUMNS, r, strict=True)) for r in visits])


class ServiceCore:
    """Engine, protocol policy, clock and the transaction of every operation.

    Parameters
    ----------
    engine : from :func:`myotrial.db.make_engine`, schema at the newest revision
        (``myotrial db init``).
    protocol : a :class:`~myotrial.protocol.Protocol`, a bundled protocol name or a protocol
        file; None = the protocol recorded in the database. A new database records the
        protocol (None: the bundled ``proderm``); a database recorded under another protocol
        is refused (:class:`~myotrial.db.ProtocolMismatchError`, nothing changed).
    password_hasher : argon2 hasher (default: argon2-cffi's RFC 9106 low-memory profile,
        64 MiB per hash: at most ``max_concurrent_hashes`` run at once).
    clock : returns the current time (aware); default UTC now. Tests pass a fixed clock.
    today : the date "now" for the rule that recorded dates are not in the future (default:
        the clock's date). Tests that enter a whole trial under a fixed clock pass a later day.
    secret_key : the server secret (``Settings.secret_key``); the audit row of a
        randomisation list carries an HMAC of the list under it (no key: nothing), so the
        trail holds nothing a blinded reader could check a guessed list against.
    max_concurrent_hashes : argon2 checks allowed at once (memory bound); more wait up to
        ``hash_wait_seconds``, then the login is refused as busy (:class:`LoginThrottled`).
    """

    def __init__(self, engine: sa.Engine, protocol: Protocol | str | Path | None = None, *,
                 password_hasher: PasswordHasher | None = None,
                 clock: Callable[[], dt.datetime] | None = None,
                 today: Callable[[], dt.date] | None = None,
                 secret_key: str | None = None,
                 max_concurrent_hashes: int = 2,
                 hash_wait_seconds: float = 10.0) -> None:
        self.engine = engine
        self._hasher = password_hasher or PasswordHasher()
        self._clock = clock or _utcnow
        self._today_fn = today
        self._list_key = None if not secret_key else hashlib.sha256(
            b"myotrial-list-hmac\x00" + secret_key.encode()).digest()
        self._hash_slots = threading.BoundedSemaphore(max(1, int(max_concurrent_hashes)))
        self._hash_wait = float(hash_wait_seconds)
        self.protocol: Protocol = open_protocol(engine, protocol, now=self._now())
        self.policy: ProtocolPolicy = self.protocol.policy
        self._dummy: str | None = None
        self._memo: OrderedDict[str, Any] = OrderedDict()
        self._memo_lock = threading.Lock()

    #: Scored visit sets kept by :meth:`memo_put` (least recently used dropped first).
    MEMO_SIZE = 2048

    def memo_get(self, key: str) -> Any:
        """A value memoised under ``key`` (pure results only, e.g. scores of visit values)."""
        with self._memo_lock:
            value = self._memo.get(key)
            if value is not None:
                self._memo.move_to_end(key)
            return value

    def memo_put(self, key: str, value: Any) -> None:
        with self._memo_lock:
            self._memo[key] = value
            while len(self._memo) > self.MEMO_SIZE:
                self._memo.popitem(last=False)

    def _today(self) -> dt.date:
        return self._today_fn() if self._today_fn is not None else self._now().date()

    # -- dates of a subject's records (issue 12: not in the future, not before consent,
    #    within the protocol's visit window of the randomisation date) ---------------------

    @staticmethod
    def _randomised_on(conn: sa.Connection, sid: str) -> dt.date | None:
        when = conn.execute(sa.select(s.allocations.c.randomised_at).where(
            s.allocations.c.subject_id == sid)).scalar_one_or_none()
        return None if when is None else when.date()

    def check_day(self, p: Problems, column: str, day: dt.date | None,
                  subj: Mapping[str, Any], *, earliest: dt.date | None = None,
                  latest: dt.date | None = None, what: str = "") -> None:
        """``day`` not in the future, not before consent, within [earliest, latest]."""
        if day is None:
            return
        today = self._today()
        consent = subj.get("consent_date")
        if day > today:
            p.add(column, day, f"{column} must not be in the future (today is {today})")
        elif consent is not None and day < consent:
            p.add(column, day, f"{column} must not be before the consent date ({consent})")
        elif (earliest is not None and day < earliest) or (latest is not None and day > latest):
            p.add(column, day, f"{column} must lie {what or 'in'} {earliest} to {latest}")

    def visit_day_limits(self, conn: sa.Connection, subj: Mapping[str, Any], week: int, *,
                         randomised: dt.date | _Lookup | None = LOOKUP
                         ) -> tuple[dt.date | None, dt.date | None, str]:
        """Earliest and latest date of the visit at ``week`` and the rule in words: the
        protocol's window around randomisation date + week (``policy.visit_window``); the
        baseline (week 0) at the latest within the window after randomisation.
        ``randomised``: the subject's randomisation date when already read."""
        if isinstance(randomised, _Lookup):
            randomised = self._randomised_on(conn, subj["subject_id"])
        if randomised is None:
            return None, None, ""
        lo, hi = self.policy.visit_window(randomised, week)
        days = self.policy.visit_window_days
        if week == 0:
            return None, hi, f"(baseline: at the latest {days} days after randomisation)"
        return lo, hi, (f"within the protocol's visit window (week {week} = {randomised} + "
                        f"{week} weeks, +/- {days} days):")

    def treatment_day_limits(self, conn: sa.Connection, subj: Mapping[str, Any]
                             ) -> tuple[dt.date | None, dt.date | None, str]:
        """Infusions: from the randomisation date to the end of the protocol (+ window)."""
        randomised = self._randomised_on(conn, subj["subject_id"])
        if randomised is None:
            return None, None, ""
        _, hi = self.policy.visit_window(randomised, self.policy.max_week)
        return randomised, hi, "between randomisation and the end of the protocol:"

    @contextmanager
    def _transaction(self, actor: Actor, operation: str, *, write: bool,
                     subject: Any = None, with_visits: bool = False
                     ) -> Iterator[UnitOfWork]:
        """One operation's transaction. Writers: ``subject`` (the subject id given) = a writer
        of that subject's own records only (visits, infusions, adverse events: runs beside
        other subjects' writers, :func:`~myotrial.db.engine.lock_for_subject_write`); else a
        writer of the trial as a whole (alone). Audit rows are chained at the end, just
        before the commit. A subject writer checks the actor and reads its subject
        (:class:`SubjectContext`, with its visits if ``with_visits``) in one statement after
        its locks: ``tx.subject`` and ``tx.subject_context`` give what it read. Readers: one
        snapshot (PostgreSQL REPEATABLE READ), nothing written."""
        if not isinstance(actor, Actor):
            raise PermissionDenied(f"{operation}: an Actor is required, got {type(actor)}")
        authorise(actor, operation)  # role gate before the database is touched
        with self.engine.connect() as conn:
            if not write:
                opts: dict[str, Any] = {"myotrial_readonly": True}
                if conn.dialect.name == "postgresql":
                    opts["isolation_level"] = "REPEATABLE READ"
                conn.execution_options(**opts)
            with conn.begin():
                tx = UnitOfWork(conn, actor, operation, self._now(), deferred=True)
                if write and isinstance(subject, str):
                    sid = subject.strip()
                    lock_for_subject_write(conn, sid)
                    tx.at_commit = conn.dialect.name == "postgresql"
                    if len(sid) <= 64:  # the actor check and the subject in one statement
                        tx.context = self._subject_context(conn, actor, sid, with_visits)
                        tx._context_sid = sid
                    else:
                        self._check_actor(conn, actor)
                else:
                    if write:
                        lock_for_write(conn)
                    self._check_actor(conn, actor)
                yield tx
                if tx.pending:
                    if not write:
                        raise RuntimeError(f"{operation}: a read-only operation wrote audit "
                                           "rows")
                    tx.flush()

    def _now(self) -> dt.datetime:
        now = self._clock()
        return now if now.tzinfo else now.replace(tzinfo=dt.UTC)

    @staticmethod
    def _check_actor(conn: sa.Connection, actor: Actor) -> None:
        row = conn.execute(_user_query(), {"username": actor.username}).first()
        _require_user(actor, None if row is None else (row.active, row.role, row.site_id))

    @staticmethod
    def _subject_context(conn: sa.Connection, actor: Actor, sid: str, with_visits: bool
                         ) -> SubjectContext:
        """Check the actor against ``users`` and read subject ``sid`` (its row, randomisation
        date, deterioration event, visits if asked for) in one statement."""
        rows = [r._mapping for r in conn.execute(_context_query(with_visits),
                                                 {"username": actor.username, "sid": sid})]
        first = rows[0] if rows else None
        _require_user(actor, None if first is None else
                      (first["u_active"], first["u_role"], first["u_site_id"]))
        if first is None or first["s_subject_id"] is None:
            return SubjectContext(None, None, None, [] if with_visits else None)
        subject = {c.name: first[f"s_{c.name}"] for c in s.subjects.c}
        when = first["a_randomised_at"]
        event = ({c.name: first[f"e_{c.name}"] for c in s.crossover_events.c}
                 if first["e_crossover_id"] is not None else None)
        visits = None
        if with_visits:
            visits = [{c: r[f"v_{c}"] for c in VISIT_COLUMNS} for r in rows
                      if r["v_visit_week"] is not None]
        return SubjectContext(subject, None if when is None else when.date(), event, visits)

    @staticmethod
    def _reason(table: str, reason: Any, subject_id: str | None = None,
                visit_week: int | None = None) -> str:
        try:
            why = v.as_text(reason, max_length=2000)
        except v.ValueRuleError:
            why = None
        if why is None:
            raise fail(table, "a reason for the change is required", subject_id=subject_id,
                       visit_week=visit_week, column="reason", value=reason)
        return why
