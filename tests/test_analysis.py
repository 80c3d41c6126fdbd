"""End-to-end analysis: a hand-built trial with ProDERM's published week-16 counts goes through
scoring, derivation and analysis and reproduces the published estimates (Wald; NEJM 2022)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from myotrial.analysis import analyze
from myotrial.cli import app
from myotrial.derive import derive_all

BASE = {
    "pga": 6.0,
    "ptga": 6.0,
    "extramuscular": 5.0,
    "mmt8": 100.0,
    "haq": 1.5,
    "ck": 1000.0,
    "ck_uln": 200.0,
}
# Follow-up patterns and their TIS: major 62.5, moderate 45, minimal 20, none 7.5
PATTERNS = {
    "major": {"pga": 1.0, "ptga": 1.0, "mmt8": 150.0},
    "moderate": {"pga": 2.0, "ptga": 3.0, "mmt8": 120.0},
    "minimal": {"pga": 4.0, "ptga": 4.0},  # 20 % each: 15 + 5
    "none": {"pga": 5.0},
}
# Published (proderm.md): >=20 37/47 vs 21/48; >=40 32/47 vs 11/48; >=60 15/47 vs 4/48
COUNTS = {
    "ivig": {"major": 15, "moderate": 17, "minimal": 5, "none": 10},
    "placebo": {"major": 4, "moderate": 7, "minimal": 10, "none": 27},
}


def published_trial() -> tuple[pd.DataFrame, pd.DataFrame]:
    visits: list[dict[str, Any]] = []
    subjects = []
    k = 0
    for arm, cats in COUNTS.items():
        for cat, n in cats.items():
            for _ in range(n):
                sid = f"P{k:03d}"
                k += 1
                subjects.append(
                    {
                        "subject_id": sid,
                        "arm": arm,
                        "age": 30 + k % 40,
                        "sex": "F" if k % 4 else "M",
                        "msa_group": ("dm_specific", "antisynthetase", "negative")[k % 3],
                    }
                )
                base = {**BASE, "mmt8": 100.0 + k % 5}  # varying baseline (for ANCOVA)
                visits.append({"subject_id": sid, "visit_week": 0, **base})
                for week in (4, 8, 12, 16):
                    visits.append({"subject_id": sid, "visit_week": week, **base, **PATTERNS[cat]})
    return pd.DataFrame(visits), pd.DataFrame(subjects)


@pytest.fixture(scope="module")
def results() -> Any:
    visits, subjects = published_trial()
    return analyze(derive_all(visits, subjects))


@pytest.mark.parametrize(
    ("endpoint", "x1", "x2", "estimate", "lower", "upper"),
    [
        ("tis20_w16", 37, 21, 34.97, 16.70, 53.24),  # NEJM: 35 (16.7 to 53.2)
        ("tis40_w16", 32, 11, 45.17, 27.31, 63.03),  # 45 (27 to 63)
        ("tis60_w16", 15, 4, 23.58, 8.13, 39.03),  # 24 (8 to 39)
    ],
)
def test_published_week_16_estimates_wald(
    results: Any, endpoint: str, x1: int, x2: int, estimate: float, lower: float, upper: float
) -> None:
    ep = results.get(endpoint)
    assert ep.arms == {"ivig": {"x": x1, "n": 47}, "placebo": {"x": x2, "n": 48}}
    assert ep.estimate.method == "wald"
    assert 100 * ep.estimate.estimate == pytest.approx(estimate, abs=0.005)
    assert 100 * ep.estimate.lower == pytest.approx(lower, abs=0.005)
    assert 100 * ep.estimate.upper == pytest.approx(upper, abs=0.005)


def test_primary_fisher_p_value(results: Any) -> None:
    # Fisher exact on 37/47 vs 21/48 gives 0.00069 (proderm.md; published p = 0.0008)
    ep = results.get("tis20_w16")
    assert ep.test.method == "fisher"
    assert ep.test.p_value == pytest.approx(0.00069, abs=0.000005)


def test_summary_and_ard_carry_the_same_numbers(results: Any) -> None:
    summary = results.summary().set_index("endpoint")
    ard = results.to_ard()
    est = ard[
        (ard["endpoint"] == "tis20_w16")
        & (ard["effect"] == "risk_difference")
        & (ard["statistic"] == "estimate")
    ]["value"].iloc[0]
    assert summary.loc["tis20_w16", "estimate"] == est == results.get("tis20_w16").estimate.estimate
    assert summary.loc["tis20_w16", "treatment"] == "37/47 (78.7%)"
    assert set(ard["method"]) >= {"wald", "fisher", "pooled_t", "ancova", "km_loglog", "logrank"}


def test_mean_tis_and_measure_changes(results: Any) -> None:
    ep = results.get("tis_w16")
    expected_ivig = (15 * 62.5 + 17 * 45 + 5 * 20 + 10 * 7.5) / 47
    assert ep.arms["ivig"]["mean"] == pytest.approx(expected_ivig)
    assert ep.estimate.method == "pooled_t"
    mmt = results.get("chg_mmt8_w16")
    assert mmt.extra[0].method == "ancova"
    assert mmt.estimate.estimate > 0


def test_subgroups_and_time_to_event(results: Any) -> None:
    forest = results.subgroups.forest
    overall = forest[forest["subgroup"] == "overall"].iloc[0]
    assert (overall["x1"], overall["n1"], overall["x2"], overall["n2"]) == (37, 47, 21, 48)
    assert set(forest["subgroup"]) >= {"MSAGRP", "SEX", "AGEGR"}
    tt = results.get("tt_minimal")
    assert tt.arms["ivig"]["events"] == 37 and tt.arms["ivig"]["median"] == 28.0
    assert tt.test.method == "logrank"


def test_cli_analyze_json_from_raw_tables(tmp_path: Path) -> None:
    visits, subjects = published_trial()
    visits.to_csv(tmp_path / "v.csv", index=False)
    subjects.to_csv(tmp_path / "s.csv", index=False)
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "analyze",
            "--visits",
            str(tmp_path / "v.csv"),
            "--subjects",
            str(tmp_path / "s.csv"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {r["endpoint"]: r for r in json.loads(result.stdout)["results"]}
    assert round(100 * rows["tis20_w16"]["estimate"], 2) == 34.97
    assert rows["tis20_w16"]["method"] == "wald" and rows["tis20_w16"]["test"] == "fisher"
    derived = tmp_path / "derived"
    assert (
        runner.invoke(
            app,
            [
                "derive",
                "--visits",
                str(tmp_path / "v.csv"),
                "--subjects",
                str(tmp_path / "s.csv"),
                "-o",
                str(derived),
            ],
        ).exit_code
        == 0
    )
    again = runner.invoke(app, ["analyze", "--derived", str(derived), "--json"])
    rows2 = {r["endpoint"]: r for r in json.loads(again.stdout)["results"]}
    assert rows2["tis20_w16"]["estimate"] == rows["tis20_w16"]["estimate"]
    bad = runner.invoke(
        app,
        [
            "analyze",
            "--method",
            "magic",
            "--visits",
            str(tmp_path / "v.csv"),
            "--subjects",
            str(tmp_path / "s.csv"),
        ],
    )
    assert bad.exit_code == 2 and "wald" in bad.output


def test_safety_summary_flags_infusion_related_events() -> None:
    visits, subjects = published_trial()
    visits = visits.copy()
    visits["visit_date"] = (
        pd.Timestamp("2024-01-01") + pd.to_timedelta(visits["visit_week"] * 7, unit="D")
    ).dt.strftime("%Y-%m-%d")
    derived = derive_all(visits, subjects)
    infusions = pd.DataFrame(
        {
            "subject_id": ["P000", "P000", "P060"],
            "start": ["2024-01-01T09:00", "2024-01-02T09:00", "2024-01-01T09:00"],
            "end": ["2024-01-01T13:00", "2024-01-02T13:00", "2024-01-01T13:00"],
            "product": ["ivig", "ivig", "placebo"],
            "dose_g_per_kg": [1.0, 1.0, 0.0],
            "rate_ml_per_kg_min": [0.04, 0.04, 0.04],
            "cycle": [1, 1, 1],
        }
    )
    adverse_events = pd.DataFrame(
        {
            "subject_id": ["P000", "P000", "P060"],
            "term": ["headache", "deep vein thrombosis", "nausea"],
            "body_system": ["nervous", "vascular", "gastrointestinal"],
            # 71 h after the last infusion day's end: related; 10 days later: not; placebo: 80 h
            "onset": ["2024-01-05T12:00", "2024-01-15T08:00", "2024-01-04T21:00"],
            "end": ["", "", ""],
            "serious": ["false", "true", "false"],
            "severity": ["mild", "severe", "mild"],
            "related": ["true", "true", "false"],
            "thromboembolic": ["false", "true", "false"],
        }
    )
    res = analyze(derived, adverse_events=adverse_events, infusions=infusions)
    ov = res.safety_overview
    assert ov is not None
    get = ov.set_index(["arm", "period", "category"])
    assert get.loc[("ivig", "randomised", "infusion_related"), "n_events"] == 1
    assert get.loc[("ivig", "randomised", "thromboembolic"), "n_with_event"] == 1
    assert get.loc[("placebo", "randomised", "infusion_related"), "n_events"] == 0
    assert get.loc[("ivig", "randomised", "any"), "n_subjects"] == 47
