"""Small-sample helpers for 2x2 tables: an expected-count note, and the Miettinen-Nurminen
score interval paired with the score test it inverts (a consistent default CI/test pair).

Pairing a Wald interval with Fisher's test can give an interval excluding 0 with p > 0.05 in a
small trial; the pair here cannot disagree: the MN interval is the set of differences the MN
score test does not reject, and at difference 0 that test is the test reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from myotrial.stats._validate import check_binomial, check_conf_level, check_counts_vector
from myotrial.stats.binary import _mn_interval, _mn_statistic
from myotrial.stats.results import EstimateResult

__all__ = ["expected_count_notes", "min_expected_count", "risk_difference_score_test"]


def min_expected_count(
    *,
    x1: Sequence[int] | int,
    n1: Sequence[int] | int,
    x2: Sequence[int] | int,
    n2: Sequence[int] | int,
) -> float:
    """Smallest expected cell count under independence over the 2x2 table(s).

    :math:`E_{rc} = n_r m_c / N` per table (stratum); strata with an empty arm are skipped.

    Parameters
    ----------
    x1, n1, x2, n2 : int or sequence of int
        Responders and patients, treatment (1) and control (2), per stratum.

    Returns
    -------
    float
        The minimum expected count (``inf`` if no table has patients in both arms).

    Notes
    -----
    R: ``min(chisq.test(tab)$expected)``. SAS: ``PROC FREQ / EXPECTED``.

    References
    ----------
    Cochran WG. Some methods for strengthening the common chi-square tests. Biometrics
    1954;10:417-51. doi:10.2307/3001616
    """
    cols = [check_counts_vector(k, v) for k, v in (("x1", x1), ("n1", n1), ("x2", x2), ("n2", n2))]
    if len({len(c) for c in cols}) != 1:
        raise ValueError("x1, n1, x2, n2 must have the same length per stratum")
    low = math.inf
    for k, (a, na, c, nc) in enumerate(zip(*cols, strict=True)):
        a, na = check_binomial(f"x1[{k}]", a, f"n1[{k}]", na, allow_empty=True)
        c, nc = check_binomial(f"x2[{k}]", c, f"n2[{k}]", nc, allow_empty=True)
        if na == 0 or nc == 0:
            continue
        big_n = na + nc
        m1, m2 = a + c, big_n - a - c
        low = min(low, float(min(na, nc) * min(m1, m2) / big_n))
    return low


def expected_count_notes(
    *,
    x1: Sequence[int] | int,
    n1: Sequence[int] | int,
    x2: Sequence[int] | int,
    n2: Sequence[int] | int,
    threshold: float = 5.0,
) -> tuple[str, ...]:
    """A note when an expected cell count is below ``threshold`` (Cochran's rule), else ().

    Parameters
    ----------
    x1, n1, x2, n2 : int or sequence of int
        Responders and patients per stratum, treatment (1) and control (2).
    threshold : float
        Expected count below which the note is given, default 5.

    Returns
    -------
    tuple of str
        Empty, or one note naming the smallest expected count, for a result's ``notes``.

    Notes
    -----
    The chi-square, CMH and Wald methods rely on large expected counts; below 5 prefer an exact
    test (``fisher``) with an exact interval (``chan_zhang``) or the score pair
    (:func:`risk_difference_score_test`). R: ``chisq.test()`` warns "Chi-squared approximation
    may be incorrect". SAS: ``PROC FREQ`` prints the percentage of cells with expected < 5.

    References
    ----------
    Cochran WG. Biometrics 1954;10:417-51. doi:10.2307/3001616
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold <= 0:
        raise ValueError(f"threshold={threshold!r} must be a positive number")
    low = min_expected_count(x1=x1, n1=n1, x2=x2, n2=n2)
    if low < threshold:
        return (
            f"smallest expected cell count {low:.2f} < {threshold:g}: large-sample methods "
            "(chi-square, CMH, Wald) may be inaccurate; see the exact test and interval",
        )
    return ()


def risk_difference_score_test(
    *, x1: int, n1: int, x2: int, n2: int, conf_level: float = 0.95
) -> EstimateResult:
    r"""Risk difference with the Miettinen-Nurminen interval and the score test it inverts.

    Interval: all :math:`\delta` with :math:`(d - \delta)^2/\tilde V(\delta) \le
    \chi^2_{1, 1-\alpha}` (:math:`\tilde V` from the MLE restricted to :math:`p_1 - p_2 =
    \delta`, times N/(N - 1)); test: the same statistic at :math:`\delta = 0`,
    :math:`X^2 = (N-1)/N \cdot` Pearson's chi-square, p from :math:`\chi^2_1`. Hence the
    interval excludes 0 if and only if p < 1 - conf_level (``method="mn_score_test"``).
    ``notes`` carries :func:`expected_count_notes`.

    Parameters
    ----------
    x1, n1 : int
        Responders and patients in the treatment arm.
    x2, n2 : int
        Responders and patients in the control arm.
    conf_level : float
        Two-sided confidence level, default 0.95.

    Returns
    -------
    EstimateResult
        ``effect="risk_difference"``, ``p_value`` from the score test; ``counts`` adds
        ``statistic`` (the chi-square) and ``min_expected``.

    Notes
    -----
    With no responders or no non-responders at all the statistic is 0 and p = 1 (noted).
    R: ``DescTools::BinomDiffCI(method = "mn")`` and ``chisq.test(tab, correct =
    FALSE)$statistic * (N - 1) / N``. SAS: ``RISKDIFF(CL=MN)`` with the one-stratum ``CMH``
    statistic.

    References
    ----------
    Miettinen O, Nurminen M. Stat Med 1985;4:213-26. doi:10.1002/sim.4780040211
    """
    level = check_conf_level(conf_level)
    a, na = check_binomial("x1", x1, "n1", n1)
    c, nc = check_binomial("x2", x2, "n2", n2)
    lower, upper = _mn_interval(a, na, c, nc, level)
    notes = list(expected_count_notes(x1=a, n1=na, x2=c, n2=nc))
    if a + c in (0, na + nc):
        stat = 0.0
        notes.append("no responders or no non-responders: score statistic 0, p = 1")
    else:
        stat = _mn_statistic(0.0, a, na, c, nc)
    p_value = float(stats.chi2.sf(stat, 1)) if np.isfinite(stat) else 0.0
    return EstimateResult(
        effect="risk_difference",
        method="mn_score_test",
        estimate=a / na - c / nc,
        lower=lower,
        upper=upper,
        conf_level=level,
        p_value=p_value,
        counts={"x1": a, "n1": na, "x2": c, "n2": nc, "statistic": stat,
                "min_expected": min_expected_count(x1=a, n1=na, x2=c, n2=nc)},
        notes=tuple(notes),
    )
