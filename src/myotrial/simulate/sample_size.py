"""Sample size: the smallest n per arm reaching a target power, by simulation, with its
Monte-Carlo precision; and the exact power of Fisher's test for two binomial arms (the oracle).

Simulation solver (:func:`solve_sample_size`, ``myotrial simulate DESIGN --solve n``):

1. *Bracket and bisect.* Power is simulated (``design.replicates`` trials, the design's model,
   test and alpha) at ``n_max``, then by bisection on ``[n_min, n_max]`` until the crossing of
   the target is located to one patient (``n_b``), plus points at 0.75-1.3 x ``n_b`` that
   give the fit leverage. Every n has its own independent seed
   (``SeedSequence(seed, spawn_key=(n,))``), so the evaluations are independent.
2. *Smooth.* The rejections at the evaluated n within 0.7-1.4 x ``n_b`` are fitted by a
   binomial GLM with probit link, ``Phi^-1(power) = a + b sqrt(n)`` (the shape of the
   normal-approximation power curve, ``Phi(delta sqrt(n) / sigma - z)``);
   ``n* = ((Phi^-1(target) - a) / b)^2``.
3. *Precision.* The 95% interval of ``n*`` by the delta method from the GLM's covariance of
   ``(a, b)``: the Monte-Carlo precision of the answer. The reported sample size is
   ``ceil(n*)``; its power is simulated once more (fresh seed) and reported with its
   Monte-Carlo SE.

Fisher's exact test has a saw-toothed power curve (discreteness): the smooth fit estimates the
curve through the teeth, so the solved n can differ from the first n whose exact power
reaches the target by a patient or two; the exact calculation is :func:`fisher_exact_power`
(and :func:`exact_sample_size`) for a plain binary endpoint.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special, stats

from myotrial.simulate.power import PowerDesign, run_power, two_proportion_test

__all__ = [
    "SampleSizeResult",
    "exact_power",
    "exact_sample_size",
    "fisher_exact_power",
    "solve_sample_size",
]

F = npt.NDArray[np.float64]


def exact_power(
    n1: int, n2: int, p1: float, p2: float, alpha: float = 0.05, test: str = "fisher"
) -> float:
    """Exact power of a two-sided test of two binomial proportions, by enumeration.

    Sums ``Binom(x1; n1, p1) Binom(x2; n2, p2)`` over every 2x2 table the test rejects
    (p-value < ``alpha``, the rule of :func:`~myotrial.simulate.power.run_chunk`). With
    ``test="fisher"`` this is the exact power of the two-sided Fisher exact test
    (scipy's "probabilities <= the observed one" p-value; R ``exact2x2`` with
    ``tsmethod="minlike"``); ``(n1 + 1)(n2 + 1)`` tables, cheap for n < 1000.
    """
    x1, x2 = np.meshgrid(np.arange(n1 + 1), np.arange(n2 + 1), indexing="ij")
    p = two_proportion_test(x1.ravel(), n1, x2.ravel(), n2, test=test)["p_value"]
    w = np.outer(
        stats.binom.pmf(np.arange(n1 + 1), n1, p1), stats.binom.pmf(np.arange(n2 + 1), n2, p2)
    )
    return float(w.ravel()[p < alpha].sum())


def fisher_exact_power(n1: int, n2: int, p1: float, p2: float, alpha: float = 0.05) -> float:
    """Exact power of the two-sided Fisher exact test (see :func:`exact_power`)."""
    return exact_power(n1, n2, p1, p2, alpha, "fisher")


def exact_sample_size(
    p1: float,
    p2: float,
    target: float,
    alpha: float = 0.05,
    *,
    ratio: float = 1.0,
    test: str = "fisher",
    n_max: int = 200,
) -> int:
    """The smallest n (treatment arm; control ``round(n x ratio)``) whose exact power reaches
    ``target`` (the first crossing of the saw-toothed curve). Raises ValueError when no n up to
    ``n_max`` does."""
    for n in range(2, int(n_max) + 1):
        n2 = max(1, round(n * ratio))
        if exact_power(n, n2, p1, p2, alpha, test) >= target:
            return n
    raise ValueError(f"exact power stays below {target} up to n = {n_max}")


@dataclass(frozen=True)
class SampleSizeResult:
    """The solved sample size and how precisely it is known.

    ``n_star`` is the fitted (continuous) n reaching ``target``; ``n_lower``/``n_upper`` its 95%
    Monte-Carlo interval (delta method); ``n_per_arm = ceil(n_star)`` (treatment arm; control
    ``n_control``); ``power_at_n`` / ``power_mc_se`` the power simulated again at that n with a
    fresh seed; ``evaluations`` every simulated point (n, replicates, rejections, power,
    mc_se); ``trials`` the number of simulated trials used.
    """

    target: float
    effect_scale: float
    n_star: float
    n_lower: float
    n_upper: float
    n_per_arm: int
    n_control: int
    power_at_n: float
    power_mc_se: float
    coef: tuple[float, float]
    evaluations: pd.DataFrame
    trials: int

    def as_dict(self) -> dict[str, object]:
        return {
            "target_power": self.target,
            "effect_scale": self.effect_scale,
            "n_per_arm": self.n_per_arm,
            "n_control": self.n_control,
            "n_star": self.n_star,
            "n_star_95ci": [self.n_lower, self.n_upper],
            "power_at_n": self.power_at_n,
            "power_mc_se": self.power_mc_se,
            "probit_fit": {"intercept": self.coef[0], "slope_sqrt_n": self.coef[1]},
            "trials_simulated": self.trials,
            "method": (
                "bisection on n, probit GLM of rejections on sqrt(n), n* solved from the fit, "
                "95% interval by the delta method; power re-simulated at ceil(n*)"
            ),
        }


def _seed_for(seed: int, n: int, stage: int = 0) -> int:
    return int(np.random.SeedSequence(int(seed), spawn_key=(int(n), stage)).generate_state(1)[0])


def solve_sample_size(
    design: PowerDesign,
    target: float = 0.8,
    *,
    n_min: int = 4,
    n_max: int = 500,
    progress: Callable[[str], None] | None = None,
) -> SampleSizeResult:
    """Smallest n per arm (treatment arm) whose power reaches ``target`` (module docstring).

    ``design`` gives the model (or plain binary endpoint), test, alpha, allocation ratio,
    replicates per evaluated n and seed; it must have exactly one effect scale > 0.
    """
    if not 0 < target < 1:
        raise ValueError(f"target power must lie in (0, 1), got {target}")
    effects = sorted(set(design.effect_scales))
    if len(effects) != 1 or effects[0] <= 0:
        raise ValueError(
            f"solving for n needs exactly one effect scale > 0, got {list(design.effect_scales)}"
        )
    if not 2 <= n_min < n_max:
        raise ValueError(f"need 2 <= n_min < n_max, got {n_min}, {n_max}")
    scale = effects[0]
    seen: dict[int, tuple[int, int]] = {}

    def power_at(n: int, stage: int = 0) -> tuple[int, int]:
        if stage == 0 and n in seen:
            return seen[n]
        d = design.with_options(
            n_per_arm=(n,), effect_scales=(scale,), seed=_seed_for(design.seed, n, stage)
        )
        reps = run_power(d).replicates
        k, r = int(reps["reject"].sum()), len(reps)
        if stage == 0:
            seen[n] = (k, r)
        if progress is not None:
            progress(f"n = {n}: power {k / r:.3f} ({r} trials)")
        return k, r

    k, r = power_at(n_max)
    if k / r < target:
        raise ValueError(
            f"simulated power at n_max = {n_max} is {k / r:.3f} < target {target}: "
            "raise n_max or the effect"
        )
    lo, hi = n_min, n_max
    k, r = power_at(lo)
    if k / r < target:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            k, r = power_at(mid)
            if k / r >= target:
                hi = mid
            else:
                lo = mid
    # local design around the crossing: the fit uses points within [0.7, 1.4] x n
    near = [n for n in seen if 0.7 * hi <= n <= 1.4 * hi]
    for f in (0.75, 0.85, 0.92, 1.08, 1.15, 1.3):
        extra = min(n_max, max(n_min, round(hi * f)))
        power_at(extra)
        near.append(extra)
    ns = np.array(sorted(set(near)), dtype=np.float64)
    ks = np.array([seen[int(n)][0] for n in ns], dtype=np.float64)
    rs = np.array([seen[int(n)][1] for n in ns], dtype=np.float64)
    a, b, cov = _probit_fit(np.sqrt(ns), ks, rs)
    zt = float(special.ndtri(target))
    if b <= 0:
        raise ValueError("simulated power does not increase with n: cannot solve (no effect?)")
    root = (zt - a) / b
    n_star = root * root
    grad = np.array([-2 * root / b, -2 * root * root / b])  # d n* / d(a, b)
    se = float(math.sqrt(max(grad @ cov @ grad, 0.0)))
    n_per_arm = max(n_min, math.ceil(n_star - 1e-9))
    kk, rr = power_at(n_per_arm, stage=1)
    pw = kk / rr
    evaluations = pd.DataFrame(
        {
            "n_treatment": ns.astype(np.int64),
            "n_control": [max(1, round(n * design.allocation_ratio)) for n in ns],
            "replicates": rs.astype(np.int64),
            "rejections": ks.astype(np.int64),
            "power": ks / rs,
            "mc_se": np.sqrt(ks / rs * (1 - ks / rs) / rs),
            "fitted_power": special.ndtr(a + b * np.sqrt(ns)),
        }
    )
    return SampleSizeResult(
        target=target,
        effect_scale=scale,
        n_star=float(n_star),
        n_lower=float(n_star - 1.96 * se),
        n_upper=float(n_star + 1.96 * se),
        n_per_arm=int(n_per_arm),
        n_control=max(1, round(n_per_arm * design.allocation_ratio)),
        power_at_n=pw,
        power_mc_se=math.sqrt(pw * (1 - pw) / rr),
        coef=(float(a), float(b)),
        evaluations=evaluations,
        trials=int(rs.sum()) + rr,
    )


def _probit_fit(x: F, k: F, r: F) -> tuple[float, float, F]:
    """Binomial GLM, probit link, ``Phi^-1(p) = a + b x``: estimates and their covariance."""
    import statsmodels.api as sm

    design = sm.add_constant(x)
    model = sm.GLM(
        np.column_stack([k, r - k]), design, family=sm.families.Binomial(sm.families.links.Probit())
    )
    fit = model.fit()
    a, b = (float(v) for v in fit.params)
    return a, b, np.asarray(fit.cov_params(), dtype=np.float64)
