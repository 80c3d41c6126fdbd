"""Parsing of screening values and three-valued (true / false / unknown) logic.

Numbers are parsed to :class:`decimal.Decimal` from the text as typed (CSV is read as text), so
every threshold comparison is exact: ``49.95 > 1.5 * 33.3`` is false, as on paper.
Unknown (missing) inputs are ``None``; :func:`all3` / :func:`any3` combine them with Kleene's
strong three-valued logic, so a decision is only "unknown" when the missing values could change it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Final

__all__ = ["FALSE_WORDS", "TRUE_WORDS", "all3", "any3", "is_missing", "parse_bool", "parse_decimal"]

TRUE_WORDS: Final = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS: Final = frozenset({"false", "f", "no", "n", "0"})


class ParseError(ValueError):
    """A value could not be parsed; the message is the rule it broke."""


def is_missing(value: object) -> bool:
    """True for None, NaN, pandas NA/NaT and blank text."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, float):
        return math.isnan(value)
    try:
        import pandas as pd

        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def parse_decimal(value: object) -> Decimal | None:
    """Parse a finite number exactly (``None`` when missing); raise :class:`ParseError` if bad."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise ParseError("must be a number, not true/false")
    text = str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ParseError("must be a number") from None
    if not number.is_finite():
        raise ParseError("must be a finite number")
    return number


def parse_bool(value: object) -> bool | None:
    """Parse true/false (also yes/no, y/n, t/f, 1/0; any case); ``None`` when missing."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return value
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
        if isinstance(value, bool):
            return value
    text = str(value).strip().lower()
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ParseError("must be true or false (also yes/no, 1/0); leave blank if unknown")


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
    text = format(number.normalize(), "f")
    return text
