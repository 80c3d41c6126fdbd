"""Bohan and Peter (1975) classification of polymyositis and dermatomyositis.

Rules (``myotrial/rules/bohan_peter_1975.toml``; Bohan A, Peter JB. N Engl J Med
1975;292:344-7 and 403-7): criteria 1 symmetric proximal weakness, 2 biopsy evidence, 3 elevated
muscle enzymes, 4 myopathic EMG triad, 5 typical rash. DM: rash plus 3 (definite), 2 (probable)
or 1 (possible) of criteria 1-4. PM (no rash): 4 (definite), 3 (probable) or 2 (possible) of 1-4.
Any exclusion (neurological disease, dystrophy, infectious/granulomatous, metabolic/endocrine
myopathy, myasthenia gravis) makes the patient not classifiable by these criteria.

Unknown criteria (``None``) are resolved by trying both values: the class is reported only when
every completion gives the same class; otherwise the result is "not assessable" and names the
missing criteria.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum

from myotrial.eligibility._rules import BohanPeterRules, load_bohan_peter_rules

__all__ = ["BohanPeterClass", "BohanPeterResult", "classify_bohan_peter"]


class BohanPeterClass(StrEnum):
    """Bohan and Peter class (value = the code written to tables)."""

    DEFINITE_DM = "definite_dm"
    PROBABLE_DM = "probable_dm"
    POSSIBLE_DM = "possible_dm"
    DEFINITE_PM = "definite_pm"
    PROBABLE_PM = "probable_pm"
    POSSIBLE_PM = "possible_pm"
    NOT_MET = "not_met"
    NOT_CLASSIFIABLE = "not_classifiable"
    NOT_ASSESSABLE = "not_assessable"

    @property
    def words(self) -> str:
        """The class in words."""
        return _WORDS[self]


_WORDS = {
    BohanPeterClass.DEFINITE_DM: "definite dermatomyositis",
    BohanPeterClass.PROBABLE_DM: "probable dermatomyositis",
    BohanPeterClass.POSSIBLE_DM: "possible dermatomyositis",
    BohanPeterClass.DEFINITE_PM: "definite polymyositis",
    BohanPeterClass.PROBABLE_PM: "probable polymyositis",
    BohanPeterClass.POSSIBLE_PM: "possible polymyositis",
    BohanPeterClass.NOT_MET: "criteria for polymyositis/dermatomyositis not met",
    BohanPeterClass.NOT_CLASSIFIABLE: "not classifiable (an exclusion criterion is present)",
    BohanPeterClass.NOT_ASSESSABLE: "not assessable (missing criteria could change the class)",
}


@dataclass(frozen=True)
class BohanPeterResult:
    """Result of :func:`classify_bohan_peter`.

    Attributes
    ----------
    category : BohanPeterClass
        The class; ``NOT_ASSESSABLE`` when missing criteria could change it.
    criteria_met, criteria_not_met : tuple of str
        Criteria (in words, numbered as in Bohan and Peter) recorded present / absent.
    missing : tuple of str
        Criteria keys (``weakness``, ``biopsy``, ``enzymes``, ``emg``, ``rash``, ``exclusion``)
        that were not recorded.
    possible_categories : tuple of BohanPeterClass
        Every class the missing criteria could lead to (one element when determined).
    """

    category: BohanPeterClass
    criteria_met: tuple[str, ...]
    criteria_not_met: tuple[str, ...]
    missing: tuple[str, ...]
    possible_categories: tuple[BohanPeterClass, ...]

    @property
    def words(self) -> str:
        """A sentence a clinician reads, e.g. ``probable dermatomyositis (rash + 2 of 1-4)``."""
        if self.category is BohanPeterClass.NOT_ASSESSABLE:
            options = ", ".join(c.words for c in self.possible_categories)
            return (
                f"Bohan and Peter class not assessable: missing {', '.join(self.missing)} "
                f"(could be: {options})"
            )
        return f"Bohan and Peter: {self.category.words}"


def _classify_known(
    counts: int, rash: bool, exclusion: bool, rules: BohanPeterRules
) -> BohanPeterClass:
    if exclusion:
        return BohanPeterClass.NOT_CLASSIFIABLE
    for rule in rules.classes:  # most certain first
        if rule.requires_rash is rash and counts >= rule.min_count:
            return BohanPeterClass(rule.key)
    return BohanPeterClass.NOT_MET


def classify_bohan_peter(
    *,
    weakness: bool | None,
    biopsy: bool | None,
    enzymes: bool | None,
    emg: bool | None,
    rash: bool | None,
    exclusion: bool | None = False,
    rules: BohanPeterRules | None = None,
) -> BohanPeterResult:
    """Classify by Bohan and Peter (1975); ``None`` = criterion not recorded.

    Examples
    --------
    >>> classify_bohan_peter(weakness=True, biopsy=False, enzymes=True, emg=False,
    ...                      rash=True).category.value
    'probable_dm'
    >>> classify_bohan_peter(weakness=True, biopsy=True, enzymes=True, emg=True,
    ...                      rash=True, exclusion=True).category.value
    'not_classifiable'
    """
    r = rules or load_bohan_peter_rules()
    muscle = {"weakness": weakness, "biopsy": biopsy, "enzymes": enzymes, "emg": emg}
    words = {c.key: f"{c.number} {c.words.lower()}" for c in r.criteria}
    met = tuple(words[k] for k, v in muscle.items() if v is True)
    not_met = tuple(words[k] for k, v in muscle.items() if v is False)
    if rash is True:
        met += (words["rash"],)
    elif rash is False:
        not_met += (words["rash"],)
    if exclusion is True:
        met += ("exclusion: " + "; ".join(r.exclusion_words).lower(),)
    unknown = {
        k: v for k, v in {**muscle, "rash": rash, "exclusion": exclusion}.items() if v is None
    }
    known_count = sum(1 for v in muscle.values() if v is True)
    outcomes: set[BohanPeterClass] = set()
    for combo in itertools.product((False, True), repeat=len(unknown)):
        filled = dict(zip(unknown, combo, strict=True))
        count = known_count + sum(1 for k, v in filled.items() if v and k in muscle)
        outcomes.add(
            _classify_known(
                count,
                bool(filled.get("rash", rash)),
                bool(filled.get("exclusion", exclusion)),
                r,
            )
        )
    order = list(BohanPeterClass)
    possible = tuple(sorted(outcomes, key=order.index))
    category = possible[0] if len(possible) == 1 else BohanPeterClass.NOT_ASSESSABLE
    return BohanPeterResult(
        category=category,
        criteria_met=met,
        criteria_not_met=not_met,
        missing=tuple(unknown),
        possible_categories=possible,
    )
