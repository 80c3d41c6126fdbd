"""Power by simulation: vectorised tests, type I error, analytic power, Dask, resume, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact
from statsmodels.stats.proportion import power_proportions_2indep
from typer.testing import CliRunner

from myotrial.cli import app
from myotrial.simulate import (
    PowerDesign,
    fisher_two_sided,
    load_scenario,
    run_chunk,
    run_power,
    two_proportion_test,
)
from myotrial.stats import risk_difference

SCEN = load_scenario("proderm")


def test_vectorised_fisher_equals_scipy_on_every_table():
    """Oracle: scipy.stats.fisher_exact (two-sided) for all 2x2 tables with 7 and 9 patients."""
    x1, x2 = np.meshgrid(np.arange(8), np.arange(10), indexing="ij")
    mine = fisher_two_sided(x1.ravel(), 7, x2.ravel(), 9)
    ref = [
        fisher_exact([[a, 7 - a], [b, 9 - b]]).pvalue
        for a, b in zip(x1.ravel(), x2.ravel(), strict=True)
    ]
    np.testing.assert_allclose(mine, ref, rtol=1e-10, atol=1e-14)
    # ProDERM size, published primary counts: p = 0.00069 (proderm.md)
    assert fisher_two_sided(np.array([37]), 47, np.array([21]), 48)[0] == pytest.approx(
        fisher_exact([[37, 10], [21, 27]]).pvalue, rel=1e-10
    )


def test_wald_interval_equals_the_analysis_method():
    x1, x2 = np.array([37, 32, 15, 0, 47]), np.array([21, 11, 4, 0, 48])
    res = two_proportion_test(x1, 47, x2, 48, test="wald")
    for i in range(x1.size):
        ref = risk_difference(x1=int(x1[i]), n1=47, x2=int(x2[i]), n2=48, method="wald")
        assert res["estimate"][i] == pytest.approx(ref.estimate)
        assert res["lower"][i] == pytest.approx(ref.lower)
        assert res["upper"][i] == pytest.approx(ref.upper)
    # published primary: 34.97 (16.70, 53.24)
    assert 100 * res["lower"][0] == pytest.approx(16.70, abs=0.01)
    # the Wald test rejects exactly when the Wald interval excludes 0
    rej = res["p_value"] < 0.05
    np.testing.assert_array_equal(rej, (res["lower"] > 0) | (res["upper"] < 0))


def test_plain_binary_power_matches_statsmodels_analytic_power():
    """Score (pooled z) test; oracle statsmodels power_proportions_2indep (normal approx.)."""
    design = PowerDesign(
        SCEN,
        n_per_arm=(48,),
        replicates=4000,
        test="score",
        seed=11,
        kind="binary",
        p_treatment=0.70,
        p_control=0.44,
        chunk_size=4000,
    )
    run = run_power(design)
    sim = float(run.summary["power"].iloc[0])
    analytic = float(power_proportions_2indep(0.26, 0.44, 48, return_results=False))
    se = math.sqrt(analytic * (1 - analytic) / 4000)
    assert abs(sim - analytic) <= 3 * se, (sim, analytic, se)


def test_type_one_error_of_the_full_model_under_the_null():
    """IVIG effect scale 0: rejection rate = nominal 5% within 3 Monte-Carlo SE (score test)."""
    design = PowerDesign(
        SCEN,
        n_per_arm=(48,),
        effect_scales=(0.0,),
        replicates=2000,
        test="score",
        seed=3,
        chunk_size=1000,
    )
    run = run_power(design)
    rate = float(run.summary["power"].iloc[0])
    se = math.sqrt(0.05 * 0.95 / 2000)
    assert abs(rate - 0.05) <= 3 * se, rate
    # and both arms respond alike
    r = run.replicates
    assert abs((r["x_treatment"] - r["x_control"]).mean()) < 0.5


def test_same_results_with_one_and_two_dask_workers(tmp_path):
    from distributed import Client, LocalCluster

    design = PowerDesign(
        SCEN, n_per_arm=(20, 30), replicates=24, chunk_size=8, seed=5, test="fisher"
    )
    local = run_power(design).replicates
    results = []
    for n in (1, 2):
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=False, dashboard_address=None
            ) as cl,
            Client(cl) as client,
        ):
            results.append(run_power(design, tmp_path / f"w{n}", client=client).replicates)
    pd.testing.assert_frame_equal(results[0], results[1])
    pd.testing.assert_frame_equal(results[0], local)
    # chunk size does not change any replicate
    other = run_power(design.with_options(chunk_size=5)).replicates
    pd.testing.assert_frame_equal(other, local)


def test_interrupted_run_resumes_without_redoing_chunks(tmp_path):
    design = PowerDesign(
        SCEN, n_per_arm=(15,), effect_scales=(0.5, 1.0), replicates=12, chunk_size=4, seed=8
    )
    first = run_power(design, tmp_path, max_chunks=2)  # interrupted after two chunks
    assert first.chunks_run == 2 and not (tmp_path / "replicates.parquet").exists()
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "chunks").glob("*.parquet")}
    second = run_power(design, tmp_path)
    assert second.chunks_reused == 2 and second.chunks_run == 4
    for name, t in stamps.items():
        assert (tmp_path / "chunks" / name).stat().st_mtime_ns == t  # not rewritten
    pd.testing.assert_frame_equal(second.replicates, run_power(design).replicates)
    assert (tmp_path / "replicates.parquet").exists() and (tmp_path / "power_curve.svg").exists()
    with pytest.raises(ValueError, match="another design"):
        run_power(design.with_options(seed=9), tmp_path)


def test_chunks_are_pure_functions_of_their_arguments():
    design = PowerDesign(SCEN, n_per_arm=(10,), replicates=6, seed=1)
    a = run_chunk(design, 0, 2, 3)
    b = run_chunk(design, 0, 0, 6).iloc[2:5].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_cli_simulate(tmp_path):
    spec = tmp_path / "design.toml"
    spec.write_text(
        '[scenario]\nbase = "proderm"\n\n[dropout]\nrandomised = 0.1\n\n'
        "[power]\nn_per_arm = [15, 25]\nreplicates = 20\nchunk_size = 10\n"
        'test = "fisher"\nseed = 4\n',
        encoding="utf-8",
    )
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["simulate", str(spec), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [r["n_treatment"] for r in data["power"]] == [15, 25]
    reps = pd.read_parquet(out / "replicates.parquet")
    assert len(reps) == 40 and reps["replicate"].between(0, 19).all()
    assert (out / "power_curve.svg").read_text().startswith("<svg")
    again = CliRunner().invoke(app, ["simulate", str(spec), "--out", str(out), "--json"])
    assert json.loads(again.output)["chunks_reused"] == 4
    bad = CliRunner().invoke(app, ["simulate", str(spec), "--test", "nope", "--json"])
    assert bad.exit_code == 2 and "valid" in bad.output
