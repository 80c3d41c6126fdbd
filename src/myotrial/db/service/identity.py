"""Identity and sites: the first administrator, log-in, sites, users."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from argon2.exceptions import InvalidHashError, VerificationError

from myotrial.db import _values as v
from myotrial.db import schema as s
from myotrial.db._values import Problems, fail
from myotrial.db.engine import lock_for_write
from myotrial.db.results import SiteRecord, UserRecord
from myotrial.db.roles import Actor, PermissionDenied, Role
from myotrial.db.service._unit import ServiceCore, UnitOfWork

__all__ = ["MIN_PASSWORD_LENGTH", "IdentityOperations"]

MIN_PASSWORD_LENGTH = 10


def _check_password(p: Problems, password: Any) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        p.add("password", None,
              f"password must be text of at least {MIN_PASSWORD_LENGTH} characters")


class IdentityOperations(ServiceCore):
    """Users and sites (administrators), authentication (everyone)."""

    def bootstrap_administrator(self, username: str, password: str) -> Actor:
        """Create the first user, an administrator; refused once any user exists."""
        p = Problems("users")
        name = p.parse("username", username, v.as_identifier, "username")
        _check_password(p, password)
        p.raise_if_any()
        with self.engine.connect() as conn, conn.begin():
            lock_for_write(conn)
            if conn.execute(sa.select(sa.func.count()).select_from(s.users)).scalar_one():
                raise PermissionDenied("the database already has users: an administrator "
                                       "creates further users with create_user")
            actor = Actor(name, Role.ADMINISTRATOR)
            tx = UnitOfWork(conn, actor, "bootstrap_administrator", self._now())
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
            _check_password(p, password)
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
