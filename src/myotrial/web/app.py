"""Application factory."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Depends, FastAPI
from starlette.datastructures import MutableHeaders

import myotrial
from myotrial.web import api, calculator, pages
from myotrial.web.errors import install_error_handlers
from myotrial.web.security import (
    SESSION_COOKIE,
    Session,
    SessionCodec,
    WebSettings,
    enforce_rule,
)

__all__ = ["DATABASE_URL_ENV", "app_from_env", "create_app"]

#: Used by :func:`app_from_env` (the factory of ``myotrial serve --workers N``).
DATABASE_URL_ENV = "MYOTRIAL_DATABASE_URL"

_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]
_ASGI = Callable[[_Scope, _Receive, _Send], Awaitable[None]]


class SessionCookieMiddleware:
    """Send the session cookie when the request created or replaced its session."""

    def __init__(self, app: _ASGI, codec: SessionCodec, settings: WebSettings) -> None:
        self.app = app
        self.codec = codec
        flags = ["Path=/", "HttpOnly", "SameSite=Lax", f"Max-Age={settings.session_max_age}"]
        if settings.secure_cookies:
            flags.append("Secure")
        self.flags = "; ".join(flags)

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: _Message) -> None:
            if message["type"] == "http.response.start":
                session = (scope.get("state") or {}).get("session")
                if isinstance(session, Session) and session.new:
                    headers = MutableHeaders(scope=message)
                    headers.append("set-cookie", f"{SESSION_COOKIE}="
                                   f"{self.codec.encode(session)}; {self.flags}")
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def create_app(database_url: str | None = None, *, service: Any = None,
               settings: WebSettings | None = None) -> FastAPI:
    """Build the web application.

    Parameters
    ----------
    database_url : the trial database (``sqlite:///file.db`` or a PostgreSQL URL), migrated
        beforehand (``myotrial serve`` does it); None: only the public calculator works, trial
        pages answer 503.
    service : a ready :class:`~myotrial.db.TrialService` (tests: a fast password hasher, a
        fixed clock); overrides ``database_url``.
    settings : :class:`~myotrial.web.security.WebSettings` (secret key, secure cookies).
    """
    settings = settings or WebSettings()
    if service is None and database_url is not None:
        from myotrial.db import TrialService, make_engine

        service = TrialService(make_engine(database_url))
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
    )
    codec = SessionCodec(settings)
    app.state.database_url = database_url
    app.state.service = service
    app.state.session_codec = codec
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(calculator.router)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.add_middleware(SessionCookieMiddleware, codec=codec, settings=settings)
    return app


def app_from_env() -> FastAPI:
    """``create_app`` for ``$MYOTRIAL_DATABASE_URL`` (uvicorn factory for several workers; the
    workers share ``$MYOTRIAL_SECRET_KEY``)."""
    return create_app(os.environ.get(DATABASE_URL_ENV))
