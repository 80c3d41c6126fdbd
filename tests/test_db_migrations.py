"""Alembic migrations: an empty database is upgraded to the newest revision, idempotently, and
the migrated schema equals the SQLAlchemy tables (no drift between the two)."""

from __future__ import annotations

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
        assert upgrade_database(empty_database_url) == head_revision() == "0001"
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


def test_unsupported_database_url_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        make_engine("mysql://user@host/db")
