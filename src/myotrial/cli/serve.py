"""``myotrial serve``: run the web application (TIS calculator, trial pages, JSON API).

The database (``--database``, else ``$MYOTRIAL_DATABASE_URL``, else ``sqlite:///myotrial.db`` in
the working directory) is created or upgraded by the migrations before serving.
``--init-admin USER`` creates the first user, an administrator, in an empty database (password
from ``$MYOTRIAL_NEW_PASSWORD`` or a hidden prompt); it is refused once any user exists.
"""

from __future__ import annotations

import os
import secrets
from typing import Annotated

import typer

from myotrial.cli._app import app
from myotrial.cli._output import EXIT_BAD_INPUT, err_console

DEFAULT_SERVE_URL = "sqlite:///myotrial.db"
NEW_PASSWORD_ENV = "MYOTRIAL_NEW_PASSWORD"


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    database: Annotated[
        str | None,
        typer.Option(help="database URL (default $MYOTRIAL_DATABASE_URL, else "
                     "sqlite:///myotrial.db in the working directory; PostgreSQL: "
                     "postgresql+psycopg://USER@HOST/DB)"),
    ] = None,
    init_admin: Annotated[
        str | None,
        typer.Option("--init-admin", help="create this first administrator in an empty "
                     f"database (password from ${NEW_PASSWORD_ENV} or a prompt)"),
    ] = None,
    secure_cookies: Annotated[
        bool, typer.Option(help="mark session cookies Secure (serve behind HTTPS)")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    migrate: Annotated[bool, typer.Option(help="create/upgrade the schema first")] = True,
) -> None:
    """Serve the TIS calculator, trial pages and JSON API (OpenAPI at /openapi.json).

    Sessions are signed with $MYOTRIAL_SECRET_KEY (a random key if unset: logins then end when
    the server stops).
    """
    import uvicorn

    from myotrial.db import upgrade_database
    from myotrial.db.roles import PermissionDenied
    from myotrial.errors import InputValidationError
    from myotrial.web.app import DATABASE_URL_ENV
    from myotrial.web.security import SECRET_ENV, SECURE_COOKIES_ENV

    url = database or os.environ.get(DATABASE_URL_ENV) or DEFAULT_SERVE_URL
    try:
        if migrate:
            upgrade_database(url)
        if init_admin is not None:
            _bootstrap(url, init_admin)
    except (InputValidationError, PermissionDenied) as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=EXIT_BAD_INPUT) from None
    except Exception as exc:  # a bad URL, an unreachable server: reported, not traced
        err_console.print(f"[bold red]error:[/] cannot open database {url!r}: {exc}")
        raise typer.Exit(code=EXIT_BAD_INPUT) from None
    # the workers (and the factory) read these; one secret shared by all workers
    os.environ[DATABASE_URL_ENV] = url
    os.environ.setdefault(SECRET_ENV, secrets.token_urlsafe(32))
    if secure_cookies:
        os.environ[SECURE_COOKIES_ENV] = "1"
    uvicorn.run("myotrial.web.app:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="info", timeout_keep_alive=30)


def _bootstrap(url: str, username: str) -> None:
    from myotrial.db import TrialService, make_engine

    password = os.environ.get(NEW_PASSWORD_ENV) or typer.prompt(
        f"New password for {username}", hide_input=True, confirmation_prompt=True)
    engine = make_engine(url)
    try:
        TrialService(engine).bootstrap_administrator(username, password)
    finally:
        engine.dispose()
    err_console.print(f"Created administrator {username}.")
