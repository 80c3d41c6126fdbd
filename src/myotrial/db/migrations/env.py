"""Alembic environment: runs on the connection handed over by ``upgrade_database``.

Run from the command line as well: ``alembic -x url=sqlite:///trial.db upgrade head`` with a
``script_location`` pointing here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from myotrial.db.engine import make_engine
from myotrial.db.schema import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # pragma: no cover - command-line use
    engine = make_engine(context.get_x_argument(as_dictionary=True).get("url"))
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
