"""Crash safety: a writer killed with SIGKILL in the middle of a transaction (its change and
audit row written, not committed) leaves the database consistent: committed rows intact, no
partial rows, the audit chain verifies, and the next writer proceeds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import db_support
from myotrial.db import TrialService, make_engine, verify_audit_chain

database_url = pytest.fixture(params=db_support.BACKENDS)(db_support.database_url)

WRITER = textwrap.dedent("""
    import sys, time, pathlib
    from argon2 import PasswordHasher
    import myotrial.db.audit as audit
    from myotrial.db import Actor, Role, TrialService, make_engine

    url, marker = sys.argv[1], pathlib.Path(sys.argv[2])
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    svc = TrialService(make_engine(url), password_hasher=hasher)
    admin = Actor("admin", Role.ADMINISTRATOR)
    for i in range(3):
        svc.create_site(admin, f"C{i}", f"committed {i}")

    original = audit.append_audit_rows

    def append_then_hang(conn, entries):
        rows = original(conn, entries)  # the site row and its audit row are written ...
        marker.write_text(str(rows[-1]["id"]))
        time.sleep(300)                 # ... and the transaction never commits
        return rows

    audit.append_audit_rows = append_then_hang
    svc.create_site(admin, "LOST", "never committed")
""")


def test_writer_killed_mid_transaction_leaves_database_consistent(
    database_url: str, tmp_path: Path
) -> None:
    setup = db_support.make_trial(database_url)
    setup.engine.dispose()
    marker = tmp_path / "in-transaction"
    log = tmp_path / "writer.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, database_url, str(marker)],
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"writer exited early: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("writer never reached the middle of its transaction")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            sites = set(conn.execute(sa.text("SELECT site_id FROM sites")).scalars())
            if engine.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert {"C0", "C1", "C2"} <= sites and "LOST" not in sites
        report = verify_audit_chain(engine)
        assert report.ok, report.summary()
        assert report.head_id < int(marker.read_text())  # the uncommitted audit row is gone
        # the next writer is not blocked by the killed one
        svc = TrialService(engine, password_hasher=db_support.FAST_HASHER)
        svc.create_site(setup.admin, "AFTER", "written after the crash")
        assert verify_audit_chain(engine).ok
    finally:
        engine.dispose()
