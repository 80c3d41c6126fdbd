"""Binary endpoints, two arms: risk difference, odds ratio and tests of association.

Conventions
-----------
* Arm 1 is the treatment arm (``x1`` responders of ``n1``), arm 2 the control arm; the risk
  difference is ``p1 - p2`` on the proportion scale (multiply by 100 for percentage points).
* 2x2 counts are always passed by keyword (``x1=, n1=, x2=, n2=``), stratified counts as
  equal-length sequences of the same keywords plus optional ``strata`` names.
* Zero cells give defined results: every estimator returns finite limits (degenerate intervals
  are flagged in ``notes``); tests of a table with an empty row or column return statistic 0 and
  p = 1 with a note.
* Stratified methods drop strata in which either arm has no patient. Such a stratum carries no
  information on the treatment difference (its Mantel-Haenszel weight n1*n2/N is 0), so dropping
  it changes no estimate; the dropped strata are listed in ``notes``. If no stratum remains a
  ValueError is raised.

Risk-difference intervals for two independent proportions use statsmodels
(``confint_proportions_2indep``: Wald, Newcombe) where it is correct. The Miettinen-Nurminen
interval is computed here: statsmodels 0.14-0.15 uses a wrong coefficient in the restricted MLE
for ``compare='diff'`` (statsmodels issue #10269), which shifts its limits by up to ~0.004.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from statsmodels.stats.contingency_tables import StratifiedTable
from statsmodels.stats.proportion import confint_proportions_2indep

from myotrial.stats._validate import (
    check_binomial,
    check_columns,
    check_conf_level,
    check_counts_vector,
)
from myotrial.stats.methods import validate_method
from myotrial.stats.results import EstimateResult, TestResult

__all__ = [
    "RISK_DIFFERENCE_METHODS",
    "STRATIFIED_RISK_DIFFERENCE_METHODS",
    "chisq_test",
    "cmh_test",
    "count_responders",
    "fisher_exact_test",
    "odds_ratio",
    "odds_ratio_stratified",
    "risk_difference",
    "risk_difference_stratified",
]

#: Method keys accepted by :func:`risk_difference`.
RISK_DIFFERENCE_METHODS = ("wald", "newcombe", "miettinen_nurminen")
#: Method keys accepted by :func:`risk_difference_stratified`.
STRATIFIED_RISK_DIFFERENCE_METHODS = ("mh_sato", "strat_newcombe")


def _z(conf_level: float) -> float:
    return float(stats.norm.ppf(0.5 + conf_level / 2.0))


def _counts(x1: int, n1: int, x2: int, n2: int) -> dict[str, float | int]:
    return {"x1": x1, "n1": n1, "x2": x2, "n2": n2}


# ----------------------------------------------------------------------------------------------
# Unstratified risk difference
# ----------------------------------------------------------------------------------------------
def risk_difference(
    *, x1: int, n1: int, x2: int, n2: int, method: str = "wald", conf_level: float = 0.95
) -> EstimateResult:
    r"""Difference of two independent proportions, p1 - p2, with a confidence interval.

    Methods (keys of :data:`myotrial.stats.methods.METHODS`):

    ``wald``
        :math:`d \pm z\sqrt{p_1(1-p_1)/n_1 + p_2(1-p_2)/n_2}` (statsmodels
        ``confint_proportions_2indep(method="wald")``); not truncated to [-1, 1], so it
        can overshoot with tiny arms (``tern::prop_diff_wald`` truncates). Reproduces the
        ProDERM published differences, e.g. 37/47 vs 21/48 -> 34.97 (16.70, 53.24)
        percentage points.
    ``newcombe``
        Newcombe's hybrid score interval (method 10) from the Wilson limits
        :math:`(l_i, u_i)`: :math:`[d - \sqrt{(p_1-l_1)^2 + (u_2-p_2)^2},\;
        d + \sqrt{(u_1-p_1)^2 + (p_2-l_2)^2}]` (statsmodels ``method="newcomb"``).
    ``miettinen_nurminen``
        All :math:`\delta` with :math:`(d-\delta)^2 / \tilde V(\delta) \le \chi^2_{1,1-\alpha}`,
        :math:`\tilde V = [\tilde p_1(1-\tilde p_1)/n_1 + \tilde p_2(1-\tilde p_2)/n_2]\,N/(N-1)`
        with :math:`(\tilde p_1, \tilde p_2)` the MLE restricted to :math:`p_1-p_2=\delta`
        (closed-form cubic root), limits by Brent's method.

    Parameters
    ----------
    x1, n1 : int
        Responders and patients in the treatment arm (``0 <= x1 <= n1``, ``n1 >= 1``).
    x2, n2 : int
        Responders and patients in the control arm.
    method : str
        ``"wald"`` (default), ``"newcombe"`` or ``"miettinen_nurminen"``.
    conf_level : float
        Two-sided confidence level, default 0.95.

    Returns
    -------
    EstimateResult
        ``effect="risk_difference"``, proportion scale; ``std_error`` for Wald.

    Notes
    -----
    Assumptions: independent binomial samples. The Wald interval is degenerate (zero width)
    when both proportions are 0 or 1; this is flagged in ``notes`` - prefer a score method with
    small counts. R: ``tern::prop_diff_wald``, ``tern::prop_diff_nc``,
    ``DescTools::BinomDiffCI(method = "mn")``. SAS: ``PROC FREQ; TABLES arm*resp /
    RISKDIFF(CL=(WALD NEWCOMBE MN))``.

    References
    ----------
    Newcombe RG. Stat Med 1998;17:873-90.
    doi:10.1002/(SICI)1097-0258(19980430)17:8<873::AID-SIM779>3.0.CO;2-I
    Miettinen O, Nurminen M. Stat Med 1985;4:213-26. doi:10.1002/sim.4780040211

    Examples
    --------
    >>> r = risk_difference(x1=37, n1=47, x2=21, n2=48, method="wald")
    >>> round(100 * r.estimate, 2), round(100 * r.lower, 2), round(100 * r.upper, 2)
    (34.97, 16.7, 53.24)
    """
    validate_method(method, RISK_DIFFERENCE_METHODS)
    level = check_conf_level(conf_level)
    a, na = check_binomial("x1", x1, "n1", n1)
    c, nc = check_binomial("x2", x2, "n2", n2)
    p1, p2 = a / na, c / nc
    d = p1 - p2
    notes: list[str] = []
    se: float | None = None
    if method == "miettinen_nurminen":
        lower, upper = _mn_interval(a, na, c, nc, level)
    else:
        sm_method = "wald" if method == "wald" else "newcomb"
        lo, hi = confint_proportions_2indep(
            a, na, c, nc, method=sm_method, compare="diff", alpha=1.0 - level
        )
        lower, upper = float(lo), float(hi)
        if method == "wald":
            se = math.sqrt(p1 * (1 - p1) / na + p2 * (1 - p2) / nc)
            if se == 0.0:
                notes.append(
                    "Wald variance is 0 (both proportions are 0 or 1): the interval "
                    "is degenerate; prefer 'newcombe' or 'miettinen_nurminen'"
                )
    return EstimateResult(
        effect="risk_difference",
        method=method,
        estimate=d,
        lower=lower,
        upper=upper,
        conf_level=level,
        std_error=se,
        counts=_counts(a, na, c, nc),
        notes=tuple(notes),
    )


def _mn_restricted_mle(delta: float, x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """MLE of (p1, p2) under p1 - p2 = delta (Miettinen & Nurminen 1985, closed form)."""
    big_n, total = n1 + n2, x1 + x2
    l3 = float(big_n)
    l2 = (n1 + 2 * n2) * delta - big_n - total
    l1 = (n2 * delta - big_n - 2 * x2) * delta + total
    l0 = x2 * delta * (1.0 - delta)
    q = (l2 / (3 * l3)) ** 3 - l1 * l2 / (6 * l3**2) + l0 / (2 * l3)
    p = math.copysign(math.sqrt(max(0.0, (l2 / (3 * l3)) ** 2 - l1 / (3 * l3))), q)
    ratio = 0.0 if p == 0.0 else max(-1.0, min(1.0, q / p**3))
    a = (math.pi + math.acos(ratio)) / 3.0
    p2 = 2.0 * p * math.cos(a) - l2 / (3 * l3)
    p2 = min(1.0, max(0.0, p2))
    p1 = min(1.0, max(0.0, p2 + delta))
    return p1, p2


def _mn_statistic(delta: float, x1: int, n1: int, x2: int, n2: int) -> float:
    """Miettinen-Nurminen chi-square score statistic for H0: p1 - p2 = delta."""
    diff = x1 / n1 - x2 / n2 - delta
    if diff == 0.0:
        return 0.0
    p1, p2 = _mn_restricted_mle(delta, x1, n1, x2, n2)
    big_n = n1 + n2
    var = (p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2) * big_n / (big_n - 1)
    if var <= 0.0:
        return math.inf
    return diff * diff / var


def _mn_interval(x1: int, n1: int, x2: int, n2: int, conf_level: float) -> tuple[float, float]:
    d = x1 / n1 - x2 / n2
    crit = float(stats.chi2.ppf(conf_level, 1))
    eps = 1e-10

    def f(delta: float) -> float:
        return _mn_statistic(delta, x1, n1, x2, n2) - crit

    if d <= -1 + eps or f(-1 + eps) <= 0:
        lower = -1.0
    else:
        lower = float(optimize.brentq(f, -1 + eps, d, xtol=1e-14, rtol=1e-14))
    if d >= 1 - eps or f(1 - eps) <= 0:
        upper = 1.0
    else:
        upper = float(optimize.brentq(f, d, 1 - eps, xtol=1e-14, rtol=1e-14))
    return lower, upper


# ----------------------------------------------------------------------------------------------
# Stratified risk difference
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Strata:
    names: tuple[str, ...]
    x1: np.ndarray[Any, np.dtype[np.float64]]
    n1: np.ndarray[Any, np.dtype[np.float64]]
    x2: np.ndarray[Any, np.dtype[np.float64]]
    n2: np.ndarray[Any, np.dtype[np.float64]]
    n_given: int
    notes: tuple[str, ...]


def _prepare_strata(x1: Any, n1: Any, x2: Any, n2: Any, strata: Sequence[str] | None) -> _Strata:
    cols = {
        k: check_counts_vector(k, v) for k, v in (("x1", x1), ("n1", n1), ("x2", x2), ("n2", n2))
    }
    lengths = {k: len(v) for k, v in cols.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"x1, n1, x2, n2 must have the same length per stratum; got {lengths}")
    k = lengths["x1"]
    if k == 0:
        raise ValueError("x1, n1, x2, n2 are empty: at least one stratum is needed")
    names = [str(i + 1) for i in range(k)] if strata is None else [str(s) for s in strata]
    if len(names) != k:
        raise ValueError(f"strata has {len(names)} names for {k} strata")
    if len(set(names)) != k:
        raise ValueError(f"strata names must be unique, got {names}")
    rows = []
    for i in range(k):
        a, na = check_binomial(
            f"x1[{names[i]}]", cols["x1"][i], f"n1[{names[i]}]", cols["n1"][i], allow_empty=True
        )
        c, nc = check_binomial(
            f"x2[{names[i]}]", cols["x2"][i], f"n2[{names[i]}]", cols["n2"][i], allow_empty=True
        )
        rows.append((names[i], a, na, c, nc))
    kept = [r for r in rows if r[2] > 0 and r[4] > 0]
    dropped = [r[0] for r in rows if not (r[2] > 0 and r[4] > 0)]
    if not kept:
        raise ValueError(
            "no stratum has patients in both arms; strata: "
            + ", ".join(f"{r[0]} (n1={r[2]}, n2={r[4]})" for r in rows)
        )
    notes: tuple[str, ...] = ()
    if dropped:
        notes = (f"strata without patients in one arm dropped (zero weight): {', '.join(dropped)}",)
    arr = np.array([r[1:] for r in kept], dtype=float)
    return _Strata(tuple(r[0] for r in kept), arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], k, notes)


def risk_difference_stratified(
    *,
    x1: Sequence[int] | int,
    n1: Sequence[int] | int,
    x2: Sequence[int] | int,
    n2: Sequence[int] | int,
    strata: Sequence[str] | None = None,
    method: str = "mh_sato",
    conf_level: float = 0.95,
) -> EstimateResult:
    r"""Stratum-adjusted risk difference (treatment - control) with a confidence interval.

    Methods:

    ``mh_sato``
        Mantel-Haenszel weighted difference
        :math:`\hat d_{MH} = \sum_k (x_{1k} n_{2k} - x_{2k} n_{1k})/N_k \,/\, \sum_k W_k`,
        :math:`W_k = n_{1k} n_{2k}/N_k`, with the Sato (1989) variance
        :math:`\hat V = (\hat d_{MH} \sum_k P_k + \sum_k Q_k) / (\sum_k W_k)^2`,
        :math:`P_k = (n_{1k}^2 x_{2k} - n_{2k}^2 x_{1k} + n_{1k} n_{2k}(n_{2k}-n_{1k})/2)/N_k^2`,
        :math:`Q_k = (x_{1k}(n_{2k}-x_{2k}) + x_{2k}(n_{1k}-x_{1k}))/(2N_k)`; Wald limits
        :math:`\hat d_{MH} \pm z \sqrt{\hat V}`. With one stratum this is the unstratified Wald
        interval.
    ``strat_newcombe``
        Stratified Newcombe interval of Yan & Su (2010) as implemented in
        ``tern::prop_diff_strat_nc(weights_method = "cmh")``: weights
        :math:`w_k \propto n_{1k} n_{2k}/(n_{1k}+n_{2k})` (sum 1); per arm, the stratified
        Wilson limits :math:`(L_i, U_i) = \sum_k w_k (l_{ik}, u_{ik})` from per-stratum Wilson
        intervals at :math:`z^* = z\sqrt{\sum_k w_k^2 v_{ik}} / \sum_k w_k \sqrt{v_{ik}}`,
        :math:`v_{ik} = \hat p_{ik}(1-\hat p_{ik})/n_{ik}` (:math:`z^* = z` if every
        :math:`v_{ik} = 0`); then with :math:`\lambda_i = \sum_k w_k^2/n_{ik}`:
        lower :math:`= \hat d - z\sqrt{\lambda_1 L_1(1-L_1) + \lambda_2 U_2(1-U_2)}`, upper
        :math:`= \hat d + z\sqrt{\lambda_2 L_2(1-L_2) + \lambda_1 U_1(1-U_1)}`,
        :math:`\hat d = \sum_k w_k(\hat p_{1k} - \hat p_{2k})` (equal to the MH estimate). With
        one stratum this is Newcombe's hybrid score interval.

    Parameters
    ----------
    x1, n1, x2, n2 : sequence of int (or int for one stratum)
        Responders and patients per stratum, treatment (1) and control (2).
    strata : sequence of str, optional
        Stratum names (default ``"1", "2", ...``); used in notes.
    method : str
        ``"mh_sato"`` (default) or ``"strat_newcombe"``.
    conf_level : float
        Two-sided confidence level, default 0.95.

    Returns
    -------
    EstimateResult
        Counts are summed over the strata used; ``counts["n_strata"]`` and
        ``counts["n_strata_used"]`` record the stratum bookkeeping.

    Notes
    -----
    Strata with no patient in one arm are dropped (zero MH weight; listed in ``notes``).
    Assumptions: a common risk difference across strata; independent binomial samples.
    R: ``epiR::epi.2by2(method = "cohort.count")$massoc.detail$ARisk.mh.sato``,
    ``metafor::rma.mh(measure = "RD")``, ``tern::prop_diff_strat_nc``. SAS: ``PROC FREQ;
    TABLES stratum*arm*resp / COMMONRISKDIFF(CL=MH NEWCOMBE)`` (the CMH weights are the MH
    weights n1*n2/N; agreement with SAS's stratified Newcombe has not been checked).

    References
    ----------
    Greenland S, Robins JM. Biometrics 1985;41:55-68. doi:10.2307/2530643
    Sato T, Greenland S, Robins JM. Biometrics 1989;45:1323-4. JSTOR 2531784
    Yan X, Su XG. Stat Biopharm Res 2010;2:329-35. doi:10.1198/sbr.2009.0049
    """
    validate_method(method, STRATIFIED_RISK_DIFFERENCE_METHODS)
    level = check_conf_level(conf_level)
    s = _prepare_strata(x1, n1, x2, n2, strata)
    notes = list(s.notes)
    if method == "mh_sato":
        est, lower, upper, se = _mh_sato(s, level)
        if se == 0.0:
            notes.append("Sato variance is 0 (all-or-none responders): degenerate interval")
    else:
        est, lower, upper = _strat_newcombe(s, level)
        se = None
    counts: dict[str, float | int] = {
        "x1": int(s.x1.sum()),
        "n1": int(s.n1.sum()),
        "x2": int(s.x2.sum()),
        "n2": int(s.n2.sum()),
        "n_strata": s.n_given,
        "n_strata_used": len(s.names),
    }
    return EstimateResult(
        effect="risk_difference",
        method=method,
        estimate=est,
        lower=lower,
        upper=upper,
        conf_level=level,
        std_error=se,
        counts=counts,
        notes=tuple(notes),
    )


def _mh_sato(s: _Strata, conf_level: float) -> tuple[float, float, float, float]:
    a, n1, c, n0 = s.x1, s.n1, s.x2, s.n2
    big_n = n1 + n0
    w = float(np.sum(n1 * n0 / big_n))
    rd = float(np.sum((a * n0 - c * n1) / big_n)) / w
    p = float(np.sum((n1**2 * c - n0**2 * a + n1 * n0 * (n0 - n1) / 2.0) / big_n**2))
    q = float(np.sum((a * (n0 - c) + c * (n1 - a)) / (2.0 * big_n)))
    var = max(0.0, (rd * p + q) / w**2)
    se = math.sqrt(var)
    z = _z(conf_level)
    return rd, rd - z * se, rd + z * se, se


def _wilson(
    x: np.ndarray[Any, np.dtype[np.float64]], n: np.ndarray[Any, np.dtype[np.float64]], z: float
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
    """Wilson score limits (no continuity correction), vectorised over strata."""
    p = x / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def _strat_wilson(
    x: np.ndarray[Any, np.dtype[np.float64]],
    n: np.ndarray[Any, np.dtype[np.float64]],
    w: np.ndarray[Any, np.dtype[np.float64]],
    z: float,
) -> tuple[float, float]:
    """Stratified Wilson interval of Yan & Su (2010) with fixed weights (tern)."""
    p = x / n
    v = p * (1 - p) / n
    denom = float(np.sum(np.sqrt(w**2 * v)))
    z_star = z if denom == 0.0 else math.sqrt(float(np.sum(w**2 * v))) / denom * z
    lo, hi = _wilson(x, n, z_star)
    return float(np.sum(w * lo)), float(np.sum(w * hi))


def _strat_newcombe(s: _Strata, conf_level: float) -> tuple[float, float, float]:
    w = s.n1 * s.n2 / (s.n1 + s.n2)
    w = w / w.sum()
    z = _z(conf_level)
    l1, u1 = _strat_wilson(s.x1, s.n1, w, z)
    l2, u2 = _strat_wilson(s.x2, s.n2, w, z)
    d = float(np.sum(w * s.x1 / s.n1) - np.sum(w * s.x2 / s.n2))
    lam1 = float(np.sum(w**2 / s.n1))
    lam2 = float(np.sum(w**2 / s.n2))
    lower = d - z * math.sqrt(lam1 * l1 * (1 - l1) + lam2 * u2 * (1 - u2))
    upper = d + z * math.sqrt(lam2 * l2 * (1 - l2) + lam1 * u1 * (1 - u1))
    return d, lower, upper


# ----------------------------------------------------------------------------------------------
# Odds ratios
# ----------------------------------------------------------------------------------------------
def odds_ratio(*, x1: int, n1: int, x2: int, n2: int, conf_level: float = 0.95) -> EstimateResult:
    r"""Sample odds ratio (treatment vs control) with the Woolf (logit) interval.

    :math:`OR = x_1(n_2-x_2) / [(n_1-x_1)x_2]`,
    :math:`\exp(\log OR \pm z\sqrt{1/a + 1/b + 1/c + 1/d})`. When any cell is zero, 0.5 is added
    to all four cells (Haldane-Anscombe) so that the estimate and limits are finite; this is
    recorded in ``notes``.

    Parameters
    ----------
    x1, n1, x2, n2 : int
        Responders and patients, treatment (1) and control (2).
    conf_level : float
        Two-sided confidence level, default 0.95.

    Returns
    -------
    EstimateResult
        ``effect="odds_ratio"``, ``method="woolf"``; ``std_error`` is the SE of log OR.

    Notes
    -----
    Assumptions: independent binomial samples, large-sample normality of log OR.
    R: ``epiR::epi.2by2()$massoc.detail$OR.strata.wald`` (no zero-cell correction there).
    SAS: ``PROC FREQ / RELRISK``.

    References
    ----------
    Woolf B. Ann Hum Genet 1955;19:251-3. doi:10.1111/j.1469-1809.1955.tb01348.x
    """
    level = check_conf_level(conf_level)
    a, na = check_binomial("x1", x1, "n1", n1)
    c, nc = check_binomial("x2", x2, "n2", n2)
    cells = np.array([a, na - a, c, nc - c], dtype=float)
    notes: tuple[str, ...] = ()
    if (cells == 0).any():
        cells = cells + 0.5
        notes = ("zero cell: 0.5 added to every cell (Haldane-Anscombe)",)
    log_or = math.log(cells[0] * cells[3] / (cells[1] * cells[2]))
    se = math.sqrt(float(np.sum(1.0 / cells)))
    z = _z(level)
    return EstimateResult(
        effect="odds_ratio",
        method="woolf",
        estimate=math.exp(log_or),
        lower=math.exp(log_or - z * se),
        upper=math.exp(log_or + z * se),
        conf_level=level,
        std_error=se,
        counts=_counts(a, na, c, nc),
        notes=notes,
    )


def _tables(s: _Strata) -> np.ndarray[Any, np.dtype[np.float64]]:
    """2 x 2 x K array; rows treatment/control, columns responder/non-responder."""
    return np.array([[s.x1, s.n1 - s.x1], [s.x2, s.n2 - s.x2]], dtype=float)


def odds_ratio_stratified(
    *,
    x1: Sequence[int] | int,
    n1: Sequence[int] | int,
    x2: Sequence[int] | int,
    n2: Sequence[int] | int,
    strata: Sequence[str] | None = None,
    conf_level: float = 0.95,
) -> EstimateResult:
    r"""Mantel-Haenszel common odds ratio with the Robins-Breslow-Greenland interval.

    :math:`OR_{MH} = \sum_k a_k d_k/N_k \,/\, \sum_k b_k c_k/N_k`; the variance of
    :math:`\log OR_{MH}` is the RBG estimator (statsmodels ``StratifiedTable``).

    Parameters
    ----------
    x1, n1, x2, n2 : sequence of int (or int for one stratum)
        Responders and patients per stratum, treatment (1) and control (2).
    strata : sequence of str, optional
        Stratum names.
    conf_level : float
        Two-sided confidence level, default 0.95.

    Returns
    -------
    EstimateResult
        ``effect="odds_ratio"``, ``method="mh_or"``; ``std_error`` is the SE of log OR.
        If the numerator or denominator sum is 0 the estimate is 0 or inf with NaN limits
        (noted).

    Notes
    -----
    Strata without patients in one arm are dropped. Assumption: common odds ratio.
    R: ``mantelhaen.test(tab)$estimate`` and ``$conf.int``. SAS: ``PROC FREQ / CMH``.

    References
    ----------
    Robins J, Breslow N, Greenland S. Biometrics 1986;42:311-23. doi:10.2307/2531052
    """
    level = check_conf_level(conf_level)
    s = _prepare_strata(x1, n1, x2, n2, strata)
    tab = _tables(s)
    big_n = s.n1 + s.n2
    num = float(np.sum(tab[0, 0] * tab[1, 1] / big_n))
    den = float(np.sum(tab[0, 1] * tab[1, 0] / big_n))
    counts: dict[str, float | int] = {
        "x1": int(s.x1.sum()),
        "n1": int(s.n1.sum()),
        "x2": int(s.x2.sum()),
        "n2": int(s.n2.sum()),
        "n_strata": s.n_given,
        "n_strata_used": len(s.names),
    }
    notes = list(s.notes)
    if num == 0.0 or den == 0.0:
        notes.append(
            "Mantel-Haenszel numerator or denominator is 0: odds ratio is 0 or "
            "infinite and has no finite interval"
        )
        est = (
            0.0 if num == 0.0 and den > 0.0 else (math.inf if den == 0.0 and num > 0 else math.nan)
        )
        return EstimateResult(
            effect="odds_ratio",
            method="mh_or",
            estimate=est,
            lower=math.nan,
            upper=math.nan,
            conf_level=level,
            counts=counts,
            notes=tuple(notes),
        )
    st = StratifiedTable(tab)
    lo, hi = st.oddsratio_pooled_confint(alpha=1.0 - level)
    return EstimateResult(
        effect="odds_ratio",
        method="mh_or",
        estimate=float(st.oddsratio_pooled),
        lower=float(lo),
        upper=float(hi),
        conf_level=level,
        std_error=float(st.logodds_pooled_se),
        counts=counts,
        notes=tuple(notes),
    )


# ----------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------
_ALTERNATIVES = ("two-sided", "less", "greater")


def fisher_exact_test(
    *, x1: int, n1: int, x2: int, n2: int, alternative: str = "two-sided"
) -> TestResult:
    """Fisher's exact test of independence in the 2x2 table (``method="fisher"``).

    Conditions on both margins (hypergeometric distribution of ``x1``); the two-sided p-value
    sums the probabilities of all tables no more probable than the observed one
    (:func:`scipy.stats.fisher_exact`). The reported ``statistic`` is the sample odds ratio.
    ProDERM primary endpoint, 37/47 vs 21/48: p = 0.00069.

    Parameters
    ----------
    x1, n1, x2, n2 : int
        Responders and patients, treatment (1) and control (2).
    alternative : str
        ``"two-sided"`` (default), ``"less"`` or ``"greater"`` (odds ratio < 1 / > 1).

    Returns
    -------
    TestResult

    Notes
    -----
    R: ``fisher.test(matrix(c(x1, n1 - x1, x2, n2 - x2), 2, byrow = TRUE))``.
    SAS: ``PROC FREQ / FISHER``.

    References
    ----------
    Fisher RA. J R Stat Soc 1922;85:87-94. doi:10.2307/2340521
    """
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative={alternative!r}; valid: {', '.join(_ALTERNATIVES)}")
    a, na = check_binomial("x1", x1, "n1", n1)
    c, nc = check_binomial("x2", x2, "n2", n2)
    res = stats.fisher_exact([[a, na - a], [c, nc - c]], alternative=alternative)
    return TestResult(
        method="fisher",
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        alternative=alternative,
        counts=_counts(a, na, c, nc),
    )


def chisq_test(*, x1: int, n1: int, x2: int, n2: int, correction: bool = False) -> TestResult:
    r"""Pearson chi-square test of the 2x2 table, optionally with Yates' correction.

    :math:`X^2 = \sum (O - E)^2 / E` on 1 df (``method="chisq"``); with ``correction=True``
    :math:`\sum (|O - E| - \min(0.5, |O-E|))^2 / E` (``method="chisq_yates"``), as R's
    ``chisq.test``. ProDERM primary endpoint: p = 0.00047 (Pearson), 0.0010 (Yates).

    Parameters
    ----------
    x1, n1, x2, n2 : int
        Responders and patients, treatment (1) and control (2).
    correction : bool
        Apply Yates' continuity correction (default False).

    Returns
    -------
    TestResult
        If a row or column total is zero (nobody or everybody responded) the statistic is
        set to 0 and p to 1, with a note (R returns NaN).

    Notes
    -----
    Assumes expected counts large enough for the chi-square approximation (Fisher's test
    otherwise). R: ``chisq.test(tab, correct = FALSE/TRUE)``. SAS: ``PROC FREQ / CHISQ``.

    References
    ----------
    Pearson K. Philos Mag 1900;50:157-75. doi:10.1080/14786440009463897
    Yates F. Suppl J R Stat Soc 1934;1:217-35. doi:10.2307/2983604
    """
    if not isinstance(correction, bool):
        raise ValueError(f"correction={correction!r} must be True or False")
    a, na = check_binomial("x1", x1, "n1", n1)
    c, nc = check_binomial("x2", x2, "n2", n2)
    method = "chisq_yates" if correction else "chisq"
    table = np.array([[a, na - a], [c, nc - c]], dtype=float)
    if (table.sum(axis=0) == 0).any():
        return TestResult(
            method=method,
            statistic=0.0,
            p_value=1.0,
            df=1.0,
            counts=_counts(a, na, c, nc),
            notes=(
                "a column total is zero (no responders or no non-responders):"
                " statistic set to 0, p to 1",
            ),
        )
    res = stats.chi2_contingency(table, correction=correction)
    return TestResult(
        method=method,
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        df=float(res.dof),
        counts=_counts(a, na, c, nc),
    )


def cmh_test(
    *,
    x1: Sequence[int] | int,
    n1: Sequence[int] | int,
    x2: Sequence[int] | int,
    n2: Sequence[int] | int,
    strata: Sequence[str] | None = None,
    correction: bool = False,
) -> TestResult:
    r"""Cochran-Mantel-Haenszel test of no association between arm and response, given strata.

    :math:`X^2_{CMH} = (|\Delta| - c)^2 / \sum_k \mathrm{Var}(a_k)`,
    :math:`\Delta = \sum_k (a_k - E a_k)`, with hypergeometric
    :math:`E a_k = n_{1k} m_{1k}/N_k`,
    :math:`\mathrm{Var}\, a_k = n_{1k} n_{2k} m_{1k} m_{2k} / (N_k^2 (N_k - 1))`, 1 df.
    Continuity correction exactly as R's ``mantelhaen.test(correct = TRUE)``: ``c = 0.5``
    when ``correction=True`` and :math:`|\Delta| \ge 0.5`, else ``c = 0`` (no correction
    when :math:`|\Delta| < 0.5`; noted). :math:`\Delta` is in ``counts["sum_o_minus_e"]``.

    Parameters
    ----------
    x1, n1, x2, n2 : sequence of int (or int for one stratum)
        Responders and patients per stratum, treatment (1) and control (2).
    strata : sequence of str, optional
        Stratum names.
    correction : bool
        Continuity correction (default False, as SAS; R's default is TRUE).

    Returns
    -------
    TestResult
        ``method="cmh"``. If no stratum has both responders and non-responders the variance is
        0: statistic 0 and p = 1 with a note.

    Notes
    -----
    Strata without patients in one arm are dropped (they contribute nothing). With one stratum
    the statistic equals (N - 1)/N times Pearson's chi-square. Most powerful when the odds ratio
    is common across strata. R: ``mantelhaen.test(tab, correct = FALSE)``. SAS: ``PROC FREQ /
    CMH``.

    References
    ----------
    Mantel N, Haenszel W. J Natl Cancer Inst 1959;22:719-48. doi:10.1093/jnci/22.4.719
    Cochran WG. Biometrics 1954;10:417-51. doi:10.2307/3001616
    """
    if not isinstance(correction, bool):
        raise ValueError(f"correction={correction!r} must be True or False")
    s = _prepare_strata(x1, n1, x2, n2, strata)
    tab = _tables(s)
    counts: dict[str, float | int] = {
        "x1": int(s.x1.sum()),
        "n1": int(s.n1.sum()),
        "x2": int(s.x2.sum()),
        "n2": int(s.n2.sum()),
        "n_strata": s.n_given,
        "n_strata_used": len(s.names),
    }
    m1 = tab[0, 0] + tab[1, 0]
    m2 = tab[0, 1] + tab[1, 1]
    big_n = s.n1 + s.n2
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(big_n > 1, s.n1 * s.n2 * m1 * m2 / (big_n**2 * (big_n - 1)), 0.0)
    if float(var.sum()) == 0.0:
        return TestResult(
            method="cmh",
            statistic=0.0,
            p_value=1.0,
            df=1.0,
            counts=counts,
            notes=(
                *s.notes,
                "no stratum has both responders and non-responders: statistic set to 0, p to 1",
            ),
        )
    expected = s.n1 * m1 / big_n
    delta = float(np.sum(tab[0, 0] - expected))
    # R's mantelhaen.test: YATES <- if (correct && abs(DELTA) >= .5) .5 else 0. statsmodels'
    # test_null_odds subtracts 0.5 unconditionally, which is wrong when |DELTA| < 0.5.
    yates = 0.5 if correction and abs(delta) >= 0.5 else 0.0
    statistic = (abs(delta) - yates) ** 2 / float(var.sum())
    notes = s.notes
    if correction and yates == 0.0:
        notes = (*notes, "|sum(O - E)| < 0.5: no continuity correction applied (as R)")
    counts["sum_o_minus_e"] = delta
    return TestResult(
        method="cmh",
        statistic=statistic,
        p_value=float(stats.chi2.sf(statistic, 1)),
        df=1.0,
        counts=counts,
        notes=notes,
    )


# ----------------------------------------------------------------------------------------------
# From a per-patient frame
# ----------------------------------------------------------------------------------------------
def count_responders(
    data: pd.DataFrame,
    *,
    arm: str,
    response: str,
    treatment: str,
    control: str,
    strata: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per-stratum 2x2 counts from a per-patient frame (one row per randomised patient).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient.
    arm : str
        Column with the arm; every value must be ``treatment`` or ``control``.
    response : str
        Column with the response, 0/1 or False/True; no missing values (impute upstream, e.g.
        dropouts as non-responders as in ProDERM).
    treatment, control : str
        Arm codes of arm 1 and arm 2.
    strata : str or sequence of str, optional
        Stratification column(s); combinations are joined with ``"/"``. Missing stratum values
        are an error.

    Returns
    -------
    pandas.DataFrame
        Columns ``stratum, x1, n1, x2, n2`` (one row ``stratum="all"`` without strata), ready
        for ``risk_difference_stratified(**counts[["x1","n1","x2","n2"]].to_dict("list"))``.
    """
    strata_cols = [] if strata is None else ([strata] if isinstance(strata, str) else list(strata))
    check_columns(data, "data", [arm, response, *strata_cols])
    if treatment == control:
        raise ValueError(f"treatment and control must differ, both are {treatment!r}")
    arms = data[arm]
    bad_arm = sorted({str(v) for v in arms[~arms.isin([treatment, control])]})
    if bad_arm:
        raise ValueError(
            f"column {arm!r} has values other than {treatment!r}/{control!r}: {bad_arm}"
        )
    resp = _as_binary(data[response], response)
    for col in strata_cols:
        if data[col].isna().any():
            rows = np.flatnonzero(data[col].isna().to_numpy())[:5].tolist()
            raise ValueError(f"stratum column {col!r} has missing values at rows {rows}")
    if strata_cols:
        label = data[strata_cols].astype(str).agg("/".join, axis=1)
    else:
        label = pd.Series("all", index=data.index)
    frame = pd.DataFrame({"stratum": label, "is_trt": arms == treatment, "resp": resp})
    out = []
    for name, grp in frame.groupby("stratum", sort=True):
        t = grp[grp["is_trt"]]
        c = grp[~grp["is_trt"]]
        out.append(
            {
                "stratum": str(name),
                "x1": int(t["resp"].sum()),
                "n1": len(t),
                "x2": int(c["resp"].sum()),
                "n2": len(c),
            }
        )
    return pd.DataFrame(out, columns=["stratum", "x1", "n1", "x2", "n2"])


_TRUE = {"1", "true", "yes", "y", "t", "1.0"}
_FALSE = {"0", "false", "no", "n", "f", "0.0"}


def _as_binary(values: pd.Series, name: str) -> pd.Series:
    """0/1 integers from bool, 0/1 numbers or true/false text; anything else is an error."""
    out = []
    bad: list[tuple[int, Any]] = []
    for pos, v in enumerate(values.tolist()):
        key = str(v).strip().lower()
        if key in _TRUE:
            out.append(1)
        elif key in _FALSE:
            out.append(0)
        else:
            bad.append((pos, v))
            out.append(0)
    if bad:
        shown = ", ".join(f"row {p}: {v!r}" for p, v in bad[:10])
        raise ValueError(
            f"column {name!r} must be 0/1 or true/false without missing values; found {shown}"
        )
    return pd.Series(out, index=values.index, dtype=int)
