"""Scoring: percent change, TIS, response category, IMACS DOI, worsening, confirmed deterioration.

Data flow: raw visits -> :func:`myotrial.tables.validate_visits` -> :func:`score_visits`.
"""

from myotrial.scoring.change import (
    compute_absolute_improvement,
    compute_band_points,
    compute_relative_improvement,
)
from myotrial.scoring.engine import ScoringConfig, score_arrays
from myotrial.scoring.visits import SCORED_COLUMNS, score_visits

__all__ = [
    "SCORED_COLUMNS",
    "ScoringConfig",
    "compute_absolute_improvement",
    "compute_band_points",
    "compute_relative_improvement",
    "score_arrays",
    "score_visits",
]
