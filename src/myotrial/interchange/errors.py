"""Located errors of the interchange importers and exporters.

Every problem names where it is in the *source* the user holds, so a data manager can find it:

* REDCap records: ``source="redcap"``, ``row`` (1-based data line of the export), ``record``,
  ``event`` (unique event name) and ``field`` (REDCap variable);
* CDISC ODM: ``source="odm"``, ``row`` (XML line when known), ``record`` (SubjectKey), ``event``
  (StudyEventOID, with the repeat key) and ``field`` (ItemOID);
* SDTM: ``source`` is the domain (``DM``, ``LB``, ...), ``row`` its 1-based data row, ``record``
  the USUBJID, ``event`` the VISIT (or date) and ``field`` the SDTM variable;
* ADaM export: ``source`` is the dataset, ``row`` the record and ``field`` the variable.

Problems are collected, never raised one at a time, and nothing is written while any exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from myotrial.errors import InputValidationError, MyotrialError

__all__ = ["LOCATION_COLUMNS", "InterchangeError", "Located", "Problems"]

LOCATION_COLUMNS = ("source", "row", "record", "event", "field", "value", "rule")


@dataclass(frozen=True)
class Located:
    """One located problem (see the module docstring for what each column means)."""

    source: str
    row: int | None
    record: str | None
    event: str | None
    field: str | None
    value: str | None
    rule: str

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in LOCATION_COLUMNS}


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    return str(value)


class InterchangeError(MyotrialError, ValueError):
    """Input broke one or more rules; ``problems`` (a DataFrame with :data:`LOCATION_COLUMNS`)
    lists every one of them."""

    def __init__(self, problems: Iterable[Located], what: str = "input") -> None:
        items = list(problems)
        self.problems: pd.DataFrame = pd.DataFrame(
            [p.as_dict() for p in items], columns=list(LOCATION_COLUMNS)
        )
        self.problems["row"] = self.problems["row"].astype("Int64")
        self.what = what
        lines = []
        for p in items[:20]:
            where = [f"{p.source}"]
            if p.row is not None:
                where.append(f"row {p.row}")
            if p.record is not None:
                where.append(f"record {p.record}")
            if p.event is not None:
                where.append(f"event {p.event}")
            if p.field is not None:
                where.append(f"field {p.field}")
            val = "" if p.value is None else f" = {p.value!r}"
            lines.append(f"  - {', '.join(where)}{val}: {p.rule}")
        more = f"\n  ... and {len(items) - 20} more" if len(items) > 20 else ""
        super().__init__(f"{len(items)} problem(s) in the {what}:\n" + "\n".join(lines) + more)


class Problems:
    """Collects :class:`Located` problems; :meth:`raise_if_any` raises them all at once."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.items: list[Located] = []

    def add(
        self,
        source: str,
        row: int | None,
        record: object,
        event: object,
        field: object,
        value: object,
        rule: str,
    ) -> None:
        self.items.append(
            Located(source, row, _text(record), _text(event), _text(field), _text(value), rule)
        )

    def __len__(self) -> int:
        return len(self.items)

    def extend_from(
        self,
        error: InputValidationError,
        locate: Any,
    ) -> None:
        """Re-locate the problems of a canonical-table validator in the source.

        ``locate(table, row, column)`` returns ``(source, source_row, record, event, field)``
        for a 1-based canonical row (or ``None`` row for table-level problems).
        """
        for rec in error.problems.to_dict("records"):
            row = rec.get("row")
            row_i = None if row is None or pd.isna(row) else int(row)
            column = _text(rec.get("column"))
            source, src_row, record, event, field = locate(str(rec.get("table")), row_i, column)
            self.add(
                source,
                src_row,
                record if record is not None else rec.get("subject_id"),
                event,
                field if field is not None else column,
                rec.get("value"),
                str(rec.get("rule")),
            )

    def raise_if_any(self) -> None:
        if self.items:
            raise InterchangeError(self.items, self.what)
