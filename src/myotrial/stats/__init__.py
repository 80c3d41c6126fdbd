"""Statistical estimators and tests for ProDERM-design dermatomyositis trials.

Every function names its method with a key of :data:`METHODS` (see :mod:`.methods`) and
returns a frozen result that turns itself into analysis-results rows (:mod:`.results`).
See ``docs/statistics.md`` for the methods, formulas, references and validation against R.
"""

from myotrial.stats.binary import (
    RISK_DIFFERENCE_METHODS,
    STRATIFIED_RISK_DIFFERENCE_METHODS,
    chisq_test,
    cmh_test,
    count_responders,
    fisher_exact_test,
    odds_ratio,
    odds_ratio_stratified,
    risk_difference,
    risk_difference_stratified,
)
from myotrial.stats.continuous import (
    MEAN_DIFFERENCE_METHODS,
    ancova,
    mean_difference,
    mean_difference_from_summary,
)
from myotrial.stats.cox import COX_TIES, cox_ph, hazard_ratio
from myotrial.stats.exact import (
    EXACT_RISK_DIFFERENCE_METHODS,
    proportion_exact,
    risk_difference_exact,
)
from myotrial.stats.methods import (
    METHODS,
    MethodInfo,
    get_method,
    method_footnote,
    methods_table,
    validate_method,
)
from myotrial.stats.missing import (
    TIPPING_POINT_TESTS,
    bounded_tis,
    impute_chained,
    imputed_responders,
    logged_events,
    mi_risk_difference,
    rate_grid,
    remove_lindep,
    rubin_pool,
    tipping_point,
    tipping_point_grid,
    tis_response,
)
from myotrial.stats.mmrm import mmrm
from myotrial.stats.multiplicity import MULTIPLICITY_METHODS, adjust_pvalues
from myotrial.stats.results import (
    ARD_COLUMNS,
    CoxResult,
    EstimateResult,
    KaplanMeierResult,
    MMRMResult,
    MultiplicityResult,
    PHTestResult,
    SubgroupResult,
    TestResult,
    TippingPointResult,
    ard_frame,
)
from myotrial.stats.safety import (
    AE_SUMMARY_COLUMNS,
    AE_TERM_COLUMNS,
    derive_arm_period,
    derive_infusion_related,
    summarise_adverse_events,
    summarise_ae_terms,
)
from myotrial.stats.smallsample import (
    expected_count_notes,
    min_expected_count,
    risk_difference_score_test,
)
from myotrial.stats.subgroups import FOREST_COLUMNS, INTERACTION_COLUMNS, subgroup_analysis
from myotrial.stats.survival import kaplan_meier, kaplan_meier_by_group, logrank_test

__all__ = [
    "AE_SUMMARY_COLUMNS",
    "AE_TERM_COLUMNS",
    "ARD_COLUMNS",
    "COX_TIES",
    "EXACT_RISK_DIFFERENCE_METHODS",
    "FOREST_COLUMNS",
    "INTERACTION_COLUMNS",
    "MEAN_DIFFERENCE_METHODS",
    "METHODS",
    "MULTIPLICITY_METHODS",
    "RISK_DIFFERENCE_METHODS",
    "STRATIFIED_RISK_DIFFERENCE_METHODS",
    "TIPPING_POINT_TESTS",
    "CoxResult",
    "EstimateResult",
    "KaplanMeierResult",
    "MMRMResult",
    "MethodInfo",
    "MultiplicityResult",
    "PHTestResult",
    "SubgroupResult",
    "TestResult",
    "TippingPointResult",
    "adjust_pvalues",
    "ancova",
    "ard_frame",
    "bounded_tis",
    "chisq_test",
    "cmh_test",
    "count_responders",
    "cox_ph",
    "derive_arm_period",
    "derive_infusion_related",
    "expected_count_notes",
    "fisher_exact_test",
    "get_method",
    "hazard_ratio",
    "impute_chained",
    "imputed_responders",
    "kaplan_meier",
    "kaplan_meier_by_group",
    "logged_events",
    "logrank_test",
    "mean_difference",
    "mean_difference_from_summary",
    "method_footnote",
    "methods_table",
    "mi_risk_difference",
    "min_expected_count",
    "mmrm",
    "odds_ratio",
    "odds_ratio_stratified",
    "proportion_exact",
    "rate_grid",
    "remove_lindep",
    "risk_difference",
    "risk_difference_exact",
    "risk_difference_score_test",
    "risk_difference_stratified",
    "rubin_pool",
    "subgroup_analysis",
    "summarise_adverse_events",
    "summarise_ae_terms",
    "tipping_point",
    "tipping_point_grid",
    "tis_response",
    "validate_method",
]
