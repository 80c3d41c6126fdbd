"""Missing-data sensitivity: bounded TIS, chained-equation MI with Rubin's rules (pooling
against mice::pool.scalar), tipping point; and the CMH continuity correction as R."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from myotrial.stats import (
    ARD_COLUMNS,
    bounded_tis,
    cmh_test,
    fisher_exact_test,
    impute_chained,
    mi_risk_difference,
    rubin_pool,
    tipping_point,
    tipping_point_grid,
    tis_response,
)

FIXTURES = Path(__file__).parent / "fixtures" / "r"
R_TOL = 1e-6
SLOTS = ("pga", "ptga", "mmt8", "haq", "enzyme", "extramuscular")
POINTS = [f"points_{s}" for s in SLOTS]


# ------------------------------------------------------------------ CMH correction (binary.py)
@pytest.mark.r_fixture
@pytest.mark.parametrize("case", ["delta_small_1", "delta_small_2", "delta_zero", "delta_large"])
def test_cmh_continuity_correction_as_r(case: str) -> None:
    # oracle: mantelhaen.test(correct = TRUE / FALSE); R applies no correction when
    # |sum(O - E)| < 0.5 (YATES <- if (correct && abs(DELTA) >= .5) .5 else 0)
    tables = pd.read_csv(FIXTURES / "sap_cmh_tables.csv")
    exp = pd.read_csv(FIXTURES / "sap_cmh.csv").set_index("case").loc[case]
    g = tables[tables["case"] == case]
    kw = {k: g[k].tolist() for k in ("x1", "n1", "x2", "n2")}
    cc, plain = cmh_test(**kw, correction=True), cmh_test(**kw)
    assert cc.counts["sum_o_minus_e"] == pytest.approx(exp["delta"], abs=1e-12)
    assert (cc.statistic, cc.p_value) == pytest.approx((exp["cc_stat"], exp["cc_p"]), abs=R_TOL)
    assert (plain.statistic, plain.p_value) == pytest.approx((exp["stat"], exp["p"]), abs=R_TOL)
    small = abs(exp["delta"]) < 0.5
    assert (cc.statistic == plain.statistic) == small
    assert any("no continuity correction" in n for n in cc.notes) == small


# ------------------------------------------------------------------ bounded TIS
def _points(rows: list[list[float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=POINTS)


def test_bounded_tis_cut_points() -> None:
    nan = math.nan
    frame = _points([
        [20, 10, 20, nan, 0, 7.5],      # 57.5 with HAQ missing: responder whatever HAQ is
        [7.5, 2.5, 0, nan, 0, 0],       # 10 .. 20: the upper bound reaches 20 exactly: unknown
        [7.5, 0, 0, nan, 0, 0],         # 7.5 .. 17.5: both below 20: non-responder
        [0, 0, 20, 0, 0, 0],            # complete, exactly 20: responder (closed edge)
        [0, 0, 10, 7.5, 0, 0],          # complete, 17.5: non-responder
        [nan] * 6,                      # nothing measured: 0 .. 100: unknown
    ])
    out = bounded_tis(frame, threshold=20)
    assert out["tis_lower"].tolist() == [57.5, 10, 7.5, 20, 17.5, 0]
    assert out["tis_upper"].tolist() == [67.5, 20, 17.5, 20, 17.5, 100]
    assert out["responder_bounded"].tolist() == [True, pd.NA, False, True, False, pd.NA]
    assert out["n_missing_measures"].tolist() == [1, 1, 1, 0, 0, 6]
    assert frame.shape == (6, 6)  # input not mutated


def test_bounded_tis_rejects_bad_points() -> None:
    with pytest.raises(ValueError, match=r"points_pga = 25.0 at row 0 is outside \[0, 20.0\]"):
        bounded_tis(_points([[25, 0, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="lacks column"):
        bounded_tis(pd.DataFrame({"points_pga": [1.0]}))


# ------------------------------------------------------------------ Rubin's rules vs mice
RUBIN = pd.read_csv(FIXTURES / "sap_rubin.csv")


@pytest.mark.r_fixture
@pytest.mark.parametrize("row", RUBIN.to_dict("records"),
                         ids=lambda r: f"{r['case']}-{r['df_complete']}")
def test_rubin_against_mice(row: dict[str, object]) -> None:
    # oracle: mice::pool.scalar(Q, U, n = df_complete + 1, k = 1) on the same Q and U
    q = [float(v) for v in str(row["Q"]).split(";")]
    u = [float(v) for v in str(row["U"]).split(";")]
    res = rubin_pool(q, u, df_complete=float(row["df_complete"]))  # type: ignore[arg-type]
    c = res.counts
    got = {"qbar": res.estimate, "ubar": c["ubar"], "b": c["b"], "t": c["t"], "df": res.df,
           "riv": c["riv"], "fmi": c["fmi"]}
    for key, value in got.items():
        expected = float(row[key])  # type: ignore[arg-type]
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-12), key


# ------------------------------------------------------------------ MI pipeline
def _trial(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 60
    arm = np.array(["ivig"] * 30 + ["placebo"] * 30)
    level = np.where(arm == "ivig", 3, 1)
    frame = pd.DataFrame({"arm": arm})
    maxima = {"pga": 20, "ptga": 10, "mmt8": 32.5, "haq": 10, "enzyme": 7.5,
              "extramuscular": 20}
    for s in SLOTS:
        frame[f"points_{s}"] = np.round(np.clip(rng.normal(level, 1.2, n), 0, 4)) / 4 * maxima[s]
    mask = rng.random((n, 6)) < 0.12
    frame[POINTS] = frame[POINTS].mask(mask)
    return frame


def test_impute_chained_is_seeded_and_keeps_observed() -> None:
    data = _trial()
    a = impute_chained(data, POINTS, seed=11, by="arm", n_imputations=3, n_iter=3)
    b = impute_chained(data, POINTS, seed=11, by="arm", n_imputations=3, n_iter=3)
    c = impute_chained(data, POINTS, seed=12, by="arm", n_imputations=3, n_iter=3)
    assert all(x.equals(y) for x, y in zip(a, b, strict=True))
    assert not all(x.equals(y) for x, y in zip(a, c, strict=True))
    observed = data[POINTS].notna()
    for done in a:
        assert done[POINTS].notna().all().all()
        pd.testing.assert_frame_equal(done[POINTS][observed], data[POINTS][observed])
        for col in POINTS:  # PMM: imputed values are observed values of the same arm
            for arm in ("ivig", "placebo"):
                sel = data["arm"] == arm
                assert set(done.loc[sel, col]) <= set(data.loc[sel, col].dropna())


def test_mi_changes_placebo_patient_with_only_haq_missing() -> None:
    data = _trial()
    data.loc[40, POINTS] = [20, 10, 20, math.nan, 0, 7.5]  # TIS 57.5 without HAQ, placebo
    data.loc[41:59, POINTS] = data.loc[41:59, POINTS].fillna(0)
    data.loc[30:39, POINTS] = data.loc[30:39, POINTS].fillna(0)
    resp = tis_response(20)
    completed = impute_chained(data, POINTS, seed=3, by="arm", n_imputations=5, n_iter=2)
    assert all(resp(done)[40] == 1 for done in completed)
    assert resp(data)[40] == 0  # missing = non-responder before imputation
    res = mi_risk_difference(data, arm="arm", treatment="ivig", control="placebo",
                             columns=POINTS, response=resp, seed=3, n_imputations=5, n_iter=2)
    assert res.method == "mi_rubin" and res.counts["m"] == 5 and res.counts["seed"] == 3
    assert res.lower < res.estimate < res.upper
    assert bounded_tis(data.loc[[40]])["responder_bounded"].iloc[0]


# ------------------------------------------------------------------ tipping point
def test_tipping_point_grid_and_frontier() -> None:
    res = tipping_point(x1=30, n1=40, missing1=3, x2=15, n2=42, missing2=4)
    assert len(res.grid) == 4 * 5
    cell = res.grid[(res.grid["k1"] == 1) & (res.grid["k2"] == 4)].iloc[0]
    fisher = fisher_exact_test(x1=31, n1=43, x2=19, n2=46)
    assert cell["p_value"] == fisher.p_value and cell["rate2"] == 1.0
    ref = res.grid.iloc[0]
    assert (ref["k1"], ref["k2"], ref["x1"], ref["n1"]) == (0, 0, 30, 43)
    for rec in res.frontier.to_dict("records"):
        sub = res.grid[res.grid["k1"] == rec["k1"]]
        flips = sub[sub["significant"] != ref["significant"]]
        expected = flips["k2"].min() if len(flips) else math.nan
        assert (rec["k2_tip"] == expected) or (math.isnan(rec["k2_tip"]) and math.isnan(expected))
    mat = tipping_point_grid(res)
    assert mat.shape == (4, 5) and mat.loc[1, 4] == cell["p_value"]
    assert mat.attrs["rate1"][3] == 1.0
    rows = res.to_rows("primary")
    assert all(tuple(r) == ARD_COLUMNS for r in rows)


def test_tipping_point_flips_and_pairs() -> None:
    res = tipping_point(x1=20, n1=30, missing1=6, x2=10, n2=30, missing2=6,
                        test="mn_score_test")
    assert res.grid["significant"].iloc[0] and not res.robust
    assert res.estimate_method == "mn_score_test"
    # consistent pair: every cell's interval excludes 0 exactly when p < 0.05
    g = res.grid
    assert ((g["lower"] > 0) | (g["upper"] < 0)).tolist() == (g["p_value"] < 0.05).tolist()


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="test='t'"):
        tipping_point(x1=1, n1=2, missing1=1, x2=1, n2=2, missing2=1, test="t")
    with pytest.raises(ValueError, match="m >= 2"):
        rubin_pool([0.1], [0.01])
    with pytest.raises(ValueError, match="seed"):
        impute_chained(_trial(), POINTS, seed="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fewer than 2 rows"):
        impute_chained(pd.DataFrame({"a": [1.0, math.nan, math.nan], "b": [1.0, 2, 3]}),
                       ["a", "b"], seed=1)
