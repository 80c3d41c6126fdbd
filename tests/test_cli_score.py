"""CLI: `myotrial score` and `myotrial tis` (the IMACS calculator's command-line twin)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from myotrial.cli import app
from myotrial.rules import rules_path
from myotrial.scoring import SCORED_COLUMNS

runner = CliRunner()
EXAMPLE = rules_path("x").parents[1] / "data" / "example_visits.csv"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_writes_every_row_and_contract_columns(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"scored{suffix}"
    result = runner.invoke(app, ["score", str(EXAMPLE), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    scored = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    source = pd.read_csv(EXAMPLE)
    assert len(scored) == len(source) == summary["rows"]
    assert set(SCORED_COLUMNS) <= set(scored.columns)
    assert set(source.columns) <= set(scored.columns)  # pass-through, incl. data_source
    assert scored["data_source"].str.startswith("synthetic").all()
    assert summary["tis_missing"] == int(scored.loc[scored["visit_week"] > 0, "tis"].isna().sum())


def test_score_bad_input_lists_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "subject_id,visit_week,pga,ptga,mmt8,haq,extramuscular,ck,ck_uln\n"
        "A,0,5,5,100,1,3,300,200\n"
        "A,4,12,5,100,1,3,300,200\n"  # out of range
        "A,4,5,five,100,1,3,300,200\n"  # duplicate + non-numeric
        "B,4,5,5,100,1,3,300,200\n"  # missing baseline
    )
    out = tmp_path / "scored.csv"
    result = runner.invoke(app, ["score", str(bad), "-o", str(out), "--json"])
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    found = {(p["row"], p["column"], p["value"]) for p in report["problems"]}
    assert {
        (2, "pga", "12"),
        (3, "ptga", "five"),
        (2, "visit_week", "4"),
        (3, "visit_week", "4"),
        (4, "visit_week", "4"),
    } <= found
    assert any("baseline" in p["rule"] for p in report["problems"])
    assert not out.exists() and not list(tmp_path.glob(".scored*"))
    human = runner.invoke(app, ["score", str(bad), "-o", str(out)])
    assert human.exit_code == 2 and "nothing was written" in human.output


def test_score_unsupported_extension(tmp_path: Path) -> None:
    result = runner.invoke(app, ["score", str(EXAMPLE), "-o", str(tmp_path / "x.xlsx")])
    assert result.exit_code == 2 and "unsupported file type" in result.output


def test_tis_breakdown_json_matches_hand_calculation() -> None:
    result = runner.invoke(
        app,
        [
            "tis",
            "--pga",
            "6",
            "2",
            "--ptga",
            "6",
            "3",
            "--extramuscular",
            "4",
            "1",
            "--mmt8",
            "120",
            "138",
            "--haq",
            "1.5",
            "0.75",
            "--ck",
            "1200",
            "300",
            "--ck-uln",
            "200",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    points = {m["slot"]: m["points"] for m in data["measures"]}
    # PGA 40 % (edge: 17.5), PtGA 30 % (7.5), MMT 12 % (20), HAQ 25 % (edge: 7.5),
    # CK 75 % relative (7.5), extramuscular 30 % (15)
    assert points == {
        "pga": 17.5,
        "ptga": 7.5,
        "mmt8": 20.0,
        "haq": 7.5,
        "enzyme": 7.5,
        "extramuscular": 15.0,
    }
    assert (data["tis"], data["category"], data["doi_met"]) == (75.0, "major", True)


def test_tis_human_output_and_missing_measures() -> None:
    result = runner.invoke(app, ["tis", "--pga", "6", "2", "--mmt8", "100", "80"])
    assert result.exit_code == 0
    assert "TIS not computable" in result.output and "haq" in result.output
    juvenile = runner.invoke(
        app,
        [
            "tis",
            "--population",
            "juvenile",
            "--pga",
            "6",
            "0",
            "--ptga",
            "6",
            "0",
            "--mmt8",
            "100",
            "150",
            "--chaq",
            "1.5",
            "0",
            "--extramuscular",
            "5",
            "0",
            "--ck",
            "500",
            "100",
            "--ck-uln",
            "200",
            "--json",
        ],
    )
    data = json.loads(juvenile.stdout)
    assert (data["tis"], data["category"]) == (100.0, "major")


def test_tis_rejects_out_of_range_value() -> None:
    result = runner.invoke(app, ["tis", "--pga", "6", "12", "--json"])
    assert result.exit_code == 2
    problem = json.loads(result.stdout)["problems"][0]
    assert (problem["column"], problem["value"]) == ("pga", "12")
