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
    imputed_responders,
    logged_events,
    mi_risk_difference,
    rate_grid,
    remove_lindep,
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


# ------------------------------------------------------------------ predictor screening vs mice
LINDEP_DATA = pd.read_csv(FIXTURES / "sap_lindep_data.csv")
LINDEP = pd.read_csv(FIXTURES / "sap_lindep.csv", keep_default_na=False)


@pytest.mark.r_fixture
@pytest.mark.parametrize("case", LINDEP["case"].tolist())
def test_remove_lindep_against_mice(case: str) -> None:
    # oracle: mice:::remove.lindep(x, y, ry) (mice 3.15, eps = 1e-4, maxcor = 0.99) and the
    # predictors it logs through updateLog
    d = LINDEP_DATA[LINDEP_DATA["case"] == case]
    exp = LINDEP.set_index("case").loc[case]
    x = d[["x1", "x2", "x3", "x4"]].to_numpy(dtype=float)
    ry = d["ry"].astype(str).str.upper().eq("TRUE").to_numpy()
    y = d["y"].fillna(0.0).to_numpy(dtype=float)
    keep = remove_lindep(x, y, ry)
    assert keep.tolist() == [v == "TRUE" for v in exp["keep"].split(";")]
    dropped = [f"x{k + 1}" for k in np.flatnonzero(~keep)]
    assert ";".join(dropped) == exp["logged"] or case == "y_constant"


def test_impute_chained_constant_and_collinear_predictors() -> None:
    # a predictor that is 0 for everyone (e.g. no enzyme points in an arm) made X'X singular
    # ("Singular matrix"); mice leaves such predictors out with a logged event
    data = _trial()
    data["zero"] = 0.0
    data["five"] = 5.0
    data["pga_twice"] = data["points_pga"].fillna(0.0) * 2 + 1  # complete and collinear with
    data["pga_copy"] = data["pga_twice"] / 2                     # each other
    done = impute_chained(data, POINTS, seed=4, by="arm", n_imputations=3, n_iter=2,
                          predictors=["zero", "five", "pga_twice", "pga_copy"])
    assert all(d[POINTS].notna().all().all() for d in done)
    events = logged_events(done)
    assert set(events.columns) == {"im", "it", "group", "dep", "meth", "out"}
    n_cols = int(data.groupby("arm")[POINTS].apply(lambda f: f.isna().any()).to_numpy().sum())
    assert len(events) == 3 * 2 * n_cols
    for dep, out in zip(events["dep"], events["out"], strict=True):
        names = out.split(", ")
        assert {"zero", "five"} <= set(names)
        if dep == "points_pga":  # both correlate 1 with pga where it is observed (maxcor)
            assert {"pga_twice", "pga_copy"} <= set(names)
        else:  # linearly dependent pair: exactly one is left out
            assert ("pga_twice" in names) != ("pga_copy" in names)
    assert set(events["group"]) == {"ivig", "placebo"}
    # an imputed column that is constant in one arm: imputed with its constant, and left out
    # as a predictor of the other columns of that arm
    data2 = _trial()
    sel = data2["arm"] == "placebo"
    data2.loc[sel, "points_enzyme"] = data2.loc[sel, "points_enzyme"].where(
        data2.loc[sel, "points_enzyme"].isna(), 0.0)
    assert data2.loc[sel, "points_enzyme"].isna().any()
    done2 = impute_chained(data2, POINTS, seed=4, by="arm", n_imputations=2, n_iter=2)
    assert all((d.loc[sel, "points_enzyme"] == 0.0).all() for d in done2)
    ev2 = logged_events(done2)
    placebo = ev2[ev2["group"] == "placebo"]
    others = placebo[placebo["dep"] != "points_enzyme"]
    assert len(others) and others["out"].str.contains("points_enzyme").all()
    own = placebo[placebo["dep"] == "points_enzyme"]  # constant y: every predictor left out
    assert len(own) and (own["out"].str.split(", ").map(len) == 5).all()
    res = mi_risk_difference(data2, arm="arm", treatment="ivig", control="placebo",
                             columns=POINTS, response=tis_response(20), seed=4,
                             n_imputations=2, n_iter=2)
    assert any("left out (constant or collinear" in n and "points_enzyme" in n
               for n in res.notes)


def test_impute_chained_without_dropped_predictors_logs_nothing() -> None:
    done = impute_chained(_trial(), POINTS, seed=11, by="arm", n_imputations=2, n_iter=2)
    assert logged_events(done).empty


# ------------------------------------------------------------------ tipping point on a rate grid
TIPPING = pd.read_csv(FIXTURES / "sap_tipping.csv")


@pytest.mark.r_fixture
@pytest.mark.parametrize("case", sorted(TIPPING["case"].unique()))
def test_tipping_point_rate_grid_against_r(case: str) -> None:
    # oracle: rates (0:floor(1/step)) * step (+ 1), k = floor(rate * M + 0.5), fisher.test and
    # the Newcombe interval from prop.test(correct = FALSE) Wilson limits, per cell
    exp = TIPPING[TIPPING["case"] == case].reset_index(drop=True)
    c = exp.iloc[0]
    res = tipping_point(x1=int(c["x1"]), n1=int(c["n1"]), missing1=int(c["m1"]),
                        x2=int(c["x2"]), n2=int(c["n2"]), missing2=int(c["m2"]),
                        grid_step=float(c["step"]))
    g = res.grid
    assert len(g) == len(exp) and res.grid_step == pytest.approx(c["step"])
    for col in ("rate1", "rate2"):
        np.testing.assert_allclose(g[col], exp[col], atol=1e-12, rtol=0, err_msg=col)
    assert g["k1"].tolist() == exp["k1"].tolist() and g["k2"].tolist() == exp["k2"].tolist()
    for col in ("estimate", "lower", "upper", "p_value"):
        np.testing.assert_allclose(g[col], exp[col], atol=R_TOL, rtol=0, err_msg=col)


def test_rate_grid_and_rounding_rule() -> None:
    assert rate_grid(0.25) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert rate_grid(0.3) == [0.0, 0.3, 0.6, 0.9, 1.0]
    assert len(rate_grid(0.05)) == 21 and rate_grid(0.05)[7] == 0.35
    # nearest integer, halves up (Python's round would give 2 and 4)
    assert imputed_responders(0.5, 5) == 3 and imputed_responders(0.25, 10) == 3
    assert imputed_responders(0.35, 10) == 4  # 0.35 * 10 = 3.4999999999999996
    assert imputed_responders(0.0, 7) == 0 and imputed_responders(1.0, 7) == 7
    with pytest.raises(ValueError, match="grid_step"):
        rate_grid(0)
    with pytest.raises(ValueError, match="grid_step"):
        tipping_point(x1=1, n1=2, missing1=1, x2=1, n2=2, missing2=1, grid_step=1.5)


def test_tipping_point_rate_grid_frontier_rows_and_matrix() -> None:
    kw = {"x1": 20, "n1": 30, "missing1": 6, "x2": 10, "n2": 30, "missing2": 6,
          "test": "mn_score_test"}
    counts = tipping_point(**kw)  # type: ignore[arg-type]
    rates = tipping_point(**kw, grid_step=0.1)  # type: ignore[arg-type]
    assert len(rates.grid) == 11 * 11 and rates.counts["grid_step"] == 0.1
    # every rate cell is the count cell with the same (k1, k2)
    merged = rates.grid.merge(counts.grid, on=["k1", "k2"], suffixes=("", "_c"))
    assert len(merged) == len(rates.grid)
    np.testing.assert_array_equal(merged["p_value"], merged["p_value_c"])
    assert rates.robust == counts.robust is False
    ref = bool(rates.grid.iloc[0]["significant"])
    for rec in rates.frontier.to_dict("records"):
        sub = rates.grid[rates.grid["rate1"] == rec["rate1"]]
        flips = sub[sub["significant"] != ref]
        if len(flips):
            assert rec["rate2_tip"] == flips["rate2"].min()
            assert rec["k2_tip"] == imputed_responders(rec["rate2_tip"], 6)
        else:
            assert math.isnan(rec["rate2_tip"]) and math.isnan(rec["k2_tip"])
    assert list(rates.frontier.columns) == ["rate1", "k1", "rate2_tip", "k2_tip"]
    mat = tipping_point_grid(rates)
    assert mat.shape == (11, 11) and mat.attrs["k2"][0.5] == 3
    assert mat.loc[0.5, 0.3] == rates.grid[(rates.grid["rate1"] == 0.5)
                                           & (rates.grid["rate2"] == 0.3)]["p_value"].iloc[0]
    rows = rates.to_rows("primary")
    assert all(tuple(r) == ARD_COLUMNS for r in rows)
    assert any(r["group"] == "rate1=0.5" and r["statistic"] == "rate2_tip" for r in rows)
    # the count interface is unchanged
    assert counts.grid_step is None and list(counts.frontier.columns) == ["k1", "k2_tip"]
