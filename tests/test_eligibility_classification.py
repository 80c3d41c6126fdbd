"""Bohan and Peter counting and the 2017 EULAR/ACR score, cut-offs and probability.

Bohan A, Peter JB. N Engl J Med 1975;292:344-7, 403-7: "DM definite = rash + 3 of 1-4;
probable = rash + 2; possible = rash + 1. PM definite = 4 of 1-4; probable 3; possible 2."
Lundberg IE et al. Ann Rheum Dis 2017;76:1955-64: classes "possible >= 5.3 / 6.5; probable
>= 5.5 / 6.7; definite >= 7.5 / 8.7" (without / with biopsy); P = 1 / (1 + exp(c - score)),
c = 5.33 / 6.49 (unconfirmed constants). Points as in shared/reference/proderm.md.
"""

from __future__ import annotations

import doctest
import math
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

import myotrial.eligibility.bohan_peter as bp_module
import myotrial.eligibility.eular_acr as ea_module
from myotrial.eligibility import (
    BohanPeterClass,
    EularAcrClass,
    classify_bohan_peter,
    classify_eular_acr_score,
    compute_eular_acr,
    eular_acr_probability,
    load_bohan_peter_rules,
    load_eular_acr_rules,
)
from myotrial.errors import RulesError
from myotrial.rules import rules_path

MUSCLE = ("weakness", "biopsy", "enzymes", "emg")


def _bp(n_muscle: int, rash: bool, exclusion: bool = False) -> BohanPeterClass:
    flags = {k: i < n_muscle for i, k in enumerate(MUSCLE)}
    return classify_bohan_peter(**flags, rash=rash, exclusion=exclusion).category


@pytest.mark.parametrize(
    ("n_muscle", "rash", "expected"),
    [
        (4, True, BohanPeterClass.DEFINITE_DM),
        (3, True, BohanPeterClass.DEFINITE_DM),
        (2, True, BohanPeterClass.PROBABLE_DM),
        (1, True, BohanPeterClass.POSSIBLE_DM),
        (0, True, BohanPeterClass.NOT_MET),  # rash alone
        (4, False, BohanPeterClass.DEFINITE_PM),
        (3, False, BohanPeterClass.PROBABLE_PM),
        (2, False, BohanPeterClass.POSSIBLE_PM),
        (1, False, BohanPeterClass.NOT_MET),
        (0, False, BohanPeterClass.NOT_MET),
    ],
)
def test_bohan_peter_counting(n_muscle: int, rash: bool, expected: BohanPeterClass) -> None:
    assert _bp(n_muscle, rash) is expected


def test_bohan_peter_any_three_of_four_count() -> None:
    # rash + any 3 of the 4 muscle criteria -> definite DM, whichever one is absent
    for absent in MUSCLE:
        flags = {k: k != absent for k in MUSCLE}
        assert classify_bohan_peter(**flags, rash=True).category is BohanPeterClass.DEFINITE_DM


@pytest.mark.parametrize("n_muscle", [0, 2, 4])
@pytest.mark.parametrize("rash", [True, False])
def test_bohan_peter_exclusion_is_not_classifiable(n_muscle: int, rash: bool) -> None:
    assert _bp(n_muscle, rash, exclusion=True) is BohanPeterClass.NOT_CLASSIFIABLE


def test_bohan_peter_missing_criteria() -> None:
    r = classify_bohan_peter(weakness=True, biopsy=True, enzymes=None, emg=False, rash=True)
    assert r.category is BohanPeterClass.NOT_ASSESSABLE
    assert r.missing == ("enzymes",)
    assert r.possible_categories == (BohanPeterClass.DEFINITE_DM, BohanPeterClass.PROBABLE_DM)
    # a missing criterion that cannot change the class does not block it
    r2 = classify_bohan_peter(weakness=True, biopsy=True, enzymes=True, emg=None, rash=True)
    assert r2.category is BohanPeterClass.DEFINITE_DM
    # unknown rash: DM or PM
    r3 = classify_bohan_peter(weakness=True, biopsy=True, enzymes=True, emg=True, rash=None)
    assert set(r3.possible_categories) == {BohanPeterClass.DEFINITE_DM,
                                          BohanPeterClass.DEFINITE_PM}
    assert "rash" in r3.words


@pytest.mark.parametrize(
    ("score", "biopsy", "expected"),
    [
        ("5.2", False, EularAcrClass.NO_IIM),
        ("5.3", False, EularAcrClass.POSSIBLE),
        ("5.4", False, EularAcrClass.POSSIBLE),
        ("5.5", False, EularAcrClass.PROBABLE),
        ("7.4", False, EularAcrClass.PROBABLE),
        ("7.5", False, EularAcrClass.DEFINITE),
        ("6.4", True, EularAcrClass.NO_IIM),
        ("6.5", True, EularAcrClass.POSSIBLE),
        ("6.6", True, EularAcrClass.POSSIBLE),
        ("6.7", True, EularAcrClass.PROBABLE),
        ("8.6", True, EularAcrClass.PROBABLE),
        ("8.7", True, EularAcrClass.DEFINITE),
    ],
)
def test_eular_acr_cutoffs(score: str, biopsy: bool, expected: EularAcrClass) -> None:
    assert classify_eular_acr_score(score, biopsy=biopsy) is expected
    assert classify_eular_acr_score(float(score), biopsy=biopsy) is expected


def test_summed_points_hit_the_edge_exactly() -> None:
    # upper 0.7 + neck 1.9 + leg proximal<distal 0.9 + dysphagia 0.7 + enzymes 1.3 = 5.5 exactly
    # ("probable"); summed left to right in binary floats it is 5.499999999999999 ("possible").
    assert 0.7 + 1.9 + 0.9 + 0.7 + 1.3 < 5.5  # the trap the tenths arithmetic avoids
    rules = load_eular_acr_rules()
    none = {it.key: False for it in rules.items}
    items = none | {"proximal_upper_weakness": True, "neck_flexor_weakness": True,
                    "proximal_leg_weaker_than_distal": True, "dysphagia": True,
                    "enzymes_above_uln": True}
    r = compute_eular_acr(items, age_at_onset=10, biopsy=False)  # onset < 18: 0 points
    assert r.score == Decimal("5.5") and r.category is EularAcrClass.PROBABLE
    # upper + leg + dysphagia + anti-Jo-1 + enzymes = 7.5 (floats: 7.499999999999999)
    jo1 = none | {"proximal_upper_weakness": True, "proximal_leg_weaker_than_distal": True,
                  "dysphagia": True, "anti_jo1": True, "enzymes_above_uln": True}
    r2 = compute_eular_acr(jo1, age_at_onset=10, biopsy=False)
    assert r2.score == Decimal("7.5") and r2.category is EularAcrClass.DEFINITE
    # heliotrope 3.1 + upper 0.7 + lower 0.8 + dysphagia 0.7 = 5.3 -> possible
    items3 = none | {"heliotrope_rash": True, "proximal_upper_weakness": True,
                     "proximal_lower_weakness": True, "dysphagia": True}
    r3 = compute_eular_acr(items3, age_at_onset=10, biopsy=False)
    assert r3.score == Decimal("5.3") and r3.category is EularAcrClass.POSSIBLE
    # age bands: onset 40 -> 2.1 (>= 40, closed), 39.9 -> 1.3 (18 to < 40), 17.9 -> 0
    gp = none | {"gottron_papules": True, "enzymes_above_uln": True}
    assert compute_eular_acr(gp, age_at_onset=40, biopsy=False).score == Decimal("5.5")
    assert compute_eular_acr(gp, age_at_onset="39.9", biopsy=False).score == Decimal("4.7")
    assert compute_eular_acr(gp, age_at_onset=18, biopsy=False).score == Decimal("4.7")
    assert compute_eular_acr(gp, age_at_onset="17.9", biopsy=False).score == Decimal("3.4")


def test_with_biopsy_weights_and_biopsy_items() -> None:
    rules = load_eular_acr_rules()
    items = {it.key: False for it in rules.items} | {
        "gottron_sign": True, "biopsy_perifascicular_atrophy": True, "enzymes_above_uln": True,
    }
    r = compute_eular_acr(items, age_at_onset=45, biopsy=True)
    # 3.7 + 1.9 + 1.4 + 2.2 = 9.2 -> definite (>= 8.7)
    assert r.score == Decimal("9.2") and r.category is EularAcrClass.DEFINITE
    r_no = compute_eular_acr(items, age_at_onset=45, biopsy=False)  # biopsy item ignored
    assert r_no.score == Decimal("6.7") and r_no.category is EularAcrClass.PROBABLE


def test_unrecorded_items_give_class_only_when_they_cannot_change_it() -> None:
    r = compute_eular_acr({"heliotrope_rash": True, "gottron_sign": True, "anti_jo1": True},
                          age_at_onset=50, biopsy=False)
    assert r.score == Decimal("12.4") and r.category is EularAcrClass.DEFINITE
    assert r.probability is None and "dysphagia" in r.missing
    r2 = compute_eular_acr({"heliotrope_rash": True}, age_at_onset=None, biopsy=False)
    assert r2.category is EularAcrClass.NOT_ASSESSABLE and "age_at_onset" in r2.missing


def test_unknown_item_key_is_rejected_with_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown EULAR/ACR item"):
        compute_eular_acr({"heliotrope": True}, age_at_onset=50, biopsy=False)


@pytest.mark.parametrize(("biopsy", "c"), [(False, 5.33), (True, 6.49)])
def test_probability_formula(biopsy: bool, c: float) -> None:
    for score in (0.0, 5.3, 5.5, 7.5, 8.7, 12.0):
        expected = 1 / (1 + math.exp(c - score))
        assert eular_acr_probability(score, biopsy=biopsy) == pytest.approx(expected, abs=1e-12)
    assert eular_acr_probability(c, biopsy=biopsy) == pytest.approx(0.5)


def test_subclassification_unconfirmed_tree() -> None:
    rules = load_eular_acr_rules()
    none = {it.key: False for it in rules.items}
    extra = {"finger_flexor_weakness": False, "no_treatment_response": False}

    def sub(items: dict[str, bool], onset: int, biopsy: bool = False) -> str | None:
        return compute_eular_acr(none | items, age_at_onset=onset, biopsy=biopsy,
                                 extra=extra).subclass

    skin_weak = {"heliotrope_rash": True, "gottron_sign": True, "proximal_upper_weakness": True}
    assert sub(skin_weak, 50) == "dm"
    assert sub({"heliotrope_rash": True, "gottron_sign": True}, 50) == "amyopathic_dm"
    assert sub(skin_weak, 10) == "jdm"
    no_skin = {"anti_jo1": True, "proximal_upper_weakness": True, "neck_flexor_weakness": True}
    assert sub(no_skin, 50) == "pm_or_imnm"
    assert sub(no_skin | {"biopsy_rimmed_vacuoles": True}, 50, biopsy=True) == "ibm"
    assert sub({"heliotrope_rash": True}, 50) is None  # 5.2: no IIM, no subclass


@pytest.mark.parametrize("module", [bp_module, ea_module])
def test_docstring_examples_run(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


def test_eular_rules_loader_rejects_overlaps_and_inexact_points(tmp_path: Path) -> None:
    shipped = rules_path("eular_acr_2017.toml").read_text(encoding="utf-8")
    bad_order = tmp_path / "order.toml"
    bad_order.write_text(shipped.replace("min_without_biopsy = 5.5", "min_without_biopsy = 5.2"),
                         encoding="utf-8")
    with pytest.raises(RulesError, match="strictly increase"):
        load_eular_acr_rules(bad_order)
    bad_points = tmp_path / "points.toml"
    bad_points.write_text(shipped.replace("points_without_biopsy = 3.1",
                                          "points_without_biopsy = 3.15"), encoding="utf-8")
    with pytest.raises(RulesError, match="not a whole number of tenths"):
        load_eular_acr_rules(bad_points)


def test_bohan_peter_rules_loader_rejects_overlapping_classes(tmp_path: Path) -> None:
    shipped = rules_path("bohan_peter_1975.toml").read_text(encoding="utf-8")
    path = tmp_path / "bp.toml"
    path.write_text(shipped.replace("requires_rash = true\nmin_count = 2",
                                    "requires_rash = true\nmin_count = 3"), encoding="utf-8")
    with pytest.raises(RulesError, match="overlap"):
        load_bohan_peter_rules(path)
