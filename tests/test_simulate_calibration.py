"""Calibration: the shipped scenario against the published ProDERM aggregates, fitted and
held-out targets separately.

The documented table (docs/simulation.md) uses 2,000 trials (scripts/calibrate.py). Here 300
trials on another seed: a target passes when |expected - published| <= its tolerance (1.0
between-trial SD; 1.5 for week-40 and time-to-event targets) + 3 Monte-Carlo SE (the allowance
for using 300 trials instead of 2,000). Two fitted targets sit just outside their tolerance in
the documented table (docs/simulation.md: resp40_w16_ivig at -1.02 SD, chg_mmt8_w40_placebo at
+1.54 SD): they pass only through that allowance, which this test states explicitly.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from myotrial.simulate import (
    TARGETS,
    Target,
    calibration_table,
    load_scenario,
    simulate_statistics,
)
from myotrial.simulate.calibration import ASSUMED_TARGETS, HELD_OUT
from myotrial.simulate.scenario import write_scenario_params

N_TRIALS = 300


@pytest.fixture(scope="module")
def table():
    stats = simulate_statistics(load_scenario("proderm"), N_TRIALS, seed=777)
    return calibration_table(stats, TARGETS + ASSUMED_TARGETS)


def _misses(t):
    allowance = t["tolerance_sd"] + 3 / math.sqrt(N_TRIALS)
    miss = np.abs(t["expected"] - t["published"]) > allowance * t["sd_trial"] + 1e-9
    return t[miss][["key", "published", "expected", "sd_trial", "z"]]


def test_every_fitted_target_is_within_tolerance(table):
    fitted = table[~table["held_out"] & (table["source"] == "published")]
    assert len(fitted) == 52
    bad = _misses(fitted)
    assert bad.empty, bad.to_string()


def test_every_held_out_target_is_within_tolerance(table):
    """The out-of-sample check: targets the fit never saw (docs: the held-out table)."""
    held = table[table["held_out"]]
    assert set(held["key"]) == HELD_OUT and len(held) == 10
    bad = _misses(held)
    assert bad.empty, bad.to_string()


def test_the_fit_never_uses_a_held_out_target():
    path = Path(__file__).resolve().parents[1] / "scripts" / "calibrate.py"
    spec = importlib.util.spec_from_file_location("calibrate_script", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    stage1, stage2 = mod.fit_targets()
    used = {t.key for t in stage1 + stage2}
    assert not used & HELD_OUT
    assert all(isinstance(t, Target) and t.source == "published" for t in stage1 + stage2)
    assert "flare.resolve_weeks" not in mod.OUTCOME_PARAMS  # ASSUMED, not fitted


def test_table_covers_every_target_and_has_no_hard_coded_outcome(table):
    assert list(table["key"]) == [t.key for t in TARGETS + ASSUMED_TARGETS]
    tte = table["group"] == "time to event"  # trials whose median is reached
    sw = table["group"] == "assumption"  # trials with at least one switcher
    assert (table.loc[~tte & ~sw, "n_trials"] == N_TRIALS).all()
    assert (table.loc[tte | sw, "n_trials"] > 0.5 * N_TRIALS).all()
    # outcomes vary between trials: they are simulated, not set
    assert (table.loc[table["key"] != "te_patients_rand_placebo", "sd_trial"] > 0).all()


def test_a_different_model_misses_the_targets():
    """The calibration table is sensitive: halving the IVIG effect breaks the response targets."""
    scen = load_scenario("proderm").with_params(drug_effect_scale=0.5)
    t = calibration_table(simulate_statistics(scen, 100, seed=5, safety=False, time_to_event=False))
    row = t.set_index("key").loc["resp20_w16_ivig"]
    assert not row["within"]


def test_fitted_parameters_are_written_back_with_their_comments(tmp_path):
    src = load_scenario("proderm").source
    assert src is not None
    copy = tmp_path / "s.toml"
    copy.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    write_scenario_params(copy, {"response.pga_drug": 0.123456, "flare.size": 0.9})
    text = copy.read_text(encoding="utf-8")
    assert "pga_drug = 0.1235" in text and "size = 0.9" in text
    assert text.count("#") == src.read_text(encoding="utf-8").count("#")
    s = load_scenario(copy)
    assert s.p("response.pga_drug") == pytest.approx(0.1235)
