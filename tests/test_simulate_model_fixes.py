"""Model fixes of issue 15: crossover patients respond to IVIG and flares resolve, realistic
visit-to-visit variability, bounded tails, intermittent missing visits and measures. Each test
here fails on the model before these fixes (numbers in the docstrings: docs/simulation.md)."""

from __future__ import annotations

import numpy as np
import pytest

from myotrial.analysis import analyze
from myotrial.derive import derive_all
from myotrial.simulate import (
    load_scenario,
    primary_responders,
    simulate_trials,
    to_tables,
    trial_statistics,
)

SCEN = load_scenario("proderm")


@pytest.fixture(scope="module")
def many():
    return simulate_trials(SCEN, 300, seed=2024)


def test_switchers_respond_to_ivig_and_rarely_deteriorate_again(many):
    """Before: 37% of switchers reached TIS >= 20 at week 40 and 64% deteriorated again (the
    flare never resolved). ASSUMED target: the placebo-first week-40 rate (69.6%)."""
    sim = many
    switch = ~np.isnan(sim.cross_week)
    assert switch.sum() > 300  # about 4-5 per trial
    cd2 = (~np.isnan(sim.cd2_week[switch])).mean()
    assert cd2 < 0.30, cd2
    resp40 = primary_responders(sim, 20.0, 40, None)[switch].mean()
    assert resp40 > 0.45, resp40
    # a switcher's TIS recovers after the switch: mean TIS at week 40 well above the switch
    # visit's (the flare resolves on IVIG)
    j40 = sim.visit_index(40)
    rows = np.flatnonzero(switch & sim.present[:, j40])
    at_switch = np.array(
        [sim.scores["tis"][r, sim.visit_index(int(sim.cross_week[r]))] for r in rows]
    )
    assert np.nanmean(sim.scores["tis"][rows, j40]) > np.nanmean(at_switch) + 15


def test_visit_to_visit_variability_is_not_negligible(many):
    """Before: week-12 and week-16 changes from baseline correlated 0.972 (PGA), 0.988 (MMT-8),
    0.970 (HAQ) (noise SD 0.03 of the abnormality, fitted with the flare that never resolved).
    Refitted with the resolving flare, the noise SD is three times larger: 0.92-0.96."""
    sim = many
    j12, j16 = sim.visit_index(12), sim.visit_index(16)
    ok = sim.present[:, j12] & sim.present[:, j16] & np.isnan(sim.cross_week)
    assert SCEN.p("response.noise_sd") > 2.5 * 0.03059
    for m, most in (("pga", 0.95), ("mmt8", 0.975), ("haq", 0.95)):
        a = sim.values[m][:, j12] - sim.values[m][:, 0]
        b = sim.values[m][:, j16] - sim.values[m][:, 0]
        keep = ok & ~np.isnan(a) & ~np.isnan(b)
        r = np.corrcoef(a[keep], b[keep])[0, 1]
        assert 0.5 < r < most, (m, r)


def test_tails_are_bounded(many):
    """Before: MMT-8 reached 0/150 and CK 850,000 U/L. Now the MMT-8 deficit saturates below
    the cap (MMT-8 >= 40) and enzymes stay <= 100 x ULN (documented bounds)."""
    sim = many
    mmt = sim.values["mmt8"]
    assert np.nanmin(mmt) >= 150 - SCEN.p("response.mmt8_deficit_cap")
    assert np.nanmean(mmt < 60) < 0.005
    ratio = sim.values["ck"] / sim.baseline["ck_uln"][:, None]
    assert np.nanmax(ratio) <= SCEN.p("response.enzyme_ratio_cap") + 0.01
    assert np.nanmax(sim.values["ck"]) < 40_000
    # baseline: truncated latent normals
    assert (sim.baseline["ck"] / sim.baseline["ck_uln"]).max() < 50
    assert sim.baseline["mmt8"].min() > 40


def test_intermittent_missing_visits_and_measures_at_the_scenario_rates(many):
    sim = many
    rate_v, rate_m = SCEN.p("missing.visit"), SCEN.p("missing.measure")
    assert rate_v > 0 and rate_m > 0
    # before leaving: a missed visit is a gap, later visits are present
    j16 = sim.visit_index(16)
    stays = sim.leave_week > 40
    missed = ~sim.present[stays][:, 1:][:, sim.weeks[1:] != 16]
    assert abs(missed.mean() - rate_v) < 4 * np.sqrt(rate_v / missed.size) + 0.003
    j12 = sim.visit_index(12)
    gap = ~sim.present[:, j12] & sim.completed_primary
    assert gap.any() and sim.present[gap, j16].all()  # back at the next visit
    # the end-of-randomised-period visit is always attended (open-label start, PROJECT RULE)
    assert sim.present[sim.completed_primary, j16].all()
    attended = sim.present.copy()
    attended[:, 0] = False
    nan_pga = np.isnan(sim.values["pga"])[attended].mean()
    assert abs(nan_pga - rate_m) < 0.004
    assert not np.isnan(sim.values["pga"][:, 0]).any()  # complete baseline


def test_missing_data_rules_of_engine_derive_and_sap_are_exercised():
    """High missingness: derive_all still reproduces the simulator's state (the engine's
    "consecutive recorded visits", unknown worsening, no TIS -> non-responder), and the SAP's
    bounded-TIS and multiple-imputation sensitivity analyses have missing outcomes to handle."""
    scen = SCEN.with_params({"missing.visit": 0.15, "missing.measure": 0.04})
    sim = simulate_trials(scen, 2, seed=31)
    visits, subjects = to_tables(sim)
    assert visits["pga"].isna().any()
    derived = derive_all(visits, subjects)
    adsl = derived.adsl.set_index("USUBJID").loc[subjects["subject_id"]]
    np.testing.assert_array_equal(adsl["CDWK"].to_numpy(dtype=float), sim.cd_week)
    np.testing.assert_array_equal(adsl["CROSSWK"].to_numpy(dtype=float), sim.cross_week)
    np.testing.assert_array_equal(adsl["CD2WK"].to_numpy(dtype=float), sim.cd2_week)
    np.testing.assert_array_equal(adsl["COMP16FL"].eq("Y").to_numpy(), sim.completed_primary)
    adrs = derived.adrs.set_index(["PARAMCD", "USUBJID"])
    ids = subjects["subject_id"].to_numpy()
    j16 = sim.visit_index(16)
    no_tis = sim.completed_primary & np.isnan(sim.scores["tis"][:, j16].astype(float))
    assert no_tis.any()  # completers without a week-16 TIS: non-responders
    mine = primary_responders(sim, 20.0, 16, 16)
    np.testing.assert_array_equal(adrs.loc["tis20_w16"].loc[ids, "AVAL"].to_numpy(), mine)
    assert not mine[no_tis].any()
    one = simulate_trials(scen, 1, seed=32)
    v1, s1 = to_tables(one)
    res = analyze(derive_all(v1, s1))
    sens = {s.name: s for s in res.sensitivity}
    # bounded TIS: some non-responders of the primary analysis become responders; MI imputes
    # patients; the tipping-point analysis has missing outcomes in both arms
    assert sum(int(a["gained"]) for a in sens["bounded_tis"].arms.values()) > 0
    assert sum(int(a["imputed_patients"]) for a in sens["multiple_imputation"].arms.values()) > 0
    assert all(int(a["missing"]) > 0 for a in sens["tipping_point"].arms.values())


def test_calibration_statistics_ignore_measures_not_recorded(many):
    st = trial_statistics(many, time_to_event=False)
    assert st.drop(columns=["resp20_w40_switchers", "cd2_switchers"]).notna().all().all()
