"""Cox model, cox.zph and stratified log-rank against survival::coxph / cox.zph / survdiff."""

from __future__ import annotations

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
    with pytest.raises(ValueError, match="did not converge"):
        cox_ph([1, 2, 3, 4], [1, 1, 0, 0], [1, 1, 0, 0])
    with pytest.raises(ValueError, match="collinear or constant"):
        cox_ph([1, 2, 3], [1, 1, 1], pd.DataFrame({"a": [1, 1, 1]}))
    with pytest.raises(ValueError, match="other than"):
        hazard_ratio([1, 2], [1, 1], ["x", "y"], treatment="ivig", control="placebo")
