"""``myotrial serve``: run the web application (TIS calculator, trial pages, JSON API).

One :class:`myotrial.settings.Settings` object: the database (``--database``, else
``$MYOTRIAL_DATABASE_URL``, else ``sqlite:///trial.db`` in the working directory, the same
default as ``myotrial db``) is created or upgraded by the migrations before serving, and opened
under the protocol (``--protocol``, else ``$MYOTRIAL_PROTOCOL``, else the protocol recorded in
the database; a new database records ``proderm``). A database recorded under another protocol
is refused (exit 2). ``--init-admin USER`` creates an administrator while the database has
fewer than two (password from ``$MYOTRIAL_NEW_PASSWORD`` or a hidden prompt): the two-person
rule (an unblinded or administrator account needs a second administrator's approval) needs
two; further ones are created in the application.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from myotrial.cli._app import app
from myotrial.cli._output import EXIT_BAD_INPUT, err_console
from myotrial.settings import DEFAULT_DATABASE_URL, Settings

NEW_PASSWORD_ENV = "MYOTRIAL_NEW_PASSWORD"


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    database: Annotated[
        str | None,
        typer.Option("--database", "-d", help="database URL (default $MYOTRIAL_DATABASE_URL, "
                     f"else {DEFAULT_DATABASE_URL} in the working directory; PostgreSQL: "
                     "postgresql+psycopg://USER@HOST/DB)"),
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option("--protocol", "-p", help="protocol: bundled name (proderm) or TOML file "
                     "(default $MYOTRIAL_PROTOCOL, else the protocol recorded in the database)"),
    ] = None,
    init_admin: Annotated[
        str | None,
        typer.Option("--init-admin", help="create this administrator while fewer than two "
                     f"exist (password from ${NEW_PASSWORD_ENV} or a prompt)"),
    ] = None,
    secure_cookies: Annotated[
        bool, typer.Option(help="mark session cookies Secure (serve behind HTTPS)")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    migrate: Annotated[bool, typer.Option(help="create/upgrade the schema first")] = True,
) -> None:
    """Serve the TIS calculator, trial pages and JSON API (OpenAPI at /openapi.json).

    Logins are server-side sessions in the database (ended by logout, 30 minutes idle or 8
    hours). $MYOTRIAL_SECRET_KEY signs the anonymous cookie and keys the HMAC of the
    randomisation list in the audit trail: set it in production.
    """
    import uvicorn

    from myotrial.db import (
        DatabaseNotReadyError,
        ProtocolMismatchError,
        TrialService,
        make_engine,
        upgrade_database,
    )
    from myotrial.db.roles import PermissionDenied
    from myotrial.errors import InputValidationError, RulesError
    from myotrial.web.app import SERVE_SETTINGS_ENV, create_app

    settings = Settings.from_env(database_url=database, protocol=protocol,
                                 secure_cookies=True if secure_cookies else None)
    url = settings.safe_database_url
    try:
        if migrate:
            upgrade_database(settings.database_url)
        service = TrialService(make_engine(settings.database_url), settings.protocol,
                               secret_key=settings.secret_key)
        if init_admin is not None:
            password = os.environ.get(NEW_PASSWORD_ENV) or typer.prompt(
                f"New password for {init_admin}", hide_input=True, confirmation_prompt=True)
            service.bootstrap_administrator(init_admin, password)
            err_console.print(f"Created administrator {init_admin}.")
    except (InputValidationError, PermissionDenied, ProtocolMismatchError, DatabaseNotReadyError,
            RulesError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=EXIT_BAD_INPUT) from None
    except Exception as exc:  # a bad URL, an unreachable server: reported, not traced
        err_console.print(f"[bold red]error:[/] cannot open database {url!r}: {exc}")
        raise typer.Exit(code=EXIT_BAD_INPUT) from None
    err_console.print(f"Serving database {url} under protocol {service.protocol.name}.")
    options = {"host": host, "port": port, "log_level": "info", "timeout_keep_alive": 30}
    if workers == 1:
        uvicorn.run(create_app(settings, service=service), **options)  # type: ignore[arg-type]
        return
    # uvicorn starts each worker from an import string: the settings (one secret key for all
    # workers) travel as JSON in the one variable app_from_env reads
    service.engine.dispose()
    os.environ[SERVE_SETTINGS_ENV] = settings.to_json()
    uvicorn.run("myotrial.web.app:app_from_env", factory=True, workers=workers,
                **options)  # type: ignore[arg-type]
