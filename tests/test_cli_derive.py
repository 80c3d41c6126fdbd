"""CLI: `myotrial derive`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from myotrial.cli import app
from myotrial.rules import rules_path

runner = CliRunner()
DATA = rules_path("x").parents[1] / "data"


def test_derive_writes_all_tables_and_summary(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "derive",
            "--visits",
            str(DATA / "example_visits.csv"),
            "--subjects",
            str(DATA / "example_subjects.csv"),
            "-o",
            str(tmp_path),
            "--format",
            "parquet",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["outputs"]) == {"scored_visits", "adsl", "adrs", "adeff", "adtte"}
    adsl = pd.read_parquet(tmp_path / "adsl.parquet")
    adrs = pd.read_parquet(tmp_path / "adrs.parquet")
    assert len(adsl) == 12 and adsl["STATUS"].ne("").all()
    primary = adrs[adrs["PARAMCD"] == "tis20_w16"]
    assert summary["primary_responders"] == {
        arm: int(primary.loc[primary["ARMCD"] == arm, "AVAL"].sum()) for arm in ("ivig", "placebo")
    }


def test_derive_bad_subjects_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "subjects.csv"
    bad.write_text("subject_id,arm\nEX-001,ivig\nEX-001,aspirin\n")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "derive",
            "--visits",
            str(DATA / "example_visits.csv"),
            "--subjects",
            str(bad),
            "-o",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["problems"]
    rules = {p["rule"] for p in problems}
    assert any(r.startswith("subject_id appears more than once") for r in rules)
    assert any(r.startswith("arm must be one of") for r in rules)
    assert not out.exists()


def test_derive_unknown_protocol(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "derive",
            "--visits",
            str(DATA / "example_visits.csv"),
            "--subjects",
            str(DATA / "example_subjects.csv"),
            "-o",
            str(tmp_path),
            "--protocol",
            "nope",
        ],
    )
    assert result.exit_code == 2 and "unknown protocol" in result.output
