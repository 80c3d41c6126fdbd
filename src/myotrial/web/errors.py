"""Errors of the web layer and their responses (JSON for ``/api/...``, an HTML page otherwise).

=================================  ======  ================================================
error                              status  body
=================================  ======  ================================================
bad input (InputValidationError)   422     every problem: ``loc`` = [subject, visit, field]
login required                     401     API; pages redirect to ``/login`` (303)
too many logins (LoginThrottled)   429     ``Retry-After``; nothing was checked
CSRF token missing or wrong        403
PermissionDenied (role or site)    403     generic: the role, never the record's data
unknown subject / user in the URL  404     also a subject of another site (the same
                                           words: "not yours" = "not found")
AllocationError (randomisation)    409     the service's message (never an arm)
no trial database configured       503
trial database unavailable         503     ``Retry-After``; unreachable, locked or out of
(connection lost, pool exhausted)          connections: the transaction was rolled back
=================================  ======  ================================================

Nothing is changed when an error is returned: every service operation is one transaction.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from myotrial.db.roles import PermissionDenied
from myotrial.db.service.identity import LoginThrottled
from myotrial.errors import InputValidationError
from myotrial.randomisation import AllocationError
from myotrial.web.security import CsrfFailed, LoginRequired, Session, request_session
from myotrial.web.templating import templates

__all__ = ["NoDatabase", "NotFound", "install_error_handlers", "is_api", "missing_resource",
           "problem_list"]


class NotFound(LookupError):  # noqa: N818  (HTTP name)
    """An unknown resource (404)."""


class NoDatabase(RuntimeError):  # noqa: N818  (HTTP name)
    """The application was started without a trial database (503)."""


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def _text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value


def problem_list(exc: InputValidationError) -> list[dict[str, Any]]:
    """The problems of ``exc`` as JSON: ``loc`` = [subject, visit week, field], the value and
    the rule broken (``msg``)."""
    out = []
    for rec in exc.problems.to_dict("records"):
        subject, week, column = (_text(rec.get(k)) for k in ("subject_id", "visit_week",
                                                            "column"))
        value = _text(rec.get("value"))
        out.append({"loc": [subject, None if week is None else str(week), column],
                    "table": _text(rec.get("table")), "subject_id": subject,
                    "visit_week": None if week is None else str(week), "field": column,
                    "value": None if value is None else str(value), "msg": rec.get("rule")})
    return out


def missing_resource(request: Request, exc: InputValidationError) -> str | None:
    """The message when ``exc`` says the subject / user named in the URL does not exist."""
    params = request.path_params
    problems = problem_list(exc)
    for name in ("subject_id", "username"):
        if name in params and problems and all(
                p["field"] == name and str(p["msg"]).startswith("no ") for p in problems):
            return str(problems[0]["msg"])
    return None


def _page(request: Request, status: int, title: str, message: str,
          problems: list[dict[str, Any]] | None = None) -> HTMLResponse:
    session = request_session(request)
    return templates.TemplateResponse(
        request, "error.html",
        {"title": title, "message": message, "problems": problems or [],
         "actor": session.actor, "csrf_token": session.csrf},
        status_code=status)


def _respond(request: Request, status: int, title: str, message: str,
             problems: list[dict[str, Any]] | None = None) -> Response:
    if is_api(request):
        body: dict[str, Any] = {"detail": problems if problems is not None else message}
        return JSONResponse(body, status_code=status)
    return _page(request, status, title, message, problems)


def install_error_handlers(app: FastAPI) -> None:
    """Map the errors above to responses on ``app``."""

    @app.exception_handler(InputValidationError)
    async def bad_input(request: Request, exc: InputValidationError) -> Response:
        missing = missing_resource(request, exc)
        if missing is not None:
            return _respond(request, 404, "Not found", missing)
        return _respond(request, 422, "Please correct the input",
                        "nothing was changed", problem_list(exc))

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if is_api(request):
            return JSONResponse({"detail": "login required: POST /api/login"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        return _respond(request, 403, "Form expired",
                        "CSRF token missing or wrong: reload the page and submit again (API: "
                        "send the X-CSRF-Token header given by GET /api/session); nothing was "
                        "changed")

    @app.exception_handler(LoginThrottled)
    async def throttled(request: Request, exc: LoginThrottled) -> Response:
        response = _respond(request, 429, "Too many logins", f"{exc}; nothing was changed")
        response.headers["Retry-After"] = "60"
        return response

    @app.exception_handler(PermissionDenied)
    async def denied(request: Request, exc: PermissionDenied) -> Response:
        actor = request_session(request).actor
        who = "" if actor is None else f" for your role ({actor.role.value.replace('_', ' ')})"
        return _respond(request, 403, "Permission denied",
                        f"permission denied: this operation or record is not available{who}; "
                        "nothing was changed")

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _respond(request, 404, "Not found", str(exc))

    @app.exception_handler(AllocationError)
    async def allocation(request: Request, exc: AllocationError) -> Response:
        return _respond(request, 409, "Randomisation refused", f"{exc}; nothing was changed")

    @app.exception_handler(NoDatabase)
    async def no_database(request: Request, exc: NoDatabase) -> Response:
        return _respond(request, 503, "No trial database",
                        "this server runs without a trial database: start it with "
                        "myotrial serve --database URL")

    import psycopg
    import sqlalchemy.exc as sa_exc

    async def unavailable(request: Request, exc: Exception) -> Response:
        if not isinstance(getattr(request.state, "session", None), Session):
            # the session could not be read: the page renders as for nobody, and the
            # browser's cookie is left as it is (not new: no cookie sent)
            request.state.session = replace(Session.anonymous(), new=False)
        response = _respond(request, 503, "Trial database unavailable",
                            "the trial database is unavailable (unreachable or busy) "
                            f"({type(exc).__name__}); nothing was changed: try again shortly")
        response.headers["Retry-After"] = "5"
        return response

    for kind in (sa_exc.OperationalError, sa_exc.TimeoutError, psycopg.OperationalError):
        app.add_exception_handler(kind, unavailable)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if is_api(request) or exc.status_code not in (404, 405):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        return _page(request, exc.status_code, "Not found" if exc.status_code == 404
                     else "Method not allowed", str(exc.detail))
