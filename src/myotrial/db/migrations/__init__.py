"""Alembic migrations of the trial database (run by :func:`myotrial.db.upgrade_database`)."""
