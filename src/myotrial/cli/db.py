"""``myotrial db``: create/upgrade the trial database, verify its audit trail, export, users.

The database URL comes from ``--database``, else ``$MYOTRIAL_DATABASE_URL``, else
``sqlite:///trial.db``. Commands that act as a user authenticate like the web application:
password from ``$MYOTRIAL_PASSWORD`` or a hidden prompt. Exit codes: 0 success, 2 bad input or
permission denied (nothing changed), 3 audit verification failed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from myotrial.cli._app import app
from myotrial.cli._output import EXIT_BAD_INPUT, console, err_console, exit_with_problems
from myotrial.db.roles import PermissionDenied, Role
from myotrial.errors import InputValidationError

if TYPE_CHECKING:
    from myotrial.db import TrialService

__all__ = ["EXIT_AUDIT_FAILED", "db_app"]

EXIT_AUDIT_FAILED = 3
PASSWORD_ENV = "MYOTRIAL_PASSWORD"
NEW_PASSWORD_ENV = "MYOTRIAL_NEW_PASSWORD"

db_app = typer.Typer(
    name="db",
    help="The trial database: init/upgrade, verify the audit trail, export, create users.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database", "-d", help="Database URL (default $MYOTRIAL_DATABASE_URL, else "
                 "sqlite:///trial.db); PostgreSQL: postgresql+psycopg://USER@HOST/DB."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _fail(message: str, as_json: bool = False) -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"ok": False, "error": message}, indent=2))
    else:
        err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=EXIT_BAD_INPUT)


def _password(env: str, prompt: str, *, confirm: bool = False) -> str:
    value = os.environ.get(env)
    if value:
        return value
    entered: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return entered


def _service(database: str | None) -> TrialService:
    from myotrial.db import TrialService, database_url, make_engine

    url = database_url(database)
    try:
        engine = make_engine(url)
    except Exception as exc:  # any URL/driver problem is reported, not traced
        _fail(f"cannot open database {url!r}: {exc}")
    return TrialService(engine)


@db_app.command("init")
def init(database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """Create the database schema, or upgrade it to this version's newest revision."""
    import sqlalchemy as sa

    from myotrial.db import database_url, head_revision, upgrade_database

    url = database_url(database)
    try:
        revision = upgrade_database(url)
    except Exception as exc:  # reported with the URL
        _fail(f"cannot initialise {url!r}: {exc}", as_json)
    info = {"ok": True, "database": sa.make_url(url).render_as_string(hide_password=True),
            "revision": revision, "head": head_revision()}
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        console.print(f"Database {info['database']} is at revision {revision} (newest).")


@db_app.command("verify-audit")
def verify_audit(
    database: DatabaseOption = None,
    expect_head: Annotated[
        str | None, typer.Option(help="A head hash recorded earlier (e.g. in the monitoring "
                                 "report): must still be in the chain.")] = None,
    chain_only: Annotated[
        bool, typer.Option(help="Check the hash chain only, not the data against it.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Verify the audit hash chain and replay it against the data. Exit 3 on any finding."""
    from myotrial.db import verify_audit_chain

    engine = _service(database).engine
    try:
        report = verify_audit_chain(engine, expected_head=expect_head,
                                    check_data=not chain_only)
    except Exception as exc:  # e.g. the schema is missing
        _fail(f"cannot verify the audit trail: {exc}", as_json)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    elif report.ok:
        typer.echo(report.summary())
    else:
        typer.echo(report.summary(), err=True)  # plain: hashes and keys must not wrap
    if not report.ok:
        raise typer.Exit(code=EXIT_AUDIT_FAILED)


@db_app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write into.")],
    user: Annotated[str, typer.Option("--user", "-u", help="Your user name (password from "
                                      f"${PASSWORD_ENV} or a prompt).")],
    database: DatabaseOption = None,
    role: Annotated[
        Role | None, typer.Option(help="Expected role of the user; unblinded_statistician "
                                  "exports arms and products, every other role is blinded.")
    ] = None,
    file_format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    as_json: JsonOption = False,
) -> None:
    """Export the canonical tables (visits, subjects, infusions, adverse_events)."""
    from myotrial.db import EXPORT_TABLES
    from myotrial.tables.io import write_table

    if file_format not in ("csv", "parquet"):
        _fail(f"--format must be csv or parquet, not {file_format!r}", as_json)
    svc = _service(database)
    try:
        actor = svc.authenticate(user, _password(PASSWORD_ENV, f"Password for {user}"))
        if role is not None and actor.role is not role:
            raise PermissionDenied(f"user {user!r} has role {actor.role.value}, not {role.value}")
        tables = svc.export_tables(actor, blinded=actor.blinded)
    except PermissionDenied as exc:
        _fail(f"permission denied: {exc}", as_json)
    finally:
        svc.engine.dispose()
    output.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in EXPORT_TABLES:
        path = write_table(tables[name], output / f"{name}.{file_format}")
        written[name] = {"path": str(path), "rows": len(tables[name])}
    view = "blinded" if actor.blinded else "UNBLINDED"
    if as_json:
        typer.echo(json.dumps({"ok": True, "view": view.lower(), "tables": written}, indent=2))
        return
    for name, info in written.items():
        console.print(f"{name}: {info['rows']} rows -> {info['path']}")
    console.print(f"({view} export by {actor.username}, role {actor.role.value})")


@db_app.command("create-site")
def create_site(
    site_id: Annotated[str, typer.Option("--site", help="Site code, e.g. 01.")],
    name: Annotated[str, typer.Option(help="Site name.")],
    admin: Annotated[str, typer.Option(help=f"Administrator (password from ${PASSWORD_ENV} "
                                       "or a prompt).")],
    country: Annotated[str | None, typer.Option(help="Country.")] = None,
    database: DatabaseOption = None,
) -> None:
    """Create a trial site (administrators)."""
    svc = _service(database)
    try:
        actor = svc.authenticate(admin, _password(PASSWORD_ENV, f"Password for {admin}"))
        site = svc.create_site(actor, site_id, name, country)
    except InputValidationError as exc:
        exit_with_problems(exc, writes_output=False)
    except PermissionDenied as exc:
        _fail(f"permission denied: {exc}")
    finally:
        svc.engine.dispose()
    console.print(f"Created site {site.site_id} ({site.name}).")


@db_app.command("create-user")
def create_user(
    username: Annotated[str, typer.Option(help="New user's name.")],
    role: Annotated[Role, typer.Option(help="New user's role.")],
    site: Annotated[str | None, typer.Option(help="Site (site investigators only).")] = None,
    admin: Annotated[
        str | None, typer.Option(help=f"Administrator creating the user (password from "
                                 f"${PASSWORD_ENV} or a prompt). Not needed for the first user, "
                                 "who must be an administrator.")] = None,
    database: DatabaseOption = None,
) -> None:
    """Create a user; the new password comes from $MYOTRIAL_NEW_PASSWORD or a prompt."""
    svc = _service(database)
    try:
        if admin is None:
            if role is not Role.ADMINISTRATOR:
                _fail("without --admin only the first user, an administrator, can be created")
            svc.bootstrap_administrator(
                username, _password(NEW_PASSWORD_ENV, f"New password for {username}",
                                    confirm=True))
        else:
            actor = svc.authenticate(admin, _password(PASSWORD_ENV, f"Password for {admin}"))
            svc.create_user(actor, username, _password(
                NEW_PASSWORD_ENV, f"New password for {username}", confirm=True), role, site)
    except InputValidationError as exc:
        exit_with_problems(exc, writes_output=False)
    except PermissionDenied as exc:
        _fail(f"permission denied: {exc}")
    finally:
        svc.engine.dispose()
    where = f" at site {site}" if site else ""
    console.print(f"Created user {username} ({role.value}{where}).")
