"""SDTM in: DM, EX, AE and findings domains (LB enzymes with ULNs; the core set measures in a
documented custom findings domain ``XM``, or QS/FT/RS by mapping) -> the canonical tables.

The mapping is a TOML file the user can edit (default: ``schemas/sdtm_mapping.toml``; see its
comments). Domains are read from a folder as ``<domain>.csv``, ``<domain>.xpt`` or
``<domain>.json`` (Dataset-JSON), any case. Every problem is located by domain, 1-based row,
USUBJID, VISIT and variable: an unknown test code, a visit that is not a week, a non-numeric
result, a duplicate subject-visit-test, a subject missing from DM, an unknown arm or product,
and every canonical-table rule (range, missing baseline ...). Nothing is returned while any
problem exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from myotrial.errors import InputValidationError
from myotrial.interchange.errors import Problems
from myotrial.protocol import Protocol
from myotrial.tables import validate_visits
from myotrial.tables.subjects import validate_subjects
from myotrial.tomlfile import TomlTable, read_toml

__all__ = ["SdtmMapping", "default_mapping_path", "import_sdtm", "load_mapping", "read_domains"]


def default_mapping_path() -> Path:
    return Path(str(resources.files("myotrial.interchange").joinpath("schemas/sdtm_mapping.toml")))


@dataclass(frozen=True)
class Findings:
    domain: str
    testcd: str
    value: str
    uln: str | None
    tests: dict[str, str]
    ignore: tuple[str, ...]


@dataclass(frozen=True)
class SdtmMapping:
    week_pattern: re.Pattern[str]
    baseline_visits: tuple[str, ...]
    visitnum: dict[str, int]
    arm_codes: dict[str, str]
    not_randomised: tuple[str, ...]
    products: dict[str, str]
    dose_unit: str
    cycle: str
    ae_term: str
    related_yes: tuple[str, ...]
    thromboembolic_terms: tuple[str, ...]
    findings: tuple[Findings, ...] = field(default=())


def load_mapping(path: str | Path | None, protocol: Protocol) -> SdtmMapping:
    """Read a mapping file (default: the shipped one) with the strict TOML reader
    (:mod:`myotrial.tomlfile`: an unknown or misspelt key is an error naming the file, the key
    and the key probably meant); arms/products default to the protocol's arm codes
    upper-cased. Raises :class:`~myotrial.errors.RulesError` naming the file and key."""
    p = Path(path) if path is not None else default_mapping_path()
    root = read_toml(p, "SDTM mapping file")
    v, dm, ex, ae = root.table("visits"), root.table("dm"), root.table("ex"), root.table("ae")

    def text_map(table: TomlTable, key: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, x in table.optional_table(key).items():
            if not isinstance(x, str):
                raise table.error(f"{key}.{k}", f"must be a string, got {x!r}")
            out[str(k)] = x
        return out

    arms = {k.upper(): x for k, x in text_map(dm, "arm_codes").items()}
    arms = arms or {a.upper(): a for a in protocol.arm_codes}
    products = {k.upper(): x for k, x in text_map(ex, "products").items()}
    products = products or {a.upper(): a for a in protocol.arm_codes}
    bad = sorted(set(arms.values()) - set(protocol.arm_codes))
    if bad:
        raise dm.error("arm_codes", f"maps to {bad}, not arms of {protocol.name}")
    visitnum: dict[str, int] = {}
    for k, x in v.optional_table("visitnum").items():
        if isinstance(x, bool) or not isinstance(x, int):
            raise v.error(f"visitnum.{k}", f"must be a whole week number, got {x!r}")
        visitnum[str(k)] = x
    pattern_text = v.str("week_pattern")
    try:
        pattern = re.compile(pattern_text, re.IGNORECASE)
    except re.error as exc:
        raise v.error("week_pattern", f"is not a regular expression ({exc})") from None
    findings = tuple(
        Findings(
            str(dom).upper(),
            f.str("testcd"),
            f.str("value"),
            f.str("uln", None),
            {k.upper(): x for k, x in text_map(f, "tests").items()},
            tuple(x.upper() for x in f.str_list("ignore", ())),
        )
        for dom, f in root.optional_table("findings").subtables()
    )
    mapping = SdtmMapping(
        week_pattern=pattern,
        baseline_visits=tuple(x.upper() for x in v.str_list("baseline_visits", ())),
        visitnum=visitnum,
        arm_codes=arms,
        not_randomised=tuple(x.upper() for x in dm.str_list("not_randomised", ())),
        products=products,
        dose_unit=ex.str("dose_unit", "g/kg"),
        cycle=ex.str("cycle", "EXGRPID"),
        ae_term=ae.str("term", "AETERM"),
        related_yes=tuple(x.upper() for x in ae.str_list("related_yes", ())),
        thromboembolic_terms=tuple(x.lower() for x in ae.str_list("thromboembolic_terms", ())),
        findings=findings,
    )
    root.finish()
    return mapping


def _read_one(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    if suffix == ".xpt":
        import pyreadstat

        frame, _ = pyreadstat.read_xport(str(path))
    else:
        from myotrial.interchange.adam import read_dataset_json

        frame, _ = read_dataset_json(path)
    out = frame.astype(object).where(frame.notna(), "")
    return out.map(lambda x: f"{x:g}" if isinstance(x, float) else str(x))


def read_domains(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Every ``<domain>.csv|.xpt|.json`` in ``folder``, as text, keyed by upper-case domain."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    out: dict[str, pd.DataFrame] = {}
    for p in sorted(root.iterdir()):
        if p.suffix.lower() in (".csv", ".xpt", ".json") and p.stem.isalpha():
            out[p.stem.upper()] = _read_one(p)
    return out


def _week(rec: dict[Any, Any], m: SdtmMapping) -> int | None:
    num = rec.get("VISITNUM", "").strip()
    if num and num in m.visitnum:
        return m.visitnum[num]
    visit = rec.get("VISIT", "").strip()
    hit = m.week_pattern.match(visit)
    if hit:
        return int(hit.group(1))
    if visit.upper() in m.baseline_visits:
        return 0
    return None


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def import_sdtm(
    domains: dict[str, pd.DataFrame], protocol: Protocol, mapping: SdtmMapping | None = None
) -> dict[str, pd.DataFrame]:
    """SDTM domains -> ``subjects``, ``visits``, ``infusions``, ``adverse_events``.

    Raises
    ------
    InterchangeError
        Located by domain, row, USUBJID, VISIT and variable (module docstring).
    """
    m = mapping or load_mapping(None, protocol)
    problems = Problems("SDTM domains")
    if "DM" not in domains:
        problems.add("DM", None, None, None, None, None, "the DM domain is required")
        problems.raise_if_any()
    dm = domains["DM"]
    subjects: list[dict[str, Any]] = []
    where_subj: list[int] = []
    for i, rec in enumerate(dm.to_dict("records"), start=1):
        sid = rec.get("USUBJID", "").strip()
        if not sid:
            problems.add("DM", i, None, None, "USUBJID", "", "USUBJID is required")
            continue
        armcd = rec.get("ARMCD", "").strip().upper()
        arm = m.arm_codes.get(armcd)
        randomised = arm is not None
        if arm is None and armcd not in m.not_randomised and armcd != "":
            problems.add(
                "DM",
                i,
                sid,
                None,
                "ARMCD",
                armcd,
                "ARMCD is not mapped to a protocol arm ([dm] arm_codes) nor listed "
                "in not_randomised",
            )
            continue
        row: dict[str, Any] = {
            "subject_id": sid,
            "site_id": rec.get("SITEID", "") or None,
            "arm": arm,
            "randomised": "true" if randomised else "false",
            "age": rec.get("AGE", "") or None,
            "sex": rec.get("SEX", "") or None,
        }
        if rec.get("RFSTDTC", ""):
            row["randomisation_date"] = rec["RFSTDTC"][:10]
        subjects.append(row)
        where_subj.append(i)
    known = {s["subject_id"] for s in subjects}

    cells: dict[tuple[str, int], dict[str, Any]] = {}
    origin: dict[tuple[str, int], tuple[str, int, str]] = {}
    cell_origin: dict[tuple[str, int, str], tuple[str, int, str]] = {}
    for fnd in m.findings:
        frame = domains.get(fnd.domain)
        if frame is None:
            continue
        for col in ("USUBJID", fnd.testcd, fnd.value):
            if col not in frame.columns:
                problems.add(
                    fnd.domain, None, None, None, col, None, "variable is missing from the domain"
                )
        if any(c not in frame.columns for c in ("USUBJID", fnd.testcd, fnd.value)):
            continue
        for i, rec in enumerate(frame.to_dict("records"), start=1):
            sid = rec["USUBJID"].strip()
            visit = rec.get("VISIT", "")
            code = rec[fnd.testcd].strip().upper()
            if code in fnd.ignore:
                continue
            column = fnd.tests.get(code)
            if column is None:
                problems.add(
                    fnd.domain,
                    i,
                    sid,
                    visit,
                    fnd.testcd,
                    code,
                    f"unknown SDTM test code: not in the mapping's [findings."
                    f"{fnd.domain}] tests ({', '.join(fnd.tests)}) nor ignore",
                )
                continue
            if sid not in known:
                problems.add(fnd.domain, i, sid, visit, "USUBJID", sid, "subject is not in DM")
                continue
            week = _week(rec, m)
            if week is None:
                problems.add(
                    fnd.domain,
                    i,
                    sid,
                    visit,
                    "VISIT",
                    visit or rec.get("VISITNUM"),
                    "visit is not a study week (mapping [visits])",
                )
                continue
            raw = rec[fnd.value].strip()
            if raw and _num(raw) is None:
                problems.add(fnd.domain, i, sid, visit, fnd.value, raw, "result is not numeric")
                continue
            key = (sid, week)
            cell = cells.setdefault(key, {"subject_id": sid, "visit_week": str(week)})
            origin.setdefault(key, (fnd.domain, i, visit))
            if column in cell:
                first = cell_origin[(sid, week, column)]
                problems.add(
                    fnd.domain,
                    i,
                    sid,
                    visit,
                    fnd.testcd,
                    code,
                    f"duplicate result for this subject, visit and test (first at "
                    f"{first[0]} row {first[1]})",
                )
                continue
            cell[column] = raw or None
            cell_origin[(sid, week, column)] = (fnd.domain, i, fnd.value)
            if fnd.uln is not None and fnd.uln in rec and rec[fnd.uln].strip():
                if _num(rec[fnd.uln].strip()) is None:
                    problems.add(
                        fnd.domain,
                        i,
                        sid,
                        visit,
                        fnd.uln,
                        rec[fnd.uln],
                        "upper limit of normal is not numeric",
                    )
                    continue
                cell[f"{column}_uln"] = rec[fnd.uln].strip()
                cell_origin[(sid, week, f"{column}_uln")] = (fnd.domain, i, fnd.uln)
            if "VISITDY" not in cell and rec.get(f"{fnd.domain}DTC", ""):
                cell.setdefault("visit_date", rec[f"{fnd.domain}DTC"][:10])

    infusions: list[dict[str, Any]] = []
    ex = domains.get("EX")
    if ex is not None:
        for i, rec in enumerate(ex.to_dict("records"), start=1):
            sid = rec.get("USUBJID", "").strip()
            if sid not in known:
                problems.add("EX", i, sid, None, "USUBJID", sid, "subject is not in DM")
                continue
            trt = rec.get("EXTRT", "").strip().upper()
            product = m.products.get(trt)
            if product is None:
                problems.add(
                    "EX",
                    i,
                    sid,
                    None,
                    "EXTRT",
                    trt,
                    "EXTRT is not mapped to a product ([ex] products)",
                )
                continue
            unit = rec.get("EXDOSU", "").strip()
            if unit and unit.lower() != m.dose_unit.lower():
                problems.add("EX", i, sid, None, "EXDOSU", unit, f"dose unit must be {m.dose_unit}")
                continue
            infusions.append(
                {
                    "subject_id": sid,
                    "start": rec.get("EXSTDTC", "") or None,
                    "end": rec.get("EXENDTC", "") or None,
                    "product": product,
                    "dose_g_per_kg": rec.get("EXDOSE", "") or None,
                    "cycle": rec.get(m.cycle, "") or None,
                }
            )
    adverse: list[dict[str, Any]] = []
    ae = domains.get("AE")
    if ae is not None:
        for i, rec in enumerate(ae.to_dict("records"), start=1):
            sid = rec.get("USUBJID", "").strip()
            if sid not in known:
                problems.add("AE", i, sid, None, "USUBJID", sid, "subject is not in DM")
                continue
            term = rec.get(m.ae_term, "").strip()
            if not term:
                problems.add("AE", i, sid, None, m.ae_term, "", "adverse event term is required")
                continue
            sev = rec.get("AESEV", "").strip().lower()
            if rec.get("AESDTH", "").strip().upper() == "Y":
                sev = "fatal"
            elif rec.get("AESLIFE", "").strip().upper() == "Y":
                sev = "life-threatening"
            decod = rec.get("AEDECOD", term).strip().lower()
            adverse.append(
                {
                    "subject_id": sid,
                    "term": term,
                    "body_system": rec.get("AEBODSYS", "") or None,
                    "onset": rec.get("AESTDTC", "") or None,
                    "end": rec.get("AEENDTC", "") or None,
                    "serious": "true" if rec.get("AESER", "").strip().upper() == "Y" else "false",
                    "severity": sev or None,
                    "related": "true"
                    if rec.get("AEREL", "").strip().upper() in m.related_yes
                    else "false",
                    "thromboembolic": "true" if decod in m.thromboembolic_terms else "false",
                }
            )
    problems.raise_if_any()

    subj_frame = pd.DataFrame(subjects, dtype=object)
    keys = list(cells)
    visits = pd.DataFrame([cells[k] for k in keys], dtype=object)
    try:
        validate_subjects(subj_frame, arms=protocol.arm_codes)
    except InputValidationError as exc:
        problems.extend_from(
            exc,
            lambda t, r, c: (
                "DM",
                where_subj[r - 1] if r else None,
                None,
                None,
                {"subject_id": "USUBJID", "arm": "ARMCD", "age": "AGE", "sex": "SEX"}.get(
                    c or "", c
                ),
            ),
        )
    if len(visits):
        try:
            validate_visits(visits, mmt8_max=protocol.mmt8_max)
        except InputValidationError as exc:

            def locate(t: str, r: int | None, c: str | None) -> tuple[Any, ...]:
                if r is None:
                    return ("visits", None, None, None, c)
                sid, week = keys[r - 1]
                hit = cell_origin.get((sid, week, c or ""))
                if hit is None:
                    dom, row, visit = origin[(sid, week)]
                    return (dom, row, sid, visit, "VISIT" if c == "visit_week" else c)
                return (hit[0], hit[1], sid, f"week {week}", hit[2])

            problems.extend_from(exc, locate)
    problems.raise_if_any()
    if len(visits):
        visits["_w"] = visits["visit_week"].astype(int)
        visits = visits.sort_values(["subject_id", "_w"], kind="stable").drop(columns="_w")
    return {
        "subjects": subj_frame,
        "visits": visits.reset_index(drop=True),
        "infusions": pd.DataFrame(infusions, dtype=object),
        "adverse_events": pd.DataFrame(adverse, dtype=object),
    }
