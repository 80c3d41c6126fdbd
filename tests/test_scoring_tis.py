"""TIS: every band edge from both sides, floating-point drift, categories, missing, enzymes.

Criterion (2016 ACR/EULAR, Rider 2017 Table 3): bands "worsening to 5%", ">5-15%", ">15-25%",
">25-40%", ">40%" (MMT: 2/10/20/30). PROJECT RULE: bands are (a, b], so exactly on an edge is
the lower band.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import BASELINE, two_visits
from myotrial.errors import InputValidationError
from myotrial.rules import load_tis_rules
from myotrial.scoring import compute_band_points, score_visits

RULES = load_tis_rules()


def fu_row(
    follow: dict[str, float], baseline: dict[str, float] | None = None, **kw: object
) -> pd.Series:
    return score_visits(two_visits(follow, baseline), **kw).iloc[1]  # type: ignore[arg-type]


# (slot, column, baseline value, scale range, sign: +1 when lower is better)
VAS_SLOTS = [
    ("pga", "pga", 10.0, 10.0, 1),
    ("ptga", "ptga", 10.0, 10.0, 1),
    ("extramuscular", "extramuscular", 10.0, 10.0, 1),
    ("haq", "haq", 3.0, 3.0, 1),
]


@pytest.mark.parametrize(("slot", "column", "base", "scale", "sign"), VAS_SLOTS)
@pytest.mark.parametrize("band", range(4))
def test_fixed_range_band_edges_both_sides(
    slot: str, column: str, base: float, scale: float, sign: int, band: int
) -> None:
    rule = RULES.slots[slot]
    edge = rule.edges[band]
    for delta_pct, expected_band in ((-0.1, band), (0.0, band), (0.1, band + 1)):
        change = (edge + delta_pct) / 100 * scale
        row = fu_row({column: base - sign * change}, {**BASELINE, column: base})
        assert row[f"points_{slot}"] == rule.points[expected_band], (
            f"{slot}: {edge + delta_pct}% improvement should score band {expected_band}"
        )


@pytest.mark.parametrize("mmt8_max", [150.0, 80.0])
@pytest.mark.parametrize("band", range(4))
def test_mmt_band_edges_both_sides(mmt8_max: float, band: int) -> None:
    rule = RULES.slots["mmt8"]
    edge = rule.edges[band]
    base = 40.0
    for delta_pct, expected_band in ((-0.1, band), (0.0, band), (0.1, band + 1)):
        follow = base + (edge + delta_pct) / 100 * mmt8_max
        row = fu_row(
            {"mmt8": follow, "mmt8_max": mmt8_max}, {**BASELINE, "mmt8": base, "mmt8_max": mmt8_max}
        )
        assert row["points_mmt8"] == rule.points[expected_band], (mmt8_max, edge + delta_pct)


def test_mmt8_max_from_option_when_column_absent() -> None:
    # 80-point scale: 8 points = 10 % -> on the edge -> 10 points; on the 150 scale 5.3 % -> 10.
    a = fu_row({"mmt8": 58.0}, {**BASELINE, "mmt8": 50.0}, mmt8_max=80)
    b = fu_row({"mmt8": 59.0}, {**BASELINE, "mmt8": 50.0}, mmt8_max=80)
    assert (a["points_mmt8"], b["points_mmt8"]) == (10.0, 20.0)


@pytest.mark.parametrize("band", range(4))
def test_enzyme_relative_edges(band: int) -> None:
    rule = RULES.slots["enzyme"]
    edge = rule.edges[band]
    for delta_pct, expected_band in ((-0.1, band), (0.0, band), (0.1, band + 1)):
        follow = 1000.0 * (1 - (edge + delta_pct) / 100)
        row = fu_row({"ck": follow})
        assert row["points_enzyme"] == rule.points[expected_band]


def _drifting_pairs(edge: float, scale: float) -> list[tuple[float, float]]:
    """Decimal (baseline, follow-up) pairs whose float change misses ``edge`` by rounding noise."""
    pairs = []
    for b in np.round(np.arange(0.0, scale + 1e-9, 0.05), 2):
        f = round(b - edge / 100 * scale, 2)
        if 0 <= f <= scale and (b - f) / scale * 100 != edge:
            pairs.append((float(b), float(f)))
    return pairs


@pytest.mark.parametrize("edge", [5.0, 15.0, 25.0, 40.0])
def test_exact_edges_are_free_of_floating_point_drift(edge: float) -> None:
    pairs = _drifting_pairs(edge, 10.0)
    assert pairs, "the search must find float pairs that drift off the edge"
    band = RULES.slots["pga"].edges.index(edge)
    for b, f in pairs:
        row = fu_row({"pga": f}, {**BASELINE, "pga": b})
        assert row["points_pga"] == RULES.slots["pga"].points[band], (b, f)


def test_band_points_tolerance_direct() -> None:
    slot = RULES.slots["pga"]
    x = np.array([40.0 + 1e-12, 40.0 - 1e-12, 40.0 + 1e-6, np.nan, -50.0, 1e6])
    np.testing.assert_array_equal(
        compute_band_points(x, slot, RULES.edge_tolerance), [17.5, 17.5, 20.0, np.nan, 0.0, 20.0]
    )


def _tis_frame(points_target: dict[str, float]) -> pd.DataFrame:
    """Follow-up values that give the wanted PGA / PtGA points (others unchanged: 0 points)."""
    pga_change = {0: 0.0, 7.5: 1.0, 15: 2.0, 17.5: 3.0, 20: 5.0}[points_target.get("pga", 0)]
    ptga_change = {0: 0.0, 2.5: 1.0, 5: 2.0, 7.5: 3.0, 10: 5.0}[points_target.get("ptga", 0)]
    mmt_change = {0: 0.0, 10: 6.0, 20: 20.0, 27.5: 40.0, 32.5: 50.0}[points_target.get("mmt8", 0)]
    return two_visits(
        {"pga": 6.0 - pga_change, "ptga": 6.0 - ptga_change, "mmt8": 90.0 + mmt_change},
        {**BASELINE, "mmt8": 90.0},
    )


@pytest.mark.parametrize(
    ("pga", "ptga", "mmt8", "tis", "adult", "juvenile"),
    [
        (17.5, 0, 0, 17.5, "none", "none"),
        (17.5, 2.5, 0, 20.0, "minimal", "none"),
        (20, 2.5, 0, 22.5, "minimal", "none"),
        (17.5, 10, 0, 27.5, "minimal", "none"),
        (20, 10, 0, 30.0, "minimal", "minimal"),
        (7.5, 0, 27.5, 35.0, "minimal", "minimal"),
        (17.5, 2.5, 17.5 + 2.5 and 20, 40.0, "moderate", "minimal"),
        (15, 2.5, 20, 37.5, "minimal", "minimal"),
        (15, 10, 20, 45.0, "moderate", "moderate"),
        (20, 7.5, 20, 47.5, "moderate", "moderate"),
        (17.5, 10, 32.5, 60.0, "major", "moderate"),
        (15, 10, 32.5, 57.5, "moderate", "moderate"),
        (20, 10, 32.5, 62.5, "major", "moderate"),
    ],
)
def test_category_edges_adult_and_juvenile(
    pga: float, ptga: float, mmt8: float, tis: float, adult: str, juvenile: str
) -> None:
    frame = _tis_frame({"pga": pga, "ptga": ptga, "mmt8": mmt8})
    a = score_visits(frame).iloc[1]
    assert a["tis"] == tis
    assert a["tis_category"] == adult
    juv = frame.rename(columns={"haq": "chaq"})
    j = score_visits(juv, population="juvenile").iloc[1]
    assert j["tis"] == tis
    assert j["tis_category"] == juvenile


def test_juvenile_70_edge() -> None:
    # 20 + 10 + 32.5 + 7.5 (extramuscular 3 cm of 10 = 30 %) = 70 -> major (JDM >= 70)
    frame = two_visits(
        {"pga": 0.5, "ptga": 0.5, "mmt8": 150.0, "extramuscular": 2.0}, {**BASELINE, "mmt8": 90.0}
    ).rename(columns={"haq": "chaq"})
    row = score_visits(frame, population="juvenile").iloc[1]
    assert row["tis"] == 20 + 10 + 32.5 + 15
    frame.loc[1, "extramuscular"] = 3.5  # 15 % -> 7.5 points
    row = score_visits(frame, population="juvenile").iloc[1]
    assert (row["tis"], row["tis_category"]) == (70.0, "major")
    frame.loc[1, "extramuscular"] = 3.6  # 14 % -> 7.5 still; drop MMT by one band instead
    frame.loc[1, "mmt8"] = 130.0  # 40/150 = 26.7 % -> 27.5
    row = score_visits(frame, population="juvenile").iloc[1]
    assert (row["tis"], row["tis_category"]) == (65.0, "moderate")


def test_printo_measure_set_requires_chq_range_and_scores() -> None:
    base = {"pga": 6.0, "ptga": 6.0, "chaq": 1.5, "cmas": 30.0, "das": 10.0, "chq_phs": 30.0}
    frame = two_visits({"pga": 2.0, "cmas": 42.0, "das": 5.0, "chq_phs": 40.0}, base)
    with pytest.raises(ValueError, match="chq_phs_range"):
        score_visits(frame, population="juvenile", measure_set="printo")
    row = score_visits(frame, population="juvenile", measure_set="printo", chq_phs_range=100).iloc[
        1
    ]
    # PGA 40 % (edge) 17.5; CMAS 12/52 = 23 % -> 27.5; DAS 5/20 = 25 % (edge) -> 12.5;
    # CHQ 10 % -> 2.5
    assert row["points_mmt8"] == 27.5
    assert row["points_extramuscular"] == 12.5
    assert row["points_enzyme"] == 2.5
    assert row["tis"] == 17.5 + 27.5 + 12.5 + 2.5


def test_unknown_population_lists_valid_sets() -> None:
    with pytest.raises(ValueError, match="imacs_adult"):
        score_visits(two_visits({}), population="adult", measure_set="printo")


def test_baseline_row_has_blank_tis_with_reason() -> None:
    base = score_visits(two_visits({})).iloc[0]
    assert np.isnan(base["tis"]) and pd.isna(base["tis_category"])
    assert base["tis_missing_reason"] == "baseline visit"


def test_missing_measure_gives_blank_tis_naming_it() -> None:
    row = fu_row({"haq": None, "pga": None})
    assert np.isnan(row["tis"]) and pd.isna(row["tis_category"])
    assert row["tis_missing_reason"] == "missing at this visit: pga, haq"
    assert np.isnan(row["points_pga"]) and row["points_ptga"] == 0
    row = fu_row({"mmt8": 100.0}, {**BASELINE, "mmt8": None})
    assert row["tis_missing_reason"] == "missing at baseline: mmt8"


def test_partial_scoring_is_explicit_and_flagged() -> None:
    frame = two_visits({"pga": 2.0, "haq": None})
    row = score_visits(frame, partial=True, details=True).iloc[1]
    assert row["tis"] == 17.5 and bool(row["tis_partial"])
    assert row["tis_missing_reason"] == "partial TIS, missing at this visit: haq"


def test_missing_measure_column_is_an_error_unless_partial() -> None:
    frame = two_visits({}).drop(columns=["haq"])
    with pytest.raises(InputValidationError, match="haq"):
        score_visits(frame)
    assert score_visits(frame, partial=True).iloc[1]["tis"] == 0


def test_zero_baselines() -> None:
    # Fixed-range measures: 0 at baseline scores on the scale range, worsening scores 0.
    row = fu_row({"pga": 3.0, "extramuscular": 0.0}, {**BASELINE, "pga": 0.0, "extramuscular": 0.0})
    assert row["points_pga"] == 0 and row["points_extramuscular"] == 0 and row["tis"] == 0
    # Enzyme baseline 0: 0 points (PROJECT RULE), whatever happens next.
    z = {**BASELINE, "ck": 0.0}
    assert fu_row({"ck": 0.0}, z)["points_enzyme"] == 0
    assert fu_row({"ck": 50.0}, z)["points_enzyme"] == 0


def test_enzyme_most_abnormal_at_baseline_with_several_ulns() -> None:
    base = {
        **BASELINE,
        "ck": 400.0,
        "ck_uln": 200.0,  # 2.0 x ULN
        "aldolase": 24.0,
        "aldolase_uln": 8.0,  # 3.0 x ULN  <- most abnormal
        "ldh": 600.0,
        "ldh_uln": 250.0,
    }  # 2.4 x ULN
    # At the visit CK normalises (big improvement) but aldolase barely moves: aldolase is scored.
    row = fu_row({"ck": 100.0, "aldolase": 23.0, "ldh": 250.0}, base)
    assert row["enzyme_used"] == "aldolase"
    assert row["points_enzyme"] == 0  # 4.2 % improvement
    row = fu_row({"aldolase": 18.0}, base)  # 25 % exactly -> (15, 25] -> 5 points
    assert row["points_enzyme"] == 5.0


def test_enzyme_tie_uses_rules_order_and_uln_change_is_normalised() -> None:
    base = {**BASELINE, "ck": 400.0, "ck_uln": 200.0, "alt": 80.0, "alt_uln": 40.0}
    assert fu_row({}, base)["enzyme_used"] == "ck"  # both 2.0 x ULN: CK first
    # A new laboratory doubles the ULN: 400 U/L is now 1.0 x ULN, a 50 % improvement.
    row = fu_row({"ck_uln": 400.0}, base)
    assert row["points_enzyme"] == 7.5


def test_enzyme_missing_at_visit_names_the_enzyme() -> None:
    row = fu_row({"ck": None})
    assert "enzyme (ck, most abnormal at baseline)" in row["tis_missing_reason"]


def test_input_is_not_modified_and_extra_columns_pass_through() -> None:
    frame = two_visits({"pga": 2.0})
    frame["site_note"] = ["a", "b"]
    before = frame.copy()
    out = score_visits(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert out["site_note"].tolist() == ["a", "b"]
    assert len(out) == len(frame)
