"""Sessions, CSRF tokens and the per-endpoint access rules of the web application.

Sessions (issue 12): a logged-in session lives on the SERVER (table ``sessions`` of the trial
database): the cookie ``myotrial_session`` carries only a random token (``t.<token>``; the
database keeps its sha256), so logout, an idle timeout (``Settings.session_idle_timeout``) or
the absolute timeout (``Settings.session_max_age``) ends it for good, and deactivating a user
ends their sessions. Before login the session is anonymous: a signed cookie (HMAC-SHA256)
holding only its CSRF token, so anonymous visitors write nothing to the database. Cookies are
``HttpOnly``, ``SameSite=Lax``, and ``Secure`` when ``Settings.secure_cookies`` is set or the
request came over HTTPS. Every service operation re-checks the user (exists, active, same role
and site).

CSRF: every state-changing request (POST) of a non-public endpoint must carry the session's token,
as the form field ``csrf_token`` (pages) or the header ``X-CSRF-Token`` (JSON API). The login
endpoints check the token of the anonymous session (login CSRF); ``GET /api/session`` hands an
API client its token. The public calculator (``POST /calculator``, ``POST /api/tis``) changes
nothing and needs no token.

Access: :data:`myotrial.web.access.ROUTE_RULES` gives every endpoint a rule; the dependency
:func:`enforce_rule`, installed on the whole application, refuses a request to an endpoint
without a rule (fail closed), sends anonymous users to the login, refuses roles the rule does
not allow (403) and checks CSRF tokens.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from myotrial.db.results import SessionRecord
from myotrial.db.roles import Actor, Role
from myotrial.settings import SECRET_ENV, SECURE_COOKIES_ENV, Settings

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SECRET_ENV",
    "SECURE_COOKIES_ENV",
    "SESSION_COOKIE",
    "CsrfFailed",
    "LoginRequired",
    "Session",
    "SessionCodec",
    "client_address",
    "end_session",
    "enforce_rule",
    "request_actor",
    "request_session",
    "session_of",
]

SESSION_COOKIE = "myotrial_session"
#: A logged-in session's cookie: this prefix and the server-side session's random token.
TOKEN_PREFIX = "t."
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Session:
    """A request's session; ``username`` is None before login. A logged-in session has the
    server-side ``token`` (the cookie's value)."""

    csrf: str
    issued: int
    username: str | None = None
    role: str | None = None
    site_id: str | None = None
    new: bool = False  # not yet sent to the browser
    token: str | None = None
    #: The data version read with the session and its user (``SessionRecord.data_version``;
    #: None: not read): web/readcache.py serves kept views under it without another
    #: statement. Server-side only, never in a cookie or a response.
    data_version: str | None = None

    @classmethod
    def anonymous(cls) -> Session:
        return cls(csrf=secrets.token_urlsafe(24), issued=int(time.time()), new=True)

    @classmethod
    def logged_in(cls, token: str, record: SessionRecord, *, new: bool = False) -> Session:
        return cls(csrf=record.csrf, issued=int(record.created_at.replace(
            tzinfo=dt.UTC).timestamp()), username=record.username, role=record.role,
            site_id=record.site_id, new=new, token=token, data_version=record.data_version)

    @property
    def actor(self) -> Actor | None:
        if self.username is None or self.role is None:
            return None
        try:
            return Actor(self.username, Role(self.role), self.site_id)
        except ValueError:
            return None


class SessionCodec:
    """Sign and verify session cookies (HMAC-SHA256, expiry checked on read)."""

    def __init__(self, settings: Settings) -> None:
        self._key = hashlib.sha256(b"myotrial-session\x00" + settings.secret_key.encode()
                                   ).digest()
        self.max_age = settings.session_max_age

    def _sign(self, payload: bytes) -> str:
        return base64.urlsafe_b64encode(
            hmac.new(self._key, payload, hashlib.sha256).digest()).decode().rstrip("=")

    def encode(self, session: Session) -> str:
        if session.token is not None:
            return f"{TOKEN_PREFIX}{session.token}"
        data = {"c": session.csrf, "t": session.issued}
        payload = base64.urlsafe_b64encode(
            json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{payload}.{self._sign(payload.encode())}"

    def decode(self, cookie: str | None) -> Session | None:
        """The anonymous session of a valid, unexpired signed cookie; None otherwise (a
        logged-in session's token is resolved by the service: :func:`request_session`)."""
        if not cookie or "." not in cookie or len(cookie) > 512 or \
                cookie.startswith(TOKEN_PREFIX):
            return None
        payload, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(payload.encode())):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(csrf=str(data["c"]), issued=int(data["t"]))
        except (ValueError, KeyError, TypeError):
            return None
        if time.time() - session.issued > self.max_age:
            return None
        return session


class LoginRequired(Exception):  # noqa: N818  (control flow, not an error)
    """The endpoint needs a logged-in user (API: 401; pages: redirect to the login)."""


class CsrfFailed(Exception):  # noqa: N818
    """A state-changing request without the session's CSRF token (403)."""


def request_session(request: Request) -> Session:
    """The request's session (read from the cookie once): a live server-side session for a
    ``t.<token>`` cookie, else the anonymous session of a valid signed cookie, else a new
    anonymous session."""
    cached = getattr(request.state, "session", None)
    if isinstance(cached, Session):
        return cached
    codec: SessionCodec = request.app.state.session_codec
    cookie = request.cookies.get(SESSION_COOKIE)
    session: Session | None = None
    if cookie and cookie.startswith(TOKEN_PREFIX):
        service = request.app.state.service
        settings: Settings = request.app.state.settings
        token = cookie[len(TOKEN_PREFIX):]
        record = None if service is None else service.resolve_session(
            token, idle_seconds=settings.session_idle_timeout,
            max_age_seconds=settings.session_max_age)
        if record is not None:
            session = Session.logged_in(token, record)
    else:
        session = codec.decode(cookie)
    if session is None:
        session = Session.anonymous()
    request.state.session = session
    return session


def set_session(request: Request, session: Session) -> None:
    """Replace the request's session; the response will carry the new cookie."""
    request.state.session = replace(session, new=True)


def end_session(request: Request) -> None:
    """End the request's server-side session, if any (logout; a new login)."""
    session = request_session(request)
    service = request.app.state.service
    if session.token is not None and service is not None:
        service.logout(session.token)


def client_address(request: Request) -> str | None:
    """The client's address for login throttling (the peer; behind a reverse proxy run
    uvicorn with ``--proxy-headers`` so the peer is the real client)."""
    return None if request.client is None else str(request.client.host)


async def session_of(request: Request) -> Session:
    """:func:`request_session` for async code: a logged-in session's lookup in the database
    never blocks the event loop (and the other requests): on PostgreSQL it is awaited on the
    loop (``app.state.async_reads``), elsewhere it runs in the thread pool."""
    cached = getattr(request.state, "session", None)
    if isinstance(cached, Session):
        return cached
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and cookie.startswith(TOKEN_PREFIX):
        reads = getattr(request.app.state, "async_reads", None)
        service = request.app.state.service
        if reads is None or service is None:
            return await run_in_threadpool(request_session, request)
        # PostgreSQL: the same lookup on the event loop (db.engine.AsyncReads), no thread hop
        settings: Settings = request.app.state.settings
        token = cookie[len(TOKEN_PREFIX):]
        record = await service.resolve_session_async(
            token, reads, idle_seconds=settings.session_idle_timeout,
            max_age_seconds=settings.session_max_age)
        session = Session.anonymous() if record is None else Session.logged_in(token, record)
        request.state.session = session
        return session
    return request_session(request)


async def request_actor(request: Request) -> Actor:
    """The logged-in user (dependency for endpoints with an authenticated rule)."""
    actor = (await session_of(request)).actor
    if actor is None:
        raise LoginRequired
    return actor


async def _csrf_token_sent(request: Request) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    kind = request.headers.get("content-type", "")
    if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def enforce_rule(request: Request) -> None:
    """Application-wide dependency: apply the endpoint's rule from ``ROUTE_RULES``."""
    from myotrial.web.access import ROUTE_RULES, Access

    route: Any = request.scope.get("route")
    method = "GET" if request.method == "HEAD" else request.method
    rule = ROUTE_RULES.get((method, getattr(route, "path", "")))
    if rule is None:  # fail closed: an endpoint without a rule is refused
        from myotrial.db.roles import PermissionDenied

        raise PermissionDenied("this endpoint has no access rule: refused")
    if rule.access is Access.PUBLIC:
        return
    session = await session_of(request)
    if rule.access is Access.AUTH:
        actor = session.actor
        if actor is None:
            raise LoginRequired
        if actor.role not in rule.roles:
            from myotrial.db.roles import PermissionDenied

            raise PermissionDenied(f"role {actor.role.value} may not use this page")
    if method not in ("GET", "OPTIONS"):
        sent = await _csrf_token_sent(request)
        if not sent or not hmac.compare_digest(sent, session.csrf):
            raise CsrfFailed
