"""The web server's one-statement reads (``db.engine.OneRowRead``: the session lookup with the
data version, the actor check with the data version): on PostgreSQL they bypass SQLAlchemy's
execution layer, so their rows are checked equal to ``Connection.execute``'s, on both
backends; a failed read leaves no broken connection in the pool."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib

import psycopg
import pytest
import sqlalchemy as sa

import db_support
from db_support import Trial, enrol
from myotrial.db import schema as s
from myotrial.db.engine import AsyncReads, OneRowRead
from myotrial.db.service import identity, reads

database_url = pytest.fixture(params=db_support.BACKENDS)(db_support.database_url)
trial = pytest.fixture(db_support.trial)


def _by_sqlalchemy(engine: sa.Engine, read: OneRowRead, **params: object) -> tuple[object, ...]:
    with engine.connect() as conn:
        row = conn.execute(read.query, params).first()
    assert row is not None
    return tuple(row)


def test_session_read_equals_sqlalchemy(trial: Trial) -> None:
    token, _ = trial.service.login("inv1", db_support.PASSWORD)
    enrol(trial, "P001")  # moves the audit head
    key = hashlib.sha256(token.encode()).hexdigest()
    assert identity._token_hash(token) == key
    fast = identity._SESSION_READ.first(trial.engine, key=key)
    assert fast is not None
    assert tuple(fast) == _by_sqlalchemy(trial.engine, identity._SESSION_READ, key=key)
    assert (fast.username, fast.role, fast.site_id, fast.active) == \
        ("inv1", "site_investigator", trial.inv1.site_id, True)
    with trial.engine.connect() as conn:
        assert reads.head_version(fast.head_id, fast.head_hash) == reads.data_version(conn)
    assert identity._SESSION_READ.first(trial.engine, key="0" * 64) is None


def test_actor_version_read_equals_sqlalchemy(trial: Trial) -> None:
    for actor in (trial.inv1, trial.ustat, trial.admin):
        fast = reads._ACTOR_VERSION_READ.first(trial.engine, username=actor.username)
        assert tuple(fast) == _by_sqlalchemy(trial.engine, reads._ACTOR_VERSION_READ,
                                             username=actor.username)
        assert (fast.role, fast.site_id) == (actor.role.value, actor.site_id)


def test_resolved_session_carries_the_version_of_its_snapshot(trial: Trial) -> None:
    token, record = trial.service.login("inv1", db_support.PASSWORD)
    assert record.data_version is None  # a new login: not read
    before = trial.service.resolve_session(token, idle_seconds=600, max_age_seconds=3600)
    assert before is not None and before.data_version is not None
    enrol(trial, "P002")
    after = trial.service.resolve_session(token, idle_seconds=600, max_age_seconds=3600)
    assert after is not None and after.data_version != before.data_version
    with trial.engine.connect() as conn:
        assert after.data_version == reads.data_version(conn)


def test_postgresql_reads_bypass_sqlalchemy_only_without_result_processing(trial: Trial
                                                                          ) -> None:
    plain = identity._SESSION_READ._raw_form(trial.engine)
    assert (plain is not None) == (trial.engine.dialect.name == "postgresql")
    # a column SQLAlchemy post-processes (Numeric -> Decimal/float conversion, PickleType)
    # is never read raw: the values would differ
    processed = OneRowRead(sa.select(sa.cast(s.users.c.failed_logins, sa.PickleType)
                                     .label("x")))
    assert processed._raw_form(trial.engine) is None


def test_failed_read_invalidates_its_connection(trial: Trial) -> None:
    broken = OneRowRead(sa.select(sa.column("x")).select_from(sa.table("no_such_table")))
    for _ in range(3):  # the pool never hands out the failed connection in a bad state
        with pytest.raises((sa.exc.DBAPIError, psycopg.Error), match="no_such_table"):
            broken.first(trial.engine)
        row = identity._SESSION_READ.first(trial.engine, key="0" * 64)
        assert row is None


def _pg_only(trial: Trial) -> None:
    if not AsyncReads.supports(trial.engine):
        pytest.skip("the session lookup on the event loop is PostgreSQL's (SQLite: threads)")


def _both(trial: Trial, token: str, **limits: float) -> tuple[object, object]:
    """The session as the thread path and as the event-loop path resolve it, each on a
    database in the same state (the clock advances one second per call)."""
    reads = AsyncReads(trial.engine)
    sync = trial.service.resolve_session(token, **limits)
    trial.service._clock.now -= dt.timedelta(seconds=1)  # the same instant for both
    on_loop = asyncio.run(trial.service.resolve_session_async(token, reads, **limits))
    return sync, on_loop


def test_the_session_on_the_event_loop_equals_the_thread_path(trial: Trial) -> None:
    """Live, touched after a minute, idle too long, too old, logged out, user deactivated:
    the event-loop lookup gives what the thread path gives and writes what it writes."""
    _pg_only(trial)
    svc = trial.service
    limits = {"idle_seconds": 600, "max_age_seconds": 3600}
    token, _ = svc.login("inv1", db_support.PASSWORD)
    sync, on_loop = _both(trial, token, **limits)
    assert sync is not None and on_loop == sync
    key = identity._token_hash(token)

    def last_seen() -> object:
        with trial.engine.connect() as conn:
            return conn.execute(sa.select(s.sessions.c.last_seen)
                                .where(s.sessions.c.token_sha256 == key)).scalar_one()

    before = last_seen()
    svc._clock.now += dt.timedelta(seconds=120)  # a touch is due: last_seen is written
    reads = AsyncReads(trial.engine)
    touched = asyncio.run(svc.resolve_session_async(token, reads, **limits))
    assert touched is not None and last_seen() == touched.last_seen != before
    # too long idle, then too old: ended by either path alike
    for advance, limit in ((601 + 120, limits), (10, {"idle_seconds": 600,
                                                      "max_age_seconds": 5})):
        fresh, _ = svc.login("inv1", db_support.PASSWORD)
        svc._clock.now += dt.timedelta(seconds=advance)
        assert _both(trial, fresh, **limit) == (None, None)
    fresh, _ = svc.login("inv1", db_support.PASSWORD)
    svc.logout(fresh)
    assert _both(trial, fresh, **limits) == (None, None)
    fresh, _ = svc.login("monitor", db_support.PASSWORD)
    svc.deactivate_user(trial.admin, "monitor", "left the trial")
    assert _both(trial, fresh, **limits) == (None, None)
    assert asyncio.run(svc.resolve_session_async("x" * 30, AsyncReads(trial.engine),
                                                 **limits)) is None


def test_event_loop_reads_survive_a_lost_connection_and_a_new_loop(trial: Trial) -> None:
    """A kept connection the server closed is retried once on a new one; connections of an
    event loop that ended are dropped, and the next loop opens its own."""
    _pg_only(trial)
    reads = AsyncReads(trial.engine, size=1)
    token, _ = trial.service.login("inv1", db_support.PASSWORD)
    key = identity._token_hash(token)

    async def twice() -> tuple[object, object, int]:
        first = await reads.first(identity._SESSION_READ, key=key)
        pid = reads._idle[0].info.backend_pid
        with trial.engine.connect() as conn:  # the server ends that connection
            conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        second = await reads.first(identity._SESSION_READ, key=key)
        return first, second, reads._idle[0].info.backend_pid

    first, second, pid = asyncio.run(twice())
    assert first == second and first is not None and first.username == "inv1"
    stale = reads._idle[0]
    again = asyncio.run(reads.first(identity._SESSION_READ, key=key))  # another loop
    assert again == first and stale.closed and reads._idle[0] is not stale
    assert reads._idle[0].info.backend_pid != pid
