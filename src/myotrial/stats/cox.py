"""Cox proportional-hazards regression (Efron or Breslow ties, optional strata) with the
proportional-hazards check of ``survival::cox.zph`` (survival >= 3.0).

Written here with numpy/scipy (Newton-Raphson on the log partial likelihood): lifelines pins
pandas < 3, and statsmodels' ``PHReg`` has no score test, likelihood-ratio test or PH check in
the form R reports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, stats

from myotrial.stats._validate import FloatArray, check_conf_level, check_numeric_array
from myotrial.stats.results import CoxResult, EstimateResult, PHTestResult, TestResult
from myotrial.stats.survival import _check_group, _check_time_event

__all__ = ["COX_TIES", "cox_ph", "hazard_ratio"]

#: Tie handling accepted by :func:`cox_ph` (R's ``ties`` argument).
COX_TIES = ("efron", "breslow")

ArrayLike = Sequence[float] | np.ndarray[Any, Any] | pd.Series


@dataclass(frozen=True)
class _EventTime:
    """One distinct event time within one stratum: risk-set and death-set row indices."""

    risk: np.ndarray[Any, np.dtype[np.intp]]
    dead: np.ndarray[Any, np.dtype[np.intp]]
    time: float


def _event_times(t: FloatArray, e: FloatArray, s: np.ndarray[Any, Any]) -> list[_EventTime]:
    out = []
    for name in sorted(set(s.tolist())):
        idx = np.flatnonzero(s == name)
        ts, es = t[idx], e[idx]
        for u in np.unique(ts[es == 1]):
            out.append(
                _EventTime(risk=idx[ts >= u], dead=idx[(ts == u) & (es == 1)], time=float(u))
            )
    return out


def _contributions(
    beta: FloatArray, x: FloatArray, times: list[_EventTime], efron: bool
) -> tuple[float, FloatArray, FloatArray]:
    """Log partial likelihood, and per-event-time score and information contributions."""
    p = x.shape[1]
    eta = x @ beta
    shift = float(eta.max()) if eta.size else 0.0
    w = np.exp(eta - shift)
    loglik = 0.0
    u_t = np.zeros((len(times), p))
    v_t = np.zeros((len(times), p, p))
    for k, et in enumerate(times):
        xr, wr = x[et.risk], w[et.risk]
        xd, wd = x[et.dead], w[et.dead]
        s0, s1, s2 = wr.sum(), wr @ xr, (xr * wr[:, None]).T @ xr
        d0, d1, d2 = wd.sum(), wd @ xd, (xd * wd[:, None]).T @ xd
        nd = et.dead.size
        loglik += float((eta[et.dead] - shift).sum())
        u = xd.sum(axis=0)
        v = np.zeros((p, p))
        for ell in range(nd):
            f = ell / nd if efron else 0.0
            a0, a1, a2 = s0 - f * d0, s1 - f * d1, s2 - f * d2
            loglik -= math.log(a0)
            mean = a1 / a0
            u = u - mean
            v = v + a2 / a0 - np.outer(mean, mean)
        u_t[k] = u
        v_t[k] = v
    return loglik, u_t, v_t


#: Divergence rule after ``survival:::coxph.fit`` (``toler.inf = sqrt(eps)``, eps = 1e-9): once
#: the log-likelihood has converged, a coefficient whose next Newton step is still above
#: ``TOLER_INF`` x |coefficient| (and above 1e-3 - R uses 1e-9, but our log-likelihood criterion
#: is tighter, so a regular fit can stop with a step of ~1e-6) is going to infinity (monotone
#: likelihood: there the Newton step tends to a constant, about 1).
TOLER_INF = math.sqrt(1e-9)


def _fit(
    x: FloatArray, times: list[_EventTime], efron: bool, max_iter: int = 100
) -> tuple[FloatArray, float, FloatArray, int, np.ndarray[Any, np.dtype[np.bool_]]]:
    """Newton-Raphson with step halving; returns beta, loglik, information, iterations and the
    terms whose coefficient diverges (monotone likelihood; all False after convergence)."""
    p = x.shape[1]
    beta = np.zeros(p)
    loglik, u_t, v_t = _contributions(beta, x, times, efron)
    info = v_t.sum(axis=0)
    none = np.zeros(p, dtype=bool)
    it = 0
    for it in range(1, max_iter + 1):
        try:
            step = linalg.solve(info, u_t.sum(axis=0), assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            break
        if float(np.max(np.abs(beta + step))) > 200.0:  # hazard ratio beyond e^200
            break
        new = beta + step
        new_ll, new_u, new_v = _contributions(new, x, times, efron)
        halvings = 0
        while new_ll < loglik - 1e-12 and halvings < 30:
            step = step / 2
            new = beta + step
            new_ll, new_u, new_v = _contributions(new, x, times, efron)
            halvings += 1
        small_change = abs(new_ll - loglik) <= 1e-13 * max(1.0, abs(loglik))
        done = small_change and float(np.max(np.abs(step))) < 1e-10
        beta, loglik, u_t, v_t = new, new_ll, new_u, new_v
        info = v_t.sum(axis=0)
        if done:
            return beta, loglik, info, it, none
        if small_change:
            diverging = _diverging(beta, info, u_t.sum(axis=0))
            if diverging.any():
                return beta, loglik, info, it, diverging
    diverging = _diverging(beta, info, u_t.sum(axis=0))
    if diverging.any():
        return beta, loglik, info, it, diverging
    raise ValueError(
        f"Cox model did not converge in {max_iter} iterations; beta = "
        f"{np.array2string(beta, precision=4)}"
    )


def _diverging(
    beta: FloatArray, info: FloatArray, score: FloatArray
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Terms still moving after the log-likelihood converged (R's ``coxph.fit`` rule); when
    the information cannot be inverted any more, the terms with |beta| > 10."""
    try:
        nxt = np.abs(linalg.solve(info, score, assume_a="pos"))
    except (linalg.LinAlgError, ValueError):
        return np.asarray(np.abs(beta) > 10.0)
    if not np.isfinite(nxt).all():
        return np.asarray(np.abs(beta) > 10.0)
    return np.asarray((nxt > 1e-3) & (nxt > TOLER_INF * np.abs(beta)))


def _km_transform(t: FloatArray, e: FloatArray) -> FloatArray:
    """1 - KM(t-) of all patients (strata ignored), as cox.zph(transform = "km")."""
    out = np.empty(t.size)
    event_times = np.unique(t[e == 1])
    surv = np.ones(event_times.size)
    s = 1.0
    for k, u in enumerate(event_times):
        n = float((t >= u).sum())
        d = float(((t == u) & (e == 1)).sum())
        s *= 1.0 - d / n
        surv[k] = s
    for i, ti in enumerate(t):
        k = int(np.searchsorted(event_times, ti, side="left"))  # event times strictly < ti
        out[i] = 1.0 - (1.0 if k == 0 else surv[k - 1])
    return out


def _ph_not_estimable(terms: list[str], reason: str) -> PHTestResult:
    rows = [{"term": t, "chisq": math.nan, "df": 1, "p_value": math.nan} for t in terms]
    rows.append({"term": "GLOBAL", "chisq": math.nan, "df": len(terms), "p_value": math.nan})
    return PHTestResult(method="cox_zph", transform="km", table=pd.DataFrame(rows),
                        not_estimable=reason)


def _solve_checked(a: FloatArray, b: FloatArray) -> float:
    """b' a^-1 b, refusing (LinAlgError) where R's ``solve()`` stops: an exactly singular
    matrix or a reciprocal condition number below the machine epsilon."""
    if a.size and 1.0 / np.linalg.cond(a, 1) < np.finfo(float).eps:
        raise linalg.LinAlgError("singular")
    return float(b @ linalg.solve(a, b))


def _zph(
    beta: FloatArray,
    x: FloatArray,
    t: FloatArray,
    e: FloatArray,
    times: list[_EventTime],
    efron: bool,
    terms: list[str],
) -> PHTestResult:
    """Score test of the extended model beta + theta * g(t) at (beta_hat, 0).

    Not estimable (NaN rows and the reason, never an exception) where R's ``cox.zph`` stops
    with "system is exactly singular" (or computationally singular): when g(t) takes a single
    value over the event times (every event on the same day) its centred value is 0, so the
    extended model's information matrix has zero rows.
    """
    g_all = _km_transform(t, e)
    g_all = g_all - g_all[e == 1].mean()
    _, u_t, v_t = _contributions(beta, x, times, efron)
    g = np.array([g_all[et.dead[0]] for et in times])
    if float(np.ptp(g)) <= 1e-12:
        return _ph_not_estimable(
            terms,
            "not estimable: the transformed time g(t) = 1 - KM(t-) is the same for every "
            "event (all events at one time), so the extended model's information matrix is "
            "singular (R's cox.zph stops: system is exactly singular)",
        )
    p = x.shape[1]
    u_gamma = (g[:, None] * u_t).sum(axis=0)
    i11 = v_t.sum(axis=0)
    i12 = (g[:, None, None] * v_t).sum(axis=0)
    i22 = (g[:, None, None] ** 2 * v_t).sum(axis=0)
    imat = np.block([[i11, i12], [i12.T, i22]])
    rows = []
    try:
        for j, term in enumerate(terms):
            kk = [*range(p), p + j]
            u = np.concatenate([np.zeros(p), [u_gamma[j]]])
            chisq = _solve_checked(imat[np.ix_(kk, kk)], u)
            rows.append({"term": term, "chisq": chisq, "df": 1,
                         "p_value": float(stats.chi2.sf(chisq, 1))})
        u = np.concatenate([np.zeros(p), u_gamma])
        chisq = _solve_checked(imat, u)
    except (linalg.LinAlgError, ValueError):
        return _ph_not_estimable(
            terms,
            "not estimable: the information matrix of the extended model beta + theta g(t) is "
            "singular (R's cox.zph stops: system is singular)",
        )
    rows.append({"term": "GLOBAL", "chisq": chisq, "df": p,
                 "p_value": float(stats.chi2.sf(chisq, p))})
    return PHTestResult(method="cox_zph", transform="km", table=pd.DataFrame(rows))


def _covariate_matrix(covariates: Any, size: int) -> tuple[FloatArray, list[str]]:
    if isinstance(covariates, pd.DataFrame):
        names = [str(c) for c in covariates.columns]
        cols = [check_numeric_array(f"covariates[{c!r}]", covariates[c]) for c in covariates]
        x = np.column_stack(cols) if cols else np.empty((size, 0))
    else:
        arr = np.asarray(covariates, dtype=float)
        if arr.ndim == 1:
            arr = check_numeric_array("covariates", arr)[:, None]
        elif arr.ndim != 2:
            raise ValueError(f"covariates must be 1-D or 2-D, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("covariates has missing or infinite values")
        x = arr
        names = [f"x{i + 1}" for i in range(x.shape[1])] if x.shape[1] > 1 else ["x"]
    if x.shape[0] != size:
        raise ValueError(f"covariates has {x.shape[0]} rows for {size} times")
    if x.shape[1] == 0:
        raise ValueError("covariates has no column: at least one term is needed")
    if np.linalg.matrix_rank(x - x.mean(axis=0)) < x.shape[1]:
        raise ValueError(f"covariates {names} are collinear or constant")
    return x, names


def cox_ph(
    time: ArrayLike,
    event: ArrayLike,
    covariates: pd.DataFrame | ArrayLike,
    *,
    strata: ArrayLike | None = None,
    ties: str = "efron",
    conf_level: float = 0.95,
) -> CoxResult:
    r"""Cox proportional-hazards regression with Wald, score and likelihood-ratio tests.

    Maximises the log partial likelihood
    :math:`\ell(\beta) = \sum_j [\sum_{i \in D_j} \eta_i - \sum_{l=0}^{d_j-1}
    \log(\sum_{R_j} e^{\eta} - \tfrac{l}{d_j}\sum_{D_j} e^{\eta})]`, :math:`\eta = x'\beta`
    (Efron; Breslow drops the :math:`l/d_j` term), summed over strata with separate baseline
    hazards, by Newton-Raphson with step halving from :math:`\beta = 0` until the change in
    :math:`\ell` is below 1e-13 relative and the step below 1e-10. Hazard ratios
    :math:`e^{\hat\beta}` with Wald limits :math:`e^{\hat\beta \pm z\, se}`, se from the inverse
    information :math:`I(\hat\beta)^{-1}`. Global tests (df = number of terms): Wald
    :math:`\hat\beta' I(\hat\beta) \hat\beta`; score :math:`U(0)' I(0)^{-1} U(0)` (for a
    single binary covariate without tied event times, the (stratified) log-rank test);
    likelihood ratio :math:`2[\ell(\hat\beta) - \ell(0)]`.

    The proportional-hazards check (``ph_test``) is ``cox.zph(transform = "km")`` of survival
    >= 3.0: the score test, at :math:`(\hat\beta, 0)`, of :math:`\theta` in
    :math:`\beta(t) = \beta + \theta g(t)`, :math:`g(t) = 1 - \hat S(t-)` (Kaplan-Meier of all
    patients, strata ignored) centred at its mean over events; per term (1 df, the other
    time-varying terms left out) and global (df = terms). Where R's ``cox.zph`` stops with
    "system is exactly/computationally singular" (e.g. every event on the same day: g(t) is
    constant over the events, so theta has no information) the check is returned not estimable
    (``ph_test.not_estimable`` gives the reason, NaN statistics); the hazard ratio is
    unaffected.

    Monotone likelihood (e.g. no event in one arm): once the log-likelihood has converged, a
    coefficient whose next Newton step is still above ``TOLER_INF`` x |coefficient| (R's
    ``coxph.fit`` rule) diverges. The model is then returned flagged (``not_estimable``, a
    note): the diverging terms get ``coef`` +/-inf, hazard ratio inf or 0, NaN SE, z, p and
    limits; the Wald test is NaN; the score test and the likelihood-ratio test (at the
    supremum) are reported as usual; the PH check is not estimable. R instead warns
    "coefficient may be infinite" and prints a huge finite coefficient.

    Parameters
    ----------
    time : array-like of float
        Follow-up time (>= 0).
    event : array-like of 0/1
        1 = event, 0 = right-censored.
    covariates : pandas.DataFrame or array-like
        Numeric terms, one column each (a 1-D array is one term ``x``); code factors as 0/1
        columns. No missing values.
    strata : array-like, optional
        Stratum per patient (``strata(s)`` in R): separate baseline hazard per stratum.
    ties : str
        ``"efron"`` (default, as R) or ``"breslow"`` (SAS PHREG's default).
    conf_level : float
        Two-sided confidence level, default 0.95.

    Returns
    -------
    CoxResult
        ``method`` is ``cox_efron`` or ``cox_breslow``; ``hazard_ratio`` is the first term;
        ``not_estimable`` is ``None`` unless the likelihood is monotone (see above).

    Raises
    ------
    ValueError
        Bad inputs, no events, collinear covariates, or no convergence in 100 iterations
        without a diverging coefficient.

    Notes
    -----
    Assumptions: proportional hazards (within strata), log-linear covariate effects,
    non-informative censoring. Robust (sandwich) variances, time-varying covariates and
    weights are not implemented. R: ``coxph(Surv(time, event) ~ x + strata(s), ties =
    "efron")``, ``summary()$waldtest / $sctest / $logtest``, ``cox.zph(fit)``. SAS:
    ``PROC PHREG; MODEL time*event(0) = x / TIES=EFRON RL; STRATA s``.

    References
    ----------
    Cox DR. J R Stat Soc B 1972;34:187-220. doi:10.1111/j.2517-6161.1972.tb00899.x
    Efron B. J Am Stat Assoc 1977;72:557-65. doi:10.1080/01621459.1977.10480613
    Breslow N. Biometrics 1974;30:89-99. doi:10.2307/2529620
    Grambsch PM, Therneau TM. Biometrika 1994;81:515-26. doi:10.1093/biomet/81.3.515
    """
    if ties not in COX_TIES:
        raise ValueError(f"ties={ties!r}; valid: {', '.join(COX_TIES)}")
    level = check_conf_level(conf_level)
    t, e = _check_time_event(time, event)
    x, names = _covariate_matrix(covariates, t.size)
    s = np.zeros(t.size, dtype=str) if strata is None else _check_group(strata, t.size)
    if e.sum() == 0:
        raise ValueError("no events: a Cox model needs at least one event")
    efron = ties == "efron"
    times = _event_times(t, e, s)
    ll0, u0_t, v0_t = _contributions(np.zeros(x.shape[1]), x, times, efron)
    u0, i0 = u0_t.sum(axis=0), v0_t.sum(axis=0)
    beta, ll, info, iterations, diverging = _fit(x, times, efron)
    p = x.shape[1]
    ok = ~diverging
    cov = np.full((p, p), math.nan)
    cov[np.ix_(ok, ok)] = linalg.inv(info[np.ix_(ok, ok)])
    se = np.sqrt(np.diag(cov))
    z = float(stats.norm.ppf(0.5 + level / 2))
    # a diverging coefficient is reported as +/-inf (the sign of its last iterate); the
    # multiplication is only evaluated where it diverges (0 * inf would be NaN elsewhere)
    coef_values = beta.astype(float).copy()
    coef_values[diverging] = np.sign(beta[diverging]) * math.inf
    with np.errstate(invalid="ignore"):
        zstat = beta / se
    pvals = 2 * stats.norm.sf(np.abs(zstat))
    coef = pd.DataFrame(
        {
            "term": names,
            "coef": coef_values,
            "hazard_ratio": np.exp(coef_values),
            "std_error": se,
            "z": zstat,
            "p_value": pvals,
            "lower": np.exp(beta - z * se),
            "upper": np.exp(beta + z * se),
        }
    )
    notes: tuple[str, ...] = ()
    reason = None
    if diverging.any():
        bad = [n for n, d in zip(names, diverging, strict=True) if d]
        reason = (
            f"monotone likelihood: the coefficient of {', '.join(bad)} diverges (hazard "
            "ratio 0 or infinite; R warns 'coefficient may be infinite')"
        )
        notes = (f"not estimable ({reason})",)
        wald_stat = math.nan
    else:
        wald_stat = float(beta @ info @ beta)
    score_stat = float(u0 @ linalg.solve(i0, u0))
    lrt_stat = 2.0 * (ll - ll0)
    n_events = int(e.sum())
    base: dict[str, float | int] = {"n": int(t.size), "n_events": n_events}

    def test(stat: float) -> TestResult:
        return TestResult(
            method=f"cox_{ties}", statistic=stat, p_value=float(stats.chi2.sf(stat, p)),
            df=float(p), counts=base, notes=notes if math.isnan(stat) else (),
        )

    hr = EstimateResult(
        effect="hazard_ratio",
        method=f"cox_{ties}",
        estimate=float(coef["hazard_ratio"].iloc[0]),
        lower=float(coef["lower"].iloc[0]),
        upper=float(coef["upper"].iloc[0]),
        conf_level=level,
        p_value=None if diverging[0] else float(pvals[0]),
        std_error=None if diverging[0] else float(se[0]),
        counts=base,
        notes=notes,
    )
    ph_test = (
        _zph(beta, x, t, e, times, efron, names) if reason is None
        else _ph_not_estimable(names, f"not estimable: the Cox model is not ({reason})")
    )
    return CoxResult(
        method=f"cox_{ties}",
        coefficients=coef,
        hazard_ratio=hr,
        wald=test(wald_stat),
        score=test(score_stat),
        lrt=test(lrt_stat),
        loglik_null=ll0,
        loglik=ll,
        covariance=pd.DataFrame(cov, index=names, columns=names),
        conf_level=level,
        n=int(t.size),
        n_events=n_events,
        n_strata=len(set(s.tolist())),
        iterations=iterations,
        ph_test=ph_test,
        notes=notes,
        not_estimable=reason,
    )


def hazard_ratio(
    time: ArrayLike,
    event: ArrayLike,
    group: ArrayLike,
    *,
    treatment: str,
    control: str,
    strata: ArrayLike | None = None,
    covariates: pd.DataFrame | None = None,
    ties: str = "efron",
    conf_level: float = 0.95,
) -> CoxResult:
    """Hazard ratio treatment vs control from a Cox model (:func:`cox_ph`), first term ``arm``.

    Parameters
    ----------
    time, event : array-like
        As in :func:`cox_ph`.
    group : array-like
        Arm per patient; every value must be ``treatment`` or ``control`` (compared as text).
    treatment, control : str
        Arm codes; the indicator ``arm`` is 1 for ``treatment``, so the hazard ratio is
        treatment / control.
    strata : array-like, optional
        Stratification factor (separate baseline hazards).
    covariates : pandas.DataFrame, optional
        Further numeric adjustment terms (same rows).
    ties : str
        ``"efron"`` (default) or ``"breslow"``.
    conf_level : float
        Two-sided confidence level, default 0.95.

    Returns
    -------
    CoxResult
        ``hazard_ratio`` is the treatment effect. With no events in one arm the result is
        flagged ``not_estimable = "monotone likelihood: no events in one arm (<arm> has
        none)"`` (hazard ratio 0 or inf, no interval or Wald p; score = log-rank and LR tests
        kept) instead of raising.

    Notes
    -----
    R: ``coxph(Surv(time, event) ~ arm + strata(s))`` with ``arm`` a factor whose reference
    level is the control. SAS: ``PROC PHREG; CLASS arm(REF='control'); MODEL time*event(0) =
    arm / RL; STRATA s``.

    References
    ----------
    Cox DR. J R Stat Soc B 1972;34:187-220. doi:10.1111/j.2517-6161.1972.tb00899.x
    """
    if str(treatment) == str(control):
        raise ValueError(f"treatment and control must differ, both are {treatment!r}")
    t, _ = _check_time_event(time, event)
    g = _check_group(group, t.size)
    bad = sorted(set(g.tolist()) - {str(treatment), str(control)})
    if bad:
        raise ValueError(f"group has values other than {treatment!r}/{control!r}: {bad}")
    arm = (g == str(treatment)).astype(float)
    frame = pd.DataFrame({"arm": arm})
    if covariates is not None:
        if not isinstance(covariates, pd.DataFrame):
            raise ValueError("covariates must be a pandas DataFrame")
        if "arm" in covariates.columns:
            raise ValueError("covariates must not have a column named 'arm'")
        frame = pd.concat([frame, covariates.reset_index(drop=True)], axis=1)
    res = cox_ph(time, event, frame, strata=strata, ties=ties, conf_level=conf_level)
    if res.estimable or not np.isinf(res.coefficients["coef"].iloc[0]):
        return res
    _, e = _check_time_event(time, event)
    empty = [a for a in (str(treatment), str(control)) if e[g == a].sum() == 0]
    if not empty:
        return res
    reason = f"monotone likelihood: no events in one arm ({empty[0]} has none)"
    note = f"not estimable ({reason})"
    return replace(
        res,
        not_estimable=reason,
        notes=(note,),
        hazard_ratio=replace(res.hazard_ratio, notes=(note,)),
        wald=replace(res.wald, notes=(note,)),
        ph_test=replace(res.ph_test,
                        not_estimable=f"not estimable: the Cox model is not ({reason})"),
    )
