"""Compiled trajectory kernel of the generative model (numba): raw visit values of every
patient at every scheduled visit, in one pass without temporaries.

Mirrors the model of :mod:`myotrial.simulate.model` (see its docstring); values are rounded as
recorded (VAS to 0.1 cm, MMT-8 and CK to integers, HAQ to 0.125, aldolase to 0.1 U/L) with
``rint`` (numpy's ``round``).

Bounded tails: a worsening (``d < 0``) moves an abnormality ``x0`` towards its cap ``c`` along
``c - (c - x0) exp(d x0 / (c - x0))`` (equal to ``x0 (1 - d)`` to first order at ``d = 0``,
never beyond ``c``): VAS 10 cm, HAQ 3, CDASI activity 100, the MMT-8 deficit
``mmt8_deficit_cap`` and the enzyme log-ratio ``log(enzyme_ratio_cap)``.
"""

from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np

_JIT: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}

# measure order of the model: pga ptga extramuscular mmt8 haq enzyme cdasi


@nb.njit(**_JIT)  # type: ignore[untyped-decorator,unused-ignore]
def _worsen(x0: float, d: float, cap: float) -> float:
    """Abnormality ``x0`` after improvement fraction ``d``; worsening saturates at ``cap``."""
    if d >= 0.0:
        return x0 * (1.0 - d)
    if x0 >= cap:
        return cap
    room = cap - x0
    return cap - room * math.exp(d * x0 / room)


@nb.njit(**_JIT)  # type: ignore[untyped-decorator,unused-ignore]
def trajectories(
    rows: np.ndarray,
    start: np.ndarray,
    weeks: np.ndarray,
    z: np.ndarray,
    pl: np.ndarray,
    dr: np.ndarray,
    flare_e: np.ndarray,
    flare_size: np.ndarray,
    lam_on: np.ndarray,
    resolve: np.ndarray,
    base: np.ndarray,
    par: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill ``out[r, c, k]`` (rows x 8 columns x visits).

    ``base`` columns: pga ptga extramuscular mmt8 haq cdasi ck ck_uln aldolase aldolase_uln;
    ``out`` columns: pga ptga extramuscular mmt8 haq cdasi ck aldolase;
    ``par``: tau_placebo tau_drug extension_gain lambda_off onset_weeks mmt8_factor noise_sd
    noise_ar enzyme_lab_cv mmt8_deficit_cap log(enzyme_ratio_cap);
    ``resolve``: per-patient rate (per week) at which a flare resolves once on IVIG.
    """
    tau_p, tau_d, gain, lam_off, onset_w = par[0], par[1], par[2], par[3], par[4]
    mmt_fac, sd, phi, lab_sd = par[5], par[6], par[7], par[8]
    mmt_cap, lcap = par[9], par[10]
    c_ar = math.sqrt(1.0 - phi * phi)
    nv = weeks.size
    state = np.zeros(7)
    for r in range(rows.size):
        p = rows[r]
        s0 = start[r]
        e = flare_e[p]
        off_cum = lam_off * s0
        onset = e / lam_off if e < off_cum else s0 + (e - off_cum) / max(lam_on[p], 1e-300)
        # baseline visit: the recorded baseline
        out[r, 0, 0] = base[p, 0]
        out[r, 1, 0] = base[p, 1]
        out[r, 2, 0] = base[p, 2]
        out[r, 3, 0] = base[p, 3]
        out[r, 4, 0] = base[p, 4]
        out[r, 5, 0] = base[p, 5]
        out[r, 6, 0] = base[p, 6]
        out[r, 7, 0] = base[p, 8]
        for k in range(1, nv):
            t = weeks[k]
            gp = 1.0 - math.exp(-t / tau_p)
            ton = t - s0
            gd = 0.0
            if ton > 0:
                gd = (1.0 - math.exp(-ton / tau_d)) * (1.0 + gain * min(ton / 40.0, 1.0))
            since = t - onset
            fl = 0.0
            if since > 0:
                fl = flare_size[p] * (1.0 - math.exp(-since / onset_w))
                # a flare resolves once on IVIG (from the later of its onset and the IVIG start)
                rs = max(onset, s0)
                if t > rs:
                    fl *= math.exp(-(t - rs) * resolve[p])
            for j in range(7):
                eps = z[p, 16 + j * nv + k]
                if k == 1:
                    state[j] = sd * eps
                else:
                    state[j] = phi * state[j] + c_ar * sd * eps
            d = np.empty(7)
            for j in range(7):
                d[j] = gp * pl[p, j] + gd * dr[p, j] + state[j] - fl * (mmt_fac if j == 3 else 1.0)
            for c in range(3):  # VAS, lower is better
                x = _worsen(base[p, c], d[c], 10.0)
                out[r, c, k] = min(max(np.rint(x * 10.0) / 10.0, 0.0), 10.0)
            deficit = _worsen(150.0 - base[p, 3], d[3], mmt_cap)
            out[r, 3, k] = min(max(np.rint(150.0 - deficit), 0.0), 150.0)
            x = _worsen(base[p, 4], d[4], 3.0)
            out[r, 4, k] = min(max(np.rint(x * 8.0) / 8.0, 0.0), 3.0)
            out[r, 5, k] = min(max(np.rint(_worsen(base[p, 5], d[6], 100.0)), 0.0), 100.0)
            for q in range(2):  # enzymes: log(value / ULN) above 0 improves by d[5]
                uln = base[p, 7 + 2 * q]
                r0 = math.log(base[p, 6 + 2 * q] / uln)
                a0 = max(r0, 0.0)
                lr = min(r0, 0.0) + _worsen(a0, d[5], lcap)
                lr = min(lr + lab_sd * z[p, 16 + 7 * nv + q * nv + k], lcap)
                raw = uln * math.exp(lr)
                if q == 0:
                    out[r, 6, k] = max(10.0, np.rint(raw))
                else:
                    out[r, 7, k] = max(0.5, np.rint(raw * 10.0) / 10.0)
