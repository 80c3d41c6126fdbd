"""Alembic migrations: an empty database is upgraded to the newest revision, idempotently, and
the migrated schema equals the SQLAlchemy tables (no drift between the two)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import db_support
from myotrial.db import (
    current_revision,
    downgrade_database,
    head_revision,
    make_engine,
    upgrade_database,
)
from myotrial.db.schema import metadata

empty_database_url = pytest.fixture(params=db_support.BACKENDS)(db_support.empty_database_url)


def test_upgrade_empty_database_to_head_idempotently(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        assert current_revision(engine) is None
        assert upgrade_database(empty_database_url) == head_revision() == "0004"
        tables = set(sa.inspect(engine).get_table_names())
        assert {t.name for t in metadata.sorted_tables} <= tables
        # running it again changes nothing
        assert upgrade_database(engine) == head_revision()
        # the migrated schema is exactly the declared one
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(empty_database_url: str) -> None:
    upgrade_database(empty_database_url)
    assert downgrade_database(empty_database_url, "base") == ""
    engine = make_engine(empty_database_url)
    try:
        assert "audit_log" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    assert upgrade_database(empty_database_url) == head_revision()


def test_0001_database_upgrades_to_0002_and_the_protocol_is_fixed(
        empty_database_url: str) -> None:
    """A database of revision 0001 is refused by the service until upgraded; after the
    upgrade the first service records the protocol, which UPDATE and DELETE cannot change."""
    from myotrial.db import DatabaseNotReadyError, TrialService, schema

    assert upgrade_database(empty_database_url, "0001") == "0001"
    engine = make_engine(empty_database_url)
    try:
        with pytest.raises(DatabaseNotReadyError, match=r"revision 0001.*db init"):
            TrialService(engine)
        assert upgrade_database(engine) == head_revision()
        svc = TrialService(engine)  # records the default protocol
        assert svc.protocol.name == "proderm"
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(
                schema.trial_protocol)).scalar_one() == 1
        for sql in ("UPDATE trial_protocol SET name = 'other'", "DELETE FROM trial_protocol"):
            with pytest.raises(sa.exc.DBAPIError, match="fixed once recorded"):
                db_support.raw_sql(engine, sql)
    finally:
        engine.dispose()


def test_unsupported_database_url_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        make_engine("mysql://user@host/db")


def test_0002_database_with_a_list_upgrades_to_0003(empty_database_url: str) -> None:
    """Revision 0003 (issue 12) keeps a loaded list (its seed; SQLite moves the column, its
    slots refer to the table) and adds sessions, account security, consent dates and
    emergency unblinding; the schema then equals the declared one."""
    assert upgrade_database(empty_database_url, "0002") == "0002"
    engine = make_engine(empty_database_url)
    try:
        db_support.raw_sql(
            engine,
            "INSERT INTO randomisation_lists (created_at, seed, scheme_json, list_sha256, "
            "n_slots) VALUES ('2024-01-01 00:00:00', 42, '{}', 'x', 1)",
            "INSERT INTO randomisation_slots (list_id, stratum, sequence, block, block_size, "
            "arm, kit_code) VALUES (1, 'all', 1, 1, 4, 'a', 'K100001')")
        assert upgrade_database(engine) == head_revision()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT seed FROM randomisation_lists")).scalar_one() \
                == 42
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
        db_support.raw_sql(engine, "INSERT INTO randomisation_lists (created_at, seed, "
                           "scheme_json, list_sha256, n_slots, source) VALUES "
                           "('2024-01-02 00:00:00', NULL, '{}', 'y', 1, 'csprng')")
    finally:
        engine.dispose()


def test_a_new_sqlite_database_file_is_owner_only(tmp_path: Path) -> None:
    """The database holds allocations and password hashes: created at mode 600 (issue 11)."""
    import os
    import stat

    from myotrial.db import upgrade_database

    path = tmp_path / "trial.db"
    upgrade_database(f"sqlite:///{path}")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
