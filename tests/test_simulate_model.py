"""The generative model: seeds, ranges, eligibility, and "same engine" (derive_all agrees)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from myotrial.analysis import analyze
from myotrial.derive import derive_all
from myotrial.eligibility import derive_screening
from myotrial.simulate import (
    eligible_mask,
    load_scenario,
    primary_responders,
    screening_table,
    simulate_safety,
    simulate_trials,
    to_tables,
    trial_statistics,
)
from myotrial.simulate.model import _baseline_from_draws
from myotrial.stats import derive_infusion_related
from myotrial.tables import validate_visits

SCEN = load_scenario("proderm")


@pytest.fixture(scope="module")
def sims():
    sim = simulate_trials(SCEN, 4, seed=123)
    visits, subjects = to_tables(sim)
    return sim, visits, subjects, derive_all(visits, subjects)


def test_same_seed_same_trials_whatever_the_chunking():
    whole = simulate_trials(SCEN, 6, seed=9)
    a = simulate_trials(SCEN, 2, seed=9)
    b = simulate_trials(SCEN, 4, seed=9, first_trial=2)
    for k in whole.values:
        np.testing.assert_array_equal(whole.values[k], np.concatenate([a.values[k], b.values[k]]))
    np.testing.assert_array_equal(whole.present, np.concatenate([a.present, b.present]))
    np.testing.assert_array_equal(whole.cross_week, np.concatenate([a.cross_week, b.cross_week]))
    other = simulate_trials(SCEN, 2, seed=10)
    assert not np.array_equal(other.values["pga"], a.values["pga"])


def test_values_are_recorded_like_a_case_report_form(sims):
    sim, visits, _, _ = sims
    validate_visits(visits)  # raises on any out-of-range value
    # a measure not recorded is blank (intermittent missing data); recorded ones are on scale
    haq = visits["haq"].dropna()
    assert np.allclose(haq * 8, np.round(haq * 8))
    for col in ("pga", "ptga", "extramuscular"):
        x = visits[col].dropna()
        assert x.between(0, 10).all()
        assert np.allclose(x * 10, np.round(x * 10))
    mmt = visits["mmt8"].dropna()
    assert np.allclose(mmt, np.round(mmt))
    assert mmt.between(0, 150).all()
    assert (visits["ck"].dropna() > 0).all() and (visits["aldolase"].dropna() > 0).all()
    assert visits["pga"].isna().mean() < 0.02
    assert (visits["data_source"].str.startswith("SYNTHETIC")).all()
    # baseline eligibility: MMT-8 < 142 for every randomised patient
    assert (sim.baseline["mmt8"] < 142).all()


def test_vectorised_eligibility_agrees_with_the_screening_engine():
    rng = np.random.default_rng(4)
    wide = SCEN.with_params(
        {"baseline.mmt8_deficit_median": 10.0, "baseline.pga_mean": 2.5, "baseline.haq_mean": 0.3}
    )
    b = _baseline_from_draws(wide, rng.standard_normal((400, 10)), rng.random((400, 4)))
    ids = [f"C{i:03d}" for i in range(400)]
    screened = derive_screening(screening_table(b, ids, mmt8_max=150, data_source="SYNTHETIC"))
    engine = screened["eligible"].eq("true").to_numpy()
    mine = eligible_mask(b)
    assert 50 < mine.sum() < 350  # both outcomes are exercised
    np.testing.assert_array_equal(mine, engine)


def test_derive_all_reproduces_the_simulator_state(sims):
    """Deterioration, crossover and disposition come from the engine: derive_all agrees."""
    sim, _, subjects, derived = sims
    adsl = derived.adsl.set_index("USUBJID").loc[subjects["subject_id"]]
    np.testing.assert_array_equal(adsl["CDWK"].to_numpy(dtype=float), sim.cd_week)
    np.testing.assert_array_equal(adsl["CROSSWK"].to_numpy(dtype=float), sim.cross_week)
    np.testing.assert_array_equal(adsl["EXTFL"].eq("Y").to_numpy(), sim.entered_extension)
    np.testing.assert_array_equal(adsl["COMP40FL"].eq("Y").to_numpy(), sim.completed_final)
    switch = ~np.isnan(sim.cross_week)
    assert switch.any()
    np.testing.assert_array_equal(adsl["CD2WK"].to_numpy(dtype=float)[switch], sim.cd2_week[switch])
    # flags: crossover, deterioration (randomised period and after the switch), week 16
    np.testing.assert_array_equal(adsl["CROSSFL"].eq("Y").to_numpy(), switch)
    np.testing.assert_array_equal(adsl["CDFL"].eq("Y").to_numpy(), ~np.isnan(sim.cd_week))
    np.testing.assert_array_equal(adsl["CD2FL"].eq("Y").to_numpy(), ~np.isnan(sim.cd2_week))
    np.testing.assert_array_equal(adsl["COMP16FL"].eq("Y").to_numpy(), sim.completed_primary)
    # only arms the policy lets switch do so, at a week the policy allows
    pol = sim.protocol.policy
    crossed_arms = set(adsl.loc[adsl["CROSSFL"].eq("Y"), "ARMCD"])
    assert crossed_arms == set(pol.switching_arms)
    assert all(pol.may_switch_at(w) for w in sim.cross_week[switch])
    # responders of every binary endpoint: ADRS == the vectorised rule
    adrs = derived.adrs.set_index(["PARAMCD", "USUBJID"])
    ids = np.asarray(subjects["subject_id"])
    for ep in pol.binary_endpoints():
        mine = primary_responders(sim, ep.threshold, ep.week, ep.no_deterioration_through_week)
        if ep.population == "entered_extension":
            keep = sim.entered_extension
            mine, sel = mine[keep], ids[keep]
        else:
            sel = ids
        theirs = adrs.loc[ep.name].loc[sel, "AVAL"].to_numpy()
        np.testing.assert_array_equal(mine.astype(int), theirs, err_msg=ep.name)
    # scored TIS of every visit equals the simulator's (engine) scores
    scored = derived.scored.set_index(["subject_id", "visit_week"])["tis"].astype(float)
    j = sim.visit_index(16)
    tis16 = scored.reindex(pd.MultiIndex.from_arrays([ids, np.full(ids.size, 16)])).to_numpy()
    np.testing.assert_array_equal(
        np.where(sim.present[:, j], sim.scores["tis"][:, j], np.nan), tis16
    )


def test_crossover_follows_the_protocol(sims):
    sim, _, _, _ = sims
    switch = ~np.isnan(sim.cross_week)
    assert not sim.treatment[switch].any()  # only placebo patients switch
    np.testing.assert_array_equal(sim.ivig_start[switch], sim.cross_week[switch])
    assert (sim.cross_week[switch] >= 8).all() and (sim.cross_week[switch] <= 16).all()
    placebo_stay = ~sim.treatment & ~switch
    assert (sim.ivig_start[placebo_stay] == 16).all()
    ivig_cd = sim.treatment & (sim.cd_week <= 16)
    later = sim.weeks > 16
    assert not sim.present[np.ix_(ivig_cd, later)].any()  # no extension after CD on IVIG
    assert not sim.entered_extension[ivig_cd].any()


def test_trial_statistics_match_analyze_for_one_trial():
    sim = simulate_trials(SCEN, 1, seed=77)
    visits, subjects = to_tables(sim)
    res = analyze(derive_all(visits, subjects))
    st = trial_statistics(sim).iloc[0]
    for thr in (20, 40, 60):
        for week in (16, 40):
            ep = res.get(f"tis{thr}_w{week}")
            for arm in ("ivig", "placebo"):
                a = ep.arms[arm]
                assert st[f"resp{thr}_w{week}_{arm}"] == pytest.approx(100 * a["x"] / a["n"])
    tis = res.get("tis_w16")
    for arm in ("ivig", "placebo"):
        assert st[f"tis_mean_w16_{arm}"] == pytest.approx(tis.arms[arm]["mean"])
        assert st[f"tis_sd_w16_{arm}"] == pytest.approx(tis.arms[arm]["sd"])
        assert st[f"chg_pga_mean_{arm}"] == pytest.approx(res.get("chg_pga_w16").arms[arm]["mean"])
        assert st[f"chg_mmt8_sd_{arm}"] == pytest.approx(res.get("chg_mmt8_w16").arms[arm]["sd"])
        assert st[f"tt_minimal_median_{arm}"] == pytest.approx(
            res.get("tt_minimal").arms[arm]["median"], nan_ok=True
        )


def test_safety_tables_are_classified_by_the_engine():
    from myotrial.simulate import safety_tables, subject_ids

    sim = simulate_trials(SCEN, 1, seed=5)
    sa = simulate_safety(sim)
    inf, ae = safety_tables(sim, sa, subject_ids(sim))
    assert len(inf) and len(ae)
    assert (inf["rate_ml_per_kg_min"].between(0.01, 0.04)).all()
    assert set(inf["product"]) <= {"ivig", "placebo"}
    assert (inf["data_source"].str.startswith("SYNTHETIC")).all()
    flagged = derive_infusion_related(ae, inf)
    intended = ~ae["term"].isin(
        [
            *("Nasopharyngitis", "Arthralgia", "Urinary tract infection", "Back pain", "Rash"),
            *("Pneumonia", "Dermatomyositis flare", "Cellulitis"),
        ]
    )
    np.testing.assert_array_equal(
        flagged["infusion_related"].to_numpy(dtype=bool), intended.to_numpy()
    )
    # counts per patient agree with the arrays
    assert len(ae) == int(sa.counts.sum())
    # thromboembolic events only on IVIG at 2 g/kg
    te = sa.counts[:, :, 6] > 0
    assert (sa.product[te] == 2).all() and (sa.dose[te] == 2.0).all()
