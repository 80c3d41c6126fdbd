"""Engines and migrations: SQLite file by default (``sqlite:///trial.db``, the one default of
:class:`myotrial.settings.Settings`), PostgreSQL by URL.

SQLite connections run in WAL mode with ``synchronous=FULL`` and foreign keys on, and every
transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time, readers unaffected): a
transaction is either committed durably or not at all, also when its process is killed
(docs/database.md, "Crash safety"). PostgreSQL (``postgresql+psycopg://``) gives the same
guarantees by its write-ahead log. Writers that change the trial as a whole hold a
transaction-level advisory lock exclusively; writers of one subject's records (visits,
infusions, adverse events) hold it shared plus that subject's lock, so they run side by side;
every writer appends its audit rows under the audit head's row lock, at the end of its
transaction (PostgreSQL subject writers: inside their COMMIT, by the deferred trigger of
migration r0004), so the hash chain stays one line (docs/database.md, "Concurrent writers").
"""

from __future__ import annotations

import os
import threading
import zlib
from collections import namedtuple
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from myotrial.settings import DATABASE_URL_ENV, DEFAULT_DATABASE_URL

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_URL",
    "PG_POOL_OVERFLOW",
    "PG_POOL_SIZE",
    "AsyncReads",
    "OneRowRead",
    "current_revision",
    "database_url",
    "downgrade_database",
    "head_revision",
    "lock_for_subject_write",
    "lock_for_write",
    "make_engine",
    "upgrade_database",
]

DEFAULT_URL = DEFAULT_DATABASE_URL
_SQLITE_BUSY_MS = 30_000
#: PostgreSQL connections kept per process, and opened beyond them under a burst (the web
#: server runs at most :data:`PG_POOL_SIZE` requests at once per worker: web/app.py).
PG_POOL_SIZE = 30
PG_POOL_OVERFLOW = 10
_PG_WRITE_LOCK = 0x6D796F74  # "myot": exclusive = whole-trial writer, shared = subject writer
_PG_SUBJECT_LOCKS = 0x6D79  # class id of the (class, subject) two-integer advisory locks


def database_url(url: str | None = None) -> str:
    """``url``, else ``$MYOTRIAL_DATABASE_URL``, else :data:`DEFAULT_URL`."""
    return url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_URL


class OneRowRead:
    """A prebuilt one-statement read of at most one row, outside any transaction (one
    statement sees one snapshot), for the hot paths of the web server (the session lookup).

    On PostgreSQL it runs on the pool's psycopg connection in autocommit (psycopg prepares
    it on the server after a few executions): one round trip, and none of SQLAlchemy's
    per-execution work (57 against 219 CPU-microseconds for the session lookup here). It is
    used only when no selected column has a result processor (psycopg's values are then
    exactly SQLAlchemy's; ``tests/test_db_one_row_read.py`` checks that both paths agree).
    Elsewhere (SQLite) it is ``Connection.execute`` in a read-only transaction. The row has
    the query's column names as attributes.
    """

    def __init__(self, query: sa.Select[Any]) -> None:
        self.query = query
        names = [str(c.key) for c in query.selected_columns]
        self._row = namedtuple("Row", names)  # type: ignore[misc]
        self._compiled: dict[int, tuple[str, dict[str, Any]] | None] = {}
        self._lock = threading.Lock()

    def _raw_form(self, engine: sa.Engine) -> tuple[str, dict[str, Any]] | None:
        """The dialect's SQL text and fixed parameters, or None when a column needs
        SQLAlchemy's result processing (or the engine is not PostgreSQL)."""
        key = id(engine.dialect)
        with self._lock:
            if key in self._compiled:
                return self._compiled[key]
        form: tuple[str, dict[str, Any]] | None = None
        dialect = engine.dialect
        if dialect.name == "postgresql" and dialect.driver == "psycopg" and all(
                c.type.result_processor(dialect, None) is None
                for c in self.query.selected_columns):
            compiled = self.query.compile(dialect=dialect)
            form = (str(compiled), dict(compiled.params))
        with self._lock:
            self._compiled[key] = form
        return form

    def first(self, engine: sa.Engine, **params: Any) -> Any | None:
        """The first row for ``params`` (attributes named as the columns), or None."""
        form = self._raw_form(engine)
        if form is None:
            with engine.connect() as conn:
                conn.execution_options(myotrial_readonly=True)
                with conn.begin():
                    found = conn.execute(self.query, params).first()
            return None if found is None else self._row(*found)
        sql, fixed = form
        pooled = engine.raw_connection()
        try:
            driver: Any = pooled.driver_connection
            driver.autocommit = True
            with driver.cursor() as cursor:  # prepared by psycopg after a few executions
                cursor.execute(sql, {**fixed, **params})
                row = cursor.fetchone()
            driver.autocommit = False
        except BaseException:
            pooled.invalidate()  # a broken or odd connection is not handed out again
            raise
        finally:
            pooled.close()
        return None if row is None else self._row(*row)


class AsyncReads:
    """:class:`OneRowRead` statements run on the event loop (PostgreSQL): a few psycopg
    ``AsyncConnection`` in autocommit, opened with the engine's own connection arguments, so a
    web worker's hot read (the session lookup) needs no hop to its thread pool (about
    0.1 ms of CPU per request here: benchmarks/bench_web.py, docs/web.md "Speed").

    Connections belong to the event loop that opened them; on another loop (a test client
    started anew) the old ones are dropped. A connection whose statement fails is closed,
    never reused; a statement that fails on a kept connection (the server restarted) is
    retried once on a new one. At most ``size`` statements run at once; more wait in order.
    """

    def __init__(self, engine: sa.Engine, size: int = 4) -> None:
        if not self.supports(engine):
            raise ValueError("AsyncReads needs a postgresql+psycopg engine")
        self.engine = engine
        self.size = size
        self._idle: list[Any] = []
        self._loop: Any = None
        self._slots: Any = None

    @staticmethod
    def supports(engine: sa.Engine) -> bool:
        return engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"

    async def _connect(self) -> Any:
        import psycopg

        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        cparams = {k: v for k, v in cparams.items() if k != "context"}
        return await psycopg.AsyncConnection.connect(*cargs, autocommit=True, **cparams)

    def _on_this_loop(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._drop_idle()
            self._loop = loop
            self._slots = asyncio.Semaphore(self.size)

    def _drop_idle(self) -> None:
        """Close the idle connections at the socket (their loop may be gone: not awaited)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.pgconn.finish()

    def __del__(self) -> None:  # an application dropped without its shutdown (tests)
        self._drop_idle()

    async def first(self, read: OneRowRead, **params: Any) -> Any | None:
        """``read.first(engine, **params)`` on the event loop: the same statement and row."""
        form = read._raw_form(self.engine)
        if form is None:
            raise ValueError("this read needs SQLAlchemy's result processing")
        sql, fixed = form
        self._on_this_loop()
        async with self._slots:
            for attempt in (1, 2):
                kept = bool(self._idle)
                conn = self._idle.pop() if kept else await self._connect()
                try:
                    cursor = await conn.execute(sql, {**fixed, **params})
                    row = await cursor.fetchone()
                except Exception:
                    await conn.close()
                    if kept and attempt == 1:
                        continue  # a kept connection may have gone stale: once more, anew
                    raise
                self._idle.append(conn)
                return None if row is None else read._row(*row)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Close the idle connections (the application's shutdown)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()


def lock_for_write(conn: sa.Connection) -> None:
    """A writer of the trial as a whole: alone (PostgreSQL: the transaction-level advisory
    lock, exclusive; SQLite transactions already start with ``BEGIN IMMEDIATE``). Call first
    in a writing transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_WRITE_LOCK)))


def subject_lock_key(subject_id: str) -> int:
    """The signed 32-bit key of a subject's advisory lock (a collision only serialises two
    subjects' writers)."""
    key = zlib.crc32(subject_id.encode("utf-8"))
    return key - (1 << 32) if key >= 1 << 31 else key


def lock_for_subject_write(conn: sa.Connection, subject_id: str) -> None:
    """A writer of one subject's own records: beside other subjects' writers, never beside a
    whole-trial writer (PostgreSQL: the write lock shared, then the subject's lock; SQLite:
    ``BEGIN IMMEDIATE`` already serialises every writer). Call first in the transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(_SUBJECT_LOCKS, {"key": subject_lock_key(subject_id)})


#: The write lock shared, then the subject's lock (built once; executed with ``key``).
_SUBJECT_LOCKS = sa.select(sa.func.pg_advisory_xact_lock_shared(_PG_WRITE_LOCK),
                           sa.func.pg_advisory_xact_lock(
                               sa.literal(_PG_SUBJECT_LOCKS, sa.Integer),
                               sa.bindparam("key", type_=sa.Integer)))


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
    if backend == "sqlite" and u.database not in (None, "", ":memory:"):
        _create_private(Path(u.database))
    if backend == "postgresql":
        kwargs = {"pool_size": PG_POOL_SIZE, "max_overflow": PG_POOL_OVERFLOW, **kwargs}
    engine = sa.create_engine(u, **kwargs)
    if backend == "sqlite":
        _sqlite_setup(engine)
    return engine


def _create_private(path: Path) -> None:
    """A new SQLite database file is created owner-only (mode 600): it holds the allocations,
    the randomisation list and password hashes (SQLite gives its -wal/-shm files the same
    mode). An existing file keeps its mode (set by whoever created it)."""
    if path.exists() or not path.parent.is_dir():
        return  # a missing folder is reported by the connection, naming the file
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError:
        return  # unwritable folder: the connection reports it
    os.close(fd)


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
