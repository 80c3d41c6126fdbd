"""Cox model, cox.zph and stratified log-rank against survival::coxph / cox.zph / survdiff."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from myotrial.stats import ARD_COLUMNS, cox_ph, hazard_ratio, logrank_test

FIXTURES = Path(__file__).parent / "fixtures" / "r"
R_TOL = 1e-6
DATA = pd.read_csv(FIXTURES / "sap_cox_data.csv")
COX = pd.read_csv(FIXTURES / "sap_cox.csv")
ZPH = pd.read_csv(FIXTURES / "sap_cox_zph.csv")
MODELS = sorted(set(zip(COX["ties"], COX["model"], strict=True)))


def _fit(ties: str, model: str):  # type: ignore[no-untyped-def]
    terms = ["trt", "age"] if "age" in model else ["trt"]
    strata = DATA["stratum"] if "strata" in model else None
    return cox_ph(DATA["time"], DATA["event"], DATA[terms], strata=strata, ties=ties)


@pytest.mark.r_fixture
@pytest.mark.parametrize(("ties", "model"), MODELS)
def test_cox_against_r(ties: str, model: str) -> None:
    # oracle: coxph(Surv(time, event) ~ trt [+ age] [+ strata(stratum)], ties = ties,
    #               control = coxph.control(eps = 1e-12)); confint(); summary() tests
    exp = COX[(COX["ties"] == ties) & (COX["model"] == model)].reset_index(drop=True)
    res = _fit(ties, model)
    got = res.coefficients
    for col in ("coef", "std_error", "hazard_ratio", "lower", "upper", "p_value"):
        np.testing.assert_allclose(got[col], exp[col], atol=R_TOL, rtol=0, err_msg=col)
    first = exp.iloc[0]
    assert res.wald.statistic == pytest.approx(first["wald"], abs=R_TOL)
    assert res.score.statistic == pytest.approx(first["score"], abs=R_TOL)
    assert res.lrt.statistic == pytest.approx(first["lrt"], abs=R_TOL)
    assert (res.loglik_null, res.loglik) == pytest.approx(
        (first["loglik_null"], first["loglik"]), abs=R_TOL)
    assert res.method == f"cox_{ties}" and res.hazard_ratio.effect == "hazard_ratio"


@pytest.mark.r_fixture
@pytest.mark.parametrize(("ties", "model"), MODELS)
def test_cox_zph_against_r(ties: str, model: str) -> None:
    # oracle: cox.zph(fit, transform = "km")$table (survival 3.5-3)
    exp = ZPH[(ZPH["ties"] == ties) & (ZPH["model"] == model)].reset_index(drop=True)
    table = _fit(ties, model).ph_test.table
    assert table["term"].tolist() == exp["term"].tolist()
    for col in ("chisq", "df", "p_value"):
        np.testing.assert_allclose(table[col], exp[col], atol=R_TOL, rtol=0, err_msg=col)


@pytest.mark.r_fixture
def test_stratified_logrank_against_r() -> None:
    # oracle: survdiff(Surv(time, event) ~ arm + strata(stratum)) and without strata
    exp = pd.read_csv(FIXTURES / "sap_logrank.csv").set_index("stratified")
    strat = logrank_test(DATA["time"], DATA["event"], DATA["arm"], strata=DATA["stratum"])
    plain = logrank_test(DATA["time"], DATA["event"], DATA["arm"])
    for res, key in ((strat, True), (plain, False)):
        row = exp.loc[key]
        assert res.statistic == pytest.approx(row["statistic"], abs=R_TOL)
        assert res.p_value == pytest.approx(row["p_value"], abs=R_TOL)
        assert res.counts["observed_ivig"] == row["observed_ivig"]
        assert res.counts["expected_ivig"] == pytest.approx(row["expected_ivig"], abs=R_TOL)
        assert res.counts["expected_placebo"] == pytest.approx(row["expected_placebo"],
                                                               abs=R_TOL)
    assert strat.method == "logrank_strat" and strat.counts["n_strata"] == 3
    one = logrank_test(DATA["time"], DATA["event"], DATA["arm"], strata=["x"] * len(DATA))
    assert one.statistic == pytest.approx(plain.statistic, abs=1e-12)


def test_hazard_ratio_wrapper_and_rows() -> None:
    res = hazard_ratio(DATA["time"], DATA["event"], DATA["arm"], treatment="ivig",
                       control="placebo", strata=DATA["stratum"])
    ref = _fit("efron", "arm_strata")
    assert res.hazard_ratio.estimate == pytest.approx(ref.hazard_ratio.estimate, abs=1e-12)
    rows = res.to_rows("time to deterioration")
    assert all(tuple(r) == ARD_COLUMNS for r in rows)
    names = {(r["effect"], r["statistic"]) for r in rows}
    assert ("hazard_ratio", "hazard_ratio") in names and ("ph_check", "p_value") in names
    assert 0 <= res.ph_test.global_p_value <= 1
    # without ties the score test is the log-rank test
    t = np.arange(1.0, 21.0)
    e = np.ones(20)
    g = np.array(["a", "b"] * 10)
    lr = logrank_test(t, e, g)
    cx = cox_ph(t, e, (g == "a").astype(float))
    assert cx.score.statistic == pytest.approx(lr.statistic, abs=1e-10)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="ties='exact'"):
        cox_ph([1, 2], [1, 0], [0, 1], ties="exact")
    with pytest.raises(ValueError, match="no events"):
        cox_ph([1, 2], [0, 0], [0, 1])
    separated = cox_ph([1, 2, 3, 4], [1, 1, 0, 0], [1, 1, 0, 0])  # monotone: flagged, no raise
    assert not separated.estimable and "monotone likelihood" in str(separated.not_estimable)
    with pytest.raises(ValueError, match="collinear or constant"):
        cox_ph([1, 2, 3], [1, 1, 1], pd.DataFrame({"a": [1, 1, 1]}))
    with pytest.raises(ValueError, match="other than"):
        hazard_ratio([1, 2], [1, 1], ["x", "y"], treatment="ivig", control="placebo")


# ------------------------------------------------------------------ edge cases (issue 13)
EDGE_DATA = pd.read_csv(FIXTURES / "sap_cox_edge_data.csv")
EDGE = pd.read_csv(FIXTURES / "sap_cox_edge.csv", keep_default_na=False,
                   na_values={"zph_global_p": [""]})


def _edge(case: str, ties: str):  # type: ignore[no-untyped-def]
    d = EDGE_DATA[EDGE_DATA["case"] == case]
    arm = np.where(d["trt"] == 1, "ivig", "placebo")
    strata = d["stratum"] if case == "same_day_strata" else None
    res = hazard_ratio(d["time"], d["event"], arm, treatment="ivig", control="placebo",
                       strata=strata, ties=ties)
    exp = EDGE[(EDGE["case"] == case) & (EDGE["ties"] == ties)].iloc[0]
    return res, exp


@pytest.mark.r_fixture
@pytest.mark.parametrize("case", ["same_day", "same_day_strata"])
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_all_events_same_day_fits_and_ph_check_not_estimable(case: str, ties: str) -> None:
    # oracle: coxph() fits; cox.zph() stops with "system is exactly singular" (g(t) constant)
    res, exp = _edge(case, ties)
    assert "exactly singular" in exp["zph_error"]
    assert res.estimable and res.not_estimable is None
    row = res.coefficients.iloc[0]
    for col in ("coef", "std_error", "hazard_ratio", "lower", "upper", "p_value"):
        assert row[col] == pytest.approx(exp[col], abs=R_TOL), col
    for ours, col in ((res.wald, "wald"), (res.score, "score"), (res.lrt, "lrt")):
        assert ours.statistic == pytest.approx(exp[col], abs=R_TOL), col
    assert (res.loglik_null, res.loglik) == pytest.approx(
        (exp["loglik_null"], exp["loglik"]), abs=R_TOL)
    ph = res.ph_test
    assert not ph.estimable and "all events at one time" in str(ph.not_estimable)
    assert np.isnan(ph.global_p_value) and ph.table["chisq"].isna().all()
    assert [r["statistic"] for r in res.to_rows() if r["effect"] == "ph_check"]


@pytest.mark.r_fixture
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_no_events_in_one_arm_is_flagged_not_raised(ties: str) -> None:
    # oracle: coxph() warns "Loglik converged before variable 1; coefficient may be infinite"
    # with coef 28.2 (SE 6.7e5); its score (log-rank) and LR tests are still valid
    res, exp = _edge("no_events_one_arm", ties)
    assert "coefficient may be infinite" in exp["warning"] and exp["coef"] > 20
    assert not res.estimable
    assert res.not_estimable == "monotone likelihood: no events in one arm (placebo has none)"
    assert any("not estimable (monotone likelihood: no events in one arm" in n
               for n in res.notes)
    hr = res.hazard_ratio
    assert hr.estimate == math.inf and hr.p_value is None and hr.std_error is None
    assert math.isnan(hr.lower) and math.isnan(hr.upper) and hr.notes == res.notes
    assert res.coefficients["coef"].iloc[0] == math.inf
    assert math.isnan(res.wald.statistic)
    assert res.score.statistic == pytest.approx(exp["score"], abs=R_TOL)
    assert res.lrt.statistic == pytest.approx(exp["lrt"], abs=R_TOL)
    assert (res.loglik_null, res.loglik) == pytest.approx(
        (exp["loglik_null"], exp["loglik"]), abs=R_TOL)
    assert not res.ph_test.estimable and "monotone" in str(res.ph_test.not_estimable)
    lr = logrank_test(*(EDGE_DATA.loc[EDGE_DATA["case"] == "no_events_one_arm", c]
                        for c in ("time", "event", "trt")))
    assert res.score.statistic == pytest.approx(lr.statistic, abs=1e-10)
    # swapping the arms: hazard ratio 0, no events in ivig
    d = EDGE_DATA[EDGE_DATA["case"] == "no_events_one_arm"]
    swapped = hazard_ratio(d["time"], d["event"], np.where(d["trt"] == 1, "ivig", "placebo"),
                           treatment="placebo", control="ivig", ties=ties)
    assert swapped.hazard_ratio.estimate == 0.0
    assert swapped.not_estimable == "monotone likelihood: no events in one arm (placebo has none)"


def test_monotone_covariate_keeps_the_other_terms() -> None:
    # a covariate that diverges while the arm effect stays estimable: flagged, arm finite
    d = DATA.copy()
    first = d.loc[d["event"] == 1, "time"].min()  # every death at the first event time has
    d["sep"] = ((d["time"] == first) & (d["event"] == 1)).astype(float)  # sep = 1, no one else
    res = cox_ph(d["time"], d["event"], d[["trt", "sep"]])
    if res.estimable:  # the separating covariate must diverge here
        pytest.fail("expected a diverging coefficient")
    assert "sep" in str(res.not_estimable) and "trt" not in str(res.not_estimable)
    row = res.coefficients.set_index("term")
    assert np.isfinite(row.loc["trt", "std_error"]) and np.isinf(row.loc["sep", "coef"])
    # R 4.2.2, survival 3.5-3: coxph(Surv(time, event) ~ trt + sep, control =
    # coxph.control(eps = 1e-12, toler.chol = 1e-15, iter.max = 100)) warns "Loglik converged
    # before variable 2"; trt 0.7248414512 (SE 0.2471641707), score 154.6914231337,
    # LR 94.2546106371
    assert row.loc["trt", "coef"] == pytest.approx(0.7248414512, abs=1e-8)
    assert row.loc["trt", "std_error"] == pytest.approx(0.2471641707, abs=1e-8)
    assert res.score.statistic == pytest.approx(154.6914231337, abs=1e-8)
    assert res.lrt.statistic == pytest.approx(94.2546106371, abs=1e-8)
