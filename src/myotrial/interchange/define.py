"""define.xml 2.1 of the ADaM datasets (odmlib ``define_2_1``), validated against the
Define-XML 2.1 schema shipped with odmlib.

Every dataset (``ItemGroupDef`` with ``def:Structure``, ``def:Class``, keys, ``def:leaf`` to its
transport file) and every variable (``ItemDef``: data type, length, SAS name, display format,
label, ``def:Origin``; ``MethodDef`` with the derivation text from the protocol and rules) is
described; flags and PARAMCD have code lists; the PARAMCD list decodes to PARAM and its
derivation.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import odmlib.define_2_1.model as dm

from myotrial.interchange.adam import AdamDataset
from myotrial.interchange.errors import Problems
from myotrial.protocol import Protocol

__all__ = ["build_define", "define_schema", "validate_define"]

_DATA_TYPE = {"text": "text", "integer": "integer", "float": "float", "date": "date",
              "datetime": "datetime"}  # fmt: skip


def _desc(text: str) -> dm.Description:
    return dm.Description(TranslatedText=[dm.TranslatedText(_content=text, lang="en")])


def build_define(
    datasets: Sequence[AdamDataset],
    protocol: Protocol,
    *,
    created: dt.datetime | None = None,
    leaf_ext: str = "xpt",
) -> dm.ODM:
    """The define.xml 2.1 document describing ``datasets`` (see the module docstring)."""
    stamp = (created or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    odm = dm.ODM(
        FileOID=f"DEF.{protocol.name.upper()}.ADAM",
        FileType="Snapshot",
        CreationDateTime=stamp.strftime("%Y-%m-%dT%H:%M:%S"),
        ODMVersion="1.3.2",
        Originator="myotrial",
        SourceSystem="myotrial",
        Context="Submission",
    )
    study = dm.Study(OID=f"ST.{protocol.name.upper()}")
    study.GlobalVariables = dm.GlobalVariables(
        StudyName=dm.StudyName(_content=protocol.name),
        StudyDescription=dm.StudyDescription(_content=f"{protocol.title}. {protocol.citation}"),
        ProtocolName=dm.ProtocolName(_content=protocol.name),
    )
    mdv = dm.MetaDataVersion(
        OID=f"MDV.{protocol.name.upper()}.ADAM",
        Name=f"{protocol.name} ADaM",
        Description=f"ADaM datasets of {protocol.title}",
        DefineVersion="2.1.0",
    )
    mdv.Standards = dm.Standards()
    mdv.Standards.Standard.append(
        dm.Standard(OID="STD.ADAMIG", Name="ADaMIG", Type="IG", Version="1.1", Status="Final")
    )
    codelists: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for ds in datasets:
        ig = dm.ItemGroupDef(
            OID=f"IG.{ds.name}",
            Name=ds.name,
            Repeating="No" if ds.name == "ADSL" else "Yes",
            IsReferenceData="No",
            SASDatasetName=ds.name,
            Purpose="Analysis",
            Structure=ds.structure,
            StandardOID="STD.ADAMIG",
            ArchiveLocationID=f"LF.{ds.name}",
        )
        ig.Description = _desc(ds.label)
        for k, v in enumerate(ds.variables, start=1):
            ref = dm.ItemRef(ItemOID=f"IT.{ds.name}.{v.name}", OrderNumber=k,
                             Mandatory="Yes" if v.key is not None else "No")
            if v.key is not None:
                ref.KeySequence = v.key
            if v.derivation and v.origin == "Derived":
                ref.MethodOID = f"MT.{ds.name}.{v.name}"
            ig.ItemRef.append(ref)
        ig.Class = dm.Class(Name=ds.adam_class)
        ig.leaf = dm.leaf(ID=f"LF.{ds.name}", href=f"{ds.name.lower()}.{leaf_ext}",
                          title=dm.title(_content=f"{ds.name.lower()}.{leaf_ext}"))
        mdv.ItemGroupDef.append(ig)
    for ds in datasets:
        for v in ds.variables:
            item = dm.ItemDef(OID=f"IT.{ds.name}.{v.name}", Name=v.name,
                              DataType=_DATA_TYPE[v.type], SASFieldName=v.name)
            if v.type == "text":
                item.Length = max(v.length, 1)
            elif v.type in ("integer", "float"):
                item.Length = 8
            if v.display_format:
                item.DisplayFormat = v.display_format
            item.Description = _desc(v.label)
            origin = dm.Origin(Type=v.origin)
            if v.origin == "Predecessor":
                origin.Description = _desc(v.derivation)
            item.Origin.append(origin)
            values: list[tuple[str, str]] = []
            if v.name.endswith("FL") and v.type == "text":
                values = [("Y", "Yes")] + ([("N", "No")] if ds.name == "ADSL" else [])
                cl_oid = "CL.NY" if ds.name == "ADSL" else "CL.Y"
                codelists.setdefault(cl_oid, ("No Yes Response" if ds.name == "ADSL"
                                              else "Yes Response", values))
                item.CodeListRef = dm.CodeListRef(CodeListOID=cl_oid)
            elif v.name == "PARAMCD" and ds.parameters:
                cl_oid = f"CL.{ds.name}.PARAMCD"
                codelists[cl_oid] = (f"{ds.name} Parameter Codes",
                                     [(c, label) for c, label, _ in ds.parameters])
                item.CodeListRef = dm.CodeListRef(CodeListOID=cl_oid)
            mdv.ItemDef.append(item)
    for oid, (name, values) in codelists.items():
        cl = dm.CodeList(OID=oid, Name=name, DataType="text")
        for code, decode in values:
            cl.CodeListItem.append(
                dm.CodeListItem(CodedValue=code, Decode=dm.Decode(
                    TranslatedText=[dm.TranslatedText(_content=decode, lang="en")]))
            )
        mdv.CodeList.append(cl)
    for ds in datasets:
        params = "; ".join(f"{c}: {rule}" for c, _, rule in ds.parameters if rule)
        for v in ds.variables:
            if not (v.derivation and v.origin == "Derived"):
                continue
            text = v.derivation
            if v.name == "AVAL" and params:
                text = f"{text}. {params}"
            mdv.MethodDef.append(
                dm.MethodDef(OID=f"MT.{ds.name}.{v.name}", Name=f"Algorithm for {ds.name}."
                             f"{v.name}", Type="Computation", Description=_desc(text))
            )
    study.MetaDataVersion = mdv
    odm.Study = study
    return odm


@functools.cache
def define_schema(validation: str = "skip") -> Any:
    """The Define-XML 2.1 schema (odmlib's XSD files), built once per process.

    ``validation="skip"``: the XSD files themselves are not checked against the XSD
    meta-schema (xmlschema's default ``"strict"`` does that on every build: about 0.3 s). They
    are fixed files shipped with odmlib, and the check does not change what a document is
    validated against (``tests/test_interchange_adam.py`` compares both on broken documents).
    """
    import xmlschema
    from odmlib.schema_manager import get_schema_path

    return xmlschema.XMLSchema(get_schema_path("define", "2.1"), validation=validation)


def validate_define(path: str | Path) -> None:
    """Validate a define.xml file against the Define-XML 2.1 schema (odmlib's XSD); every
    violation located by XML path (:class:`~myotrial.interchange.errors.InterchangeError`)."""
    schema = define_schema()
    problems = Problems("define.xml")
    for err in schema.iter_errors(str(path)):
        problems.add("define.xml", getattr(err, "sourceline", None), None, None, err.path,
                     None, f"Define-XML 2.1 schema: {str(err.reason)[:200]}")
    problems.raise_if_any()
