"""Exact intervals for binary endpoints: Clopper-Pearson per arm and exact unconditional
intervals for the risk difference (Chan-Zhang score tail method; Santner-Snell unstandardised).

The exact unconditional interval inverts two one-sided exact tests of ``H0: p1 - p2 = delta``
whose p-values are maximised over the nuisance parameter ``p2`` (Chan & Zhang 1999, "tail
method"). Both row margins are fixed; no conditioning on the column margin (unlike Fisher).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import optimize, stats

from myotrial.stats._validate import FloatArray, check_binomial, check_conf_level
from myotrial.stats.methods import validate_method
from myotrial.stats.results import EstimateResult

__all__ = [
    "EXACT_RISK_DIFFERENCE_METHODS",
    "proportion_exact",
    "risk_difference_exact",
]

#: Method keys accepted by :func:`risk_difference_exact`.
EXACT_RISK_DIFFERENCE_METHODS = ("chan_zhang", "santner_snell")

_P2_GRID = 400  # grid points for the supremum over the nuisance parameter (then refined)
_DELTA_SCAN = 80  # coarse scan of delta before bisection (guards against non-monotone P)
_TIE = 1e-9  # statistics within this of the observed one count as "as extreme" (ties)

try:  # the ufunc behind scipy.stats.binom.pmf (same values, without its per-call checks)
    from scipy.special import _ufuncs

    _BINOM_PMF: Any = _ufuncs._binom_pmf
except (ImportError, AttributeError):  # pragma: no cover - another SciPy layout
    _BINOM_PMF = None


def _binom_pmf(k: FloatArray, n: int, p: FloatArray) -> FloatArray:
    """``scipy.stats.binom.pmf(k, n, p)`` for ``k`` in 0..n and ``p`` in [0, 1] (the callers'
    domain, where ``binom.pmf`` returns its ufunc's values clipped to [0, 1]: the same bits),
    without the argument checks that dominate the exact interval's many small calls."""
    if _BINOM_PMF is None:  # pragma: no cover
        return np.asarray(stats.binom.pmf(k, n, p), dtype=float)
    return np.asarray(np.clip(_BINOM_PMF(k, float(n), p), 0.0, 1.0), dtype=float)


def proportion_exact(*, x: int, n: int, conf_level: float = 0.95) -> EstimateResult:
    r"""One proportion x/n with the Clopper-Pearson exact interval (``method="clopper_pearson"``).

    Limits are beta quantiles: :math:`L = B^{-1}(\alpha/2;\, x, n - x + 1)` (0 when x = 0),
    :math:`U = B^{-1}(1 - \alpha/2;\, x + 1, n - x)` (1 when x = n), i.e. the inversion of two
    one-sided binomial tests each at level :math:`\alpha/2`. Coverage is at least the nominal
    level (conservative).

    Parameters
    ----------
    x : int
        Responders, ``0 <= x <= n``.
    n : int
        Patients (>= 1).
    conf_level : float
        Two-sided confidence level, default 0.95.

    Returns
    -------
    EstimateResult
        ``effect="proportion"``, ``counts`` ``x, n``.

    Notes
    -----
    Assumption: x is binomial(n, p). R: ``binom.test(x, n)$conf.int``. SAS: ``PROC FREQ;
    TABLES resp / BINOMIAL(CL=EXACT)``.

    References
    ----------
    Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the case of
    the binomial. Biometrika 1934;26:404-13. doi:10.1093/biomet/26.4.404

    Examples
    --------
    >>> r = proportion_exact(x=37, n=47)
    >>> round(r.lower, 4), round(r.upper, 4)
    (0.6434, 0.893)
    """
    level = check_conf_level(conf_level)
    xi, ni = check_binomial("x", x, "n", n)
    alpha = 1.0 - level
    lower = 0.0 if xi == 0 else float(stats.beta.ppf(alpha / 2, xi, ni - xi + 1))
    upper = 1.0 if xi == ni else float(stats.beta.ppf(1 - alpha / 2, xi + 1, ni - xi))
    return EstimateResult(
        effect="proportion",
        method="clopper_pearson",
        estimate=xi / ni,
        lower=lower,
        upper=upper,
        conf_level=level,
        counts={"x": xi, "n": ni},
    )


# ----------------------------------------------------------------------------------------------
# Exact unconditional interval for p1 - p2
# ----------------------------------------------------------------------------------------------
def _restricted_mle(
    delta: float, x1: FloatArray, n1: int, x2: FloatArray, n2: int
) -> tuple[FloatArray, FloatArray]:
    """Vectorised MLE of (p1, p2) under p1 - p2 = delta (Miettinen-Nurminen closed form)."""
    big_n = float(n1 + n2)
    total = x1 + x2
    l3 = big_n
    l2 = (n1 + 2 * n2) * delta - big_n - total
    l1 = (n2 * delta - big_n - 2 * x2) * delta + total
    l0 = x2 * delta * (1.0 - delta)
    q = (l2 / (3 * l3)) ** 3 - l1 * l2 / (6 * l3**2) + l0 / (2 * l3)
    p = np.copysign(np.sqrt(np.maximum(0.0, (l2 / (3 * l3)) ** 2 - l1 / (3 * l3))), q)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(p == 0.0, 0.0, q / p**3)
    a = (math.pi + np.arccos(np.clip(ratio, -1.0, 1.0))) / 3.0
    p2 = np.clip(2.0 * p * np.cos(a) - l2 / (3 * l3), 0.0, 1.0)
    p1 = np.clip(p2 + delta, 0.0, 1.0)
    return p1, p2


def _statistic(
    delta: float, x1: FloatArray, n1: int, x2: FloatArray, n2: int, score: bool
) -> FloatArray:
    """Ordering statistic of every table: score z (Farrington-Manning/MN) or p1 - p2."""
    diff = x1 / n1 - x2 / n2
    if not score:
        return diff
    num = diff - delta
    p1, p2 = _restricted_mle(delta, x1, n1, x2, n2)
    var = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    positive = var > 0
    z = np.where(positive, num / np.sqrt(np.where(positive, var, 1.0)), 0.0)
    infinite = ~positive & (np.abs(num) > 1e-12)
    z[infinite] = np.copysign(np.inf, num[infinite])
    return np.where(np.abs(num) <= 1e-12, 0.0, z)


class _ExactTail:
    """Tail probabilities of the exact unconditional test for one observed table."""

    def __init__(self, x1: int, n1: int, x2: int, n2: int, score: bool) -> None:
        self.x1, self.n1, self.x2, self.n2, self.score = x1, n1, x2, n2, score
        i, j = np.meshgrid(np.arange(n1 + 1.0), np.arange(n2 + 1.0), indexing="ij")
        self.i, self.j = i, j
        self.k1 = np.arange(n1 + 1.0)
        self.k2 = np.arange(n2 + 1.0)

    def _region(self, delta: float, upper: bool) -> FloatArray:
        t = _statistic(delta, self.i, self.n1, self.j, self.n2, self.score)
        t_obs = t[self.x1, self.x2]
        if upper:
            return np.asarray(t >= t_obs - _TIE, dtype=float)
        return np.asarray(t <= t_obs + _TIE, dtype=float)

    def _prob(self, region: FloatArray, delta: float, p2: FloatArray) -> FloatArray:
        p1 = np.clip(p2 + delta, 0.0, 1.0)
        b1 = _binom_pmf(self.k1[:, None], self.n1, p1[None, :])  # (n1+1, G)
        b2 = _binom_pmf(self.k2[:, None], self.n2, p2[None, :])  # (n2+1, G)
        return np.asarray(np.sum(b1 * (region @ b2), axis=0), dtype=float)

    def pvalue(self, delta: float, upper: bool) -> float:
        """sup over p2 of P(T >= t_obs) (``upper``) or P(T <= t_obs) under p1 - p2 = delta."""
        lo, hi = max(0.0, -delta), min(1.0, 1.0 - delta)
        if hi - lo <= 0.0:
            p2s = np.array([lo])
            return float(self._prob(self._region(delta, upper), delta, p2s)[0])
        region = self._region(delta, upper)
        grid = np.linspace(lo, hi, _P2_GRID + 1)
        vals = self._prob(region, delta, grid)
        k = int(np.argmax(vals))
        best = float(vals[k])
        a, b = grid[max(0, k - 1)], grid[min(grid.size - 1, k + 1)]
        if b > a:
            res = optimize.minimize_scalar(
                lambda u: -float(self._prob(region, delta, np.array([u]))[0]),
                bounds=(a, b),
                method="bounded",
                options={"xatol": 1e-12},
            )
            best = max(best, -float(res.fun))
        return min(1.0, best)


def _limit(tail: _ExactTail, d_hat: float, alpha2: float, lower: bool) -> float:
    """Lower: inf{delta: P_U(delta) > alpha/2}; upper: sup{delta: P_L(delta) > alpha/2}."""
    edge = -1.0 if lower else 1.0

    def accepted(delta: float) -> bool:
        return tail.pvalue(delta, upper=lower) > alpha2

    if accepted(edge):
        return edge
    # coarse scan from the edge towards the estimate for the first accepted delta
    grid = np.linspace(edge, d_hat, _DELTA_SCAN + 1)
    prev = edge
    first = d_hat
    for delta in grid[1:]:
        if accepted(float(delta)):
            first = float(delta)
            break
        prev = float(delta)
    a, b = prev, first  # a rejected, b accepted
    for _ in range(60):
        if abs(b - a) < 1e-10:
            break
        mid = (a + b) / 2
        if accepted(mid):
            b = mid
        else:
            a = mid
    return (a + b) / 2


def risk_difference_exact(
    *,
    x1: int,
    n1: int,
    x2: int,
    n2: int,
    method: str = "chan_zhang",
    conf_level: float = 0.95,
) -> EstimateResult:
    r"""Risk difference p1 - p2 with an exact unconditional confidence interval.

    Tail method: :math:`L = \inf\{\delta: P_U(\delta) > \alpha/2\}`,
    :math:`U = \sup\{\delta: P_L(\delta) > \alpha/2\}`, with
    :math:`P_U(\delta) = \sup_{p_2} \sum_{T(a) \ge t_0} f(a; \delta, p_2)`,
    :math:`P_L` likewise with :math:`T(a) \le t_0`; :math:`f` is the product of the two
    binomial probabilities of table :math:`a` with :math:`p_1 = p_2 + \delta`, the supremum
    runs over :math:`p_2 \in [\max(0, -\delta), \min(1, 1 - \delta)]` and the sums over all
    tables with the observed row totals.

    ``chan_zhang`` (default)
        :math:`T` is the score statistic
        :math:`(\hat p_1 - \hat p_2 - \delta) / \sqrt{\tilde p_1(1-\tilde p_1)/n_1 +
        \tilde p_2(1-\tilde p_2)/n_2}` with the MLE restricted to :math:`p_1 - p_2 = \delta`
        (Farrington-Manning; the Miettinen-Nurminen N/(N-1) factor does not change the
        ordering). This is Chan & Zhang (1999), SAS ``EXACT RISKDIFF`` default
        (``METHOD=SCORE``).
    ``santner_snell``
        :math:`T = \hat p_1 - \hat p_2` (unstandardised), SAS ``EXACT RISKDIFF(METHOD=NOSCORE)``,
        ``tern::prop_diff_uncond_exact``.

    ``p_value`` is the exact unconditional two-sided p-value of ``H0: p1 = p2`` with the same
    statistic, :math:`\min(1, 2\min(P_U(0), P_L(0)))`, so the interval excludes 0 exactly when
    ``p_value <= 1 - conf_level`` (a consistent interval/test pair, up to the numerical tolerance
    of the limits).

    Parameters
    ----------
    x1, n1 : int
        Responders and patients in the treatment arm.
    x2, n2 : int
        Responders and patients in the control arm.
    method : str
        ``"chan_zhang"`` (default) or ``"santner_snell"``.
    conf_level : float
        Two-sided confidence level, default 0.95.

    Returns
    -------
    EstimateResult
        ``effect="risk_difference"``.

    Notes
    -----
    Numerics: the supremum over :math:`p_2` is taken on a grid of 401 points refined by a
    bounded scalar search around the best grid point; each limit is found by a scan of 80
    values of :math:`\delta` from -1 (or 1) towards the estimate, then bisection to 1e-10 (so a
    non-monotone :math:`P_U` gives the infimum, not just any crossing). Tables whose statistic
    is within 1e-9 of the observed one count as ties (included in both tails). Cost grows with
    (n1 + 1)(n2 + 1); ProDERM-size arms take a few seconds.
    Not validated against a package (``exact2x2``/``ExactCIdiff`` are not in Debian):
    ``santner_snell`` reproduces SAS and the Santner-Snell paper (tern vignette examples) to
    their 4 printed digits; ``chan_zhang`` agrees with a brute-force computation (grid over
    delta and p2, restricted MLE by numerical optimisation) in the tests.
    R: ``exact2x2::uncondExact2x2(method = "score", tsmethod = "square")`` is the closest
    (CRAN, not run here). SAS: ``PROC FREQ; EXACT RISKDIFF(METHOD=SCORE)``.

    References
    ----------
    Chan ISF, Zhang Z. Test-based exact confidence intervals for the difference of two binomial
    proportions. Biometrics 1999;55:1202-9. doi:10.1111/j.0006-341X.1999.01202.x
    Santner TJ, Snell MK. Small-sample confidence intervals for p1 - p2 and p1/p2 in 2 x 2
    contingency tables. J Am Stat Assoc 1980;75:386-94. doi:10.1080/01621459.1980.10477482
    """
    validate_method(method, EXACT_RISK_DIFFERENCE_METHODS)
    level = check_conf_level(conf_level)
    a, na = check_binomial("x1", x1, "n1", n1)
    c, nc = check_binomial("x2", x2, "n2", n2)
    d_hat = a / na - c / nc
    tail = _ExactTail(a, na, c, nc, score=method == "chan_zhang")
    alpha2 = (1.0 - level) / 2.0
    lower = _limit(tail, d_hat, alpha2, lower=True)
    upper = _limit(tail, d_hat, alpha2, lower=False)
    p_value = min(1.0, 2.0 * min(tail.pvalue(0.0, upper=True), tail.pvalue(0.0, upper=False)))
    return EstimateResult(
        effect="risk_difference",
        method=method,
        estimate=d_hat,
        lower=lower,
        upper=upper,
        conf_level=level,
        p_value=p_value,
        counts={"x1": a, "n1": na, "x2": c, "n2": nc},
    )
