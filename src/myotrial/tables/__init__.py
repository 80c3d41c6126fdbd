"""Canonical tables: reading, writing and boundary validation (``reference/data-format.md``)."""

from myotrial.tables.io import read_table, write_table
from myotrial.tables.visits import validate_visits

__all__ = ["read_table", "validate_visits", "write_table"]
