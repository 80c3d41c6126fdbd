"""ProDERM eligibility: every threshold probed at its edge, missing inputs, validation.

Criterion words (shared/reference/proderm.md, "Eligibility"; Aggarwal R et al. N Engl J Med
2022;387:1264-78): "age >= 18 and < 80; definite or probable DM by Bohan and Peter; ...
MMT-8 < 142 (of 150) plus >= 2 other abnormal core set measures among: PtGA VAS >= 2 cm, PGA VAS
>= 2 cm, extramuscular VAS >= 2 cm, at least one muscle enzyme > 1.5 x ULN, HAQ >= 0.25".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from myotrial.eligibility import (
    OUTPUT_COLUMNS,
    ScreeningDecision,
    ScreeningStatus,
    derive_screening,
    load_eligibility_rules,
    screen_candidates,
)
from myotrial.errors import InputValidationError, RulesError

# One eligible candidate, exactly ONE other abnormal core set measure (PGA 4 cm), so the measure
# under test decides "at least 2". Values as text, as read from CSV.
BASE: dict[str, Any] = {
    "subject_id": "S1", "age": "52", "sex": "F", "bmi": "27",
    "bp_weakness": "true", "bp_biopsy": "true", "bp_enzymes": "true", "bp_emg": "false",
    "bp_rash": "true", "bp_exclusion": "false",
    "pga": "4", "ptga": "0", "extramuscular": "0", "haq": "0",
    "mmt8": "120", "mmt8_max": "150", "ck": "100", "ck_uln": "200",
    "stable_therapy_4_weeks": "true", "prior_treatment_failure": "false",
    "cancer_associated_myositis": "false", "active_malignancy": "false",
    "dvt_last_year": "false", "starting_physical_therapy": "false",
    "ivig_last_6_months": "false",
}


def decide(**overrides: Any) -> ScreeningDecision:
    return screen_candidates(pd.DataFrame([{**BASE, **overrides}]))[0]


def test_base_candidate_needs_a_second_abnormal_measure() -> None:
    d = decide()
    assert d.status is ScreeningStatus.INELIGIBLE  # only PGA abnormal
    assert d.criteria_failed[0].startswith("1 other abnormal core set measure")
    assert decide(ptga="5").status is ScreeningStatus.ELIGIBLE


@pytest.mark.parametrize(
    ("overrides", "eligible", "why"),
    [
        ({"mmt8": "141", "ptga": "5"}, True, "MMT-8 141 < 142"),
        ({"mmt8": "142", "ptga": "5"}, False, "MMT-8 142 is not < 142 (open edge)"),
        ({"mmt8": "141.5", "ptga": "5"}, True, "half points below 142 pass"),
        ({"haq": "0.25"}, True, "HAQ 0.25 >= 0.25 is abnormal (closed edge)"),
        ({"haq": "0.24"}, False, "HAQ 0.24 is not abnormal"),
        ({"ck": "300"}, False, "CK exactly 1.5 x ULN 200 is NOT abnormal (open edge)"),
        ({"ck": "300.1"}, True, "CK just above 1.5 x ULN is abnormal"),
        ({"ck": "49.95", "ck_uln": "33.3"}, False, "exact decimal: 49.95 = 1.5 x 33.3"),
        ({"ck": "49.96", "ck_uln": "33.3"}, True, "49.96 > 1.5 x 33.3"),
        ({"ptga": "2.0"}, True, "PtGA 2.0 cm >= 2 cm"),
        ({"ptga": "1.9"}, False, "PtGA 1.9 cm < 2 cm"),
        ({"extramuscular": "2.0"}, True, "extramuscular 2.0 cm >= 2 cm"),
        ({"extramuscular": "1.9"}, False, "extramuscular 1.9 cm < 2 cm"),
        ({"pga": "2.0", "ptga": "5"}, True, "PGA 2.0 cm >= 2 cm (second measure PtGA)"),
        ({"pga": "1.9", "ptga": "5"}, False, "PGA 1.9 cm < 2 cm leaves only PtGA"),
        ({"age": "79.9", "ptga": "5"}, True, "age 79.9 < 80"),
        ({"age": "80", "ptga": "5"}, False, "age 80 is not < 80 (open edge)"),
        ({"age": "18", "ptga": "5"}, True, "age 18 >= 18 (closed edge)"),
        ({"age": "17.9", "ptga": "5"}, False, "age 17.9 < 18"),
        ({"bmi": "39.9", "ptga": "5"}, True, "BMI 39.9 is below the exclusion"),
        ({"bmi": "40", "ptga": "5"}, False, "BMI 40 is excluded (>= 40, closed edge)"),
    ],
)
def test_threshold_edges(overrides: dict[str, Any], eligible: bool, why: str) -> None:
    d = decide(**overrides)
    assert d.eligible is eligible, f"{why}: {d.reasons}"


def test_enzyme_abnormal_if_any_recorded_enzyme_is() -> None:
    d = decide(ldh="400", ldh_uln="250", ck="100")  # LDH 400 > 375
    assert d.eligible is True
    assert any("LDH 400 U/L > 1.5 x ULN 250" in c for c in d.criteria_met)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("cancer_associated_myositis", "true"),
        ("active_malignancy", "yes"),
        ("dvt_last_year", "1"),
        ("starting_physical_therapy", "TRUE"),
        ("ivig_last_6_months", "Y"),
    ],
)
def test_each_exclusion_makes_ineligible(column: str, value: str) -> None:
    d = decide(ptga="5", **{column: value})
    assert d.status is ScreeningStatus.INELIGIBLE
    assert len(d.criteria_failed) == 1 and d.criteria_failed[0].startswith("exclusion:")


def test_optional_secondary_exclusion_checked_only_when_present() -> None:
    assert any("rituximab" in n for n in decide(ptga="5").not_checked)
    d = decide(ptga="5", rituximab_last_12_months="true")
    assert d.criteria_failed == ("exclusion: rituximab within 12 months",)


def test_therapy_either_criterion_suffices() -> None:
    ok = decide(ptga="5", stable_therapy_4_weeks="false", prior_treatment_failure="true")
    assert ok.eligible is True
    bad = decide(ptga="5", stable_therapy_4_weeks="false", prior_treatment_failure="false")
    assert bad.eligible is False and "therapy criterion not met" in bad.reasons[0]


@pytest.mark.parametrize(
    ("bp", "eligible"),
    [
        ({"bp_biopsy": "false", "bp_enzymes": "false", "bp_emg": "true"}, True),  # probable DM
        ({"bp_biopsy": "false", "bp_enzymes": "false", "bp_emg": "false"}, False),  # possible DM
        ({"bp_rash": "false", "bp_emg": "true"}, False),  # definite PM
        ({"bp_exclusion": "true"}, False),  # not classifiable
    ],
)
def test_bohan_peter_definite_or_probable_dm_required(bp: dict[str, str], eligible: bool) -> None:
    assert decide(ptga="5", **bp).eligible is eligible


def test_missing_input_makes_not_assessable_and_names_it() -> None:
    d = decide(mmt8="", ptga="5")
    assert d.status is ScreeningStatus.NOT_ASSESSABLE
    assert d.eligible is None
    assert d.missing_fields == ("mmt8",)
    assert d.reasons == ("not assessable: MMT-8 not recorded (mmt8)",)


def test_missing_measure_that_cannot_change_the_count_is_ignored() -> None:
    # PGA and PtGA abnormal: 2 already, the missing HAQ cannot change "at least 2"
    assert decide(ptga="5", haq="").eligible is True
    # only PGA abnormal and HAQ missing: HAQ decides -> not assessable, naming haq
    d = decide(haq="")
    assert d.status is ScreeningStatus.NOT_ASSESSABLE and d.missing_fields == ("haq",)


def test_failed_criterion_decides_even_with_missing_inputs() -> None:
    d = decide(age="85", mmt8="", ptga="5")
    assert d.status is ScreeningStatus.INELIGIBLE
    assert d.reasons == ("age 85 years: outside age >= 18 and < 80",
                         "not assessable: MMT-8 not recorded (mmt8)")


def test_missing_bohan_peter_criterion_only_matters_if_it_could_change_the_answer() -> None:
    assert decide(ptga="5", bp_emg="").eligible is True  # rash + 3 already: definite DM
    d = decide(ptga="5", bp_emg="", bp_biopsy="false", bp_enzymes="false")
    assert d.status is ScreeningStatus.NOT_ASSESSABLE and d.missing_fields == ("bp_emg",)


def test_no_bp_exclusion_column_is_noted() -> None:
    row = {k: v for k, v in {**BASE, "ptga": "5"}.items() if k != "bp_exclusion"}
    d = screen_candidates(pd.DataFrame([row]))[0]
    assert d.eligible is True
    assert "assumed absent" in d.notes[0]


def test_derive_screening_adds_columns_and_keeps_input() -> None:
    frame = pd.DataFrame([{**BASE, "ptga": "5", "extra": "kept"}, {**BASE, "subject_id": "S2"}])
    before = frame.copy()
    out = derive_screening(frame)
    pd.testing.assert_frame_equal(frame, before)  # input not mutated
    assert list(out.columns) == [*frame.columns, *OUTPUT_COLUMNS]
    assert out["eligible"].tolist() == ["true", "false"]
    assert out["extra"].tolist()[0] == "kept"
    assert out["bohan_peter_class"].tolist() == ["definite_dm", "definite_dm"]


def test_numeric_dataframe_input_works_like_text() -> None:
    row = {**BASE, "ptga": 2.0, "pga": 1.9, "haq": 0.25, "mmt8": 141, "age": 79.9}
    assert screen_candidates(pd.DataFrame([row]))[0].eligible is True


def _problems(frame: pd.DataFrame) -> pd.DataFrame:
    with pytest.raises(InputValidationError) as info:
        screen_candidates(frame)
    return info.value.problems


def test_every_bad_value_is_reported_with_its_location() -> None:
    frame = pd.DataFrame([
        {**BASE, "subject_id": "S1", "pga": "11", "haq": "abc", "ck": "-1"},
        {**BASE, "subject_id": "S1", "bp_rash": "maybe"},
        {**BASE, "subject_id": "S3", "ck": "500", "ck_uln": ""},
        {**BASE, "subject_id": "", "mmt8": "151"},
    ])
    p = _problems(frame)
    got = set(zip(p["row"], p["column"], strict=True))
    assert got == {(1, "pga"), (1, "haq"), (1, "ck"), (2, "subject_id"), (2, "bp_rash"),
                   (3, "ck_uln"), (4, "subject_id"), (4, "mmt8")}
    assert (p["table"] == "screening").all()
    assert p.loc[p["column"] == "pga", "value"].item() == "11"


def test_mmt8_on_another_scale_is_rejected_not_rescaled() -> None:
    p = _problems(pd.DataFrame([{**BASE, "mmt8": "70", "mmt8_max": "80"}]))
    assert p["column"].tolist() == ["mmt8_max"]
    assert "150-point MMT-8 scale and is not rescaled" in p["rule"].item()


def test_custom_rules_file_can_define_an_80_point_threshold(tmp_path: Path) -> None:
    text = load_eligibility_rules().source  # shipped path label
    assert text.endswith("eligibility_proderm.toml")
    from myotrial.rules import rules_path

    shipped = rules_path("eligibility_proderm.toml").read_text(encoding="utf-8")
    custom = shipped.replace("below = 142", "below = 76").replace("scale_max = 150",
                                                                  "scale_max = 80")
    path = tmp_path / "rules80.toml"
    path.write_text(custom, encoding="utf-8")
    row = {**BASE, "ptga": "5", "mmt8": "75", "mmt8_max": "80"}
    d = screen_candidates(pd.DataFrame([row]), path)[0]
    assert d.eligible is True
    assert "MMT-8 75 of 80: meets MMT-8 < 76" in d.criteria_met


def test_missing_required_column_is_a_table_problem() -> None:
    frame = pd.DataFrame([{k: v for k, v in BASE.items() if k not in ("haq", "ck", "ck_uln")}])
    p = _problems(frame)
    assert p["row"].isna().all()
    assert set(p["column"]) == {"haq", "ck, aldolase, ldh, alt, ast"}


def test_rules_loader_rejects_bad_edge(tmp_path: Path) -> None:
    from myotrial.rules import rules_path

    shipped = rules_path("eligibility_proderm.toml").read_text(encoding="utf-8")
    path = tmp_path / "bad.toml"
    path.write_text(shipped.replace('max_edge = "open"', 'max_edge = "half-open"'),
                    encoding="utf-8")
    with pytest.raises(RulesError, match="edge must be 'open' or 'closed'"):
        load_eligibility_rules(path)
