"""Subgroup analysis: interaction LRT against R glm/anova; forest-plot data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from myotrial.stats import FOREST_COLUMNS, risk_difference, subgroup_analysis

FIXTURES = Path(__file__).parent / "fixtures" / "r"
DATA = pd.read_csv(FIXTURES / "subgroup_data.csv")


@pytest.mark.r_fixture
def test_interaction_lrt_against_r() -> None:
    # oracle: anova(glm(responder ~ arm + g, binomial), glm(responder ~ arm * g, binomial),
    #               test = "LRT")
    exp = pd.read_csv(FIXTURES / "subgroup_interaction.csv").set_index("subgroup")
    res = subgroup_analysis(DATA, arm="arm", response="responder",
                            subgroups=["sex", "severity"], treatment="ivig", control="placebo")
    got = res.interactions.set_index("subgroup")
    for name in ("sex", "severity"):
        assert got.loc[name, "statistic"] == pytest.approx(exp.loc[name, "statistic"], abs=1e-6)
        assert got.loc[name, "df"] == exp.loc[name, "df"]
        assert got.loc[name, "p_value"] == pytest.approx(exp.loc[name, "p_value"], abs=1e-6)


def test_forest_rows_match_risk_difference_per_level() -> None:
    res = subgroup_analysis(DATA, arm="arm", response="responder", subgroups="severity",
                            treatment="ivig", control="placebo", method="newcombe")
    assert tuple(res.forest.columns) == FOREST_COLUMNS
    assert res.forest.iloc[0][["subgroup", "level"]].tolist() == ["overall", "all"]
    assert res.forest["n1"].iloc[1:].sum() == res.forest["n1"].iloc[0]
    for row in res.forest.to_dict("records"):
        rd = risk_difference(x1=row["x1"], n1=row["n1"], x2=row["x2"], n2=row["n2"],
                             method="newcombe")
        assert (row["estimate"], row["lower"], row["upper"]) == pytest.approx(
            (rd.estimate, rd.lower, rd.upper))
    ard = res.as_ard("TIS>=20 week 16")
    assert {"estimate", "lower", "upper", "p_value"} <= set(ard["statistic"])


def test_missing_subgroup_and_one_arm_level() -> None:
    data = DATA.copy()
    data.loc[:4, "sex"] = None
    data.loc[data["arm"] == "placebo", "severity"] = data.loc[
        data["arm"] == "placebo", "severity"].replace("severe", "moderate")
    res = subgroup_analysis(data, arm="arm", response="responder",
                            subgroups=["sex", "severity"], treatment="ivig", control="placebo")
    inter = res.interactions.set_index("subgroup")
    assert inter.loc["sex", "n_missing"] == 5
    severe = res.forest[(res.forest["subgroup"] == "severity") &
                        (res.forest["level"] == "severe")].iloc[0]
    assert np.isnan(severe["estimate"]) and severe["note"]
    assert inter.loc["severity", "df"] == 1  # only mild and moderate remain


def test_single_level_gives_no_test() -> None:
    res = subgroup_analysis(DATA.assign(one="x"), arm="arm", response="responder",
                            subgroups="one", treatment="ivig", control="placebo")
    assert np.isnan(res.interactions["p_value"].iloc[0])
    assert res.interactions["note"].iloc[0]


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="lacks column"):
        subgroup_analysis(DATA, arm="arm", response="responder", subgroups="age",
                          treatment="ivig", control="placebo")
    with pytest.raises(ValueError, match="valid keys"):
        subgroup_analysis(DATA, arm="arm", response="responder", subgroups="sex",
                          treatment="ivig", control="placebo", method="mh_sato")
