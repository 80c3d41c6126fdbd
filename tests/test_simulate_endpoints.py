"""Vectorised per-replicate analysis of every SAP endpoint, subgroups and interactions, the
effect given as a risk difference, and resumption on a Dask LocalCluster (issues 15 and 16)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from myotrial.analysis import analyze
from myotrial.derive import derive_all
from myotrial.simulate import (
    PowerDesign,
    load_power_design,
    load_scenario,
    primary_responders,
    run_power,
    simulate_trials,
    to_tables,
)
from myotrial.simulate.effect import effect_scale_for, risk_difference_map
from myotrial.simulate.endpoints import (
    analyse_replicates,
    interaction_lrt,
    multiplicity_rejections,
)
from myotrial.simulate.power import subgroup_members
from myotrial.stats import subgroup_analysis
from myotrial.stats.multiplicity import adjust_pvalues

SCEN = load_scenario("proderm")


def _p(ep):  # the endpoint's p-value, from its test or its estimate
    return ep.test.p_value if ep.test is not None else ep.estimate.p_value


@pytest.mark.parametrize("seed", [77, 78])
def test_vectorised_sap_analysis_equals_analyze_endpoint_by_endpoint(seed):
    sim = simulate_trials(SCEN, 1, seed=seed)
    visits, subjects = to_tables(sim)
    res = analyze(derive_all(visits, subjects))
    cols = analyse_replicates(sim, sim.protocol, alpha=0.05)
    names = {k.split("__")[1] for k in cols if k.startswith("ep__")}
    assert names == {"tis20_w16", "tis40_w16", "tis60_w16", "tis_w16"} | {
        f"tis{t}_w40" for t in (20, 40, 60)
    } | {f"chg_{m}_w16" for m in ("pga", "ptga", "mmt8", "haq", "extramus", "cdasia")}
    for name in names:
        ep = res.get(name)
        est = float(cols[f"ep__{name}__estimate"][0])
        if ep.comparison == "randomised":
            assert est == pytest.approx(ep.estimate.estimate, rel=1e-9), name
            assert float(cols[f"ep__{name}__p_value"][0]) == pytest.approx(_p(ep), rel=1e-6), name
        else:  # descriptive: per-arm rates as analyze reports them
            a, b = ep.arms["ivig"], ep.arms["placebo"]
            assert est == pytest.approx(a["x"] / a["n"] - b["x"] / b["n"]), name
    # the SAP's fixed sequence over its hypotheses, as analyze applies it
    table = res.multiplicity.table.set_index("hypothesis")
    for h, row in table.iterrows():
        assert bool(cols[f"ep__{h}__reject_adjusted"][0]) == bool(row["rejected"]), h


def test_multiplicity_procedures_equal_the_stats_module():
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 0.08, size=(200, 4)) ** rng.uniform(0.5, 2, size=(200, 4))
    for method in ("fixed_sequence", "holm", "hochberg"):
        mine = multiplicity_rejections(p, method, 0.05)
        for i in range(0, 200, 7):
            ref = adjust_pvalues(list(p[i]), method=method, alpha=0.05).table["rejected"]
            np.testing.assert_array_equal(mine[i], ref.to_numpy(dtype=bool), err_msg=method)


def test_vectorised_interaction_lrt_equals_logistic_regression():
    sim = simulate_trials(SCEN, 3, seed=5)
    resp = primary_responders(sim, 20, 16, 16)
    member = np.isin(sim.msa, subgroup_members("dm_specific"))
    g = sim.trial - sim.first_trial
    y = np.zeros((3, 2, 2))
    n = np.zeros((3, 2, 2))
    for i, inside in enumerate((member, ~member)):
        for j, arm in enumerate((sim.treatment, ~sim.treatment)):
            sel = inside & arm
            y[:, i, j] = np.bincount(g[sel], weights=resp[sel], minlength=3)
            n[:, i, j] = np.bincount(g[sel], minlength=3)
    mine = interaction_lrt(y, n)
    for t in range(3):
        rows = g == t
        data = pd.DataFrame(
            {
                "arm": np.where(sim.treatment[rows], "ivig", "placebo"),
                "response": resp[rows].astype(int),
                "grp": np.where(member[rows], "in", "out"),
            }
        )
        ref = subgroup_analysis(
            data,
            arm="arm",
            response="response",
            subgroups="grp",
            treatment="ivig",
            control="placebo",
        ).interactions
        assert mine[t] == pytest.approx(float(ref["p_value"].iloc[0]), rel=1e-5, abs=1e-9)


def test_secondary_endpoint_power_and_multiplicity_in_a_run(tmp_path):
    design = PowerDesign(SCEN, n_per_arm=(30,), replicates=60, chunk_size=30, seed=2)
    run = run_power(design, tmp_path)
    ep = pd.read_csv(tmp_path / "endpoint_power.csv").set_index("endpoint")
    assert set(ep.index) >= {"tis20_w16", "tis40_w16", "tis60_w16", "tis_w16", "tis20_w40"}
    # the primary's power equals power.csv's (same test, same replicates)
    assert ep.loc["tis20_w16", "power"] == pytest.approx(float(run.summary["power"].iloc[0]))
    # a hierarchy never rejects more than the marginal test
    fam = ep.dropna(subset=["power_adjusted"])
    assert (fam["power_adjusted"] <= fam["power"] + 1e-12).all()
    assert ep.loc["tis20_w40", "test"] == "wald (if tested)"


def test_subgroup_effects_and_interaction_power(tmp_path):
    spec = tmp_path / "sub.toml"
    spec.write_text(
        "[effects.subgroup]\nanti_tif1_gamma = 0.0\n\n"
        "[baseline]\nmsa_anti_tif1_gamma = 0.4\nmsa_seronegative = 0.0244\n\n"
        "[power]\nn_per_arm = [60]\nreplicates = 60\nchunk_size = 60\nseed = 8\n"
        'subgroups = ["anti_tif1_gamma", "dm_specific"]\n',
        encoding="utf-8",
    )
    design = load_power_design(spec)
    run_power(design, tmp_path / "run")
    sub = pd.read_csv(tmp_path / "run" / "subgroup_power.csv").set_index("subgroup")
    tif = sub.loc["anti_tif1_gamma"]
    assert abs(tif["mean_estimate"]) < 0.08  # no IVIG effect in anti-TIF1-gamma patients
    assert tif["power_interaction"] > 0.3  # 40% of patients without effect: detectable
    assert sub.loc["dm_specific", "mean_patients"] > tif["mean_patients"]
    # tables keep the canonical vocabulary
    sim = simulate_trials(design.scenario, 1, seed=1)
    _, subjects = to_tables(sim)
    assert set(subjects["msa_group"]) <= {
        "dm_specific",
        "antisynthetase",
        "imnm",
        "maa_only",
        "negative",
    }
    assert (subjects["msa_group"] == "dm_specific").mean() > 0.3


def test_effect_scale_to_risk_difference_map_is_monotone_and_inverts():
    m = risk_difference_map(SCEN, scales=(0.0, 0.5, 1.0, 1.5), trials=200, seed=3)
    rd = m["risk_difference"].to_numpy()
    assert abs(rd[0]) < 3 * m["mc_se"].iloc[0] + 0.005  # null: no difference
    assert np.all(np.diff(rd) > 0)
    scale = effect_scale_for(float(rd[1] + rd[2]) / 2, m)
    assert 0.5 < scale < 1.0
    with pytest.raises(ValueError, match="above the largest"):
        effect_scale_for(0.95, m)


def test_design_file_accepts_the_effect_as_a_risk_difference(tmp_path):
    spec = tmp_path / "rd.toml"
    spec.write_text(
        "[power]\nn_per_arm = [40]\nreplicates = 200\nchunk_size = 200\nseed = 6\n"
        "risk_difference = [0.2]\neffect_map_trials = 200\n",
        encoding="utf-8",
    )
    design = load_power_design(spec)
    assert design.risk_differences == (0.2,)
    (scale,) = design.effect_scales
    assert 0.2 < scale < 1.0
    run = run_power(design, tmp_path / "run")
    got = float((run.replicates["estimate"]).mean())
    se = float(run.replicates["estimate"].std()) / np.sqrt(200)
    assert abs(got - 0.2) < 3 * se + 0.02, (got, se)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["risk_differences"] == [0.2] and len(info["effect_scale_map"]) > 5
    twice = tmp_path / "twice.toml"
    twice.write_text(spec.read_text() + "effect_scale = 1.0\n", encoding="utf-8")
    from myotrial.errors import RulesError

    with pytest.raises(RulesError, match="give it once"):
        load_power_design(twice)


def test_a_run_interrupted_on_a_local_cluster_resumes_on_another(tmp_path: Path):
    from distributed import Client, LocalCluster

    design = PowerDesign(SCEN, n_per_arm=(12,), replicates=40, chunk_size=8, seed=4)
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cl,
        Client(cl) as client,
    ):
        first = run_power(design, tmp_path, client=client, max_chunks=2)
    assert first.chunks_run == 2 and not (tmp_path / "replicates.parquet").exists()
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cl,
        Client(cl) as client,
    ):
        second = run_power(design, tmp_path, client=client)
    assert second.chunks_reused == 2 and second.chunks_run == 3
    pd.testing.assert_frame_equal(second.replicates, run_power(design).replicates)
