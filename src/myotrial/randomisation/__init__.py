"""Stratified permuted-block randomisation with allocation concealment.

ProDERM randomised 1:1 (Aggarwal R et al. N Engl J Med 2022;387:1264-78); stratification and
block sizes are unconfirmed, so they are parameters of :class:`RandomisationScheme`.
"""

from myotrial.randomisation.randomiser import (
    STATE_FORMAT,
    Allocation,
    AllocationError,
    BalanceReport,
    ConcealmentError,
    Randomiser,
    SeededListWarning,
    StratumBalance,
    random_kit_codes,
)
from myotrial.randomisation.scheme import DEFAULT_ARMS, RandomisationScheme, StratumFactor

__all__ = [
    "DEFAULT_ARMS",
    "STATE_FORMAT",
    "Allocation",
    "AllocationError",
    "BalanceReport",
    "ConcealmentError",
    "RandomisationScheme",
    "Randomiser",
    "SeededListWarning",
    "StratumBalance",
    "StratumFactor",
    "random_kit_codes",
]
