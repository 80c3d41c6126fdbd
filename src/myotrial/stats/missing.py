"""Missing-data sensitivity analyses for a binary TIS responder endpoint.

* :func:`bounded_tis` - lowest and highest achievable TIS when core set measures are missing;
  response decided only where both bounds agree.
* :func:`impute_chained`, :func:`mi_risk_difference`, :func:`rubin_pool` - multiple imputation
  of missing measures by chained equations (predictive mean matching), by arm and seeded, with
  Rubin's rules for the risk difference.
* :func:`tipping_point`, :func:`tipping_point_grid` - every number (or a grid of imputed
  response rates, ``grid_step``) of missing week-16 outcomes imputed as responders per arm, the
  risk difference and p-value per cell, and where the conclusion changes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from myotrial.rules import TISRules, load_tis_rules
from myotrial.stats._validate import (
    FloatArray,
    check_binomial,
    check_columns,
    check_conf_level,
    check_count,
)
from myotrial.stats.binary import RISK_DIFFERENCE_METHODS, chisq_test, fisher_exact_test
from myotrial.stats.binary import risk_difference as _risk_difference
from myotrial.stats.methods import validate_method
from myotrial.stats.results import EstimateResult, TippingPointResult
from myotrial.stats.smallsample import risk_difference_score_test

__all__ = [
    "TIPPING_POINT_TESTS",
    "bounded_tis",
    "impute_chained",
    "imputed_responders",
    "logged_events",
    "mi_risk_difference",
    "rate_grid",
    "remove_lindep",
    "rubin_pool",
    "tipping_point",
    "tipping_point_grid",
    "tis_response",
]

_LOG = logging.getLogger(__name__)

#: Tests accepted by :func:`tipping_point`.
TIPPING_POINT_TESTS = ("fisher", "chisq", "mn_score_test")


# ----------------------------------------------------------------------------------------------
# (a) Bounded TIS
# ----------------------------------------------------------------------------------------------
def bounded_tis(
    points: pd.DataFrame,
    *,
    threshold: float = 20.0,
    rules: TISRules | None = None,
    prefix: str = "points_",
) -> pd.DataFrame:
    r"""Lowest and highest achievable TIS with missing core set measures; bounded response.

    For each row, :math:`TIS_{low} = \sum_{present} points_s` (a missing measure scores 0, the
    minimum of every slot) and :math:`TIS_{high} = TIS_{low} + \sum_{missing} \max points_s`
    (maxima from the TIS rules: PGA 20, patient global 10, MMT-8 32.5, HAQ 10, enzyme 7.5,
    extramuscular 20). Response (TIS >= ``threshold``, closed edge) is ``True`` when
    :math:`TIS_{low} \ge` threshold, ``False`` when :math:`TIS_{high} <` threshold, and missing
    (undetermined) otherwise. With no measure missing both bounds equal the TIS.

    Parameters
    ----------
    points : pandas.DataFrame
        One row per patient (e.g. the week-16 scored visit): columns ``points_<slot>`` for the
        six slots of the rules (``pga, ptga, mmt8, haq, enzyme, extramuscular``), NaN where the
        measure is missing. Other columns are kept.
    threshold : float
        Response threshold, default 20 (minimal improvement, adult).
    rules : TISRules, optional
        TIS rules (default: the bundled 2016 rules, :func:`myotrial.rules.load_tis_rules`).
    prefix : str
        Column prefix of the slot points, default ``"points_"``.

    Returns
    -------
    pandas.DataFrame
        ``points`` with ``tis_lower``, ``tis_upper``, ``n_missing_measures`` and
        ``responder_bounded`` (pandas ``boolean``, ``<NA>`` = undetermined) added.

    Notes
    -----
    Project rule (issue 13): a patient whose present measures already reach the threshold is a
    responder whatever the missing ones are (e.g. TIS 57.5 from five measures with HAQ
    missing). Points per present measure must already be valid band points; values outside
    [0, slot maximum] are rejected. Assumes nothing about why measures are missing (bounds, not
    a model). Composite rules (e.g. confirmed deterioration = non-responder) are applied by the
    caller. R: ``rowSums(points, na.rm = TRUE)`` and ``+ rowSums(is.na(points) * max)``. SAS:
    DATA step.

    References
    ----------
    Aggarwal R, Rider LG, Ruperto N, et al. Arthritis Rheumatol 2017;69:898-910.
    doi:10.1002/art.40064
    """
    tis_rules = load_tis_rules() if rules is None else rules
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ValueError(f"threshold={threshold!r} must be a number")
    slots = list(tis_rules.slots)
    cols = [f"{prefix}{s}" for s in slots]
    check_columns(points, "points", cols)
    values = points[cols].apply(pd.to_numeric, errors="coerce")
    non_numeric = points[cols].notna() & values.isna()
    if non_numeric.any().any():
        r, c = np.argwhere(non_numeric.to_numpy())[0]
        raise ValueError(f"points column {cols[c]!r} is not numeric at row {r}")
    maxima = np.array([tis_rules.slots[s].max_points for s in slots])
    arr = values.to_numpy(dtype=float)
    bad = np.isfinite(arr) & ((arr < 0) | (arr > maxima[None, :] + 1e-9))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(
            f"{cols[c]} = {arr[r, c]} at row {r} is outside [0, {maxima[c]}] for slot {slots[c]}"
        )
    missing = np.isnan(arr)
    lower = np.where(missing, 0.0, arr).sum(axis=1)
    upper = lower + (missing * maxima[None, :]).sum(axis=1)
    out = points.copy()
    out["tis_lower"] = lower
    out["tis_upper"] = upper
    out["n_missing_measures"] = missing.sum(axis=1)
    decided = pd.array([pd.NA] * len(out), dtype="boolean")
    decided[lower >= threshold] = True
    decided[upper < threshold] = False
    out["responder_bounded"] = decided
    return out


# ----------------------------------------------------------------------------------------------
# (b) Multiple imputation by chained equations + Rubin's rules
# ----------------------------------------------------------------------------------------------
def rubin_pool(
    estimates: Sequence[float] | FloatArray,
    variances: Sequence[float] | FloatArray,
    *,
    df_complete: float = math.inf,
    conf_level: float = 0.95,
    effect: str = "risk_difference",
) -> EstimateResult:
    r"""Combine m completed-data estimates and variances by Rubin's rules.

    :math:`\bar Q = \frac1m\sum Q_l`, :math:`\bar U = \frac1m\sum U_l`,
    :math:`B = \frac1{m-1}\sum (Q_l - \bar Q)^2`, :math:`T = \bar U + (1 + 1/m)B`;
    :math:`r = (1 + 1/m)B/\bar U` (relative increase in variance),
    :math:`\lambda = (1+1/m)B/T` (floored at 1e-4 as mice), df
    :math:`\nu_{old} = (m-1)/\lambda^2`, with finite complete-data df :math:`\nu_{com}`
    Barnard-Rubin :math:`\nu = \nu_{old}\nu_{obs}/(\nu_{old}+\nu_{obs})`,
    :math:`\nu_{obs} = \frac{\nu_{com}+1}{\nu_{com}+3}\nu_{com}(1-\lambda)`; fraction of missing
    information :math:`(r + 2/(\nu+3))/(r+1)`. Interval :math:`\bar Q \pm t_{\nu}\sqrt T`,
    p-value of :math:`\bar Q/\sqrt T` on :math:`t_\nu`.

    Parameters
    ----------
    estimates, variances : sequence of float
        Per completed data set (m >= 2), variances >= 0.
    df_complete : float
        Complete-data df (``inf``, the default, for large-sample estimates such as a risk
        difference; mice uses n - k for regression).
    conf_level : float
        Two-sided confidence level, default 0.95.
    effect : str
        Effect label of the result, default ``risk_difference``.

    Returns
    -------
    EstimateResult
        ``method="mi_rubin"``, ``std_error`` = :math:`\sqrt T`, ``df`` = :math:`\nu`;
        ``counts``: ``m, ubar, b, t, riv, lambda, fmi``. If T = 0 (all imputations identical
        with zero variance) the interval is degenerate (noted).

    Notes
    -----
    Assumes the imputation model is proper and congenial with the analysis; Wald-type
    estimates. R: ``mice::pool.scalar(Q, U, n = df_complete + 1, k = 1)`` (rule "rubin1987").
    SAS: ``PROC MIANALYZE`` (EDF= for finite df).

    References
    ----------
    Rubin DB. Multiple Imputation for Nonresponse in Surveys. Wiley; 1987.
    doi:10.1002/9780470316696
    Barnard J, Rubin DB. Small-sample degrees of freedom with multiple imputation. Biometrika
    1999;86:948-55. doi:10.1093/biomet/86.4.948
    """
    level = check_conf_level(conf_level)
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.ndim != 1 or u.ndim != 1 or q.size != u.size:
        raise ValueError(
            f"estimates and variances must be 1-D of equal length, got {q.shape}, {u.shape}"
        )
    if q.size < 2:
        raise ValueError(f"Rubin's rules need m >= 2 imputations, got {q.size}")
    if not (np.isfinite(q).all() and np.isfinite(u).all()) or (u < 0).any():
        raise ValueError("estimates must be finite and variances finite and >= 0")
    if isinstance(df_complete, bool) or not df_complete > 0:
        raise ValueError(f"df_complete={df_complete!r} must be positive (inf allowed)")
    m = q.size
    qbar, ubar = float(q.mean()), float(u.mean())
    b = float(q.var(ddof=1))
    t = ubar + (1 + 1 / m) * b
    notes: tuple[str, ...] = ()
    if t == 0.0:
        return EstimateResult(
            effect=effect, method="mi_rubin", estimate=qbar, lower=qbar, upper=qbar,
            conf_level=level, p_value=None, std_error=0.0, df=math.inf,
            counts={"m": m, "ubar": ubar, "b": b, "t": t, "riv": 0.0, "lambda": 0.0,
                    "fmi": 0.0},
            notes=("total variance 0: degenerate interval",),
        )
    riv = (1 + 1 / m) * b / ubar if ubar > 0 else math.inf
    lam = max((1 + 1 / m) * b / t, 1e-4)
    df_old = (m - 1) / lam**2
    if math.isinf(df_complete):
        df = df_old
    else:
        df_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
        df = df_old * df_obs / (df_old + df_obs)
    fmi = (riv + 2 / (df + 3)) / (riv + 1) if math.isfinite(riv) else 1.0
    se = math.sqrt(t)
    tcrit = float(stats.t.ppf(0.5 + level / 2, df))
    p_value = float(2 * stats.t.sf(abs(qbar / se), df))
    return EstimateResult(
        effect=effect,
        method="mi_rubin",
        estimate=qbar,
        lower=qbar - tcrit * se,
        upper=qbar + tcrit * se,
        conf_level=level,
        p_value=p_value,
        std_error=se,
        df=df,
        counts={"m": m, "ubar": ubar, "b": b, "t": t, "riv": riv, "lambda": lam, "fmi": fmi},
        notes=notes,
    )


#: mice's ``remove.lindep`` thresholds: variance floor and the eigenvalue-ratio floor (``eps``),
#: and the largest correlation of a predictor with the imputed variable (``maxcor``).
LINDEP_EPS = 1e-4
LINDEP_MAXCOR = 0.99


def remove_lindep(
    x: FloatArray,
    y: FloatArray,
    observed: np.ndarray[Any, np.dtype[np.bool_]],
    *,
    eps: float = LINDEP_EPS,
    maxcor: float = LINDEP_MAXCOR,
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Predictors kept for one imputed variable, as ``mice:::remove.lindep`` (mice 3.15).

    On the rows where ``y`` is observed: if ``var(y) < eps`` no predictor is kept; otherwise a
    predictor is dropped when its variance is ``<= eps`` (constant) or its correlation with
    ``y`` is ``>= maxcor`` (signed, as mice); then, while the smallest / largest eigenvalue of
    the kept predictors' correlation matrix is below ``eps``, the predictor with the largest
    absolute loading on the last eigenvector is dropped (ties within 1e-8: the first, as R's
    stable ``order``). Variances are sample variances (n - 1).

    Parameters
    ----------
    x : numpy.ndarray
        Predictors (rows x predictors), no intercept column.
    y : numpy.ndarray
        The variable being imputed (values at unobserved rows are ignored).
    observed : numpy.ndarray of bool
        Rows where ``y`` is observed (``ry``).
    eps, maxcor : float
        mice's defaults 1e-4 and 0.99.

    Returns
    -------
    numpy.ndarray of bool
        One per column of ``x``: True = kept.

    Notes
    -----
    mice 3.15 recomputes the correlation matrix of the remaining predictors only through a
    recycled logical subscript (``cx[keep[keep], keep[keep]]``), so after the first removal it
    keeps using the first eigen-decomposition; with one linear dependency (the usual case,
    e.g. a duplicated or summed column) both drop the same predictor; with several at once
    this function recomputes after every removal (the documented intent), so the choice can
    differ. With no observed ``y`` every predictor is kept (mice's ``allow.na``).
    """
    n_pred = x.shape[1]
    if n_pred == 0:
        return np.zeros(0, dtype=bool)
    if not observed.any():
        return np.ones(n_pred, dtype=bool)
    xo, yo = x[observed], y[observed]
    if yo.size < 2 or float(np.var(yo, ddof=1)) < eps:
        return np.zeros(n_pred, dtype=bool)
    keep = np.var(xo, axis=0, ddof=1) > eps
    yc = yo - yo.mean()
    yy = float(yc @ yc)
    for j in np.flatnonzero(keep):
        xc = xo[:, j] - xo[:, j].mean()
        cor = float(xc @ yc / math.sqrt(float(xc @ xc) * yy))
        if not cor < maxcor:
            keep[j] = False
    while keep.sum() > 1:
        idx = np.flatnonzero(keep)
        cx = _corrcoef_columns(xo[:, idx])
        values, vectors = np.linalg.eigh(cx)  # ascending
        if values[0] / values[-1] >= eps:
            break
        load = np.abs(vectors[:, 0])
        first = int(np.flatnonzero(load >= load.max() - 1e-8)[0])
        keep[idx[first]] = False
    return np.asarray(keep, dtype=bool)


def _corrcoef_columns(x: FloatArray) -> FloatArray:
    """``numpy.corrcoef(x, rowvar=False)`` of a float matrix with at least 2 rows and 2
    columns: the same operations in the same order and memory layout (the same bits,
    ``tests/test_stats_missing_speed.py``), without its argument handling, which costs more
    than the arithmetic for the imputation's small matrices (thousands of calls)."""
    c_t = np.array(x, dtype=float).T  # numpy.cov: a copy, transposed (variables in rows)
    c_t -= c_t.mean(axis=1)[:, None]
    c = np.dot(c_t, c_t.T.conj())
    c *= np.true_divide(1, c_t.shape[1] - 1)
    sd = np.sqrt(np.diag(c))
    c /= sd[:, None]
    c /= sd[None, :]
    np.clip(c, -1, 1, out=c)
    return np.asarray(c, dtype=float)


def _pmm_column(
    y: FloatArray,
    x: FloatArray,
    missing: np.ndarray[Any, np.dtype[np.bool_]],
    rng: np.random.Generator,
    donors: int,
) -> FloatArray:
    """One predictive-mean-matching draw (mice.impute.pmm with .norm.draw, type-1 matching)."""
    xo, yo = x[~missing], y[~missing]
    xtx = xo.T @ xo
    v = np.linalg.inv(xtx + np.diag(1e-5 * np.diag(xtx)))
    coef = v @ (xo.T @ yo)
    resid = yo - xo @ coef
    df = max(int(yo.size - x.shape[1]), 1)
    sigma = math.sqrt(float(resid @ resid) / rng.chisquare(df))
    chol = np.linalg.cholesky((v + v.T) / 2)
    beta_star = coef + sigma * (chol @ rng.standard_normal(x.shape[1]))
    yhat_obs = xo @ coef
    yhat_mis = x[missing] @ beta_star
    k = min(donors, yo.size)
    # distance of every missing row to every observed row; tiny noise breaks ties at random
    dist = np.abs(yhat_mis[:, None] - yhat_obs[None, :])
    dist = dist + rng.uniform(0.0, 1e-9, dist.shape)
    nearest = np.argpartition(dist, k - 1, axis=1)[:, :k]
    chosen = nearest[np.arange(nearest.shape[0]), rng.integers(0, k, nearest.shape[0])]
    out = y.copy()
    out[missing] = yo[chosen]
    return out


def impute_chained(
    data: pd.DataFrame,
    columns: Sequence[str],
    *,
    seed: int,
    by: str | None = None,
    predictors: Sequence[str] = (),
    n_imputations: int = 20,
    n_iter: int = 10,
    donors: int = 5,
) -> list[pd.DataFrame]:
    r"""Multiple imputation by chained equations with predictive mean matching (PMM).

    Within each level of ``by`` (e.g. arm) separately: missing values of ``columns`` are first
    filled by random draws from the observed values, then for ``n_iter`` cycles each column is
    re-imputed from a linear model on the other ``columns`` and the complete ``predictors``:
    regression coefficients are drawn from their posterior (ridge 1e-5, scaled inverse
    chi-square residual variance: mice's ``.norm.draw``), the missing rows' predicted means
    (drawn coefficients) are matched to the observed rows' (estimated coefficients) and the
    value of one of the ``donors`` nearest observed rows, chosen at random, is copied (type-1
    matching). Imputed values are therefore always observed values (points stay on the band
    grid).

    Before every such regression the predictors are screened as mice does
    (:func:`remove_lindep`, mice's ``remove.lindep``): on the rows where the imputed column is
    observed, constant predictors (variance <= 1e-4), predictors correlating >= 0.99 with it
    and linearly dependent ones are left out of that regression (all of them when the column
    itself is constant there). Each omission is a logged event (mice's ``loggedEvents``) in
    the completed frames' ``attrs["logged_events"]`` (collect them with
    :func:`logged_events`) and on the ``myotrial.stats.missing`` logger (debug level).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient.
    columns : sequence of str
        Numeric columns to impute (e.g. the six ``points_<slot>`` or the raw measures).
    seed : int
        Seed of the :class:`numpy.random.Generator` (same seed -> identical imputations).
    by : str, optional
        Impute separately within each level (the arm, so the imputation model allows a
        treatment effect on everything).
    predictors : sequence of str
        Complete numeric columns used as predictors (e.g. baseline values).
    n_imputations : int
        Number of completed data sets m (>= 2), default 20.
    n_iter : int
        Chained-equation cycles per data set, default 10.
    donors : int
        Donor pool size, default 5 (mice's default).

    Returns
    -------
    list of pandas.DataFrame
        ``n_imputations`` copies of ``data`` with ``columns`` completed; ``attrs
        ["logged_events"]`` lists the dropped predictors (``im, it, group, dep, meth, out``).

    Notes
    -----
    Assumes missing at random given the other measures, predictors and arm. Same algorithm as
    ``mice(method = "pmm")`` but not the same random numbers, so single imputations differ from
    R's; the pooling and the predictor screening are validated against mice. A column
    observed in fewer than 2 rows of a group cannot be imputed (ValueError). Unlike mice's
    set-up step (``find.collinear``), a column that is constant or collinear is not removed
    from the data as a whole: it is still imputed (a constant column gets its constant) and is
    only left out as a predictor where the screening says so. R: ``mice::mice(data, m, maxit =
    n_iter, method = "pmm", seed)`` per arm. SAS: ``PROC MI; BY arm; FCS REGPMM``.

    References
    ----------
    van Buuren S, Groothuis-Oudshoorn K. J Stat Softw 2011;45(3):1-67.
    doi:10.18637/jss.v045.i03
    Little RJA. Missing-data adjustments in large surveys. J Bus Econ Stat 1988;6:287-96.
    doi:10.1080/07350015.1988.10509663
    """
    cols = list(columns)
    preds = list(predictors)
    if not cols:
        raise ValueError("columns is empty: nothing to impute")
    check_columns(data, "data", cols + preds + ([by] if by else []))
    for name, value, low in (("n_imputations", n_imputations, 2), ("n_iter", n_iter, 1),
                             ("donors", donors, 1)):
        if check_count(name, value) < low:
            raise ValueError(f"{name}={value!r} must be at least {low}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed={seed!r} must be an integer")
    try:
        values = data[cols].astype(float).to_numpy()
        pred_values = data[preds].astype(float).to_numpy() if preds else np.empty((len(data), 0))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"columns and predictors must be numeric: {exc}") from None
    if not np.isfinite(pred_values).all():
        raise ValueError(f"predictors {preds} must be complete (no missing values)")
    if by is not None and data[by].isna().any():
        raise ValueError(f"column {by!r} has missing values")
    groups = (
        [np.arange(len(data))]
        if by is None
        else [np.flatnonzero((data[by] == lv).to_numpy()) for lv in sorted(data[by].unique())]
    )
    for idx in groups:
        observed = np.isfinite(values[idx]).sum(axis=0)
        thin = [c for c, n_obs in zip(cols, observed, strict=True) if n_obs < 2]
        if thin:
            raise ValueError(f"columns observed in fewer than 2 rows of a group: {thin}")
    labels = [None] if by is None else sorted(data[by].unique())
    rng = np.random.default_rng(seed)
    completed = []
    for im in range(1, n_imputations + 1):
        filled = values.copy()
        events: list[dict[str, Any]] = []
        for label, idx in zip(labels, groups, strict=True):
            block = filled[idx]
            miss = ~np.isfinite(block)
            if not miss.any():
                continue
            for j in range(block.shape[1]):
                if miss[:, j].any():
                    obs = block[~miss[:, j], j]
                    block[miss[:, j], j] = rng.choice(obs, int(miss[:, j].sum()))
            for it in range(1, n_iter + 1):
                for j in range(block.shape[1]):
                    if not miss[:, j].any():
                        continue
                    others = np.column_stack([np.delete(block, j, axis=1), pred_values[idx]])
                    names = [c for k, c in enumerate(cols) if k != j] + preds
                    keep = remove_lindep(others, block[:, j], ~miss[:, j])
                    if not keep.all():
                        dropped = [nm for nm, k in zip(names, keep, strict=True) if not k]
                        events.append({"im": im, "it": it, "group": label, "dep": cols[j],
                                       "meth": "pmm", "out": ", ".join(dropped)})
                        _LOG.debug("impute_chained: im %d it %d group %s dep %s: dropped %s",
                                   im, it, label, cols[j], ", ".join(dropped))
                    x = np.column_stack([np.ones(len(idx)), others[:, keep]])
                    block[:, j] = _pmm_column(block[:, j], x, miss[:, j], rng, donors)
            filled[idx] = block
        out = data.copy()
        for j, c in enumerate(cols):
            out[c] = filled[:, j]
        out.attrs["logged_events"] = events
        completed.append(out)
    return completed


def logged_events(completed: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The predictors :func:`impute_chained` dropped, as mice's ``loggedEvents``.

    Parameters
    ----------
    completed : sequence of pandas.DataFrame
        The completed data sets returned by :func:`impute_chained`.

    Returns
    -------
    pandas.DataFrame
        One row per imputed variable, imputation and iteration where a predictor was dropped:
        ``im, it, group, dep, meth, out`` (``out``: the dropped predictors, comma-separated);
        empty when every predictor was used.
    """
    rows = [ev for frame in completed for ev in frame.attrs.get("logged_events", [])]
    return pd.DataFrame(rows, columns=["im", "it", "group", "dep", "meth", "out"])


def tis_response(
    threshold: float = 20.0, *, rules: TISRules | None = None, prefix: str = "points_"
) -> Callable[[pd.DataFrame], np.ndarray[Any, np.dtype[np.int_]]]:
    """A response function for :func:`mi_risk_difference`: TIS = sum of slot points >= threshold.

    Parameters
    ----------
    threshold : float
        TIS threshold (closed), default 20.
    rules : TISRules, optional
        Rules naming the slots (default: bundled).
    prefix : str
        Points column prefix, default ``"points_"``.

    Returns
    -------
    callable
        ``f(frame) -> 0/1 array``; a patient with any missing slot is a non-responder (only
        reached when the caller does not impute every slot).
    """
    tis_rules = load_tis_rules() if rules is None else rules
    cols = [f"{prefix}{s}" for s in tis_rules.slots]

    def response(frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.int_]]:
        check_columns(frame, "frame", cols)
        total = frame[cols].astype(float).sum(axis=1, skipna=False).to_numpy()
        return np.where(np.isfinite(total) & (total >= threshold), 1, 0)

    return response


def mi_risk_difference(
    data: pd.DataFrame,
    *,
    arm: str,
    treatment: str,
    control: str,
    columns: Sequence[str],
    response: Callable[[pd.DataFrame], Any],
    seed: int,
    predictors: Sequence[str] = (),
    n_imputations: int = 20,
    n_iter: int = 10,
    conf_level: float = 0.95,
) -> EstimateResult:
    r"""Risk difference after multiple imputation of missing measures, pooled by Rubin's rules.

    :func:`impute_chained` by arm (``by=arm``), then per completed data set the responders
    ``response(frame)`` (0/1 per row), :math:`\hat d_l = \hat p_1 - \hat p_2` and its Wald
    variance :math:`\hat p_1(1-\hat p_1)/n_1 + \hat p_2(1-\hat p_2)/n_2`, pooled by
    :func:`rubin_pool` (large-sample complete-data df).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per randomised patient.
    arm : str
        Arm column; values ``treatment`` / ``control`` only.
    treatment, control : str
        Arm codes.
    columns : sequence of str
        Columns to impute (e.g. the six ``points_<slot>``).
    response : callable
        Completed frame -> 0/1 response per row (e.g. :func:`tis_response`; composite rules
        such as deterioration belong inside it).
    seed : int
        Seed for the imputations.
    predictors : sequence of str
        Complete numeric predictors for the imputation model.
    n_imputations, n_iter : int
        Number of imputations (default 20) and chained-equation cycles (default 10).
    conf_level : float
        Two-sided confidence level, default 0.95.

    Returns
    -------
    EstimateResult
        ``method="mi_rubin"``; counts also hold ``n1, n2`` and the mean responders
        ``x1_mean, x2_mean`` over imputations.

    Notes
    -----
    A completed data set in which an arm is all responders or all non-responders contributes a
    zero Wald variance (as a complete-case Wald analysis would). R: ``mice`` + ``with()`` +
    ``pool()`` with a hand risk difference; SAS: ``PROC MI`` + ``PROC FREQ`` + ``PROC
    MIANALYZE``.

    References
    ----------
    Rubin DB. Multiple Imputation for Nonresponse in Surveys. Wiley; 1987.
    doi:10.1002/9780470316696
    """
    check_columns(data, "data", [arm])
    arms = data[arm].astype(str)
    bad = sorted(set(arms) - {str(treatment), str(control)})
    if bad:
        raise ValueError(f"column {arm!r} has values other than {treatment!r}/{control!r}: {bad}")
    is_trt = (arms == str(treatment)).to_numpy()
    n1, n2 = int(is_trt.sum()), int((~is_trt).sum())
    if n1 == 0 or n2 == 0:
        raise ValueError(f"both arms need patients, got n1={n1}, n2={n2}")
    completed = impute_chained(
        data, columns, seed=seed, by=arm, predictors=predictors,
        n_imputations=n_imputations, n_iter=n_iter,
    )
    est, var, xs1, xs2 = [], [], [], []
    for frame in completed:
        resp = np.asarray(response(frame), dtype=float)
        if resp.shape != (len(frame),) or not np.isin(resp, (0.0, 1.0)).all():
            raise ValueError("response(frame) must return one 0/1 value per row")
        x1, x2 = float(resp[is_trt].sum()), float(resp[~is_trt].sum())
        p1, p2 = x1 / n1, x2 / n2
        est.append(p1 - p2)
        var.append(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        xs1.append(x1)
        xs2.append(x2)
    pooled = rubin_pool(est, var, conf_level=conf_level)
    dropped = logged_events(completed)
    notes = pooled.notes
    if len(dropped):
        pairs = dropped.drop_duplicates(["group", "dep", "out"])
        notes = (*notes, "predictors left out (constant or collinear, as mice's remove.lindep): "
                 + "; ".join(f"{r.out} for {r.dep} in {arm}={r.group}"
                             for r in pairs.itertuples()))
    counts = dict(pooled.counts)
    counts.update({"n1": n1, "n2": n2, "x1_mean": float(np.mean(xs1)),
                   "x2_mean": float(np.mean(xs2)), "seed": int(seed)})
    return EstimateResult(
        effect=pooled.effect, method=pooled.method, estimate=pooled.estimate,
        lower=pooled.lower, upper=pooled.upper, conf_level=pooled.conf_level,
        p_value=pooled.p_value, std_error=pooled.std_error, df=pooled.df, counts=counts,
        notes=notes,
    )


# ----------------------------------------------------------------------------------------------
# (c) Tipping point
# ----------------------------------------------------------------------------------------------
def rate_grid(step: float) -> list[float]:
    """Imputed response rates of a tipping-point rate grid: 0, step, 2 step, ... up to 1.

    Multiples of ``step`` not above 1 (within 1e-9), then 1 itself if the last multiple is
    below 1 (e.g. step 0.3: 0, 0.3, 0.6, 0.9, 1). Each rate is rounded to 12 decimals.

    Parameters
    ----------
    step : float
        Grid step, 0 < step <= 1 (the SAP's ``grid_step``).

    Returns
    -------
    list of float
    """
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not 0 < step <= 1:
        raise ValueError(f"grid_step={step!r} must be a number in (0, 1]")
    n = math.floor(1.0 / step + 1e-9)
    rates = [round(i * step, 12) for i in range(n + 1)]
    if rates[-1] < 1.0 - 1e-9:
        rates.append(1.0)
    return rates


def imputed_responders(rate: float, missing: int) -> int:
    """Missing patients imputed as responders at an imputed response ``rate``: the nearest
    integer to ``rate * missing``, halves rounded up, ``floor(rate * missing + 1/2)`` (with a
    1e-9 allowance for floating-point products such as 0.35 * 10 = 3.4999999999999996).
    Never Python's ``round`` (halves to even)."""
    return math.floor(rate * missing + 0.5 + 1e-9)


def tipping_point(
    *,
    x1: int,
    n1: int,
    missing1: int,
    x2: int,
    n2: int,
    missing2: int,
    test: str = "fisher",
    estimate_method: str = "newcombe",
    alpha: float = 0.05,
    conf_level: float = 0.95,
    grid_step: float | None = None,
) -> TippingPointResult:
    r"""Tipping-point analysis: missing outcomes imputed as responders per arm, over a grid.

    **Count grid** (default, ``grid_step=None``): for :math:`k_1 = 0..M_1` and
    :math:`k_2 = 0..M_2` missing patients imputed as responders (the rest as non-responders),
    the table :math:`(x_1 + k_1)/(n_1 + M_1)` vs :math:`(x_2 + k_2)/(n_2 + M_2)` is analysed
    with ``estimate_method`` and ``test``; a cell is significant when p < ``alpha``. The
    reference cell :math:`(0, 0)` is the usual "missing = non-responder" analysis; the
    frontier gives, per :math:`k_1`, the smallest :math:`k_2` whose conclusion differs from
    the reference (the tipping point). Imputed response rates :math:`k/M` per arm label the
    grid for plotting (:func:`tipping_point_grid`).

    **Rate grid** (``grid_step`` given, the SAP's ``grid_step``): the imputed response rate of
    the missing patients of each arm runs over :func:`rate_grid` (0, step, ..., 1), and rate
    :math:`r` imputes :math:`k = \lfloor r M + 1/2 \rfloor` responders (the nearest integer,
    halves rounded up: :func:`imputed_responders`). Every pair of rates is a cell (several
    rates can give the same k when M is small); the frontier gives, per ``rate1``, the smallest
    ``rate2`` (and its ``k2``) whose conclusion differs from the reference cell (0, 0).

    Parameters
    ----------
    x1, n1 : int
        Observed responders and patients with an observed outcome, treatment arm.
    missing1 : int
        Treatment patients with a missing outcome.
    x2, n2, missing2 : int
        The same for the control arm.
    test : str
        ``"fisher"`` (default), ``"chisq"`` or ``"mn_score_test"`` (then the estimate is the
        MN interval, a consistent pair, and ``estimate_method`` is ignored).
    estimate_method : str
        Risk-difference interval per cell: ``wald``, ``newcombe`` (default) or
        ``miettinen_nurminen``.
    alpha : float
        Significance level, default 0.05.
    conf_level : float
        Confidence level of the per-cell intervals, default 0.95.
    grid_step : float, optional
        Step of the imputed-response-rate grid, 0 < step <= 1; default ``None``: every count.

    Returns
    -------
    TippingPointResult
        ``grid_step`` is recorded on the result (and in ``counts``) for a rate grid.

    Notes
    -----
    Deterministic (no imputation model): it shows how strong a departure from
    "missing = non-responder" would be needed to change the conclusion. The count grid has
    (M1 + 1)(M2 + 1) cells, the rate grid len(rates)^2. R: a double loop over
    ``fisher.test`` (the rate grid is checked against R with the same rounding rule). SAS:
    DATA step + ``PROC FREQ``.

    References
    ----------
    Yan X, Lee S, Li N. Missing data handling methods in medical device clinical trials.
    J Biopharm Stat 2009;19:1085-98. doi:10.1080/10543400903243009
    """
    if test not in TIPPING_POINT_TESTS:
        raise ValueError(f"test={test!r}; valid: {', '.join(TIPPING_POINT_TESTS)}")
    validate_method(estimate_method, RISK_DIFFERENCE_METHODS, argument="estimate_method")
    level = check_conf_level(conf_level)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} must be strictly between 0 and 1")
    rates = rate_grid(grid_step) if grid_step is not None else None
    a, na = check_binomial("x1", x1, "n1", n1, allow_empty=True)
    c, nc = check_binomial("x2", x2, "n2", n2, allow_empty=True)
    m1, m2 = check_count("missing1", missing1), check_count("missing2", missing2)
    if na + m1 == 0 or nc + m2 == 0:
        raise ValueError("each arm needs at least one patient (observed or missing)")
    cache: dict[tuple[int, int], dict[str, Any]] = {}

    def cell(k1: int, k2: int) -> dict[str, Any]:
        if (k1, k2) in cache:
            return cache[(k1, k2)]
        t1, s1, t2, s2 = a + k1, na + m1, c + k2, nc + m2
        if test == "mn_score_test":
            est = risk_difference_score_test(x1=t1, n1=s1, x2=t2, n2=s2, conf_level=level)
            p = float(est.p_value if est.p_value is not None else math.nan)
        else:
            est = _risk_difference(x1=t1, n1=s1, x2=t2, n2=s2, method=estimate_method,
                                   conf_level=level)
            res = (fisher_exact_test(x1=t1, n1=s1, x2=t2, n2=s2) if test == "fisher"
                   else chisq_test(x1=t1, n1=s1, x2=t2, n2=s2))
            p = res.p_value
        cache[(k1, k2)] = {
            "x1": t1, "n1": s1, "x2": t2, "n2": s2,
            "estimate": est.estimate, "lower": est.lower, "upper": est.upper,
            "p_value": p, "significant": bool(p < alpha),
        }
        return cache[(k1, k2)]

    rows = []
    if rates is None:
        for k1 in range(m1 + 1):
            for k2 in range(m2 + 1):
                rows.append({"k1": k1, "k2": k2,
                             "rate1": k1 / m1 if m1 else math.nan,
                             "rate2": k2 / m2 if m2 else math.nan, **cell(k1, k2)})
    else:
        for r1 in rates:
            for r2 in rates:
                k1, k2 = imputed_responders(r1, m1), imputed_responders(r2, m2)
                rows.append({"k1": k1, "k2": k2, "rate1": r1, "rate2": r2, **cell(k1, k2)})
    grid = pd.DataFrame(rows)
    ref = bool(cell(0, 0)["significant"])
    frontier = []
    if rates is None:
        for level1 in range(m1 + 1):
            sub = grid[grid["k1"] == level1]
            flips = sub.loc[sub["significant"] != ref, "k2"]
            tip = float(flips.min()) if len(flips) else math.nan
            frontier.append({"k1": level1, "k2_tip": tip})
        front = pd.DataFrame(frontier, columns=["k1", "k2_tip"])
    else:
        for r1 in rates:
            sub = grid[grid["rate1"] == r1]
            changed = sub[sub["significant"] != ref]
            if len(changed):
                at = changed.sort_values("rate2", kind="stable").iloc[0]
                rate2_tip, k2_tip = float(at["rate2"]), float(at["k2"])
            else:
                rate2_tip = k2_tip = math.nan
            frontier.append({"rate1": r1, "k1": imputed_responders(r1, m1),
                             "rate2_tip": rate2_tip, "k2_tip": k2_tip})
        front = pd.DataFrame(frontier, columns=["rate1", "k1", "rate2_tip", "k2_tip"])
    counts: dict[str, float | int] = {
        "x1_observed": a, "n1_observed": na, "missing1": m1,
        "x2_observed": c, "n2_observed": nc, "missing2": m2,
    }
    if grid_step is not None:
        counts["grid_step"] = float(grid_step)
    return TippingPointResult(
        method="tipping_point",
        test_method=test,
        estimate_method="mn_score_test" if test == "mn_score_test" else estimate_method,
        alpha=float(alpha),
        conf_level=level,
        grid=grid,
        frontier=front,
        counts=counts,
        grid_step=None if grid_step is None else float(grid_step),
    )


def tipping_point_grid(result: TippingPointResult, value: str = "p_value") -> pd.DataFrame:
    """The tipping-point grid as a matrix for a heat map: rows k1, columns k2.

    Parameters
    ----------
    result : TippingPointResult
        From :func:`tipping_point`.
    value : str
        Grid column to show: ``p_value`` (default), ``estimate``, ``lower``, ``upper`` or
        ``significant``.

    Returns
    -------
    pandas.DataFrame
        Count grid: index ``k1`` (treatment missing imputed as responders), columns ``k2``
        (control); ``attrs`` hold ``rate1``/``rate2`` (imputed response rates per row/column),
        ``alpha`` and the reference conclusion. Rate grid (``grid_step``): index ``rate1``,
        columns ``rate2``; ``attrs`` also hold ``k1``/``k2`` (imputed responders per
        row/column).
    """
    allowed = ("p_value", "estimate", "lower", "upper", "significant")
    if value not in allowed:
        raise ValueError(f"value={value!r}; valid: {', '.join(allowed)}")
    g = result.grid
    if result.grid_step is not None:
        mat = g.pivot(index="rate1", columns="rate2", values=value)
        mat.attrs["rate1"] = {r: r for r in mat.index}
        mat.attrs["rate2"] = {r: r for r in mat.columns}
        mat.attrs["k1"] = g.drop_duplicates("rate1").set_index("rate1")["k1"].to_dict()
        mat.attrs["k2"] = g.drop_duplicates("rate2").set_index("rate2")["k2"].to_dict()
        mat.attrs["alpha"] = result.alpha
        mat.attrs["reference_significant"] = bool(g.iloc[0]["significant"])
        return mat
    mat = g.pivot(index="k1", columns="k2", values=value)
    mat.attrs["rate1"] = g.drop_duplicates("k1").set_index("k1")["rate1"].to_dict()
    mat.attrs["rate2"] = g.drop_duplicates("k2").set_index("k2")["rate2"].to_dict()
    mat.attrs["alpha"] = result.alpha
    mat.attrs["reference_significant"] = bool(g.iloc[0]["significant"])
    return mat
