"""The report's statistical-analysis-plan content, from the result objects (never recomputed).

* the estimand table (ICH E9(R1): population, variable, treatment, intercurrent events with
  their strategies, population-level summary) for the methods appendix;
* the analysis populations (SAP rule, patients per arm);
* stratified analyses (MH/Sato risk difference and CMH test, stratified ANCOVA, stratified
  Cox model and log-rank test) beside the unadjusted ones;
* repeated measures (MMRM) per week;
* the multiplicity gatekeeping (which hypotheses were tested, at which alpha, rejected);
* the sensitivity analyses of the SAP, with the tipping point in words.

Cells are :class:`myotrial.report.tables.Cell` objects (``data-endpoint`` / ``data-stat``) so
the tests can compare the page with the results.
"""

from __future__ import annotations

from dataclasses import dataclass

from myotrial.analysis import AnalysisResults, SensitivityResult
from myotrial.report.formatting import (
    MISSING,
    format_count_pct,
    format_estimate,
    format_number,
    format_p_value,
)
from myotrial.report.tables import Cell, Footnotes, ResultRow
from myotrial.sap import StatisticalAnalysisPlan
from myotrial.stats import EstimateResult, get_method

__all__ = [
    "EstimandRow",
    "estimand_rows",
    "mmrm_table",
    "multiplicity_rows",
    "population_rows",
    "sensitivity_rows",
    "stratified_rows",
]

STRATEGY_LABELS = {
    "composite": "composite",
    "treatment_policy": "treatment policy",
    "hypothetical": "hypothetical",
    "while_on_treatment": "while on treatment",
    "principal_stratum": "principal stratum",
}


@dataclass(frozen=True)
class EstimandRow:
    name: str
    endpoint: str
    population: str
    variable: str
    treatment: str
    events: tuple[tuple[str, str, str], ...]
    summary: str
    analysis: str


def estimand_rows(sap: StatisticalAnalysisPlan | None) -> list[EstimandRow]:
    """One row per estimand of the SAP, with the planned analysis of its endpoint."""
    if sap is None:
        return []
    out = []
    for e in sap.estimands:
        try:
            pop = sap.population(e.population).label
        except KeyError:
            pop = e.population
        plan = sap.analysis(e.endpoint)
        if plan is None:
            analysis = MISSING
        elif plan.comparison == "descriptive":
            analysis = "descriptive (per-arm summaries; no between-arm test)"
        else:
            keys = [
                k
                for k in (plan.estimate, plan.test, plan.stratified_estimate, plan.stratified_test)
                if k
            ]
            analysis = "; ".join(get_method(k).label for k in keys) or MISSING
        out.append(
            EstimandRow(
                e.name,
                e.endpoint,
                pop,
                e.variable,
                e.treatment,
                tuple(
                    (
                        ie.event.replace("_", " "),
                        STRATEGY_LABELS.get(ie.strategy, ie.strategy),
                        ie.handling,
                    )
                    for ie in e.intercurrent_events
                ),
                e.summary,
                analysis,
            )
        )
    return out


def population_rows(results: AnalysisResults) -> list[tuple[str, str, str, list[str]]]:
    """(name, label, rule, patients per arm in treatment/control order)."""
    return [
        (
            p.name,
            p.label,
            p.rule,
            [str(p.n.get(results.treatment, 0)), str(p.n.get(results.control, 0))],
        )
        for p in results.populations
    ]


def stratified_rows(results: AnalysisResults, notes: Footnotes) -> list[ResultRow]:
    """Unadjusted and stratified analyses side by side, for every endpoint with strata."""
    rows = []
    for ep in results.endpoints:
        adjusted = (
            ep.stratified_estimate
            or ep.stratified_test
            or ep.cox_stratified
            or (ep.stratified_logrank)
        )
        if adjusted is None:
            continue
        if ep.kind == "time_to_event":
            un_est = None if ep.cox is None else ep.cox.hazard_ratio
            st_est = None if ep.cox_stratified is None else ep.cox_stratified.hazard_ratio
            un_p = None if ep.test is None else ep.test.p_value
            un_key = None if ep.test is None else ep.test.method
            st_test = ep.stratified_logrank
        elif ep.kind == "change":
            un_est = next((x for x in ep.extra if x.method == "ancova"), ep.estimate)
            st_est = ep.stratified_estimate
            un_p = None if un_est is None else un_est.p_value
            un_key = None
            st_test = None
        else:
            un_est, st_est, st_test = ep.estimate, ep.stratified_estimate, ep.stratified_test
            un_p, un_key = ep.p_value, None if ep.test is None else ep.test.method

        def est_cell(est: EstimateResult | None, stat: str, key: str = ep.endpoint) -> Cell:
            if est is None:
                return Cell(MISSING, key, stat)
            return Cell(format_estimate(est), key, stat, notes.mark(est.method))

        st_p = (
            st_test.p_value if st_test is not None else (None if st_est is None else st_est.p_value)
        )
        rows.append(
            ResultRow(
                ep.endpoint,
                ep.label or ep.endpoint,
                (
                    est_cell(un_est, "estimate"),
                    Cell(
                        format_p_value(un_p),
                        ep.endpoint,
                        "p_value",
                        notes.mark(un_key, interval=False) if un_key else "",
                    ),
                    est_cell(st_est, "stratified_estimate"),
                    Cell(
                        format_p_value(st_p),
                        ep.endpoint,
                        "stratified_p_value",
                        notes.mark(st_test.method, interval=False) if st_test is not None else "",
                    ),
                ),
            )
        )
    return rows


def mmrm_table(results: AnalysisResults) -> tuple[list[str], list[ResultRow], list[str]]:
    """Weeks, one row per MMRM endpoint (difference (CI) per week, its p), and notes."""
    fits = [ep for ep in results.endpoints if ep.kind == "repeated"]
    weeks: list[str] = []
    for ep in fits:
        if ep.mmrm is not None:
            weeks = [str(v) for v in ep.mmrm.differences["visit"]]
            break
    rows, notes = [], []
    for ep in fits:
        if ep.mmrm is None:
            notes += [f"{ep.label}: {n}" for n in ep.notes]
            continue
        cells = []
        for w in weeks:
            est = ep.mmrm.estimates.get(w)
            cells.append(
                Cell(
                    MISSING
                    if est is None
                    else f"{format_estimate(est)}\np {format_p_value(est.p_value)}",
                    ep.endpoint,
                    f"week{w}",
                )
            )
        rows.append(ResultRow(ep.endpoint, ep.label, tuple(cells)))
    return weeks, rows, notes


def multiplicity_rows(results: AnalysisResults) -> list[tuple[str, ...]]:
    """(step, hypothesis, label, p, adjusted p, tested at alpha, rejected) in testing order."""
    mult = results.multiplicity
    if mult is None:
        return []
    out: list[tuple[str, ...]] = []
    for rec in mult.table.sort_values("step", kind="stable").to_dict("records"):
        h = str(rec["hypothesis"])
        try:
            label = results.get(h).label
        except KeyError:
            label = h
        out.append(
            (
                str(rec["step"]),
                h,
                label,
                format_p_value(float(rec["p_value"])),
                format_p_value(float(rec["adjusted_p"])),
                format_number(float(rec["alpha_at_test"]), 4) if rec["tested"] else "not tested",
                "rejected" if rec["rejected"] else "not rejected",
            )
        )
    return out


def _sens_arm(s: SensitivityResult, arm: str) -> str:
    a = s.arms.get(arm)
    if not a:
        return MISSING
    if "missing" in a:
        return f"{format_count_pct(a['x_observed'], a['n_observed'])}\n{int(a['missing'])} missing"
    x = float(a["x"])
    shown = f"{x:.1f}" if not x.is_integer() else str(int(x))
    n = int(a["n"])
    text = f"{shown}/{n} ({format_number(100 * x / n if n else float('nan'), 1)}%)"
    if a.get("gained"):
        text += f"\n+{float(a['gained']):g} vs primary"
    return text


def _sensitivity_label(name: str, what: str) -> str:
    """``name: what``, without repeating the name when ``what`` already starts with it
    ("bounded tis: bounded TIS: ..." -> "bounded TIS: ...")."""
    words = name.replace("_", " ")
    if what.lower().startswith(words.lower()):
        return what
    return f"{words}: {what}"


def sensitivity_rows(results: AnalysisResults, notes: Footnotes) -> list[ResultRow]:
    """One row per sensitivity analysis: per-arm responders, the effect (CI), p, and what it
    assumed (the tipping point in words for the tipping-point analysis)."""
    rows = []
    for s in results.sensitivity:
        est = s.estimate
        what = s.tipping_summary() if s.tipping is not None else s.description
        if not s.arms and s.notes:
            what = s.notes[0]
        test_key = s.test.method if s.test is not None else None
        rows.append(
            ResultRow(
                s.name,
                _sensitivity_label(s.name, what),
                (
                    Cell(_sens_arm(s, results.treatment), s.name, "treatment"),
                    Cell(_sens_arm(s, results.control), s.name, "control"),
                    Cell(MISSING, s.name, "estimate")
                    if est is None
                    else Cell(format_estimate(est), s.name, "estimate", notes.mark(est.method)),
                    Cell(
                        format_p_value(s.p_value),
                        s.name,
                        "p_value",
                        notes.mark(test_key, interval=False) if test_key else "",
                    ),
                ),
            )
        )
    return rows
