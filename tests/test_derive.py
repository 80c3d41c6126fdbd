"""Derivation on small hand-built trials: crossover, dropout, deterioration by each clause, a
patient missing week 16, week-40 outcomes by original arm, and no patient ever disappearing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from myotrial.derive import derive_all
from myotrial.errors import InputValidationError
from myotrial.protocol import load_protocol


@pytest.fixture(autouse=True)
def _checked_against_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every trial derived here is also derived by the pre-rewrite reference implementation
    and compared table by table (test_derive_equivalence.py)."""
    from test_derive_equivalence import checked_derive_all

    monkeypatch.setitem(globals(), "derive_all", checked_derive_all)


BASE = {
    "pga": 6.0,
    "ptga": 6.0,
    "extramuscular": 5.0,
    "mmt8": 100.0,
    "haq": 1.5,
    "ck": 1000.0,
    "ck_uln": 200.0,
}
# PGA 40 % (17.5) + PtGA 30 % (7.5) + MMT 20/150 = 13 % (20) = 45: moderate, not major
GOOD = {"pga": 2.0, "ptga": 3.0, "mmt8": 120.0}
SMALL = {"pga": 5.0}  # 10 % -> 7.5: no response
WORSE_A = {"pga": 8.0, "mmt8": 75.0}  # PGA +2 cm and MMT -25 %
WORSE_B = {"extramuscular": 7.5}  # +2.5 cm
WORSE_C = {"ptga": 8.0, "haq": 2.0, "mmt8": 70.0}  # PtGA 33 %, HAQ 33 %, MMT 30 % worse
WEEKS = (0, 4, 8, 12, 16, 28, 40)


def build(
    plan: dict[str, tuple[str, list[dict[str, Any] | None]]],
    subjects_extra: dict[str, dict[str, Any]] | None = None,
) -> Any:
    """``plan``: subject -> (arm, one entry per WEEKS; None = no visit)."""
    rows = []
    for sid, (_, visits) in plan.items():
        for week, change in zip(WEEKS, visits, strict=False):
            if change is not None:
                rows.append({"subject_id": sid, "visit_week": week, **BASE, **change})
    subjects = pd.DataFrame(
        [
            {"subject_id": sid, "arm": arm, **(subjects_extra or {}).get(sid, {})}
            for sid, (arm, _) in plan.items()
        ]
    )
    return derive_all(pd.DataFrame(rows), subjects, "proderm")


def row(frame: pd.DataFrame, sid: str, **filters: Any) -> pd.Series:
    sel = frame["USUBJID"] == sid
    for k, v in filters.items():
        sel &= frame[k] == v
    assert sel.sum() == 1, (sid, filters)
    return frame[sel].iloc[0]


def test_responders_non_responders_and_denominators() -> None:
    d = build(
        {
            "R1": ("ivig", [{}, GOOD, GOOD, GOOD, GOOD, GOOD, GOOD]),
            "N1": ("placebo", [{}, SMALL, SMALL, SMALL, SMALL, GOOD, GOOD]),
        }
    )
    r1 = row(d.adrs, "R1", PARAMCD="tis20_w16")
    assert (r1["AVALC"], r1["TIS"]) == ("Y", 45.0)
    assert row(d.adrs, "R1", PARAMCD="tis40_w16")["AVALC"] == "Y"
    assert row(d.adrs, "R1", PARAMCD="tis60_w16")["AVALC"] == "N"
    n1 = row(d.adrs, "N1", PARAMCD="tis20_w16")
    assert n1["AVALC"] == "N" and n1["REASON"] == "TIS 7.5 < 20 at week 16"
    assert set(d.adsl["STATUS"]) == {"completed_extension"}


def test_placebo_deterioration_crosses_over_and_is_a_non_responder() -> None:
    d = build({"P1": ("placebo", [{}, SMALL, WORSE_A, WORSE_C, GOOD, GOOD, GOOD])})
    adsl = row(d.adsl, "P1")
    # worsening at weeks 8 (A) and 12 (C): confirmed at week 12 (>= week 8) -> switch
    assert (adsl["CDFL"], adsl["CDWK"], adsl["CROSSFL"], adsl["CROSSWK"]) == ("Y", 12, "Y", 12)
    assert adsl["TRTSEQ"] == "placebo->ivig"
    assert "switched placebo -> ivig" in adsl["STATUS_REASON"]
    primary = row(d.adrs, "P1", PARAMCD="tis20_w16")
    assert primary["AVALC"] == "N"  # TIS 45 at week 16 but deteriorated
    assert primary["REASON"].startswith("confirmed deterioration at week 12")
    eff = d.adeff[(d.adeff["USUBJID"] == "P1") & (d.adeff["PARAMCD"] == "TIS")]
    assert eff.set_index("AVISITN")["TRTA"].to_dict() == {
        4: "placebo",
        8: "placebo",
        12: "ivig",
        16: "ivig",
        28: "ivig",
        40: "ivig",
    }
    tte = row(d.adtte, "P1", PARAMCD="tt_deterioration")
    assert (tte["CNSR"], tte["AVAL"]) == (0, 84.0)
    # time to response is censored at the crossover, not counted on IVIG
    tt = row(d.adtte, "P1", PARAMCD="tt_minimal")
    assert tt["CNSR"] == 1 and tt["AVAL"] == 84.0


@pytest.mark.parametrize("pattern,clause", [(WORSE_A, "A"), (WORSE_B, "B"), (WORSE_C, "C")])
def test_deterioration_by_each_clause_on_ivig_blocks_the_extension(
    pattern: dict[str, Any], clause: str
) -> None:
    d = build({"T1": ("ivig", [{}, SMALL, pattern, pattern, SMALL, None, None])})
    adsl = row(d.adsl, "T1")
    assert (adsl["CDWK"], adsl["CROSSFL"], adsl["EXTFL"]) == (12, "N", "N")
    assert adsl["STATUS"] == "completed_randomised_no_extension"
    assert "confirmed deterioration on the treatment arm" in adsl["STATUS_REASON"]
    scored = d.scored.set_index(["subject_id", "visit_week"])
    assert clause in scored.loc[("T1", 8), "worsening_clauses"]


def test_worsening_before_week_8_only_is_not_deterioration() -> None:
    d = build({"E1": ("placebo", [{}, WORSE_B, {}, {}, SMALL, SMALL, SMALL])})
    assert row(d.adsl, "E1")["CDFL"] == "N"
    # weeks 4 and 8 both worsening: confirmed at week 8 (the confirming visit is >= 8)
    d = build({"E2": ("placebo", [{}, WORSE_B, WORSE_B, {}, SMALL, SMALL, SMALL])})
    assert row(d.adsl, "E2")["CDWK"] == 8


def test_dropout_and_missing_week_16_are_non_responders_with_reasons() -> None:
    d = build(
        {
            "D1": ("ivig", [{}, GOOD, GOOD, None, None, None, None]),
            "M1": ("ivig", [{}, GOOD, GOOD, GOOD, None, GOOD, GOOD]),
            "H1": ("placebo", [{}, GOOD, GOOD, GOOD, {**GOOD, "haq": None}, GOOD, GOOD]),
        },
        {"D1": {"discontinuation_reason": "adverse event"}},
    )
    d1 = row(d.adsl, "D1")
    assert d1["STATUS"] == "discontinued_randomised"
    assert d1["STATUS_REASON"] == (
        "discontinued before week 16 (last assessment week 8): adverse event"
    )
    assert row(d.adrs, "D1", PARAMCD="tis20_w16")["REASON"].startswith("no week-16 visit")
    m1 = row(d.adrs, "M1", PARAMCD="tis20_w16")
    assert m1["AVALC"] == "N" and "no week-16 visit" in m1["REASON"]
    h1 = row(d.adrs, "H1", PARAMCD="tis20_w16")
    assert h1["AVALC"] == "N"
    assert h1["REASON"] == (
        "no TIS at week 16 (missing at this visit: haq): non-responder imputation"
    )
    assert (d.adrs["PARAMCD"] == "tis20_w16").sum() == 3  # denominator keeps everyone


def test_week_40_outcomes_by_original_arm_among_extension_entrants() -> None:
    d = build(
        {
            "A1": ("ivig", [{}, GOOD, GOOD, GOOD, GOOD, GOOD, GOOD]),
            "A2": ("ivig", [{}, GOOD, GOOD, GOOD, GOOD, GOOD, None]),  # extension dropout
            "B1": ("placebo", [{}, SMALL, WORSE_B, WORSE_B, GOOD, GOOD, GOOD]),  # switcher
            "B2": ("placebo", [{}, SMALL, SMALL, SMALL, SMALL, None, None]),  # no extension
        }
    )
    w40 = d.adrs[d.adrs["PARAMCD"] == "tis20_w40"].set_index("USUBJID")
    assert set(w40.index) == {"A1", "A2", "B1"}  # B2 did not enter the extension
    assert w40.loc["B1", "ARMCD"] == "placebo"  # original arm, though on IVIG since week 12
    assert w40["AVALC"].to_dict() == {"A1": "Y", "A2": "N", "B1": "Y"}
    assert "no week-40 visit" in w40.loc["A2", "REASON"]
    assert row(d.adsl, "A2")["STATUS"] == "discontinued_extension"
    assert row(d.adsl, "B2")["STATUS"] == "completed_randomised_no_extension"


def test_switcher_who_deteriorates_again_is_dated() -> None:
    d = build({"S1": ("placebo", [{}, SMALL, WORSE_B, WORSE_B, WORSE_B, WORSE_B, None])})
    adsl = row(d.adsl, "S1")
    assert (adsl["CROSSWK"], adsl["CD2WK"], adsl["CD2FL"]) == (12, 28, "Y")
    assert "deteriorated again after the switch at week 28" in adsl["STATUS_REASON"]


def test_no_randomised_patient_disappears() -> None:
    d = build(
        {"A": ("ivig", [{}, GOOD, GOOD, GOOD, GOOD, GOOD, GOOD])},
    )
    subjects = pd.DataFrame(
        {
            "subject_id": ["A", "Z", "X"],
            "arm": ["ivig", "placebo", ""],
            "randomised": ["true", "true", "false"],
        }
    )
    visits = d.scored[["subject_id", "visit_week", *BASE]].copy()
    out = derive_all(visits, subjects, "proderm")
    status = out.adsl.set_index("USUBJID")["STATUS"].to_dict()
    assert status == {"A": "completed_extension", "Z": "no_assessments", "X": "not_randomised"}
    assert set(out.adrs.loc[out.adrs["PARAMCD"] == "tis20_w16", "USUBJID"]) == {"A", "Z"}
    assert row(out.adrs, "Z", PARAMCD="tis20_w16")["AVALC"] == "N"


def test_visits_of_unknown_subjects_are_an_error() -> None:
    visits = pd.DataFrame([{"subject_id": "Q", "visit_week": 0, **BASE}])
    subjects = pd.DataFrame({"subject_id": ["A"], "arm": ["ivig"]})
    with pytest.raises(InputValidationError, match="not in the subjects table"):
        derive_all(visits, subjects)


def test_recorded_disposition_wins_over_derived() -> None:
    d = build(
        {"A": ("ivig", [{}, GOOD, GOOD, GOOD, GOOD, None, None])},
        {"A": {"entered_extension": "true", "discontinuation_reason": "moved away"}},
    )
    a = row(d.adsl, "A")
    assert (a["EXTFL"], a["STATUS"]) == ("Y", "discontinued_extension")
    assert a["STATUS_REASON"].endswith("moved away")


def test_adeff_changes_from_baseline() -> None:
    d = build({"A": ("ivig", [{}, GOOD, None, None, None, None, None])})
    mmt = row(d.adeff, "A", PARAMCD="MMT8", AVISITN=4)
    assert (mmt["BASE"], mmt["AVAL"], mmt["CHG"], mmt["PCHG"]) == (100.0, 120.0, 20.0, 20.0)
    assert np.isnan(row(d.adeff, "A", PARAMCD="TIS", AVISITN=4)["BASE"])


def test_protocol_loads_and_rejects_bad_files(tmp_path: Any) -> None:
    from myotrial.errors import RulesError

    p = load_protocol("proderm")
    assert (p.treatment.code, p.control.code, p.primary) == ("ivig", "placebo", "tis20_w16")
    assert (p.earliest_week, p.consecutive_visits, p.randomised_end_week) == (8, 2, 16)
    text = p.source.read_text()  # type: ignore[union-attr]
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('primary = "tis20_w16"', 'primary = "nope"'))
    with pytest.raises(RulesError, match="primary = 'nope'"):
        load_protocol(bad)
    bad.write_text(
        text.replace('control_on_deterioration = "switch"', 'control_on_deterioration = "jump"')
    )
    with pytest.raises(RulesError, match="valid: switch"):
        load_protocol(bad)
    with pytest.raises(RulesError, match="unknown protocol"):
        load_protocol("nonexistent")


def test_visit_after_the_protocols_last_week_is_a_located_problem() -> None:
    """The protocol's extension ends at week 40: a week-44 visit is refused, not scored."""
    visits = pd.DataFrame(
        {
            "subject_id": ["S1", "S1"],
            "visit_week": [0, 44],
            "pga": [6.0, 2.0],
            "ptga": [6.0, 3.0],
            "extramuscular": [4.0, 1.0],
            "mmt8": [120.0, 138.0],
            "haq": [1.5, 0.75],
            "ck": [1200.0, 300.0],
            "ck_uln": [200.0, 200.0],
        }
    )
    subjects = pd.DataFrame({"subject_id": ["S1"], "arm": ["ivig"]})
    with pytest.raises(InputValidationError) as err:
        derive_all(visits, subjects, load_protocol("proderm"))
    frame = err.value.problems
    assert list(frame["subject_id"]) == ["S1"] and list(frame["column"]) == ["visit_week"]
    assert "40" in frame["rule"].iloc[0]


def test_emergency_unblinding_recorded_by_the_live_trial_is_flagged_in_adsl() -> None:
    plan = {"E1": ("ivig", [{}, GOOD, GOOD]), "E2": ("placebo", [{}, SMALL, SMALL])}
    d = build(plan, {"E1": {"emergency_unblinded": "true"}, "E2": {"emergency_unblinded": ""}})
    assert row(d.adsl, "E1")["EUNBLFL"] == "Y"
    assert row(d.adsl, "E2")["EUNBLFL"] == "N"
    plain = build(plan)
    assert set(plain.adsl["EUNBLFL"]) == {"N"}
