"""The service layer: every read and write of the trial database goes through here.

Each operation (a method taking an :class:`~myotrial.db.Actor` first) runs in ONE transaction:
check the role against :data:`~myotrial.db.PERMISSIONS` (fail closed), re-check the actor
against the ``users`` table, check the site (site investigators: own site only), validate the
input (every problem located by subject, visit and field, as
:class:`~myotrial.errors.InputValidationError`), write the change and its audit rows, commit.
Any error rolls the whole transaction back: nothing is changed. Writers are serialised
(SQLite ``BEGIN IMMEDIATE``; PostgreSQL advisory lock) so the audit hash chain stays linear.

The methods take and return plain Python values and frozen dataclasses
(:mod:`myotrial.db.results`, each with ``as_dict()``), so web pages and a JSON API can call them
directly. Blinded roles never receive an arm: not in results, exports or error messages.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from myotrial.db import _values as v
from myotrial.db import audit as _audit
from myotrial.db import schema as s
from myotrial.db._values import Problems, fail
from myotrial.db.exports import build_exports
from myotrial.db.results import (
    AdverseEventResult,
    CorrectionResult,
    CrossoverEvent,
    InfusionResult,
    ListSummary,
    RandomisationResult,
    ScreeningResult,
    SiteRecord,
    SubjectView,
    UserRecord,
    VisitResult,
)
from myotrial.db.roles import Actor, PermissionDenied, Role, authorise
from myotrial.db.safety import INFUSION_WINDOW_HOURS, find_infusion_cycle, infusion_cycles
from myotrial.eligibility import screen_candidates
from myotrial.errors import InputValidationError
from myotrial.randomisation import AllocationError, RandomisationScheme, Randomiser
from myotrial.scoring import score_visits

__all__ = [
    "CORRECTABLE_FIELDS",
    "CROSSOVER_DESCRIPTION",
    "MSA_GROUPS",
    "SEVERITIES",
    "TrialService",
    "service_operations",
]

#: What blinded users see of a crossover (issue 7): never the arm or the direction.
CROSSOVER_DESCRIPTION = "crossover per protocol (confirmed deterioration)"
#: data-format.md, subjects.
MSA_GROUPS = ("dm_specific", "antisynthetase", "imnm", "maa_only", "negative", "unknown")
#: data-format.md, adverse_events.
SEVERITIES = ("mild", "moderate", "severe", "life-threatening", "fatal")
#: Label infusion rate for DM, at most 0.04 mL/kg/min (proderm.md, Design).
LABEL_MAX_RATE_ML_PER_KG_MIN = 0.04
#: ProDERM dose 2.0 g/kg per 4-weekly cycle (proderm.md, Design).
CYCLE_DOSE_G_PER_KG = 2.0
MIN_PASSWORD_LENGTH = 10

#: Fields a correction (update with a reason) may change, per table. Keys, allocations, the
#: randomisation list, screenings and the audit trail cannot be corrected.
CORRECTABLE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "subjects": ("age", "sex", "msa_group", "completed_week_16", "entered_extension",
                 "completed_week_40", "discontinuation_reason"),
    "visits": ("visit_date", *s.MEASURE_COLUMNS),
    "infusions": ("cycle", "start", "end", "dose_g_per_kg", "rate_ml_per_kg_min", "kit_code"),
    "adverse_events": ("term", "body_system", "onset", "end", "serious", "severity", "related",
                       "thromboembolic"),
}
_TABLES: Mapping[str, sa.Table] = {t.name: t for t in s.metadata.sorted_tables}
_PG_WRITE_LOCK = 0x6D796F74  # "myot": one writer at a time (audit chain stays linear)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _naive_utc(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


def _parser(column: sa.Column[Any]) -> Callable[[Any], Any]:
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


def _json_safe(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class _Tx:
    """One operation's transaction: connection, actor, time, and audited writes."""

    def __init__(self, conn: sa.Connection, actor: Actor, operation: str,
                 now: dt.datetime) -> None:
        self.conn = conn
        self.actor = actor
        self.operation = operation
        self.now = now  # aware UTC
        self.stamp = _naive_utc(now)

    # -- audit ------------------------------------------------------------------------------

    def audit(self, action: str, *, table: str | None = None, key: str | None = None,
              field: str | None = None, old: Any = None, new: Any = None,
              reason: str | None = None, site_id: str | None = None,
              subject_id: str | None = None) -> None:
        _audit.append_audit(
            self.conn, username=self.actor.username, role=self.actor.role.value, action=action,
            when=self.now, site_id=site_id, subject_id=subject_id, table_name=table,
            record_key=key, field=field, old_value=old, new_value=new, reason=reason)

    def insert(self, table: sa.Table, values: Mapping[str, Any], *, site_id: str | None,
               subject_id: str | None, extra: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
        """Insert a row, read it back as stored, audit it; return the stored row."""
        result = self.conn.execute(sa.insert(table).values(**values))
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
        self.conn.execute(sa.update(table).where(cond).values({field: new}))
        stored = self.conn.execute(sa.select(table.c[field]).where(cond)).scalar_one()
        self.audit("update", table=table.name, key=key, field=field,
                   old=_audit.jsonable(row[field]), new=_audit.jsonable(stored), reason=reason,
                   site_id=site_id, subject_id=subject_id)

    # -- lookups ----------------------------------------------------------------------------

    def subject(self, subject_id: Any) -> dict[str, Any]:
        """The subject row; refuses a subject of another site for site investigators."""
        sid = subject_id.strip() if isinstance(subject_id, str) else subject_id
        row = self.conn.execute(sa.select(s.subjects).where(s.subjects.c.subject_id == sid)
                                ).first()
        if row is None:
            raise fail("subjects", f"no subject {sid!r} in the trial database",
                       subject_id=None if sid is None else str(sid), column="subject_id",
                       value=sid)
        subject = dict(row._mapping)
        authorise(self.actor, self.operation, site_id=subject["site_id"])
        return subject


class TrialService:
    """Operations on the trial database; every method taking ``actor`` is authorised and audited.

    Parameters
    ----------
    engine : from :func:`myotrial.db.make_engine` (schema created by ``upgrade_database``).
    password_hasher : argon2 hasher (default: argon2-cffi's RFC 9106 low-memory profile).
    clock : returns the current time (aware); default UTC now. Tests pass a fixed clock.
    population, earliest_week : passed to :func:`myotrial.scoring.score_visits`.
    crossover_from, crossover_to : arms switched on confirmed deterioration and the arm they
        switch to (ProDERM: placebo -> IVIG; IVIG patients with confirmed deterioration do not
        switch and do not enter the extension; proderm.md "Design").
    randomised_period_weeks : confirmed deterioration confirmed at or before this week leads to a
        crossover event (ProDERM: the randomised period, weeks 0-16).
    randomised_period_cycles : infusion cycles of the randomised period (ProDERM: 4); later
        cycles are open-label IVIG in the unblinded infusions export.
    infusion_window_hours : infusion-related window after a cycle (72 h; proderm.md "Safety").
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        password_hasher: PasswordHasher | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        population: str = "adult",
        earliest_week: float | None = None,
        crossover_from: tuple[str, ...] = ("placebo",),
        crossover_to: str = "ivig",
        randomised_period_weeks: int = 16,
        randomised_period_cycles: int = 4,
        infusion_window_hours: float = INFUSION_WINDOW_HOURS,
    ) -> None:
        self.engine = engine
        self._hasher = password_hasher or PasswordHasher()
        self._clock = clock or _utcnow
        self.population = population
        self.earliest_week = earliest_week
        self.crossover_from = crossover_from
        self.crossover_to = crossover_to
        self.randomised_period_weeks = randomised_period_weeks
        self.randomised_period_cycles = randomised_period_cycles
        self.infusion_window_hours = infusion_window_hours
        self._pg = engine.dialect.name == "postgresql"
        self._dummy: str | None = None

    # ==========================================================================================
    # transactions and identity

    @contextmanager
    def _transaction(self, actor: Actor, operation: str, *, write: bool) -> Iterator[_Tx]:
        if not isinstance(actor, Actor):
            raise PermissionDenied(f"{operation}: an Actor is required, got {type(actor)}")
        authorise(actor, operation)  # role gate before the database is touched
        with self.engine.connect() as conn:
            if not write:
                opts: dict[str, Any] = {"myotrial_readonly": True}
                if self._pg:
                    opts["isolation_level"] = "REPEATABLE READ"
                conn.execution_options(**opts)
            with conn.begin():
                if write and self._pg:
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_WRITE_LOCK)))
                self._check_actor(conn, actor)
                yield _Tx(conn, actor, operation, self._now())

    def _now(self) -> dt.datetime:
        now = self._clock()
        return now if now.tzinfo else now.replace(tzinfo=dt.UTC)

    @staticmethod
    def _check_actor(conn: sa.Connection, actor: Actor) -> None:
        row = conn.execute(sa.select(s.users).where(s.users.c.username == actor.username)
                           ).first()
        if (row is None or not row.active or row.role != actor.role.value
                or row.site_id != actor.site_id):
            raise PermissionDenied(
                f"user {actor.username!r} is not an active {actor.role.value}"
                + (f" of site {actor.site_id}" if actor.site_id else "")
                + " in this database")

    def bootstrap_administrator(self, username: str, password: str) -> Actor:
        """Create the first user, an administrator; refused once any user exists."""
        p = Problems("users")
        name = p.parse("username", username, v.as_identifier, "username")
        self._check_password(p, password)
        p.raise_if_any()
        with self.engine.connect() as conn, conn.begin():
            if self._pg:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_WRITE_LOCK)))
            if conn.execute(sa.select(sa.func.count()).select_from(s.users)).scalar_one():
                raise PermissionDenied("the database already has users: an administrator "
                                       "creates further users with create_user")
            actor = Actor(name, Role.ADMINISTRATOR)
            tx = _Tx(conn, actor, "bootstrap_administrator", self._now())
            tx.insert(s.users, {"username": name, "password_hash": self._hasher.hash(password),
                                "role": Role.ADMINISTRATOR.value, "site_id": None,
                                "active": True, "created_at": tx.stamp},
                      site_id=None, subject_id=None)
        return actor

    def authenticate(self, username: str, password: str) -> Actor:
        """Check a password (argon2); return the user's :class:`Actor`.

        Raises :class:`PermissionDenied` with the same message for an unknown user, a wrong
        password and an inactive account.
        """
        with self.engine.connect() as conn:
            conn.execution_options(myotrial_readonly=True)
            with conn.begin():
                row = conn.execute(sa.select(s.users).where(s.users.c.username == username)
                                   ).first()
        denied = PermissionDenied("unknown user name or wrong password (or account inactive)")
        # an unknown user costs one hash check too, so timing does not reveal user names
        stored = self._dummy_hash() if row is None else row.password_hash
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            raise denied from None
        if row is None or not row.active:
            raise denied
        return Actor(row.username, Role(row.role), row.site_id)

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self._hasher.hash("not a password: timing equaliser")
        return self._dummy

    @staticmethod
    def _check_password(p: Problems, password: Any) -> None:
        if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
            p.add("password", None,
                  f"password must be text of at least {MIN_PASSWORD_LENGTH} characters")

    # ==========================================================================================
    # administration

    def create_site(self, actor: Actor, site_id: str, name: str,
                    country: str | None = None) -> SiteRecord:
        """Create a trial site."""
        with self._transaction(actor, "create_site", write=True) as tx:
            p = Problems("sites")
            sid = p.parse("site_id", site_id, v.as_identifier, "site_id")
            label = p.parse("name", name, v.as_text)
            p.require("name", label)
            where = p.parse("country", country, v.as_text)
            p.raise_if_any()
            if tx.conn.execute(sa.select(s.sites).where(s.sites.c.site_id == sid)).first():
                raise fail("sites", f"site {sid} already exists", column="site_id", value=sid)
            tx.insert(s.sites, {"site_id": sid, "name": label, "country": where},
                      site_id=sid, subject_id=None)
        return SiteRecord(sid, label, where)

    def create_user(self, actor: Actor, username: str, password: str, role: Role | str,
                    site_id: str | None = None) -> UserRecord:
        """Create a user; site investigators need a site, other roles have none."""
        with self._transaction(actor, "create_user", write=True) as tx:
            p = Problems("users")
            name = p.parse("username", username, v.as_identifier, "username")
            self._check_password(p, password)
            try:
                user_role = Role(role)
            except ValueError:
                p.add("role", role, "role must be one of: " + ", ".join(r.value for r in Role))
                user_role = None
            site = p.parse("site_id", site_id, v.as_text)
            if user_role is Role.SITE_INVESTIGATOR and site is None:
                p.add("site_id", None, "a site investigator needs a site_id")
            if user_role not in (None, Role.SITE_INVESTIGATOR) and site is not None:
                p.add("site_id", site, f"role {role} is not tied to a site: leave site_id empty")
            p.raise_if_any()
            if site is not None and tx.conn.execute(
                    sa.select(s.sites).where(s.sites.c.site_id == site)).first() is None:
                raise fail("users", f"no site {site}", column="site_id", value=site)
            if tx.conn.execute(sa.select(s.users).where(s.users.c.username == name)).first():
                raise fail("users", f"user {name} already exists", column="username",
                           value=name)
            new_role = user_role or Role.MONITOR  # never None here: problems raised above
            tx.insert(s.users, {"username": name, "password_hash": self._hasher.hash(password),
                                "role": new_role.value, "site_id": site, "active": True,
                                "created_at": tx.stamp}, site_id=site, subject_id=None)
        return UserRecord(name, new_role.value, site, True)

    def deactivate_user(self, actor: Actor, username: str, reason: str) -> UserRecord:
        """Deactivate a user (users are never deleted); a reason is required."""
        with self._transaction(actor, "deactivate_user", write=True) as tx:
            why = self._reason("users", reason)
            row = tx.conn.execute(sa.select(s.users).where(s.users.c.username == username)
                                  ).first()
            if row is None:
                raise fail("users", f"no user {username!r}", column="username", value=username)
            if row.username == actor.username:
                raise fail("users", "administrators cannot deactivate themselves",
                           column="username", value=username)
            if row.active:
                tx.update(s.users, dict(row._mapping), "active", False, reason=why,
                          site_id=row.site_id, subject_id=None)
        return UserRecord(row.username, row.role, row.site_id, False)

    def list_users(self, actor: Actor) -> tuple[UserRecord, ...]:
        """All users (no password hashes)."""
        with self._transaction(actor, "list_users", write=False) as tx:
            rows = tx.conn.execute(sa.select(s.users).order_by(s.users.c.username)).all()
        return tuple(UserRecord(r.username, r.role, r.site_id, bool(r.active)) for r in rows)

    # ==========================================================================================
    # screening and randomisation

    def record_screening(self, actor: Actor, candidate: Mapping[str, Any], *,
                         msa_group: str | None = None) -> ScreeningResult:
        """Screen one candidate (a row of the screening table, data-format.md) and store the
        decision of :func:`myotrial.eligibility.screen_candidates`; creates the subject at the
        investigator's site. A subject not yet randomised may be re-screened."""
        with self._transaction(actor, "record_screening", write=True) as tx:
            row = {str(k): _json_safe(val) for k, val in dict(candidate).items()}
            group = msa_group if msa_group is not None else row.pop("msa_group", None)
            decision = screen_candidates(pd.DataFrame([row]))[0]
            sid = decision.subject_id
            p = Problems("screening", sid)
            p.parse("subject_id", sid, v.as_identifier, "subject_id")
            group = p.parse("msa_group", group, v.as_text)
            p.one_of("msa_group", group, MSA_GROUPS)
            p.raise_if_any()
            existing = tx.conn.execute(
                sa.select(s.subjects).where(s.subjects.c.subject_id == sid)).first()
            values = {"age": v.as_float(row.get("age")), "sex": v.as_text(row.get("sex")),
                      "msa_group": group}
            if existing is None:
                tx.insert(s.subjects, {"subject_id": sid, "site_id": actor.site_id,
                                       "randomised": False, **values},
                          site_id=actor.site_id, subject_id=sid)
            else:
                subj = tx.subject(sid)
                if subj["randomised"]:
                    raise fail("screening", f"subject {sid} is already randomised and cannot "
                               "be re-screened", subject_id=sid, column="subject_id", value=sid)
                for name, new in values.items():
                    if new != subj[name] and not (name == "msa_group" and new is None):
                        tx.update(s.subjects, subj, name, new, reason="re-screening",
                                  site_id=subj["site_id"], subject_id=sid)
            ea = decision.eular_acr
            stored = tx.insert(s.screenings, {
                "subject_id": sid, "screened_at": tx.stamp, "status": decision.status.value,
                "eligible": decision.eligible, "reasons": "; ".join(decision.reasons) or None,
                "criteria_met": "; ".join(decision.criteria_met) or None,
                "missing_fields": ";".join(decision.missing_fields) or None,
                "bohan_peter_class": decision.bohan_peter.category.value,
                "eular_acr_score": None if ea is None else float(ea.score),
                "eular_acr_class": None if ea is None else ea.category.value,
                "inputs_json": _audit.canonical_json(row),
            }, site_id=actor.site_id, subject_id=sid)
        return ScreeningResult(
            sid, int(stored["screening_id"]), decision.status.value, decision.eligible,
            decision.reasons, decision.bohan_peter.category.value,
            None if ea is None else ea.category.value,
            None if ea is None else float(ea.score))

    def generate_randomisation_list(self, actor: Actor, scheme: RandomisationScheme,
                                    seed: int) -> ListSummary:
        """Generate a seeded list with :class:`myotrial.randomisation.Randomiser` and load it."""
        authorise(actor, "generate_randomisation_list")
        return self._load_list(actor, "generate_randomisation_list", Randomiser(scheme, seed))

    def load_randomisation_list(self, actor: Actor, randomiser: Randomiser) -> ListSummary:
        """Load the concealed list of a fresh :class:`~myotrial.randomisation.Randomiser`.

        One list per database; a randomiser that has already assigned patients is refused.
        The audit trail records the list's digest and a digest of seed and scheme, never arms.
        """
        return self._load_list(actor, "load_randomisation_list", randomiser)

    def _load_list(self, actor: Actor, operation: str, randomiser: Randomiser) -> ListSummary:
        with self._transaction(actor, operation, write=True) as tx:
            if randomiser.allocations():
                raise AllocationError("this randomiser has already assigned patients: load a "
                                      "fresh list (assignments are made in the database)")
            existing = tx.conn.execute(sa.select(s.randomisation_lists.c.list_id)).first()
            if existing is not None:
                raise AllocationError(f"a randomisation list is already loaded (list "
                                      f"{existing.list_id}); one list per trial database")
            frame = randomiser.export_list(unblinded=True)
            slots = frame[["stratum", "sequence", "block", "block_size", "arm", "kit_code"]]
            records = [{str(k): _json_safe(val) for k, val in r.items()}
                       for r in slots.to_dict("records")]
            digest = _audit.list_digest(records)
            scheme_json = _audit.canonical_json(randomiser.scheme.to_dict())
            lst = tx.insert(s.randomisation_lists, {
                "created_at": tx.stamp, "seed": randomiser.seed, "scheme_json": scheme_json,
                "list_sha256": digest, "n_slots": len(records),
            }, site_id=None, subject_id=None,
                extra={"secret_sha256": _audit.secret_digest(randomiser.seed, scheme_json)})
            tx.conn.execute(sa.insert(s.randomisation_slots),
                            [{"list_id": lst["list_id"], **r} for r in records])
        return ListSummary(int(lst["list_id"]), len(records), randomiser.scheme.strata, digest)

    def randomise_subject(self, actor: Actor, subject_id: str,
                          stratum: Mapping[str, str] | str | None = None
                          ) -> RandomisationResult:
        """Randomise an eligible subject: take the next slot of the stratum; return the kit
        code (never the arm)."""
        with self._transaction(actor, "randomise_subject", write=True) as tx:
            subj = tx.subject(subject_id)
            sid = subj["subject_id"]
            if subj["randomised"]:
                prior = tx.conn.execute(sa.select(s.allocations).where(
                    s.allocations.c.subject_id == sid)).one()
                raise AllocationError(f"subject {sid} was already randomised (kit "
                                      f"{prior.kit_code}); a patient is randomised once")
            screening = tx.conn.execute(
                sa.select(s.screenings).where(s.screenings.c.subject_id == sid)
                .order_by(s.screenings.c.screening_id.desc()).limit(1)).first()
            if screening is None or screening.eligible is not True:
                status = "none" if screening is None else screening.status
                raise fail("subjects", f"subject {sid} is not eligible at the latest screening "
                           f"(status {status}): only eligible subjects are randomised",
                           subject_id=sid, column="eligible", value=status)
            lst = tx.conn.execute(sa.select(s.randomisation_lists)
                                  .order_by(s.randomisation_lists.c.list_id.desc())).first()
            if lst is None:
                raise AllocationError("no randomisation list is loaded: the unblinded "
                                      "statistician must load one first")
            scheme = RandomisationScheme.from_dict(json.loads(lst.scheme_json))
            try:
                key = scheme.stratum_key(stratum)
            except ValueError as exc:
                raise fail("allocations", str(exc), subject_id=sid, column="stratum",
                           value=stratum) from None
            slot_t = s.randomisation_slots
            used = sa.select(s.allocations.c.slot_id)
            slot = tx.conn.execute(
                sa.select(slot_t.c.slot_id, slot_t.c.sequence, slot_t.c.kit_code)
                .where(slot_t.c.list_id == lst.list_id, slot_t.c.stratum == key,
                       slot_t.c.slot_id.not_in(used))
                .order_by(slot_t.c.sequence).limit(1).with_for_update()).first()
            if slot is None:
                raise AllocationError(f"stratum {key} has no allocations left: the list must "
                                      "be extended by the unblinded statistician")
            tx.insert(s.allocations, {"subject_id": sid, "slot_id": slot.slot_id,
                                      "stratum": key, "sequence": slot.sequence,
                                      "kit_code": slot.kit_code, "randomised_at": tx.stamp},
                      site_id=subj["site_id"], subject_id=sid)
            tx.update(s.subjects, subj, "randomised", True, reason="randomisation",
                      site_id=subj["site_id"], subject_id=sid)
        return RandomisationResult(sid, key, int(slot.sequence), slot.kit_code, tx.stamp)

    def list_allocations(self, actor: Actor) -> pd.DataFrame:
        """UNBLINDED: every allocation with its arm (the unblinded statistician only; the
        viewing is audited)."""
        with self._transaction(actor, "list_allocations", write=True) as tx:
            a, sl, su = s.allocations, s.randomisation_slots, s.subjects
            rows = tx.conn.execute(
                sa.select(a.c.subject_id, su.c.site_id, a.c.stratum, a.c.sequence,
                          a.c.kit_code, sl.c.arm, a.c.randomised_at)
                .join(sl, sl.c.slot_id == a.c.slot_id).join(su, su.c.subject_id == a.c.subject_id)
                .order_by(a.c.randomised_at, a.c.subject_id)).all()
            tx.audit("unblinded_view", table="allocations", new={"rows": len(rows)})
        cols = ["subject_id", "site_id", "stratum", "sequence", "kit_code", "arm",
                "randomised_at"]
        return pd.DataFrame([tuple(r) for r in rows], columns=cols)

    # ==========================================================================================
    # visits, crossover

    def record_visit(self, actor: Actor, subject_id: str, visit_week: int,
                     measures: Mapping[str, Any], *, visit_date: Any = None) -> VisitResult:
        """Record one assessment visit, validate and score it at once.

        Validation: :func:`myotrial.tables.validate_visits` on the subject's visits with this
        one added (ranges, ULNs, baseline present). Scoring: :func:`myotrial.scoring.
        score_visits`. Week 0 (baseline) may precede randomisation; later weeks may not. A
        deterioration confirmed by this visit records the crossover event in the same
        transaction.
        """
        with self._transaction(actor, "record_visit", write=True) as tx:
            subj = tx.subject(subject_id)
            sid = subj["subject_id"]
            p = Problems("visits", sid)
            week = p.parse("visit_week", visit_week, v.as_int)
            p.visit_week = week
            if week is None and not p.items:
                p.add("visit_week", None, "visit_week is required")
            elif week is not None and week < 0:
                p.add("visit_week", visit_week, "visit_week must be a whole number >= 0")
            for name, raw in measures.items():
                if name not in s.MEASURE_COLUMNS:
                    p.add(str(name), raw, "not a measure of the visits table; known: "
                          + ", ".join(s.MEASURE_COLUMNS))
            day = p.parse("visit_date", visit_date, v.as_date)
            week_no = int(week or 0)
            if not p.items and week_no > 0 and not subj["randomised"]:
                raise fail("visits", f"subject {sid} is not randomised: only the baseline "
                           "(week 0) may be recorded before randomisation", subject_id=sid,
                           visit_week=week_no, column="visit_week", value=week_no)
            if not p.items and tx.conn.execute(sa.select(s.visits.c.visit_id).where(
                    s.visits.c.subject_id == sid, s.visits.c.visit_week == week_no)).first():
                raise fail("visits", f"week {week_no} is already recorded for subject "
                           f"{sid}: change it with correct_record and a reason", subject_id=sid,
                           visit_week=week_no, column="visit_week", value=week_no)
            # the measures are validated (all problems at once) by validate_visits in _score
            raw_row = {"subject_id": sid, "visit_week": week_no if week is not None else None,
                       **{c: measures.get(c) for c in s.MEASURE_COLUMNS}}
            frame = self._visits_frame(tx.conn, sid).drop(columns=["visit_date"])
            frame = pd.concat([frame, pd.DataFrame([raw_row], columns=frame.columns)],
                              ignore_index=True)
            scored = self._score(frame, p)
            values = {c: p.parse(c, measures.get(c), v.as_float) for c in s.MEASURE_COLUMNS}
            p.raise_if_any()
            row = {"subject_id": sid, "visit_week": week_no, "visit_date": day, **values}
            tx.insert(s.visits, row, site_id=subj["site_id"], subject_id=sid)
            crossover = self._crossover(tx, subj, scored)
        return _visit_result(scored, sid, week_no, crossover)

    def score_subject(self, actor: Actor, subject_id: str) -> pd.DataFrame:
        """The subject's visits scored now (``score_visits`` output)."""
        with self._transaction(actor, "score_subject", write=False) as tx:
            subj = tx.subject(subject_id)
            frame = self._visits_frame(tx.conn, subj["subject_id"])
        if frame.empty:
            return frame
        return self._score(frame)

    @staticmethod
    def _visits_frame(conn: sa.Connection, subject_id: str) -> pd.DataFrame:
        t = s.visits
        cols = ["subject_id", "visit_week", "visit_date", *s.MEASURE_COLUMNS]
        rows = conn.execute(sa.select(*(t.c[c] for c in cols)).where(t.c.subject_id == subject_id)
                            .order_by(t.c.visit_week)).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=cols)

    def _score(self, frame: pd.DataFrame, earlier: Problems | None = None) -> pd.DataFrame:
        """Validate and score a subject's visits; raise ``earlier`` problems with the new ones.

        Row numbers of the assembled frame mean nothing to the caller: problems are located by
        subject, week, column, value and rule (``row`` is left empty).
        """
        frame = _compact(frame)
        found: list[pd.DataFrame] = []
        if earlier is not None and earlier.items:
            found.append(InputValidationError(earlier.items, "visits").problems)
        try:
            scored = score_visits(frame, population=self.population,
                                  earliest_week=self.earliest_week)
        except InputValidationError as exc:
            found.append(exc.problems)
        if found:
            problems = pd.concat(found, ignore_index=True).assign(row=None)
            raise InputValidationError(problems, "visits") from None
        return scored

    def _crossover(self, tx: _Tx, subj: Mapping[str, Any], scored: pd.DataFrame
                   ) -> CrossoverEvent | None:
        sid = subj["subject_id"]
        existing = tx.conn.execute(sa.select(s.crossover_events).where(
            s.crossover_events.c.subject_id == sid)).first()
        if existing is not None:
            return CrossoverEvent(sid, existing.confirmed_week, existing.description,
                                  existing.recorded_at, False)
        confirmed = scored.loc[scored["cd_confirmed"].astype(bool), "visit_week"]
        if confirmed.empty or not subj["randomised"]:
            return None
        week = int(confirmed.min())
        if week > self.randomised_period_weeks:
            return None
        tx.insert(s.crossover_events, {"subject_id": sid, "confirmed_week": week,
                                       "recorded_at": tx.stamp,
                                       "description": CROSSOVER_DESCRIPTION},
                  site_id=subj["site_id"], subject_id=sid)
        return CrossoverEvent(sid, week, CROSSOVER_DESCRIPTION, tx.stamp, True)

    # ==========================================================================================
    # infusions, adverse events, disposition

    def record_infusion(self, actor: Actor, subject_id: str, *, cycle: int, start: Any,
                        end: Any, dose_g_per_kg: float, rate_ml_per_kg_min: float | None = None,
                        kit_code: str | None = None) -> InfusionResult:
        """Record one infusion day of a randomised subject.

        A rate above the label maximum (0.04 mL/kg/min) or a cycle total above 2.0 g/kg is
        recorded (it happened) and returned as a warning (proderm.md "Design").
        """
        with self._transaction(actor, "record_infusion", write=True) as tx:
            subj = tx.subject(subject_id)
            sid = subj["subject_id"]
            rec = _parse(Problems("infusions", sid), s.infusions, {
                "cycle": cycle, "start": start, "end": end, "dose_g_per_kg": dose_g_per_kg,
                "rate_ml_per_kg_min": rate_ml_per_kg_min, "kit_code": kit_code},
                _check_infusion)
            if not subj["randomised"]:
                raise fail("infusions", f"subject {sid} is not randomised: infusions start "
                           "after randomisation", subject_id=sid, column="subject_id", value=sid)
            row = tx.insert(s.infusions, {"subject_id": sid, **rec}, site_id=subj["site_id"],
                            subject_id=sid)
            warnings = self._infusion_warnings(tx.conn, sid, row)
        return InfusionResult(int(row["infusion_id"]), sid, row["cycle"], row["start"],
                              row["end"], row["dose_g_per_kg"], row["rate_ml_per_kg_min"],
                              row["kit_code"], warnings)

    @staticmethod
    def _infusion_warnings(conn: sa.Connection, sid: str, row: Mapping[str, Any]
                           ) -> tuple[str, ...]:
        out = []
        rate = row["rate_ml_per_kg_min"]
        if rate is not None and rate > LABEL_MAX_RATE_ML_PER_KG_MIN:
            out.append(f"rate {rate:g} mL/kg/min is above the label maximum "
                       f"{LABEL_MAX_RATE_ML_PER_KG_MIN:g} mL/kg/min")
        total = conn.execute(sa.select(sa.func.sum(s.infusions.c.dose_g_per_kg)).where(
            s.infusions.c.subject_id == sid, s.infusions.c.cycle == row["cycle"])).scalar_one()
        if total is not None and total > CYCLE_DOSE_G_PER_KG + 1e-9:
            out.append(f"cycle {row['cycle']} totals {total:g} g/kg, above the protocol dose "
                       f"{CYCLE_DOSE_G_PER_KG:g} g/kg per cycle")
        return tuple(out)

    def record_adverse_event(self, actor: Actor, subject_id: str, *, term: str, onset: Any,
                             severity: str, serious: bool = False, thromboembolic: bool = False,
                             related: bool | None = None, body_system: str | None = None,
                             end: Any = None) -> AdverseEventResult:
        """Record an adverse event; flags infusion-related and highlights thromboembolic ones.

        Infusion-related: onset during an infusion cycle or within 72 h after the end of its
        last infusion day (:mod:`myotrial.db.safety`; ProDERM safety paper,
        doi:10.1186/s13075-023-03232-2).
        """
        with self._transaction(actor, "record_adverse_event", write=True) as tx:
            subj = tx.subject(subject_id)
            sid = subj["subject_id"]
            rec = _parse(Problems("adverse_events", sid), s.adverse_events, {
                "term": term, "body_system": body_system, "onset": onset, "end": end,
                "serious": serious, "severity": severity, "related": related,
                "thromboembolic": thromboembolic}, _check_adverse_event)
            row = tx.insert(s.adverse_events, {"subject_id": sid, **rec},
                            site_id=subj["site_id"], subject_id=sid)
            cycles = infusion_cycles(self._infusions_frame(tx.conn, sid))
        hit = find_infusion_cycle(row["onset"], cycles, window_hours=self.infusion_window_hours)
        highlights = []
        if row["thromboembolic"]:
            highlights.append("THROMBOEMBOLIC event: highlight for safety review "
                              "(proderm.md Safety)")
        if row["serious"]:
            highlights.append("serious adverse event")
        if hit is not None:
            highlights.append(f"infusion-related: onset during cycle {hit.cycle} or within "
                              f"{self.infusion_window_hours:g} h after its last infusion day")
        return AdverseEventResult(int(row["ae_id"]), sid, row["term"], row["onset"],
                                  bool(row["serious"]), row["severity"],
                                  bool(row["thromboembolic"]), hit is not None,
                                  None if hit is None else hit.cycle, tuple(highlights))

    @staticmethod
    def _infusions_frame(conn: sa.Connection, sid: str | None = None) -> pd.DataFrame:
        t = s.infusions
        query = sa.select(t.c.subject_id, t.c.cycle, t.c.start, t.c.end)
        if sid is not None:
            query = query.where(t.c.subject_id == sid)
        rows = conn.execute(query).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=["subject_id", "cycle", "start",
                                                                "end"])

    def record_disposition(self, actor: Actor, subject_id: str, *,
                           completed_week_16: bool | None = None,
                           entered_extension: bool | None = None,
                           completed_week_40: bool | None = None,
                           discontinuation_reason: str | None = None) -> SubjectView:
        """Enter disposition fields that are still empty (changing one needs correct_record)."""
        given = {"completed_week_16": completed_week_16, "entered_extension": entered_extension,
                 "completed_week_40": completed_week_40,
                 "discontinuation_reason": discontinuation_reason}
        with self._transaction(actor, "record_disposition", write=True) as tx:
            subj = tx.subject(subject_id)
            sid = subj["subject_id"]
            p = Problems("subjects", sid)
            rec = _parse(p, s.subjects, {k: val for k, val in given.items() if val is not None})
            for name in rec:
                if subj[name] is not None:
                    p.add(name, subj[name], f"{name} is already recorded: change it with "
                          "correct_record and a reason")
            p.raise_if_any()
            for name, new in rec.items():
                if new is not None:
                    tx.update(s.subjects, subj, name, new, reason="data entry",
                              site_id=subj["site_id"], subject_id=sid)
            view = self._subject_view(tx.conn, sid)
        return view

    # ==========================================================================================
    # corrections

    def correct_record(self, actor: Actor, table: str, key: Mapping[str, Any], field: str,
                       value: Any, reason: str) -> CorrectionResult:
        """Change one field of one record, with a mandatory reason (audited old -> new).

        ``key``: ``{"subject_id": ...}`` (subjects), ``{"subject_id": ..., "visit_week": ...}``
        or ``{"visit_id": ...}`` (visits), ``{"infusion_id": ...}``, ``{"ae_id": ...}``. The
        corrected record is validated like new input; a visit correction re-scores the subject
        (and may record a crossover).
        """
        with self._transaction(actor, "correct_record", write=True) as tx:
            where = key.get("subject_id") if isinstance(key, Mapping) else None
            if table not in CORRECTABLE_FIELDS:
                raise fail(table, f"table {table!r} cannot be corrected; correctable tables: "
                           + ", ".join(CORRECTABLE_FIELDS), subject_id=where, column="table",
                           value=table)
            if field not in CORRECTABLE_FIELDS[table]:
                raise fail(table, f"field {field!r} of {table} cannot be corrected; "
                           "correctable: " + ", ".join(CORRECTABLE_FIELDS[table]),
                           subject_id=where, column=field, value=field)
            t = _TABLES[table]
            row = self._find(tx.conn, t, key)
            subj = tx.subject(row["subject_id"])
            sid = subj["subject_id"]
            week: int | None = row.get("visit_week")
            why = self._reason(table, reason, sid, week)
            p = Problems(table, sid, week)
            new = p.parse(field, value, _parser(t.c[field]))
            p.raise_if_any()
            if new == row[field]:
                raise fail(table, f"{field} already has this value: nothing to correct",
                           subject_id=sid, visit_week=week, column=field, value=value)
            candidate = {**row, field: new}
            if table == "infusions":
                _check_infusion(p, candidate)
            elif table == "adverse_events":
                _check_adverse_event(p, candidate)
            elif table == "subjects":
                p.one_of("msa_group", candidate["msa_group"], MSA_GROUPS)
                age = candidate["age"]
                if age is not None and not 0 <= age <= 120:
                    p.add("age", age, "age in years must be 0 to 120")
            p.raise_if_any()
            visit: VisitResult | None = None
            scored = None
            if table == "visits":
                frame = self._visits_frame(tx.conn, sid).astype({field: object})
                frame.loc[frame["visit_week"] == week, field] = new
                scored = self._score(frame)
            tx.update(t, row, field, new, reason=why, site_id=subj["site_id"], subject_id=sid)
            if scored is not None and week is not None:
                crossover = self._crossover(tx, subj, scored)
                visit = _visit_result(scored, sid, int(week), crossover)
            rkey = _audit.record_key(table, row)
        return CorrectionResult(table, rkey, field, _audit.jsonable(row[field]),
                                _audit.jsonable(new), why, visit)

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

    @staticmethod
    def _find(conn: sa.Connection, t: sa.Table, key: Mapping[str, Any]) -> dict[str, Any]:
        cols = set(key)
        allowed = [set(_audit.AUDITED_TABLES[t.name].key)]
        if t.name == "visits":
            allowed.append({"subject_id", "visit_week"})
        if not isinstance(key, Mapping) or cols not in allowed:
            raise fail(t.name, f"key of {t.name} must have the column(s) "
                       + " or ".join("+".join(sorted(a)) for a in allowed),
                       column="key", value=dict(key) if isinstance(key, Mapping) else key)
        p = Problems(t.name)
        parsed = {k: p.parse(k, key[k], _parser(t.c[k])) for k in sorted(cols)}
        p.raise_if_any()
        row = conn.execute(sa.select(t).where(*(t.c[k] == val for k, val in parsed.items()))
                           ).first()
        if row is None:
            raise fail(t.name, f"no {t.name} record with key {_audit.canonical_json(parsed)}",
                       subject_id=parsed.get("subject_id"),
                       visit_week=parsed.get("visit_week"), column="key",
                       value=_audit.canonical_json(parsed))
        return dict(row._mapping)

    # ==========================================================================================
    # reading, exports, audit

    def get_subject(self, actor: Actor, subject_id: str) -> SubjectView:
        """One subject (no arm)."""
        with self._transaction(actor, "get_subject", write=False) as tx:
            subj = tx.subject(subject_id)
            return self._subject_view(tx.conn, subj["subject_id"])

    def list_subjects(self, actor: Actor) -> tuple[SubjectView, ...]:
        """Subjects visible to the actor (site investigators: own site)."""
        with self._transaction(actor, "list_subjects", write=False) as tx:
            query = sa.select(s.subjects.c.subject_id).order_by(s.subjects.c.subject_id)
            if actor.role is Role.SITE_INVESTIGATOR:
                query = query.where(s.subjects.c.site_id == actor.site_id)
            ids = tx.conn.execute(query).scalars().all()
            return tuple(self._subject_view(tx.conn, sid) for sid in ids)

    @staticmethod
    def _subject_view(conn: sa.Connection, sid: str) -> SubjectView:
        subj = conn.execute(sa.select(s.subjects).where(s.subjects.c.subject_id == sid)).one()
        alloc = conn.execute(sa.select(s.allocations).where(s.allocations.c.subject_id == sid)
                             ).first()
        scr = conn.execute(sa.select(s.screenings.c.status).where(
            s.screenings.c.subject_id == sid).order_by(s.screenings.c.screening_id.desc())
        ).first()
        xo = conn.execute(sa.select(s.crossover_events).where(
            s.crossover_events.c.subject_id == sid)).first()
        return SubjectView(
            sid, subj.site_id, subj.age, subj.sex, subj.msa_group, bool(subj.randomised),
            None if scr is None else scr.status,
            None if alloc is None else alloc.stratum, None if alloc is None else alloc.kit_code,
            None if alloc is None else alloc.randomised_at,
            None if xo is None else CrossoverEvent(sid, xo.confirmed_week, xo.description,
                                                   xo.recorded_at, False),
            subj.completed_week_16, subj.entered_extension, subj.completed_week_40,
            subj.discontinuation_reason)

    def export_tables(self, actor: Actor, *, blinded: bool = True) -> dict[str, pd.DataFrame]:
        """The canonical tables (data-format.md): ``visits``, ``subjects``, ``infusions``,
        ``adverse_events``.

        Blinded (the default, and always for blinded roles): no ``arm`` in subjects, no
        ``product`` in infusions. ``blinded=False`` is honoured only for the unblinded
        statistician. Site investigators get their own site's subjects only. Exports are
        audited (who, when, which view, row counts).
        """
        with self._transaction(actor, "export_tables", write=True) as tx:
            if not blinded and actor.blinded:
                raise PermissionDenied(f"user {actor.username!r} (role {actor.role.value}) may "
                                       "not export unblinded data")
            site = actor.site_id if actor.role is Role.SITE_INVESTIGATOR else None
            tables = build_exports(
                tx.conn, blinded=blinded, site_id=site,
                crossover_from=self.crossover_from, crossover_to=self.crossover_to,
                randomised_period_cycles=self.randomised_period_cycles,
                window_hours=self.infusion_window_hours)
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
            return _audit.verify_audit_chain(tx.conn, expected_head=expected_head)


# ----------------------------------------------------------------------------------------------
# helpers


def _parse(p: Problems, table: sa.Table, raw: Mapping[str, Any],
           check: Callable[[Problems, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Parse each value by its column's type; run the table check; raise every problem."""
    rec = {name: p.parse(name, value, _parser(table.c[name])) for name, value in raw.items()}
    for name in raw:
        if not table.c[name].nullable and rec[name] is None and not any(
                i.column == name for i in p.items):
            p.add(name, None, f"{name} is required")
    if check is not None and not p.items:
        check(p, rec)
    p.raise_if_any()
    return rec


def _check_infusion(p: Problems, rec: Mapping[str, Any]) -> None:
    if rec["cycle"] is not None and rec["cycle"] < 1:
        p.add("cycle", rec["cycle"], "cycle must be a whole number >= 1")
    if rec["start"] is not None and rec["end"] is not None and rec["end"] <= rec["start"]:
        p.add("end", rec["end"], f"end must be after start ({rec['start'].isoformat()})")
    dose = rec["dose_g_per_kg"]
    if dose is not None and not 0 < dose <= CYCLE_DOSE_G_PER_KG:
        p.add("dose_g_per_kg", dose, "dose_g_per_kg of one infusion day must be > 0 and at "
              f"most the cycle dose {CYCLE_DOSE_G_PER_KG:g} g/kg")
    rate = rec.get("rate_ml_per_kg_min")
    if rate is not None and rate <= 0:
        p.add("rate_ml_per_kg_min", rate, "rate_ml_per_kg_min must be > 0")


def _check_adverse_event(p: Problems, rec: Mapping[str, Any]) -> None:
    if rec["term"] is None:
        p.add("term", None, "term is required")
    p.one_of("severity", rec["severity"], SEVERITIES)
    if rec["end"] is not None and rec["onset"] is not None and rec["end"] < rec["onset"]:
        p.add("end", rec["end"], f"end must not be before onset ({rec['onset'].isoformat()})")


_CORE_COLUMNS = ("subject_id", "visit_week", "pga", "ptga", "extramuscular", "mmt8", "haq", "ck",
                 "ck_uln")


def _compact(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop measure columns empty in every visit (except the core set, which scoring needs);
    store all-numeric columns as float64 (the fast path of ``validate_visits``)."""
    keep = {}
    for name in frame.columns:
        col = frame[name]
        if name not in _CORE_COLUMNS and col.isna().all():
            continue
        if name not in ("subject_id", "visit_week") and all(
                val is None or (isinstance(val, int | float) and not isinstance(val, bool))
                for val in col.tolist()):
            col = col.astype("float64")
        keep[name] = col
    return pd.DataFrame(keep)


def _visit_result(scored: pd.DataFrame, sid: str, week: int,
                  crossover: CrossoverEvent | None) -> VisitResult:
    row = scored.loc[scored["visit_week"] == week].iloc[0]

    def opt(value: Any) -> Any:
        return None if pd.isna(value) else value

    clauses = opt(row["worsening_clauses"])
    tis = opt(row["tis"])
    doi = opt(row["doi_met"])
    worse = opt(row["worsening"])
    return VisitResult(
        sid, week, None if tis is None else float(tis),
        None if opt(row["tis_category"]) is None else str(row["tis_category"]),
        opt(row["tis_missing_reason"]),
        None if doi is None else bool(doi), None if worse is None else bool(worse),
        tuple(str(clauses).split(";")) if clauses else (), bool(row["cd_confirmed"]),
        crossover)


def service_operations() -> tuple[str, ...]:
    """Names of the public :class:`TrialService` methods that take an actor: each must have a
    rule in :data:`~myotrial.db.PERMISSIONS` (a test enforces it)."""
    names = []
    for name, fn in inspect.getmembers(TrialService, inspect.isfunction):
        if name.startswith("_"):
            continue
        if "actor" in inspect.signature(fn).parameters:
            names.append(name)
    return tuple(sorted(names))

