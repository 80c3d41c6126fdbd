"""Continuous endpoints: published ProDERM mean difference and R fixtures (t.test, lm)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from myotrial.stats import ancova, mean_difference, mean_difference_from_summary

FIXTURES = Path(__file__).parent / "fixtures" / "r"
R_TOL = 1e-6


def test_proderm_mean_tis_reproduced_by_pooled_t() -> None:
    # proderm.md: 47.7 +/- 24.2 (n 47) vs 21.3 +/- 20.8 (n 48) -> 26.4 (17.21, 35.59);
    # method that reproduces it: "pooled_t" (pooled-variance t interval, df 93)
    res = mean_difference_from_summary(mean1=47.7, sd1=24.2, n1=47, mean2=21.3, sd2=20.8,
                                       n2=48, method="pooled_t")
    assert (res.estimate, res.lower, res.upper) == pytest.approx((26.4, 17.21, 35.59),
                                                                 abs=0.005)
    assert res.df == 93 and res.method == "pooled_t"


@pytest.mark.r_fixture
@pytest.mark.parametrize("method", ["pooled_t", "welch"])
def test_t_tests_against_r(method: str) -> None:
    # oracle: t.test(y1, y2, var.equal = TRUE / FALSE)
    data = pd.read_csv(FIXTURES / "continuous_data.csv")
    exp = pd.read_csv(FIXTURES / "continuous_ttest.csv").set_index("method").loc[method]
    res = mean_difference(data.loc[data["arm"] == "ivig", "y"],
                          data.loc[data["arm"] == "placebo", "y"], method=method)
    for name in ("estimate", "lower", "upper", "p_value", "std_error", "df"):
        assert getattr(res, name) == pytest.approx(exp[name], abs=R_TOL), name


@pytest.mark.r_fixture
@pytest.mark.parametrize(("model", "strata"), [("baseline", None),
                                                ("baseline_stratum", "stratum")])
def test_ancova_against_r(model: str, strata: str | None) -> None:
    # oracle: lm(outcome ~ arm + baseline [+ stratum]) with placebo as reference; confint()
    data = pd.read_csv(FIXTURES / "ancova_data.csv")
    exp = pd.read_csv(FIXTURES / "ancova.csv").set_index("model").loc[model]
    res = ancova(data, outcome="outcome", arm="arm", baseline="baseline", treatment="ivig",
                 control="placebo", strata=strata)
    for name in ("estimate", "lower", "upper", "p_value", "std_error", "df"):
        assert getattr(res, name) == pytest.approx(exp[name], abs=R_TOL), name
    assert res.method == "ancova"


def test_ancova_excludes_incomplete_rows_and_counts_them() -> None:
    data = pd.read_csv(FIXTURES / "ancova_data.csv")
    data.loc[[0, 5], "outcome"] = np.nan
    res = ancova(data, outcome="outcome", arm="arm", baseline="baseline", treatment="ivig",
                 control="placebo")
    assert res.counts["n_excluded"] == 2 and res.notes


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="n1=1"):
        mean_difference_from_summary(mean1=1, sd1=1, n1=1, mean2=0, sd2=1, n2=5)
    with pytest.raises(ValueError, match="sd2=-1"):
        mean_difference_from_summary(mean1=1, sd1=1, n1=3, mean2=0, sd2=-1, n2=5)
    with pytest.raises(ValueError, match="y1 has missing"):
        mean_difference([1.0, np.nan, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="valid keys: pooled_t, welch"):
        mean_difference([1.0, 2.0], [1.0, 2.0], method="ancova")
    data = pd.read_csv(FIXTURES / "ancova_data.csv")
    with pytest.raises(ValueError, match="lacks column"):
        ancova(data, outcome="nope", arm="arm", baseline="baseline", treatment="ivig",
               control="placebo")


def test_zero_variance_gives_degenerate_interval() -> None:
    res = mean_difference([2.0, 2.0, 2.0], [1.0, 1.0])
    assert (res.estimate, res.lower, res.upper, res.p_value) == (1.0, 1.0, 1.0, 0.0)
    assert res.notes


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-100, 100), min_size=2, max_size=15),
       st.lists(st.floats(-100, 100), min_size=2, max_size=15),
       st.sampled_from(["pooled_t", "welch"]))
def test_sign_flip_and_containment(y1: list[float], y2: list[float], method: str) -> None:
    fwd = mean_difference(y1, y2, method=method)
    rev = mean_difference(y2, y1, method=method)
    assert fwd.lower <= fwd.estimate <= fwd.upper
    assert rev.estimate == pytest.approx(-fwd.estimate, abs=1e-9)
    assert (rev.lower, rev.upper) == pytest.approx((-fwd.upper, -fwd.lower), abs=1e-9)
