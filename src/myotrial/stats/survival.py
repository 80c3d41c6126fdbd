"""Time to event: Kaplan-Meier with log-log pointwise intervals, median with CI, log-rank test.

Built on :func:`scipy.stats.ecdf` with :class:`scipy.stats.CensoredData` (survival function and
its ``log-log`` interval) and :func:`scipy.stats.logrank`; the table layout, the standard error
and the median rule follow R's ``survival`` package so that numbers agree with
``survfit(conf.type = "log-log")`` and ``quantile.survfit``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from myotrial.stats._validate import FloatArray, check_conf_level, check_numeric_array
from myotrial.stats.results import KaplanMeierResult, TestResult

__all__ = ["kaplan_meier", "kaplan_meier_by_group", "logrank_test"]

_TOL = math.sqrt(np.finfo(float).eps)  # quantile.survfit's tolerance

ArrayLike = Sequence[float] | np.ndarray[Any, Any] | pd.Series


def _check_time_event(time: ArrayLike, event: ArrayLike) -> tuple[FloatArray, FloatArray]:
    t = check_numeric_array("time", time)
    e = check_numeric_array("event", event)
    if t.size != e.size:
        raise ValueError(f"time and event differ in length: {t.size} vs {e.size}")
    if (t < 0).any():
        raise ValueError(
            f"time must be >= 0; negative at positions {np.flatnonzero(t < 0)[:5].tolist()}"
        )
    bad = ~np.isin(e, (0.0, 1.0))
    if bad.any():
        raise ValueError(
            f"event must be 0 (censored) or 1 (event); got {e[bad][:5].tolist()} "
            f"at positions {np.flatnonzero(bad)[:5].tolist()}"
        )
    return t, e


def kaplan_meier(
    time: ArrayLike, event: ArrayLike, *, conf_level: float = 0.95
) -> KaplanMeierResult:
    r"""Kaplan-Meier estimate with pointwise log-log confidence limits and the median with CI.

    :math:`\hat S(t) = \prod_{t_j \le t} (1 - d_j/n_j)`; Greenwood
    :math:`\widehat{\mathrm{Var}}\log \hat S(t) = \sum_{t_j\le t} d_j/[n_j(n_j-d_j)]` (its square
    root is ``std_err``, as R's ``std.err``); log-log limits
    :math:`\hat S^{\exp(\pm z\, \mathrm{se}/\log \hat S)}`, i.e.
    :math:`\exp(-\exp(\log(-\log \hat S) \pm z\,\mathrm{se}/|\log \hat S|))` (scipy
    ``sf.confidence_interval(method="log-log")``). Limits are missing where
    :math:`\hat S = 0` and equal 1 before the first event.

    Median (and its limits): the first time the curve (lower, upper limit curve) is
    :math:`\le 0.5`; if the curve equals 0.5 on an interval, the midpoint of that interval,
    exactly as R's ``quantile.survfit`` (Brookmeyer-Crowley-type interval from the pointwise
    limits). NaN when not reached.

    Parameters
    ----------
    time : array-like of float
        Follow-up time (>= 0), any unit.
    event : array-like of 0/1
        1 = event, 0 = right-censored.
    conf_level : float
        Two-sided confidence level, default 0.95.

    Returns
    -------
    KaplanMeierResult
        ``method="km_loglog"``; ``table`` has one row per distinct time.

    Notes
    -----
    Assumes independent (non-informative) right censoring. R:
    ``survfit(Surv(time, event) ~ 1, conf.type = "log-log")`` and ``quantile(fit, 0.5)``.
    SAS: ``PROC LIFETEST CONFTYPE=LOGLOG``.

    References
    ----------
    Kaplan EL, Meier P. J Am Stat Assoc 1958;53:457-81. doi:10.1080/01621459.1958.10501452
    Brookmeyer R, Crowley J. Biometrics 1982;38:29-41. doi:10.2307/2530286
    """
    level = check_conf_level(conf_level)
    t, e = _check_time_event(time, event)
    times = np.unique(t)
    n_risk = np.array([(t >= u).sum() for u in times], dtype=float)
    n_event = np.array([((t == u) & (e == 1)).sum() for u in times], dtype=float)
    n_censor = np.array([((t == u) & (e == 0)).sum() for u in times], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        green = np.cumsum(np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0))
    std_err = np.sqrt(green)
    surv = np.ones_like(times)
    lower = np.ones_like(times)
    upper = np.ones_like(times)
    if (e == 1).any():
        data = stats.CensoredData.right_censored(t, e == 0)
        sf = stats.ecdf(data).sf
        with warnings.catch_warnings():
            # scipy warns where S = 0 (log-log limits undefined); those limits are set to NaN
            # below, as R does, so the warning carries no information for the caller.
            warnings.filterwarnings(
                "ignore", message="The confidence interval is undefined", category=RuntimeWarning
            )
            ci = sf.confidence_interval(confidence_level=level, method="log-log")
        with np.errstate(divide="ignore", invalid="ignore"):
            surv = np.asarray(sf.evaluate(times), dtype=float)
            lower = np.asarray(ci.low.evaluate(times), dtype=float)
            upper = np.asarray(ci.high.evaluate(times), dtype=float)
        before_first = times < t[e == 1].min()
        surv[before_first] = 1.0
        lower[before_first] = 1.0
        upper[before_first] = 1.0
        undefined = (surv <= 0.0) | ~np.isfinite(std_err)
        lower[undefined] = np.nan
        upper[undefined] = np.nan
    table = pd.DataFrame(
        {
            "time": times,
            "n_risk": n_risk.astype(int),
            "n_event": n_event.astype(int),
            "n_censor": n_censor.astype(int),
            "surv": surv,
            "std_err": std_err,
            "lower": lower,
            "upper": upper,
        }
    )
    median = _findq(times, surv, 0.5)
    med_lo = _findq(times, lower, 0.5)
    med_hi = _findq(times, upper, 0.5)
    return KaplanMeierResult(
        method="km_loglog",
        table=table,
        median=median,
        median_lower=med_lo,
        median_upper=med_hi,
        conf_level=level,
        n=int(t.size),
        n_events=int(e.sum()),
    )


def _findq(times: FloatArray, curve: FloatArray, p: float) -> float:
    """Time at which 1 - curve first reaches p (R survival:::findq, firstx = 0)."""
    x = np.concatenate(([0.0], times))
    y = np.concatenate(([0.0], 1.0 - curve))
    xmax = float(x[-1])
    # drop repeated values of y, keeping the first (NaN counts as one value, like R)
    keep = np.ones(y.size, dtype=bool)
    seen_nan = False
    for i in range(1, y.size):
        if np.isnan(y[i]):
            keep[i] = not seen_nan
            seen_nan = True
        else:
            keep[i] = not np.any(y[:i][keep[:i]] == y[i])
    x, y = x[keep], y[keep]
    last_is_na = bool(np.isnan(y[-1]))
    ok = ~np.isnan(y)
    xs, ys = x[ok], y[ok]
    if ys.size == 0 or ys.max() < p:
        return math.nan

    def first_at_least(level: float) -> int | None:
        idx = np.flatnonzero(ys >= level)
        return int(idx[0]) if idx.size else None

    i1 = first_at_least(p - _TOL)
    i2 = first_at_least(p + _TOL)
    if i1 is None:
        return math.nan
    if not last_is_na and abs(p - ys[-1]) < _TOL:
        return float((xs[i1] + xmax) / 2)
    if i2 is None:
        return math.nan
    return float((xs[i1] + xs[i2]) / 2)


def kaplan_meier_by_group(
    time: ArrayLike, event: ArrayLike, group: ArrayLike, *, conf_level: float = 0.95
) -> dict[str, KaplanMeierResult]:
    """:func:`kaplan_meier` per group; keys are the group values as text, sorted.

    Parameters
    ----------
    time, event : array-like
        As in :func:`kaplan_meier`.
    group : array-like
        Group label per patient (no missing values).
    conf_level : float
        Two-sided confidence level, default 0.95.

    Returns
    -------
    dict of str to KaplanMeierResult
    """
    t, e = _check_time_event(time, event)
    g = _check_group(group, t.size)
    return {
        str(level): kaplan_meier(t[g == level], e[g == level], conf_level=conf_level)
        for level in sorted(set(g.tolist()))
    }


def _check_group(group: ArrayLike, size: int) -> np.ndarray[Any, np.dtype[np.str_]]:
    raw = pd.Series(np.asarray(group, dtype=object))
    if raw.size != size:
        raise ValueError(f"group has {raw.size} values for {size} times")
    if raw.isna().any():
        raise ValueError(
            f"group has missing values at positions "
            f"{np.flatnonzero(raw.isna().to_numpy())[:5].tolist()}"
        )
    return raw.astype(str).to_numpy(dtype=str)


def logrank_test(
    time: ArrayLike, event: ArrayLike, group: ArrayLike, *, strata: ArrayLike | None = None
) -> TestResult:
    r"""Two-sample log-rank (Mantel-Cox) test, optionally stratified.

    :math:`X^2 = (O_1 - E_1)^2 / V` with, over distinct event times, :math:`E_1 = \sum d_j
    n_{1j}/n_j` and hypergeometric :math:`V = \sum d_j (n_{1j}/n_j)(1 - n_{1j}/n_j)(n_j -
    d_j)/(n_j - 1)`, 1 df (scipy ``logrank`` gives :math:`Z`; the statistic reported is
    :math:`Z^2`). Observed and expected events per group are in ``counts``.

    Parameters
    ----------
    time : array-like of float
        Follow-up time (>= 0).
    event : array-like of 0/1
        1 = event, 0 = right-censored.
    group : array-like
        Exactly two distinct labels; groups are ordered by their text (sorted).
    strata : array-like, optional
        Stratum label per patient (no missing values). With strata (``method="logrank_strat"``)
        :math:`O_1 - E_1` and :math:`V` are computed within each stratum, over its own risk
        sets, and summed: :math:`X^2 = (\sum_s (O_{1s} - E_{1s}))^2 / \sum_s V_s`, 1 df.

    Returns
    -------
    TestResult
        ``method="logrank"`` (or ``"logrank_strat"``), ``df=1``; ``counts`` has
        ``observed_<g>``, ``expected_<g>`` (summed over strata), ``n_<g>`` and, stratified,
        ``n_strata``. With no event at all the statistic is 0 and p = 1 (noted).

    Notes
    -----
    Assumes non-informative censoring; most powerful under proportional hazards (within
    strata). R: ``survdiff(Surv(time, event) ~ group)`` and
    ``survdiff(Surv(time, event) ~ group + strata(s))``. SAS: ``PROC LIFETEST; STRATA group``
    (``STRATA s / GROUP=group`` stratified).

    References
    ----------
    Peto R, Peto J. J R Stat Soc A 1972;135:185-207. doi:10.2307/2344317
    """
    t, e = _check_time_event(time, event)
    g = _check_group(group, t.size)
    levels = sorted(set(g.tolist()))
    if len(levels) != 2:
        raise ValueError(f"group must have exactly 2 distinct values, got {levels}")
    if strata is not None:
        return _logrank_stratified(t, e, g, _check_group(strata, t.size), levels)
    counts: dict[str, float | int] = {}
    event_times = np.unique(t[e == 1])
    n_all = np.array([(t >= u).sum() for u in event_times], dtype=float)
    d_all = np.array([((t == u) & (e == 1)).sum() for u in event_times], dtype=float)
    for level in levels:
        sel = g == level
        n_g = np.array([((t >= u) & sel).sum() for u in event_times], dtype=float)
        counts[f"n_{level}"] = int(sel.sum())
        counts[f"observed_{level}"] = int(e[sel].sum())
        counts[f"expected_{level}"] = float(np.sum(d_all * n_g / n_all)) if n_all.size else 0.0
    if event_times.size == 0:
        return TestResult(
            method="logrank",
            statistic=0.0,
            p_value=1.0,
            df=1.0,
            counts=counts,
            notes=("no events: statistic set to 0, p to 1",),
        )
    samples = []
    for level in levels:
        sel = g == level
        samples.append(stats.CensoredData.right_censored(t[sel], e[sel] == 0))
    with np.errstate(invalid="ignore", divide="ignore"):  # zero variance: checked below
        res = stats.logrank(samples[0], samples[1])
    if not np.isfinite(res.statistic):
        return TestResult(
            method="logrank",
            statistic=math.nan,
            p_value=math.nan,
            df=1.0,
            counts=counts,
            notes=("not estimable: the variance of O - E is 0 (no patient of one group at "
                   "risk at any event time)",),
        )
    return TestResult(
        method="logrank",
        statistic=float(res.statistic) ** 2,
        p_value=float(res.pvalue),
        df=1.0,
        counts=counts,
    )


def _logrank_stratified(
    t: FloatArray,
    e: FloatArray,
    g: np.ndarray[Any, np.dtype[np.str_]],
    s: np.ndarray[Any, np.dtype[np.str_]],
    levels: list[str],
) -> TestResult:
    """Stratified two-sample log-rank test (sums of O - E and V over strata)."""
    o_minus_e = 0.0
    var = 0.0
    expected = dict.fromkeys(levels, 0.0)
    strata_names = sorted(set(s.tolist()))
    for name in strata_names:
        sel = s == name
        ts, es, gs = t[sel], e[sel], g[sel]
        for u in np.unique(ts[es == 1]):
            at_risk = ts >= u
            n = float(at_risk.sum())
            d = float(((ts == u) & (es == 1)).sum())
            n_g = {lv: float((at_risk & (gs == lv)).sum()) for lv in levels}
            for lv in levels:
                expected[lv] += d * n_g[lv] / n
            d1 = float(((ts == u) & (es == 1) & (gs == levels[0])).sum())
            o_minus_e += d1 - d * n_g[levels[0]] / n
            if n > 1:
                frac = n_g[levels[0]] / n
                var += d * frac * (1 - frac) * (n - d) / (n - 1)
    counts: dict[str, float | int] = {}
    for lv in levels:
        sel = g == lv
        counts[f"n_{lv}"] = int(sel.sum())
        counts[f"observed_{lv}"] = int(e[sel].sum())
        counts[f"expected_{lv}"] = expected[lv]
    counts["n_strata"] = len(strata_names)
    if var <= 0.0:
        return TestResult(
            method="logrank_strat",
            statistic=0.0,
            p_value=1.0,
            df=1.0,
            counts=counts,
            notes=("no informative event (variance 0): statistic set to 0, p to 1",),
        )
    stat = o_minus_e**2 / var
    return TestResult(
        method="logrank_strat",
        statistic=stat,
        p_value=float(stats.chi2.sf(stat, 1)),
        df=1.0,
        counts=counts,
    )
