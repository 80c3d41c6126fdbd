"""2017 EULAR/ACR classification criteria for idiopathic inflammatory myopathies (IIM).

Rules in ``myotrial/rules/eular_acr_2017.toml`` (Lundberg IE et al. Ann Rheum Dis
2017;76:1955-64, doi:10.1136/annrheumdis-2017-211468). The score is the sum of the points of the
items present, with separate weights without and with a muscle biopsy. Points are summed as
integer tenths, so class cut-offs are exact (a total of exactly 5.5 without biopsy is "probable").
Classes (closed edges): possible >= 5.3 / 6.5, probable >= 5.5 / 6.7, definite >= 7.5 / 8.7
(without / with biopsy); below "possible": no IIM.

The score-to-probability formula ``P = 1 / (1 + exp(c - score))`` with ``c = 5.33`` (without)
and ``6.49`` (with biopsy) uses UNCONFIRMED constants: probabilities are approximate.
The subclassification tree is an UNCONFIRMED reading of the paper's figure.

Unrecorded items (``None``) are handled conservatively: the score counts only items recorded as
present, ``max_score`` adds every unrecorded item, and the class is reported only when both give
the same class.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from myotrial.eligibility._rules import EularAcrRules, load_eular_acr_rules

__all__ = [
    "IIM_SUBCLASSES",
    "EularAcrClass",
    "EularAcrResult",
    "classify_eular_acr_score",
    "compute_eular_acr",
    "eular_acr_probability",
    "eular_acr_subclass",
]

IIM_SUBCLASSES: Mapping[str, str] = {
    "jdm": "juvenile dermatomyositis",
    "juvenile_other": "juvenile myositis other than juvenile dermatomyositis",
    "dm": "dermatomyositis",
    "amyopathic_dm": "amyopathic dermatomyositis",
    "ibm": "inclusion body myositis",
    "pm_or_imnm": "polymyositis or immune-mediated necrotising myopathy",
}


class EularAcrClass(StrEnum):
    """EULAR/ACR 2017 class (value = the code written to tables)."""

    DEFINITE = "definite_iim"
    PROBABLE = "probable_iim"
    POSSIBLE = "possible_iim"
    NO_IIM = "no_iim"
    NOT_ASSESSABLE = "not_assessable"

    @property
    def words(self) -> str:
        return {
            "definite_iim": "definite IIM",
            "probable_iim": "probable IIM",
            "possible_iim": "possible IIM",
            "no_iim": "no IIM (score below the 'possible' cut-off)",
            "not_assessable": "not assessable (unrecorded items could change the class)",
        }[self.value]


_ORDER = [
    EularAcrClass.NO_IIM,
    EularAcrClass.POSSIBLE,
    EularAcrClass.PROBABLE,
    EularAcrClass.DEFINITE,
]
_IIM = frozenset({EularAcrClass.POSSIBLE, EularAcrClass.PROBABLE, EularAcrClass.DEFINITE})


def _to_tenths_decimal(score: Decimal | float | int | str) -> Decimal:
    if isinstance(score, bool):
        raise TypeError("score must be a number, not bool")
    value = Decimal(str(score).strip()) if not isinstance(score, Decimal) else score
    if not value.is_finite():
        raise ValueError(f"score must be finite, got {score!r}")
    return value * 10


def classify_eular_acr_score(
    score: Decimal | float | int | str, *, biopsy: bool, rules: EularAcrRules | None = None
) -> EularAcrClass:
    """Class of a total EULAR/ACR score (closed cut-offs; exact decimal comparison).

    Examples
    --------
    >>> classify_eular_acr_score(5.5, biopsy=False).value
    'probable_iim'
    >>> classify_eular_acr_score("6.6", biopsy=True).value
    'possible_iim'
    """
    r = rules or load_eular_acr_rules()
    tenths = _to_tenths_decimal(score)
    result = EularAcrClass.NO_IIM
    for rule in r.classes:  # ascending cut-offs
        cut = rule.min_tenths_with_biopsy if biopsy else rule.min_tenths_without_biopsy
        if tenths >= cut:
            result = EularAcrClass(f"{rule.key}_iim")
    return result


def eular_acr_probability(
    score: Decimal | float | int | str, *, biopsy: bool, rules: EularAcrRules | None = None
) -> float:
    """APPROXIMATE probability of IIM: ``1 / (1 + exp(c - score))``.

    ``c`` = 5.33 without and 6.49 with biopsy: constants unconfirmed (not read in the primary
    source, Lundberg et al. 2017), so treat the value as approximate.

    Examples
    --------
    >>> round(eular_acr_probability(5.33, biopsy=False), 6)
    0.5
    """
    r = rules or load_eular_acr_rules()
    c = r.c_with_biopsy if biopsy else r.c_without_biopsy
    x = float(_to_tenths_decimal(score) / 10)
    return 1.0 / (1.0 + math.exp(c - x))


@dataclass(frozen=True)
class EularAcrResult:
    """Result of :func:`compute_eular_acr`.

    Attributes
    ----------
    score : Decimal
        Sum of points of items recorded present (exact).
    max_score : Decimal
        ``score`` plus the points of every unrecorded item (equal to ``score`` when complete).
    biopsy : bool
        Whether the with-biopsy weights were used.
    category : EularAcrClass
        Class of ``score``; ``NOT_ASSESSABLE`` if ``max_score`` would give another class.
    probability : float or None
        APPROXIMATE probability at ``score`` (unconfirmed constants); None if items are missing.
    items_present : tuple of str
        Items scored, in words with their points.
    missing : tuple of str
        Keys of unrecorded items (``age_at_onset`` or item keys).
    subclass : str or None
        UNCONFIRMED subclassification code (see :data:`IIM_SUBCLASSES`), ``"not_assessable"``
        when unrecorded inputs could change it, None when the class is not IIM.
    """

    score: Decimal
    max_score: Decimal
    biopsy: bool
    category: EularAcrClass
    probability: float | None
    items_present: tuple[str, ...]
    missing: tuple[str, ...]
    subclass: str | None

    @property
    def words(self) -> str:
        method = "with biopsy" if self.biopsy else "without biopsy"
        text = f"EULAR/ACR 2017 score {self.score} ({method}): {self.category.words}"
        if self.missing:
            text += f"; unrecorded: {', '.join(self.missing)} (up to {self.max_score})"
        return text


def compute_eular_acr(
    items: Mapping[str, bool | None],
    *,
    age_at_onset: Decimal | float | int | str | None,
    biopsy: bool,
    extra: Mapping[str, bool | None] | None = None,
    rules: EularAcrRules | None = None,
) -> EularAcrResult:
    """Score and classify by the 2017 EULAR/ACR IIM criteria.

    Parameters
    ----------
    items : mapping
        Item key (e.g. ``heliotrope_rash``, ``biopsy_rimmed_vacuoles``; see the rules file) to
        True (present), False (absent) or None (not recorded). Keys left out count as not
        recorded. Biopsy items are ignored when ``biopsy`` is False.
    age_at_onset : number or None
        Age in years at onset of the first symptom assumed related to the disease.
    biopsy : bool
        Use the with-biopsy weights and cut-offs.
    extra : mapping, optional
        ``finger_flexor_weakness`` and ``no_treatment_response`` for the subclassification.

    Examples
    --------
    >>> r = compute_eular_acr({"heliotrope_rash": True, "gottron_papules": True,
    ...                        "proximal_upper_weakness": False}, age_at_onset=52, biopsy=False)
    >>> str(r.score), r.category.value
    ('7.3', 'not_assessable')
    """
    r = rules or load_eular_acr_rules()
    valid = {it.key for it in r.items}
    unknown_keys = sorted(set(items) - valid)
    if unknown_keys:
        raise ValueError(f"unknown EULAR/ACR item(s) {unknown_keys}; valid: {sorted(valid)}")
    col = 1 if biopsy else 0
    low = 0
    high = 0
    present: list[str] = []
    missing: list[str] = []
    age = None if age_at_onset is None else Decimal(str(age_at_onset))
    if age is None:
        missing.append(r.age.column)
        high += max(r.age.young_tenths[col], r.age.older_tenths[col])
    elif age >= r.age.older_min:
        low += r.age.older_tenths[col]
        high += r.age.older_tenths[col]
        present.append(f"{r.age.older_words} ({r.age.older_tenths[col] / 10:g})")
    elif age >= r.age.young_min:
        low += r.age.young_tenths[col]
        high += r.age.young_tenths[col]
        present.append(f"{r.age.young_words} ({r.age.young_tenths[col] / 10:g})")
    for item in r.items:
        points = item.tenths_with_biopsy if biopsy else item.tenths_without_biopsy
        if points is None:  # biopsy-only item, no biopsy
            continue
        value = items.get(item.key)
        if value is True:
            low += points
            present.append(f"{item.words} ({points / 10:g})")
        elif value is None:
            missing.append(item.key)
        if value is not False:
            high += points
    score = Decimal(low).scaleb(-1)  # exact tenths, e.g. Decimal('8.0')
    max_score = Decimal(high).scaleb(-1)
    cat_low = classify_eular_acr_score(score, biopsy=biopsy, rules=r)
    cat_high = classify_eular_acr_score(max_score, biopsy=biopsy, rules=r)
    category = cat_low if cat_low is cat_high else EularAcrClass.NOT_ASSESSABLE
    probability = None if missing else eular_acr_probability(score, biopsy=biopsy, rules=r)
    subclass: str | None = None
    if category in _IIM:
        subclass = eular_acr_subclass(
            items, age_at_onset=age, biopsy=biopsy, extra=extra or {}, rules=r
        )
    elif category is EularAcrClass.NOT_ASSESSABLE and cat_high in _IIM:
        subclass = "not_assessable"
    return EularAcrResult(
        score=score,
        max_score=max_score,
        biopsy=biopsy,
        category=category,
        probability=probability,
        items_present=tuple(present),
        missing=tuple(missing),
        subclass=subclass,
    )


def _resolve(fn: Callable[[Mapping[str, bool]], str], values: Mapping[str, bool | None]) -> str:
    unknown = [k for k, v in values.items() if v is None]
    outcomes: set[str] = set()
    for combo in itertools.product((False, True), repeat=len(unknown)):
        filled = {k: bool(v) for k, v in values.items() if v is not None}
        filled.update(zip(unknown, combo, strict=True))
        outcomes.add(fn(filled))
    return outcomes.pop() if len(outcomes) == 1 else "not_assessable"


def eular_acr_subclass(
    items: Mapping[str, bool | None],
    *,
    age_at_onset: Decimal | float | int | str | None,
    biopsy: bool,
    extra: Mapping[str, bool | None],
    rules: EularAcrRules | None = None,
) -> str:
    """UNCONFIRMED subclassification of a patient classified as IIM.

    Onset < 18 with heliotrope / Gottron papules / Gottron sign -> ``jdm`` (other juvenile
    -> ``juvenile_other``); adult with skin signs and weakness -> ``dm``, skin signs without
    weakness -> ``amyopathic_dm``; no skin signs -> ``ibm`` if finger-flexor weakness without
    treatment response or rimmed vacuoles (biopsy), else ``pm_or_imnm``. Returns
    ``not_assessable`` when unrecorded inputs could change the answer.
    """
    r = rules or load_eular_acr_rules()
    values: dict[str, bool | None] = {
        "juvenile": None if age_at_onset is None else Decimal(str(age_at_onset)) < r.juvenile_below,
        "skin": _any_known(items, r.skin_items),
        "weakness": _any_known(items, r.weakness_items),
        "ffw": extra.get(r.ibm_columns[0]) if r.ibm_columns else False,
        "no_response": extra.get(r.ibm_columns[1]) if len(r.ibm_columns) > 1 else False,
        "vacuoles": items.get("biopsy_rimmed_vacuoles") if biopsy else False,
    }

    def tree(v: Mapping[str, bool]) -> str:
        if v["juvenile"]:
            return "jdm" if v["skin"] else "juvenile_other"
        if v["skin"]:
            return "dm" if v["weakness"] else "amyopathic_dm"
        if (v["ffw"] and v["no_response"]) or v["vacuoles"]:
            return "ibm"
        return "pm_or_imnm"

    return _resolve(tree, values)


def _any_known(items: Mapping[str, bool | None], keys: tuple[str, ...]) -> bool | None:
    values = [items.get(k) for k in keys]
    if any(v is True for v in values):
        return True
    if any(v is None for v in values):
        return None
    return False
