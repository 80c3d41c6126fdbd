"""CDISC ADaM out: ADSL, ADRS, ADEFF, ADTTE and ADAE as SAS XPORT v5 and Dataset-JSON 1.1.

Metadata-driven: every column of the derived tables is exported (nothing dropped), each with a
name, label, type, length, display format and derivation from :func:`variable_metadata`:

* known variables carry their label and a derivation text built from the protocol and rules
  (thresholds, weeks, clauses: never written again here);
* ADaM numbered variables are recognised by pattern (``TRTxxP/A``, ``APxxSDT/EDT``,
  ``APxxSWK/EWK``, ``TRxxSDT``...), so columns the derivation adds later are labelled too;
* any other column keeps its data under an XPT-safe name (upper case, 8 characters, made
  unique) and its original name as label.

Transport rules (SAS XPORT version 5, FDA Technical Conformance Guide): names <= 8 characters
(letters, digits, underscore, starting with a letter), labels <= 40 characters, character
values ASCII and <= 200 bytes (longer texts are split at word boundaries into ``NAME``,
``NAME1``, ``NAME2``..., ADaM IG 3.1.6), dates as SAS numeric dates with ``DATE9.`` (date-times
``DATETIME20.``). ADaM naming checks: PARAMCD <= 8 characters, AVAL numeric and AVALC
character, flags (``*FL``) ``Y``/``N`` in ADSL and ``Y``/blank elsewhere. A violation is a
located error (dataset, row, variable) and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import tempfile
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from myotrial.interchange.errors import Problems
from myotrial.protocol import BinaryEndpoint, Protocol, TimeToEventEndpoint
from myotrial.rules import load_deterioration_rules, load_tis_rules

__all__ = [
    "DATASET_JSON_VERSION",
    "AdamDataset",
    "Variable",
    "build_adam",
    "dataset_json_schema",
    "derive_adae",
    "endpoint_paramcd",
    "read_dataset_json",
    "read_xpt",
    "to_dataset_json",
    "validate_dataset_json",
    "write_adam",
    "write_xpt",
]

DATASET_JSON_VERSION = "1.1.0"
VarType = Literal["text", "integer", "float", "date", "datetime"]
_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
_ASCII = {"≥": ">=", "≤": "<=", "—": "-", "–": "-", "×": "x", "→": "->", "’": "'", "“": '"',
          "”": '"', "…": "..."}  # fmt: skip
_MAX_BYTES = 200


@dataclass(frozen=True)
class Variable:
    """One ADaM variable: XPT/define name, the derived-table column it comes from, metadata."""

    name: str
    source: str
    label: str
    type: VarType
    length: int
    display_format: str = ""
    derivation: str = ""
    origin: Literal["Derived", "Predecessor", "Assigned"] = "Derived"
    codelist: tuple[str, ...] = ()
    key: int | None = None


@dataclass(frozen=True)
class AdamDataset:
    """One ADaM dataset ready for transport: ``data`` has one column per variable (named by
    :attr:`Variable.name`): text as ``str`` ('' = blank), numbers as float, dates as
    :class:`datetime.date` (``None`` = missing), date-times as :class:`datetime.datetime`."""

    name: str
    label: str
    structure: str
    adam_class: str
    variables: tuple[Variable, ...]
    data: pd.DataFrame
    parameters: tuple[tuple[str, str, str], ...] = field(default=())  # PARAMCD, PARAM, derivation

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)


# -- metadata ----------------------------------------------------------------------------------

_DATASETS = {
    "adsl": ("ADSL", "Subject-Level Analysis Dataset", "One record per subject",
             "SUBJECT LEVEL ANALYSIS DATASET", ("USUBJID",)),
    "adrs": ("ADRS", "Responder Analysis Dataset", "One record per subject per parameter",
             "BASIC DATA STRUCTURE", ("USUBJID", "PARAMCD")),
    "adeff": ("ADEFF", "Efficacy Analysis Dataset",
              "One record per subject per parameter per analysis visit",
              "BASIC DATA STRUCTURE", ("USUBJID", "PARAMCD", "AVISITN")),
    "adtte": ("ADTTE", "Time-to-Event Analysis Dataset", "One record per subject per parameter",
              "BASIC DATA STRUCTURE", ("USUBJID", "PARAMCD")),
    "adae": ("ADAE", "Adverse Events Analysis Dataset", "One record per adverse event",
             "OCCURRENCE DATA STRUCTURE", ("USUBJID", "AESEQ")),
}  # fmt: skip

_RENAME = {
    "STATUS_REASON": "STATRSN",
    "POPULATION": "ANLPOP",
    "randomisation_date": "RANDDT",
    "weight_kg": "WEIGHTBL",
    "data_source": "DATASRC",
}


def _labels(p: Protocol) -> dict[str, tuple[str, str]]:
    """Label and derivation of the known variables, from the protocol and rules."""
    det = load_deterioration_rules(p.deterioration_rules)
    tis = load_tis_rules()
    ext = p.extension_arm
    rand_end = p.randomised_end_week
    clauses = "; ".join(f"{k[-1].upper()}: {v}" for k, v in det.verbatim.items() if v)
    cd_rule = (
        f"confirmed deterioration ({det.citation}; clauses {clauses}) on "
        f"{p.consecutive_visits} consecutive visits, confirming visit at or after week "
        f"{p.earliest_week:g}"
    )
    arms = ", ".join(f"{a.code} = {a.label}" for a in p.arms)
    return {
        "STUDYID": ("Study Identifier", f"Protocol name ({p.name})"),
        "USUBJID": ("Unique Subject Identifier", "subjects.subject_id"),
        "SITEID": ("Study Site Identifier", "subjects.site_id"),
        "ARM": ("Description of Planned Arm", f"Label of the randomised arm ({arms})"),
        "ARMCD": ("Planned Arm Code", f"subjects.arm: protocol arm code ({arms})"),
        "TRTSEQ": ("Treatment Sequence", f"randomised arm, '->{ext}' after a crossover, "
                   f"'->{ext} (OLE)' on entering the open-label extension after week {rand_end}"),
        "RANDFL": ("Randomized Population Flag", "Y when subjects.randomised (default: an arm "
                   "is given), else N"),
        "ITTFL": ("Intent-To-Treat Population Flag", "Y for every randomised subject "
                  "(all randomised patients are the denominator), else N"),
        "AGE": ("Age", "subjects.age"),
        "SEX": ("Sex", "subjects.sex"),
        "MSAGRP": ("Myositis Antibody Group", "subjects.msa_group (blank = unknown)"),
        "NVISITS": ("Number of Assessment Visits", "Count of visits (baseline included)"),
        "LASTWK": ("Last Post-Baseline Assessment Week", "Largest visit_week > 0"),
        "CDFL": ("Confirmed Deterioration Flag", f"Y when {cd_rule}, at or before week "
                 f"{rand_end}; else N"),
        "CDWK": ("Week of Confirmed Deterioration", f"Week of the confirming visit ({cd_rule})"),
        "CROSSFL": ("Crossover Flag", f"Y when the {p.control.code} arm "
                    f"({p.control_on_deterioration} on deterioration) moved to {ext} at the "
                    "confirming visit, or subjects.crossover_week is recorded"),
        "CROSSWK": ("Week of Crossover", "Confirming visit week; a recorded "
                    "subjects.crossover_week wins"),
        "CD2FL": ("Deterioration After Crossover Flag", f"Y when {p.consecutive_visits} "
                  "consecutive worsening visits after the switch, against the original "
                  f"baseline (after_switch_deterioration = {p.after_switch_deterioration})"),
        "CD2WK": ("Week of Deterioration After Crossover", "Second such visit"),
        "COMP16FL": (f"Completed Week {p.primary_week} Flag",
                     f"Recorded completed_week_16, else a visit at week {p.primary_week}"),
        "EXTFL": ("Entered Extension Flag", f"Recorded entered_extension, else a visit after "
                  f"week {rand_end}; {p.treatment.code} patients with confirmed deterioration "
                  f"do not enter ({p.treatment_on_deterioration})"),
        "COMP40FL": (f"Completed Week {p.final_week} Flag",
                     f"Recorded completed_week_40, else a visit at week {p.final_week}"),
        "DCSREAS": ("Reason for Discontinuation", "subjects.discontinuation_reason"),
        "EUNBLFL": ("Emergency Unblinding Flag", "subjects.emergency_unblinded (live trial)"),
        "STATUS": ("Subject Status", "not_randomised, no_assessments, discontinued_randomised, "
                   "completed_randomised_no_extension, discontinued_extension, "
                   "completed_extension (docs/derivation.md)"),
        "STATRSN": ("Subject Status Reason", "Sentence explaining STATUS (deterioration, "
                    "crossover, completion)"),
        "RANDDT": ("Date of Randomization", "subjects.randomisation_date"),
        "WEIGHTBL": ("Baseline Weight (kg)", "subjects.weight_kg"),
        "DATASRC": ("Data Source", "data_source column of the input tables"),
        "PARAMCD": ("Parameter Code", "See the parameter list"),
        "PARAM": ("Parameter", "Protocol endpoint label or measure label"),
        "ENDPOINT": ("Protocol Endpoint Name", "[endpoints] name in the protocol file"),
        "ANLPOP": ("Analysis Population", "randomised (by randomised arm) or entered_extension "
                   "(by original arm)"),
        "AVISITN": ("Analysis Visit (N)", "visits.visit_week"),
        "AVAL": ("Analysis Value", "See the parameter list"),
        "AVALC": ("Analysis Value (C)", "Y/N responder (ADRS); TIS category (ADEFF)"),
        "TIS": ("Total Improvement Score at Visit", f"{tis.citation}"),
        "REASON": ("Reason for Responder Status", "Sentence: TIS vs threshold, deterioration "
                   "or non-responder imputation"),
        "TRTA": ("Actual Treatment", f"Randomised arm; {ext} after a crossover and in the "
                 "extension"),
        "APERIOD": ("Period", "1 randomised, 2 after crossover, 3 extension"),
        "APERIODC": ("Period (C)", "Period label"),
        "ADT": ("Analysis Date", "visits.visit_date"),
        "BASE": ("Baseline Value", "AVAL at week 0 (blank for TIS, a change score)"),
        "CHG": ("Change from Baseline", "AVAL - BASE"),
        "PCHG": ("Percent Change from Baseline", "100 x CHG / BASE; blank when BASE is 0"),
        "ABLFL": ("Baseline Record Flag", "Y at week 0"),
        "WORSFL": ("Worsening Flag", "Y when the visit meets clause A, B or C of "
                   f"{det.citation}"),
        "ENZYME": ("Enzyme Used for TIS", "Most abnormal enzyme (value / ULN) at baseline"),
        "AVALU": ("Analysis Value Unit", "DAYS"),
        "CNSR": ("Censor", "0 event, 1 censored"),
        "EVNTDESC": ("Event or Censoring Description", "Event or censoring rule applied"),
        "AESEQ": ("Sequence Number", "Order of the event within the subject"),
        "AETERM": ("Reported Term for the Adverse Event", "adverse_events.term"),
        "AEBODSYS": ("Body System or Organ Class", "adverse_events.body_system"),
        "ASTDTM": ("Analysis Start Date/Time", "adverse_events.onset"),
        "AENDTM": ("Analysis End Date/Time", "adverse_events.end"),
        "AESER": ("Serious Event", "adverse_events.serious (Y/N)"),
        "AESEV": ("Severity/Intensity", "adverse_events.severity"),
        "AEREL": ("Causality", "adverse_events.related (Y/N)"),
        "THROMFL": ("Thromboembolic Event Flag", "Y when adverse_events.thromboembolic"),
        "INFRELFL": ("Infusion-Related Event Flag", "Y when onset is during an infusion cycle "
                     f"or within {p.infusion_related_window_hours:g} hours after its end"),
        "APERIODN": ("Period (N)", "ADSL period of the onset"),
    }


_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^TRT(\d\d)P$"), "Planned Treatment for Period {0}"),
    (re.compile(r"^TRT(\d\d)A$"), "Actual Treatment for Period {0}"),
    (re.compile(r"^AP(\d\d)SDT$"), "Period {0} Start Date"),
    (re.compile(r"^AP(\d\d)EDT$"), "Period {0} End Date"),
    (re.compile(r"^AP(\d\d)SWK$"), "Period {0} Start Week"),
    (re.compile(r"^AP(\d\d)EWK$"), "Period {0} End Week"),
    (re.compile(r"^TR(\d\d)SDT$"), "Date of First Exposure in Period {0}"),
    (re.compile(r"^TR(\d\d)EDT$"), "Date of Last Exposure in Period {0}"),
    (re.compile(r"^TRTSDT$"), "Date of First Exposure to Treatment"),
    (re.compile(r"^TRTEDT$"), "Date of Last Exposure to Treatment"),
)


def endpoint_paramcd(protocol: Protocol, name: str) -> str:
    """ADaM PARAMCD (<= 8 characters) of a protocol endpoint: ``TIS<threshold>W<week>`` for a
    responder endpoint, ``TTIS<threshold>`` / ``TTCD`` for time to improvement / deterioration,
    else the name upper-cased without underscores."""
    ep = protocol.endpoint(name)
    if isinstance(ep, BinaryEndpoint):
        return f"TIS{ep.threshold:g}W{ep.week}".replace(".", "P")
    if isinstance(ep, TimeToEventEndpoint):
        if ep.event == "tis" and ep.threshold is not None:
            return f"TTIS{ep.threshold:g}".replace(".", "P")
        if ep.event == "deterioration":
            return "TTCD"
    return re.sub(r"[^A-Z0-9]", "", name.upper())


def _ascii(text: str) -> str:
    if text.isascii():  # every key of _ASCII is non-ASCII; NFKD leaves ASCII as it is
        return text
    for k, v in _ASCII.items():
        text = text.replace(k, v)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _xpt_name(column: str, taken: set[str]) -> str:
    base = _RENAME.get(column, re.sub(r"[^A-Z0-9_]", "", column.upper()))
    if not base or not base[0].isalpha():
        base = "V" + base
    base = base[:8]
    name, k = base, 1
    while name in taken:
        suffix = str(k)
        name = base[: 8 - len(suffix)] + suffix
        k += 1
    return name


def _is_dates(series: pd.Series, column: str) -> Literal["date", "datetime", None]:
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series.dropna()
        if len(values) and (values.dt.normalize() != values).any():
            return "datetime"
        return "date"
    textual = pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)
    if not textual or not (column.endswith("DT") or column.endswith("DTM")
                           or column.endswith("_date")):
        return None
    text = series.dropna().astype(str)
    text = text[text.str.strip() != ""]
    if not len(text):
        return "date" if column.endswith("DT") or column.endswith("_date") else None
    if text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all():
        return "date"
    if text.str.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?").all():
        return "datetime"
    return None


def _to_dates(series: pd.Series, kind: str) -> list[Any]:
    parsed = pd.to_datetime(series, errors="coerce", format="ISO8601")
    out: list[Any] = []
    for v in parsed:
        if pd.isna(v):
            out.append(None)
        elif kind == "date":
            out.append(v.date())
        else:
            out.append(v.to_pydatetime().replace(microsecond=0))
    return out


def _split(text: str, limit: int = _MAX_BYTES) -> list[str]:
    """Split at word boundaries into pieces of at most ``limit`` bytes (ASCII text)."""
    pieces: list[str] = []
    rest = text
    while len(rest.encode()) > limit:
        cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return pieces


def _prepare(
    key: str, frame: pd.DataFrame, protocol: Protocol, problems: Problems,
    params: dict[str, str],
) -> AdamDataset:
    """Metadata and transport-ready data of one derived table (see the module docstring)."""
    ds_name, ds_label, structure, adam_class, keys = _DATASETS[key]
    known = _labels(protocol)
    taken: set[str] = set()
    variables: list[Variable] = []
    data: dict[str, list[Any] | np.ndarray] = {}
    src = frame.reset_index(drop=True)
    if "PARAMCD" in src and key in ("adrs", "adtte"):
        src = src.assign(ENDPOINT=src["PARAMCD"].astype(str),
                         PARAMCD=src["PARAMCD"].astype(str).map(params))
    for column in src.columns:
        series = src[column]
        name = _xpt_name(str(column), taken)
        taken.add(name)
        label, derivation = known.get(name, ("", ""))
        if not label:
            for pattern, template in _PATTERNS:
                m = pattern.match(name)
                if m:
                    label = template.format(*m.groups())
                    derivation = "Period boundaries from the protocol policy (ADSL periods)"
                    break
        origin: Literal["Derived", "Predecessor", "Assigned"] = "Derived"
        if not label:
            label = str(column).replace("_", " ")
            derivation = f"Passed through from the input column {column}"
            origin = "Predecessor"
        if len(label) > 40:
            label = label[:37] + "..."
        kind = _is_dates(series, name if name != str(column) else str(column))
        if kind is None:
            kind = _is_dates(series, str(column))
        if kind is not None:
            values = _to_dates(series, kind)
            bad = [i for i, (v, raw) in enumerate(zip(values, series, strict=True))
                   if v is None and not pd.isna(raw) and str(raw).strip() != ""]
            for i in bad:
                problems.add(ds_name, i + 1, src.get("USUBJID", pd.Series([None] * len(src)))[i],
                             None, name, series[i], "not an ISO date or date-time")
            data[name] = values
            variables.append(Variable(name, str(column), label, kind, 8,
                                      "DATE9." if kind == "date" else "DATETIME20.",
                                      derivation, origin))
            continue
        if pd.api.types.is_bool_dtype(series) or str(series.dtype) == "boolean":
            series = series.map(lambda v: "" if pd.isna(v) else ("Y" if v else "N"))
        if pd.api.types.is_numeric_dtype(series):
            num = pd.to_numeric(series, errors="coerce").astype("float64")
            finite = num.dropna()
            integral = bool(len(finite)) and bool((finite == np.round(finite)).all())
            if np.isinf(num).any():
                for i in np.flatnonzero(np.isinf(num.to_numpy())).tolist():
                    problems.add(ds_name, i + 1, None, None, name, num[i],
                                 "infinite values cannot be transported")
            data[name] = num.to_numpy()
            variables.append(Variable(name, str(column), label,
                                      "integer" if integral else "float", 8, "", derivation,
                                      origin))
            continue
        text = [("" if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA
                 else _ascii(str(v))) for v in series]
        width = max([len(t.encode()) for t in text] + [1])
        if width <= _MAX_BYTES:
            data[name] = text
            variables.append(Variable(name, str(column), label, "text", width, "",
                                      derivation, origin))
            continue
        parts = [_split(t) for t in text]
        n_parts = max(len(p) for p in parts)
        for k in range(n_parts):
            part_name = name if k == 0 else _xpt_name(name[:7] + str(k), taken)
            taken.add(part_name)
            values = [p[k] if k < len(p) else "" for p in parts]
            data[part_name] = values
            part_label = label if k == 0 else f"{label[:36]} ({k + 1})"
            variables.append(
                Variable(part_name, str(column), part_label, "text",
                         max([len(v.encode()) for v in values] + [1]), "",
                         (derivation + "; " if k == 0 else "")
                         + f"part {k + 1} of {column} split at word boundaries into "
                         f"{_MAX_BYTES}-byte pieces", origin)
            )
    out = pd.DataFrame(data)
    with_keys = tuple(
        Variable(v.name, v.source, v.label, v.type, v.length, v.display_format, v.derivation,
                 v.origin, v.codelist, keys.index(v.name) + 1 if v.name in keys else None)
        for v in variables
    )
    ds = AdamDataset(ds_name, ds_label, structure, adam_class, with_keys, out)
    _check(ds, problems)
    return ds


def _check(ds: AdamDataset, problems: Problems) -> None:
    """ADaM naming and transport checks (module docstring)."""
    ids = ds.data["USUBJID"] if "USUBJID" in ds.data else pd.Series([None] * len(ds.data))
    for v in ds.variables:
        if not _NAME.match(v.name):
            problems.add(ds.name, None, None, None, v.name, v.name,
                         "variable name must be <= 8 letters, digits or _ starting with a letter")
        if len(v.label) > 40:
            problems.add(ds.name, None, None, None, v.name, v.label, "label > 40 characters")
        col = ds.data[v.name]
        if v.name.endswith("FL") and v.type == "text":
            allowed = {"Y", "N", ""} if ds.name == "ADSL" else {"Y", ""}
            bad = ~col.isin(list(allowed))
            for i in np.flatnonzero(bad.to_numpy()).tolist():
                problems.add(ds.name, i + 1, ids.iloc[i], None, v.name, col.iloc[i],
                             "flag must be " + ("Y or N" if ds.name == "ADSL" else "Y or blank"))
    names = {v.name: v for v in ds.variables}
    if "PARAMCD" in names:
        codes = ds.data["PARAMCD"].astype(str)
        bad = ~codes.str.fullmatch(r"[A-Z][A-Z0-9_]{0,7}")
        for i in np.flatnonzero(bad.to_numpy()).tolist():
            problems.add(ds.name, i + 1, ids.iloc[i], None, "PARAMCD", codes.iloc[i],
                         "PARAMCD must be <= 8 upper-case letters, digits or _")
    if "AVAL" in names and names["AVAL"].type not in ("integer", "float"):
        problems.add(ds.name, None, None, None, "AVAL", None, "AVAL must be numeric")
    if "AVALC" in names and names["AVALC"].type != "text":
        problems.add(ds.name, None, None, None, "AVALC", None, "AVALC must be character")


def derive_adae(
    adverse_events: pd.DataFrame,
    adsl: pd.DataFrame,
    protocol: Protocol,
    infusions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """ADAE-like table: one row per adverse event of a randomised subject, with the period and
    treatment at onset (:func:`myotrial.derive.safety.derive_arm_period`) and, with infusions,
    the infusion-related flag (:func:`myotrial.derive.safety.derive_infusion_related`)."""
    from myotrial.derive.safety import derive_arm_period, derive_infusion_related

    ae = adverse_events.reset_index(drop=True)
    ae = derive_arm_period(ae, adsl)
    if infusions is not None:
        ae = derive_infusion_related(ae, infusions, protocol)

    def yn(col: str, blank_no: bool) -> Any:
        if col not in ae:
            return ""
        from myotrial.tables.subjects import parse_boolean

        out = []
        for v in ae[col]:
            try:
                b = parse_boolean(v)
            except ValueError:
                b = None
            out.append("Y" if b else ("" if blank_no or b is None else "N"))
        return out

    order = ae.groupby("subject_id").cumcount() + 1
    frame = pd.DataFrame(
        {
            "STUDYID": protocol.name,
            "USUBJID": ae["subject_id"].astype(str),
            "AESEQ": order.astype("int64"),
            "ARMCD": ae["arm"],
            "TRTA": ae["TRTA"],
            "APERIODN": ae["APERIOD"].astype("Float64").astype("float64"),
            "AETERM": ae["term"],
            "AEBODSYS": ae.get("body_system"),
            "ASTDTM": pd.to_datetime(ae["onset"], errors="coerce", format="ISO8601"),
            "AENDTM": pd.to_datetime(ae["end"], errors="coerce", format="ISO8601")
            if "end" in ae else pd.NaT,
            "AESER": yn("serious", False),
            "AESEV": ae.get("severity"),
            "AEREL": yn("related", False),
            "THROMFL": yn("thromboembolic", True),
        }
    )
    if "infusion_related" in ae:
        frame["INFRELFL"] = yn("infusion_related", True)
    extra = [c for c in ae.columns if c not in {
        "subject_id", "term", "body_system", "onset", "end", "serious", "severity", "related",
        "thromboembolic", "arm", "APERIOD", "period", "TRTA", "infusion_related"}]
    for c in extra:
        frame[c] = ae[c].to_numpy()
    return frame


def build_adam(
    derived: Mapping[str, pd.DataFrame],
    protocol: Protocol,
    *,
    adverse_events: pd.DataFrame | None = None,
    infusions: pd.DataFrame | None = None,
) -> list[AdamDataset]:
    """ADSL, ADRS, ADEFF, ADTTE (and ADAE when adverse events are given) ready for transport.

    ``derived`` maps ``adsl``, ``adrs``, ``adeff``, ``adtte`` to the tables of
    :func:`myotrial.derive.derive_all` (or read back from ``myotrial derive`` output).

    Raises
    ------
    InterchangeError
        Every naming, length or value problem, located by dataset, row and variable.
    """
    problems = Problems("ADaM datasets")
    params: dict[str, str] = {}
    endpoints: tuple[BinaryEndpoint | TimeToEventEndpoint, ...] = (
        *protocol.binary,
        *protocol.time_to_event,
    )
    for ep in endpoints:
        code = endpoint_paramcd(protocol, ep.name)
        if code in params.values():
            problems.add("protocol", None, None, None, "PARAMCD", code,
                         f"endpoint {ep.name} gives the same PARAMCD as another endpoint")
        params[ep.name] = code
    missing = [k for k in ("adsl",) if k not in derived]
    for k in missing:
        problems.add(k.upper(), None, None, None, None, None, "derived table is missing")
    problems.raise_if_any()
    tables = {k: v for k, v in derived.items() if k in _DATASETS and v is not None}
    if adverse_events is not None:
        tables["adae"] = derive_adae(adverse_events, derived["adsl"], protocol, infusions)
    out = []
    for key in ("adsl", "adrs", "adeff", "adtte", "adae"):
        frame = tables.get(key)
        if frame is None or (frame.empty and len(frame.columns) == 0):
            continue
        if "PARAMCD" in frame and key in ("adrs", "adtte"):
            unknown = sorted(set(frame["PARAMCD"].astype(str)) - set(params))
            for code in unknown:
                problems.add(key.upper(), None, None, None, "PARAMCD", code,
                             "not an endpoint of the protocol")
            if unknown:
                continue
        ds = _prepare(key, frame, protocol, problems, params)
        if key in ("adrs", "adtte"):
            eps = {e.name: e for e in endpoints}
            seen = dict.fromkeys(frame["PARAMCD"].astype(str))
            ds = AdamDataset(ds.name, ds.label, ds.structure, ds.adam_class, ds.variables,
                             ds.data, tuple((params[n], eps[n].label, _param_rule(eps[n]))
                                            for n in seen))
        elif key == "adeff":
            from myotrial.derive import ADEFF_PARAMS

            seen = dict.fromkeys(frame["PARAMCD"].astype(str))
            ds = AdamDataset(ds.name, ds.label, ds.structure, ds.adam_class, ds.variables,
                             ds.data, tuple((c, ADEFF_PARAMS[c][1] if c in ADEFF_PARAMS else c,
                                             f"visits.{ADEFF_PARAMS[c][0]}"
                                             if c in ADEFF_PARAMS else "")
                                            for c in seen))
        out.append(ds)
    problems.raise_if_any()
    return out


def _param_rule(ep: Any) -> str:
    if hasattr(ep, "no_deterioration_through_week"):
        rule = f"AVAL = 1 when TIS >= {ep.threshold:g} at week {ep.week}"
        if ep.no_deterioration_through_week is not None:
            rule += (" and no confirmed deterioration through week "
                     f"{ep.no_deterioration_through_week}")
        return rule + f"; population {ep.population}; no TIS = non-responder (0)"
    if ep.event == "tis":
        return (f"Days to the first post-baseline visit with TIS >= {ep.threshold:g} up to week "
                f"{ep.through_week}; censored at the last assessment (or before a crossover)")
    return (f"Days to the confirming visit of confirmed deterioration up to week "
            f"{ep.through_week}; censored at the last assessment (or before a crossover)")


# -- XPT ---------------------------------------------------------------------------------------


def write_xpt(ds: AdamDataset, path: str | Path) -> Path:
    """SAS XPORT version 5 file of ``ds`` (pyreadstat ``file_format_version=5``)."""
    import pyreadstat

    frame = ds.data.copy()
    sas_epoch = dt.datetime(1960, 1, 1)
    for v in ds.variables:  # SAS numeric dates (days) and date-times (seconds) since 1960-01-01
        if v.type == "date":
            frame[v.name] = [
                np.nan if d is None else float((d - sas_epoch.date()).days) for d in frame[v.name]
            ]
        elif v.type == "datetime":
            frame[v.name] = [
                np.nan if d is None else (d - sas_epoch).total_seconds() for d in frame[v.name]
            ]
    p = Path(path)
    pyreadstat.write_xport(
        frame,
        str(p),
        file_label=ds.label,
        column_labels={v.name: v.label for v in ds.variables},
        table_name=ds.name,
        file_format_version=5,
        variable_format={v.name: v.display_format for v in ds.variables if v.display_format},
    )
    return p


def read_xpt(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read an XPT file back (pyreadstat): data and ``{name, label, labels, formats, types}``;
    dates as :class:`datetime.date`, date-times as :class:`datetime.datetime`."""
    import pyreadstat

    frame, meta = pyreadstat.read_xport(str(path))
    formats = dict(meta.original_variable_types)
    for col, fmt in formats.items():
        if fmt and fmt.startswith("DATETIME"):
            frame[col] = [None if pd.isna(v) else pd.Timestamp(v).to_pydatetime()
                          for v in frame[col]]
        elif fmt and fmt.startswith("DATE"):
            frame[col] = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v
                          for v in frame[col]]
    return frame, {
        "name": meta.table_name,
        "label": meta.file_label,
        "labels": dict(meta.column_names_to_labels),
        "formats": formats,
        "types": dict(meta.readstat_variable_types),
    }


# -- Dataset-JSON --------------------------------------------------------------------------------

_JSON_TYPE = {"text": "string", "integer": "integer", "float": "double", "date": "date",
              "datetime": "datetime"}  # fmt: skip


def dataset_json_schema() -> dict[str, Any]:
    """The official Dataset-JSON 1.1 JSON Schema (vendored; see ``schemas/README.md``)."""
    text = resources.files("myotrial.interchange").joinpath(
        "schemas/dataset.schema.json"
    ).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _json_value(v: Any, kind: VarType) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if kind == "text":
        return str(v)
    if kind == "integer":
        return int(v)
    if kind == "float":
        return float(v)
    if kind == "date":
        return v.isoformat()
    return v.replace(microsecond=0).isoformat()


def to_dataset_json(
    ds: AdamDataset, protocol: Protocol, *, created: dt.datetime | None = None
) -> dict[str, Any]:
    """Dataset-JSON 1.1 document of ``ds`` (OIDs match define.xml)."""
    import myotrial

    stamp = (created or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    columns = []
    for v in ds.variables:
        col: dict[str, Any] = {
            "itemOID": f"IT.{ds.name}.{v.name}",
            "name": v.name,
            "label": v.label,
            "dataType": _JSON_TYPE[v.type],
        }
        if v.type == "text":
            col["length"] = v.length
        if v.type in ("date", "datetime"):
            col["targetDataType"] = "integer"
            col["displayFormat"] = v.display_format
        if v.key is not None:
            col["keySequence"] = v.key
        columns.append(col)
    kinds = [v.type for v in ds.variables]
    rows = [
        [_json_value(val, kind) for val, kind in zip(rec, kinds, strict=True)]
        for rec in ds.data.itertuples(index=False, name=None)
    ]
    return {
        "datasetJSONCreationDateTime": stamp.strftime("%Y-%m-%dT%H:%M:%S"),
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "fileOID": f"{protocol.name}.ADAM.{ds.name}",
        "originator": "myotrial",
        "sourceSystem": {"name": "myotrial", "version": getattr(myotrial, "__version__", "0")},
        "studyOID": f"ST.{protocol.name.upper()}",
        "metaDataVersionOID": f"MDV.{protocol.name.upper()}.ADAM",
        "metaDataRef": "define.xml",
        "itemGroupOID": f"IG.{ds.name}",
        "records": len(rows),
        "name": ds.name,
        "label": ds.label,
        "columns": columns,
        "rows": rows,
    }


def validate_dataset_json(document: Mapping[str, Any], where: str = "Dataset-JSON") -> None:
    """Validate against the official Dataset-JSON 1.1 schema; every violation located by its
    JSON path (:class:`InterchangeError`)."""
    import jsonschema

    schema = dataset_json_schema()
    validator = jsonschema.Draft201909Validator(schema)
    problems = Problems(where)
    rows = document.get("rows")
    if (isinstance(rows, list) and rows and _rows_are_any_arrays(schema)
            and all(isinstance(r, list) for r in rows)):
        # every row is an array, which is all the schema asks of a row: the same errors as
        # validating each of them (thousands of $ref lookups), for a fraction of the time
        document = {**document, "rows": []}
    for err in validator.iter_errors(document):
        path = "/".join(str(p) for p in err.absolute_path)
        problems.add(str(document.get("name", where)), None, None, None, path or "(root)",
                     None, f"Dataset-JSON schema: {err.message[:200]}")
    problems.raise_if_any()


def _rows_are_any_arrays(schema: Mapping[str, Any]) -> bool:
    """Whether ``schema`` (Dataset-JSON 1.1) asks of each row only that it is an array:
    ``rows`` is an array of ``$defs/Row``, whose only assertion on an array is ``type``
    (``properties`` and ``additionalProperties`` apply to objects only)."""
    rows = schema.get("properties", {}).get("rows")
    row = schema.get("$defs", {}).get("Row")
    if not isinstance(rows, dict) or not isinstance(row, dict):
        return False
    plain = {k: v for k, v in rows.items() if k != "description"}
    object_only = {"properties", "additionalProperties", "description", "title"}
    return (plain == {"items": {"$ref": "#/$defs/Row"}, "type": "array"}
            and row.get("type") == "array" and set(row) - {"type"} <= object_only)


def read_dataset_json(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a Dataset-JSON file back: data (dates as :class:`datetime.date`) and metadata."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    names = [c["name"] for c in doc["columns"]]
    frame = pd.DataFrame(doc.get("rows", []), columns=names, dtype=object)
    for c in doc["columns"]:
        col = frame[c["name"]]
        if c["dataType"] == "date":
            frame[c["name"]] = [None if v is None else dt.date.fromisoformat(v) for v in col]
        elif c["dataType"] == "datetime":
            frame[c["name"]] = [None if v is None else dt.datetime.fromisoformat(v) for v in col]
        elif c["dataType"] in ("double", "float", "decimal", "integer"):
            frame[c["name"]] = pd.to_numeric(col, errors="coerce").astype("float64")
    meta = {k: v for k, v in doc.items() if k != "rows"}
    return frame, meta


# -- writing -------------------------------------------------------------------------------------


def _atomic_dir(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def write_adam(
    datasets: Sequence[AdamDataset],
    protocol: Protocol,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("xpt", "dataset-json"),
    define: bool = True,
    created: dt.datetime | None = None,
) -> dict[str, Path]:
    """Write every dataset (``<name>.xpt`` and/or ``<name>.json``) and ``define.xml`` into
    ``out_dir``. Everything is built and validated in a temporary folder first; files are moved
    into ``out_dir`` only when all of them succeeded (nothing written on error)."""
    out = Path(out_dir)
    tmp = _atomic_dir(out)
    written: dict[str, Path] = {}
    try:
        docs = {}
        if "dataset-json" in formats:
            for ds in datasets:
                doc = to_dataset_json(ds, protocol, created=created)
                validate_dataset_json(doc, f"{ds.name} Dataset-JSON")
                docs[ds.name] = doc
        for ds in datasets:
            if "xpt" in formats:
                write_xpt(ds, tmp / f"{ds.name.lower()}.xpt")
                written[f"{ds.name.lower()}.xpt"] = out / f"{ds.name.lower()}.xpt"
            if ds.name in docs:
                (tmp / f"{ds.name.lower()}.json").write_text(
                    json.dumps(docs[ds.name], ensure_ascii=True), encoding="utf-8"
                )
                written[f"{ds.name.lower()}.json"] = out / f"{ds.name.lower()}.json"
        if define:
            from myotrial.interchange.define import build_define, validate_define

            doc_define = build_define(datasets, protocol, created=created,
                                      leaf_ext="xpt" if "xpt" in formats else "json")
            doc_define.write_xml(str(tmp / "define.xml"))
            validate_define(tmp / "define.xml")
            written["define.xml"] = out / "define.xml"
        out.mkdir(parents=True, exist_ok=True)
        for name in written:
            os.replace(tmp / name, out / name)
    finally:
        for leftover in tmp.iterdir():
            leftover.unlink()
        tmp.rmdir()
    return written
