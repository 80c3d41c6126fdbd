"""Mixed model for repeated measures (MMRM) with an unstructured covariance, fitted by REML.

The model is the generalised least squares model of ``nlme::gls`` with ``corSymm`` +
``varIdent`` (which together are an unstructured covariance): every patient's vector of
post-baseline outcomes is multivariate normal with mean ``X_i beta`` and covariance ``Sigma``
restricted to the visits the patient has. Patients contribute the visits they have (missing at
random); no imputation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

from myotrial.stats._validate import FloatArray, check_columns, check_conf_level
from myotrial.stats.results import EstimateResult, MMRMResult

__all__ = ["mmrm"]


class _Pattern:
    """Patients sharing one set of observed visits."""

    def __init__(self, visits: np.ndarray[Any, Any], y: FloatArray, x: FloatArray) -> None:
        self.visits = visits  # indices of the observed visits
        self.y = y  # (n, v)
        self.x = x  # (n, v, p)


def _unpack(theta: FloatArray, nv: int) -> FloatArray:
    low = np.zeros((nv, nv))
    low[np.tril_indices(nv)] = theta
    low[np.diag_indices(nv)] = np.exp(np.diag(low))
    return np.asarray(low @ low.T, dtype=float)


def _pack(sigma: FloatArray) -> FloatArray:
    low = np.linalg.cholesky(sigma)
    low[np.diag_indices(sigma.shape[0])] = np.log(np.diag(low))
    return np.asarray(low[np.tril_indices(sigma.shape[0])], dtype=float)


def _gls(
    sigma: FloatArray, patterns: list[_Pattern], p: int
) -> tuple[float, FloatArray, FloatArray, float, float]:
    """-2 REML log-likelihood (without constant), beta, X'V^-1X, sum log|V_i|, quadratic form."""
    a = np.zeros((p, p))
    b = np.zeros(p)
    logdet = 0.0
    cache = []
    for pat in patterns:
        sub = sigma[np.ix_(pat.visits, pat.visits)]
        chol = linalg.cho_factor(sub, lower=True)
        inv = linalg.cho_solve(chol, np.eye(sub.shape[0]))
        logdet += pat.y.shape[0] * 2.0 * float(np.log(np.diag(chol[0])).sum())
        xv = np.einsum("nvp,vw->nwp", pat.x, inv)  # (n, v, p): V^-1 X per patient
        a += np.einsum("nvp,nvq->pq", xv, pat.x)
        b += np.einsum("nvp,nv->p", xv, pat.y)
        cache.append(inv)
    a_chol = linalg.cho_factor(a, lower=True)
    beta = linalg.cho_solve(a_chol, b)
    quad = 0.0
    for pat, inv in zip(patterns, cache, strict=True):
        r = pat.y - np.einsum("nvp,p->nv", pat.x, beta)
        quad += float(np.einsum("nv,vw,nw->", r, inv, r))
    log_a = 2.0 * float(np.log(np.diag(a_chol[0])).sum())
    return logdet + log_a + quad, beta, a, logdet, quad


def _gradient(theta: FloatArray, nv: int, patterns: list[_Pattern], p: int) -> FloatArray:
    """Gradient of -2 REML log-likelihood in the Cholesky parameters (analytic)."""
    sigma = _unpack(theta, nv)
    _, beta, a, _, _ = _gls(sigma, patterns, p)
    a_inv = linalg.inv(a)
    g = np.zeros((nv, nv))
    for pat in patterns:
        idx = pat.visits
        inv = linalg.inv(sigma[np.ix_(idx, idx)])
        r = pat.y - np.einsum("nvp,p->nv", pat.x, beta)
        wr = r @ inv  # (n, v)
        wx = np.einsum("vw,nwp->nvp", inv, pat.x)  # (n, v, p)
        term = pat.y.shape[0] * inv - wr.T @ wr - np.einsum("nvp,pq,nwq->vw", wx, a_inv, wx)
        g[np.ix_(idx, idx)] += term
    low = np.zeros((nv, nv))
    low[np.tril_indices(nv)] = theta
    low[np.diag_indices(nv)] = np.exp(np.diag(low))
    d_low = 2.0 * g @ low
    d_low[np.diag_indices(nv)] *= np.diag(low)
    return np.asarray(d_low[np.tril_indices(nv)], dtype=float)


def _newton_polish(
    theta: FloatArray,
    objective: Callable[[FloatArray], float],
    gradient: Callable[[FloatArray], FloatArray],
    steps: int = 8,
) -> FloatArray:
    """Newton steps with a finite-difference Hessian of the analytic gradient (after BFGS)."""
    best, best_f = theta, objective(theta)
    for _ in range(steps):
        g = gradient(best)
        if float(np.max(np.abs(g))) < 1e-10:
            break
        h = np.empty((theta.size, theta.size))
        for k in range(theta.size):
            e = np.zeros(theta.size)
            e[k] = 1e-5
            h[:, k] = (gradient(best + e) - gradient(best - e)) / 2e-5
        h = (h + h.T) / 2
        try:
            step = linalg.solve(h, g, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            break
        cand = best - step
        f = objective(cand)
        if not f <= best_f + 1e-12:
            break
        best, best_f = cand, f
    return best


def _check_covariance(covariance: Any, labels: list[str]) -> FloatArray:
    if not isinstance(covariance, pd.DataFrame):
        raise ValueError("covariance must be a pandas DataFrame labelled by visit")
    cov = covariance.copy()
    cov.index = [str(i) for i in cov.index]
    cov.columns = [str(c) for c in cov.columns]
    if sorted(cov.index) != sorted(labels) or sorted(cov.columns) != sorted(labels):
        raise ValueError(f"covariance must have rows and columns {labels}, got {list(cov.index)}")
    sigma = cov.loc[labels, labels].to_numpy(dtype=float)
    if not np.allclose(sigma, sigma.T, rtol=0, atol=1e-12 * float(np.abs(sigma).max())):
        raise ValueError("covariance must be symmetric")
    if float(np.linalg.eigvalsh(sigma).min()) <= 0:
        raise ValueError("covariance must be positive definite")
    return sigma


def _estimate_sigma(
    start: FloatArray, nv: int, patterns: list[_Pattern], p: int, notes: list[str]
) -> FloatArray:
    """REML estimate of the unstructured covariance (BFGS + Newton polish)."""

    def objective(theta: FloatArray) -> float:
        try:
            return _gls(_unpack(theta, nv), patterns, p)[0]
        except (linalg.LinAlgError, ValueError):
            return math.inf

    def gradient(theta: FloatArray) -> FloatArray:
        return _gradient(theta, nv, patterns, p)

    res = optimize.minimize(
        objective, _pack(start), jac=gradient, method="BFGS",
        options={"gtol": 1e-8, "maxiter": 5000},
    )
    theta = _newton_polish(res.x, objective, gradient)
    grad = float(np.max(np.abs(gradient(theta))))
    if grad > 1e-4:
        notes.append(f"REML optimisation may not have converged (max |gradient| {grad:.2g})")
    return _unpack(theta, nv)


def mmrm(
    data: pd.DataFrame,
    *,
    subject: str,
    visit: str,
    arm: str,
    outcome: str,
    baseline: str | None,
    treatment: str,
    control: str,
    visits: Sequence[Any] | None = None,
    baseline_by_visit: bool = True,
    strata: str | None = None,
    conf_level: float = 0.95,
    covariance: pd.DataFrame | None = None,
) -> MMRMResult:
    r"""MMRM: per-visit treatment differences from a REML fit with unstructured covariance.

    Model for patient i at visit v:
    :math:`y_{iv} = \mu_v + \tau_v\,\mathrm{trt}_i [+ \gamma\,b_i [+ \gamma_v b_i]]
    [+ \text{stratum}] + \varepsilon_{iv}` (the baseline terms only with ``baseline``),
    :math:`\varepsilon_i \sim N(0, \Sigma)` with
    :math:`\Sigma` unstructured (visits x visits; in ``nlme`` terms ``corSymm`` correlation +
    ``varIdent`` variances per visit). :math:`\Sigma` maximises the restricted (REML)
    log-likelihood
    :math:`-\tfrac12[\sum_i \log|\Sigma_i| + \log|X'V^{-1}X| + r'V^{-1}r + (N-p)\log 2\pi]`
    (Cholesky parameters, BFGS from the pairwise residual covariance of OLS); :math:`\beta`
    is the GLS estimate with covariance :math:`(X'V^{-1}X)^{-1}`. The treatment difference at
    visit v is :math:`\hat\tau_v` with a t interval and test on the residual df N - p
    (N observations, p fixed effects), exactly what ``summary(nlme::gls)`` uses. Kenward-Roger
    and Satterthwaite df (``mmrm``, SAS ``DDFM=KR``) are not implemented: with ~45 patients per
    arm and 4 visits the residual df is larger, so intervals are slightly narrower.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per patient and post-baseline visit; rows with a missing outcome
        are dropped (the patient keeps the other visits). Baseline, arm and strata must not be
        missing.
    subject, visit, arm, outcome : str
        Column names.
    baseline : str or None
        Column with the patient's baseline value (same on every row), or ``None`` (required
        keyword, so it is never left out by accident) for no baseline covariate: the model is
        then visit + treatment-by-visit [+ stratum], e.g. for the TIS, which is itself a change
        score and has no baseline value.
    treatment, control : str
        Arm codes; the difference is treatment minus control.
    visits : sequence, optional
        Visits to model, in order (default: sorted unique values of ``visit``).
    baseline_by_visit : bool
        Include the baseline-by-visit interaction (default True, as the usual MMRM
        specification; False gives one common baseline slope). Ignored without ``baseline``.
    strata : str, optional
        Column with a stratification factor, added as a main effect.
    conf_level : float
        Two-sided confidence level, default 0.95.
    covariance : pandas.DataFrame, optional
        Fix :math:`\Sigma` instead of estimating it (rows and columns labelled by the visits
        as text), e.g. to reproduce another program's fit; the GLS estimates and their
        covariance are then computed at that :math:`\Sigma`. Default: REML estimate.

    Returns
    -------
    MMRMResult
        ``differences`` per visit, ``estimates`` as :class:`EstimateResult`
        (``method="mmrm_us"``), the covariance matrix and fixed effects.

    Notes
    -----
    Assumptions: multivariate normal outcomes, missing at random given the observed outcomes
    and covariates, the same covariance in both arms. R: ``nlme::gls(y ~ visit + visit:trt +
    base + base:visit`` (without baseline ``y ~ visit + visit:trt``), ``correlation =
    corSymm(form = ~ as.integer(visit) | id), weights = varIdent(form = ~ 1 | visit), method =
    "REML", na.action = na.omit)``; SAS: ``PROC MIXED METHOD=REML; CLASS id visit arm; MODEL y
    = visit arm*visit base base*visit / DDFM=RES; REPEATED visit / SUBJECT=id TYPE=UN``
    (without baseline: ``MODEL y = visit arm*visit``).

    References
    ----------
    Mallinckrodt CH, Lane PW, Schnell D, Peng Y, Mancuso JP. Drug Inf J 2008;42:303-19.
    doi:10.1177/009286150804200402
    Pinheiro JC, Bates DM. Mixed-Effects Models in S and S-PLUS. Springer; 2000.
    doi:10.1007/b98882
    """
    level = check_conf_level(conf_level)
    if baseline is not None and not isinstance(baseline, str):
        raise ValueError(f"baseline={baseline!r} must be a column name or None")
    base_cols = [baseline] if baseline is not None else []
    cols = [subject, visit, arm, outcome, *base_cols] + ([strata] if strata else [])
    check_columns(data, "data", cols)
    if str(treatment) == str(control):
        raise ValueError(f"treatment and control must differ, both are {treatment!r}")
    if not isinstance(baseline_by_visit, bool):
        raise ValueError(f"baseline_by_visit={baseline_by_visit!r} must be True or False")
    frame = data[cols].copy()
    arms = frame[arm].astype(str)
    bad = sorted(set(arms) - {str(treatment), str(control)})
    if bad:
        raise ValueError(f"column {arm!r} has values other than {treatment!r}/{control!r}: {bad}")
    for col in [subject, visit, arm, *base_cols] + ([strata] if strata else []):
        if frame[col].isna().any():
            rows = np.flatnonzero(frame[col].isna().to_numpy())[:5].tolist()
            raise ValueError(f"column {col!r} has missing values at rows {rows}")
    if frame.duplicated([subject, visit]).any():
        dup = frame.loc[frame.duplicated([subject, visit]), [subject, visit]].head(5)
        raise ValueError(f"more than one row per subject and visit: {dup.to_dict('records')}")
    visit_levels = list(visits) if visits is not None else sorted(frame[visit].unique().tolist())
    unknown = sorted({str(v) for v in frame[visit]} - {str(v) for v in visit_levels})
    if unknown:
        raise ValueError(f"column {visit!r} has visits not in visits={visit_levels}: {unknown}")
    nv = len(visit_levels)
    if nv < 2:
        raise ValueError(f"MMRM needs at least 2 visits, got {visit_levels}")
    arm_per_subject = frame.groupby(subject)[arm].nunique()
    if (arm_per_subject > 1).any():
        raise ValueError(
            f"arm differs between rows of subject(s) "
            f"{arm_per_subject[arm_per_subject > 1].index[:5].tolist()}"
        )
    if baseline is not None:
        base_per_subject = frame.groupby(subject)[baseline].nunique()
        if (base_per_subject > 1).any():
            raise ValueError(
                f"baseline differs between rows of subject(s) "
                f"{base_per_subject[base_per_subject > 1].index[:5].tolist()}"
            )
    frame = frame[frame[outcome].notna()].copy()
    try:
        y_all = frame[outcome].to_numpy(dtype=float)
        b_all = (frame[baseline].to_numpy(dtype=float) if baseline is not None
                 else np.zeros(y_all.size))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"outcome and baseline must be numeric: {exc}") from None
    if not (np.isfinite(y_all).all() and np.isfinite(b_all).all()):
        raise ValueError("outcome and baseline must be finite")
    vidx = np.array([[str(v) for v in visit_levels].index(str(v)) for v in frame[visit]])
    trt = (frame[arm].astype(str) == str(treatment)).to_numpy(dtype=float)

    # fixed-effects design: visit means, trt x visit, [baseline (x visit)], strata
    names = [f"visit={v}" for v in visit_levels] + [f"trt:visit={v}" for v in visit_levels]
    blocks = [np.eye(nv)[vidx], np.eye(nv)[vidx] * trt[:, None]]
    if baseline is not None:
        blocks.append(b_all[:, None])
        names.append("baseline")
        if baseline_by_visit:
            blocks.append(np.eye(nv)[vidx][:, 1:] * b_all[:, None])
            names += [f"baseline:visit={v}" for v in visit_levels[1:]]
    if strata:
        levels = sorted(frame[strata].astype(str).unique().tolist())
        s = frame[strata].astype(str).to_numpy()
        for lv in levels[1:]:
            blocks.append((s == lv).astype(float)[:, None])
            names.append(f"{strata}={lv}")
    x_all = np.column_stack(blocks)
    p = x_all.shape[1]
    n_obs = y_all.size
    if np.linalg.matrix_rank(x_all) < p:
        raise ValueError(
            "fixed effects are not estimable (a visit without patients in one arm, or a "
            "constant baseline)"
        )
    if n_obs - p < 1:
        raise ValueError(f"too few observations ({n_obs}) for {p} fixed effects")

    # patterns of observed visits
    subj = frame[subject].astype(str).to_numpy()
    order = np.lexsort((vidx, subj))
    subj, vidx_s, y_s, x_s = subj[order], vidx[order], y_all[order], x_all[order]
    _, starts = np.unique(subj, return_index=True)
    bounds = [*starts.tolist(), subj.size]
    groups: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for k in range(len(starts)):
        lo, hi = bounds[k], bounds[k + 1]
        groups.setdefault(tuple(vidx_s[lo:hi].tolist()), []).append((lo, hi))
    patterns = []
    for key, spans in groups.items():
        rows = np.array([list(range(lo, hi)) for lo, hi in spans])
        patterns.append(_Pattern(np.array(key), y_s[rows], x_s[rows]))
    seen = {v for key in groups for v in key}
    if len(seen) < nv:
        empty = [visit_levels[i] for i in range(nv) if i not in seen]
        raise ValueError(f"visits without any observation: {empty}")

    # start: pairwise covariance of OLS residuals (made positive definite)
    beta_ols, *_ = np.linalg.lstsq(x_all, y_all, rcond=None)
    resid = pd.DataFrame({"s": frame[subject].astype(str).to_numpy(), "v": vidx,
                          "r": y_all - x_all @ beta_ols})
    wide = resid.pivot(index="s", columns="v", values="r").reindex(columns=range(nv))
    start = wide.cov(min_periods=2).to_numpy()
    var0 = np.nanvar(resid["r"].to_numpy()) or 1.0
    start = np.where(np.isfinite(start), start, 0.0)
    start[np.diag_indices(nv)] = np.where(np.diag(start) > 0, np.diag(start), var0)
    eig_min = float(np.linalg.eigvalsh(start).min())
    if eig_min <= 1e-8 * float(np.diag(start).max()):
        start = start + (abs(eig_min) + 1e-3 * float(np.diag(start).mean())) * np.eye(nv)

    labels = [str(v) for v in visit_levels]
    notes: list[str] = []
    if baseline is None:
        notes.append("no baseline covariate: visit + treatment-by-visit fixed effects")
    if covariance is not None:
        sigma = _check_covariance(covariance, labels)
        notes.append("covariance fixed by the caller (not estimated)")
    else:
        sigma = _estimate_sigma(start, nv, patterns, p, notes)
    m2ll, beta, a, _, _ = _gls(sigma, patterns, p)
    cov_beta = linalg.inv(a)

    df = float(n_obs - p)
    tcrit = float(stats.t.ppf(0.5 + level / 2, df))
    rows = []
    estimates: dict[str, EstimateResult] = {}
    for j, v in enumerate(visit_levels):
        k = nv + j
        est, se = float(beta[k]), float(math.sqrt(cov_beta[k, k]))
        tstat = est / se
        pval = float(2 * stats.t.sf(abs(tstat), df))
        at_v = vidx == j
        n1 = int(np.unique(frame[subject].to_numpy()[at_v & (trt == 1)]).size)
        n2 = int(np.unique(frame[subject].to_numpy()[at_v & (trt == 0)]).size)
        rows.append({"visit": v, "estimate": est, "std_error": se, "df": df, "statistic": tstat,
                     "p_value": pval, "lower": est - tcrit * se, "upper": est + tcrit * se,
                     "n1": n1, "n2": n2})
        estimates[str(v)] = EstimateResult(
            effect="mean_difference",
            method="mmrm_us",
            estimate=est,
            lower=est - tcrit * se,
            upper=est + tcrit * se,
            conf_level=level,
            p_value=pval,
            std_error=se,
            df=df,
            counts={"n1": n1, "n2": n2},
        )
    fixed = pd.DataFrame({"term": names, "estimate": beta,
                          "std_error": np.sqrt(np.diag(cov_beta))})
    return MMRMResult(
        method="mmrm_us",
        differences=pd.DataFrame(rows),
        estimates=estimates,
        fixed_effects=fixed,
        covariance=pd.DataFrame(sigma, index=labels, columns=labels),
        reml_loglik=-0.5 * (m2ll + (n_obs - p) * math.log(2 * math.pi)),
        conf_level=level,
        n_subjects=len(starts),
        n_observations=n_obs,
        df_method="residual",
        notes=tuple(notes),
    )
