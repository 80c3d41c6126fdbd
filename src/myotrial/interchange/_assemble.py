"""From record-event entries (REDCap rows, ODM item groups) to the canonical tables.

Both EDC importers reduce their input to :class:`Entry` objects (one per record x event x form
[x repeat instance]) holding raw text values keyed by field name. :func:`assemble` checks every
entry against the catalogue (event known, form collected at that event, field on that form,
value of the right type, in range, a valid code), finds duplicate record-events and records
without a baseline, builds the canonical tables, runs the canonical validators and relocates
their problems in the source. Nothing is returned while any problem exists.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from myotrial.eligibility import validate_screening
from myotrial.errors import InputValidationError
from myotrial.interchange.catalogue import Catalogue, Field
from myotrial.interchange.errors import Problems
from myotrial.tables import (
    validate_adverse_events,
    validate_infusions,
    validate_visits,
)
from myotrial.tables.subjects import validate_subjects

__all__ = ["TABLE_ORDER", "Entry", "assemble", "parse_value"]

#: Canonical tables an import writes, in this order.
TABLE_ORDER = ("subjects", "screening", "visits", "infusions", "adverse_events")

_INT = re.compile(r"^[+-]?\d+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?$")
_TRUE = {"1", "yes", "true", "y"}
_FALSE = {"0", "no", "false", "n"}


@dataclass
class Entry:
    """One record x event x form (x repeat instance) of an EDC export, values as raw text."""

    source: str
    row: int | None
    record: str
    event: str
    form: str
    instance: int | None
    values: dict[str, str] = field(default_factory=dict)


def _fmt_range(f: Field) -> str:
    lo = "" if f.minimum is None else f"{f.minimum:g}"
    hi = "" if f.maximum is None else f"{f.maximum:g}"
    if lo and hi:
        return f"between {lo} and {hi}"
    return f">= {lo}" if lo else f"<= {hi}"


def parse_value(f: Field, raw: str) -> tuple[str | None, str | None]:
    """Raw exchange text -> (canonical text, None) or (None, the rule broken).

    Blank is missing. Numbers are kept as written (checked, never rounded); yes/no -> ``true`` /
    ``false``; a choice may be given by code or by label; datetimes become ISO ``T``-separated.
    """
    text = raw.strip()
    if text == "":
        return None, None
    kind = f.kind
    if kind in ("integer", "number"):
        if kind == "integer" and not _INT.match(text):
            return None, "must be a whole number"
        try:
            number = float(text)
        except ValueError:
            return None, "must be a number"
        if not math.isfinite(number):
            return None, "must be a finite number"
        if (f.minimum is not None and number < f.minimum) or (
            f.maximum is not None and number > f.maximum
        ):
            return None, f"outside the dictionary's range: must be {_fmt_range(f)}"
        return text, None
    if kind == "date":
        try:
            if not _DATE.match(text):
                raise ValueError(text)
            dt.date.fromisoformat(text)
        except ValueError:
            return None, "must be a date YYYY-MM-DD"
        return text, None
    if kind == "datetime":
        m = _DATETIME.match(text)
        try:
            if m is None:
                raise ValueError(text)
            iso = f"{m.group(1)}T{m.group(2)}{m.group(3) or ''}"
            dt.datetime.fromisoformat(iso)
        except ValueError:
            return None, "must be a date and time YYYY-MM-DD HH:MM"
        return iso, None
    if kind == "boolean":
        low = text.lower()
        if low in _TRUE:
            return "true", None
        if low in _FALSE:
            return "false", None
        return None, "must be 1 (yes) or 0 (no)"
    if kind == "choice":
        for code, label in f.choices:
            if text in (code, label):
                return code, None
        for code, label in f.choices:  # codes compare case-insensitively (vocabularies)
            if text.lower() in (code.lower(), label.lower()):
                return code, None
        codes = ", ".join(c for c, _ in f.choices)
        return None, f"not a choice of this field; valid codes: {codes}"
    return text, None


@dataclass
class _Built:
    rows: list[dict[str, str | None]] = field(default_factory=list)
    where: list[tuple[str, int | None, str, str]] = field(default_factory=list)


def assemble(
    entries: Sequence[Entry],
    catalogue: Catalogue,
    problems: Problems,
    *,
    field_names: dict[str, str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Check ``entries`` and build the canonical tables (see the module docstring).

    ``field_names`` maps a field name to the name shown in errors (ODM: its ItemOID); default
    the field name. Raises :class:`~myotrial.interchange.errors.InterchangeError` with every
    problem.
    """
    shown = field_names or {}
    forms = {f.name: f for f in catalogue.forms}
    events = {e.name: e for e in catalogue.events}
    built: dict[str, _Built] = {t: _Built() for t in TABLE_ORDER}
    seen: dict[tuple[str, str, str, int | None], int | None] = {}
    core_events: dict[str, list[tuple[str, int | None]]] = {}
    for e in entries:
        ev = events.get(e.event)
        if ev is None:
            valid = ", ".join(events)
            problems.add(e.source, e.row, e.record, e.event, None, e.event,
                         f"unknown event; the protocol's events are {valid}")
            continue
        form = forms.get(e.form)
        if form is None:
            problems.add(e.source, e.row, e.record, e.event, None, e.form,
                         f"unknown form; forms are {', '.join(forms)}")
            continue
        if e.form not in ev.forms:
            problems.add(e.source, e.row, e.record, e.event, None, e.form,
                         f"form {e.form} is not collected at event {e.event} "
                         f"(collected there: {', '.join(ev.forms)})")
            continue
        if form.repeating and e.instance is None:
            problems.add(e.source, e.row, e.record, e.event, None, e.form,
                         f"form {e.form} repeats: each entry needs a repeat instance")
            continue
        key = (e.record, e.event, e.form, e.instance if form.repeating else None)
        if key in seen:
            inst = f", instance {e.instance}" if form.repeating else ""
            first = seen[key]
            problems.add(e.source, e.row, e.record, e.event, None, e.form,
                         f"duplicate record-event: record {e.record}, event {e.event}, form "
                         f"{e.form}{inst} already given" + (f" at row {first}" if first else ""))
            continue
        seen[key] = e.row
        by_name = {f.name: f for f in form.fields}
        row: dict[str, str | None] = {"subject_id": e.record}
        for name, raw in e.values.items():
            fdef = by_name.get(name)
            if fdef is None:
                problems.add(e.source, e.row, e.record, e.event, shown.get(name, name), raw,
                             f"field is not on form {e.form}")
                continue
            if fdef.column == "subject_id":
                continue
            value, rule = parse_value(fdef, raw)
            if rule is not None:
                problems.add(e.source, e.row, e.record, e.event, shown.get(name, name), raw,
                             f"{fdef.label}: {rule}")
                continue
            row[fdef.column] = value
        if form.table == "visits":
            row["visit_week"] = str(ev.week)
            core_events.setdefault(e.record, []).append((e.event, e.row))
        built[form.table].rows.append(row)
        built[form.table].where.append((e.source, e.row, e.record, e.event))

    baseline = catalogue.event_for_week(0)
    for record, evs in core_events.items():
        if baseline is not None and baseline.name not in {name for name, _ in evs}:
            first_row = evs[0][1]
            problems.add(_source_of(entries), first_row,
                         record, baseline.name, "visit_week", None,
                         f"missing baseline: record {record} has assessments but no "
                         f"{baseline.name} (week 0) core set")
    problems.raise_if_any()

    tables: dict[str, pd.DataFrame] = {}
    for name in TABLE_ORDER:
        form = catalogue.form_of_table(name)
        cols = ["subject_id"] + (["visit_week"] if name == "visits" else [])
        cols += [f.column for f in form.fields if f.column not in cols]
        frame = pd.DataFrame(built[name].rows, columns=cols, dtype=object)
        keep = [c for c in cols if c in ("subject_id", "visit_week") or frame[c].notna().any()]
        tables[name] = frame[keep].reset_index(drop=True)
    _validate(tables, built, catalogue, problems, shown)
    problems.raise_if_any()
    return tables


def _source_of(entries: Sequence[Entry]) -> str:
    return entries[0].source if entries else "input"


def _validate(
    tables: dict[str, pd.DataFrame],
    built: dict[str, _Built],
    catalogue: Catalogue,
    problems: Problems,
    shown: dict[str, str],
) -> None:
    """Run the canonical validators; relocate their problems to source row/record/event/field."""

    def locate(
        table: str, row: int | None, column: str | None
    ) -> tuple[str, int | None, str | None, str | None, str | None]:
        try:
            form = catalogue.form_of_table(table)
        except KeyError:
            form = None
        fname = column
        if form is not None and column is not None:
            for f in form.fields:
                if f.column == column:
                    fname = shown.get(f.name, f.name)
                    break
        if column == "visit_week":
            fname = "event"
        where = built[table].where if table in built else []
        if row is not None and 1 <= row <= len(where):
            source, src_row, record, event = where[row - 1]
            return source, src_row, record, event, fname
        return (where[0][0] if where else "input"), None, None, None, fname

    protocol = catalogue.protocol
    checks: list[tuple[str, Callable[[pd.DataFrame], object]]] = [
        ("subjects", lambda f: validate_subjects(f, arms=protocol.arm_codes)),
        ("visits", lambda f: validate_visits(f, mmt8_max=protocol.mmt8_max,
                                             require_baseline=False)),
        ("screening", validate_screening),
        ("infusions", validate_infusions),
        ("adverse_events", validate_adverse_events),
    ]
    for table, check in checks:
        if tables[table].empty:
            continue
        try:
            check(tables[table])
        except InputValidationError as exc:
            problems.extend_from(exc, locate)
