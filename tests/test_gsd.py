"""Group-sequential designs: boundaries and crossing probabilities against rpact; operating
characteristics by simulation.

Oracle: rpact 3.3.4 (R 4.2, Debian r-cran-rpact), ``scripts/r/gsd_fixtures.R`` ->
``tests/fixtures/gsd_rpact.csv``: getDesignGroupSequential(kMax, alpha, sided = 1,
informationRates, typeOfDesign = "asOF" / "asP", futilityBounds, bindingFutility = FALSE)
and getDesignCharacteristics() (drift for 80% power, stage-wise rejection / futility
probabilities). Tolerance 1e-6 (rpact solves its boundaries to about 1e-8).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from myotrial.simulate import PowerDesign, load_scenario
from myotrial.simulate.gsd import (
    crossing_probabilities,
    drift_for_power,
    group_sequential_design,
    simulate_group_sequential,
    spent_alpha,
)

FIXTURE = Path(__file__).parent / "fixtures" / "gsd_rpact.csv"
RPACT = pd.read_csv(FIXTURE)
SPENDING = {"asOF": "obrien_fleming", "asP": "pocock"}


def _design(rows: pd.DataFrame):
    fut = rows["futility_bound"].to_numpy()[:-1]
    return group_sequential_design(
        rows["information_rate"].tolist(),
        alpha=float(rows["alpha"].iloc[0]),
        spending=SPENDING[rows["spending"].iloc[0]],
        futility_bounds=None if np.isnan(fut).all() else fut.tolist(),
    )


@pytest.mark.parametrize("name", RPACT["design"].unique().tolist())
def test_boundaries_and_probabilities_equal_rpact(name):
    rows = RPACT[RPACT["design"] == name].sort_values("stage")
    d = _design(rows)
    np.testing.assert_allclose(d.critical_values, rows["critical_value"], rtol=0, atol=1e-6)
    # rpact reports alpha spent to its own search tolerance (0.02499999 at the end)
    np.testing.assert_allclose(d.alpha_spent, rows["alpha_spent"], rtol=0, atol=2e-8)
    drift = drift_for_power(d, 0.8)
    assert drift**2 == pytest.approx(rows["shift"].iloc[0], abs=1e-6)
    probs = crossing_probabilities(d, math.sqrt(rows["shift"].iloc[0]))
    np.testing.assert_allclose(probs["efficacy"], rows["rejection_probability"], atol=1e-6)
    np.testing.assert_allclose(
        probs["futility"].to_numpy()[:-1], rows["futility_probability"].to_numpy()[:-1], atol=1e-6
    )


def test_one_analysis_is_the_fixed_design_and_bad_input_is_refused():
    d = group_sequential_design([1.0], alpha=0.025)
    assert d.critical_values[0] == pytest.approx(1.959963984540054, abs=1e-9)
    assert spent_alpha("pocock", 0.025, [1.0])[0] == pytest.approx(0.025)
    with pytest.raises(ValueError, match="increase strictly"):
        group_sequential_design([0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match="valid: obrien_fleming, pocock"):
        group_sequential_design([0.5, 1.0], spending="haybittle")
    with pytest.raises(ValueError, match="one futility bound per interim"):
        group_sequential_design([0.5, 1.0], futility_bounds=[0.0, 0.0])


def _exact_two_stage(gsd, n: int, p1: float, p2: float) -> tuple[float, float, float]:
    """Oracle: P(efficacy at 1), P(futility at 1), P(efficacy at 2) of a two-stage design with
    n per arm (n/2 at the interim) by enumerating every pair of 2x2 tables (binomial law,
    the same signed pooled z as the simulator)."""
    from scipy import stats

    h = n // 2
    a = np.arange(h + 1)
    f1, f2 = stats.binom.pmf(a, h, p1), stats.binom.pmf(a, h, p2)

    def z(x1, x2, m):
        pool = (x1 + x2) / (2 * m)
        se = np.sqrt(pool * (1 - pool) * 2 / m)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(se > 0, (x1 - x2) / m / se, 0.0)

    x1, x2 = np.meshgrid(a, a, indexing="ij")
    w1 = np.outer(f1, f2)
    z1 = z(x1, x2, h)
    eff1 = z1 >= gsd.critical_values[0]
    fut1 = (z1 < gsd.futility_bounds[0]) & ~eff1
    go = ~eff1 & ~fut1
    # stage 2: add the second half's counts
    y1, y2 = np.meshgrid(a, a, indexing="ij")
    w2 = np.outer(f1, f2)
    reject2 = 0.0
    for i, j in zip(*np.nonzero(go), strict=True):
        z2 = z(i + y1, j + y2, n)
        reject2 += w1[i, j] * w2[z2 >= gsd.critical_values[1]].sum()
    return float(w1[eff1].sum()), float(w1[fut1].sum()), float(reject2)


@pytest.mark.parametrize("p_treatment", [0.44, 0.79])
def test_simulated_operating_characteristics_equal_exact_enumeration(p_treatment):
    """Plain binary endpoint, 40 per arm, interim at half, O'Brien-Fleming, futility z < 0
    (obeyed): the simulated stopping probabilities equal the exact ones (enumeration of
    every pair of 2x2 tables) within 3 Monte-Carlo SE."""
    gsd = group_sequential_design([0.5, 1.0], 0.025, "obrien_fleming", futility_bounds=[0.0])
    n, reps = 40, 4000
    design = PowerDesign(
        load_scenario(),
        n_per_arm=(n,),
        kind="binary",
        p_treatment=p_treatment,
        p_control=0.44,
        replicates=reps,
        chunk_size=reps,
        seed=31,
    )
    summary, per = simulate_group_sequential(design, gsd)
    exact = _exact_two_stage(gsd, n, p_treatment, 0.44)
    sim = (
        per["stop_efficacy"].iloc[0],
        per["stop_futility"].iloc[0],
        per["stop_efficacy"].iloc[1],
    )
    for s_, e_ in zip(sim, exact, strict=True):
        assert abs(s_ - e_) <= 3 * math.sqrt(max(e_ * (1 - e_), 1e-4) / reps), (sim, exact)
    row = summary.iloc[0]
    assert row["power"] == pytest.approx(sim[0] + sim[2])
    expected = n + (1 - sim[0] - sim[1]) * n  # both arms: half at the interim, all at the end
    assert row["expected_patients"] == pytest.approx(expected)
    assert row["futility_obeyed"]


def test_operating_characteristics_of_the_trial_model_under_the_null():
    """The full generative model, no IVIG effect, 2 analyses: one-sided type I error at most
    alpha (+ 3 MC SE); and the early efficacy stop with the calibrated effect is frequent."""
    gsd = group_sequential_design([0.5, 1.0], 0.025, "obrien_fleming")
    design = PowerDesign(
        load_scenario(),
        n_per_arm=(48,),
        effect_scales=(0.0, 1.0),
        replicates=600,
        seed=12,
        chunk_size=600,
    )
    summary, per = simulate_group_sequential(design, gsd)
    null, alt = summary.iloc[0], summary.iloc[1]
    assert null["power"] <= 0.025 + 3 * math.sqrt(0.025 * 0.975 / 600)
    assert alt["power"] > 0.8
    early = per[(per["point"] == 1) & (per["analysis"] == 1)]["stop_efficacy"].iloc[0]
    assert 0.2 < early < alt["power"]
    assert alt["expected_patients"] < alt["max_patients"]


def test_design_file_with_interim_analyses_through_the_cli(tmp_path):
    import json

    from typer.testing import CliRunner

    from myotrial.cli import app

    spec = tmp_path / "gsd.toml"
    body = (
        '[power]\nkind = "binary"\np_treatment = 0.79\np_control = 0.44\nn_per_arm = [40]\n'
        'replicates = 200\nchunk_size = 200\nseed = 1\ntest = "score"\n\n'
        "[power.group_sequential]\ninformation_rates = [0.5, 1.0]\n"
    )
    spec.write_text(body + 'spending = "pocock"\nfutility_z = [0.0]\n', encoding="utf-8")
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["simulate", str(spec), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["group_sequential"]
    assert rows and 0.5 < rows[0]["power"] <= 1 and rows[0]["expected_patients"] < 80
    bounds = pd.read_csv(out / "gsd_boundaries.csv")
    ref = group_sequential_design([0.5, 1.0], 0.025, "pocock")  # alpha 0.05 two-sided
    np.testing.assert_allclose(bounds["efficacy_z"], ref.critical_values)
    assert (out / "gsd_stages.csv").exists()
    for extra, message in (
        ('spending = "haybittle"\n', "valid: obrien_fleming, pocock"),
        ("futility_z = [0.0, 1.0]\n", "one futility bound per interim"),
        ("spendng = 'pocock'\n", "did you mean 'spending'?"),
    ):
        spec.write_text(body + extra, encoding="utf-8")
        bad = CliRunner().invoke(app, ["simulate", str(spec), "--out", str(out), "--json"])
        assert bad.exit_code == 2, bad.output
        error = json.loads(bad.output)["error"]
        assert "[power.group_sequential]" in error and message in error, error
