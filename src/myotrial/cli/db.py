"""``myotrial db``: create/upgrade the trial database, verify its audit trail, export, users.

Settings come from one :class:`myotrial.settings.Settings`: the database URL from
``--database``, else ``$MYOTRIAL_DATABASE_URL``, else ``sqlite:///trial.db`` (the same default
as ``myotrial serve``); the protocol from ``db init --protocol``, else ``$MYOTRIAL_PROTOCOL``,
else the protocol recorded in the database (a new database records ``proderm``). A database
recorded under another protocol is refused (exit 2). Commands that act as a user authenticate
like the web application: password from ``$MYOTRIAL_PASSWORD`` or a hidden prompt. Exit codes:
0 success, 2 bad input, permission denied or another protocol (nothing changed), 3 audit
verification failed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from myotrial.cli._app import app
from myotrial.cli._output import console, exit_with_problems
from myotrial.db.roles import PermissionDenied, Role
from myotrial.errors import InputValidationError, RulesError
from myotrial.settings import DEFAULT_DATABASE_URL, Settings

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
                 f"{DEFAULT_DATABASE_URL}); PostgreSQL: postgresql+psycopg://USER@HOST/DB."),
]
ProtocolOption = Annotated[
    str | None,
    typer.Option("--protocol", "-p", help="Protocol the database runs under: bundled name "
                 "(proderm) or TOML file (default $MYOTRIAL_PROTOCOL, else the protocol recorded "
                 "in the database; a new database records proderm)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _fail(message: str, as_json: bool = False) -> NoReturn:
    """One located error, escaped, in the shared JSON envelope (exit 2)."""
    from myotrial.cli._output import fail

    fail(message, as_json)


def _password(env: str, prompt: str, *, confirm: bool = False) -> str:
    value = os.environ.get(env)
    if value:
        return value
    entered: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return entered


def _settings(database: str | None, protocol: str | None = None) -> Settings:
    return Settings.from_env(database_url=database, protocol=protocol)


def _engine(settings: Settings, as_json: bool = False) -> Any:
    from myotrial.db import make_engine

    try:
        return make_engine(settings.database_url)
    except Exception as exc:  # any URL/driver problem is reported, not traced
        _fail(f"cannot open database {settings.safe_database_url!r}: {exc}", as_json)


def _service(settings: Settings, as_json: bool = False) -> TrialService:
    """The service on the settings' database, under its protocol (exit 2 when the database is
    not initialised or runs under another protocol)."""
    from myotrial.db import DatabaseNotReadyError, ProtocolMismatchError, TrialService

    engine = _engine(settings, as_json)
    try:
        return TrialService(engine, settings.protocol, secret_key=settings.secret_key)
    except (DatabaseNotReadyError, ProtocolMismatchError, RulesError, OSError) as exc:
        engine.dispose()
        _fail(str(exc), as_json)


@db_app.command("init")
def init(database: DatabaseOption = None, protocol: ProtocolOption = None,
         as_json: JsonOption = False) -> None:
    """Create the database schema (or upgrade it to the newest revision) and record the
    protocol it runs under (name, file text, sha256). A database recorded under another
    protocol is refused (exit 2, nothing changed)."""
    from myotrial.db import head_revision, upgrade_database
    from myotrial.db.protocol_store import read_stored_protocol
    from myotrial.protocol import load_protocol

    settings = _settings(database, protocol)
    url = settings.safe_database_url
    if settings.protocol is not None:  # a bad protocol file stops before any change
        try:
            load_protocol(settings.protocol)
        except (RulesError, OSError) as exc:
            _fail(f"protocol {settings.protocol}: {exc}", as_json)
    try:
        revision = upgrade_database(settings.database_url)
    except Exception as exc:  # reported with the URL
        _fail(f"cannot initialise {url!r}: {exc}", as_json)
    svc = _service(settings, as_json)
    try:
        with svc.engine.connect() as conn:
            stored = read_stored_protocol(conn)
    finally:
        svc.engine.dispose()
    assert stored is not None  # the service records the protocol of a new database
    info: dict[str, Any] = {"ok": True, "database": url, "revision": revision,
                            "head": head_revision(), "protocol": stored.name,
                            "protocol_sha256": stored.sha256}
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        console.print(f"Database {url} is at revision {revision} (newest), protocol "
                      f"{info['protocol']} (sha256 {info['protocol_sha256'][:12]}).")


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
    import hashlib

    from myotrial.db import verify_audit_chain
    from myotrial.settings import SECRET_ENV

    engine = _engine(_settings(database), as_json)  # reads only: no protocol needed
    secret = os.environ.get(SECRET_ENV)  # the list's HMAC is checked only with the server key
    key = None if not secret else hashlib.sha256(b"myotrial-list-hmac\x00"
                                                 + secret.encode()).digest()
    try:
        report = verify_audit_chain(engine, expected_head=expect_head,
                                    check_data=not chain_only, list_key=key)
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
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder to write into.")],
    user: Annotated[str, typer.Option("--user", "-u", help="Your user name (password from "
                                      f"${PASSWORD_ENV} or a prompt).")],
    database: DatabaseOption = None,
    role: Annotated[
        Role | None, typer.Option(help="Expected role of the user; unblinded_statistician "
                                  "exports arms and products, every other role is blinded.")
    ] = None,
    file_format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    force: Annotated[bool, typer.Option(help="Overwrite existing export files.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Export the canonical tables (visits, subjects, infusions, adverse_events). The folder is
    checked before anything is read (a refused export writes no audit row); an unblinded
    export is written owner-only (600)."""
    from myotrial.cli._output import check_outputs, emit_success, plain
    from myotrial.db import EXPORT_TABLES
    from myotrial.tables.io import write_table

    if file_format not in ("csv", "parquet"):
        _fail(f"--format must be csv or parquet, not {file_format!r}", as_json)
    targets = [out / f"{name}.{file_format}" for name in EXPORT_TABLES]
    check_outputs(targets, force=force, as_json=as_json, directories=[out])
    svc = _service(_settings(database), as_json)
    try:
        actor = svc.authenticate(user, _password(PASSWORD_ENV, f"Password for {user}"))
        if role is not None and actor.role is not role:
            raise PermissionDenied(f"user {user!r} has role {actor.role.value}, not {role.value}")
        tables = svc.export_tables(actor, blinded=actor.blinded)
    except PermissionDenied as exc:
        _fail(f"permission denied: {exc}", as_json)
    finally:
        svc.engine.dispose()
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    from myotrial.db.exports import neutralise_formulas

    for name, target in zip(EXPORT_TABLES, targets, strict=True):
        frame = neutralise_formulas(tables[name]) if file_format == "csv" else tables[name]
        # an unblinded export is unblinded material: owner-only (600); a blinded one follows
        # the umask
        path = write_table(frame, target, private=not actor.blinded)
        written[name] = {"path": str(path), "rows": len(tables[name])}
    view = "blinded" if actor.blinded else "UNBLINDED"
    if as_json:
        emit_success({n: w["path"] for n, w in written.items()}, True, view=view.lower(),
                     tables=written)
        return
    for name, info in written.items():
        console.print(plain(f"{name}: {info['rows']} rows -> {info['path']}"))
    console.print(plain(f"({view} export by {actor.username}, role {actor.role.value})"))


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
    svc = _service(_settings(database))
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
                                 f"${PASSWORD_ENV} or a prompt). Not needed for the first two "
                                 "users, administrators (two-person rule).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Create a user; the new password comes from $MYOTRIAL_NEW_PASSWORD or a prompt."""
    svc = _service(_settings(database))
    try:
        if admin is None:
            if role is not Role.ADMINISTRATOR:
                _fail("without --admin only the first two users, administrators, can be "
                      "created")
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
    pending = (" It awaits a second administrator's approval (two-person rule)."
               if admin is not None and role in (Role.ADMINISTRATOR,
                                                 Role.UNBLINDED_STATISTICIAN) else "")
    console.print(f"Created user {username} ({role.value}{where}).{pending}")
