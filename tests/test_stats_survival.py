"""Kaplan-Meier and log-rank against survival::survfit / quantile / survdiff fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from myotrial.stats import kaplan_meier, kaplan_meier_by_group, logrank_test

FIXTURES = Path(__file__).parent / "fixtures" / "r"
R_TOL = 1e-6
DATA = pd.read_csv(FIXTURES / "km_data.csv")
CURVES = pd.read_csv(FIXTURES / "km_curves.csv")
MEDIANS = pd.read_csv(FIXTURES / "km_medians.csv").set_index("group")


@pytest.mark.r_fixture
@pytest.mark.parametrize("group", DATA["group"].unique().tolist())
def test_kaplan_meier_against_r(group: str) -> None:
    # oracle: survfit(Surv(time, event) ~ 1, conf.type = "log-log"); quantile(fit, 0.5)
    sub = DATA[DATA["group"] == group]
    res = kaplan_meier(sub["time"], sub["event"])
    exp = CURVES[CURVES["group"] == group].reset_index(drop=True)
    assert len(res.table) == len(exp)
    for col in ("time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower", "upper"):
        np.testing.assert_allclose(res.table[col].to_numpy(float), exp[col].to_numpy(float),
                                   atol=R_TOL, rtol=0, equal_nan=True, err_msg=col)
    med = MEDIANS.loc[group]
    np.testing.assert_allclose([res.median, res.median_lower, res.median_upper],
                               med[["median", "lower", "upper"]].to_numpy(float), atol=R_TOL,
                               equal_nan=True)
    assert res.method == "km_loglog"


@pytest.mark.r_fixture
def test_logrank_against_r() -> None:
    # oracle: survdiff(Surv(time, event) ~ group, rho = 0)
    sub = DATA[DATA["group"].isin(["ivig", "placebo"])]
    exp = pd.read_csv(FIXTURES / "logrank.csv").iloc[0]
    res = logrank_test(sub["time"], sub["event"], sub["group"])
    assert res.statistic == pytest.approx(exp["statistic"], abs=R_TOL)
    assert res.p_value == pytest.approx(exp["p_value"], abs=R_TOL)
    for g in ("ivig", "placebo"):
        assert res.counts[f"observed_{g}"] == exp[f"observed_{g}"]
        assert res.counts[f"expected_{g}"] == pytest.approx(exp[f"expected_{g}"], abs=R_TOL)


def test_by_group_and_edge_cases() -> None:
    sub = DATA[DATA["group"].isin(["ivig", "placebo"])]
    fits = kaplan_meier_by_group(sub["time"], sub["event"], sub["group"])
    assert sorted(fits) == ["ivig", "placebo"]
    all_censored = kaplan_meier([3, 5, 8], [0, 0, 0])
    assert (all_censored.table["surv"] == 1).all() and np.isnan(all_censored.median)
    no_events = logrank_test([1, 2, 3, 4], [0, 0, 0, 0], ["a", "a", "b", "b"])
    assert (no_events.statistic, no_events.p_value) == (0.0, 1.0)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="event must be 0"):
        kaplan_meier([1, 2], [1, 2])
    with pytest.raises(ValueError, match="time must be >= 0"):
        kaplan_meier([-1, 2], [1, 0])
    with pytest.raises(ValueError, match="exactly 2 distinct"):
        logrank_test([1, 2, 3], [1, 1, 1], ["a", "b", "c"])
    with pytest.raises(ValueError, match="differ in length"):
        kaplan_meier([1, 2, 3], [1, 0])


def test_logrank_with_zero_variance_is_not_estimable_not_a_warning() -> None:
    """Every event happens when no patient of the other group is at risk: the variance of
    O - E is 0, so the test is not estimable (reported as such, never a warning or p = 1)."""
    import math
    import warnings

    from myotrial.stats import logrank_test

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = logrank_test([1.0, 2.0, 0.5], [1, 1, 0], ["a", "a", "b"])
    assert math.isnan(res.p_value) and "not estimable" in res.notes[0]
