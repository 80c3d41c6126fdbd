"""Eligibility screening (ProDERM) and myositis classification criteria.

- :mod:`~myotrial.eligibility.screening`: ProDERM inclusion/exclusion (Aggarwal R et al.
  N Engl J Med 2022;387:1264-78).
- :mod:`~myotrial.eligibility.bohan_peter`: Bohan and Peter 1975 (N Engl J Med 1975;292:344-7,
  403-7).
- :mod:`~myotrial.eligibility.eular_acr`: 2017 EULAR/ACR IIM criteria (Lundberg IE et al.
  Ann Rheum Dis 2017;76:1955-64).

Thresholds live in ``myotrial/rules/{eligibility_proderm,bohan_peter_1975,eular_acr_2017}.toml``.
"""

from myotrial.eligibility._rules import (
    BohanPeterRules,
    EligibilityRules,
    EularAcrRules,
    load_bohan_peter_rules,
    load_eligibility_rules,
    load_eular_acr_rules,
)
from myotrial.eligibility.bohan_peter import (
    BohanPeterClass,
    BohanPeterResult,
    classify_bohan_peter,
)
from myotrial.eligibility.eular_acr import (
    IIM_SUBCLASSES,
    EularAcrClass,
    EularAcrResult,
    classify_eular_acr_score,
    compute_eular_acr,
    eular_acr_probability,
    eular_acr_subclass,
)
from myotrial.eligibility.screening import (
    OUTPUT_COLUMNS,
    Candidate,
    CriterionResult,
    EnzymeValue,
    ScreeningDecision,
    ScreeningStatus,
    assess_eligibility,
    decisions_to_frame,
    derive_screening,
    screen_candidates,
    validate_screening,
)

__all__ = [
    "IIM_SUBCLASSES",
    "OUTPUT_COLUMNS",
    "BohanPeterClass",
    "BohanPeterResult",
    "BohanPeterRules",
    "Candidate",
    "CriterionResult",
    "EligibilityRules",
    "EnzymeValue",
    "EularAcrClass",
    "EularAcrResult",
    "EularAcrRules",
    "ScreeningDecision",
    "ScreeningStatus",
    "assess_eligibility",
    "classify_bohan_peter",
    "classify_eular_acr_score",
    "compute_eular_acr",
    "decisions_to_frame",
    "derive_screening",
    "eular_acr_probability",
    "eular_acr_subclass",
    "load_bohan_peter_rules",
    "load_eligibility_rules",
    "load_eular_acr_rules",
    "screen_candidates",
    "validate_screening",
]
