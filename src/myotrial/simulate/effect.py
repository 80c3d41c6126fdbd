"""The IVIG effect as a risk difference: the map ``effect_scale`` -> expected risk difference.

``effect_scale`` multiplies every IVIG effect of the generative model (the improvement
fractions, the flare protection and the flare resolution; 0 = the null hypothesis). What a
trial statistician states is the expected difference in response proportions of the primary
endpoint. :func:`risk_difference_map` computes, by simulation with common random numbers (one
seed for every scale), the expected response rates of both arms and their difference at each
scale; :func:`effect_scale_for` inverts it by linear interpolation on the (monotone) map.
``[power] risk_difference = [0.2, 0.3]`` in a design file uses it
(:func:`myotrial.simulate.power.load_power_design`); the map is written to ``run.json``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from myotrial.protocol import BinaryEndpoint, load_protocol
from myotrial.simulate.calibration import primary_responders
from myotrial.simulate.model import simulate_trials
from myotrial.simulate.scenario import Scenario

__all__ = ["DEFAULT_SCALES", "effect_scale_for", "risk_difference_map"]

#: Scales of the map (0 to 2 by 0.125).
DEFAULT_SCALES: tuple[float, ...] = tuple(float(x) for x in np.arange(0.0, 2.0001, 0.125))


def risk_difference_map(
    scenario: Scenario,
    scales: Sequence[float] = DEFAULT_SCALES,
    *,
    trials: int = 400,
    seed: int = 20240601,
    chunk: int = 200,
) -> pd.DataFrame:
    """Expected primary-endpoint response rates and risk difference at each effect scale.

    Columns: ``effect_scale``, ``rate_treatment``, ``rate_control``, ``risk_difference``,
    ``mc_se`` (Monte-Carlo SE of the risk difference), ``trials``. The scenario's arm sizes
    are used (the rates are per patient, so they do not depend on them). Common random
    numbers: every scale simulates the same trials (same seed), so the map is smooth in the
    scale and differences between scales are precise.
    """
    proto = load_protocol(scenario.protocol)
    pol = proto.policy
    ep = pol.endpoint(proto.primary)
    if not isinstance(ep, BinaryEndpoint):
        raise ValueError(f"the primary endpoint {proto.primary!r} is not binary")
    rows = []
    for scale in scales:
        scen = scenario.with_params(drug_effect_scale=float(scale))
        diffs, rt, rc = [], [], []
        for first in range(0, trials, chunk):
            k = min(chunk, trials - first)
            sim = simulate_trials(scen, k, seed, first_trial=first, protocol=proto)
            resp = primary_responders(sim, ep.threshold, ep.week, ep.no_deterioration_through_week)
            g = sim.trial - first
            n1 = np.bincount(g[sim.treatment], minlength=k)
            n2 = np.bincount(g[~sim.treatment], minlength=k)
            p1 = np.bincount(g[sim.treatment], weights=resp[sim.treatment], minlength=k) / n1
            p2 = np.bincount(g[~sim.treatment], weights=resp[~sim.treatment], minlength=k) / n2
            diffs.append(p1 - p2)
            rt.append(p1)
            rc.append(p2)
        d = np.concatenate(diffs)
        rows.append(
            {
                "effect_scale": float(scale),
                "rate_treatment": float(np.concatenate(rt).mean()),
                "rate_control": float(np.concatenate(rc).mean()),
                "risk_difference": float(d.mean()),
                "mc_se": float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else math.nan,
                "trials": int(d.size),
            }
        )
    return pd.DataFrame(rows)


def effect_scale_for(risk_difference: float, rd_map: pd.DataFrame) -> float:
    """The effect scale whose expected risk difference is ``risk_difference`` (linear
    interpolation on the map, made monotone by a running maximum).

    Raises
    ------
    ValueError
        When the risk difference is outside the map's range (below the null's or above the
        largest scale's).
    """
    scales = rd_map["effect_scale"].to_numpy(dtype=float)
    rd = np.maximum.accumulate(rd_map["risk_difference"].to_numpy(dtype=float))
    target = float(risk_difference)
    if target <= rd[0]:  # at or below the null (within its Monte-Carlo error): no effect
        if target < rd[0] - 3 * float(rd_map["mc_se"].iloc[0]) - 1e-9:
            raise ValueError(
                f"risk difference {target:g} is below the null's ({rd[0]:.3f}); "
                "the model's IVIG effect cannot be negative"
            )
        return 0.0
    if target > rd[-1]:
        raise ValueError(
            f"risk difference {target:g} is above the largest the model reaches "
            f"({rd[-1]:.3f} at effect scale {scales[-1]:g})"
        )
    return float(np.interp(target, rd, scales))
