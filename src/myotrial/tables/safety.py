"""The canonical ``infusions`` and ``adverse_events`` tables (``docs/data-format.md``).

:func:`validate_infusions` and :func:`validate_adverse_events` check a table once, at the
boundary, and return a typed copy (the input is never modified, extra columns pass through).
Every problem is collected and raised together as one
:class:`~myotrial.errors.InputValidationError` located by row, subject and column.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from myotrial.tables.contract import (
    Column,
    check_columns,
    check_required_columns,
    check_subject_ids,
    cite,
)
from myotrial.tables.problems import ProblemCollector, prepare_table
from myotrial.tables.vocabularies import PRODUCTS, SEVERITIES

__all__ = [
    "ADVERSE_EVENT_COLUMNS",
    "INFUSION_COLUMNS",
    "validate_adverse_events",
    "validate_infusions",
]

#: Columns of the infusions table (one row per infusion day).
INFUSION_COLUMNS: tuple[Column, ...] = (
    Column("subject_id", "text", "subject identifier", required_column=True, required_value=True),
    Column("start", "datetime", "start of the infusion", required_column=True, required_value=True),
    Column(
        "end",
        "datetime",
        "end of the infusion (>= start)",
        required_column=True,
        required_value=True,
    ),
    Column("product", "code", "infused product", vocabulary=PRODUCTS),
    Column("dose_g_per_kg", "number", "dose", unit="g/kg", min=0.0),
    Column("rate_ml_per_kg_min", "number", "maximum infusion rate", unit="mL/kg/min", min=0.0),
    Column(
        "cycle",
        "integer",
        "treatment cycle number (1 = first)",
        required_column=True,
        required_value=True,
        min=1.0,
    ),
)

#: Columns of the adverse_events table (one row per event).
ADVERSE_EVENT_COLUMNS: tuple[Column, ...] = (
    Column("subject_id", "text", "subject identifier", required_column=True, required_value=True),
    Column(
        "term",
        "text",
        "event term (e.g. MedDRA preferred term)",
        required_column=True,
        required_value=True,
    ),
    Column("body_system", "text", "system organ class"),
    Column("onset", "datetime", "onset of the event", required_column=True, required_value=True),
    Column("end", "datetime", "end of the event (>= onset; blank = ongoing)"),
    Column("serious", "boolean", "serious adverse event"),
    Column("severity", "code", "severity grade", vocabulary=SEVERITIES),
    Column("related", "boolean", "related to study drug (investigator)"),
    Column("thromboembolic", "boolean", "thromboembolic event"),
)


def _finish(
    raw: pd.DataFrame, typed: dict[str, pd.Series], sid: pd.Series, col: ProblemCollector
) -> pd.DataFrame:
    col.raise_if_any()
    out = raw.assign(**typed)
    out["subject_id"] = sid
    return out


def validate_infusions(
    infusions: pd.DataFrame, *, subject_ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """Validate an infusions table; return a typed copy.

    Rules (docs/data-format.md, infusions): columns ``subject_id``, ``start``, ``end`` and
    ``cycle`` are required and filled in every row; ``start``/``end`` are ISO date-times with
    ``end >= start``; ``product`` (optional) is one of :data:`~myotrial.tables.PRODUCTS`;
    ``dose_g_per_kg`` and ``rate_ml_per_kg_min`` (optional) are finite numbers >= 0; ``cycle`` is
    a whole number >= 1. With ``subject_ids``, every subject must be one of them.

    Returns
    -------
    pandas.DataFrame
        Same rows and order; ``start``/``end`` as ``datetime64[ns]`` (naive UTC), ``cycle``
        ``int64``, dose and rate ``float64`` (blank = NaN), ``product`` in the vocabulary's
        spelling (blank = None); other columns untouched.

    Raises
    ------
    InputValidationError
        Every problem, located by row, subject and column.

    Examples
    --------
    >>> import pandas as pd
    >>> t = validate_infusions(pd.DataFrame({"subject_id": ["P1"], "start": ["2024-03-01T09:00"],
    ...     "end": ["2024-03-01T13:30"], "product": ["IVIG"], "cycle": ["1"]}))
    >>> t["product"].tolist(), t["cycle"].tolist()
    (['ivig'], [1])
    """
    raw = prepare_table(infusions, "infusions")
    col = ProblemCollector("infusions", raw)
    if not check_required_columns(raw, INFUSION_COLUMNS, col):
        col.raise_if_any()
    sid = check_subject_ids(raw, col, subject_ids)
    typed = check_columns(raw, INFUSION_COLUMNS[1:], col)
    start, end = typed["start"], typed["end"]
    before = (end < start).fillna(False).to_numpy(dtype=bool)
    col.add(before, "end", f"end must not be before start {cite('infusions')}")
    if not col:
        typed["cycle"] = typed["cycle"].astype("int64")
    return _finish(raw, typed, sid, col)


def validate_adverse_events(
    adverse_events: pd.DataFrame, *, subject_ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """Validate an adverse_events table; return a typed copy.

    Rules (docs/data-format.md, adverse_events): columns ``subject_id``, ``term`` and ``onset``
    are required and filled in every row; ``onset`` is an ISO date-time and ``end`` (blank =
    ongoing) one not before it; ``serious``, ``related`` and ``thromboembolic`` are true/false
    (blank = unknown); ``severity`` is one of :data:`~myotrial.tables.SEVERITIES`; text without
    control characters. With ``subject_ids``, every subject must be one of them.

    Returns
    -------
    pandas.DataFrame
        Same rows and order; ``onset``/``end`` as ``datetime64[ns]`` (naive UTC), booleans as
        pandas ``boolean`` (unknown = <NA>), ``severity`` as a vocabulary code (blank = None).

    Raises
    ------
    InputValidationError
        Every problem, located by row, subject and column.
    """
    raw = prepare_table(adverse_events, "adverse_events")
    col = ProblemCollector("adverse_events", raw)
    if not check_required_columns(raw, ADVERSE_EVENT_COLUMNS, col):
        col.raise_if_any()
    sid = check_subject_ids(raw, col, subject_ids)
    typed = check_columns(raw, ADVERSE_EVENT_COLUMNS[1:], col)
    if "end" in typed:
        before = (typed["end"] < typed["onset"]).fillna(False).to_numpy(dtype=bool)
        col.add(before, "end", f"end must not be before onset {cite('adverse_events')}")
    return _finish(raw, typed, sid, col)
