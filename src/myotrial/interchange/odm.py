"""CDISC ODM 1.3.2: the protocol's study metadata out, ClinicalData in and out (odmlib).

Export (:func:`build_odm`): ``Study`` with ``GlobalVariables``, ``BasicDefinitions`` (units)
and one ``MetaDataVersion`` — ``Protocol`` (event order), one ``StudyEventDef`` per catalogue
event (``SE.SCREENING``, ``SE.WEEK_0`` ...), one ``FormDef`` and ``ItemGroupDef`` per form
(``F.CORE_SET`` / ``IG.CORE_SET``; infusions and adverse events repeat), one ``ItemDef`` per field
(``IT.PGA``: data type, question, unit, hard ``RangeCheck`` from the rules data, ``CodeListRef``)
and the code lists (arms from the protocol, vocabularies). With tables, ``ClinicalData`` holds
``SubjectData / StudyEventData / FormData / ItemGroupData (repeat key) / ItemData``.

Import (:func:`import_odm`): the ClinicalData of an ODM 1.3.2 file into the canonical tables;
malformed XML, unknown OIDs, duplicate subject-events and bad values are located errors
(``row`` = XML line of the ItemGroupData).
"""

from __future__ import annotations

import datetime as dt
import xml.parsers.expat
from collections.abc import Mapping
from pathlib import Path

import odmlib.loader as odm_loader_facade
import odmlib.odm_1_3_2.model as om
import odmlib.odm_loader as odm_loader
import pandas as pd

from myotrial.interchange._assemble import Entry, assemble
from myotrial.interchange.catalogue import Catalogue, Field, build_catalogue
from myotrial.interchange.errors import Problems
from myotrial.interchange.redcap import records_from_tables, unique_event_name
from myotrial.protocol import Protocol

__all__ = [
    "ODM_NAMESPACE",
    "build_odm",
    "event_oid",
    "form_oid",
    "import_odm",
    "item_oid",
    "write_odm",
]

ODM_NAMESPACE = "http://www.cdisc.org/ns/odm/v1.3"
_DATA_TYPE = {
    "text": "text",
    "integer": "integer",
    "number": "float",
    "date": "date",
    "datetime": "datetime",
    "boolean": "boolean",
    "choice": "text",
}


def event_oid(name: str) -> str:
    return f"SE.{name.upper()}"


def form_oid(name: str) -> str:
    return f"F.{name.upper()}"


def group_oid(name: str) -> str:
    return f"IG.{name.upper()}"


def item_oid(name: str) -> str:
    return f"IT.{name.upper()}"


def _tt(text: str) -> om.TranslatedText:
    return om.TranslatedText(_content=text, lang="en")


def _unit_oid(unit: str) -> str:
    return "MU." + "".join(ch if ch.isalnum() else "_" for ch in unit.upper())


def _item_def(f: Field) -> om.ItemDef:
    item = om.ItemDef(OID=item_oid(f.name), Name=f.name, DataType=_DATA_TYPE[f.kind])
    if f.kind in ("text", "choice"):
        item.Length = 200
    item.Question = om.Question(TranslatedText=[_tt(f.label)])
    item.Description = om.Description(TranslatedText=[_tt(f"{f.label} ({f.form}.{f.column})")])
    if f.unit:
        item.MeasurementUnitRef.append(om.MeasurementUnitRef(MeasurementUnitOID=_unit_oid(f.unit)))
    for comparator, bound in (("GE", f.minimum), ("LE", f.maximum)):
        if bound is None or f.kind not in ("integer", "number"):
            continue
        rc = om.RangeCheck(Comparator=comparator, SoftHard="Hard")
        rc.CheckValue.append(om.CheckValue(_content=f"{bound:g}"))
        rc.ErrorMessage = om.ErrorMessage(
            TranslatedText=[_tt(f"{f.label} must be {'>=' if comparator == 'GE' else '<='} "
                                f"{bound:g}")]
        )
        item.RangeCheck.append(rc)
    if f.choices:
        item.CodeListRef = om.CodeListRef(CodeListOID=f"CL.{f.name.upper()}")
    return item


def build_odm(
    protocol: Protocol | Catalogue,
    tables: Mapping[str, pd.DataFrame] | None = None,
    *,
    created: dt.datetime | None = None,
) -> om.ODM:
    """The ODM 1.3.2 document of the protocol's study metadata (and ClinicalData of
    ``tables`` when given). ``created`` fixes CreationDateTime (default: now, UTC)."""
    cat = protocol if isinstance(protocol, Catalogue) else build_catalogue(protocol)
    proto = cat.protocol
    stamp = (created or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat()
    odm = om.ODM(
        FileOID=f"ODM.{proto.name.upper()}",
        FileType="Snapshot",
        Granularity="All" if tables is not None else "Metadata",
        CreationDateTime=stamp,
        ODMVersion="1.3.2",
        Originator="myotrial",
        SourceSystem="myotrial",
    )
    study = om.Study(OID=f"ST.{proto.name.upper()}")
    study.GlobalVariables = om.GlobalVariables(
        StudyName=om.StudyName(_content=proto.name),
        StudyDescription=om.StudyDescription(_content=f"{proto.title}. {proto.citation}"),
        ProtocolName=om.ProtocolName(_content=proto.name),
    )
    units = sorted({f.unit for f in cat.fields if f.unit})
    if units:
        study.BasicDefinitions = om.BasicDefinitions()
        for u in units:
            study.BasicDefinitions.MeasurementUnit.append(
                om.MeasurementUnit(OID=_unit_oid(u), Name=u,
                                    Symbol=om.Symbol(TranslatedText=[_tt(u)]))
            )
    mdv = om.MetaDataVersion(OID=f"MDV.{proto.name.upper()}", Name=f"{proto.name} metadata",
                              Description=proto.title)
    mdv.Protocol = om.Protocol()
    for k, ev in enumerate(cat.events, start=1):
        mdv.Protocol.StudyEventRef.append(
            om.StudyEventRef(StudyEventOID=event_oid(ev.name), OrderNumber=k, Mandatory="No")
        )
    for ev in cat.events:
        sed = om.StudyEventDef(OID=event_oid(ev.name), Name=ev.label, Repeating="No",
                                Type="Scheduled" if ev.week is not None else "Common")
        for k, fname in enumerate(ev.forms, start=1):
            sed.FormRef.append(om.FormRef(FormOID=form_oid(fname), OrderNumber=k,
                                           Mandatory="No"))
        mdv.StudyEventDef.append(sed)
    for form in cat.forms:
        fd = om.FormDef(OID=form_oid(form.name), Name=form.label, Repeating="No")
        fd.ItemGroupRef.append(om.ItemGroupRef(ItemGroupOID=group_oid(form.name),
                                                Mandatory="Yes"))
        mdv.FormDef.append(fd)
    for form in cat.forms:
        ig = om.ItemGroupDef(OID=group_oid(form.name), Name=form.label,
                              Repeating="Yes" if form.repeating else "No")
        for k, f in enumerate(form.fields, start=1):
            ig.ItemRef.append(om.ItemRef(ItemOID=item_oid(f.name), OrderNumber=k,
                                          Mandatory="Yes" if f.required else "No"))
        mdv.ItemGroupDef.append(ig)
    for f in cat.fields:
        mdv.ItemDef.append(_item_def(f))
    for f in cat.fields:
        if not f.choices:
            continue
        cl = om.CodeList(OID=f"CL.{f.name.upper()}", Name=f.label, DataType="text")
        for code, label in f.choices:
            cl.CodeListItem.append(
                om.CodeListItem(CodedValue=code, Decode=om.Decode(TranslatedText=[_tt(label)]))
            )
        mdv.CodeList.append(cl)
    study.MetaDataVersion.append(mdv)
    odm.Study.append(study)
    if tables is not None:
        odm.ClinicalData.append(_clinical_data(cat, tables, study.OID or "", mdv.OID or ""))
    return odm


def _odm_value(f: Field, text: str) -> str:
    if f.kind == "datetime":
        iso = text.replace(" ", "T")
        return iso if len(iso) > 16 else f"{iso}:00"
    if f.kind == "boolean":
        return {"1": "true", "0": "false"}.get(text, text)
    return text


def _clinical_data(
    cat: Catalogue, tables: Mapping[str, pd.DataFrame], study_oid: str, mdv_oid: str
) -> om.ClinicalData:
    records, _ = records_from_tables(tables, cat)
    cd = om.ClinicalData(StudyOID=study_oid, MetaDataVersionOID=mdv_oid)
    by_event_name = {unique_event_name(e.name): e for e in cat.events}
    fields = {f.name: f for f in cat.fields}
    subjects: dict[str, om.SubjectData] = {}
    events: dict[tuple[str, str], om.StudyEventData] = {}
    for rec in records.to_dict("records"):
        sid = str(rec[cat.record_id])
        ev = by_event_name[str(rec["redcap_event_name"])]
        sd = subjects.get(sid)
        if sd is None:
            sd = subjects[sid] = om.SubjectData(SubjectKey=sid)
            cd.SubjectData.append(sd)
        sed = events.get((sid, ev.name))
        if sed is None:
            sed = events[(sid, ev.name)] = om.StudyEventData(StudyEventOID=event_oid(ev.name))
            sd.StudyEventData.append(sed)
        rep = str(rec["redcap_repeat_instrument"])
        for form_name in ev.forms:
            if rep and form_name != rep:
                continue
            form = cat.form(form_name)
            items = [
                om.ItemData(ItemOID=item_oid(f.name), Value=_odm_value(f, str(rec[f.name])))
                for f in form.fields
                if f.name != cat.record_id and str(rec.get(f.name, "")) != ""
            ]
            if not items:
                continue
            fd = next((x for x in sed.FormData if x.FormOID == form_oid(form_name)), None)
            if fd is None:
                fd = om.FormData(FormOID=form_oid(form_name))
                sed.FormData.append(fd)
            igd = om.ItemGroupData(ItemGroupOID=group_oid(form_name))
            if form.repeating:
                igd.ItemGroupRepeatKey = str(rec["redcap_repeat_instance"])
            for item in items:
                igd.ItemData.append(item)
            fd.ItemGroupData.append(igd)
    del fields
    return cd


def _item_group_lines(path: Path, problems: Problems) -> list[int] | None:
    """Line of every ItemGroupData start tag, in document order; located error if malformed."""
    lines: list[int] = []
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")

    def start(name: str, attrs: object) -> None:
        if name.endswith("ItemGroupData"):
            lines.append(parser.CurrentLineNumber)

    parser.StartElementHandler = start
    try:
        with path.open("rb") as fh:
            parser.ParseFile(fh)
    except xml.parsers.expat.ExpatError as exc:
        problems.add("odm", exc.lineno, None, None, None, None,
                     f"malformed XML: {xml.parsers.expat.ErrorString(exc.code)} "
                     f"(line {exc.lineno}, column {exc.offset})")
        return None
    return lines


def import_odm(path: str | Path, protocol: Protocol | Catalogue) -> dict[str, pd.DataFrame]:
    """ClinicalData of an ODM 1.3.2 file -> canonical tables (see the module docstring).

    Raises
    ------
    InterchangeError
        Located by XML line, SubjectKey, StudyEventOID and ItemOID.
    """
    cat = protocol if isinstance(protocol, Catalogue) else build_catalogue(protocol)
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    problems = Problems("ODM file")
    lines = _item_group_lines(p, problems)
    problems.raise_if_any()
    assert lines is not None
    loader = odm_loader_facade.ODMLoader(odm_loader.XMLODMLoader(model_package="odm_1_3_2"))
    try:
        loader.open_odm_document(str(p))
        root = loader.root()
    except Exception as exc:  # odmlib raises its own types for structural problems
        problems.add("odm", None, None, None, None, None, f"not an ODM 1.3.2 document: {exc}")
        problems.raise_if_any()
        raise
    events = {event_oid(e.name): e.name for e in cat.events}
    forms = {form_oid(f.name): f.name for f in cat.forms}
    groups = {group_oid(f.name): f.name for f in cat.forms}
    items = {item_oid(f.name): f.name for f in cat.fields}
    shown = {f.name: item_oid(f.name) for f in cat.fields}
    entries: list[Entry] = []
    k = 0
    clinical = list(root.ClinicalData)
    if not clinical:
        problems.add("odm", None, None, None, None, None, "the file has no ClinicalData")
    for cd in clinical:
        for sd in cd.SubjectData:
            sid = sd.SubjectKey or ""
            for sed in sd.StudyEventData:
                se_oid = sed.StudyEventOID or ""
                ev = events.get(se_oid)
                for fd in sed.FormData:
                    f_oid = fd.FormOID or ""
                    for igd in fd.ItemGroupData:
                        line = lines[k] if k < len(lines) else None
                        k += 1
                        where_ev = se_oid + (
                            f"[{sed.StudyEventRepeatKey}]" if sed.StudyEventRepeatKey else ""
                        )
                        if ev is None:
                            problems.add("odm", line, sid, where_ev, None, se_oid,
                                         "unknown StudyEventOID; valid: " + ", ".join(events))
                            continue
                        form = forms.get(f_oid)
                        if form is None or groups.get(igd.ItemGroupOID or "") != form:
                            problems.add("odm", line, sid, where_ev, None,
                                         f"{f_oid}/{igd.ItemGroupOID}",
                                         "unknown FormOID or ItemGroupOID for that form")
                            continue
                        values: dict[str, str] = {}
                        for item in igd.ItemData:
                            name = items.get(item.ItemOID or "")
                            if name is None:
                                problems.add("odm", line, sid, where_ev, item.ItemOID,
                                             item.Value, "unknown ItemOID: not in the study's "
                                             "metadata")
                                continue
                            if name in values:
                                problems.add("odm", line, sid, where_ev, item.ItemOID,
                                             item.Value, "item given twice in one item group")
                                continue
                            values[name] = item.Value or ""
                        rep = igd.ItemGroupRepeatKey
                        instance: int | None = None
                        if rep is not None:
                            if not str(rep).isdigit() or int(rep) < 1:
                                problems.add("odm", line, sid, where_ev, "ItemGroupRepeatKey",
                                             rep, "repeat key must be a whole number >= 1")
                                continue
                            instance = int(rep)
                        if sed.StudyEventRepeatKey and cat.form(form).table == "visits":
                            problems.add("odm", line, sid, where_ev, "StudyEventRepeatKey",
                                         sed.StudyEventRepeatKey,
                                         "assessment events do not repeat (one per week)")
                            continue
                        entries.append(Entry("odm", line, sid, ev, form, instance, values))
    return assemble(entries, cat, problems, field_names=shown)


def write_odm(document: om.ODM, path: str | Path) -> Path:
    """Write ``document`` as XML (via a temporary file, replaced atomically)."""
    import os
    import tempfile

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        document.write_xml(tmp)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
