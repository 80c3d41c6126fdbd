"""Application factory: :func:`create_app` takes the one :class:`~myotrial.settings.Settings`
object (database URL, protocol, secret key, cookies); nothing is read from or written to the
environment here, except by :func:`app_from_env`, the factory of ``myotrial serve --workers N``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Depends, FastAPI
from starlette.datastructures import MutableHeaders

import myotrial
from myotrial.settings import Settings
from myotrial.web import api, calculator, pages
from myotrial.web.errors import install_error_handlers
from myotrial.web.readcache import ReadCache
from myotrial.web.security import (
    SESSION_COOKIE,
    Session,
    SessionCodec,
    enforce_rule,
)

__all__ = ["SECURITY_HEADERS", "SERVE_SETTINGS_ENV", "app_from_env", "create_app"]

#: How ``myotrial serve --workers N`` hands its :class:`Settings` to the worker processes
#: (JSON; uvicorn starts workers from an import string, so the settings cannot be passed as
#: an object). Read by :func:`app_from_env` only.
SERVE_SETTINGS_ENV = "MYOTRIAL_SERVE_SETTINGS"

_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]
_ASGI = Callable[[_Scope, _Receive, _Send], Awaitable[None]]


class SessionCookieMiddleware:
    """Send the session cookie when the request created or replaced its session (``Secure``
    when configured or when the request came over HTTPS)."""

    def __init__(self, app: _ASGI, codec: SessionCodec, settings: Settings) -> None:
        self.app = app
        self.codec = codec
        self.secure = settings.secure_cookies
        self.flags = "; ".join(["Path=/", "HttpOnly", "SameSite=Lax",
                                f"Max-Age={settings.session_max_age}"])

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        flags = self.flags + ("; Secure" if self.secure or scope.get("scheme") == "https"
                              else "")

        async def send_with_cookie(message: _Message) -> None:
            if message["type"] == "http.response.start":
                session = (scope.get("state") or {}).get("session")
                if isinstance(session, Session) and session.new:
                    headers = MutableHeaders(scope=message)
                    headers.append("set-cookie", f"{SESSION_COOKIE}="
                                   f"{self.codec.encode(session)}; {flags}")
            await send(message)

        await self.app(scope, receive, send_with_cookie)


#: Sent with every response: nothing is cached (an unblinded page must not come back with the
#: Back button after logout), nothing may frame the pages (the Randomise button), no content
#: sniffing, no scripts at all (the pages use none), no referrer.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("cache-control", "no-store"),
    ("pragma", "no-cache"),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("content-security-policy",
     "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
     "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
)


class SecurityMiddleware:
    """Security headers on every response (:data:`SECURITY_HEADERS`) and a request size limit:
    a body larger than ``max_bytes`` (by ``Content-Length`` or as it streams in) is answered
    with 413 before the application reads it."""

    def __init__(self, app: _ASGI, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        overflow = False

        async def send_secure(message: _Message) -> None:
            nonlocal started
            if overflow:  # whatever the application answers, the answer is 413
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _too_large(send_secure_raw, self.max_bytes)
                return
            if message["type"] == "http.response.start":
                started = True
            await send_secure_raw(message)

        async def send_secure_raw(message: _Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers[name] = value
            await send(message)

        declared = dict(scope.get("headers") or []).get(b"content-length")
        try:
            too_big = declared is not None and int(declared) > self.max_bytes
        except ValueError:
            too_big = True
        if too_big:
            await _too_large(send_secure_raw, self.max_bytes)
            return
        seen = 0

        async def receive_limited() -> _Message:
            nonlocal seen, overflow
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    overflow = True
                    raise _BodyTooLargeError
            return message

        with contextlib.suppress(_BodyTooLargeError):
            await self.app(scope, receive_limited, send_secure)
        if overflow and not started:
            started = True
            await _too_large(send_secure_raw, self.max_bytes)


class _BodyTooLargeError(Exception):
    pass


async def _too_large(send: _Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body larger than {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


#: Python's cyclic collector in a worker (``gc.set_threshold``): a young collection after
#: 20,000 net allocations instead of 700, an older one after 50 of the younger instead of 10.
GC_THRESHOLDS = (20_000, 50, 50)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """A worker's start and end.

    - It runs as many requests at once in its thread pool (anyio's default: 40) as it keeps
      PostgreSQL connections (``db.engine.PG_POOL_SIZE``): a burst never opens and closes
      connections (a PostgreSQL backend start each) beyond the pool; more requests wait, in
      order, for a thread.
    - What start-up built (modules, the schema, routes, rules) is moved out of the cyclic
      collector's reach (``gc.freeze``) and the collector runs less often
      (:data:`GC_THRESHOLDS`): collections scanning those objects were a share of the tail
      latency of visit entry at 100 clients (p99 over six runs: 512-655 ms before, 379-466 ms
      frozen, 403-406 ms frozen with these thresholds; docs/web.md "Speed"). Garbage without
      cycles is freed at once as before; cycles are collected, less often.
    """
    import gc

    import anyio.to_thread

    from myotrial.db.engine import PG_POOL_SIZE

    anyio.to_thread.current_default_thread_limiter().total_tokens = PG_POOL_SIZE
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    yield
    reads = getattr(app.state, "async_reads", None)
    if reads is not None:
        await reads.close()


def create_app(settings: Settings | None = None, *, service: Any = None) -> FastAPI:
    """Build the web application.

    Parameters
    ----------
    settings : the trial's :class:`~myotrial.settings.Settings`: its database (migrated
        beforehand: ``myotrial db init`` or ``myotrial serve``) is opened under its protocol
        (a database recorded under another protocol is refused:
        :class:`~myotrial.db.ProtocolMismatchError`). None: only the public calculator works,
        trial pages answer 503 (sessions then use a random key).
    service : a ready :class:`~myotrial.db.TrialService` (tests: a fast password hasher, a
        fixed clock); used instead of opening ``settings.database_url``.
    """
    if service is None and settings is not None:
        from myotrial.db import TrialService, make_engine

        service = TrialService(make_engine(settings.database_url), settings.protocol,
                               secret_key=settings.secret_key)
    settings = settings or Settings()
    app = FastAPI(
        title="myotrial",
        version=myotrial.__version__,
        description="Dermatomyositis trials of the ProDERM design: TIS calculator and trial "
        "operations (screening, randomisation, visits, deterioration, safety). Log in with "
        "GET /api/session then POST /api/login; send the session's CSRF token as the "
        "X-CSRF-Token header with every POST (see docs/web.md).",
        docs_url=None,  # the Swagger/ReDoc pages load scripts from a CDN: /api-docs instead
        redoc_url=None,
        dependencies=[Depends(enforce_rule)],
        lifespan=_lifespan,
    )
    codec = SessionCodec(settings)
    app.state.service = service
    app.state.session_codec = codec
    app.state.settings = settings
    app.state.read_cache = ReadCache()  # per process: web/readcache.py
    app.state.async_reads = None  # PostgreSQL: the session lookup on the event loop
    if service is not None:
        from myotrial.db.engine import AsyncReads

        if AsyncReads.supports(service.engine):
            app.state.async_reads = AsyncReads(service.engine)
    install_error_handlers(app)
    app.include_router(calculator.router)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.add_middleware(SessionCookieMiddleware, codec=codec, settings=settings)
    app.add_middleware(SecurityMiddleware, max_bytes=settings.max_request_bytes)
    return app


def app_from_env() -> FastAPI:
    """``create_app`` for the settings ``myotrial serve --workers N`` handed over in
    ``$MYOTRIAL_SERVE_SETTINGS`` (else :meth:`Settings.from_env`)."""
    text = os.environ.get(SERVE_SETTINGS_ENV)
    return create_app(Settings.from_json(text) if text else Settings.from_env())
