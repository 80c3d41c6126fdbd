"""One analysis entry point: derived tables + protocol + its SAP -> typed, frozen results.

:func:`analyze` follows the protocol's statistical analysis plan (``protocol.sap``,
:class:`myotrial.sap.StatisticalAnalysisPlan`; :func:`myotrial.sap.default_sap` for a protocol
without ``[sap]``). Every result names its method key of :data:`myotrial.stats.METHODS`:

* binary endpoints (ADRS, all patients of the population, non-responder imputation): planned
  as ``randomised`` -> the risk difference (treatment - control) with the SAP's ``estimate``
  (``wald`` reproduces the published ProDERM intervals), its ``test`` (Fisher's exact test by
  default), the odds ratio, Clopper-Pearson intervals per arm, the exact unconditional interval
  (Chan-Zhang) for the primary endpoint, the stratified MH/Sato risk difference and the CMH
  test when there are strata, a small-sample note where an expected count is below 5 and the
  CI/test pairing stated; planned as ``descriptive`` (e.g. week 40, when everyone is on
  open-label treatment) -> per-arm counts with Clopper-Pearson intervals only;
* continuous endpoints (ADEFF, observed cases): mean difference (``pooled_t`` by default);
* core set measure changes at the primary week (observed cases): mean difference of CHG and
  ANCOVA adjusted for baseline (and for the strata);
* repeated measures: MMRM (unstructured covariance) of the change in each core set measure over
  the protocol's randomised-period assessment weeks after baseline;
* time to event (ADTTE): Kaplan-Meier by arm, log-rank, Cox hazard ratio with the
  proportional-hazards check, and with strata the stratified Cox model and log-rank test;
* subgroups of the primary endpoint;
* analysis populations from ADSL (:func:`population_ids`), the multiplicity procedure over the
  SAP's hypotheses (gatekeeping), and every sensitivity analysis of the SAP (bounded TIS,
  multiple imputation, tipping point, other populations).

Results export long "analysis results" rows (:meth:`AnalysisResults.to_ard`) and one wide row per
endpoint (:meth:`AnalysisResults.summary`), so tables and reports never recompute.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.linalg import LinAlgWarning

from myotrial.derive import DerivedTables, has_safety_periods, safety_subjects
from myotrial.protocol import BinaryEndpoint, Protocol
from myotrial.rules import load_tis_rules
from myotrial.sap import (
    ANALYSIS_METHODS,
    Analysis,
    AnalysisPopulation,
    SensitivityAnalysis,
    StatisticalAnalysisPlan,
    default_sap,
)
from myotrial.stats import (
    RISK_DIFFERENCE_METHODS,
    TIPPING_POINT_TESTS,
    CoxResult,
    EstimateResult,
    KaplanMeierResult,
    MMRMResult,
    MultiplicityResult,
    SubgroupResult,
    TestResult,
    TippingPointResult,
    adjust_pvalues,
    ancova,
    ard_frame,
    bounded_tis,
    chisq_test,
    cmh_test,
    count_responders,
    expected_count_notes,
    fisher_exact_test,
    hazard_ratio,
    kaplan_meier_by_group,
    logrank_test,
    mean_difference,
    mi_risk_difference,
    mmrm,
    odds_ratio,
    proportion_exact,
    risk_difference,
    risk_difference_exact,
    risk_difference_score_test,
    risk_difference_stratified,
    subgroup_analysis,
    summarise_adverse_events,
    summarise_ae_terms,
    tipping_point,
    tis_response,
    validate_method,
)

__all__ = [
    "CSM_PARAMETERS",
    "AnalysisResults",
    "EndpointResult",
    "PopulationSummary",
    "SensitivityResult",
    "analyze",
    "population_ids",
    "resolve_strata",
]

#: Core set measures (and CDASI) whose change from baseline is analysed at the primary week and,
#: by MMRM, over the randomised-period visits.
CSM_PARAMETERS = ("PGA", "PTGA", "MMT8", "HAQ", "EXTRAMUS", "CDASIA")
Kind = Literal["binary", "continuous", "change", "repeated", "time_to_event"]
#: Column of the combined stratum label added to per-patient frames.
STRATUM = "STRATUM"


def _note_rows(endpoint: str, group: str, notes: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {
            "endpoint": endpoint,
            "group": group,
            "effect": "note",
            "method": "",
            "method_label": "",
            "statistic": "note",
            "value": text,
            "conf_level": None,
        }
        for text in notes
    ]


def _summary_rows(
    endpoint: str, group: str, effect: str, stats: dict[str, Any]
) -> list[dict[str, Any]]:
    return [
        {
            "endpoint": endpoint,
            "group": group,
            "effect": effect,
            "method": "",
            "method_label": "",
            "statistic": name,
            "value": value,
            "conf_level": None,
        }
        for name, value in stats.items()
    ]


@dataclass(frozen=True)
class EndpointResult:
    """The analysis of one endpoint: per-arm summaries, the effect and the test.

    ``comparison`` is the SAP's: ``randomised`` (between-arm estimate and test) or
    ``descriptive`` (per-arm summaries only; ``arm_estimates`` holds each arm's proportion with
    its Clopper-Pearson interval). ``stratified_estimate``/``stratified_test`` are the
    stratum-adjusted analyses by ``strata``; ``cox``/``cox_stratified`` the Cox models of a
    time-to-event endpoint; ``mmrm`` the repeated-measures model of a ``repeated`` endpoint.
    ``notes``: small-sample notes, things that could not be estimated; ``pairing`` states how
    the interval and the test relate.
    """

    endpoint: str
    label: str
    kind: Kind
    population: str
    arms: dict[str, dict[str, float | int]]
    estimate: EstimateResult | None = None
    test: TestResult | None = None
    extra: tuple[EstimateResult, ...] = ()
    km: dict[str, KaplanMeierResult] = field(default_factory=dict)
    comparison: Literal["randomised", "descriptive"] = "randomised"
    role: str = "secondary"
    arm_estimates: dict[str, EstimateResult] = field(default_factory=dict)
    stratified_estimate: EstimateResult | None = None
    stratified_test: TestResult | None = None
    strata: tuple[str, ...] = ()
    cox: CoxResult | None = None
    cox_stratified: CoxResult | None = None
    stratified_logrank: TestResult | None = None
    mmrm: MMRMResult | None = None
    notes: tuple[str, ...] = ()
    pairing: str = ""

    @property
    def p_value(self) -> float | None:
        """The p-value of the planned test (the test's, else the estimate's)."""
        if self.test is not None:
            return self.test.p_value
        return None if self.estimate is None else self.estimate.p_value

    def to_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for arm, stats in self.arms.items():
            rows.extend(_summary_rows(self.endpoint, arm, "summary", dict(stats)))
        for arm, est in self.arm_estimates.items():
            rows.extend(est.to_rows(self.endpoint, arm))
        for res in (self.estimate, *self.extra):
            if res is not None:
                rows.extend(res.to_rows(self.endpoint))
        if self.test is not None:
            rows.extend(self.test.to_rows(self.endpoint))
        strata = "strata=" + "+".join(self.strata) if self.strata else ""
        if self.stratified_estimate is not None:
            rows.extend(self.stratified_estimate.to_rows(self.endpoint, strata))
        if self.stratified_test is not None:
            rows.extend(self.stratified_test.to_rows(self.endpoint, strata))
        for arm, km in self.km.items():
            rows.extend(km.to_rows(self.endpoint, arm))
        if self.cox is not None:
            rows.extend(self.cox.to_rows(self.endpoint))
        if self.cox_stratified is not None:
            rows.extend(self.cox_stratified.to_rows(self.endpoint, strata))
        if self.stratified_logrank is not None:
            rows.extend(self.stratified_logrank.to_rows(self.endpoint, strata))
        if self.mmrm is not None:
            rows.extend(self.mmrm.to_rows(self.endpoint))
        rows.extend(
            _summary_rows(
                self.endpoint, "", "plan", {"comparison": self.comparison, "role": self.role}
            )
        )
        if self.pairing:
            rows.extend(_summary_rows(self.endpoint, "", "plan", {"ci_test_pairing": self.pairing}))
        rows.extend(_note_rows(self.endpoint, "", self.notes))
        return rows


@dataclass(frozen=True)
class PopulationSummary:
    """An analysis population of the SAP, selected from ADSL by its rule: patients per arm."""

    name: str
    label: str
    rule: str
    n: dict[str, int]
    subjects: frozenset[str] = field(default_factory=frozenset, repr=False)

    def to_rows(self) -> list[dict[str, Any]]:
        return _summary_rows("populations", self.name, "population", {"rule": self.rule}) + [
            row
            for arm, count in self.n.items()
            for row in _summary_rows(
                "populations", f"{self.name}:{arm}", "population", {"n": count}
            )
        ]


@dataclass(frozen=True, eq=False)
class SensitivityResult:
    """One sensitivity analysis of the SAP (:class:`myotrial.sap.SensitivityAnalysis`).

    ``arms``: per arm ``x`` (responders under the analysis; the mean over imputations for
    multiple imputation), ``n`` and method-specific counts (``gained``: responders who are
    non-responders in the primary analysis; ``undetermined``: bounded TIS left undecided;
    ``missing``: missing outcomes). ``estimate``/``test``: the between-arm analysis;
    ``tipping``: the tipping-point grid; ``rate_grid``: the SAP's grid of imputed response
    rates (``grid_step``) mapped to imputed responders per arm.
    """

    name: str
    endpoint: str
    method: str
    description: str
    population: str
    arms: dict[str, dict[str, float | int]]
    estimate: EstimateResult | None = None
    test: TestResult | None = None
    tipping: TippingPointResult | None = None
    grid_step: float | None = None
    rate_grid: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()

    @property
    def p_value(self) -> float | None:
        if self.test is not None:
            return self.test.p_value
        return None if self.estimate is None else self.estimate.p_value

    def tipping_summary(self) -> str:
        """The tipping point in words (tipping-point analyses only)."""
        tp = self.tipping
        if tp is None:
            return ""
        ref = tp.grid.iloc[0]
        verdict = "significant" if bool(ref["significant"]) else "not significant"
        m1, m2 = int(tp.counts["missing1"]), int(tp.counts["missing2"])
        if m1 + m2 == 0:
            return "no missing outcomes: nothing to tip"
        if tp.robust:
            return (
                f"the conclusion ({verdict} at alpha {tp.alpha:g}) holds for every imputation of "
                f"the {m1} + {m2} missing outcomes"
            )
        row0 = tp.frontier[tp.frontier["k1"] == 0]
        if len(row0) and not math.isnan(float(row0["k2_tip"].iloc[0])):
            k2 = int(row0["k2_tip"].iloc[0])
            return (
                f"tipping point: with every missing treatment outcome a non-responder, the "
                f"conclusion ({verdict}) changes when {k2} of {m2} missing control outcomes "
                f"({100 * k2 / m2:.0f}%) are responders"
            )
        first = tp.frontier.dropna().iloc[0]
        return (
            f"tipping point: the conclusion ({verdict}) changes first at {int(first['k1'])} of "
            f"{m1} treatment and {int(first['k2_tip'])} of {m2} control missing outcomes imputed "
            "as responders"
        )

    def to_rows(self) -> list[dict[str, Any]]:
        group = f"sensitivity={self.name}"
        rows: list[dict[str, Any]] = []
        for arm, stats in self.arms.items():
            rows.extend(_summary_rows(self.endpoint, f"{group}:{arm}", "summary", dict(stats)))
        if self.estimate is not None:
            rows.extend(self.estimate.to_rows(self.endpoint, group))
        if self.test is not None:
            rows.extend(self.test.to_rows(self.endpoint, group))
        if self.tipping is not None:
            for row in self.tipping.to_rows(self.endpoint):
                row["group"] = f"{group}:{row['group']}" if row["group"] else group
                rows.append(row)
            rows.extend(
                _summary_rows(self.endpoint, group, "tipping_point",
                              {"tipping_point": self.tipping_summary()})
            )
        rows.extend(_note_rows(self.endpoint, group, self.notes))
        return rows


@dataclass(frozen=True)
class AnalysisResults:
    """All results of one trial analysis."""

    protocol: str
    treatment: str
    control: str
    conf_level: float
    endpoints: tuple[EndpointResult, ...]
    subgroups: SubgroupResult | None = None
    #: Adverse-event overview and terms by arm and period (``summarise_adverse_events`` /
    #: ``summarise_ae_terms``), when adverse events were given.
    safety_overview: pd.DataFrame | None = None
    safety_terms: pd.DataFrame | None = None
    #: The plan followed (the protocol's SAP), the strata used, the analysis populations,
    #: the multiplicity procedure's result and the sensitivity analyses.
    sap: StatisticalAnalysisPlan | None = None
    strata: tuple[str, ...] = ()
    populations: tuple[PopulationSummary, ...] = ()
    multiplicity: MultiplicityResult | None = None
    multiplicity_notes: tuple[str, ...] = ()
    sensitivity: tuple[SensitivityResult, ...] = ()
    #: CLI/API overrides of the SAP that applied (``binary_method``, ...).
    overrides: dict[str, str] = field(default_factory=dict)

    def get(self, endpoint: str) -> EndpointResult:
        for ep in self.endpoints:
            if ep.endpoint == endpoint:
                return ep
        raise KeyError(
            f"no result for {endpoint!r}; have {', '.join(e.endpoint for e in self.endpoints)}"
        )

    def sensitivity_result(self, name: str) -> SensitivityResult:
        for s in self.sensitivity:
            if s.name == name:
                return s
        raise KeyError(f"no sensitivity analysis {name!r}")

    def to_ard(self) -> pd.DataFrame:
        """Long analysis-results rows (pharmaverse ``cards`` style)."""
        rows: list[dict[str, Any]] = []
        for ep in self.endpoints:
            rows.extend(ep.to_rows())
        if self.subgroups is not None:
            rows.extend(self.subgroups.to_rows("subgroups"))
        for pop in self.populations:
            rows.extend(pop.to_rows())
        if self.multiplicity is not None:
            rows.extend(self.multiplicity.to_rows("multiplicity"))
        rows.extend(_note_rows("multiplicity", "", self.multiplicity_notes))
        for sens in self.sensitivity:
            rows.extend(sens.to_rows())
        return ard_frame(rows)

    def summary(self) -> pd.DataFrame:
        """One row per endpoint: counts, estimate, CI, p-value, the methods used, and the
        stratified estimate and test when there are strata."""
        recs = []
        for ep in self.endpoints:
            t, c = ep.arms.get(self.treatment, {}), ep.arms.get(self.control, {})
            est, sest, stest = ep.estimate, ep.stratified_estimate, ep.stratified_test
            recs.append(
                {
                    "endpoint": ep.endpoint,
                    "label": ep.label,
                    "kind": ep.kind,
                    "comparison": ep.comparison,
                    "population": ep.population,
                    "treatment": _describe(t, ep.kind),
                    "control": _describe(c, ep.kind),
                    "n_treatment": t.get("n"),
                    "n_control": c.get("n"),
                    "effect": None if est is None else est.effect,
                    "estimate": None if est is None else est.estimate,
                    "lower": None if est is None else est.lower,
                    "upper": None if est is None else est.upper,
                    "conf_level": self.conf_level,
                    "method": None if est is None else est.method,
                    "p_value": ep.p_value,
                    "test": None if ep.test is None else ep.test.method,
                    "strata": "+".join(ep.strata) or None,
                    "stratified_estimate": None if sest is None else sest.estimate,
                    "stratified_lower": None if sest is None else sest.lower,
                    "stratified_upper": None if sest is None else sest.upper,
                    "stratified_method": None if sest is None else sest.method,
                    "stratified_p_value": None if stest is None else stest.p_value,
                    "stratified_test": None if stest is None else stest.method,
                    "notes": "; ".join(ep.notes) or None,
                }
            )
        return pd.DataFrame(recs)


def _describe(stats: dict[str, float | int], kind: Kind) -> str:
    if not stats:
        return ""
    n = int(stats.get("n", 0))
    if n == 0:
        return "no patients"
    if kind == "binary":
        return f"{int(stats['x'])}/{n} ({100 * stats['x'] / n:.1f}%)"
    if kind == "time_to_event":
        med = float(stats.get("median", np.nan))
        events = int(stats["events"])
        if events == 0:
            return f"no events (n={n})"
        text = "median not reached" if math.isnan(med) else f"median {med:g} days"
        return f"{text}, {events}/{n} events"
    return f"{stats['mean']:.2f} ± {stats['sd']:.2f} (n={n})"


def _mean_sd(values: pd.Series) -> dict[str, float | int]:
    v = values.astype("float64").to_numpy()
    return {
        "n": int(v.size),
        "mean": float(v.mean()) if v.size else np.nan,
        "sd": float(v.std(ddof=1)) if v.size > 1 else np.nan,
    }


# ----------------------------------------------------------------------------------------------
# Populations and strata (glue: ADSL flags -> patient sets)
# ----------------------------------------------------------------------------------------------
def _yes(series: pd.Series) -> pd.Series:
    return series.astype(str).str.upper() == "Y"


def population_ids(adsl: pd.DataFrame, rule: str, protocol: Protocol) -> frozenset[str]:
    """Patients (USUBJID) of an analysis population rule (:data:`myotrial.sap.POPULATION_RULES`),
    read from the ADSL flags derivation wrote (never recomputed from visits):

    ``randomised``: ``RANDFL = Y``; ``entered_extension``: and ``EXTFL = Y``;
    ``completed_primary_week``: and ``COMP16FL = Y``; ``per_protocol`` (PROJECT RULE): and
    ``COMP16FL = Y``, ``TRT01A = TRT01P``, ``CROSSFL`` not ``Y`` and no confirmed deterioration
    up to the primary week (``CDWK`` missing or after it).
    """
    rand = _yes(adsl["RANDFL"])
    if rule == "randomised":
        mask = rand
    elif rule == "entered_extension":
        mask = rand & _yes(adsl["EXTFL"])
    elif rule == "completed_primary_week":
        mask = rand & _yes(adsl["COMP16FL"])
    elif rule == "per_protocol":
        cdwk = pd.to_numeric(adsl["CDWK"], errors="coerce")
        as_planned = (
            adsl["TRT01A"].astype(str) == adsl["TRT01P"].astype(str)
            if {"TRT01A", "TRT01P"} <= set(adsl.columns)
            else pd.Series(True, index=adsl.index)
        )
        mask = (
            rand
            & _yes(adsl["COMP16FL"])
            & as_planned
            & ~_yes(adsl["CROSSFL"])
            & (cdwk.isna() | (cdwk > protocol.primary_week))
        )
    else:
        raise ValueError(f"unknown population rule {rule!r}")
    return frozenset(adsl.loc[mask, "USUBJID"].astype(str))


def resolve_strata(adsl: pd.DataFrame, strata: Sequence[str]) -> tuple[str, ...]:
    """ADSL column names for ``strata`` (exact, else the one case-insensitive match).

    Raises ValueError naming the bad factor and the available columns, or the subjects whose
    stratum is missing.
    """
    out = []
    for name in strata:
        if name in adsl.columns:
            out.append(name)
            continue
        matches = [c for c in adsl.columns if str(c).lower() == name.lower()]
        if len(matches) != 1:
            raise ValueError(
                f"--strata {name!r}: not a column of the subject table (ADSL); have "
                f"{', '.join(map(str, adsl.columns))}"
            )
        out.append(str(matches[0]))
    if len(set(out)) != len(out):
        raise ValueError(f"--strata names a factor twice: {list(strata)}")
    rand = adsl[_yes(adsl["RANDFL"])]
    for col in out:
        missing = rand.loc[rand[col].isna() | (rand[col].astype(str).str.strip() == ""), "USUBJID"]
        if len(missing):
            raise ValueError(
                f"stratum {col!r} is missing for randomised subject(s) "
                f"{', '.join(map(str, missing.head(5)))}"
            )
    return tuple(out)


def _stratum_labels(adsl: pd.DataFrame, strata: tuple[str, ...]) -> pd.Series:
    """USUBJID -> one stratum label (``col=value`` joined by ``, ``)."""
    ids = adsl["USUBJID"].astype(str)
    if not strata:
        return pd.Series("all", index=ids)
    parts = [col + "=" + adsl[col].astype(str) for col in strata]
    label = parts[0]
    for p in parts[1:]:
        label = label + ", " + p
    return pd.Series(label.to_numpy(), index=ids)


# ----------------------------------------------------------------------------------------------
# Binary endpoints
# ----------------------------------------------------------------------------------------------
_SELF_TESTED = {
    "mn_score_test": "the Miettinen-Nurminen interval is paired with the score test it inverts: "
    "the interval excludes 0 exactly when p < 1 - confidence level",
    "chan_zhang": "the exact unconditional (Chan-Zhang) interval is paired with the exact "
    "unconditional score test it inverts",
    "santner_snell": "the exact unconditional (Santner-Snell) interval is paired with the exact "
    "unconditional test it inverts",
}


def _pairing(est: EstimateResult, test: TestResult | None, alpha: float) -> str:
    """How the interval and the p-value relate, with a warning when they disagree here."""
    from myotrial.stats import get_method

    if test is None:
        text = _SELF_TESTED.get(est.method, "")
        if not text:
            return ""
        return text
    text = (
        f"{get_method(est.method).label} interval with {get_method(test.method).label}: not a "
        "matched pair (the interval does not invert the test), so they can disagree in a small "
        "trial; the score pair (mn_score_test) cannot"
    )
    excludes = est.lower > 0 or est.upper < 0
    if excludes != (test.p_value < alpha):
        text += (
            f". HERE THEY DISAGREE: the {est.conf_level:.0%} CI "
            f"{'excludes' if excludes else 'includes'} 0 while p = {test.p_value:.4g}"
        )
    return text


def _binary_effect(
    x1: int,
    n1: int,
    x2: int,
    n2: int,
    est_key: str,
    test_key: str | None,
    level: float,
) -> tuple[EstimateResult, TestResult | None]:
    if est_key in ("chan_zhang", "santner_snell"):
        est = risk_difference_exact(x1=x1, n1=n1, x2=x2, n2=n2, method=est_key, conf_level=level)
    elif est_key == "mn_score_test":
        est = risk_difference_score_test(x1=x1, n1=n1, x2=x2, n2=n2, conf_level=level)
    else:
        est = risk_difference(x1=x1, n1=n1, x2=x2, n2=n2, method=est_key, conf_level=level)
    test: TestResult | None = None
    if test_key == "fisher":
        test = fisher_exact_test(x1=x1, n1=n1, x2=x2, n2=n2)
    elif test_key in ("chisq", "chisq_yates"):
        test = chisq_test(x1=x1, n1=n1, x2=x2, n2=n2, correction=test_key == "chisq_yates")
    return est, test


@dataclass(frozen=True)
class _Plan:
    """The resolved methods for one analysis (SAP, then overrides)."""

    estimate: str
    test: str | None
    stratified_estimate: str
    stratified_test: str


def _binary_plan(plan: Analysis, binary_method: str | None, binary_test: str | None) -> _Plan:
    est = binary_method or plan.estimate or "wald"
    test: str | None
    if binary_test is not None:
        test = binary_test
    elif plan.test is not None:
        test = plan.test
    else:
        test = None if est in _SELF_TESTED else "fisher"
    if binary_method is not None and binary_test is None and est in _SELF_TESTED:
        test = None  # a self-tested interval brings its own test
    return _Plan(
        est, test, plan.stratified_estimate or "mh_sato", plan.stratified_test or "cmh"
    )


def _binary_frame(
    derived: DerivedTables, ep: BinaryEndpoint, ids: frozenset[str] | None = None
) -> pd.DataFrame:
    proto = derived.protocol
    adrs = derived.adrs
    rows = adrs[(adrs["PARAMCD"] == ep.name) & adrs["ARMCD"].isin([proto.treatment.code,
                                                                   proto.control.code])]
    if ids is not None:
        rows = rows[rows["USUBJID"].astype(str).isin(ids)]
    return rows.assign(USUBJID=rows["USUBJID"].astype(str)).reset_index(drop=True)


def _counts(rows: pd.DataFrame, trt: str, ctl: str, response: str = "AVAL") -> tuple[int, ...]:
    t, c = rows[rows["ARMCD"] == trt], rows[rows["ARMCD"] == ctl]
    return int(t[response].sum()), len(t), int(c[response].sum()), len(c)


def _stratified_binary(
    rows: pd.DataFrame,
    labels: pd.Series,
    trt: str,
    ctl: str,
    plan: _Plan,
    level: float,
    response: str = "AVAL",
) -> tuple[EstimateResult, TestResult, tuple[str, ...]]:
    data = rows.assign(**{STRATUM: labels.reindex(rows["USUBJID"]).to_numpy()})
    tab = count_responders(
        data, arm="ARMCD", response=response, treatment=trt, control=ctl, strata=STRATUM
    )
    x1, n1, x2, n2 = (tab[k].astype(int).tolist() for k in ("x1", "n1", "x2", "n2"))
    names = tab["stratum"].astype(str).tolist()
    est = risk_difference_stratified(
        x1=x1, n1=n1, x2=x2, n2=n2, strata=names, method=plan.stratified_estimate,
        conf_level=level,
    )
    test = cmh_test(x1=x1, n1=n1, x2=x2, n2=n2, strata=names)
    notes = tuple(
        f"stratified: {n}" for n in expected_count_notes(x1=x1, n1=n1, x2=x2, n2=n2)
    )
    return est, test, notes


def _analyse_binary(
    rows: pd.DataFrame,
    ep: BinaryEndpoint,
    plan: Analysis,
    methods: _Plan,
    *,
    proto: Protocol,
    level: float,
    alpha: float,
    strata: tuple[str, ...],
    labels: pd.Series,
    population: str,
    exact: bool,
) -> EndpointResult:
    trt, ctl = proto.treatment.code, proto.control.code
    x1, n1, x2, n2 = _counts(rows, trt, ctl)
    arms: dict[str, dict[str, float | int]] = {trt: {"x": x1, "n": n1}, ctl: {"x": x2, "n": n2}}
    per_arm = {
        arm: proportion_exact(x=x, n=n, conf_level=level)
        for arm, x, n in ((trt, x1, n1), (ctl, x2, n2))
        if n > 0
    }
    common: dict[str, Any] = dict(role=plan.role, arm_estimates=per_arm)
    if plan.comparison == "descriptive":
        return EndpointResult(
            ep.name, ep.label, "binary", population, arms, comparison="descriptive",
            notes=("descriptive: not a randomised comparison (no between-arm estimate or test)",),
            **common,
        )
    if n1 == 0 or n2 == 0:
        return EndpointResult(
            ep.name, ep.label, "binary", population, arms,
            notes=("an arm has no patients: no between-arm comparison",), **common,
        )
    est, test = _binary_effect(x1, n1, x2, n2, methods.estimate, methods.test, level)
    extra = [odds_ratio(x1=x1, n1=n1, x2=x2, n2=n2, conf_level=level)]
    if exact and methods.estimate not in ("chan_zhang", "santner_snell"):
        extra.append(
            risk_difference_exact(x1=x1, n1=n1, x2=x2, n2=n2, method="chan_zhang",
                                  conf_level=level)
        )
    notes = list(expected_count_notes(x1=x1, n1=n1, x2=x2, n2=n2))
    sest = stest = None
    if strata:
        sest, stest, snotes = _stratified_binary(rows, labels, trt, ctl, methods, level)
        notes += [n for n in (*snotes, *sest.notes, *stest.notes) if n not in notes]
    return EndpointResult(
        ep.name, ep.label, "binary", population, arms, est, test, tuple(extra),
        stratified_estimate=sest, stratified_test=stest, strata=strata,
        notes=tuple(dict.fromkeys(notes)), pairing=_pairing(est, test, alpha), **common,
    )


# ----------------------------------------------------------------------------------------------
# Sensitivity analyses of a binary TIS endpoint
# ----------------------------------------------------------------------------------------------
def _outcome_frame(derived: DerivedTables, ep: BinaryEndpoint, rows: pd.DataFrame) -> pd.DataFrame:
    """Per patient of ``rows`` (ADRS): arm, primary response, whether the composite rule makes
    them a non-responder whatever the measures (confirmed deterioration up to
    ``no_deterioration_through_week``), whether they had a visit at the endpoint week, and the
    six slot points of that visit (NaN where a measure is missing)."""
    slots = list(load_tis_rules().slots)
    cols = [f"points_{s}" for s in slots]
    scored = derived.scored
    visit = scored[pd.to_numeric(scored["visit_week"], errors="coerce") == ep.week]
    visit = visit.assign(subject_id=visit["subject_id"].astype(str)).drop_duplicates("subject_id")
    points = visit.set_index("subject_id")[cols].astype(float)
    out = rows[["USUBJID", "ARMCD", "AVAL", "TIS"]].copy()
    out["AVAL"] = out["AVAL"].astype(int)
    cdwk = pd.to_numeric(rows["CDWK"], errors="coerce")
    through = ep.no_deterioration_through_week
    out["forced"] = (cdwk.notna() & (cdwk <= through)).to_numpy() if through is not None else False
    out["has_visit"] = out["USUBJID"].isin(points.index).to_numpy()
    out = out.join(points, on="USUBJID")
    out["observed"] = out["forced"] | pd.to_numeric(out["TIS"], errors="coerce").notna()
    return out.reset_index(drop=True)


def _sens_bounded(
    frame: pd.DataFrame, ep: BinaryEndpoint, proto: Protocol, methods: _Plan, level: float,
) -> tuple[dict[str, dict[str, float | int]], EstimateResult, TestResult | None, tuple[str, ...]]:
    trt, ctl = proto.treatment.code, proto.control.code
    visit = frame[frame["has_visit"]]
    bounded = bounded_tis(visit, threshold=ep.threshold)
    decided = pd.Series(bounded["responder_bounded"].to_numpy(), index=visit.index)
    resp = pd.Series(0, index=frame.index)
    yes = decided.fillna(False).astype(bool)
    resp.loc[yes[yes].index] = 1
    resp[frame["forced"]] = 0
    undetermined = pd.Series(False, index=frame.index)
    undetermined.loc[decided[decided.isna()].index] = True
    undetermined &= ~frame["forced"]
    data = frame.assign(RESP=resp)
    arms: dict[str, dict[str, float | int]] = {}
    for arm in (trt, ctl):
        sel = data["ARMCD"] == arm
        arms[arm] = {
            "x": int(data.loc[sel, "RESP"].sum()),
            "n": int(sel.sum()),
            "gained": int(((data["RESP"] == 1) & (data["AVAL"] == 0) & sel).sum()),
            "undetermined": int((undetermined & sel).sum()),
            "no_visit": int((~data["has_visit"] & ~data["forced"] & sel).sum()),
        }
    x1, n1, x2, n2 = _counts(data, trt, ctl, "RESP")
    est, test = _binary_effect(x1, n1, x2, n2, methods.estimate, methods.test, level)
    notes = (
        "a missing measure contributes 0 (lower bound) and its maximum (upper bound); response "
        "where both bounds agree; undetermined patients and patients without a visit count as "
        "non-responders; confirmed deterioration stays a non-responder (composite)",
    )
    return arms, est, test, notes


def _sens_mi(
    frame: pd.DataFrame, ep: BinaryEndpoint, proto: Protocol, sens: SensitivityAnalysis,
    level: float, n_imputations: int | None,
) -> tuple[dict[str, dict[str, float | int]], EstimateResult | None, tuple[str, ...]]:
    """Glue for :func:`myotrial.stats.mi_risk_difference`: the slots with a missing value at
    the endpoint visit are imputed; the other slots that vary are complete predictors. Patients
    without a visit (and confirmed deterioration) are non-responders whatever is imputed, so
    their rows never enter a fit (their predictors are set to 0 only to be complete)."""
    trt, ctl = proto.treatment.code, proto.control.code
    slots = list(load_tis_rules().slots)
    cols = [f"points_{s}" for s in slots]
    visit = frame[frame["has_visit"]]
    impute = [c for c in cols if visit[c].isna().any()]
    predictors = [c for c in cols if c not in impute and visit[c].nunique() > 1]
    m = n_imputations if n_imputations is not None else int(sens.n_imputations or 20)
    seed = int(sens.seed if sens.seed is not None else 0)
    notes = [
        f"missing core set measures at week {ep.week} imputed by chained equations (predictive "
        f"mean matching) by arm, m = {m}, seed {seed}; imputed: "
        f"{', '.join(c[7:] for c in impute) or 'none'}; predictors: "
        f"{', '.join(c[7:] for c in predictors) or 'none'}; Rubin's rules; patients without a "
        "visit and confirmed deterioration stay non-responders (composite)",
    ]
    arms: dict[str, dict[str, float | int]] = {}
    if not impute:
        notes.append("no missing core set measure at a visit: nothing to impute")
        return arms, None, tuple(notes)
    data = frame.copy()
    data.loc[~data["has_visit"], predictors] = 0.0
    base = tis_response(ep.threshold)
    never = (frame["forced"] | ~frame["has_visit"]).to_numpy()

    def response(completed: pd.DataFrame) -> Any:
        return np.where(never, 0, base(completed.fillna({c: 0.0 for c in cols})))

    est = mi_risk_difference(
        data, arm="ARMCD", treatment=trt, control=ctl, columns=impute, response=response,
        seed=seed, predictors=predictors, n_imputations=m, conf_level=level,
    )
    notes += list(est.notes)
    for arm, key in ((trt, "x1_mean"), (ctl, "x2_mean")):
        sel = frame["ARMCD"] == arm
        imputed = sel & frame["has_visit"] & ~frame["forced"] & ~frame["observed"]
        arms[arm] = {
            "x": float(est.counts[key]),
            "n": int(sel.sum()),
            "gained": float(est.counts[key]) - int(frame.loc[sel, "AVAL"].sum()),
            "imputed_patients": int(imputed.sum()),
        }
    return arms, est, tuple(notes)


def _sens_tipping(
    frame: pd.DataFrame, proto: Protocol, methods: _Plan, sens: SensitivityAnalysis,
    level: float, alpha: float,
) -> tuple[dict[str, dict[str, float | int]], TippingPointResult, pd.DataFrame, tuple[str, ...]]:
    trt, ctl = proto.treatment.code, proto.control.code
    obs = frame[frame["observed"]]
    counts = {}
    for arm in (trt, ctl):
        counts[arm] = (
            int(obs.loc[obs["ARMCD"] == arm, "AVAL"].sum()),
            int((obs["ARMCD"] == arm).sum()),
            int(((frame["ARMCD"] == arm) & ~frame["observed"]).sum()),
        )
    if methods.estimate == "mn_score_test":
        test, est_method = "mn_score_test", "newcombe"
    else:
        test = methods.test if methods.test in TIPPING_POINT_TESTS else "fisher"
        est_method = methods.estimate if methods.estimate in RISK_DIFFERENCE_METHODS else "newcombe"
    tp = tipping_point(
        x1=counts[trt][0], n1=counts[trt][1], missing1=counts[trt][2],
        x2=counts[ctl][0], n2=counts[ctl][1], missing2=counts[ctl][2],
        test=test, estimate_method=est_method, alpha=alpha, conf_level=level,
    )
    arms: dict[str, dict[str, float | int]] = {
        arm: {"x_observed": c[0], "n_observed": c[1], "missing": c[2], "n": c[1] + c[2]}
        for arm, c in counts.items()
    }
    step = float(sens.grid_step or 0.05)
    by_rate = tipping_point(
        x1=counts[trt][0], n1=counts[trt][1], missing1=counts[trt][2],
        x2=counts[ctl][0], n2=counts[ctl][1], missing2=counts[ctl][2],
        test=test, estimate_method=est_method, alpha=alpha, conf_level=level, grid_step=step,
    )
    rate_cells = by_rate.grid[
        ["rate1", "rate2", "k1", "k2", "estimate", "p_value", "significant"]
    ].reset_index(drop=True)
    notes = [
        f"missing week-{proto.primary_week} outcomes (no TIS, no confirmed deterioration) imputed "
        f"as responders in every number per arm; {tp.test_method} test at alpha {alpha:g}",
    ]
    return arms, tp, rate_cells, tuple(notes)


def _sensitivity(
    derived: DerivedTables,
    sap: StatisticalAnalysisPlan,
    endpoint_results: dict[str, EndpointResult],
    plans: dict[str, _Plan],
    populations: dict[str, PopulationSummary],
    *,
    level: float,
    alpha: float,
    strata: tuple[str, ...],
    labels: pd.Series,
    n_imputations: int | None,
) -> tuple[SensitivityResult, ...]:
    proto = derived.protocol
    out = []
    for sens in sap.sensitivity:
        ep = next(e for e in proto.policy.binary_endpoints() if e.name == sens.endpoint)
        primary = endpoint_results.get(ep.name)
        methods = plans[ep.name]
        pop = primary.population if primary is not None else ep.population
        if primary is not None and primary.comparison == "descriptive":
            out.append(SensitivityResult(
                sens.name, ep.name, sens.method, "not run", pop, {},
                notes=(f"{ep.name} is descriptive: no between-arm analysis to vary",),
            ))
            continue
        rows = _binary_frame(derived, ep)
        try:
            if sens.method == "population":
                popn = populations[str(sens.population)]
                sub = rows[rows["USUBJID"].isin(popn.subjects)]
                plan = sap.analysis(ep.name) or Analysis(ep.name, "secondary", "randomised")
                res = _analyse_binary(
                    sub, ep, plan, methods, proto=proto, level=level, alpha=alpha,
                    strata=strata, labels=labels, population=popn.name, exact=False,
                )
                out.append(SensitivityResult(
                    sens.name, ep.name, sens.method, f"primary analysis in the {popn.label}",
                    popn.name, res.arms, res.estimate, res.test, notes=res.notes,
                ))
                continue
            frame = _outcome_frame(derived, ep, rows)
            if sens.method == "bounded_tis":
                arms, est, test, notes = _sens_bounded(frame, ep, proto, methods, level)
                out.append(SensitivityResult(
                    sens.name, ep.name, sens.method,
                    "bounded TIS: missing core set measures at their minimum and maximum points",
                    pop, arms, est, test, notes=notes,
                ))
            elif sens.method == "multiple_imputation":
                arms, mi_est, notes = _sens_mi(frame, ep, proto, sens, level, n_imputations)
                out.append(SensitivityResult(
                    sens.name, ep.name, sens.method,
                    "multiple imputation of missing core set measures (Rubin's rules)",
                    pop, arms, mi_est, None, notes=notes,
                ))
            elif sens.method == "tipping_point":
                arms, tp, grid, notes = _sens_tipping(frame, proto, methods, sens, level, alpha)
                out.append(SensitivityResult(
                    sens.name, ep.name, sens.method,
                    "tipping point: missing outcomes imputed as responders in every number",
                    pop, arms, tipping=tp, grid_step=sens.grid_step, rate_grid=grid,
                    notes=notes,
                ))
        except (ValueError, np.linalg.LinAlgError) as exc:  # e.g. too few values to impute
            out.append(SensitivityResult(
                sens.name, ep.name, sens.method, "not estimable", pop, {},
                notes=(f"not estimable: {exc}",),
            ))
    return tuple(out)


# ----------------------------------------------------------------------------------------------
# Time to event, repeated measures
# ----------------------------------------------------------------------------------------------
def _cox(
    time: Any, event: Any, group: Any, proto: Protocol, ties: str, level: float,
    strata: Any = None,
) -> tuple[CoxResult | None, str | None]:
    kind = "stratified Cox model" if strata is not None else "Cox model"
    try:
        res = hazard_ratio(time, event, group, treatment=proto.treatment.code,
                           control=proto.control.code, strata=strata, ties=ties,
                           conf_level=level)
    except (ValueError, np.linalg.LinAlgError) as exc:
        return None, f"{kind} not estimable: {exc}"
    if not res.estimable:
        return None, f"{kind} not estimable ({res.not_estimable})"
    if not res.ph_test.estimable:
        return res, f"{kind}: proportional-hazards check {res.ph_test.not_estimable}"
    return res, None


def _time_to_event(
    derived: DerivedTables, sap: StatisticalAnalysisPlan, level: float,
    strata: tuple[str, ...], labels: pd.Series,
) -> list[EndpointResult]:
    proto = derived.protocol
    trt, ctl = proto.treatment.code, proto.control.code
    out = []
    for tep in proto.policy.time_to_event_endpoints():
        rows = derived.adtte[derived.adtte["PARAMCD"] == tep.name]
        rows = rows[rows["ARMCD"].isin([trt, ctl])]
        if rows.empty:
            continue
        plan = sap.analysis(tep.name)
        time = rows["AVAL"].to_numpy(dtype=float)
        event = 1 - rows["CNSR"].to_numpy(dtype=int)
        group = rows["ARMCD"].astype(str).to_numpy(dtype=object)
        km = kaplan_meier_by_group(time, event, group, conf_level=level)
        tte_arms: dict[str, dict[str, float | int]] = {
            arm: {"n": k.n, "events": k.n_events, "median": k.median,
                  "median_lower": k.median_lower, "median_upper": k.median_upper}
            for arm, k in km.items()
        }
        notes: list[str] = []
        two_arms = len(km) == 2
        lr = logrank_test(time, event, group) if two_arms else None
        ties = (plan.estimate if plan is not None and plan.estimate else "cox_efron")[4:]
        cox = cox_s = slr = None
        if two_arms and int(event.sum()) > 0:
            cox, note = _cox(time, event, group, proto, ties, level)
            notes += [note] if note else []
            if strata:
                s = labels.reindex(rows["USUBJID"].astype(str)).to_numpy(dtype=object)
                cox_s, note = _cox(time, event, group, proto, ties, level, strata=s)
                notes += [note] if note else []
                slr = logrank_test(time, event, group, strata=s)
        elif two_arms:
            notes.append("no events: no hazard ratio and no log-rank test")
        if lr is not None:
            notes += list(lr.notes)
        out.append(EndpointResult(
            tep.name, tep.label, "time_to_event", "randomised", tte_arms, None, lr, (), km,
            role=plan.role if plan is not None else "secondary",
            cox=cox, cox_stratified=cox_s, stratified_logrank=slr,
            strata=strata if slr is not None else (), notes=tuple(notes),
        ))
    return out


def _mmrm_results(
    derived: DerivedTables, ids: frozenset[str], level: float, strata: tuple[str, ...],
    labels: pd.Series,
) -> list[EndpointResult]:
    proto = derived.protocol
    trt, ctl = proto.treatment.code, proto.control.code
    weeks = [w for w in proto.assessment_weeks if 0 < w <= proto.randomised_end_week]
    first, last = weeks[0], weeks[-1]
    e = derived.adeff
    on_randomised = (
        pd.to_numeric(e["APERIOD"], errors="coerce") == 1
        if "APERIOD" in e.columns else pd.Series(True, index=e.index)
    )
    base = e[e["USUBJID"].astype(str).isin(ids) & e["AVISITN"].isin(weeks) & on_randomised
             & e["ARMCD"].isin([trt, ctl])]
    out = []
    params = ["TIS", *CSM_PARAMETERS]
    for param in params:
        rows = base[base["PARAMCD"] == param]
        if rows.empty:
            continue
        name = f"mmrm_{param.lower()}"
        label = (
            f"{'TIS' if param == 'TIS' else 'Change in ' + str(rows['PARAM'].iloc[0])}, weeks "
            f"{first}-{last} (MMRM)"
        )
        arms = {
            arm: _mean_sd(rows.loc[(rows["ARMCD"] == arm) & (rows["AVISITN"] == last), "CHG"
                                   if param != "TIS" else "AVAL"].dropna())
            for arm in (trt, ctl)
        }
        is_tis = param == "TIS"  # a change score itself: no baseline covariate
        if not is_tis and rows["BASE"].isna().all():
            out.append(EndpointResult(
                name, label, "repeated", "randomised", arms,
                notes=("MMRM not fitted: no baseline value of this measure",),
            ))
            continue
        data = (rows if is_tis else rows.dropna(subset=["BASE"])).assign(
            USUBJID=lambda f: f["USUBJID"].astype(str)
        )
        if strata:
            data = data.assign(**{STRATUM: labels.reindex(data["USUBJID"]).to_numpy()})
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", LinAlgWarning)
                fit = mmrm(
                    data, subject="USUBJID", visit="AVISITN", arm="ARMCD",
                    outcome="AVAL" if is_tis else "CHG", baseline=None if is_tis else "BASE",
                    treatment=trt, control=ctl, visits=weeks,
                    strata=STRATUM if strata else None, conf_level=level,
                )
        except (ValueError, np.linalg.LinAlgError) as exc:
            out.append(EndpointResult(name, label, "repeated", "randomised", arms,
                                      notes=(f"MMRM not estimable: {exc}",)))
            continue
        at_last = fit.estimates.get(str(last))
        ill = ("ill-conditioned covariance during the fit (numerical warning)",) if any(
            issubclass(w.category, LinAlgWarning) for w in caught) else ()
        out.append(EndpointResult(
            name, label, "repeated", "randomised", arms, at_last, mmrm=fit,
            strata=strata, notes=(*fit.notes, *ill),
        ))
    return out


# ----------------------------------------------------------------------------------------------
# The entry point
# ----------------------------------------------------------------------------------------------
def _check_override(value: str | None, kind: str, role: str, option: str) -> None:
    if value is not None:
        validate_method(value, ANALYSIS_METHODS[kind][role], argument=option)


def analyze(
    derived: DerivedTables,
    *,
    binary_method: str | None = None,
    binary_test: str | None = None,
    continuous_method: str | None = None,
    conf_level: float | None = None,
    strata: Sequence[str] | None = None,
    subgroups: tuple[str, ...] = ("MSAGRP", "SEX", "AGEGR"),
    age_cut: float = 50.0,
    adverse_events: pd.DataFrame | None = None,
    infusions: pd.DataFrame | None = None,
    sap: StatisticalAnalysisPlan | None = None,
    mi_imputations: int | None = None,
    sensitivity: bool = True,
    repeated_measures: bool = True,
) -> AnalysisResults:
    """Analyse every endpoint of the derived tables' protocol, following its SAP.

    Parameters
    ----------
    derived : :class:`myotrial.derive.DerivedTables`
    binary_method, binary_test, continuous_method : overrides of the SAP's ``estimate`` /
        ``test`` for every randomised binary (continuous) analysis; ``None`` (default) follows
        the SAP. Keys: :data:`myotrial.sap.ANALYSIS_METHODS`.
    conf_level : override of the SAP's ``conf_level``.
    strata : ADSL columns to stratify by (override of the SAP's ``strata``; ``()`` for none):
        MH/Sato risk difference and CMH test, stratified ANCOVA, stratified Cox model and
        log-rank test, MMRM with the stratum as a factor. Several factors are crossed.
    subgroups : ADSL columns for the primary endpoint's subgroup analysis; ``AGEGR`` is derived
        as ``< age_cut`` / ``>= age_cut`` from ``AGE``. Columns absent or with one level are
        skipped.
    adverse_events, infusions : canonical tables (data-format.md), summarised by randomised arm
        and by ADSL's periods (:func:`myotrial.derive.safety_subjects`).
    sap : the plan to follow (default: ``derived.protocol.sap``).
    mi_imputations : override of the SAP's number of imputations (e.g. fewer in tests).
    sensitivity, repeated_measures : run the SAP's sensitivity analyses and the MMRMs
        (default True).

    Raises
    ------
    ValueError
        A bad override or stratum (the message names it).
    """
    for value, kind, role, option in (
        (binary_method, "binary", "estimate", "binary_method"),
        (binary_test, "binary", "test", "binary_test"),
        (continuous_method, "continuous", "estimate", "continuous_method"),
    ):
        _check_override(value, kind, role, option)
    proto = derived.protocol
    plan_sap = sap or proto.sap or default_sap(
        [(e.name, "binary", e.week, e.population) for e in proto.binary]
        + [(e.name, "continuous", e.week, e.population) for e in proto.continuous],
        proto.primary,
        proto.randomised_end_week,
    )
    level = plan_sap.conf_level if conf_level is None else float(conf_level)
    if not 0.5 <= level < 1.0:
        raise ValueError(f"conf_level={conf_level!r} must be in [0.5, 1)")
    alpha = plan_sap.alpha
    adsl = derived.adsl.assign(USUBJID=derived.adsl["USUBJID"].astype(str))
    used_strata = resolve_strata(adsl, plan_sap.strata if strata is None else tuple(strata))
    labels = _stratum_labels(adsl, used_strata)
    overrides = {
        k: str(v)
        for k, v in (("binary_method", binary_method), ("binary_test", binary_test),
                     ("continuous_method", continuous_method), ("conf_level", conf_level),
                     ("strata", None if strata is None else "+".join(strata) or "none"))
        if v is not None
    }
    populations = {
        p.name: _population_summary(adsl, p, proto) for p in plan_sap.populations
    }
    rule_pop = {p.rule: p for p in populations.values()}
    trt, ctl = proto.treatment.code, proto.control.code
    results: list[EndpointResult] = []
    plans: dict[str, _Plan] = {}
    for ep in proto.policy.binary_endpoints():
        plan = plan_sap.analysis(ep.name) or Analysis(
            ep.name, "secondary",
            "randomised" if ep.week <= proto.randomised_end_week else "descriptive",
        )
        plans[ep.name] = _binary_plan(plan, binary_method, binary_test)
        rows = _binary_frame(derived, ep)
        results.append(_analyse_binary(
            rows, ep, plan, plans[ep.name], proto=proto, level=level, alpha=alpha,
            strata=used_strata, labels=labels, population=ep.population,
            exact=ep.name == proto.primary,
        ))
    itt = populations[rule_pop["randomised"].name].subjects if "randomised" in rule_pop else (
        population_ids(adsl, "randomised", proto)
    )
    adeff = derived.adeff.assign(USUBJID=derived.adeff["USUBJID"].astype(str))
    for cep in proto.continuous:
        plan = plan_sap.analysis(cep.name) or Analysis(
            cep.name, "secondary",
            "randomised" if cep.week <= proto.randomised_end_week else "descriptive",
        )
        rows = adeff[(adeff["PARAMCD"] == cep.parameter) & (adeff["AVISITN"] == cep.week)
                     & adeff["USUBJID"].isin(itt)]
        y1, y2 = rows.loc[rows["ARMCD"] == trt, "AVAL"], rows.loc[rows["ARMCD"] == ctl, "AVAL"]
        arms = {trt: _mean_sd(y1), ctl: _mean_sd(y2)}
        label = cep.label + " (observed cases)"
        if plan.comparison == "descriptive":
            results.append(EndpointResult(
                cep.name, label, "continuous", cep.population, arms, comparison="descriptive",
                role=plan.role, notes=("descriptive: not a randomised comparison",),
            ))
            continue
        method = continuous_method or plan.estimate or "pooled_t"
        cont_est = (
            mean_difference(y1.to_numpy(), y2.to_numpy(), method=method, conf_level=level)
            if len(y1) > 1 and len(y2) > 1 else None
        )
        results.append(EndpointResult(
            cep.name, label, "continuous", cep.population, arms, cont_est, role=plan.role,
            notes=() if cont_est is not None else ("fewer than 2 patients in an arm",),
        ))
    results += _changes(adeff, proto, itt, continuous_method or "pooled_t", level, used_strata,
                        labels)
    if repeated_measures:
        results += _mmrm_results(derived, itt, level, used_strata, labels)
    results += _time_to_event(derived, plan_sap, level, used_strata, labels)
    multiplicity, mnotes = _multiplicity(plan_sap, {r.endpoint: r for r in results})
    sens = (
        _sensitivity(derived, plan_sap, {r.endpoint: r for r in results}, plans, populations,
                     level=level, alpha=alpha, strata=used_strata, labels=labels,
                     n_imputations=mi_imputations)
        if sensitivity else ()
    )
    overview, terms = _safety(derived, adverse_events, infusions)
    default_method = plans[proto.primary].estimate if proto.primary in plans else "wald"
    return AnalysisResults(
        safety_overview=overview,
        safety_terms=terms,
        protocol=proto.name,
        treatment=trt,
        control=ctl,
        conf_level=level,
        endpoints=tuple(results),
        subgroups=_subgroups(
            derived, subgroups, age_cut,
            default_method if default_method in RISK_DIFFERENCE_METHODS else "wald", level,
        ),
        sap=plan_sap,
        strata=used_strata,
        populations=tuple(populations.values()),
        multiplicity=multiplicity,
        multiplicity_notes=mnotes,
        sensitivity=sens,
        overrides=overrides,
    )


def _population_summary(
    adsl: pd.DataFrame, pop: AnalysisPopulation, proto: Protocol
) -> PopulationSummary:
    ids = population_ids(adsl, pop.rule, proto)
    arm = adsl.set_index("USUBJID")["ARMCD"].astype(str)
    n = {a.code: int(sum(arm.get(i) == a.code for i in ids)) for a in
         (proto.treatment, proto.control)}
    return PopulationSummary(pop.name, pop.label, pop.rule, n, ids)


def _changes(
    adeff: pd.DataFrame, proto: Protocol, ids: frozenset[str], method: str, level: float,
    strata: tuple[str, ...], labels: pd.Series,
) -> list[EndpointResult]:
    trt, ctl = proto.treatment.code, proto.control.code
    week = proto.primary_week
    out = []
    for param in CSM_PARAMETERS:
        rows = adeff[(adeff["PARAMCD"] == param) & (adeff["AVISITN"] == week)
                     & adeff["USUBJID"].isin(ids) & adeff["CHG"].notna()]
        if rows.empty:
            continue
        name = f"chg_{param.lower()}_w{week}"
        y1, y2 = rows.loc[rows["ARMCD"] == trt, "CHG"], rows.loc[rows["ARMCD"] == ctl, "CHG"]
        arms = {trt: _mean_sd(y1), ctl: _mean_sd(y2)}
        label = f"Change in {rows['PARAM'].iloc[0]} at week {week} (observed cases)"
        if len(y1) < 2 or len(y2) < 2:
            out.append(EndpointResult(name, label, "change", "randomised", arms,
                                      notes=("fewer than 2 patients in an arm",)))
            continue
        est = mean_difference(y1.to_numpy(), y2.to_numpy(), method=method, conf_level=level)
        # ANCOVA needs a baseline that varies; without one the unadjusted difference stands
        adj = sadj = None
        notes: tuple[str, ...] = ()
        if rows["BASE"].nunique() > 1:
            adj = ancova(rows, outcome="CHG", arm="ARMCD", baseline="BASE", treatment=trt,
                         control=ctl, conf_level=level)
            if strata:
                data = rows.assign(**{STRATUM: labels.reindex(rows["USUBJID"]).to_numpy()})
                try:
                    sadj = ancova(data, outcome="CHG", arm="ARMCD", baseline="BASE",
                                  treatment=trt, control=ctl, strata=STRATUM, conf_level=level)
                except ValueError as exc:
                    notes = (f"stratified ANCOVA not estimable: {exc}",)
        else:
            notes = ("baseline does not vary: no ANCOVA",)
        out.append(EndpointResult(
            name, label, "change", "randomised", arms, est, None, () if adj is None else (adj,),
            stratified_estimate=sadj, strata=strata if sadj is not None else (), notes=notes,
        ))
    return out


def _multiplicity(
    sap: StatisticalAnalysisPlan, results: dict[str, EndpointResult]
) -> tuple[MultiplicityResult | None, tuple[str, ...]]:
    mult = sap.multiplicity
    if mult.procedure == "none" or not mult.hypotheses:
        return None, ("no multiplicity adjustment planned: each p-value stands alone",)
    p_values: dict[str, float] = {}
    notes = []
    for h in mult.hypotheses:
        res = results.get(h)
        p = None if res is None else res.p_value
        if p is None or math.isnan(p):
            notes.append(f"{h}: no p-value (not estimable); counted as not rejected (p = 1)")
            p = 1.0
        p_values[h] = float(p)
    return adjust_pvalues(p_values, method=mult.procedure, alpha=mult.alpha), tuple(notes)


def _safety(
    derived: DerivedTables, adverse_events: pd.DataFrame | None, infusions: pd.DataFrame | None
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    if adverse_events is None:
        return None, None
    subjects = safety_subjects(derived.adsl, derived.protocol)
    period_start = "ole_start" if has_safety_periods(subjects) else None
    overview = summarise_adverse_events(
        adverse_events, subjects, infusions, period_start=period_start, protocol=derived.protocol
    )
    terms = summarise_ae_terms(
        adverse_events, subjects, infusions, period_start=period_start, protocol=derived.protocol
    )
    return overview, terms


def _subgroups(
    derived: DerivedTables, columns: tuple[str, ...], age_cut: float, method: str, conf_level: float
) -> SubgroupResult | None:
    proto = derived.protocol
    adsl = derived.adsl.copy()
    if "AGE" in adsl:
        age = pd.to_numeric(adsl["AGE"], errors="coerce")
        adsl["AGEGR"] = np.where(  # type: ignore[call-overload]
            age.isna(), None, np.where(age < age_cut, f"<{age_cut:g}", f">={age_cut:g}")
        )
    primary = derived.adrs[derived.adrs["PARAMCD"] == proto.primary]
    data = primary[["USUBJID", "ARMCD", "AVAL"]].merge(
        adsl.drop(columns=["ARMCD"]), on="USUBJID", how="left"
    )
    usable = [c for c in columns if c in data and data[c].dropna().nunique() > 1]
    if not usable:
        return None
    return subgroup_analysis(
        data,
        arm="ARMCD",
        response="AVAL",
        subgroups=usable,
        treatment=proto.treatment.code,
        control=proto.control.code,
        method=method,
        conf_level=conf_level,
    )

