"""Loaders for the eligibility and classification rules files (``myotrial/rules/*.toml``).

Every threshold is read from data (style guide item 1): the published words sit beside the machine
value and the edge rule (``open``/``closed``). Loaders check the files and raise
:class:`myotrial.errors.RulesError` naming the file and key on any gap or inconsistency.
Numbers become :class:`~decimal.Decimal` (via their decimal text) or exact integer tenths.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from myotrial.errors import RulesError
from myotrial.rules import load_scales, rules_path
from myotrial.tomlfile import TomlTable, read_toml

__all__ = [
    "BohanPeterRules",
    "EligibilityRules",
    "EularAcrRules",
    "load_bohan_peter_rules",
    "load_eligibility_rules",
    "load_eular_acr_rules",
    "load_measure_ranges",
]

Edge = Literal["open", "closed"]


def _read_toml(name: str, path: str | os.PathLike[str] | None, kind: str) -> TomlTable:
    """The bundled rules file ``name`` (or ``path``), read strictly."""
    return read_toml(rules_path(name) if path is None else Path(path), kind)


def _dec(t: TomlTable, key: str) -> Decimal:
    """A finite number of table ``t`` as an exact decimal (via its decimal text)."""
    value = t.raw(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise t.error(key, f"must be a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise t.error(key, f"must be a number, got {value!r}") from None
    if not number.is_finite():
        raise t.error(key, f"must be finite, got {value!r}")
    return number


def _tenths(t: TomlTable, key: str) -> int:
    number = _dec(t, key) * 10
    if number != number.to_integral_value():
        raise t.error(key, f"= {t.data[key]!r} is not a whole number of tenths")
    return int(number)


def _edge(t: TomlTable, key: str) -> Edge:
    value = t.raw(key)
    if value == "open":
        return "open"
    if value == "closed":
        return "closed"
    raise t.error(key, f"edge must be 'open' or 'closed', got {value!r}")


def _str(t: TomlTable, key: str) -> str:
    value: str = t.str(key)
    if not value.strip():
        raise t.error(key, f"must be non-empty text, got {value!r}")
    return value


# --------------------------------------------------------------------------------------------
# Bohan and Peter


@dataclass(frozen=True)
class BohanPeterCriterion:
    number: int
    key: str
    column: str
    words: str


@dataclass(frozen=True)
class BohanPeterClassRule:
    key: str
    words: str
    requires_rash: bool
    min_count: int


@dataclass(frozen=True)
class BohanPeterRules:
    """Bohan and Peter 1975 rules (``bohan_peter_1975.toml``)."""

    citation: str
    criteria: tuple[BohanPeterCriterion, ...]
    classes: tuple[BohanPeterClassRule, ...]
    exclusion_column: str
    exclusion_words: tuple[str, ...]

    @property
    def muscle_criteria(self) -> tuple[BohanPeterCriterion, ...]:
        """Criteria 1-4 (all but the rash)."""
        return tuple(c for c in self.criteria if c.key != "rash")

    @property
    def rash(self) -> BohanPeterCriterion:
        return next(c for c in self.criteria if c.key == "rash")


_BP_KIND = "Bohan and Peter rules file"


@cache
def _bohan_peter_default() -> BohanPeterRules:
    return _parse_bohan_peter(_read_toml("bohan_peter_1975.toml", None, _BP_KIND))


def load_bohan_peter_rules(path: str | os.PathLike[str] | None = None) -> BohanPeterRules:
    """Load Bohan and Peter rules (the shipped file when ``path`` is None)."""
    if path is None:
        return _bohan_peter_default()
    return _parse_bohan_peter(_read_toml("", path, _BP_KIND))


def _parse_bohan_peter(doc: TomlTable) -> BohanPeterRules:
    label = str(doc.source)
    meta = doc.table("meta")
    meta.documentation("title", "wording_status", "version")
    criteria = []
    for c in doc.tables("criteria"):
        criteria.append(
            BohanPeterCriterion(
                number=c.int("number", min=1),
                key=_str(c, "key"),
                column=_str(c, "column"),
                words=_str(c, "words"),
            )
        )
    keys = [c.key for c in criteria]
    expected = ["weakness", "biopsy", "enzymes", "emg", "rash"]
    if sorted(keys) != sorted(expected):
        raise RulesError(f"{label}: criteria keys must be {expected}, got {keys}")
    classes = []
    for key, rule in doc.table("classes").subtables():
        min_count = rule.int("min_count")
        if not 1 <= min_count <= 4:
            raise RulesError(f"{label}: [classes.{key}] min_count must be 1-4, got {min_count}")
        classes.append(
            BohanPeterClassRule(
                key=key,
                words=_str(rule, "words"),
                requires_rash=rule.bool("requires_rash"),
                min_count=min_count,
            )
        )
    want = {
        "definite_dm",
        "probable_dm",
        "possible_dm",
        "definite_pm",
        "probable_pm",
        "possible_pm",
    }
    if {c.key for c in classes} != want:
        raise RulesError(f"{label}: classes must be exactly {sorted(want)}")
    for rash in (True, False):
        counts = [c.min_count for c in classes if c.requires_rash is rash]
        if len(set(counts)) != len(counts):
            raise RulesError(f"{label}: two classes share a min_count (overlap) for rash={rash}")
    exclusions = doc.table("exclusions")
    rules = BohanPeterRules(
        citation=_str(meta, "citation"),
        criteria=tuple(sorted(criteria, key=lambda c: c.number)),
        # most certain first, so the first class met is the answer
        classes=tuple(sorted(classes, key=lambda c: (not c.requires_rash, -c.min_count))),
        exclusion_column=_str(exclusions, "column"),
        exclusion_words=exclusions.str_list("words"),
    )
    doc.finish()
    return rules


# --------------------------------------------------------------------------------------------
# EULAR/ACR 2017


@dataclass(frozen=True)
class EularAcrItem:
    key: str
    words: str
    group: str
    tenths_without_biopsy: int | None  # None: biopsy-only item
    tenths_with_biopsy: int


@dataclass(frozen=True)
class EularAcrClassRule:
    key: str
    words: str
    min_tenths_without_biopsy: int
    min_tenths_with_biopsy: int


@dataclass(frozen=True)
class EularAcrAgeRule:
    column: str
    young_min: Decimal
    young_max: Decimal
    older_min: Decimal
    young_words: str
    older_words: str
    young_tenths: tuple[int, int]  # (without, with biopsy)
    older_tenths: tuple[int, int]


@dataclass(frozen=True)
class EularAcrRules:
    """2017 EULAR/ACR IIM rules (``eular_acr_2017.toml``); points as integer tenths."""

    citation: str
    age: EularAcrAgeRule
    items: tuple[EularAcrItem, ...]
    classes: tuple[EularAcrClassRule, ...]  # ascending cut-offs
    c_without_biopsy: float
    c_with_biopsy: float
    probability_status: str
    skin_items: tuple[str, ...]
    weakness_items: tuple[str, ...]
    ibm_columns: tuple[str, ...]
    juvenile_below: Decimal

    def item(self, key: str) -> EularAcrItem:
        for it in self.items:
            if it.key == key:
                return it
        raise KeyError(key)


_EA_KIND = "EULAR/ACR rules file"


@cache
def _eular_acr_default() -> EularAcrRules:
    return _parse_eular_acr(_read_toml("eular_acr_2017.toml", None, _EA_KIND))


def load_eular_acr_rules(path: str | os.PathLike[str] | None = None) -> EularAcrRules:
    """Load 2017 EULAR/ACR rules (the shipped file when ``path`` is None)."""
    if path is None:
        return _eular_acr_default()
    return _parse_eular_acr(_read_toml("", path, _EA_KIND))


def _parse_eular_acr(doc: TomlTable) -> EularAcrRules:
    label = str(doc.source)
    meta = doc.table("meta")
    meta.documentation("title", "wording_status", "version")
    age = doc.table("age_at_onset")
    age_rule = EularAcrAgeRule(
        column=_str(age, "column"),
        young_min=_dec(age, "young_min"),
        young_max=_dec(age, "young_max"),
        older_min=_dec(age, "older_min"),
        young_words=_str(age, "young_words"),
        older_words=_str(age, "older_words"),
        young_tenths=(
            _tenths(age, "young_points_without_biopsy"),
            _tenths(age, "young_points_with_biopsy"),
        ),
        older_tenths=(
            _tenths(age, "older_points_without_biopsy"),
            _tenths(age, "older_points_with_biopsy"),
        ),
    )
    if age_rule.young_max != age_rule.older_min:
        raise RulesError(f"{label}: [age_at_onset] young_max must equal older_min (gap/overlap)")
    items = []
    for key, item in doc.table("items").subtables():
        items.append(
            EularAcrItem(
                key=key,
                words=_str(item, "words"),
                group=_str(item, "group"),
                tenths_without_biopsy=(
                    _tenths(item, "points_without_biopsy")
                    if "points_without_biopsy" in item
                    else None
                ),
                tenths_with_biopsy=_tenths(item, "points_with_biopsy"),
            )
        )
    classes = []
    for key, rule in doc.table("classes").subtables():
        classes.append(
            EularAcrClassRule(
                key=key,
                words=_str(rule, "words"),
                min_tenths_without_biopsy=_tenths(rule, "min_without_biopsy"),
                min_tenths_with_biopsy=_tenths(rule, "min_with_biopsy"),
            )
        )
    if [c.key for c in classes] != ["possible", "probable", "definite"]:
        raise RulesError(f"{label}: classes must be possible, probable, definite (in that order)")
    for attr in ("min_tenths_without_biopsy", "min_tenths_with_biopsy"):
        cuts = [getattr(c, attr) for c in classes]
        if cuts != sorted(set(cuts)):
            raise RulesError(f"{label}: class cut-offs must strictly increase, got {cuts}")
    prob = doc.table("probability")
    prob.documentation("formula")
    sub = doc.table("subclassification")
    sub.documentation("status")
    keys = {it.key for it in items}
    skin = sub.str_list("skin_items")
    weak = sub.str_list("weakness_items")
    unknown = [k for k in (*skin, *weak) if k not in keys]
    if unknown:
        raise RulesError(f"{label}: [subclassification] names unknown items {unknown}")
    rules = EularAcrRules(
        citation=_str(meta, "citation"),
        age=age_rule,
        items=tuple(items),
        classes=tuple(classes),
        c_without_biopsy=float(_dec(prob, "c_without_biopsy")),
        c_with_biopsy=float(_dec(prob, "c_with_biopsy")),
        probability_status=_str(prob, "status"),
        skin_items=skin,
        weakness_items=weak,
        ibm_columns=sub.str_list("ibm_columns"),
        juvenile_below=_dec(sub, "juvenile_below"),
    )
    doc.finish()
    return rules


# --------------------------------------------------------------------------------------------
# ProDERM eligibility


@dataclass(frozen=True)
class CsmThreshold:
    """An "abnormal core set measure" rule: abnormal when value >= (closed) / > (open) threshold."""

    key: str
    label: str
    column: str
    threshold: Decimal
    edge: Edge
    unit: str


@dataclass(frozen=True)
class BooleanCriterion:
    column: str
    words: str
    source: str
    required: bool


@dataclass(frozen=True)
class EligibilityRules:
    """ProDERM eligibility rules (``eligibility_proderm.toml``), see its comments for sources."""

    source: str
    citation: str
    age_column: str
    age_words: str
    age_min: Decimal
    age_min_edge: Edge
    age_max: Decimal
    age_max_edge: Edge
    bohan_peter_words: str
    bohan_peter_accepted: tuple[str, ...]
    therapy_words: str
    therapy_columns: tuple[str, ...]
    mmt8_column: str
    mmt8_scale_column: str
    mmt8_words: str
    mmt8_below: Decimal
    mmt8_edge: Edge
    mmt8_scale_max: Decimal
    other_csm_words: str
    other_csm_min_count: int
    csm_thresholds: tuple[CsmThreshold, ...]
    enzyme_words: str
    enzyme_names: tuple[str, ...]
    enzyme_uln_multiple: Decimal
    enzyme_edge: Edge
    bmi_column: str
    bmi_words: str
    bmi_exclude_at: Decimal
    bmi_edge: Edge
    exclusions: tuple[BooleanCriterion, ...]
    optional_inclusions: tuple[BooleanCriterion, ...]


_EL_KIND = "eligibility rules file"


@cache
def _eligibility_default() -> EligibilityRules:
    return _parse_eligibility(
        _read_toml("eligibility_proderm.toml", None, _EL_KIND),
        "myotrial/rules/eligibility_proderm.toml",
    )


def load_eligibility_rules(path: str | os.PathLike[str] | None = None) -> EligibilityRules:
    """Load eligibility rules: the shipped ProDERM file when ``path`` is None, else ``path``.

    A protocol with other thresholds (e.g. an MMT-8 cut-off on the 80-point scale) supplies its
    own file with the same keys. Unknown or misspelt keys are rejected (file, key path and a
    "did you mean" suggestion).
    """
    if path is None:
        return _eligibility_default()
    return _parse_eligibility(_read_toml("", path, _EL_KIND), str(path))


def _parse_eligibility(doc: TomlTable, label: str) -> EligibilityRules:
    meta = doc.table("meta")
    meta.documentation("title", "registry", "version")
    age = doc.table("age")
    age.documentation("unit")
    bp = doc.table("bohan_peter")
    therapy = doc.table("therapy")
    mmt8 = doc.table("mmt8")
    other = doc.table("other_csm")
    enz = other.table("enzymes")
    enz.documentation("label")
    bmi = doc.table("bmi")
    bmi.documentation("unit")
    thresholds = tuple(
        CsmThreshold(
            key=key,
            label=_str(m, "label"),
            column=_str(m, "column"),
            threshold=_dec(m, "threshold"),
            edge=_edge(m, "edge"),
            unit=m.str("unit", ""),
        )
        for key, m in other.table("measures").subtables()
    )
    accepted = bp.str_list("accepted")
    valid = {
        "definite_dm",
        "probable_dm",
        "possible_dm",
        "definite_pm",
        "probable_pm",
        "possible_pm",
    }
    if not accepted or not set(accepted) <= valid:
        raise RulesError(f"{label}: [bohan_peter] accepted must be among {sorted(valid)}")
    min_count = other.int("min_count")
    if not 0 <= min_count <= len(thresholds) + 1:
        raise RulesError(f"{label}: [other_csm] min_count {min_count} is out of range")

    def booleans(key: str, default_required: bool) -> tuple[BooleanCriterion, ...]:
        return tuple(
            BooleanCriterion(
                column=_str(e, "column"),
                words=_str(e, "words"),
                source=e.str("source", "primary", choices=("primary", "secondary")),
                required=e.bool("required", default_required),
            )
            for e in doc.tables(key, [])
        )

    rules = EligibilityRules(
        source=label,
        citation=_str(meta, "citation"),
        age_column=_str(age, "column"),
        age_words=_str(age, "words"),
        age_min=_dec(age, "min"),
        age_min_edge=_edge(age, "min_edge"),
        age_max=_dec(age, "max"),
        age_max_edge=_edge(age, "max_edge"),
        bohan_peter_words=_str(bp, "words"),
        bohan_peter_accepted=accepted,
        therapy_words=_str(therapy, "words"),
        therapy_columns=therapy.str_list("columns"),
        mmt8_column=_str(mmt8, "column"),
        mmt8_scale_column=_str(mmt8, "scale_column"),
        mmt8_words=_str(mmt8, "words"),
        mmt8_below=_dec(mmt8, "below"),
        mmt8_edge=_edge(mmt8, "edge"),
        mmt8_scale_max=_dec(mmt8, "scale_max"),
        other_csm_words=_str(other, "words"),
        other_csm_min_count=min_count,
        csm_thresholds=thresholds,
        enzyme_words=_str(enz, "words"),
        enzyme_names=enz.str_list("names"),
        enzyme_uln_multiple=_dec(enz, "uln_multiple"),
        enzyme_edge=_edge(enz, "edge"),
        bmi_column=_str(bmi, "column"),
        bmi_words=_str(bmi, "words"),
        bmi_exclude_at=_dec(bmi, "exclude_at_or_above"),
        bmi_edge=_edge(bmi, "edge"),
        exclusions=booleans("exclusions", True),
        optional_inclusions=booleans("optional_inclusions", False),
    )
    doc.finish()
    if rules.age_min >= rules.age_max:
        raise RulesError(f"{label}: [age] min must be below max")
    if not 0 < rules.mmt8_below <= rules.mmt8_scale_max:
        raise RulesError(f"{label}: [mmt8] below must lie in (0, scale_max]")
    return rules


# --------------------------------------------------------------------------------------------
# Core set measure ranges (measures.toml, shared with scoring)


@dataclass(frozen=True)
class MeasureRange:
    label: str
    min: Decimal
    max: Decimal | None  # None: per-row maximum (mmt8_max)
    default_max: Decimal | None


@cache
def load_measure_ranges() -> dict[str, MeasureRange]:
    """Ranges of the fixed-range core set measures and MMT-8 (``myotrial.rules.load_scales``)."""
    out: dict[str, MeasureRange] = {}
    for key, m in load_scales().measures.items():
        if m.min is None:
            continue
        out[key] = MeasureRange(
            label=m.label,
            min=Decimal(str(m.min)),
            max=None if m.max is None else Decimal(str(m.max)),
            default_max=None if m.default_max is None else Decimal(str(m.default_max)),
        )
    return out


def compare_at_least(value: Decimal, threshold: Decimal, edge: Edge) -> bool:
    """``value >= threshold`` for a closed edge, ``value > threshold`` for an open one."""
    return value >= threshold if edge == "closed" else value > threshold


def compare_at_most(value: Decimal, threshold: Decimal, edge: Edge) -> bool:
    """``value <= threshold`` for a closed edge, ``value < threshold`` for an open one."""
    return value <= threshold if edge == "closed" else value < threshold
