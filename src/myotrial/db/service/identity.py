"""Identity and sites: administrators, log-in (throttled, audited), sessions, sites, users.

Security rules (issue 12; docs/database.md "Accounts and sessions"):

- **Passwords**: :func:`myotrial.db.passwords.password_problem` (length, bundled list of
  common passwords); argon2 hashes; at most ``max_concurrent_hashes`` argon2 checks at once
  (64 MiB each), so a flood of logins cannot exhaust memory.
- **Throttling**: :data:`MAX_FAILED_LOGINS` consecutive failures lock an account until an
  administrator lifts it (:meth:`IdentityOperations.unlock_user`, or a password reset); a client
  (the web passes its address) with :data:`CLIENT_FAILURES` failures within
  :data:`CLIENT_WINDOW_SECONDS` is refused before any hashing (:class:`LoginThrottled`).
- **Audit**: every login, failed login, lockout, logout and password change is an audit row
  (never a password or a hash).
- **Sessions**: server-side (``sessions``): the cookie holds a random token, the table its
  sha256; logout, idle and absolute timeouts end it.
- **Two-person rule**: creating, reactivating or resetting the password of an unblinded
  statistician or an administrator leaves the account inactive until a second administrator
  approves (:meth:`IdentityOperations.approve_user`). Administrators are bootstrapped from the
  command line (database access) while fewer than two exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from collections import OrderedDict, deque
from typing import Any

import sqlalchemy as sa
from argon2.exceptions import InvalidHashError, VerificationError

from myotrial.db import _values as v
from myotrial.db import audit as _audit
from myotrial.db import schema as s
from myotrial.db._values import Problems, fail
from myotrial.db.engine import AsyncReads, OneRowRead, lock_for_write
from myotrial.db.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, password_problem
from myotrial.db.results import SessionRecord, SiteRecord, UserRecord
from myotrial.db.roles import Actor, PermissionDenied, Role
from myotrial.db.service._unit import ServiceCore, UnitOfWork
from myotrial.db.service.reads import head_columns, head_version

__all__ = ["CLIENT_FAILURES", "CLIENT_WINDOW_SECONDS", "MAX_FAILED_LOGINS",
           "MIN_PASSWORD_LENGTH", "SENSITIVE_ROLES", "IdentityOperations", "LoginThrottled"]

#: Consecutive failed logins that lock an account (an administrator lifts the lock).
MAX_FAILED_LOGINS = 5
#: Failed logins from one client within the window before that client is refused.
CLIENT_FAILURES = 20
CLIENT_WINDOW_SECONDS = 15 * 60
_MAX_CLIENTS = 10_000  # bound of the per-client table (oldest forgotten first)
#: Accounts under the two-person rule.
SENSITIVE_ROLES = frozenset({Role.UNBLINDED_STATISTICIAN, Role.ADMINISTRATOR})
DENIED = ("unknown user name or wrong password (or account inactive or locked: an "
          "administrator can lift a lock)")
#: A session with its user's role, site and state, and the data version (the audit head) of
#: the same snapshot (built once; read with ``key``, the token's sha256).
_SESSION_READ = OneRowRead(
    sa.select(s.sessions.c.username, s.sessions.c.csrf, s.sessions.c.created_at,
              s.sessions.c.last_seen, s.sessions.c.ended_at, s.users.c.role,
              s.users.c.site_id, s.users.c.active, *head_columns())
    .join(s.users, s.users.c.username == s.sessions.c.username)
    .where(s.sessions.c.token_sha256 == sa.bindparam("key", type_=sa.String)))
_TOUCH_SECONDS = 60  # last_seen is refreshed at most once a minute (one write)


class LoginThrottled(PermissionDenied):
    """Too many failed logins from this client, or too many logins at once: try later."""


def _check_password(p: Problems, password: Any, username: str | None = None,
                    column: str = "password") -> None:
    problem = password_problem(password, username)
    if problem is not None:
        p.add(column, None, problem)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class _ClientThrottle:
    """Failed logins per client in a sliding window; bounded memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client, deque())
        while times and now - times[0] > CLIENT_WINDOW_SECONDS:
            times.popleft()
        return times

    def blocked(self, client: str | None) -> bool:
        if client is None:
            return False
        with self._lock:
            return len(self._recent(client, time.monotonic())) >= CLIENT_FAILURES

    def failed(self, client: str | None) -> None:
        if client is None:
            return
        with self._lock:
            now = time.monotonic()
            times = self._recent(client, now)
            times.append(now)
            while len(times) > CLIENT_FAILURES:
                times.popleft()
            self._failures[client] = times
            self._failures.move_to_end(client)
            while len(self._failures) > _MAX_CLIENTS:
                self._failures.popitem(last=False)

    def succeeded(self, client: str | None) -> None:
        if client is None:
            return
        with self._lock:
            self._failures.pop(client, None)


class IdentityOperations(ServiceCore):
    """Users and sites (administrators), authentication and sessions (everyone)."""

    _throttle: _ClientThrottle

    # -- bootstrap ---------------------------------------------------------------------------

    def bootstrap_administrator(self, username: str, password: str) -> Actor:
        """Create an administrator from the command line (database access): refused once two
        administrators exist (further ones need a second administrator's approval)."""
        p = Problems("users")
        name = p.parse("username", username, v.as_identifier, "username")
        _check_password(p, password, name)
        p.raise_if_any()
        with self.engine.connect() as conn, conn.begin():
            lock_for_write(conn)
            admins = conn.execute(sa.select(sa.func.count()).select_from(s.users).where(
                s.users.c.role == Role.ADMINISTRATOR.value)).scalar_one()
            if admins >= 2:
                raise PermissionDenied("the database already has two administrators: further "
                                       "users are created with create_user (an administrator "
                                       "account needs a second administrator's approval)")
            if conn.execute(sa.select(s.users).where(s.users.c.username == name)).first():
                raise fail("users", f"user {name} already exists", column="username",
                           value=name)
            actor = Actor(name, Role.ADMINISTRATOR)
            tx = UnitOfWork(conn, actor, "bootstrap_administrator", self._now())
            tx.insert(s.users, {"username": name, "password_hash": self._hash(password),
                                "role": Role.ADMINISTRATOR.value, "site_id": None,
                                "active": True, "created_at": tx.stamp},
                      site_id=None, subject_id=None)
        return actor

    # -- passwords and log-in ----------------------------------------------------------------

    def _hash(self, password: str) -> str:
        with self._hash_slot():
            return self._hasher.hash(password)

    def _hash_slot(self) -> Any:
        service = self

        class _Slot:
            def __enter__(self) -> None:
                if not service._hash_slots.acquire(timeout=service._hash_wait):
                    raise LoginThrottled("the server is busy checking other logins: try again "
                                         "in a moment")

            def __exit__(self, *exc: object) -> None:
                service._hash_slots.release()

        return _Slot()

    def _verify(self, stored: str, password: str) -> bool:
        with self._hash_slot():
            try:
                return bool(self._hasher.verify(stored, password))
            except (VerificationError, InvalidHashError):
                return False

    def _client_throttle(self) -> _ClientThrottle:
        throttle = getattr(self, "_throttle", None)
        if throttle is None:
            throttle = self._throttle = _ClientThrottle()
        return throttle

    def authenticate(self, username: str, password: str, *, client: str | None = None
                     ) -> Actor:
        """Check a password (argon2); return the user's :class:`Actor`.

        Raises :class:`PermissionDenied` with the same message for an unknown user, a wrong
        password, an inactive or a locked account; :class:`LoginThrottled` when ``client`` had
        too many failures lately or too many logins run at once. Every attempt is audited;
        :data:`MAX_FAILED_LOGINS` consecutive failures lock the account.
        """
        throttle = self._client_throttle()
        if throttle.blocked(client):
            raise LoginThrottled("too many failed logins from this client: try again later")
        name = username if isinstance(username, str) and 0 < len(username) <= 64 else None
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
            password, name = "", None
        row = None
        if name is not None:
            with self.engine.connect() as conn:
                conn.execution_options(myotrial_readonly=True)
                with conn.begin():
                    row = conn.execute(sa.select(s.users).where(s.users.c.username == name)
                                       ).first()
        # an unknown user costs one hash check too, so timing does not reveal user names
        ok = self._verify(self._dummy_hash() if row is None else row.password_hash, password)
        if not ok or row is None or not row.active or row.locked_at is not None:
            throttle.failed(client)
            self._login_failed(row, client, wrong_password=not ok)
            raise PermissionDenied(DENIED)
        throttle.succeeded(client)
        actor = Actor(row.username, Role(row.role), row.site_id)
        with self.engine.connect() as conn, conn.begin():
            lock_for_write(conn)
            if row.failed_logins:
                conn.execute(sa.update(s.users).where(s.users.c.username == row.username)
                             .values(failed_logins=0))
            UnitOfWork(conn, actor, "login", self._now()).audit(
                "login", new={"client": _client_text(client)}, site_id=row.site_id)
        return actor

    def _login_failed(self, row: Any, client: str | None, *, wrong_password: bool) -> None:
        """Audit the failure; count it against an existing account, lock at the limit."""
        now = self._now()
        with self.engine.connect() as conn, conn.begin():
            lock_for_write(conn)
            if row is None:
                _audit.append_audit(conn, username="(unknown user)", role="anonymous",
                                    action="login_failed", when=now,
                                    new_value={"client": _client_text(client)})
                return
            fresh = conn.execute(sa.select(s.users).where(s.users.c.username == row.username)
                                 ).one()
            actor = Actor(fresh.username, Role(fresh.role), fresh.site_id)
            tx = UnitOfWork(conn, actor, "login", now)
            why = ("wrong password" if wrong_password else "account inactive"
                   if not fresh.active else "account locked")
            tx.audit("login_failed", new={"client": _client_text(client), "why": why},
                     site_id=fresh.site_id)
            if not wrong_password:
                return
            count = int(fresh.failed_logins or 0) + 1
            conn.execute(sa.update(s.users).where(s.users.c.username == fresh.username)
                         .values(failed_logins=count))
            if count >= MAX_FAILED_LOGINS and fresh.locked_at is None:
                tx.update(s.users, dict(fresh._mapping), "locked_at", tx.stamp,
                          reason=f"{count} consecutive failed logins: locked until an "
                          "administrator lifts the lock", site_id=fresh.site_id,
                          subject_id=None)
                conn.execute(sa.update(s.sessions).where(
                    s.sessions.c.username == fresh.username, s.sessions.c.ended_at.is_(None))
                    .values(ended_at=tx.stamp))

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self._hash("not a password: timing equaliser")
        return self._dummy

    # -- sessions ----------------------------------------------------------------------------

    def login(self, username: str, password: str, *, client: str | None = None
              ) -> tuple[str, SessionRecord]:
        """:meth:`authenticate`, then open a server-side session: returns the session token
        (for the cookie; the database keeps only its sha256) and the session."""
        actor = self.authenticate(username, password, client=client)
        return self._open_session(actor)

    def _open_session(self, actor: Actor) -> tuple[str, SessionRecord]:
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        now = self._now()
        stamp = now.astimezone(dt.UTC).replace(tzinfo=None)
        with self.engine.connect() as conn, conn.begin():
            lock_for_write(conn)
            conn.execute(sa.insert(s.sessions).values(
                token_sha256=_token_hash(token), username=actor.username, csrf=csrf,
                created_at=stamp, last_seen=stamp, ended_at=None))
        return token, SessionRecord(actor.username, actor.role.value, actor.site_id, csrf,
                                    stamp, stamp)

    def resolve_session(self, token: str | None, *, idle_seconds: float,
                        max_age_seconds: float) -> SessionRecord | None:
        """The live session of ``token`` (None: unknown, ended, idle longer than
        ``idle_seconds``, older than ``max_age_seconds``, or its user no longer active).
        An expired session is ended; a live one's ``last_seen`` is refreshed (at most once a
        minute)."""
        if not isinstance(token, str) or not 20 <= len(token) <= 100:
            return None
        key = _token_hash(token)
        record, write = self._settle_session(_SESSION_READ.first(self.engine, key=key),
                                             idle_seconds, max_age_seconds)
        if write is not None:
            self._write_session(key, write)
        return record

    async def resolve_session_async(self, token: str | None, reads: AsyncReads, *,
                                    idle_seconds: float, max_age_seconds: float
                                    ) -> SessionRecord | None:
        """:meth:`resolve_session` on the event loop (PostgreSQL): the same statement through
        ``reads``, the same rules; the rare write (``last_seen``, or ending an expired
        session) runs in a worker thread."""
        if not isinstance(token, str) or not 20 <= len(token) <= 100:
            return None
        key = _token_hash(token)
        record, write = self._settle_session(await reads.first(_SESSION_READ, key=key),
                                             idle_seconds, max_age_seconds)
        if write is not None:
            import anyio.to_thread

            await anyio.to_thread.run_sync(self._write_session, key, write)
        return record

    def _settle_session(self, row: Any, idle_seconds: float, max_age_seconds: float
                        ) -> tuple[SessionRecord | None, dict[str, Any] | None]:
        """The live session of a session row read (or None), and the values its row needs
        written (``ended_at`` for an expired one, ``last_seen`` once a minute) or None."""
        if row is None or row.ended_at is not None:
            return None, None
        now = self._now().astimezone(dt.UTC).replace(tzinfo=None)
        expired = ((now - row.last_seen).total_seconds() > idle_seconds
                   or (now - row.created_at).total_seconds() > max_age_seconds
                   or not row.active)
        if expired:
            return None, {"ended_at": now}
        write = ({"last_seen": now} if (now - row.last_seen).total_seconds() > _TOUCH_SECONDS
                 else None)
        return SessionRecord(row.username, row.role, row.site_id, row.csrf, row.created_at,
                             now, head_version(row.head_id, row.head_hash)), write

    def _write_session(self, key: str, values: dict[str, Any]) -> None:
        se = s.sessions
        with self.engine.connect() as conn, conn.begin():
            lock_for_write(conn)
            conn.execute(sa.update(se).where(se.c.token_sha256 == key).values(**values))

    def logout(self, token: str | None) -> bool:
        """End the session of ``token`` (audited); False when there was none."""
        if not isinstance(token, str) or not 20 <= len(token) <= 100:
            return False
        key = _token_hash(token)
        with self.engine.connect() as conn, conn.begin():
            lock_for_write(conn)
            row = conn.execute(sa.select(s.sessions, s.users.c.role, s.users.c.site_id)
                               .join(s.users, s.users.c.username == s.sessions.c.username)
                               .where(s.sessions.c.token_sha256 == key)).first()
            if row is None or row.ended_at is not None:
                return False
            tx = UnitOfWork(conn, Actor(row.username, Role(row.role), row.site_id), "logout",
                            self._now())
            conn.execute(sa.update(s.sessions).where(s.sessions.c.token_sha256 == key)
                         .values(ended_at=tx.stamp))
            tx.audit("logout", site_id=row.site_id)
        return True

    @staticmethod
    def _end_sessions(tx: UnitOfWork, username: str) -> None:
        tx.conn.execute(sa.update(s.sessions).where(
            s.sessions.c.username == username, s.sessions.c.ended_at.is_(None))
            .values(ended_at=tx.stamp))

    def change_password(self, actor: Actor, old_password: str, new_password: str
                        ) -> tuple[str, SessionRecord]:
        """Change your own password (the old one is checked); every session of the user
        ends and a new one is returned."""
        self.authenticate(actor.username, old_password)
        with self._transaction(actor, "change_password", write=True) as tx:
            p = Problems("users")
            _check_password(p, new_password, actor.username, "new_password")
            p.raise_if_any()
            tx.conn.execute(sa.update(s.users).where(s.users.c.username == actor.username)
                            .values(password_hash=self._hash(new_password)))
            tx.audit("update", table="users", key=_audit.canonical_json(
                {"username": actor.username}), field="password", reason="password changed",
                site_id=actor.site_id)
            self._end_sessions(tx, actor.username)
        return self._open_session(actor)

    # -- sites and users ---------------------------------------------------------------------

    def create_site(self, actor: Actor, site_id: str, name: str,
                    country: str | None = None) -> SiteRecord:
        """Create a trial site."""
        with self._transaction(actor, "create_site", write=True) as tx:
            p = Problems("sites")
            sid = p.parse("site_id", site_id, v.as_identifier, "site_id")
            if sid is not None and len(sid) > 32:
                p.add("site_id", sid, "site_id must be at most 32 characters")
            label = p.parse("name", name, v.as_text)
            p.require("name", label)
            where = p.parse("country", country, lambda x: v.as_text(x, max_length=100))
            p.raise_if_any()
            if tx.conn.execute(sa.select(s.sites).where(s.sites.c.site_id == sid)).first():
                raise fail("sites", f"site {sid} already exists", column="site_id", value=sid)
            tx.insert(s.sites, {"site_id": sid, "name": label, "country": where},
                      site_id=sid, subject_id=None)
        return SiteRecord(sid, label, where)

    def create_user(self, actor: Actor, username: str, password: str, role: Role | str,
                    site_id: str | None = None) -> UserRecord:
        """Create a user; site investigators need a site, other roles have none. An
        unblinded statistician or administrator stays inactive until a second administrator
        approves (:meth:`approve_user`)."""
        with self._transaction(actor, "create_user", write=True) as tx:
            p = Problems("users")
            name = p.parse("username", username, v.as_identifier, "username")
            _check_password(p, password, name)
            try:
                user_role = Role(role)
            except ValueError:
                p.add("role", role if isinstance(role, str) else None,
                      "role must be one of: " + ", ".join(r.value for r in Role))
                user_role = None
            site = p.parse("site_id", site_id, lambda x: v.as_text(x, max_length=32))
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
            pending = new_role in SENSITIVE_ROLES
            tx.insert(s.users, {"username": name, "password_hash": self._hash(password),
                                "role": new_role.value, "site_id": site, "active": not pending,
                                "created_at": tx.stamp, "failed_logins": 0, "locked_at": None,
                                "approval_requested_by": actor.username if pending else None},
                      site_id=site, subject_id=None)
        return UserRecord(name, new_role.value, site, not pending,
                          actor.username if pending else None)

    def _user(self, tx: UnitOfWork, username: Any) -> dict[str, Any]:
        row = None
        if isinstance(username, str) and len(username) <= 64:
            row = tx.conn.execute(sa.select(s.users).where(s.users.c.username == username)
                                  ).first()
        if row is None:
            shown = str(username)[:64]
            raise fail("users", f"no user {shown!r}", column="username", value=shown)
        return dict(row._mapping)

    def approve_user(self, actor: Actor, username: str) -> UserRecord:
        """Second administrator's approval of a pending unblinded or administrator account
        (two-person rule): the approver cannot be the administrator who asked."""
        with self._transaction(actor, "approve_user", write=True) as tx:
            row = self._user(tx, username)
            requester = row["approval_requested_by"]
            if requester is None:
                raise fail("users", f"user {row['username']} awaits no approval",
                           column="username", value=row["username"])
            if requester == actor.username:
                raise PermissionDenied(
                    f"user {actor.username!r} asked for this account change: a SECOND "
                    "administrator must approve it (two-person rule)")
            reason = f"approved by a second administrator (asked by {requester})"
            tx.update(s.users, row, "approval_requested_by", None, reason=reason,
                      site_id=row["site_id"], subject_id=None)
            tx.update(s.users, {**row, "approval_requested_by": None}, "active", True,
                      reason=reason, site_id=row["site_id"], subject_id=None)
        return UserRecord(row["username"], row["role"], row["site_id"], True)

    def deactivate_user(self, actor: Actor, username: str, reason: str) -> UserRecord:
        """Deactivate a user (users are never deleted); a reason is required. Their sessions
        end at once."""
        with self._transaction(actor, "deactivate_user", write=True) as tx:
            why = self._reason("users", reason)
            row = self._user(tx, username)
            if row["username"] == actor.username:
                raise fail("users", "administrators cannot deactivate themselves",
                           column="username", value=username)
            if row["approval_requested_by"] is not None:
                tx.update(s.users, row, "approval_requested_by", None, reason=why,
                          site_id=row["site_id"], subject_id=None)
                row = {**row, "approval_requested_by": None}
            if row["active"]:
                tx.update(s.users, row, "active", False, reason=why,
                          site_id=row["site_id"], subject_id=None)
            self._end_sessions(tx, row["username"])
        return UserRecord(row["username"], row["role"], row["site_id"], False)

    def reactivate_user(self, actor: Actor, username: str, reason: str) -> UserRecord:
        """Reactivate a user; an unblinded statistician or administrator then awaits a second
        administrator's approval."""
        with self._transaction(actor, "reactivate_user", write=True) as tx:
            why = self._reason("users", reason)
            row = self._user(tx, username)
            if row["active"]:
                raise fail("users", f"user {row['username']} is active", column="username",
                           value=row["username"])
            if Role(row["role"]) in SENSITIVE_ROLES:
                tx.update(s.users, row, "approval_requested_by", actor.username, reason=why,
                          site_id=row["site_id"], subject_id=None)
                return UserRecord(row["username"], row["role"], row["site_id"], False,
                                  actor.username)
            tx.update(s.users, row, "active", True, reason=why, site_id=row["site_id"],
                      subject_id=None)
        return UserRecord(row["username"], row["role"], row["site_id"], True)

    def reset_password(self, actor: Actor, username: str, new_password: str, reason: str
                       ) -> UserRecord:
        """Set a user's password (administrators; the user's sessions end, a lock is lifted).
        An unblinded statistician's or administrator's account then awaits a second
        administrator's approval, so no administrator can take it over alone."""
        with self._transaction(actor, "reset_password", write=True) as tx:
            why = self._reason("users", reason)
            row = self._user(tx, username)
            if row["username"] == actor.username:
                raise fail("users", "change your own password with change_password",
                           column="username", value=username)
            p = Problems("users")
            _check_password(p, new_password, row["username"], "new_password")
            p.raise_if_any()
            tx.conn.execute(sa.update(s.users).where(s.users.c.username == row["username"])
                            .values(password_hash=self._hash(new_password), failed_logins=0))
            tx.audit("update", table="users", key=_audit.record_key("users", row),
                     field="password", reason=why, site_id=row["site_id"])
            if row["locked_at"] is not None:
                tx.update(s.users, row, "locked_at", None, reason=why, site_id=row["site_id"],
                          subject_id=None)
                row = {**row, "locked_at": None}
            self._end_sessions(tx, row["username"])
            pending = Role(row["role"]) in SENSITIVE_ROLES and row["active"]
            if pending:
                tx.update(s.users, row, "active", False, reason=why + " (awaits a second "
                          "administrator's approval)", site_id=row["site_id"], subject_id=None)
                tx.update(s.users, {**row, "active": False}, "approval_requested_by",
                          actor.username, reason=why, site_id=row["site_id"], subject_id=None)
        return UserRecord(row["username"], row["role"], row["site_id"],
                          bool(row["active"]) and not pending,
                          actor.username if pending else row["approval_requested_by"])

    def unlock_user(self, actor: Actor, username: str, reason: str) -> UserRecord:
        """Lift the lock of an account after repeated failed logins (a reason is required)."""
        with self._transaction(actor, "unlock_user", write=True) as tx:
            why = self._reason("users", reason)
            row = self._user(tx, username)
            tx.conn.execute(sa.update(s.users).where(s.users.c.username == row["username"])
                            .values(failed_logins=0))
            if row["locked_at"] is not None:
                tx.update(s.users, row, "locked_at", None, reason=why, site_id=row["site_id"],
                          subject_id=None)
        return UserRecord(row["username"], row["role"], row["site_id"], bool(row["active"]),
                          row["approval_requested_by"], False)

    def list_users(self, actor: Actor) -> tuple[UserRecord, ...]:
        """All users (no password hashes)."""
        with self._transaction(actor, "list_users", write=False) as tx:
            rows = tx.conn.execute(sa.select(s.users).order_by(s.users.c.username)).all()
        return tuple(UserRecord(r.username, r.role, r.site_id, bool(r.active),
                                r.approval_requested_by, r.locked_at is not None)
                     for r in rows)


def _client_text(client: str | None) -> str | None:
    return None if client is None else str(client)[:64]
