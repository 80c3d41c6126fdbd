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
from myotrial.stats.methods import (
    METHODS,
    MethodInfo,
    get_method,
    method_footnote,
    methods_table,
    validate_method,
)
from myotrial.stats.results import (
    ARD_COLUMNS,
    EstimateResult,
    KaplanMeierResult,
    SubgroupResult,
    TestResult,
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
from myotrial.stats.subgroups import FOREST_COLUMNS, INTERACTION_COLUMNS, subgroup_analysis
from myotrial.stats.survival import kaplan_meier, kaplan_meier_by_group, logrank_test

__all__ = [
    "AE_SUMMARY_COLUMNS",
    "AE_TERM_COLUMNS",
    "ARD_COLUMNS",
    "FOREST_COLUMNS",
    "INTERACTION_COLUMNS",
    "MEAN_DIFFERENCE_METHODS",
    "METHODS",
    "RISK_DIFFERENCE_METHODS",
    "STRATIFIED_RISK_DIFFERENCE_METHODS",
    "EstimateResult",
    "KaplanMeierResult",
    "MethodInfo",
    "SubgroupResult",
    "TestResult",
    "ancova",
    "ard_frame",
    "chisq_test",
    "cmh_test",
    "count_responders",
    "derive_arm_period",
    "derive_infusion_related",
    "fisher_exact_test",
    "get_method",
    "kaplan_meier",
    "kaplan_meier_by_group",
    "logrank_test",
    "mean_difference",
    "mean_difference_from_summary",
    "method_footnote",
    "methods_table",
    "odds_ratio",
    "odds_ratio_stratified",
    "risk_difference",
    "risk_difference_stratified",
    "subgroup_analysis",
    "summarise_adverse_events",
    "summarise_ae_terms",
    "validate_method",
]
