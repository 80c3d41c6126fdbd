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
    "CoxResult",
    "EstimateResult",
    "KaplanMeierResult",
    "MMRMResult",
    "MultiplicityResult",
    "PHTestResult",
    "SubgroupResult",
    "TestResult",
    "TippingPointResult",
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


# ----------------------------------------------------------------------------------------------
# Results added for the statistical analysis plan (issue 13)
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PHTestResult:
    """Proportional-hazards check of a Cox model (``method="cox_zph"``).

    Attributes
    ----------
    method : str
        ``cox_zph``.
    transform : str
        Time transform g(t); ``km`` (1 - Kaplan-Meier, left-continuous), R's default.
    table : pandas.DataFrame
        One row per term plus ``GLOBAL``: ``term, chisq, df, p_value`` (as ``cox.zph()$table``);
        ``chisq`` and ``p_value`` NaN when the check is not estimable.
    not_estimable : str or None
        Why the check could not be computed (``None`` when it was), e.g. every event at one
        time, where R's ``cox.zph`` stops with "system is exactly singular".
    """

    method: str
    transform: str
    table: pd.DataFrame
    not_estimable: str | None = None

    @property
    def estimable(self) -> bool:
        """False when the check could not be computed (see ``not_estimable``)."""
        return self.not_estimable is None

    @property
    def global_p_value(self) -> float:
        """p-value of the global test (NaN when not estimable)."""
        return float(self.table.loc[self.table["term"] == "GLOBAL", "p_value"].iloc[0])

    def to_rows(self, endpoint: str = "", group: str = "") -> list[dict[str, Any]]:
        """Rows ``chisq, df, p_value`` per term (``group`` = ``<group>:<term>`` or the term)."""
        rows = []
        for rec in self.table.to_dict("records"):
            g = f"{group}:{rec['term']}" if group else str(rec["term"])
            for name in ("chisq", "df", "p_value"):
                rows.append(_row(endpoint, g, "ph_check", self.method, name, rec[name], None))
        return rows

    def as_ard(self, endpoint: str = "", group: str = "") -> pd.DataFrame:
        """:meth:`to_rows` as a frame."""
        return ard_frame(self.to_rows(endpoint, group))


@dataclass(frozen=True, eq=False)
class CoxResult:
    """Cox proportional-hazards model.

    Attributes
    ----------
    method : str
        ``cox_efron`` or ``cox_breslow``.
    coefficients : pandas.DataFrame
        One row per term: ``term, coef, hazard_ratio, std_error, z, p_value, lower, upper``
        (``lower``/``upper`` are the Wald limits of the hazard ratio).
    hazard_ratio : EstimateResult
        The first term (the treatment indicator for :func:`myotrial.stats.hazard_ratio`),
        ``effect="hazard_ratio"``, Wald interval, Wald p-value, ``std_error`` of log HR.
    wald, score, lrt : TestResult
        Global Wald, score (log-rank when the only term is the arm) and likelihood-ratio tests,
        df = number of terms.
    loglik_null, loglik : float
        Log partial likelihood at beta = 0 and at the estimate.
    covariance : pandas.DataFrame
        Inverse information at the estimate (terms x terms).
    conf_level : float
    n, n_events, n_strata, iterations : int
    ph_test : PHTestResult
        Proportional-hazards check (Schoenfeld residual score test, ``cox.zph``).
    notes : tuple of str
    not_estimable : str or None
        ``None`` for a regular fit. Otherwise why the hazard ratio is not estimable, e.g.
        ``"monotone likelihood: no events in one arm"``: a coefficient diverges (R warns
        "coefficient may be infinite" and prints a huge one). The diverging terms then have
        ``coef`` +/-inf, ``hazard_ratio`` inf or 0 and NaN standard error, z, p and limits;
        the Wald test is NaN; the score test (at beta = 0) and the likelihood-ratio test (at
        the supremum of the likelihood) remain valid; ``ph_test`` is not estimable.
    """

    method: str
    coefficients: pd.DataFrame
    hazard_ratio: EstimateResult
    wald: TestResult
    score: TestResult
    lrt: TestResult
    loglik_null: float
    loglik: float
    covariance: pd.DataFrame
    conf_level: float
    n: int
    n_events: int
    n_strata: int
    iterations: int
    ph_test: PHTestResult
    notes: tuple[str, ...] = ()
    not_estimable: str | None = None

    @property
    def estimable(self) -> bool:
        """False when the model is flagged not estimable (see ``not_estimable``)."""
        return self.not_estimable is None

    def to_rows(self, endpoint: str = "", group: str = "") -> list[dict[str, Any]]:
        """Rows: the hazard ratio of every term, the three global tests, the PH check."""
        rows: list[dict[str, Any]] = []
        for rec in self.coefficients.to_dict("records"):
            g = f"{group}:{rec['term']}" if group else str(rec["term"])
            for name in ("hazard_ratio", "lower", "upper", "coef", "std_error", "p_value"):
                rows.append(
                    _row(endpoint, g, "hazard_ratio", self.method, name, rec[name],
                         self.conf_level)
                )
        for label, test in (("wald", self.wald), ("score", self.score), ("lrt", self.lrt)):
            for name, value in (("statistic", test.statistic), ("p_value", test.p_value),
                                ("df", test.df)):
                rows.append(_row(endpoint, group, f"{label}_test", self.method, name, value,
                                 None))
        for name, value in (("n", self.n), ("n_events", self.n_events),
                            ("n_strata", self.n_strata)):
            rows.append(_row(endpoint, group, "hazard_ratio", self.method, name, value, None))
        rows.extend(self.ph_test.to_rows(endpoint, group))
        return rows

    def as_ard(self, endpoint: str = "", group: str = "") -> pd.DataFrame:
        """:meth:`to_rows` as a frame."""
        return ard_frame(self.to_rows(endpoint, group))


@dataclass(frozen=True, eq=False)
class MMRMResult:
    """Mixed model for repeated measures (``method="mmrm_us"``).

    Attributes
    ----------
    method : str
        ``mmrm_us``.
    differences : pandas.DataFrame
        One row per visit: ``visit, estimate, std_error, df, statistic, p_value, lower,
        upper, n1, n2`` (treatment minus control; ``n1``/``n2`` observed patients per arm).
    estimates : mapping of str to EstimateResult
        The same per visit as :class:`EstimateResult` (``effect="mean_difference"``).
    fixed_effects : pandas.DataFrame
        ``term, estimate, std_error`` of every fixed effect.
    covariance : pandas.DataFrame
        Estimated unstructured within-patient covariance (visits x visits).
    reml_loglik : float
        Restricted log-likelihood at the estimate (with the 2 pi constant, as nlme).
    conf_level : float
    n_subjects, n_observations : int
    df_method : str
        ``residual`` (N - p, as ``nlme::gls``).
    notes : tuple of str
    """

    method: str
    differences: pd.DataFrame
    estimates: Mapping[str, EstimateResult]
    fixed_effects: pd.DataFrame
    covariance: pd.DataFrame
    reml_loglik: float
    conf_level: float
    n_subjects: int
    n_observations: int
    df_method: str
    notes: tuple[str, ...] = ()

    def to_rows(self, endpoint: str = "") -> list[dict[str, Any]]:
        """Rows of every per-visit difference (``group`` = ``visit=<v>``)."""
        rows: list[dict[str, Any]] = []
        for visit, est in self.estimates.items():
            rows.extend(est.to_rows(endpoint, f"visit={visit}"))
        return rows

    def as_ard(self, endpoint: str = "") -> pd.DataFrame:
        """:meth:`to_rows` as a frame."""
        return ard_frame(self.to_rows(endpoint))


@dataclass(frozen=True, eq=False)
class MultiplicityResult:
    """Multiple testing procedure applied to a family of hypotheses.

    Attributes
    ----------
    method : str
        ``fixed_sequence``, ``holm`` or ``hochberg``.
    alpha : float
        Family-wise significance level.
    table : pandas.DataFrame
        One row per hypothesis in the order given: ``hypothesis, p_value, adjusted_p,
        step`` (position in the testing order, 1 = first), ``tested`` (compared with a
        critical level by the procedure), ``alpha_at_test`` (that level; NaN if not tested),
        ``rejected``.
    """

    method: str
    alpha: float
    table: pd.DataFrame

    @property
    def rejected(self) -> tuple[str, ...]:
        """Names of the rejected hypotheses."""
        return tuple(str(h) for h in self.table.loc[self.table["rejected"], "hypothesis"])

    def to_rows(self, endpoint: str = "") -> list[dict[str, Any]]:
        """Rows per hypothesis (``group`` = hypothesis)."""
        rows: list[dict[str, Any]] = []
        for rec in self.table.to_dict("records"):
            for name in ("p_value", "adjusted_p", "step", "tested", "alpha_at_test", "rejected"):
                rows.append(
                    _row(endpoint, str(rec["hypothesis"]), "multiplicity", self.method, name,
                         rec[name], None)
                )
        return rows

    def as_ard(self, endpoint: str = "") -> pd.DataFrame:
        """:meth:`to_rows` as a frame."""
        return ard_frame(self.to_rows(endpoint))


@dataclass(frozen=True, eq=False)
class TippingPointResult:
    """Tipping-point analysis of missing binary outcomes (``method="tipping_point"``).

    Attributes
    ----------
    method : str
        ``tipping_point``.
    test_method : str
        Test key used per cell (``fisher``, ``chisq`` or ``mn_score_test``).
    estimate_method : str
        Risk-difference method key used per cell.
    alpha : float
    conf_level : float
    grid : pandas.DataFrame
        One row per cell: ``k1, k2`` (missing patients imputed as responders in the treatment /
        control arm), ``rate1, rate2`` (k / missing; NaN if none missing), ``x1, n1, x2, n2``,
        ``estimate, lower, upper, p_value, significant``.
    frontier : pandas.DataFrame
        Per ``k1``: ``k2_tip``, the smallest ``k2`` whose conclusion (``p < alpha``) differs
        from the reference cell (k1, k2) = (0, 0), i.e. all missing as non-responders; NaN if
        none does. Rate grid: per ``rate1`` (with its ``k1``), ``rate2_tip`` and its
        ``k2_tip``.
    counts : mapping
        Observed data: ``x1_observed, n1_observed, missing1``, same for arm 2 (and
        ``grid_step`` for a rate grid).
    grid_step : float or None
        ``None`` for the count grid; the step of the imputed-response-rate grid otherwise
        (``grid`` then has one row per pair of rates; ``rate1``/``rate2`` are the grid rates
        and ``k1``/``k2`` = floor(rate x missing + 1/2)).
    """

    method: str
    test_method: str
    estimate_method: str
    alpha: float
    conf_level: float
    grid: pd.DataFrame
    frontier: pd.DataFrame
    counts: Mapping[str, float | int] = field(default_factory=dict)
    grid_step: float | None = None

    @property
    def robust(self) -> bool:
        """True if no cell of the grid changes the conclusion of the reference cell."""
        return bool(self.frontier["k2_tip"].isna().all())

    def to_rows(self, endpoint: str = "") -> list[dict[str, Any]]:
        """Rows: observed counts, number of cells, cells changing the conclusion, frontier."""
        ref = self.grid[(self.grid["k1"] == 0) & (self.grid["k2"] == 0)].iloc[0]
        flips = int((self.grid["significant"] != ref["significant"]).sum())
        stats: list[tuple[str, str, Any]] = [("", k, v) for k, v in self.counts.items()]
        stats += [("", "n_cells", len(self.grid)), ("", "n_cells_changing", flips),
                  ("", "robust", self.robust)]
        for rec in self.frontier.to_dict("records"):
            if self.grid_step is None:
                stats.append((f"k1={rec['k1']}", "k2_tip", rec["k2_tip"]))
            else:
                g = f"rate1={rec['rate1']:g}"
                stats += [(g, "k1", rec["k1"]), (g, "rate2_tip", rec["rate2_tip"]),
                          (g, "k2_tip", rec["k2_tip"])]
        return [
            _row(endpoint, g, "tipping_point", self.method, name, value, self.conf_level)
            for g, name, value in stats
        ]

    def as_ard(self, endpoint: str = "") -> pd.DataFrame:
        """:meth:`to_rows` as a frame."""
        return ard_frame(self.to_rows(endpoint))
