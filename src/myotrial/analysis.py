"""One analysis entry point: derived tables + protocol -> typed, frozen results.

:func:`analyze` runs the protocol's endpoints with the methods named in
:data:`myotrial.stats.METHODS` (each result carries its method key, label and reference):

* binary endpoints (ADRS, all patients of the population, non-responder imputation): risk
  difference treatment - control (default ``wald``, the interval that reproduces the published
  ProDERM figures) and a test of no difference (default Fisher's exact test; ProDERM's test is
  unconfirmed), plus the odds ratio;
* continuous endpoints (ADEFF, observed cases): mean difference (default pooled-variance t,
  which reproduces the published mean TIS difference);
* core set measure changes at the primary week (observed cases): mean difference of CHG and
  ANCOVA adjusted for baseline;
* time to event (ADTTE): Kaplan-Meier by arm (median, log-log CI) and the log-rank test;
* subgroups of the primary endpoint (antibody group, sex, age band): risk difference per level,
  interaction test and forest-plot data.

Results export long "analysis results" rows (:meth:`AnalysisResults.to_ard`) and one wide row per
endpoint (:meth:`AnalysisResults.summary`), so tables and reports never recompute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from myotrial.derive import DerivedTables, has_safety_periods, safety_subjects
from myotrial.stats import (
    EstimateResult,
    KaplanMeierResult,
    SubgroupResult,
    TestResult,
    ancova,
    ard_frame,
    chisq_test,
    fisher_exact_test,
    kaplan_meier_by_group,
    logrank_test,
    mean_difference,
    odds_ratio,
    risk_difference,
    subgroup_analysis,
    summarise_adverse_events,
    summarise_ae_terms,
    validate_method,
)

__all__ = ["CSM_PARAMETERS", "AnalysisResults", "EndpointResult", "analyze"]

#: Core set measures (and CDASI) whose change from baseline is analysed at the primary week.
CSM_PARAMETERS = ("PGA", "PTGA", "MMT8", "HAQ", "EXTRAMUS", "CDASIA")
Kind = Literal["binary", "continuous", "change", "time_to_event"]


@dataclass(frozen=True)
class EndpointResult:
    """The analysis of one endpoint: per-arm summaries, the effect and the test."""

    endpoint: str
    label: str
    kind: Kind
    population: str
    arms: dict[str, dict[str, float | int]]
    estimate: EstimateResult | None = None
    test: TestResult | None = None
    extra: tuple[EstimateResult, ...] = ()
    km: dict[str, KaplanMeierResult] = field(default_factory=dict)

    def to_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for arm, stats in self.arms.items():
            for name, value in stats.items():
                rows.append(
                    {
                        "endpoint": self.endpoint,
                        "group": arm,
                        "effect": "summary",
                        "method": "",
                        "method_label": "",
                        "statistic": name,
                        "value": value,
                        "conf_level": None,
                    }
                )
        for res in (self.estimate, *self.extra):
            if res is not None:
                rows.extend(res.to_rows(self.endpoint))
        if self.test is not None:
            rows.extend(self.test.to_rows(self.endpoint))
        for arm, km in self.km.items():
            rows.extend(km.to_rows(self.endpoint, arm))
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

    def get(self, endpoint: str) -> EndpointResult:
        for ep in self.endpoints:
            if ep.endpoint == endpoint:
                return ep
        raise KeyError(
            f"no result for {endpoint!r}; have {', '.join(e.endpoint for e in self.endpoints)}"
        )

    def to_ard(self) -> pd.DataFrame:
        """Long analysis-results rows (pharmaverse ``cards`` style)."""
        rows: list[dict[str, Any]] = []
        for ep in self.endpoints:
            rows.extend(ep.to_rows())
        if self.subgroups is not None:
            rows.extend(self.subgroups.to_rows("subgroups"))
        return ard_frame(rows)

    def summary(self) -> pd.DataFrame:
        """One row per endpoint: counts, estimate, CI, p-value and the methods used."""
        recs = []
        for ep in self.endpoints:
            t, c = ep.arms.get(self.treatment, {}), ep.arms.get(self.control, {})
            est, test = ep.estimate, ep.test
            recs.append(
                {
                    "endpoint": ep.endpoint,
                    "label": ep.label,
                    "kind": ep.kind,
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
                    "p_value": test.p_value
                    if test is not None
                    else (None if est is None else est.p_value),
                    "test": None if test is None else test.method,
                }
            )
        return pd.DataFrame(recs)


def _describe(stats: dict[str, float | int], kind: Kind) -> str:
    if not stats:
        return ""
    if kind == "binary":
        return f"{int(stats['x'])}/{int(stats['n'])} ({100 * stats['x'] / max(stats['n'], 1):.1f}%)"
    if kind == "time_to_event":
        med = stats.get("median", np.nan)
        return f"median {med:g} days, {int(stats['events'])}/{int(stats['n'])} events"
    return f"{stats['mean']:.2f} ± {stats['sd']:.2f} (n={int(stats['n'])})"


def _mean_sd(values: pd.Series) -> dict[str, float | int]:
    v = values.astype("float64").to_numpy()
    return {
        "n": int(v.size),
        "mean": float(v.mean()) if v.size else np.nan,
        "sd": float(v.std(ddof=1)) if v.size > 1 else np.nan,
    }


def analyze(
    derived: DerivedTables,
    *,
    binary_method: str = "wald",
    binary_test: str = "fisher",
    continuous_method: str = "pooled_t",
    conf_level: float = 0.95,
    subgroups: tuple[str, ...] = ("MSAGRP", "SEX", "AGEGR"),
    age_cut: float = 50.0,
    adverse_events: pd.DataFrame | None = None,
    infusions: pd.DataFrame | None = None,
) -> AnalysisResults:
    """Analyse every endpoint of the derived tables' protocol.

    Parameters
    ----------
    derived : :class:`myotrial.derive.DerivedTables`
    binary_method : risk-difference interval: ``wald`` (default; reproduces the published
        ProDERM intervals), ``newcombe`` or ``miettinen_nurminen``.
    binary_test : ``fisher`` (default), ``chisq`` or ``chisq_yates``.
    continuous_method : ``pooled_t`` (default) or ``welch``.
    subgroups : ADSL columns for the primary endpoint's subgroup analysis; ``AGEGR`` is derived
        as ``< age_cut`` / ``>= age_cut`` from ``AGE``. Columns absent or with one level are
        skipped.
    adverse_events, infusions : canonical tables (data-format.md). Adverse events and infusions
        are summarised by randomised arm and by ADSL's periods, read and never recomputed
        (:func:`myotrial.derive.safety_subjects`): ``randomised`` = ADSL period 1 (on the
        randomised treatment), ``extension`` = open-label treatment with the extension arm's
        product, from ``AP02SDT`` (a switch) or ``AP03SDT`` (the extension); one ``overall``
        period when ADSL has no period dates. The report's safety section uses the same
        subjects and periods. Infusion-related = onset during a cycle or within the protocol's
        ``infusion_related_window_hours`` of its end (``derive_infusion_related``).
    """
    validate_method(binary_method, ("wald", "newcombe", "miettinen_nurminen"))
    validate_method(binary_test, ("fisher", "chisq", "chisq_yates"))
    validate_method(continuous_method, ("pooled_t", "welch"))
    proto = derived.protocol
    trt, ctl = proto.treatment.code, proto.control.code
    results: list[EndpointResult] = []
    adrs, adeff, adtte = derived.adrs, derived.adeff, derived.adtte
    policy = proto.policy
    for ep in policy.binary_endpoints():
        rows = adrs[adrs["PARAMCD"] == ep.name]
        x1 = int(rows.loc[rows["ARMCD"] == trt, "AVAL"].sum())
        n1 = int((rows["ARMCD"] == trt).sum())
        x2 = int(rows.loc[rows["ARMCD"] == ctl, "AVAL"].sum())
        n2 = int((rows["ARMCD"] == ctl).sum())
        arms: dict[str, dict[str, float | int]] = {trt: {"x": x1, "n": n1}, ctl: {"x": x2, "n": n2}}
        if n1 == 0 or n2 == 0:
            results.append(EndpointResult(ep.name, ep.label, "binary", ep.population, arms))
            continue
        est = risk_difference(
            x1=x1, n1=n1, x2=x2, n2=n2, method=binary_method, conf_level=conf_level
        )
        test: TestResult
        if binary_test == "fisher":
            test = fisher_exact_test(x1=x1, n1=n1, x2=x2, n2=n2)
        else:
            test = chisq_test(x1=x1, n1=n1, x2=x2, n2=n2, correction=binary_test == "chisq_yates")
        extra = (odds_ratio(x1=x1, n1=n1, x2=x2, n2=n2, conf_level=conf_level),)
        results.append(
            EndpointResult(ep.name, ep.label, "binary", ep.population, arms, est, test, extra)
        )
    pop_ids = derived.adsl.loc[derived.adsl["RANDFL"] == "Y", "USUBJID"]
    for cep in proto.continuous:
        rows = adeff[
            (adeff["PARAMCD"] == cep.parameter)
            & (adeff["AVISITN"] == cep.week)
            & adeff["USUBJID"].isin(pop_ids)
        ]
        y1, y2 = rows.loc[rows["ARMCD"] == trt, "AVAL"], rows.loc[rows["ARMCD"] == ctl, "AVAL"]
        arms = {trt: _mean_sd(y1), ctl: _mean_sd(y2)}
        cont_est = (
            mean_difference(
                y1.to_numpy(), y2.to_numpy(), method=continuous_method, conf_level=conf_level
            )
            if len(y1) > 1 and len(y2) > 1
            else None
        )
        results.append(
            EndpointResult(
                cep.name,
                cep.label + " (observed cases)",
                "continuous",
                cep.population,
                arms,
                cont_est,
            )
        )
    week = proto.primary_week
    for param in CSM_PARAMETERS:
        rows = adeff[
            (adeff["PARAMCD"] == param)
            & (adeff["AVISITN"] == week)
            & adeff["USUBJID"].isin(pop_ids)
            & adeff["CHG"].notna()
        ]
        if rows.empty:
            continue
        y1, y2 = rows.loc[rows["ARMCD"] == trt, "CHG"], rows.loc[rows["ARMCD"] == ctl, "CHG"]
        arms = {trt: _mean_sd(y1), ctl: _mean_sd(y2)}
        if len(y1) < 2 or len(y2) < 2:
            results.append(
                EndpointResult(f"chg_{param.lower()}_w{week}", "", "change", "randomised", arms)
            )
            continue
        label = f"Change in {rows['PARAM'].iloc[0]} at week {week} (observed cases)"
        est = mean_difference(
            y1.to_numpy(), y2.to_numpy(), method=continuous_method, conf_level=conf_level
        )
        # ANCOVA needs a baseline that varies; without one the unadjusted difference stands
        adj = (
            ancova(
                rows,
                outcome="CHG",
                arm="ARMCD",
                baseline="BASE",
                treatment=trt,
                control=ctl,
                conf_level=conf_level,
            )
            if rows["BASE"].nunique() > 1
            else None
        )
        results.append(
            EndpointResult(
                f"chg_{param.lower()}_w{week}",
                label,
                "change",
                "randomised",
                arms,
                est,
                None,
                () if adj is None else (adj,),
            )
        )
    for tep in policy.time_to_event_endpoints():
        rows = adtte[adtte["PARAMCD"] == tep.name]
        rows = rows[rows["ARMCD"].isin([trt, ctl])]
        if rows.empty:
            continue
        time = rows["AVAL"].to_numpy(dtype=float)
        event = 1 - rows["CNSR"].to_numpy(dtype=int)
        group = rows["ARMCD"].to_numpy(dtype=object)
        km = kaplan_meier_by_group(time, event, group, conf_level=conf_level)
        tte_arms: dict[str, dict[str, float | int]] = {
            arm: {
                "n": k.n,
                "events": k.n_events,
                "median": k.median,
                "median_lower": k.median_lower,
                "median_upper": k.median_upper,
            }
            for arm, k in km.items()
        }
        lr = logrank_test(time, event, group) if len(km) == 2 else None
        results.append(
            EndpointResult(
                tep.name, tep.label, "time_to_event", "randomised", tte_arms, None, lr, (), km
            )
        )
    overview, terms = _safety(derived, adverse_events, infusions)
    return AnalysisResults(
        safety_overview=overview,
        safety_terms=terms,
        protocol=proto.name,
        treatment=trt,
        control=ctl,
        conf_level=conf_level,
        endpoints=tuple(results),
        subgroups=_subgroups(derived, subgroups, age_cut, binary_method, conf_level),
    )


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
