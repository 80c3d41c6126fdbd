"""ADSL periods (admiral's APxxSDT/APxxEDT, TRTxxP/TRTxxA) owned by derivation: who switches
(policy.switches_on_deterioration), CDWK vs CROSSWK, recorded crossover/deterioration weeks,
the date rules of myotrial.derive.periods, and a juvenile protocol's thresholds (30/45/70)
everywhere in derivation, analysis and the report."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from myotrial.analysis import analyze
from myotrial.derive import PERIOD_COLUMNS, derive_all
from myotrial.errors import InputValidationError
from myotrial.protocol import Protocol, load_protocol


@pytest.fixture(autouse=True)
def _checked_against_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every trial derived here is also derived by the pre-rewrite reference implementation
    and compared table by table (test_derive_equivalence.py)."""
    from test_derive_equivalence import checked_derive_all

    monkeypatch.setitem(globals(), "derive_all", checked_derive_all)


BASE = {"pga": 6.0, "ptga": 6.0, "extramuscular": 5.0, "mmt8": 100.0, "haq": 1.5,
        "ck": 1000.0, "ck_uln": 200.0}
GOOD = {"pga": 2.0, "ptga": 3.0, "mmt8": 120.0}  # TIS 45 (adult: moderate)
SMALL = {"pga": 5.0}
WORSE_A = {"pga": 8.0, "mmt8": 75.0}
WORSE_C = {"ptga": 8.0, "haq": 2.0, "mmt8": 70.0}
WEEKS = (0, 4, 8, 12, 16, 28, 40)
DAY0 = pd.Timestamp("2024-01-01")


def trial(plan: dict[str, tuple[str, list[dict[str, Any] | None]]],
          extra: dict[str, dict[str, Any]] | None = None, *, dates: bool = True,
          haq: str = "haq") -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for sid, (_, visits) in plan.items():
        for week, change in zip(WEEKS, visits, strict=False):
            if change is None:
                continue
            rec = {"subject_id": sid, "visit_week": week, **BASE, **change}
            if dates:
                rec["visit_date"] = (DAY0 + pd.Timedelta(weeks=week)).date().isoformat()
            rec[haq] = rec.pop("haq")
            rows.append(rec)
    subjects = pd.DataFrame([{"subject_id": s, "arm": a, **(extra or {}).get(s, {})}
                             for s, (a, _) in plan.items()])
    return pd.DataFrame(rows), subjects


def one(adsl: pd.DataFrame, sid: str) -> pd.Series:
    return adsl.set_index("USUBJID").loc[sid]


def test_placebo_switcher_periods_weeks_dates_and_treatments() -> None:
    visits, subjects = trial({"P1": ("placebo", [{}, SMALL, WORSE_A, WORSE_C, GOOD, GOOD, GOOD])})
    adsl = derive_all(visits, subjects).adsl
    assert set(PERIOD_COLUMNS) <= set(adsl.columns)
    a = one(adsl, "P1")
    assert (a["CDFL"], a["CDWK"], a["CROSSFL"], a["CROSSWK"], a["EXTFL"]) == (
        "Y", 12, "Y", 12, "Y")
    assert (a["TRT01P"], a["TRT01A"], a["TRT02A"], a["TRT03A"]) == (
        "placebo", "placebo", "ivig", "ivig")
    # weeks: policy.periods (randomised 0-12, after the switch 12-16, extension 16-40)
    assert [a[f"AP0{k}{e}WK"] for k in (1, 2, 3) for e in "SE"] == [0, 12, 12, 16, 16, 40]
    # dates: week-0 visit; the confirming visit (week 12); the week-16 visit; last visit
    day = {w: DAY0 + pd.Timedelta(weeks=w) for w in WEEKS}
    assert [pd.Timestamp(a[f"AP0{k}{e}DT"]) for k in (1, 2, 3) for e in "SE"] == [
        day[0], day[12], day[12], day[16], day[16], day[40]]


def test_treatment_arm_deterioration_never_switches() -> None:
    visits, subjects = trial({"I1": ("ivig", [{}, SMALL, WORSE_A, WORSE_C, SMALL, None, None])})
    a = one(derive_all(visits, subjects).adsl, "I1")
    assert (a["CDFL"], a["CDWK"], a["CROSSFL"], a["EXTFL"]) == ("Y", 12, "N", "N")
    assert np.isnan(a["CROSSWK"])
    assert (a["TRT01A"], a["TRT02A"], a["TRT03A"]) == ("ivig", None, None)
    assert [a["AP01SWK"], a["AP01EWK"]] == [0, 16] and np.isnan(a["AP02SWK"])
    assert pd.isna(a["AP02SDT"]) and pd.isna(a["AP03SDT"])
    assert "switched" not in a["STATUS_REASON"] and "ivig -> ivig" not in a["TRTSEQ"]


def test_live_export_columns_blank_crossover_and_deterioration_week_accepted() -> None:
    # the live trial records deterioration_week for every arm; crossover_week blank for IVIG
    visits, subjects = trial(
        {"I1": ("ivig", [{}, SMALL, SMALL, SMALL, SMALL, None, None]),
         "P1": ("placebo", [{}, SMALL, SMALL, SMALL, SMALL, GOOD, GOOD])},
        {"I1": {"deterioration_week": 12, "crossover_week": None},
         "P1": {"deterioration_week": 8, "crossover_week": 8}})
    d = derive_all(visits, subjects)
    i1, p1 = one(d.adsl, "I1"), one(d.adsl, "P1")
    assert (i1["CDWK"], i1["CROSSFL"], i1["EXTFL"]) == (12, "N", "N")
    assert (p1["CDWK"], p1["CROSSFL"], p1["CROSSWK"], p1["TRT02A"]) == (8, "Y", 8, "ivig")
    assert "deterioration_week" not in d.adsl.columns  # input column, not passed through


def test_recorded_deterioration_week_alone_switches_a_placebo_patient() -> None:
    visits, subjects = trial({"P1": ("placebo", [{}, SMALL, SMALL, SMALL, SMALL, GOOD, GOOD])},
                             {"P1": {"deterioration_week": "12"}})
    a = one(derive_all(visits, subjects).adsl, "P1")
    assert (a["CDWK"], a["CROSSFL"], a["CROSSWK"], a["AP02SWK"]) == (12, "Y", 12, 12)


@pytest.mark.parametrize(
    ("arm", "week", "rule"),
    [
        ("ivig", 12, r"arm ivig does not switch on deterioration \(protocol proderm: "
                     r"no_extension\).*placebo; leave it blank"),
        ("placebo", 4, r"at or after week 8 and at or before week 16"),
        ("placebo", 20, r"at or after week 8 and at or before week 16"),
    ],
)
def test_recorded_crossover_week_the_protocol_does_not_allow(arm: str, week: int,
                                                             rule: str) -> None:
    visits, subjects = trial({"OK": ("placebo", [{}, SMALL, SMALL, SMALL, SMALL, None, None]),
                              "X1": (arm, [{}, SMALL, SMALL, SMALL, SMALL, None, None])},
                             {"X1": {"crossover_week": week}})
    with pytest.raises(InputValidationError) as err:
        derive_all(visits, subjects)
    p = err.value.problems
    assert p[["table", "row", "subject_id", "column", "value"]].values.tolist() == [
        ["subjects", 2, "X1", "crossover_week", f"{week}"]]
    assert re.search(rule, p["rule"].iloc[0]), p["rule"].iloc[0]


def test_bad_deterioration_week_is_located() -> None:
    visits, subjects = trial({"P1": ("placebo", [{}, SMALL, SMALL, SMALL, SMALL, None, None])},
                             {"P1": {"deterioration_week": "soon"}})
    with pytest.raises(InputValidationError) as err:
        derive_all(visits, subjects)
    assert err.value.problems[["subject_id", "column", "value"]].values.tolist() == [
        ["P1", "deterioration_week", "soon"]]


def test_cli_derive_rejects_ivig_crossover_week_and_writes_nothing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import myotrial.cli.derive  # noqa: F401  (registers the command)
    from myotrial.cli import app

    visits, subjects = trial({"I1": ("ivig", [{}, SMALL, WORSE_A, WORSE_C, SMALL, None, None])},
                             {"I1": {"crossover_week": 12}})
    visits.to_csv(tmp_path / "v.csv", index=False)
    subjects.to_csv(tmp_path / "s.csv", index=False)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["derive", "--visits", str(tmp_path / "v.csv"), "--subjects",
                                   str(tmp_path / "s.csv"), "-o", str(out), "--json"])
    assert res.exit_code == 2, res.output
    problems = json.loads(res.stdout)["problems"]
    assert [(p["subject_id"], p["column"], p["value"]) for p in problems] == [
        ("I1", "crossover_week", "12")]
    assert not out.exists() and "Traceback" not in res.output


def test_periods_dated_from_infusions_when_visits_have_no_date() -> None:
    visits, subjects = trial({"P1": ("placebo", [{}, SMALL, WORSE_A, WORSE_C, GOOD, GOOD, GOOD])},
                             dates=False)
    infusions = pd.DataFrame({
        "subject_id": ["P1"] * 4,
        "start": ["2024-01-01T09:00", "2024-03-25T09:00", "2024-04-22T09:00",
                  "2024-05-20T09:00"],
        "end": ["2024-01-01T13:00", "2024-03-25T13:00", "2024-04-22T13:00",
                "2024-05-20T13:00"],
        "product": ["placebo", "ivig", "ivig", "ivig"],
        "cycle": [1, 4, 5, 6],
    })
    a = one(derive_all(visits, subjects, infusions=infusions).adsl, "P1")
    assert [str(pd.Timestamp(a[c]).date()) for c in ("AP01SDT", "AP02SDT", "AP03SDT")] == [
        "2024-01-01", "2024-03-25", "2024-04-22"]
    undated = one(derive_all(visits, subjects).adsl, "P1")
    assert all(pd.isna(undated[f"AP0{k}SDT"]) for k in (1, 2, 3))
    assert undated["AP02SWK"] == 12  # weeks do not need dates


def test_adeff_period_and_treatment_follow_the_policy() -> None:
    visits, subjects = trial({"P1": ("placebo", [{}, SMALL, WORSE_A, WORSE_C, GOOD, GOOD, GOOD])})
    eff = derive_all(visits, subjects).adeff
    tis = eff[eff["PARAMCD"] == "PGA"].set_index("AVISITN")
    assert tis["APERIOD"].tolist() == [1, 1, 1, 2, 2, 3, 3]
    assert tis["APERIODC"].tolist()[3:5] == ["after_switch", "after_switch"]
    assert tis["TRTA"].tolist() == ["placebo"] * 3 + ["ivig"] * 4


# -- juvenile protocol: thresholds 30/45/70 everywhere --------------------------------------


def juvenile_protocol(tmp_path: Path) -> Protocol:
    text = load_protocol("proderm").source.read_text()  # type: ignore[union-attr]
    assert 'population = "adult"' in text
    path = tmp_path / "juvenile.toml"
    path.write_text(text.replace('population = "adult"', 'population = "juvenile"'))
    return load_protocol(path)


# TIS 45 with GOOD; with a larger PGA change the TIS is 47.5 (adult moderate, juvenile moderate)
BETTER = {"pga": 1.0, "ptga": 3.0, "mmt8": 120.0}   # PGA 50% -> 20: TIS 47.5
MID = {"pga": 3.0, "ptga": 4.0, "mmt8": 110.0}       # PGA 30% 17.5, PtGA 20% 5, MMT 6.7% 10: 32.5
LOW = {"pga": 3.5, "ptga": 5.0, "mmt8": 104.0}       # PGA 25% 15, PtGA 10% 2.5, MMT 2.7% 10: 27.5


def test_juvenile_thresholds_in_derivation_and_analysis(tmp_path: Path) -> None:
    proto = juvenile_protocol(tmp_path)
    assert proto.policy.threshold_values == (30.0, 45.0, 70.0)
    plan = {"J1": ("ivig", [{}, MID, MID, MID, MID, MID, MID]),
            "J2": ("placebo", [{}, LOW, SMALL, SMALL, LOW, SMALL, SMALL]),
            "J3": ("ivig", [{}, BETTER, BETTER, BETTER, BETTER, BETTER, BETTER]),
            "J4": ("placebo", [{}, SMALL, SMALL, SMALL, SMALL, SMALL, SMALL])}
    visits, subjects = trial(plan, haq="chaq")
    d = derive_all(visits, subjects, proto)
    w16 = d.adeff[(d.adeff["PARAMCD"] == "TIS") & (d.adeff["AVISITN"] == 16)].set_index(
        "USUBJID")
    # J1 TIS 32.5: juvenile minimal (>= 30); J2 TIS 27.5: adult minimal, juvenile none
    assert w16.loc["J1", "AVAL"] == 32.5 and w16.loc["J1", "AVALC"] == "minimal"
    assert w16.loc["J3", "AVAL"] == 47.5 and w16.loc["J3", "AVALC"] == "moderate"
    assert w16.loc["J2", "AVAL"] == 27.5 and w16.loc["J2", "AVALC"] == "none"
    adrs = d.adrs[d.adrs["PARAMCD"] == "tis20_w16"].set_index("USUBJID")
    assert adrs.loc["J2", "AVAL"] == 0 and adrs.loc["J2", "REASON"].endswith("< 30 at week 16")
    assert adrs.loc["J1", "AVAL"] == 1
    assert d.adrs.loc[d.adrs["PARAMCD"] == "tis40_w16", "PARAM"].iloc[0].count("TIS >= 45") == 1
    tte = d.adtte[d.adtte["PARAMCD"] == "tt_minimal"]
    assert "TIS >= 30" in tte["PARAM"].iloc[0]
    assert tte.set_index("USUBJID").loc["J2", "CNSR"] == 1  # 27.5 is not a juvenile response
    res = analyze(d)
    labels = " ".join(e.label for e in res.endpoints)
    assert "TIS >= 30" in labels and "TIS >= 45" in labels and "TIS >= 70" in labels
    assert not re.search(r"TIS >= (20|40|60)\b", labels)
    assert res.get("tis20_w16").arms["ivig"]["x"] == 2  # J1 (32.5) and J3 (47.5)
    # adult protocol on the same visits (measures renamed back): J2's 27.5 is a response
    adult = derive_all(visits.rename(columns={"chaq": "haq"}), subjects)
    a_adrs = adult.adrs[adult.adrs["PARAMCD"] == "tis20_w16"].set_index("USUBJID")
    assert a_adrs.loc["J2", "AVAL"] == 1


def test_juvenile_thresholds_in_the_report(tmp_path: Path) -> None:
    from myotrial.report import build_report
    from myotrial.report.summaries import by_visit_responses

    proto = juvenile_protocol(tmp_path)
    plan = {f"J{i}": (arm, [{}, MID, BETTER, MID, BETTER, MID, BETTER])
            for i, arm in enumerate(["ivig", "placebo"] * 3)}
    visits, subjects = trial(plan, haq="chaq")
    d = derive_all(visits, subjects, proto)
    responses = by_visit_responses(d)
    assert list(dict.fromkeys(zip(responses["category"], responses["threshold"],
                                  strict=True))) == [
        ("minimal", 30.0), ("moderate", 45.0), ("major", 70.0)]
    report = build_report(d, analyze(d))
    html = report.html
    assert "TIS \u2265 30 / 45 / 70" in html
    assert "TIS &gt;= 30" in html and "TIS &gt;= 45" in html
    assert not re.search(r"TIS (>=|&gt;=|\u2265) ?(20|40|60)\b", html)
    svg = report.figures["fig-responses"]
    for thr in ("30", "45", "70"):
        assert f"TIS \u2265 {thr})" in svg
    assert "juvenile population" in html


def test_extension_start_date_without_a_week16_visit_is_the_scheduled_day() -> None:
    """A patient who misses the week-16 visit but enters the extension (no infusion data)
    gets the scheduled day of week 16 as the open-label start (PROJECT RULE)."""
    visits = pd.DataFrame(
        {
            "subject_id": ["S1"] * 3,
            "visit_week": [0, 12, 28],
            "visit_date": ["2026-01-05", "2026-03-30", "2026-07-20"],
            "pga": [6.0, 3.0, 2.0],
            "ptga": [6.0, 3.0, 2.0],
            "extramuscular": [4.0, 2.0, 1.0],
            "mmt8": [120.0, 130.0, 138.0],
            "haq": [1.5, 1.0, 0.75],
            "ck": [1200.0, 600.0, 300.0],
            "ck_uln": [200.0, 200.0, 200.0],
        }
    )
    subjects = pd.DataFrame(
        {"subject_id": ["S1"], "arm": ["placebo"], "entered_extension": ["true"]}
    )
    adsl = derive_all(visits, subjects, load_protocol("proderm")).adsl.set_index("USUBJID")
    assert adsl.loc["S1", "EXTFL"] == "Y"
    assert pd.Timestamp(adsl.loc["S1", "AP03SDT"]) == pd.Timestamp("2026-04-27")
    assert pd.Timestamp(adsl.loc["S1", "AP01EDT"]) == pd.Timestamp("2026-04-27")
