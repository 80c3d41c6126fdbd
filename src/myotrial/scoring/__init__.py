"""Scoring: percent change, TIS, response category, IMACS DOI, worsening, confirmed deterioration.

Data flow: raw visits -> :func:`myotrial.tables.validate_visits` -> :func:`score_visits`.

Names are imported on first use (PEP 562): the one-patient calculator
(:mod:`myotrial.scoring.single`) does not load pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from myotrial._lazy import lazy_attributes

if TYPE_CHECKING:
    from myotrial.scoring.change import (
        compute_absolute_improvement,
        compute_band_points,
        compute_relative_improvement,
    )
    from myotrial.scoring.engine import (
        ScoringConfig,
        score_arrays,
    )
    from myotrial.scoring.visits import (
        SCORED_COLUMNS,
        score_visits,
    )

__all__ = [
    "SCORED_COLUMNS",
    "ScoringConfig",
    "compute_absolute_improvement",
    "compute_band_points",
    "compute_relative_improvement",
    "score_arrays",
    "score_visits",
]

#: Public name -> the module defining it, imported on first use (PEP 562).
_LAZY: dict[str, str] = {
    "compute_absolute_improvement": "myotrial.scoring.change",
    "compute_band_points": "myotrial.scoring.change",
    "compute_relative_improvement": "myotrial.scoring.change",
    "ScoringConfig": "myotrial.scoring.engine",
    "score_arrays": "myotrial.scoring.engine",
    "SCORED_COLUMNS": "myotrial.scoring.visits",
    "score_visits": "myotrial.scoring.visits",
}


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY, __all__)
