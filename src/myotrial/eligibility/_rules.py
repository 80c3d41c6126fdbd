"""Loaders for the eligibility and classification rules files (``myotrial/rules/*.toml``).

Every threshold is read from data (style guide item 1): the published words sit beside the machine
value and the edge rule (``open``/``closed``). Loaders check the files and raise
:class:`myotrial.errors.RulesError` naming the file and key on any gap or inconsistency.
Numbers become :class:`~decimal.Decimal` (via their decimal text) or exact integer tenths.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal

from myotrial.errors import RulesError
from myotrial.rules import load_scales, rules_path

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


def _read_toml(name: str, path: str | os.PathLike[str] | None) -> tuple[str, dict[str, Any]]:
    p = rules_path(name) if path is None else Path(path)
    label = f"myotrial/rules/{name}" if path is None else str(p)
    if not p.exists():
        raise RulesError(f"{label}: no such rules file")
    try:
        return label, tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{label}: not valid TOML: {exc}") from None


def _get(data: Mapping[str, Any], key: str, label: str, where: str) -> Any:
    if key not in data:
        raise RulesError(f"{label}: [{where}] lacks required key {key!r}")
    return data[key]


def _dec(value: Any, label: str, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RulesError(f"{label}: [{where}] must be a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise RulesError(f"{label}: [{where}] must be a number, got {value!r}") from None
    if not number.is_finite():
        raise RulesError(f"{label}: [{where}] must be finite, got {value!r}")
    return number


def _tenths(value: Any, label: str, where: str) -> int:
    number = _dec(value, label, where) * 10
    if number != number.to_integral_value():
        raise RulesError(f"{label}: [{where}] = {value!r} is not a whole number of tenths")
    return int(number)


def _edge(value: Any, label: str, where: str) -> Edge:
    if value == "open":
        return "open"
    if value == "closed":
        return "closed"
    raise RulesError(f"{label}: [{where}] edge must be 'open' or 'closed', got {value!r}")


def _str(value: Any, label: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RulesError(f"{label}: [{where}] must be non-empty text, got {value!r}")
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


@cache
def _bohan_peter_default() -> BohanPeterRules:
    return _parse_bohan_peter(*_read_toml("bohan_peter_1975.toml", None))


def load_bohan_peter_rules(path: str | os.PathLike[str] | None = None) -> BohanPeterRules:
    """Load Bohan and Peter rules (the shipped file when ``path`` is None)."""
    if path is None:
        return _bohan_peter_default()
    return _parse_bohan_peter(*_read_toml("", path))


def _parse_bohan_peter(label: str, data: dict[str, Any]) -> BohanPeterRules:
    meta = _get(data, "meta", label, "")
    criteria = tuple(
        BohanPeterCriterion(
            number=int(_get(c, "number", label, "criteria")),
            key=_str(_get(c, "key", label, "criteria"), label, "criteria.key"),
            column=_str(_get(c, "column", label, "criteria"), label, "criteria.column"),
            words=_str(_get(c, "words", label, "criteria"), label, "criteria.words"),
        )
        for c in _get(data, "criteria", label, "")
    )
    keys = [c.key for c in criteria]
    expected = ["weakness", "biopsy", "enzymes", "emg", "rash"]
    if sorted(keys) != sorted(expected):
        raise RulesError(f"{label}: criteria keys must be {expected}, got {keys}")
    classes = []
    for key, rule in _get(data, "classes", label, "").items():
        min_count = int(_get(rule, "min_count", label, f"classes.{key}"))
        if not 1 <= min_count <= 4:
            raise RulesError(f"{label}: [classes.{key}] min_count must be 1-4, got {min_count}")
        classes.append(
            BohanPeterClassRule(
                key=key,
                words=_str(_get(rule, "words", label, f"classes.{key}"), label, key),
                requires_rash=bool(_get(rule, "requires_rash", label, f"classes.{key}")),
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
    exclusions = _get(data, "exclusions", label, "")
    return BohanPeterRules(
        citation=_str(_get(meta, "citation", label, "meta"), label, "meta.citation"),
        criteria=tuple(sorted(criteria, key=lambda c: c.number)),
        # most certain first, so the first class met is the answer
        classes=tuple(sorted(classes, key=lambda c: (not c.requires_rash, -c.min_count))),
        exclusion_column=_str(_get(exclusions, "column", label, "exclusions"), label, "column"),
        exclusion_words=tuple(_get(exclusions, "words", label, "exclusions")),
    )


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


@cache
def _eular_acr_default() -> EularAcrRules:
    return _parse_eular_acr(*_read_toml("eular_acr_2017.toml", None))


def load_eular_acr_rules(path: str | os.PathLike[str] | None = None) -> EularAcrRules:
    """Load 2017 EULAR/ACR rules (the shipped file when ``path`` is None)."""
    if path is None:
        return _eular_acr_default()
    return _parse_eular_acr(*_read_toml("", path))


def _parse_eular_acr(label: str, data: dict[str, Any]) -> EularAcrRules:
    meta = _get(data, "meta", label, "")
    age = _get(data, "age_at_onset", label, "")
    w = "age_at_onset"
    age_rule = EularAcrAgeRule(
        column=_str(_get(age, "column", label, w), label, w),
        young_min=_dec(_get(age, "young_min", label, w), label, w),
        young_max=_dec(_get(age, "young_max", label, w), label, w),
        older_min=_dec(_get(age, "older_min", label, w), label, w),
        young_words=_str(_get(age, "young_words", label, w), label, w),
        older_words=_str(_get(age, "older_words", label, w), label, w),
        young_tenths=(
            _tenths(_get(age, "young_points_without_biopsy", label, w), label, w),
            _tenths(_get(age, "young_points_with_biopsy", label, w), label, w),
        ),
        older_tenths=(
            _tenths(_get(age, "older_points_without_biopsy", label, w), label, w),
            _tenths(_get(age, "older_points_with_biopsy", label, w), label, w),
        ),
    )
    if age_rule.young_max != age_rule.older_min:
        raise RulesError(f"{label}: [age_at_onset] young_max must equal older_min (gap/overlap)")
    items = []
    for key, item in _get(data, "items", label, "").items():
        where = f"items.{key}"
        without = item.get("points_without_biopsy")
        items.append(
            EularAcrItem(
                key=key,
                words=_str(_get(item, "words", label, where), label, where),
                group=_str(_get(item, "group", label, where), label, where),
                tenths_without_biopsy=None if without is None else _tenths(without, label, where),
                tenths_with_biopsy=_tenths(
                    _get(item, "points_with_biopsy", label, where), label, where
                ),
            )
        )
    classes = []
    for key, rule in _get(data, "classes", label, "").items():
        where = f"classes.{key}"
        classes.append(
            EularAcrClassRule(
                key=key,
                words=_str(_get(rule, "words", label, where), label, where),
                min_tenths_without_biopsy=_tenths(
                    _get(rule, "min_without_biopsy", label, where), label, where
                ),
                min_tenths_with_biopsy=_tenths(
                    _get(rule, "min_with_biopsy", label, where), label, where
                ),
            )
        )
    if [c.key for c in classes] != ["possible", "probable", "definite"]:
        raise RulesError(f"{label}: classes must be possible, probable, definite (in that order)")
    for attr in ("min_tenths_without_biopsy", "min_tenths_with_biopsy"):
        cuts = [getattr(c, attr) for c in classes]
        if cuts != sorted(set(cuts)):
            raise RulesError(f"{label}: class cut-offs must strictly increase, got {cuts}")
    prob = _get(data, "probability", label, "")
    sub = _get(data, "subclassification", label, "")
    keys = {it.key for it in items}
    skin = tuple(_get(sub, "skin_items", label, "subclassification"))
    weak = tuple(_get(sub, "weakness_items", label, "subclassification"))
    unknown = [k for k in (*skin, *weak) if k not in keys]
    if unknown:
        raise RulesError(f"{label}: [subclassification] names unknown items {unknown}")
    return EularAcrRules(
        citation=_str(_get(meta, "citation", label, "meta"), label, "meta.citation"),
        age=age_rule,
        items=tuple(items),
        classes=tuple(classes),
        c_without_biopsy=float(_dec(_get(prob, "c_without_biopsy", label, "p"), label, "p")),
        c_with_biopsy=float(_dec(_get(prob, "c_with_biopsy", label, "p"), label, "p")),
        probability_status=_str(_get(prob, "status", label, "probability"), label, "status"),
        skin_items=skin,
        weakness_items=weak,
        ibm_columns=tuple(_get(sub, "ibm_columns", label, "subclassification")),
        juvenile_below=_dec(_get(sub, "juvenile_below", label, "sub"), label, "sub"),
    )


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


@cache
def _eligibility_default() -> EligibilityRules:
    return _parse_eligibility(*_read_toml("eligibility_proderm.toml", None))


def load_eligibility_rules(path: str | os.PathLike[str] | None = None) -> EligibilityRules:
    """Load eligibility rules: the shipped ProDERM file when ``path`` is None, else ``path``.

    A protocol with other thresholds (e.g. an MMT-8 cut-off on the 80-point scale) supplies its
    own file with the same keys.
    """
    if path is None:
        return _eligibility_default()
    return _parse_eligibility(*_read_toml("", path))


def _parse_eligibility(label: str, data: dict[str, Any]) -> EligibilityRules:
    meta = _get(data, "meta", label, "")
    age = _get(data, "age", label, "")
    bp = _get(data, "bohan_peter", label, "")
    therapy = _get(data, "therapy", label, "")
    mmt8 = _get(data, "mmt8", label, "")
    other = _get(data, "other_csm", label, "")
    enz = _get(other, "enzymes", label, "other_csm")
    bmi = _get(data, "bmi", label, "")
    thresholds = tuple(
        CsmThreshold(
            key=key,
            label=_str(_get(m, "label", label, f"other_csm.measures.{key}"), label, key),
            column=_str(_get(m, "column", label, f"other_csm.measures.{key}"), label, key),
            threshold=_dec(_get(m, "threshold", label, f"other_csm.measures.{key}"), label, key),
            edge=_edge(_get(m, "edge", label, f"other_csm.measures.{key}"), label, key),
            unit=str(m.get("unit", "")),
        )
        for key, m in _get(other, "measures", label, "other_csm").items()
    )
    accepted = tuple(_get(bp, "accepted", label, "bohan_peter"))
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
    min_count = int(_get(other, "min_count", label, "other_csm"))
    if not 0 <= min_count <= len(thresholds) + 1:
        raise RulesError(f"{label}: [other_csm] min_count {min_count} is out of range")

    def booleans(key: str, default_required: bool) -> tuple[BooleanCriterion, ...]:
        return tuple(
            BooleanCriterion(
                column=_str(_get(e, "column", label, key), label, key),
                words=_str(_get(e, "words", label, key), label, key),
                source=str(e.get("source", "primary")),
                required=bool(e.get("required", default_required)),
            )
            for e in data.get(key, [])
        )

    rules = EligibilityRules(
        source=label,
        citation=_str(_get(meta, "citation", label, "meta"), label, "meta.citation"),
        age_column=_str(_get(age, "column", label, "age"), label, "age"),
        age_words=_str(_get(age, "words", label, "age"), label, "age"),
        age_min=_dec(_get(age, "min", label, "age"), label, "age.min"),
        age_min_edge=_edge(_get(age, "min_edge", label, "age"), label, "age.min_edge"),
        age_max=_dec(_get(age, "max", label, "age"), label, "age.max"),
        age_max_edge=_edge(_get(age, "max_edge", label, "age"), label, "age.max_edge"),
        bohan_peter_words=_str(_get(bp, "words", label, "bohan_peter"), label, "bohan_peter"),
        bohan_peter_accepted=accepted,
        therapy_words=_str(_get(therapy, "words", label, "therapy"), label, "therapy"),
        therapy_columns=tuple(_get(therapy, "columns", label, "therapy")),
        mmt8_column=_str(_get(mmt8, "column", label, "mmt8"), label, "mmt8"),
        mmt8_scale_column=_str(_get(mmt8, "scale_column", label, "mmt8"), label, "mmt8"),
        mmt8_words=_str(_get(mmt8, "words", label, "mmt8"), label, "mmt8"),
        mmt8_below=_dec(_get(mmt8, "below", label, "mmt8"), label, "mmt8.below"),
        mmt8_edge=_edge(_get(mmt8, "edge", label, "mmt8"), label, "mmt8.edge"),
        mmt8_scale_max=_dec(_get(mmt8, "scale_max", label, "mmt8"), label, "mmt8.scale_max"),
        other_csm_words=_str(_get(other, "words", label, "other_csm"), label, "other_csm"),
        other_csm_min_count=min_count,
        csm_thresholds=thresholds,
        enzyme_words=_str(_get(enz, "words", label, "other_csm.enzymes"), label, "enzymes"),
        enzyme_names=tuple(_get(enz, "names", label, "other_csm.enzymes")),
        enzyme_uln_multiple=_dec(_get(enz, "uln_multiple", label, "enzymes"), label, "enzymes"),
        enzyme_edge=_edge(_get(enz, "edge", label, "other_csm.enzymes"), label, "enzymes"),
        bmi_column=_str(_get(bmi, "column", label, "bmi"), label, "bmi"),
        bmi_words=_str(_get(bmi, "words", label, "bmi"), label, "bmi"),
        bmi_exclude_at=_dec(_get(bmi, "exclude_at_or_above", label, "bmi"), label, "bmi"),
        bmi_edge=_edge(_get(bmi, "edge", label, "bmi"), label, "bmi.edge"),
        exclusions=booleans("exclusions", True),
        optional_inclusions=booleans("optional_inclusions", False),
    )
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
