"""MMRM (unstructured covariance, REML) against nlme::gls(corSymm + varIdent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from myotrial.stats import mmrm

FIXTURES = Path(__file__).parent / "fixtures" / "r"
DATA = pd.read_csv(FIXTURES / "sap_mmrm_data.csv")
EXP = pd.read_csv(FIXTURES / "sap_mmrm.csv")
COV = pd.read_csv(FIXTURES / "sap_mmrm_cov.csv")
KW = {"subject": "id", "visit": "week", "arm": "arm", "outcome": "y", "baseline": "base",
      "treatment": "ivig", "control": "placebo"}
COLS = ("estimate", "std_error", "statistic", "p_value", "df", "lower", "upper")


def _r(optimizer: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    exp = EXP[EXP["optimizer"] == optimizer].reset_index(drop=True)
    cov = COV[COV["optimizer"] == optimizer].set_index("visit")[["v4", "v8", "v12", "v16"]]
    cov.index = cov.index.astype(str)
    cov.columns = ["4", "8", "12", "16"]
    return exp, cov


@pytest.fixture(scope="module")
def fit():  # type: ignore[no-untyped-def]
    return mmrm(DATA, **KW)


@pytest.mark.r_fixture
def test_gls_at_r_covariance_matches_exactly() -> None:
    # oracle: summary(gls(...))$tTable visit:trt rows, residual df, at R's own covariance
    # (getVarCov): checks the GLS estimates, SEs, df, t and p without the optimiser
    for optimizer in ("optim", "nlminb"):
        exp, cov = _r(optimizer)
        res = mmrm(DATA, **KW, covariance=cov)
        for col in COLS:
            np.testing.assert_allclose(res.differences[col], exp[col], atol=1e-8, rtol=0,
                                       err_msg=f"{optimizer} {col}")
        assert res.reml_loglik == pytest.approx(exp["reml_loglik"].iloc[0], abs=1e-6)


@pytest.mark.r_fixture
def test_reml_fit_against_r(fit) -> None:  # type: ignore[no-untyped-def]
    # oracle: gls(..., method = "REML", control = glsControl(opt = "optim")); our optimum is
    # at least as high as R's (R's BFGS uses finite-difference gradients)
    exp, cov = _r("optim")
    for col in COLS:
        np.testing.assert_allclose(fit.differences[col], exp[col], atol=1e-5, rtol=0,
                                   err_msg=col)
    np.testing.assert_allclose(fit.covariance.to_numpy(), cov.to_numpy(), atol=1e-3, rtol=0)
    assert fit.reml_loglik >= exp["reml_loglik"].iloc[0] - 1e-9
    assert fit.reml_loglik - exp["reml_loglik"].iloc[0] < 1e-6
    assert fit.df_method == "residual" and fit.n_subjects == DATA["id"].nunique()


def test_rows_and_counts(fit) -> None:  # type: ignore[no-untyped-def]
    rows = fit.to_rows("TIS")
    assert {r["group"] for r in rows} == {"visit=4", "visit=8", "visit=12", "visit=16"}
    wk16 = fit.estimates["16"]
    observed = DATA[(DATA["week"] == 16) & DATA["y"].notna()]
    assert wk16.counts["n1"] == int((observed["arm"] == "ivig").sum())
    assert wk16.method == "mmrm_us"
    simple = mmrm(DATA, **KW, baseline_by_visit=False)
    assert len(simple.fixed_effects) == len(fit.fixed_effects) - 3


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="lacks column"):
        mmrm(DATA.drop(columns="base"), **KW)
    bad = DATA.copy()
    bad.loc[0, "arm"] = "other"
    with pytest.raises(ValueError, match="values other than"):
        mmrm(bad, **KW)
    dup = pd.concat([DATA, DATA.iloc[[0]]])
    with pytest.raises(ValueError, match="more than one row"):
        mmrm(dup, **KW)
    _, cov = _r("optim")
    with pytest.raises(ValueError, match="positive definite"):
        mmrm(DATA, **KW, covariance=cov * 0)


# ------------------------------------------------------------------ without a baseline covariate
NB = pd.read_csv(FIXTURES / "sap_mmrm_nobase.csv")
NB_COV = pd.read_csv(FIXTURES / "sap_mmrm_nobase_cov.csv")
KW_NB = {**KW, "baseline": None}


def _r_nb(optimizer: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    exp = NB[NB["optimizer"] == optimizer].reset_index(drop=True)
    cov = NB_COV[NB_COV["optimizer"] == optimizer].set_index("visit")[["v4", "v8", "v12", "v16"]]
    cov.index = cov.index.astype(str)
    cov.columns = ["4", "8", "12", "16"]
    return exp, cov


@pytest.mark.r_fixture
def test_no_baseline_at_r_covariance_matches_exactly() -> None:
    # oracle: gls(y ~ visit + visit:trt, corSymm + varIdent, REML) (no baseline covariate),
    # summary()$tTable visit:trt rows at R's own getVarCov
    for optimizer in ("optim", "nlminb"):
        exp, cov = _r_nb(optimizer)
        res = mmrm(DATA, **KW_NB, covariance=cov)
        for col in COLS:
            np.testing.assert_allclose(res.differences[col], exp[col], atol=1e-8, rtol=0,
                                       err_msg=f"{optimizer} {col}")
        assert res.reml_loglik == pytest.approx(exp["reml_loglik"].iloc[0], abs=1e-6)
        assert len(res.fixed_effects) == exp["n_fixed"].iloc[0] == 8


@pytest.mark.r_fixture
def test_no_baseline_reml_fit_against_r() -> None:
    # oracle: the same gls with glsControl(opt = "optim"); our REML optimum at least as high
    exp, cov = _r_nb("optim")
    fit = mmrm(DATA.drop(columns="base"), **KW_NB)
    for col in COLS:
        np.testing.assert_allclose(fit.differences[col], exp[col], atol=1e-5, rtol=0,
                                   err_msg=col)
    np.testing.assert_allclose(fit.covariance.to_numpy(), cov.to_numpy(), atol=1e-3, rtol=0)
    assert fit.reml_loglik >= exp["reml_loglik"].iloc[0] - 1e-9
    assert fit.reml_loglik - exp["reml_loglik"].iloc[0] < 1e-6
    assert "baseline" not in " ".join(fit.fixed_effects["term"])
    assert any("no baseline covariate" in n for n in fit.notes)
    # baseline_by_visit is irrelevant without a baseline
    same = mmrm(DATA, **KW_NB, baseline_by_visit=False, covariance=fit.covariance)
    np.testing.assert_allclose(same.differences["estimate"], fit.differences["estimate"],
                               atol=1e-12, rtol=0)


def test_no_baseline_bad_inputs() -> None:
    with pytest.raises(ValueError, match="column name or None"):
        mmrm(DATA, **{**KW, "baseline": 3})  # type: ignore[arg-type]
    bad = DATA.copy()
    bad["base"] = np.nan  # a missing baseline column is irrelevant without a baseline
    assert len(mmrm(bad, **KW_NB).differences) == 4
