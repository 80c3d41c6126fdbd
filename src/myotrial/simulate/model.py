"""The generative model of ProDERM-design trials, vectorised over many trials at once.

Every trial ``i`` draws its random numbers from its own generator,
``numpy.random.default_rng(numpy.random.SeedSequence(seed, spawn_key=(*key, i, 0)))`` — the same
stream as ``SeedSequence(seed).spawn(...)`` children — so a trial's data depend only on the seed
and its index, never on how trials are chunked or which worker runs them.

Patients are generated as raw visit values on each measure's own scale (rounded like a case
report form), then **scored by the engine** (:func:`myotrial.scoring.score_arrays`, one call for
all trials stacked). Crossover follows the protocol in two passes: (1) simulate with the
randomised arm through the randomised period and IVIG in the extension, score, find the first
confirmed deterioration (CD) of the randomised period; (2) placebo patients with CD switch to
IVIG from the confirming visit on: their later visits are simulated again with the new IVIG
start and rescored. IVIG patients with CD do not enter the extension; a switcher with a second
deterioration (consecutive worsening visits after the switch, as ``derive_adsl`` defines it)
discontinues after the confirming visit. Nothing about response, deterioration or crossover is
decided inside the simulator except through the engine's output.

Model (parameters: ``scenarios/proderm.toml``; ``docs/simulation.md``): for measure ``m`` the
*abnormality* is the value (PGA, PtGA, extramuscular, HAQ, CDASI), ``150 - MMT-8``, or the log
enzyme/ULN ratio above 0; at week ``t`` it is ``abnormality(0) * (1 - d_m(t))`` with
``d_m(t) = gp(t) P_m + on(t) gd(t - s) (1 + gain) D_m - flare(t) + noise_m(t)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import numpy.typing as npt

from myotrial.eligibility import load_eligibility_rules
from myotrial.policy import ProtocolPolicy
from myotrial.protocol import Protocol, load_protocol
from myotrial.scoring import ScoringConfig, score_arrays
from myotrial.simulate._kernel import trajectories
from myotrial.simulate.scenario import ANTIBODY_GROUPS, CANONICAL_MSA_GROUP, Scenario

__all__ = [
    "CANONICAL_MSA",
    "MEASURES",
    "MSA_LEVELS",
    "SimulatedTrials",
    "simulate_trials",
    "trial_seed",
    "visit_column",
]

F = npt.NDArray[np.float64]
I = npt.NDArray[np.int64]  # noqa: E741 - short alias used in signatures only
B = npt.NDArray[np.bool_]

#: Response dimensions of the model, in the order of the random-effect columns.
MEASURES = ("pga", "ptga", "extramuscular", "mmt8", "haq", "enzyme", "cdasi")
#: The simulator's antibody groups (``SimulatedTrials.msa`` indexes them), in the order of the
#: scenario's ``baseline.msa_*``; :data:`CANONICAL_MSA` maps each to ``subjects.msa_group``.
MSA_LEVELS = ANTIBODY_GROUPS
CANONICAL_MSA = tuple(CANONICAL_MSA_GROUP[g] for g in ANTIBODY_GROUPS)
_CK_ULNS = np.array([170.0, 200.0, 308.0])  # laboratory upper limits of normal (U/L)
_ALD_ULNS = np.array([7.6, 8.1])
_N_BASE_Z = 10  # pga ptga ext mmt haq ck ald cdasi age weight
_N_BASE_U = 4  # sex msa ck-lab ald-lab


def trial_seed(
    seed: int, index: int, key: Sequence[int] = (), stream: int = 0
) -> np.random.SeedSequence:
    """The seed of trial ``index`` (``stream`` 0: outcomes, 1: infusions and adverse events).

    Identical to ``SeedSequence(seed).spawn(...)`` children addressed by ``(*key, index,
    stream)``; computed directly so any chunk of trials can be generated on its own.
    """
    return np.random.SeedSequence(int(seed), spawn_key=(*(int(k) for k in key), int(index), stream))


@dataclass(frozen=True)
class SimulatedTrials:
    """Many simulated trials stacked: ``P`` patients (trial-major) x ``V`` scheduled visits.

    Arrays of shape ``(P,)`` describe patients, ``(P, V)`` their visits; ``present`` marks the
    visits that happened (monotone: a patient who leaves has no later visit). ``scores`` holds
    the engine's output for every visit (``tis``, ``tis_category_code``, ``worsening``,
    ``cd_confirmed``), valid where ``present``.
    """

    protocol: Protocol
    scenario: Scenario
    seed: int
    key: tuple[int, ...]
    first_trial: int
    n_trials: int
    weeks: I
    trial: I
    treatment: B
    index_in_trial: I
    baseline: dict[str, F]
    values: dict[str, F]
    present: B
    scores: dict[str, npt.NDArray[np.generic]]
    cd_week: F
    cross_week: F
    cd2_week: F
    ivig_start: F
    leave_week: F
    entered_extension: B
    completed_primary: B
    completed_final: B
    discontinuation: npt.NDArray[np.object_]
    u: F
    msa: I
    age: I
    female: B
    weight: F
    bmi: F
    enrol_day: I
    visit_day: I
    n_candidates: I
    candidates: dict[str, F] = field(repr=False, default_factory=dict)

    @property
    def n_patients(self) -> int:
        return int(self.trial.size)

    def visit_index(self, week: int) -> int:
        hit = np.flatnonzero(self.weeks == week)
        if hit.size == 0:
            raise ValueError(f"week {week} is not in the visit schedule {self.weeks.tolist()}")
        return int(hit[0])


#: Eligibility-rule columns the model stores under another name (the functional measure).
_MODEL_NAME = {"chaq": "haq"}


@dataclass(frozen=True)
class _Eligibility:
    age_min: float
    age_min_closed: bool
    age_max: float
    age_max_closed: bool
    mmt8_below: float
    mmt8_closed: bool
    csm: list[tuple[str, float, bool]]
    enzyme_multiple: float
    enzyme_closed: bool
    min_count: int
    bmi_max: float


@cache
def _eligibility_thresholds(path: str | None = None) -> _Eligibility:
    """The simulated items of an eligibility rules file (None: the shipped ProDERM rules)."""
    r = load_eligibility_rules(path)
    csm = [(t.column, float(t.threshold), t.edge == "closed") for t in r.csm_thresholds]
    return _Eligibility(
        age_min=float(r.age_min),
        age_min_closed=r.age_min_edge == "closed",
        age_max=float(r.age_max),
        age_max_closed=r.age_max_edge == "closed",
        mmt8_below=float(r.mmt8_below),
        mmt8_closed=r.mmt8_edge == "closed",
        csm=csm,
        enzyme_multiple=float(r.enzyme_uln_multiple),
        enzyme_closed=r.enzyme_edge == "closed",
        min_count=r.other_csm_min_count,
        bmi_max=float(r.bmi_exclude_at),
    )


def _latent_corr(s: Scenario) -> F:
    c = np.eye(8)
    core = [0, 1, 2, 3, 4]
    for a in core:
        for b in core:
            if a != b:
                c[a, b] = s.p("baseline.corr_core")
    c[5, 6] = c[6, 5] = s.p("baseline.corr_enzymes")
    c[2, 7] = c[7, 2] = s.p("baseline.corr_skin")
    return np.asarray(np.linalg.cholesky(c), dtype=np.float64)


def _baseline_from_draws(s: Scenario, z: F, u: F) -> dict[str, F]:
    """Raw baseline values of candidates (rounded as recorded) from standard draws.

    Every latent normal is truncated at +/- ``baseline.z_truncation`` (bounded tails); the
    MMT-8 deficit is logit-normal on (0, 150)."""
    lim = s.p("baseline.z_truncation")
    z = np.clip(z, -lim, lim)
    x = np.clip(z[:, :8] @ _latent_corr(s).T, -lim, lim)
    b: dict[str, F] = {}

    def vas(col: int, name: str) -> F:
        return np.clip(
            np.round(s.p(f"baseline.{name}_mean") + s.p(f"baseline.{name}_sd") * x[:, col], 1),
            0.0,
            10.0,
        )

    b["pga"], b["ptga"], b["extramuscular"] = vas(0, "pga"), vas(1, "ptga"), vas(2, "extramuscular")
    med = s.p("baseline.mmt8_deficit_median") / MODEL_MMT8_MAX
    logit = np.log(med / (1 - med)) + s.p("baseline.mmt8_deficit_sdlog") * x[:, 3]
    deficit = np.round(MODEL_MMT8_MAX / (1 + np.exp(-logit)))
    b["mmt8"] = np.clip(150.0 - deficit, 0.0, 150.0)
    b["haq"] = np.clip(
        np.round((s.p("baseline.haq_mean") + s.p("baseline.haq_sd") * x[:, 4]) * 8) / 8, 0.0, 3.0
    )
    b["ck_uln"] = _CK_ULNS[
        np.minimum((u[:, 2] * _CK_ULNS.size).astype(np.int64), _CK_ULNS.size - 1)
    ]
    b["aldolase_uln"] = _ALD_ULNS[
        np.minimum((u[:, 3] * _ALD_ULNS.size).astype(np.int64), _ALD_ULNS.size - 1)
    ]
    b["ck"] = np.maximum(
        10.0,
        np.round(
            b["ck_uln"]
            * s.p("baseline.ck_ratio_median")
            * np.exp(s.p("baseline.ck_ratio_sdlog") * x[:, 5])
        ),
    )
    b["aldolase"] = np.maximum(
        0.5,
        np.round(
            b["aldolase_uln"]
            * s.p("baseline.aldolase_ratio_median")
            * np.exp(s.p("baseline.aldolase_ratio_sdlog") * x[:, 6]),
            1,
        ),
    )
    b["cdasi_activity"] = np.clip(
        np.round(s.p("baseline.cdasi_mean") + s.p("baseline.cdasi_sd") * x[:, 7]), 0.0, 100.0
    )
    b["age"] = np.floor(s.p("baseline.age_mean") + s.p("baseline.age_sd") * z[:, 8])
    b["female"] = (u[:, 0] < s.p("baseline.female")).astype(np.float64)
    b["weight"] = np.clip(
        np.round(s.p("baseline.weight_mean") + s.p("baseline.weight_sd") * z[:, 9], 1),
        s.p("baseline.weight_min"),
        s.p("baseline.weight_max"),
    )
    height = np.where(b["female"] > 0, 1.63, 1.77)
    b["bmi"] = np.round(b["weight"] / height**2, 1)
    cum = np.cumsum([s.p(f"baseline.msa_{g}") for g in MSA_LEVELS])
    b["msa"] = np.minimum(
        np.searchsorted(cum / cum[-1], u[:, 1], side="right"), len(MSA_LEVELS) - 1
    ).astype(np.float64)
    return b


def eligible_mask(b: dict[str, F], rules: str | None = None) -> B:
    """Eligibility of candidates on the simulated items (``rules``: an eligibility rules file;
    default the shipped ``eligibility_proderm.toml``).

    Age (the file's range and edges), MMT-8 < 142 (of 150), >= 2 other abnormal core set
    measures (PtGA, PGA, extramuscular >= 2 cm, HAQ >= 0.25, an enzyme > 1.5 x ULN) and
    BMI < 40. Other criteria (Bohan and Peter, therapy, exclusions) are met by construction.
    Tests check this agrees with :func:`myotrial.eligibility.derive_screening`.
    """
    el = _eligibility_thresholds(rules)
    below, csm, mult, enz_closed = el.mmt8_below, el.csm, el.enzyme_multiple, el.enzyme_closed
    min_count, bmi_max = el.min_count, el.bmi_max
    age = b["age"]
    ok = (age >= el.age_min) if el.age_min_closed else (age > el.age_min)
    ok &= (age <= el.age_max) if el.age_max_closed else (age < el.age_max)
    ok &= ((b["mmt8"] <= below) if el.mmt8_closed else (b["mmt8"] < below)) & (b["bmi"] < bmi_max)
    count = np.zeros(b["mmt8"].shape, dtype=np.int64)
    for col, thr, closed in csm:
        x = b[_MODEL_NAME.get(col, col)]
        count += (x >= thr - 1e-9) if closed else (x > thr + 1e-9)
    enz = np.zeros(b["mmt8"].shape, dtype=bool)
    for e in ("ck", "aldolase"):
        # compare in hundredths: values are recorded to 0.1 U/L at most
        v, lim = np.round(b[e] * 100), np.round(mult * b[f"{e}_uln"] * 100)
        enz |= (v >= lim) if enz_closed else (v > lim)
    count += enz
    return ok & (count >= min_count)


@dataclass(frozen=True)
class _Draws:
    z_base: F  # (C, 10) candidates
    u_base: F  # (C, 4)
    cand_trial: I  # (C,)
    z: F  # (P, 16 + 9V)
    u: F  # (P, 4 + V + V + 8V): ..., visit jitter, missed visit, missing measure


def _draw(
    s: Scenario, seed: int, key: tuple[int, ...], first: int, n_trials: int, n: int, v: int
) -> _Draws:
    """All standard draws of the trials, one normal and one uniform block per trial."""
    n_cand = n + n // 4 + 10  # ~97% of candidates are eligible; shortfalls are topped up
    kz, ku = n_cand * _N_BASE_Z + n * (16 + 9 * v), n_cand * _N_BASE_U + n * (4 + 10 * v)
    zs = np.empty((n_trials, kz))
    us = np.empty((n_trials, ku))
    for i, t in enumerate(range(first, first + n_trials)):
        rng = np.random.default_rng(trial_seed(seed, t, key, 0))
        rng.standard_normal(kz, out=zs[i])
        rng.random(ku, out=us[i])
    cz, cu = n_cand * _N_BASE_Z, n_cand * _N_BASE_U
    return _Draws(
        z_base=zs[:, :cz].reshape(n_trials * n_cand, _N_BASE_Z),
        u_base=us[:, :cu].reshape(n_trials * n_cand, _N_BASE_U),
        cand_trial=np.repeat(np.arange(n_trials, dtype=np.int64), n_cand),
        z=zs[:, cz:].reshape(n_trials * n, 16 + 9 * v),
        u=us[:, cu:].reshape(n_trials * n, 4 + 10 * v),
    )


def _select_patients(
    s: Scenario, draws: _Draws, seed: int, key: tuple[int, ...], first: int, n_trials: int, n: int
) -> tuple[dict[str, F], I]:
    """The first ``n`` eligible candidates of each trial (extra candidates drawn if needed)."""
    cand = _baseline_from_draws(s, draws.z_base, draws.u_base)
    ok = eligible_mask(cand, s.eligibility)
    trial = draws.cand_trial
    csum = np.cumsum(ok)
    start = np.searchsorted(trial, np.arange(n_trials))
    before = np.concatenate([[0], csum])[start]
    rank = csum - before[trial]
    take = ok & (rank <= n)
    n_ok = np.bincount(trial[take], minlength=n_trials)
    n_screened = np.zeros(n_trials, dtype=np.int64)
    extra: dict[int, dict[str, F]] = {}
    for t in np.flatnonzero(n_ok < n).tolist():  # practically never: top up from the stream
        rng = np.random.default_rng(trial_seed(seed, first + t, key, 2))
        got: list[dict[str, F]] = []
        have = int(n_ok[t])
        while have < n:
            b = _baseline_from_draws(
                s, rng.standard_normal((4 * n, _N_BASE_Z)), rng.random((4 * n, _N_BASE_U))
            )
            m = eligible_mask(b, s.eligibility)
            got.append({k: v[m] for k, v in b.items()})
            have += int(m.sum())
        extra[t] = {k: np.concatenate([g[k] for g in got])[: n - int(n_ok[t])] for k in cand}
    sel = np.flatnonzero(take)
    # candidates screened per trial: up to (and including) the n-th eligible one
    last = np.zeros(n_trials, dtype=np.int64)
    np.maximum.at(last, trial[sel], sel - start[trial[sel]] + 1)
    n_screened[:] = last
    if not extra:
        return {k: v[sel] for k, v in cand.items()}, n_screened
    out: dict[str, list[F]] = {k: [] for k in cand}
    for t in range(n_trials):
        rows = sel[trial[sel] == t]
        for k in cand:
            out[k].append(cand[k][rows])
            if t in extra:
                out[k].append(extra[t][k])
    return {k: np.concatenate(v) for k, v in out.items()}, n_screened


def simulate_trials(
    scenario: Scenario,
    n_trials: int = 1,
    seed: int = 0,
    *,
    first_trial: int = 0,
    key: Sequence[int] = (),
    protocol: Protocol | None = None,
    treatment_first: Sequence[bool] | None = None,
) -> SimulatedTrials:
    """Simulate trials ``first_trial .. first_trial + n_trials - 1`` of a seeded series.

    Parameters
    ----------
    scenario : :class:`~myotrial.simulate.scenario.Scenario` (model parameters, arm sizes).
    n_trials : number of trials to simulate (stacked in one set of arrays).
    seed : the series' seed; trial ``i`` uses :func:`trial_seed` ``(seed, i, key)``.
    first_trial : index of the first trial (chunks of a series give identical trials).
    key : extra spawn-key prefix (e.g. the design point of a power run).
    protocol : defaults to ``load_protocol(scenario.protocol)``.
    treatment_first : per-patient arm (True = treatment) of ONE trial, e.g. from the
        randomisation list (:mod:`myotrial.randomisation`); default: the scenario's arm sizes,
        treatment first. Patients are exchangeable, so the order does not matter.
    """
    proto = protocol or load_protocol(scenario.protocol)
    pol = proto.policy
    _check_measure_set(pol)
    s = scenario
    key_t = tuple(int(k) for k in key)
    weeks = np.asarray(pol.assessment_weeks, dtype=np.int64)
    v = weeks.size
    trt_code, ctl_code = pol.treatment_arm, pol.control_arm
    if treatment_first is not None:
        if n_trials != 1:
            raise ValueError("treatment_first gives the arms of one trial: use n_trials=1")
        arms_one = np.asarray(treatment_first, dtype=bool)
    else:
        arms_one = np.r_[
            np.ones(s.n_per_arm[trt_code], bool), np.zeros(s.n_per_arm[ctl_code], bool)
        ]
    n = arms_one.size
    draws = _draw(s, seed, key_t, first_trial, n_trials, n, v)
    base, n_screened = _select_patients(s, draws, seed, key_t, first_trial, n_trials, n)
    p_total = n * n_trials
    trial = np.repeat(np.arange(first_trial, first_trial + n_trials, dtype=np.int64), n)
    treatment = np.tile(arms_one, n_trials)
    z, u = draws.z, draws.u
    msa = base["msa"].astype(np.int64)

    # ---- patient-level random effects --------------------------------------------------------
    lam = s.p("response.factor_loading")
    uf = z[:, 0]
    zp = lam * uf[:, None] + np.sqrt(1 - lam * lam) * z[:, 1:8]
    zd = lam * uf[:, None] + np.sqrt(1 - lam * lam) * z[:, 8:15]
    mu_p = np.array([s.p(f"response.{m}_placebo") for m in MEASURES])
    sd_p = np.array([s.p(f"response.{m}_placebo_sd") for m in MEASURES])
    mu_d = np.array([s.p(f"response.{m}_drug") for m in MEASURES])
    sd_d = np.array([s.p(f"response.{m}_drug_sd") for m in MEASURES])
    scale = np.full(p_total, s.drug_effect_scale)
    for g, mult in s.subgroup_effect.items():
        if g in MSA_LEVELS:  # the scenario's checks allow only these
            scale[msa == MSA_LEVELS.index(g)] *= mult
    pl = mu_p + sd_p * zp  # (P, 7)
    dr = scale[:, None] * (mu_d + sd_d * zd)
    # IVIG protects against flares in proportion to its effect (scale 0: no protection)
    lam_off_s, lam_on_s = s.p("flare.hazard_off_drug"), s.p("flare.hazard_on_drug")
    lam_on_patient = np.maximum(lam_off_s + scale * (lam_on_s - lam_off_s), 0.0)
    # ... and resolves flares once started, at a rate in proportion to its effect
    resolve = np.maximum(scale, 0.0) / s.p("flare.resolve_weeks")
    flare_size = np.maximum(0.0, s.p("flare.size") + s.p("flare.size_sd") * z[:, 15])
    flare_e = -np.log1p(-u[:, 0])  # Exp(1)
    jitter = np.round((u[:, 4 : 4 + v] * 2 - 1) * s.visit_jitter_days).astype(np.int64)
    jitter[:, 0] = 0
    enrol_day = np.floor(u[:, 3] * s.enrolment_weeks * 7).astype(np.int64)

    # ---- dropout (leave time, weeks; inf = stays) --------------------------------------------
    rand_end = float(pol.randomised_end_week)
    final = float(pol.final_week)
    leave = np.full(p_total, np.inf)
    drop_r = u[:, 1] < s.p("dropout.randomised")
    # leaving time within the randomised period: uniform on (0, rand_end)
    leave[drop_r] = (u[drop_r, 2] * rand_end).clip(1e-6, rand_end - 1e-6)
    logit = s.p("dropout.extension") + s.p("dropout.extension_response_slope") * uf
    drop_e = ~drop_r & (u[:, 2] < 1.0 / (1.0 + np.exp(-logit)))
    # reuse the uniform within its sub-interval for the time (independent of the decision)
    pe = 1.0 / (1.0 + np.exp(-logit[drop_e]))
    leave[drop_e] = rand_end + (u[drop_e, 2] / pe).clip(1e-6, 1 - 1e-6) * (final - rand_end)

    base_mat = np.ascontiguousarray(
        np.column_stack(
            [base[c] for c in ("pga", "ptga", "extramuscular", "mmt8", "haq", "cdasi_activity")]
            + [base[c] for c in ("ck", "ck_uln", "aldolase", "aldolase_uln")]
        )
    )
    par = np.array(
        [
            s.p("response.tau_placebo"),
            s.p("response.tau_drug"),
            s.p("response.extension_gain"),
            s.p("flare.hazard_off_drug"),
            s.p("flare.onset_weeks"),
            s.p("flare.mmt8_factor"),
            s.p("response.noise_sd"),
            s.p("response.noise_ar"),
            s.p("response.enzyme_lab_cv"),
            s.p("response.mmt8_deficit_cap"),
            float(np.log(s.p("response.enzyme_ratio_cap"))),
        ]
    )
    # intermittent missing data: missed post-baseline visits, single measures not recorded
    attend = np.ones((p_total, v), dtype=bool)
    attend[:, 1:] = u[:, 4 + v + 1 : 4 + 2 * v] >= s.p("missing.visit")
    # PROJECT RULE: the end-of-randomised-period visit (the switch to open-label treatment) is
    # always attended: derive dates the open-label period from it. Its measures can still be
    # missing (then no TIS: a non-responder).
    attend[:, weeks == pol.randomised_end_week] = True
    miss_measure = u[:, 4 + 2 * v :].reshape(p_total, len(_OUT_COLUMNS), v) < s.p("missing.measure")
    miss_measure[:, :, 0] = False
    z_c = np.ascontiguousarray(z)
    pl_c, dr_c = np.ascontiguousarray(pl), np.ascontiguousarray(dr)
    weeks_f = weeks.astype(np.float64)

    def values_for(rows: I, ivig_start: F) -> dict[str, F]:
        out = np.empty((rows.size, len(_OUT_COLUMNS), v))
        trajectories(
            rows,
            np.ascontiguousarray(ivig_start, dtype=np.float64),
            weeks_f,
            z_c,
            pl_c,
            dr_c,
            flare_e,
            flare_size,
            lam_on_patient,
            resolve,
            base_mat,
            par,
            out,
        )
        return {
            c: np.where(miss_measure[rows, i, :], np.nan, out[:, i, :])
            for i, c in enumerate(_OUT_COLUMNS)
        }

    all_rows = np.arange(p_total, dtype=np.int64)
    start0 = np.where(treatment, 0.0, rand_end)
    vals = values_for(all_rows, start0)
    present = (weeks[None, :] < leave[:, None]) & attend
    present[:, 0] = True
    sc = _score(vals, base, all_rows, weeks, pol, attend)
    in_rand = weeks <= rand_end
    cdmask = np.asarray(sc["cd_confirmed"], dtype=bool) & present & in_rand[None, :]
    has_cd = cdmask.any(axis=1)
    cd_week = np.where(has_cd, weeks[np.argmax(cdmask, axis=1)].astype(np.float64), np.nan)

    ivig_start = np.where(treatment, 0.0, np.inf)
    cross_week = np.full(p_total, np.nan)
    cd2_week = np.full(p_total, np.nan)
    reason = np.full(p_total, "", dtype=object)
    ctl_cd = ~treatment & has_cd
    control_switches = pol.switches_on_deterioration(ctl_code)
    if control_switches:
        cross_week[ctl_cd] = cd_week[ctl_cd]
    # control patients reaching the extension start the extension arm's treatment at its start
    ivig_start = np.where(~treatment, rand_end, ivig_start)
    switchers = np.flatnonzero(ctl_cd & control_switches)
    if switchers.size:
        ivig_start[switchers] = cd_week[switchers]
        new = values_for(switchers, ivig_start[switchers])
        after = weeks[None, :] > cd_week[switchers, None]
        for k in vals:
            vals[k][switchers] = np.where(after, new[k], vals[k][switchers])
        sub = _score(vals, base, switchers, weeks, pol, attend[switchers])
        for k in sc:
            sc[k][switchers] = sub[k]
        # second deterioration: k consecutive worsening recorded visits after the switch (a
        # missed visit is skipped; an unknown worsening breaks the run, as derive_adsl)
        worse = (sub["worsening"] == 1) & after & present[switchers]
        counted = after & present[switchers]
        run = np.zeros(switchers.size, dtype=np.int64)
        hit = np.full(switchers.size, np.nan)
        for j in range(v):
            run = np.where(worse[:, j], run + 1, np.where(counted[:, j], 0, run))
            new_hit = np.isnan(hit) & (run >= pol.consecutive_visits)
            hit[new_hit] = weeks[j]
        cd2_week[switchers] = hit
        if pol.after_switch_deterioration == "discontinue":
            stop = ~np.isnan(hit)
            rows = switchers[stop]
            leave[rows] = np.minimum(leave[rows], hit[stop] + 1e-6)
            reason[rows] = "deteriorated again after the switch to IVIG"
    # deterioration rules that end a patient's participation
    trt_cd = treatment & has_cd
    if pol.on_deterioration(trt_code) == "no_extension":
        leave[trt_cd] = np.minimum(leave[trt_cd], rand_end + 1e-6)
        reason[trt_cd] = "confirmed deterioration on IVIG: no extension"
    elif pol.on_deterioration(trt_code) == "discontinue":
        leave[trt_cd] = np.minimum(leave[trt_cd], cd_week[trt_cd] + 1e-6)
        reason[trt_cd] = "confirmed deterioration on IVIG: discontinued"
    if pol.on_deterioration(ctl_code) == "discontinue":
        leave[ctl_cd] = np.minimum(leave[ctl_cd], cd_week[ctl_cd] + 1e-6)
        reason[ctl_cd] = "confirmed deterioration on placebo: discontinued"
    random_drop = np.isfinite(leave) & (reason == "")
    reason[random_drop & (leave < rand_end)] = "withdrew during the randomised period"
    reason[random_drop & (leave > rand_end)] = "withdrew during the extension"
    present = (weeks[None, :] < leave[:, None]) & attend
    present[:, 0] = True
    completed_primary = leave > rand_end
    entered = (leave > rand_end + 1e-3) & completed_primary
    completed_final = leave > final
    visit_day = weeks[None, :] * 7 + jitter
    return SimulatedTrials(
        protocol=proto,
        scenario=s,
        seed=int(seed),
        key=key_t,
        first_trial=int(first_trial),
        n_trials=int(n_trials),
        weeks=weeks,
        trial=trial,
        treatment=treatment,
        index_in_trial=np.tile(np.arange(n, dtype=np.int64), n_trials),
        baseline=base,
        values=vals,
        present=present,
        scores=sc,
        cd_week=cd_week,
        cross_week=cross_week,
        cd2_week=cd2_week,
        ivig_start=ivig_start,
        leave_week=leave,
        entered_extension=entered,
        completed_primary=completed_primary,
        completed_final=completed_final,
        discontinuation=reason,
        u=uf,
        msa=msa,
        age=base["age"].astype(np.int64),
        female=base["female"] > 0,
        weight=base["weight"],
        bmi=base["bmi"],
        enrol_day=enrol_day,
        visit_day=visit_day,
        n_candidates=n_screened,
    )


_OUT_COLUMNS = ("pga", "ptga", "extramuscular", "mmt8", "haq", "cdasi_activity", "ck", "aldolase")
_SCORE_COLUMNS = ("pga", "ptga", "extramuscular", "mmt8", "haq", "ck", "aldolase")


#: The model's measures that fill the IMACS TIS slots (model name -> slot).
_SLOT_OF = {m: m for m in ("pga", "ptga", "extramuscular", "mmt8", "haq")}
#: The MMT-8 scale of the model's baseline distribution and trajectories.
MODEL_MMT8_MAX = 150.0


def _check_measure_set(pol: ProtocolPolicy) -> None:
    """The model simulates the IMACS core set (adult: HAQ, juvenile: CHAQ in the HAQ slot)."""
    cols = pol.measure_columns
    unsupported = {
        slot: col
        for slot, col in cols.items()
        if slot != "enzyme" and col not in ("pga", "ptga", "extramuscular", "mmt8", "haq", "chaq")
    }
    if unsupported:
        raise ValueError(
            f"protocol {pol.protocol.name}: measure set {pol.measure_set!r} uses "
            f"{', '.join(sorted(unsupported.values()))}, which the simulator does not model "
            "(it simulates the IMACS core set; measure_set = 'imacs')"
        )
    if float(pol.scoring_options()["mmt8_max"]) != MODEL_MMT8_MAX:
        raise ValueError(
            f"protocol {pol.protocol.name}: mmt8_max = {pol.scoring_options()['mmt8_max']:g}; "
            f"the simulator's MMT-8 is on the {MODEL_MMT8_MAX:g}-point scale"
        )


def visit_column(pol: ProtocolPolicy, measure: str) -> str:
    """Visits-table column of a model measure under the protocol (``haq`` -> ``chaq`` for a
    juvenile protocol); measures outside the TIS slots keep their name."""
    slot = _SLOT_OF.get(measure)
    return pol.measure_columns.get(slot, measure) if slot is not None else measure


_MISSING_SCORE: dict[str, float] = {
    "tis": np.nan,
    "tis_category_code": -1,
    "worsening": -1,
    "cd_confirmed": 0,
}


def _score(
    vals: dict[str, F],
    base: dict[str, F],
    rows: I,
    weeks: I,
    pol: ProtocolPolicy,
    attend: B,
) -> dict[str, npt.NDArray[np.generic]]:
    """Score the attended visits of ``rows`` with the engine, shaped (R, V).

    Only visits the patient attended (``attend``, shape (R, V)) are scored, so the engine's
    "consecutive recorded visits" are the recorded ones, as in ``derive_all``; a missed visit
    gets no score (TIS NaN, worsening unknown, not confirming)."""
    r, v = rows.size, weeks.size
    keep_rows = np.asarray(attend, dtype=bool).reshape(-1)
    opts = pol.scoring_options()
    cols = {
        visit_column(pol, k): np.ascontiguousarray(vals[k][rows].reshape(-1)[keep_rows])
        for k in _SCORE_COLUMNS
    }
    m = int(keep_rows.sum())
    cols["mmt8_max"] = np.full(m, float(opts["mmt8_max"]))
    cols["ck_uln"] = np.repeat(base["ck_uln"][rows], v)[keep_rows]
    cols["aldolase_uln"] = np.repeat(base["aldolase_uln"][rows], v)[keep_rows]
    codes = np.repeat(np.arange(r, dtype=np.int64), v)[keep_rows]
    wk = np.tile(weeks.astype(np.float64), r)[keep_rows]
    cfg = ScoringConfig(**opts)
    out = score_arrays(codes, wk, cols, cfg)
    res: dict[str, npt.NDArray[np.generic]] = {}
    for k, fill in _MISSING_SCORE.items():
        got = np.asarray(out[k])
        full = np.full(r * v, fill, dtype=got.dtype)
        full[keep_rows] = got
        res[k] = full.reshape(r, v)
    return res
