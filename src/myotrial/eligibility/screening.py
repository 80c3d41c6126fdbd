"""ProDERM eligibility screening: validate a screening table, then decide each candidate.

Rules: ``myotrial/rules/eligibility_proderm.toml`` (Aggarwal R et al. N Engl J Med
2022;387:1264-78, doi:10.1056/NEJMoa2117912, "Eligibility" as summarised in
shared/reference/proderm.md). Inclusion: age >= 18 and < 80; definite or probable DM by Bohan and
Peter; stable therapy >= 4 weeks or prior treatment failure; MMT-8 < 142 (of 150) plus >= 2 other
abnormal core set measures (PtGA, PGA, extramuscular VAS >= 2 cm; an enzyme > 1.5 x ULN;
HAQ >= 0.25). Exclusions: cancer-associated myositis, active malignancy, BMI >= 40, DVT in the
last year, starting physical therapy, IVIG within 6 months (further secondary-source exclusions
when their columns are present).

Decisions use three-valued logic: a candidate is **ineligible** when any criterion is recorded as
failed (even if other inputs are missing: the failure alone decides), **not assessable** when no
criterion failed but some could not be checked for missing inputs (the missing columns are named),
and **eligible** only when every criterion is recorded as met. Nothing is silently assumed, except
the Bohan and Peter exclusions when the optional ``bp_exclusion`` column is absent, which the
decision states in its notes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

from myotrial.eligibility._logic import all3, any3, fmt
from myotrial.eligibility._rules import (
    EligibilityRules,
    compare_at_least,
    compare_at_most,
    load_bohan_peter_rules,
    load_eligibility_rules,
    load_eular_acr_rules,
)
from myotrial.eligibility.bohan_peter import (
    BohanPeterClass,
    BohanPeterResult,
    classify_bohan_peter,
)
from myotrial.eligibility.eular_acr import EularAcrResult, compute_eular_acr
from myotrial.tables.screening import (
    OUTPUT_COLUMNS,
    Candidate,
    EnzymeValue,
    validate_screening,
)

__all__ = [
    "OUTPUT_COLUMNS",
    "Candidate",
    "CriterionResult",
    "EnzymeValue",
    "ScreeningDecision",
    "ScreeningStatus",
    "assess_eligibility",
    "decisions_to_frame",
    "derive_screening",
    "screen_candidates",
    "validate_screening",
]


class ScreeningStatus(StrEnum):
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    NOT_ASSESSABLE = "not_assessable"


@dataclass(frozen=True)
class CriterionResult:
    """One eligibility criterion for one candidate.

    ``met`` is True, False, or None (not assessable: ``missing`` names the absent columns);
    ``detail`` is the sentence a clinician reads, with the values used.
    """

    key: str
    kind: str  # "inclusion" or "exclusion"
    words: str
    met: bool | None
    detail: str
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScreeningDecision:
    """Eligibility decision for one candidate, with every criterion and the classifications."""

    subject_id: str
    row: int | None
    status: ScreeningStatus
    criteria: tuple[CriterionResult, ...]
    bohan_peter: BohanPeterResult
    eular_acr: EularAcrResult | None
    not_checked: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def eligible(self) -> bool | None:
        """True / False, or None when not assessable."""
        if self.status is ScreeningStatus.NOT_ASSESSABLE:
            return None
        return self.status is ScreeningStatus.ELIGIBLE

    @property
    def criteria_met(self) -> tuple[str, ...]:
        return tuple(c.detail for c in self.criteria if c.met is True)

    @property
    def criteria_failed(self) -> tuple[str, ...]:
        return tuple(c.detail for c in self.criteria if c.met is False)

    @property
    def criteria_not_assessable(self) -> tuple[str, ...]:
        return tuple(c.detail for c in self.criteria if c.met is None)

    @property
    def missing_fields(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for c in self.criteria:
            for m in c.missing:
                seen.setdefault(m, None)
        return tuple(seen)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why not eligible: every failed criterion, then every criterion not assessable."""
        return self.criteria_failed + tuple(
            f"not assessable: {d}" for d in self.criteria_not_assessable
        )


# ----------------------------------------------------------------------------------------------
# validation


# ----------------------------------------------------------------------------------------------
# criteria


def _age_criterion(c: Candidate, r: EligibilityRules) -> CriterionResult:
    words = r.age_words
    if c.age is None:
        return CriterionResult(
            "age", "inclusion", words, None, f"age not recorded ({r.age_column})", (r.age_column,)
        )
    ok = compare_at_least(c.age, r.age_min, r.age_min_edge) and compare_at_most(
        c.age, r.age_max, r.age_max_edge
    )
    verdict = "within" if ok else "outside"
    return CriterionResult(
        "age", "inclusion", words, ok, f"age {fmt(c.age)} years: {verdict} {words}"
    )


def _bohan_peter_criterion(
    c: Candidate, r: EligibilityRules, notes: list[str]
) -> tuple[CriterionResult, BohanPeterResult]:
    bp = load_bohan_peter_rules()
    cols = {cr.key: cr.column for cr in bp.criteria}
    if bp.exclusion_column in c.columns:
        exclusion = c.flags.get(bp.exclusion_column)
    else:
        exclusion = False
        notes.append(
            f"Bohan and Peter exclusions not recorded (no {bp.exclusion_column} column): "
            "assumed absent"
        )
    result = classify_bohan_peter(
        weakness=c.flags.get(cols["weakness"]),
        biopsy=c.flags.get(cols["biopsy"]),
        enzymes=c.flags.get(cols["enzymes"]),
        emg=c.flags.get(cols["emg"]),
        rash=c.flags.get(cols["rash"]),
        exclusion=exclusion,
        rules=bp,
    )
    accepted = set(r.bohan_peter_accepted)
    possible = {p.value for p in result.possible_categories}
    met: bool | None
    if possible <= accepted:
        met = True
    elif not possible & accepted:
        met = False
    else:
        met = None
    missing = tuple(cols.get(m, bp.exclusion_column) for m in result.missing) if met is None else ()
    words = r.bohan_peter_words
    if result.category is BohanPeterClass.NOT_ASSESSABLE:
        detail = f"{result.words}; required: {words}"
    else:
        detail = f"{result.words}" + ("" if met else f"; required: {words}")
    return CriterionResult("bohan_peter", "inclusion", words, met, detail, missing), result


def _therapy_criterion(c: Candidate, r: EligibilityRules) -> CriterionResult:
    values = [c.flags.get(col) for col in r.therapy_columns]
    met = any3(values)
    names = " or ".join(r.therapy_columns)
    if met is True:
        which = ", ".join(col for col, v in zip(r.therapy_columns, values, strict=True) if v)
        detail = f"therapy criterion met ({which})"
    elif met is False:
        detail = f"therapy criterion not met (neither {names}): {r.therapy_words}"
    else:
        detail = f"therapy criterion not recorded ({names})"
    missing = (
        tuple(col for col, v in zip(r.therapy_columns, values, strict=True) if v is None)
        if met is None
        else ()
    )
    return CriterionResult("therapy", "inclusion", r.therapy_words, met, detail, missing)


def _mmt8_criterion(c: Candidate, r: EligibilityRules) -> CriterionResult:
    words = r.mmt8_words
    if c.mmt8 is None:
        return CriterionResult(
            "mmt8",
            "inclusion",
            words,
            None,
            f"MMT-8 not recorded ({r.mmt8_column})",
            (r.mmt8_column,),
        )
    met = compare_at_most(c.mmt8, r.mmt8_below, r.mmt8_edge)
    op = "<" if r.mmt8_edge == "open" else "<="
    verdict = "meets" if met else "does not meet"
    return CriterionResult(
        "mmt8",
        "inclusion",
        words,
        met,
        f"MMT-8 {fmt(c.mmt8)} of {fmt(c.mmt8_max)}: {verdict} MMT-8 {op} {fmt(r.mmt8_below)}",
    )


def _other_csm_criterion(c: Candidate, r: EligibilityRules) -> CriterionResult:
    abnormal: list[str] = []
    normal: list[str] = []
    missing: list[str] = []
    for m in r.csm_thresholds:
        value = c.measures.get(m.key)
        unit = f" {m.unit}" if m.unit else ""
        if value is None:
            missing.append(m.column)
            continue
        is_abn = compare_at_least(value, m.threshold, m.edge)
        op = (
            (">=" if m.edge == "closed" else ">")
            if is_abn
            else ("<" if m.edge == "closed" else "<=")
        )
        text = f"{m.label} {fmt(value)}{unit} {op} {fmt(m.threshold)}{unit}"
        (abnormal if is_abn else normal).append(text)
    k = fmt(r.enzyme_uln_multiple)
    if not c.enzymes:
        missing.append("enzymes (" + ", ".join(r.enzyme_names) + ")")
    else:
        hits = [
            e
            for e in c.enzymes
            if compare_at_least(e.value, r.enzyme_uln_multiple * e.uln, r.enzyme_edge)
        ]
        if hits:
            abnormal.append(
                "; ".join(
                    f"{e.name.upper()} {fmt(e.value)} U/L > {k} x ULN {fmt(e.uln)}" for e in hits
                )
            )
        else:
            normal.append(
                ", ".join(
                    f"{e.name.upper()} {fmt(e.value)} U/L not > {k} x ULN {fmt(e.uln)}"
                    for e in c.enzymes
                )
            )
    n_abn = len(abnormal)
    need = r.other_csm_min_count
    met: bool | None
    if n_abn >= need:
        met = True
    elif n_abn + len(missing) < need:
        met = False
    else:
        met = None
    plural = "" if n_abn == 1 else "s"
    parts = [f"{n_abn} other abnormal core set measure{plural} (at least {need} required)"]
    if abnormal:
        parts.append("abnormal: " + "; ".join(abnormal))
    if normal and met is not True:
        parts.append("not abnormal: " + "; ".join(normal))
    if missing and met is not True:
        parts.append("not recorded: " + ", ".join(missing))
    miss = tuple(missing) if met is None else ()
    return CriterionResult(
        "other_csm", "inclusion", r.other_csm_words, met, " — ".join(parts), miss
    )


def _bmi_criterion(c: Candidate, r: EligibilityRules) -> CriterionResult:
    words = f"exclusion: {r.bmi_words}"
    if c.bmi is None:
        return CriterionResult(
            "bmi", "exclusion", words, None, f"BMI not recorded ({r.bmi_column})", (r.bmi_column,)
        )
    excluded = compare_at_least(c.bmi, r.bmi_exclude_at, r.bmi_edge)
    if excluded:
        detail = f"BMI {fmt(c.bmi)} kg/m2 (exclusion: {r.bmi_words})"
    else:
        detail = f"BMI {fmt(c.bmi)} kg/m2: not in the exclusion range ({r.bmi_words})"
    return CriterionResult("bmi", "exclusion", words, not excluded, detail)


def assess_eligibility(
    candidate: Candidate, rules: EligibilityRules | None = None
) -> ScreeningDecision:
    """Decide one validated candidate against the ProDERM criteria (see module docstring)."""
    r = rules or load_eligibility_rules()
    c = candidate
    notes: list[str] = []
    not_checked: list[str] = []
    criteria: list[CriterionResult] = [_age_criterion(c, r)]
    bp_criterion, bp_result = _bohan_peter_criterion(c, r, notes)
    criteria += [
        bp_criterion,
        _therapy_criterion(c, r),
        _mmt8_criterion(c, r),
        _other_csm_criterion(c, r),
    ]
    for inc in r.optional_inclusions:
        if inc.column not in c.columns:
            not_checked.append(f"{inc.words} (no {inc.column} column)")
            continue
        v = c.flags.get(inc.column)
        detail = {
            True: f"{inc.words}: yes",
            False: f"{inc.words}: no",
            None: f"{inc.words} not recorded ({inc.column})",
        }[v]
        criteria.append(
            CriterionResult(
                inc.column, "inclusion", inc.words, v, detail, (inc.column,) if v is None else ()
            )
        )
    criteria.append(_bmi_criterion(c, r))
    for exc in r.exclusions:
        if exc.column not in c.columns:
            not_checked.append(f"exclusion: {exc.words} (no {exc.column} column)")
            continue
        v = c.flags.get(exc.column)
        if v is True:
            criteria.append(
                CriterionResult(
                    exc.column, "exclusion", exc.words, False, f"exclusion: {exc.words}"
                )
            )
        elif v is False:
            criteria.append(
                CriterionResult(exc.column, "exclusion", exc.words, True, f"no {exc.words}")
            )
        else:
            criteria.append(
                CriterionResult(
                    exc.column,
                    "exclusion",
                    exc.words,
                    None,
                    f"exclusion '{exc.words}' not recorded ({exc.column})",
                    (exc.column,),
                )
            )
    overall = all3(cr.met for cr in criteria)
    status = {
        True: ScreeningStatus.ELIGIBLE,
        False: ScreeningStatus.INELIGIBLE,
        None: ScreeningStatus.NOT_ASSESSABLE,
    }[overall]
    return ScreeningDecision(
        subject_id=c.subject_id,
        row=c.row,
        status=status,
        criteria=tuple(criteria),
        bohan_peter=bp_result,
        eular_acr=_eular_acr_for(c),
        not_checked=tuple(not_checked),
        notes=tuple(notes),
    )


def _eular_acr_for(c: Candidate) -> EularAcrResult | None:
    ea = load_eular_acr_rules()
    keys = [it.key for it in ea.items]
    if not any(k in c.columns for k in (*keys, ea.age.column)):
        return None
    items = {k: c.flags.get(k) for k in keys}
    biopsy_keys = [k for k in keys if k.startswith("biopsy_")]
    biopsy = any(c.flags.get(k) is not None for k in biopsy_keys)
    extra = {k: c.flags.get(k) for k in ea.ibm_columns}
    return compute_eular_acr(
        items, age_at_onset=c.age_at_onset, biopsy=biopsy, extra=extra, rules=ea
    )


# ----------------------------------------------------------------------------------------------
# table in -> table out


def screen_candidates(
    frame: pd.DataFrame, rules: EligibilityRules | str | os.PathLike[str] | None = None
) -> tuple[ScreeningDecision, ...]:
    """Validate ``frame`` and decide every candidate (raises :class:`InputValidationError`)."""
    r = rules if isinstance(rules, EligibilityRules) else load_eligibility_rules(rules)
    return tuple(assess_eligibility(c, r) for c in validate_screening(frame, r))


def _bool_text(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def decisions_to_frame(frame: pd.DataFrame, decisions: Sequence[ScreeningDecision]) -> pd.DataFrame:
    """Input columns passed through, plus :data:`OUTPUT_COLUMNS` (one row per input row)."""
    out = frame.copy()
    rows: list[dict[str, Any]] = []
    for d in decisions:
        ea = d.eular_acr
        rows.append(
            {
                "eligible": _bool_text(d.eligible),
                "screening_status": d.status.value,
                "reasons": "; ".join(d.reasons) or None,
                "criteria_met": "; ".join(d.criteria_met) or None,
                "missing_fields": ";".join(d.missing_fields) or None,
                "not_checked": "; ".join(d.not_checked) or None,
                "screening_notes": "; ".join(d.notes) or None,
                "bohan_peter_class": d.bohan_peter.category.value,
                "eular_acr_score": None if ea is None else float(ea.score),
                "eular_acr_biopsy": None if ea is None else _bool_text(ea.biopsy),
                "eular_acr_class": None if ea is None else ea.category.value,
                "eular_acr_probability": (
                    None if ea is None or ea.probability is None else round(ea.probability, 4)
                ),
                "eular_acr_subclass": None if ea is None else ea.subclass,
                "eular_acr_missing": None if ea is None else (";".join(ea.missing) or None),
            }
        )
    added = pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS), index=out.index)
    for col in OUTPUT_COLUMNS:
        out[col] = added[col]
    return out


def derive_screening(
    frame: pd.DataFrame, rules: EligibilityRules | str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """Screening table in, screened table out (input never mutated).

    Adds ``eligible`` (true/false, blank when not assessable), ``screening_status``, ``reasons``
    (every failed / unassessable criterion in words), ``criteria_met``, ``missing_fields``,
    ``not_checked``, ``bohan_peter_class``, ``eular_acr_score``, ``eular_acr_biopsy``,
    ``eular_acr_class``, ``eular_acr_probability`` (approximate), ``eular_acr_subclass``
    (unconfirmed) and ``eular_acr_missing``. Raises :class:`InputValidationError` on bad input.
    """
    return decisions_to_frame(frame, screen_candidates(frame, rules))
