"""Exact intervals: Clopper-Pearson against binom.test; exact unconditional risk-difference
intervals against SAS/paper values (Santner-Snell) and a brute-force computation (Chan-Zhang);
the score CI/test pair and the expected-count note against chisq.test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from myotrial.stats import (
    expected_count_notes,
    min_expected_count,
    proportion_exact,
    risk_difference,
    risk_difference_exact,
    risk_difference_score_test,
)

FIXTURES = Path(__file__).parent / "fixtures" / "r"
R_TOL = 1e-6
CP = pd.read_csv(FIXTURES / "sap_clopper_pearson.csv")
SCORE = pd.read_csv(FIXTURES / "sap_score_test.csv")


@pytest.mark.r_fixture
@pytest.mark.parametrize("row", CP.to_dict("records"), ids=lambda r: f"{r['x']}/{r['n']}")
def test_clopper_pearson_against_r(row: dict[str, float]) -> None:
    # oracle: binom.test(x, n, conf.level = 0.95 / 0.90)$conf.int
    res = proportion_exact(x=int(row["x"]), n=int(row["n"]))
    assert (res.lower, res.upper) == pytest.approx((row["lower"], row["upper"]), abs=R_TOL)
    res90 = proportion_exact(x=int(row["x"]), n=int(row["n"]), conf_level=0.90)
    assert (res90.lower, res90.upper) == pytest.approx((row["lower90"], row["upper90"]),
                                                       abs=R_TOL)
    assert res.method == "clopper_pearson" and res.effect == "proportion"


# Santner-Snell (SAS EXACT RISKDIFF(METHOD=NOSCORE)): SAS output and the Santner & Snell (1980)
# paper, 4 printed digits, as collected in the tern vignette "uncond_exact_prop_diff_ci".
@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "level", "expected"),
    [
        (40, 78, 5, 17, 0.95, (0.2187, -0.0466, 0.4676)),  # SAS
        (27, 57, 3, 3, 0.95, (-0.5263, -0.9057, 0.1197)),  # SAS
        (27, 57, 3, 3, 0.99, (-0.5263, -0.9586, 0.2677)),  # SAS
        (0, 2, 2, 2, 0.90, (-1.0, -1.0, 0.0543)),  # Santner & Snell 1980, section 4
    ],
)
def test_santner_snell_reproduces_published(x1: int, n1: int, x2: int, n2: int, level: float,
                                            expected: tuple[float, float, float]) -> None:
    res = risk_difference_exact(x1=x1, n1=n1, x2=x2, n2=n2, method="santner_snell",
                                conf_level=level)
    assert (res.estimate, res.lower, res.upper) == pytest.approx(expected, abs=5e-5)


# ------------------------------------------------------------------ brute-force Chan-Zhang
def _brute_restricted_mle(delta: float, i: np.ndarray, n1: int, j: np.ndarray,
                          n2: int) -> tuple[np.ndarray, np.ndarray]:
    """Restricted MLE by a fine grid then Newton steps on the score (no closed form)."""
    lo, hi = max(0.0, -delta), min(1.0, 1.0 - delta)
    eps = 1e-12
    grid = np.linspace(lo + eps, hi - eps, 401)
    p1g = grid + delta
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = (np.nan_to_num(i[:, None] * np.log(p1g)) + np.nan_to_num((n1 - i)[:, None]
              * np.log(1 - p1g)) + np.nan_to_num(j[:, None] * np.log(grid))
              + np.nan_to_num((n2 - j)[:, None] * np.log(1 - grid)))
    p2 = grid[np.argmax(ll, axis=1)]
    for _ in range(30):
        p1 = p2 + delta
        g = i / p1 - (n1 - i) / (1 - p1) + j / p2 - (n2 - j) / (1 - p2)
        h = -i / p1**2 - (n1 - i) / (1 - p1) ** 2 - j / p2**2 - (n2 - j) / (1 - p2) ** 2
        p2 = np.clip(p2 - g / h, lo + eps, hi - eps)
    return p2 + delta, p2


def _brute_pvalue(delta: float, x1: int, n1: int, x2: int, n2: int, upper: bool) -> float:
    i, j = (a.ravel() for a in np.meshgrid(np.arange(n1 + 1.0), np.arange(n2 + 1.0),
                                            indexing="ij"))
    p1, p2 = _brute_restricted_mle(delta, i, n1, j, n2)
    num = i / n1 - j / n2 - delta
    z = num / np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    t_obs = z[int(x1 * (n2 + 1) + x2)]
    region = z >= t_obs - 1e-7 if upper else z <= t_obs + 1e-7
    lo, hi = max(0.0, -delta), min(1.0, 1.0 - delta)
    q2 = np.linspace(lo, hi, 1501)
    q1 = np.clip(q2 + delta, 0, 1)
    prob = (stats.binom.pmf(i[region, None], n1, q1[None, :])
            * stats.binom.pmf(j[region, None], n2, q2[None, :])).sum(axis=0)
    return float(prob.max())


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), [(3, 8, 0, 9), (7, 12, 2, 11)])
def test_chan_zhang_against_brute_force(x1: int, n1: int, x2: int, n2: int) -> None:
    res = risk_difference_exact(x1=x1, n1=n1, x2=x2, n2=n2)
    h = 1e-4
    # the limits are where the maximised tail probability crosses alpha/2 = 0.025
    for limit, upper_tail, inside in ((res.lower, True, 1), (res.upper, False, -1)):
        if abs(limit) < 1 - h:
            assert _brute_pvalue(limit - inside * h, x1, n1, x2, n2, upper_tail) <= 0.025 + 1e-6
            assert _brute_pvalue(limit + inside * h, x1, n1, x2, n2, upper_tail) > 0.025 - 1e-6
    # and no delta beyond the limits is accepted (infimum / supremum, not any crossing)
    for d in np.linspace(-1 + 1e-6, res.lower - 2 * h, 10):
        assert _brute_pvalue(float(d), x1, n1, x2, n2, True) <= 0.025 + 1e-6
    for d in np.linspace(res.upper + 2 * h, 1 - 1e-6, 10):
        assert _brute_pvalue(float(d), x1, n1, x2, n2, False) <= 0.025 + 1e-6
    # the paired exact test is consistent with the interval
    excludes_zero = res.lower > 0 or res.upper < 0
    assert res.p_value is not None and excludes_zero == (res.p_value <= 0.05)


def test_exact_is_wider_than_score_and_covers_estimate() -> None:
    ex = risk_difference_exact(x1=37, n1=47, x2=21, n2=48)
    mn = risk_difference(x1=37, n1=47, x2=21, n2=48, method="miettinen_nurminen")
    assert ex.lower < mn.lower < ex.estimate < mn.upper < ex.upper + 0.01
    assert ex.method == "chan_zhang"
    edge = risk_difference_exact(x1=0, n1=10, x2=10, n2=10)
    assert edge.lower == -1.0 and edge.upper < 0


@pytest.mark.r_fixture
@pytest.mark.parametrize("row", SCORE.to_dict("records"), ids=lambda r: f"{r['x1']}-{r['x2']}")
def test_score_pair_against_r(row: dict[str, float]) -> None:
    # oracle: chisq.test(correct = FALSE)$statistic * (N - 1) / N; min(chisq.test()$expected)
    kw = {k: int(row[k]) for k in ("x1", "n1", "x2", "n2")}
    res = risk_difference_score_test(**kw)
    assert res.counts["statistic"] == pytest.approx(row["statistic"], abs=R_TOL)
    assert res.p_value == pytest.approx(row["p_value"], abs=R_TOL)
    assert min_expected_count(**kw) == pytest.approx(row["min_expected"], abs=R_TOL)
    mn = risk_difference(**kw, method="miettinen_nurminen")
    assert (res.lower, res.upper) == (mn.lower, mn.upper)
    # consistency: the interval excludes 0 exactly when p < 0.05
    assert (res.lower > 0 or res.upper < 0) == (res.p_value < 0.05)
    assert bool(expected_count_notes(**kw)) == (row["min_expected"] < 5)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="x=5 exceeds n=3"):
        proportion_exact(x=5, n=3)
    with pytest.raises(ValueError, match="valid keys: chan_zhang, santner_snell"):
        risk_difference_exact(x1=1, n1=2, x2=1, n2=2, method="wald")
    with pytest.raises(ValueError, match="threshold"):
        expected_count_notes(x1=1, n1=2, x2=1, n2=2, threshold=0)
