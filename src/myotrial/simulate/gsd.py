"""Group-sequential designs: Lan-DeMets alpha-spending boundaries by numerical integration, and
operating characteristics of the simulated trial with interim analyses.

Boundaries (:func:`group_sequential_design`). One-sided efficacy boundaries ``c_1 .. c_K`` on
the z scale at information rates ``t_1 < ... < t_K = 1`` with the Lan-DeMets spending function
(Lan KKG, DeMets DL. Biometrika 1983;70:659-63, doi:10.1093/biomet/70.3.659):

* ``obrien_fleming``: ``alpha(t) = 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t))`` (rpact ``asOF``);
* ``pocock``: ``alpha(t) = alpha log(1 + (e - 1) t)`` (rpact ``asP``).

``c_k`` solves ``P(Z_1 < c_1, ..., Z_{k-1} < c_{k-1}, Z_k >= c_k) = alpha(t_k) - alpha(t_{k-1})``
under the null, with the joint law of the canonical process (``Z_k sqrt(t_k)`` has independent
normal increments) integrated by the recursive method of Armitage, McPherson and Rowe
(J R Stat Soc A 1969;132:235-44, doi:10.2307/2343787; Jennison C, Turnbull BW, *Group
Sequential Methods*, 2000, ch. 19): the sub-density of ``Z_k`` on the continuation region is
computed on a grid (composite Simpson rule, step :data:`GRID_STEP`, truncated 10 SD from the
mean) from that of ``Z_{k-1}``, and each ``c_k`` is found by Brent's method. Futility bounds
``f_k`` (z scale, optional) are **non-binding**: they do not change ``c_k`` (the type I error
is controlled whether or not they are obeyed); probabilities "with futility" assume they are
obeyed. Checked against rpact (``scripts/r/gsd_fixtures.R``, ``tests/fixtures/gsd_rpact.csv``)
to 1e-6.

Operating characteristics (:func:`simulate_group_sequential`): each replicate is one trial of
the generative model (or a plain binary endpoint) at the full sample size; at analysis ``k``
the first ``ceil(t_k n)`` patients of each arm (in enrolment order) are analysed with the
signed pooled-variance z statistic of the risk difference (treatment better = positive), the
trial stops for efficacy when ``Z_k >= c_k`` and (when futility bounds are given) for
futility when ``Z_k < f_k``. Reported: power (rejection rate), stopping probabilities per
analysis, expected number of patients analysed at the stop. PROJECT RULE: the interim is
taken when ``ceil(t_k n)`` patients per arm have their week-16 outcome; patients enrolled but
not yet assessed at that time (overrun) are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, special

__all__ = [
    "GRID_STEP",
    "SPENDING_FUNCTIONS",
    "GroupSequentialDesign",
    "crossing_probabilities",
    "drift_for_power",
    "group_sequential_design",
    "simulate_group_sequential",
    "spent_alpha",
]

F = npt.NDArray[np.float64]
Spending = Literal["obrien_fleming", "pocock"]
#: Spending-function keys (rpact names in brackets in the module docstring).
SPENDING_FUNCTIONS: tuple[str, ...] = ("obrien_fleming", "pocock")
#: Grid step (z units) of the numerical integration.
GRID_STEP = 0.01
_SPAN = 10.0


def spent_alpha(spending: str, alpha: float, t: npt.ArrayLike) -> F:
    """Cumulative one-sided alpha spent at information rates ``t`` (Lan-DeMets)."""
    tt = np.asarray(t, dtype=np.float64)
    if spending == "obrien_fleming":
        z = special.ndtri(1 - alpha / 2)
        with np.errstate(divide="ignore"):
            return np.asarray(2 - 2 * special.ndtr(z / np.sqrt(tt)), dtype=np.float64)
    if spending == "pocock":
        return np.asarray(alpha * np.log1p((math.e - 1) * tt), dtype=np.float64)
    raise ValueError(f"spending {spending!r}; valid: {', '.join(SPENDING_FUNCTIONS)}")


@dataclass(frozen=True)
class GroupSequentialDesign:
    """Boundaries of a one-sided group-sequential design (see the module docstring)."""

    information_rates: tuple[float, ...]
    alpha: float
    spending: str
    critical_values: tuple[float, ...]
    alpha_spent: tuple[float, ...]
    futility_bounds: tuple[float, ...] | None = None

    @property
    def k_max(self) -> int:
        return len(self.information_rates)

    def table(self) -> pd.DataFrame:
        """One row per analysis: information rate, efficacy and futility bound, alpha spent."""
        fut = list(self.futility_bounds or ()) + [np.nan] * self.k_max
        return pd.DataFrame(
            {
                "analysis": np.arange(1, self.k_max + 1),
                "information_rate": self.information_rates,
                "efficacy_z": self.critical_values,
                "futility_z": fut[: self.k_max],
                "cumulative_alpha": self.alpha_spent,
                "nominal_p_one_sided": special.ndtr(-np.asarray(self.critical_values)),
            }
        )


def _simpson(lo: float, hi: float) -> tuple[F, F]:
    m = max(2, math.ceil((hi - lo) / GRID_STEP / 2) * 2)
    x = np.linspace(lo, hi, m + 1)
    w = np.full(m + 1, 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    return x, w * (hi - lo) / (3 * m)


class _Recursion:
    """Sub-densities of Z_1 .. Z_k on the continuation regions (drift ``theta``: E Z_k =
    theta sqrt(t_k))."""

    def __init__(self, rates: F, theta: float) -> None:
        self.t = rates
        self.theta = theta
        self.x: F | None = None  # grid of the last continuation region
        self.wf: F | None = None  # weights x sub-density there

    def _moments(self, k: int, u: F) -> tuple[F, float]:
        """Mean of Z_k sqrt(t_k) given Z_{k-1} = u, and the increment SD."""
        t0, t1 = self.t[k - 1], self.t[k]
        d = t1 - t0
        return u * math.sqrt(t0) + self.theta * d, math.sqrt(d)

    def upper(self, k: int, c: float) -> float:
        """P(continued to k, Z_k >= c) (k 0-based)."""
        if k == 0:
            return float(special.ndtr(self.theta * math.sqrt(self.t[0]) - c))
        assert self.x is not None and self.wf is not None
        mean, sd = self._moments(k, self.x)
        return float(self.wf @ special.ndtr((mean - c * math.sqrt(self.t[k])) / sd))

    def lower(self, k: int, f: float) -> float:
        """P(continued to k, Z_k < f)."""
        if k == 0:
            return float(special.ndtr(f - self.theta * math.sqrt(self.t[0])))
        assert self.x is not None and self.wf is not None
        mean, sd = self._moments(k, self.x)
        return float(self.wf @ special.ndtr((f * math.sqrt(self.t[k]) - mean) / sd))

    def advance(self, k: int, lo: float, hi: float) -> None:
        """Sub-density of Z_k on [lo, hi] (the continuation region of analysis k)."""
        centre = self.theta * math.sqrt(self.t[k])
        lo, hi = max(lo, centre - _SPAN), min(hi, centre + _SPAN)
        x, w = _simpson(lo, hi) if hi > lo else (np.array([lo]), np.array([0.0]))
        if k == 0:
            dens = np.exp(-0.5 * (x - centre) ** 2) / math.sqrt(2 * math.pi)
        else:
            assert self.x is not None and self.wf is not None
            mean, sd = self._moments(k, self.x)
            st = math.sqrt(self.t[k])
            z = (x[:, None] * st - mean[None, :]) / sd
            dens = (np.exp(-0.5 * z * z) @ self.wf) * st / (sd * math.sqrt(2 * math.pi))
        self.x, self.wf = x, w * dens


def _check_rates(rates: tuple[float, ...]) -> F:
    t = np.asarray(rates, dtype=np.float64)
    if t.size < 1 or np.any(np.diff(t) <= 0) or t[0] <= 0 or abs(t[-1] - 1.0) > 1e-12:
        raise ValueError(
            f"information rates must increase strictly from > 0 to 1, got {list(rates)}"
        )
    return t


def group_sequential_design(
    information_rates: tuple[float, ...] | list[float],
    alpha: float = 0.025,
    spending: str = "obrien_fleming",
    futility_bounds: tuple[float, ...] | list[float] | None = None,
) -> GroupSequentialDesign:
    """Efficacy boundaries (one-sided ``alpha``) by Lan-DeMets spending; see the module
    docstring. ``futility_bounds`` (one z value per interim, non-binding) are carried along."""
    rates = tuple(float(r) for r in information_rates)
    t = _check_rates(rates)
    if not 0 < alpha < 0.5:
        raise ValueError(f"one-sided alpha must lie in (0, 0.5), got {alpha}")
    spent = spent_alpha(spending, alpha, t)
    fut = None
    if futility_bounds is not None:
        fut = tuple(float(f) for f in futility_bounds)
        if len(fut) != t.size - 1:
            raise ValueError(
                f"give one futility bound per interim analysis ({t.size - 1}), got {len(fut)}"
            )
    rec = _Recursion(t, 0.0)
    crit: list[float] = []
    prev = 0.0
    for k in range(t.size):
        target = float(spent[k] - prev)
        prev = float(spent[k])
        c = optimize.brentq(
            lambda c, k=k, target=target: rec.upper(k, c) - target, -10.0, 40.0, xtol=1e-12
        )
        crit.append(float(c))
        if k < t.size - 1:
            rec.advance(k, -np.inf, c)  # non-binding: futility ignored for the boundaries
    return GroupSequentialDesign(rates, float(alpha), spending, tuple(crit), tuple(spent), fut)


def crossing_probabilities(
    design: GroupSequentialDesign, drift: float, *, futility: bool = True
) -> pd.DataFrame:
    """Per analysis, the probability of stopping for efficacy and (futility obeyed) for
    futility when ``E Z_k = drift sqrt(t_k)``; ``drift = 0`` is the null."""
    t = np.asarray(design.information_rates)
    fut = design.futility_bounds if futility else None
    rec = _Recursion(t, float(drift))
    eff, fl = [], []
    for k in range(t.size):
        c = design.critical_values[k]
        eff.append(rec.upper(k, c))
        f = fut[k] if fut is not None and k < t.size - 1 else -np.inf
        fl.append(rec.lower(k, f) if np.isfinite(f) else 0.0)
        if k < t.size - 1:
            rec.advance(k, f, c)
    return pd.DataFrame({"analysis": np.arange(1, t.size + 1), "efficacy": eff, "futility": fl})


def drift_for_power(design: GroupSequentialDesign, power: float = 0.8) -> float:
    """The drift (``E Z_K``) at which the design's power (futility obeyed) is ``power``;
    its square is rpact's ``shift``."""
    return float(
        optimize.brentq(
            lambda d: crossing_probabilities(design, d)["efficacy"].sum() - power,
            0.0,
            20.0,
            xtol=1e-12,
        )
    )


def _signed_score_z(x1: F, n1: F, x2: F, n2: F) -> F:
    p1, p2 = x1 / n1, x2 / n2
    pool = (x1 + x2) / (n1 + n2)
    se = np.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, (p1 - p2) / se, 0.0)


def simulate_group_sequential(
    power_design: object, gsd: GroupSequentialDesign, *, futility: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Operating characteristics of ``gsd`` applied to every design point of a
    :class:`~myotrial.simulate.power.PowerDesign` (module docstring).

    Returns ``(summary, per_analysis)``: per design point the power, Monte-Carlo SE, expected
    patients analysed (both arms) and the fixed-design maximum; per point and analysis the
    probability of stopping there for efficacy and for futility.
    """
    from myotrial.simulate.power import PowerDesign, run_chunk_responders

    if not isinstance(power_design, PowerDesign):
        raise TypeError("power_design must be a PowerDesign")
    t = np.asarray(gsd.information_rates)
    rows, per = [], []
    for j, (n1, n2, scale) in enumerate(power_design.points):
        r1, r2 = run_chunk_responders(power_design, j, 0, power_design.replicates)
        reps = r1.shape[0]
        k1 = np.maximum(1, np.ceil(t * n1).astype(np.int64))
        k2 = np.maximum(1, np.ceil(t * n2).astype(np.int64))
        c1 = np.cumsum(r1, axis=1)[:, k1 - 1].astype(np.float64)
        c2 = np.cumsum(r2, axis=1)[:, k2 - 1].astype(np.float64)
        z = _signed_score_z(c1, k1.astype(np.float64), c2, k2.astype(np.float64))
        crit = np.asarray(gsd.critical_values)
        fut = np.full(t.size, -np.inf)
        if futility and gsd.futility_bounds is not None:
            fut[:-1] = gsd.futility_bounds
        eff_hit = z >= crit[None, :]
        fut_hit = (z < fut[None, :]) & ~eff_hit
        stop = eff_hit | fut_hit
        stop[:, -1] = True
        first = np.argmax(stop, axis=1)
        rows_idx = np.arange(reps)
        rejected = eff_hit[rows_idx, first]
        patients = (k1 + k2)[first]
        for k in range(t.size):
            at = first == k
            per.append(
                {
                    "point": j,
                    "n_treatment": n1,
                    "effect_scale": scale,
                    "analysis": k + 1,
                    "information_rate": t[k],
                    "patients_analysed": int(k1[k] + k2[k]),
                    "efficacy_z": crit[k],
                    "futility_z": fut[k] if np.isfinite(fut[k]) else np.nan,
                    "stop_efficacy": float((at & rejected).mean()),
                    "stop_futility": float((at & ~rejected & (k < t.size - 1)).mean()),
                }
            )
        pw = float(rejected.mean())
        rows.append(
            {
                "point": j,
                "n_treatment": n1,
                "n_control": n2,
                "effect_scale": scale,
                "replicates": reps,
                "power": pw,
                "mc_se": math.sqrt(pw * (1 - pw) / reps),
                "expected_patients": float(patients.mean()),
                "max_patients": n1 + n2,
                "futility_obeyed": bool(futility and gsd.futility_bounds is not None),
            }
        )
    return pd.DataFrame(rows), pd.DataFrame(per)
