"""``myotrial screen``: output table, JSON, located errors, nothing written on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from myotrial.cli import app
from myotrial.rules import rules_path

EXAMPLE = rules_path("measures.toml").parent.parent / "data" / "example_screening.csv"
runner = CliRunner()


def test_example_screening_table(tmp_path: Path) -> None:
    out = tmp_path / "screened.csv"
    result = runner.invoke(app, ["screen", str(EXAMPLE), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 eligible, 6 ineligible, 2 not assessable" in " ".join(result.output.split())
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    original = pd.read_csv(EXAMPLE, dtype=str, keep_default_na=False)
    assert list(frame.columns[: len(original.columns)]) == list(original.columns)
    status = dict(zip(frame["subject_id"], frame["screening_status"], strict=True))
    assert status == {
        "SCR-001": "eligible", "SCR-002": "ineligible", "SCR-003": "ineligible",
        "SCR-004": "ineligible", "SCR-005": "ineligible", "SCR-006": "not_assessable",
        "SCR-007": "ineligible", "SCR-008": "ineligible", "SCR-009": "eligible",
        "SCR-010": "not_assessable",
    }
    row3 = frame.set_index("subject_id").loc["SCR-003"]
    assert row3["eligible"] == "false"
    assert row3["reasons"] == "MMT-8 142 of 150: does not meet MMT-8 < 142"
    row6 = frame.set_index("subject_id").loc["SCR-006"]
    assert row6["eligible"] == "" and row6["missing_fields"] == "ptga;extramuscular;haq"
    row7 = frame.set_index("subject_id").loc["SCR-007"]
    assert (row7["bohan_peter_class"], row7["eular_acr_class"], row7["eular_acr_score"]) == (
        "definite_pm", "possible_iim", "6.5")
    assert row7["eular_acr_biopsy"] == "true"


def test_json_output(tmp_path: Path) -> None:
    out = tmp_path / "screened.parquet"
    result = runner.invoke(app, ["screen", str(EXAMPLE), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["ok"] is True and payload["counts"]["eligible"] == 2
    first = payload["candidates"][0]
    assert first["subject_id"] == "SCR-001" and first["eligible"] is True
    assert first["eular_acr"]["class"] == "definite_iim"
    assert pd.read_parquet(out).shape[0] == 10


def test_bad_input_is_located_and_nothing_written(tmp_path: Path) -> None:
    frame = pd.read_csv(EXAMPLE, dtype=str, keep_default_na=False)
    frame.loc[1, "haq"] = "3.5"
    frame.loc[3, "bp_rash"] = "maybe"
    frame.loc[4, "mmt8_max"] = "80"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["screen", str(bad), "-o", str(out), "--json"])
    assert result.exit_code == 2
    assert not out.exists()
    problems = json.loads(result.output)["problems"]
    located = {(p["row"], p["subject_id"], p["column"], p["value"]) for p in problems}
    assert located == {(2, "SCR-002", "haq", "3.5"), (4, "SCR-004", "bp_rash", "maybe"),
                       (5, "SCR-005", "mmt8_max", "80")}
    # human form names the problems on stderr too
    human = runner.invoke(app, ["screen", str(bad), "-o", str(out)])
    assert human.exit_code == 2 and not out.exists()
    assert "nothing was written" in " ".join(human.output.split())


def test_missing_file_and_bad_extension(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    missing = runner.invoke(app, ["screen", str(tmp_path / "nope.csv"), "-o", str(out)])
    assert missing.exit_code == 2 and "no such file" in " ".join(missing.output.split())
    bad_ext = runner.invoke(app, ["screen", str(EXAMPLE), "-o", str(tmp_path / "out.xlsx")])
    assert bad_ext.exit_code == 2 and not (tmp_path / "out.xlsx").exists()
    same = runner.invoke(app, ["screen", str(EXAMPLE), "-o", str(EXAMPLE)])
    assert same.exit_code == 2 and "overwrite the input" in " ".join(same.output.split())
