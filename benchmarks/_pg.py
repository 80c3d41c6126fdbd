"""A throw-away PostgreSQL database for a benchmark run (shared by bench_web and
bench_db_writes)."""

from __future__ import annotations

import uuid
from collections.abc import Callable


def pg_database(base: str, prefix: str) -> tuple[str, Callable[[], None]]:
    """A new database on the PostgreSQL server of ``base``; (its URL, a function dropping it)."""
    import sqlalchemy as sa

    from myotrial.db import make_engine

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return url, drop
