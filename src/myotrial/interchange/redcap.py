"""REDCap: the study's data dictionary, events and instrument-event mapping, and records in.

* :func:`data_dictionary` — the REDCap data dictionary (the exact 18-column header of REDCap's
  "Upload/Download data dictionary" CSV), one instrument per catalogue form; validation types
  and min/max from the rules data; choices ``code, label | code, label``; branching logic
  ``[field] <> ''`` / ``[field] = 'code'``; the canonical column in the Field Annotation
  (``myotrial: visits.pga``).
* :func:`events_table` and :func:`instrument_event_mapping` — the longitudinal events (one per
  protocol assessment week, plus ``screening`` and ``logs``) and which instruments each holds,
  as REDCap's "Define my events" / "Designate instruments" CSV uploads.
* :func:`import_records` — a REDCap records export (CSV, raw or label headers and values,
  longitudinal, repeating instruments) into the canonical tables; every problem located by
  row, record, event and field; nothing returned (so nothing written) while any exists.
* :func:`records_from_tables` — the inverse (canonical tables -> raw records export), used for
  round trips and to load a REDCap project from existing data.
* :func:`fetch_records` — the same export pulled from the REDCap API with PyCap.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from myotrial.interchange._assemble import Entry, assemble
from myotrial.interchange.catalogue import (
    Catalogue,
    Field,
    FieldKind,
    Form,
    build_catalogue,
)
from myotrial.interchange.errors import InterchangeError, Located, Problems
from myotrial.protocol import Protocol
from myotrial.tables.subjects import parse_boolean

__all__ = [
    "DICTIONARY_HEADER",
    "REDCAP_FIELD_TYPES",
    "REDCAP_VALIDATION_TYPES",
    "catalogue_from_dictionary",
    "data_dictionary",
    "events_table",
    "fetch_records",
    "import_records",
    "instrument_event_mapping",
    "read_dictionary",
    "records_from_tables",
    "unique_event_name",
]

#: REDCap data dictionary header, exactly as REDCap writes and expects it (18 columns).
DICTIONARY_HEADER = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
#: Field types REDCap accepts in a data dictionary.
REDCAP_FIELD_TYPES = (
    "text", "notes", "dropdown", "radio", "checkbox", "calc", "file", "yesno", "truefalse",
    "descriptive", "slider", "sql",
)  # fmt: skip
#: Text validation types (REDCap's internal names) that myotrial reads and writes.
REDCAP_VALIDATION_TYPES = (
    "integer", "number", "number_1dp", "number_2dp", "number_3dp", "number_4dp", "date_ymd",
    "datetime_ymd", "datetime_seconds_ymd", "alpha_only", "email", "phone", "time", "zipcode",
)  # fmt: skip
_VALIDATION_OF: dict[FieldKind, str] = {
    "integer": "integer",
    "number": "number",
    "date": "date_ymd",
    "datetime": "datetime_ymd",
}
_KIND_OF_VALIDATION: dict[str, FieldKind] = {
    "integer": "integer",
    "number": "number",
    "number_1dp": "number",
    "number_2dp": "number",
    "number_3dp": "number",
    "number_4dp": "number",
    "date_ymd": "date",
    "datetime_ymd": "datetime",
    "datetime_seconds_ymd": "datetime",
}
_SYSTEM = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance")
_IGNORED = ("redcap_data_access_group", "redcap_survey_identifier")
_SYSTEM_LABELS = {
    "Event Name": "redcap_event_name",
    "Repeat Instrument": "redcap_repeat_instrument",
    "Repeat Instance": "redcap_repeat_instance",
    "Data Access Group": "redcap_data_access_group",
    "Survey Identifier": "redcap_survey_identifier",
}
_ANNOTATION = re.compile(r"myotrial:\s*([a-z_]+)\.([a-z0-9_]+)")
_ARM_SUFFIX = re.compile(r"_arm_\d+$")
_LABEL_ARM_SUFFIX = re.compile(r"\s*\(Arm \d+:.*\)$")


def unique_event_name(event: str, arm: int = 1) -> str:
    """REDCap's unique event name of a catalogue event (``week_4`` -> ``week_4_arm_1``)."""
    return f"{event}_arm_{arm}"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _branching(f: Field) -> str:
    if f.show_if is None:
        return ""
    if not f.show_if_values:
        return f"[{f.show_if}] <> ''"
    return " or ".join(f"[{f.show_if}] = '{v}'" for v in f.show_if_values)


def _field_type(f: Field) -> str:
    return {"boolean": "yesno", "choice": "dropdown"}.get(f.kind, "text")


def data_dictionary(protocol: Protocol | Catalogue) -> pd.DataFrame:
    """The REDCap data dictionary of the protocol (columns :data:`DICTIONARY_HEADER`)."""
    cat = protocol if isinstance(protocol, Catalogue) else build_catalogue(protocol)
    rows = []
    for form in cat.forms:
        for k, f in enumerate(form.fields):
            note = "; ".join(x for x in (f.unit, f.note) if x)
            rows.append(
                {
                    "Variable / Field Name": f.name,
                    "Form Name": form.name,
                    "Section Header": form.label if k == 0 else "",
                    "Field Type": _field_type(f),
                    "Field Label": f.label,
                    "Choices, Calculations, OR Slider Labels": " | ".join(
                        f"{c}, {label}" for c, label in f.choices
                    ),
                    "Field Note": note,
                    "Text Validation Type OR Show Slider Number": _VALIDATION_OF.get(f.kind, ""),
                    "Text Validation Min": _num(f.minimum) if f.kind in ("integer", "number")
                    else "",
                    "Text Validation Max": _num(f.maximum) if f.kind in ("integer", "number")
                    else "",
                    "Identifier?": "y" if f.identifier else "",
                    "Branching Logic (Show field only if...)": _branching(f),
                    "Required Field?": "y" if f.required else "",
                    "Custom Alignment": "",
                    "Question Number (surveys only)": "",
                    "Matrix Group Name": "",
                    "Matrix Ranking?": "",
                    "Field Annotation": f"myotrial: {form.table}.{f.column}",
                }
            )
    return pd.DataFrame(rows, columns=list(DICTIONARY_HEADER))


def events_table(protocol: Protocol | Catalogue) -> pd.DataFrame:
    """REDCap events (``Define my events`` CSV): one per protocol assessment week, plus
    screening and the logs event; day offset 7 x week, window the protocol's visit window."""
    cat = protocol if isinstance(protocol, Catalogue) else build_catalogue(protocol)
    return pd.DataFrame(
        [
            {
                "event_name": ev.label,
                "arm_num": 1,
                "day_offset": ev.day_offset,
                "offset_min": ev.window_days,
                "offset_max": ev.window_days,
                "unique_event_name": unique_event_name(ev.name),
                "custom_event_label": "",
            }
            for ev in cat.events
        ]
    )


def instrument_event_mapping(protocol: Protocol | Catalogue) -> pd.DataFrame:
    """REDCap instrument-event mapping (``arm_num, unique_event_name, form``)."""
    cat = protocol if isinstance(protocol, Catalogue) else build_catalogue(protocol)
    return pd.DataFrame(
        [
            {"arm_num": 1, "unique_event_name": unique_event_name(ev.name), "form": form}
            for ev in cat.events
            for form in ev.forms
        ]
    )


# -- reading a data dictionary ----------------------------------------------------------------


def _parse_choices(text: str) -> tuple[tuple[str, str], ...] | None:
    out = []
    for part in text.split("|"):
        if "," not in part:
            return None
        code, label = part.split(",", 1)
        if not code.strip():
            return None
        out.append((code.strip(), label.strip()))
    return tuple(out)


def read_dictionary(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read a REDCap data dictionary CSV (all text); the header must be REDCap's 18 columns."""
    if isinstance(source, pd.DataFrame):
        return source.astype(object).where(source.notna(), "").astype(str)
    p = Path(source)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    return pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def catalogue_from_dictionary(
    dictionary: str | Path | pd.DataFrame, protocol: Protocol
) -> Catalogue:
    """A catalogue whose forms and fields are the dictionary's (as deployed: validation,
    min/max and choices as edited there) and whose events are the protocol's.

    Fields without a ``myotrial: table.column`` annotation are kept: their values pass through
    to their form's table under the field name. Raises a located
    :class:`~myotrial.interchange.errors.InterchangeError` (source ``dictionary``).
    """
    frame = read_dictionary(dictionary)
    problems = Problems("REDCap data dictionary")
    header = tuple(frame.columns)
    if header != DICTIONARY_HEADER:
        problems.add("dictionary", 0, None, None, None, ", ".join(header)[:200],
                     "the header must be REDCap's 18 data dictionary columns, in order: "
                     + ", ".join(DICTIONARY_HEADER))
        problems.raise_if_any()
    base = build_catalogue(protocol)
    base_forms = {f.name: f for f in base.forms}
    fields_by_form: dict[str, list[Field]] = {}
    tables: dict[str, str] = {}
    seen: set[str] = set()
    for i, rec in enumerate(frame.to_dict("records"), start=1):
        name = rec["Variable / Field Name"].strip()
        form = rec["Form Name"].strip()
        ftype = rec["Field Type"].strip()
        validation = rec["Text Validation Type OR Show Slider Number"].strip()
        if name in seen:
            problems.add("dictionary", i, None, None, name, name, "field name appears twice")
            continue
        seen.add(name)
        if ftype in ("descriptive", "calc", "file", "sql", "slider", "checkbox"):
            if ftype == "checkbox":
                problems.add("dictionary", i, None, None, name, ftype,
                             "checkbox fields are not read (use a dropdown or yes/no field)")
            continue
        kind: FieldKind
        choices: tuple[tuple[str, str], ...] = ()
        if ftype in ("yesno", "truefalse"):
            kind = "boolean"
        elif ftype in ("dropdown", "radio"):
            kind = "choice"
            parsed = _parse_choices(rec["Choices, Calculations, OR Slider Labels"])
            if not parsed:
                problems.add("dictionary", i, None, None, name,
                             rec["Choices, Calculations, OR Slider Labels"],
                             "choices must be 'code, label | code, label'")
                continue
            choices = parsed
        elif ftype in ("text", "notes"):
            if validation and validation not in _KIND_OF_VALIDATION:
                kind = "text"
            else:
                kind = _KIND_OF_VALIDATION.get(validation, "text")
        else:
            problems.add("dictionary", i, None, None, name, ftype,
                         f"field type must be one of {', '.join(REDCAP_FIELD_TYPES)}")
            continue
        lo = hi = None
        for key, target in (("Text Validation Min", "lo"), ("Text Validation Max", "hi")):
            txt = rec[key].strip()
            if not txt or kind not in ("integer", "number"):
                continue
            try:
                number = float(txt)
            except ValueError:
                problems.add("dictionary", i, None, None, name, txt, f"{key} must be a number")
                continue
            if target == "lo":
                lo = number
            else:
                hi = number
        m = _ANNOTATION.search(rec["Field Annotation"])
        table = m.group(1) if m else (base_forms[form].table if form in base_forms else None)
        column = m.group(2) if m else name
        if table is None:
            problems.add("dictionary", i, None, None, name, form,
                         "unknown form and no 'myotrial: table.column' annotation")
            continue
        if tables.setdefault(form, table) != table:
            problems.add("dictionary", i, None, None, name, table,
                         f"form {form} already fills table {tables[form]}")
            continue
        fields_by_form.setdefault(form, []).append(
            Field(name, column, form, kind, rec["Field Label"].strip(), lo, hi, choices,
                  required=rec["Required Field?"].strip().lower() == "y")
        )
    if frame.empty or frame.iloc[0]["Variable / Field Name"].strip() != base.record_id:
        problems.add("dictionary", 1, None, None,
                     None if frame.empty else frame.iloc[0]["Variable / Field Name"], None,
                     f"the first field must be the record ID {base.record_id}")
    problems.raise_if_any()
    forms = []
    for name, flds in fields_by_form.items():
        table = tables[name]
        forms.append(
            Form(name, base_forms[name].label if name in base_forms else name, table,
                 table in ("infusions", "adverse_events"), tuple(flds))
        )
    missing = [t for t in ("subjects", "visits") if t not in tables.values()]
    if missing:
        problems.add("dictionary", None, None, None, None, None,
                     f"no form fills the {', '.join(missing)} table")
    for t in ("screening", "infusions", "adverse_events"):
        if t not in tables.values():
            forms.append(base.form_of_table(t))
    problems.raise_if_any()
    return Catalogue(protocol, base.record_id, tuple(forms), base.events)


# -- records export -> canonical ---------------------------------------------------------------


def _event_of(text: str, cat: Catalogue, labels: bool) -> str:
    t = text.strip()
    if labels:
        t = _LABEL_ARM_SUFFIX.sub("", t)
        for ev in cat.events:
            if t == ev.label:
                return ev.name
    return _ARM_SUFFIX.sub("", t)


def _header_map(
    header: list[str], cat: Catalogue, problems: Problems
) -> tuple[list[str | None], bool]:
    """Field name (or system column) of each header column; raw or label headers."""
    fields = list(cat.fields)
    names = {f.name for f in fields}
    complete = {f"{form.name}_complete" for form in cat.forms}
    record_field = cat.field(cat.record_id)
    labels = cat.record_id not in header and record_field.label in header
    out: list[str | None] = []
    pointer = 0
    for col in header:
        key = col.strip()
        if not labels:
            if key in names or key in _SYSTEM or key in _IGNORED or key in complete or (
                key.endswith("_timestamp")
            ):
                out.append(key)
            else:
                problems.add("redcap", None, None, None, key, None,
                             "unknown field: not in the data dictionary")
                out.append(None)
            continue
        if key in _SYSTEM_LABELS:
            out.append(_SYSTEM_LABELS[key])
            continue
        if key in ("Complete?", "Survey Timestamp"):
            out.append("_complete")
            continue
        found = next((j for j in range(pointer, len(fields)) if fields[j].label == key), None)
        if found is None:
            found = next((j for j in range(len(fields)) if fields[j].label == key), None)
        if found is None:
            problems.add("redcap", None, None, None, key, None,
                         "unknown field: no field of the data dictionary has this label")
            out.append(None)
            continue
        out.append(fields[found].name)
        pointer = found + 1
    return out, labels


def import_records(
    records: str | Path | pd.DataFrame,
    catalogue: Catalogue | Protocol,
) -> dict[str, pd.DataFrame]:
    """A REDCap records export (flat CSV; raw or label headers and values) -> canonical tables.

    Returns ``subjects``, ``screening``, ``visits``, ``infusions`` and ``adverse_events``
    (columns with no value at all are left out; extra dictionary fields pass through).

    Raises
    ------
    InterchangeError
        Every problem located by row (1-based data line), record, event and field: unknown
        fields, unknown events, duplicate record-events, values of the wrong type, outside the
        dictionary's range or not a choice, fields entered at an event whose instruments do not
        include them, records without a baseline, and every canonical-table rule.
    """
    cat = catalogue if isinstance(catalogue, Catalogue) else build_catalogue(catalogue)
    if isinstance(records, pd.DataFrame):
        frame = records.astype(object).where(records.notna(), "").astype(str)
    else:
        p = Path(records)
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file")
        frame = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    problems = Problems("REDCap records export")
    header = [str(c) for c in frame.columns]
    mapped, labels = _header_map(header, cat, problems)
    if cat.record_id not in mapped:
        problems.add("redcap", None, None, None, cat.record_id, None,
                     "the export has no record ID column")
    if "redcap_event_name" not in mapped:
        problems.add("redcap", None, None, None, "redcap_event_name", None,
                     "the export has no event column (a longitudinal export is expected)")
    if cat.record_id not in mapped or "redcap_event_name" not in mapped:
        problems.raise_if_any()
    forms = {f.name: f for f in cat.forms}
    form_labels = {f.label: f.name for f in cat.forms}
    field_form = {f.name: f.form for f in cat.fields}
    events = {e.name: e for e in cat.events}
    entries: list[Entry] = []
    values = frame.to_numpy(dtype=object)
    for i, raw_row in enumerate(values, start=1):
        row = {
            name: str(v)
            for name, v in zip(mapped, raw_row, strict=True)
            if name is not None
        }
        record = row.get(cat.record_id, "").strip()
        event = _event_of(row.get("redcap_event_name", ""), cat, labels)
        if not record:
            problems.add("redcap", i, None, event, cat.record_id, "", "record ID is blank")
            continue
        rep_form = row.get("redcap_repeat_instrument", "").strip()
        if labels and rep_form in form_labels:
            rep_form = form_labels[rep_form]
        rep_inst_txt = row.get("redcap_repeat_instance", "").strip()
        instance: int | None = None
        if rep_inst_txt:
            if not rep_inst_txt.isdigit() or int(rep_inst_txt) < 1:
                problems.add("redcap", i, record, event, "redcap_repeat_instance", rep_inst_txt,
                             "repeat instance must be a whole number >= 1")
                continue
            instance = int(rep_inst_txt)
        given = {
            k: v for k, v in row.items()
            if k in field_form and k != cat.record_id and v.strip() != ""
        }
        ev = events.get(event)
        if ev is None:
            problems.add("redcap", i, record, event, "redcap_event_name",
                         row.get("redcap_event_name"),
                         "unknown event; events are "
                         + ", ".join(unique_event_name(e) for e in events))
            continue
        if rep_form:
            if rep_form not in forms:
                problems.add("redcap", i, record, event, "redcap_repeat_instrument", rep_form,
                             "unknown repeating instrument")
                continue
            for k, v in given.items():
                if field_form[k] != rep_form:
                    problems.add("redcap", i, record, event, k, v,
                                 f"field of form {field_form[k]} given on a row of the "
                                 f"repeating instrument {rep_form}")
            entries.append(
                Entry("redcap", i, record, event, rep_form, instance,
                      {k: v for k, v in given.items() if field_form[k] == rep_form})
            )
            continue
        by_form: dict[str, dict[str, str]] = {}
        for k, v in given.items():
            by_form.setdefault(field_form[k], {})[k] = v
        for form_name, vals in by_form.items():
            if form_name not in ev.forms:
                for k, v in vals.items():
                    problems.add("redcap", i, record, event, k, v,
                                 f"field of form {form_name}, which is not collected at event "
                                 f"{unique_event_name(event)}")
                continue
            entries.append(Entry("redcap", i, record, event, form_name, None, vals))
    return assemble(entries, cat, problems)


# -- canonical -> records export ---------------------------------------------------------------


def _export_value(f: Field, value: object) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    if f.kind == "boolean":
        try:
            b = parse_boolean(value)
        except ValueError:
            return str(value)
        return "" if b is None else ("1" if b else "0")
    if f.kind == "datetime":
        return str(value).replace("T", " ")
    if isinstance(value, float):
        return f"{value:.15g}"
    return str(value)


def records_from_tables(
    tables: Mapping[str, pd.DataFrame], catalogue: Catalogue | Protocol
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Canonical tables -> a raw REDCap records export (flat, longitudinal, repeating).

    Returns the records and, per table, the columns the dictionary has no field for (reported,
    not silently lost). Visits at weeks that are not events of the protocol are an error.
    """
    cat = catalogue if isinstance(catalogue, Catalogue) else build_catalogue(catalogue)
    problems = Problems("canonical tables")
    fields = [f for f in cat.fields]
    columns = [cat.record_id, *_SYSTEM] + [f.name for f in fields if f.name != cat.record_id]
    columns += [f"{form.name}_complete" for form in cat.forms]
    rows: list[dict[str, str]] = []
    unmapped: dict[str, list[str]] = {}
    by_table: dict[str, list[Form]] = {}
    for form in cat.forms:
        by_table.setdefault(form.table, []).append(form)
    order: dict[str, int] = {}
    for name, frame in tables.items():
        if name not in by_table or frame is None:
            continue
        known = {f.column for form in by_table[name] for f in form.fields}
        known |= {"subject_id", "visit_week"}
        unmapped[name] = [c for c in frame.columns if c not in known]
    screening_rows: dict[str, dict[str, str]] = {}
    for table in ("subjects", "screening"):
        enrol = tables.get(table)
        if enrol is None:
            continue
        for rec in enrol.to_dict("records"):
            sid = str(rec["subject_id"])
            order.setdefault(sid, len(order))
            row = screening_rows.setdefault(
                sid, {cat.record_id: sid, "redcap_event_name": unique_event_name("screening")}
            )
            for form in by_table[table]:
                for f in form.fields:
                    if f.column in rec and f.name != cat.record_id:
                        row[f.name] = _export_value(f, rec[f.column])
                row[f"{form.name}_complete"] = "2"
    rows.extend(screening_rows.values())
    visits = tables.get("visits")
    if visits is not None:
        for i, rec in enumerate(visits.to_dict("records"), start=1):
            week = pd.to_numeric(pd.Series([rec["visit_week"]]), errors="coerce").iloc[0]
            ev = None if pd.isna(week) else cat.event_for_week(int(week))
            if ev is None:
                problems.add("visits", i, rec["subject_id"], rec["visit_week"], "visit_week",
                             rec["visit_week"], "not an assessment week of the protocol")
                continue
            sid = str(rec["subject_id"])
            order.setdefault(sid, len(order))
            row = {cat.record_id: sid, "redcap_event_name": unique_event_name(ev.name)}
            for form in by_table["visits"]:
                for f in form.fields:
                    if f.column in rec:
                        row[f.name] = _export_value(f, rec[f.column])
                row[f"{form.name}_complete"] = "2"
            rows.append(row)
    for table in ("infusions", "adverse_events"):
        log = tables.get(table)
        if log is None:
            continue
        form = by_table[table][0]
        counter: dict[str, int] = {}
        for rec in log.to_dict("records"):
            sid = str(rec["subject_id"])
            order.setdefault(sid, len(order))
            counter[sid] = counter.get(sid, 0) + 1
            row = {
                cat.record_id: sid,
                "redcap_event_name": unique_event_name("logs"),
                "redcap_repeat_instrument": form.name,
                "redcap_repeat_instance": str(counter[sid]),
            }
            for f in form.fields:
                if f.column in rec:
                    row[f.name] = _export_value(f, rec[f.column])
            row[f"{form.name}_complete"] = "2"
            rows.append(row)
    problems.raise_if_any()
    event_rank = {unique_event_name(e.name): k for k, e in enumerate(cat.events)}
    out = pd.DataFrame(rows, columns=columns, dtype=object).fillna("")
    out["_o"] = out[cat.record_id].map(order)
    out["_e"] = out["redcap_event_name"].map(event_rank)
    out = out.sort_values(["_o", "_e"], kind="stable").drop(columns=["_o", "_e"])
    return out.reset_index(drop=True), unmapped


# -- API ---------------------------------------------------------------------------------------


def fetch_records(api_url: str, token: str) -> pd.DataFrame:
    """Pull the raw flat records export from the REDCap API (PyCap), as text."""
    import requests
    from redcap.project import Project
    from redcap.request import RedcapError

    try:
        project = Project(api_url, token)
        text = project.export_records(
            format_type="csv", raw_or_label="raw", raw_or_label_headers="raw"
        )
    except (RedcapError, requests.RequestException) as exc:
        raise InterchangeError(
            [Located(api_url, None, None, None, None, None, f"REDCap API: {str(exc)[:300]}")],
            "REDCap API",
        ) from None
    return pd.read_csv(io.StringIO(str(text)), dtype=str, keep_default_na=False)
