"""Binary endpoints: published ProDERM numbers, R fixtures, statsmodels agreement, edge cases.

R fixtures are written by scripts/r/stats_fixtures.R (R 4.2.2, epiR 2.0.57, metafor, survival);
the tests only read the committed CSVs under tests/fixtures/r/.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import confint_proportions_2indep

from myotrial.stats import (
    chisq_test,
    cmh_test,
    count_responders,
    fisher_exact_test,
    odds_ratio,
    odds_ratio_stratified,
    risk_difference,
    risk_difference_stratified,
)
from myotrial.stats.binary import _mn_restricted_mle

FIXTURES = Path(__file__).parent / "fixtures" / "r"
R_TOL = 1e-6
BINARY = pd.read_csv(FIXTURES / "binary_2x2.csv")
STRAT_TABLES = pd.read_csv(FIXTURES / "stratified_tables.csv")
STRAT = pd.read_csv(FIXTURES / "stratified.csv").set_index("case")


def _kw(row: pd.Series) -> dict[str, int]:
    return {k: int(row[k]) for k in ("x1", "n1", "x2", "n2")}


def _strat_kw(case: str) -> dict[str, list[int] | list[str]]:
    g = STRAT_TABLES[STRAT_TABLES["case"] == case]
    return {"x1": g["x1"].tolist(), "n1": g["n1"].tolist(), "x2": g["x2"].tolist(),
            "n2": g["n2"].tolist(), "strata": g["stratum"].astype(str).tolist()}


# ---------------------------------------------------------------- published ProDERM numbers
@pytest.mark.parametrize(
    ("x1", "x2", "published"),
    [
        (37, 21, (34.97, 16.70, 53.24)),  # TIS >= 20 and no confirmed deterioration, week 16
        (32, 11, (45.17, 27.31, 63.03)),  # TIS >= 40, week 16
        (15, 4, (23.58, 8.13, 39.03)),  # TIS >= 60, week 16
    ],
)
def test_proderm_risk_differences_reproduced_by_wald(x1: int, x2: int,
                                                     published: tuple[float, ...]) -> None:
    # method that reproduces the published figure: "wald" (unpooled Wald CI of p1 - p2)
    res = risk_difference(x1=x1, n1=47, x2=x2, n2=48, method="wald")
    got = (100 * res.estimate, 100 * res.lower, 100 * res.upper)
    assert got == pytest.approx(published, abs=0.005)  # published precision
    assert res.method == "wald"


def test_proderm_primary_tests() -> None:
    # proderm.md: Fisher exact 0.00069, Pearson chi-square 0.00047, Yates 0.0010
    kw = {"x1": 37, "n1": 47, "x2": 21, "n2": 48}
    assert fisher_exact_test(**kw).p_value == pytest.approx(0.00069, abs=0.000005)
    assert chisq_test(**kw).p_value == pytest.approx(0.00047, abs=0.000005)
    assert chisq_test(**kw, correction=True).p_value == pytest.approx(0.0010, abs=0.00005)
    assert chisq_test(**kw, correction=True).method == "chisq_yates"


# ---------------------------------------------------------------- R fixtures, unstratified
@pytest.mark.r_fixture
@pytest.mark.parametrize("case", BINARY["case"].tolist())
def test_risk_difference_against_r(case: str) -> None:
    # oracles: Wald and Newcombe by hand from the formulas (Wilson limits from
    # prop.test(correct = FALSE)); Miettinen-Nurminen by hand (score inversion, uniroot)
    row = BINARY.set_index("case").loc[case]
    kw = _kw(row)
    for method, prefix in (("wald", "wald"), ("newcombe", "newcombe"),
                           ("miettinen_nurminen", "mn")):
        res = risk_difference(**kw, method=method)
        assert res.estimate == pytest.approx(row["estimate"], abs=R_TOL)
        assert res.lower == pytest.approx(row[f"{prefix}_lower"], abs=R_TOL), method
        assert res.upper == pytest.approx(row[f"{prefix}_upper"], abs=R_TOL), method


@pytest.mark.r_fixture
@pytest.mark.parametrize("case", BINARY["case"].tolist())
def test_fisher_and_chisq_against_r(case: str) -> None:
    # oracles: fisher.test(tab); chisq.test(tab, correct = FALSE / TRUE)
    row = BINARY.set_index("case").loc[case]
    kw = _kw(row)
    assert fisher_exact_test(**kw).p_value == pytest.approx(row["fisher_p"], abs=R_TOL)
    plain, yates = chisq_test(**kw), chisq_test(**kw, correction=True)
    if math.isnan(row["chisq_stat"]):  # R: NaN for a zero column total; we define 0 / p = 1
        assert (plain.statistic, plain.p_value) == (0.0, 1.0)
        assert plain.notes
    else:
        assert plain.statistic == pytest.approx(row["chisq_stat"], abs=R_TOL)
        assert plain.p_value == pytest.approx(row["chisq_p"], abs=R_TOL)
        assert yates.statistic == pytest.approx(row["chisq_yates_stat"], abs=R_TOL)
        assert yates.p_value == pytest.approx(row["chisq_yates_p"], abs=R_TOL)


def test_newcombe_and_wald_agree_with_statsmodels() -> None:
    for row in BINARY.to_dict("records"):
        kw = _kw(pd.Series(row))
        for method, sm_method in (("wald", "wald"), ("newcombe", "newcomb")):
            lo, hi = confint_proportions_2indep(kw["x1"], kw["n1"], kw["x2"], kw["n2"],
                                                method=sm_method, compare="diff")
            res = risk_difference(**kw, method=method)
            assert (res.lower, res.upper) == pytest.approx((lo, hi), abs=1e-12)


def test_miettinen_nurminen_differs_from_statsmodels_for_a_documented_reason() -> None:
    # statsmodels 0.14/0.15 confint_proportions_2indep(method="score") uses count0 where nobs0
    # belongs in the restricted-MLE cubic (statsmodels issue #10269); our restricted MLE must
    # zero the score equation of the constrained likelihood instead.
    x1, n1, x2, n2 = 37, 47, 21, 48
    for delta in (-0.5, -0.1, 0.156, 0.3, 0.6):
        p1, p2 = _mn_restricted_mle(delta, x1, n1, x2, n2)
        assert p1 - p2 == pytest.approx(delta, abs=1e-12)
        score = x1 / p1 - (n1 - x1) / (1 - p1) + x2 / p2 - (n2 - x2) / (1 - p2)
        assert score == pytest.approx(0.0, abs=1e-8)
    # at delta = 0 statsmodels uses the pooled estimate (not affected by the bug): agree there
    from statsmodels.stats.proportion import score_test_proportions_2indep

    stat, _ = score_test_proportions_2indep(x1, n1, x2, n2, value=0, compare="diff",
                                            return_results=False)
    p = (x1 + x2) / (n1 + n2)
    d = x1 / n1 - x2 / n2
    ours = d / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2) * (n1 + n2) / (n1 + n2 - 1))
    assert stat == pytest.approx(ours, abs=1e-10)


# ---------------------------------------------------------------- R fixtures, stratified
@pytest.mark.r_fixture
@pytest.mark.parametrize("case", STRAT.index.tolist())
def test_mh_sato_against_r(case: str) -> None:
    # oracle: epiR::epi.2by2(method = "cohort.count")$massoc.detail$ARisk.mh.sato (Sato
    # variance, epiR:::zMHRD.Sato); metafor::rma.mh(measure = "RD") where epiR cannot run
    # (one stratum); both checked equal to a hand Sato computation inside the R script
    exp = STRAT.loc[case]
    res = risk_difference_stratified(**_strat_kw(case), method="mh_sato")
    assert res.estimate == pytest.approx(exp["mh_estimate"], abs=R_TOL)
    assert res.lower == pytest.approx(exp["mh_lower"], abs=R_TOL)
    assert res.upper == pytest.approx(exp["mh_upper"], abs=R_TOL)
    assert res.std_error == pytest.approx(exp["mh_se"], abs=R_TOL)


@pytest.mark.r_fixture
@pytest.mark.parametrize("case", STRAT.index.tolist())
def test_stratified_newcombe_against_r(case: str) -> None:
    # oracle: base-R transcription of tern::prop_diff_strat_nc(weights_method = "cmh") and
    # tern::prop_strat_wilson (tern is not packaged for Debian), in scripts/r/stats_fixtures.R
    exp = STRAT.loc[case]
    res = risk_difference_stratified(**_strat_kw(case), method="strat_newcombe")
    assert res.estimate == pytest.approx(exp["sn_estimate"], abs=R_TOL)
    assert res.lower == pytest.approx(exp["sn_lower"], abs=R_TOL)
    assert res.upper == pytest.approx(exp["sn_upper"], abs=R_TOL)


@pytest.mark.r_fixture
@pytest.mark.parametrize("case", [c for c in STRAT.index if c != "one_stratum"])
def test_cmh_and_mh_odds_ratio_against_r(case: str) -> None:
    # oracle: mantelhaen.test(tab, correct = FALSE / TRUE): statistic, p, estimate, conf.int
    exp = STRAT.loc[case]
    kw = _strat_kw(case)
    plain, cc = cmh_test(**kw), cmh_test(**kw, correction=True)
    assert plain.statistic == pytest.approx(exp["cmh_stat"], abs=R_TOL)
    assert plain.p_value == pytest.approx(exp["cmh_p"], abs=R_TOL)
    assert cc.statistic == pytest.approx(exp["cmh_cc_stat"], abs=R_TOL)
    assert cc.p_value == pytest.approx(exp["cmh_cc_p"], abs=R_TOL)
    orr = odds_ratio_stratified(**kw)
    assert orr.estimate == pytest.approx(exp["mh_or"], rel=R_TOL)
    assert orr.lower == pytest.approx(exp["mh_or_lower"], rel=R_TOL)
    assert orr.upper == pytest.approx(exp["mh_or_upper"], rel=R_TOL)


# ---------------------------------------------------------------- reductions and edge cases
def test_stratified_estimators_reduce_to_unstratified_with_one_stratum() -> None:
    kw = {"x1": 37, "n1": 47, "x2": 21, "n2": 48}
    one = {k: [v] for k, v in kw.items()}
    pairs = (("mh_sato", "wald"), ("strat_newcombe", "newcombe"))
    for strat_method, method in pairs:
        a = risk_difference_stratified(**one, method=strat_method)
        b = risk_difference(**kw, method=method)
        assert (a.estimate, a.lower, a.upper) == pytest.approx(
            (b.estimate, b.lower, b.upper), abs=1e-12)
    # CMH with one stratum = (N - 1)/N * Pearson chi-square
    n = 95
    assert cmh_test(**one).statistic == pytest.approx(
        (n - 1) / n * chisq_test(**kw).statistic, rel=1e-12)


def test_empty_strata_are_dropped_without_changing_the_estimate() -> None:
    base = _strat_kw("three_strata")
    with_empty = {k: [*v, 0 if k in ("x1", "n1") else ("empty" if k == "strata" else 3)]
                  for k, v in base.items()}
    with_empty["x2"][-1] = 1
    for method in ("mh_sato", "strat_newcombe"):
        a = risk_difference_stratified(**base, method=method)
        b = risk_difference_stratified(**with_empty, method=method)
        assert (b.estimate, b.lower, b.upper) == pytest.approx((a.estimate, a.lower, a.upper))
        assert b.counts["n_strata"] == 4 and b.counts["n_strata_used"] == 3
        assert any("empty" in note for note in b.notes)
    assert cmh_test(**with_empty).statistic == pytest.approx(cmh_test(**base).statistic)


def test_no_usable_stratum_is_an_error() -> None:
    with pytest.raises(ValueError, match="no stratum has patients in both arms"):
        risk_difference_stratified(x1=[0, 0], n1=[0, 3], x2=[1, 0], n2=[2, 0])


def test_zero_cells_give_defined_results() -> None:
    both_zero = {"x1": 0, "n1": 20, "x2": 0, "n2": 20}
    wald = risk_difference(**both_zero, method="wald")
    assert (wald.estimate, wald.lower, wald.upper) == (0.0, 0.0, 0.0) and wald.notes
    for method in ("newcombe", "miettinen_nurminen"):
        res = risk_difference(**both_zero, method=method)
        assert res.lower < 0 < res.upper
    orr = odds_ratio(**both_zero)
    assert math.isfinite(orr.estimate) and orr.notes  # Haldane-Anscombe 0.5
    assert fisher_exact_test(**both_zero).p_value == 1.0
    sato = risk_difference_stratified(x1=[0, 0], n1=[5, 6], x2=[0, 0], n2=[4, 7])
    assert (sato.estimate, sato.lower, sato.upper) == (0.0, 0.0, 0.0)
    sn = risk_difference_stratified(x1=[0, 0], n1=[5, 6], x2=[0, 0], n2=[4, 7],
                                    method="strat_newcombe")
    assert sn.lower < 0 < sn.upper
    cmh = cmh_test(x1=[0, 0], n1=[5, 6], x2=[0, 0], n2=[4, 7])
    assert (cmh.statistic, cmh.p_value) == (0.0, 1.0)
    mh_or = odds_ratio_stratified(x1=[3, 4], n1=[3, 4], x2=[1, 2], n2=[5, 6])
    assert mh_or.estimate == math.inf and mh_or.notes


def test_odds_ratio_woolf_matches_statsmodels() -> None:
    from statsmodels.stats.contingency_tables import Table2x2

    res = odds_ratio(x1=37, n1=47, x2=21, n2=48)
    table = Table2x2(np.array([[37, 10], [21, 27]]))
    assert res.estimate == pytest.approx(table.oddsratio)
    assert (res.lower, res.upper) == pytest.approx(table.oddsratio_confint())
    assert res.method == "woolf"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x1": 48, "n1": 47, "x2": 1, "n2": 48}, "x1=48 exceeds n1=47"),
        ({"x1": -1, "n1": 47, "x2": 1, "n2": 48}, "x1=-1"),
        ({"x1": 1.5, "n1": 47, "x2": 1, "n2": 48}, "x1=1.5"),
        ({"x1": 1, "n1": 0, "x2": 1, "n2": 48}, "n1=0"),
        ({"x1": 1, "n1": 4, "x2": 1, "n2": 4, "method": "exact"}, "valid keys: wald"),
        ({"x1": 1, "n1": 4, "x2": 1, "n2": 4, "conf_level": 95}, "conf_level=95"),
    ],
)
def test_bad_input_names_argument_and_value(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        risk_difference(**kwargs)  # type: ignore[arg-type]


def test_count_responders_from_patient_frame() -> None:
    frame = pd.DataFrame({
        "arm": ["ivig"] * 4 + ["placebo"] * 4,
        "resp": ["true", "false", "true", "1", "0", "no", "yes", "false"],
        "sev": ["mild", "severe"] * 4,
    })
    counts = count_responders(frame, arm="arm", response="resp", treatment="ivig",
                              control="placebo", strata="sev")
    # ivig: mild rows resp true/true, severe rows false/1; placebo: mild 0/yes, severe no/false
    assert counts.to_dict("list") == {"stratum": ["mild", "severe"], "x1": [2, 1],
                                      "n1": [2, 2], "x2": [1, 0], "n2": [2, 2]}
    bad = frame.assign(resp=["true", None, "x", "1", "0", "no", "yes", "false"])
    with pytest.raises(ValueError, match="'resp'"):
        count_responders(bad, arm="arm", response="resp", treatment="ivig", control="placebo")
    with pytest.raises(ValueError, match="values other than"):
        count_responders(frame.assign(arm="other"), arm="arm", response="resp",
                         treatment="ivig", control="placebo")


# ---------------------------------------------------------------- properties
arm_counts = st.integers(min_value=1, max_value=60).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n)))


@settings(max_examples=60, deadline=None)
@given(a=arm_counts, b=arm_counts,
       method=st.sampled_from(["wald", "newcombe", "miettinen_nurminen"]))
def test_interval_contains_estimate_and_flips_with_arms(
    a: tuple[int, int], b: tuple[int, int], method: str
) -> None:
    fwd = risk_difference(x1=a[0], n1=a[1], x2=b[0], n2=b[1], method=method)
    rev = risk_difference(x1=b[0], n1=b[1], x2=a[0], n2=a[1], method=method)
    assert fwd.lower <= fwd.estimate + 1e-9 <= fwd.upper + 2e-9
    if method != "wald":  # the Wald interval is not truncated to [-1, 1] (documented)
        assert fwd.lower >= -1 - 1e-9 and fwd.upper <= 1 + 1e-9
    assert rev.estimate == pytest.approx(-fwd.estimate, abs=1e-12)
    assert (rev.lower, rev.upper) == pytest.approx((-fwd.upper, -fwd.lower), abs=1e-7)


@settings(max_examples=40, deadline=None)
@given(strata=st.lists(st.tuples(arm_counts, arm_counts), min_size=1, max_size=4),
       method=st.sampled_from(["mh_sato", "strat_newcombe"]))
def test_stratified_interval_contains_estimate_and_flips_with_arms(
    strata: list[tuple[tuple[int, int], tuple[int, int]]], method: str
) -> None:
    x1 = [s[0][0] for s in strata]
    n1 = [s[0][1] for s in strata]
    x2 = [s[1][0] for s in strata]
    n2 = [s[1][1] for s in strata]
    fwd = risk_difference_stratified(x1=x1, n1=n1, x2=x2, n2=n2, method=method)
    rev = risk_difference_stratified(x1=x2, n1=n2, x2=x1, n2=n1, method=method)
    assert fwd.lower <= fwd.estimate + 1e-9 <= fwd.upper + 2e-9
    assert rev.estimate == pytest.approx(-fwd.estimate, abs=1e-12)
    assert (rev.lower, rev.upper) == pytest.approx((-fwd.upper, -fwd.lower), abs=1e-9)
