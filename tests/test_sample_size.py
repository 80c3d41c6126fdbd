"""Sample size by simulation against the exact answer (oracle: exact binomial enumeration of
Fisher's test power, itself checked against scipy.stats.fisher_exact and a brute-force sum)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from myotrial.cli import app
from myotrial.simulate import PowerDesign, load_scenario
from myotrial.simulate.sample_size import (
    exact_sample_size,
    fisher_exact_power,
    solve_sample_size,
)

SCEN = load_scenario("proderm")
P_IVIG, P_PLACEBO = 0.79, 0.44  # ProDERM's primary response rates, rounded


def test_exact_fisher_power_is_the_brute_force_sum_over_tables():
    n1, n2, p1, p2 = 9, 11, 0.7, 0.3
    brute = 0.0
    for x1 in range(n1 + 1):
        for x2 in range(n2 + 1):
            p = stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue
            if p < 0.05:
                brute += stats.binom.pmf(x1, n1, p1) * stats.binom.pmf(x2, n2, p2)
    assert fisher_exact_power(n1, n2, p1, p2) == pytest.approx(brute, rel=1e-12)
    assert fisher_exact_power(20, 20, 0.5, 0.5) < 0.05  # conservative under the null


def _probit_n(ns: np.ndarray, power: np.ndarray, target: float) -> float:
    """n where the probit-in-sqrt(n) least-squares line through exact powers meets target."""
    b, a = np.polyfit(np.sqrt(ns), stats.norm.ppf(power), 1)
    return float(((stats.norm.ppf(target) - a) / b) ** 2)


@pytest.mark.parametrize(("target", "exact_n"), [(0.8, 34), (0.9, 43)])
def test_solved_n_is_within_monte_carlo_error_of_the_exact_answer(target, exact_n):
    """79% vs 44%, Fisher exact, two-sided alpha 0.05. The exact first n reaching the target
    (34 for 80%, 43 for 90%) is computed here by enumeration, not typed in: the parameters
    only say which one the test is about."""
    assert exact_sample_size(P_IVIG, P_PLACEBO, target) == exact_n
    design = PowerDesign(
        SCEN,
        kind="binary",
        p_treatment=P_IVIG,
        p_control=P_PLACEBO,
        test="fisher",
        replicates=2000,
        chunk_size=2000,
        seed=20240 + int(100 * target),
    )
    res = solve_sample_size(design, target)
    se = (res.n_upper - res.n_lower) / (2 * 1.96)
    # like for like: the same smooth curve fitted to the EXACT powers at the evaluated n
    ns = res.evaluations["n_treatment"].to_numpy(dtype=float)
    exact = np.array([fisher_exact_power(int(n), int(n), P_IVIG, P_PLACEBO) for n in ns])
    assert abs(res.n_star - _probit_n(ns, exact, target)) <= 3 * se + 0.5, (res.n_star, se)
    # the integer answer: within the Monte-Carlo interval, plus one patient for the saw-tooth
    # of Fisher's power curve (discreteness) and the rounding up
    assert abs(res.n_per_arm - exact_n) <= math.ceil(1.96 * se) + 1, res.as_dict()
    # the power simulated again at the answer agrees with its exact power
    true_power = fisher_exact_power(res.n_per_arm, res.n_per_arm, P_IVIG, P_PLACEBO)
    assert abs(res.power_at_n - true_power) <= 3 * res.power_mc_se
    assert res.n_lower < res.n_star < res.n_upper and se < 1.5


def test_cli_solve_n(tmp_path):
    spec = tmp_path / "design.toml"
    spec.write_text(
        '[power]\nkind = "binary"\np_treatment = 0.79\np_control = 0.44\n'
        'test = "fisher"\nreplicates = 400\nchunk_size = 400\nseed = 2\n',
        encoding="utf-8",
    )
    out = tmp_path / "ss"
    args = ["simulate", str(spec), "--out", str(out), "--solve", "n", "--json"]
    res = CliRunner().invoke(app, [*args, "--target-power", "0.8,0.9"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    first, second = data["sample_size"]
    assert 25 <= first["n_per_arm"] < second["n_per_arm"] <= 60
    assert (out / "sample_size.json").exists() and (out / "sample_size_80.csv").exists()
    assert (out / "sample_size_90.svg").read_text(encoding="utf-8").startswith("<svg")
    for bad, message in (
        (["--target-power", "1.2"], "must lie in (0, 1)"),
        (["--target-power", "x"], "not a number"),
        ([], "needs --target-power"),
    ):
        r = CliRunner().invoke(app, [*args, *bad])
        assert r.exit_code == 2 and message in json.loads(r.output)["error"], r.output
    r = CliRunner().invoke(app, ["simulate", str(spec), "--solve", "alpha", "--json"])
    assert r.exit_code == 2 and "valid: n" in r.output
    r = CliRunner().invoke(
        app,
        ["simulate", str(spec), "--solve", "n", "--target-power", "0.8", "--n-max", "5", "--json"],
    )
    assert r.exit_code == 2 and "raise n_max" in json.loads(r.output)["error"]
