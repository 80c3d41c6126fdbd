"""Multiplicity: fixed-sequence (hierarchical) testing, Holm step-down and Hochberg step-up.

Each procedure returns a :class:`~myotrial.stats.results.MultiplicityResult` whose table says,
per hypothesis, whether it was tested (compared with a critical level), at which level, whether
it was rejected, and its adjusted p-value (rejected exactly when adjusted p <= alpha), so a
report can show the gatekeeping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from myotrial.stats._validate import FloatArray
from myotrial.stats.methods import validate_method
from myotrial.stats.results import MultiplicityResult

__all__ = ["MULTIPLICITY_METHODS", "adjust_pvalues"]

#: Method keys accepted by :func:`adjust_pvalues`.
MULTIPLICITY_METHODS = ("fixed_sequence", "holm", "hochberg")


def _check_inputs(
    p_values: Mapping[str, float] | Sequence[float], alpha: float
) -> tuple[list[str], FloatArray]:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} must be a number strictly between 0 and 1")
    if isinstance(p_values, Mapping):
        names = [str(k) for k in p_values]
        values = list(p_values.values())
    elif isinstance(p_values, (str, bytes)):
        raise ValueError(f"p_values={p_values!r} must be a mapping or a sequence of numbers")
    else:
        values = list(p_values)
        names = [f"H{i + 1}" for i in range(len(values))]
    if not values:
        raise ValueError("p_values is empty: at least one hypothesis is needed")
    if len(set(names)) != len(names):
        raise ValueError(f"hypothesis names must be unique, got {names}")
    bad = []
    for name, v in zip(names, values, strict=True):
        ok = not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))
        if not ok or not (0.0 <= float(v) <= 1.0) or math.isnan(float(v)):
            bad.append(f"{name}={v!r}")
    if bad:
        raise ValueError(f"p-values must be numbers in [0, 1]; bad: {', '.join(bad)}")
    return names, np.asarray(values, dtype=float)


def adjust_pvalues(
    p_values: Mapping[str, float] | Sequence[float],
    *,
    method: str = "holm",
    alpha: float = 0.05,
) -> MultiplicityResult:
    r"""Control the family-wise error rate over m hypotheses; adjusted p-values and decisions.

    ``fixed_sequence``
        Hypotheses in the given (pre-specified) order, each tested at the full
        :math:`\alpha` until the first non-rejection; the rest are not tested (not rejected).
        Adjusted :math:`\tilde p_k = \max_{j \le k} p_j`.
    ``holm``
        Step-down: with ordered :math:`p_{(1)} \le \dots \le p_{(m)}`, compare
        :math:`p_{(k)}` with :math:`\alpha/(m - k + 1)` for k = 1, 2, ... and stop at the first
        non-rejection. :math:`\tilde p_{(k)} = \min(1, \max_{j \le k} (m - j + 1) p_{(j)})`.
    ``hochberg``
        Step-up: compare :math:`p_{(k)}` with :math:`\alpha/(m - k + 1)` for k = m, m - 1, ...;
        at the first :math:`p_{(k)}` below its level, reject it and every hypothesis with a
        smaller p (those are rejected without their own comparison: ``tested`` False).
        :math:`\tilde p_{(k)} = \min_{j \ge k} \min(1, (m - j + 1) p_{(j)})`.

    Parameters
    ----------
    p_values : mapping of str to float, or sequence of float
        Unadjusted p-values; a mapping gives hypothesis names (and, for ``fixed_sequence``,
        the testing order); a sequence is named ``H1, H2, ...``.
    method : str
        ``"holm"`` (default), ``"hochberg"`` or ``"fixed_sequence"``.
    alpha : float
        Family-wise level, default 0.05.

    Returns
    -------
    MultiplicityResult
        Table in the input order; ``rejected == (adjusted_p <= alpha)``.

    Notes
    -----
    Holm is valid under any dependence; Hochberg needs independence or positive dependence
    (Simes inequality); fixed-sequence needs the order fixed before unblinding. Ties in p keep
    the input order (as R's ``order``). R: ``p.adjust(p, "holm")``, ``p.adjust(p,
    "hochberg")``, ``cummax(p)`` for a fixed sequence. SAS: ``PROC MULTTEST`` (STEPBON,
    HOCHBERG).

    References
    ----------
    Holm S. Scand J Stat 1979;6:65-70. JSTOR 4615733
    Hochberg Y. Biometrika 1988;75:800-2. doi:10.1093/biomet/75.4.800
    Westfall PH, Krishen A. J Stat Plan Inference 2001;99:25-40.
    doi:10.1016/S0378-3758(01)00077-5

    Examples
    --------
    >>> r = adjust_pvalues({"TIS>=20": 0.001, "TIS>=40": 0.03, "TIS>=60": 0.2},
    ...                    method="fixed_sequence")
    >>> r.rejected
    ('TIS>=20', 'TIS>=40')
    """
    validate_method(method, MULTIPLICITY_METHODS)
    names, p = _check_inputs(p_values, alpha)
    m = p.size
    adjusted = np.empty(m)
    step = np.zeros(m, dtype=int)
    tested = np.zeros(m, dtype=bool)
    level = np.full(m, np.nan)
    if method == "fixed_sequence":
        adjusted = np.maximum.accumulate(p)
        step = np.arange(1, m + 1)
        for k in range(m):
            tested[k] = True
            level[k] = alpha
            if p[k] > alpha:
                break
    else:
        order = np.argsort(p, kind="stable")
        ranks = np.arange(1, m + 1)
        crit = alpha / (m - ranks + 1)
        step[order] = ranks
        ordered = p[order]
        if method == "holm":
            adj = np.minimum(1.0, np.maximum.accumulate((m - ranks + 1) * ordered))
            for k in range(m):
                tested[order[k]] = True
                level[order[k]] = crit[k]
                if ordered[k] > crit[k]:
                    break
        else:
            step[order] = m - ranks + 1  # step-up: the largest p is compared first
            adj = np.minimum.accumulate(np.minimum(1.0, (m - ranks + 1) * ordered)[::-1])[::-1]
            for k in range(m - 1, -1, -1):
                tested[order[k]] = True
                level[order[k]] = crit[k]
                if ordered[k] <= crit[k]:
                    break
        adjusted[order] = adj
    table = pd.DataFrame(
        {
            "hypothesis": names,
            "p_value": p,
            "adjusted_p": adjusted,
            "step": step,
            "tested": tested,
            "alpha_at_test": level,
            "rejected": adjusted <= alpha,
        }
    )
    return MultiplicityResult(method=method, alpha=float(alpha), table=table)
