"""The canonical ``screening`` table: one row per candidate (``docs/data-format.md``, screening).

:func:`validate_screening` checks the table against the eligibility rules (required columns,
numbers exact and in range, true/false flags, enzymes with their ULNs, the MMT-8 scale the
threshold is defined on) and returns one :class:`Candidate` per row; every problem is raised
together as one :class:`~myotrial.errors.InputValidationError`. Values are parsed with the one set
of parsers in :mod:`myotrial.tables.values` (numbers exactly, as :class:`~decimal.Decimal`).
The eligibility decisions themselves live in :mod:`myotrial.eligibility`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd

from myotrial.tables.contract import cite
from myotrial.tables.problems import ProblemCollector
from myotrial.tables.values import (
    ValueParseError,
    is_missing,
    parse_bool,
    parse_code,
    parse_decimal,
    parse_text,
)
from myotrial.tables.vocabularies import SEX_CODES

if TYPE_CHECKING:
    from myotrial.eligibility._rules import EligibilityRules

__all__ = [
    "OUTPUT_COLUMNS",
    "TABLE",
    "Candidate",
    "EnzymeValue",
    "screening_boolean_columns",
    "screening_required_columns",
    "validate_screening",
]

TABLE = "screening"

OUTPUT_COLUMNS = (
    "eligible",
    "screening_status",
    "reasons",
    "criteria_met",
    "missing_fields",
    "not_checked",
    "screening_notes",
    "bohan_peter_class",
    "eular_acr_score",
    "eular_acr_biopsy",
    "eular_acr_class",
    "eular_acr_probability",
    "eular_acr_subclass",
    "eular_acr_missing",
)


@dataclass(frozen=True)
class EnzymeValue:
    """One recorded muscle enzyme with its upper limit of normal (U/L)."""

    name: str
    value: Decimal
    uln: Decimal


@dataclass(frozen=True)
class Candidate:
    """One validated screening row (numbers exact, true/false/None flags)."""

    row: int | None
    subject_id: str
    age: Decimal | None
    bmi: Decimal | None
    mmt8: Decimal | None
    mmt8_max: Decimal
    measures: Mapping[str, Decimal | None]
    enzymes: tuple[EnzymeValue, ...]
    flags: Mapping[str, bool | None]
    age_at_onset: Decimal | None = None
    columns: frozenset[str] = field(default_factory=frozenset)


def _fmt(number: Decimal) -> str:
    return format(number.normalize(), "f")


def screening_boolean_columns(rules: EligibilityRules | None = None) -> list[str]:
    """Every true/false column the screening rules read (Bohan and Peter, therapy, exclusions,
    optional inclusions, EULAR/ACR items)."""
    from myotrial.eligibility._rules import (
        load_bohan_peter_rules,
        load_eligibility_rules,
        load_eular_acr_rules,
    )

    rules = rules or load_eligibility_rules()
    bp = load_bohan_peter_rules()
    ea = load_eular_acr_rules()
    cols = [c.column for c in bp.criteria] + [bp.exclusion_column]
    cols += list(rules.therapy_columns)
    cols += [e.column for e in rules.exclusions] + [e.column for e in rules.optional_inclusions]
    cols += [it.key for it in ea.items] + list(ea.ibm_columns)
    return list(dict.fromkeys(cols))


def screening_required_columns(rules: EligibilityRules | None = None) -> list[str]:
    """The columns a screening table must have under ``rules`` (the shipped ProDERM rules when
    None)."""
    from myotrial.eligibility._rules import load_bohan_peter_rules, load_eligibility_rules

    rules = rules or load_eligibility_rules()
    bp = load_bohan_peter_rules()
    cols = ["subject_id", rules.age_column, rules.bmi_column, rules.mmt8_column]
    cols += [c.column for c in bp.criteria]
    cols += [m.column for m in rules.csm_thresholds]
    cols += list(rules.therapy_columns)
    cols += [e.column for e in rules.exclusions if e.required]
    return cols


def validate_screening(
    frame: pd.DataFrame, rules: EligibilityRules | None = None
) -> tuple[Candidate, ...]:
    """Validate a screening table; return one :class:`Candidate` per row.

    Raises
    ------
    InputValidationError
        Listing every problem at once (row, subject, column, value, rule): absent required
        columns, duplicate or blank subject_id, non-numeric or out-of-range numbers, values that
        are not true/false, an enzyme without its ULN, and any ``mmt8_max`` other than the
        scale the MMT-8 threshold is defined on (150 for ProDERM; never rescaled).
    """
    from myotrial.eligibility._rules import load_eligibility_rules, load_measure_ranges

    r = rules or load_eligibility_rules()
    ranges = load_measure_ranges()
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"screening must be a pandas DataFrame, got {type(frame).__name__}")
    names = [str(c).strip().lower() for c in frame.columns]
    dup = sorted({n for n in names if names.count(n) > 1})
    frame = frame.copy(deep=False)  # the input is never modified
    frame.columns = names
    collector = ProblemCollector(TABLE)
    columns = [str(c) for c in frame.columns]
    present = frozenset(columns)
    where = cite(TABLE)

    def problem(row: int | None, sid: str | None, col: str | None, value: Any, rule: str) -> None:
        if row is None:
            collector.add_table(col, f"{rule} {where}")
        else:
            collector.add_value(col, value, f"{rule} {where}", row=row, subject_id=sid)

    for col in screening_required_columns(r):
        if col not in present:
            problem(None, None, col, None, "required column is missing from the table")
    enzyme_cols = [n for n in r.enzyme_names if n in present]
    if not enzyme_cols:
        problem(
            None,
            None,
            ", ".join(r.enzyme_names),
            None,
            "at least one muscle enzyme column (with its <name>_uln column) is required",
        )
    for name in enzyme_cols:
        if f"{name}_uln" not in present:
            problem(
                None,
                None,
                f"{name}_uln",
                None,
                f"column {name} is given without its upper limit of normal {name}_uln",
            )
    for col in OUTPUT_COLUMNS:
        if col in present:
            problem(
                None, None, col, None, "is an output column of screening; remove it from the input"
            )
    for col in dup:
        problem(None, None, col, None, "column appears more than once")
    collector.raise_if_any()

    bool_cols = [c for c in screening_boolean_columns(r) if c in present]
    csm_cols = {m.key: m.column for m in r.csm_thresholds}
    seen: dict[str, int] = {}
    candidates: list[Candidate] = []
    records = frame.to_dict("records")
    for i, rec in enumerate(records, start=1):
        raw_sid = rec.get("subject_id")
        sid: str | None = None
        if is_missing(raw_sid):
            problem(i, None, "subject_id", None, "subject_id is required")
        else:
            try:
                sid = parse_text(str(raw_sid), max_length=64)
            except ValueParseError as exc:
                problem(i, None, "subject_id", raw_sid, f"subject_id {exc}")
        if sid is None:
            pass
        elif sid in seen:
            problem(
                i,
                sid,
                "subject_id",
                sid,
                f"duplicate subject_id (first on row {seen[sid]}): one row per candidate",
            )
        else:
            seen[sid] = i

        def number(
            col: str, row: int = i, s: str | None = sid, rc: dict[Any, Any] = rec
        ) -> Decimal | None:
            if col not in present:
                return None
            try:
                return parse_decimal(rc.get(col))
            except ValueParseError as exc:
                problem(row, s, col, rc.get(col), f"{col} {exc}")
                return None

        def check_range(
            col: str,
            value: Decimal | None,
            low: Decimal,
            high: Decimal | None,
            what: str,
            row: int = i,
            s: str | None = sid,
            rc: dict[Any, Any] = rec,
        ) -> None:
            if value is None:
                return
            if value < low or (high is not None and value > high):
                upper = "" if high is None else f" to {_fmt(high)}"
                problem(row, s, col, rc.get(col), f"{what} must be {_fmt(low)}{upper}")

        if "sex" in present:
            try:
                parse_code(rec.get("sex"), SEX_CODES)
            except ValueParseError as exc:
                problem(i, sid, "sex", rec.get("sex"), f"sex {exc}")
        age = number(r.age_column)
        check_range(r.age_column, age, Decimal(0), Decimal(120), "age in years (plausibility)")
        bmi = number(r.bmi_column)
        if bmi is not None and bmi <= 0:
            problem(i, sid, r.bmi_column, rec.get(r.bmi_column), "BMI must be greater than 0")
        onset = number("age_at_onset")
        check_range("age_at_onset", onset, Decimal(0), age, "age at onset (years, <= age)")
        measures: dict[str, Decimal | None] = {}
        for key, col in csm_cols.items():
            value = number(col)
            rng = ranges.get(col)
            if rng is not None:
                check_range(col, value, rng.min, rng.max, rng.label)
            measures[key] = value
        mmt_range = ranges["mmt8"]
        mmt8_max = number(r.mmt8_scale_column)
        if mmt8_max is None:
            mmt8_max = mmt_range.default_max or r.mmt8_scale_max
        elif mmt8_max != r.mmt8_scale_max:
            given_max = mmt8_max
            mmt8_max = r.mmt8_scale_max  # range-check mmt8 on the protocol scale below
            problem(
                i,
                sid,
                r.mmt8_scale_column,
                rec.get(r.mmt8_scale_column),
                f"the eligibility threshold '{r.mmt8_words}' is defined on the "
                f"{_fmt(r.mmt8_scale_max)}-point MMT-8 scale and is not rescaled: record MMT-8 "
                f"on that scale, or screen with a rules file (--rules) whose [mmt8] threshold "
                f"is defined on the {_fmt(given_max)}-point scale",
            )
        mmt8 = number(r.mmt8_column)
        check_range(
            r.mmt8_column,
            mmt8,
            mmt_range.min,
            mmt8_max,
            f"MMT-8 (on the {_fmt(mmt8_max)}-point scale)",
        )
        enzymes: list[EnzymeValue] = []
        for name in enzyme_cols:
            value = number(name)
            uln = number(f"{name}_uln")
            if value is not None and value < 0:
                problem(i, sid, name, rec.get(name), f"{name} (U/L) must be >= 0")
                continue
            if uln is not None and uln <= 0:
                problem(
                    i,
                    sid,
                    f"{name}_uln",
                    rec.get(f"{name}_uln"),
                    f"{name}_uln (upper limit of normal) must be > 0",
                )
                continue
            if value is not None and uln is None:
                problem(
                    i,
                    sid,
                    f"{name}_uln",
                    None,
                    f"{name} = {rec.get(name)} is given without its upper limit of normal",
                )
                continue
            if value is not None and uln is not None:
                enzymes.append(EnzymeValue(name, value, uln))
        flags: dict[str, bool | None] = {}
        for col in bool_cols:
            try:
                flags[col] = parse_bool(rec.get(col))
            except ValueParseError as exc:
                problem(i, sid, col, rec.get(col), f"{col} {exc}")
                flags[col] = None
        candidates.append(
            Candidate(
                row=i,
                subject_id=sid or "",
                age=age,
                bmi=bmi,
                mmt8=mmt8,
                mmt8_max=mmt8_max,
                measures=measures,
                enzymes=tuple(enzymes),
                flags=flags,
                age_at_onset=onset,
                columns=present,
            )
        )
    collector.raise_if_any()
    return tuple(candidates)
