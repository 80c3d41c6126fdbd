"""Percent change of a measure and points of a TIS band, on whole arrays.

Formulas (PROJECT RULES, ``response-criteria.md`` 1.3), compiled in
:mod:`myotrial.scoring._kernel` and shared with the scoring engine (one implementation):

* absolute percent improvement (TIS, fixed-range measures):
  ``(baseline - follow_up) / scale_range * 100`` (lower is better) or
  ``(follow_up - baseline) / scale_range * 100`` (higher is better);
* relative percent improvement (enzymes in the TIS, IMACS DOI, deterioration clause C):
  ``(baseline - follow_up) / |baseline| * 100`` (sign flipped when higher is better); a
  baseline of 0 gives 0 when unchanged and +/-inf when the measure moves.

Missing values propagate (NaN in, NaN out).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from myotrial.rules import Slot

__all__ = [
    "compute_absolute_improvement",
    "compute_band_points",
    "compute_relative_improvement",
]

FloatArray = npt.NDArray[np.float64]


def compute_absolute_improvement(
    baseline: npt.ArrayLike,
    follow_up: npt.ArrayLike,
    scale_range: npt.ArrayLike,
    *,
    higher_is_better: bool,
) -> FloatArray:
    """Improvement as a percentage of the scale range (positive = better)."""
    from myotrial.scoring._kernel import absolute_improvement_ufunc  # numba: loaded on use

    return np.asarray(
        absolute_improvement_ufunc(
            np.asarray(baseline, dtype=np.float64),
            np.asarray(follow_up, dtype=np.float64),
            np.asarray(scale_range, dtype=np.float64),
            higher_is_better,
        ),
        dtype=np.float64,
    )


def compute_relative_improvement(
    baseline: npt.ArrayLike, follow_up: npt.ArrayLike, *, higher_is_better: bool
) -> FloatArray:
    """Improvement as a percentage of the baseline (positive = better); zero baseline ->
    0 if unchanged, ``+inf`` if better, ``-inf`` if worse."""
    from myotrial.scoring._kernel import relative_improvement_ufunc

    return np.asarray(
        relative_improvement_ufunc(
            np.asarray(baseline, dtype=np.float64),
            np.asarray(follow_up, dtype=np.float64),
            higher_is_better,
        ),
        dtype=np.float64,
    )


def compute_band_points(improvement: npt.ArrayLike, slot: Slot, tolerance: float) -> FloatArray:
    """Points of ``slot`` for each percent improvement (NaN stays NaN).

    Bands are half-open ``(lower, upper]`` (edge rule ``lower_band``): a value within
    ``tolerance`` percentage points of an edge counts as on it, so it stays in the lower band.
    """
    from myotrial.scoring._kernel import band_points_array

    return np.asarray(
        band_points_array(
            np.asarray(improvement, dtype=np.float64),
            np.asarray(slot.edges, dtype=np.float64),
            np.asarray(slot.points, dtype=np.float64),
            float(tolerance),
        ),
        dtype=np.float64,
    )
