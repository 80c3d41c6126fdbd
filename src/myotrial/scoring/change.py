"""Pure, vectorised formulas: percent change of a measure and points of a TIS band.

Every function works on whole numpy arrays (no per-row Python) and propagates missing values
(NaN in, NaN out). Formulas are PROJECT RULES documented in ``response-criteria.md`` 1.3:

* absolute percent improvement (TIS, fixed-range measures):
  ``(baseline - follow_up) / scale_range * 100`` (lower is better) or
  ``(follow_up - baseline) / scale_range * 100`` (higher is better);
* relative percent improvement (enzymes in the TIS, IMACS DOI, deterioration clause C):
  ``(baseline - follow_up) / |baseline| * 100`` (sign flipped when higher is better); a
  baseline of 0 gives 0 when unchanged and +/-inf when the measure moves (better/worse by more
  than any percentage).
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
    baseline: FloatArray,
    follow_up: FloatArray,
    scale_range: FloatArray | float,
    *,
    higher_is_better: bool,
) -> FloatArray:
    """Improvement as a percentage of the scale range (positive = better)."""
    diff = follow_up - baseline if higher_is_better else baseline - follow_up
    return np.asarray(diff / scale_range * 100.0, dtype=np.float64)


def compute_relative_improvement(
    baseline: FloatArray, follow_up: FloatArray, *, higher_is_better: bool
) -> FloatArray:
    """Improvement as a percentage of the baseline value (positive = better).

    A zero baseline gives 0 if unchanged, ``+inf`` if better and ``-inf`` if worse.
    """
    diff = follow_up - baseline if higher_is_better else baseline - follow_up
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = diff / np.abs(baseline) * 100.0
    zero = baseline == 0
    if zero.any():
        d = diff[zero]
        rel[zero] = np.where(np.isnan(d), np.nan, np.where(d > 0, np.inf, np.where(d < 0, -np.inf, 0.0)))
    return np.asarray(rel, dtype=np.float64)


def compute_band_points(improvement: FloatArray, slot: Slot, tolerance: float) -> FloatArray:
    """Points of ``slot`` for each percent improvement (NaN stays NaN).

    Bands are half-open ``(lower, upper]`` (edge rule ``lower_band``): a value within
    ``tolerance`` percentage points of an edge counts as on it, so it stays in the lower band.
    """
    band = np.zeros(improvement.shape, dtype=np.int8)
    for edge in slot.edges:
        band += improvement > edge + tolerance
    points = np.asarray(slot.points, dtype=np.float64)[band]
    points[np.isnan(improvement)] = np.nan
    return points
