"""analyze follows the SAP (issue 13): hand-made trials, hand-computed or R numbers.

* the placebo patient whose week-16 HAQ is missing but whose five present measures give TIS 57.5
  is a non-responder in the primary analysis and a responder under bounded TIS and MI;
* ``myotrial analyze --strata COL`` on a two-stratum trial prints the MH/Sato risk difference
  (hand-computed) and the CMH test (R ``mantelhaen.test(correct = FALSE)``, fixture
  ``sap_cmh.csv`` case ``delta_large``) beside the unadjusted ones;
* week 40 is descriptive; multiplicity gatekeeping; populations; display rules.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from myotrial.analysis import AnalysisResults, analyze
from myotrial.cli import app
from myotrial.derive import DerivedTables, derive_all
from myotrial.protocol import load_protocol
from myotrial.sap import Multiplicity
from test_analysis import BASE, PATTERNS, published_trial

R = Path(__file__).parent / "fixtures" / "r"
# pga 6 -> 1 (20 points), ptga 6 -> 4 (5), MMT-8 100 -> 150 (32.5), extramuscular and CK
# unchanged (0): 57.5 from five measures; HAQ missing
HAQ_MISSING = {"pga": 1.0, "ptga": 4.0, "mmt8": 150.0, "haq": None}


def haq_missing_trial() -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The published-count trial with one placebo non-responder's week-16 visit replaced."""
    visits, subjects = published_trial()
    sid = str(subjects.loc[subjects["arm"] == "placebo", "subject_id"].iloc[-1])
    row = (visits["subject_id"] == sid) & (visits["visit_week"] == 16)
    for col, value in HAQ_MISSING.items():
        visits.loc[row, col] = value
    return visits, subjects, sid


@pytest.fixture(scope="module")
def haq_trial() -> tuple[DerivedTables, AnalysisResults, str]:
    visits, subjects, sid = haq_missing_trial()
    derived = derive_all(visits, subjects)
    return derived, analyze(derived, mi_imputations=5, repeated_measures=False), sid


def test_the_haq_missing_patient_scores_57_5_from_five_measures(
    haq_trial: tuple[DerivedTables, AnalysisResults, str],
) -> None:
    derived, results, sid = haq_trial
    scored = derived.scored
    w16 = scored[(scored["subject_id"] == sid) & (scored["visit_week"] == 16)]
    points = w16[[c for c in w16.columns if c.startswith("points_")]].iloc[0]
    assert points.isna().sum() == 1 and math.isnan(points["points_haq"])
    assert points.sum() == 57.5
    assert math.isnan(float(w16["tis"].iloc[0]))
    primary = results.get("tis20_w16")
    assert primary.arms["placebo"] == {"x": 21, "n": 48}  # a non-responder (no TIS)


def test_bounded_tis_and_mi_make_that_patient_a_responder(
    haq_trial: tuple[DerivedTables, AnalysisResults, str],
) -> None:
    _, results, _ = haq_trial
    bounded = results.sensitivity_result("bounded_tis")
    assert bounded.arms["placebo"]["x"] == 22 and bounded.arms["placebo"]["gained"] == 1
    assert bounded.arms["ivig"]["x"] == 37 and bounded.arms["ivig"]["gained"] == 0
    assert bounded.estimate is not None and bounded.estimate.method == "wald"
    assert bounded.estimate.estimate == pytest.approx(37 / 47 - 22 / 48, abs=1e-12)
    assert bounded.test is not None and bounded.test.method == "fisher"
    mi = results.sensitivity_result("multiple_imputation")
    assert mi.estimate is not None and mi.estimate.method == "mi_rubin"
    # HAQ points >= 0 in every imputation: the patient responds in all of them
    assert mi.arms["placebo"]["x"] == 22.0 and mi.arms["placebo"]["imputed_patients"] == 1
    assert mi.estimate.estimate == pytest.approx(37 / 47 - 22 / 48, abs=1e-12)
    assert mi.estimate.counts["m"] == 5 and mi.estimate.counts["seed"] == 20221006
    tip = results.sensitivity_result("tipping_point")
    assert tip.tipping is not None
    assert dict(tip.tipping.counts) == {
        "x1_observed": 37, "n1_observed": 47, "missing1": 0,
        "x2_observed": 21, "n2_observed": 47, "missing2": 1,
    }
    assert tip.tipping.robust and "holds for every imputation" in tip.tipping_summary()
    # the SAP's grid of rates (step 0.05) maps onto the one missing control outcome
    grid = tip.rate_grid
    assert grid is not None and set(grid["k2"]) == {0, 1} and len(grid) == 21 * 21


def test_mi_default_imputations_come_from_the_sap() -> None:
    sap = load_protocol("proderm").sap
    assert sap is not None
    mi = next(s for s in sap.sensitivity if s.method == "multiple_imputation")
    assert (mi.n_imputations, mi.seed) == (50, 20221006)


def test_published_numbers_and_sap_methods(
    haq_trial: tuple[DerivedTables, AnalysisResults, str],
) -> None:
    visits, subjects = published_trial()
    results = analyze(derive_all(visits, subjects), sensitivity=False, repeated_measures=False)
    ep = results.get("tis20_w16")
    assert ep.role == "primary" and ep.comparison == "randomised"
    assert (ep.estimate.method, ep.test.method) == ("wald", "fisher")  # type: ignore[union-attr]
    assert 100 * ep.estimate.estimate == pytest.approx(34.97, abs=0.005)  # type: ignore[union-attr]
    exact = next(x for x in ep.extra if x.method == "chan_zhang")
    assert exact.lower < ep.estimate.estimate < exact.upper  # type: ignore[union-attr]
    assert "not a matched pair" in ep.pairing
    cp = ep.arm_estimates["ivig"]
    assert cp.method == "clopper_pearson"
    assert (round(cp.lower, 4), round(cp.upper, 4)) == (0.6434, 0.893)  # binom.test(37, 47)
    for name in ("tis20_w40", "tis40_w40", "tis60_w40"):
        w40 = results.get(name)
        assert w40.comparison == "descriptive" and w40.estimate is None and w40.test is None


def test_week_40_is_descriptive_with_no_between_arm_rows() -> None:
    from myotrial.report._example import example_trial

    trial = example_trial()
    results = analyze(derive_all(trial.visits, trial.subjects), sensitivity=False,
                      repeated_measures=False)
    ard = results.to_ard()
    w40 = ard[ard["endpoint"] == "tis20_w40"]
    assert set(w40["effect"]) == {"summary", "proportion", "plan", "note"}
    ep = results.get("tis20_w40")
    assert ep.arms["ivig"]["n"] > 0 and set(ep.arm_estimates) == {"ivig", "placebo"}


def test_multiplicity_fixed_sequence_stops_and_holm_adjusts() -> None:
    visits, subjects = published_trial()
    derived = derive_all(visits, subjects)
    sap = derived.protocol.sap
    assert sap is not None
    seq = dataclasses.replace(
        sap,
        multiplicity=Multiplicity("fixed_sequence", 0.05,
                                  ("tis20_w16", "tt_deterioration", "tis40_w16")),
        sensitivity=(),
    )
    res = analyze(derived, sap=seq, repeated_measures=False)
    assert res.multiplicity is not None
    tab = res.multiplicity.table.set_index("hypothesis")
    assert tab.loc["tis20_w16", "rejected"] and tab.loc["tis20_w16", "alpha_at_test"] == 0.05
    # no events: log-rank p = 1 -> not rejected, and the sequence stops
    assert tab.loc["tt_deterioration", "tested"] and not tab.loc["tt_deterioration", "rejected"]
    assert not tab.loc["tis40_w16", "tested"] and not tab.loc["tis40_w16", "rejected"]
    holm = dataclasses.replace(seq, multiplicity=Multiplicity(
        "holm", 0.05, ("tis20_w16", "tis40_w16", "tis60_w16")))
    res = analyze(derived, sap=holm, repeated_measures=False)
    assert res.multiplicity is not None
    tab = res.multiplicity.table.set_index("hypothesis")
    p = {h: float(res.get(h).p_value or 0) for h in ("tis20_w16", "tis40_w16", "tis60_w16")}
    # by hand: order tis40 < tis20 < tis60; adjusted = running max of (m - k + 1) p
    assert tab.loc["tis40_w16", "adjusted_p"] == pytest.approx(3 * p["tis40_w16"])
    assert tab.loc["tis20_w16", "adjusted_p"] == pytest.approx(2 * p["tis20_w16"])
    assert tab.loc["tis60_w16", "adjusted_p"] == pytest.approx(p["tis60_w16"])
    assert tab.loc["tis20_w16", "alpha_at_test"] == pytest.approx(0.05 / 2)
    rows = res.to_ard()
    assert (rows["effect"] == "multiplicity").sum() == 3 * 6


def test_populations_from_adsl_flags() -> None:
    from myotrial.report._example import example_trial

    trial = example_trial()
    derived = derive_all(trial.visits, trial.subjects)
    res = analyze(derived, sensitivity=False, repeated_measures=False)
    pops = {p.name: p for p in res.populations}
    adsl = derived.adsl
    rand = adsl["RANDFL"] == "Y"
    cdwk = pd.to_numeric(adsl["CDWK"], errors="coerce")
    pp = rand & (adsl["COMP16FL"] == "Y") & (adsl["CROSSFL"] != "Y") & ~(cdwk <= 16)
    for arm in ("ivig", "placebo"):
        assert pops["itt"].n[arm] == int((rand & (adsl["ARMCD"] == arm)).sum())
        assert pops["per_protocol"].n[arm] == int((pp & (adsl["ARMCD"] == arm)).sum())
        assert pops["extension"].n[arm] == int(
            (rand & (adsl["EXTFL"] == "Y") & (adsl["ARMCD"] == arm)).sum())
    assert pops["per_protocol"].n["placebo"] < pops["itt"].n["placebo"]


# ----------------------------------------------------------------------------------------------
# --strata on a two-stratum trial
# ----------------------------------------------------------------------------------------------
def two_strata_trial() -> tuple[pd.DataFrame, pd.DataFrame]:
    """R fixture sap_cmh_tables.csv case delta_large: stratum a 8/10 vs 3/10, b 6/9 vs 2/8."""
    tables = pd.read_csv(R / "sap_cmh_tables.csv")
    tables = tables[tables["case"] == "delta_large"]
    visits: list[dict[str, Any]] = []
    subjects = []
    k = 0
    for rec in tables.to_dict("records"):
        for arm, x, n in (("ivig", rec["x1"], rec["n1"]), ("placebo", rec["x2"], rec["n2"])):
            for i in range(int(n)):
                sid = f"S{k:03d}"
                k += 1
                subjects.append({"subject_id": sid, "arm": arm, "age": 40, "sex": "F",
                                 "msa_group": "negative", "stratum": rec["stratum"]})
                visits.append({"subject_id": sid, "visit_week": 0, **BASE})
                follow = PATTERNS["major"] if i < x else PATTERNS["none"]
                for week in (4, 8, 12, 16):
                    visits.append({"subject_id": sid, "visit_week": week, **BASE, **follow})
    return pd.DataFrame(visits), pd.DataFrame(subjects)


def _mh_sato_by_hand() -> tuple[float, float]:
    strata = [(8, 10, 3, 10), (6, 9, 2, 8)]
    num = den = p_sum = q_sum = 0.0
    for x1, n1, x2, n2 in strata:
        big = n1 + n2
        num += (x1 * n2 - x2 * n1) / big
        den += n1 * n2 / big
        p_sum += (n1**2 * x2 - n2**2 * x1 + n1 * n2 * (n2 - n1) / 2) / big**2
        q_sum += (x1 * (n2 - x2) + x2 * (n1 - x1)) / (2 * big)
    d = num / den
    return d, math.sqrt((d * p_sum + q_sum) / den**2)


def test_cli_strata_prints_mh_sato_and_cmh_beside_the_unadjusted(tmp_path: Path) -> None:
    visits, subjects = two_strata_trial()
    visits.to_csv(tmp_path / "v.csv", index=False)
    subjects.to_csv(tmp_path / "s.csv", index=False)
    args = ["analyze", "--visits", str(tmp_path / "v.csv"), "--subjects", str(tmp_path / "s.csv")]
    runner = CliRunner()
    res = runner.invoke(app, [*args, "--strata", "stratum"], env={"COLUMNS": "220"})
    assert res.exit_code == 0, res.output
    d, se = _mh_sato_by_hand()
    z = 1.959963984540054
    mh = f"{100 * d:.1f} ({100 * (d - z * se):.1f} to {100 * (d + z * se):.1f}) pts"
    r_cmh = pd.read_csv(R / "sap_cmh.csv").set_index("case").loc["delta_large"]
    lines = res.output.splitlines()
    primary = next(i for i, line in enumerate(lines) if "tis20_w16 (primary)" in line)
    unadjusted = 14 / 19 - 5 / 18
    assert f"{100 * unadjusted:.1f} (" in lines[primary]
    stratified = next(line for line in lines[primary:] if "stratified by stratum" in line)
    assert mh in stratified
    assert f"{r_cmh['p']:.4f}" in stratified  # R mantelhaen.test(correct = FALSE): 0.0062
    assert "Mantel-Haenszel (Sato" in stratified
    assert "strata: stratum" in res.output
    out = runner.invoke(app, [*args, "--strata", "stratum", "--json"])
    payload = json.loads(out.stdout)
    row = next(r for r in payload["results"] if r["endpoint"] == "tis20_w16")
    assert row["stratified_estimate"] == pytest.approx(d, abs=1e-12)
    assert row["stratified_p_value"] == pytest.approx(r_cmh["p"], abs=1e-12)
    assert row["stratified_method"] == "mh_sato" and row["stratified_test"] == "cmh"
    assert row["estimate"] == pytest.approx(unadjusted, abs=1e-12)
    ard = payload["ard"]
    assert any(r["method"] == "cmh" and r["group"] == "strata=stratum" for r in ard)
    plain = runner.invoke(app, [*args, "--json"])  # the SAP has no strata: none by default
    row = next(r for r in json.loads(plain.stdout)["results"] if r["endpoint"] == "tis20_w16")
    assert row["stratified_estimate"] is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strata", "nope"], "--strata 'nope': not a column"),
        (["--method", "magic"], "--method 'magic': not one of wald"),
        (["--test", "cmh"], "--test 'cmh': not one of fisher"),
        (["--strata", "stratum", "--no-strata"], "not both"),
    ],
)
def test_cli_bad_options_are_located_errors(tmp_path: Path, extra: list[str], message: str) -> None:
    visits, subjects = two_strata_trial()
    visits.to_csv(tmp_path / "v.csv", index=False)
    subjects.to_csv(tmp_path / "s.csv", index=False)
    res = CliRunner().invoke(
        app, ["analyze", "--visits", str(tmp_path / "v.csv"), "--subjects",
              str(tmp_path / "s.csv"), *extra], env={"COLUMNS": "200"})
    assert res.exit_code == 2 and message in res.output
    assert "Traceback" not in res.output


def test_cli_display_rules(tmp_path: Path) -> None:
    visits, subjects = published_trial()
    visits.to_csv(tmp_path / "v.csv", index=False)
    subjects.to_csv(tmp_path / "s.csv", index=False)
    res = CliRunner().invoke(
        app, ["analyze", "--visits", str(tmp_path / "v.csv"), "--subjects",
              str(tmp_path / "s.csv"), "--conf-level", "0.9"], env={"COLUMNS": "240"})
    assert res.exit_code == 0, res.output
    out = res.output
    assert "90% CI" in out and "95% CI" not in out
    assert "0.0000" not in out and "< 0.0001" in out  # tis_w16: t test p = 4e-6
    assert "nan" not in out.lower().replace("nant", "")
    assert "0/0" not in out and "no patients" in out  # week 40: nobody entered the extension
    det = next(line for line in out.splitlines() if line.lstrip("│ ").startswith("tt_deterio"))
    assert "no events" in det and "1.0000" not in det
    assert "median not reached" in out
    assert "OR " in out  # the odds ratio is shown
    assert "not a matched pair" in out  # CI/test pairing stated
    assert re.search(r"tis20_w16 \(primary\)", out)


def test_repeated_measures_fit_the_tis_without_a_baseline_covariate() -> None:
    """The TIS is itself a change score: its MMRM has no baseline covariate (issue 13); the
    core set measures are fitted on their change with the baseline as covariate."""
    from myotrial.report._example import example_trial

    trial = example_trial()
    results = analyze(derive_all(trial.visits, trial.subjects), sensitivity=False)
    tis = results.get("mmrm_tis")
    assert tis.mmrm is not None and tis.estimate is not None
    assert any("no baseline covariate" in n for n in tis.mmrm.notes)
    assert tis.estimate.lower < tis.estimate.estimate < tis.estimate.upper
    pga = results.get("mmrm_pga")
    assert pga.mmrm is not None and not any("no baseline" in n for n in pga.mmrm.notes)
