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


def _derive(out: Path, *extra: str) -> object:
    return runner.invoke(
        app,
        ["derive", "--visits", str(DATA / "example_visits.csv"), "--subjects",
         str(DATA / "example_subjects.csv"), "-o", str(out), "--json", *extra],
    )  # fmt: skip


def test_tables_option_writes_only_the_chosen_tables_unchanged(tmp_path: Path) -> None:
    full = _derive(tmp_path / "all")
    assert full.exit_code == 0, full.output  # type: ignore[attr-defined]
    part = _derive(tmp_path / "part", "--tables", "adtte, adrs")
    assert part.exit_code == 0, part.output  # type: ignore[attr-defined]
    summary = json.loads(part.stdout)  # type: ignore[attr-defined]
    assert set(summary["outputs"]) == {"scored_visits", "adsl", "adrs", "adtte"}
    assert not (tmp_path / "part" / "adeff.csv").exists()
    for name in ("scored_visits", "adsl", "adrs", "adtte"):
        assert (tmp_path / "part" / f"{name}.csv").read_bytes() == (
            tmp_path / "all" / f"{name}.csv"
        ).read_bytes(), name
    assert summary["primary_responders"] == json.loads(full.stdout)["primary_responders"]  # type: ignore[attr-defined]
    only_adsl = _derive(tmp_path / "adeff", "--tables", "adeff")
    assert only_adsl.exit_code == 0, only_adsl.output  # type: ignore[attr-defined]
    assert "primary_responders" not in json.loads(only_adsl.stdout)  # type: ignore[attr-defined]
    assert sorted(p.name for p in (tmp_path / "adeff").iterdir()) == [
        "adeff.csv", "adsl.csv", "scored_visits.csv"]


def test_tables_option_unknown_name_is_refused(tmp_path: Path) -> None:
    for bad in ("adae", "adsl", "", "adrs,,adtte", "ADRS"):
        result = _derive(tmp_path / "out", "--tables", bad)
        assert result.exit_code == 2, (bad, result.output)  # type: ignore[attr-defined]
        problem = json.loads(result.stdout)["problems"][0]["message"]  # type: ignore[attr-defined]
        assert "--tables" in problem and "adrs, adeff, adtte" in problem
        assert not (tmp_path / "out").exists()
