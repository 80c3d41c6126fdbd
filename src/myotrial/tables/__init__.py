"""Canonical tables: reading, writing and boundary validation (``reference/data-format.md``)."""

from myotrial.tables.io import read_table, write_table

__all__ = ["read_table", "write_table"]
