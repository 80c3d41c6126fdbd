"""Vectorised per-replicate analysis of every SAP endpoint, subgroups and interactions.

:func:`analyse_replicates` analyses many simulated trials at once with the methods the
protocol's statistical analysis plan (``protocol.sap``, :mod:`myotrial.sap`) names for each
endpoint: every binary endpoint (the primary, TIS >= 40 / 60 at week 16, the week-40 responder
rates by original arm) by its estimate and test, the continuous endpoints (mean TIS at week 16)
by the two-sample t test, and the multiplicity procedure (fixed sequence, Holm or Hochberg) over
the SAP's hypotheses. Responders follow ``derive_adrs``'s rule
(:func:`~myotrial.simulate.calibration.primary_responders`); observed-case means follow
``analyze``.

Methods computed vectorised (the rest fall back as noted in :data:`FALLBACK`):

* binary estimates: the Wald interval of the risk difference (``wald``); tests: ``fisher``
  (exact two-sided, per pair of margins from a cached table), ``chisq`` (Pearson without
  continuity correction = the pooled score z), ``wald``;
* continuous: ``pooled_t`` (Student) and ``welch`` (Welch-Satterthwaite);
* a descriptive comparison (the week-40 endpoints: no randomised test in the SAP) is reported
  with the Wald test of its risk difference, labelled "if tested";
* subgroups: the risk difference of the primary endpoint within a subgroup (the design's test)
  and the treatment-by-subgroup interaction by the logistic-regression likelihood-ratio test
  (``logistic_lrt``, as :func:`myotrial.stats.subgroup_analysis`), fitted by Newton steps on
  the 2 x 2 x 2 table of every replicate at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from myotrial.protocol import BinaryEndpoint, ContinuousEndpoint, Protocol
from myotrial.sap import StatisticalAnalysisPlan, default_sap

__all__ = [
    "CHANGE_ENDPOINTS",
    "FALLBACK",
    "EndpointPlan",
    "analyse_replicates",
    "endpoint_plan",
    "fisher_varying",
    "interaction_lrt",
    "multiplicity_rejections",
    "protocol_sap",
    "subgroup_columns",
]

F = npt.NDArray[np.float64]
IntArr = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

#: Change from baseline at the primary week analysed as ``analyze`` does (observed cases,
#: pooled t): endpoint name -> model measure. Not in the SAP's analyses list; ``analyze``
#: reports them, and the amyopathic scenario's skin endpoint is ``chg_cdasia_w16``.
CHANGE_ENDPOINTS = {
    "chg_pga_w16": "pga",
    "chg_ptga_w16": "ptga",
    "chg_mmt8_w16": "mmt8",
    "chg_haq_w16": "haq",
    "chg_extramus_w16": "extramuscular",
    "chg_cdasia_w16": "cdasi_activity",
}

#: SAP methods not vectorised here and what the simulation uses instead (stated in outputs).
FALLBACK = {
    "newcombe": "wald",
    "miettinen_nurminen": "wald",
    "mh_sato": "wald",
    "strat_newcombe": "wald",
    "chan_zhang": "wald",
    "santner_snell": "wald",
    "mn_score_test": "chisq",
    "chisq_yates": "chisq",
    "cmh": "chisq",
    "ancova": "pooled_t",
    "mmrm_us": "pooled_t",
}


@dataclass(frozen=True)
class EndpointPlan:
    """One analysed endpoint: its SAP role, comparison and the methods used in simulation."""

    name: str
    kind: str  # "binary" | "continuous"
    role: str
    comparison: str  # "randomised" | "descriptive"
    estimate: str
    test: str
    sap_estimate: str | None
    sap_test: str | None


def protocol_sap(protocol: Protocol) -> StatisticalAnalysisPlan:
    """The protocol's SAP, or :func:`myotrial.sap.default_sap` as ``analyze`` uses."""
    return protocol.sap or default_sap(
        [(e.name, "binary", e.week, e.population) for e in protocol.binary]
        + [(e.name, "continuous", e.week, e.population) for e in protocol.continuous],
        protocol.primary,
        protocol.randomised_end_week,
    )


def endpoint_plan(protocol: Protocol) -> list[EndpointPlan]:
    """The SAP's analyses of binary and continuous endpoints, with the simulated methods."""
    sap = protocol_sap(protocol)
    pol = protocol.policy
    out: list[EndpointPlan] = []
    for a in sap.analyses:
        ep = pol.endpoint(a.endpoint)
        if isinstance(ep, BinaryEndpoint):
            est = FALLBACK.get(a.estimate or "wald", a.estimate or "wald")
            test = a.test if a.comparison == "randomised" and a.test else "wald"
            test = FALLBACK.get(test, test)
            out.append(
                EndpointPlan(
                    a.endpoint, "binary", a.role, a.comparison, est, test, a.estimate, a.test
                )
            )
        elif isinstance(ep, ContinuousEndpoint):
            est = FALLBACK.get(a.estimate or "pooled_t", a.estimate or "pooled_t")
            out.append(
                EndpointPlan(
                    a.endpoint, "continuous", a.role, a.comparison, est, est, a.estimate, a.test
                )
            )
    return out


def _fisher_table(n1: int, n2: int) -> F:
    from myotrial.simulate.power import _fisher_table as table

    return table(n1, n2)


def fisher_varying(x1: IntArr, n1: IntArr, x2: IntArr, n2: IntArr) -> F:
    """Two-sided Fisher p-values of many 2x2 tables whose margins differ between tables."""
    x1, n1, x2, n2 = (np.asarray(a, dtype=np.int64) for a in (x1, n1, x2, n2))
    p = np.full(x1.shape, np.nan)
    pairs = np.unique(np.stack([n1, n2], axis=1), axis=0)
    for a, b in pairs.tolist():
        sel = (n1 == a) & (n2 == b)
        if a == 0 or b == 0:
            p[sel] = 1.0
            continue
        p[sel] = _fisher_table(int(a), int(b))[x1[sel] + x2[sel], x1[sel]]
    return p


def _binary_test(x1: IntArr, n1: IntArr, x2: IntArr, n2: IntArr, test: str) -> dict[str, F]:
    """Risk difference (Wald interval) and the test's two-sided p-value, margins per table."""
    x1f, x2f = x1.astype(np.float64), x2.astype(np.float64)
    n1f, n2f = n1.astype(np.float64), n2.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = x1f / n1f, x2f / n2f
        est = p1 - p2
        se = np.sqrt(p1 * (1 - p1) / n1f + p2 * (1 - p2) / n2f)
        if test == "wald":
            z = np.where(se > 0, np.abs(est) / se, np.where(est == 0, 0.0, np.inf))
            pv = special.erfc(z / math.sqrt(2))
        elif test in ("chisq", "score"):
            pool = (x1f + x2f) / (n1f + n2f)
            se0 = np.sqrt(pool * (1 - pool) * (1 / n1f + 1 / n2f))
            z = np.where(se0 > 0, np.abs(est) / se0, 0.0)
            pv = special.erfc(z / math.sqrt(2))
        elif test == "fisher":
            pv = fisher_varying(x1, n1, x2, n2)
        else:
            raise ValueError(f"test {test!r} is not vectorised (valid: wald, chisq, fisher)")
    pv = np.where((n1 > 0) & (n2 > 0), pv, np.nan)
    return {"estimate": est, "se": se, "p_value": pv}


def _t_test(y: F, ok: B, trt: B, g: IntArr, nt: int, method: str) -> dict[str, F]:
    """Two-sample t test of ``y`` (treatment - control) per trial (``g``: trial index)."""
    res = {}
    stats_: dict[str, tuple[F, F, F]] = {}
    for arm, sel in (("t", ok & trt), ("c", ok & ~trt)):
        n = np.bincount(g[sel], minlength=nt).astype(np.float64)
        s1 = np.bincount(g[sel], weights=y[sel], minlength=nt)
        s2 = np.bincount(g[sel], weights=y[sel] ** 2, minlength=nt)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = s1 / n
            v = (s2 - n * m * m) / (n - 1)
        stats_[arm] = (n, m, np.maximum(v, 0.0))
    (n1, m1, v1), (n2, m2, v2) = stats_["t"], stats_["c"]
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = m1 - m2
        if method == "welch":
            se = np.sqrt(v1 / n1 + v2 / n2)
            df = (v1 / n1 + v2 / n2) ** 2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
        else:
            df = n1 + n2 - 2
            sp = ((n1 - 1) * v1 + (n2 - 1) * v2) / df
            se = np.sqrt(sp * (1 / n1 + 1 / n2))
        t = diff / se
        pv = 2 * stats.t.sf(np.abs(t), df)
    res.update({"estimate": diff, "se": se, "p_value": pv, "mean_t": m1, "mean_c": m2})
    return res


def multiplicity_rejections(p: F, procedure: str, alpha: float) -> B:
    """Rejections after the multiplicity procedure: ``p`` is (replicates, hypotheses) in the
    SAP's order (fixed sequence: the testing order). NaN p-values never reject."""
    p = np.where(np.isnan(p), np.inf, p)
    k = p.shape[1]
    if procedure == "none":
        return p < alpha
    if procedure == "fixed_sequence":
        return np.logical_and.accumulate(p < alpha, axis=1)
    order = np.argsort(p, axis=1, kind="stable")
    ps = np.take_along_axis(p, order, axis=1)
    if procedure == "holm":
        ok = np.logical_and.accumulate(ps <= alpha / (k - np.arange(k)), axis=1)
    elif procedure == "hochberg":
        hit = ps <= alpha / (k - np.arange(k))
        # reject H(1..j*) for the largest j* with p(j) <= alpha / (k - j + 1)
        last = np.where(hit.any(axis=1), k - 1 - np.argmax(hit[:, ::-1], axis=1), -1)
        ok = np.arange(k)[None, :] <= last[:, None]
    else:
        raise ValueError(f"multiplicity procedure {procedure!r} is not vectorised")
    out = np.zeros_like(ok)
    np.put_along_axis(out, order, ok, axis=1)
    return out


def interaction_lrt(y: F, n: F, iterations: int = 25) -> F:
    """Likelihood-ratio test of the treatment-by-subgroup interaction, vectorised.

    ``y``, ``n``: responders and patients of shape (R, 2, 2) = (replicate, subgroup [in, out],
    arm [treatment, control]). The saturated model fits every cell; the main-effects logistic
    model ``logit p = b0 + b1 arm + b2 subgroup`` is fitted by Newton-Raphson for all
    replicates at once. Returns the chi-square (1 df) p-value; NaN where a subgroup has no
    patient in an arm (no test, as :func:`myotrial.stats.subgroup_analysis`).
    """
    y = np.asarray(y, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    r = y.shape[0]
    # design rows: (g, a) -> [1, a_is_treatment, g_is_in]
    xg = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    yy, nn = y.reshape(r, 4), n.reshape(r, 4)
    beta = np.zeros((r, 3))
    tot = nn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta[:, 0] = special.logit(np.clip(yy.sum(axis=1) / tot, 1e-6, 1 - 1e-6))
    for _ in range(iterations):
        eta = beta @ xg.T
        mu = special.expit(eta)
        w = nn * mu * (1 - mu)
        grad = ((yy - nn * mu)[:, :, None] * xg[None]).sum(axis=1)
        info = np.einsum("rk,ki,kj->rij", w, xg, xg) + 1e-10 * np.eye(3)
        step = np.linalg.solve(info, grad[:, :, None])[:, :, 0]
        beta = beta + np.clip(step, -5, 5)
    mu = special.expit(beta @ xg.T) * nn
    with np.errstate(invalid="ignore", divide="ignore"):
        t1 = np.where(yy > 0, yy * np.log(yy / mu), 0.0)
        t2 = np.where(nn - yy > 0, (nn - yy) * np.log((nn - yy) / (nn - mu)), 0.0)
    lrt = np.maximum(2 * (t1 + t2).sum(axis=1), 0.0)
    p = stats.chi2.sf(lrt, 1)
    return np.where((nn > 0).all(axis=1), p, np.nan)


def subgroup_columns(
    resp: B,
    trt: B,
    member: B,
    g: IntArr,
    nt: int,
    test: str,
    name: str,
    alpha: float,
) -> dict[str, npt.NDArray[np.generic]]:
    """Per-replicate subgroup effect (risk difference and test) and interaction p-value."""
    cells_y = np.zeros((nt, 2, 2))
    cells_n = np.zeros((nt, 2, 2))
    for i, inside in enumerate((member, ~member)):
        for j, arm in enumerate((trt, ~trt)):
            sel = inside & arm
            cells_y[:, i, j] = np.bincount(g[sel], weights=resp[sel], minlength=nt)
            cells_n[:, i, j] = np.bincount(g[sel], minlength=nt)
    x1, n1 = cells_y[:, 0, 0].astype(np.int64), cells_n[:, 0, 0].astype(np.int64)
    x2, n2 = cells_y[:, 0, 1].astype(np.int64), cells_n[:, 0, 1].astype(np.int64)
    eff = _binary_test(x1, n1, x2, n2, test)
    p_int = interaction_lrt(cells_y, cells_n)
    return {
        f"sub__{name}__n": n1 + n2,
        f"sub__{name}__estimate": eff["estimate"],
        f"sub__{name}__p_value": eff["p_value"],
        f"sub__{name}__reject": eff["p_value"] < alpha,
        f"int__{name}__p_value": p_int,
        f"int__{name}__reject": p_int < alpha,
    }


def analyse_replicates(
    sim: object,
    protocol: Protocol,
    *,
    alpha: float,
    subgroups: Sequence[tuple[str, tuple[int, ...]]] = (),
    subgroup_test: str = "fisher",
) -> dict[str, npt.NDArray[np.generic]]:
    """Every SAP endpoint of every simulated trial in ``sim`` (a
    :class:`~myotrial.simulate.model.SimulatedTrials`), as wide per-replicate columns
    ``ep__<endpoint>__<estimate|p_value|reject|rate_t|rate_c|n_t|n_c>``, the multiplicity
    procedure's rejections ``ep__<endpoint>__reject_adjusted`` and, per subgroup ``(name,
    simulator group indices)``, ``sub__<name>__*`` and ``int__<name>__*`` columns."""
    from myotrial.simulate.calibration import primary_responders
    from myotrial.simulate.model import SimulatedTrials

    assert isinstance(sim, SimulatedTrials)
    pol = protocol.policy
    nt = sim.n_trials
    g = sim.trial - sim.first_trial
    trt = sim.treatment
    out: dict[str, npt.NDArray[np.generic]] = {}
    p_by_ep: dict[str, F] = {}
    for plan in endpoint_plan(protocol):
        ep = pol.endpoint(plan.name)
        key = f"ep__{plan.name}"
        if isinstance(ep, BinaryEndpoint):
            resp = primary_responders(sim, ep.threshold, ep.week, ep.no_deterioration_through_week)
            if ep.population == "entered_extension":
                pop = sim.entered_extension
            elif ep.population == "randomised":
                pop = np.ones(trt.shape, dtype=bool)
            else:  # completed_primary_week or others: patients assessed at the week
                pop = sim.present[:, sim.visit_index(ep.week)]
            x1 = np.bincount(g[pop & trt], weights=resp[pop & trt], minlength=nt).astype(np.int64)
            x2 = np.bincount(g[pop & ~trt], weights=resp[pop & ~trt], minlength=nt).astype(np.int64)
            n1 = np.bincount(g[pop & trt], minlength=nt).astype(np.int64)
            n2 = np.bincount(g[pop & ~trt], minlength=nt).astype(np.int64)
            res = _binary_test(x1, n1, x2, n2, plan.test)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"{key}__rate_t"] = x1 / n1
                out[f"{key}__rate_c"] = x2 / n2
            out[f"{key}__n_t"], out[f"{key}__n_c"] = n1, n2
        else:
            assert isinstance(ep, ContinuousEndpoint)
            j = sim.visit_index(ep.week)
            y = np.asarray(sim.scores["tis"][:, j], dtype=np.float64)
            ok = sim.present[:, j] & ~np.isnan(y)
            res = _t_test(np.nan_to_num(y), ok, trt, g, nt, plan.test)
            out[f"{key}__mean_t"], out[f"{key}__mean_c"] = res["mean_t"], res["mean_c"]
        out[f"{key}__estimate"] = res["estimate"]
        out[f"{key}__p_value"] = res["p_value"]
        out[f"{key}__reject"] = res["p_value"] < alpha
        p_by_ep[plan.name] = res["p_value"]
    j = sim.visit_index(pol.primary_week)
    for name, measure in CHANGE_ENDPOINTS.items():
        if pol.primary_week != 16:  # names follow analyze's for the week-16 primary
            break
        y = sim.values[measure][:, j] - sim.values[measure][:, 0]
        ok = sim.present[:, j] & ~np.isnan(y)
        res = _t_test(np.nan_to_num(y), ok, trt, g, nt, "pooled_t")
        key = f"ep__{name}"
        out[f"{key}__mean_t"], out[f"{key}__mean_c"] = res["mean_t"], res["mean_c"]
        out[f"{key}__estimate"] = res["estimate"]
        out[f"{key}__p_value"] = res["p_value"]
        out[f"{key}__reject"] = res["p_value"] < alpha
    mult = protocol_sap(protocol).multiplicity
    hyps = [h for h in mult.hypotheses if h in p_by_ep]
    if hyps:
        rej = multiplicity_rejections(
            np.column_stack([p_by_ep[h] for h in hyps]), mult.procedure, mult.alpha
        )
        for i, h in enumerate(hyps):
            out[f"ep__{h}__reject_adjusted"] = rej[:, i]
    if subgroups:
        ep = pol.endpoint(protocol.primary)
        assert isinstance(ep, BinaryEndpoint)
        resp = primary_responders(sim, ep.threshold, ep.week, ep.no_deterioration_through_week)
        for name, members in subgroups:
            member = np.isin(sim.msa, np.asarray(members, dtype=np.int64))
            out.update(subgroup_columns(resp, trt, member, g, nt, subgroup_test, name, alpha))
    return out
