"""Infusions and adverse events of simulated trials (canonical ``infusions`` /
``adverse_events`` tables, ``reference/data-format.md``).

Per patient and infusion cycle (``[dosing]`` of the protocol, read through its policy): the
product is IVIG from the patient's IVIG start (week 0 on IVIG, the extension or the crossover
on placebo), the protocol's dose (ProDERM 2 g/kg; the reduced dose from its week for some
stable patients), the cycle is split over the patient's usual number of days within the
protocol's ``cycle_days``, and each day's maximum rate lies between the label's start and
maximum rate. Events per cycle are Poisson with per-patient gamma frailty: infusion-related
headache, pyrexia, nausea and other infusion-related events (onset during the cycle or within
the protocol's infusion-related window after it, ProDERM 72 h, so
:func:`myotrial.stats.derive_infusion_related` classifies them as infusion-related),
non-infusional background events (onset outside those windows), serious events, and rare
thromboembolic events (IVIG at the full dose only; risk grows with the infusion rate). Random
numbers come from each trial's own stream (:func:`~myotrial.simulate.model.trial_seed`
stream 1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from myotrial.simulate.model import SimulatedTrials, trial_seed
from myotrial.simulate.scenario import Scenario

__all__ = ["EVENT_TYPES", "SafetyArrays", "safety_tables", "simulate_safety"]

F = npt.NDArray[np.float64]
I = npt.NDArray[np.int64]  # noqa: E741

#: Event types of the model (columns of :attr:`SafetyArrays.counts`).
EVENT_TYPES = (
    "headache",
    "pyrexia",
    "nausea",
    "other_infusional",
    "background",
    "serious",
    "thromboembolic",
)
_INFUSIONAL = (0, 1, 2, 3)
_OTHER_INFUSIONAL_TERMS = (
    ("Chills", "General disorders"),
    ("Fatigue", "General disorders"),
    ("Vomiting", "Gastrointestinal disorders"),
    ("Infusion site pain", "General disorders"),
    ("Hypertension", "Vascular disorders"),
)
_BACKGROUND_TERMS = (
    ("Nasopharyngitis", "Infections and infestations"),
    ("Arthralgia", "Musculoskeletal and connective tissue disorders"),
    ("Urinary tract infection", "Infections and infestations"),
    ("Back pain", "Musculoskeletal and connective tissue disorders"),
    ("Rash", "Skin and subcutaneous tissue disorders"),
)
_SERIOUS_TERMS = (
    ("Pneumonia", "Infections and infestations"),
    ("Dermatomyositis flare", "Musculoskeletal and connective tissue disorders"),
    ("Cellulitis", "Infections and infestations"),
)
_TE_TERMS = (
    ("Deep vein thrombosis", "Vascular disorders"),
    ("Pulmonary embolism", "Respiratory, thoracic and mediastinal disorders"),
)
#: ASSUMED share of patients splitting a cycle over the fewest .. most days (4 options);
#: another range of days is split uniformly.
_DAYS_P = np.array([0.3, 0.3, 0.25, 0.15])


def _cycle_days(days: tuple[int, int], u: F) -> I:
    """Days per cycle of each patient within the protocol's ``cycle_days`` range."""
    lo, hi = days
    options = np.arange(lo, hi + 1, dtype=np.int64)
    p = _DAYS_P if options.size == _DAYS_P.size else np.full(options.size, 1 / options.size)
    pick = np.searchsorted(np.cumsum(p), u * 0.999999, side="right")
    return options[np.minimum(pick, options.size - 1)]


@dataclass(frozen=True)
class SafetyArrays:
    """Per patient (P) x cycle (K): ``product`` 0 none, 1 control, 2 IVIG; ``counts`` (P, K, 7)
    events of :data:`EVENT_TYPES`; ``te_events`` thromboembolic events (0-2)."""

    cycle_weeks: I
    product: npt.NDArray[np.int8]
    dose: F
    days: I
    max_rate: F
    counts: npt.NDArray[np.int64]
    serious_te: npt.NDArray[np.bool_]
    seeds: list[np.random.Generator]


def _poisson_from_uniform(u: F, lam: F) -> npt.NDArray[np.int64]:
    """Inverse-CDF Poisson counts (exact up to 4 events; rates here are far below 1)."""
    p = np.exp(-lam)
    cdf = p.copy()
    k = np.zeros(u.shape, dtype=np.int64)
    for j in range(1, 5):
        k += u > cdf
        p = p * lam / j
        cdf = cdf + p
    return k


def simulate_safety(sim: SimulatedTrials, scenario: Scenario | None = None) -> SafetyArrays:
    """Infusion cycles and adverse-event counts of every patient of ``sim``.

    ``scenario`` overrides ``sim.scenario``'s ``[safety]`` parameters (calibration reuses the
    simulated outcomes while it fits the safety rates).
    """
    s, pol = scenario or sim.scenario, sim.protocol.policy
    dosing = pol.dosing
    weeks = np.asarray(pol.infusion_cycle_weeks, dtype=np.int64)
    in_randomised = pol.cycles_in_randomised_period()
    n = sim.n_patients // sim.n_trials
    k = weeks.size
    shape = s.p("safety.frailty_shape")
    gens: list[np.random.Generator] = []
    gam, uni, pat = [], [], []
    for t in range(sim.first_trial, sim.first_trial + sim.n_trials):
        rng = np.random.default_rng(trial_seed(sim.seed, t, sim.key, 1))
        gam.append(rng.gamma(shape, 1.0 / shape, (n, 7)))
        uni.append(rng.random((n, k, 9)))
        pat.append(rng.random((n, 3)))
        gens.append(rng)
    frail = np.concatenate(gam)
    u = np.concatenate(uni)
    up = np.concatenate(pat)
    given = (weeks[None, :] < sim.leave_week[:, None] - 1e-3) & (
        in_randomised[None, :] | sim.entered_extension[:, None]
    )
    on_ivig = weeks[None, :] >= sim.ivig_start[:, None]
    product = np.where(given, np.where(on_ivig, 2, 1), 0).astype(np.int8)
    days = _cycle_days(dosing.cycle_days, up[:, 0])
    # each patient's maximum rate: uniform between the label's start and maximum rate, at
    # least a third of the way up (ASSUMED: sites titrate up; ProDERM 0.02-0.04 mL/kg/min)
    lo, hi = dosing.start_rate_ml_per_kg_min, dosing.max_rate_ml_per_kg_min
    max_rate = np.maximum(np.round(lo + up[:, 1] * (hi - lo), 3), round(lo + (hi - lo) / 3, 3))
    dose = np.full((sim.n_patients, k), dosing.dose_g_per_kg)
    red_week, red_dose = dosing.reduced_dose_from_week, dosing.reduced_dose_g_per_kg
    if red_week is not None and red_dose is not None and red_week in sim.weeks.tolist():
        j = sim.visit_index(red_week)
        # "stable" patients: at least minimal improvement (the population's threshold)
        minimal = pol.threshold_values[0]
        stable = sim.present[:, j] & (np.asarray(sim.scores["tis"][:, j], dtype=float) >= minimal)
        reduce = stable & (up[:, 2] < s.p("safety.reduced_dose_prob"))
        dose[reduce[:, None] & (weeks[None, :] >= red_week)] = red_dose
    ivig = product == 2
    pbo = product == 1
    rates = np.zeros((sim.n_patients, k, 7))
    for j, name in enumerate(("headache", "pyrexia", "nausea", "other_infusional")):
        rates[:, :, j] = np.where(ivig, s.p(f"safety.{name}_ivig"), 0.0)
    # control infusions: half headache, a quarter nausea, a quarter other
    for j, share in ((0, 0.5), (2, 0.25), (3, 0.25)):
        rates[:, :, j] += np.where(pbo, share * s.p("safety.infusional_placebo"), 0.0)
    on_study = product > 0
    rates[:, :, 4] = np.where(on_study, s.p("safety.background"), 0.0)
    rates[:, :, 5] = np.where(on_study, s.p("safety.serious_background"), 0.0) + np.where(
        ivig, s.p("safety.serious_ivig_extra"), 0.0
    )
    rate_max = dosing.max_rate_ml_per_kg_min
    te = np.where(
        ivig & (dose >= dosing.dose_g_per_kg),
        s.p("safety.thromboembolic_ivig")
        * (max_rate[:, None] / rate_max) ** s.p("safety.thromboembolic_rate_power"),
        0.0,
    )
    rates[:, :, 6] = te
    counts = _poisson_from_uniform(u[:, :, :7], rates * frail[:, None, :])
    te_any = counts[:, :, 6] > 0
    counts[:, :, 6] = te_any * (1 + (u[:, :, 7] < s.p("safety.thromboembolic_repeat")))
    serious_te = te_any & (u[:, :, 8] < 0.5)
    return SafetyArrays(
        weeks, product, dose, days, max_rate[:, None] * np.ones((1, k)), counts, serious_te, gens
    )


def safety_tables(
    sim: SimulatedTrials, safety: SafetyArrays, subject_ids: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The canonical ``infusions`` and ``adverse_events`` tables (one row per infusion day /
    event), dated from each patient's randomisation day; ``data_source`` on every row."""
    start = dt.datetime.combine(sim.scenario.start_date, dt.time(8, 30))
    window_h = sim.protocol.policy.infusion_related_window_hours
    label = sim.scenario.data_source
    inf_rows: list[dict[str, object]] = []
    ae_rows: list[dict[str, object]] = []
    n = sim.n_patients // sim.n_trials
    for p in range(sim.n_patients):
        rng = safety.seeds[p // n]
        sid = subject_ids[p]
        base = start + dt.timedelta(days=int(sim.enrol_day[p]))
        visit_days = dict(zip(sim.weeks.tolist(), sim.visit_day[p].tolist(), strict=True))
        cycle_first = [
            base
            + dt.timedelta(days=int(visit_days.get(w, w * 7)), minutes=int(rng.integers(0, 60)))
            for w in safety.cycle_weeks.tolist()
        ]
        for c, _week in enumerate(safety.cycle_weeks.tolist()):
            prod = int(safety.product[p, c])
            if prod == 0:
                continue
            first = cycle_first[c]
            n_days = int(safety.days[p])
            last_end = first
            for d in range(n_days):
                s_time = first + dt.timedelta(days=d)
                hours = 2.0 + 4.0 / n_days + rng.random()
                e_time = s_time + dt.timedelta(hours=hours)
                last_end = e_time
                inf_rows.append(
                    {
                        "subject_id": sid,
                        "start": s_time.isoformat(timespec="minutes"),
                        "end": e_time.isoformat(timespec="minutes"),
                        "product": "ivig" if prod == 2 else "placebo",
                        "dose_g_per_kg": round(float(safety.dose[p, c]) / n_days, 4),
                        "rate_ml_per_kg_min": float(safety.max_rate[p, c]),
                        "cycle": c + 1,
                        "data_source": label,
                    }
                )
            next_start = (
                cycle_first[c + 1] if c + 1 < len(cycle_first) else first + dt.timedelta(days=28)
            )
            window = (last_end - first).total_seconds() / 3600 + window_h
            for j, etype in enumerate(
                (
                    "headache",
                    "pyrexia",
                    "nausea",
                    "other_infusional",
                    "background",
                    "serious",
                    "thromboembolic",
                )
            ):
                for _ in range(int(safety.counts[p, c, j])):
                    if etype in ("background", "serious"):
                        lo = window + 1.0  # after the infusion-related window, before the next
                        span = max((next_start - first).total_seconds() / 3600 - lo - 1.0, 1.0)
                        onset = first + dt.timedelta(hours=lo + rng.random() * span)
                    else:
                        onset = first + dt.timedelta(minutes=1, hours=rng.random() * (window - 1.0))
                    if etype == "other_infusional":
                        term, body = _OTHER_INFUSIONAL_TERMS[
                            int(rng.integers(len(_OTHER_INFUSIONAL_TERMS)))
                        ]
                    elif etype == "background":
                        term, body = _BACKGROUND_TERMS[int(rng.integers(len(_BACKGROUND_TERMS)))]
                    elif etype == "serious":
                        term, body = _SERIOUS_TERMS[int(rng.integers(len(_SERIOUS_TERMS)))]
                    elif etype == "thromboembolic":
                        term, body = _TE_TERMS[int(rng.integers(len(_TE_TERMS)))]
                    else:
                        term, body = {
                            "headache": ("Headache", "Nervous system disorders"),
                            "pyrexia": ("Pyrexia", "General disorders"),
                            "nausea": ("Nausea", "Gastrointestinal disorders"),
                        }[etype]
                    serious = etype == "serious" or (
                        etype == "thromboembolic" and bool(safety.serious_te[p, c])
                    )
                    severity = (
                        "severe" if serious else ("moderate" if rng.random() < 0.3 else "mild")
                    )
                    ae_rows.append(
                        {
                            "subject_id": sid,
                            "term": term,
                            "body_system": body,
                            "onset": onset.isoformat(timespec="minutes"),
                            "end": (onset + dt.timedelta(hours=6 + 48 * rng.random())).isoformat(
                                timespec="minutes"
                            ),
                            "serious": serious,
                            "severity": severity,
                            "related": etype not in ("background", "serious") or rng.random() < 0.2,
                            "thromboembolic": etype == "thromboembolic",
                            "data_source": label,
                        }
                    )
    infusions = pd.DataFrame(
        inf_rows,
        columns=[
            "subject_id",
            "start",
            "end",
            "product",
            "dose_g_per_kg",
            "rate_ml_per_kg_min",
            "cycle",
            "data_source",
        ],
    )
    aes = pd.DataFrame(
        ae_rows,
        columns=[
            "subject_id",
            "term",
            "body_system",
            "onset",
            "end",
            "serious",
            "severity",
            "related",
            "thromboembolic",
            "data_source",
        ],
    )
    if len(aes):
        aes = aes.sort_values(["subject_id", "onset"], kind="stable").reset_index(drop=True)
    return infusions, aes
