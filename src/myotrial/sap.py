"""The statistical analysis plan (SAP) as data: the ``[sap]`` section of a protocol file.

Estimands are stated in the terms of ICH E9(R1) (Addendum on estimands and sensitivity analysis
in clinical trials, 2019; EMA/CHMP/ICH/436221/2017): the population, the variable (endpoint),
the treatment condition, how each intercurrent event is handled (composite, treatment policy,
hypothetical, while on treatment, principal stratum) and the population-level summary.

The SAP also names, per endpoint, the analysis (method keys of
:data:`myotrial.stats.METHODS`), whether it is a randomised comparison or descriptive, the
stratification factors, the multiplicity procedure with its testing order, the analysis
populations and the sensitivity analyses. ``myotrial analyze`` and the report follow it.

A protocol without ``[sap]`` gets :func:`default_sap` (the unadjusted analyses myotrial always
ran), so older protocol files keep working.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from myotrial.errors import RulesError

if TYPE_CHECKING:
    from myotrial.tomlfile import TomlTable

__all__ = [
    "ANALYSIS_METHODS",
    "INTERCURRENT_EVENTS",
    "POPULATION_RULES",
    "SENSITIVITY_METHODS",
    "STRATEGIES",
    "Analysis",
    "AnalysisPopulation",
    "Estimand",
    "IntercurrentEvent",
    "Multiplicity",
    "SensitivityAnalysis",
    "StatisticalAnalysisPlan",
    "default_sap",
    "read_sap",
]

#: ICH E9(R1) section A.3.2 strategies for intercurrent events.
STRATEGIES = (
    "composite",
    "treatment_policy",
    "hypothetical",
    "while_on_treatment",
    "principal_stratum",
)
#: Intercurrent events of a ProDERM-design trial.
INTERCURRENT_EVENTS = (
    "confirmed_deterioration",
    "crossover",
    "discontinuation",
    "missing_measure",
    "open_label_treatment",
)
#: How an analysis population is selected from ADSL (see :class:`AnalysisPopulation`).
POPULATION_RULES = ("randomised", "entered_extension", "completed_primary_week", "per_protocol")
#: Sensitivity analyses for a binary responder endpoint.
SENSITIVITY_METHODS = (
    "bounded_tis",
    "multiple_imputation",
    "tipping_point",
    "population",
)
MULTIPLICITY_PROCEDURES = ("fixed_sequence", "holm", "hochberg", "none")

#: Method keys (of :data:`myotrial.stats.METHODS`) an analysis may name, by endpoint kind and
#: role. ``analyze`` runs exactly these; the SAP reader and the CLI overrides check against them.
ANALYSIS_METHODS: dict[str, dict[str, tuple[str, ...]]] = {
    "binary": {
        "estimate": (
            "wald",
            "newcombe",
            "miettinen_nurminen",
            "mn_score_test",
            "chan_zhang",
            "santner_snell",
        ),
        "test": ("fisher", "chisq", "chisq_yates"),
        "stratified_estimate": ("mh_sato", "strat_newcombe"),
        "stratified_test": ("cmh",),
    },
    "continuous": {
        "estimate": ("pooled_t", "welch"),
        "test": (),
        "stratified_estimate": (),
        "stratified_test": (),
    },
    "time_to_event": {
        "estimate": ("cox_efron", "cox_breslow"),
        "test": ("logrank",),
        "stratified_estimate": ("cox_efron", "cox_breslow"),
        "stratified_test": ("logrank_strat",),
    },
}


@dataclass(frozen=True)
class AnalysisPopulation:
    """An analysis population.

    ``rule``: ``randomised`` (ITT: every randomised patient, as randomised);
    ``entered_extension``; ``completed_primary_week`` (completers: a visit at the primary week);
    ``per_protocol`` (PROJECT RULE: randomised, completed the primary week (ADSL ``COMP16FL``),
    received the randomised treatment (``TRT01A = TRT01P``), never switched (``CROSSFL`` not
    ``Y``) and no confirmed deterioration up to the primary week (``CDWK`` missing or later) —
    the patients who followed the randomised treatment to the primary assessment).
    ``completed_primary_week`` reads ADSL ``COMP16FL``, ``entered_extension`` ``EXTFL`` and
    ``randomised`` ``RANDFL`` (:func:`myotrial.analysis.population_ids`).
    """

    name: str
    label: str
    rule: str


@dataclass(frozen=True)
class IntercurrentEvent:
    event: str
    strategy: str
    handling: str


@dataclass(frozen=True)
class Estimand:
    """One estimand (ICH E9(R1) A.3): population, variable, treatment, intercurrent events and
    the population-level summary."""

    name: str
    endpoint: str
    population: str
    variable: str
    treatment: str
    intercurrent_events: tuple[IntercurrentEvent, ...]
    summary: str


@dataclass(frozen=True)
class Analysis:
    """The analysis of one endpoint.

    ``comparison``: ``randomised`` (a between-arm estimate and test) or ``descriptive`` (per-arm
    summaries only: e.g. week 40, when everyone is on open-label treatment). ``estimate`` and
    ``test`` are method keys of :data:`myotrial.stats.METHODS`; ``stratified`` adds the
    stratified estimate/test (``stratified_estimate``, ``stratified_test``) by ``strata``.
    """

    endpoint: str
    role: Literal["primary", "secondary", "exploratory"]
    comparison: Literal["randomised", "descriptive"]
    estimand: str | None = None
    estimate: str | None = None
    test: str | None = None
    stratified_estimate: str | None = None
    stratified_test: str | None = None


@dataclass(frozen=True)
class SensitivityAnalysis:
    """A sensitivity analysis of ``endpoint`` (see :data:`SENSITIVITY_METHODS`).

    ``bounded_tis``: a missing measure contributes its minimum and maximum points; responder
    status decided when both bounds agree. ``multiple_imputation``: chained equations by arm,
    ``n_imputations`` completed data sets, seeded, combined by Rubin's rules.
    ``tipping_point``: a grid of assumed response rates (step ``grid_step``) for patients with a
    missing primary outcome, per arm. ``population``: the primary analysis in ``population``.
    """

    name: str
    endpoint: str
    method: str
    population: str | None = None
    n_imputations: int | None = None
    seed: int | None = None
    grid_step: float | None = None


@dataclass(frozen=True)
class Multiplicity:
    """Family-wise error control over ``hypotheses`` (endpoint names, in testing order for the
    fixed sequence) at two-sided ``alpha``."""

    procedure: str
    alpha: float
    hypotheses: tuple[str, ...]


@dataclass(frozen=True)
class StatisticalAnalysisPlan:
    alpha: float
    conf_level: float
    strata: tuple[str, ...]
    populations: tuple[AnalysisPopulation, ...]
    estimands: tuple[Estimand, ...]
    analyses: tuple[Analysis, ...]
    sensitivity: tuple[SensitivityAnalysis, ...]
    multiplicity: Multiplicity
    defaulted: bool = field(default=False, compare=False)

    def analysis(self, endpoint: str) -> Analysis | None:
        return next((a for a in self.analyses if a.endpoint == endpoint), None)

    def population(self, name: str) -> AnalysisPopulation:
        for p in self.populations:
            if p.name == name:
                return p
        raise KeyError(f"no analysis population {name!r}")

    def estimand(self, name: str) -> Estimand:
        for e in self.estimands:
            if e.name == name:
                return e
        raise KeyError(f"no estimand {name!r}")


def _method(table: TomlTable, key: str, kind: str) -> str | None:
    value: str | None = table.str(key, None)
    if value is None:
        return None
    valid = ANALYSIS_METHODS[kind][key]
    if value not in valid:
        raise table.error(
            key, f"= {value!r}; valid: {', '.join(valid) or f'none for a {kind} endpoint'}"
        )
    return value


_ITT = AnalysisPopulation("itt", "Intention to treat (all randomised, as randomised)", "randomised")


def default_sap(
    endpoints: Sequence[tuple[str, str, int, str]], primary: str, randomised_end_week: int
) -> StatisticalAnalysisPlan:
    """The plan used when a protocol has no ``[sap]``: every endpoint of the randomised period
    compared (Wald risk difference with Fisher's test; pooled t), later endpoints descriptive;
    no multiplicity adjustment beyond the single primary hypothesis.

    ``endpoints``: (name, kind, week, population) of the protocol's binary/continuous endpoints.
    """
    analyses = []
    for name, kind, week, _population in endpoints:
        randomised = week <= randomised_end_week
        analyses.append(
            Analysis(
                endpoint=name,
                role="primary" if name == primary else "secondary",
                comparison="randomised" if randomised else "descriptive",
                estimate=("wald" if kind == "binary" else "pooled_t") if randomised else None,
                test=("fisher" if kind == "binary" else None) if randomised else None,
            )
        )
    return StatisticalAnalysisPlan(
        alpha=0.05,
        conf_level=0.95,
        strata=(),
        populations=(_ITT,),
        estimands=(),
        analyses=tuple(analyses),
        sensitivity=(),
        multiplicity=Multiplicity("none", 0.05, (primary,)),
        defaulted=True,
    )


def read_sap(
    sap: TomlTable,
    *,
    endpoints: dict[str, str],
    primary: str,
    randomisation_strata: tuple[str, ...],
) -> StatisticalAnalysisPlan:
    """Read and check the ``[sap]`` table. ``endpoints`` maps each protocol endpoint name to its
    kind (``binary``, ``continuous``, ``time_to_event``)."""
    alpha = sap.float("alpha", 0.05, min=0.0, max=0.5, min_exclusive=True)
    conf_level = sap.float("conf_level", 1.0 - alpha, min=0.5, max=1.0, min_exclusive=True)
    if conf_level >= 1.0:
        raise sap.error("conf_level", f"= {conf_level!r} must be < 1")
    strata = sap.str_list("strata", randomisation_strata)

    populations: list[AnalysisPopulation] = []
    for p in sap.tables("populations", []):
        populations.append(
            AnalysisPopulation(
                p.str("name"), p.str("label"), p.str("rule", choices=POPULATION_RULES)
            )
        )
    if not populations:
        populations.append(_ITT)
    pop_names = [p.name for p in populations]
    if len(set(pop_names)) != len(pop_names):
        raise sap.error("populations", f"names repeat: {pop_names}")

    def endpoint_of(t: TomlTable, key: str = "endpoint") -> str:
        return str(t.str(key, choices=list(endpoints)))

    estimands: list[Estimand] = []
    for e in sap.tables("estimands", []):
        events = tuple(
            IntercurrentEvent(
                ie.str("event", choices=INTERCURRENT_EVENTS),
                ie.str("strategy", choices=STRATEGIES),
                ie.str("handling"),
            )
            for ie in e.tables("intercurrent_events", [])
        )
        estimands.append(
            Estimand(
                name=e.str("name"),
                endpoint=endpoint_of(e),
                population=e.str("population", choices=pop_names),
                variable=e.str("variable"),
                treatment=e.str("treatment"),
                intercurrent_events=events,
                summary=e.str("summary"),
            )
        )
    est_names = [e.name for e in estimands]

    analyses: list[Analysis] = []
    for a in sap.tables("analyses", []):
        ep = endpoint_of(a)
        kind = endpoints[ep]
        comparison = a.str("comparison", "randomised", choices=("randomised", "descriptive"))
        analysis = Analysis(
            endpoint=ep,
            role=a.str("role", "secondary", choices=("primary", "secondary", "exploratory")),
            comparison=comparison,
            estimand=a.str("estimand", None, choices=est_names) if est_names else None,
            estimate=_method(a, "estimate", kind),
            test=_method(a, "test", kind),
            stratified_estimate=_method(a, "stratified_estimate", kind),
            stratified_test=_method(a, "stratified_test", kind),
        )
        if comparison == "descriptive" and (analysis.test or analysis.stratified_test):
            raise a.error(
                "test",
                f"endpoint {ep} is descriptive: a between-arm test is not "
                'planned (set comparison = "randomised" to test it)',
            )
        if (analysis.stratified_estimate or analysis.stratified_test) and not strata:
            raise a.error("stratified_estimate", "a stratified analysis needs [sap] strata")
        analyses.append(analysis)
    seen = [a.endpoint for a in analyses]
    if len(set(seen)) != len(seen):
        raise sap.error("analyses", f"an endpoint is analysed twice: {seen}")
    prim = [a.endpoint for a in analyses if a.role == "primary"]
    if analyses and prim != [primary]:
        raise sap.error("analyses", f"the one primary analysis must be of {primary!r}; got {prim}")

    sensitivity: list[SensitivityAnalysis] = []
    for s in sap.tables("sensitivity", []):
        method = s.str("method", choices=SENSITIVITY_METHODS)
        ep = endpoint_of(s)
        if endpoints[ep] != "binary":
            raise s.error("endpoint", f"{ep} is not a binary endpoint")
        sens = SensitivityAnalysis(
            name=s.str("name"),
            endpoint=ep,
            method=method,
            population=s.str("population", None, choices=pop_names),
            n_imputations=s.int("n_imputations", None, min=2, max=10_000),
            seed=s.int("seed", None, min=0),
            grid_step=s.float("grid_step", None, min=0.0, max=0.5, min_exclusive=True),
        )
        needs = {
            "multiple_imputation": ("n_imputations", "seed"),
            "tipping_point": ("grid_step",),
            "population": ("population",),
        }.get(method, ())
        for key in needs:
            if getattr(sens, key) is None:
                raise s.error(key, f"sensitivity analysis {sens.name} ({method}) needs {key}")
        sensitivity.append(sens)

    mult_t = sap.optional_table("multiplicity")
    procedure = mult_t.str("procedure", "none", choices=MULTIPLICITY_PROCEDURES)
    hypotheses = mult_t.str_list("hypotheses", (primary,))
    for h in hypotheses:
        if h not in endpoints:
            raise mult_t.error(
                "hypotheses", f"{h!r} is not an endpoint; valid: {', '.join(endpoints)}"
            )
        planned = next((a for a in analyses if a.endpoint == h), None)
        if planned is not None and planned.comparison == "descriptive":
            raise mult_t.error("hypotheses", f"{h!r} is descriptive: it has no test to control")
    if hypotheses and hypotheses[0] != primary and procedure == "fixed_sequence":
        raise mult_t.error(
            "hypotheses", f"the fixed sequence must start with the primary {primary!r}"
        )
    multiplicity = Multiplicity(
        procedure,
        mult_t.float("alpha", alpha, min=0.0, max=0.5, min_exclusive=True),
        tuple(hypotheses),
    )
    if not analyses:
        raise RulesError(f"{sap.where('analyses')}: [[sap.analyses]] must list the analyses")
    return StatisticalAnalysisPlan(
        alpha=alpha,
        conf_level=conf_level,
        strata=tuple(strata),
        populations=tuple(populations),
        estimands=tuple(estimands),
        analyses=tuple(analyses),
        sensitivity=tuple(sensitivity),
        multiplicity=multiplicity,
    )
