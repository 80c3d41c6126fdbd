"""Three-valued (true / false / unknown) logic and exact number formatting for screening.

Unknown (missing) inputs are ``None``; :func:`all3` / :func:`any3` combine them with Kleene's
strong three-valued logic, so a decision is only "unknown" when the missing values could change it.
Values are parsed by the one set of parsers in :mod:`myotrial.tables.values`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

__all__ = ["all3", "any3", "fmt"]


def all3(values: Iterable[bool | None]) -> bool | None:
    """Kleene AND: False if any False, else None if any unknown, else True."""
    result: bool | None = True
    for value in values:
        if value is False:
            return False
        if value is None:
            result = None
    return result


def any3(values: Iterable[bool | None]) -> bool | None:
    """Kleene OR: True if any True, else None if any unknown, else False."""
    result: bool | None = False
    for value in values:
        if value is True:
            return True
        if value is None:
            result = None
    return result


def fmt(number: Decimal) -> str:
    """Format a decimal without exponent or trailing zeros (``Decimal('2.50')`` -> ``'2.5'``)."""
    return format(number.normalize(), "f")
