"""Result objects of :mod:`myotrial.stats` and their "analysis results" (ARD) rows.

Every result is a frozen dataclass that names its method key (see :mod:`myotrial.stats.methods`)
and turns itself into long rows, one statistic per row, so tables and reports format numbers
without recomputing them (style guide item 5). Row keys are :data:`ARD_COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from myotrial.stats.methods import METHODS

__all__ = [
    "ARD_COLUMNS",
    "EstimateResult",
    "KaplanMeierResult",
    "SubgroupResult",
    "TestResult",
    "ard_frame",
]

#: Columns of an analysis-results row.
ARD_COLUMNS = (
    "endpoint",
    "group",
    "effect",
    "method",
    "method_label",
    "statistic",
    "value",
    "conf_level",
)


def _row(
    endpoint: str,
    group: str,
    effect: str,
    method: str,
    statistic: str,
    value: Any,
    conf_level: float | None,
) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "group": group,
        "effect": effect,
        "method": method,
        "method_label": METHODS[method].label if method in METHODS else method,
        "statistic": statistic,
        "value": value,
        "conf_level": conf_level,
    }


def ard_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Analysis-results rows as a frame with the columns :data:`ARD_COLUMNS`."""
    return pd.DataFrame(rows, columns=list(ARD_COLUMNS))


@dataclass(frozen=True)
class EstimateResult:
    """An effect estimate with its confidence interval.

    Attributes
    ----------
    effect : str
        ``risk_difference`` (proportion scale, treatment minus control), ``odds_ratio`` or
        ``mean_difference`` (treatment minus control).
    method : str
        Method key in :data:`myotrial.stats.methods.METHODS`.
    estimate, lower, upper : float
        Point estimate and two-sided confidence limits.
    conf_level : float
        Confidence level of the interval, e.g. 0.95.
    p_value : float or None
        Two-sided p-value of the test of no effect when the method gives one (t tests,
        ANCOVA); ``None`` for interval-only methods (use a function from the tests family).
    std_error : float or None
        Standard error of the estimate when the method uses one.
    df : float or None
        Degrees of freedom of a t-based method.
    counts : mapping
        The data behind the estimate, e.g. ``x1, n1, x2, n2`` (summed over strata) or
        ``mean1, sd1, n1, ...``; ``n_strata`` and ``n_strata_used`` for stratified methods.
    notes : tuple of str
        Documented special cases that applied (zero cells, dropped strata, ...).
    """

    effect: str
    method: str
    estimate: float
    lower: float
    upper: float
    conf_level: float
    p_value: float | None = None
    std_error: float | None = None
    df: float | None = None
    counts: Mapping[str, float | int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_rows(self, endpoint: str = "", group: str = "") -> list[dict[str, Any]]:
        """Long analysis-results rows: one per statistic (estimate, lower, upper, ...)."""
        stats: list[tuple[str, Any]] = [
            ("estimate", self.estimate),
            ("lower", self.lower),
            ("upper", self.upper),
        ]
        if self.p_value is not None:
            stats.append(("p_value", self.p_value))
        if self.std_error is not None:
            stats.append(("std_error", self.std_error))
        if self.df is not None:
            stats.append(("df", self.df))
        stats.extend(self.counts.items())
        return [
            _row(endpoint, group, self.effect, self.method, name, value, self.conf_level)
            for name, value in stats
        ]

    def as_ard(self, endpoint: str = "", group: str = "") -> pd.DataFrame:
        """:meth:`to_rows` as a frame."""
        return ard_frame(self.to_rows(endpoint, group))


@dataclass(frozen=True)
class TestResult:
    """A hypothesis test.

    Attributes
    ----------
    method : str
        Method key (``fisher``, ``chisq``, ``chisq_yates``, ``cmh``, ``logrank``,
        ``logistic_lrt``).
    statistic : float
        Test statistic (chi-square for chisq/cmh/logrank/LRT; the sample odds ratio for
        Fisher's test, as returned by :func:`scipy.stats.fisher_exact`).
    p_value : float
        p-value for ``alternative``.
    df : float or None
        Degrees of freedom of a chi-square statistic.
    alternative : str
        ``two-sided`` (default) or ``less``/``greater`` where supported.
    counts : mapping
        Data behind the test (cell counts, observed/expected events, ...).
    notes : tuple of str
        Documented special cases that applied.
    """

    __test__ = False  # not a pytest test class

    method: str
    statistic: float
    p_value: float
    df: float | None = None
    alternative: str = "two-sided"
    counts: Mapping[str, float | int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_rows(self, endpoint: str = "", group: str = "") -> list[dict[str, Any]]:
        """Long analysis-results rows (statistic, p_value, df, counts)."""
        stats: list[tuple[str, Any]] = [("statistic", self.statistic), ("p_value", self.p_value)]
        if self.df is not None:
            stats.append(("df", self.df))
        stats.extend(self.counts.items())
        return [
            _row(endpoint, group, "test", self.method, name, value, None) for name, value in stats
        ]

    def as_ard(self, endpoint: str = "", group: str = "") -> pd.DataFrame:
        """:meth:`to_rows` as a frame."""
        return ard_frame(self.to_rows(endpoint, group))


@dataclass(frozen=True, eq=False)
class KaplanMeierResult:
    """Kaplan-Meier estimate for one group.

    Attributes
    ----------
    method : str
        ``km_loglog``.
    table : pandas.DataFrame
        One row per distinct time (events and censorings, as R's ``survfit``): ``time, n_risk,
        n_event, n_censor, surv, std_err`` (Greenwood standard error of log S, R's
        ``std.err``), ``lower, upper`` (pointwise log-log limits; missing where S = 0).
    median, median_lower, median_upper : float
        Median survival time and its CI (NaN when not reached).
    conf_level : float
    n, n_events : int
    """

    method: str
    table: pd.DataFrame
    median: float
    median_lower: float
    median_upper: float
    conf_level: float
    n: int
    n_events: int

    def to_rows(self, endpoint: str = "", group: str = "") -> list[dict[str, Any]]:
        """Rows for n, events, median and its CI (the curve itself stays in ``table``)."""
        stats: list[tuple[str, Any]] = [
            ("n", self.n),
            ("n_events", self.n_events),
            ("median", self.median),
            ("median_lower", self.median_lower),
            ("median_upper", self.median_upper),
        ]
        return [
            _row(endpoint, group, "survival", self.method, name, value, self.conf_level)
            for name, value in stats
        ]

    def as_ard(self, endpoint: str = "", group: str = "") -> pd.DataFrame:
        """:meth:`to_rows` as a frame."""
        return ard_frame(self.to_rows(endpoint, group))


@dataclass(frozen=True, eq=False)
class SubgroupResult:
    """Subgroup analysis of a binary endpoint.

    Attributes
    ----------
    forest : pandas.DataFrame
        Tidy forest-plot data, one row per subgroup level plus an ``overall`` row:
        ``subgroup, level, n1, x1, n2, x2, estimate, lower, upper, method, conf_level``.
    interactions : pandas.DataFrame
        One row per subgroup variable: ``subgroup, statistic, df, p_value, method, n_used,
        n_missing, notes``.
    method : str
        Risk-difference method key used for every level.
    conf_level : float
    """

    forest: pd.DataFrame
    interactions: pd.DataFrame
    method: str
    conf_level: float

    def to_rows(self, endpoint: str = "") -> list[dict[str, Any]]:
        """Long rows: estimates per subgroup level, then interaction tests."""
        rows: list[dict[str, Any]] = []
        for rec in self.forest.to_dict("records"):
            group = f"{rec['subgroup']}={rec['level']}"
            for name in ("x1", "n1", "x2", "n2", "estimate", "lower", "upper"):
                rows.append(
                    _row(
                        endpoint,
                        group,
                        "risk_difference",
                        self.method,
                        name,
                        rec[name],
                        self.conf_level,
                    )
                )
        for rec in self.interactions.to_dict("records"):
            for name in ("statistic", "df", "p_value"):
                rows.append(
                    _row(
                        endpoint,
                        str(rec["subgroup"]),
                        "interaction",
                        str(rec["method"]),
                        name,
                        rec[name],
                        None,
                    )
                )
        return rows

    def as_ard(self, endpoint: str = "") -> pd.DataFrame:
        """:meth:`to_rows` as a frame."""
        return ard_frame(self.to_rows(endpoint))
