"""Engines and migrations: SQLite file by default (``sqlite:///trial.db``, the one default of
:class:`myotrial.settings.Settings`), PostgreSQL by URL.

SQLite connections run in WAL mode with ``synchronous=FULL`` and foreign keys on, and every
transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time, readers unaffected): a
transaction is either committed durably or not at all, also when its process is killed
(docs/database.md, "Crash safety"). PostgreSQL (``postgresql+psycopg://``) gives the same
guarantees by its write-ahead log; writers are serialised by a transaction-level advisory lock
so the audit hash chain never forks.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from myotrial.settings import DATABASE_URL_ENV, DEFAULT_DATABASE_URL

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_URL",
    "current_revision",
    "database_url",
    "downgrade_database",
    "head_revision",
    "lock_for_write",
    "make_engine",
    "upgrade_database",
]

DEFAULT_URL = DEFAULT_DATABASE_URL
_SQLITE_BUSY_MS = 30_000
_PG_WRITE_LOCK = 0x6D796F74  # "myot": one writer at a time (audit chain stays linear)


def database_url(url: str | None = None) -> str:
    """``url``, else ``$MYOTRIAL_DATABASE_URL``, else :data:`DEFAULT_URL`."""
    return url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_URL


def lock_for_write(conn: sa.Connection) -> None:
    """Serialise writers (PostgreSQL: transaction-level advisory lock; SQLite transactions
    already start with ``BEGIN IMMEDIATE``). Call first in a writing transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_WRITE_LOCK)))


def _sqlite_setup(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN (pysqlite's implicit BEGIN is unreliable).
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_MS}")
            cur.execute("PRAGMA foreign_keys = ON")
            if engine.url.database not in (None, "", ":memory:"):
                cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = FULL")
        finally:
            cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        readonly = conn.get_execution_options().get("myotrial_readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def make_engine(url: str | None = None, **kwargs: Any) -> sa.Engine:
    """Create an engine for ``url`` (default: :func:`database_url`) with the safety settings.

    ``sqlite:///path.db`` and ``postgresql+psycopg://user@host/db`` are supported. A plain
    ``postgresql://`` URL is given the psycopg (3) driver.
    """
    u = sa.make_url(database_url(url))
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    backend = u.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(
            f"unsupported database {u.render_as_string(hide_password=True)!r}: use "
            "sqlite:///FILE.db or postgresql+psycopg://USER@HOST/DB"
        )
    engine = sa.create_engine(u, **kwargs)
    if backend == "sqlite":
        _sqlite_setup(engine)
    return engine


def _alembic_config(connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config  # lazy: Alembic is only needed to migrate

    cfg = Config()
    location = resources.files("myotrial.db") / "migrations"
    cfg.set_main_option("script_location", str(location))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration revision shipped with this version of myotrial."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise RuntimeError("no migration revision found")
    return head


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at (None: not initialised)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_database(url: str | sa.Engine | None = None, revision: str = "head") -> str:
    """Create or upgrade the schema by running the Alembic migrations; return the revision.

    Idempotent: an up-to-date database is left unchanged.
    """
    from alembic import command

    engine = url if isinstance(url, sa.Engine) else make_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), revision)
        rev = current_revision(engine)
    finally:
        if not isinstance(url, sa.Engine):
            engine.dispose()
    return rev or ""


def downgrade_database(url: str | sa.Engine | None, revision: str) -> str:
    """Run migrations down to ``revision`` (``"base"``: drop everything); return the revision.

    Destroys data of the dropped tables, the audit trail included: for development and tests.
    """
    from alembic import command

    engine = url if isinstance(url, sa.Engine) else make_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), revision)
        rev = current_revision(engine)
    finally:
        if not isinstance(url, sa.Engine):
            engine.dispose()
    return rev or ""
