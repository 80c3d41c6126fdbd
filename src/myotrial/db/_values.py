"""Coercion of single values at the service boundary, with the rule broken in words."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Any

from myotrial.errors import InputValidationError, Problem

__all__ = ["INT_MAX", "Problems", "ValueRuleError", "as_bool", "as_date", "as_datetime", "as_float",
           "as_identifier", "as_int", "as_text", "is_blank"]

_IDENT = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
#: Control characters (C0, DEL, C1). NUL is refused by PostgreSQL; the others corrupt
#: exports, logs and terminals. Long free text (> 200 characters allowed) may hold line
#: breaks and tabs.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Whole numbers are stored as 32-bit integers (visit weeks, cycles, ids).
INT_MAX = 2**31 - 1
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


class ValueRuleError(ValueError):
    """One value broke one rule (the message is the rule)."""


def is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def as_text(value: Any, *, max_length: int = 200) -> str | None:
    if is_blank(value):
        return None
    if not isinstance(value, str):
        raise ValueRuleError("must be text")
    text = value.strip()
    if len(text) > max_length:
        raise ValueRuleError(f"must be at most {max_length} characters")
    if (_CONTROL_EXCEPT_LINES if max_length > 200 else _CONTROL).search(text):
        raise ValueRuleError("must not contain control characters (NUL, escapes, ...)")
    return text


def as_identifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _IDENT.match(value.strip()):
        raise ValueRuleError(f"{what} must be 1-64 letters, digits, '_', '.' or '-'")
    return value.strip()


def as_float(value: Any) -> float | None:
    """A finite number; blank = missing. NaN (``"nan"``, a JSON ``NaN``) and infinities are
    refused: a missing value is left blank, never written as "nan"."""
    if isinstance(value, float) and math.isnan(value):
        raise ValueRuleError("must be a finite number (leave it blank when missing)")
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise ValueRuleError("must be a number, not true/false")
    if isinstance(value, str) and len(value) > 100:
        raise ValueRuleError("must be a number (blank = missing)")
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueRuleError("must be a number (blank = missing)") from None
    if not math.isfinite(out):
        raise ValueRuleError("must be a finite number (leave it blank when missing)")
    return out


def as_int(value: Any) -> int | None:
    """A whole number within the stored range (32-bit)."""
    number = as_float(value)
    if number is None:
        return None
    if number != round(number):
        raise ValueRuleError("must be a whole number")
    if abs(number) > INT_MAX:
        raise ValueRuleError(f"must be a whole number from {-INT_MAX} to {INT_MAX}")
    return int(number)


def as_bool(value: Any) -> bool | None:
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueRuleError("must be true or false")


def as_datetime(value: Any) -> dt.datetime | None:
    """A datetime in UTC without tzinfo. Aware values are converted; naive ones are UTC."""
    if is_blank(value):
        return None
    if isinstance(value, dt.datetime):
        out = value
    elif isinstance(value, str):
        try:
            out = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueRuleError("must be an ISO date-time, e.g. 2024-03-01T09:30") from None
    else:
        raise ValueRuleError("must be an ISO date-time, e.g. 2024-03-01T09:30")
    if out.tzinfo is not None:
        out = out.astimezone(dt.UTC).replace(tzinfo=None)
    return out


def as_date(value: Any) -> dt.date | None:
    if is_blank(value):
        return None
    if isinstance(value, dt.datetime):
        raise ValueRuleError("must be a date (YYYY-MM-DD), not a date-time")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueRuleError("must be an ISO date, e.g. 2024-03-01")


class Problems:
    """Collects located problems for one table and raises them all at once."""

    def __init__(self, table: str, subject_id: str | None = None,
                 visit_week: int | None = None) -> None:
        self.table = table
        self.subject_id = subject_id
        self.visit_week = visit_week
        self.items: list[Problem] = []

    def add(self, column: str | None, value: Any, rule: str) -> None:
        text = None if value is None else str(value)
        week = None if self.visit_week is None else str(self.visit_week)
        self.items.append(Problem(self.table, None, self.subject_id, week, column, text, rule))

    def parse(self, column: str, value: Any, parser: Any, *args: Any) -> Any:
        """``parser(value, *args)``, recording a problem (and returning None) on failure."""
        try:
            return parser(value, *args)
        except ValueRuleError as exc:
            self.add(column, value, f"{column} {exc}")
            return None

    def require(self, column: str, value: Any) -> None:
        if is_blank(value):
            self.add(column, None, f"{column} is required")

    def one_of(self, column: str, value: str | None, allowed: Sequence[str]) -> None:
        if value is not None and value not in allowed:
            self.add(column, value, f"{column} must be one of: {', '.join(allowed)}")

    def raise_if_any(self) -> None:
        if self.items:
            raise InputValidationError(self.items, table=self.table)


def fail(table: str, rule: str, *, subject_id: str | None = None, visit_week: Any = None,
         column: str | None = None, value: Any = None) -> InputValidationError:
    """One located problem as an :class:`InputValidationError` (to ``raise``)."""
    p = Problems(table, subject_id, None if visit_week is None else int(visit_week))
    p.add(column, value, rule)
    return InputValidationError(p.items, table=table)
