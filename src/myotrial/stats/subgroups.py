"""Subgroup analysis of a binary endpoint: effect per level, interaction test, forest-plot data."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM

from myotrial.stats._validate import check_columns, check_conf_level
from myotrial.stats.binary import RISK_DIFFERENCE_METHODS, _as_binary, risk_difference
from myotrial.stats.methods import validate_method
from myotrial.stats.results import SubgroupResult

__all__ = ["FOREST_COLUMNS", "INTERACTION_COLUMNS", "subgroup_analysis"]

#: Columns of :attr:`SubgroupResult.forest`.
FOREST_COLUMNS = (
    "subgroup",
    "level",
    "n1",
    "x1",
    "n2",
    "x2",
    "estimate",
    "lower",
    "upper",
    "method",
    "conf_level",
    "note",
)
#: Columns of :attr:`SubgroupResult.interactions`.
INTERACTION_COLUMNS = (
    "subgroup",
    "statistic",
    "df",
    "p_value",
    "method",
    "n_used",
    "n_missing",
    "note",
)


def subgroup_analysis(
    data: pd.DataFrame,
    *,
    arm: str,
    response: str,
    subgroups: str | Sequence[str],
    treatment: str,
    control: str,
    method: str = "wald",
    conf_level: float = 0.95,
) -> SubgroupResult:
    r"""Risk difference per subgroup level, treatment-by-subgroup interaction tests, forest data.

    For every subgroup column and each of its levels (sorted as text), the risk difference
    treatment - control with :func:`myotrial.stats.risk_difference` (``method``). The
    interaction test is the logistic-regression likelihood-ratio test (``logistic_lrt``):
    :math:`G^2 = 2(\ell_1 - \ell_0)` between
    :math:`\mathrm{logit}\,P(y=1) = \beta_0 + \beta_1 T + \sum_j \gamma_j G_j + \sum_j \delta_j
    T G_j` and the model without the :math:`\delta_j`, on (levels - 1) df (statsmodels GLM,
    binomial family). It tests heterogeneity of the odds ratio, not of the risk difference.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per randomised patient.
    arm : str
        Arm column; values must be ``treatment`` or ``control``.
    response : str
        Responder column, 0/1 or true/false, no missing values.
    subgroups : str or sequence of str
        Subgroup column(s) (categorical; numbers are treated as labels).
    treatment, control : str
        Arm codes.
    method : str
        Risk-difference method key: ``"wald"`` (default), ``"newcombe"`` or
        ``"miettinen_nurminen"``.
    conf_level : float
        Two-sided confidence level of the per-level intervals, default 0.95.

    Returns
    -------
    SubgroupResult
        ``forest`` (columns :data:`FOREST_COLUMNS`; first row ``subgroup="overall"``,
        ``level="all"``) and ``interactions`` (:data:`INTERACTION_COLUMNS`).

    Notes
    -----
    Patients with a missing subgroup value are left out of that subgroup's levels and its
    interaction test (counted in ``n_missing``), never out of the overall row. A level without
    patients in one arm gets NaN estimate and limits and a ``note``, and is left out of the
    interaction test. With fewer than two usable levels the test is NaN (noted). Under complete
    or quasi-complete separation the logistic fit does not converge; the likelihood ratio is
    then taken from the last iteration (as R's ``glm`` does) and flagged in ``note``.
    Subgroup analyses are exploratory; interpret interaction tests, not per-level p-values.
    R: ``anova(glm(y ~ arm + g, binomial), glm(y ~ arm * g, binomial), test = "LRT")``.
    SAS: ``PROC LOGISTIC`` (difference in -2 log L).

    References
    ----------
    Wang R, Lagakos SW, Ware JH, Hunter DJ, Drazen JM. N Engl J Med 2007;357:2189-94.
    doi:10.1056/NEJMsr077003
    """
    validate_method(method, RISK_DIFFERENCE_METHODS)
    level = check_conf_level(conf_level)
    cols = [subgroups] if isinstance(subgroups, str) else list(subgroups)
    if not cols:
        raise ValueError("subgroups is empty: name at least one subgroup column")
    check_columns(data, "data", [arm, response, *cols])
    if treatment == control:
        raise ValueError(f"treatment and control must differ, both are {treatment!r}")
    bad = sorted({str(v) for v in data[arm][~data[arm].isin([treatment, control])]})
    if bad:
        raise ValueError(f"column {arm!r} has values other than {treatment!r}/{control!r}: {bad}")
    y = _as_binary(data[response], response).to_numpy(dtype=float)
    trt = (data[arm] == treatment).to_numpy()

    rows = [_forest_row("overall", "all", y, trt, method, level)]
    tests = []
    for col in cols:
        present = data[col].notna().to_numpy()
        labels = data[col].astype(str).to_numpy()
        usable: list[str] = []
        for lev in sorted(set(labels[present].tolist())):
            sel = present & (labels == lev)
            row = _forest_row(col, lev, y[sel], trt[sel], method, level)
            rows.append(row)
            if not row["note"]:
                usable.append(lev)
        tests.append(_interaction_lrt(col, y, trt, labels, present, usable))
    forest = pd.DataFrame(rows, columns=list(FOREST_COLUMNS))
    interactions = pd.DataFrame(tests, columns=list(INTERACTION_COLUMNS))
    return SubgroupResult(forest=forest, interactions=interactions, method=method, conf_level=level)


def _forest_row(
    subgroup: str,
    lev: str,
    y: np.ndarray[Any, Any],
    trt: np.ndarray[Any, Any],
    method: str,
    conf_level: float,
) -> dict[str, Any]:
    n1, n2 = int(trt.sum()), int((~trt).sum())
    x1, x2 = int(y[trt].sum()), int(y[~trt].sum())
    row: dict[str, Any] = {
        "subgroup": subgroup,
        "level": lev,
        "n1": n1,
        "x1": x1,
        "n2": n2,
        "x2": x2,
        "method": method,
        "conf_level": conf_level,
        "note": "",
    }
    if n1 == 0 or n2 == 0:
        row.update(
            estimate=math.nan,
            lower=math.nan,
            upper=math.nan,
            note="no patients in one arm: no estimate",
        )
        return row
    res = risk_difference(x1=x1, n1=n1, x2=x2, n2=n2, method=method, conf_level=conf_level)
    row.update(estimate=res.estimate, lower=res.lower, upper=res.upper)
    return row


def _interaction_lrt(
    col: str,
    y: np.ndarray[Any, Any],
    trt: np.ndarray[Any, Any],
    labels: np.ndarray[Any, Any],
    present: np.ndarray[Any, Any],
    usable: list[str],
) -> dict[str, Any]:
    n_missing = int((~present).sum())
    sel = present & np.isin(labels, usable)
    out: dict[str, Any] = {
        "subgroup": col,
        "statistic": math.nan,
        "df": math.nan,
        "p_value": math.nan,
        "method": "logistic_lrt",
        "n_used": int(sel.sum()),
        "n_missing": n_missing,
        "note": "",
    }
    if len(usable) < 2:
        out["note"] = "fewer than 2 levels with patients in both arms: no interaction test"
        return out
    yy = y[sel]
    t = trt[sel].astype(float)
    lab = labels[sel]
    dummies = np.column_stack([(lab == lev).astype(float) for lev in usable[1:]])
    x0 = np.column_stack([np.ones_like(t), t, dummies])
    x1 = np.column_stack([x0, dummies * t[:, None]])
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llf0 = float(GLM(yy, x0, family=families.Binomial()).fit().llf)
        llf1 = float(GLM(yy, x1, family=families.Binomial()).fit().llf)
    if caught:
        kinds = sorted({type(w.message).__name__ for w in caught})
        notes.append(
            "logistic fit did not converge cleanly (possible separation: "
            f"{', '.join(kinds)}); likelihood ratio from the last iteration"
        )
    stat = max(0.0, 2.0 * (llf1 - llf0))
    df = float(x1.shape[1] - x0.shape[1])
    out.update(statistic=stat, df=df, p_value=float(stats.chi2.sf(stat, df)), note="; ".join(notes))
    return out
