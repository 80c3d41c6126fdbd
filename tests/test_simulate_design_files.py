"""Scenario and power design files: strict reading, the effect applied once, provenance, and a
juvenile design (issues 10 and 15). Each test here fails on the simulator before those issues."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from myotrial.cli import app
from myotrial.derive import derive_all
from myotrial.errors import RulesError
from myotrial.protocol import load_protocol
from myotrial.simulate import (
    load_power_design,
    load_scenario,
    primary_responders,
    run_power,
    simulate_trials,
    to_tables,
)

POWER = "[power]\nn_per_arm = [12]\nreplicates = 16\nchunk_size = 16\nseed = 3\n"


def _design(tmp_path: Path, text: str, name: str = "design.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["simulate", *args, "--json"])
    return res.exit_code, res.output


@pytest.mark.parametrize(
    ("text", "where", "hint"),
    [
        (POWER + "effect_scales = [0.0]\n", "[power]", "did you mean 'effect_scale'?"),
        (
            "[effects.subgroup]\nanti_tif1_gama = 0\n\n" + POWER,
            "[effects.subgroup]",
            "did you mean 'anti_tif1_gamma'?",
        ),
        (
            "[effects.subgroup]\ndm_specific = 0\n\n" + POWER,
            "[effects.subgroup]",
            "unknown key 'dm_specific'",
        ),
        ("[effects]\ndrug_effect_scal = 0.5\n\n" + POWER, "[effects]", "'drug_effect_scale'"),
        ("[dropout]\nrandomized = 0.1\n\n" + POWER, "[dropout]", "did you mean 'randomised'?"),
        ("[powr]\nn_per_arm = [12]\n\n" + POWER, "(top level)", "did you mean 'power'?"),
    ],
)
def test_a_misspelt_key_exits_2_naming_file_key_and_suggestion(tmp_path, text, where, hint):
    path = _design(tmp_path, text)
    code, out = _cli(str(path), "--out", str(tmp_path / "run"))
    assert code == 2, out
    message = json.loads(out)["error"]
    assert message.startswith(str(path)), message
    assert where in message and hint in message, message
    assert "Traceback" not in out
    assert not (tmp_path / "run" / "chunks").exists() or not any(
        (tmp_path / "run" / "chunks").iterdir()
    )


def test_a_misspelt_parameter_in_a_scenario_file_is_located(tmp_path):
    path = _design(tmp_path, '[scenario]\nbase = "proderm"\n\n[response]\npga_drugg = 0.3\n')
    with pytest.raises(RulesError, match=r"\[response\]: unknown key 'pga_drugg'; did you mean"):
        load_scenario(path)
    bad_value = _design(tmp_path, '[scenario]\nbase = "proderm"\n[flare]\nsize = "big"\n', "b.toml")
    with pytest.raises(RulesError, match=r"b\.toml: \[flare\] size: must be a number"):
        load_scenario(bad_value)


def test_drug_effect_scale_in_effects_equals_effect_scale_in_power(tmp_path):
    """``[effects] drug_effect_scale = 0.5`` simulates half the effect (applied once), exactly
    as ``[power] effect_scale = 0.5``."""
    a = load_power_design(_design(tmp_path, "[effects]\ndrug_effect_scale = 0.5\n\n" + POWER))
    b = load_power_design(_design(tmp_path, POWER + "effect_scale = 0.5\n", "b.toml"))
    assert a.points == b.points == [(12, 12, 0.5)]
    ra, rb = run_power(a).replicates, run_power(b).replicates
    pd.testing.assert_frame_equal(ra, rb)
    # and it is not the full effect nor a quarter of it
    full = load_power_design(_design(tmp_path, POWER + "effect_scale = [0.25, 1.0]\n", "c.toml"))
    other = run_power(full).replicates
    for scale in (0.25, 1.0):
        assert not np.array_equal(
            other.loc[other["effect_scale"] == scale, "x_treatment"].to_numpy(),
            ra["x_treatment"].to_numpy(),
        )


def test_the_effect_given_twice_is_refused(tmp_path):
    path = _design(
        tmp_path, "[effects]\ndrug_effect_scale = 0.5\n\n" + POWER + "effect_scale = 1\n"
    )
    code, out = _cli(str(path), "--out", str(tmp_path / "run"))
    assert code == 2 and "give it once" in json.loads(out)["error"]


def test_run_json_records_the_resolved_scenario_with_every_override(tmp_path):
    path = _design(
        tmp_path,
        '[scenario]\nbase = "proderm"\n\n[dropout]\nrandomised = 0.1\n\n'
        "[baseline]\nmsa_anti_tif1_gamma = 0.3\nmsa_seronegative = 0.1244\n\n"
        "[effects.subgroup]\nantisynthetase = 0.5\n\n" + POWER,
    )
    out = tmp_path / "run"
    code, text = _cli(str(path), "--out", str(out), "--replicates", "4")
    assert code == 0, text
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    resolved = run["resolved_scenario"]
    assert resolved["params"]["dropout.randomised"] == 0.1
    assert resolved["params"]["baseline.msa_anti_tif1_gamma"] == 0.3
    assert resolved["subgroup_effect"] == {"antisynthetase": 0.5}
    assert resolved["params"]["response.pga_drug"] == load_scenario().p("response.pga_drug")
    notes = "\n".join(run["overrides"])
    for key in (
        "[dropout] randomised = 0.1",
        "[baseline] msa_anti_tif1_gamma = 0.3",
        "[baseline] msa_seronegative = 0.1244",
        "[effects.subgroup] antisynthetase = 0.5",
    ):
        assert f"{path}: {key}" in notes, notes
    assert run["tis_thresholds"] == {"minimal": 20.0, "moderate": 40.0, "major": 60.0}


def test_a_juvenile_design_scores_chaq_with_juvenile_thresholds_and_has_power(tmp_path):
    path = _design(
        tmp_path,
        '[scenario]\nbase = "jdm"\n\n[power]\nn_per_arm = [30]\nreplicates = 40\n'
        'chunk_size = 40\nseed = 5\ntest = "score"\n',
    )
    design = load_power_design(path)
    out = tmp_path / "run"
    run = run_power(design, out)
    power = float(run.summary["power"].iloc[0])
    assert power > 0.5, run.summary.to_string()
    info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert info["population"] == "juvenile"
    assert info["tis_thresholds"] == {"minimal": 30.0, "moderate": 45.0, "major": 70.0}
    # the tables: CHAQ (no HAQ), juvenile ages, and derive_all agrees with the simulator
    scen = design.scenario
    sim = simulate_trials(scen, 1, seed=11)
    visits, subjects = to_tables(sim)
    assert "chaq" in visits and "haq" not in visits
    assert visits["chaq"].notna().mean() > 0.98  # blank only where not recorded
    assert subjects["age"].between(2, 17).all()
    proto = load_protocol(scen.protocol)
    derived = derive_all(visits, subjects, proto)
    assert derived.scored["tis"].notna().sum() > 0
    adrs = derived.adrs.set_index(["PARAMCD", "USUBJID"])
    ids = subjects["subject_id"].to_numpy()
    for ep in proto.policy.binary_endpoints():
        assert ep.threshold in (30.0, 45.0, 70.0)
        mine = primary_responders(sim, ep.threshold, ep.week, ep.no_deterioration_through_week)
        keep = sim.entered_extension if ep.population == "entered_extension" else slice(None)
        theirs = adrs.loc[ep.name].loc[ids[keep], "AVAL"].to_numpy()
        np.testing.assert_array_equal(mine[keep].astype(int), theirs, err_msg=ep.name)


def test_the_amyopathic_scenario_is_skin_dominant_and_marked_assumed(tmp_path):
    scen = load_scenario("amyopathic")
    src = scen.source
    assert src is not None and "ASSUMED" in src.read_text(encoding="utf-8")
    assert "HYPOTHETICAL" in scen.description and "amyopathic" in scen.data_source
    sim = simulate_trials(scen, 20, seed=3)
    b = sim.baseline
    assert np.median(b["mmt8"]) >= 145  # near-normal strength: no MMT-8 criterion
    assert (b["mmt8"] >= 142).mean() > 0.5  # ProDERM would have excluded them
    assert np.median(b["ck"] / b["ck_uln"]) < 1.0
    assert (b["cdasi_activity"] >= 14).mean() > 0.9
    # power run: the skin endpoint (CDASI activity change) is analysed per replicate
    path = _design(
        tmp_path,
        '[scenario]\nbase = "amyopathic"\n\n[power]\nn_per_arm = [30]\nreplicates = 40\n'
        "chunk_size = 40\nseed = 2\n",
    )
    run_power(load_power_design(path), tmp_path / "run")
    ep = pd.read_csv(tmp_path / "run" / "endpoint_power.csv").set_index("endpoint")
    assert ep.loc["chg_cdasia_w16", "power"] > 0.5
    assert ep.loc["chg_mmt8_w16", "mean_estimate"] < 3  # little room to improve strength
